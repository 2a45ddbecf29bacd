/* http.subscribers[i] (mb_bridge_out.h): an in-router session subscribed to one topic whose
 * events are POSTed, one at a time and in order, to one URL as Crossbar's HTTP subscriber does
 * ({"args": [...], "kwargs": {...}}, plus "details" when asked). A failed delivery is retried
 * after a backoff that doubles with every failure in a row (retry_delay, capped at 30 s); events
 * wait in a bounded queue meanwhile, and past its bound the oldest waiting one is dropped. */
#include "out_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BACKOFF 30.0                    /* seconds */
#define RESPONSE_LIMIT ((size_t)1 << 20)    /* the answer is read and thrown away */

struct event {
    char *body;
    size_t len;
    unsigned tries; /* attempts that failed */
};

struct subscriber {
    struct mb_out_peer peer; /* first: the peer is the subscriber */
    const struct mb_http_subscriber_config *cfg;
    const char *method;
    const char *target;      /* the URL, for the log */
    uint64_t subscribe_request;
    uint64_t subscription;
    /* the queue: a ring of the events not delivered yet, the one being delivered first */
    struct event **ring;
    size_t ringcap, head, len;
    size_t limit;            /* events waiting (not counting the one in flight) */
    struct mb_httpc_call *inflight;
    uv_timer_t backoff;      /* armed between a failure and the next attempt */
    bool backing_off;
    unsigned streak;         /* failed attempts in a row: the backoff's exponent */
    uint64_t delivered, retried, dropped, failed;
    uint64_t burst;          /* dropped since the last delivery (logged once per burst) */
};

/* ---- the queue --------------------------------------------------------------------------------- */

static struct event *at(struct subscriber *sb, size_t i)
{
    return sb->ring[(sb->head + i) % sb->ringcap];
}

static int push(struct subscriber *sb, struct event *ev)
{
    if (sb->len == sb->ringcap) {
        size_t ncap = sb->ringcap ? sb->ringcap * 2 : 16;
        struct event **nr = malloc(ncap * sizeof *nr);
        if (!nr)
            return -1;
        for (size_t i = 0; i < sb->len; i++)
            nr[i] = at(sb, i);
        free(sb->ring);
        sb->ring = nr;
        sb->ringcap = ncap;
        sb->head = 0;
    }
    sb->ring[(sb->head + sb->len) % sb->ringcap] = ev;
    sb->len++;
    return 0;
}

static void event_free(struct event *ev)
{
    free(ev->body);
    free(ev);
}

static void pop_front(struct subscriber *sb)
{
    event_free(at(sb, 0));
    sb->head = (sb->head + 1) % sb->ringcap;
    sb->len--;
}

/* Drops the second event (the oldest waiting behind the one in flight). */
static void drop_second(struct subscriber *sb)
{
    size_t first = sb->head, second = (sb->head + 1) % sb->ringcap;
    event_free(sb->ring[second]);
    sb->ring[second] = sb->ring[first];
    sb->head = second;
    sb->len--;
}

/* ---- delivery ------------------------------------------------------------------------------------ */

static void pump(struct subscriber *sb);

static void on_backoff(uv_timer_t *t)
{
    struct subscriber *sb = t->data;
    sb->backing_off = false;
    pump(sb);
}

static double backoff_delay(const struct subscriber *sb)
{
    double d = sb->cfg->retry_delay * ldexp(1.0, (int)(sb->streak > 20 ? 20 : sb->streak) - 1);
    return d > MAX_BACKOFF ? MAX_BACKOFF : d;
}

static void back_off(struct subscriber *sb, double delay)
{
    sb->backing_off = true;
    uv_timer_start(&sb->backoff, on_backoff, (uint64_t)(delay * 1000.0), 0);
}

/* Whether another attempt could go differently: the target failed or is busy, not refused the
 * event (a 4xx but 408 and 429, or a redirect, which is never followed). */
static bool retryable(const struct mb_httpc_response *res)
{
    return res->failure != MB_HTTPC_OK || res->status >= 500 || res->status == 408 || res->status == 429;
}

