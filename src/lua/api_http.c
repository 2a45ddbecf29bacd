/* moonbar.http and moonbar.json: HTTP routes that scripts serve on moonbar's WebSocket/HTTP
 * listeners, outgoing HTTP requests from a script's callbacks, and JSON text <-> Lua values.
 *
 * Routes. moonbar.http.route(method, path, fn [, opts]) declares a route while a version
 * loads (into gen->routes); mb_lua_http_swap makes the swapped-in version's routes the
 * script's. The paths served are the Lua engine's, router-wide (HTTP has no realm): one
 * mb_httpd route per path (struct lua_http_path), whose handler picks a route by method and
 * answers 405 with Allow when none takes it. Scripts may share a path with different methods;
 * a second script declaring a method and path another one serves fails its load. Each request
 * runs the route's function in a task (a coroutine, like a procedure: moonbar.call works in
 * it); the task's end answers the exchange. A reload only changes which function the next
 * request gets: a task that waits keeps its own function, so it finishes in its version.
 *
 * Requests. moonbar.http.request{...} in a task starts an mb_httpc call and yields; a "box"
 * userdata on the coroutine's stack holds the call and, once done, a copy of the answer, turned
 * into Lua values by the continuation inside the coroutine (a memory error there is the
 * script's, not the router's). A reload lets the call finish in its version; shutdown
 * cancels it, and the Lua state's close frees the box and the task through __gc.
 *
 * Everything that builds Lua values for C (a request's table) or reads the script's values
 * (a handler's answer) runs protected, on the script's sync thread, within its budget. */
#include "lua_internal.h"
#include "mb_config.h"
#include "mb_httpc.h"
#include "mb_httpd.h"
#include "mb_router.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOX_MT "moonbar.http.request"
#define URI_FAILED "moonbar.error.http.failed"
#define URI_TIMEOUT "moonbar.error.http.timeout"
#define URI_TOO_LARGE "moonbar.error.http.too_large"

#define METHOD_MAX 32
#define PATH_MAX_LEN 1024
#define DEFAULT_MAX_BODY ((size_t)1 << 20)   /* a route's request bodies */
#define MAX_BODY_LIMIT ((size_t)1 << 30)
#define DEFAULT_MAX_BYTES ((size_t)1 << 20)  /* moonbar.http.request's response bodies */
#define DEFAULT_TIMEOUT_MS 30000.0
#define MAX_TIMEOUT_MS 86400000.0 /* a day */
#define MAX_BYTES_LIMIT 1099511627776.0 /* 1 TiB: the script's memory limit says no long before */

/* A route: declared by a loading version (in gen->routes), then in its path's list. */
struct lua_route {
    struct mb_script *sc;
    char method[METHOD_MAX + 1]; /* upper-case, or "*" */
    char *path;                  /* as declared: "/a", or "/a/" followed by a star */
    char *base;                  /* mb_httpd's path: "/a", or "/a/" for a prefix */
    bool prefix;
    size_t max_body;
    int fn; /* registry ref in sc->L */
    unsigned version;
    struct lua_route *next;
};

/* A path the scripts serve: one mb_httpd route. */
struct lua_http_path {
    struct mb_router *r;
    char *base;
    bool prefix;
    int id;          /* mb_httpd route id, 0 while unrouted */
    size_t max_body; /* mb_httpd's limit: the largest of its routes' */
    struct lua_route *routes;
    struct lua_http_path *next;
};

/* A request a task answers (task->http); in its script's list until answered. */
struct lua_http_req {
    struct mb_script *sc;
    struct task *task;
    struct mb_http_exchange *ex; /* NULL once the client went away */
    struct lua_http_req *prev, *next;
};

/* An outgoing request (moonbar.http.request), on the waiting coroutine's stack. */
struct lua_http_call {
    struct mb_script *sc;
    struct task *task;          /* while it waits */
    struct mb_httpc_call *call; /* in flight */
    struct lua_http_call *prev, *next; /* sc->http_calls while in flight */
    bool yielded, done;
    char *url;
    char method[METHOD_MAX + 1];
    char **lines; /* request header lines, NULL-terminated */
    size_t nlines;
    char *json;   /* a table body as JSON text */
    json_t *tmp, *tmp2; /* an error's args and kwargs while pushed */
    /* the answer */
    int status;
    enum mb_httpc_failure failure;
    char *error;
    char *body;
    size_t body_len;
    char **headers;
    size_t nheaders;
};

static struct mb_lua *engine(struct mb_script *sc)
{
    return sc->r->lua;
}

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool str_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* ---- the paths served ---------------------------------------------------------------------- */

static void route_free(struct lua_route *rt)
{
    if (!rt)
        return;
    if (rt->fn != LUA_NOREF && rt->sc->L)
        luaL_unref(rt->sc->L, LUA_REGISTRYINDEX, rt->fn);
    free(rt->path);
    free(rt->base);
    free(rt);
}

static struct lua_http_path *find_path(struct mb_lua *lua, const char *base, bool prefix)
{
    for (struct lua_http_path *p = lua->http_paths; p; p = p->next)
        if (p->prefix == prefix && strcmp(p->base, base) == 0)
            return p;
    return NULL;
}

static void on_http(void *ctx, struct mb_http_exchange *ex, const struct mb_http_request *head, const char *path,
                    const char *body, size_t len);

