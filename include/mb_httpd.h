/* mb_httpd: HTTP requests with bodies on the WebSocket/HTTP listeners (M11), handed to the
 * services that claimed their path (the bridge's publisher, caller and webhook paths, Lua
 * routes, the long-poll transport) and answered later, on the loop.
 *
 * The WebSocket transport (ws.c) parses the head; when the decoded path has a route, it reads a
 * body of Content-Length bytes (no body, or one up to the route's max_body: over it, 413 and
 * the connection closes; "Transfer-Encoding: chunked": 411), then calls the route's handler with
 * an exchange. The connection waits for the answer (pipelined requests are kept, reading pauses
 * when they fill the head buffer), writes it, and goes on with the next request when the
 * connection persists. A route never sees a WebSocket upgrade: upgrades on the WAMP path go to
 * WAMP as before; static files are served for paths no route claims. */
#ifndef MB_HTTPD_H
#define MB_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "mb_http.h"

struct mb_router;
struct mb_http_exchange; /* one request waiting for its answer */

/* Called once per request, on the loop. head is valid during the call only (copy what you keep);
 * body (NUL-terminated after len bytes, may hold NULs) and peer ("127.0.0.1:5000") stay valid
 * until the exchange is answered or abandoned. The handler answers now or later with
 * mb_http_reply, exactly once, unless the abandon callback ran first. */
typedef void (*mb_http_handler)(void *ctx, struct mb_http_exchange *ex, const struct mb_http_request *head,
                                const char *path, const char *body, size_t len);

/* Claims requests whose decoded path is path (prefix false) or starts with path (prefix true;
 * the longest claiming prefix wins; an exact claim beats prefixes). max_body: bytes a request
 * body may have. Returns a route id > 0, or -1 (out of memory, or the same path claimed twice). */
int mb_httpd_route(struct mb_router *r, const char *path, bool prefix, size_t max_body, mb_http_handler fn,
                   void *ctx);
/* Drops a route (Lua routes on reload); exchanges already handed out stay valid. */
void mb_httpd_unroute(struct mb_router *r, int id);
void mb_httpd_free(struct mb_router *r); /* every route, at shutdown */

/* Answers: status (200, 400, ...), extra header lines ("Name: value\r\n"..., or NULL), body.
 * Content-Length and Connection are written by mb_httpd (204 and 304: no Content-Length, no
 * body); "Content-Type" is the caller's (default "text/plain; charset=utf-8" when headers has
 * none). The exchange is freed. */
void mb_http_reply(struct mb_http_exchange *ex, int status, const char *headers, const char *body, size_t len);
/* Text answer: mb_http_reply with a NUL-terminated body. */
void mb_http_reply_text(struct mb_http_exchange *ex, int status, const char *content_type, const char *body);

/* fn(ctx) runs if the connection goes away before the answer; the exchange is then freed by
 * mb_httpd after fn returns and must not be answered. One callback per exchange (the last set). */
void mb_http_on_abandon(struct mb_http_exchange *ex, void (*fn)(void *ctx), void *ctx);
/* The peer's address ("127.0.0.1:51234"), and whether the connection is TLS. */
const char *mb_http_peer(const struct mb_http_exchange *ex);
bool mb_http_tls(const struct mb_http_exchange *ex);
/* The listener the request came through (its realms, limits): for sessions made from it. */
struct mb_listener_config;
const struct mb_listener_config *mb_http_listener(const struct mb_http_exchange *ex);

/* The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" otherwise). */
const char *mb_http_reason(int status);

#endif
