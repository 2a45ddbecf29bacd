/* mb_session: one WAMP peer on one transport connection: its state machine (HELLO, WELCOME,
 * GOODBYE, ABORT), message validation and dispatch to the broker and dealer, its outbound
 * queue accounting (flow control), and its teardown at a safe point. */
#ifndef MB_SESSION_H
#define MB_SESSION_H

#include <jansson.h>
#include <stdarg.h>

#include "mb_router.h"
#include "mb_wamp.h"

enum mb_session_state {
    MB_S_NEW,        /* transport open, no session yet (or after a GOODBYE) */
    MB_S_CHALLENGED, /* CHALLENGE sent, waiting for AUTHENTICATE */
    MB_S_JOINED,     /* WELCOME sent */
    MB_S_LEAVING, /* router sent GOODBYE, waiting for the peer's */
    MB_S_CLOSED,  /* closing the transport: nothing more is sent or received */
};

/* Features a peer announced in HELLO.Details.roles.<role>.features (bit per feature and role). */
enum mb_peer_feature {
    MB_F_CALLER_PROGRESSIVE_RESULTS = 1u << 0,     /* caller.progressive_call_results */
    MB_F_CALLER_PROGRESSIVE_INVOCATIONS = 1u << 1, /* caller.progressive_call_invocations */
    MB_F_CALLER_CANCELING = 1u << 2,               /* caller.call_canceling */
    MB_F_CALLER_PPT = 1u << 3,                     /* caller.payload_passthru_mode */
    MB_F_CALLEE_PROGRESSIVE_RESULTS = 1u << 4,     /* callee.progressive_call_results */
    MB_F_CALLEE_PROGRESSIVE_INVOCATIONS = 1u << 5, /* callee.progressive_call_invocations */
    MB_F_CALLEE_CANCELING = 1u << 6,               /* callee.call_canceling: it gets INTERRUPT */
    MB_F_CALLEE_PPT = 1u << 7,                     /* callee.payload_passthru_mode */
    MB_F_PUBLISHER_PPT = 1u << 8,                  /* publisher.payload_passthru_mode */
    MB_F_SUBSCRIBER_PPT = 1u << 9,                 /* subscriber.payload_passthru_mode */
    MB_F_CALLEE_REVOCATION = 1u << 10,             /* callee.registration_revocation */
    MB_F_SUBSCRIBER_REVOCATION = 1u << 11,         /* subscriber.subscription_revocation */
};

/* What the authorizer decided about disclosing the identity of a caller or publisher, for the
 * request just authorized (mb_session_authorized sets it; ASK when there is no authorizer). */
enum mb_disclose {
    MB_DISCLOSE_ASK,    /* as the peer asked (Options.disclose_me) or the callee (disclose_caller) */
    MB_DISCLOSE_FORCE,  /* the authorizer said disclose = true: always disclose */
    MB_DISCLOSE_REFUSE, /* disclose = false: a request with disclose_me gets
                           wamp.error.option_disallowed.disclose_me */
};

struct mb_session {
    struct mb_router *router;
    const struct mb_transport *tr;
    void *conn;
    char peer[64]; /* "127.0.0.1:51234" */
    int ser;       /* enum mb_ser (mb_codec.h): the serializer the transport negotiated, set
                      before the first message (0: JSON) */
    const struct mb_listener_config *listener; /* the endpoint it came through (realm access,
                                                  limits), or NULL for in-router sessions */

    enum mb_session_state state;
    uint64_t id; /* 0 until joined */
    struct mb_realm *realm;
    char *authid;
    char *authrole;
    const char *authmethod;
    const char *authprovider;
    bool trusted;              /* in-router (Lua) session: not asked to the authorizer */
    unsigned features;         /* enum mb_peer_feature bits, from HELLO */
    enum mb_disclose authz_disclose; /* set by mb_session_authorized for the request it allowed */
    struct mb_auth_pending *auth;   /* CHALLENGED (or a HELLO held by the guard): mb_auth.h */
    const struct mb_role *role;     /* the realm's static role of authrole, or NULL (mb_roles.h) */
    struct mb_map authz_cache; /* "action uri" → cached authorizer decision */
    char *authz_last;          /* its entry last used (mb_lua_authorize) */
    size_t authz_last_len;

