/* What the outgoing HTTP bridge's subscribers and callees share (src/bridge/out.c): an in-router
 * session on an in-process transport. Messages from the router are queued by the transport and
 * handed to the peer's deliver at the next loop turn (an idle handle), never inside the broker or
 * dealer call that sent them: a peer may answer at once (an ERROR to an INVOCATION) without
 * re-entering the router. */
#ifndef MB_BRIDGE_OUT_INT_H
#define MB_BRIDGE_OUT_INT_H

#include "mb_bridge_out.h"
#include "mb_config.h"
#include "mb_httpc.h"
#include "mb_router.h"
#include "mb_session.h"

struct mb_out_peer;

struct mb_out_peer_ops {
    /* A message from the router (borrowed), from the loop's idle phase. */
    void (*deliver)(struct mb_out_peer *p, json_t *msg);
    /* Shutdown: cancel requests, drop queues, log counters. The session still exists. */
    void (*stop)(struct mb_out_peer *p);
    /* Frees the peer, now or from a close callback. */
    void (*release)(struct mb_out_peer *p);
};

struct mb_out_peer {
    const struct mb_out_peer_ops *ops;
    struct mb_router *r;
    struct mb_session *s;   /* the in-router session, or NULL once freed */
    struct mb_vec inbox;    /* json_t * from the router, delivered at the next loop turn */
    struct mb_vec spare;
    uint64_t next_request;
    bool closing;           /* shutting down: nothing more is delivered */
    char name[48];          /* "http.subscribers[1]": its config key, for the log */
};

struct mb_bridge_out {
    struct mb_router *r;
    uv_idle_t idle;          /* runs while a peer has messages waiting */
    bool idle_on;
    struct mb_vec peers;     /* struct mb_out_peer * */
};

/* Makes p's session and joins it to realm as authid (trusted, authrole "trusted", like a Lua
 * script) with the given peer features (enum mb_peer_feature). 0, or -1. */
int mb_out_peer_join(struct mb_out_peer *p, struct mb_realm *realm, const char *authid, unsigned features);
/* Sends msg (stolen) into the router from p's session; dropped when the session is not joined. */
void mb_out_peer_send(struct mb_out_peer *p, json_t *msg);
/* A fresh request ID for a message p sends. */
uint64_t mb_out_peer_request(struct mb_out_peer *p);
/* ERROR for INVOCATION inv: reason URI, a message as its one argument. */
void mb_out_peer_error(struct mb_out_peer *p, uint64_t inv, const char *uri, const char *msg);

/* The two kinds (subscriber.c, callee.c): the peer made and joined, or NULL with why. */
struct mb_out_peer *mb_http_subscriber_new(struct mb_router *r, const struct mb_http_subscriber_config *cfg,
                                           size_t index, char *why, size_t whylen);
struct mb_out_peer *mb_http_callee_new(struct mb_router *r, const struct mb_http_callee_config *cfg, size_t index,
                                       char *why, size_t whylen);

#endif
