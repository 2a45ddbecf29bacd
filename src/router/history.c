/* Kept events (retained and history), receiver filters, and the event history rings with
 * their persistence in the store. See mb_history.h. */
#include "mb_history.h"
#include "mb_session.h"
#include "mb_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY_COLL "moonbar.history"
#define FLUSH_EVERY_MS 1000

/* ---- filters ------------------------------------------------------------------------------ */

bool mb_filters_get(struct mb_filters *f, json_t *dict)
{
    f->eligible = json_object_get(dict, "eligible");
    f->exclude = json_object_get(dict, "exclude");
    f->eligible_authid = json_object_get(dict, "eligible_authid");
    f->exclude_authid = json_object_get(dict, "exclude_authid");
    f->eligible_authrole = json_object_get(dict, "eligible_authrole");
    f->exclude_authrole = json_object_get(dict, "exclude_authrole");
    return f->eligible || f->exclude || f->eligible_authid || f->exclude_authid || f->eligible_authrole ||
           f->exclude_authrole;
}

static bool id_in(json_t *list, uint64_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v)
        if (json_is_integer(v) && (uint64_t)json_integer_value(v) == id)
            return true;
    return false;
}

static bool str_in(json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    if (!s)
        return false;
    json_array_foreach (list, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

bool mb_filters_pass_identity(const struct mb_filters *f, const struct mb_session *t)
{
    return (!f->eligible_authid || str_in(f->eligible_authid, t->authid)) &&
           (!f->exclude_authid || !str_in(f->exclude_authid, t->authid)) &&
           (!f->eligible_authrole || str_in(f->eligible_authrole, t->authrole)) &&
           (!f->exclude_authrole || !str_in(f->exclude_authrole, t->authrole));
}

bool mb_filters_pass(const struct mb_filters *f, const struct mb_session *t)
{
    return (!f->eligible || id_in(f->eligible, t->id)) && (!f->exclude || !id_in(f->exclude, t->id)) &&
           mb_filters_pass_identity(f, t);
}

/* ---- kept events -------------------------------------------------------------------------- */

static json_t *filters_json(const struct mb_filters *f, bool sessions)
{
    json_t *o = NULL;
    struct { const char *key; json_t *list; } lists[] = {
        { "eligible", sessions ? f->eligible : NULL }, { "exclude", sessions ? f->exclude : NULL },
        { "eligible_authid", f->eligible_authid }, { "exclude_authid", f->exclude_authid },
        { "eligible_authrole", f->eligible_authrole }, { "exclude_authrole", f->exclude_authrole },
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (!lists[i].list)
            continue;
        if (!o && !(o = json_object()))
            return NULL;
        json_object_set(o, lists[i].key, lists[i].list);
    }
    return o;
}

/* ",<args>[,<kwargs>]" of decoded arguments; "" for none. malloc'd. */
static char *tail_of(json_t *args, json_t *kwargs, size_t *len)
{
    char *a = NULL, *k = NULL, *out;
    if (args || kwargs)
        a = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("[]");
    if (kwargs)
        k = json_dumps(kwargs, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = (a ? strlen(a) + 1 : 0) + (k ? strlen(k) + 1 : 0);
    out = malloc(n + 1);
    if (out && (!(args || kwargs) || a) && (!kwargs || k))
        snprintf(out, n + 1, "%s%s%s%s", a ? "," : "", a ? a : "", k ? "," : "", k ? k : "");
    else {
        free(out);
        out = NULL;
    }
    free(a);
    free(k);
    if (out)
        *len = n;
    return out;
}

struct mb_kept_event *mb_kept_new(uint64_t publication, const char *topic, size_t topic_len, json_t *details,
                                  const struct mb_filters *f, uint64_t publisher, const struct mb_msg *m,
                                  json_t *args, json_t *kwargs)
{
    struct mb_kept_event *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->publication = publication;
    e->timestamp = mb_router_wall_ms();
    e->publisher = publisher;
    e->topic = malloc(topic_len + 1);
    if (m && m->tail) { /* kept as JSON text, whatever the publisher's serializer */
        struct mb_buf b = { 0 };
        if (mb_tail_to_json(m, &b) == 0 && (e->tail = malloc(b.len + 1))) {
            if (b.len)
                memcpy(e->tail, mb_buf_data(&b), b.len);
            e->tail[b.len] = '\0';
            e->tail_len = b.len;
        }
        mb_buf_free(&b);
    } else {
        e->tail = tail_of(args, kwargs, &e->tail_len);
    }
    if (!e->topic || !e->tail) {
        mb_kept_free(e);
        return NULL;
    }
    memcpy(e->topic, topic, topic_len);
    e->topic[topic_len] = '\0';
    e->topic_len = topic_len;
    e->details = details ? json_incref(details) : NULL;
    e->filters = f ? filters_json(f, true) : NULL;
    return e;
}

void mb_kept_free(struct mb_kept_event *e)
{
    if (!e)
        return;
    json_decref(e->details);
    json_decref(e->filters);
    free(e->topic);
    free(e->tail);
    free(e);
}

bool mb_kept_eligible(const struct mb_kept_event *e, const struct mb_session *t)
{
    if (e->publisher && e->publisher == t->id)
        return false;
    if (!e->filters)
        return true;
    struct mb_filters f;
    mb_filters_get(&f, e->filters);
    return mb_filters_pass(&f, t);
}

/* e's payload decoded: [args, kwargs] (either may be missing), or NULL. */
static json_t *kept_payload(const struct mb_kept_event *e)
{
    size_t n = e->tail_len + 3; /* "[0" tail "]" */
    char *buf = malloc(n + 1);
    if (!buf)
        return NULL;
    snprintf(buf, n + 1, "[0%s]", e->tail);
    json_t *a = json_loadb(buf, n, JSON_ALLOW_NUL, NULL);
    free(buf);
    if (a)
        json_array_remove(a, 0);
    return a;
}

void mb_kept_send(const struct mb_kept_event *e, struct mb_session *t, const struct mb_subscription *sub,
                  bool retained)
{
    json_t *details = e->details ? json_copy(e->details) : json_object();
    if (!details)
        return;
    if (sub->match != MB_MATCH_EXACT)
        json_object_set_new(details, "topic", json_stringn(e->topic, e->topic_len));
    if (retained)
        json_object_set_new(details, "retained", json_true());
    if (t->tr->send_json) { /* an in-router session takes the message decoded */
        json_t *payload = kept_payload(e);
        json_t *msg = json_pack("[iIIO]", MB_EVENT, (json_int_t)sub->id, (json_int_t)e->publication, details);
        if (payload && msg)
            json_array_extend(msg, payload);
        json_decref(payload);
        mb_session_send(t, msg);
    } else {
        struct mb_msg m = { .tail = e->tail, .tail_len = e->tail_len };
        mb_session_send_passthrough_details(t, MB_EVENT, sub->id, e->publication, details, &m);
    }
    json_decref(details);
}

/* ---- history rings ------------------------------------------------------------------------ */

int mb_history_init(struct mb_history *h, const struct mb_realm_config *rc)
{
    memset(h, 0, sizeof *h);
    if (!rc->nhistory)
        return 0;
    h->rings = calloc(rc->nhistory, sizeof *h->rings);
    if (!h->rings)
        return -1;
    for (size_t i = 0; i < rc->nhistory; i++) {
        struct mb_history_ring *g = &h->rings[h->nrings++];
        const struct mb_history_config *hc = &rc->history[i];
        g->uri = strdup(hc->uri);
        g->uri_len = strlen(hc->uri);
        g->match = hc->match;
        g->limit = hc->limit;
        g->ev = calloc(hc->limit, sizeof *g->ev);
        size_t klen = strlen(rc->name) + g->uri_len + 12;
        if (klen <= MB_STORE_NAME_MAX && (g->store_key = malloc(klen)))
            snprintf(g->store_key, klen, "%s/%s/%s", rc->name, mb_match_policy_name(g->match), g->uri);
        if (!g->uri || !g->ev)
            return -1;
    }
    return 0;
}

static void ring_clear(struct mb_history_ring *g)
{
    for (size_t i = 0; i < g->len; i++)
        mb_kept_free(g->ev[(g->head + i) % g->limit]);
    g->head = g->len = 0;
}

void mb_history_free(struct mb_history *h)
{
    for (size_t i = 0; i < h->nrings; i++) {
        struct mb_history_ring *g = &h->rings[i];
        if (g->ev)
            ring_clear(g);
        free(g->ev);
        free(g->uri);
        free(g->store_key);
    }
    free(h->rings);
    memset(h, 0, sizeof *h);
}

static void ring_push(struct mb_history_ring *g, struct mb_kept_event *e)
{
    if (g->len == g->limit) { /* full: the oldest goes */
        mb_kept_free(g->ev[g->head]);
        g->ev[g->head] = e;
        g->head = (g->head + 1) % g->limit;
    } else {
        g->ev[(g->head + g->len) % g->limit] = e;
        g->len++;
    }
    g->dirty = true;
}

void mb_history_record(struct mb_realm *realm, struct mb_router *r, uint64_t publication, const char *topic,
                       size_t topic_len, json_t *details, const struct mb_filters *f, const struct mb_msg *m,
                       json_t *args, json_t *kwargs)
{
    struct mb_history *h = realm->history;
    if (!h || (f && (f->eligible || f->exclude)))
        return; /* session IDs mean nothing to a later reader: not stored (the spec) */
    for (size_t i = 0; i < h->nrings; i++) {
        struct mb_history_ring *g = &h->rings[i];
        if (!mb_match_one(g->match, g->uri, g->uri_len, topic, topic_len))
            continue;
        struct mb_kept_event *e = mb_kept_new(publication, topic, topic_len, details, NULL, 0, m, args, kwargs);
        if (!e) {
            mb_error(&r->log, "history %s: event %llu not kept: out of memory", g->uri,
                     (unsigned long long)publication);
            continue;
        }
        if (f)
            e->filters = filters_json(f, false);
        ring_push(g, e);
    }
}

/* ---- persistence ---------------------------------------------------------------------------- */

static json_t *ring_json(const struct mb_history_ring *g)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < g->len; i++) {
        const struct mb_kept_event *e = g->ev[(g->head + i) % g->limit];
        json_t *o = json_pack("{sIsIss%ss%}", "timestamp", (json_int_t)e->timestamp, "publication",
                              (json_int_t)e->publication, "topic", e->topic, e->topic_len, "tail", e->tail,
                              e->tail_len);
        if (o && e->details)
            json_object_set(o, "details", e->details);
        if (o && e->filters)
            json_object_set(o, "filters", e->filters);
        json_array_append_new(list, o);
    }
    return list;
}

static void ring_from_json(struct mb_history_ring *g, json_t *list)
{
    size_t i;
    json_t *o;
    ring_clear(g);
    json_array_foreach (list, i, o) {
        json_t *topic = json_object_get(o, "topic"), *tail = json_object_get(o, "tail");
        json_t *ts = json_object_get(o, "timestamp"), *pub = json_object_get(o, "publication");
        if (!json_is_string(topic) || !json_is_string(tail) || !json_is_integer(ts) || !json_is_integer(pub))
            continue;
        struct mb_kept_event *e = calloc(1, sizeof *e);
        if (!e)
            return;
        e->publication = (uint64_t)json_integer_value(pub);
        e->timestamp = (uint64_t)json_integer_value(ts);
        e->topic = strndup(json_string_value(topic), json_string_length(topic));
        e->topic_len = json_string_length(topic);
        e->tail = malloc(json_string_length(tail) + 1);
        if (e->tail) {
            memcpy(e->tail, json_string_value(tail), json_string_length(tail) + 1);
            e->tail_len = json_string_length(tail);
        }
        json_t *d = json_object_get(o, "details"), *f = json_object_get(o, "filters");
        e->details = json_is_object(d) ? json_incref(d) : NULL;
        e->filters = json_is_object(f) ? json_incref(f) : NULL;
        if (!e->topic || !e->tail) {
            mb_kept_free(e);
            return;
        }
        ring_push(g, e);
    }
    g->dirty = false;
}

void mb_history_load(struct mb_realm *realm, struct mb_router *r)
{
    struct mb_history *h = realm->history;
    if (!h || !r->store)
        return;
    for (size_t i = 0; i < h->nrings; i++) {
        struct mb_history_ring *g = &h->rings[i];
        if (!g->store_key) {
            mb_warn(&r->log, "history %s (realm %s): name too long for the store, kept in memory only", g->uri,
                    realm->name);
            continue;
        }
        struct mb_store_op *op = mb_store_op_new(MB_STORE_GET, HISTORY_COLL, strlen(HISTORY_COLL), g->store_key,
                                                 strlen(g->store_key), NULL, 0);
        if (!op)
            continue;
        mb_store_run_now(r->store, op);
        if (op->status == MB_STORE_OK) {
            /* text_len counts the NUL the store appends */
            json_t *list = json_loadb(op->text, op->text_len ? op->text_len - 1 : 0, JSON_ALLOW_NUL, NULL);
            if (json_is_array(list)) {
                ring_from_json(g, list);
                mb_info(&r->log, "history %s (realm %s): %zu event(s) loaded from the store", g->uri, realm->name,
                        g->len);
            } else {
                mb_warn(&r->log, "history %s (realm %s): the stored events are not a list: ignored", g->uri,
                        realm->name);
            }
            json_decref(list);
        } else if (op->status == MB_STORE_FAILED) {
            mb_error(&r->log, "history %s (realm %s): cannot be read from the store: %s", g->uri, realm->name,
                     op->err);
        }
        mb_store_op_free(op);
    }
}

void mb_history_flush(struct mb_realm *realm, struct mb_router *r, bool force)
{
    struct mb_history *h = realm->history;
    if (!h || !r->store)
        return;
    uint64_t now = mb_router_now_ms(r);
    if (!force && now - h->last_flush < FLUSH_EVERY_MS)
        return;
    h->last_flush = now;
    for (size_t i = 0; i < h->nrings; i++) {
        struct mb_history_ring *g = &h->rings[i];
        if (!g->dirty || !g->store_key)
            continue;
        json_t *list = ring_json(g);
        char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
        json_decref(list);
        struct mb_store_op *op = text ? mb_store_op_new(MB_STORE_PUT, HISTORY_COLL, strlen(HISTORY_COLL),
                                                        g->store_key, strlen(g->store_key), text, strlen(text))
                                      : NULL;
        free(text);
        if (!op || mb_store_submit(r->store, op) < 0) {
            mb_warn(&r->log, "history %s (realm %s): not written to the store this time (%s)", g->uri, realm->name,
                    op ? "its queue is full" : "out of memory");
            mb_store_op_free(op);
            continue; /* stays dirty: the next flush tries again */
        }
        g->dirty = false;
    }
}

/* ---- wamp.subscription.get_events ------------------------------------------------------------ */

/* Whether ring g holds every event subscription sub can receive: the same pattern, or a rule
 * that matches every topic the subscription matches. */
static bool covers(const struct mb_history_ring *g, const struct mb_subscription *sub)
{
    if (g->match == sub->match && g->uri_len == sub->uri_len && memcmp(g->uri, sub->uri, g->uri_len) == 0)
        return true;
    if (sub->match == MB_MATCH_EXACT)
        return mb_match_one(g->match, g->uri, g->uri_len, sub->uri, sub->uri_len);
    if (g->match != MB_MATCH_PREFIX)
        return false;
    if (sub->match == MB_MATCH_PREFIX) /* a longer prefix inside the rule's prefix */
        return sub->uri_len >= g->uri_len && memcmp(sub->uri, g->uri, g->uri_len) == 0;
    /* wildcard: every topic it matches starts with the text before its first wildcard
     * (empty) component, so the rule covers it when that text starts with the rule's prefix */
    size_t concrete = sub->uri_len;
    if (sub->uri_len && sub->uri[0] == '.')
        concrete = 0;
    else
        for (size_t i = 0; i + 1 < sub->uri_len; i++)
            if (sub->uri[i] == '.' && sub->uri[i + 1] == '.') {
                concrete = i + 1;
                break;
            }
    return concrete >= g->uri_len && memcmp(sub->uri, g->uri, g->uri_len) == 0;
}

static json_t *event_record(const struct mb_kept_event *e, const struct mb_subscription *sub)
{
    json_t *details = e->details ? json_copy(e->details) : json_object();
    if (details && sub->match != MB_MATCH_EXACT)
        json_object_set_new(details, "topic", json_stringn(e->topic, e->topic_len));
    json_t *o = json_pack("{sosIsIss%so}", "timestamp", mb_router_iso_time(e->timestamp), "subscription", (json_int_t)sub->id,
                          "publication", (json_int_t)e->publication, "topic", e->topic, e->topic_len, "details",
                          details ? details : json_object());
    json_t *payload = o ? kept_payload(e) : NULL;
    json_t *args = json_array_get(payload, 0), *kwargs = json_array_get(payload, 1);
    if (args)
        json_object_set(o, "args", args);
    if (kwargs)
        json_object_set(o, "kwargs", kwargs);
    json_decref(payload);
    return o;
}

static bool opt_id(json_t *kwargs, const char *key, uint64_t *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(kwargs, key);
    *out = 0;
    if (!v)
        return true;
    if (!json_is_integer(v) || !mb_id_valid(json_integer_value(v))) {
        snprintf(why, whylen, "%s must be a publication ID", key);
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

json_t *mb_history_get_events(struct mb_realm *realm, const struct mb_session *caller,
                              const struct mb_subscription *sub, json_t *args, json_t *kwargs, bool *bad,
                              char *why, size_t whylen)
{
    static const char *const known[] = { "limit", "reverse", "topic", "after_publication", "before_publication",
                                         "from_publication", "until_publication", NULL };
    *bad = false;
    /* the Crossbar form get_events(subscription, limit): the newest first; the spec's keyword
     * form: in order of occurrence unless reverse */
    json_t *plimit = json_array_get(args, 1), *klimit = json_object_get(kwargs, "limit");
    json_t *limit_v = klimit ? klimit : plimit, *rev = json_object_get(kwargs, "reverse");
    json_t *topic = json_object_get(kwargs, "topic");
    const char *key;
    json_t *v;
    json_object_foreach (kwargs, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            snprintf(why, whylen, "get_events: option %.60s is not supported (limit, reverse, topic, "
                     "after_publication, before_publication, from_publication, until_publication)", key);
            *bad = true;
            return NULL;
        }
    }
    if (limit_v && !json_is_null(limit_v) && (!json_is_integer(limit_v) || json_integer_value(limit_v) < 1)) {
        snprintf(why, whylen, "limit must be a positive integer");
        *bad = true;
        return NULL;
    }
    if (rev && !json_is_boolean(rev)) {
        snprintf(why, whylen, "reverse must be a boolean");
        *bad = true;
        return NULL;
    }
    if (topic && !json_is_string(topic)) {
        snprintf(why, whylen, "topic must be a URI");
        *bad = true;
        return NULL;
    }
    uint64_t after, before, from, until;
    if (!opt_id(kwargs, "after_publication", &after, why, whylen) ||
        !opt_id(kwargs, "before_publication", &before, why, whylen) ||
        !opt_id(kwargs, "from_publication", &from, why, whylen) ||
        !opt_id(kwargs, "until_publication", &until, why, whylen)) {
        *bad = true;
        return NULL;
    }
    bool reverse = rev ? json_is_true(rev) : (plimit != NULL && !json_is_null(plimit) && !klimit);
    size_t limit = json_is_integer(limit_v) ? (size_t)json_integer_value(limit_v) : SIZE_MAX;

    const struct mb_history_ring *g = NULL;
    for (size_t i = 0; realm->history && i < realm->history->nrings && !g; i++)
        if (covers(&realm->history->rings[i], sub))
            g = &realm->history->rings[i];
    if (!g) {
        snprintf(why, whylen, "no event history is kept for subscription %llu (%s, %s): see realms[].history",
                 (unsigned long long)sub->id, sub->uri, mb_match_policy_name(sub->match));
        return NULL;
    }
    /* the publication cursors: positions in the ring (events are in the order received) */
    size_t lo = 0, hi = g->len; /* [lo, hi) */
    for (size_t i = 0; i < g->len; i++) {
        uint64_t p = g->ev[(g->head + i) % g->limit]->publication;
        if (after && p == after)
            lo = lo > i + 1 ? lo : i + 1;
        if (from && p == from)
            lo = lo > i ? lo : i;
        if (before && p == before)
            hi = hi < i ? hi : i;
        if (until && p == until)
            hi = hi < i + 1 ? hi : i + 1;
    }
    json_t *list = json_array();
    struct mb_filters f;
    for (size_t n = 0; list && lo < hi && n < hi - lo && json_array_size(list) < limit; n++) {
        size_t i = reverse ? hi - 1 - n : lo + n;
        const struct mb_kept_event *e = g->ev[(g->head + i) % g->limit];
        if (!mb_match_one(sub->match, sub->uri, sub->uri_len, e->topic, e->topic_len))
            continue;
        if (topic && (json_string_length(topic) != e->topic_len ||
                      memcmp(json_string_value(topic), e->topic, e->topic_len) != 0))
            continue;
        if (e->filters) {
            mb_filters_get(&f, e->filters);
            if (!mb_filters_pass_identity(&f, caller))
                continue;
        }
        json_array_append_new(list, event_record(e, sub));
    }
    return list;
}
