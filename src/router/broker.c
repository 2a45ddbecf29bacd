/* Broker: subscriptions by exact, prefix and wildcard match (mb_match), publications with the
 * Advanced Profile's options (receiver black/whitelists, publisher disclosure, payload
 * pass-through, retained events; history is recorded through mb_history).
 * An EVENT is serialized once per matching subscription and the same bytes go to each of its
 * subscribers. */
#include "mb_broker.h"
#include "mb_history.h"
#include "mb_meta.h"

#include <stdlib.h>
#include <string.h>

#define URI_ARG(m) (int)((m)->uri_len > 200 ? 200 : (m)->uri_len), (m)->uri

static void send_retained(struct mb_session *s, const struct mb_subscription *sub);

void mb_broker_subscribe(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    struct mb_broker *b = &s->realm->broker;
    int match = mb_options_match(s, m);
    if (match < 0 || !mb_check_uri(s, m, match, true, true) || !mb_session_authorized(s, "subscribe", m, true))
        return;
    struct mb_subscription *sub = mb_matcher_find(&b->match, match, m->uri, m->uri_len);
    bool created = false, added = false;
    if (s->subs.len >= r->cfg->max_subscriptions_per_session && !(sub && mb_vec_contains(&sub->subscribers, s))) {
        r->limits_stats.subscriptions_refused++; /* a repeated SUBSCRIBE (same ID) does not count */
        mb_session_refuse(s, MB_SUBSCRIBE, m->request,
                          "session has %zu subscriptions: limits.max_subscriptions_per_session reached", s->subs.len);
        return;
    }
    if (!sub) {
        sub = calloc(1, sizeof *sub);
        if (!sub || !(sub->uri = malloc(m->uri_len + 1)))
            goto oom;
        memcpy(sub->uri, m->uri, m->uri_len);
        sub->uri[m->uri_len] = '\0';
        sub->uri_len = m->uri_len;
        sub->match = match;
        sub->created = mb_router_wall_ms();
        sub->id = mb_router_new_id(r, &b->by_id);
        if (mb_matcher_add(&b->match, match, sub->uri, sub->uri_len, sub) < 0)
            goto oom;
        if (mb_map_put_id(&b->by_id, sub->id, sub) < 0) {
            mb_matcher_remove(&b->match, match, sub->uri, sub->uri_len);
            goto oom;
        }
        mb_debug(&r->log, "subscription %llu created for %s (%s)", (unsigned long long)sub->id, sub->uri,
                 mb_match_policy_name(match));
        created = true;
    }
    if (!mb_vec_contains(&sub->subscribers, s)) {
        if (mb_vec_push(&sub->subscribers, s) < 0)
            goto oom_listed;
        if (mb_vec_push(&s->subs, sub) < 0) {
            mb_vec_remove(&sub->subscribers, s);
            goto oom_listed;
        }
        added = true;
    }
    mb_session_send(s, json_pack("[iII]", MB_SUBSCRIBED, (json_int_t)m->request, (json_int_t)sub->id));
    if (json_is_true(json_object_get(m->dict, "get_retained")))
        send_retained(s, sub); /* right after SUBSCRIBED, before any new event */
    if (created)
        mb_meta_subscription(s, sub, "wamp.subscription.on_create");
    if (added)
        mb_meta_subscription(s, sub, "wamp.subscription.on_subscribe");
    return;
oom:
    if (sub)
        free(sub->uri);
    free(sub);
oom_listed:
    mb_session_error(s, MB_SUBSCRIBE, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
}

static void drop_subscriber(struct mb_broker *b, struct mb_subscription *sub, struct mb_session *s)
{
    mb_vec_remove(&sub->subscribers, s);
    mb_meta_subscription(s, sub, "wamp.subscription.on_unsubscribe");
    if (sub->subscribers.len > 0)
        return;
    mb_meta_subscription(s, sub, "wamp.subscription.on_delete");
    mb_matcher_remove(&b->match, sub->match, sub->uri, sub->uri_len);
    mb_map_del_id(&b->by_id, sub->id);
    mb_debug(&s->router->log, "subscription %llu deleted (%s)", (unsigned long long)sub->id, sub->uri);
    mb_vec_free(&sub->subscribers);
    free(sub->uri);
    free(sub);
}

void mb_broker_unsubscribe(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_broker *b = &s->realm->broker;
    struct mb_subscription *sub = mb_map_get_id(&b->by_id, m->id);
    if (!sub || !mb_vec_remove(&s->subs, sub)) {
        mb_session_error(s, MB_UNSUBSCRIBE, m->request, MB_R_NO_SUCH_SUBSCRIPTION,
                         "no subscription %llu for this session", (unsigned long long)m->id);
        return;
    }
    drop_subscriber(b, sub, s);
    mb_session_send(s, json_pack("[iI]", MB_UNSUBSCRIBED, (json_int_t)m->request));
}

struct publication {
    struct mb_router *r;
    struct mb_realm *realm;
    struct mb_session *publisher; /* NULL: the router itself (meta events, testaments) */
    const char *uri;
    size_t uri_len;
    json_t *args, *kwargs;
    const struct mb_msg *m; /* a scanned PUBLISH: its payload bytes pass through (else NULL) */
    uint64_t id;
    bool exclude_me;
    bool filtered;          /* some list of f is present */
    struct mb_filters f;    /* Options.eligible, exclude, *_authid, *_authrole */
    json_t *details;        /* EVENT.Details beyond topic (publisher*, ppt_*), or NULL: none */
    json_t *details_topic;  /* details plus topic, for pattern subscriptions (made once) */
};

/* The EVENT.Details of one delivery: NULL when the plain encoding does (no extra key). */
static json_t *delivery_details(struct publication *pub, enum mb_match_policy policy)
{
    if (!pub->details)
        return NULL;
    if (policy == MB_MATCH_EXACT)
        return pub->details;
    if (!pub->details_topic && (pub->details_topic = json_copy(pub->details)))
        json_object_set_new(pub->details_topic, "topic", json_stringn(pub->uri, pub->uri_len));
    return pub->details_topic;
}

/* The EVENT as a json_t, for in-process subscribers (and publications not scanned). */
static json_t *event_json(struct publication *pub, const struct mb_subscription *sub, enum mb_match_policy policy)
{
    if (pub->m) {
        if (mb_msg_payload(pub->m) < 0)
            return NULL;
        pub->args = pub->m->args;
        pub->kwargs = pub->m->kwargs;
    }
    json_t *details = delivery_details(pub, policy);
    json_t *ev = details ? json_pack("[iIIO]", MB_EVENT, (json_int_t)sub->id, (json_int_t)pub->id, details)
                 : policy == MB_MATCH_EXACT
                     ? json_pack("[iII{}]", MB_EVENT, (json_int_t)sub->id, (json_int_t)pub->id)
                     : json_pack("[iII{ss%}]", MB_EVENT, (json_int_t)sub->id, (json_int_t)pub->id, "topic",
                                 pub->uri, pub->uri_len);
    if (ev && pub->args)
        json_array_append(ev, pub->args);
    else if (ev && pub->kwargs) /* ArgumentsKw needs an Arguments before it */
        json_array_append_new(ev, json_array());
    if (ev && pub->kwargs)
        json_array_append(ev, pub->kwargs);
    return ev;
}

/* What one subscription's delivery shares between its subscribers: the EVENT, built once per
 * serializer in use among them (as bytes for the WebSocket/RawSocket ones, as a json_t for
 * in-process ones). */
struct delivery {
    struct publication *pub;
    const struct mb_subscription *sub;
    enum mb_match_policy policy;
    json_t *ev;
    const char *data[MB_SER_COUNT];
    size_t len[MB_SER_COUNT];
    bool failed[MB_SER_COUNT];
    bool ev_failed;
};

static void deliver_to(struct delivery *d, struct mb_session *t)
{
    struct publication *pub = d->pub;
    if (t->tr->send_json) {
        if (d->ev_failed || (!d->ev && !(d->ev = event_json(pub, d->sub, d->policy)))) {
            d->ev_failed = true;
            return;
        }
        if (t->state < MB_S_LEAVING)
            t->tr->send_json(t->conn, d->ev);
        return;
    }
    int ser = t->ser;
    if (d->failed[ser])
        return;
    if (!d->data[ser]) {
        json_t *details = delivery_details(pub, d->policy);
        if (pub->m && details)
            d->data[ser] = mb_encode_passthrough_details(pub->r, ser, MB_EVENT, d->sub->id, pub->id, details,
                                                         pub->m, &d->len[ser]);
        else if (pub->m)
            d->data[ser] = mb_encode_passthrough(pub->r, ser, MB_EVENT, d->sub->id, pub->id,
                                                 d->policy == MB_MATCH_EXACT ? NULL : "topic", pub->uri,
                                                 pub->uri_len, pub->m, &d->len[ser]);
        else if (d->ev || (!d->ev_failed && (d->ev = event_json(pub, d->sub, d->policy))))
            d->data[ser] = mb_serialize(pub->r, ser, d->ev, &d->len[ser]);
        if (!d->data[ser]) {
            d->failed[ser] = true;
            mb_warn(&pub->r->log, "publication %llu on '%.*s': its EVENT cannot be encoded in %s: not "
                    "delivered to the %s subscribers", (unsigned long long)pub->id, (int)pub->uri_len,
                    pub->uri, mb_ser_name(ser), mb_ser_name(ser));
            return;
        }
    }
    /* the router's buffer for this serializer holds d->data[ser] until the next encoding in it,
     * and nothing else encodes before this subscription is done (mb_session_send_bytes only
     * queues) */
    mb_session_send_bytes(t, d->data[ser], d->len[ser]);
}

/* A short eligible list among many subscribers: walking the list (each ID looked up, then
 * checked for this subscription) costs O(list) instead of O(subscribers × list). */
static bool deliver_by_eligible(struct delivery *d, struct mb_subscription *sub, const struct mb_session *skip)
{
    struct publication *pub = d->pub;
    size_t k = json_array_size(pub->f.eligible);
    if (!pub->f.eligible || k * 8 > sub->subscribers.len)
        return false;
    for (size_t i = 0; i < k; i++) {
        uint64_t id = (uint64_t)json_integer_value(json_array_get(pub->f.eligible, i));
        struct mb_session *t = mb_map_get_id(&pub->r->sessions, id);
        if (!t || t == skip || t->realm != pub->realm || !mb_vec_contains(&t->subs, sub))
            continue;
        bool seen = false; /* a listed twice: one EVENT */
        for (size_t j = 0; j < i && !seen; j++)
            seen = (uint64_t)json_integer_value(json_array_get(pub->f.eligible, j)) == id;
        if (!seen && mb_filters_pass(&pub->f, t))
            deliver_to(d, t);
    }
    return true;
}

static void deliver(void *value, enum mb_match_policy policy, void *ctx)
{
    struct mb_subscription *sub = value;
    struct publication *pub = ctx;
    struct mb_session *s = pub->exclude_me ? pub->publisher : NULL; /* the one not to deliver to */
    if (sub->subscribers.len == 0 || (sub->subscribers.len == 1 && sub->subscribers.items[0] == s))
        return;
    if (pub->f.eligible && json_array_size(pub->f.eligible) == 0)
        return;
    struct delivery d = { .pub = pub, .sub = sub, .policy = policy };
    if (!(pub->filtered && deliver_by_eligible(&d, sub, s)))
        for (size_t i = 0; i < sub->subscribers.len; i++) {
            struct mb_session *t = sub->subscribers.items[i];
            if (t == s || (pub->filtered && !mb_filters_pass(&pub->f, t)))
                continue;
            deliver_to(&d, t);
        }
    json_decref(d.ev);
}

static void dispatch(struct publication *pub)
{
    mb_matcher_each(&pub->realm->broker.match, pub->uri, pub->uri_len, deliver, pub);
}

uint64_t mb_broker_dispatch(struct mb_realm *realm, struct mb_router *r, struct mb_session *publisher,
                            const char *uri, size_t len, json_t *args, json_t *kwargs, bool exclude_me)
{
    struct publication pub = {
        .r = r, .realm = realm, .publisher = publisher, .uri = uri, .uri_len = len, .args = args,
        .kwargs = kwargs, .id = mb_idgen_next(&r->ids), .exclude_me = exclude_me,
    };
    dispatch(&pub);
    return pub.id;
}

/* ---- PUBLISH options ---------------------------------------------------------------------- */

/* Checks the receiver lists of Options: NULL, or what is wrong (static text). */
static const char *publish_lists_bad(json_t *dict, const char **key)
{
    static const char *const ids[] = { "eligible", "exclude" };
    static const char *const names[] = { "eligible_authid", "exclude_authid", "eligible_authrole",
                                         "exclude_authrole" };
    for (int k = 0; k < 2; k++) {
        json_t *list = json_object_get(dict, ids[k]), *v;
        size_t i;
        *key = ids[k];
        if (list && !json_is_array(list))
            return "must be a list of session IDs";
        json_array_foreach (list, i, v)
            if (!json_is_integer(v) || !mb_id_valid(json_integer_value(v)))
                return "must be a list of session IDs";
    }
    for (int k = 0; k < 4; k++) {
        json_t *list = json_object_get(dict, names[k]), *v;
        size_t i;
        *key = names[k];
        if (list && !json_is_array(list))
            return k < 2 ? "must be a list of authids (strings)" : "must be a list of authroles (strings)";
        json_array_foreach (list, i, v)
            if (!json_is_string(v))
                return k < 2 ? "must be a list of authids (strings)" : "must be a list of authroles (strings)";
    }
    static const char *const flags[] = { "disclose_me", "retain" };
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(dict, flags[k]);
        *key = flags[k];
        if (v && !json_is_boolean(v))
            return "must be a boolean";
    }
    for (int k = 0; k < 4; k++) {
        json_t *v = json_object_get(dict, mb_ppt_keys[k]);
        *key = mb_ppt_keys[k];
        if (v && (!json_is_string(v) || (k == 0 && json_string_length(v) == 0)))
            return k == 0 ? "must be a non-empty string (the payload pass-through scheme)" : "must be a string";
    }
    return NULL;
}

