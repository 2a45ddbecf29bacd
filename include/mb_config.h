/* mb_config: moonbar's configuration, read from a Lua file that returns a table.
 * The loader runs the file in a throwaway Lua state and copies what it finds into plain C
 * structs, checking every key: an unknown key or a wrong type is an error naming the key. */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mb_match.h"
#include "mb_roles.h"
#include "mb_uri.h"

/* realms[i].history[j]: topics whose events are kept for wamp.subscription.get_events. */
struct mb_history_config {
    char *uri;
    enum mb_match_policy match; /* "exact" by default */
    size_t limit;               /* events kept (the newest), 1..MB_HISTORY_LIMIT_MAX */
};
#define MB_HISTORY_LIMIT_MAX 100000
#define MB_HISTORY_RULES_MAX 64

/* realms[i].auth: who may join, per authentication method (M10). */
enum mb_auth_method { MB_AUTH_ANONYMOUS, MB_AUTH_TICKET, MB_AUTH_WAMPCRA, MB_AUTH_CRYPTOSIGN, MB_AUTH_METHODS };
const char *mb_auth_method_name(enum mb_auth_method m);
int mb_auth_method_parse(const char *s); /* -1 if unknown */

/* realms[i].auth.<method>.users.<authid>. */
struct mb_auth_user {
    char *authid;
    char *role;
    char *secret;         /* ticket: the ticket; wampcra: the key (the derived key when salted) */
    size_t secret_len;
    bool secret_in_clear; /* written as a string in the file, not { file = } or { env = } */
    char *salt;           /* wampcra: NULL when the secret is not salted */
    unsigned iterations;  /* wampcra with salt: PBKDF2 iterations (default 1000) */
    unsigned keylen;      /* ... and key length in bytes (default 32) */
    unsigned char (*pubkeys)[32]; /* cryptosign: the keys it may sign with */
    size_t npubkeys;
};

struct mb_auth_method_config {
    bool enabled;               /* the method is listed (a table or true) */
    struct mb_auth_user *users; /* static users, in no particular order */
    size_t nusers;
};

struct mb_auth_config {
    bool present;          /* the realm has an auth section: only the methods it lists */
    struct mb_auth_method_config method[MB_AUTH_METHODS];
    char *anonymous_role;  /* auth.anonymous.role (default "anonymous") */
};

struct mb_realm_config {
    char *name;
    enum mb_uri_rule uri_rule;
    char **apps;  /* Lua app scripts: files, or folders whose *.lua files are apps */
    size_t napps;
    char *policy; /* Lua policy script, or NULL */
    struct mb_history_config *history; /* event history rules, in config order */
    size_t nhistory;
    struct mb_auth_config auth;    /* realms[i].auth */
    bool has_roles;                /* realms[i].roles is set: default-deny, static rules */
    struct mb_role_config *roles;  /* realms[i].roles, in no particular order */
    size_t nroles;
    size_t max_sessions;           /* realms[i].max_sessions (0: limits.max_sessions_per_realm) */
};

/* brute_force: failed authentications counted per peer address. */
struct mb_brute_force_config {
    unsigned free_failures; /* failures before answers slow down (default 5) */
    double delay;           /* seconds: the first slowed HELLO waits this long, doubling (0.1) */
    double max_delay;       /* ... up to this (2) */
    unsigned lockout_after; /* failures after which the address is refused (10; 0: never) */
    double lockout;         /* seconds an address is refused (60) */
    double forget_after;    /* seconds without failure after which its count is dropped (600) */
    size_t max_addresses;   /* addresses tracked at once (65536) */
};

/* One endpoint (listeners[i], or the older websocket / rawsocket keys, which become
 * listeners[0] and [1]). */
enum mb_listener_kind { MB_LISTEN_WEBSOCKET, MB_LISTEN_RAWSOCKET };

struct mb_tls_config {
    char *cert; /* PEM certificate (chain) file; NULL: no TLS on this listener */
    char *key;  /* PEM private key file */
    char *ca;   /* PEM CA file: when set, clients must present a certificate it signed */
};

