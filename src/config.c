/* Config loader: runs the Lua file, then copies and checks every key into struct mb_config. */
#include "mb_config.h"
#include "mb_crypto.h"
#include "mb_log.h"

#include <ctype.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int legacy_listeners(struct mb_config *cfg);
/* Whether a Lua error message starts with the config's chunk name, as Lua writes it: the path,
 * or "..." and the path's tail when the path is longer than LUA_IDSIZE. */
static bool names_chunk(const char *msg, const char *path)
{
    size_t pl = strlen(path);
    if (strncmp(msg, path, pl) == 0)
        return true;
    if (strncmp(msg, "...", 3) != 0)
        return false;
    const char *tail = msg + 3, *colon = strchr(tail, ':');
    size_t n = colon ? (size_t)(colon - tail) : 0;
    return n > 0 && n <= pl && memcmp(path + pl - n, tail, n) == 0;
}

static char *read_text(const char *path, size_t max);
static void free_http(struct mb_http_config *h);
struct ld;
static int get_bool(struct ld *ld, const char *section, const char *key, bool *out);


int mb_config_defaults(struct mb_config *cfg, const char *default_web_root)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = MB_LOG_INFO;
    cfg->ws_enabled = true;
    cfg->ws_host = strdup("127.0.0.1");
    cfg->ws_port = 8080;
    cfg->ws_path = strdup("/ws");
    cfg->web_root = default_web_root ? strdup(default_web_root) : NULL;
    cfg->raw_enabled = false;
    cfg->raw_host = strdup("127.0.0.1");
    cfg->raw_port = 8081;
    cfg->realms = calloc(1, sizeof *cfg->realms);
    if (cfg->realms) {
        cfg->realms[0].name = strdup("realm1");
        cfg->realms[0].uri_rule = MB_URI_LOOSE;
        cfg->nrealms = 1;
    }
    cfg->max_message_size = 1 << 20;
    cfg->max_queue_bytes = 4 << 20;
    cfg->slow_consumer_timeout = 10.0;
    cfg->shutdown_grace = 0.5;
    cfg->ping_interval = 10;
    cfg->ping_timeout = 20;
    cfg->ping_rawsocket = true;
    cfg->busy_poll_us = 50;
    cfg->max_retained_topics = 10000;
    cfg->lua_callback_timeout = 0.1;
    cfg->lua_memory_limit = 64u << 20;
    cfg->lua_watch = true;
    cfg->brute_force = (struct mb_brute_force_config){ .free_failures = 5, .delay = 0.1, .max_delay = 2,
                                                       .lockout_after = 10, .lockout = 60, .forget_after = 600,
                                                       .max_addresses = 65536 };
    cfg->auth_timeout = 10;
    cfg->max_connections = 100000;
    cfg->max_connections_per_address = 1000;
    cfg->max_sessions_per_realm = 100000;
    cfg->max_subscriptions_per_session = 10000;
    cfg->max_registrations_per_session = 10000;
    cfg->max_calls_per_caller = 1000;
    cfg->max_invocations_per_callee = 1000;
    cfg->hello_timeout = 10;
    cfg->store_path = strdup("data/moonbar.db"); /* no config file: ./data/moonbar.db */
    cfg->store_max_size_mb = 1024;
    if (!cfg->store_path || !cfg->ws_host || !cfg->ws_path || !cfg->raw_host || !cfg->realms || !cfg->realms[0].name)
        return -1;
    return legacy_listeners(cfg);
}

static void free_listener(struct mb_listener_config *lc)
{
    free(lc->host);
    free(lc->unix_path);
    free(lc->path);
    free(lc->web_root);
    free(lc->tls.cert);
    free(lc->tls.key);
    free(lc->tls.ca);
    for (size_t i = 0; i < lc->nrealms; i++)
        free(lc->realms[i]);
    free(lc->realms);
}

static void free_listeners(struct mb_config *cfg)
{
    for (size_t i = 0; i < cfg->nlisteners; i++)
        free_listener(&cfg->listeners[i]);
    free(cfg->listeners);
    cfg->listeners = NULL;
    cfg->nlisteners = 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Appends a listener with the defaults of one (cfg's limits); NULL when out of memory. */
static struct mb_listener_config *add_listener(struct mb_config *cfg, enum mb_listener_kind kind)
{
    struct mb_listener_config *nl = realloc(cfg->listeners, (cfg->nlisteners + 1) * sizeof *nl);
    if (!nl)
        return NULL;
    cfg->listeners = nl;
    struct mb_listener_config *lc = &nl[cfg->nlisteners++];
    memset(lc, 0, sizeof *lc);
    lc->kind = kind;
    lc->unix_mode = 0660;
    lc->max_message_size = cfg->max_message_size;
    return lc;
}

/* The older websocket / rawsocket keys become the first listeners. -1 when out of memory. */
static int legacy_listeners(struct mb_config *cfg)
{
    struct mb_listener_config *lc;
    if (cfg->ws_enabled) {
        if (!(lc = add_listener(cfg, MB_LISTEN_WEBSOCKET)))
            return -1;
        lc->host = dup_or_null(cfg->ws_host);
        lc->port = cfg->ws_port;
        lc->path = dup_or_null(cfg->ws_path);
        lc->web_root = dup_or_null(cfg->web_root);
        lc->compression = cfg->ws_compression;
        if (!lc->host || !lc->path || (cfg->web_root && !lc->web_root))
            return -1;
    }
    if (cfg->raw_enabled) {
        if (!(lc = add_listener(cfg, MB_LISTEN_RAWSOCKET)))
            return -1;
        lc->host = dup_or_null(cfg->raw_host);
        lc->port = cfg->raw_port;
        if (!lc->host)
            return -1;
    }
    return 0;
}

static void free_realm(struct mb_realm_config *rc)
{
    free(rc->name);
    for (size_t i = 0; i < rc->napps; i++)
        free(rc->apps[i]);
    free(rc->apps);
    free(rc->policy);
    for (size_t i = 0; i < rc->nhistory; i++)
        free(rc->history[i].uri);
    free(rc->history);
    mb_config_free_auth(rc);
}

void mb_config_free(struct mb_config *cfg)
{
    free(cfg->ws_host);
    free(cfg->ws_path);
    free(cfg->web_root);
    free(cfg->raw_host);
    free(cfg->store_path);
    free(cfg->path);
    free_http(&cfg->http);
    free_listeners(cfg);
    for (size_t i = 0; i < cfg->nrealms; i++)
        free_realm(&cfg->realms[i]);
    free(cfg->realms);
    memset(cfg, 0, sizeof *cfg);
}

/* Loading context: where errors go, and the file's text to find a key's line. */
struct ld {
    lua_State *L;
    const char *path;
    char *text;
    char *err;
    size_t errlen;
    struct mb_config *cfg;
    char dir[4096];
};

/* Position of the first "key =" in text at or after from, with its line; NULL if none. */
static const char *find_key(const char *text, const char *from, const char *key, int *line_out)
{
    size_t kl = strlen(key);
    int line = 1;
    for (const char *p = text; p < from; p++)
        line += *p == '\n';
    for (const char *p = from; *p; p++) {
        if (*p == '\n') {
            line++;
            continue;
        }
        if (strncmp(p, key, kl) == 0 && (p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            const char *q = p + kl;
            while (*q == ' ' || *q == '\t' || *q == ']' || *q == '"' || *q == '\'')
                q++;
            if (*q == '=' && q[1] != '=') {
                *line_out = line;
                return p;
            }
        }
    }
    return NULL;
}

/* Line of "key =" inside "section =" (the section's name without any [index]), or of the
 * section itself; 0 if not found. A hint for the reader, not a parse. */
static int key_line(const struct ld *ld, const char *section, const char *key)
{
    if (!ld->text)
        return 0;
    int line = 0;
    const char *from = ld->text;
    if (section) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(section, "["), section);
        from = find_key(ld->text, ld->text, name, &line);
        if (!from)
            return 0;
        from += strlen(name);
    }
    if (key && !find_key(ld->text, from, key, &line))
        return section ? line : 0;
    return line;
}

static int fail(struct ld *ld, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct ld *ld, const char *section, const char *key, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = key || section ? key_line(ld, section, key) : 0;
    char kp[160];
    snprintf(kp, sizeof kp, "%s%s%s%s", section ? section : "", section && key ? "." : "", key ? key : "",
             section || key ? " " : "");
    if (line)
        snprintf(ld->err, ld->errlen, "%s:%d: %s%s", ld->path, line, kp, what);
    else
        snprintf(ld->err, ld->errlen, "%s: %s%s", ld->path, kp, what);
    return -1;
}

/* Checks that the table at the top of the stack has only the given keys. */
static int only_keys(struct ld *ld, const char *section, const char *const *keys)
{
    lua_State *L = ld->L;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return fail(ld, section, NULL, "has a key that is not a name");
        }
        const char *k = lua_tostring(L, -1);
        bool known = false;
        for (const char *const *p = keys; *p; p++)
            if (strcmp(*p, k) == 0)
                known = true;
        if (!known) {
            char key[64];
            snprintf(key, sizeof key, "%s", k);
            lua_pop(L, 1);
            return fail(ld, section, key, "is not a known setting");
        }
    }
    return 0;
}

static int get_string(struct ld *ld, const char *section, const char *key, char **out)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, key);
    int rc = 0;
    if (t == LUA_TSTRING) {
        char *v = strdup(lua_tostring(L, -1));
        if (v) {
            char *old = *out;
            *out = v;
            free(old);
        }
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, key, "must be a string, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

static int get_number(struct ld *ld, const char *section, const char *key, double min, double max,
                      bool integer, double *out)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, key);
    int rc = 0;
    if (t == LUA_TNUMBER) {
        double v = lua_tonumber(L, -1);
        if (integer && !lua_isinteger(L, -1))
            rc = fail(ld, section, key, "must be an integer, got %g", v);
        else if (!(v >= min && v <= max)) /* NaN too */
            rc = fail(ld, section, key, "must be between %g and %g, got %g", min, max, v);
        else
            *out = v;
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, key, "must be a number, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

/* Pushes the sub-table key and returns 1 if it is a table; otherwise pushes nothing and
 * returns 0 (absent), 2 (false: disabled), 3 (true: defaults), or -1 (error). */
static int get_section(struct ld *ld, const char *key)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, key);
    if (t == LUA_TTABLE)
        return 1;
    int b = t == LUA_TBOOLEAN ? lua_toboolean(L, -1) : -1;
    lua_pop(L, 1);
    if (t == LUA_TNIL)
        return 0;
    if (b >= 0)
        return b ? 3 : 2;
    return fail(ld, NULL, key, "must be a table (or false), got %s", lua_typename(L, t));
}

