/* mb_router: the domain model: router → realms → broker + dealer, and sessions.
 * The router object is the only mutable state of the process. It owns the uv loop's handles
 * (signals, the safe-point check, the tick timer) and the transports; broker and dealer see
 * sessions only through mb_session_* (they know nothing of sockets, libuv or Lua). */
#ifndef MB_ROUTER_H
#define MB_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "mb_auth.h"
#include "mb_buf.h"
#include "mb_codec.h"
#include "mb_config.h"
#include "mb_id.h"
#include "mb_log.h"
#include "mb_map.h"
#include "mb_match.h"
#include "mb_uri.h"
#include "mb_vec.h"

struct mb_session;
struct mb_ws;
struct mb_rawsocket;
struct mb_net;
struct mb_lua;
struct mb_store;
struct mb_httpd;
struct mb_httpc;
struct mb_longpoll;
struct mb_bridge;
struct mb_bridge_out;

/* A transport carries one session's messages; the session calls it through this table
 * (WebSocket, RawSocket; an in-process one for Lua later). */
struct mb_transport {
    const char *name;
    /* Queues one serialized message, framing it. Never closes or frees synchronously. */
    void (*send)(void *conn, const char *data, size_t len);
    /* In-process transports only (else NULL): takes the message itself, no serialization;
     * gets its own reference. */
    void (*send_json)(void *conn, json_t *msg);
    /* Bytes queued and not yet written to the socket. */
    size_t (*queued)(void *conn);
    /* Pauses or resumes reading from the peer (flow control). */
    void (*set_reading)(void *conn, bool on);
    /* limits.max_message_rate: the session's bucket has a token again: the transport hands it
     * the messages it held (read, not yet given) until the session is throttled again, and
     * then stops. NULL: the transport cannot hold messages (in-router sessions, long-poll):
     * the rate limit does not apply to its sessions. */
    void (*resume)(void *conn);
    /* Closes the connection: after writing what is queued if flush, else at once.
     * code/reason go into the WebSocket close frame. The transport later calls
     * mb_session_free() from its close callback. */
    void (*close)(void *conn, int code, const char *reason, bool flush);
    /* TLS channel binding data (32 bytes) of type "tls-unique" or "tls-exporter" for
     * WAMP-Cryptosign; -1 when the connection has no TLS or the type is unknown. NULL: never. */
    int (*channel_binding)(void *conn, const char *type, unsigned char out[32]);
};

/* One subscription per (topic, match policy), shared by its subscribers. */
struct mb_subscription {
    uint64_t id;
    char *uri;
    size_t uri_len;
    enum mb_match_policy match;
    uint64_t created; /* ms since the epoch */
    struct mb_vec subscribers; /* struct mb_session * */
};

struct mb_broker {
    struct mb_matcher match; /* (policy, topic) → subscription */
    struct mb_map by_id;
    struct mb_map retained;  /* topic → struct mb_kept_event: its retained event (Options.retain) */
    size_t max_retained;     /* limits.max_retained_topics */
    uint64_t retained_refused; /* retained publications not kept: a new topic past the bound */
};

enum mb_invoke_policy {
    MB_INVOKE_SINGLE, MB_INVOKE_ROUNDROBIN, MB_INVOKE_RANDOM, MB_INVOKE_FIRST, MB_INVOKE_LAST,
    MB_INVOKE_CUSTOM, /* a policy of the realm's Lua policy script, named by policy */
};

/* One registration per (procedure, match policy), shared by its callees. */
struct mb_registration {
    uint64_t id;
    char *uri;
    size_t uri_len;
    enum mb_match_policy match;
    enum mb_invoke_policy invoke;
    char *policy; /* MB_INVOKE_CUSTOM: the policy's name */
    size_t next;  /* roundrobin position */
    bool disclose_caller; /* a callee asked for Options.disclose_caller: INVOCATIONs name the caller */
    uint64_t created; /* ms since the epoch */
    struct mb_vec callees; /* struct mb_session *, registration order */
};

struct mb_dealer {
    struct mb_matcher match; /* (policy, procedure) → registration */
    struct mb_map by_id;
};

