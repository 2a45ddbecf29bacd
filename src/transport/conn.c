/* mb_conn: listeners (TCP or Unix domain sockets) and the byte-stream connections they accept,
 * with batched output (one uv_try_write per loop turn, then at most one uv_write in flight from
 * a second buffer), one read buffer shared by every connection, flow control, closes with or
 * without flush, per-listener connection limits and handshake deadlines, and TLS (OpenSSL 3
 * with memory BIOs: socket bytes go into the read BIO, the protocol's queue is encrypted at
 * flush time and the write BIO drained into the socket). The protocols above (RawSocket,
 * HTTP/WebSocket) see plaintext only. Uses libuv, OpenSSL and the router's clock and log. */
#include "mb_conn.h"
#include "mb_router.h"
#include "mb_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <openssl/sha.h>
#include <openssl/evp.h>

enum { C_TLS_HANDSHAKE, C_OPEN, C_CLOSING, C_CLOSED };
#define TLS_RECORD 16384
#define CLOSE_DEADLINE_MS 2000
#define IDLE_BUFFER_MS 250
#define HANDSHAKE_DEFAULT_S 10.0

int mb_net_init(struct mb_router *r)
{
    struct mb_net *net = calloc(1, sizeof *net);
    char *rbuf = malloc(MB_CONN_READ_CHUNK);
    if (!net || !rbuf) {
        free(net);
        free(rbuf);
        return -1;
    }
    net->r = r;
    net->rbuf = rbuf;
    r->net = net;
    return 0;
}

static const char *kind_name(const struct mb_listener_config *cfg)
{
    return cfg->kind == MB_LISTEN_WEBSOCKET ? "websocket" : "rawsocket";
}

/* ------------------------------------------------------------------ connections */

static void on_handle_closed(uv_handle_t *h)
{
    struct mb_conn *c = h->data;
    if (c->h && c->h->on_close)
        c->h->on_close(c);
    mb_buf_free(&c->out);
    mb_buf_free(&c->inflight);
    mb_buf_free(&c->enc);
    SSL_free(c->ssl);
    free(c);
}

/* Closes the socket now: what is queued is dropped. */
static void close_now(struct mb_conn *c)
{
    if (c->state == C_CLOSED)
        return;
    struct mb_net *net = c->l->r->net;
    c->state = C_CLOSED;
    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->dirty) {
        for (struct mb_conn **p = &net->dirty; *p; p = &(*p)->next_dirty)
            if (*p == c) {
                *p = c->next_dirty;
                break;
            }
        c->dirty = false;
    }
    c->l->nconns--;
    net->nconns--;
    if (c->addr && --c->addr->n == 0) {
        mb_map_del_str(&net->per_address, c->addr->ip, c->addr->len);
        free(c->addr);
    }
    c->addr = NULL;
    uv_close(&c->io.handle, on_handle_closed);
}

static void mark_dirty(struct mb_conn *c)
{
    if (c->dirty || c->state == C_CLOSED)
        return;
    struct mb_net *net = c->l->r->net;
    c->dirty = true;
    c->next_dirty = net->dirty;
    net->dirty = c;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Reads while the protocol wants to and the connection is open. */
static void update_reading(struct mb_conn *c)
{
    bool on = c->want_reading && (c->state == C_OPEN || c->state == C_TLS_HANDSHAKE);
    if (on == c->reading)
        return;
    if (on && uv_read_start(&c->io.stream, on_alloc, on_read) < 0)
        return;
    if (!on)
        uv_read_stop(&c->io.stream);
    c->reading = on;
}

static void flush(struct mb_conn *c);

/* OpenSSL's reasons for the errors of this thread's queue (which it empties), "; " between
 * them, or dflt when there are none. */
static const char *tls_reason(char *buf, size_t n, const char *dflt)
{
    unsigned long e;
    size_t len = 0;
    buf[0] = '\0';
    while ((e = ERR_get_error())) {
        char one[120];
        const char *reason = ERR_reason_error_string(e);
        if (reason)
            snprintf(one, sizeof one, "%s", reason);
        else
            ERR_error_string_n(e, one, sizeof one);
        if (strstr(buf, one) || len + strlen(one) + 3 >= n)
            continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "; " : "", one);
    }
    return len ? buf : dflt;
}