static void resolve_path(struct ld *ld, char **p)
{
    if (!*p || (*p)[0] == '/' || !ld->dir[0])
        return;
    size_t n = strlen(ld->dir) + 1 + strlen(*p) + 1;
    char *full = malloc(n);
    if (!full)
        return;
    snprintf(full, n, "%s%s%s", ld->dir, strcmp(ld->dir, "/") == 0 ? "" : "/", *p);
    free(*p);
    *p = full;
}

static int load_listener(struct ld *ld, const char *name, bool *enabled, char **host, int *port,
                         const char *const *keys)
{
    int sec = get_section(ld, name);
    if (sec < 0)
        return -1;
    if (sec == 2 || sec == 3)
        *enabled = sec == 3;
    if (sec != 1)
        return 0;
    *enabled = true;
    double p = *port;
    int rc = only_keys(ld, name, keys);
    if (rc == 0)
        rc = get_string(ld, name, "host", host);
    if (rc == 0)
        rc = get_number(ld, name, "port", 0, 65535, true, &p);
    *port = (int)p;
    lua_pop(ld->L, 1);
    return rc;
}

/* realms[i].apps: a list of paths (files or folders), resolved against the config's folder. */
static int load_apps(struct ld *ld, const char *section, struct mb_realm_config *rc)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "apps");
    int status = 0;
    if (t == LUA_TSTRING) { /* one path */
        rc->apps = calloc(1, sizeof *rc->apps);
        if (rc->apps && (rc->apps[0] = strdup(lua_tostring(L, -1)))) {
            resolve_path(ld, &rc->apps[0]);
            rc->napps = 1;
        }
    } else if (t == LUA_TTABLE) {
        size_t n = (size_t)luaL_len(L, -1);
        rc->apps = calloc(n ? n : 1, sizeof *rc->apps);
        for (size_t i = 1; rc->apps && i <= n && status == 0; i++) {
            if (lua_geti(L, -1, (lua_Integer)i) != LUA_TSTRING) {
                status = fail(ld, section, "apps", "must list paths (strings)");
            } else if ((rc->apps[rc->napps] = strdup(lua_tostring(L, -1)))) {
                resolve_path(ld, &rc->apps[rc->napps]);
                rc->napps++;
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        status = fail(ld, section, "apps", "must be a path or a list of paths, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return status;
}

/* realms[i].history: a list of { uri = "...", match = "exact"|"prefix"|"wildcard", limit = n }. */
static int load_history(struct ld *ld, const char *section, struct mb_realm_config *rc)
{
    static const char *const keys[] = { "uri", "match", "limit", NULL };
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "history");
    int status = 0;
    if (t == LUA_TNIL)
        goto out;
    size_t n = t == LUA_TTABLE ? (size_t)luaL_len(L, -1) : 0;
    if (t != LUA_TTABLE) {
        status = fail(ld, section, "history", "must be a list of { uri = ..., match = ..., limit = ... }, got %s",
                      lua_typename(L, t));
        goto out;
    }
    if (n > MB_HISTORY_RULES_MAX) {
        status = fail(ld, section, "history", "has %zu rules, at most %d are allowed", n, MB_HISTORY_RULES_MAX);
        goto out;
    }
    if (n && !(rc->history = calloc(n, sizeof *rc->history))) {
        status = fail(ld, section, "history", "out of memory");
        goto out;
    }
    for (size_t i = 1; i <= n && status == 0; i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "%s.history[%zu]", section, i);
        if (lua_geti(L, -1, (lua_Integer)i) != LUA_TTABLE) {
            status = fail(ld, sub, NULL, "must be a table like { uri = \"chat.\", match = \"prefix\", limit = 100 }");
            lua_pop(L, 1);
            break;
        }
        struct mb_history_config *h = &rc->history[rc->nhistory++];
        char *match = NULL;
        double limit = 100;
        h->match = MB_MATCH_EXACT;
        status = only_keys(ld, sub, keys);
        if (status == 0)
            status = get_string(ld, sub, "uri", &h->uri);
        if (status == 0 && !h->uri)
            status = fail(ld, sub, "uri", "is required");
        if (status == 0)
            status = get_string(ld, sub, "match", &match);
        if (status == 0 && match) {
            int p = mb_match_policy_parse(match, strlen(match));
            if (p < 0)
                status = fail(ld, sub, "match", "must be \"exact\", \"prefix\" or \"wildcard\", got \"%s\"", match);
            else
                h->match = (enum mb_match_policy)p;
        }
        free(match);
        if (status == 0 && !mb_uri_valid(h->uri, strlen(h->uri), MB_URI_LOOSE, h->match != MB_MATCH_EXACT))
            status = fail(ld, sub, "uri", "'%s' is not a valid URI%s", h->uri,
                          h->match != MB_MATCH_EXACT ? " pattern" : "");
        if (status == 0)
            status = get_number(ld, sub, "limit", 1, MB_HISTORY_LIMIT_MAX, true, &limit);
        h->limit = (size_t)limit;
        lua_pop(L, 1);
    }
out:
    lua_pop(L, 1);
    return status;
}

/* ---- realms[i].auth and realms[i].roles (M10) ------------------------------------------------ */

static const char *const method_names[MB_AUTH_METHODS] = { "anonymous", "ticket", "wampcra", "cryptosign" };

const char *mb_auth_method_name(enum mb_auth_method m)
{
    return (unsigned)m < MB_AUTH_METHODS ? method_names[m] : "?";
}

int mb_auth_method_parse(const char *s)
{
    for (int i = 0; i < MB_AUTH_METHODS; i++)
        if (strcmp(s, method_names[i]) == 0)
            return i;
    return -1;
}

static void free_user(struct mb_auth_user *u)
{
    free(u->authid);
    free(u->role);
    if (u->secret) {
        memset(u->secret, 0, u->secret_len); /* secrets do not linger in freed memory */
        free(u->secret);
    }
    free(u->salt);
    free(u->pubkeys);
}

static void free_auth(struct mb_auth_config *a)
{
    for (int m = 0; m < MB_AUTH_METHODS; m++) {
        for (size_t i = 0; i < a->method[m].nusers; i++)
            free_user(&a->method[m].users[i]);
        free(a->method[m].users);
    }
    free(a->anonymous_role);
    memset(a, 0, sizeof *a);
}

static void free_roles(struct mb_realm_config *rc)
{
    for (size_t i = 0; i < rc->nroles; i++) {
        for (size_t j = 0; j < rc->roles[i].nrules; j++)
            free(rc->roles[i].rules[j].uri);
        free(rc->roles[i].rules);
        free(rc->roles[i].name);
    }
    free(rc->roles);
    rc->roles = NULL;
    rc->nroles = 0;
    rc->has_roles = false;
}

void mb_config_free_auth(struct mb_realm_config *rc)
{
    free_auth(&rc->auth);
    free_roles(rc);
}

/* A secret at key of the table on top: a string (in clear in the file), { file = "path" } (the
 * file's text, one trailing newline dropped; relative to the config's folder) or
 * { env = "NAME" }. Errors never quote the secret. */
static int get_secret(struct ld *ld, const char *section, const char *key, struct mb_auth_user *u)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, key);
    int rc = 0;
    if (t == LUA_TSTRING) {
        size_t n;
        const char *v = lua_tolstring(L, -1, &n);
        if ((u->secret = malloc(n + 1))) {
            memcpy(u->secret, v, n + 1);
            u->secret_len = n;
            u->secret_in_clear = true;
        }
    } else if (t == LUA_TTABLE) {
        static const char *const keys[] = { "file", "env", NULL };
        char sub[200];
        snprintf(sub, sizeof sub, "%s.%s", section, key);
        char *file = NULL, *env = NULL;
        rc = only_keys(ld, sub, keys);
        if (rc == 0)
            rc = get_string(ld, sub, "file", &file);
        if (rc == 0)
            rc = get_string(ld, sub, "env", &env);
        if (rc == 0 && !file == !env)
            rc = fail(ld, section, key, "must be a string, { file = \"path\" } or { env = \"NAME\" }");
        if (rc == 0 && env) {
            const char *v = getenv(env);
            if (!v)
                rc = fail(ld, section, key, "names the environment variable %s, which is not set", env);
            else if ((u->secret = strdup(v)))
                u->secret_len = strlen(v);
        }
        if (rc == 0 && file) {
            resolve_path(ld, &file);
            char *text = read_text(file, MB_CONFIG_SECRET_FILE_MAX);
            if (!text) {
                rc = fail(ld, section, key, "names the file %s, which cannot be read: %s", file, strerror(errno));
            } else {
                size_t n = strlen(text);
                if (n && text[n - 1] == '\n')
                    text[--n] = '\0';
                if (n && text[n - 1] == '\r')
                    text[--n] = '\0';
                u->secret = text;
                u->secret_len = n;
            }
        }
        free(file);
        free(env);
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, key, "must be a string, { file = \"path\" } or { env = \"NAME\" }, got %s",
                  lua_typename(L, t));
    }
    lua_pop(L, 1);
    if (rc == 0 && t != LUA_TNIL && !u->secret)
        rc = fail(ld, section, key, "out of memory");
    if (rc == 0 && u->secret && u->secret_len == 0)
        rc = fail(ld, section, key, "is empty");
    return rc;
}

/* cryptosign users' pubkeys: a list of 64 hex digits (or one such string). */
static int get_pubkeys(struct ld *ld, const char *section, struct mb_auth_user *u)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "pubkeys");
    int rc = 0;
    size_t n = t == LUA_TTABLE ? (size_t)luaL_len(L, -1) : t == LUA_TSTRING ? 1 : 0;
    if (t != LUA_TTABLE && t != LUA_TSTRING)
        rc = fail(ld, section, "pubkeys", "is required: a list of public keys (64 hex digits each)");
    else if (n == 0)
        rc = fail(ld, section, "pubkeys", "must list at least one public key");
    else if (!(u->pubkeys = calloc(n, sizeof *u->pubkeys)))
        rc = fail(ld, section, "pubkeys", "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (t == LUA_TTABLE)
            lua_geti(L, -1, (lua_Integer)i + 1);
        else
            lua_pushvalue(L, -1);
        size_t len = 0;
        const char *hex = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!hex || len != 64 || mb_hex_decode(hex, len, u->pubkeys[i], 32) != 32)
            rc = fail(ld, section, "pubkeys", "[%zu] must be a public key of 64 hex digits (moonbar keygen prints one)",
                      i + 1);
        else
            u->npubkeys++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rc;
}