/* A call in flight. Owned by its callee session (invocations, keyed by INVOCATION.Request) and
 * listed by its caller session too (calls, keyed by CALL.Request), so that a CANCEL, a progressive
 * CALL or the caller leaving finds it without a search; it is freed when it leaves both. */
enum {
    MB_INV_PROGRESS = 1 << 0, /* progressive results reach the caller (both sides announced them) */
    MB_INV_STREAM = 1 << 1,   /* progressive invocations: the caller's final CALL has not come yet */
    MB_INV_KILLED = 1 << 2,   /* CANCEL mode kill: INTERRUPT sent, the callee's answer ends the call */
};
struct mb_invocation {
    uint64_t id;             /* INVOCATION.Request, session scope of the callee */
    uint64_t caller_request; /* CALL.Request */
    uint64_t reg;            /* registration ID, for the INVOCATIONs that continue a progressive call */
    uint64_t deadline;       /* ms (router clock) for CALL.Options.timeout, else 0 */
    uint32_t timeout;        /* ms, CALL.Options.timeout (restarts at each progressive result), or 0 */
    unsigned flags;          /* MB_INV_* */
    struct mb_session *caller; /* it removes its calls when it leaves, so this never dangles */
    struct mb_session *callee;
    json_t *details;         /* progressive invocations: the first INVOCATION's Details, frozen for the
                                next ones (spec); NULL for every other call */
    struct mb_invocation *prev, *next; /* router->timed, when deadline != 0 */
};

struct mb_lua_realm;
struct mb_history;

/* What the resource limits refused or delayed (limits section), logged at shutdown in one
 * "limits:" line. */
struct mb_limit_counters {
    uint64_t connections_refused_total;       /* limits.max_connections */
    uint64_t connections_refused_per_address; /* limits.max_connections_per_address */
    uint64_t sessions_refused;                /* max_sessions_per_realm / realms[i].max_sessions */
    uint64_t subscriptions_refused;           /* max_subscriptions_per_session */
    uint64_t registrations_refused;           /* max_registrations_per_session */
    uint64_t calls_refused_caller;            /* max_calls_per_caller */
    uint64_t calls_refused_callee;            /* max_invocations_per_callee */
    uint64_t sessions_throttled;              /* max_message_rate: times a session's reading paused */
    uint64_t messages_delayed;                /* ... messages that waited in moonbar for a token */
    uint64_t hello_timeouts;                  /* hello_timeout */
    uint64_t handshake_timeouts;              /* listeners[i].handshake_timeout */
    uint64_t slow_consumers_dropped;          /* max_queue_bytes / slow_consumer_timeout */
    uint64_t messages_too_large;              /* max_message_size */
};

/* Options and Details dicts decoded lately, by their bytes: the same few dicts ("{}",
 * {"acknowledge":true}, ...) come in every message, so they are decoded once. */
#define MB_DICT_CACHE 64
#define MB_DICT_KEY_MAX 120
struct mb_dict_slot {
    json_t *dict; /* immutable once cached */
    size_t len;
    int ser;      /* the serializer of key */
    char key[MB_DICT_KEY_MAX];
};

struct mb_realm {
    char *name;
    enum mb_uri_rule uri_rule;
    struct mb_broker broker;
    struct mb_dealer dealer;
    size_t nsessions;
    struct mb_lua_realm *lua; /* its scripts, or NULL */
    struct mb_history *history; /* realms[i].history, or NULL when the realm keeps none */
    struct mb_realm_auth *auth; /* realms[i].auth and roles (M10); NULL only if out of memory */
    size_t max_sessions;        /* realms[i].max_sessions, else limits.max_sessions_per_realm */
};

struct mb_router {
    uv_loop_t *loop;
    struct mb_logger log;
    struct mb_config *cfg;
    struct mb_idgen ids;

    struct mb_map realms;   /* name → struct mb_realm */
    struct mb_map sessions; /* joined sessions: id → struct mb_session */
    struct mb_session *all; /* every session, joined or not (intrusive list) */
    size_t nall;
    struct mb_session *doomed; /* to be closed at the next safe point */
    struct mb_invocation *timed; /* calls with a timeout, checked by the tick */