    struct mb_vec subs; /* struct mb_subscription * this session is in */
    struct mb_vec regs; /* struct mb_registration * this session is a callee of */
    struct mb_map invocations; /* pending calls to this callee: id → struct mb_invocation */
    struct mb_map calls;       /* this caller's calls in flight: CALL.Request → the same structs */
    uint64_t call_watermark;   /* highest CALL.Request seen: lower unknown IDs are late continuations */
    uint64_t next_request;     /* router → client request IDs (INVOCATION) */

    json_t *testaments[2];  /* lists of {topic, args, kwargs, options}: detached, destroyed */
    uint64_t leaving_since; /* ms: GOODBYE sent, waiting for the peer's */

    bool reading_paused;
    uint64_t over_since; /* ms; 0 if the outbound queue is under its limit */

    bool doomed;
    int close_code;
    bool close_flush;
    char close_reason[124];
    struct mb_session *next_doomed;
    struct mb_session *prev, *next; /* router->all */
    struct mb_authz_memo *memo;     /* its last static decision (mb_auth.h), or NULL */

    /* M13 resource limits (kept last: the fields above are the hot ones) */
    uint64_t hello_since;  /* ms: transport open, or GOODBYE: limits.hello_timeout runs from it */
    int64_t rate_tokens;   /* limits.max_message_rate: the bucket, in millionths of a token */
    uint64_t rate_ms;      /* ms: when it was last refilled */
    uint64_t rate_resume_at; /* ms: throttled until then */
    struct mb_session *rate_next; /* router->throttled */
    bool throttled;        /* the bucket is empty: the transport holds what it read, reading paused */
    bool rate_resuming;    /* the transport is handing over what it held (messages_delayed) */
};

/* limits.max_message_rate: a transport checks it after each message it hands over, and holds
 * the rest of what it read (tr->resume gives it later). */
static inline bool mb_session_throttled(const struct mb_session *s)
{
    return s->throttled;
}

/* Whether s announced callee.features.call_canceling: it gets INTERRUPT, else canceling is skip. */
static inline bool mb_session_cancelable(const struct mb_session *s)
{
    return (s->features & MB_F_CALLEE_CANCELING) != 0;
}

/* Called by transports. */
struct mb_session *mb_session_new(struct mb_router *r, const struct mb_transport *tr, void *conn,
                                  const char *peer);
void mb_session_receive(struct mb_session *s, const char *data, size_t len);
/* Same, for a message already decoded (in-router sessions); root stays the caller's. */
void mb_session_receive_json(struct mb_session *s, json_t *root);
/* Joins realm with the given identity and sends WELCOME (authid and authrole are copied). */
void mb_session_join(struct mb_session *s, struct mb_realm *realm, const char *authid, const char *authrole,
                     const char *authmethod, const char *authprovider);
void mb_session_drained(struct mb_session *s); /* the transport wrote some of its queue */
void mb_session_free(struct mb_session *s);     /* the transport is gone */

/* Sending. All are no-ops once the session is closing. */
/* steals msg; -1: not sent to an open session (could not be built, or not encoded in its
 * serializer: a value nested deeper than 64 for MessagePack/CBOR, a NaN for JSON), else 0 */