/* Whether Options holds anything beyond acknowledge and exclude_me (the plain publication:
 * one pass over its usually one or two keys instead of a lookup per advanced option). */
static bool advanced_options(json_t *dict)
{
    const char *key;
    json_t *v;
    json_object_foreach (dict, key, v)
        if (strcmp(key, "acknowledge") != 0 && strcmp(key, "exclude_me") != 0)
            return true;
    return false;
}

/* The EVENT.Details a publication adds (publisher disclosure, payload pass-through), or NULL
 * when it adds none (the plain encoding). A new reference. */
static json_t *publication_details(struct mb_session *s, json_t *dict, bool disclose)
{
    json_t *d = NULL;
    if (disclose && (d = json_object())) {
        json_object_set_new(d, "publisher", json_integer((json_int_t)s->id));
        json_object_set_new(d, "publisher_authid", json_string(s->authid ? s->authid : ""));
        json_object_set_new(d, "publisher_authrole", json_string(s->authrole ? s->authrole : ""));
    }
    if (mb_uses_ppt(dict)) /* checked as a non-empty string before */
        d = mb_copy_ppt(d, dict);
    return d;
}

/* ---- retained events ---------------------------------------------------------------------- */

static void retain(struct publication *pub)
{
    struct mb_broker *b = &pub->realm->broker;
    struct mb_kept_event *old = mb_map_get_str(&b->retained, pub->uri, pub->uri_len);
    if (!old && b->retained.len >= b->max_retained) {
        b->retained_refused++;
        if (b->retained_refused == 1 || b->retained_refused % 1000 == 0)
            mb_warn(&pub->r->log, "realm %s: retained event on %.*s not kept: limits.max_retained_topics (%zu) "
                    "reached (%llu refused so far)", pub->realm->name, (int)(pub->uri_len > 200 ? 200 : pub->uri_len),
                    pub->uri, b->max_retained, (unsigned long long)b->retained_refused);
        return;
    }
    struct mb_kept_event *e = mb_kept_new(pub->id, pub->uri, pub->uri_len, pub->details,
                                          pub->filtered ? &pub->f : NULL,
                                          pub->exclude_me && pub->publisher ? pub->publisher->id : 0, pub->m,
                                          pub->args, pub->kwargs);
    if (!e || mb_map_put_str(&b->retained, e->topic, e->topic_len, e) < 0) {
        mb_error(&pub->r->log, "realm %s: retained event on %.*s not kept: out of memory", pub->realm->name,
                 (int)(pub->uri_len > 200 ? 200 : pub->uri_len), pub->uri);
        mb_kept_free(e);
        return;
    }
    mb_kept_free(old); /* the map's key now points into e */
}