/* Brings p's mb_httpd route in line with its routes: gone when it has none, made or made again
 * when its limit changed. Frees p (unlinked from lua) when it has no routes left. */
static void path_sync(struct mb_lua *lua, struct lua_http_path *p)
{
    size_t max = 0;
    for (struct lua_route *rt = p->routes; rt; rt = rt->next)
        if (rt->max_body > max)
            max = rt->max_body;
    if (p->id && (!p->routes || max != p->max_body)) {
        mb_httpd_unroute(p->r, p->id);
        p->id = 0;
    }
    if (p->routes && !p->id) {
        p->max_body = max;
        p->id = mb_httpd_route(p->r, p->base, p->prefix, max, on_http, p);
        if (p->id < 0) { /* checked at declaration: only out of memory gets here */
            mb_error(&p->r->log, "http %s%s: cannot claim the path (out of memory): its routes are dropped", p->base,
                     p->prefix ? "*" : "");
            p->id = 0;
            while (p->routes) {
                struct lua_route *rt = p->routes;
                p->routes = rt->next;
                route_free(rt);
            }
        }
    }
    if (p->routes)
        return;
    for (struct lua_http_path **pp = &lua->http_paths; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p->base);
    free(p);
}

void mb_lua_http_swap(struct mb_script *sc, struct gen *g)
{
    struct mb_lua *lua = engine(sc);
    for (size_t i = 0; i < g->routes.len; i++) {
        struct lua_route *d = g->routes.items[i];
        struct lua_http_path *p = find_path(lua, d->base, d->prefix);
        if (!p) {
            p = calloc(1, sizeof *p);
            if (!p || !(p->base = strdup(d->base))) {
                free(p);
                mb_error(&sc->r->log, "script %s: http %s %s dropped: out of memory", sc->name, d->method, d->path);
                route_free(d);
                continue;
            }
            p->r = sc->r;
            p->prefix = d->prefix;
            p->next = lua->http_paths;
            lua->http_paths = p;
        }
        struct lua_route *old = NULL;
        for (struct lua_route *rt = p->routes; rt; rt = rt->next)
            if (rt->sc == sc && strcmp(rt->method, d->method) == 0)
                old = rt;
        if (old) { /* the same route: its function and limit change, nothing else */
            luaL_unref(sc->L, LUA_REGISTRYINDEX, old->fn);
            old->fn = d->fn;
            d->fn = LUA_NOREF;
            old->max_body = d->max_body;
            old->version = d->version;
            route_free(d);
        } else {
            struct lua_route **end = &p->routes;
            while (*end)
                end = &(*end)->next;
            *end = d; /* in declaration order: the order of Allow */
            mb_info(&sc->r->log, "script %s: serves http %s %s", sc->name, d->method, d->path);
        }
    }
    g->routes.len = 0; /* the paths own them now */
    for (struct lua_http_path *p = lua->http_paths, *next; p; p = next) {
        next = p->next;
        for (struct lua_route **pp = &p->routes; *pp;) {
            struct lua_route *rt = *pp;
            if (rt->sc == sc && rt->version != g->version) {
                *pp = rt->next;
                mb_info(&sc->r->log, "script %s: no longer serves http %s %s", sc->name, rt->method, rt->path);
                route_free(rt);
            } else {
                pp = &rt->next;
            }
        }
        path_sync(lua, p);
    }
}

void mb_lua_http_gen_free(struct mb_script *sc, struct gen *g)
{
    (void)sc;
    for (size_t i = 0; i < g->routes.len; i++)
        route_free(g->routes.items[i]);
    mb_vec_free(&g->routes);
}

/* ---- serving a request ------------------------------------------------------------------------ */

/* What push_request reads (the request head is valid during on_http only). */
struct request_in {
    const struct mb_http_request *head;
    const char *path, *body, *peer;
    size_t len;
    bool tls;
};

static void push_lower(lua_State *L, const char *s, size_t n)
{
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)tolower((unsigned char)s[i]);
    luaL_pushresultsize(&b, n);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Pushes s decoded as a form field: '+' is a space, %XX a byte (a malformed escape stays as
 * it is). */
static void push_form_decoded(lua_State *L, const char *s, size_t n)
{
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[k++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    luaL_pushresultsize(&b, k);
}

/* Sets t[key] = value (both on the stack: key at -2, value at -1) for a query or form: a key
 * seen before becomes a list of its values, in order. */
static void add_field(lua_State *L, int t)
{
    lua_pushvalue(L, -2);
    int ty = lua_rawget(L, t);
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        lua_rawset(L, t);
        return;
    }
    if (ty == LUA_TSTRING) { /* the second value: a list of both */
        lua_createtable(L, 2, 0);
        mb_lua_mark_array(L, -1);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -2);
        lua_rawset(L, t);
    }
    lua_insert(L, -2); /* key, list, value */
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 2);
}

/* Pushes the table of a query string or form body ("a=1&b=x+y&a=2"). */
static void push_form(lua_State *L, const char *s, size_t n)
{
    lua_newtable(L);
    int t = lua_gettop(L);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(s + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
            push_form_decoded(L, s + i, klen);
            if (eq)
                push_form_decoded(L, eq + 1, (size_t)(s + j - eq - 1));
            else
                lua_pushliteral(L, "");
            add_field(L, t);
        }
        i = j + 1;
    }
}

