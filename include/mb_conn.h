/* mb_conn: byte-stream connections and the listeners that accept them, shared by the
 * WebSocket and RawSocket transports: TCP or Unix domain sockets, each with or without TLS
 * (OpenSSL, memory BIOs: the protocol above only ever sees plaintext).
 *
 * Output is batched: a protocol appends to the connection's queue (mb_conn_reserve/commit or
 * mb_conn_write) and the queue is written once per loop turn at the router's safe point
 * (mb_conn_flush_all), one uv_try_write, then at most one uv_write in flight from a second
 * buffer while the queue keeps growing (TLS: the queue is encrypted in records of up to 16 KiB
 * at flush time). Reads go into one read buffer shared by every connection; a protocol keeps
 * only its partial frames. Nothing here calls back into a protocol synchronously from
 * mb_conn_* calls: on_close always comes from a libuv callback. */
#ifndef MB_CONN_H
#define MB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "mb_buf.h"
#include "mb_config.h"
#include "mb_map.h"

struct mb_router;
struct mb_conn;
struct mb_listener;

/* The protocol on a connection (RawSocket, HTTP/WebSocket). */
struct mb_conn_handler {
    /* Plaintext from the peer (valid during the call only). */
    void (*on_data)(struct mb_conn *c, const char *data, size_t len);
    /* A write to the socket completed: the queue shrank (mb_conn_queued tells how much is
     * left), so flow control may resume. May be NULL. */
    void (*on_drain)(struct mb_conn *c);
    /* The connection is gone (closed by either side, or an I/O or TLS error): the protocol frees
     * its state; c itself is freed right after. Called exactly once, from a libuv callback. */
    void (*on_close)(struct mb_conn *c);
    /* Router tick (mb_net_sweep), for an open connection past its handshake: liveness pings and
     * the like. May be NULL. */
    void (*on_sweep)(struct mb_conn *c, uint64_t now_ms);
};

struct mb_conn {
    struct mb_listener *l;
    const struct mb_conn_handler *h; /* set by the listener's on_accept */
    void *user;                      /* the protocol's state */
    char peer[64];                   /* "127.0.0.1:51234", or "unix:/path" */
    uint64_t opened;                 /* ms (router clock) */
    uint64_t last_rx;                /* ms: when the peer last sent a byte */
    /* the rest is mb_conn's own */
    union { uv_handle_t handle; uv_stream_t stream; uv_tcp_t tcp; uv_pipe_t pipe; } io;
    struct mb_buf out, inflight;
    struct mb_buf enc;     /* TLS: ciphertext not yet handed to the socket */
    uv_write_t wreq;
    void *ssl;             /* SSL *, or NULL */
    const char *tls_in;    /* ciphertext being read (its BIO reads from here, no copy) */
    size_t tls_in_len;
    int state;             /* internal */
    bool writing, reading, want_reading, dirty, close_after_flush, handshake_done;
    bool tls_failed;       /* a fatal TLS error: no close_notify */
    bool tls_shutdown_sent;
    uint64_t closing_since;
    uint64_t last_tx;      /* ms: when the queue was last written out (idle buffers are freed) */
    struct mb_conn *prev, *next;  /* net->conns */
    struct mb_conn *next_dirty;
    struct mb_addr_count *addr; /* its peer address's entry in net->per_address (NULL: Unix) */
};

/* Open connections from one peer IP address (limits.max_connections_per_address). */
struct mb_addr_count {
    size_t n;
    size_t len;
    char ip[48];
};

/* A listening endpoint of the config. */
struct mb_listener {
    struct mb_router *r;
    const struct mb_listener_config *cfg;
    char name[160];  /* "websocket 127.0.0.1:8080 (tls)" or "rawsocket unix:/run/moonbar.sock" */
    /* Called for every accepted connection once it is ready (TLS handshake done): the protocol
     * sets c->h and c->user, or calls mb_conn_close. */
    void (*on_accept)(struct mb_listener *l, struct mb_conn *c);
    void *user;      /* the transport's state for this listener */
    union { uv_handle_t handle; uv_stream_t stream; uv_tcp_t tcp; uv_pipe_t pipe; } io;
    void *ssl_ctx;   /* SSL_CTX *, or NULL */
    size_t nconns;   /* open connections (for cfg->max_connections) */
    int bound_port;  /* TCP: the port actually bound (cfg->port 0 picks one) */
    bool listening;
    bool unix_bound;  /* the socket file was created by this listener: removed at stop */
    /* Called by mb_net_free once every connection is gone: the transport frees l (may be NULL). */
    void (*on_free)(struct mb_listener *l);
    struct mb_listener *next; /* net->listeners */
};

