/* Routing cost benchmark (make bench): what moonbar does for one PUBLISH or one CALL, from the
 * bytes of the message to the bytes queued for the receiver (JSON decode, validation, matching,
 * EVENT/INVOCATION encode), with 10, 10 000 and 1 000 000 patterns of each match policy
 * registered. Sessions use an in-process transport that only counts bytes, so socket costs
 * (the same whatever the number of patterns) are left out.
 *
 * Output: one table row per (policy, patterns) with ns per PUBLISH and per CALL (CALL →
 * INVOCATION, YIELD → RESULT), then the ratio of the cost at the largest count to the cost at
 * 10, and one machine-readable line per row ("BENCH match ..."). */
#include "bench_common.h"

static const char *const policies[] = { "exact", "prefix", "wildcard" };

/* Pattern i of a policy, and a URI that matches exactly pattern i. */
static int pattern(char *out, size_t n, int policy, long i)
{
    switch (policy) {
    case 0: return snprintf(out, n, "com.example.svc%ld.op", i);
    case 1: return snprintf(out, n, "com.example.svc%ld.", i);
    default: return snprintf(out, n, "com.example.svc%ld..op", i);
    }
}

static int target(char *out, size_t n, int policy, long i)
{
    switch (policy) {
    case 0: return snprintf(out, n, "com.example.svc%ld.op", i);
    case 1: return snprintf(out, n, "com.example.svc%ld.op.item", i);
    default: return snprintf(out, n, "com.example.svc%ld.item.op", i);
    }
}

int main(int argc, char **argv)
{
    long max = argc > 1 ? atol(argv[1]) : 1000000;
    long ops = argc > 2 ? atol(argv[2]) : 300000;
    long counts[] = { 10, 10000, max };
    int ncounts = max > 10000 ? 3 : 2;

    struct mb_config cfg;
    mb_config_defaults(&cfg, NULL);
    cfg.ws_enabled = cfg.raw_enabled = false;
    cfg.log_level = MB_LOG_ERROR;
    cfg.max_queue_bytes = (size_t)1 << 40;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct mb_router r;
    if (mb_router_init(&r, &loop, &cfg) < 0)
        return 1;

    enum { NTARGETS = 4096 };
    static char targets[NTARGETS][64];
    static char pubs[NTARGETS][160], calls[NTARGETS][160];
    static size_t publen[NTARGETS], calllen[NTARGETS];
    double pub_ns[3][3], call_ns[3][3];
    srand(42);

    printf("Routing cost per message (decode + match + encode, no sockets), median of 3 x %ld ops\n\n", ops);
    printf("| policy | patterns | ns/PUBLISH | ns/CALL |\n|---|---|---|---|\n");
    for (int p = 0; p < 3; p++) {
        for (int ci = 0; ci < ncounts; ci++) {
            long n = counts[ci];
            struct null_conn pc = { 0 }, sc = { 0 }, cc = { 0 }, kc = { 0 };
            struct mb_session *pub = join(&r, &pc), *sub = join(&r, &sc);
            struct mb_session *caller = join(&r, &cc), *callee = join(&r, &kc);
            char pat[64];
            for (long i = 0; i < n; i++) {
                pattern(pat, sizeof pat, p, i);
                feed(sub, "[32,%ld,{\"match\":\"%s\"},\"%s\"]", i + 1, policies[p], pat);
                feed(callee, "[64,%ld,{\"match\":\"%s\"},\"%s\"]", i + 1, policies[p], pat);
            }
            /* messages are formatted before the clock starts: only moonbar's work is timed */
            for (int t = 0; t < NTARGETS; t++) {
                target(targets[t], sizeof targets[t], p, (long)(rand() % n));
                publen[t] = (size_t)snprintf(pubs[t], sizeof pubs[t],
                                             "[16,%d,{},\"%s\",[\"hello\",42],{\"k\":true}]", t + 1, targets[t]);
                calllen[t] = (size_t)snprintf(calls[t], sizeof calls[t],
                                              "[48,%d,{},\"%s\",[\"hello\",42],{\"k\":true}]", t + 1, targets[t]);
            }

            double pr[3], cr[3];
            for (int rep = 0; rep < 3; rep++) { /* median of three */
                size_t before = sc.messages;
                double t0 = now_s();
                for (long k = 0; k < ops; k++)
                    mb_session_receive(pub, pubs[k % NTARGETS], publen[k % NTARGETS]);
                double t1 = now_s();
                pr[rep] = (t1 - t0) * 1e9 / (double)ops;
                if (sc.messages - before != (size_t)ops)
                    fprintf(stderr, "bench: %zu events for %ld publications\n", sc.messages - before, ops);

                before = cc.messages;
                t0 = now_s();
                for (long k = 0; k < ops; k++) {
                    mb_session_receive(caller, calls[k % NTARGETS], calllen[k % NTARGETS]);
                    char y[96];
                    size_t yl = yield_msg(y, callee->next_request - 1);
                    mb_session_receive(callee, y, yl);
                }
                t1 = now_s();
                cr[rep] = (t1 - t0) * 1e9 / (double)ops;
                if (cc.messages - before != (size_t)ops)
                    fprintf(stderr, "bench: %zu results for %ld calls\n", cc.messages - before, ops);
            }
            pub_ns[p][ci] = median3(pr);
            call_ns[p][ci] = median3(cr);

            printf("| %s | %ld | %.0f | %.0f |\n", policies[p], n, pub_ns[p][ci], call_ns[p][ci]);
            fflush(stdout);
            mb_session_free(pub);
            mb_session_free(sub);
            mb_session_free(caller);
            mb_session_free(callee);
        }
    }
    printf("\n| policy | PUBLISH %ld/10 | CALL %ld/10 |\n|---|---|---|\n", counts[ncounts - 1], counts[ncounts - 1]);
    for (int p = 0; p < 3; p++)
        printf("| %s | %.2fx | %.2fx |\n", policies[p], pub_ns[p][ncounts - 1] / pub_ns[p][0],
               call_ns[p][ncounts - 1] / call_ns[p][0]);
    printf("\n");
    for (int p = 0; p < 3; p++)
        for (int ci = 0; ci < ncounts; ci++)
            printf("BENCH match policy=%s patterns=%ld publish_ns=%.0f call_ns=%.0f\n", policies[p], counts[ci],
                   pub_ns[p][ci], call_ns[p][ci]);

    mb_router_stop(&r);
    uv_run(&loop, UV_RUN_DEFAULT);
    mb_router_free(&r);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    mb_config_free(&cfg);
    return 0;
}
