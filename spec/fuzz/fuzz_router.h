/* Shared by the harnesses that drive a whole router (fuzz_session, fuzz_rooms): one router
 * per process on its own loop, no listeners, its store in a temporary folder removed at exit,
 * and a fake transport whose sessions the harness opens and closes itself.
 *
 * The transport checks that every message the router sends is one complete value of the
 * session's serializer (mb_codec_skip), and keeps nothing. Its close() only marks the
 * connection; fz_reap() frees what was closed, as a real transport's close callback would. */
#ifndef FUZZ_ROUTER_H
#define FUZZ_ROUTER_H

#include "fuzz_util.h"

#include "mb_codec.h"
#include "mb_config.h"
#include "mb_router.h"
#include "mb_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fz_conn {
    struct mb_session *s; /* NULL: the slot is free */
    int ser;              /* enum mb_ser, or -1: an in-process session (send_json) */
    bool closed;          /* the router asked the transport to close */
    size_t sent;          /* messages received from the router */
    json_t *last;         /* in-process sessions: the last RESULT or ERROR (fuzz_rooms reads answers) */
};

static inline void fz_send(void *conn, const char *data, size_t len)
{
    struct fz_conn *c = conn;
    ASSERT(!c->closed);
    ASSERT(c->ser >= 0 && len > 0);
    ASSERT(mb_codec_skip((enum mb_ser)c->ser, data, data + len) == data + len);
    c->sent++;
}

static inline void fz_send_json(void *conn, json_t *msg)
{
    struct fz_conn *c = conn;
    ASSERT(!c->closed && json_is_array(msg) && json_is_integer(json_array_get(msg, 0)));
    json_int_t type = json_integer_value(json_array_get(msg, 0));
    if (type == 50 || type == 8) { /* RESULT, ERROR: the answer fuzz_rooms waits for */
        json_decref(c->last);
        c->last = json_incref(msg);
    }
    c->sent++;
}

static size_t fz_queued(void *conn)
{
    (void)conn;
    return 0;
}

static inline void fz_set_reading(void *conn, bool on)
{
    (void)conn;
    (void)on;
}

static inline void fz_close(void *conn, int code, const char *reason, bool flush)
{
    (void)code;
    (void)reason;
    (void)flush;
    ((struct fz_conn *)conn)->closed = true;
}

static const struct mb_transport fz_transport = {
    .name = "fuzz", .send = fz_send, .queued = fz_queued, .set_reading = fz_set_reading, .close = fz_close,
};
static const struct mb_transport fz_transport_json = {
    .name = "fuzz-json", .send = fz_send, .send_json = fz_send_json, .queued = fz_queued,
    .set_reading = fz_set_reading, .close = fz_close,
};

static struct {
    uv_loop_t loop;
    struct mb_config cfg;
    struct mb_router r;
    char dir[64];
    char db[128];
} fz;

static inline void fz_cleanup(void)
{
    static const char *const ext[] = { "", "-wal", "-shm", "-journal" };
    char p[160];
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        snprintf(p, sizeof p, "%s%s", fz.db, ext[i]);
        unlink(p);
    }
    rmdir(fz.dir);
}

/* Makes the router from the defaults (one realm, realm1) with no listener; setup(cfg) may
 * change the config first (apps). Exits the process when it cannot. */
static inline void fz_router_init(void (*setup)(struct mb_config *cfg))
{
    uv_loop_init(&fz.loop);
    ASSERT(mb_config_defaults(&fz.cfg, NULL) == 0);
    /* no listener: the config keeps the default one allocated, unused (it stays reachable) */
    fz.cfg.nlisteners = 0;
    fz.cfg.log_level = getenv("MB_FUZZ_LOG") ? atoi(getenv("MB_FUZZ_LOG")) : -1;
    fz.cfg.busy_poll_us = 0;
    snprintf(fz.dir, sizeof fz.dir, "/tmp/mb-fuzz-XXXXXX");
    ASSERT(mkdtemp(fz.dir));
    snprintf(fz.db, sizeof fz.db, "%s/store.db", fz.dir);
    free(fz.cfg.store_path);
    fz.cfg.store_path = strdup(fz.db);
    atexit(fz_cleanup);
    if (setup)
        setup(&fz.cfg);
    ASSERT(mb_router_init(&fz.r, &fz.loop, &fz.cfg) == 0);
    /* libFuzzer keeps its own SIGINT/SIGTERM handling */
    uv_signal_stop(&fz.r.sigint);
    uv_signal_stop(&fz.r.sigterm);
    uv_signal_stop(&fz.r.sighup);
}

static inline struct mb_session *fz_open(struct fz_conn *c, int ser, const char *peer)
{
    memset(c, 0, sizeof *c);
    c->ser = ser;
    c->s = mb_session_new(&fz.r, ser < 0 ? &fz_transport_json : &fz_transport, c, peer);
    ASSERT(c->s);
    c->s->ser = ser < 0 ? MB_SER_JSON : ser;
    return c->s;
}

/* The connection is gone (closed by the router, or lost): the session goes with it. */
static inline void fz_drop(struct fz_conn *c)
{
    if (c->s)
        mb_session_free(c->s);
    c->s = NULL;
    json_decref(c->last);
    c->last = NULL;
}

/* One turn of the loop (the safe point closes doomed sessions), then frees the sessions whose
 * transport was closed. */
static inline void fz_turn(struct fz_conn *conns, size_t n)
{
    uv_run(&fz.loop, UV_RUN_NOWAIT);
    for (size_t i = 0; i < n; i++)
        if (conns[i].s && conns[i].closed)
            fz_drop(&conns[i]);
}

/* Nothing is left of the sessions in realm: no session, subscription, registration, call. */
static inline void fz_check_empty(struct mb_realm *realm)
{
    struct mb_router *r = &fz.r;
    ASSERT(realm->nsessions == 0);
    ASSERT(realm->broker.by_id.len == 0);
    ASSERT(realm->broker.match.exact.len == 0 && realm->broker.match.prefix.len == 0);
    ASSERT(!realm->broker.match.count[0] && !realm->broker.match.count[1] && !realm->broker.match.count[2]);
    ASSERT(realm->dealer.by_id.len == 0);
    ASSERT(realm->dealer.match.exact.len == 0 && realm->dealer.match.prefix.len == 0);
    ASSERT(!realm->dealer.match.count[0] && !realm->dealer.match.count[1] && !realm->dealer.match.count[2]);
    (void)r;
}

#endif
