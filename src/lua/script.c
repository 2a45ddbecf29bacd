/* Scripts: their Lua states, versions, callbacks and the in-process session through which they
 * take part in routing. See mb_lua.h for the model. */
#include "lua_internal.h"
#include "mb_broker.h"
#include "mb_store.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef MB_LUA_LIB
#define MB_LUA_LIB "lua/lib"
#endif

#define HOOK_EVERY 1000 /* instructions between two looks at the clock */
#define DEBOUNCE_MS 30

/* ---- memory and time budgets ------------------------------------------------------------ */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct mb_script *sc = ud;
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        sc->mem -= osize;
        free(ptr);
        return NULL;
    }
    if (nsize > osize && sc->mem + (nsize - osize) > sc->mem_limit)
        return NULL; /* Lua raises "not enough memory" in the callback; the state stays usable */
    void *n = realloc(ptr, nsize);
    if (n)
        sc->mem = sc->mem - osize + nsize;
    return n;
}

struct mb_script *mb_script_of(lua_State *L)
{
    return *(struct mb_script **)lua_getextraspace(L);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct mb_script *sc = mb_script_of(L);
    if (!sc->killed && uv_hrtime() < sc->deadline)
        return;
    if (!sc->killed) {
        sc->killed = true;
        /* from now on every line raises again, so that pcall cannot swallow the stop */
        lua_sethook(L, hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    }
    char msg[96];
    snprintf(msg, sizeof msg, "callback stopped: it ran longer than its budget of %.0f ms", sc->budget * 1000.0);
    luaL_where(L, 1);
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    lua_error(L);
}

void mb_script_begin(struct mb_script *sc)
{
    if (sc->depth++ == 0) {
        sc->killed = false;
        double budget = sc->r->cfg->lua_callback_timeout;
        if (sc->stopping && budget < 5.0)
            budget = 5.0; /* on_stop: shutdown is no hot path, and its last writes matter */
        else if (sc->loading && !sc->gen && budget < 2.0)
            budget = 2.0; /* the first version's main chunk, at start: start-up work (a restore
                           * from the store) on a busy machine; nothing is routed yet */
        sc->budget = budget;
        sc->deadline = uv_hrtime() + (uint64_t)(budget * 1e9);
    }
}

void mb_script_end(struct mb_script *sc)
{
    if (--sc->depth == 0 && sc->killed) {
        sc->killed = false;
        lua_sethook(sc->sync, hook, LUA_MASKCOUNT, HOOK_EVERY);
    }
}

int mb_script_call_sync(struct mb_script *sc, int nargs, int nres, char *why, size_t whylen)
{
    lua_State *L = sc->sync;
    mb_script_begin(sc);
    int st = lua_pcall(L, nargs, nres, 0);
    mb_script_end(sc);
    if (st == LUA_OK)
        return 0;
    const char *msg = lua_tostring(L, -1);
    snprintf(why, whylen, "%s", st == LUA_ERRMEM ? "script memory limit reached" : msg ? msg : "error object is not a string");
    lua_pop(L, 1);
    if (st == LUA_ERRMEM)
        lua_gc(sc->L, LUA_GCCOLLECT);
    return -1;
}

/* ---- talking to the router ---------------------------------------------------------------- */

void mb_script_send(struct mb_script *sc, json_t *msg)
{
    if (!msg)
        return;
    if (sc->s && sc->s->state == MB_S_JOINED)
        mb_session_receive_json(sc->s, msg);
    json_decref(msg);
}

uint64_t mb_script_request(struct mb_script *sc, struct waiting w)
{
    uint64_t id = sc->next_request++;
    struct waiting *p = malloc(sizeof *p);
    if (p) {
        *p = w;
        if (mb_map_put_id(&sc->waiting, id, p) < 0)
            free(p);
    }
    return id;
}

static void handler_free(lua_State *L, struct handler *h)
{
    if (L && h->fn != LUA_NOREF)
        luaL_unref(L, LUA_REGISTRYINDEX, h->fn);
    free(h->key);
    free(h->uri);
    free(h->invoke);
    free(h);
}

/* Sends REGISTER/SUBSCRIBE for h. */
static void handler_open(struct mb_script *sc, struct handler *h)
{
    uint64_t req = mb_script_request(sc, (struct waiting){ h->kind == H_REGISTER ? W_REGISTER : W_SUBSCRIBE, NULL, h });
    json_t *opts = json_pack("{ss}", "match", mb_match_policy_name(h->match));
    if (h->invoke)
        json_object_set_new(opts, "invoke", json_string(h->invoke));
    if (h->disclose) /* the handler's flag: disclose_caller for a registration, get_retained for a subscription */
        json_object_set_new(opts, h->kind == H_REGISTER ? "disclose_caller" : "get_retained", json_true());
    mb_script_send(sc, json_pack("[iIos]", h->kind == H_REGISTER ? MB_REGISTER : MB_SUBSCRIBE, (json_int_t)req,
                                 opts, h->uri));
}

/* Drops h: UNREGISTER/UNSUBSCRIBE if the router confirmed it, else when it does. */
static void handler_close(struct mb_script *sc, struct handler *h)
{
    if (h->key) /* NULL: closed earlier, while its REGISTER/SUBSCRIBE was in flight */
        mb_map_del_str(&sc->handlers, h->key, strlen(h->key));
    if (h->id) {
        mb_map_del_id(h->kind == H_REGISTER ? &sc->regs : &sc->subs, h->id);
        uint64_t req = mb_script_request(sc, (struct waiting){ W_OTHER, NULL, NULL });
        mb_script_send(sc, json_pack("[iII]", h->kind == H_REGISTER ? MB_UNREGISTER : MB_UNSUBSCRIBE,
                                     (json_int_t)req, (json_int_t)h->id));
        handler_free(sc->L, h);
    } else {
        /* REGISTER/SUBSCRIBE still in flight: its answer finds the handler closed */
        if (h->fn != LUA_NOREF)
            luaL_unref(sc->L, LUA_REGISTRYINDEX, h->fn);
        h->fn = LUA_NOREF;
        free(h->key);
        h->key = NULL;
    }
}

/* Handlers are the same across versions when kind, match and URI are (invoke may change). */
static char *handler_key(enum handler_kind kind, int match, const char *uri)
{
    size_t n = strlen(uri) + 8;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%c%d|%s", kind == H_REGISTER ? 'R' : 'S', match, uri);
    return k;
}

static bool same_invoke(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A new invoke option for a registration: UNREGISTER and REGISTER back to back. The router
 * handles both before any other message, so no call finds the procedure missing. */
static void handler_reinvoke(struct mb_script *sc, struct handler *h, const char *invoke)
{
    char *inv = invoke ? strdup(invoke) : NULL;
    if (invoke && !inv)
        return;
    if (h->id) {
        mb_map_del_id(&sc->regs, h->id);
        uint64_t req = mb_script_request(sc, (struct waiting){ W_OTHER, NULL, NULL });
        mb_script_send(sc, json_pack("[iII]", MB_UNREGISTER, (json_int_t)req, (json_int_t)h->id));
        h->id = 0;
    }
    free(h->invoke);
    h->invoke = inv;
    handler_open(sc, h);
}

/* Adds or replaces one handler now (a declaration applied, or moonbar.register at run time). */
static int handler_set(struct mb_script *sc, enum handler_kind kind, const char *uri, int match,
                       const char *invoke, bool disclose, int fn, unsigned version)
{
    char *key = handler_key(kind, match, uri);
    if (!key)
        return -1;
    struct handler *h = mb_map_get_str(&sc->handlers, key, strlen(key));
    if (h) {
        free(key);
        if (h->fn != LUA_NOREF)
            luaL_unref(sc->L, LUA_REGISTRYINDEX, h->fn);
        h->fn = fn;
        h->id_version = version;
        if (kind == H_REGISTER && (!same_invoke(h->invoke, invoke) || h->disclose != disclose)) {
            h->disclose = disclose;
            handler_reinvoke(sc, h, invoke);
        }
        return 0;
    }
    h = calloc(1, sizeof *h);
    if (!h || !(h->uri = strdup(uri)) || (invoke && !(h->invoke = strdup(invoke)))) {
        if (h)
            handler_free(NULL, h);
        free(key);
        return -1;
    }
    h->kind = kind;
    h->key = key;
    h->match = match;
    h->disclose = disclose;
    h->fn = fn;
    h->id_version = version;
    if (mb_map_put_str(&sc->handlers, h->key, strlen(h->key), h) < 0) {
        handler_free(NULL, h);
        return -1;
    }
    handler_open(sc, h);
    return 0;
}

int mb_script_declare(struct mb_script *sc, lua_State *L, enum handler_kind kind, const char *uri, int match,
                      const char *invoke, bool disclose, int fnidx)
{
    lua_pushvalue(L, fnidx);
    int fn = luaL_ref(L, LUA_REGISTRYINDEX);
    struct gen *g = sc->loading;
    if (!g) /* at run time: applies now */
        return handler_set(sc, kind, uri, match, invoke, disclose, fn, sc->gen ? sc->gen->version : 0);
    if (g->ndecls == g->capdecls) {
        size_t ncap = g->capdecls ? g->capdecls * 2 : 8;
        struct decl *nd = realloc(g->decls, ncap * sizeof *nd);
        if (!nd) {
            luaL_unref(L, LUA_REGISTRYINDEX, fn);
            return -1;
        }
        g->decls = nd;
        g->capdecls = ncap;
    }
    struct decl *d = &g->decls[g->ndecls];
    *d = (struct decl){ kind, strdup(uri), match, invoke ? strdup(invoke) : NULL, fn, disclose };
    if (!d->uri) {
        luaL_unref(L, LUA_REGISTRYINDEX, fn);
        return -1;
    }
    g->ndecls++;
    return 0;
}

/* ---- tasks: one coroutine per callback ---------------------------------------------------- */

struct task *mb_script_new_task(struct mb_script *sc, enum task_kind kind, int fnref)
{
    struct task *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->sc = sc;
    t->kind = kind;
    if (sc->nspare > 0) { /* a thread is a few hundred bytes and GC work: reuse one */
        sc->nspare--;
        t->co = sc->spare[sc->nspare].co;
        t->ref = sc->spare[sc->nspare].ref;
    } else {
        t->co = lua_newthread(sc->L);
        t->ref = luaL_ref(sc->L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(t->co, LUA_REGISTRYINDEX, fnref);
    return t;
}

struct task *mb_script_current_task(struct mb_script *sc)
{
    struct task *t = sc->r->lua->current;
    return t && t->sc == sc ? t : NULL;
}

/* reusable: the task's function returned normally, so its thread is back to an empty stack
 * with the script's usual hook (a stopped callback's thread keeps a stricter one) */
static void task_free(struct task *t, bool reusable)
{
    struct mb_script *sc = t->sc;
    if (reusable && sc->nspare < (int)(sizeof sc->spare / sizeof sc->spare[0]) &&
        lua_status(t->co) == LUA_OK) {
        lua_settop(t->co, 0);
        sc->spare[sc->nspare].co = t->co;
        sc->spare[sc->nspare].ref = t->ref;
        sc->nspare++;
    } else {
        luaL_unref(sc->L, LUA_REGISTRYINDEX, t->ref);
    }
    free(t);
}

static void answer_invocation(struct mb_script *sc, uint64_t inv, const char *uri, json_t *args, json_t *kwargs)
{
    json_t *msg = uri ? json_pack("[iII{}s]", MB_ERROR, (json_int_t)MB_INVOCATION, (json_int_t)inv, uri)
                      : json_pack("[iI{}]", MB_YIELD, (json_int_t)inv);
    if (msg && (args || kwargs))
        json_array_append_new(msg, args ? args : json_array());
    if (msg && kwargs)
        json_array_append_new(msg, kwargs);
    mb_script_send(sc, msg);
}

static const char *task_what(const struct task *t)
{
    return t->kind == T_INVOCATION ? "procedure"
           : t->kind == T_EVENT    ? "subscriber"
           : t->kind == T_HTTP     ? "http handler"
                                   : "timer";
}

void mb_script_run_task(struct task *t, int nargs)
{
    struct mb_script *sc = t->sc;
    struct mb_lua *lua = sc->r->lua;
    struct task *prev = lua->current;
    lua->current = t;
    t->waiting = false;
    int nres = 0;
    mb_script_begin(sc);
    int st = lua_resume(t->co, sc->L, nargs, &nres);
    bool stopped = sc->killed; /* its thread has the stricter hook */
    mb_script_end(sc);
    lua->current = prev;
    if (st == LUA_YIELD && t->waiting)
        return; /* moonbar.call: resumed when the answer comes */
    if (st == LUA_OK) {
        if (t->kind == T_INVOCATION) {
            json_t *args = NULL, *kwargs = NULL;
            char err[256];
            if (mb_lua_result_payload(t->co, 1, nres, &args, &kwargs, err, sizeof err) < 0) {
                mb_warn(&sc->r->log, "script %s: procedure result cannot be sent: %s", sc->name, err);
                answer_invocation(sc, t->invocation, mb_reason_uri(MB_R_RUNTIME_ERROR), json_pack("[s]", err), NULL);
            } else {
                answer_invocation(sc, t->invocation, NULL, args, kwargs);
            }
        } else if (t->kind == T_HTTP) {
            mb_lua_http_answer(t, nres);
        }
    } else {
        json_t *args = NULL, *kwargs = NULL;
        char buf[300];
        const char *uri;
        if (st == LUA_YIELD) {
            uri = mb_reason_uri(MB_R_RUNTIME_ERROR);
            args = json_pack("[s]", "callback yielded outside moonbar.call");
            mb_warn(&sc->r->log, "script %s: %s yielded outside moonbar.call", sc->name, task_what(t));
        } else if (st == LUA_ERRMEM) {
            uri = mb_reason_uri(MB_R_RUNTIME_ERROR);
            snprintf(buf, sizeof buf, "script memory limit of %zu MiB reached", sc->mem_limit >> 20);
            args = json_pack("[s]", buf);
            mb_warn(&sc->r->log, "script %s: %s failed: %s", sc->name, task_what(t), buf);
            lua_gc(sc->L, LUA_GCCOLLECT);
        } else {
            uri = mb_lua_error_payload(t->co, -1, &args, &kwargs, buf, sizeof buf);
            if (strcmp(uri, mb_reason_uri(MB_R_RUNTIME_ERROR)) == 0) {
                luaL_traceback(sc->L, t->co, json_string_value(json_array_get(args, 0)), 0);
                mb_warn(&sc->r->log, "script %s: %s failed: %s", sc->name, task_what(t), lua_tostring(sc->L, -1));
                lua_pop(sc->L, 1);
            }
        }
        if (t->kind == T_INVOCATION)
            answer_invocation(sc, t->invocation, uri, args, kwargs);
        else {
            if (t->kind == T_HTTP)
                mb_lua_http_fail(t, uri, args);
            json_decref(args);
            json_decref(kwargs);
        }
        lua_resetthread(t->co);
    }
    task_free(t, st == LUA_OK && !stopped);
}

/* ---- messages from the router -------------------------------------------------------------- */

static void push_payload(lua_State *co, json_t *msg, size_t first)
{
    json_t *args = json_array_get(msg, first), *kwargs = json_array_get(msg, first + 1);
    if (args)
        mb_lua_push_json(co, args);
    else {
        lua_newtable(co);
        mb_lua_mark_array(co, -1);
    }
    if (kwargs)
        mb_lua_push_json(co, kwargs);
    else
        lua_newtable(co);
}

static void on_registered(struct mb_script *sc, struct waiting *w, uint64_t id)
{
    struct handler *h = w->h;
    if (!h->key) { /* closed while its REGISTER was in flight: undo it now (frees h) */
        h->id = id;
        handler_close(sc, h);
        return;
    }
    h->id = id;
    mb_map_put_id(h->kind == H_REGISTER ? &sc->regs : &sc->subs, id, h);
}

static void on_refused(struct mb_script *sc, struct waiting *w, json_t *msg)
{
    struct handler *h = w->h;
    mb_error(&sc->r->log, "script %s: %s %s refused: %s %s", sc->name,
             h->kind == H_REGISTER ? "register" : "subscribe", h->uri, json_string_value(json_array_get(msg, 4)),
             json_string_value(json_array_get(json_array_get(msg, 5), 0)) ?: "");
    if (h->key)
        mb_map_del_str(&sc->handlers, h->key, strlen(h->key));
    handler_free(sc->L, h);
}

static void resume_call(struct mb_script *sc, struct waiting *w, json_t *msg, bool ok)
{
    struct task *t = w->task;
    lua_State *co = t->co;
    lua_pushboolean(co, ok);
    if (ok) {
        json_t *args = json_array_get(msg, 3), *kwargs = json_array_get(msg, 4);
        if (!kwargs && json_array_size(args) == 1) {
            mb_lua_push_json(co, json_array_get(args, 0));
        } else if (!kwargs && json_array_size(args) == 0) {
            lua_pushnil(co);
        } else {
            lua_createtable(co, 0, 2);
            push_payload(co, msg, 3);
            lua_setfield(co, -3, "kwargs");
            lua_setfield(co, -2, "args");
            luaL_setmetatable(co, "moonbar.result");
        }
    } else { /* ERROR: [8, CALL, req, details, uri, args, kwargs] */
        mb_lua_push_error(co, json_string_value(json_array_get(msg, 4)), json_array_get(msg, 5),
                          json_array_get(msg, 6));
    }
    (void)sc;
    mb_script_run_task(t, 2);
}

static void system_invocation(struct mb_script *sc, json_t *msg);

static void deliver(struct mb_script *sc, json_t *msg)
{
    int type = (int)json_integer_value(json_array_get(msg, 0));
    uint64_t a = (uint64_t)json_integer_value(json_array_get(msg, 1));
    switch (type) {
    case MB_REGISTERED:
    case MB_SUBSCRIBED:
    case MB_UNREGISTERED:
    case MB_UNSUBSCRIBED:
    case MB_RESULT: {
        if (type == MB_RESULT && json_is_true(json_object_get(json_array_get(msg, 2), "progress"))) {
            /* a progressive result: moonbar.call runs opts.progress and goes on waiting */
            struct waiting *w = mb_map_get_id(&sc->waiting, a);
            if (w && w->kind == W_CALL && w->task->waiting) {
                lua_State *co = w->task->co;
                lua_pushliteral(co, "progress");
                push_payload(co, msg, 3);
                mb_script_run_task(w->task, 3);
            }
            return;
        }
        struct waiting *w = mb_map_del_id(&sc->waiting, a);
        if (!w)
            return;
        if (w->kind == W_REGISTER || w->kind == W_SUBSCRIBE)
            on_registered(sc, w, (uint64_t)json_integer_value(json_array_get(msg, 2)));
        else if (w->kind == W_CALL)
            resume_call(sc, w, msg, true);
        free(w);
        return;
    }
    case MB_ERROR: {
        struct waiting *w = mb_map_del_id(&sc->waiting, (uint64_t)json_integer_value(json_array_get(msg, 2)));
        if (!w)
            return;
        if (w->kind == W_REGISTER || w->kind == W_SUBSCRIBE)
            on_refused(sc, w, msg);
        else if (w->kind == W_CALL)
            resume_call(sc, w, msg, false);
        free(w);
        return;
    }
    case MB_INVOCATION: {
        if (sc->is_system) {
            system_invocation(sc, msg);
            return;
        }
        struct handler *h = mb_map_get_id(&sc->regs, (uint64_t)json_integer_value(json_array_get(msg, 2)));
        if (!h || h->fn == LUA_NOREF) {
            answer_invocation(sc, a, mb_reason_uri(MB_R_NO_SUCH_PROCEDURE), json_pack("[s]", "procedure gone"), NULL);
            return;
        }
        struct task *t = mb_script_new_task(sc, T_INVOCATION, h->fn);
        if (!t) {
            answer_invocation(sc, a, mb_reason_uri(MB_R_RUNTIME_ERROR), json_pack("[s]", "out of memory"), NULL);
            return;
        }
        t->invocation = a;
        t->receive_progress = json_is_true(json_object_get(json_array_get(msg, 3), "receive_progress"));
        push_payload(t->co, msg, 4);
        mb_lua_push_json(t->co, json_array_get(msg, 3));
        mb_script_run_task(t, 3);
        return;
    }
    case MB_EVENT: {
        struct handler *h = mb_map_get_id(&sc->subs, a);
        if (!h || h->fn == LUA_NOREF)
            return;
        struct task *t = mb_script_new_task(sc, T_EVENT, h->fn);
        if (!t)
            return;
        push_payload(t->co, msg, 4);
        mb_lua_push_json(t->co, json_array_get(msg, 3));
        lua_pushinteger(t->co, (lua_Integer)json_integer_value(json_array_get(msg, 2)));
        lua_setfield(t->co, -2, "publication");
        mb_script_run_task(t, 3);
        return;
    }
    case MB_INTERRUPT: {
        /* kill waits for an answer: give it now (the procedure's own, later, is dropped by the
         * dealer); killnowait needs none. The task itself runs on to its end. */
        const char *mode = json_string_value(json_object_get(json_array_get(msg, 2), "mode"));
        if (mode && strcmp(mode, "kill") == 0)
            answer_invocation(sc, a, mb_reason_uri(MB_R_CANCELED),
                              json_pack("[s]", "canceled: the Lua procedure's result will be dropped"), NULL);
        return;
    }
    default: /* WELCOME, GOODBYE, ... */
        return;
    }
}

/* ---- the in-process transport ---------------------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only keeps the loop from blocking while scripts have messages waiting */
}

static void lt_send_json(void *conn, json_t *msg)
{
    struct mb_script *sc = conn;
    json_incref(msg);
    if (mb_vec_push(&sc->inbox, msg) < 0)
        json_decref(msg);
    struct mb_lua *lua = sc->r->lua;
    if (lua && !lua->idle_on) {
        lua->idle_on = true;
        uv_idle_start(&lua->idle, on_idle);
    }
}

static void lt_send(void *conn, const char *data, size_t len)
{
    json_t *msg = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (msg) {
        lt_send_json(conn, msg);
        json_decref(msg);
    }
}

static size_t lt_queued(void *conn)
{
    (void)conn;
    return 0;
}

static void lt_set_reading(void *conn, bool on)
{
    (void)conn;
    (void)on;
}

static void lt_close(void *conn, int code, const char *reason, bool flush)
{
    (void)code;
    (void)reason;
    (void)flush;
    struct mb_script *sc = conn;
    mb_warn(&sc->r->log, "script %s: its session was closed by the router", sc->name);
}

static const struct mb_transport lua_transport = {
    .name = "lua", .send = lt_send, .send_json = lt_send_json, .queued = lt_queued,
    .set_reading = lt_set_reading, .close = lt_close,
};

/* ---- versions ---------------------------------------------------------------------------------- */

static void gen_free(struct mb_script *sc, struct gen *g)
{
    if (!g)
        return;
    while (g->timers.len) /* each cancel takes itself off the list */
        mb_lua_timer_cancel(g->timers.items[0]);
    mb_vec_free(&g->timers);
    mb_lua_http_gen_free(sc, g);
    for (size_t i = 0; i < g->ndecls; i++) {
        if (g->decls[i].fn != LUA_NOREF)
            luaL_unref(sc->L, LUA_REGISTRYINDEX, g->decls[i].fn);
        free(g->decls[i].uri);
        free(g->decls[i].invoke);
    }
    free(g->decls);
    if (sc->L) {
        luaL_unref(sc->L, LUA_REGISTRYINDEX, g->env);
        luaL_unref(sc->L, LUA_REGISTRYINDEX, g->authorize);
        luaL_unref(sc->L, LUA_REGISTRYINDEX, g->authenticate);
        void *ref;
        for (size_t it = 0; (ref = mb_map_next(&g->policies, &it));)
            luaL_unref(sc->L, LUA_REGISTRYINDEX, (int)(intptr_t)ref);
    }
    mb_map_free(&g->policies);
    for (size_t i = 0; i < g->npolicy_names; i++)
        free(g->policy_names[i]);
    free(g->policy_names);
    free(g);
}

/* require(name) inside a script: a module of the script's folder, run in the calling version's
 * environment (upvalue 1), cached in its package table (upvalue 2). */
static int sandbox_require(lua_State *L)
{
    struct mb_script *sc = mb_script_of(L);
    const char *name = luaL_checkstring(L, 1);
    if (strcmp(name, "moonbar") == 0) {
        lua_getfield(L, lua_upvalueindex(1), "moonbar");
        return 1;
    }
    lua_getfield(L, lua_upvalueindex(2), name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
            return luaL_error(L, "require: bad module name '%s'", name);
    if (strstr(name, ".."))
        return luaL_error(L, "require: bad module name '%s'", name);
    /* moonbar.* modules come from moonbar's Lua library, the others from the script's folder */
    char path[PATH_MAX];
    bool lib = strncmp(name, "moonbar.", 8) == 0;
    int n = snprintf(path, sizeof path, "%s/", lib ? MB_LUA_LIB : sc->dir);
    for (const char *p = name; *p && n < (int)sizeof path - 5; p++)
        path[n++] = *p == '.' ? '/' : *p;
    snprintf(path + n, sizeof path - (size_t)n, ".lua");
    if (luaL_loadfilex(L, path, "t") != LUA_OK)
        return luaL_error(L, "require '%s': %s", name, lua_tostring(L, -1));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setupvalue(L, -2, 1);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, lua_upvalueindex(2), name);
    return 1;
}

static int sandbox_print(lua_State *L)
{
    struct mb_script *sc = mb_script_of(L);
    int n = lua_gettop(L); /* before luaL_buffinit, which may push a box */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    mb_info(&sc->r->log, "script %s: %s", sc->name, lua_tostring(L, -1));
    return 0;
}

/* Pushes a fresh sandboxed environment for a version. */
static void push_env(struct mb_script *sc)
{
    /* built on the thread that loads versions */
    static const char *const base[] = { "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
                                        "rawget", "rawlen", "rawset", "select", "setmetatable", "getmetatable",
                                        "tonumber", "tostring", "type", "xpcall", "_VERSION", "string",
                                        "table", "math", "utf8", "coroutine", NULL };
    lua_State *L = sc->sync;
    lua_newtable(L);
    int env = lua_gettop(L);
    lua_pushglobaltable(L);
    for (const char *const *k = base; *k; k++) {
        lua_getfield(L, -1, *k);
        lua_setfield(L, env, *k);
    }
    lua_getfield(L, -1, "os");
    lua_createtable(L, 0, 3);
    static const char *const os_ok[] = { "time", "clock", "date", "difftime", NULL };
    for (const char *const *k = os_ok; *k; k++) {
        lua_getfield(L, -2, *k);
        lua_setfield(L, -2, *k);
    }
    lua_setfield(L, env, "os");
    lua_pop(L, 2); /* os, _G */
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, env, "print");
    mb_lua_api_open(L, sc);
    lua_setfield(L, env, "moonbar");
    lua_pushvalue(L, env);
    lua_newtable(L);
    lua_pushcclosure(L, sandbox_require, 2);
    lua_setfield(L, env, "require");
}

static unsigned long long text_hash(const char *s, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ n;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, n = 0, k;
    char *buf = malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Calls the global function name of env (if any) with the value at arg (0: none). */
static void call_hook(struct mb_script *sc, int envref, const char *name, int argref)
{
    lua_State *L = sc->sync;
    lua_rawgeti(L, LUA_REGISTRYINDEX, envref);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    int nargs = 0;
    if (argref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, argref);
        nargs = 1;
    }
    char why[300];
    if (mb_script_call_sync(sc, nargs, 0, why, sizeof why) < 0)
        mb_warn(&sc->r->log, "script %s: %s() failed: %s", sc->name, name, why);
}

static void publish_reload(struct mb_script *sc, bool ok, const char *error)
{
    struct mb_script *sys = sc->lr->scripts;
    while (sys && !sys->is_system)
        sys = sys->next;
    if (!sys)
        return;
    json_t *kw = json_pack("{sssbsi}", "script", sc->name, "ok", ok, "version", (int)sc->versions);
    if (error)
        json_object_set_new(kw, "error", json_string(error));
    mb_script_send(sys, json_pack("[iI{}s[]o]", MB_PUBLISH, (json_int_t)sys->next_request++,
                                  "moonbar.script.on_reload", kw));
}

/* Applies a loaded version: its declarations become the script's handlers (kept by key when
 * the running version has the same), the others go. */
static void swap_in(struct mb_script *sc, struct gen *g)
{
    for (size_t i = 0; i < g->ndecls; i++) {
        struct decl *d = &g->decls[i];
        if (handler_set(sc, d->kind, d->uri, d->match, d->invoke, d->disclose, d->fn, g->version) == 0)
            d->fn = LUA_NOREF; /* the handler owns it now */
    }
    struct handler *h;
    for (size_t it = 0; (h = mb_map_next(&sc->handlers, &it));)
        if (h->id_version != g->version)
            handler_close(sc, h);
    mb_lua_http_swap(sc, g);
}

int mb_script_reload(struct mb_script *sc, char *why, size_t whylen)
{
    size_t len;
    char *text = read_file(sc->path, &len);
    if (!text) {
        snprintf(why, whylen, "cannot read %s: %s", sc->path, strerror(errno));
        goto fail_early;
    }
    struct gen *g = calloc(1, sizeof *g);
    if (!g) {
        free(text);
        snprintf(why, whylen, "out of memory");
        goto fail_early;
    }
    g->version = sc->versions + 1;
    g->authorize = g->authenticate = LUA_NOREF;
    lua_State *L = sc->sync;
    push_env(sc);
    lua_pushvalue(L, -1);
    g->env = luaL_ref(L, LUA_REGISTRYINDEX);
    char chunkname[PATH_MAX + 2];
    snprintf(chunkname, sizeof chunkname, "@%s", sc->path);
    sc->loading = g;
    int rc = luaL_loadbufferx(L, text, len, chunkname, "t");
    unsigned long long hash = text_hash(text, len);
    free(text);
    if (rc != LUA_OK) {
        snprintf(why, whylen, "%s", lua_tostring(L, -1));
        lua_pop(L, 2);
        goto fail;
    }
    lua_insert(L, -2);
    lua_setupvalue(L, -2, 1); /* _ENV */
    if (mb_script_call_sync(sc, 0, 0, why, whylen) < 0)
        goto fail;
    sc->loading = NULL;
    sc->versions = g->version;
    sc->text_hash = hash; /* the watcher reloads only when the text differs */

    struct gen *old = sc->gen;
    sc->gen = g;
    swap_in(sc, g);
    if (old) {
        while (old->timers.len)
            mb_lua_timer_cancel(old->timers.items[0]);
        call_hook(sc, old->env, "on_unload", LUA_NOREF);
        call_hook(sc, g->env, "on_reload", sc->state);
    }
    gen_free(sc, old);
    if (sc->is_policy) { /* cached decisions were the old policy's */
        struct mb_session *s;
        for (size_t it = 0; (s = mb_map_next(&sc->r->sessions, &it));)
            if (s->realm == sc->realm)
                mb_lua_forget_session(s);
    }
    mb_info(&sc->r->log, "script %s: version %u loaded (%zu KiB)", sc->name, g->version, sc->mem >> 10);
    publish_reload(sc, true, NULL);
    return 0;
fail:
    sc->loading = NULL;
    gen_free(sc, g);
fail_early:
    mb_error(&sc->r->log, "script %s: new version rejected, %s: %s", sc->name,
             sc->gen ? "the running version stays" : "no version running", why);
    publish_reload(sc, false, why);
    return -1;
}

/* ---- file watching ------------------------------------------------------------------------------ */

static void on_debounce(uv_timer_t *t)
{
    struct mb_script *sc = t->data;
    char why[512];
    if (!sc->watch_name) { /* a folder app: one of its modules may be what changed */
        mb_info(&sc->r->log, "script %s: a file of its folder changed, reloading", sc->name);
        mb_script_reload(sc, why, sizeof why);
        return;
    }
    size_t len;
    char *text = read_file(sc->path, &len);
    if (!text)
        return;
    unsigned long long h = text_hash(text, len);
    free(text);
    if (h == sc->text_hash)
        return;
    sc->text_hash = h;
    mb_info(&sc->r->log, "script %s: file changed, reloading", sc->name);
    mb_script_reload(sc, why, sizeof why);
}

static void on_fs_event(uv_fs_event_t *w, const char *filename, int events, int status)
{
    (void)events;
    struct mb_script *sc = w->data;
    if (status < 0 || !filename)
        return;
    size_t n = strlen(filename);
    if (sc->watch_name ? strcmp(filename, sc->watch_name) != 0 : (n < 4 || strcmp(filename + n - 4, ".lua") != 0))
        return;
    uv_timer_start(&sc->debounce, on_debounce, DEBOUNCE_MS, 0);
}

/* ---- the realm's system callee: moonbar.reload ---------------------------------------------------- */

static void system_invocation(struct mb_script *sys, json_t *msg)
{
    uint64_t inv = (uint64_t)json_integer_value(json_array_get(msg, 1));
    json_t *name = json_array_get(json_array_get(msg, 4), 0);
    if (name && !json_is_string(name)) {
        answer_invocation(sys, inv, mb_reason_uri(MB_R_INVALID_ARGUMENT),
                          json_pack("[s]", "moonbar.reload takes a script name, or nothing for all"), NULL);
        return;
    }
    json_t *reloaded = json_array(), *failed = json_array();
    bool found = false;
    for (struct mb_script *sc = sys->lr->scripts; sc; sc = sc->next) {
        if (sc->is_system || (name && strcmp(json_string_value(name), sc->name) != 0))
            continue;
        found = true;
        char why[512];
        if (mb_script_reload(sc, why, sizeof why) == 0)
            json_array_append_new(reloaded, json_string(sc->name));
        else
            json_array_append_new(failed, json_pack("{ssss}", "script", sc->name, "error", why));
    }
    if (name && !found) {
        json_decref(reloaded);
        json_decref(failed);
        answer_invocation(sys, inv, mb_reason_uri(MB_R_INVALID_ARGUMENT),
                          json_pack("[s]", "no script with that name in this realm"), NULL);
        return;
    }
    answer_invocation(sys, inv, NULL, json_array(), json_pack("{soso}", "reloaded", reloaded, "failed", failed));
}

/* ---- scripts ---------------------------------------------------------------------------------------- */

static void script_join(struct mb_script *sc, const char *authid)
{
    sc->s = mb_session_new(sc->r, &lua_transport, sc, "in-process");
    if (!sc->s)
        return;
    sc->s->trusted = true;
    /* what moonbar.call and Lua procedures support (as a client's HELLO would announce it);
     * not progressive invocations nor payload passthru mode: such calls get feature_not_supported */
    sc->s->features = MB_F_CALLER_PROGRESSIVE_RESULTS | MB_F_CALLER_CANCELING | MB_F_CALLEE_PROGRESSIVE_RESULTS |
                      MB_F_CALLEE_CANCELING;
    mb_session_join(sc->s, sc->realm, authid, "trusted", "internal", "moonbar");
}

static struct mb_script *script_new(struct mb_router *r, struct mb_realm *realm, const char *path, bool policy,
                                    char *why, size_t whylen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct mb_script *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    sc->r = r;
    sc->realm = realm;
    sc->lr = realm->lua;
    sc->is_policy = policy;
    sc->next_request = 1;
    sc->state = LUA_NOREF;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    if (S_ISDIR(st.st_mode)) {
        sc->dir = strdup(tmp);
        sc->name = strdup(basename(tmp));
        size_t pl = strlen(sc->dir) + 10;
        sc->path = malloc(pl);
        if (sc->path)
            snprintf(sc->path, pl, "%s/init.lua", sc->dir);
    } else {
        sc->path = strdup(tmp);
        sc->name = strdup(basename(tmp));
        sc->watch_name = strdup(sc->name);
        snprintf(tmp, sizeof tmp, "%s", path);
        sc->dir = strdup(dirname(tmp));
    }
    sc->mem_limit = r->cfg->lua_memory_limit;
    sc->L = lua_newstate(l_alloc, sc);
    if (!sc->path || !sc->name || !sc->dir || !sc->L) {
        snprintf(why, whylen, "out of memory");
        return sc; /* freed by the caller through script_free */
    }
    *(struct mb_script **)lua_getextraspace(sc->L) = sc;
    static const luaL_Reg libs[] = { { LUA_GNAME, luaopen_base }, { LUA_TABLIBNAME, luaopen_table },
                                     { LUA_STRLIBNAME, luaopen_string }, { LUA_MATHLIBNAME, luaopen_math },
                                     { LUA_UTF8LIBNAME, luaopen_utf8 }, { LUA_COLIBNAME, luaopen_coroutine },
                                     { LUA_OSLIBNAME, luaopen_os }, { NULL, NULL } };
    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(sc->L, l->name, l->func, 1);
        lua_pop(sc->L, 1);
    }
    mb_lua_value_init(sc->L);
    lua_sethook(sc->L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    sc->sync = lua_newthread(sc->L); /* threads copy the hook and the extra space */
    luaL_ref(sc->L, LUA_REGISTRYINDEX);
    lua_newtable(sc->L);
    sc->state = luaL_ref(sc->L, LUA_REGISTRYINDEX);
    char authid[300];
    snprintf(authid, sizeof authid, "lua:%s", sc->name);
    script_join(sc, authid);
    return sc;
}

static void script_free(struct mb_script *sc)
{
    for (size_t i = 0; i < sc->inbox.len; i++)
        json_decref(sc->inbox.items[i]);
    mb_vec_free(&sc->inbox);
    mb_vec_free(&sc->inbox_spare);
    gen_free(sc, sc->gen);
    /* waiting entries first: a closed handler (key NULL) lives only there */
    struct waiting *w;
    for (size_t it = 0; (w = mb_map_next(&sc->waiting, &it));) {
        if ((w->kind == W_REGISTER || w->kind == W_SUBSCRIBE) && !w->h->key)
            handler_free(NULL, w->h);
        else if (w->kind == W_CALL)
            free(w->task);
        free(w);
    }
    struct handler *h;
    for (size_t it = 0; (h = mb_map_next(&sc->handlers, &it));)
        handler_free(NULL, h);
    mb_map_free(&sc->handlers);
    mb_map_free(&sc->regs);
    mb_map_free(&sc->subs);
    mb_map_free(&sc->waiting);
    /* store ops of its tasks still run, but call nobody back; closing the state frees the
     * tasks that waited for them (moonbar.store's boxes) */
    mb_store_cancel(sc->r->store, sc);
    if (sc->L)
        lua_close(sc->L);
    free(sc->path);
    free(sc->name);
    free(sc->dir);
    free(sc->watch_name);
    free(sc);
}

static struct mb_script *add_script(struct mb_router *r, struct mb_realm *realm, const char *path, bool policy)
{
    char why[512] = "";
    struct mb_script *sc = script_new(r, realm, path, policy, why, sizeof why);
    if (!sc || !sc->L || !sc->s) {
        mb_error(&r->log, "realm %s: script %s: %s", realm->name, path, why);
        if (sc)
            script_free(sc);
        return NULL;
    }
    sc->next = realm->lua->scripts;
    realm->lua->scripts = sc;
    if (policy)
        realm->lua->policy = sc;
    if (r->cfg->lua_watch) {
        uv_timer_init(r->loop, &sc->debounce);
        sc->debounce.data = sc;
        uv_fs_event_init(r->loop, &sc->watcher);
        sc->watcher.data = sc;
        if (uv_fs_event_start(&sc->watcher, on_fs_event, sc->dir, 0) == 0)
            sc->watching = true;
        else
            mb_warn(&r->log, "script %s: cannot watch %s: edits need SIGHUP or moonbar.reload", sc->name, sc->dir);
    }
    return sc;
}

int mb_lua_start(struct mb_router *r)
{
    struct mb_lua *lua = calloc(1, sizeof *lua);
    if (!lua)
        return -1;
    lua->r = r;
    r->lua = lua;
    uv_idle_init(r->loop, &lua->idle);
    for (size_t i = 0; i < r->cfg->nrealms; i++) {
        struct mb_realm_config *rc = &r->cfg->realms[i];
        if (rc->napps == 0 && !rc->policy)
            continue;
        struct mb_realm *realm = mb_map_get_str(&r->realms, rc->name, strlen(rc->name));
        realm->lua = calloc(1, sizeof *realm->lua);
        if (!realm->lua)
            return -1;
        /* the system callee first: scripts publish their reloads through it */
        struct mb_script *sys = calloc(1, sizeof *sys);
        if (!sys || !(sys->name = strdup("moonbar")))
            return -1;
        sys->r = r;
        sys->realm = realm;
        sys->lr = realm->lua;
        sys->is_system = true;
        sys->next_request = 1;
        script_join(sys, "moonbar");
        realm->lua->scripts = sys;
        mb_script_send(sys, json_pack("[iI{}s]", MB_REGISTER, (json_int_t)sys->next_request++, "moonbar.reload"));
        char why[512];
        if (rc->policy) {
            struct mb_script *sc = add_script(r, realm, rc->policy, true);
            if (!sc || mb_script_reload(sc, why, sizeof why) < 0)
                return -1;
        }
        for (size_t k = 0; k < rc->napps; k++) {
            struct mb_script *sc = add_script(r, realm, rc->apps[k], false);
            if (!sc || mb_script_reload(sc, why, sizeof why) < 0)
                return -1;
        }
    }
    return 0;
}

void mb_lua_run_pending(struct mb_router *r)
{
    struct mb_lua *lua = r->lua;
    if (!lua || lua->stopped)
        return;
    bool more = true;
    for (int round = 0; more && round < 64; round++) {
        more = false;
        struct mb_realm *realm;
        for (size_t it = 0; (realm = mb_map_next(&r->realms, &it));) {
            if (!realm->lua)
                continue;
            for (struct mb_script *sc = realm->lua->scripts; sc; sc = sc->next) {
                if (sc->inbox.len == 0)
                    continue;
                /* the batch is delivered from its vector while new messages go to the spare
                 * one; the emptied vector is the next spare (its capacity kept: no realloc
                 * and free per loop turn) */
                struct mb_vec batch = sc->inbox;
                sc->inbox = sc->inbox_spare;
                memset(&sc->inbox_spare, 0, sizeof sc->inbox_spare);
                for (size_t i = 0; i < batch.len; i++) {
                    if (!sc->closing)
                        deliver(sc, batch.items[i]);
                    json_decref(batch.items[i]);
                }
                batch.len = 0;
                mb_vec_free(&sc->inbox_spare);
                sc->inbox_spare = batch;
                more = true;
            }
        }
    }
    if (!more && lua->idle_on) {
        lua->idle_on = false;
        uv_idle_stop(&lua->idle);
    }
}

void mb_lua_reload_all(struct mb_router *r)
{
    struct mb_realm *realm;
    for (size_t it = 0; (realm = mb_map_next(&r->realms, &it));) {
        if (!realm->lua)
            continue;
        for (struct mb_script *sc = realm->lua->scripts; sc; sc = sc->next) {
            char why[512];
            if (!sc->is_system)
                mb_script_reload(sc, why, sizeof why);
        }
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct mb_script *sc = h->data;
    if (--sc->pending_closes == 0)
        script_free(sc);
}

void mb_lua_stop(struct mb_router *r)
{
    struct mb_lua *lua = r->lua;
    if (!lua || lua->stopped)
        return;
    struct mb_realm *realm;
    for (size_t it = 0; (realm = mb_map_next(&r->realms, &it));) {
        if (!realm->lua)
            continue;
        struct mb_script *sc = realm->lua->scripts;
        realm->lua->scripts = NULL;
        realm->lua->policy = NULL;
        while (sc) {
            struct mb_script *next = sc->next;
            if (sc->gen && !sc->is_system) {
                sc->stopping = true;
                call_hook(sc, sc->gen->env, "on_stop", LUA_NOREF); /* last words: e.g. save state */
            }
            sc->closing = true;
            mb_lua_http_stop(sc);
            if (sc->gen)
                while (sc->gen->timers.len)
                    mb_lua_timer_cancel(sc->gen->timers.items[0]);
            if (sc->s) {
                struct mb_session *s = sc->s;
                sc->s = NULL;
                mb_session_free(s);
            }
            if (r->cfg->lua_watch && !sc->is_system) {
                sc->pending_closes = 2;
                uv_close((uv_handle_t *)&sc->watcher, on_handle_closed);
                uv_close((uv_handle_t *)&sc->debounce, on_handle_closed);
            } else {
                script_free(sc);
            }
            sc = next;
        }
        free(realm->lua);
        realm->lua = NULL;
    }
    lua->stopped = true;
    uv_close((uv_handle_t *)&lua->idle, NULL);
}

void mb_lua_free(struct mb_router *r)
{
    free(r->lua);
    r->lua = NULL;
}
