/* Inside the Lua engine: scripts, their versions ("generations"), tasks (one coroutine per
 * callback) and what the router's messages to a script are waiting for. */
#ifndef MB_LUA_INTERNAL_H
#define MB_LUA_INTERNAL_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "mb_lua.h"
#include "mb_lua_value.h"

enum handler_kind { H_REGISTER, H_SUBSCRIBE };

/* A registration or subscription a script holds; kept across versions when both have it. */
struct handler {
    enum handler_kind kind;
    char *key; /* kind, match, invoke and URI: equal keys are the same handler across versions */
    char *uri;
    int match;
    char *invoke; /* registrations: the invoke option, or NULL */
    bool disclose; /* registrations: Options.disclose_caller */
    uint64_t id;  /* registration/subscription ID once confirmed, else 0 */
    int fn;       /* registry ref of the current function */
    unsigned id_version; /* the version that last declared it */
};

/* What a declaration made while a version loads asks for. */
struct decl {
    enum handler_kind kind;
    char *uri;
    int match;
    char *invoke;
    int fn;
    bool disclose;
};

struct gen {
    unsigned version;
    int env;               /* registry ref of its environment */
    struct decl *decls;    /* declared while loading */
    size_t ndecls, capdecls;
    struct mb_vec timers;  /* struct lua_timer * */
    int authorize, authenticate; /* policy script: registry refs or LUA_NOREF */
    struct mb_map policies;      /* name → (intptr_t) registry ref */
    char **policy_names;
    size_t npolicy_names;
    struct mb_vec routes; /* struct lua_route *: moonbar.http.route declared while loading */
};

enum task_kind { T_INVOCATION, T_EVENT, T_TIMER, T_SYSTEM, T_HTTP };

/* One callback running (or suspended in moonbar.call) in its own coroutine. */
struct task {
    struct mb_script *sc;
    enum task_kind kind;
    uint64_t invocation; /* T_INVOCATION: the INVOCATION's request ID */
    lua_State *co;
    int ref; /* registry ref anchoring co */
    bool waiting; /* suspended in moonbar.call */
    bool receive_progress; /* T_INVOCATION: its caller takes progressive results (moonbar.progress) */
    struct lua_http_req *http; /* T_HTTP: the HTTP request it answers, NULL once answered */
};

/* What an answer from the router to a script's request is for. */
enum wait_kind { W_CALL, W_REGISTER, W_SUBSCRIBE, W_OTHER };
struct waiting {
    enum wait_kind kind;
    struct task *task;  /* W_CALL */
    struct handler *h;  /* W_REGISTER, W_SUBSCRIBE */
};

struct lua_timer;

struct mb_script {
    struct mb_router *r;
    struct mb_realm *realm;
    struct mb_lua_realm *lr;
    char *path;   /* the file loaded (a folder app: its init.lua) */
    char *name;   /* for logs and moonbar.reload: the file name, or the folder's */
    char *dir;    /* require() looks here */
    char *watch_name; /* file name watched in dir, NULL: any .lua file */
    bool is_policy;
    bool is_system; /* the realm's built-in moonbar.reload callee: no Lua */

    lua_State *L;
    lua_State *sync; /* thread for synchronous callbacks (authorizer, policies) */
    size_t mem, mem_limit;
    uint64_t deadline; /* uv_hrtime() ns after which the running callback is stopped */
    double budget;     /* seconds: the running callback's budget (for the message) */
    bool killed;
    bool stopping; /* moonbar shuts down: on_stop runs with a budget of at least 5 s */
    int depth; /* callbacks running (nested synchronous ones included) */

    struct mb_session *s; /* in-process session */
    uint64_t next_request;
    struct mb_vec inbox; /* json_t * messages from the router */
    struct mb_vec inbox_spare; /* the last batch's vector, emptied: the next inbox */
    /* threads of tasks that returned normally, kept for the next tasks (anchored by ref) */
    struct { lua_State *co; int ref; } spare[32];
    int nspare;