    struct mb_buf scratch; /* serialization buffer, reused for every message */
    struct mb_buf enc[MB_SER_COUNT]; /* outbound messages, one buffer per serializer: a fan-out
                                        encodes each EVENT once per serializer in use */
    size_t released_buffers; /* idle connections' buffers freed since the last heap trim */
    uint64_t last_trim;      /* ms */
    struct mb_dict_slot dicts[MB_DICT_CACHE];
    json_t *welcome_roles;   /* WELCOME.Details.roles, built at the first join */

    struct mb_ws *ws;
    struct mb_rawsocket *raw;
    struct mb_net *net;     /* listeners and connections (mb_conn.h) */
    struct mb_lua *lua;
    struct mb_store *store; /* moonbar.store: opened before the scripts start, closed after they stop */
    struct mb_guard *guard; /* failed authentications per peer address (brute_force) */
    struct mb_httpd *httpd; /* HTTP routes with bodies (mb_httpd.h), or NULL */
    struct mb_httpc *httpc; /* outgoing HTTP (mb_httpc.h), or NULL until first used */
    struct mb_longpoll *longpoll; /* WAMP over HTTP long-poll (mb_longpoll.h), or NULL: no such path */
    struct mb_bridge *bridge; /* the http section's publisher, caller and webhook paths (mb_bridge.h), or NULL */
    struct mb_bridge_out *bridge_out; /* http.subscribers and http.callees (mb_bridge_out.h), or NULL */
    struct mb_auth_counters auth_stats;
    struct mb_limit_counters limits_stats;
    struct mb_session *throttled; /* sessions paused by limits.max_message_rate (their rate_next) */
    uv_timer_t rate_timer;        /* resumes them when their bucket has a token again */
    uint64_t rate_due;            /* ms: when rate_timer fires (while it runs) */
    int64_t rate_per_ms;          /* limits.max_message_rate in millionths of a token per ms (0: off) */
    int64_t rate_burst;           /* the bucket's size, in millionths of a token */
    uint64_t auth_gen;      /* the last mb_realm_auth's generation */

    uv_check_t safe_point;
    uv_prepare_t log_flush; /* writes the buffered log lines before the loop sleeps */
    uv_idle_t spin;       /* limits.busy_poll_us: polls without sleeping while active */
    bool spinning;
    uint64_t last_io_ns;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t grace;
    int grace_steps, grace_left; /* 20 ms steps of the shutdown grace, and left */
    bool stopping;
    bool stopped;
};

/* Creates the router on loop from cfg (borrowed, must outlive the router): realms, transports,
 * signal handlers. Returns 0, or -1 with a logged reason. */
#define MB_ROUTER_BAD_SETUP (-2) /* the store cannot open: nothing was started, exit status 2 */
int mb_router_init(struct mb_router *r, uv_loop_t *loop, struct mb_config *cfg);
/* Starts the graceful shutdown: GOODBYE to every session, close frames, then stop. */
void mb_router_stop(struct mb_router *r);
/* After uv_run returned: frees everything (listeners, connections, TLS contexts included). */
void mb_router_free(struct mb_router *r);

uint64_t mb_router_now_ms(const struct mb_router *r);
/* Transports call it when a peer sent something: with limits.busy_poll_us set, the loop keeps
 * polling (instead of sleeping in epoll) until that long passes without I/O, so the next
 * message is picked up without a wake-up (CPU for latency while traffic flows; default 50 µs). */
void mb_router_busy_poll(struct mb_router *r);
/* Wall-clock ms since the epoch (meta API timestamps). */
uint64_t mb_router_wall_ms(void);
/* ms since the epoch as an ISO 8601 UTC string with milliseconds ("2026-12-02T01:20:00.123Z"),
 * a new reference: the meta API's and event history's timestamps. */
json_t *mb_router_iso_time(uint64_t ms);
/* A fresh ID in [1, 2^53] not present in map (NULL: any). */
uint64_t mb_router_new_id(struct mb_router *r, const struct mb_map *taken);

struct mb_realm *mb_realm_new(const char *name, enum mb_uri_rule rule);
void mb_realm_free(struct mb_realm *realm);

#endif
