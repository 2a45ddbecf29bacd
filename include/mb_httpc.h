/* mb_httpc: outgoing HTTP requests on moonbar's loop (M11), with libcurl's multi-socket
 * interface driven by libuv (uv_poll per socket, one uv_timer): nothing blocks the loop, DNS
 * included (libcurl's threaded resolver). Used by the bridge's subscribers and callees and by
 * Lua's moonbar.http.request. */
#ifndef MB_HTTPC_H
#define MB_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

struct mb_router;
struct mb_httpc_call; /* one request in flight */

struct mb_httpc_request {
    const char *method;   /* "GET", "POST", ...; NULL: GET, or POST with a body */
    const char *url;      /* http:// or https:// */
    const char *const *headers; /* "Name: value" lines, NULL-terminated, or NULL */
    const char *body;     /* request body, or NULL */
    size_t body_len;
    double timeout;       /* seconds for the whole request (0: 30) */
    size_t max_bytes;     /* response body limit (0: 16 MiB): over it, the request fails */
};

struct mb_httpc_response {
    int status;           /* HTTP status, or 0 when the request failed */
    const char *error;    /* why it failed (timeout, connect refused, too large), or NULL */
    const char *body;     /* response body (NUL-terminated after body_len) */
    size_t body_len;
    const char *const *headers; /* "Name: value" lines, NULL-terminated */
    size_t nheaders;
};

/* Called once, on the loop, with the answer (valid during the call only). */
typedef void (*mb_httpc_done)(void *ctx, const struct mb_httpc_response *res);

/* Starts a request; its strings are copied. NULL when it cannot start (bad URL scheme, out of
 * memory): done is then not called. */
struct mb_httpc_call *mb_httpc_start(struct mb_router *r, const struct mb_httpc_request *req, mb_httpc_done done,
                                     void *ctx);
/* Cancels a request in flight: done is not called. */
void mb_httpc_cancel(struct mb_httpc_call *call);

/* Router lifecycle: init on first use is fine; free at shutdown cancels what is in flight. */
void mb_httpc_free(struct mb_router *r);

#endif