/* The req table (protected, on the sync thread): arg 1 a struct request_in. */
static int push_request(lua_State *L)
{
    const struct request_in *in = lua_touserdata(L, 1);
    const struct mb_http_request *h = in->head;
    lua_createtable(L, 0, 9);
    lua_pushlstring(L, h->method.p, h->method.n);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, in->path);
    lua_setfield(L, -2, "path");
    lua_pushlstring(L, h->query.n ? h->query.p : "", h->query.n);
    lua_setfield(L, -2, "query_string");
    push_form(L, h->query.p, h->query.n);
    lua_setfield(L, -2, "query");
    lua_createtable(L, 0, (int)h->nheaders);
    for (size_t i = 0; i < h->nheaders; i++) {
        push_lower(L, h->headers[i].name.p, h->headers[i].name.n);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) { /* a repeated header: its values joined (RFC 9110 5.3) */
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, h->headers[i].value.p, h->headers[i].value.n);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, h->headers[i].value.p, h->headers[i].value.n);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, in->body, in->len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, in->peer);
    lua_setfield(L, -2, "peer");
    lua_pushboolean(L, in->tls);
    lua_setfield(L, -2, "tls");
    return 1;
}

/* The route of p that takes method m: the method's own; for HEAD, GET's; else "*". */
static struct lua_route *pick(struct lua_http_path *p, const char *m, size_t n)
{
    struct lua_route *any = NULL, *get = NULL;
    for (struct lua_route *rt = p->routes; rt; rt = rt->next) {
        if (str_is(m, n, rt->method))
            return rt;
        if (strcmp(rt->method, "*") == 0)
            any = rt;
        else if (strcmp(rt->method, "GET") == 0)
            get = rt;
    }
    return str_is(m, n, "HEAD") && get ? get : any;
}

