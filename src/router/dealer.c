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
    if (s->regs.len >= r->cfg->max_registrations_per_session && !(reg && mb_vec_contains(&reg->callees, s))) {
        r->limits_stats.registrations_refused++; /* a repeated REGISTER (same ID) does not count */
        mb_session_refuse(s, MB_REGISTER, m->request,
                          "session has %zu registrations: limits.max_registrations_per_session reached", s->regs.len);
        return;
    }
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

/* limits.max_invocations_per_callee: when the callee the policy picked has no room, the next
 * one in the policy's own order that has (roundrobin, random and first look forward from it,
 * last looks backward); NULL when none has. */
static struct mb_session *callee_with_room(struct mb_router *r, struct mb_registration *reg,
                                           struct mb_session *picked)
{
    size_t max = r->cfg->max_invocations_per_callee, n = reg->callees.len, at = 0;
    if (picked->invocations.len < max)
        return picked;
    while (at < n && reg->callees.items[at] != picked)
        at++;
    for (size_t i = 1; i < n; i++) {
        size_t k = reg->invoke == MB_INVOKE_LAST ? (at + n - i) % n : (at + i) % n;
        struct mb_session *c = reg->callees.items[k];
        if (c->invocations.len < max)
            return c;
    }
    return NULL;
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
    inv->prev = inv->next = NULL;
    inv->deadline = 0;
}

static void arm_timeout(struct mb_router *r, struct mb_invocation *inv)
{
    if (!inv->timeout)
        return;
    if (inv->deadline) { /* a progressive result restarts it: the list is not sorted */
        inv->deadline = mb_router_now_ms(r) + inv->timeout;
        return;
    }
    inv->deadline = mb_router_now_ms(r) + inv->timeout;
    inv->prev = NULL;
    inv->next = r->timed;
    if (r->timed)
        r->timed->prev = inv;
    r->timed = inv;
}

/* Frees inv, taken out of its callee's map already: out of its caller's and the timed list. */
static void release(struct mb_invocation *inv)
{
    untime(inv->callee->router, inv);
    mb_map_del_id(&inv->caller->calls, inv->caller_request);
    json_decref(inv->details);
    free(inv);
}

/* Takes inv out of its callee's and its caller's maps and the timed list, and frees it. */
static void finish(struct mb_invocation *inv)
{
    mb_map_del_id(&inv->callee->invocations, inv->id);
    release(inv);
}

static void interrupt(struct mb_invocation *inv, const char *mode, enum mb_reason reason)
{
    mb_session_send(inv->callee, json_pack("[iI{ssss}]", MB_INTERRUPT, (json_int_t)inv->id, "mode", mode,
                                           "reason", mb_reason_uri(reason)));
}

/* Sends INVOCATION: Details are {} or {"procedure": uri} when details is NULL, else details
 * (borrowed); the payload stays as received whenever the callee takes bytes. */
static void send_invocation(struct mb_session *callee, struct mb_invocation *inv, json_t *details,
                            const char *proc, const struct mb_msg *m)
{
    int sent = details ? mb_session_send_passthrough_details(callee, MB_INVOCATION, inv->id, inv->reg, details, m)
                       : mb_session_send_passthrough(callee, MB_INVOCATION, inv->id, inv->reg, proc, m->uri,
                                                     m->uri_len, m);
    if (sent < 0) { /* the caller's payload has a value the callee's serializer cannot carry */
        mb_session_error(inv->caller, MB_CALL, inv->caller_request, MB_R_INVALID_ARGUMENT,
                         "the call's arguments cannot be carried to the callee, which speaks %s (a NaN or an "
                         "infinity for JSON?)", mb_ser_name(callee->ser));
        finish(inv);
        return;
    }
    if (sent)
        return;
    json_t *msg = NULL;
    if (mb_msg_payload(m) == 0) {
        if (details)
            msg = json_pack("[iIIO]", MB_INVOCATION, (json_int_t)inv->id, (json_int_t)inv->reg, details);
        else if (proc)
            msg = json_pack("[iII{ss%}]", MB_INVOCATION, (json_int_t)inv->id, (json_int_t)inv->reg, proc, m->uri,
                            m->uri_len);
        else
            msg = json_pack("[iII{}]", MB_INVOCATION, (json_int_t)inv->id, (json_int_t)inv->reg);
    }
    if (mb_session_send(callee, with_payload(msg, m)) < 0) { /* decoded, and still not encodable for it */
        mb_session_error(inv->caller, MB_CALL, inv->caller_request, MB_R_INVALID_ARGUMENT,
                         "the call's arguments cannot be carried to the callee, which speaks %s (nested deeper "
                         "than 64?)", mb_ser_name(callee->ser));
        finish(inv);
    }
}

