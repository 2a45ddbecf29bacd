/* moonbar.store: the embedded store as scripts see it (collections of versioned JSON values,
 * leaderboards, sync). Every argument is checked with an error naming the function.
 *
 * Where an operation runs: called from a task's own coroutine (a procedure, subscriber or
 * timer), it is queued and the coroutine yields until its batch comes back from the thread
 * pool, so routing never waits for the disk. Anywhere else (a script loading at start or
 * reload, on_reload, an authorizer or invocation policy) it runs at once on the loop thread,
 * on the store's second connection, after everything queued before it: that stalls the loop
 * for as long as the disk takes, which only start-up and reload should do.
 *
 * A waiting operation keeps a "box" userdata on its coroutine's stack: the store's op comes
 * back into it, and if the script goes away first (mb_store_cancel in script_free, then the
 * Lua state closes) the box's __gc frees the op and the task that will never be resumed. */
#include "lua_internal.h"
#include "mb_json.h"
#include "mb_router.h"
#include "mb_store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BOX_MT "moonbar.store.wait"
#define URI_FAILED "moonbar.error.store.failed"
#define URI_CONFLICT "moonbar.error.store.version_conflict"
#define URI_BUSY "moonbar.error.store.busy"

struct box {
    struct task *task;      /* set while the task waits for the op */
    struct mb_store_op *op; /* ours: not handed to the store yet, or back from it */
    json_t *json;           /* a value being pushed, freed by __gc if pushing raised */
};

static int box_gc(lua_State *L)
{
    struct box *b = luaL_checkudata(L, 1, BOX_MT);
    mb_store_op_free(b->op);
    b->op = NULL;
    json_decref(b->json);
    b->json = NULL;
    free(b->task); /* still waiting: its script went away, the coroutine dies with the state */
    b->task = NULL;
    return 0;
}

static struct box *new_box(lua_State *L)
{
    struct box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BOX_MT);
    return b;
}

static struct mb_store *store_of(lua_State *L, const char *fn)
{
    struct mb_store *st = mb_script_of(L)->r->store;
    if (!st)
        luaL_error(L, "moonbar.store.%s: the store is not open", fn);
    return st;
}

/* ---- arguments ---- */

static const char *name_arg(lua_State *L, int i, const char *fn, const char *what, bool may_be_empty, size_t *len)
{
    if (lua_type(L, i) != LUA_TSTRING)
        luaL_error(L, "moonbar.store.%s: %s must be a string, got %s", fn, what, luaL_typename(L, i));
    const char *s = lua_tolstring(L, i, len);
    if (*len == 0 && !may_be_empty)
        luaL_error(L, "moonbar.store.%s: %s must not be empty", fn, what);
    if (*len > MB_STORE_NAME_MAX)
        luaL_error(L, "moonbar.store.%s: %s is longer than %d bytes", fn, what, MB_STORE_NAME_MAX);
    if (memchr(s, '\0', *len))
        luaL_error(L, "moonbar.store.%s: %s must not contain NUL bytes", fn, what);
    return s;
}

static int limit_arg(lua_State *L, int i, const char *fn, int dflt)
{
    if (lua_isnoneornil(L, i))
        return dflt;
    if (!lua_isinteger(L, i))
        luaL_error(L, "moonbar.store.%s: limit must be an integer, got %s", fn,
                   lua_type(L, i) == LUA_TNUMBER ? "a float" : luaL_typename(L, i));
    lua_Integer n = lua_tointeger(L, i);
    if (n < 1 || n > MB_STORE_LIMIT_MAX)
        luaL_error(L, "moonbar.store.%s: limit must be between 1 and %d, got %I", fn, MB_STORE_LIMIT_MAX, n);
    return (int)n;
}

/* opts at i: nil or a table with only the keys allowed; *wait and *version (if not NULL)
 * from its "wait" and "version" fields. */
static void opts_arg(lua_State *L, int i, const char *fn, bool *wait, lua_Integer *version)
{
    if (lua_isnoneornil(L, i))
        return;
    if (!lua_istable(L, i))
        luaL_error(L, "moonbar.store.%s: options must be a table, got %s", fn, luaL_typename(L, i));
    lua_pushnil(L);
    while (lua_next(L, i)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (k && strcmp(k, "wait") == 0) {
            if (!lua_isboolean(L, -1))
                luaL_error(L, "moonbar.store.%s: options.wait must be true or false, got %s", fn,
                           luaL_typename(L, -1));
            *wait = lua_toboolean(L, -1);
        } else if (k && version && strcmp(k, "version") == 0) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
                luaL_error(L, "moonbar.store.%s: options.version must be an integer >= 0 (0: only if absent)", fn);
            *version = lua_tointeger(L, -1);
        } else {
            luaL_error(L, "moonbar.store.%s: unknown option %s (it takes %s)", fn,
                       k ? k : luaL_typename(L, -2), version ? "version and wait" : "wait");
        }
        lua_pop(L, 1);
    }
}