static void reply_405(struct lua_http_path *p, struct mb_http_exchange *ex)
{
    char allow[512] = "Allow: ";
    size_t k = strlen(allow);
    bool get = false, head = false;
    for (struct lua_route *rt = p->routes; rt; rt = rt->next) {
        get = get || strcmp(rt->method, "GET") == 0;
        head = head || strcmp(rt->method, "HEAD") == 0;
    }
    for (struct lua_route *rt = p->routes; rt; rt = rt->next) {
        int n = snprintf(allow + k, sizeof allow - k, "%s%s%s", k > 7 ? ", " : "", rt->method,
                         get && !head && strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
        if (n < 0 || (size_t)n >= sizeof allow - k - 3)
            break;
        k += (size_t)n;
    }
    snprintf(allow + k, sizeof allow - k, "\r\n");
    mb_http_reply(ex, 405, allow, "method not allowed\n", 19);
}

static void req_unlink(struct lua_http_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        q->sc->http_reqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    if (q->task)
        q->task->http = NULL;
}

static void on_abandon(void *ctx)
{
    struct lua_http_req *q = ctx;
    q->ex = NULL; /* the task runs on; its answer is dropped */
}

static void on_http(void *ctx, struct mb_http_exchange *ex, const struct mb_http_request *head, const char *path,
                    const char *body, size_t len)
{
    struct lua_http_path *p = ctx;
    struct lua_route *rt = pick(p, head->method.p, head->method.n);
    if (!rt) {
        reply_405(p, ex);
        return;
    }
    struct mb_script *sc = rt->sc;
    if (len > rt->max_body) { /* the path's limit is the largest of its routes' */
        char text[120];
        snprintf(text, sizeof text, "request body of %zu bytes is over this route's limit of %zu\n", len, rt->max_body);
        mb_http_reply_text(ex, 413, NULL, text);
        return;
    }
    if (sc->closing || !sc->gen) {
        mb_http_reply_text(ex, 503, NULL, "the script is not running\n");
        return;
    }
    struct request_in in = { head, path, body, mb_http_peer(ex), len, mb_http_tls(ex) };
    char why[300];
    lua_pushcfunction(sc->sync, push_request);
    lua_pushlightuserdata(sc->sync, &in);
    if (mb_script_call_sync(sc, 1, 1, why, sizeof why) < 0) {
        mb_warn(&sc->r->log, "script %s: http %.*s %s: %s", sc->name, (int)head->method.n, head->method.p, path, why);
        mb_http_reply_text(ex, 500, NULL, "http handler failed: script memory limit reached\n");
        return;
    }
    struct lua_http_req *q = calloc(1, sizeof *q);
    struct task *t = q ? mb_script_new_task(sc, T_HTTP, rt->fn) : NULL;
    if (!t) {
        lua_pop(sc->sync, 1);
        free(q);
        mb_http_reply_text(ex, 503, NULL, "out of memory\n");
        return;
    }
    lua_xmove(sc->sync, t->co, 1);
    q->sc = sc;
    q->task = t;
    q->ex = ex;
    q->next = sc->http_reqs;
    if (q->next)
        q->next->prev = q;
    sc->http_reqs = q;
    t->http = q;
    mb_http_on_abandon(ex, on_abandon, q);
    mb_script_run_task(t, 1);
}

/* ---- answering --------------------------------------------------------------------------------- */

struct answer {
    int status;
    char *headers; /* "Name: value\r\n"..., or NULL */
    char *body;
    size_t len;
};

/* Header fields the handler may not set: mb_httpd writes them. */
static bool reserved_header(const char *name, size_t n)
{
    static const char *const names[] = { "content-length", "transfer-encoding", "connection" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
            return true;
    return false;
}

/* Checks the header table at idx (nil: none) and pushes its lines ("Name: value\r\n"...): a
 * value is a string, a number, or a list of them (one line each). *typed: one is Content-Type.
 * drop_reserved: skip the fields mb_httpd writes (an answer), else refuse them (a request). */
static void push_header_lines(lua_State *L, int idx, const char *what, bool drop_reserved, bool *typed)
{
    *typed = false;
    lua_pushliteral(L, ""); /* the lines so far */
    int acc = lua_gettop(L);
    if (lua_isnil(L, idx))
        return;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s must be a table, got %s", what, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: header names must be strings, got %s", what, luaL_typename(L, -2));
        size_t nlen;
        const char *name = lua_tolstring(L, -2, &nlen);
        if (nlen == 0 || nlen > 256)
            luaL_error(L, "%s: a header name must have 1 to 256 characters", what);
        for (size_t k = 0; k < nlen; k++)
            if (!is_tchar((unsigned char)name[k]))
                luaL_error(L, "%s: '%s' is not a header name", what, name);
        *typed = *typed || (nlen == 12 && strncasecmp(name, "content-type", 12) == 0);
        if (reserved_header(name, nlen)) {
            if (!drop_reserved)
                luaL_error(L, "%s: %s is set by moonbar", what, name);
            lua_pop(L, 1);
            continue;
        }
        int v = lua_gettop(L);
        bool list = lua_istable(L, v);
        lua_Integer n = list ? (lua_Integer)lua_rawlen(L, v) : 1;
        for (lua_Integer i = 1; i <= n; i++) {
            if (list)
                lua_rawgeti(L, v, i);
            else
                lua_pushvalue(L, v);
            int ty = lua_type(L, -1);
            if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
                luaL_error(L, "%s: %s must be a string, a number or a list of them, got %s", what, name,
                           luaL_typename(L, -1));
            size_t vlen;
            const char *val = lua_tolstring(L, -1, &vlen); /* a copy: converting it changes nothing */
            if (strlen(val) != vlen || strpbrk(val, "\r\n"))
                luaL_error(L, "%s: %s has a CR, LF or NUL byte", what, name);
            lua_pushvalue(L, acc);
            lua_pushfstring(L, "%s: %s\r\n", name, val);
            lua_concat(L, 2);
            lua_replace(L, acc);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

/* Reads a handler's answer (protected, on the sync thread): arg 1 a struct answer, arg 2 the
 * returned value (none: 204). Raises with the reason it cannot be sent. */
static int read_answer(lua_State *L)
{
    struct answer *a = lua_touserdata(L, 1);
    int nres = lua_gettop(L) - 1;
    if (nres == 0 || lua_isnil(L, 2)) {
        a->status = 204;
        return 0;
    }
    if (lua_type(L, 2) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 2, &n);
        a->status = 200;
        if (!(a->body = malloc(n + 1)))
            return luaL_error(L, "out of memory");
        memcpy(a->body, s, n);
        a->len = n;
        return 0;
    }
    if (!lua_istable(L, 2))
        return luaL_error(L, "an http handler returns a table {status, headers, body}, a string or nothing, not a %s",
                          luaL_typename(L, 2));
    lua_settop(L, 2);
    int ty = lua_getfield(L, 2, "status"); /* 3 */
    lua_Integer status = 200;
    if (ty != LUA_TNIL) {
        if (!lua_isinteger(L, 3) || lua_tointeger(L, 3) < 200 || lua_tointeger(L, 3) > 599)
            return luaL_error(L, "status must be an integer from 200 to 599");
        status = lua_tointeger(L, 3);
    }
    lua_getfield(L, 2, "headers"); /* 4 */
    bool typed;
    push_header_lines(L, 4, "headers", true, &typed); /* 5 */
    ty = lua_getfield(L, 2, "body"); /* 6 */
    if (ty != LUA_TNIL && ty != LUA_TSTRING && ty != LUA_TTABLE)
        return luaL_error(L, "body must be a string or a table (sent as JSON), got %s", luaL_typename(L, 6));
    /* from here on nothing raises: what is allocated is handed to the caller */
    size_t hlen;
    const char *lines = lua_tolstring(L, 5, &hlen);
    char err[200];
    if (ty == LUA_TTABLE) {
        json_t *j = mb_lua_to_json(L, 6, err, sizeof err);
        if (!j)
            return luaL_error(L, "body: %s", err);
        a->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!a->body)
            return luaL_error(L, "out of memory");
        a->len = strlen(a->body);
    } else if (ty == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 6, &n);
        if (!(a->body = malloc(n + 1)))
            return luaL_error(L, "out of memory");
        memcpy(a->body, s, n);
        a->len = n;
    }
    const char *json_type = ty == LUA_TTABLE && !typed ? "Content-Type: application/json\r\n" : "";
    size_t jl = strlen(json_type);
    if (hlen + jl > 0) {
        if (!(a->headers = malloc(hlen + jl + 1)))
            return luaL_error(L, "out of memory");
        memcpy(a->headers, lines, hlen);
        memcpy(a->headers + hlen, json_type, jl + 1);
    }
    a->status = (int)status;
    return 0;
}

/* Takes q off its task and its script's list; the exchange to answer (NULL: nobody listens). */
static struct mb_http_exchange *req_take(struct task *t)
{
    struct lua_http_req *q = t->http;
    if (!q)
        return NULL;
    struct mb_http_exchange *ex = q->ex;
    if (ex)
        mb_http_on_abandon(ex, NULL, NULL);
    req_unlink(q);
    free(q);
    return ex;
}