/* Sends RESULT with Details {} (details NULL) or details (borrowed), payload as received. */
static void send_result(struct mb_session *caller, uint64_t request, json_t *details, const struct mb_msg *m)
{
    int sent = details ? mb_session_send_passthrough_details(caller, MB_RESULT, request, 0, details, m)
                       : mb_session_send_passthrough(caller, MB_RESULT, request, 0, NULL, NULL, 0, m);
    if (sent < 0) /* the callee's payload has a value the caller's serializer cannot carry */
        mb_session_error(caller, MB_CALL, request, MB_R_INVALID_ARGUMENT, "the callee's result cannot be carried "
                         "to this session, which speaks %s (a NaN or an infinity for JSON?)", mb_ser_name(caller->ser));
    if (sent)
        return;
    json_t *res = NULL;
    if (mb_msg_payload(m) == 0)
        res = details ? json_pack("[iIO]", MB_RESULT, (json_int_t)request, details)
                      : json_pack("[iI{}]", MB_RESULT, (json_int_t)request);
    if (mb_session_send(caller, with_payload(res, m)) < 0)
        mb_session_error(caller, MB_CALL, request, MB_R_INVALID_ARGUMENT, "the callee's result cannot be carried "
                         "to this session, which speaks %s (nested deeper than 64?)", mb_ser_name(caller->ser));
}

/* A CALL whose request ID is that of a progressive call invocation in flight: the next chunk,
 * to the same callee under the same INVOCATION ID, with the first CALL's Details (frozen). */
static void continue_stream(struct mb_session *s, struct mb_invocation *inv, const struct mb_msg *m, bool progress)
{
    if (inv->flags & MB_INV_KILLED) {
        mb_debug(&s->router->log, "session %llu: CALL %llu continues a call being canceled: discarded",
                 (unsigned long long)s->id, (unsigned long long)m->request);
        return;
    }
    if (progress)
        json_object_set_new(inv->details, "progress", json_true());
    else {
        json_object_del(inv->details, "progress");
        inv->flags &= ~(unsigned)MB_INV_STREAM;
    }
    send_invocation(inv->callee, inv, inv->details, NULL, m);
}

