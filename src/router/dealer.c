/* Dealer: registrations by exact, prefix and wildcard match (mb_match), shared registrations
 * with the invocation policies single, roundrobin, random, first and last, and calls. */
#include "mb_dealer.h"
#include "mb_lua.h"
#include "mb_meta.h"

#include <stdlib.h>
#include <string.h>

#define URI_ARG(m) (int)((m)->uri_len > 200 ? 200 : (m)->uri_len), (m)->uri

static const char *const invoke_names[] = { "single", "roundrobin", "random", "first", "last" };
static const char *invoke_name(const struct mb_registration *reg);

/* Options.invoke, or -1 after an ERROR reply. A custom policy's name goes to *custom. */
static int options_invoke(struct mb_session *s, const struct mb_msg *m, const char **custom)
{
    json_t *v = json_object_get(m->dict, "invoke");
    *custom = NULL;
    if (!v)
        return MB_INVOKE_SINGLE;
    if (json_is_string(v)) {
        for (int i = 0; i < (int)(sizeof invoke_names / sizeof invoke_names[0]); i++)
            if (strcmp(json_string_value(v), invoke_names[i]) == 0)
                return i;
        if (mb_lua_has_policy(s->realm, json_string_value(v))) {
            *custom = json_string_value(v);
            return MB_INVOKE_CUSTOM;
        }
    }
    mb_session_error(s, MB_REGISTER, m->request, MB_R_INVALID_ARGUMENT,
                     "Options.invoke must be \"single\", \"roundrobin\", \"random\", \"first\", \"last\" "
                     "or a policy of the realm's policy script");
    return -1;
}

static const char *invoke_name(const struct mb_registration *reg)
{
    return reg->invoke == MB_INVOKE_CUSTOM ? reg->policy : invoke_names[reg->invoke];
}

