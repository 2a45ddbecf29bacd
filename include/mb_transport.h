/* Transports: WebSocket (moonbar's own HTTP/1.1 + RFC 6455 server, ws.c) and RawSocket, both
 * on mb_conn (TCP or Unix, with or without TLS). Each talks to sessions through struct
 * mb_transport (mb_router.h). */
#ifndef MB_TRANSPORT_H
#define MB_TRANSPORT_H

#include "mb_router.h"

/* WebSocket + static HTTP: one mb_listener per websocket listener of cfg->listeners (freed by
 * mb_net_free). 0, or -1 with a logged reason. */
int mb_ws_start(struct mb_router *r);
/* Start of the shutdown: closes HTTP connections idle between requests (the listeners stop with
 * mb_net_stop_listening; WebSocket sessions close through their sessions). */
void mb_ws_stop_listening(struct mb_router *r);
/* Frees the transport's shared state (after mb_net_free). */
void mb_ws_free(struct mb_router *r);
/* Router tick: trims the buffers every connection shares (connections have on_sweep). */
void mb_ws_sweep(struct mb_router *r, uint64_t now_ms);

/* One mb_listener (mb_conn.h) per rawsocket listener of cfg->listeners; their connections,
 * flushes, sweeps and teardown are mb_net's (the listeners are freed by mb_net_free). 0, or -1
 * with a logged reason. */
int mb_rawsocket_start(struct mb_router *r);

/* Helpers shared by the transports. */
/* Binds and listens a uv_tcp_t on host:port; logs "listening NAME on HOST:PORT...". */
int mb_listen_tcp(struct mb_router *r, uv_tcp_t *tcp, const char *host, int port, uv_connection_cb cb,
                  const char *name, const char *extra);
/* The address and port of a socket address, as text. */
void mb_sockaddr_name(const struct sockaddr_storage *ss, char *ip, size_t iplen, int *port);
/* "ip:port" of a uv_tcp_t's peer. */
void mb_peer_name(uv_tcp_t *tcp, char *out, size_t n);

#endif
