/* mb_longpoll: WAMP over HTTP long-poll (the advanced profile's transport, with Crossbar's URLs
 * and answers), so that a client that cannot open a WebSocket still joins. Each
 * http.paths["/base"] = { type = "longpoll" } claims /base and /base/... through mb_httpd:
 *
 *   POST /base/open           {"protocols": [...]} -> {"transport": ID, "protocol": ...}
 *   POST /base/ID/send        one message, or a batch (.batched protocols)      -> 204
 *   POST /base/ID/receive     held until messages wait (200 with them) or request_timeout (204)
 *   POST /base/ID/close       the session ends                                  -> 204
 *
 * Every transport carries one session on struct mb_transport ("longpoll"): the session does
 * not know it is not a socket. The transport owns its outbound queue (bounded by the path's
 * queue_limit_bytes and queue_limit_messages; `queued` reports it, so moonbar's slow-consumer
 * rules apply on top), the receive it holds open, the sends it holds while the session's
 * reading is paused, and its liveness: HTTP has no ping, so a transport without a request for
 * session_timeout seconds is closed. IDs are 128 random bits in hex. Details and choices:
 * docs/http-longpoll.md. */
#ifndef MB_LONGPOLL_H
#define MB_LONGPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mb_router;

/* Transports open at once, per peer address (without its port) and in total: more opens get
 * 429 and 503. */
#define MB_LONGPOLL_MAX_PER_ADDRESS 100
#define MB_LONGPOLL_MAX_TOTAL 10000

/* Claims the routes of every longpoll path of cfg->http.paths (nothing when there is none).
 * Call once the realms exist. 0, or -1 with a logged reason (a path that cannot be claimed). */
int mb_longpoll_start(struct mb_router *r);
/* Router tick: answers receives held for request_timeout, closes transports silent for
 * session_timeout. */
void mb_longpoll_sweep(struct mb_router *r, uint64_t now_ms);
/* After uv_run returned (every HTTP connection is gone): frees the transports and their sessions;
 * its idle handle is closed, and its memory freed, by the next uv_run. */
void mb_longpoll_free(struct mb_router *r);

/* ---- the pure parts of a request (no router, no I/O; fuzzed in spec/fuzz/fuzz_longpoll.c) ---- */

#define MB_LP_ID_LEN 32 /* a transport ID: 32 lowercase hex digits */

enum mb_lp_op { MB_LP_ROOT, MB_LP_OPEN, MB_LP_SEND, MB_LP_RECEIVE, MB_LP_CLOSE, MB_LP_NONE };
/* What rel, the decoded path after the base ("", "/", "/open", "/ID/send", "/ID/receive",
 * "/ID/close"), names; MB_LP_NONE for anything else. For send, receive and close, *id points
 * at the ID's MB_LP_ID_LEN digits inside rel (else NULL). */
enum mb_lp_op mb_lp_route(const char *rel, const char **id);

/* The i'th protocol long-poll speaks ("wamp.2.json", "wamp.2.json.batched", ... msgpack,
 * cbor), with its enum mb_ser and whether it is batched; NULL past the last. */
const char *mb_lp_protocol(int i, int *ser, bool *batched);
/* An open request's body, {"protocols": [...]}: the index (for mb_lp_protocol) of the first
 * protocol offered that moonbar speaks, or -1 with *bad saying why (the 400's text). */
int mb_lp_open_protocol(const char *body, size_t len, const char **bad);

/* The messages of a send body in serializer ser (enum mb_ser), batched or not (JSON: each
 * followed by 0x1e, or 0x18 as autobahn-python writes it; MessagePack and CBOR: each after a
 * 4-byte big-endian length): calls fn for each until it returns false, or only checks the
 * framing when fn is NULL. NULL when the body is well framed, else why not. */
const char *mb_lp_each_message(int ser, bool batched, const char *body, size_t len,
                               bool (*fn)(void *, const char *, size_t), void *arg);

#endif
