/* The WAMP meta API: procedures answered in C, events published by the router. */
#include "mb_meta.h"
#include "mb_broker.h"
#include "mb_dealer.h"
#include "mb_history.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- events ------------------------------------------------------------------------------ */

static void publish(struct mb_realm *realm, struct mb_router *r, const char *topic, json_t *args)
{
    if (realm && args)
        mb_broker_dispatch(realm, r, NULL, topic, strlen(topic), args, NULL, false);
    json_decref(args);
}

static json_t *subscription_details(const struct mb_subscription *sub)
{
    return json_pack("{sIsossss}", "id", (json_int_t)sub->id, "created", mb_router_iso_time(sub->created), "uri", sub->uri,
                     "match", mb_match_policy_name(sub->match));
}

static const char *invoke_name(const struct mb_registration *reg)
{
    static const char *const names[] = { "single", "roundrobin", "random", "first", "last" };
    return reg->invoke == MB_INVOKE_CUSTOM ? reg->policy : names[reg->invoke];
}

static json_t *registration_details(const struct mb_registration *reg)
{
    return json_pack("{sIsossssss}", "id", (json_int_t)reg->id, "created", mb_router_iso_time(reg->created), "uri", reg->uri,
                     "match", mb_match_policy_name(reg->match), "invoke", invoke_name(reg));
}

static void note_subscriber(void *value, enum mb_match_policy p, void *ctx)
{
    (void)p;
    const struct mb_subscription *sub = value;
    if (sub->subscribers.len)
        *(bool *)ctx = true;
}

/* Whether anybody subscribes to topic: a join or leave nobody listens to builds no event (the
 * session details cost more than the rest of a join's bookkeeping). */
static bool listened(struct mb_realm *realm, const char *topic)
{
    bool any = false;
    if (realm)
        mb_matcher_each(&realm->broker.match, topic, strlen(topic), note_subscriber, &any);
    return any;
}

void mb_meta_on_join(struct mb_session *s)
{
    if (listened(s->realm, "wamp.session.on_join"))
        publish(s->realm, s->router, "wamp.session.on_join", json_pack("[o]", mb_session_details(s)));
}

void mb_meta_on_leave(struct mb_realm *realm, const struct mb_session *s)
{
    if (listened(realm, "wamp.session.on_leave"))
        publish(realm, s->router, "wamp.session.on_leave",
            json_pack("[Iss]", (json_int_t)s->id, s->authid ? s->authid : "", s->authrole ? s->authrole : ""));
}

void mb_meta_subscription(struct mb_session *s, const struct mb_subscription *sub, const char *event)
{
    bool create = strcmp(event, "wamp.subscription.on_create") == 0;
    publish(s->realm, s->router, event,
            create ? json_pack("[Io]", (json_int_t)s->id, subscription_details(sub))
                   : json_pack("[II]", (json_int_t)s->id, (json_int_t)sub->id));
}

void mb_meta_registration(struct mb_session *s, const struct mb_registration *reg, const char *event)
{
    bool create = strcmp(event, "wamp.registration.on_create") == 0;
    publish(s->realm, s->router, event,
            create ? json_pack("[Io]", (json_int_t)s->id, registration_details(reg))
                   : json_pack("[II]", (json_int_t)s->id, (json_int_t)reg->id));
}

/* ---- testaments --------------------------------------------------------------------------- */

enum { DETACHED, DESTROYED };

void mb_meta_testaments(struct mb_session *s)
{
    for (int scope = DETACHED; scope <= DESTROYED; scope++) {
        json_t *list = s->testaments[scope];
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t) {
            const char *topic = json_string_value(json_object_get(t, "topic"));
            json_t *opts = json_object_get(t, "options");
            mb_broker_dispatch(s->realm, s->router, s, topic, strlen(topic), json_object_get(t, "args"),
                               json_object_get(t, "kwargs"), !json_is_false(json_object_get(opts, "exclude_me")));
        }
        json_decref(list);
        s->testaments[scope] = NULL;
    }
}

void mb_meta_free_testaments(struct mb_session *s)
{
    json_decref(s->testaments[DETACHED]);
    json_decref(s->testaments[DESTROYED]);
    s->testaments[DETACHED] = s->testaments[DESTROYED] = NULL;
}

/* ---- procedures ---------------------------------------------------------------------------- */

struct call {
    struct mb_session *s;
    const struct mb_msg *m;
};