static int load_user(struct ld *ld, const char *section, enum mb_auth_method m, struct mb_auth_user *u)
{
    static const char *const ticket_keys[] = { "ticket", "role", NULL };
    static const char *const cra_keys[] = { "secret", "salt", "iterations", "keylen", "role", NULL };
    static const char *const cs_keys[] = { "pubkeys", "role", NULL };
    const char *const *keys = m == MB_AUTH_TICKET ? ticket_keys : m == MB_AUTH_WAMPCRA ? cra_keys : cs_keys;
    int rc = only_keys(ld, section, keys);
    if (rc == 0)
        rc = get_string(ld, section, "role", &u->role);
    if (rc == 0 && (!u->role || !*u->role))
        rc = fail(ld, section, "role", "is required: the authrole this user joins with");
    if (rc == 0 && m == MB_AUTH_TICKET) {
        rc = get_secret(ld, section, "ticket", u);
        if (rc == 0 && !u->secret)
            rc = fail(ld, section, "ticket", "is required");
    }
    if (rc == 0 && m == MB_AUTH_WAMPCRA) {
        double it = 1000, kl = 32;
        rc = get_secret(ld, section, "secret", u);
        if (rc == 0 && !u->secret)
            rc = fail(ld, section, "secret", "is required (for a salted secret: what moonbar wampcra-secret prints)");
        if (rc == 0)
            rc = get_string(ld, section, "salt", &u->salt);
        if (rc == 0)
            rc = get_number(ld, section, "iterations", 1, 10000000, true, &it);
        if (rc == 0)
            rc = get_number(ld, section, "keylen", 1, 1024, true, &kl);
        bool params = lua_getfield(ld->L, -1, "iterations") != LUA_TNIL;
        params = lua_getfield(ld->L, -2, "keylen") != LUA_TNIL || params;
        lua_pop(ld->L, 2);
        if (rc == 0 && params && !u->salt)
            rc = fail(ld, section, "salt", "is required with iterations or keylen (they are PBKDF2's parameters)");
        u->iterations = (unsigned)it;
        u->keylen = (unsigned)kl;
    }
    if (rc == 0 && m == MB_AUTH_CRYPTOSIGN)
        rc = get_pubkeys(ld, section, u);
    return rc;
}