static struct mb_store_op *new_op(lua_State *L, struct box *b, enum mb_store_kind kind, const char *coll,
                                  size_t coll_len, const char *key, size_t key_len, size_t value_len)
{
    b->op = mb_store_op_new(kind, coll, coll_len, key, key_len, NULL, value_len);
    if (!b->op)
        luaL_error(L, "moonbar.store: out of memory");
    return b->op;
}

/* ---- results ---- */

/* Raises the moonbar error uri with message and kwargs (stolen; NULL: none). */
static int raise_error(lua_State *L, struct box *b, const char *uri, const char *message, json_t *kwargs)
{
    json_t *args = json_array();
    json_array_append_new(args, json_stringn_nocheck(message, strlen(message)));
    json_decref(b->json);
    b->json = args; /* freed by __gc if pushing the error raises first */
    json_t *kw = kwargs;
    mb_lua_push_error(L, uri, args, kw);
    json_decref(kw);
    json_decref(args);
    b->json = NULL;
    return lua_error(L);
}

static int raise_busy(lua_State *L, struct box *b, const char *fn)
{
    char msg[160];
    snprintf(msg, sizeof msg, "moonbar.store.%s: the store is busy (%d operations waiting)", fn, MB_STORE_QUEUE_MAX);
    return raise_error(L, b, URI_BUSY, msg, NULL);
}

static const char *kind_fn(enum mb_store_kind k)
{
    static const char *const names[] = { "get", "put", "delete", "list", "submit", "top", "rank", "sync" };
    return names[k];
}

/* Pushes the Lua value of JSON text s (n bytes). */
static void push_value(lua_State *L, struct box *b, const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j) {
        char msg[300];
        snprintf(msg, sizeof msg, "moonbar.store.%s: a stored value is not JSON: %s", kind_fn(b->op->kind), e.text);
        raise_error(L, b, URI_FAILED, msg, NULL);
    }
    b->json = j;
    mb_lua_push_json(L, j);
    b->json = NULL;
    json_decref(j);
}

static void push_score(lua_State *L, struct mb_store_score s)
{
    if (s.is_int)
        lua_pushinteger(L, (lua_Integer)s.i);
    else
        lua_pushnumber(L, (lua_Number)s.d);
}

/* Pushes what op gave (or raises its failure) and frees it. Returns the number of results. */
static int results(lua_State *L, struct box *b)
{
    struct mb_store_op *op = b->op;
    char msg[400];
    if (op->status == MB_STORE_FAILED) {
        snprintf(msg, sizeof msg, "moonbar.store.%s %.*s%s%.*s failed: %s", kind_fn(op->kind), (int)op->coll_len,
                 op->coll, op->key_len ? "/" : "", (int)op->key_len, op->key, op->err);
        return raise_error(L, b, URI_FAILED, msg, NULL);
    }
    if (op->status == MB_STORE_CONFLICT) {
        snprintf(msg, sizeof msg, "moonbar.store.put %.*s/%.*s: version conflict: expected version %lld, found %lld%s",
                 (int)op->coll_len, op->coll, (int)op->key_len, op->key, (long long)op->expect,
                 (long long)op->version, op->version == 0 ? " (absent)" : "");
        return raise_error(L, b, URI_CONFLICT, msg,
                     json_pack("{sIsI}", "expected", (json_int_t)op->expect, "actual", (json_int_t)op->version));
    }
    int n = 1;
    switch (op->kind) {
    case MB_STORE_GET:
        if (op->status == MB_STORE_ABSENT) {
            lua_pushnil(L);
            break;
        }
        push_value(L, b, op->text, op->text_len - 1);
        lua_pushinteger(L, (lua_Integer)op->version);
        n = 2;
        break;
    case MB_STORE_PUT:
        lua_pushinteger(L, (lua_Integer)op->version);
        break;
    case MB_STORE_DELETE:
        lua_pushboolean(L, op->existed);
        break;
    case MB_STORE_LIST:
        lua_createtable(L, (int)op->nrows, 0);
        mb_lua_mark_array(L, -1);
        for (size_t i = 0; i < op->nrows; i++) {
            const struct mb_store_row *row = &op->rows[i];
            lua_createtable(L, 0, 3);
            lua_pushlstring(L, op->text + row->key, row->key_len);
            lua_setfield(L, -2, "key");
            push_value(L, b, op->text + row->value, row->value_len);
            lua_setfield(L, -2, "value");
            lua_pushinteger(L, (lua_Integer)row->version);
            lua_setfield(L, -2, "version");
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case MB_STORE_SUBMIT:
        push_score(L, op->score_now);
        break;
    case MB_STORE_TOP:
        lua_createtable(L, (int)op->nrows, 0);
        mb_lua_mark_array(L, -1);
        for (size_t i = 0; i < op->nrows; i++) {
            const struct mb_store_row *row = &op->rows[i];
            lua_createtable(L, 0, 3);
            lua_pushinteger(L, (lua_Integer)i + 1);
            lua_setfield(L, -2, "rank");
            lua_pushlstring(L, op->text + row->key, row->key_len);
            lua_setfield(L, -2, "owner");
            push_score(L, row->score);
            lua_setfield(L, -2, "score");
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case MB_STORE_RANK:
        if (op->status == MB_STORE_ABSENT) {
            lua_pushnil(L);
            break;
        }
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, (lua_Integer)op->rank);
        lua_setfield(L, -2, "rank");
        push_score(L, op->score_now);
        lua_setfield(L, -2, "score");
        break;
    case MB_STORE_SYNC:
        lua_pushboolean(L, 1);
        break;
    }
    mb_store_op_free(op);
    b->op = NULL;
    return n;
}

/* ---- running ---- */

/* The store is done with a waiting op (loop thread, after its batch committed). */
static void on_done(struct mb_store_op *op)
{
    struct box *b = op->data;
    struct task *t = b->task;
    b->op = op;
    if (t->sc->closing)
        return; /* never resumed: the box frees op and task with the Lua state */
    b->task = NULL;
    mb_script_run_task(t, 0);
}

static int resume_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    return results(L, lua_touserdata(L, (int)ctx));
}

