/* Broker: subscriptions by exact, prefix and wildcard match (mb_match), publications.
 * An EVENT is serialized once per matching subscription and the same bytes go to each of its
 * subscribers. */
#include "mb_broker.h"
#include "mb_meta.h"

#include <stdlib.h>
#include <string.h>

#define URI_ARG(m) (int)((m)->uri_len > 200 ? 200 : (m)->uri_len), (m)->uri

void mb_broker_subscribe(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    struct mb_broker *b = &s->realm->broker;
    int match = mb_options_match(s, m);
    if (match < 0 || !mb_check_uri(s, m, match, true, true) || !mb_session_authorized(s, "subscribe", m, true))
        return;
    struct mb_subscription *sub = mb_matcher_find(&b->match, match, m->uri, m->uri_len);
    bool created = false, added = false;
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
    struct mb_session *publisher; /* NULL: the router itself (meta events, testaments) */
    const char *uri;
    size_t uri_len;
    json_t *args, *kwargs;
    const struct mb_msg *m; /* a scanned PUBLISH: its payload bytes pass through (else NULL) */
    uint64_t id;
    bool exclude_me;
    json_t *eligible, *exclude; /* Options.eligible / Options.exclude: session ID lists, or NULL */
};

static bool id_listed(json_t *list, uint64_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v)
        if (json_is_integer(v) && (uint64_t)json_integer_value(v) == id)
            return true;
    return false;
}

/* Subscriber black- and whitelisting by session ID (Advanced Profile): an eligible list lets
 * only those sessions receive the event, an exclude list keeps those out. */
static bool filtered_out(const struct publication *pub, const struct mb_session *t)
{
    return (pub->eligible && !id_listed(pub->eligible, t->id)) || (pub->exclude && id_listed(pub->exclude, t->id));
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
    json_t *ev = policy == MB_MATCH_EXACT
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

static void deliver(void *value, enum mb_match_policy policy, void *ctx)
{
    struct mb_subscription *sub = value;
    struct publication *pub = ctx;
    struct mb_session *s = pub->exclude_me ? pub->publisher : NULL; /* the one not to deliver to */
    if (sub->subscribers.len == 0 || (sub->subscribers.len == 1 && sub->subscribers.items[0] == s))
        return;
    if (pub->eligible && json_array_size(pub->eligible) == 0)
        return;
    json_t *ev = NULL;
    size_t len = 0;
    const char *data = NULL; /* encoded once, when the first subscriber needs bytes */
    for (size_t i = 0; i < sub->subscribers.len; i++) {
        struct mb_session *t = sub->subscribers.items[i];
        if (t == s || ((pub->eligible || pub->exclude) && filtered_out(pub, t)))
            continue;
        if (t->tr->send_json) {
            if (!ev && !(ev = event_json(pub, sub, policy)))
                break;
            if (t->state < MB_S_LEAVING)
                t->tr->send_json(t->conn, ev);
            continue;
        }
        if (!data) {
            if (pub->m)
                data = mb_encode_passthrough(pub->r, MB_EVENT, sub->id, pub->id,
                                             policy == MB_MATCH_EXACT ? NULL : "topic", pub->uri, pub->uri_len,
                                             pub->m, &len);
            else if (ev || (ev = event_json(pub, sub, policy)))
                data = mb_serialize(pub->r, ev, &len);
            if (!data)
                break;
        }
        mb_session_send_bytes(t, data, len);
    }
    json_decref(ev);
}

static uint64_t dispatch(struct mb_realm *realm, struct mb_router *r, struct mb_session *publisher,
                         const char *uri, size_t len, json_t *args, json_t *kwargs, const struct mb_msg *m,
                         bool exclude_me)
{
    struct publication pub = {
        .r = r, .publisher = publisher, .uri = uri, .uri_len = len, .args = args, .kwargs = kwargs,
        .m = m && m->tail ? m : NULL, .id = mb_idgen_next(&r->ids), .exclude_me = exclude_me,
    };
    if (m && m->dict) {
        pub.eligible = json_object_get(m->dict, "eligible");
        pub.exclude = json_object_get(m->dict, "exclude");
    }
    mb_matcher_each(&realm->broker.match, uri, len, deliver, &pub);
    return pub.id;
}

uint64_t mb_broker_dispatch(struct mb_realm *realm, struct mb_router *r, struct mb_session *publisher,
                            const char *uri, size_t len, json_t *args, json_t *kwargs, bool exclude_me)
{
    return dispatch(realm, r, publisher, uri, len, args, kwargs, NULL, exclude_me);
}

/* Options.eligible and Options.exclude must be lists of session IDs: NULL, or the bad key. */
static const char *publish_lists_bad(json_t *dict)
{
    static const char *const keys[] = { "eligible", "exclude" };
    for (int k = 0; k < 2; k++) {
        json_t *list = json_object_get(dict, keys[k]), *v;
        size_t i;
        if (list && !json_is_array(list))
            return keys[k];
        json_array_foreach (list, i, v)
            if (!json_is_integer(v) || !mb_id_valid(json_integer_value(v)))
                return keys[k];
    }
    return NULL;
}

void mb_broker_publish(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    bool acknowledge = json_is_true(json_object_get(m->dict, "acknowledge"));
    if (!mb_check_uri(s, m, MB_MATCH_EXACT, false, acknowledge)) {
        mb_debug(&r->log, "session %llu: publication to invalid topic dropped", (unsigned long long)s->id);
        return;
    }
    if (!mb_session_authorized(s, "publish", m, acknowledge))
        return;
    const char *bad = publish_lists_bad(m->dict);
    if (bad) {
        if (acknowledge)
            mb_session_error(s, MB_PUBLISH, m->request, MB_R_INVALID_ARGUMENT,
                             "Options.%s must be a list of session IDs", bad);
        else
            mb_debug(&r->log, "session %llu: publication dropped: Options.%s must be a list of session IDs",
                     (unsigned long long)s->id, bad);
        return;
    }
    uint64_t id = dispatch(s->realm, r, s, m->uri, m->uri_len, m->args, m->kwargs, m,
                           !json_is_false(json_object_get(m->dict, "exclude_me")));
    if (acknowledge)
        mb_session_send(s, json_pack("[iII]", MB_PUBLISHED, (json_int_t)m->request, (json_int_t)id));
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
}