/* auth.<method> = true | false | { users = { authid = { ... } } } (anonymous: { role = }). */
static int load_method(struct ld *ld, const char *section, enum mb_auth_method m, struct mb_auth_config *a)
{
    lua_State *L = ld->L;
    const char *name = method_names[m];
    char sub[96];
    snprintf(sub, sizeof sub, "%s.%s", section, name);
    int t = lua_getfield(L, -1, name);
    int rc = 0;
    if (t == LUA_TBOOLEAN) {
        a->method[m].enabled = lua_toboolean(L, -1);
    } else if (t == LUA_TTABLE) {
        a->method[m].enabled = true;
        if (m == MB_AUTH_ANONYMOUS) {
            static const char *const keys[] = { "role", NULL };
            rc = only_keys(ld, sub, keys);
            if (rc == 0)
                rc = get_string(ld, sub, "role", &a->anonymous_role);
            if (rc == 0 && a->anonymous_role && !*a->anonymous_role)
                rc = fail(ld, sub, "role", "must not be empty");
        } else {
            static const char *const keys[] = { "users", NULL };
            rc = only_keys(ld, sub, keys);
            int ut = lua_getfield(L, -1, "users");
            if (rc == 0 && ut == LUA_TTABLE) {
                size_t n = 0;
                for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
                    n++;
                struct mb_auth_method_config *mc = &a->method[m];
                if (n && !(mc->users = calloc(n, sizeof *mc->users)))
                    rc = fail(ld, sub, "users", "out of memory");
                lua_pushnil(L);
                while (rc == 0 && lua_next(L, -2)) {
                    char us[200];
                    if (lua_type(L, -2) != LUA_TSTRING || lua_rawlen(L, -2) == 0) {
                        rc = fail(ld, sub, "users", "must be keyed by authid (non-empty strings)");
                    } else {
                        snprintf(us, sizeof us, "%s.users.%s", sub, lua_tostring(L, -2));
                        struct mb_auth_user *u = &mc->users[mc->nusers++];
                        if (lua_type(L, -1) != LUA_TTABLE)
                            rc = fail(ld, us, NULL, "must be a table like { role = \"user\", ... }");
                        else if (!(u->authid = strdup(lua_tostring(L, -2))))
                            rc = fail(ld, us, NULL, "out of memory");
                        else
                            rc = load_user(ld, us, m, u);
                    }
                    lua_pop(L, 1); /* the value; the key stays for lua_next */
                }
                if (rc < 0)
                    lua_pop(L, 1); /* the key of the entry that failed */
            } else if (ut != LUA_TNIL && rc == 0) {
                rc = fail(ld, sub, "users", "must be a table keyed by authid, got %s", lua_typename(L, ut));
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, name, "must be a table or true/false, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

static int load_auth(struct ld *ld, const char *realm_section, struct mb_realm_config *rc_)
{
    lua_State *L = ld->L;
    char section[64];
    snprintf(section, sizeof section, "%s.auth", realm_section);
    int t = lua_getfield(L, -1, "auth");
    int rc = 0;
    if (t == LUA_TTABLE) {
        static const char *const keys[] = { "anonymous", "ticket", "wampcra", "cryptosign", NULL };
        rc_->auth.present = true;
        rc = only_keys(ld, section, keys);
        for (int m = 0; rc == 0 && m < MB_AUTH_METHODS; m++)
            rc = load_method(ld, section, (enum mb_auth_method)m, &rc_->auth);
    } else if (t != LUA_TNIL) {
        rc = fail(ld, realm_section, "auth", "must be a table like { ticket = { users = { ... } } }, got %s",
                  lua_typename(L, t));
    }
    lua_pop(L, 1);
    if (rc == 0 && !rc_->auth.anonymous_role && !(rc_->auth.anonymous_role = strdup("anonymous")))
        rc = fail(ld, section, NULL, "out of memory");
    return rc;
}

/* A rule's allow or deny: a list of actions, one action, or "*" (all four). */
static int get_actions(struct ld *ld, const char *section, const char *key, unsigned *out)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, key);
    int rc = 0;
    size_t n = t == LUA_TTABLE ? (size_t)luaL_len(L, -1) : t == LUA_TSTRING ? 1 : 0;
    if (t != LUA_TTABLE && t != LUA_TSTRING && t != LUA_TNIL)
        rc = fail(ld, section, key, "must be a list of actions (call, register, publish, subscribe), got %s",
                  lua_typename(L, t));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (t == LUA_TTABLE)
            lua_geti(L, -1, (lua_Integer)i + 1);
        else
            lua_pushvalue(L, -1);
        const char *a = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int act = a ? mb_action_parse(a) : -1;
        if (a && strcmp(a, "*") == 0)
            *out |= MB_ACT_BIT(MB_ACT_COUNT) - 1;
        else if (act < 0)
            rc = fail(ld, section, key, "has '%s', which is not an action: call, register, publish, subscribe or *",
                      a ? a : luaL_typename(L, -1));
        else
            *out |= MB_ACT_BIT(act);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rc;
}

static int load_rule(struct ld *ld, const char *section, enum mb_uri_rule urule, struct mb_rule_config *r)
{
    static const char *const keys[] = { "uri", "match", "allow", "deny", "disclose", NULL };
    char *match = NULL;
    int rc = only_keys(ld, section, keys);
    r->disclose = -1;
    if (rc == 0)
        rc = get_string(ld, section, "uri", &r->uri);
    if (rc == 0 && !r->uri)
        rc = fail(ld, section, "uri", "is required (\"\" with match = \"prefix\": every URI)");
    if (rc == 0)
        rc = get_string(ld, section, "match", &match);
    if (rc == 0 && match) {
        int p = mb_match_policy_parse(match, strlen(match));
        if (p < 0)
            rc = fail(ld, section, "match", "must be \"exact\", \"prefix\" or \"wildcard\", got \"%s\"", match);
        else
            r->match = (enum mb_match_policy)p;
    }
    free(match);
    if (rc == 0 && !(r->match == MB_MATCH_PREFIX && r->uri[0] == '\0') &&
        !mb_uri_valid(r->uri, strlen(r->uri), urule, r->match != MB_MATCH_EXACT))
        rc = fail(ld, section, "uri", "'%s' is not a valid URI%s", r->uri, r->match == MB_MATCH_EXACT ? "" : " pattern");
    if (rc == 0)
        rc = get_actions(ld, section, "allow", &r->allow);
    if (rc == 0)
        rc = get_actions(ld, section, "deny", &r->deny);
    if (rc == 0 && !r->allow && !r->deny)
        rc = fail(ld, section, NULL, "allows and denies nothing: give it allow = { ... } or deny = { ... }");
    if (rc == 0 && (r->allow & r->deny))
        rc = fail(ld, section, NULL, "both allows and denies %s", mb_action_name((enum mb_action)__builtin_ctz(r->allow & r->deny)));
    if (rc == 0) {
        int t = lua_getfield(ld->L, -1, "disclose");
        if (t == LUA_TBOOLEAN)
            r->disclose = lua_toboolean(ld->L, -1);
        else if (t != LUA_TNIL)
            rc = fail(ld, section, "disclose", "must be true or false, got %s", lua_typename(ld->L, t));
        lua_pop(ld->L, 1);
    }
    return rc;
}

static int load_roles(struct ld *ld, const char *realm_section, struct mb_realm_config *rc_)
{
    lua_State *L = ld->L;
    char section[64];
    snprintf(section, sizeof section, "%s.roles", realm_section);
    int t = lua_getfield(L, -1, "roles");
    int rc = 0;
    if (t == LUA_TTABLE) {
        rc_->has_roles = true;
        size_t n = 0;
        for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
            n++;
        if (n && !(rc_->roles = calloc(n, sizeof *rc_->roles)))
            rc = fail(ld, section, NULL, "out of memory");
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_rawlen(L, -2) == 0 || lua_type(L, -1) != LUA_TTABLE) {
                rc = fail(ld, section, NULL, "must map role names to lists of rules");
            } else {
                struct mb_role_config *role = &rc_->roles[rc_->nroles++];
                char rs[160];
                snprintf(rs, sizeof rs, "%s.%s", section, lua_tostring(L, -2));
                size_t nr = (size_t)luaL_len(L, -1);
                if (!(role->name = strdup(lua_tostring(L, -2))) || (nr && !(role->rules = calloc(nr, sizeof *role->rules))))
                    rc = fail(ld, rs, NULL, "out of memory");
                for (size_t j = 1; rc == 0 && j <= nr; j++) {
                    char rule[200];
                    snprintf(rule, sizeof rule, "%s[%zu]", rs, j);
                    if (lua_geti(L, -1, (lua_Integer)j) != LUA_TTABLE)
                        rc = fail(ld, rule, NULL, "must be a table like { uri = \"com.example.\", match = \"prefix\", allow = { \"call\" } }");
                    else
                        rc = load_rule(ld, rule, rc_->uri_rule, &role->rules[role->nrules++]);
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
        }
        if (rc < 0)
            lua_pop(L, 1);
        if (rc == 0) { /* compiled once here so that conflicting rules are a config error */
            char why[300];
            struct mb_roles *built = mb_roles_build(rc_->roles, rc_->nroles, why, sizeof why);
            if (!built)
                rc = fail(ld, section, NULL, "%s", why);
            mb_roles_free(built);
        }
    } else if (t != LUA_TNIL) {
        rc = fail(ld, realm_section, "roles", "must be a table of role name = { rules }, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

static bool has_role(const struct mb_realm_config *rc_, const char *name)
{
    for (size_t i = 0; i < rc_->nroles; i++)
        if (strcmp(rc_->roles[i].name, name) == 0)
            return true;
    return false;
}

/* With roles, every authrole the config hands out must be one of them (a typo in a role name
 * would otherwise deny everything to its users, silently). */
static int check_auth_roles(struct ld *ld, const char *realm_section, const struct mb_realm_config *rc_)
{
    if (!rc_->has_roles)
        return 0;
    const struct mb_auth_config *a = &rc_->auth;
    char sec[200];
    if (a->present && a->method[MB_AUTH_ANONYMOUS].enabled && !has_role(rc_, a->anonymous_role)) {
        snprintf(sec, sizeof sec, "%s.auth.anonymous", realm_section);
        return fail(ld, sec, "role", "'%s' is not one of %s.roles", a->anonymous_role, realm_section);
    }
    for (int m = 1; m < MB_AUTH_METHODS; m++)
        for (size_t i = 0; i < a->method[m].nusers; i++) {
            const struct mb_auth_user *u = &a->method[m].users[i];
            if (!has_role(rc_, u->role)) {
                snprintf(sec, sizeof sec, "%s.auth.%s.users.%s", realm_section, method_names[m], u->authid);
                return fail(ld, sec, "role", "'%s' is not one of %s.roles", u->role, realm_section);
            }
        }
    return 0;
}

/* ---- http (M11): the bridge's paths, subscribers and callees -------------------------------- */

static void free_http(struct mb_http_config *h)
{
    for (size_t i = 0; i < h->npaths; i++) {
        struct mb_http_path_config *p = &h->paths[i];
        free(p->path);
        free(p->realm);
        free(p->role);
        free(p->key);
        if (p->secret)
            memset(p->secret, 0, p->secret_len);
        free(p->secret);
        free(p->topic);
        if (p->github_secret)
            memset(p->github_secret, 0, p->github_secret_len);
        free(p->github_secret);
        free(p->cors);
    }
    free(h->paths);
    for (size_t i = 0; i < h->nsubscribers; i++) {
        struct mb_http_subscriber_config *s = &h->subscribers[i];
        free(s->realm);
        free(s->topic);
        free(s->url);
        free(s->method);
    }
    free(h->subscribers);
    for (size_t i = 0; i < h->ncallees; i++) {
        struct mb_http_callee_config *c = &h->callees[i];
        free(c->realm);
        free(c->procedure);
        free(c->baseurl);
    }
    free(h->callees);
    memset(h, 0, sizeof *h);
}

static bool realm_known(const struct mb_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nrealms; i++)
        if (strcmp(cfg->realms[i].name, name) == 0)
            return true;
    return false;
}

/* A realm key naming a configured realm (required unless optional). */
static int get_realm(struct ld *ld, const char *section, char **out, bool optional)
{
    int rc = get_string(ld, section, "realm", out);
    if (rc == 0 && !*out && !optional)
        rc = fail(ld, section, "realm", "is required");
    if (rc == 0 && *out && !realm_known(ld->cfg, *out))
        rc = fail(ld, section, "realm", "names '%s', which is not a configured realm", *out);
    return rc;
}

/* A secret string (or { file = }, { env = }) at key: reuses the auth users' reader. */
static int get_secret_at(struct ld *ld, const char *section, const char *key, char **out, size_t *len)
{
    struct mb_auth_user u = { 0 };
    int rc = get_secret(ld, section, key, &u);
    *out = u.secret;
    *len = u.secret_len;
    return rc;
}

static int load_path_options(struct ld *ld, const char *section, struct mb_http_path_config *p)
{
    static const char *const pub_keys[] = { "post_body_limit", "key", "secret", "timestamp_delta_limit",
                                            "require_increasing_seq", "require_tls", "cors", "debug", NULL };
    static const char *const call_keys[] = { "post_body_limit", "key", "secret", "timestamp_delta_limit",
                                             "require_increasing_seq", "require_tls", "cors", "debug", "timeout",
                                             "max_in_flight", NULL };
    static const char *const hook_keys[] = { "post_body_limit", "topic", "github_secret", "require_tls", "cors",
                                             "debug", NULL };
    static const char *const lp_keys[] = { "request_timeout", "session_timeout", "queue_limit_bytes",
                                           "queue_limit_messages", "cors", "debug", NULL };
    const char *const *keys = p->kind == MB_HTTP_PUBLISHER ? pub_keys : p->kind == MB_HTTP_CALLER ? call_keys
                              : p->kind == MB_HTTP_WEBHOOK ? hook_keys : lp_keys;
    lua_State *L = ld->L;
    char sub[200];
    snprintf(sub, sizeof sub, "%s.options", section);
    int t = lua_getfield(L, -1, "options");
    int rc = 0;
    if (t == LUA_TTABLE) {
        double limit = (double)p->post_body_limit, delta = p->timestamp_delta_limit, inflight = (double)p->max_in_flight;
        double qb = (double)p->queue_limit_bytes, qm = (double)p->queue_limit_messages;
        bool debug = false;
        rc = only_keys(ld, sub, keys);
        if (rc == 0)
            rc = get_number(ld, sub, "post_body_limit", 0, 64.0 * 1024 * 1024, true, &limit);
        if (rc == 0)
            rc = get_string(ld, sub, "key", &p->key);
        if (rc == 0)
            rc = get_secret_at(ld, sub, "secret", &p->secret, &p->secret_len);
        if (rc == 0)
            rc = get_number(ld, sub, "timestamp_delta_limit", 1, 86400, false, &delta);
        if (rc == 0)
            rc = get_bool(ld, sub, "require_increasing_seq", &p->require_increasing_seq);
        if (rc == 0)
            rc = get_bool(ld, sub, "require_tls", &p->require_tls);
        if (rc == 0)
            rc = get_bool(ld, sub, "debug", &debug);
        if (rc == 0)
            rc = get_string(ld, sub, "cors", &p->cors);
        if (rc == 0)
            rc = get_number(ld, sub, "timeout", 0, 86400000, false, &p->timeout_ms);
        if (rc == 0)
            rc = get_number(ld, sub, "max_in_flight", 0, 10000000, true, &inflight);
        if (rc == 0)
            rc = get_string(ld, sub, "topic", &p->topic);
        if (rc == 0)
            rc = get_secret_at(ld, sub, "github_secret", &p->github_secret, &p->github_secret_len);
        if (rc == 0)
            rc = get_number(ld, sub, "request_timeout", 0.1, 3600, false, &p->request_timeout);
        if (rc == 0)
            rc = get_number(ld, sub, "session_timeout", 1, 86400, false, &p->session_timeout);
        if (rc == 0)
            rc = get_number(ld, sub, "queue_limit_bytes", 1024, 1024.0 * 1024 * 1024, true, &qb);
        if (rc == 0)
            rc = get_number(ld, sub, "queue_limit_messages", 1, 10000000, true, &qm);
        p->post_body_limit = (size_t)limit;
        p->timestamp_delta_limit = delta;
        p->max_in_flight = (size_t)inflight;
        p->queue_limit_bytes = (size_t)qb;
        p->queue_limit_messages = (size_t)qm;
        if (rc == 0 && !p->key != !p->secret)
            rc = fail(ld, sub, p->key ? "secret" : "key", "is required with %s (signed requests need both)",
                      p->key ? "key" : "secret");
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, "options", "must be a table, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    if (rc == 0 && p->kind == MB_HTTP_WEBHOOK && !p->topic)
        rc = fail(ld, sub, "topic", "is required for a webhook");
    if (rc == 0 && p->topic && !mb_uri_valid(p->topic, strlen(p->topic), MB_URI_LOOSE, false))
        rc = fail(ld, sub, "topic", "'%s' is not a valid URI", p->topic);
    return rc;
}

static int load_http_paths(struct ld *ld, struct mb_http_config *h)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "paths");
    int rc = 0;
    if (t == LUA_TTABLE) {
        size_t n = 0;
        for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
            n++;
        if (n && !(h->paths = calloc(n, sizeof *h->paths)))
            rc = fail(ld, "http", "paths", "out of memory");
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, -2)) {
            const char *path = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            char section[200];
            snprintf(section, sizeof section, "http.paths[\"%.120s\"]", path ? path : "?");
            if (!path || path[0] != '/' || strstr(path, "/../") || strchr(path, '?')) {
                rc = fail(ld, "http", "paths", "must map paths starting with '/' (no '?', no '..') to tables");
            } else if (lua_type(L, -1) != LUA_TTABLE) {
                rc = fail(ld, section, NULL, "must be a table like { type = \"publisher\", realm = \"realm1\" }");
            } else {
                static const char *const keys[] = { "type", "realm", "role", "options", NULL };
                struct mb_http_path_config *p = &h->paths[h->npaths++];
                char *type = NULL;
                p->post_body_limit = 65536;
                p->timestamp_delta_limit = 300;
                p->timeout_ms = 10000;
                p->max_in_flight = 1000;
                p->request_timeout = 10;
                p->session_timeout = 30;
                p->queue_limit_bytes = 128 * 1024;
                p->queue_limit_messages = 100;
                if (!(p->path = strdup(path)))
                    rc = fail(ld, section, NULL, "out of memory");
                if (rc == 0)
                    rc = only_keys(ld, section, keys);
                if (rc == 0)
                    rc = get_string(ld, section, "type", &type);
                if (rc == 0 && !type)
                    rc = fail(ld, section, "type", "is required: publisher, caller, webhook or longpoll");
                if (rc == 0) {
                    static const char *const kinds[] = { "publisher", "caller", "webhook", "longpoll" };
                    int k = -1;
                    for (int i = 0; i < 4; i++)
                        if (strcmp(type, kinds[i]) == 0)
                            k = i;
                    if (k < 0)
                        rc = fail(ld, section, "type", "must be publisher, caller, webhook or longpoll, got \"%s\"", type);
                    else
                        p->kind = (enum mb_http_path_kind)k;
                }
                free(type);
                if (rc == 0)
                    rc = get_realm(ld, section, &p->realm, p->kind == MB_HTTP_LONGPOLL);
                if (rc == 0)
                    rc = get_string(ld, section, "role", &p->role);
                if (rc == 0 && !p->role && p->kind != MB_HTTP_LONGPOLL && !(p->role = strdup("anonymous")))
                    rc = fail(ld, section, "role", "out of memory");
                if (rc == 0)
                    rc = load_path_options(ld, section, p);
            }
            lua_pop(L, 1);
        }
        if (rc < 0)
            lua_pop(L, 1);
    } else if (t != LUA_TNIL) {
        rc = fail(ld, "http", "paths", "must be a table of \"/path\" = { type = ... }, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

/* http.subscribers / http.callees: lists of tables. */
static int load_http_list(struct ld *ld, const char *key, bool subscribers, struct mb_http_config *h)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, key);
    int rc = 0;
    if (t == LUA_TTABLE) {
        size_t n = (size_t)luaL_len(L, -1);
        if (n && subscribers && !(h->subscribers = calloc(n, sizeof *h->subscribers)))
            rc = fail(ld, "http", key, "out of memory");
        if (n && !subscribers && !(h->callees = calloc(n, sizeof *h->callees)))
            rc = fail(ld, "http", key, "out of memory");
        for (size_t i = 1; rc == 0 && i <= n; i++) {
            char section[64];
            snprintf(section, sizeof section, "http.%s[%zu]", key, i);
            if (lua_geti(L, -1, (lua_Integer)i) != LUA_TTABLE) {
                rc = fail(ld, section, NULL, "must be a table");
            } else if (subscribers) {
                static const char *const keys[] = { "realm", "topic", "match", "url", "method", "queue", "retries",
                                                    "retry_delay", "timeout", "details", NULL };
                struct mb_http_subscriber_config *s = &h->subscribers[h->nsubscribers++];
                double queue = 1000, retries = 10;
                char *match = NULL;
                s->retry_delay = 0.5;
                s->timeout = 10;
                rc = only_keys(ld, section, keys);
                if (rc == 0)
                    rc = get_realm(ld, section, &s->realm, false);
                if (rc == 0)
                    rc = get_string(ld, section, "topic", &s->topic);
                if (rc == 0 && !s->topic)
                    rc = fail(ld, section, "topic", "is required");
                if (rc == 0)
                    rc = get_string(ld, section, "match", &match);
                if (rc == 0 && match) {
                    int m = mb_match_policy_parse(match, strlen(match));
                    if (m < 0)
                        rc = fail(ld, section, "match", "must be \"exact\", \"prefix\" or \"wildcard\", got \"%s\"", match);
                    else
                        s->match = (enum mb_match_policy)m;
                }
                free(match);
                if (rc == 0 && !mb_uri_valid(s->topic, strlen(s->topic), MB_URI_LOOSE, s->match != MB_MATCH_EXACT))
                    rc = fail(ld, section, "topic", "'%s' is not a valid URI", s->topic);
                if (rc == 0)
                    rc = get_string(ld, section, "url", &s->url);
                if (rc == 0 && (!s->url || (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)))
                    rc = fail(ld, section, "url", "is required: an http:// or https:// URL");
                if (rc == 0)
                    rc = get_string(ld, section, "method", &s->method);
                if (rc == 0 && !s->method && !(s->method = strdup("POST")))
                    rc = fail(ld, section, "method", "out of memory");
                if (rc == 0)
                    rc = get_number(ld, section, "queue", 1, 10000000, true, &queue);
                if (rc == 0)
                    rc = get_number(ld, section, "retries", 0, 1000000, true, &retries);
                if (rc == 0)
                    rc = get_number(ld, section, "retry_delay", 0.001, 3600, false, &s->retry_delay);
                if (rc == 0)
                    rc = get_number(ld, section, "timeout", 0.001, 3600, false, &s->timeout);
                if (rc == 0)
                    rc = get_bool(ld, section, "details", &s->details);
                s->queue = (size_t)queue;
                s->retries = (unsigned)retries;
            } else {
                static const char *const keys[] = { "realm", "procedure", "baseurl", "timeout", "max_bytes", NULL };
                struct mb_http_callee_config *c = &h->callees[h->ncallees++];
                double max = 1 << 20;
                c->timeout_ms = 10000;
                rc = only_keys(ld, section, keys);
                if (rc == 0)
                    rc = get_realm(ld, section, &c->realm, false);
                if (rc == 0)
                    rc = get_string(ld, section, "procedure", &c->procedure);
                if (rc == 0 && (!c->procedure || !mb_uri_valid(c->procedure, strlen(c->procedure), MB_URI_LOOSE, false)))
                    rc = fail(ld, section, "procedure", "is required: a valid URI");
                if (rc == 0)
                    rc = get_string(ld, section, "baseurl", &c->baseurl);
                if (rc == 0 && (!c->baseurl || (strncmp(c->baseurl, "http://", 7) != 0 &&
                                                strncmp(c->baseurl, "https://", 8) != 0)))
                    rc = fail(ld, section, "baseurl", "is required: an http:// or https:// URL");
                if (rc == 0)
                    rc = get_number(ld, section, "timeout", 1, 86400000, false, &c->timeout_ms);
                if (rc == 0)
                    rc = get_number(ld, section, "max_bytes", 1, 1024.0 * 1024 * 1024, true, &max);
                c->max_bytes = (size_t)max;
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        rc = fail(ld, "http", key, "must be a list of tables, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

static int load_http(struct ld *ld, struct mb_config *cfg)
{
    static const char *const keys[] = { "paths", "subscribers", "callees", NULL };
    int sec = get_section(ld, "http");
    if (sec < 0)
        return -1;
    if (sec == 2 || sec == 3)
        return fail(ld, NULL, "http", "must be a table like { paths = { ... } }");
    if (sec != 1)
        return 0;
    free_http(&cfg->http);
    int rc = only_keys(ld, "http", keys);
    if (rc == 0)
        rc = load_http_paths(ld, &cfg->http);
    if (rc == 0)
        rc = load_http_list(ld, "subscribers", true, &cfg->http);
    if (rc == 0)
        rc = load_http_list(ld, "callees", false, &cfg->http);
    lua_pop(ld->L, 1);
    return rc;
}

static int load_brute_force(struct ld *ld, struct mb_config *cfg)
{
    static const char *const keys[] = { "free_failures", "delay", "max_delay", "lockout_after", "lockout",
                                        "forget_after", "max_addresses", NULL };
    int sec = get_section(ld, "brute_force");
    if (sec < 0)
        return -1;
    if (sec == 2 || sec == 3)
        return fail(ld, NULL, "brute_force", "must be a table like { free_failures = 5, lockout = 60 }");
    if (sec != 1)
        return 0;
    struct mb_brute_force_config *b = &cfg->brute_force;
    double ff = b->free_failures, la = b->lockout_after, ma = (double)b->max_addresses;
    int rc = only_keys(ld, "brute_force", keys);
    if (rc == 0)
        rc = get_number(ld, "brute_force", "free_failures", 0, 1000000, true, &ff);
    if (rc == 0)
        rc = get_number(ld, "brute_force", "delay", 0, 60, false, &b->delay);
    if (rc == 0)
        rc = get_number(ld, "brute_force", "max_delay", 0, 600, false, &b->max_delay);
    if (rc == 0)
        rc = get_number(ld, "brute_force", "lockout_after", 0, 1000000, true, &la);
    if (rc == 0)
        rc = get_number(ld, "brute_force", "lockout", 0, 86400 * 7, false, &b->lockout);
    if (rc == 0)
        rc = get_number(ld, "brute_force", "forget_after", 1, 86400 * 7, false, &b->forget_after);
    if (rc == 0)
        rc = get_number(ld, "brute_force", "max_addresses", 16, 16777216, true, &ma);
    b->free_failures = (unsigned)ff;
    b->lockout_after = (unsigned)la;
    b->max_addresses = (size_t)ma;
    if (rc == 0 && b->max_delay < b->delay)
        rc = fail(ld, "brute_force", "max_delay", "must be at least delay");
    lua_pop(ld->L, 1);
    return rc;
}

static int load_realms(struct ld *ld, struct mb_config *cfg)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "realms");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (t != LUA_TTABLE) {
        lua_pop(L, 1);
        return fail(ld, NULL, "realms", "must be a list of tables, got %s", lua_typename(L, t));
    }
    size_t n = (size_t)luaL_len(L, -1);
    if (n == 0) {
        lua_pop(L, 1);
        return fail(ld, NULL, "realms", "must list at least one realm");
    }
    for (size_t i = 0; i < cfg->nrealms; i++)
        free_realm(&cfg->realms[i]);
    free(cfg->realms);
    cfg->nrealms = 0;
    cfg->realms = calloc(n, sizeof *cfg->realms);
    if (!cfg->realms) {
        lua_pop(L, 1);
        return fail(ld, NULL, "realms", "out of memory");
    }
    static const char *const keys[] = { "name", "uri_check", "apps", "policy", "history", "auth", "roles",
                                        "max_sessions", NULL };
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        char section[32];
        snprintf(section, sizeof section, "realms[%zu]", i);
        if (lua_geti(L, -1, (lua_Integer)i) != LUA_TTABLE) {
            rc = fail(ld, section, NULL, "must be a table like { name = \"realm1\" }");
            lua_pop(L, 1);
            break;
        }
        struct mb_realm_config *rc_ = &cfg->realms[cfg->nrealms++];
        char *check = NULL;
        rc = only_keys(ld, section, keys);
        if (rc == 0)
            rc = get_string(ld, section, "name", &rc_->name);
        if (rc == 0)
            rc = get_string(ld, section, "uri_check", &check);
        if (rc == 0 && !rc_->name)
            rc = fail(ld, section, "name", "is required");
        if (rc == 0 && !mb_uri_valid(rc_->name, strlen(rc_->name), MB_URI_LOOSE, false))
            rc = fail(ld, section, "name", "'%s' is not a valid URI", rc_->name);
        if (rc == 0 && check && strcmp(check, "loose") != 0 && strcmp(check, "strict") != 0)
            rc = fail(ld, section, "uri_check", "must be \"loose\" or \"strict\", got \"%s\"", check);
        rc_->uri_rule = check && strcmp(check, "strict") == 0 ? MB_URI_STRICT : MB_URI_LOOSE;
        free(check);
        if (rc == 0)
            rc = get_string(ld, section, "policy", &rc_->policy);
        resolve_path(ld, &rc_->policy);
        double maxs = 0;
        if (rc == 0 && (rc = get_number(ld, section, "max_sessions", 1, 100000000, true, &maxs)) == 0)
            rc_->max_sessions = (size_t)maxs;
        if (rc == 0)
            rc = load_apps(ld, section, rc_);
        if (rc == 0)
            rc = load_history(ld, section, rc_);
        if (rc == 0)
            rc = load_auth(ld, section, rc_);
        if (rc == 0)
            rc = load_roles(ld, section, rc_);
        if (rc == 0)
            rc = check_auth_roles(ld, section, rc_);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rc;
}

/* A boolean key: absent leaves *out. */
static int get_bool(struct ld *ld, const char *section, const char *key, bool *out)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, key);
    int rc = 0;
    if (t == LUA_TBOOLEAN)
        *out = lua_toboolean(L, -1);
    else if (t != LUA_TNIL)
        rc = fail(ld, section, key, "must be true or false, got %s", lua_typename(L, t));
    lua_pop(L, 1);
    return rc;
}

/* listeners[i].mode: a string of octal digits ("0660") or an integer, at most 0777. */
static int get_mode(struct ld *ld, const char *section, unsigned *out)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "mode");
    int rc = 0;
    if (t == LUA_TSTRING) {
        const char *v = lua_tostring(L, -1);
        char *end = NULL;
        unsigned long m = *v ? strtoul(v, &end, 8) : 0;
        if (!*v || *end || strspn(v, "01234567") != strlen(v) || m > 0777)
            rc = fail(ld, section, "mode", "must be octal digits like \"0660\", got \"%s\"", v);
        else
            *out = (unsigned)m;
    } else if (t == LUA_TNUMBER) {
        lua_Integer m = lua_tointeger(L, -1);
        if (!lua_isinteger(L, -1) || m < 0 || m > 0777)
            rc = fail(ld, section, "mode", "must be a file mode from 0 to 511 (0777), got %g", lua_tonumber(L, -1));
        else
            *out = (unsigned)m;
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, "mode", "must be a string of octal digits like \"0660\", got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

/* listeners[i].tls = { cert = PATH, key = PATH, ca = PATH }: cert and key together. */
static int load_tls(struct ld *ld, const char *section, struct mb_listener_config *lc)
{
    static const char *const keys[] = { "cert", "key", "ca", NULL };
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "tls");
    int rc = 0;
    char sub[64];
    snprintf(sub, sizeof sub, "%s.tls", section);
    if (t == LUA_TTABLE) {
        rc = only_keys(ld, sub, keys);
        if (rc == 0)
            rc = get_string(ld, sub, "cert", &lc->tls.cert);
        if (rc == 0)
            rc = get_string(ld, sub, "key", &lc->tls.key);
        if (rc == 0)
            rc = get_string(ld, sub, "ca", &lc->tls.ca);
        if (rc == 0 && !lc->tls.cert)
            rc = fail(ld, sub, "cert", "is required (a PEM certificate file)");
        if (rc == 0 && !lc->tls.key)
            rc = fail(ld, sub, "key", "is required (a PEM private key file)");
        resolve_path(ld, &lc->tls.cert);
        resolve_path(ld, &lc->tls.key);
        resolve_path(ld, &lc->tls.ca);
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, "tls", "must be a table like { cert = \"server.pem\", key = \"server.key\" }, got %s",
                  lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

/* listeners[i].realms: names of configured realms. */
static int load_listener_realms(struct ld *ld, const char *section, struct mb_listener_config *lc)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "realms");
    int rc = 0;
    if (t == LUA_TTABLE) {
        size_t n = (size_t)luaL_len(L, -1);
        if (n == 0)
            rc = fail(ld, section, "realms", "must list at least one realm (leave it out for every realm)");
        else if (!(lc->realms = calloc(n, sizeof *lc->realms)))
            rc = fail(ld, section, "realms", "out of memory");
        for (size_t i = 1; rc == 0 && i <= n; i++) {
            if (lua_geti(L, -1, (lua_Integer)i) != LUA_TSTRING) {
                rc = fail(ld, section, "realms", "must list realm names (strings)");
            } else {
                const char *name = lua_tostring(L, -1);
                bool known = false;
                for (size_t j = 0; j < ld->cfg->nrealms; j++)
                    known = known || strcmp(ld->cfg->realms[j].name, name) == 0;
                if (!known)
                    rc = fail(ld, section, "realms", "names '%s', which is not a configured realm", name);
                else if ((lc->realms[lc->nrealms] = strdup(name)))
                    lc->nrealms++;
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        rc = fail(ld, section, "realms", "must be a list of realm names, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

static int load_one_listener(struct ld *ld, const char *section, struct mb_config *cfg)
{
    static const char *const keys[] = { "type", "host", "port", "unix", "mode", "path", "web_root",
                                        "compression", "tls", "realms", "max_message_size",
                                        "max_connections", "handshake_timeout", NULL };
    lua_State *L = ld->L;
    if (only_keys(ld, section, keys) < 0)
        return -1;
    char *type = NULL;
    if (get_string(ld, section, "type", &type) < 0)
        return -1;
    if (!type)
        return fail(ld, section, "type", "is required: \"websocket\" or \"rawsocket\"");
    bool ws = strcmp(type, "websocket") == 0;
    if (!ws && strcmp(type, "rawsocket") != 0) {
        fail(ld, section, "type", "must be \"websocket\" or \"rawsocket\", got \"%s\"", type);
        free(type);
        return -1;
    }
    free(type);
    struct mb_listener_config *lc = add_listener(cfg, ws ? MB_LISTEN_WEBSOCKET : MB_LISTEN_RAWSOCKET);
    if (!lc)
        return fail(ld, section, NULL, "out of memory");
    int rc = get_string(ld, section, "host", &lc->host);
    bool has_port = lua_getfield(L, -1, "port") != LUA_TNIL;
    lua_pop(L, 1);
    double port = 0;
    if (rc == 0)
        rc = get_number(ld, section, "port", 0, 65535, true, &port);
    lc->port = (int)port;
    if (rc == 0)
        rc = get_string(ld, section, "unix", &lc->unix_path);
    bool has_mode = lua_getfield(L, -1, "mode") != LUA_TNIL;
    lua_pop(L, 1);
    if (rc == 0)
        rc = get_mode(ld, section, &lc->unix_mode);
    if (rc == 0 && lc->unix_path) {
        if (lc->host || has_port)
            rc = fail(ld, section, "unix", "cannot go with host or port: a listener is TCP or a Unix socket");
        else if (!lc->unix_path[0])
            rc = fail(ld, section, "unix", "must not be empty");
        else if (strlen(lc->unix_path) >= 100)
            rc = fail(ld, section, "unix", "is too long for a Unix socket path (at most 99 bytes)");
        resolve_path(ld, &lc->unix_path);
        if (rc == 0 && strlen(lc->unix_path) >= 108)
            rc = fail(ld, section, "unix", "is too long for a Unix socket path once resolved: %s", lc->unix_path);
    } else if (rc == 0) {
        if (!has_port)
            rc = fail(ld, section, "port", "is required (or unix = PATH)");
        else if (has_mode)
            rc = fail(ld, section, "mode", "is only for a Unix socket (unix = PATH)");
        else if (!lc->host && !(lc->host = strdup("127.0.0.1")))
            rc = fail(ld, section, NULL, "out of memory");
    }
    if (ws) {
        if (rc == 0)
            rc = get_string(ld, section, "path", &lc->path);
        if (rc == 0 && !lc->path && !(lc->path = strdup("/ws")))
            rc = fail(ld, section, NULL, "out of memory");
        if (rc == 0 && lc->path[0] != '/')
            rc = fail(ld, section, "path", "must start with '/'");
        int t = lua_getfield(L, -1, "web_root");
        if (rc == 0 && t != LUA_TNIL && t != LUA_TSTRING && !(t == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
            rc = fail(ld, section, "web_root", "must be a path or false, got %s", lua_typename(L, t));
        lua_pop(L, 1);
        if (rc == 0 && t == LUA_TSTRING) {
            rc = get_string(ld, section, "web_root", &lc->web_root);
            resolve_path(ld, &lc->web_root);
        }
        if (rc == 0)
            rc = get_bool(ld, section, "compression", &lc->compression);
    } else {
        static const char *const ws_only[] = { "path", "web_root", "compression", NULL };
        for (const char *const *k = ws_only; rc == 0 && *k; k++) {
            if (lua_getfield(L, -1, *k) != LUA_TNIL)
                rc = fail(ld, section, *k, "is only for a websocket listener");
            lua_pop(L, 1);
        }
    }
    if (rc == 0)
        rc = load_tls(ld, section, lc);
    if (rc == 0)
        rc = load_listener_realms(ld, section, lc);
    double mms = (double)lc->max_message_size, maxc = 0, hs = 0;
    if (rc == 0)
        rc = get_number(ld, section, "max_message_size", 64, 16 * 1024 * 1024, true, &mms);
    if (rc == 0)
        rc = get_number(ld, section, "max_connections", 0, 10000000, true, &maxc);
    if (rc == 0)
        rc = get_number(ld, section, "handshake_timeout", 0.1, 3600, false, &hs);
    lc->max_message_size = (size_t)mms;
    lc->max_connections = (size_t)maxc;
    lc->handshake_timeout = hs;
    return rc;
}

/* listeners = { { type = "rawsocket", host = ..., port = ... }, ... }, after the older keys'. */
static int load_listeners(struct ld *ld, struct mb_config *cfg)
{
    lua_State *L = ld->L;
    int t = lua_getfield(L, -1, "listeners");
    int rc = 0;
    if (t == LUA_TTABLE) {
        size_t n = (size_t)luaL_len(L, -1);
        for (size_t i = 1; rc == 0 && i <= n; i++) {
            char section[32];
            snprintf(section, sizeof section, "listeners[%zu]", i);
            if (lua_geti(L, -1, (lua_Integer)i) != LUA_TTABLE)
                rc = fail(ld, section, NULL, "must be a table like { type = \"rawsocket\", port = 8081 }");
            else
                rc = load_one_listener(ld, section, cfg);
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        rc = fail(ld, NULL, "listeners", "must be a list of tables, got %s", lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

static int load_table(struct ld *ld, struct mb_config *cfg)
{
    static const char *const top[] = { "log_level", "websocket", "rawsocket", "listeners", "realms", "limits",
                                       "lua", "store", "brute_force", "http", NULL };
    static const char *const lua_keys[] = { "callback_timeout", "memory_limit", "watch", NULL };
    static const char *const ws_keys[] = { "host", "port", "path", "web_root", "compression", NULL };
    static const char *const raw_keys[] = { "host", "port", NULL };
    static const char *const store_keys[] = { "path", "max_size_mb", NULL };
    static const char *const limit_keys[] = { "max_message_size", "max_queue_bytes",
                                              "slow_consumer_timeout", "shutdown_grace", "ping_interval",
                                              "ping_timeout", "ping_rawsocket", "busy_poll_us",
                                              "max_retained_topics", "auth_timeout", "max_connections",
                                              "max_connections_per_address", "max_sessions_per_realm",
                                              "max_subscriptions_per_session", "max_registrations_per_session",
                                              "max_calls_per_caller", "max_invocations_per_callee",
                                              "max_message_rate", "max_message_burst", "hello_timeout",
                                              "socket_send_buffer", NULL };
    lua_State *L = ld->L;
    if (only_keys(ld, NULL, top) < 0)
        return -1;

    char *level = NULL;
    if (get_string(ld, NULL, "log_level", &level) < 0)
        return -1;
    if (level) {
        int lv = mb_log_level_parse(level);
        free(level);
        if (lv < 0)
            return fail(ld, NULL, "log_level", "must be one of error, warn, info, debug, trace");
        cfg->log_level = lv;
    }

    /* with a listeners list, the default WebSocket endpoint is there only if asked for */
    bool has_listeners = lua_getfield(L, -1, "listeners") != LUA_TNIL;
    bool has_ws = lua_getfield(L, -2, "websocket") != LUA_TNIL;
    lua_pop(L, 2);
    if (has_listeners && !has_ws)
        cfg->ws_enabled = false;
    if (load_listener(ld, "websocket", &cfg->ws_enabled, &cfg->ws_host, &cfg->ws_port, ws_keys) < 0)
        return -1;
    if (cfg->ws_enabled && lua_getfield(L, -1, "websocket") == LUA_TTABLE) {
        int rc = get_string(ld, "websocket", "path", &cfg->ws_path);
        if (rc == 0)
            rc = get_bool(ld, "websocket", "compression", &cfg->ws_compression);
        int t = lua_getfield(L, -1, "web_root");
        if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
            free(cfg->web_root);
            cfg->web_root = NULL;
        } else if (t != LUA_TNIL && t != LUA_TSTRING && rc == 0) {
            rc = fail(ld, "websocket", "web_root", "must be a path or false, got %s", lua_typename(L, t));
        }
        lua_pop(L, 1);
        if (rc == 0 && t == LUA_TSTRING) {
            rc = get_string(ld, "websocket", "web_root", &cfg->web_root);
            resolve_path(ld, &cfg->web_root);
        }
        if (rc == 0 && cfg->ws_path[0] != '/')
            rc = fail(ld, "websocket", "path", "must start with '/'");
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    } else if (cfg->ws_enabled) {
        lua_pop(L, 1);
    }
    if (load_listener(ld, "rawsocket", &cfg->raw_enabled, &cfg->raw_host, &cfg->raw_port, raw_keys) < 0)
        return -1;
    if (load_realms(ld, cfg) < 0)
        return -1;
    if (load_brute_force(ld, cfg) < 0)
        return -1;
    if (load_http(ld, cfg) < 0)
        return -1;

    int sec = get_section(ld, "limits");
    if (sec < 0)
        return -1;
    if (sec == 1) {
        double mms = (double)cfg->max_message_size, mqb = (double)cfg->max_queue_bytes;
        int rc = only_keys(ld, "limits", limit_keys);
        if (rc == 0)
            rc = get_number(ld, "limits", "max_message_size", 64, 16 * 1024 * 1024, true, &mms);
        if (rc == 0)
            rc = get_number(ld, "limits", "max_queue_bytes", 1024, 1024.0 * 1024 * 1024, true, &mqb);
        if (rc == 0)
            rc = get_number(ld, "limits", "slow_consumer_timeout", 0.1, 3600, false,
                            &cfg->slow_consumer_timeout);
        if (rc == 0)
            rc = get_number(ld, "limits", "shutdown_grace", 0, 10, false, &cfg->shutdown_grace);
        if (rc == 0)
            rc = get_number(ld, "limits", "ping_interval", 0.1, 3600, false, &cfg->ping_interval);
        if (rc == 0)
            rc = get_number(ld, "limits", "ping_timeout", 0.1, 3600, false, &cfg->ping_timeout);
        if (rc == 0)
            rc = get_number(ld, "limits", "auth_timeout", 0.1, 3600, false, &cfg->auth_timeout);
        double retained = (double)cfg->max_retained_topics;
        if (rc == 0 && (rc = get_number(ld, "limits", "max_retained_topics", 0, 10000000, true, &retained)) == 0)
            cfg->max_retained_topics = (size_t)retained;
        static const struct { const char *key; size_t offset; double min; } counts[] = {
            { "max_connections", offsetof(struct mb_config, max_connections), 1 },
            { "max_connections_per_address", offsetof(struct mb_config, max_connections_per_address), 1 },
            { "max_sessions_per_realm", offsetof(struct mb_config, max_sessions_per_realm), 1 },
            { "max_subscriptions_per_session", offsetof(struct mb_config, max_subscriptions_per_session), 1 },
            { "max_registrations_per_session", offsetof(struct mb_config, max_registrations_per_session), 1 },
            { "max_calls_per_caller", offsetof(struct mb_config, max_calls_per_caller), 1 },
            { "max_invocations_per_callee", offsetof(struct mb_config, max_invocations_per_callee), 1 },
        };
        for (size_t i = 0; rc == 0 && i < sizeof counts / sizeof counts[0]; i++) {
            size_t *field = (size_t *)((char *)cfg + counts[i].offset);
            double v = (double)*field;
            if ((rc = get_number(ld, "limits", counts[i].key, counts[i].min, 100000000, true, &v)) == 0)
                *field = (size_t)v;
        }
        if (rc == 0)
            rc = get_number(ld, "limits", "max_message_rate", 0, 10000000, false, &cfg->max_message_rate);
        if (rc == 0)
            rc = get_number(ld, "limits", "max_message_burst", 0, 100000000, false, &cfg->max_message_burst);
        if (rc == 0 && cfg->max_message_burst > 0 && cfg->max_message_burst < 1)
            rc = fail(ld, "limits", "max_message_burst", "must be at least 1 (or 0: twice max_message_rate), got %g",
                      cfg->max_message_burst);
        if (rc == 0)
            rc = get_number(ld, "limits", "hello_timeout", 0.1, 3600, false, &cfg->hello_timeout);
        double sndbuf = (double)cfg->socket_send_buffer;
        if (rc == 0 && (rc = get_number(ld, "limits", "socket_send_buffer", 0, 64.0 * 1024 * 1024, true,
                                        &sndbuf)) == 0 && sndbuf > 0 && sndbuf < 4096)
            rc = fail(ld, "limits", "socket_send_buffer", "must be 0 (the kernel's autotuning) or at least 4096, "
                      "got %g", sndbuf);
        cfg->socket_send_buffer = (size_t)sndbuf;
        double busy = cfg->busy_poll_us; /* kept when the key is absent */
        if (rc == 0 && (rc = get_number(ld, "limits", "busy_poll_us", 0, 10000, true, &busy)) == 0)
            cfg->busy_poll_us = (unsigned)busy;
        int t = lua_getfield(L, -1, "ping_rawsocket");
        if (t == LUA_TBOOLEAN)
            cfg->ping_rawsocket = lua_toboolean(L, -1);
        else if (t != LUA_TNIL && rc == 0)
            rc = fail(ld, "limits", "ping_rawsocket", "must be true or false, got %s", lua_typename(L, t));
        lua_pop(L, 1);
        cfg->max_message_size = (size_t)mms;
        cfg->max_queue_bytes = (size_t)mqb;
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    sec = get_section(ld, "lua");
    if (sec < 0)
        return -1;
    if (sec == 1) {
        double mem = (double)(cfg->lua_memory_limit >> 20);
        int rc = only_keys(ld, "lua", lua_keys);
        if (rc == 0)
            rc = get_number(ld, "lua", "callback_timeout", 0.001, 60, false, &cfg->lua_callback_timeout);
        if (rc == 0)
            rc = get_number(ld, "lua", "memory_limit", 1, 65536, true, &mem);
        cfg->lua_memory_limit = (size_t)mem << 20;
        int t = lua_getfield(L, -1, "watch");
        if (t == LUA_TBOOLEAN)
            cfg->lua_watch = lua_toboolean(L, -1);
        else if (t != LUA_TNIL && rc == 0)
            rc = fail(ld, "lua", "watch", "must be true or false, got %s", lua_typename(L, t));
        lua_pop(L, 2);
        if (rc < 0)
            return -1;
    }
    sec = get_section(ld, "store");
    if (sec < 0)
        return -1;
    if (sec == 2 || sec == 3)
        return fail(ld, NULL, "store", "must be a table like { path = \"data/moonbar.db\" }");
    if (sec == 1) {
        double mb = (double)cfg->store_max_size_mb;
        int rc = only_keys(ld, "store", store_keys);
        if (rc == 0)
            rc = get_string(ld, "store", "path", &cfg->store_path);
        if (rc == 0 && cfg->store_path[0] == '\0')
            rc = fail(ld, "store", "path", "must not be empty");
        if (rc == 0)
            rc = get_number(ld, "store", "max_size_mb", 1, 1024.0 * 1024, true, &mb);
        cfg->store_max_size_mb = (size_t)mb;
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    resolve_path(ld, &cfg->store_path); /* the default too: data/ beside the config file */
    free_listeners(cfg);
    if (legacy_listeners(cfg) < 0)
        return fail(ld, NULL, NULL, "out of memory");
    if (load_listeners(ld, cfg) < 0)
        return -1;
    if (cfg->nlisteners == 0)
        return fail(ld, NULL, NULL, "has no listener: nothing to listen on");
    return 0;
}

/* lua_CFunction: (table, ld) → status of load_table, run under lua_pcall. */
static int load_protected(lua_State *L)
{
    struct ld *ld = lua_touserdata(L, 2);
    lua_pop(L, 1);
    lua_pushinteger(L, load_table(ld, ld->cfg));
    return 1;
}

/* The text of the file at path, NUL-terminated; NULL (errno set) when it cannot be read, is
 * empty, or holds more than max bytes (EFBIG: /dev/zero as a secret file ends there). */
static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > max) {
            free(buf);
            fclose(f);
            errno = EFBIG;
            return NULL;
        }
        if (!buf || len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* ---- the loader's Lua: bounded in memory and instructions ------------------------------------ */

struct budget {
    size_t used, memory;
    unsigned long long executed, instructions;
};

#define HOOK_EVERY 1000 /* instructions between two checks of the budget */

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct budget *b = ud;
    size_t old = ptr ? osize : 0; /* without a block, osize is the kind of object */
    if (nsize == 0) {
        free(ptr);
        b->used -= old;
        return NULL;
    }
    if (nsize > old && (nsize - old > b->memory || b->used + (nsize - old) > b->memory))
        return NULL; /* Lua raises its memory error: only growth may fail */
    void *p = realloc(ptr, nsize);
    if (p)
        b->used = b->used - old + nsize;
    return p;
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    void *ud;
    lua_getallocf(L, &ud);
    struct budget *b = ud;
    b->executed += HOOK_EVERY;
    if (b->executed > b->instructions) {
        char n[32];
        snprintf(n, sizeof n, "%llu", b->instructions);
        luaL_where(L, 0); /* the Lua function running, not the hook's caller */
        lua_pushfstring(L, "%sruns too long: over %s Lua instructions (a loop that never ends?)",
                        lua_tostring(L, -1), n);
        lua_error(L);
    }
}

/* The sandbox of mb_config_limits: no file, process or network access from the config's code. */
static void open_sandboxed(lua_State *L)
{
    static const luaL_Reg libs[] = { { LUA_GNAME, luaopen_base }, { LUA_COLIBNAME, luaopen_coroutine },
                                     { LUA_TABLIBNAME, luaopen_table }, { LUA_STRLIBNAME, luaopen_string },
                                     { LUA_MATHLIBNAME, luaopen_math }, { LUA_UTF8LIBNAME, luaopen_utf8 },
                                     { LUA_OSLIBNAME, luaopen_os }, { NULL, NULL } };
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    static const char *const gone[] = { "dofile", "loadfile", "load", "require", "print", NULL };
    for (const char *const *g = gone; *g; g++) {
        lua_pushnil(L);
        lua_setglobal(L, *g);
    }
    static const char *const os_kept[] = { "getenv", "time", "clock", "date", "difftime", NULL };
    lua_newtable(L);
    lua_getglobal(L, LUA_OSLIBNAME);
    for (const char *const *k = os_kept; *k; k++) {
        lua_getfield(L, -1, *k);
        lua_setfield(L, -3, *k);
    }
    lua_pop(L, 1);
    lua_setglobal(L, LUA_OSLIBNAME);
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
}

static int load_chunk(struct mb_config *cfg, const char *path, const char *text, size_t len,
                      const struct mb_config_limits *lim, char *err, size_t errlen);

int mb_config_load(struct mb_config *cfg, const char *path, char *err, size_t errlen)
{
    return load_chunk(cfg, path, NULL, 0, NULL, err, errlen);
}

int mb_config_load_text(struct mb_config *cfg, const char *path, const char *text, size_t len,
                        const struct mb_config_limits *lim, char *err, size_t errlen)
{
    return load_chunk(cfg, path, text, len, lim, err, errlen);
}

/* text NULL: read from the file at path. */
static int load_chunk(struct mb_config *cfg, const char *path, const char *text, size_t len,
                      const struct mb_config_limits *lim, char *err, size_t errlen)
{
    static const struct mb_config_limits defaults = { .memory = MB_CONFIG_LUA_MEMORY,
                                                      .instructions = MB_CONFIG_LUA_INSTRUCTIONS };
    if (!lim)
        lim = &defaults;
    struct budget budget = { .memory = lim->memory, .instructions = lim->instructions };
    struct ld ld = { .path = path, .err = err, .errlen = errlen };
    free(cfg->path);
    cfg->path = strdup(path);
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(ld.dir, sizeof ld.dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    else
        snprintf(ld.dir, sizeof ld.dir, ".");
    ld.L = lua_newstate(budget_alloc, &budget);
    if (!ld.L) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (lim->sandbox)
        open_sandboxed(ld.L);
    else
        luaL_openlibs(ld.L);
    lua_sethook(ld.L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    int rc = -1, st;
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", path);
    if ((st = text ? luaL_loadbufferx(ld.L, text, len, chunk, "t") : luaL_loadfilex(ld.L, path, "t")) != LUA_OK ||
        (st = lua_pcall(ld.L, 0, 1, 0)) != LUA_OK) {
        const char *msg = lua_tostring(ld.L, -1);
        if (st == LUA_ERRMEM)
            snprintf(err, errlen, "%s: uses more than the %zu MiB of memory a config may use", path,
                     lim->memory >> 20);
        else if (msg && names_chunk(msg, path))
            snprintf(err, errlen, "%s", msg);
        else if (msg) /* raised without a position: "C stack overflow", error("x", 0) */
            snprintf(err, errlen, "%s: %s", path, msg);
        else
            snprintf(err, errlen, "%s: raised an error that is not a string (%s)", path,
                     luaL_typename(ld.L, -1));
    } else if (!lua_istable(ld.L, -1)) {
        snprintf(err, errlen, "%s: must return a table, returned %s", path, luaL_typename(ld.L, -1));
    } else {
        /* reading the table runs its metamethods, if any: protect it like the file itself */
        if (text && (ld.text = malloc(len + 1))) {
            memcpy(ld.text, text, len);
            ld.text[len] = '\0';
        } else if (!text) {
            ld.text = read_text(path, SIZE_MAX);
        }
        ld.cfg = cfg;
        lua_pushcfunction(ld.L, load_protected);
        lua_insert(ld.L, -2);
        lua_pushlightuserdata(ld.L, &ld);
        if ((st = lua_pcall(ld.L, 2, 1, 0)) != LUA_OK) {
            const char *msg = st == LUA_ERRMEM ? "out of the memory a config may use" : lua_tostring(ld.L, -1);
            snprintf(err, errlen, "%s: error while reading the returned table: %s", path,
                     msg ? msg : "(not a string)");
        } else {
            rc = (int)lua_tointeger(ld.L, -1);
        }
    }
    free(ld.text);
    lua_close(ld.L);
    return rc;
}

/* ---- --check-config's warnings ---------------------------------------------------------------- */

static bool loopback_host(const char *host)
{
    return host && (strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0);
}

static bool serves(const struct mb_listener_config *lc, const char *realm)
{
    if (!lc->nrealms)
        return true;
    for (size_t i = 0; i < lc->nrealms; i++)
        if (strcmp(lc->realms[i], realm) == 0)
            return true;
    return false;
}

/* Whether a role of the config allows every action on every URI, with no deny rule. */
static bool role_allows_all(const struct mb_realm_config *rc, const char *name)
{
    for (size_t i = 0; i < rc->nroles; i++) {
        if (strcmp(rc->roles[i].name, name) != 0)
            continue;
        bool all = false;
        for (size_t j = 0; j < rc->roles[i].nrules; j++) {
            const struct mb_rule_config *r = &rc->roles[i].rules[j];
            if (r->deny)
                return false;
            all = all || (r->match == MB_MATCH_PREFIX && r->uri[0] == '\0' &&
                          r->allow == MB_ACT_BIT(MB_ACT_COUNT) - 1);
        }
        return all;
    }
    return false;
}

size_t mb_config_warnings(const struct mb_config *cfg, mb_config_warn_fn fn, void *ctx)
{
    size_t n = 0;
    char line[600];
    for (size_t i = 0; i < cfg->nrealms; i++) {
        const struct mb_realm_config *rc = &cfg->realms[i];
        const struct mb_auth_config *a = &rc->auth;
        bool anonymous = !a->present || a->method[MB_AUTH_ANONYMOUS].enabled;
        const char *anon_role = a->anonymous_role ? a->anonymous_role : "anonymous";
        /* without roles or a policy script nothing restricts an anonymous session */
        bool all = rc->has_roles ? role_allows_all(rc, anon_role) : !rc->policy;
        for (size_t j = 0; j < cfg->nlisteners; j++) {
            const struct mb_listener_config *lc = &cfg->listeners[j];
            if (lc->unix_path || loopback_host(lc->host) || !serves(lc, rc->name))
                continue;
            const char *kind = lc->kind == MB_LISTEN_WEBSOCKET ? "websocket" : "rawsocket";
            char where[80]; /* host:port, [v6]:port */
            bool v6 = lc->host && strchr(lc->host, ':');
            snprintf(where, sizeof where, "%s%s%s:%d", v6 ? "[" : "", lc->host ? lc->host : "?", v6 ? "]" : "",
                     lc->port);
            if (anonymous && all) {
                snprintf(line, sizeof line, "realm %s: anonymous sessions may do everything (authrole %s, %s) and "
                         "the %s listener on %s is not loopback: set realms[%zu].auth (anonymous = false) or roles",
                         rc->name, anon_role, rc->has_roles ? "a role that allows every action on every URI" : "no roles",
                         kind, where, i + 1);
                fn(ctx, line);
                n++;
            }
            if (a->method[MB_AUTH_TICKET].enabled && !lc->tls.cert) {
                snprintf(line, sizeof line, "realm %s: tickets travel in clear on the %s listener %s (no tls): "
                         "anyone on the path can read them", rc->name, kind, where);
                fn(ctx, line);
                n++;
            }
        }
        for (int m = 1; m < MB_AUTH_METHODS; m++)
            for (size_t k = 0; k < a->method[m].nusers; k++) {
                const struct mb_auth_user *u = &a->method[m].users[k];
                if (!u->secret_in_clear)
                    continue;
                snprintf(line, sizeof line, "realms[%zu].auth.%s.users.%s.%s is written in clear in the file: "
                         "use { file = \"path\" } or { env = \"NAME\" }", i + 1, mb_auth_method_name((enum mb_auth_method)m),
                         u->authid, m == MB_AUTH_TICKET ? "ticket" : "secret");
                fn(ctx, line);
                n++;
            }
        if (a->present && !a->method[MB_AUTH_ANONYMOUS].enabled && !a->method[MB_AUTH_TICKET].enabled &&
            !a->method[MB_AUTH_WAMPCRA].enabled && !a->method[MB_AUTH_CRYPTOSIGN].enabled) {
            snprintf(line, sizeof line, "realm %s: its auth section enables no method: nobody can join it", rc->name);
            fn(ctx, line);
            n++;
        }
    }
    return n;
}