/* The BIO under a TLS connection: OpenSSL reads the ciphertext straight from the bytes libuv
 * just read (c->tls_in) and writes records straight into the ciphertext queue (c->enc):
 * no memory BIO in between, so no copy and no allocation per record. */
static int cbio_write(BIO *b, const char *data, int len)
{
    struct mb_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (mb_buf_append(&c->enc, data, (size_t)len) < 0)
        return -1;
    return len;
}

static int cbio_read(BIO *b, char *out, int len)
{
    struct mb_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (c->tls_in_len == 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = (size_t)len < c->tls_in_len ? (size_t)len : c->tls_in_len;
    memcpy(out, c->tls_in, n);
    c->tls_in += n;
    c->tls_in_len -= n;
    return (int)n;
}

static long cbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct mb_conn *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return c ? (long)c->tls_in_len : 0;
    case BIO_CTRL_WPENDING: return 0;
    default: return 0;
    }
}

static int cbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO *conn_bio(struct mb_net *net, struct mb_conn *c)
{
    if (!net->bio_method) {
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "moonbar conn");
        if (!m || !BIO_meth_set_write(m, cbio_write) || !BIO_meth_set_read(m, cbio_read) ||
            !BIO_meth_set_ctrl(m, cbio_ctrl) || !BIO_meth_set_create(m, cbio_create)) {
            BIO_meth_free(m);
            return NULL;
        }
        net->bio_method = m;
    }
    BIO *b = BIO_new(net->bio_method);
    if (b)
        BIO_set_data(b, c);
    return b;
}

/* What OpenSSL wrote is in the ciphertext queue already: it only needs a flush. */
static int tls_drain(struct mb_conn *c)
{
    if (c->enc.len)
        mark_dirty(c);
    return 0;
}

/* Encrypts the plaintext queue into the ciphertext queue, in records of up to 16 KiB. */
static int tls_encrypt(struct mb_conn *c)
{
    while (c->out.len > 0 && c->state != C_TLS_HANDSHAKE) {
        int n = c->out.len > TLS_RECORD ? TLS_RECORD : (int)c->out.len;
        ERR_clear_error();
        int k = SSL_write(c->ssl, mb_buf_data(&c->out), n);
        if (k <= 0) {
            char why[160];
            mb_info(&c->l->r->log, "%s: TLS write to %s failed: %s", c->l->name, c->peer,
                    tls_reason(why, sizeof why, "error"));
            c->tls_failed = true;
            return -1;
        }
        mb_buf_consume(&c->out, (size_t)k);
        if (tls_drain(c) < 0)
            return -1;
    }
    return 0;
}

static void on_written(uv_write_t *req, int status)
{
    struct mb_conn *c = req->data;
    c->writing = false;
    mb_buf_reset(&c->inflight);
    if (c->state == C_CLOSED)
        return;
    if (status < 0) {
        mb_debug(&c->l->r->log, "%s: write to %s failed: %s", c->l->name, c->peer, uv_strerror(status));
        close_now(c);
        return;
    }
    flush(c);
    if (c->state != C_CLOSED && c->h && c->h->on_drain)
        c->h->on_drain(c);
}