void mb_lua_http_answer(struct task *t, int nres)
{
    struct mb_script *sc = t->sc;
    struct answer a = { 0 };
    lua_State *S = sc->sync;
    if (nres > 1) /* the first value is the answer */
        lua_settop(t->co, lua_gettop(t->co) - nres + 1);
    lua_pushcfunction(S, read_answer);
    lua_pushlightuserdata(S, &a);
    lua_xmove(t->co, S, nres > 0);
    char why[300];
    int rc = mb_script_call_sync(sc, 1 + (nres > 0), 0, why, sizeof why);
    struct mb_http_exchange *ex = req_take(t);
    if (rc < 0) {
        free(a.headers);
        free(a.body);
        mb_warn(&sc->r->log, "script %s: http handler result cannot be sent: %s", sc->name, why);
        if (ex) {
            char text[360];
            snprintf(text, sizeof text, "http handler result cannot be sent: %s\n", why);
            mb_http_reply_text(ex, 500, NULL, text);
        }
        return;
    }
    if (ex) /* mb_httpd leaves the body out for HEAD, 204 and 304 */
        mb_http_reply(ex, a.status, a.headers, a.body ? a.body : "", a.len);
    free(a.headers);
    free(a.body);
}

void mb_lua_http_fail(struct task *t, const char *uri, json_t *args)
{
    struct mb_script *sc = t->sc;
    const char *msg = json_string_value(json_array_get(args, 0));
    bool runtime = strcmp(uri, mb_reason_uri(MB_R_RUNTIME_ERROR)) == 0;
    if (!runtime) /* run_task logged the others, with a traceback */
        mb_warn(&sc->r->log, "script %s: http handler failed: %s%s%s", sc->name, uri, msg ? ": " : "", msg ? msg : "");
    struct mb_http_exchange *ex = req_take(t);
    if (!ex)
        return;
    size_t n = 64 + strlen(uri) + (msg ? strlen(msg) : 0);
    char *text = malloc(n);
    if (text)
        snprintf(text, n, "http handler failed: %s%s%s\n", runtime ? "" : uri, runtime || !msg ? "" : ": ",
                 msg ? msg : "");
    mb_http_reply_text(ex, 500, NULL, text ? text : "http handler failed\n");
    free(text);
}

/* ---- moonbar.http.route ------------------------------------------------------------------------ */

static int l_route(lua_State *L)
{
    struct mb_script *sc = mb_script_of(L);
    struct gen *g = sc->loading;
    if (!g)
        return luaL_error(L, "moonbar.http.route is called while the script loads (routes belong to a version)");
    size_t mlen, plen;
    const char *method = luaL_checklstring(L, 1, &mlen);
    const char *path = luaL_checklstring(L, 2, &plen);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    char m[METHOD_MAX + 1];
    if (mlen == 0 || mlen > METHOD_MAX)
        return luaL_error(L, "moonbar.http.route: method must be a method name (\"GET\", \"POST\", ...) or \"*\"");
    for (size_t i = 0; i < mlen; i++) {
        if (!is_tchar((unsigned char)method[i]) || (method[i] == '*' && mlen > 1))
            return luaL_error(L, "moonbar.http.route: '%s' is not a method name", method);
        m[i] = (char)toupper((unsigned char)method[i]);
    }
    m[mlen] = '\0';
    if (plen == 0 || path[0] != '/' || plen > PATH_MAX_LEN)
        return luaL_error(L, "moonbar.http.route: path must start with '/' (at most %d bytes)", PATH_MAX_LEN);
    bool prefix = plen >= 2 && path[plen - 1] == '*' && path[plen - 2] == '/';
    for (size_t i = 0; i < plen; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= ' ' || c == 0x7f || c == '?' || c == '#' || (c == '*' && !(prefix && i == plen - 1)))
            return luaL_error(L, "moonbar.http.route: bad path '%s' (no spaces, '?' or '#'; '*' only as a final "
                                 "\"/*\")", path);
    }
    size_t max_body = DEFAULT_MAX_BODY;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (!k || strcmp(k, "max_body") != 0)
                return luaL_error(L, "moonbar.http.route: unknown option %s (it takes max_body)",
                                  k ? k : luaL_typename(L, -2));
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || (lua_Unsigned)lua_tointeger(L, -1) > MAX_BODY_LIMIT)
                return luaL_error(L, "moonbar.http.route: max_body must be an integer from 0 to %d bytes",
                                  (int)MAX_BODY_LIMIT);
            max_body = (size_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
    }
    size_t blen = prefix ? plen - 1 : plen; /* a final "/" and star: served as the prefix "/a/" */
    for (size_t i = 0; i < g->routes.len; i++) {
        struct lua_route *d = g->routes.items[i];
        if (d->prefix == prefix && strlen(d->base) == blen && memcmp(d->base, path, blen) == 0 &&
            strcmp(d->method, m) == 0)
            return luaL_error(L, "moonbar.http.route: %s %s is declared twice", m, path);
    }
    /* the config's http.paths (the bridge, long-poll) are claimed after the scripts start, so
     * the probe below cannot see them then: each claims its path and the paths under it */
    const struct mb_http_config *hc = &sc->r->cfg->http;
    for (size_t i = 0; i < hc->npaths; i++) {
        const char *cp = hc->paths[i].path;
        size_t cn = strlen(cp);
        while (cn > 1 && cp[cn - 1] == '/')
            cn--;
        if ((blen == cn || (blen == cn + 1 && path[cn] == '/')) && memcmp(path, cp, cn) == 0)
            return luaL_error(L, "moonbar.http.route: %s is the config's http path %s", path, cp);
    }
    struct lua_http_path *p = NULL;
    for (struct lua_http_path *q = engine(sc)->http_paths; q; q = q->next)
        if (q->prefix == prefix && strlen(q->base) == blen && memcmp(q->base, path, blen) == 0)
            p = q;
    for (struct lua_route *rt = p ? p->routes : NULL; rt; rt = rt->next)
        if (rt->sc != sc && strcmp(rt->method, m) == 0)
            return luaL_error(L, "moonbar.http.route: %s %s is served by script %s", m, path, rt->sc->name);
    struct lua_route *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path)) || !(d->base = strndup(path, blen))) {
        if (d)
            free(d->path);
        free(d);
        return luaL_error(L, "out of memory");
    }
    d->sc = sc;
    d->fn = LUA_NOREF;
    if (!p) { /* a path no script serves yet: is another service (the bridge, long-poll) on it? */
        int id = mb_httpd_route(sc->r, d->base, prefix, 0, on_http, NULL);
        if (id < 0) {
            route_free(d);
            return luaL_error(L, "moonbar.http.route: %s is claimed by another part of moonbar", path);
        }
        mb_httpd_unroute(sc->r, id);
    }
    if (mb_vec_push(&g->routes, d) < 0) {
        route_free(d);
        return luaL_error(L, "out of memory");
    }
    memcpy(d->method, m, mlen + 1);
    d->prefix = prefix;
    d->max_body = max_body;
    d->version = g->version;
    lua_pushvalue(L, 3);
    d->fn = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* ---- moonbar.http.request ---------------------------------------------------------------------- */