void mb_dealer_call(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    struct mb_dealer *d = &s->realm->dealer;
    json_t *o = m->dict;
    bool any = json_object_size(o) > 0; /* the usual {} skips every option lookup */
    bool progress = any && json_is_true(json_object_get(o, "progress"));
    if (progress && !(s->features & MB_F_CALLER_PROGRESSIVE_INVOCATIONS)) {
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "CALL %llu with Options.progress, but the caller did not "
                         "announce caller.features.progressive_call_invocations", (unsigned long long)m->request);
        return;
    }
    struct mb_invocation *inv = mb_map_get_id(&s->calls, m->request);
    if (inv) {
        if (inv->flags & MB_INV_STREAM)
            continue_stream(s, inv, m, progress);
        else
            mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "CALL %llu: that request ID belongs to a call in flight "
                             "that takes no more progressive invocations", (unsigned long long)m->request);
        return;
    }
    if (m->request <= s->call_watermark && (s->features & MB_F_CALLER_PROGRESSIVE_INVOCATIONS)) {
        /* a continuation of a progressive call that has ended: its caller gets (or got) the answer */
        mb_debug(&r->log, "session %llu: CALL %llu continues no call in flight: discarded",
                 (unsigned long long)s->id, (unsigned long long)m->request);
        return;
    }
    if (m->request > s->call_watermark)
        s->call_watermark = m->request;
    bool ppt = any && mb_uses_ppt(o);
    if (ppt && !(s->features & MB_F_CALLER_PPT)) {
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "CALL %llu with Options.ppt_scheme, but the caller did not "
                         "announce caller.features.payload_passthru_mode", (unsigned long long)m->request);
        return;
    }
    if (!mb_check_uri(s, m, MB_MATCH_EXACT, true, true) || !mb_session_authorized(s, "call", m, true))
        return;
    bool disclose_me = any && json_is_true(json_object_get(o, "disclose_me"));
    if (disclose_me && s->authz_disclose == MB_DISCLOSE_REFUSE) {
        mb_session_error(s, MB_CALL, m->request, MB_R_OPTION_DISALLOWED_DISCLOSE_ME,
                         "the authorizer does not allow this caller to disclose itself calling '%.*s'", URI_ARG(m));
        return;
    }
    if (mb_meta_call(s, m))
        return;
    if (s->calls.len >= r->cfg->max_calls_per_caller) {
        r->limits_stats.calls_refused_caller++;
        mb_session_refuse(s, MB_CALL, m->request, "caller has %zu calls in flight: limits.max_calls_per_caller reached",
                          s->calls.len);
        return;
    }
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
        callee = pick_callee(r, reg);
    }
    if (callee->invocations.len >= r->cfg->max_invocations_per_callee) {
        /* a Lua policy's choice stands; the built-in policies try the other callees */
        struct mb_session *other = reg->invoke == MB_INVOKE_CUSTOM ? NULL : callee_with_room(r, reg, callee);
        if (!other) {
            r->limits_stats.calls_refused_callee++;
            mb_session_refuse(s, MB_CALL, m->request,
                              "callee of '%.*s' has %zu invocations in flight: limits.max_invocations_per_callee "
                              "reached", URI_ARG(m), callee->invocations.len);
            return;
        }
        callee = other;
    }
    const unsigned stream_bits = MB_F_CALLEE_PROGRESSIVE_INVOCATIONS | MB_F_CALLEE_CANCELING;
    if (progress && (callee->features & stream_bits) != stream_bits) {
        mb_session_error(s, MB_CALL, m->request, MB_R_FEATURE_NOT_SUPPORTED,
                         "the callee of '%.*s' does not support progressive call invocations (it must announce "
                         "callee.features progressive_call_invocations and call_canceling)", URI_ARG(m));
        return;
    }
    if (ppt && !(callee->features & MB_F_CALLEE_PPT)) {
        mb_session_error(s, MB_CALL, m->request, MB_R_FEATURE_NOT_SUPPORTED,
                         "the callee of '%.*s' does not support payload passthru mode", URI_ARG(m));
        return;
    }
    inv = malloc(sizeof *inv);
    if (!inv) {
        mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
        return;
    }
    *inv = (struct mb_invocation){ .id = callee->next_request++, .caller = s, .caller_request = m->request,
                                   .reg = reg->id, .callee = callee };
    if (mb_map_put_id(&callee->invocations, inv->id, inv) < 0) {
        free(inv);
        mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
        return;
    }
    if (mb_map_put_id(&s->calls, m->request, inv) < 0) {
        mb_map_del_id(&callee->invocations, inv->id);
        free(inv);
        mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
        return;
    }
    const char *proc = policy == MB_MATCH_EXACT ? NULL : "procedure";
    if (!any && !reg->disclose_caller && s->authz_disclose != MB_DISCLOSE_FORCE) {
        send_invocation(callee, inv, NULL, proc, m); /* the plain call: no Details to build */
        return;
    }
    json_t *timeout = json_object_get(o, "timeout");
    if (json_is_integer(timeout) && json_integer_value(timeout) > 0) {
        json_int_t t = json_integer_value(timeout);
        inv->timeout = t > (json_int_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
        arm_timeout(r, inv);
    }
    /* receive_progress is forwarded only when both sides announced progressive results; a
     * callee that did not gets no flag (and its progressive YIELDs, if any, are dropped) */
    if (json_is_true(json_object_get(o, "receive_progress")) && (s->features & MB_F_CALLER_PROGRESSIVE_RESULTS) &&
        (callee->features & MB_F_CALLEE_PROGRESSIVE_RESULTS))
        inv->flags |= MB_INV_PROGRESS;
    /* the authorizer's disclose = false refuses the caller's disclose_me (answered above), not
     * a registration's disclose_caller: that is the callee's need (the room service keys seats
     * by it), granted when it registered */
    bool disclose = reg->disclose_caller || disclose_me || s->authz_disclose == MB_DISCLOSE_FORCE;
    if (!disclose && !ppt && !progress && !(inv->flags & MB_INV_PROGRESS)) {
        send_invocation(callee, inv, NULL, proc, m);
        return;
    }
    json_t *details = json_object();
    if (details && proc)
        json_object_set_new(details, "procedure", json_stringn(m->uri, m->uri_len));
    if (details && (inv->flags & MB_INV_PROGRESS))
        json_object_set_new(details, "receive_progress", json_true());
    if (details && disclose) { /* REGISTER.Options.disclose_caller, CALL.Options.disclose_me, or the authorizer */
        json_object_set_new(details, "caller", json_integer((json_int_t)s->id));
        json_object_set_new(details, "caller_authid", json_string(s->authid ? s->authid : ""));
        json_object_set_new(details, "caller_authrole", json_string(s->authrole ? s->authrole : ""));
        json_object_set_new(details, "caller_authmethod", json_string(s->authmethod ? s->authmethod : ""));
    }
    if (details && ppt)
        mb_copy_ppt(details, o);
    if (!details) {
        finish(inv);
        mb_session_error(s, MB_CALL, m->request, MB_R_INVALID_ARGUMENT, "router out of memory");
        return;
    }
    if (progress) {
        /* the first chunk of a progressive call invocation: the others reuse these Details */
        json_object_set_new(details, "progress", json_true());
        inv->flags |= MB_INV_STREAM;
        inv->details = details;
        send_invocation(callee, inv, details, NULL, m);
        return;
    }
    send_invocation(callee, inv, details, NULL, m);
    json_decref(details);
}

