/* mb_bridge_out: the outgoing side of the HTTP bridge (M11). Each http.subscribers[i] is an
 * in-router session that subscribes its topic and POSTs every event to its URL (Crossbar's
 * HTTP subscriber body, retries with backoff, a bounded queue, one request in flight);
 * each http.callees[i] is an in-router session that registers its procedure and turns every
 * invocation into an HTTP request under its baseurl (Crossbar's HTTP callee arguments and
 * result). Both are trusted sessions on an in-process transport, like Lua scripts: the broker
 * and dealer have no special case for them. Requests go through mb_httpc. See
 * docs/http-outgoing.md. */
#ifndef MB_BRIDGE_OUT_H
#define MB_BRIDGE_OUT_H

struct mb_router;

/* Starts every configured subscriber and callee (after the realms exist: mb_router_init).
 * Returns 0, or -1 with a logged reason (an unknown realm, a bad URL, no memory). */
int mb_bridge_out_start(struct mb_router *r);

/* Shutdown (mb_router_stop): cancels the requests in flight, drops what is queued, logs each
 * target's counters, and frees the sessions (their callers get their answers from the dealer).
 * The rest goes with the close callbacks of its uv handles. Idempotent; nothing to do when
 * never started. */
void mb_bridge_out_free(struct mb_router *r);

#endif
