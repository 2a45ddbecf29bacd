/* The moonbar module scripts see: registrations, subscriptions, publications, calls, timers,
 * state, logs, sessions, and (in a realm's policy script) the authorizer, the authenticator and
 * custom invocation policies. Every function checks its arguments and raises a clear error. */
#include "lua_internal.h"

#include <stdlib.h>
#include <string.h>

#define ERROR_MT "moonbar.error"
#define RESULT_MT "moonbar.result"
#define TIMER_MT "moonbar.timer"

struct lua_timer {
    uv_timer_t h;
    struct mb_script *sc;
    struct gen *gen;
    int fn;
    bool repeat;
    struct lua_timer **handle; /* the script's handle userdata, or NULL if collected */
};

static struct mb_script *script(lua_State *L)
{
    return mb_script_of(L);
}

/* uri argument i, checked with the realm's rule (patterns may have empty components). */
static const char *check_uri(lua_State *L, int i, int match)
{
    struct mb_script *sc = script(L);
    size_t len;
    const char *uri = luaL_checklstring(L, i, &len);
    if (!mb_uri_valid(uri, len, sc->realm->uri_rule, match != MB_MATCH_EXACT))
        luaL_error(L, "invalid URI '%s'", uri);
    return uri;
}

static int opt_match(lua_State *L, int opts)
{
    if (lua_isnoneornil(L, opts))
        return MB_MATCH_EXACT;
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_getfield(L, opts, "match");
    int match = MB_MATCH_EXACT;
    if (!lua_isnil(L, -1)) {
        size_t n;
        const char *s = luaL_checklstring(L, -1, &n);
        match = mb_match_policy_parse(s, n);
        if (match < 0)
            luaL_error(L, "match must be \"exact\", \"prefix\" or \"wildcard\", not \"%s\"", s);
    }
    lua_pop(L, 1);
    return match;
}

/* The Lua value at i (nil: none) as a JSON args list or kwargs dict; NULL with the reason in
 * err (and *bad set) if it cannot be one. Never raises: the caller frees, then raises. */
static json_t *payload_arg(lua_State *L, int i, bool list, bool *bad, char *err, size_t n)
{
    if (lua_isnoneornil(L, i))
        return NULL;
    *bad = true;
    if (!lua_istable(L, i)) {
        snprintf(err, n, "%s must be a table, got %s", list ? "args" : "kwargs", luaL_typename(L, i));
        return NULL;
    }
    char why[200];
    json_t *j = mb_lua_to_json(L, i, why, sizeof why);
    if (!j) {
        snprintf(err, n, "%s: %s", list ? "args" : "kwargs", why);
        return NULL;
    }
    if (list && json_is_object(j) && json_object_size(j) == 0) { /* {} as an empty list */
        json_decref(j);
        j = json_array();
    }
    if (list ? !json_is_array(j) : !json_is_object(j)) {
        snprintf(err, n, list ? "args must be a list" : "kwargs must be a table with string keys");
        json_decref(j);
        return NULL;
    }
    *bad = false;
    return j;
}

/* args at index i and kwargs at i + 1, both converted or neither (then raises). */
static void payloads(lua_State *L, int i, json_t **args, json_t **kwargs)
{
    char err[256];
    bool bad = false;
    *args = payload_arg(L, i, true, &bad, err, sizeof err);
    *kwargs = bad ? NULL : payload_arg(L, i + 1, false, &bad, err, sizeof err);
    if (bad) {
        json_decref(*args);
        json_decref(*kwargs);
        luaL_error(L, "%s", err);
    }
}

static void append_payload(json_t *msg, json_t *args, json_t *kwargs)
{
    if (args || kwargs)
        json_array_append_new(msg, args ? args : json_array());
    if (kwargs)
        json_array_append_new(msg, kwargs);
}

