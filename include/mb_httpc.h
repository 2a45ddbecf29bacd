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

/* Why a request failed (mb_httpc_response.failure): callers that map failures to error URIs
 * (the bridge's callee: wamp.error.timeout for a timeout) need more than the message. */
enum mb_httpc_failure {
    MB_HTTPC_OK,        /* an answer came (whatever its status) */
    MB_HTTPC_TIMEOUT,   /* no complete answer within the request's timeout */
    MB_HTTPC_TOO_LARGE, /* the response body went over max_bytes */
    MB_HTTPC_FAILED,    /* anything else: refused connection, DNS, TLS (certificate), protocol */
};

struct mb_httpc_response {
    int status;           /* HTTP status, or 0 when the request failed */
    const char *error;    /* why it failed (timeout, connect refused, too large), or NULL */
    const char *body;     /* response body (NUL-terminated after body_len) */
    size_t body_len;
    const char *const *headers; /* "Name: value" lines, NULL-terminated */
    size_t nheaders;
    enum mb_httpc_failure failure; /* MB_HTTPC_OK exactly when error is NULL */
};

/* Called once, on the loop, with the answer (valid during the call only). The call is over
 * when done runs: canceling it from inside done is a no-op; starting new requests is fine. */
typedef void (*mb_httpc_done)(void *ctx, const struct mb_httpc_response *res);

/* Starts a request; its strings are copied. NULL when it cannot start (bad URL scheme, out of
 * memory): done is then not called. */
struct mb_httpc_call *mb_httpc_start(struct mb_router *r, const struct mb_httpc_request *req, mb_httpc_done done,
                                     void *ctx);
/* Checks what mb_httpc_start would refuse (a URL that is not http:// or https://, a method that
 * is not an HTTP token, a header line without "Name:" or with CR/LF): 0, or -1 with the reason in
 * why. Callers that must say why a request cannot start call it first. */
int mb_httpc_check(const struct mb_httpc_request *req, char *why, size_t whylen);
/* Cancels a request in flight: done is not called. */
void mb_httpc_cancel(struct mb_httpc_call *call);

/* Router lifecycle: the client (libcurl's global state, the multi handle, its uv timer) is made
 * on the first mb_httpc_start; its uv handles are unreferenced, so requests in flight never keep
 * the loop running once the router has closed its own handles. mb_httpc_free (after uv_run
 * returned, from mb_router_free) cancels what is in flight, closes the handles (the loop must run
 * once more for their close callbacks, which free the rest) and undoes curl_global_init.
 * mb_httpc_start refuses new requests once the router has stopped. */
void mb_httpc_free(struct mb_router *r);

#endif