void mb_dealer_register(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    struct mb_dealer *d = &s->realm->dealer;
    int match = mb_options_match(s, m);
    const char *custom = NULL;
    int invoke = match < 0 ? -1 : options_invoke(s, m, &custom);
    if (invoke < 0 || !mb_check_uri(s, m, match, false, true) || !mb_session_authorized(s, "register", m, true))
        return;
    struct mb_registration *reg = mb_matcher_find(&d->match, match, m->uri, m->uri_len);
    bool created = false, added = false;
    if (reg) {
        if (mb_vec_contains(&reg->callees, s)) {
            /* the same session again: same registration */
        } else if (reg->invoke == MB_INVOKE_SINGLE) {
            mb_session_error(s, MB_REGISTER, m->request, MB_R_PROCEDURE_ALREADY_EXISTS,
                             "procedure '%.*s' (%s) is already registered", URI_ARG(m), mb_match_policy_name(match));
            return;
        } else if ((int)reg->invoke != invoke || (custom && strcmp(custom, reg->policy) != 0)) {
            mb_session_error(s, MB_REGISTER, m->request, MB_R_PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
                             "procedure '%.*s' is registered with invoke '%s', not '%s'", URI_ARG(m),
                             invoke_name(reg), custom ? custom : invoke_names[invoke]);
            return;
        } else if (mb_vec_push(&reg->callees, s) < 0 || mb_vec_push(&s->regs, reg) < 0) {
            mb_vec_remove(&reg->callees, s);
            goto oom;
        } else {
            mb_info(&r->log, "session %llu joined registration %llu of %s (%s, %zu callees)",
                    (unsigned long long)s->id, (unsigned long long)reg->id, reg->uri,
                    invoke_name(reg), reg->callees.len);
            added = true;
        }
    } else {
        reg = calloc(1, sizeof *reg);
        if (!reg || !(reg->uri = malloc(m->uri_len + 1)))
            goto oom_free;
        memcpy(reg->uri, m->uri, m->uri_len);
        reg->uri[m->uri_len] = '\0';
        reg->uri_len = m->uri_len;
        reg->match = match;
        reg->invoke = invoke;
        reg->created = mb_router_wall_ms();
        if (custom && !(reg->policy = strdup(custom)))
            goto oom_free;
        reg->id = mb_router_new_id(r, &d->by_id);
        if (mb_vec_push(&reg->callees, s) < 0 || mb_vec_push(&s->regs, reg) < 0)
            goto oom_free;
        if (mb_matcher_add(&d->match, match, reg->uri, reg->uri_len, reg) < 0)
            goto oom_free;
        if (mb_map_put_id(&d->by_id, reg->id, reg) < 0) {
            mb_matcher_remove(&d->match, match, reg->uri, reg->uri_len);
            goto oom_free;
        }
        mb_info(&r->log, "session %llu registered %s (registration %llu, %s, %s)", (unsigned long long)s->id,
                reg->uri, (unsigned long long)reg->id, mb_match_policy_name(match), invoke_name(reg));
        created = added = true;
    }
    if (json_is_true(json_object_get(m->dict, "disclose_caller")))
        reg->disclose_caller = true; /* any callee asking for it: its INVOCATIONs name the caller */
    mb_session_send(s, json_pack("[iII]", MB_REGISTERED, (json_int_t)m->request, (json_int_t)reg->id));
    if (created)
        mb_meta_registration(s, reg, "wamp.registration.on_create");
    if (added)
        mb_meta_registration(s, reg, "wamp.registration.on_register");
    return;
oom_free:
    if (reg) {
        mb_vec_remove(&s->regs, reg);
        mb_vec_free(&reg->callees);
        free(reg->policy);
        free(reg->uri);
        free(reg);
    }
oom:
    mb_session_error(s, MB_REGISTER, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
}

static void drop_callee(struct mb_dealer *d, struct mb_registration *reg, struct mb_session *s)
{
    mb_vec_remove(&reg->callees, s);
    mb_meta_registration(s, reg, "wamp.registration.on_unregister");
    if (reg->callees.len > 0)
        return;
    mb_meta_registration(s, reg, "wamp.registration.on_delete");
    mb_matcher_remove(&d->match, reg->match, reg->uri, reg->uri_len);
    mb_map_del_id(&d->by_id, reg->id);
    mb_info(&s->router->log, "registration %llu of %s deleted (last callee session %llu left it)",
            (unsigned long long)reg->id, reg->uri, (unsigned long long)s->id);
    mb_vec_free(&reg->callees);
    free(reg->policy);
    free(reg->uri);
    free(reg);
}

void mb_dealer_unregister(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_dealer *d = &s->realm->dealer;
    struct mb_registration *reg = mb_map_get_id(&d->by_id, m->id);
    if (!reg || !mb_vec_remove(&s->regs, reg)) {
        mb_session_error(s, MB_UNREGISTER, m->request, MB_R_NO_SUCH_REGISTRATION,
                         "no registration %llu for this session", (unsigned long long)m->id);
        return;
    }
    drop_callee(d, reg, s);
    mb_session_send(s, json_pack("[iI]", MB_UNREGISTERED, (json_int_t)m->request));
}

/* Appends args and kwargs to msg as the incoming message carried them. */
static json_t *with_payload(json_t *msg, const struct mb_msg *m)
{
    if (msg && m->args)
        json_array_append(msg, m->args);
    if (msg && m->kwargs)
        json_array_append(msg, m->kwargs);
    return msg;
}

static struct mb_session *pick_callee(struct mb_router *r, struct mb_registration *reg)
{
    size_t n = reg->callees.len;
    switch (reg->invoke) {
    case MB_INVOKE_ROUNDROBIN:
        if (reg->next >= n)
            reg->next = 0;
        return reg->callees.items[reg->next++];
    case MB_INVOKE_RANDOM:
        return reg->callees.items[mb_idgen_u64(&r->ids) % n];
    case MB_INVOKE_LAST:
        return reg->callees.items[n - 1];
    default: /* single, first */
        return reg->callees.items[0];
    }
}

void mb_dealer_call(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_dealer *d = &s->realm->dealer;
    if (!mb_check_uri(s, m, MB_MATCH_EXACT, true, true) || !mb_session_authorized(s, "call", m, true))
        return;
    if (mb_meta_call(s, m))
        return;
    enum mb_match_policy policy;
    struct mb_registration *reg = mb_matcher_best(&d->match, m->uri, m->uri_len, &policy);
    if (!reg || reg->callees.len == 0) {
        mb_session_error(s, MB_CALL, m->request, MB_R_NO_SUCH_PROCEDURE,
                         "no callee registered for procedure '%.*s'", URI_ARG(m));
        return;
    }
    struct mb_session *callee;
    if (reg->invoke == MB_INVOKE_CUSTOM) {
        char why[300];
        callee = mb_lua_pick_callee(s->realm, reg->policy, reg, s, m, why, sizeof why);
        if (!callee) {
            mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "invocation policy '%s': %s",
                             reg->policy, why);
            return;
        }
    } else {
        callee = pick_callee(s->router, reg);
    }
    struct mb_invocation *inv = malloc(sizeof *inv);
    if (!inv) {
        mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
        return;
    }
    *inv = (struct mb_invocation){ .id = callee->next_request++, .caller = s->id, .caller_request = m->request,
                                   .callee = callee };
    if (mb_map_put_id(&callee->invocations, inv->id, inv) < 0) {
        free(inv);
        mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
        return;
    }
    json_t *timeout = json_object_get(m->dict, "timeout");
    if (json_is_integer(timeout) && json_integer_value(timeout) > 0) {
        struct mb_router *r = s->router;
        inv->deadline = mb_router_now_ms(r) + (uint64_t)json_integer_value(timeout);
        inv->next = r->timed;
        if (r->timed)
            r->timed->prev = inv;
        r->timed = inv;
    }
    const char *proc = policy == MB_MATCH_EXACT ? NULL : "procedure";
    if (!reg->disclose_caller &&
        mb_session_send_passthrough(callee, MB_INVOCATION, inv->id, reg->id, proc, m->uri, m->uri_len, m))
        return;
    json_t *inv_msg = NULL;
    if (mb_msg_payload(m) == 0)
        inv_msg = proc ? json_pack("[iII{ss%}]", MB_INVOCATION, (json_int_t)inv->id, (json_int_t)reg->id,
                                   proc, m->uri, m->uri_len)
                       : json_pack("[iII{}]", MB_INVOCATION, (json_int_t)inv->id, (json_int_t)reg->id);
    if (inv_msg && reg->disclose_caller) { /* REGISTER.Options.disclose_caller */
        json_t *details = json_array_get(inv_msg, 3);
        json_object_set_new(details, "caller", json_integer((json_int_t)s->id));
        json_object_set_new(details, "caller_authid", json_string(s->authid ? s->authid : ""));
        json_object_set_new(details, "caller_authrole", json_string(s->authrole ? s->authrole : ""));
        json_object_set_new(details, "caller_authmethod", json_string(s->authmethod ? s->authmethod : ""));
    }
    mb_session_send(callee, with_payload(inv_msg, m));
}