static int l_register(lua_State *L)
{
    struct mb_script *sc = script(L);
    int match = opt_match(L, 3);
    const char *uri = check_uri(L, 1, match);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    const char *invoke = NULL;
    bool disclose = false;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "invoke");
        invoke = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
        int t = lua_getfield(L, 3, "disclose_caller");
        if (t != LUA_TNIL && t != LUA_TBOOLEAN)
            return luaL_error(L, "disclose_caller must be a boolean, got %s", luaL_typename(L, -1));
        disclose = lua_toboolean(L, -1);
    }
    if (mb_uri_reserved(uri, strlen(uri)))
        return luaL_error(L, "'%s' is in the reserved wamp. namespace", uri);
    if (mb_script_declare(sc, L, H_REGISTER, uri, match, invoke, disclose, 2) < 0)
        return luaL_error(L, "out of memory");
    return 0;
}

static int l_subscribe(lua_State *L)
{
    struct mb_script *sc = script(L);
    int match = opt_match(L, 3);
    const char *uri = check_uri(L, 1, match);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    bool get_retained = false;
    if (lua_istable(L, 3)) {
        int t = lua_getfield(L, 3, "get_retained");
        if (t != LUA_TNIL && t != LUA_TBOOLEAN)
            return luaL_error(L, "get_retained must be a boolean, got %s", luaL_typename(L, -1));
        get_retained = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    /* a subscription's flag is get_retained (a registration's is disclose_caller) */
    if (mb_script_declare(sc, L, H_SUBSCRIBE, uri, match, NULL, get_retained, 2) < 0)
        return luaL_error(L, "out of memory");
    return 0;
}

/* Checks opts[key] of a publish: absent, or a list of session IDs (ids) or of strings. */
static void publish_list(lua_State *L, int opts, const char *key, bool ids)
{
    int t = lua_getfield(L, opts, key);
    if (t != LUA_TNIL) {
        if (t != LUA_TTABLE)
            luaL_error(L, "%s must be a list of %s, got %s", key, ids ? "session IDs" : "strings",
                       luaL_typename(L, -1));
        for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, -1); i <= n; i++) {
            lua_rawgeti(L, -1, i);
            if (ids ? !lua_isinteger(L, -1) || !mb_id_valid(lua_tointeger(L, -1)) : lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "%s[%d] must be a %s", key, (int)i, ids ? "session ID" : "string");
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

static const char *const publish_lists[] = { "eligible", "exclude", "eligible_authid", "exclude_authid",
                                             "eligible_authrole", "exclude_authrole" };
static const char *const publish_flags[] = { "exclude_me", "retain", "disclose_me" };

static int l_publish(lua_State *L)
{
    struct mb_script *sc = script(L);
    const char *uri = check_uri(L, 1, MB_MATCH_EXACT);
    if (mb_uri_reserved(uri, strlen(uri)))
        return luaL_error(L, "'%s' is in the reserved wamp. namespace", uri);
    int flags[3] = { -1, -1, -1 };
    bool has_opts = !lua_isnoneornil(L, 4);
    if (has_opts) {
        luaL_checktype(L, 4, LUA_TTABLE);
        for (int k = 0; k < 3; k++) {
            int t = lua_getfield(L, 4, publish_flags[k]);
            if (t == LUA_TBOOLEAN)
                flags[k] = lua_toboolean(L, -1);
            else if (t != LUA_TNIL)
                return luaL_error(L, "%s must be a boolean, got %s", publish_flags[k], luaL_typename(L, -1));
            lua_pop(L, 1);
        }
        for (int k = 0; k < 6; k++)
            publish_list(L, 4, publish_lists[k], k < 2);
    }
    json_t *args, *kwargs;
    payloads(L, 2, &args, &kwargs); /* raises before anything else is allocated */
    json_t *opts = json_object();
    for (int k = 0; k < 3; k++)
        if (flags[k] >= 0)
            json_object_set_new(opts, publish_flags[k], json_boolean(flags[k]));
    if (has_opts)
        for (int k = 0; k < 6; k++) {
            if (lua_getfield(L, 4, publish_lists[k]) == LUA_TTABLE) {
                json_t *list = json_array();
                for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, -1); i <= n; i++) {
                    lua_rawgeti(L, -1, i);
                    json_array_append_new(list, k < 2 ? json_integer((json_int_t)lua_tointeger(L, -1))
                                                      : json_string(lua_tostring(L, -1)));
                    lua_pop(L, 1);
                }
                json_object_set_new(opts, publish_lists[k], list);
            }
            lua_pop(L, 1);
        }
    json_t *msg = json_pack("[iIos]", MB_PUBLISH, (json_int_t)sc->next_request++, opts, uri);
    append_payload(msg, args, kwargs);
    mb_script_send(sc, msg);
    return 0;
}