void mb_dealer_expire(struct mb_router *r, uint64_t now_ms)
{
    for (struct mb_invocation *inv = r->timed, *next; inv; inv = next) {
        next = inv->next;
        if (now_ms < inv->deadline)
            continue;
        mb_session_error(inv->caller, MB_CALL, inv->caller_request, MB_R_TIMEOUT,
                         "the call timed out: no answer from the callee within its timeout of %u ms", inv->timeout);
        if (mb_session_cancelable(inv->callee)) /* else skip: its late answer is dropped */
            interrupt(inv, "killnowait", MB_R_TIMEOUT);
        finish(inv);
    }
}

/* The invocation a callee answers, taken out of its map when take (a final answer: one lookup
 * on the hot path); NULL (and a log line) if it is unknown (canceled, timed out, its caller
 * left, or never was). */
static struct mb_invocation *answered(struct mb_session *s, const struct mb_msg *m, bool take)
{
    struct mb_invocation *inv = take ? mb_map_del_id(&s->invocations, m->request)
                                     : mb_map_get_id(&s->invocations, m->request);
    if (!inv)
        mb_debug(&s->router->log, "session %llu: %s for unknown invocation %llu dropped",
                 (unsigned long long)s->id, mb_msg_name(m->type), (unsigned long long)m->request);
    return inv;
}

void mb_dealer_yield(struct mb_session *s, const struct mb_msg *m)
{
    json_t *o = m->dict;
    bool any = json_object_size(o) > 0;
    bool progress = any && json_is_true(json_object_get(o, "progress"));
    bool ppt = any && mb_uses_ppt(o);
    if (ppt && !(s->features & MB_F_CALLEE_PPT)) {
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "YIELD %llu with Options.ppt_scheme, but the callee did not "
                         "announce callee.features.payload_passthru_mode", (unsigned long long)m->request);
        return;
    }
    struct mb_invocation *inv = answered(s, m, !progress);
    if (!inv)
        return;
    struct mb_session *caller = inv->caller;
    if (progress) {
        if (!(inv->flags & MB_INV_PROGRESS) || (inv->flags & MB_INV_KILLED)) {
            mb_debug(&s->router->log, "session %llu: progressive YIELD for invocation %llu dropped (%s)",
                     (unsigned long long)s->id, (unsigned long long)m->request,
                     (inv->flags & MB_INV_KILLED) ? "the call is being canceled"
                                                  : "its caller did not ask for progressive results");
            return;
        }
    }
    if (ppt && !(caller->features & MB_F_CALLER_PPT)) {
        mb_session_error(s, MB_YIELD, m->request, MB_R_FEATURE_NOT_SUPPORTED,
                         "the caller does not support payload passthru mode: the call ends with this error");
        mb_session_error(caller, MB_CALL, inv->caller_request, MB_R_FEATURE_NOT_SUPPORTED,
                         "the callee answered in payload passthru mode, which this caller did not announce");
        if (progress)
            finish(inv);
        else
            release(inv);
        return;
    }
    json_t *details = NULL;
    if (progress || ppt) {
        details = progress ? json_pack("{sb}", "progress", 1) : NULL;
        if (ppt)
            details = mb_copy_ppt(details, o);
    }
    send_result(caller, inv->caller_request, details, m);
    json_decref(details);
    if (progress)
        arm_timeout(s->router, inv); /* the timeout runs from one result to the next (spec) */
    else
        release(inv);
}