int mb_session_send(struct mb_session *s, json_t *msg);
void mb_session_send_bytes(struct mb_session *s, const char *data, size_t len);
void mb_session_error(struct mb_session *s, int req_type, uint64_t request, enum mb_reason reason,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Serializes msg in serializer ser (enum mb_ser) into the router's buffer for ser; returns its
 * bytes (valid until the next encoding in ser) or NULL. */
const char *mb_serialize(struct mb_router *r, int ser, json_t *msg, size_t *len);
/* The pass-through encoding in serializer ser: [type, id1[, id2], {}, <payload>] (or
 * {"key": "value"} as the Details) where <payload> is the scanned message m's Arguments/
 * ArgumentsKw: their bytes as received when m came in ser, else converted once from m's
 * serializer (mb_codec_transcode), never through jansson between the binary ones. Into the
 * buffer of ser, like mb_serialize; NULL when out of memory or when a value cannot be carried
 * by ser (a NaN to JSON). */
const char *mb_encode_passthrough(struct mb_router *r, int ser, int type, uint64_t id1, uint64_t id2,
                                  const char *key, const char *value, size_t value_len, const struct mb_msg *m,
                                  size_t *len);
/* Appends m's payload as a JSON tail ",<args>[,<kwargs>]" (converted if m is not JSON): how
 * retained and history events keep it. 0, or -1. */
int mb_tail_to_json(const struct mb_msg *m, struct mb_buf *b);

/* Same, with any Details object (serialized as is; borrowed): for messages whose Details carry
 * more than one key (disclosure, progress, ppt_*), still without decoding the payload. */
const char *mb_encode_passthrough_details(struct mb_router *r, int ser, int type, uint64_t id1, uint64_t id2,
                                          json_t *details, const struct mb_msg *m, size_t *len);
int mb_session_send_passthrough_details(struct mb_session *s, int type, uint64_t id1, uint64_t id2,
                                         json_t *details, const struct mb_msg *m);

/* Sends to s the pass-through encoding of the scanned message m (mb_encode_passthrough) in
 * s's serializer and returns 1; 0, sending nothing, when m was not scanned or s is an
 * in-process session (which takes a json_t): the caller then builds the message from decoded
 * values; -1 (logged) when the payload cannot be encoded for s (a NaN to a JSON session). */
int mb_session_send_passthrough(struct mb_session *s, int type, uint64_t id1, uint64_t id2, const char *key,
                                 const char *value, size_t value_len, const struct mb_msg *m);

/* Payload pass-through mode (shared by broker and dealer): its Options keys; whether a request
 * uses it (Options.ppt_scheme a non-empty string, the spec); and a copy of the ppt_* keys of
 * opts into details (made if NULL; returned, NULL when out of memory). */
extern const char *const mb_ppt_keys[4];
bool mb_uses_ppt(json_t *opts);
json_t *mb_copy_ppt(json_t *details, json_t *opts);

/* Request checks shared by broker and dealer. Options.match of a SUBSCRIBE/REGISTER, or -1
 * after an ERROR reply; the URI check of a topic/procedure (a pattern unless match is exact),
 * false after an invalid_uri reply (if reply). */
int mb_options_match(struct mb_session *s, const struct mb_msg *m);
bool mb_check_uri(struct mb_session *s, const struct mb_msg *m, int match, bool reserved_ok, bool reply);

/* Asks the realm's authorizer (mb_lua_authorize); on deny or failure replies with
 * not_authorized / authorization_failed (if reply) and returns false. */
bool mb_session_authorized(struct mb_session *s, const char *action, const struct mb_msg *m, bool reply);

/* A request refused by a resource limit: ERROR with wamp.error.resource_exhausted, the message
 * both in Details.message and as Arguments[0]. */
void mb_session_refuse(struct mb_session *s, int req_type, uint64_t request, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Ends the session: ABORT with reason and message, then closes the transport. */
void mb_session_abort(struct mb_session *s, enum mb_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Closes the transport at the next safe point (code/reason for WebSocket close frames). */
void mb_session_close(struct mb_session *s, int code, const char *reason, bool flush);
/* Router shutdown: GOODBYE with reason, then close. */
void mb_session_shutdown(struct mb_session *s, enum mb_reason reason, const char *message);
/* Ends a joined session from the router side (wamp.session.kill): GOODBYE with reason_uri and
 * message (may be NULL), the session leaves its realm now, the transport closes when the peer
 * answers (or after a deadline). */
void mb_session_kill(struct mb_session *s, const char *reason_uri, const char *message);
/* The session details dict of the meta API (on_join, wamp.session.get). */
json_t *mb_session_details(const struct mb_session *s);

/* Runs at the router's safe point: detaches and closes doomed sessions. */
void mb_session_reap(struct mb_router *r);
/* Liveness, for the transports' sweeps: given when the peer last sent anything and when a ping
 * went out (0: none waiting), drops a peer that did not answer within ping_timeout, and returns
 * true (setting ping_sent) when the transport should ping a peer silent for ping_interval. */
bool mb_session_liveness(struct mb_session *s, uint64_t now_ms, uint64_t last_rx, uint64_t *ping_sent);
/* Router tick: closes transports that sent no HELLO within limits.hello_timeout. */
void mb_session_check_hello(struct mb_router *r, uint64_t now_ms);
/* The router's rate timer (limits.max_message_rate): resumes the throttled sessions now due. */
void mb_session_rate_timer(uv_timer_t *h);
/* realm's session bound (realms[i].max_sessions, else limits.max_sessions_per_realm). */
size_t mb_realm_max_sessions(const struct mb_router *r, const struct mb_realm *realm);
/* Router tick: disconnects sessions whose queue stayed over the limit too long. */
void mb_session_check_slow(struct mb_router *r, uint64_t now_ms);

#endif