static void untime(struct mb_router *r, struct mb_invocation *inv)
{
    if (!inv->deadline)
        return;
    if (inv->prev)
        inv->prev->next = inv->next;
    else
        r->timed = inv->next;
    if (inv->next)
        inv->next->prev = inv->prev;
    inv->deadline = 0;
}

void mb_dealer_expire(struct mb_router *r, uint64_t now_ms)
{
    for (struct mb_invocation *inv = r->timed, *next; inv; inv = next) {
        next = inv->next;
        if (now_ms < inv->deadline)
            continue;
        struct mb_session *callee = inv->callee;
        untime(r, inv);
        mb_map_del_id(&callee->invocations, inv->id);
        struct mb_session *caller = mb_map_get_id(&r->sessions, inv->caller);
        if (caller)
            mb_session_error(caller, MB_CALL, inv->caller_request, MB_R_TIMEOUT,
                             "the call timed out: no answer from the callee within its timeout");
        if (callee->interruptible) /* its late answer will be dropped anyway */
            mb_session_send(callee, json_pack("[iI{ss}]", MB_INTERRUPT, (json_int_t)inv->id, "reason",
                                              mb_reason_uri(MB_R_TIMEOUT)));
        free(inv);
    }
}

/* Takes the invocation a callee answers; NULL (and a log line) if it is unknown. */
static struct mb_invocation *take_invocation(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_invocation *inv = mb_map_del_id(&s->invocations, m->request);
    if (inv)
        untime(s->router, inv);
    if (!inv)
        mb_debug(&s->router->log, "session %llu: %s for unknown invocation %llu dropped",
                 (unsigned long long)s->id, mb_msg_name(m->type), (unsigned long long)m->request);
    return inv;
}

