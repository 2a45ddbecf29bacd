/* The router object: realms, the loop's own handles, the safe point and shutdown. */
#include "mb_router.h"
#include "mb_crypto.h"
#include "mb_bridge.h"
#include "mb_bridge_out.h"
#include "mb_httpc.h"
#include "mb_httpd.h"
#include "mb_broker.h"
#include "mb_conn.h"
#include "mb_dealer.h"
#include "mb_history.h"
#include "mb_longpoll.h"
#include "mb_lua.h"
#include "mb_session.h"
#include "mb_store.h"
#include "mb_transport.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 100

json_t *mb_router_iso_time(uint64_t ms)
{
    char buf[40];
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03uZ", (unsigned)(ms % 1000));
    return json_string(buf);
}

uint64_t mb_router_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t mb_router_now_ms(const struct mb_router *r)
{
    return uv_now(r->loop);
}

uint64_t mb_router_new_id(struct mb_router *r, const struct mb_map *taken)
{
    for (;;) {
        uint64_t id = mb_idgen_next(&r->ids);
        if (!taken || !mb_map_get_id(taken, id))
            return id;
    }
}

struct mb_realm *mb_realm_new(const char *name, enum mb_uri_rule rule)
{
    struct mb_realm *realm = calloc(1, sizeof *realm);
    if (!realm || !(realm->name = strdup(name))) {
        free(realm);
        return NULL;
    }
    realm->uri_rule = rule;
    return realm;
}

void mb_realm_free(struct mb_realm *realm)
{
    mb_broker_free(&realm->broker);
    if (realm->history)
        mb_history_free(realm->history);
    free(realm->history);
    mb_dealer_free(&realm->dealer);
    mb_realm_auth_free(realm->auth);
    free(realm->name);
    free(realm);
}

/* After the I/O callbacks of each loop turn: close what was doomed, then write. */
static void on_safe_point(uv_check_t *h)
{
    struct mb_router *r = h->data;
    mb_lua_run_pending(r);
    mb_session_reap(r);
    mb_net_flush_all(r);
}

/* Right before the loop waits for I/O: what timers and idle callbacks queued this turn (an
 * answer of the HTTP bridge, a call's timeout) is written now, not after the next wake-up (up
 * to a tick later); then the log lines of this turn go out (stderr is fully buffered, main.c),
 * whichever phase wrote them (I/O, timers, close callbacks). */
static void on_before_poll(uv_prepare_t *h)
{
    struct mb_router *r = h->data;
    mb_session_reap(r);
    mb_net_flush_all(r);
    fflush(stderr);
}

static void on_spin(uv_idle_t *h)
{
    struct mb_router *r = h->data;
    if (uv_hrtime() - r->last_io_ns > (uint64_t)r->cfg->busy_poll_us * 1000) {
        uv_idle_stop(h);
        r->spinning = false;
    }
}

void mb_router_busy_poll(struct mb_router *r)
{
    if (!r->cfg->busy_poll_us || r->stopping)
        return;
    r->last_io_ns = uv_hrtime();
    if (!r->spinning) {
        r->spinning = true;
        uv_idle_start(&r->spin, on_spin);
    }
}

static void on_tick(uv_timer_t *h)
{
    struct mb_router *r = h->data;
    uint64_t now = mb_router_now_ms(r);
    mb_session_check_slow(r, now);
    mb_session_check_hello(r, now);
    mb_dealer_expire(r, now);
    mb_auth_tick(r, now);
    mb_net_sweep(r, now);
    mb_ws_sweep(r, now);
    mb_longpoll_sweep(r, now);
    struct mb_realm *realm;
    for (size_t it = 0; (realm = mb_map_next(&r->realms, &it));)
        if (realm->history)
            mb_history_flush(realm, r, false); /* dirty history rings, at most once a second */
    /* Buffers freed by idle connections sit between live sessions on the heap, where malloc
     * cannot give them back by itself: after a burst (thousands of joins), hand the free pages
     * back to the system, at most every 200 ms. */
    if (r->released_buffers >= 64 && now - r->last_trim >= 200) {
        uint64_t t0 = uv_hrtime();
        malloc_trim(0);
        mb_debug(&r->log, "heap trimmed after %zu idle connections released their buffers (%.2f ms)",
                 r->released_buffers, (double)(uv_hrtime() - t0) / 1e6);
        r->released_buffers = 0;
        r->last_trim = now;
    }
}

static void finish_stop(struct mb_router *r)
{
    if (r->stopped)
        return;
    r->stopped = true;
    mb_net_close_all(r);
    uv_timer_stop(&r->grace);
    uv_close((uv_handle_t *)&r->grace, NULL);
    uv_timer_stop(&r->rate_timer);
    uv_close((uv_handle_t *)&r->rate_timer, NULL);
    uv_close((uv_handle_t *)&r->tick, NULL);
    uv_close((uv_handle_t *)&r->safe_point, NULL);
    uv_close((uv_handle_t *)&r->log_flush, NULL);
    uv_close((uv_handle_t *)&r->spin, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sighup, NULL);
    mb_info(&r->log, "stopped");
}