static void call_unlink(struct lua_http_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (c->sc->http_calls == c)
        c->sc->http_calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; lines && i < n; i++)
        free(lines[i]);
    free(lines);
}

static int box_gc(lua_State *L)
{
    struct lua_http_call *c = luaL_checkudata(L, 1, BOX_MT);
    if (c->call) {
        mb_httpc_cancel(c->call);
        c->call = NULL;
        call_unlink(c);
    }
    free(c->url);
    free_lines(c->lines, c->nlines);
    free(c->json);
    json_decref(c->tmp);
    json_decref(c->tmp2);
    free(c->error);
    free(c->body);
    free_lines(c->headers, c->nheaders);
    free(c->task); /* still waiting: its script went away, the coroutine dies with the state */
    memset(c, 0, sizeof *c);
    return 0;
}

static void on_answer(void *ctx, const struct mb_httpc_response *res)
{
    struct lua_http_call *c = ctx;
    c->call = NULL;
    call_unlink(c);
    c->done = true;
    c->status = res->status;
    c->failure = res->failure;
    if (res->failure != MB_HTTPC_OK || res->status <= 0) {
        c->error = strdup(res->error ? res->error : "no answer");
        if (c->failure == MB_HTTPC_OK)
            c->failure = MB_HTTPC_FAILED;
    } else {
        c->body = malloc(res->body_len + 1);
        if (c->body) {
            memcpy(c->body, res->body, res->body_len);
            c->body[res->body_len] = '\0';
            c->body_len = res->body_len;
        }
        size_t n = 0;
        while (res->headers && res->headers[n])
            n++;
        c->headers = calloc(n + 1, sizeof *c->headers);
        for (size_t i = 0; c->headers && i < n; i++)
            if ((c->headers[c->nheaders] = strdup(res->headers[i])))
                c->nheaders++;
        if (!c->body || !c->headers || c->nheaders < n) {
            free(c->error);
            c->error = strdup("out of memory for the answer");
            c->failure = MB_HTTPC_FAILED;
        }
    }
    if (!c->yielded) /* answered inside mb_httpc_start: l_request goes on by itself */
        return;
    struct task *t = c->task;
    if (!t || t->sc->closing)
        return; /* never resumed: the box frees the task with the Lua state */
    c->task = NULL;
    mb_script_run_task(t, 0);
}

static int raise_http(lua_State *L, struct lua_http_call *c, const char *uri, const char *why)
{
    const char *kind = strcmp(uri, URI_TIMEOUT) == 0     ? "timed out"
                       : strcmp(uri, URI_TOO_LARGE) == 0 ? "answer too large"
                                                         : "failed";
    char msg[600];
    snprintf(msg, sizeof msg, "moonbar.http.request %s %s %s: %s", c->method, c->url ? c->url : "?", kind,
             why ? why : "");
    json_decref(c->tmp);
    json_decref(c->tmp2);
    c->tmp = json_array(); /* freed by __gc if pushing raises */
    json_array_append_new(c->tmp, json_stringn_nocheck(msg, strlen(msg)));
    c->tmp2 = json_object();
    json_object_set_new(c->tmp2, "url", json_stringn_nocheck(c->url ? c->url : "", c->url ? strlen(c->url) : 0));
    mb_lua_push_error(L, uri, c->tmp, c->tmp2);
    json_decref(c->tmp);
    json_decref(c->tmp2);
    c->tmp = c->tmp2 = NULL;
    return lua_error(L);
}