static void failed_attempt(struct subscriber *sb, const struct mb_httpc_response *res, const char *error)
{
    struct mb_router *r = sb->peer.r;
    char what[400];
    if (!res)
        snprintf(what, sizeof what, "%s", error);
    else if (res->failure != MB_HTTPC_OK)
        snprintf(what, sizeof what, "%s", res->error);
    else
        snprintf(what, sizeof what, "HTTP status %d", res->status);
    bool again = !res || retryable(res);
    struct event *ev = at(sb, 0);
    ev->tries++;
    if (again && ev->tries <= sb->cfg->retries) {
        sb->retried++;
        sb->streak++;
        double delay = backoff_delay(sb);
        mb_log(&r->log, sb->streak == 1 ? MB_LOG_WARN : MB_LOG_DEBUG,
               "%s: delivery to %s failed (%s): retry %u of %u in %.1f s", sb->peer.name, sb->target, what, ev->tries,
               sb->cfg->retries, delay);
        back_off(sb, delay);
        return;
    }
    sb->failed++;
    mb_warn(&r->log, "%s: an event could not be delivered to %s after %u attempt%s (%s): dropped (%llu so far)",
            sb->peer.name, sb->target, ev->tries, ev->tries == 1 ? "" : "s", what, (unsigned long long)sb->failed);
    pop_front(sb);
    if (again) { /* the target is down: the next event waits its turn too */
        sb->streak++;
        back_off(sb, backoff_delay(sb));
    } else {
        sb->streak = 0;
        pump(sb);
    }
}

static void on_done(void *ctx, const struct mb_httpc_response *res)
{
    struct subscriber *sb = ctx;
    struct mb_router *r = sb->peer.r;
    sb->inflight = NULL;
    if (res->failure != MB_HTTPC_OK || res->status < 200 || res->status > 299) {
        failed_attempt(sb, res, NULL);
        return;
    }
    sb->delivered++;
    pop_front(sb);
    if (sb->streak)
        mb_info(&r->log, "%s: %s takes events again (after %u failed attempt%s)", sb->peer.name, sb->target,
                sb->streak, sb->streak == 1 ? "" : "s");
    sb->streak = 0;
    if (sb->burst) {
        mb_warn(&r->log, "%s: %llu event%s dropped while the queue was full (dropped %llu in all)", sb->peer.name,
                (unsigned long long)sb->burst, sb->burst == 1 ? " was" : "s were", (unsigned long long)sb->dropped);
        sb->burst = 0;
    }
    pump(sb);
}

/* Sends the first event unless one is in flight or the backoff runs. */
static void pump(struct subscriber *sb)
{
    if (sb->inflight || sb->backing_off || sb->len == 0 || sb->peer.closing)
        return;
    static const char *const headers[] = { "Content-Type: application/json", NULL };
    struct event *ev = at(sb, 0);
    struct mb_httpc_request req = {
        .method = sb->method, .url = sb->cfg->url, .headers = headers, .body = ev->body, .body_len = ev->len,
        .timeout = sb->cfg->timeout, .max_bytes = RESPONSE_LIMIT,
    };
    sb->inflight = mb_httpc_start(sb->peer.r, &req, on_done, sb);
    if (!sb->inflight)
        failed_attempt(sb, NULL, "the request could not start");
}

/* ---- events -------------------------------------------------------------------------------------- */

/* Crossbar's body: {"args": [...], "kwargs": {...}} (both always there), and with details the
 * EVENT's Details with the publication ID and the topic. */