static void flush(struct mb_conn *c)
{
    if (c->writing || c->state == C_CLOSED)
        return;
    struct mb_buf *src = &c->out;
    if (c->ssl) {
        if (tls_encrypt(c) < 0) {
            close_now(c);
            return;
        }
        src = &c->enc;
    }
again:
    if (src->len > 0) {
        uv_buf_t b = uv_buf_init(mb_buf_data(src), (unsigned)src->len);
        int n = uv_try_write(&c->io.stream, &b, 1);
        if (n > 0)
            mb_buf_consume(src, (size_t)n);
        else if (n < 0 && n != UV_EAGAIN) {
            mb_debug(&c->l->r->log, "%s: write to %s failed: %s", c->l->name, c->peer, uv_strerror(n));
            close_now(c);
            return;
        }
    }
    if (src->len > 0) {
        /* the rest goes from a buffer of its own so the queue can grow while it is written */
        struct mb_buf t = c->inflight;
        c->inflight = *src;
        *src = t;
        uv_buf_t b = uv_buf_init(mb_buf_data(&c->inflight), (unsigned)c->inflight.len);
        c->wreq.data = c;
        if (uv_write(&c->wreq, &c->io.stream, &b, 1, on_written) < 0) {
            close_now(c);
            return;
        }
        c->writing = true;
        return;
    }
    mb_buf_shrink(&c->out, 1 << 16);
    c->last_tx = mb_router_now_ms(c->l->r);
    if (c->state != C_CLOSING)
        return;
    if (c->ssl && !c->tls_failed && !c->tls_shutdown_sent) {
        /* a close_notify, then the socket closes (without waiting for the peer's) */
        c->tls_shutdown_sent = true;
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        if (tls_drain(c) == 0 && src->len > 0)
            goto again;
    }
    close_now(c);
}

char *mb_conn_reserve(struct mb_conn *c, size_t n)
{
    if (c->state != C_OPEN)
        return NULL;
    char *p = mb_buf_reserve(&c->out, n);
    if (!p) {
        mb_warn(&c->l->r->log, "%s: out of memory for the queue of %s: closed", c->l->name, c->peer);
        close_now(c);
    }
    return p;
}

void mb_conn_commit(struct mb_conn *c, size_t n)
{
    if (c->state != C_OPEN)
        return;
    mb_buf_commit(&c->out, n);
    mark_dirty(c);
}

int mb_conn_write(struct mb_conn *c, const void *p, size_t n)
{
    char *dst = mb_conn_reserve(c, n);
    if (!dst)
        return -1;
    if (n)
        memcpy(dst, p, n);
    mb_conn_commit(c, n);
    return 0;
}

size_t mb_conn_queued(const struct mb_conn *c)
{
    return c->out.len + c->enc.len + c->inflight.len;
}

void mb_conn_set_reading(struct mb_conn *c, bool on)
{
    c->want_reading = on;
    if (c->state != C_CLOSED)
        update_reading(c);
}

void mb_conn_ready(struct mb_conn *c)
{
    c->handshake_done = true;
}

void mb_conn_close(struct mb_conn *c, bool flush_first)
{
    if (c->state == C_CLOSED)
        return;
    bool notify = c->ssl && c->state == C_OPEN && !c->tls_failed; /* a close_notify to send */
    if (!flush_first || c->state == C_TLS_HANDSHAKE || (mb_conn_queued(c) == 0 && !c->writing && !notify)) {
        close_now(c);
        return;
    }
    if (c->state == C_CLOSING)
        return;
    c->state = C_CLOSING;
    c->closing_since = mb_router_now_ms(c->l->r);
    update_reading(c);
    mark_dirty(c);
}

bool mb_conn_tls(const struct mb_conn *c)
{
    return c->ssl != NULL;
}

int mb_conn_channel_binding(struct mb_conn *c, const char *type, unsigned char out[32])
{
    SSL *ssl = c->ssl;
    if (!ssl || c->state == C_TLS_HANDSHAKE || c->state == C_CLOSED)
        return -1;
    if (strcmp(type, "tls-unique") == 0) {
        unsigned char fin[EVP_MAX_MD_SIZE];
        size_t n = SSL_get_finished(ssl, fin, sizeof fin); /* the server's: this side's */
        if (n == 0 || n > sizeof fin)
            return -1;
        return SHA256(fin, n, out) ? 0 : -1;
    }
    if (strcmp(type, "tls-exporter") == 0) {
        static const char label[] = "EXPORTER-Channel-Binding";
        return SSL_export_keying_material(ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) == 1 ? 0 : -1;
    }
    return -1;
}

/* Hands what the peer sent to the protocol. */
static void deliver(struct mb_conn *c, const char *data, size_t n)
{
    if (c->state == C_OPEN && c->h && c->h->on_data)
        c->h->on_data(c, data, n);
}