    struct mb_map handlers; /* key → struct handler */
    struct mb_map regs;     /* registration ID → struct handler */
    struct mb_map subs;     /* subscription ID → struct handler */
    struct mb_map waiting;  /* request ID → struct waiting */
    struct lua_http_req *http_reqs;   /* HTTP requests its tasks answer (api_http.c) */
    struct lua_http_call *http_calls; /* moonbar.http.request calls in flight (api_http.c) */

    struct gen *gen;     /* the version running */
    struct gen *loading; /* the version being loaded, or NULL */
    unsigned versions;
    int state; /* registry ref of moonbar.state */
    unsigned long long text_hash;

    uv_fs_event_t watcher;
    uv_timer_t debounce;
    bool watching, closing;
    int pending_closes;
    struct mb_script *next;
};

struct mb_lua_realm {
    struct mb_script *scripts; /* apps, the policy script, and the system callee */
    struct mb_script *policy;
};

struct mb_lua {
    struct mb_router *r;
    uv_idle_t idle; /* keeps the loop turning while inboxes are not empty */
    bool idle_on;
    bool stopped;
    struct task *current; /* the callback running, if any */
    struct lua_http_path *http_paths; /* the HTTP paths scripts serve (api_http.c) */
};

/* script.c */
struct mb_script *mb_script_of(lua_State *L);
void mb_script_send(struct mb_script *sc, json_t *msg); /* steals msg */
uint64_t mb_script_request(struct mb_script *sc, struct waiting w);
int mb_script_declare(struct mb_script *sc, lua_State *L, enum handler_kind kind, const char *uri, int match,
                      const char *invoke, bool disclose, int fnidx);
void mb_script_run_task(struct task *t, int nargs);
struct task *mb_script_new_task(struct mb_script *sc, enum task_kind kind, int fnref);
struct task *mb_script_current_task(struct mb_script *sc);
int mb_script_reload(struct mb_script *sc, char *why, size_t whylen);
void mb_script_begin(struct mb_script *sc);
void mb_script_end(struct mb_script *sc);
/* Runs the function at the top of sc->sync's stack with nargs arguments and a budget; 0 with
 * nres results on the stack, or -1 with the message in why. */
int mb_script_call_sync(struct mb_script *sc, int nargs, int nres, char *why, size_t whylen);

/* api_store.c: pushes the moonbar.store table */
void mb_lua_store_open(lua_State *L, struct mb_script *sc);

/* api_http.c: moonbar.http and moonbar.json */
void mb_lua_http_open(lua_State *L, struct mb_script *sc); /* pushes the moonbar.http table */
void mb_lua_json_open(lua_State *L);                       /* pushes the moonbar.json table */
/* The version g is swapped in: its routes become the script's (the others it served go). */
void mb_lua_http_swap(struct mb_script *sc, struct gen *g);
/* Frees the routes g declared and did not hand over (a rejected version). */
void mb_lua_http_gen_free(struct mb_script *sc, struct gen *g);
/* A T_HTTP task returned nres values (on t->co) / failed with an error (uri, args): the answer. */
void mb_lua_http_answer(struct task *t, int nres);
void mb_lua_http_fail(struct task *t, const char *uri, json_t *args);
/* Shutdown: the script's routes go, its requests get 503, its outgoing requests are canceled. */
void mb_lua_http_stop(struct mb_script *sc);

/* api.c */
void mb_lua_api_open(lua_State *L, struct mb_script *sc); /* pushes the moonbar module */
void mb_lua_push_session(lua_State *L, struct mb_session *s);
void mb_lua_timer_cancel(struct lua_timer *t);
/* Pushes the error object of a WAMP ERROR (uri, args, kwargs). */
void mb_lua_push_error(lua_State *L, const char *uri, json_t *args, json_t *kwargs);
/* Reads a value raised or returned by a callback into WAMP payload: returns the error URI
 * (static or in buf) and sets the args and kwargs (new references or NULL). */
const char *mb_lua_error_payload(lua_State *L, int idx, json_t **args, json_t **kwargs, char *buf, size_t n);
/* Payload of the nres values a handler returned. 0, or -1 with the reason. */
int mb_lua_result_payload(lua_State *L, int first, int nres, json_t **args, json_t **kwargs, char *err, size_t n);

#endif