static char *event_body(struct subscriber *sb, json_t *msg, size_t *len)
{
    json_t *args = json_array_get(msg, 4), *kwargs = json_array_get(msg, 5);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "args", json_is_array(args) ? json_incref(args) : json_array());
    json_object_set_new(o, "kwargs", json_is_object(kwargs) ? json_incref(kwargs) : json_object());
    if (sb->cfg->details) {
        json_t *det = json_array_get(msg, 3);
        json_t *d = json_is_object(det) ? json_copy(det) : json_object();
        if (!d) {
            json_decref(o);
            return NULL;
        }
        json_object_set(d, "publication", json_array_get(msg, 2));
        if (!json_object_get(d, "topic")) /* an exact subscription: the router does not repeat it */
            json_object_set_new(d, "topic", json_string(sb->cfg->topic));
        json_object_set_new(o, "details", d);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

static void on_event(struct subscriber *sb, json_t *msg)
{
    struct mb_router *r = sb->peer.r;
    struct event *ev = calloc(1, sizeof *ev);
    if (!ev || !(ev->body = event_body(sb, msg, &ev->len))) {
        free(ev);
        sb->dropped++;
        mb_warn(&r->log, "%s: out of memory: an event was dropped", sb->peer.name);
        return;
    }
    size_t waiting = sb->len - (sb->inflight ? 1 : 0);
    if (waiting >= sb->limit) {
        if (sb->inflight)
            drop_second(sb);
        else
            pop_front(sb); /* waiting for its retry: the backoff goes on for the next one */
        sb->dropped++;
        if (sb->burst++ == 0)
            mb_warn(&r->log, "%s: queue full (%zu events waiting for %s): dropping the oldest until deliveries "
                    "resume (dropped %llu in all)", sb->peer.name, sb->limit, sb->target,
                    (unsigned long long)sb->dropped);
    }
    if (push(sb, ev) < 0) {
        event_free(ev);
        sb->dropped++;
        return;
    }
    pump(sb);
}

static void deliver(struct mb_out_peer *p, json_t *msg)
{
    struct subscriber *sb = (struct subscriber *)p;
    int type = (int)json_integer_value(json_array_get(msg, 0));
    switch (type) {
    case MB_EVENT:
        if ((uint64_t)json_integer_value(json_array_get(msg, 1)) == sb->subscription)
            on_event(sb, msg);
        return;
    case MB_SUBSCRIBED:
        if ((uint64_t)json_integer_value(json_array_get(msg, 1)) != sb->subscribe_request)
            return;
        sb->subscription = (uint64_t)json_integer_value(json_array_get(msg, 2));
        mb_info(&p->r->log, "%s: events of %s (%s) go to %s %s", p->name, sb->cfg->topic,
                mb_match_policy_name(sb->cfg->match), sb->method, sb->target);
        return;
    case MB_ERROR:
        if ((int)json_integer_value(json_array_get(msg, 1)) == MB_SUBSCRIBE)
            mb_error(&p->r->log, "%s: subscribing to %s was refused: %s %s", p->name, sb->cfg->topic,
                     json_string_value(json_array_get(msg, 4)) ?: "",
                     json_string_value(json_array_get(json_array_get(msg, 5), 0)) ?: "");
        return;
    default:
        return;
    }
}

static void stop(struct mb_out_peer *p)
{
    struct subscriber *sb = (struct subscriber *)p;
    if (sb->inflight) {
        mb_httpc_cancel(sb->inflight);
        sb->inflight = NULL;
    }
    uv_timer_stop(&sb->backoff);
    sb->backing_off = false;
    mb_info(&p->r->log, "%s: %s: delivered %llu, retried %llu, dropped %llu, failed %llu; %zu undelivered at "
            "shutdown", p->name, sb->target, (unsigned long long)sb->delivered, (unsigned long long)sb->retried,
            (unsigned long long)sb->dropped, (unsigned long long)sb->failed, sb->len);
    while (sb->len)
        pop_front(sb);
}

static void on_closed(uv_handle_t *h)
{
    struct subscriber *sb = h->data;
    free(sb->ring);
    free(sb);
}

static void release(struct mb_out_peer *p)
{
    struct subscriber *sb = (struct subscriber *)p;
    uv_close((uv_handle_t *)&sb->backoff, on_closed);
}

static const struct mb_out_peer_ops ops = { .deliver = deliver, .stop = stop, .release = release };

struct mb_out_peer *mb_http_subscriber_new(struct mb_router *r, const struct mb_http_subscriber_config *cfg,
                                           size_t index, char *why, size_t whylen)
{
    struct mb_realm *realm = cfg->realm ? mb_map_get_str(&r->realms, cfg->realm, strlen(cfg->realm)) : NULL;
    if (!realm) {
        snprintf(why, whylen, "no realm %s", cfg->realm ? cfg->realm : "(none given)");
        return NULL;
    }
    const char *method = cfg->method && *cfg->method ? cfg->method : "POST";
    struct mb_httpc_request probe = { .method = method, .url = cfg->url };
    if (!cfg->topic || mb_httpc_check(&probe, why, whylen) < 0) {
        if (!cfg->topic)
            snprintf(why, whylen, "no topic");
        return NULL;
    }
    struct subscriber *sb = calloc(1, sizeof *sb);
    if (!sb) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    sb->peer.ops = &ops;
    sb->peer.r = r;
    snprintf(sb->peer.name, sizeof sb->peer.name, "http.subscribers[%zu]", index + 1);
    sb->cfg = cfg;
    sb->method = method;
    sb->target = cfg->url;
    sb->limit = cfg->queue ? cfg->queue : 1;
    uv_timer_init(r->loop, &sb->backoff);
    sb->backoff.data = sb;
    char authid[48];
    snprintf(authid, sizeof authid, "http-subscriber-%zu", index + 1);
    if (mb_out_peer_join(&sb->peer, realm, authid, 0) < 0) {
        snprintf(why, whylen, "its session cannot join realm %s", realm->name);
        if (sb->peer.s)
            mb_session_free(sb->peer.s);
        release(&sb->peer);
        return NULL;
    }
    sb->subscribe_request = mb_out_peer_request(&sb->peer);
    mb_out_peer_send(&sb->peer, json_pack("[iI{ss}s]", MB_SUBSCRIBE, (json_int_t)sb->subscribe_request, "match",
                                          mb_match_policy_name(cfg->match), cfg->topic));
    return &sb->peer;
}