/* Ciphertext from the peer: the handshake first (then the protocol gets the connection), then
 * the plaintext, decrypted into the shared read buffer (the ciphertext is in the BIO by then). */
static void tls_input_now(struct mb_conn *c, const char *data, size_t n)
{
    struct mb_router *r = c->l->r;
    char why[160];
    if (c->state == C_TLS_HANDSHAKE && SSL_in_before(c->ssl) && (unsigned char)data[0] != 0x16 &&
        SSL_get_rbio(c->ssl) && !SSL_has_pending(c->ssl)) {
        /* not a TLS handshake record: a plain-text client (a RawSocket handshake is 4 bytes,
         * OpenSSL would wait for a fifth) */
        mb_info(&r->log, "%s: TLS handshake with %s failed: not TLS (first byte 0x%02x): closed", c->l->name,
                c->peer, (unsigned char)data[0]);
        c->tls_failed = true;
        close_now(c);
        return;
    }
    c->tls_in = data; /* the BIO reads from here; everything is taken before we return */
    c->tls_in_len = n;
    if (c->state == C_TLS_HANDSHAKE) {
        ERR_clear_error();
        int rc = SSL_do_handshake(c->ssl);
        if (tls_drain(c) < 0) {
            close_now(c);
            return;
        }
        if (rc != 1) {
            int e = SSL_get_error(c->ssl, rc);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            mb_info(&r->log, "%s: TLS handshake with %s failed: %s", c->l->name, c->peer,
                    tls_reason(why, sizeof why, "connection closed"));
            /* the alert OpenSSL wrote goes out, then the socket closes */
            c->tls_failed = true;
            c->state = C_OPEN;
            mb_conn_close(c, true);
            return;
        }
        c->state = C_OPEN;
        mb_debug(&r->log, "%s: TLS with %s: %s, %s", c->l->name, c->peer, SSL_get_version(c->ssl),
                 SSL_get_cipher_name(c->ssl));
        c->l->on_accept(c->l, c);
    }
    while (c->state == C_OPEN) {
        ERR_clear_error();
        /* not into rbuf: the ciphertext still being read is there */
        if (!r->net->tls_plain && !(r->net->tls_plain = malloc(MB_CONN_READ_CHUNK))) {
            close_now(c);
            return;
        }
        int k = SSL_read(c->ssl, r->net->tls_plain, MB_CONN_READ_CHUNK);
        if (k > 0) {
            deliver(c, r->net->tls_plain, (size_t)k);
            continue;
        }
        int e = SSL_get_error(c->ssl, k);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) { /* the peer's close_notify: answer after the queue */
            mb_debug(&r->log, "%s: %s closed TLS", c->l->name, c->peer);
            mb_conn_close(c, true);
        } else {
            mb_info(&r->log, "%s: TLS error from %s: %s: closed", c->l->name, c->peer,
                    tls_reason(why, sizeof why, e == SSL_ERROR_SYSCALL ? "unexpected end of the stream" : "error"));
            c->tls_failed = true;
            close_now(c);
            return;
        }
        break;
    }
    if (c->state != C_CLOSED && tls_drain(c) < 0)
        close_now(c);
}

static void tls_input(struct mb_conn *c, const char *data, size_t n)
{
    tls_input_now(c, data, n);
    c->tls_in = NULL; /* the bytes belong to libuv's read callback: never read them later */
    c->tls_in_len = 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct mb_conn *c = h->data;
    /* libuv reads right after it allocates, one stream at a time: one buffer serves them all */
    *buf = uv_buf_init(c->l->r->net->rbuf, MB_CONN_READ_CHUNK);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct mb_conn *c = st->data;
    struct mb_router *r = c->l->r;
    if (n < 0) {
        if (c->state == C_TLS_HANDSHAKE)
            mb_info(&r->log, "%s: %s went away during the TLS handshake (%s)", c->l->name, c->peer,
                    n == UV_EOF ? "connection closed" : uv_strerror((int)n));
        else if (n != UV_EOF)
            mb_debug(&r->log, "%s: read from %s: %s", c->l->name, c->peer, uv_strerror((int)n));
        close_now(c);
        return;
    }
    if (n == 0)
        return;
    c->last_rx = mb_router_now_ms(r);
    mb_router_busy_poll(r);
    if (c->ssl)
        tls_input(c, buf->base, (size_t)n);
    else
        deliver(c, buf->base, (size_t)n);
}

