/* Lua benchmark (make bench): calls/s of a trivial procedure served by a Lua script, beside the
 * same procedure served by an external callee, and call routing with a Lua authorizer (cached,
 * uncached) beside none. In-process: caller and external callee are sessions on a transport that
 * counts bytes, so what is measured is moonbar's own work per call, sockets left out.
 * Output: a table, then one "BENCH lua ..." line per row. */
#include "bench_common.h"
#include "mb_lua.h"

#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

struct bench {
    struct mb_config cfg;
    uv_loop_t loop;
    struct mb_router r;
};

static int bench_start(struct bench *b, const char *app, const char *policy)
{
    mb_config_defaults(&b->cfg, NULL);
    b->cfg.ws_enabled = b->cfg.raw_enabled = false;
    b->cfg.log_level = MB_LOG_ERROR;
    b->cfg.max_queue_bytes = (size_t)1 << 40;
    b->cfg.lua_watch = false;
    b->cfg.lua_callback_timeout = 10;
    struct mb_realm_config *rc = &b->cfg.realms[0];
    if (app) {
        rc->apps = calloc(1, sizeof *rc->apps);
        rc->apps[0] = strdup(app);
        rc->napps = 1;
    }
    if (policy)
        rc->policy = strdup(policy);
    uv_loop_init(&b->loop);
    if (mb_router_init(&b->r, &b->loop, &b->cfg) < 0)
        return -1;
    mb_lua_run_pending(&b->r);
    return 0;
}

static void bench_stop(struct bench *b)
{
    mb_router_stop(&b->r);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    mb_router_free(&b->r);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    mb_config_free(&b->cfg);
}

static const char call_msg[] = "[48,1,{},\"com.bench.echo\",[\"hello\",42],{\"k\":true}]";

/* Calls/s, median of three runs of ops calls, to com.bench.echo served by a Lua script (lua)
 * or by the external callee (callee != NULL). */
static double run_calls(struct bench *b, struct mb_session *caller, struct null_conn *cc, struct mb_session *callee,
                        long ops)
{
    double rates[3];
    for (int rep = 0; rep < 3; rep++) {
        size_t before = cc->messages;
        double t0 = now_s();
        for (long k = 0; k < ops; k++) {
            mb_session_receive(caller, call_msg, sizeof call_msg - 1);
            if (callee) {
                char y[96];
                size_t yl = yield_msg(y, callee->next_request - 1);
                mb_session_receive(callee, y, yl);
            } else if ((k & 63) == 63) {
                mb_lua_run_pending(&b->r); /* the safe point of a loop turn, 64 calls a turn */
            }
        }
        mb_lua_run_pending(&b->r);
        rates[rep] = (double)ops / (now_s() - t0);
        if (cc->messages - before != (size_t)ops)
            fprintf(stderr, "bench: %zu answers for %ld calls\n", cc->messages - before, ops);
    }
    return median3(rates);
}

int main(int argc, char **argv)
{
    long ops = argc > 1 ? atol(argv[1]) : 200000;
    int only = argc > 2 ? atoi(argv[2]) : -1; /* one row (0-3), for profiling */
    char dir[] = "/tmp/moonbar-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char app[128], allow[128], cached[128];
    snprintf(app, sizeof app, "%s/echo.lua", dir);
    snprintf(allow, sizeof allow, "%s/allow.lua", dir);
    snprintf(cached, sizeof cached, "%s/cached.lua", dir);
    write_file(app, "moonbar.register('com.bench.echo', function(args, kwargs) "
                    "return moonbar.result(args, kwargs) end)\n");
    write_file(allow, "moonbar.authorize(function(session, action, uri) return true end)\n");
    write_file(cached, "moonbar.authorize(function(session, action, uri) "
                       "return { allow = true, cache = true } end)\n");

    struct { const char *name; const char *app; const char *policy; bool lua_callee; } rows[] = {
        { "external callee", NULL, NULL, false },
        { "Lua procedure", app, NULL, true },
        { "external callee, Lua authorizer (uncached)", NULL, allow, false },
        { "external callee, Lua authorizer (cached)", NULL, cached, false },
    };
    double rate[4];
    printf("Calls per second through moonbar (in-process, no sockets), median of 3 x %ld calls\n\n", ops);
    printf("| scenario | calls/s |\n|---|---|\n");
    for (int i = 0; i < 4; i++) {
        rate[i] = 1;
        if (only >= 0 && i != only)
            continue;
        struct bench b;
        if (bench_start(&b, rows[i].app, rows[i].policy) < 0)
            return 1;
        struct null_conn cc = { 0 }, kc = { 0 };
        struct mb_session *caller = join(&b.r, &cc), *callee = NULL;
        if (!rows[i].lua_callee) {
            callee = join(&b.r, &kc);
            feed(callee, "[64,1,{},\"com.bench.echo\"]");
        }
        rate[i] = run_calls(&b, caller, &cc, callee, ops);
        printf("| %s | %.0f |\n", rows[i].name, rate[i]);
        fflush(stdout);
        mb_session_free(caller);
        if (callee)
            mb_session_free(callee);
        bench_stop(&b);
    }
    printf("\nLua procedure vs external callee: %.2fx; cached authorizer vs none: %.0f%%; uncached: %.0f%%\n\n",
           rate[1] / rate[0], 100.0 * rate[3] / rate[0], 100.0 * rate[2] / rate[0]);
    const char *keys[] = { "external", "lua_procedure", "authorizer_uncached", "authorizer_cached" };
    for (int i = 0; i < 4; i++)
        printf("BENCH lua scenario=%s calls_per_s=%.0f\n", keys[i], rate[i]);
    unlink(app);
    unlink(allow);
    unlink(cached);
    rmdir(dir);
    return 0;
}