void mb_dealer_error(struct mb_session *s, const struct mb_msg *m)
{
    if (mb_uses_ppt(m->dict) && !(s->features & MB_F_CALLEE_PPT)) {
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "ERROR %llu with Details.ppt_scheme, but the callee did not "
                         "announce callee.features.payload_passthru_mode", (unsigned long long)m->request);
        return;
    }
    struct mb_invocation *inv = answered(s, m, true);
    if (!inv)
        return;
    if (inv->flags & MB_INV_KILLED)
        mb_session_error(inv->caller, MB_CALL, inv->caller_request, MB_R_CANCELED,
                         "the call was canceled (mode kill); the callee answered the INTERRUPT with %.*s", URI_ARG(m));
    else /* Details as the callee sent them: ppt_* included */
        mb_session_send(inv->caller, with_payload(json_pack("[iIIOs%]", MB_ERROR, (json_int_t)MB_CALL,
                                                            (json_int_t)inv->caller_request, m->dict,
                                                            m->uri, m->uri_len), m));
    release(inv);
}

void mb_dealer_cancel(struct mb_session *s, const struct mb_msg *m)
{
    json_t *mode = json_object_get(m->dict, "mode");
    const char *name = json_is_string(mode) ? json_string_value(mode) : NULL;
    if (mode && (!name || (strcmp(name, "skip") != 0 && strcmp(name, "kill") != 0 && strcmp(name, "killnowait") != 0))) {
        mb_session_error(s, MB_CANCEL, m->request, MB_R_INVALID_ARGUMENT,
                         "CANCEL.Options.mode must be \"skip\", \"kill\" or \"killnowait\"");
        return;
    }
    if (!name)
        name = "killnowait"; /* what Crossbar does without a mode (autobahn sends none) */
    struct mb_invocation *inv = mb_map_get_id(&s->calls, m->request);
    if (!inv) {
        mb_debug(&s->router->log, "session %llu: CANCEL for call %llu, which is not in flight: ignored",
                 (unsigned long long)s->id, (unsigned long long)m->request);
        return;
    }
    if (inv->flags & MB_INV_KILLED) { /* canceled already: its answer is on its way */
        mb_debug(&s->router->log, "session %llu: CANCEL for call %llu again: ignored", (unsigned long long)s->id,
                 (unsigned long long)m->request);
        return;
    }
    if (!mb_session_cancelable(inv->callee))
        name = "skip"; /* a callee without call_canceling gets no INTERRUPT (spec) */
    mb_debug(&s->router->log, "session %llu: call %llu canceled (%s)", (unsigned long long)s->id,
             (unsigned long long)m->request, name);
    if (strcmp(name, "kill") == 0) {
        /* the caller's ERROR waits for the callee's answer; progressive results stop now */
        interrupt(inv, "kill", MB_R_CANCELED);
        inv->flags |= MB_INV_KILLED;
        inv->flags &= ~(unsigned)MB_INV_STREAM;
        return;
    }
    mb_session_error(s, MB_CALL, m->request, MB_R_CANCELED, "the call was canceled (mode %s)", name);
    if (strcmp(name, "killnowait") == 0)
        interrupt(inv, "killnowait", MB_R_CANCELED);
    finish(inv);
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
    /* as a caller: its callees stop working for it (spec: INTERRUPT, mode killnowait) */
    for (size_t it = 0; (inv = mb_map_next(&s->calls, &it));) {
        if (inv->callee != s && mb_session_cancelable(inv->callee))
            interrupt(inv, "killnowait", MB_R_CANCELED);
        finish(inv);
    }
    mb_map_free(&s->calls);
    s->call_watermark = 0;
    /* as a callee: every caller still waiting gets its answer */
    for (size_t it = 0; (inv = mb_map_next(&s->invocations, &it));) {
        mb_session_error(inv->caller, MB_CALL, inv->caller_request, MB_R_CANCELED,
                         "callee session %llu left before answering", (unsigned long long)s->id);
        finish(inv);
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