/* Runs the op in b (box at index boxidx): queued and waited for in a task, at once elsewhere;
 * wait false: queued, no result. */
static int execute(lua_State *L, int boxidx, struct box *b, bool wait)
{
    struct mb_script *sc = mb_script_of(L);
    struct mb_store *st = sc->r->store;
    struct mb_store_op *op = b->op;
    if (!wait) {
        if (mb_store_submit(st, op) < 0)
            return raise_busy(L, b, kind_fn(op->kind));
        b->op = NULL;
        return 0;
    }
    struct task *t = mb_script_current_task(sc);
    if (t && t->co == L && lua_isyieldable(L)) {
        op->done = on_done;
        op->data = b;
        op->owner = sc;
        if (mb_store_submit(st, op) < 0) {
            op->done = NULL;
            return raise_busy(L, b, kind_fn(op->kind));
        }
        b->op = NULL;
        b->task = t;
        t->waiting = true;
        return lua_yieldk(L, 0, (lua_KContext)boxidx, resume_k);
    }
    mb_store_run_now(st, op);
    return results(L, b);
}

/* ---- the functions ---- */

/* get(coll, key) → value, version | nil */
static int l_get(lua_State *L)
{
    size_t cl, kl;
    store_of(L, "get");
    const char *coll = name_arg(L, 1, "get", "collection", false, &cl);
    const char *key = name_arg(L, 2, "get", "key", false, &kl);
    struct box *b = new_box(L);
    new_op(L, b, MB_STORE_GET, coll, cl, key, kl, 0);
    return execute(L, lua_gettop(L), b, true);
}

/* put(coll, key, value [, {version = n, wait = bool}]) → version (nothing with wait = false) */
static int l_put(lua_State *L)
{
    size_t cl, kl;
    store_of(L, "put");
    const char *coll = name_arg(L, 1, "put", "collection", false, &cl);
    const char *key = name_arg(L, 2, "put", "key", false, &kl);
    if (lua_isnoneornil(L, 3))
        return luaL_error(L, "moonbar.store.put: value is missing (delete removes a key; moonbar.null stores null)");
    bool wait = true;
    lua_Integer version = -1;
    opts_arg(L, 4, "put", &wait, &version);
    lua_settop(L, 4);
    struct box *b = new_box(L);
    char why[200];
    json_t *j = mb_lua_to_json(L, 3, why, sizeof why);
    if (!j)
        return luaL_error(L, "moonbar.store.put: value cannot be stored: %s", why);
    b->json = j;
    /* one encoding pass (moonbar's encoder, jansson's exact output) into the router's scratch
     * buffer: no script callback runs while the router holds bytes there */
    struct mb_buf *out = &mb_script_of(L)->r->scratch;
    mb_buf_reset(out);
    if (mb_json_dump(out, j) < 0 || out->len == 0)
        return luaL_error(L, "moonbar.store.put: value cannot be written as JSON");
    struct mb_store_op *op = new_op(L, b, MB_STORE_PUT, coll, cl, key, kl, out->len);
    memcpy(op->value, mb_buf_data(out), out->len);
    b->json = NULL;
    json_decref(j);
    op->expect = version;
    return execute(L, 5, b, wait);
}

