/* The outgoing HTTP bridge's start and stop (mb_bridge_out.h) and the in-process transport its
 * sessions share (out_int.h). */
#include "out_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the in-process transport ------------------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
    struct mb_bridge_out *bo = h->data;
    bool more = false;
    for (size_t i = 0; i < bo->peers.len; i++) {
        struct mb_out_peer *p = bo->peers.items[i];
        if (p->inbox.len == 0)
            continue;
        /* deliver a batch while new messages go to the spare vector (what deliver sends may
         * come back at once) */
        struct mb_vec batch = p->inbox;
        p->inbox = p->spare;
        memset(&p->spare, 0, sizeof p->spare);
        for (size_t k = 0; k < batch.len; k++) {
            if (!p->closing)
                p->ops->deliver(p, batch.items[k]);
            json_decref(batch.items[k]);
        }
        batch.len = 0;
        mb_vec_free(&p->spare);
        p->spare = batch;
        more = more || p->inbox.len > 0;
    }
    if (!more) {
        bo->idle_on = false;
        uv_idle_stop(h);
    }
}

static void ot_send_json(void *conn, json_t *msg)
{
    struct mb_out_peer *p = conn;
    struct mb_bridge_out *bo = p->r->bridge_out;
    if (p->closing || !bo)
        return;
    json_incref(msg);
    if (mb_vec_push(&p->inbox, msg) < 0) {
        json_decref(msg);
        return;
    }
    if (!bo->idle_on) {
        bo->idle_on = true;
        uv_idle_start(&bo->idle, on_idle);
    }
}

static void ot_send(void *conn, const char *data, size_t len)
{
    json_t *msg = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (msg) {
        ot_send_json(conn, msg);
        json_decref(msg);
    }
}

static size_t ot_queued(void *conn)
{
    (void)conn;
    return 0;
}

static void ot_set_reading(void *conn, bool on)
{
    (void)conn;
    (void)on;
}

/* The router closed the session (wamp.session.kill, a protocol error): it stays closed, and is
 * freed at shutdown like every other of the bridge's sessions. */
static void ot_close(void *conn, int code, const char *reason, bool flush)
{
    (void)code;
    (void)flush;
    struct mb_out_peer *p = conn;
    mb_warn(&p->r->log, "%s: its session was closed by the router (%s)", p->name, reason ? reason : "no reason");
}

static const struct mb_transport out_transport = {
    .name = "http-bridge", .send = ot_send, .send_json = ot_send_json, .queued = ot_queued,
    .set_reading = ot_set_reading, .close = ot_close,
};

/* ---- what peers share ------------------------------------------------------------------------ */

int mb_out_peer_join(struct mb_out_peer *p, struct mb_realm *realm, const char *authid, unsigned features)
{
    p->next_request = 1;
    p->s = mb_session_new(p->r, &out_transport, p, "in-process");
    if (!p->s)
        return -1;
    /* Trusted like a Lua script: the operator named its topic or procedure in the same file
     * that defines the roles, so asking the authorizer would add nothing (docs/http-outgoing.md) */
    p->s->trusted = true;
    p->s->features = features;
    mb_session_join(p->s, realm, authid, "trusted", "internal", "moonbar");
    return p->s->state == MB_S_JOINED ? 0 : -1;
}

void mb_out_peer_send(struct mb_out_peer *p, json_t *msg)
{
    if (!msg)
        return;
    if (p->s && p->s->state == MB_S_JOINED && !p->closing)
        mb_session_receive_json(p->s, msg);
    json_decref(msg);
}

uint64_t mb_out_peer_request(struct mb_out_peer *p)
{
    return p->next_request++;
}

void mb_out_peer_error(struct mb_out_peer *p, uint64_t inv, const char *uri, const char *msg)
{
    mb_out_peer_send(p, json_pack("[iII{}s[s]]", MB_ERROR, (json_int_t)MB_INVOCATION, (json_int_t)inv, uri, msg));
}

/* ---- start and stop -------------------------------------------------------------------------- */

int mb_bridge_out_start(struct mb_router *r)
{
    const struct mb_http_config *h = &r->cfg->http;
    if (h->nsubscribers == 0 && h->ncallees == 0)
        return 0;
    struct mb_bridge_out *bo = calloc(1, sizeof *bo);
    if (!bo)
        return -1;
    bo->r = r;
    uv_idle_init(r->loop, &bo->idle);
    bo->idle.data = bo;
    r->bridge_out = bo;
    char why[300];
    for (size_t i = 0; i < h->nsubscribers + h->ncallees; i++) {
        struct mb_out_peer *p = i < h->nsubscribers
                                    ? mb_http_subscriber_new(r, &h->subscribers[i], i, why, sizeof why)
                                    : mb_http_callee_new(r, &h->callees[i - h->nsubscribers], i - h->nsubscribers,
                                                         why, sizeof why);
        if (!p) {
            mb_error(&r->log, "http.%s[%zu]: %s", i < h->nsubscribers ? "subscribers" : "callees",
                     (i < h->nsubscribers ? i : i - h->nsubscribers) + 1, why);
            return -1;
        }
        if (mb_vec_push(&bo->peers, p) < 0) {
            p->closing = true;
            p->ops->stop(p);
            if (p->s)
                mb_session_free(p->s);
            p->ops->release(p);
            return -1;
        }
    }
    return 0;
}

static void on_idle_closed(uv_handle_t *h)
{
    free(h->data);
}

void mb_bridge_out_free(struct mb_router *r)
{
    struct mb_bridge_out *bo = r->bridge_out;
    if (!bo)
        return;
    for (size_t i = 0; i < bo->peers.len; i++) {
        struct mb_out_peer *p = bo->peers.items[i];
        p->closing = true;
        p->ops->stop(p);
        if (p->s) {
            struct mb_session *s = p->s;
            p->s = NULL;
            mb_session_free(s); /* its callers get their answers; nothing reaches p any more */
        }
        for (size_t k = 0; k < p->inbox.len; k++)
            json_decref(p->inbox.items[k]);
        mb_vec_free(&p->inbox);
        mb_vec_free(&p->spare);
        p->ops->release(p);
    }
    mb_vec_free(&bo->peers);
    r->bridge_out = NULL;
    uv_close((uv_handle_t *)&bo->idle, on_idle_closed);
}