/* moonbar.call's stack while it waits: 1 uri, 2 args, 3 kwargs, 4 opts, then what the answer
 * resumes it with: (true, result) or (false, error object), or for a progressive result
 * ("progress", args, kwargs), which runs opts.progress and waits again. */
static int call_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    if (lua_type(L, 5) == LUA_TBOOLEAN) {
        lua_pushvalue(L, 6);
        if (!lua_toboolean(L, 5))
            return lua_error(L);
        return 1;
    }
    struct mb_script *sc = script(L);
    uint64_t req = (uint64_t)ctx;
    lua_getfield(L, 4, "progress");
    lua_pushvalue(L, 6);
    lua_pushvalue(L, 7);
    int st = lua_pcall(L, 2, 1, 0);
    if (st != LUA_OK) {
        /* the task fails with the callback's error; the call is canceled, its answer ignored */
        free(mb_map_del_id(&sc->waiting, req));
        mb_script_send(sc, json_pack("[iI{ss}]", MB_CANCEL, (json_int_t)req, "mode", "killnowait"));
        return lua_error(L);
    }
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) /* false: cancel; the ERROR resumes us */
        mb_script_send(sc, json_pack("[iI{ss}]", MB_CANCEL, (json_int_t)req, "mode", "killnowait"));
    lua_settop(L, 4);
    struct task *t = mb_script_current_task(sc);
    if (t)
        t->waiting = true;
    return lua_yieldk(L, 0, ctx, call_k);
}

static int l_call(lua_State *L)
{
    struct mb_script *sc = script(L);
    lua_settop(L, 4); /* call_k finds the answer at 5 */
    const char *uri = check_uri(L, 1, MB_MATCH_EXACT);
    struct task *t = mb_script_current_task(sc);
    if (!t || t->co != L || !lua_isyieldable(L))
        return luaL_error(L, "moonbar.call works in procedures, subscribers and timers (not while the script "
                             "loads, in an authorizer or policy, nor in a coroutine the script made)");
    lua_Integer timeout = 0;
    bool progress = false, disclose = false;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "timeout");
        timeout = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        int ty = lua_getfield(L, 4, "progress");
        if (ty != LUA_TNIL && ty != LUA_TFUNCTION)
            return luaL_error(L, "progress must be a function, got %s", luaL_typename(L, -1));
        progress = ty == LUA_TFUNCTION;
        ty = lua_getfield(L, 4, "disclose_me");
        if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
            return luaL_error(L, "disclose_me must be a boolean, got %s", luaL_typename(L, -1));
        disclose = lua_toboolean(L, -1);
        lua_pop(L, 3);
    } else if (!lua_isnil(L, 4)) {
        return luaL_error(L, "opts must be a table, got %s", luaL_typename(L, 4));
    }
    json_t *args, *kwargs;
    payloads(L, 2, &args, &kwargs);
    json_t *opts = json_object();
    if (timeout > 0)
        json_object_set_new(opts, "timeout", json_integer(timeout));
    if (progress)
        json_object_set_new(opts, "receive_progress", json_true());
    if (disclose)
        json_object_set_new(opts, "disclose_me", json_true());
    uint64_t req = mb_script_request(sc, (struct waiting){ W_CALL, t, NULL });
    json_t *msg = json_pack("[iIos]", MB_CALL, (json_int_t)req, opts, uri);
    append_payload(msg, args, kwargs);
    t->waiting = true;
    mb_script_send(sc, msg); /* the answer is queued for this script, never delivered right now */
    return lua_yieldk(L, 0, (lua_KContext)req, call_k);
}