/* The answer, in the coroutine (box at index 2). */
static int request_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    struct lua_http_call *c = luaL_checkudata(L, 2, BOX_MT);
    if (c->error || c->failure != MB_HTTPC_OK) {
        const char *uri = c->failure == MB_HTTPC_TOO_LARGE ? URI_TOO_LARGE
                          : c->failure == MB_HTTPC_TIMEOUT ? URI_TIMEOUT
                                                           : URI_FAILED;
        return raise_http(L, c, uri, c->error ? c->error : "out of memory");
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, c->status);
    lua_setfield(L, -2, "status");
    lua_createtable(L, 0, (int)c->nheaders);
    for (size_t i = 0; i < c->nheaders; i++) {
        const char *line = c->headers[i];
        const char *colon = strchr(line, ':');
        if (!colon || colon == line)
            continue;
        push_lower(L, line, (size_t)(colon - line));
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vn = strlen(v);
        while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t' || v[vn - 1] == '\r' || v[vn - 1] == '\n'))
            vn--;
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, v, vn);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, v, vn);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, c->body ? c->body : "", c->body_len);
    lua_setfield(L, -2, "body");
    free(c->body);
    c->body = NULL;
    free_lines(c->headers, c->nheaders);
    c->headers = NULL;
    c->nheaders = 0;
    return 1;
}

/* opts[key]: a number from min to max, or dflt when absent. */
static double opt_number(lua_State *L, const char *key, double dflt, double min, double max)
{
    int ty = lua_getfield(L, 1, key);
    double v = dflt;
    if (ty != LUA_TNIL) {
        double x = lua_tonumber(L, -1);
        if (ty != LUA_TNUMBER || !(x >= min && x <= max))
            luaL_error(L, "moonbar.http.request: %s must be a number from %I to %I, got %s", key, (lua_Integer)min,
                       (lua_Integer)max, ty == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
        v = x;
    }
    lua_pop(L, 1);
    return v;
}

static int l_request(lua_State *L)
{
    struct mb_script *sc = mb_script_of(L);
    struct task *t = mb_script_current_task(sc);
    if (!t || t->co != L || !lua_isyieldable(L))
        return luaL_error(L, "moonbar.http.request works in procedures, subscribers, timers and http handlers (not "
                             "while the script loads, in an authorizer or policy, nor in a coroutine the script made)");
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    static const char *const keys[] = { "method", "url", "headers", "body", "timeout", "max_bytes", NULL };
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        bool known = false;
        for (int i = 0; k && keys[i]; i++)
            known = known || strcmp(k, keys[i]) == 0;
        if (!known)
            return luaL_error(L, "moonbar.http.request: unknown key %s (it takes method, url, headers, body, timeout "
                                 "and max_bytes)", k ? k : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
    struct lua_http_call *c = lua_newuserdatauv(L, sizeof *c, 0); /* 2: freed by __gc whatever happens */
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, BOX_MT);
    c->sc = sc;

    if (lua_getfield(L, 1, "url") != LUA_TSTRING)
        return luaL_error(L, "moonbar.http.request: url must be a string, got %s", luaL_typename(L, -1));
    size_t ulen;
    const char *url = lua_tolstring(L, -1, &ulen);
    if (!(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) || ulen > 8192)
        return luaL_error(L, "moonbar.http.request: url must start with http:// or https://");
    for (size_t i = 0; i < ulen; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
            return luaL_error(L, "moonbar.http.request: url has a space or control character");
    if (!(c->url = strdup(url)))
        return luaL_error(L, "out of memory");
    lua_pop(L, 1);

    int bty = lua_getfield(L, 1, "body"); /* 3 */
    if (bty != LUA_TNIL && bty != LUA_TSTRING && bty != LUA_TTABLE)
        return luaL_error(L, "moonbar.http.request: body must be a string or a table (sent as JSON), got %s",
                          luaL_typename(L, -1));
    int mty = lua_getfield(L, 1, "method"); /* 4 */
    if (mty == LUA_TNIL) {
        snprintf(c->method, sizeof c->method, "%s", bty == LUA_TNIL ? "GET" : "POST");
    } else {
        size_t mlen;
        const char *m = mty == LUA_TSTRING ? lua_tolstring(L, -1, &mlen) : NULL;
        if (!m || mlen == 0 || mlen > METHOD_MAX)
            return luaL_error(L, "moonbar.http.request: method must be a method name such as \"GET\"");
        for (size_t i = 0; i < mlen; i++) {
            if (!is_tchar((unsigned char)m[i]))
                return luaL_error(L, "moonbar.http.request: '%s' is not a method name", m);
            c->method[i] = (char)toupper((unsigned char)m[i]);
        }
        c->method[mlen] = '\0';
    }
    lua_pop(L, 1);
    double timeout = opt_number(L, "timeout", DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
    double max_bytes = opt_number(L, "max_bytes", (double)DEFAULT_MAX_BYTES, 1, MAX_BYTES_LIMIT);

    lua_getfield(L, 1, "headers"); /* 4 */
    bool typed;
    push_header_lines(L, 4, "moonbar.http.request: headers", false, &typed); /* 5 */
    size_t hlen;
    const char *lines = lua_tolstring(L, 5, &hlen);
    size_t nlines = 0;
    for (size_t i = 0; i + 1 < hlen; i++)
        nlines += lines[i] == '\r' && lines[i + 1] == '\n';
    const char *body = NULL;
    size_t body_len = 0;
    char err[200];
    if (bty == LUA_TTABLE) {
        json_t *j = mb_lua_to_json(L, 3, err, sizeof err);
        if (!j)
            return luaL_error(L, "moonbar.http.request: body: %s", err);
        c->json = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!c->json)
            return luaL_error(L, "out of memory");
        body = c->json;
        body_len = strlen(c->json);
        if (!typed)
            nlines++;
    } else if (bty == LUA_TSTRING) {
        body = lua_tolstring(L, 3, &body_len);
    }
    if (!(c->lines = calloc(nlines + 1, sizeof *c->lines)))
        return luaL_error(L, "out of memory");
    for (const char *p = lines, *end = lines + hlen; p < end;) {
        const char *e = strstr(p, "\r\n");
        if (!e)
            break;
        if (!(c->lines[c->nlines] = strndup(p, (size_t)(e - p))))
            return luaL_error(L, "out of memory");
        c->nlines++;
        p = e + 2;
    }
    if (bty == LUA_TTABLE && !typed && !(c->lines[c->nlines++] = strdup("Content-Type: application/json")))
        return luaL_error(L, "out of memory");

    struct mb_httpc_request req = {
        .method = c->method, .url = c->url, .headers = (const char *const *)c->lines, .body = body,
        .body_len = body_len, .timeout = timeout / 1000.0, .max_bytes = (size_t)max_bytes,
    };
    if (mb_httpc_check(&req, err, sizeof err) < 0)
        return luaL_error(L, "moonbar.http.request: %s", err);
    c->task = t;
    c->call = mb_httpc_start(sc->r, &req, on_answer, c);
    free_lines(c->lines, c->nlines); /* copied by mb_httpc */
    c->lines = NULL;
    c->nlines = 0;
    free(c->json);
    c->json = NULL;
    lua_settop(L, 2);
    if (c->done) { /* answered at once */
        c->call = NULL;
        c->task = NULL;
        return request_k(L, LUA_OK, 0);
    }
    if (!c->call) {
        c->task = NULL;
        return raise_http(L, c, URI_FAILED, "cannot start the request");
    }
    c->next = sc->http_calls;
    if (c->next)
        c->next->prev = c;
    sc->http_calls = c;
    c->yielded = true;
    t->waiting = true;
    return lua_yieldk(L, 0, 0, request_k);
}

/* ---- moonbar.json ------------------------------------------------------------------------------ */

static int push_json(lua_State *L)
{
    mb_lua_push_json(L, lua_touserdata(L, 1));
    return 1;
}

static int push_cstring(lua_State *L)
{
    lua_pushstring(L, lua_touserdata(L, 1));
    return 1;
}

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    char err[200];
    json_t *j = mb_lua_to_json(L, 1, err, sizeof err);
    if (!j)
        return luaL_error(L, "moonbar.json.encode: %s", err);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s)
        return luaL_error(L, "out of memory");
    lua_pushcfunction(L, push_cstring); /* protected: s is freed even if Lua has no memory for it */
    lua_pushlightuserdata(L, s);
    int st = lua_pcall(L, 1, 1, 0);
    free(s);
    return st == LUA_OK ? 1 : lua_error(L);
}