struct mb_listener_config {
    enum mb_listener_kind kind;
    char *host;        /* TCP: address to bind ("127.0.0.1", "::") ... */
    int port;          /* ... and port (0: any free port, logged) */
    char *unix_path;   /* or a Unix domain socket path (then host is NULL) */
    unsigned unix_mode; /* its file mode (default 0660) */
    char *path;        /* websocket: the WAMP endpoint's URL path ("/ws") */
    char *web_root;    /* websocket: static files served beside it, or NULL */
    bool compression;  /* websocket: offer permessage-deflate (off by default) */
    struct mb_tls_config tls;
    char **realms;     /* realms a session may join through this listener; NULL/0: every realm */
    size_t nrealms;
    size_t max_message_size; /* this listener's limit (default: limits.max_message_size) */
    size_t max_connections;  /* open connections at once (0: no limit) */
    double handshake_timeout; /* seconds to finish TLS, the HTTP head or the RawSocket handshake */
};

/* http (M11): the HTTP bridge, served on the WebSocket/HTTP listeners. */
enum mb_http_path_kind { MB_HTTP_PUBLISHER, MB_HTTP_CALLER, MB_HTTP_WEBHOOK, MB_HTTP_LONGPOLL };

/* http.paths["/path"] = { type, realm, role, options = { ... } } (Crossbar's option names). */
struct mb_http_path_config {
    char *path;                  /* "/publish": the decoded request path it answers */
    enum mb_http_path_kind kind;
    char *realm;                 /* publisher, caller, webhook, longpoll (NULL: any realm) */
    char *role;                  /* the authrole its requests are authorized as (default "anonymous") */
    size_t post_body_limit;      /* bytes (default 65536; Crossbar's option name) */
    /* signed requests (publisher, caller): both set or neither */
    char *key, *secret;
    size_t secret_len;
    double timestamp_delta_limit; /* seconds (default 300) */
    bool require_increasing_seq;  /* default false */
    bool require_tls;             /* refuse plain HTTP (403) */
    /* caller */
    double timeout_ms;            /* 0: none (default 10000) */
    size_t max_in_flight;         /* 0: no bound (default 1000) */
    /* webhook */
    char *topic;
    char *github_secret;          /* X-Hub-Signature(-256) checked when set */
    size_t github_secret_len;
    /* CORS: Access-Control-Allow-Origin for answers, and preflight (OPTIONS) */
    char *cors;                   /* NULL: no CORS headers; "*" or an origin */
    /* longpoll (Crossbar's option names) */
    double request_timeout;       /* seconds a receive is held open (default 10) */
    double session_timeout;       /* seconds without a request before the transport is closed (default 30) */
    size_t queue_limit_bytes;     /* outbound bytes queued per transport (default 128 KiB) */
    size_t queue_limit_messages;  /* outbound messages queued per transport (default 100) */
};

/* http.subscribers[i]: events on a topic POSTed to a URL. */
struct mb_http_subscriber_config {
    char *realm, *topic;
    enum mb_match_policy match;
    char *url, *method;           /* method default "POST" */
    size_t queue;                 /* events waiting per target (default 1000): the oldest is dropped past it */
    unsigned retries;             /* per event (default 10), with exponential backoff */
    double retry_delay;           /* seconds, the first backoff (default 0.5), doubling up to 30 s */
    double timeout;               /* seconds per request (default 10) */
    bool details;                 /* POST the event's details too */
};

/* http.callees[i]: a procedure whose invocations become HTTP requests under baseurl. */
struct mb_http_callee_config {
    char *realm, *procedure;
    char *baseurl;                /* every request's URL must stay under it */
    double timeout_ms;            /* default 10000 */
    size_t max_bytes;             /* response body limit (default 1 MiB) */
};

struct mb_http_config {
    struct mb_http_path_config *paths;
    size_t npaths;
    struct mb_http_subscriber_config *subscribers;
    size_t nsubscribers;
    struct mb_http_callee_config *callees;
    size_t ncallees;
};

struct mb_config {
    char *path; /* the file it was loaded from (SIGHUP reloads it), or NULL */
    int log_level;

    /* Every endpoint to listen on, in config order (the websocket and rawsocket keys first). */
    struct mb_listener_config *listeners;
    size_t nlisteners;

    /* The older single-endpoint keys (kept working: they are copied into listeners). */
    bool ws_enabled;
    char *ws_host;
    int ws_port;
    char *ws_path;
    char *web_root; /* NULL: no static files */
    bool ws_compression; /* websocket.compression: permessage-deflate */

    bool raw_enabled;
    char *raw_host;
    int raw_port;

    struct mb_realm_config *realms;
    size_t nrealms;