/* delete(coll, key [, {wait = bool}]) → existed */
static int l_delete(lua_State *L)
{
    size_t cl, kl;
    store_of(L, "delete");
    const char *coll = name_arg(L, 1, "delete", "collection", false, &cl);
    const char *key = name_arg(L, 2, "delete", "key", false, &kl);
    bool wait = true;
    opts_arg(L, 3, "delete", &wait, NULL);
    lua_settop(L, 3);
    struct box *b = new_box(L);
    new_op(L, b, MB_STORE_DELETE, coll, cl, key, kl, 0);
    return execute(L, 4, b, wait);
}

/* list(coll [, prefix [, limit]]) → { {key =, value =, version =}, ... } by key */
static int l_list(lua_State *L)
{
    size_t cl, pl = 0;
    store_of(L, "list");
    const char *coll = name_arg(L, 1, "list", "collection", false, &cl);
    const char *prefix = lua_isnoneornil(L, 2) ? "" : name_arg(L, 2, "list", "prefix", true, &pl);
    int limit = limit_arg(L, 3, "list", MB_STORE_LIST_DEFAULT);
    lua_settop(L, 3);
    struct box *b = new_box(L);
    new_op(L, b, MB_STORE_LIST, coll, cl, prefix, pl, 0)->limit = limit;
    return execute(L, 4, b, true);
}

/* submit(board, owner, score [, "best" | "set" | "incr"]) → the owner's score now */
static int l_submit(lua_State *L)
{
    size_t bl, ol;
    store_of(L, "submit");
    const char *board = name_arg(L, 1, "submit", "board", false, &bl);
    const char *owner = name_arg(L, 2, "submit", "owner", false, &ol);
    if (lua_type(L, 3) != LUA_TNUMBER)
        return luaL_error(L, "moonbar.store.submit: score must be a number, got %s", luaL_typename(L, 3));
    struct mb_store_score score = { 0 };
    if (lua_isinteger(L, 3)) {
        score.is_int = true;
        score.i = (int64_t)lua_tointeger(L, 3);
    } else {
        score.d = (double)lua_tonumber(L, 3);
        if (!isfinite(score.d))
            return luaL_error(L, "moonbar.store.submit: score must be a finite number");
    }
    enum mb_score_op sop = MB_SCORE_BEST;
    if (!lua_isnoneornil(L, 4)) {
        const char *s = lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : "";
        if (strcmp(s, "best") == 0)
            sop = MB_SCORE_BEST;
        else if (strcmp(s, "set") == 0)
            sop = MB_SCORE_SET;
        else if (strcmp(s, "incr") == 0)
            sop = MB_SCORE_INCR;
        else
            return luaL_error(L, "moonbar.store.submit: op must be \"best\", \"set\" or \"incr\", got %s",
                              lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : luaL_typename(L, 4));
    }
    lua_settop(L, 4);
    struct box *b = new_box(L);
    struct mb_store_op *op = new_op(L, b, MB_STORE_SUBMIT, board, bl, owner, ol, 0);
    op->score = score;
    op->score_op = sop;
    return execute(L, 5, b, true);
}

/* top(board [, limit]) → { {rank =, owner =, score =}, ... } best first */
static int l_top(lua_State *L)
{
    size_t bl;
    store_of(L, "top");
    const char *board = name_arg(L, 1, "top", "board", false, &bl);
    int limit = limit_arg(L, 2, "top", MB_STORE_TOP_DEFAULT);
    lua_settop(L, 2);
    struct box *b = new_box(L);
    new_op(L, b, MB_STORE_TOP, board, bl, NULL, 0, 0)->limit = limit;
    return execute(L, 3, b, true);
}

/* rank(board, owner) → {rank =, score =} | nil */
static int l_rank(lua_State *L)
{
    size_t bl, ol;
    store_of(L, "rank");
    const char *board = name_arg(L, 1, "rank", "board", false, &bl);
    const char *owner = name_arg(L, 2, "rank", "owner", false, &ol);
    lua_settop(L, 2);
    struct box *b = new_box(L);
    new_op(L, b, MB_STORE_RANK, board, bl, owner, ol, 0);
    return execute(L, 3, b, true);
}

/* sync() → true once every write queued before it is committed; raises if one failed */
static int l_sync(lua_State *L)
{
    store_of(L, "sync");
    lua_settop(L, 0);
    struct box *b = new_box(L);
    new_op(L, b, MB_STORE_SYNC, NULL, 0, NULL, 0, 0);
    return execute(L, 1, b, true);
}

void mb_lua_store_open(lua_State *L, struct mb_script *sc)
{
    (void)sc; /* the functions find their script through the state's extra space */
    static const luaL_Reg fns[] = {
        { "get", l_get }, { "put", l_put }, { "delete", l_delete }, { "list", l_list }, { "submit", l_submit },
        { "top", l_top }, { "rank", l_rank }, { "sync", l_sync }, { NULL, NULL },
    };
    if (luaL_newmetatable(L, BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
}