struct retained_ctx {
    struct mb_session *s;
    const struct mb_subscription *sub;
};

/* Sends s the retained events of every topic sub matches that s would have received. */
static void send_retained(struct mb_session *s, const struct mb_subscription *sub)
{
    struct mb_broker *b = &s->realm->broker;
    if (sub->match == MB_MATCH_EXACT) {
        struct mb_kept_event *e = mb_map_get_str(&b->retained, sub->uri, sub->uri_len);
        if (e && mb_kept_eligible(e, s))
            mb_kept_send(e, s, sub, true);
        return;
    }
    /* a pattern: every retained topic it matches (bounded by limits.max_retained_topics) */
    struct mb_kept_event *e;
    for (size_t it = 0; (e = mb_map_next(&b->retained, &it));)
        if (mb_match_one(sub->match, sub->uri, sub->uri_len, e->topic, e->topic_len) && mb_kept_eligible(e, s))
            mb_kept_send(e, s, sub, true);
}

void mb_broker_publish(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    bool acknowledge = json_is_true(json_object_get(m->dict, "acknowledge"));
    if (!mb_check_uri(s, m, MB_MATCH_EXACT, false, acknowledge)) {
        mb_debug(&r->log, "session %llu: publication to invalid topic dropped", (unsigned long long)s->id);
        return;
    }
    bool advanced = advanced_options(m->dict);
    if (advanced && json_object_get(m->dict, "ppt_scheme") && !(s->features & MB_F_PUBLISHER_PPT) && !s->trusted) {
        /* the spec: a protocol error, the session is aborted */
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "PUBLISH with Options.ppt_scheme from a publisher that did "
                         "not announce publisher.features.payload_passthru_mode");
        return;
    }
    if (!mb_session_authorized(s, "publish", m, acknowledge))
        return;
    const char *key = NULL, *bad = advanced ? publish_lists_bad(m->dict, &key) : NULL;
    if (bad) {
        if (acknowledge)
            mb_session_error(s, MB_PUBLISH, m->request, MB_R_INVALID_ARGUMENT, "Options.%s %s", key, bad);
        else
            mb_debug(&r->log, "session %llu: publication dropped: Options.%s %s", (unsigned long long)s->id, key,
                     bad);
        return;
    }
    bool disclose = advanced && json_is_true(json_object_get(m->dict, "disclose_me"));
    if (disclose && s->authz_disclose == MB_DISCLOSE_REFUSE) {
        if (acknowledge)
            mb_session_error(s, MB_PUBLISH, m->request, MB_R_OPTION_DISALLOWED_DISCLOSE_ME,
                             "the authorizer does not allow session %llu to disclose itself on '%.*s'",
                             (unsigned long long)s->id, URI_ARG(m));
        else
            mb_info(&r->log, "session %llu: publication to '%.*s' dropped: disclose_me refused by the authorizer",
                    (unsigned long long)s->id, URI_ARG(m));
        return;
    }
    if (s->authz_disclose == MB_DISCLOSE_FORCE)
        disclose = true;
    struct publication pub = {
        .r = r, .realm = s->realm, .publisher = s, .uri = m->uri, .uri_len = m->uri_len, .args = m->args,
        .kwargs = m->kwargs, .m = m->tail ? m : NULL, .id = mb_idgen_next(&r->ids),
        .exclude_me = !json_is_false(json_object_get(m->dict, "exclude_me")),
    };
    if (advanced)
        pub.filtered = mb_filters_get(&pub.f, m->dict);
    if (advanced || disclose)
        pub.details = publication_details(s, m->dict, disclose);
    dispatch(&pub);
    if (advanced && json_is_true(json_object_get(m->dict, "retain")))
        retain(&pub);
    if (s->realm->history)
        mb_history_record(s->realm, r, pub.id, pub.uri, pub.uri_len, pub.details, pub.filtered ? &pub.f : NULL,
                          pub.m, pub.args, pub.kwargs);
    json_decref(pub.details);
    json_decref(pub.details_topic);
    if (acknowledge)
        mb_session_send(s, json_pack("[iII]", MB_PUBLISHED, (json_int_t)m->request, (json_int_t)pub.id));
}

void mb_broker_drop(struct mb_session *s, struct mb_subscription *sub)
{
    if (mb_vec_remove(&s->subs, sub))
        drop_subscriber(&s->realm->broker, sub, s);
}

void mb_broker_remove_session(struct mb_session *s)
{
    struct mb_broker *b = &s->realm->broker;
    for (size_t i = 0; i < s->subs.len; i++)
        drop_subscriber(b, s->subs.items[i], s);
    s->subs.len = 0;
}

void mb_broker_free(struct mb_broker *b)
{
    struct mb_subscription *sub;
    for (size_t it = 0; (sub = mb_map_next(&b->by_id, &it));) {
        mb_vec_free(&sub->subscribers);
        free(sub->uri);
        free(sub);
    }
    mb_map_free(&b->by_id);
    mb_matcher_free(&b->match);
    struct mb_kept_event *e;
    for (size_t it = 0; (e = mb_map_next(&b->retained, &it));)
        mb_kept_free(e);
    mb_map_free(&b->retained);
}