/* moonbar.progress(args, kwargs): a progressive result of the procedure running, sent at once;
 * true, or false (nothing sent) when its caller did not ask for progressive results. */
static int l_progress(lua_State *L)
{
    struct mb_script *sc = script(L);
    struct task *t = mb_script_current_task(sc);
    if (!t || t->kind != T_INVOCATION)
        return luaL_error(L, "moonbar.progress works in procedures only");
    if (!t->receive_progress) {
        lua_pushboolean(L, 0);
        return 1;
    }
    json_t *args, *kwargs;
    payloads(L, 1, &args, &kwargs);
    json_t *msg = json_pack("[iI{sb}]", MB_YIELD, (json_int_t)t->invocation, "progress", 1);
    append_payload(msg, args, kwargs);
    mb_script_send(sc, msg);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- timers ---- */

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void mb_lua_timer_cancel(struct lua_timer *t)
{
    if (!t->sc)
        return;
    if (t->gen)
        mb_vec_remove(&t->gen->timers, t);
    if (t->handle)
        *t->handle = NULL;
    if (t->fn != LUA_NOREF)
        luaL_unref(t->sc->L, LUA_REGISTRYINDEX, t->fn);
    t->sc = NULL;
    uv_timer_stop(&t->h);
    uv_close((uv_handle_t *)&t->h, timer_closed);
}

static void on_timer(uv_timer_t *h)
{
    struct lua_timer *t = h->data;
    struct mb_script *sc = t->sc;
    if (!sc)
        return;
    struct task *task = mb_script_new_task(sc, T_TIMER, t->fn);
    if (!t->repeat)
        mb_lua_timer_cancel(t); /* the task holds the function now */
    if (task)
        mb_script_run_task(task, 0);
}

static int new_timer(lua_State *L, bool repeat)
{
    struct mb_script *sc = script(L);
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (ms < 0 || (repeat && ms < 1))
        return luaL_error(L, "timer interval must be %s milliseconds", repeat ? "at least 1" : "0 or more");
    struct gen *g = sc->loading ? sc->loading : sc->gen;
    struct lua_timer *t = calloc(1, sizeof *t);
    if (!t || !g || mb_vec_push(&g->timers, t) < 0) {
        free(t);
        return luaL_error(L, "cannot create a timer now");
    }
    t->sc = sc;
    t->gen = g;
    t->repeat = repeat;
    lua_pushvalue(L, 2);
    t->fn = luaL_ref(L, LUA_REGISTRYINDEX);
    uv_timer_init(sc->r->loop, &t->h);
    t->h.data = t;
    uv_timer_start(&t->h, on_timer, (uint64_t)ms, repeat ? (uint64_t)ms : 0);
    struct lua_timer **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = t;
    t->handle = ud;
    luaL_setmetatable(L, TIMER_MT);
    return 1;
}

static int l_timer(lua_State *L) { return new_timer(L, false); }
static int l_every(lua_State *L) { return new_timer(L, true); }

static int timer_cancel(lua_State *L)
{
    struct lua_timer **ud = luaL_checkudata(L, 1, TIMER_MT);
    if (*ud)
        mb_lua_timer_cancel(*ud);
    return 0;
}

static int timer_gc(lua_State *L)
{
    struct lua_timer **ud = luaL_checkudata(L, 1, TIMER_MT);
    if (*ud)
        (*ud)->handle = NULL; /* the timer goes on; only the handle is gone */
    return 0;
}

/* ---- logs, sessions, values ---- */

static int log_at(lua_State *L, int level)
{
    struct mb_script *sc = script(L);
    int n = lua_gettop(L); /* before luaL_buffinit, which may push a box */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    mb_log(&sc->r->log, level, "script %s: %s", sc->name, lua_tostring(L, -1));
    return 0;
}
static int l_log_error(lua_State *L) { return log_at(L, MB_LOG_ERROR); }
static int l_log_warn(lua_State *L) { return log_at(L, MB_LOG_WARN); }
static int l_log_info(lua_State *L) { return log_at(L, MB_LOG_INFO); }
static int l_log_debug(lua_State *L) { return log_at(L, MB_LOG_DEBUG); }

void mb_lua_push_session(lua_State *L, struct mb_session *s)
{
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)s->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, s->authid ? s->authid : "");
    lua_setfield(L, -2, "authid");
    lua_pushstring(L, s->authrole ? s->authrole : "");
    lua_setfield(L, -2, "authrole");
    lua_pushstring(L, s->authmethod ? s->authmethod : "");
    lua_setfield(L, -2, "authmethod");
    lua_pushstring(L, s->realm ? s->realm->name : "");
    lua_setfield(L, -2, "realm");
    lua_createtable(L, 0, 2);
    lua_pushstring(L, s->tr->name);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, s->peer);
    lua_setfield(L, -2, "peer");
    lua_setfield(L, -2, "transport");
}