/* The router's network state (r->net): every listener and connection, the connections with
 * output queued this loop turn, and the read buffer they all share. */
struct mb_net {
    struct mb_router *r;
    struct mb_listener *listeners;
    struct mb_conn *conns;
    struct mb_conn *dirty;
    char *rbuf; /* MB_CONN_READ_CHUNK bytes */
    void *bio_method; /* BIO_METHOD * of TLS connections' BIO (conn.c), made at the first one */
    char *tls_plain;  /* MB_CONN_READ_CHUNK bytes: TLS plaintext (the ciphertext is in rbuf) */
    size_t nconns;    /* open connections, every listener (limits.max_connections) */
    struct mb_map per_address; /* peer IP → struct mb_addr_count, freed at 0 */
    uint64_t refused_logged[2]; /* ms: the last refusal warnings (at most one a second each) */
};
#define MB_CONN_READ_CHUNK 65536

/* Opens the listener of cfg (TLS context first: a bad certificate or key file is an error
 * naming the file and OpenSSL's reason; a Unix path in use by a live server is an error, a
 * stale socket file is replaced). 0, or -1 after logging why. */
int mb_listener_start(struct mb_router *r, struct mb_listener *l, const struct mb_listener_config *cfg,
                      void (*on_accept)(struct mb_listener *, struct mb_conn *), void *user);
/* Stops accepting (a Unix socket file is removed). Live connections stay. Idempotent. */
void mb_listener_stop(struct mb_listener *l);

/* The protocol's own opening handshake is done (RawSocket handshake, HTTP upgrade): the
 * listener's handshake_timeout no longer applies to c. Before this call mb_net_sweep closes c
 * once it is older than the deadline (cfg->handshake_timeout; 0: 10 s, or
 * limits.ping_interval + ping_timeout when that is shorter). */
void mb_conn_ready(struct mb_conn *c);

/* Appends to the output queue (flushed at the safe point). */
char *mb_conn_reserve(struct mb_conn *c, size_t n);
void mb_conn_commit(struct mb_conn *c, size_t n);
int mb_conn_write(struct mb_conn *c, const void *p, size_t n);
/* Bytes queued and not yet taken by the socket (including what is in flight). */
size_t mb_conn_queued(const struct mb_conn *c);
/* Flow control: stops or resumes reading from the peer. */
void mb_conn_set_reading(struct mb_conn *c, bool on);
/* Closes: with flush, after the queue is written (TLS: and a close_notify), cut after 2 s if
 * the peer does not read; without, at once. on_close follows from a libuv callback. */
void mb_conn_close(struct mb_conn *c, bool flush);
bool mb_conn_tls(const struct mb_conn *c);
/* WAMP-Cryptosign's TLS channel ID (32 bytes) of type "tls-exporter" (RFC 9266: 32 bytes of
 * the exporter labelled "EXPORTER-Channel-Binding", no context) or "tls-unique" as autobahn
 * and Crossbar compute it: SHA-256 of the server's Finished message (TLS 1.2 and 1.3; autobahn
 * clients and Crossbar both use that one, not RFC 5929's first Finished). 0, or -1 (no TLS,
 * handshake not done, unknown type). */
int mb_conn_channel_binding(struct mb_conn *c, const char *type, unsigned char out[32]);

/* Router hooks: the safe point writes every dirty queue; the tick cuts late handshakes
 * (cfg->handshake_timeout) and closing connections whose peer does not read; at the end of
 * shutdown every connection is closed at once; mb_net_free after uv_run returned. */
/* Creates r->net (before any listener starts). 0, or -1 when out of memory. */
int mb_net_init(struct mb_router *r);
/* Stops every listener (start of the shutdown). */
void mb_net_stop_listening(struct mb_router *r);
void mb_net_flush_all(struct mb_router *r);
void mb_net_sweep(struct mb_router *r, uint64_t now_ms);
void mb_net_close_all(struct mb_router *r);
void mb_net_free(struct mb_router *r);

#endif