static void peer_name(struct mb_conn *c)
{
    if (c->l->cfg->unix_path) {
        snprintf(c->peer, sizeof c->peer, "unix:%s", c->l->cfg->unix_path);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[48] = "?"; /* INET6_ADDRSTRLEN */
    int port = 0;
    if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) == 0)
        mb_sockaddr_name(&ss, ip, sizeof ip, &port);
    snprintf(c->peer, sizeof c->peer, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port); /* [::1]:5000 */
}

static void free_unaccepted(uv_handle_t *h)
{
    free(h->data);
}

/* A connection refused by a limit: closed before any byte is read, warned at most once a second. */
static void refuse(struct mb_conn *c, int kind, const char *key, size_t n)
{
    struct mb_router *r = c->l->r;
    uint64_t now = mb_router_now_ms(r);
    if (!r->net->refused_logged[kind] || now - r->net->refused_logged[kind] >= 1000) {
        r->net->refused_logged[kind] = now;
        mb_warn(&r->log, "connection from %s refused: limits.%s (%zu) reached", c->peer, key, n);
    }
    if (kind == 0)
        r->limits_stats.connections_refused_total++;
    else
        r->limits_stats.connections_refused_per_address++;
    uv_close(&c->io.handle, free_unaccepted);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct mb_listener *l = server->data;
    struct mb_router *r = l->r;
    struct mb_net *net = r->net;
    if (status < 0) {
        mb_debug(&r->log, "%s: accept: %s", l->name, uv_strerror(status));
        return;
    }
    struct mb_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->l = l;
    if (l->cfg->unix_path)
        uv_pipe_init(r->loop, &c->io.pipe, 0);
    else
        uv_tcp_init(r->loop, &c->io.tcp);
    c->io.handle.data = c;
    c->state = C_CLOSED; /* until it is listed */
    if (uv_accept(server, &c->io.stream) != 0) {
        uv_close(&c->io.handle, free_unaccepted);
        return;
    }
    peer_name(c);
    if (l->cfg->max_connections && l->nconns >= l->cfg->max_connections) {
        mb_warn(&r->log, "%s: connection from %s refused: max_connections (%zu) reached", l->name, c->peer,
                l->cfg->max_connections);
        r->limits_stats.connections_refused_total++;
        uv_close(&c->io.handle, free_unaccepted);
        return;
    }
    if (net->nconns >= r->cfg->max_connections) {
        refuse(c, 0, "max_connections", r->cfg->max_connections);
        return;
    }
    if (!l->cfg->unix_path) { /* limits.max_connections_per_address: Unix peers are exempt */
        const char *colon = strrchr(c->peer, ':');
        size_t len = colon ? (size_t)(colon - c->peer) : strlen(c->peer);
        if (len >= sizeof c->addr->ip)
            len = sizeof c->addr->ip - 1;
        struct mb_addr_count *a = mb_map_get_str(&net->per_address, c->peer, len);
        if (a && a->n >= r->cfg->max_connections_per_address) {
            refuse(c, 1, "max_connections_per_address", r->cfg->max_connections_per_address);
            return;
        }
        if (!a) {
            if (!(a = calloc(1, sizeof *a))) {
                uv_close(&c->io.handle, free_unaccepted);
                return;
            }
            memcpy(a->ip, c->peer, len);
            a->len = len;
            if (mb_map_put_str(&net->per_address, a->ip, a->len, a) < 0) {
                free(a);
                uv_close(&c->io.handle, free_unaccepted);
                return;
            }
        }
        a->n++;
        c->addr = a;
    }
    net->nconns++;
    if (!l->cfg->unix_path) {
        uv_tcp_nodelay(&c->io.tcp, 1);
        if (r->cfg->socket_send_buffer) { /* bounds what the kernel queues for a peer that stops reading */
            int v = (int)r->cfg->socket_send_buffer;
            uv_send_buffer_size(&c->io.handle, &v);
        }
    }
    c->state = C_OPEN;
    c->opened = c->last_rx = c->last_tx = mb_router_now_ms(r);
    l->nconns++;
    c->next = net->conns;
    if (net->conns)
        net->conns->prev = c;
    net->conns = c;
    c->want_reading = true;
    if (l->ssl_ctx) {
        SSL *ssl = SSL_new(l->ssl_ctx);
        BIO *bio = ssl ? conn_bio(net, c) : NULL;
        if (!ssl || !bio) {
            SSL_free(ssl);
            mb_warn(&r->log, "%s: out of memory for TLS with %s: closed", l->name, c->peer);
            close_now(c);
            return;
        }
        SSL_set_bio(ssl, bio, bio); /* one BIO both ways: SSL_free frees it once */
        SSL_set_accept_state(ssl);
        c->ssl = ssl;
        c->state = C_TLS_HANDSHAKE; /* on_accept once it is done */
        update_reading(c);
        return;
    }
    update_reading(c);
    l->on_accept(l, c);
}