static int l_session(lua_State *L)
{
    struct mb_script *sc = script(L);
    lua_Integer id = luaL_checkinteger(L, 1);
    struct mb_session *s = id > 0 ? mb_map_get_id(&sc->r->sessions, (uint64_t)id) : NULL;
    if (!s || s->realm != sc->realm)
        lua_pushnil(L);
    else
        mb_lua_push_session(L, s);
    return 1;
}

/* moonbar.now(): milliseconds of the loop's monotonic clock (for deadlines and durations). */
static int l_now(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)uv_now(script(L)->r->loop));
    return 1;
}

/* moonbar.seed(): 53 unpredictable bits from the router's generator (seeded from getrandom),
 * e.g. to seed a game's own dice. */
static int l_seed(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mb_idgen_next(&script(L)->r->ids));
    return 1;
}

/* moonbar.token(): a random 24-character string of [a-z0-9] (seat tokens, room IDs). */
static int l_token(lua_State *L)
{
    lua_Integer n = luaL_optinteger(L, 1, 24);
    if (n < 1 || n > 64)
        return luaL_error(L, "token length must be 1 to 64");
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char buf[64];
    struct mb_idgen *g = &script(L)->r->ids;
    for (lua_Integer i = 0; i < n; i++)
        buf[i] = alphabet[mb_idgen_u64(g) % 36];
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (lua_isnil(L, 1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    mb_lua_mark_array(L, 1);
    return 1;
}

void mb_lua_push_error(lua_State *L, const char *uri, json_t *args, json_t *kwargs)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, uri ? uri : "wamp.error.runtime_error");
    lua_setfield(L, -2, "uri");
    if (args)
        mb_lua_push_json(L, args);
    else {
        lua_newtable(L);
        mb_lua_mark_array(L, -1);
    }
    lua_setfield(L, -2, "args");
    if (kwargs)
        mb_lua_push_json(L, kwargs);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "kwargs");
    json_t *first = json_array_get(args, 0);
    if (json_is_string(first)) {
        lua_pushstring(L, json_string_value(first));
        lua_setfield(L, -2, "message");
    }
    luaL_setmetatable(L, ERROR_MT);
}

static int l_error(lua_State *L)
{
    size_t n;
    const char *uri = luaL_checklstring(L, 1, &n);
    if (!mb_uri_valid(uri, n, MB_URI_LOOSE, false))
        return luaL_error(L, "invalid error URI '%s'", uri);
    json_t *args, *kwargs;
    payloads(L, 2, &args, &kwargs);
    mb_lua_push_error(L, uri, args, kwargs);
    json_decref(args);
    json_decref(kwargs);
    return 1;
}