static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        return luaL_error(L, "moonbar.json.decode: %s (line %d, column %d)", e.text, e.line, e.column);
    lua_pushcfunction(L, push_json);
    lua_pushlightuserdata(L, j);
    int st = lua_pcall(L, 1, 1, 0);
    json_decref(j);
    if (st != LUA_OK)
        return lua_error(L);
    return 1;
}

/* ---- opening and stopping ------------------------------------------------------------------------ */

void mb_lua_http_open(lua_State *L, struct mb_script *sc)
{
    (void)sc;
    if (luaL_newmetatable(L, BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = { { "route", l_route }, { "request", l_request }, { NULL, NULL } };
    luaL_newlib(L, fns);
}

void mb_lua_json_open(lua_State *L)
{
    static const luaL_Reg fns[] = { { "encode", l_json_encode }, { "decode", l_json_decode }, { NULL, NULL } };
    luaL_newlib(L, fns);
}

void mb_lua_http_stop(struct mb_script *sc)
{
    struct mb_lua *lua = engine(sc);
    /* routes first: answering a request below may start the next one on its connection */
    for (struct lua_http_path *p = lua ? lua->http_paths : NULL, *next; p; p = next) {
        next = p->next;
        for (struct lua_route **pp = &p->routes; *pp;) {
            struct lua_route *rt = *pp;
            if (rt->sc == sc) {
                *pp = rt->next;
                route_free(rt);
            } else {
                pp = &rt->next;
            }
        }
        path_sync(lua, p);
    }
    while (sc->http_calls) { /* their tasks are freed with the Lua state, by the boxes */
        struct lua_http_call *c = sc->http_calls;
        mb_httpc_cancel(c->call);
        c->call = NULL;
        call_unlink(c);
    }
    while (sc->http_reqs) {
        struct lua_http_req *q = sc->http_reqs;
        struct mb_http_exchange *ex = q->ex;
        req_unlink(q);
        free(q);
        if (ex) {
            mb_http_on_abandon(ex, NULL, NULL);
            mb_http_reply_text(ex, 503, NULL, "the script stopped: moonbar is shutting down\n");
        }
    }
}