/* ------------------------------------------------------------------ listeners */

static int listen_tcp(struct mb_listener *l, char *addr, size_t addrlen)
{
    struct mb_router *r = l->r;
    const struct mb_listener_config *cfg = l->cfg;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    struct sockaddr_storage ss;
    int rc;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, cfg->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, cfg->port, (struct sockaddr_in *)&ss);
    if (rc != 0) {
        mb_error(&r->log, "%s: bad listen address %s:%d: %s", kind_name(cfg), host, cfg->port, uv_strerror(rc));
        return -1;
    }
    uv_tcp_init(r->loop, &l->io.tcp);
    l->io.handle.data = l;
    l->listening = true; /* the handle is open: mb_listener_stop closes it */
    rc = uv_tcp_bind(&l->io.tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen(&l->io.stream, 511, on_connection);
    if (rc != 0) {
        mb_error(&r->log, "%s: cannot listen on %s:%d: %s", kind_name(cfg), host, cfg->port, uv_strerror(rc));
        return -1;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    char ip[64] = "?";
    int bport = cfg->port;
    if (uv_tcp_getsockname(&l->io.tcp, (struct sockaddr *)&bound, &blen) == 0)
        mb_sockaddr_name(&bound, ip, sizeof ip, &bport);
    l->bound_port = bport;
    snprintf(addr, addrlen, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, bport); /* [::]:8080 */
    return 0;
}

/* A socket file at path: 1 if a server answers on it, 0 if not (stale), -1 if it is not a
 * socket or cannot be checked (why in err). */
static int unix_in_use(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "the path exists and is not a socket");
        return -1;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN) /* EAGAIN: a live server whose backlog is full */
        return 1;
    if (e == ECONNREFUSED)
        return 0;
    snprintf(err, errlen, "connect: %s", strerror(e));
    return -1;
}

static int listen_unix(struct mb_listener *l, char *addr, size_t addrlen)
{
    struct mb_router *r = l->r;
    const struct mb_listener_config *cfg = l->cfg;
    const char *path = cfg->unix_path;
    char why[200];
    int used = unix_in_use(path, why, sizeof why);
    if (used < 0) {
        mb_error(&r->log, "%s unix:%s: %s", kind_name(cfg), path, why);
        return -1;
    }
    if (used > 0) {
        mb_error(&r->log, "%s unix:%s: in use by a running server", kind_name(cfg), path);
        return -1;
    }
    if (unlink(path) == 0)
        mb_info(&r->log, "%s unix:%s: stale socket file removed", kind_name(cfg), path);
    uv_pipe_init(r->loop, &l->io.pipe, 0);
    l->io.handle.data = l;
    l->listening = true;
    int rc = uv_pipe_bind(&l->io.pipe, path);
    if (rc == 0) {
        l->unix_bound = true;
        if (chmod(path, cfg->unix_mode) != 0)
            rc = uv_translate_sys_error(errno);
    }
    if (rc == 0)
        rc = uv_listen(&l->io.stream, 511, on_connection);
    if (rc != 0) {
        mb_error(&r->log, "%s unix:%s: cannot listen: %s", kind_name(cfg), path, uv_strerror(rc));
        return -1;
    }
    snprintf(addr, addrlen, "unix:%s", path);
    return 0;
}