/* Every 20 ms during shutdown: stop as soon as every peer is gone, or at the deadline.
 * Peers get the first half of the grace to answer GOODBYE; then the rest are closed. */
static void on_grace(uv_timer_t *h)
{
    struct mb_router *r = h->data;
    if (r->all == NULL || --r->grace_left <= 0) {
        finish_stop(r);
        return;
    }
    if (r->grace_left == r->grace_steps / 2)
        for (struct mb_session *s = r->all; s; s = s->next)
            mb_session_close(s, 1001, "router is shutting down", true);
}

void mb_router_stop(struct mb_router *r)
{
    if (r->stopping)
        return;
    r->stopping = true;
    mb_lua_stop(r); /* scripts go first: their callers get their answers */
    mb_bridge_out_free(r); /* then the HTTP subscribers and callees, the same way */
    mb_info(&r->log, "shutting down: %zu session(s) to close", r->nall);
    mb_ws_stop_listening(r);
    mb_net_stop_listening(r);
    for (struct mb_session *s = r->all; s; s = s->next)
        mb_session_shutdown(s, MB_R_SYSTEM_SHUTDOWN, "router is shutting down");
    r->grace_steps = r->grace_left = (int)(r->cfg->shutdown_grace * 1000.0 / 20.0) + 2;
    uv_timer_start(&r->grace, on_grace, 20, 20);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct mb_router *r = h->data;
    if (signum == SIGHUP) {
        mb_info(&r->log, "SIGHUP received: reloading the auth and roles sections and every script");
        mb_auth_reload(r);
        mb_lua_reload_all(r);
        return;
    }
    mb_info(&r->log, "%s received", signum == SIGINT ? "SIGINT" : "SIGTERM");
    mb_router_stop(r);
}

int mb_router_init(struct mb_router *r, uv_loop_t *loop, struct mb_config *cfg)
{
    memset(r, 0, sizeof *r);
    r->loop = loop;
    r->cfg = cfg;
    r->log.level = cfg->log_level;
    mb_idgen_init(&r->ids, 0);
    /* First, before anything else exists: a store that cannot open is a bad setup, like a bad
     * config (exit status 2, one line naming the file), not a crash to clean up after. */
    char why[300];
    r->store = mb_store_open(&mb_store_sqlite, loop, &r->log, cfg->store_path,
                             (uint64_t)cfg->store_max_size_mb << 20, why, sizeof why);
    if (!r->store) {
        fprintf(stderr, "moonbar: store %s: %s\n", cfg->store_path, why);
        return MB_ROUTER_BAD_SETUP;
    }
    mb_info(&r->log, "store %s (up to %zu MiB)", cfg->store_path, cfg->store_max_size_mb);
    if (mb_crypto_init() < 0 || !(r->guard = mb_guard_new())) {
        mb_error(&r->log, "cannot start libsodium or the brute-force guard");
        return -1;
    }
    for (size_t i = 0; i < cfg->nrealms; i++) {
        struct mb_realm *realm = mb_realm_new(cfg->realms[i].name, cfg->realms[i].uri_rule);
        if (!realm || mb_map_put_str(&r->realms, realm->name, strlen(realm->name), realm) < 0) {
            if (realm)
                mb_realm_free(realm);
            return -1;
        }
        realm->broker.max_retained = cfg->max_retained_topics;
        realm->max_sessions = cfg->realms[i].max_sessions ? cfg->realms[i].max_sessions : cfg->max_sessions_per_realm;
        if (!(realm->auth = mb_realm_auth_new(&cfg->realms[i], why, sizeof why))) {
            mb_error(&r->log, "realm %s: %s", realm->name, why);
            return -1;
        }
        realm->auth->gen = ++r->auth_gen;
        if (cfg->realms[i].nhistory) {
            if (!(realm->history = calloc(1, sizeof *realm->history)) ||
                mb_history_init(realm->history, &cfg->realms[i]) < 0) {
                mb_error(&r->log, "realm %s: out of memory for its event history", realm->name);
                return -1;
            }
            mb_history_load(realm, r);
        }
        mb_info(&r->log, "realm %s (uri check %s)", realm->name,
                realm->uri_rule == MB_URI_STRICT ? "strict" : "loose");
    }
    uv_check_init(loop, &r->safe_point);
    uv_idle_init(loop, &r->spin);
    r->spin.data = r;
    r->safe_point.data = r;
    uv_check_start(&r->safe_point, on_safe_point);
    uv_prepare_init(loop, &r->log_flush);
    r->log_flush.data = r;
    uv_prepare_start(&r->log_flush, on_before_poll);
    uv_timer_init(loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&r->tick);
    uv_timer_init(loop, &r->grace);
    r->grace.data = r;
    uv_timer_init(loop, &r->rate_timer);
    r->rate_timer.data = r;
    uv_unref((uv_handle_t *)&r->rate_timer);
    if (cfg->max_message_rate > 0) { /* the token bucket, in millionths of a token */
        double burst = cfg->max_message_burst > 0 ? cfg->max_message_burst : 2 * cfg->max_message_rate;
        if (burst < 1)
            burst = 1;
        r->rate_per_ms = (int64_t)(cfg->max_message_rate * 1000.0);
        if (r->rate_per_ms < 1)
            r->rate_per_ms = 1;
        r->rate_burst = (int64_t)(burst * 1e6);
    }
    uv_signal_init(loop, &r->sigint);
    uv_signal_init(loop, &r->sigterm);
    uv_signal_init(loop, &r->sighup);
    r->sigint.data = r->sigterm.data = r->sighup.data = r;
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    uv_signal_start(&r->sighup, on_signal, SIGHUP);
    if (mb_net_init(r) < 0)
        return -1;
    if (mb_lua_start(r) < 0)
        return -1;
    if (mb_bridge_start(r) < 0) /* after the realms and scripts, before the listeners */
        return -1;
    if (mb_bridge_out_start(r) < 0) /* http.subscribers and http.callees: sessions in the realms */
        return -1;
    bool ws = false;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        ws = ws || cfg->listeners[i].kind == MB_LISTEN_WEBSOCKET;
    if (ws && mb_ws_start(r) < 0)
        return -1;
    if (mb_rawsocket_start(r) < 0)
        return -1;
    if (mb_longpoll_start(r) < 0) /* routes on the WebSocket/HTTP listeners, sessions in the realms */
        return -1;
    return 0;
}