static int error_tostring(lua_State *L)
{
    lua_getfield(L, 1, "uri");
    lua_getfield(L, 1, "message");
    if (lua_isstring(L, -1))
        lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
    else
        lua_pushvalue(L, -2);
    return 1;
}

static int l_result(lua_State *L)
{
    lua_settop(L, 2);
    lua_createtable(L, 0, 2);
    if (lua_isnil(L, 1)) {
        lua_newtable(L);
        mb_lua_mark_array(L, -1);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_pushvalue(L, 1);
    }
    lua_setfield(L, -2, "args");
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "kwargs");
    }
    luaL_setmetatable(L, RESULT_MT);
    return 1;
}

static bool has_mt(lua_State *L, int idx, const char *mt)
{
    if (!lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, mt);
    bool eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

static int l_is_error(lua_State *L)
{
    lua_pushboolean(L, lua_istable(L, 1) && has_mt(L, 1, ERROR_MT));
    return 1;
}

const char *mb_lua_error_payload(lua_State *L, int idx, json_t **args, json_t **kwargs, char *buf, size_t n)
{
    idx = lua_absindex(L, idx);
    char err[200];
    *args = *kwargs = NULL;
    if (lua_istable(L, idx) && has_mt(L, idx, ERROR_MT)) {
        lua_getfield(L, idx, "uri");
        snprintf(buf, n, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "wamp.error.runtime_error");
        lua_pop(L, 1);
        lua_getfield(L, idx, "args");
        if (lua_istable(L, -1))
            *args = mb_lua_to_json(L, -1, err, sizeof err);
        lua_pop(L, 1);
        lua_getfield(L, idx, "kwargs");
        if (lua_istable(L, -1))
            *kwargs = mb_lua_to_json(L, -1, err, sizeof err);
        lua_pop(L, 1);
        if (*args && !json_is_array(*args)) {
            json_decref(*args);
            *args = json_array();
        }
        if (*kwargs && (!json_is_object(*kwargs) || json_object_size(*kwargs) == 0)) {
            json_decref(*kwargs);
            *kwargs = NULL;
        }
        return buf;
    }
    const char *msg = luaL_tolstring(L, idx, NULL);
    *args = json_pack("[s]", msg);
    lua_pop(L, 1);
    return mb_reason_uri(MB_R_RUNTIME_ERROR);
}

int mb_lua_result_payload(lua_State *L, int first, int nres, json_t **args, json_t **kwargs, char *err, size_t n)
{
    *args = *kwargs = NULL;
    if (nres == 0)
        return 0;
    if (nres == 1 && lua_istable(L, first) && has_mt(L, first, RESULT_MT)) {
        lua_getfield(L, first, "args");
        if (lua_istable(L, -1) && !(*args = mb_lua_to_json(L, -1, err, n))) {
            lua_pop(L, 1);
            return -1;
        }
        lua_pop(L, 1);
        if (*args && !json_is_array(*args)) {
            json_decref(*args);
            *args = json_array(); /* an empty plain table */
        }
        lua_getfield(L, first, "kwargs");
        if (lua_istable(L, -1) && !(*kwargs = mb_lua_to_json(L, -1, err, n))) {
            lua_pop(L, 1);
            json_decref(*args);
            *args = NULL;
            return -1;
        }
        lua_pop(L, 1);
        return 0;
    }
    *args = json_array();
    for (int i = 0; i < nres; i++) {
        json_t *v = mb_lua_to_json(L, first + i, err, n);
        if (!v) {
            json_decref(*args);
            *args = NULL;
            return -1;
        }
        json_array_append_new(*args, v);
    }
    return 0;
}

/* ---- policy script ---- */

static struct gen *policy_loading(lua_State *L, const char *what)
{
    struct mb_script *sc = script(L);
    if (!sc->is_policy)
        luaL_error(L, "moonbar.%s belongs in the realm's policy script", what);
    if (!sc->loading)
        luaL_error(L, "moonbar.%s is set while the policy script loads", what);
    return sc->loading;
}

/* moonbar.authorize(fn) / moonbar.authenticate(fn): keeps fn in the loading version. */
static int set_hook(lua_State *L, int *ref)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, *ref);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int l_authorize(lua_State *L) { return set_hook(L, &policy_loading(L, "authorize")->authorize); }
static int l_authenticate(lua_State *L) { return set_hook(L, &policy_loading(L, "authenticate")->authenticate); }