/* A file OpenSSL is about to read: a clear reason when it cannot even be opened. */
static bool readable(const char *path, char *why, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, n, "%s", strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

/* The listener's SSL_CTX from cfg->tls (nothing without a certificate). 0, or -1 after logging
 * the file and OpenSSL's reason. */
static int tls_context(struct mb_listener *l)
{
    struct mb_router *r = l->r;
    const struct mb_tls_config *t = &l->cfg->tls;
    if (!t->cert)
        return 0;
    const char *kind = kind_name(l->cfg);
    char why[200];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        mb_error(&r->log, "%s: cannot create a TLS context: %s", kind, tls_reason(why, sizeof why, "?"));
        return -1;
    }
    l->ssl_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* an idle connection keeps no record buffers */
    /* AEAD suites with forward secrecy only; AES-128-GCM first (TLS 1.3's mandatory suite, and
     * the fastest with AES-NI), then ChaCha20 for peers without it, then AES-256-GCM */
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AES128GCM:ECDHE+CHACHA20:ECDHE+AES256GCM") != 1 ||
        SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") != 1) {
        mb_error(&r->log, "%s: TLS ciphers: %s", kind, tls_reason(why, sizeof why, "?"));
        return -1;
    }
    if (!readable(t->cert, why, sizeof why) || SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        mb_error(&r->log, "%s: tls.cert %s: %s", kind, t->cert, ERR_peek_error() ? tls_reason(why, sizeof why, "?") : why);
        return -1;
    }
    if (!readable(t->key, why, sizeof why) || SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        const char *reason = ERR_peek_error() ? tls_reason(why, sizeof why, "?") : why;
        if (mismatch)
            mb_error(&r->log, "%s: tls.key %s does not match the certificate %s: %s", kind, t->key, t->cert, reason);
        else
            mb_error(&r->log, "%s: tls.key %s: %s", kind, t->key, reason);
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        mb_error(&r->log, "%s: tls.key %s does not match the certificate %s: %s", kind, t->key, t->cert,
                 tls_reason(why, sizeof why, "?"));
        return -1;
    }
    if (t->ca) {
        STACK_OF(X509_NAME) *names = NULL;
        if (!readable(t->ca, why, sizeof why) || SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1 ||
            !(names = SSL_load_client_CA_file(t->ca))) {
            mb_error(&r->log, "%s: tls.ca %s: %s", kind, t->ca, ERR_peek_error() ? tls_reason(why, sizeof why, "?") : why);
            return -1;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* takes names */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return 0;
}

int mb_listener_start(struct mb_router *r, struct mb_listener *l, const struct mb_listener_config *cfg,
                      void (*on_accept)(struct mb_listener *, struct mb_conn *), void *user)
{
    l->r = r;
    l->cfg = cfg;
    l->on_accept = on_accept;
    l->user = user;
    l->next = r->net->listeners;
    r->net->listeners = l;
    if (tls_context(l) < 0)
        return -1;
    char addr[sizeof l->name];
    int rc = cfg->unix_path ? listen_unix(l, addr, sizeof addr) : listen_tcp(l, addr, sizeof addr);
    if (rc < 0)
        return -1;
    bool tls = l->ssl_ctx != NULL;
    snprintf(l->name, sizeof l->name, "%s %.*s%s", kind_name(cfg), (int)(sizeof l->name - 20), addr,
             tls ? " (tls)" : "");
    char extra[600] = "";
    if (cfg->kind == MB_LISTEN_WEBSOCKET)
        snprintf(extra, sizeof extra, " path %s%s%s", cfg->path ? cfg->path : "/ws",
                 cfg->web_root ? ", web root " : "", cfg->web_root ? cfg->web_root : "");
    /* the first words are what the tests parse: "listening rawsocket on 127.0.0.1:PORT" */
    mb_info(&r->log, "listening %s on %s%s%s%s", kind_name(cfg), addr, extra, tls ? " (tls" : "",
            tls ? (cfg->tls.ca ? ", client certificates required)" : ")") : "");
    return 0;
}

void mb_listener_stop(struct mb_listener *l)
{
    if (!l->listening)
        return;
    l->listening = false;
    uv_close(&l->io.handle, NULL);
    if (l->unix_bound) {
        l->unix_bound = false;
        if (unlink(l->cfg->unix_path) != 0 && errno != ENOENT)
            mb_warn(&l->r->log, "%s: cannot remove the socket file: %s", l->name, strerror(errno));
    }
}

/* ------------------------------------------------------------------ router hooks */

void mb_net_stop_listening(struct mb_router *r)
{
    if (!r->net)
        return;
    for (struct mb_listener *l = r->net->listeners; l; l = l->next)
        mb_listener_stop(l);
}

void mb_net_flush_all(struct mb_router *r)
{
    struct mb_net *net = r->net;
    if (!net)
        return;
    while (net->dirty) {
        struct mb_conn *c = net->dirty;
        net->dirty = c->next_dirty;
        c->dirty = false;
        flush(c);
    }
}

static uint64_t handshake_ms(const struct mb_router *r, const struct mb_listener_config *cfg)
{
    double s = cfg->handshake_timeout;
    if (s <= 0) {
        /* a peer that has not finished its handshake cannot be pinged: it gets no longer than a
         * pinged one */
        s = r->cfg->ping_interval + r->cfg->ping_timeout;
        if (s > HANDSHAKE_DEFAULT_S)
            s = HANDSHAKE_DEFAULT_S;
    }
    return (uint64_t)(s * 1000);
}

void mb_net_sweep(struct mb_router *r, uint64_t now_ms)
{
    struct mb_net *net = r->net;
    if (!net)
        return;
    for (struct mb_conn *c = net->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == C_CLOSING) {
            if (now_ms - c->closing_since > CLOSE_DEADLINE_MS) {
                mb_debug(&r->log, "%s: %s does not read: closed", c->l->name, c->peer);
                close_now(c);
            }
            continue;
        }
        if (!c->handshake_done) {
            uint64_t limit = handshake_ms(r, c->l->cfg);
            if (now_ms - c->opened > limit) {
                mb_info(&r->log, "%s: %s: no handshake within %.1f s: closed", c->l->name, c->peer,
                        (double)limit / 1000.0);
                r->limits_stats.handshake_timeouts++;
                close_now(c);
            }
            continue;
        }
        if (c->h && c->h->on_sweep) {
            c->h->on_sweep(c, now_ms);
            if (c->state == C_CLOSED)
                continue;
        }
        if (!c->writing && mb_conn_queued(c) == 0 && (c->out.mem || c->inflight.mem || c->enc.mem) &&
            now_ms - c->last_tx > IDLE_BUFFER_MS) {
            mb_buf_shrink(&c->out, 0); /* an idle connection keeps no buffers */
            mb_buf_shrink(&c->inflight, 0);
            mb_buf_shrink(&c->enc, 0);
            r->released_buffers++;
        }
    }
}

void mb_net_close_all(struct mb_router *r)
{
    struct mb_net *net = r->net;
    while (net && net->conns)
        close_now(net->conns);
}

void mb_net_free(struct mb_router *r)
{
    struct mb_net *net = r->net;
    if (!net)
        return;
    mb_net_close_all(r); /* none left after a normal shutdown */
    for (struct mb_listener *l = net->listeners, *next; l; l = next) {
        next = l->next;
        mb_listener_stop(l);
        SSL_CTX_free(l->ssl_ctx); /* connections hold references of their own: they are gone by now */
        l->ssl_ctx = NULL;
        if (l->on_free)
            l->on_free(l);
    }
    mb_map_free(&net->per_address); /* empty: every connection is gone */
    BIO_meth_free(net->bio_method);
    free(net->tls_plain);
    free(net->rbuf);
    free(net);
    r->net = NULL;
}
