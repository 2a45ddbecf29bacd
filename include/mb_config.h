/* mb_config: moonbar's configuration, read from a Lua file that returns a table.
 * The loader runs the file in a throwaway Lua state and copies what it finds into plain C
 * structs, checking every key: an unknown key or a wrong type is an error naming the key. */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mb_match.h"
#include "mb_uri.h"

/* realms[i].history[j]: topics whose events are kept for wamp.subscription.get_events. */
struct mb_history_config {
    char *uri;
    enum mb_match_policy match; /* "exact" by default */
    size_t limit;               /* events kept (the newest), 1..MB_HISTORY_LIMIT_MAX */
};
#define MB_HISTORY_LIMIT_MAX 100000
#define MB_HISTORY_RULES_MAX 64

struct mb_realm_config {
    char *name;
    enum mb_uri_rule uri_rule;
    char **apps;  /* Lua app scripts: files, or folders whose *.lua files are apps */
    size_t napps;
    char *policy; /* Lua policy script, or NULL */
    struct mb_history_config *history; /* event history rules, in config order */
    size_t nhistory;
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

struct mb_config {
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

    char *store_path;             /* moonbar.store's database file */
    size_t store_max_size_mb;     /* the file cannot grow past it */
};

/* Fills cfg with the built-in defaults (realm1, 127.0.0.1:8080/ws, web root default_web_root). */
int mb_config_defaults(struct mb_config *cfg, const char *default_web_root);

/* Loads path over the defaults. Returns 0, or -1 with "FILE:LINE: what" (or the key path) in err. */
int mb_config_load(struct mb_config *cfg, const char *path, char *err, size_t errlen);

void mb_config_free(struct mb_config *cfg);

#endif