static void reply(const struct call *c, json_t *args, json_t *kwargs)
{
    json_t *msg = json_pack("[iI{}]", MB_RESULT, (json_int_t)c->m->request);
    if (msg && (args || kwargs))
        json_array_append_new(msg, args ? args : json_array());
    if (msg && kwargs)
        json_array_append_new(msg, kwargs);
    mb_session_send(c->s, msg);
}

static void reply_one(const struct call *c, json_t *value)
{
    reply(c, json_pack("[o]", value ? value : json_null()), NULL);
}

static bool fail(const struct call *c, enum mb_reason reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(const struct call *c, enum mb_reason reason, const char *fmt, ...)
{
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mb_session_error(c->s, MB_CALL, c->m->request, reason, "%s", text);
    return true;
}

static json_t *arg(const struct call *c, size_t i)
{
    return json_array_get(c->m->args, i);
}

/* Positional argument i as an ID, or 0 after an invalid_argument reply. */
static uint64_t id_arg(const struct call *c, size_t i, const char *what)
{
    json_t *v = arg(c, i);
    if (!json_is_integer(v) || !mb_id_valid(json_integer_value(v))) {
        fail(c, MB_R_INVALID_ARGUMENT, "%s must be an ID (integer in [1, 2^53])", what);
        return 0;
    }
    return (uint64_t)json_integer_value(v);
}

static bool role_in(const struct mb_session *t, json_t *roles)
{
    if (!json_is_array(roles))
        return true;
    size_t i;
    json_t *r;
    json_array_foreach(roles, i, r)
        if (json_is_string(r) && t->authrole && strcmp(json_string_value(r), t->authrole) == 0)
            return true;
    return false;
}

static bool session_count_or_list(const struct call *c, bool list)
{
    json_t *roles = arg(c, 0);
    if (roles && !json_is_array(roles) && !json_is_null(roles))
        return fail(c, MB_R_INVALID_ARGUMENT, "filter_authroles must be a list of strings");
    json_t *ids = json_array();
    size_t n = 0;
    struct mb_session *t;
    for (size_t it = 0; (t = mb_map_next(&c->s->router->sessions, &it));) {
        if (t->realm != c->s->realm || !role_in(t, roles))
            continue;
        n++;
        if (list)
            json_array_append_new(ids, json_integer((json_int_t)t->id));
    }
    if (list)
        reply_one(c, ids);
    else {
        json_decref(ids);
        reply_one(c, json_integer((json_int_t)n));
    }
    return true;
}

/* Reads kwargs reason/message of the kill procedures; false after an invalid_uri reply. */
static bool kill_options(const struct call *c, const char **reason, const char **message)
{
    json_t *r = json_object_get(c->m->kwargs, "reason"), *msg = json_object_get(c->m->kwargs, "message");
    *reason = mb_reason_uri(MB_R_CLOSE_NORMAL);
    *message = json_is_string(msg) ? json_string_value(msg) : NULL;
    if (r) {
        if (!json_is_string(r) || !mb_uri_valid(json_string_value(r), json_string_length(r), MB_URI_LOOSE, false)) {
            fail(c, MB_R_INVALID_URI, "reason must be a valid non-empty URI");
            return false;
        }
        *reason = json_string_value(r);
    }
    return true;
}

enum kill_by { BY_AUTHID, BY_AUTHROLE, ALL };

static bool kill_many(const struct call *c, enum kill_by by)
{
    const char *value = NULL, *reason, *message;
    if (by != ALL) {
        json_t *v = arg(c, 0);
        if (!json_is_string(v))
            return fail(c, MB_R_INVALID_ARGUMENT, "%s must be a string", by == BY_AUTHID ? "authid" : "authrole");
        value = json_string_value(v);
    }
    if (!kill_options(c, &reason, &message))
        return true;
    size_t n = 0;
    struct mb_session *t;
    for (size_t it = 0; (t = mb_map_next(&c->s->router->sessions, &it));) {
        if (t == c->s || t->realm != c->s->realm || t->trusted)
            continue;
        if (by == BY_AUTHID && strcmp(t->authid, value) != 0)
            continue;
        if (by == BY_AUTHROLE && strcmp(t->authrole, value) != 0)
            continue;
        mb_session_kill(t, reason, message);
        n++;
    }
    reply_one(c, json_integer((json_int_t)n));
    return true;
}

static bool session_procedure(const struct call *c, const char *name)
{
    struct mb_router *r = c->s->router;
    if (strcmp(name, "count") == 0)
        return session_count_or_list(c, false);
    if (strcmp(name, "list") == 0)
        return session_count_or_list(c, true);
    if (strcmp(name, "get") == 0 || strcmp(name, "kill") == 0) {
        uint64_t id = id_arg(c, 0, "session");
        if (!id)
            return true;
        struct mb_session *t = mb_map_get_id(&r->sessions, id);
        bool kill = name[0] == 'k';
        if (!t || t->realm != c->s->realm || (kill && (t == c->s || t->trusted)))
            return fail(c, MB_R_NO_SUCH_SESSION, "no %ssession %llu in this realm", kill ? "other " : "",
                        (unsigned long long)id);
        if (!kill) {
            reply_one(c, mb_session_details(t));
            return true;
        }
        const char *reason, *message;
        if (!kill_options(c, &reason, &message))
            return true;
        mb_session_kill(t, reason, message);
        reply(c, NULL, NULL);
        return true;
    }
    if (strcmp(name, "kill_by_authid") == 0)
        return kill_many(c, BY_AUTHID);
    if (strcmp(name, "kill_by_authrole") == 0)
        return kill_many(c, BY_AUTHROLE);
    if (strcmp(name, "kill_all") == 0)
        return kill_many(c, ALL);
    if (strcmp(name, "add_testament") == 0) {
        json_t *topic = arg(c, 0), *args = arg(c, 1), *kwargs = arg(c, 2);
        json_t *opts = json_object_get(c->m->kwargs, "publish_options");
        json_t *scope = json_object_get(c->m->kwargs, "scope");
        if (!json_is_string(topic) ||
            !mb_uri_valid(json_string_value(topic), json_string_length(topic), c->s->realm->uri_rule, false) ||
            mb_uri_reserved(json_string_value(topic), json_string_length(topic)))
            return fail(c, MB_R_INVALID_URI, "the testament's topic must be a valid URI outside wamp.");
        if ((args && !json_is_array(args) && !json_is_null(args)) ||
            (kwargs && !json_is_object(kwargs) && !json_is_null(kwargs)) || (opts && !json_is_object(opts)))
            return fail(c, MB_R_INVALID_ARGUMENT, "add_testament(topic, args|list, kwargs|dict, "
                        "publish_options=dict, scope=\"destroyed\"|\"detached\")");
        int sc = !scope || (json_is_string(scope) && strcmp(json_string_value(scope), "destroyed") == 0) ? DESTROYED
                 : json_is_string(scope) && strcmp(json_string_value(scope), "detached") == 0 ? DETACHED : -1;
        if (sc < 0)
            return fail(c, MB_R_INVALID_ARGUMENT, "scope must be \"destroyed\" or \"detached\"");
        if (!c->s->testaments[sc])
            c->s->testaments[sc] = json_array();
        json_t *t = json_pack("{sO}", "topic", topic);
        if (json_is_array(args))
            json_object_set(t, "args", args);
        if (json_is_object(kwargs))
            json_object_set(t, "kwargs", kwargs);
        if (opts)
            json_object_set(t, "options", opts);
        json_array_append_new(c->s->testaments[sc], t);
        reply(c, NULL, NULL);
        return true;
    }
    if (strcmp(name, "flush_testaments") == 0) {
        json_t *scope = json_object_get(c->m->kwargs, "scope");
        int sc = !scope || (json_is_string(scope) && strcmp(json_string_value(scope), "destroyed") == 0) ? DESTROYED
                 : json_is_string(scope) && strcmp(json_string_value(scope), "detached") == 0 ? DETACHED : -1;
        if (sc < 0)
            return fail(c, MB_R_INVALID_ARGUMENT, "scope must be \"destroyed\" or \"detached\"");
        size_t n = json_array_size(c->s->testaments[sc]);
        json_decref(c->s->testaments[sc]);
        c->s->testaments[sc] = NULL;
        reply_one(c, json_integer((json_int_t)n));
        return true;
    }
    return false;
}

/* Reads the match option of lookup (args[1] or kwargs); -1 after a reply. */
static int lookup_match(const struct call *c)
{
    json_t *opts = arg(c, 1);
    json_t *v = json_is_object(opts) ? json_object_get(opts, "match") : json_object_get(c->m->kwargs, "match");
    if (!v)
        return MB_MATCH_EXACT;
    int p = json_is_string(v) ? mb_match_policy_parse(json_string_value(v), json_string_length(v)) : -1;
    if (p < 0)
        fail(c, MB_R_INVALID_ARGUMENT, "match must be \"exact\", \"prefix\" or \"wildcard\"");
    return p;
}

static json_t *members(const struct mb_vec *v)
{
    json_t *a = json_array();
    for (size_t i = 0; i < v->len; i++)
        json_array_append_new(a, json_integer((json_int_t)((struct mb_session *)v->items[i])->id));
    return a;
}

static void collect_id(void *value, enum mb_match_policy p, void *ctx)
{
    (void)p;
    json_array_append_new(ctx, json_integer((json_int_t)((struct mb_subscription *)value)->id));
}

/* wamp.subscription.get_events(subscription, [limit], {limit, reverse, topic, *_publication}):
 * the event history (mb_history). The caller must be allowed to subscribe to the
 * subscription's topic (the spec: history is for those who may subscribe); events whose
 * authid/authrole lists leave the caller out are not shown. */
static bool get_events(const struct call *c)
{
    uint64_t id = id_arg(c, 0, "subscription");
    if (!id)
        return true;
    struct mb_subscription *sub = mb_map_get_id(&c->s->realm->broker.by_id, id);
    if (!sub)
        return fail(c, MB_R_NO_SUCH_SUBSCRIPTION, "no subscription %llu in this realm", (unsigned long long)id);
    json_t *opts = json_pack("{ss}", "match", mb_match_policy_name(sub->match));
    struct mb_msg as_subscribe = { .type = MB_SUBSCRIBE, .request = c->m->request, .uri = sub->uri,
                                   .uri_len = sub->uri_len, .dict = opts };
    bool allowed = c->s->trusted || mb_session_authorized(c->s, "subscribe", &as_subscribe, false);
    json_decref(opts);
    if (!allowed)
        return fail(c, MB_R_NOT_AUTHORIZED, "not authorized to subscribe to '%s' (%s), so not to its history",
                    sub->uri, mb_match_policy_name(sub->match));
    char why[300];
    bool bad;
    json_t *list = mb_history_get_events(c->s->realm, c->s, sub, c->m->args, c->m->kwargs, &bad, why, sizeof why);
    if (list) {
        reply_one(c, list);
        return true;
    }
    if (bad)
        return fail(c, MB_R_INVALID_ARGUMENT, "%s", why);
    /* Crossbar's URI for a subscription without history: not in the reason table, which
     * holds the router's own protocol reasons */
    mb_session_send(c->s, json_pack("[iiI{}s[s]]", MB_ERROR, MB_CALL, (json_int_t)c->m->request,
                                    "wamp.error.history_unavailable", why));
    return true;
}

/* wamp.registration.* and wamp.subscription.*: the same shapes over the dealer and the broker. */
static bool pattern_procedure(const struct call *c, const char *name, bool regs)
{
    struct mb_realm *realm = c->s->realm;
    struct mb_map *by_id = regs ? &realm->dealer.by_id : &realm->broker.by_id;
    struct mb_matcher *matcher = regs ? &realm->dealer.match : &realm->broker.match;
    enum mb_reason missing = regs ? MB_R_NO_SUCH_REGISTRATION : MB_R_NO_SUCH_SUBSCRIPTION;
    const char *what = regs ? "registration" : "subscription";
    if (strcmp(name, "list") == 0) {
        json_t *lists = json_pack("{s[]s[]s[]}", "exact", "prefix", "wildcard");
        void *v;
        for (size_t it = 0; (v = mb_map_next(by_id, &it));) {
            int match = regs ? (int)((struct mb_registration *)v)->match : (int)((struct mb_subscription *)v)->match;
            uint64_t id = regs ? ((struct mb_registration *)v)->id : ((struct mb_subscription *)v)->id;
            json_array_append_new(json_object_get(lists, mb_match_policy_name(match)), json_integer((json_int_t)id));
        }
        reply_one(c, lists);
        return true;
    }
    if (strcmp(name, "lookup") == 0 || strcmp(name, "match") == 0) {
        json_t *uri = arg(c, 0);
        if (!json_is_string(uri))
            return fail(c, MB_R_INVALID_ARGUMENT, "the first argument must be a URI");
        const char *u = json_string_value(uri);
        size_t ul = json_string_length(uri);
        if (name[0] == 'l') {
            int match = lookup_match(c);
            if (match < 0)
                return true;
            void *v = mb_matcher_find(matcher, match, u, ul);
            reply_one(c, v ? json_integer((json_int_t)(regs ? ((struct mb_registration *)v)->id
                                                            : ((struct mb_subscription *)v)->id))
                           : NULL);
            return true;
        }
        if (regs) {
            enum mb_match_policy p;
            struct mb_registration *reg = mb_matcher_best(matcher, u, ul, &p);
            reply_one(c, reg && reg->callees.len ? json_integer((json_int_t)reg->id) : NULL);
        } else {
            json_t *ids = json_array();
            mb_matcher_each(matcher, u, ul, collect_id, ids);
            if (json_array_size(ids) == 0) {
                json_decref(ids);
                ids = NULL;
            }
            reply_one(c, ids);
        }
        return true;
    }
    if (!regs && strcmp(name, "get_events") == 0)
        return get_events(c);
    bool remove = strcmp(name, regs ? "remove_callee" : "remove_subscriber") == 0;
    bool get = strcmp(name, "get") == 0;
    bool list = strcmp(name, regs ? "list_callees" : "list_subscribers") == 0;
    bool count = strcmp(name, regs ? "count_callees" : "count_subscribers") == 0;
    if (!(remove || get || list || count))
        return false;
    uint64_t id = id_arg(c, 0, what);
    if (!id)
        return true;
    void *v = mb_map_get_id(by_id, id);
    if (!v)
        return fail(c, missing, "no %s %llu in this realm", what, (unsigned long long)id);
    const struct mb_vec *mem = regs ? &((struct mb_registration *)v)->callees : &((struct mb_subscription *)v)->subscribers;
    if (get)
        reply_one(c, regs ? registration_details(v) : subscription_details(v));
    else if (list)
        reply_one(c, members(mem));
    else if (count)
        reply_one(c, json_integer((json_int_t)mem->len));
    else {
        uint64_t sid = id_arg(c, 1, "session");
        if (!sid)
            return true;
        struct mb_session *t = mb_map_get_id(&c->s->router->sessions, sid);
        if (!t || t->realm != realm || !mb_vec_contains(mem, t))
            return fail(c, MB_R_NO_SUCH_SESSION, "session %llu is not on %s %llu", (unsigned long long)sid, what,
                        (unsigned long long)id);
        json_t *why = json_object_get(c->m->kwargs, "reason");
        if (why && !json_is_string(why))
            return fail(c, MB_R_INVALID_ARGUMENT, "kwargs.reason must be a string");
        if (regs)
            mb_dealer_drop(t, v);
        else
            mb_broker_drop(t, v);
        /* Revocation: the peer hears it (UNREGISTERED/UNSUBSCRIBED with request 0) if it
         * announced the feature; the spec forbids sending it to one that did not. */
        if (t->features & (regs ? MB_F_CALLEE_REVOCATION : MB_F_SUBSCRIBER_REVOCATION)) {
            json_t *details = json_pack("{sI}", what, (json_int_t)id);
            if (details && why)
                json_object_set(details, "reason", why);
            mb_session_send(t, json_pack("[iio]", regs ? MB_UNREGISTERED : MB_UNSUBSCRIBED, 0, details));
        }
        mb_info(&c->s->router->log, "session %llu removed session %llu from %s %llu%s%s",
                (unsigned long long)c->s->id, (unsigned long long)sid, what, (unsigned long long)id,
                why ? ": " : "", why ? json_string_value(why) : "");
        reply(c, NULL, NULL);
    }
    return true;
}

bool mb_meta_call(struct mb_session *s, const struct mb_msg *m)
{
    if (m->uri_len < 6 || memcmp(m->uri, "wamp.", 5) != 0)
        return false;
    char name[64];
    struct call c = { s, m };
    if (mb_msg_payload(m) < 0) { /* a scanned CALL: the procedures read its arguments */
        mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
        return true;
    }
    if (m->args && !json_is_array(m->args))
        return false;
    if (m->uri_len > 13 && m->uri_len < sizeof name + 13 && memcmp(m->uri, "wamp.session.", 13) == 0) {
        snprintf(name, sizeof name, "%.*s", (int)(m->uri_len - 13), m->uri + 13);
        return session_procedure(&c, name);
    }
    if (m->uri_len > 18 && m->uri_len < sizeof name + 18 && memcmp(m->uri, "wamp.registration.", 18) == 0) {
        snprintf(name, sizeof name, "%.*s", (int)(m->uri_len - 18), m->uri + 18);
        return pattern_procedure(&c, name, true);
    }
    if (m->uri_len > 18 && m->uri_len < sizeof name + 18 && memcmp(m->uri, "wamp.subscription.", 18) == 0) {
        snprintf(name, sizeof name, "%.*s", (int)(m->uri_len - 18), m->uri + 18);
        return pattern_procedure(&c, name, false);
    }
    return false;
}