    size_t max_message_size;
    size_t max_queue_bytes;
    double slow_consumer_timeout; /* seconds */
    double shutdown_grace;        /* seconds to wait for peers to go after GOODBYE */
    double ping_interval;         /* seconds of silence from a peer before moonbar pings it */
    unsigned busy_poll_us;        /* keep polling this long after I/O before sleeping (0: off) */
    double ping_timeout;          /* seconds a pinged peer has to answer before it is dropped */
    bool ping_rawsocket;          /* ping RawSocket peers too (autobahn-python 22 cannot take PING) */
    size_t max_retained_topics;   /* per realm: topics with a retained event (PUBLISH.Options.retain) */

    double lua_callback_timeout;  /* seconds one Lua callback may run */
    size_t lua_memory_limit;      /* bytes per Lua script */
    bool lua_watch;               /* reload scripts when their files change */

    struct mb_http_config http;   /* the http section (M11) */
    struct mb_brute_force_config brute_force;
    double auth_timeout;          /* seconds a CHALLENGE waits for its AUTHENTICATE (limits.auth_timeout) */
    /* M13 resource limits (the limits section; 0 where said: no limit) */
    size_t max_connections;       /* open connections across every listener (100000) */
    size_t max_connections_per_address; /* ... from one peer IP address; Unix peers exempt (1000) */
    size_t max_sessions_per_realm;      /* joined sessions per realm (100000; realms[i].max_sessions) */
    size_t max_subscriptions_per_session; /* (10000) */
    size_t max_registrations_per_session; /* (10000) */
    size_t max_calls_per_caller;        /* calls in flight per caller session (1000) */
    size_t max_invocations_per_callee;  /* invocations in flight per callee session (1000) */
    double max_message_rate;      /* messages per second a session may send (0: off) */
    double max_message_burst;     /* token bucket size (0: 2 x rate) */
    double hello_timeout;         /* seconds an open transport may wait before HELLO (10) */
    size_t socket_send_buffer;    /* SO_SNDBUF of every TCP connection (0: the kernel's autotuning) */

    char *store_path;             /* moonbar.store's database file */
    size_t store_max_size_mb;     /* the file cannot grow past it */
};

/* Fills cfg with the built-in defaults (realm1, 127.0.0.1:8080/ws, web root default_web_root). */
int mb_config_defaults(struct mb_config *cfg, const char *default_web_root);

/* Loads path over the defaults. Returns 0, or -1 with "FILE:LINE: what" (or the key path) in err. */
int mb_config_load(struct mb_config *cfg, const char *path, char *err, size_t errlen);

/* The loader runs the file's Lua within bounds: a config that allocates more than memory bytes
 * or runs more than instructions VM instructions is an error naming the file, not a hung or
 * exhausted process (--check-config on a file of unknown origin). sandbox: the config's code
 * gets only the base (without dofile, loadfile, load, require, print), coroutine, table,
 * string (without dump), math and utf8 libraries and os.getenv/time/clock/date/difftime: no
 * file, process or network access (fuzzing; moonbar itself loads with every library). */
#define MB_CONFIG_LUA_MEMORY (64u << 20)
#define MB_CONFIG_LUA_INSTRUCTIONS 200000000ULL /* about a second */
#define MB_CONFIG_SECRET_FILE_MAX (1u << 20)    /* { file = } secrets: bytes */
struct mb_config_limits {
    size_t memory;
    unsigned long long instructions;
    bool sandbox;
};

/* mb_config_load of a text already in memory: path names it in errors and is the base of its
 * relative paths (nothing is read from path itself). lim NULL: the defaults above, no sandbox. */
int mb_config_load_text(struct mb_config *cfg, const char *path, const char *text, size_t len,
                        const struct mb_config_limits *lim, char *err, size_t errlen);

void mb_config_free(struct mb_config *cfg);
/* Frees a realm's auth and roles sections (SIGHUP swaps them). */
void mb_config_free_auth(struct mb_realm_config *rc);

/* --check-config: the warnings of a loaded config (anonymous sessions with every permission on
 * a non-loopback listener, secrets in clear in the file, tickets over plain TCP), each line given
 * to fn; returns how many. */
typedef void (*mb_config_warn_fn)(void *ctx, const char *line);
size_t mb_config_warnings(const struct mb_config *cfg, mb_config_warn_fn fn, void *ctx);

#endif