static struct mb_session *caller_of(struct mb_session *callee, struct mb_invocation *inv)
{
    struct mb_session *c = mb_map_get_id(&callee->router->sessions, inv->caller);
    if (!c)
        mb_debug(&callee->router->log, "session %llu: answer to a caller that left (session %llu) dropped",
                 (unsigned long long)callee->id, (unsigned long long)inv->caller);
    return c;
}

void mb_dealer_yield(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_invocation *inv = take_invocation(s, m);
    if (!inv)
        return;
    struct mb_session *caller = caller_of(s, inv);
    if (caller && !mb_session_send_passthrough(caller, MB_RESULT, inv->caller_request, 0, NULL, NULL, 0, m)) {
        json_t *res = mb_msg_payload(m) == 0 ? json_pack("[iI{}]", MB_RESULT, (json_int_t)inv->caller_request) : NULL;
        mb_session_send(caller, with_payload(res, m));
    }
    free(inv);
}

void mb_dealer_error(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_invocation *inv = take_invocation(s, m);
    if (!inv)
        return;
    struct mb_session *caller = caller_of(s, inv);
    if (caller)
        mb_session_send(caller, with_payload(json_pack("[iIIOs%]", MB_ERROR, (json_int_t)MB_CALL,
                                                       (json_int_t)inv->caller_request, m->dict,
                                                       m->uri, m->uri_len), m));
    free(inv);
}

void mb_dealer_drop(struct mb_session *s, struct mb_registration *reg)
{
    if (mb_vec_remove(&s->regs, reg))
        drop_callee(&s->realm->dealer, reg, s);
}

void mb_dealer_remove_session(struct mb_session *s)
{
    struct mb_dealer *d = &s->realm->dealer;
    for (size_t i = 0; i < s->regs.len; i++)
        drop_callee(d, s->regs.items[i], s);
    s->regs.len = 0;
    struct mb_invocation *inv;
    for (size_t it = 0; (inv = mb_map_next(&s->invocations, &it));) {
        struct mb_session *caller = mb_map_get_id(&s->router->sessions, inv->caller);
        if (caller)
            mb_session_error(caller, MB_CALL, inv->caller_request, MB_R_CANCELED,
                             "callee session %llu left before answering", (unsigned long long)s->id);
        untime(s->router, inv);
        free(inv);
    }
    mb_map_free(&s->invocations);
}

void mb_dealer_free(struct mb_dealer *d)
{
    struct mb_registration *reg;
    for (size_t it = 0; (reg = mb_map_next(&d->by_id, &it));) {
        mb_vec_free(&reg->callees);
        free(reg->policy);
        free(reg->uri);
        free(reg);
    }
    mb_map_free(&d->by_id);
    mb_matcher_free(&d->match);
}