void mb_router_free(struct mb_router *r)
{
    mb_net_free(r); /* after uv_run: every connection is gone; frees the listeners */
    mb_ws_free(r);
    mb_longpoll_free(r); /* its sessions leave their realms while the scripts still run */
    mb_lua_free(r);
    mb_bridge_free(r); /* its sessions leave their realms before the realms go */
    struct mb_realm *realm;
    for (size_t it = 0; (realm = mb_map_next(&r->realms, &it));)
        if (realm->history && r->store)
            mb_history_flush(realm, r, true); /* queued: the close below commits it */
    mb_store_close(r->store); /* after the scripts: commits what they queued */
    r->store = NULL;
    for (size_t it = 0; (realm = mb_map_next(&r->realms, &it));)
        mb_realm_free(realm);
    mb_map_free(&r->realms);
    mb_map_free(&r->sessions);
    const struct mb_auth_counters *a = &r->auth_stats;
    mb_info(&r->log, "auth: joins anonymous %llu, ticket %llu, wampcra %llu, cryptosign %llu; failures %llu, "
            "held %llu, locked out %llu, no matching method %llu, challenge timeouts %llu, guard evictions %llu",
            (unsigned long long)a->joins[MB_AUTH_ANONYMOUS], (unsigned long long)a->joins[MB_AUTH_TICKET],
            (unsigned long long)a->joins[MB_AUTH_WAMPCRA], (unsigned long long)a->joins[MB_AUTH_CRYPTOSIGN],
            (unsigned long long)a->failures, (unsigned long long)a->held, (unsigned long long)a->locked_out,
            (unsigned long long)a->no_method, (unsigned long long)a->timeouts, (unsigned long long)a->guard_evicted);
    const struct mb_limit_counters *k = &r->limits_stats;
    mb_info(&r->log, "limits: connections_refused_total=%llu connections_refused_per_address=%llu "
            "sessions_refused=%llu subscriptions_refused=%llu registrations_refused=%llu "
            "calls_refused_caller=%llu calls_refused_callee=%llu sessions_throttled=%llu messages_delayed=%llu "
            "hello_timeouts=%llu handshake_timeouts=%llu slow_consumers_dropped=%llu messages_too_large=%llu",
            (unsigned long long)k->connections_refused_total, (unsigned long long)k->connections_refused_per_address,
            (unsigned long long)k->sessions_refused, (unsigned long long)k->subscriptions_refused,
            (unsigned long long)k->registrations_refused, (unsigned long long)k->calls_refused_caller,
            (unsigned long long)k->calls_refused_callee, (unsigned long long)k->sessions_throttled,
            (unsigned long long)k->messages_delayed, (unsigned long long)k->hello_timeouts,
            (unsigned long long)k->handshake_timeouts, (unsigned long long)k->slow_consumers_dropped,
            (unsigned long long)k->messages_too_large);
    mb_guard_free(r->guard);
    r->guard = NULL;
    mb_httpc_free(r);
    mb_httpd_free(r);
    mb_buf_free(&r->scratch);
    for (int i = 0; i < MB_SER_COUNT; i++)
        mb_buf_free(&r->enc[i]);
    for (size_t i = 0; i < MB_DICT_CACHE; i++)
        json_decref(r->dicts[i].dict);
    json_decref(r->welcome_roles);
}