static int l_policy(lua_State *L)
{
    struct gen *g = policy_loading(L, "policy");
    size_t n;
    const char *name = luaL_checklstring(L, 1, &n);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    static const char *const builtin[] = { "single", "roundrobin", "random", "first", "last" };
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(name, builtin[i]) == 0)
            return luaL_error(L, "'%s' is a built-in invocation policy", name);
    void *old = mb_map_get_str(&g->policies, name, n);
    if (old) {
        luaL_unref(L, LUA_REGISTRYINDEX, (int)(intptr_t)old);
    } else {
        char **names = realloc(g->policy_names, (g->npolicy_names + 1) * sizeof *names);
        if (!names)
            return luaL_error(L, "out of memory");
        g->policy_names = names;
        if (!(names[g->npolicy_names] = strdup(name)))
            return luaL_error(L, "out of memory");
        g->npolicy_names++;
        name = names[g->npolicy_names - 1];
    }
    lua_pushvalue(L, 2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (mb_map_put_str(&g->policies, name, n, (void *)(intptr_t)ref) < 0)
        return luaL_error(L, "out of memory");
    return 0;
}

void mb_lua_api_open(lua_State *L, struct mb_script *sc)
{
    static const luaL_Reg fns[] = {
        { "register", l_register }, { "subscribe", l_subscribe }, { "publish", l_publish },
        { "call", l_call }, { "progress", l_progress }, { "timer", l_timer }, { "every", l_every }, { "session", l_session },
        { "now", l_now }, { "seed", l_seed }, { "token", l_token },
        { "array", l_array }, { "error", l_error }, { "result", l_result }, { "is_error", l_is_error },
        { "authorize", l_authorize }, { "authenticate", l_authenticate }, { "policy", l_policy },
        { NULL, NULL },
    };
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushstring(L, "moonbar.error");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    luaL_newmetatable(L, RESULT_MT);
    lua_pop(L, 1);
    if (luaL_newmetatable(L, TIMER_MT)) {
        lua_newtable(L);
        lua_pushcfunction(L, timer_cancel);
        lua_setfield(L, -2, "cancel");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, timer_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);

    luaL_newlib(L, fns);
    static const luaL_Reg logs[] = { { "error", l_log_error }, { "warn", l_log_warn }, { "info", l_log_info },
                                     { "debug", l_log_debug }, { NULL, NULL } };
    luaL_newlib(L, logs);
    lua_setfield(L, -2, "log");
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->state);
    lua_setfield(L, -2, "state");
    lua_pushlightuserdata(L, mb_lua_null());
    lua_setfield(L, -2, "null");
    lua_pushstring(L, sc->name);
    lua_setfield(L, -2, "script");
    lua_pushstring(L, sc->realm->name);
    lua_setfield(L, -2, "realm");
    lua_pushinteger(L, (lua_Integer)sc->versions + 1);
    lua_setfield(L, -2, "version");
    mb_lua_store_open(L, sc); lua_setfield(L, -2, "store");
    mb_lua_http_open(L, sc);
    lua_setfield(L, -2, "http");
    mb_lua_json_open(L);
    lua_setfield(L, -2, "json");
}
