/* Session state machine and dispatch. Every close goes through the doomed list and happens at
 * the router's safe point (a uv_check after the I/O callbacks), never in the middle of a loop
 * over subscribers or callees. */
#include "mb_session.h"
#include "mb_auth.h"
#include "mb_broker.h"
#include "mb_dealer.h"
#include "mb_json.h"
#include "mb_lua.h"
#include "mb_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_POLICY 1008

struct mb_session *mb_session_new(struct mb_router *r, const struct mb_transport *tr, void *conn,
                                  const char *peer)
{
    struct mb_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->router = r;
    s->tr = tr;
    s->conn = conn;
    snprintf(s->peer, sizeof s->peer, "%s", peer ? peer : "?");
    s->next = r->all;
    if (r->all)
        r->all->prev = s;
    r->all = s;
    r->nall++;
    s->hello_since = s->rate_ms = mb_router_now_ms(r);
    s->rate_tokens = r->rate_burst;
    mb_debug(&r->log, "%s connection from %s", tr->name, s->peer);
    return s;
}

const char *mb_serialize(struct mb_router *r, int ser, json_t *msg, size_t *len)
{
    /* one encoding pass, straight into the reused buffer of that serializer */
    struct mb_buf *b = &r->enc[ser];
    mb_buf_reset(b);
    if (mb_codec_encode(ser, b, msg) < 0 || b->len == 0)
        return NULL;
    *len = b->len;
    return mb_buf_data(b);
}

/* The values of a scanned message's payload (Arguments, ArgumentsKw): their bytes and how many.
 * A JSON tail kept without its slices (retained and history events) is split here. */
static unsigned tail_values(const struct mb_msg *m, const char **v, size_t *vl)
{
    if (m->args_raw) {
        v[0] = m->args_raw;
        vl[0] = m->args_len;
        v[1] = m->kwargs_raw;
        vl[1] = m->kwargs_len;
        return m->kwargs_raw ? 2 : 1;
    }
    if (m->ser != MB_SER_JSON || m->tail_len == 0)
        return m->tail_n; /* binary tails always come with their slices */
    const char *p = m->tail, *end = m->tail + m->tail_len;
    unsigned n = 0;
    while (n < 2 && (p = mb_json_ws(p, end)) < end && *p == ',') {
        p = mb_json_ws(p + 1, end);
        const char *q = mb_codec_skip(MB_SER_JSON, p, end);
        if (!q)
            break;
        v[n] = p;
        vl[n++] = (size_t)(q - p);
        p = q;
    }
    return n;
}

/* Items in m's payload: 0, 1 or 2. */
static unsigned tail_count(const struct mb_msg *m)
{
    const char *v[2];
    size_t vl[2];
    return m->tail_n ? m->tail_n : tail_values(m, v, vl);
}

/* The head of a pass-through message into b (reset first), in serializer ser: JSON
 * "[type,id1[,id2],", else an array header of items entries, then type, id1[, id2]. */
static int put_head(struct mb_buf *b, int ser, int type, uint64_t id1, uint64_t id2, size_t items)
{
    mb_buf_reset(b);
    if (ser != MB_SER_JSON) {
        int err = mb_codec_put_array(ser, b, items) | mb_codec_put_uint(ser, b, (uint64_t)type) |
                  mb_codec_put_uint(ser, b, id1);
        if (id2)
            err |= mb_codec_put_uint(ser, b, id2);
        return err;
    }
    char *head = mb_buf_reserve(b, 4);
    if (!head)
        return -1;
    head[0] = '[';
    head[1] = (char)('0' + type / 10);
    head[2] = (char)('0' + type % 10);
    head[3] = ',';
    mb_buf_commit(b, 4);
    int err = mb_json_put_u64(b, id1);
    if (id2)
        err |= mb_json_put(b, ",", 1) | mb_json_put_u64(b, id2);
    return err | mb_json_put(b, ",", 1);
}

/* The payload of m, then the end of the message: the bytes as received when m came in the
 * same serializer, else each value converted once (mb_codec_transcode). */
static int put_tail(struct mb_buf *b, int ser, const struct mb_msg *m)
{
    int err = 0;
    if (m->ser == ser) {
        err = mb_buf_append(b, m->tail, m->tail_len);
    } else {
        const char *v[2];
        size_t vl[2];
        unsigned n = tail_values(m, v, vl);
        for (unsigned i = 0; i < n && !err; i++) {
            if (ser == MB_SER_JSON)
                err |= mb_json_put(b, ",", 1);
            err |= mb_codec_transcode(b, ser, m->ser, v[i], vl[i]);
        }
    }
    if (ser == MB_SER_JSON)
        err |= mb_json_put(b, "]", 1);
    return err;
}

/* Items of a pass-through message: type, ids, details, payload. */
static size_t items_of(uint64_t id2, const struct mb_msg *m)
{
    return 3 + (id2 ? 1 : 0) + tail_count(m);
}

const char *mb_encode_passthrough(struct mb_router *r, int ser, int type, uint64_t id1, uint64_t id2,
                                  const char *key, const char *value, size_t value_len, const struct mb_msg *m,
                                  size_t *len)
{
    struct mb_buf *b = &r->enc[ser];
    int err = put_head(b, ser, type, id1, id2, ser == MB_SER_JSON ? 0 : items_of(id2, m));
    if (ser != MB_SER_JSON) {
        err |= mb_codec_put_map(ser, b, key ? 1 : 0);
        if (key)
            err |= mb_codec_put_str(ser, b, key, strlen(key)) | mb_codec_put_str(ser, b, value, value_len);
    } else if (key)
        err |= mb_json_put(b, "{\"", 2) | mb_json_put(b, key, strlen(key)) | mb_json_put(b, "\":", 2) |
               mb_json_put_str(b, value, value_len) | mb_json_put(b, "}", 1);
    else
        err |= mb_json_put(b, "{}", 2);
    if (err || put_tail(b, ser, m))
        return NULL;
    *len = b->len;
    return mb_buf_data(b);
}

const char *mb_encode_passthrough_details(struct mb_router *r, int ser, int type, uint64_t id1, uint64_t id2,
                                          json_t *details, const struct mb_msg *m, size_t *len)
{
    struct mb_buf *b = &r->enc[ser];
    if (put_head(b, ser, type, id1, id2, ser == MB_SER_JSON ? 0 : items_of(id2, m)) ||
        mb_codec_encode(ser, b, details) < 0 || put_tail(b, ser, m))
        return NULL;
    *len = b->len;
    return mb_buf_data(b);
}

int mb_tail_to_json(const struct mb_msg *m, struct mb_buf *b)
{
    if (m->ser == MB_SER_JSON)
        return mb_buf_append(b, m->tail, m->tail_len);
    const char *v[2];
    size_t vl[2];
    unsigned n = tail_values(m, v, vl);
    int err = 0;
    for (unsigned i = 0; i < n && !err; i++)
        err = mb_json_put(b, ",", 1) | mb_codec_transcode(b, MB_SER_JSON, m->ser, v[i], vl[i]);
    return err;
}

static int sent_or_logged(struct mb_session *s, int type, const char *data, size_t len)
{
    if (data) {
        mb_session_send_bytes(s, data, len);
        return 1;
    }
    mb_warn(&s->router->log, "session %llu: %s not sent: its payload cannot be encoded in %s (out of memory, or "
            "a NaN or infinity for JSON)", (unsigned long long)s->id, mb_msg_name(type), mb_ser_name(s->ser));
    return -1;
}

int mb_session_send_passthrough_details(struct mb_session *s, int type, uint64_t id1, uint64_t id2,
                                         json_t *details, const struct mb_msg *m)
{
    if (!m->tail || s->tr->send_json)
        return 0;
    size_t len;
    const char *data = mb_encode_passthrough_details(s->router, s->ser, type, id1, id2, details, m, &len);
    return sent_or_logged(s, type, data, len);
}

int mb_session_send_passthrough(struct mb_session *s, int type, uint64_t id1, uint64_t id2, const char *key,
                                 const char *value, size_t value_len, const struct mb_msg *m)
{
    if (!m->tail || s->tr->send_json)
        return 0;
    size_t len;
    const char *data = mb_encode_passthrough(s->router, s->ser, type, id1, id2, key, value, value_len, m, &len);
    return sent_or_logged(s, type, data, len);
}

#define URI_ARG(m) (int)((m)->uri_len > 200 ? 200 : (m)->uri_len), (m)->uri

const char *const mb_ppt_keys[4] = { "ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid" };

bool mb_uses_ppt(json_t *opts)
{
    json_t *v = json_object_get(opts, "ppt_scheme");
    return json_is_string(v) && json_string_length(v) > 0;
}

json_t *mb_copy_ppt(json_t *details, json_t *opts)
{
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(opts, mb_ppt_keys[i]);
        if (!v)
            continue;
        if (!details && !(details = json_object()))
            return NULL;
        json_object_set(details, mb_ppt_keys[i], v);
    }
    return details;
}

/* Reads Options.match; replies with an ERROR and returns -1 if it is not a policy. */
int mb_options_match(struct mb_session *s, const struct mb_msg *m)
{
    json_t *v = json_object_get(m->dict, "match");
    if (!v)
        return MB_MATCH_EXACT;
    int p = json_is_string(v) ? mb_match_policy_parse(json_string_value(v), json_string_length(v)) : -1;
    if (p < 0)
        mb_session_error(s, m->type, m->request, MB_R_INVALID_ARGUMENT,
                         "Options.match must be \"exact\", \"prefix\" or \"wildcard\"");
    return p;
}

/* Checks a topic or procedure (or pattern) URI; replies with invalid_uri if reply. */
bool mb_check_uri(struct mb_session *s, const struct mb_msg *m, int match, bool reserved_ok, bool reply)
{
    const char *what = m->type == MB_SUBSCRIBE || m->type == MB_PUBLISH ? "topic" : "procedure";
    if (!mb_uri_valid(m->uri, m->uri_len, s->realm->uri_rule, match != MB_MATCH_EXACT)) {
        if (reply)
            mb_session_error(s, m->type, m->request, MB_R_INVALID_URI, "invalid %s URI '%.*s'%s", what,
                             URI_ARG(m), match == MB_MATCH_EXACT ? "" : " (pattern)");
        return false;
    }
    if (!reserved_ok && mb_uri_reserved(m->uri, m->uri_len)) {
        if (reply)
            mb_session_error(s, m->type, m->request, MB_R_INVALID_URI,
                             "%s '%.*s' is in the reserved wamp. namespace", what, URI_ARG(m));
        return false;
    }
    return true;
}

/* "call" | "register" | "publish" | "subscribe" → enum mb_action (the callers' literals). */
static enum mb_action action_of(const char *action)
{
    switch (action[0]) {
    case 'c': return MB_ACT_CALL;
    case 'r': return MB_ACT_REGISTER;
    case 'p': return MB_ACT_PUBLISH;
    default: return MB_ACT_SUBSCRIBE;
    }
}

bool mb_session_authorized(struct mb_session *s, const char *action, const struct mb_msg *m, bool reply)
{
    char why[300];
    s->authz_disclose = MB_DISCLOSE_ASK;
    enum mb_authz z = MB_AUTHZ_ALLOW;
    const struct mb_realm_auth *ra = s->realm ? s->realm->auth : NULL;
    if (!s->trusted && ra && ra->roles) { /* static roles first: C, no Lua */
        int disclose = -1;
        enum mb_action act = action_of(action);
        enum mb_match_policy match = MB_MATCH_EXACT; /* a pattern SUBSCRIBE or REGISTER */
        json_t *mv = act == MB_ACT_SUBSCRIBE || act == MB_ACT_REGISTER ? json_object_get(m->dict, "match") : NULL;
        if (json_is_string(mv)) {
            int p = mb_match_policy_parse(json_string_value(mv), json_string_length(mv));
            match = p < 0 ? MB_MATCH_EXACT : (enum mb_match_policy)p;
        }
        struct mb_authz_memo *memo = s->memo;
        enum mb_rule_decision d;
        char pwhy[200] = "";
        if (match != MB_MATCH_EXACT) {
            d = mb_role_check_pattern(s->role, act, match, m->uri, m->uri_len, &disclose, pwhy, sizeof pwhy);
        } else if (memo && memo->gen == ra->gen && memo->role == s->role && memo->action == act &&
                   memo->len == m->uri_len && memcmp(memo->uri, m->uri, m->uri_len) == 0) {
            d = (enum mb_rule_decision)memo->decision;
            disclose = memo->disclose;
        } else {
            d = mb_role_check(s->role, act, m->uri, m->uri_len, &disclose);
            if (m->uri_len <= MB_MEMO_URI && (memo || (memo = s->memo = malloc(sizeof *memo)))) {
                *memo = (struct mb_authz_memo){ .gen = ra->gen, .role = s->role, .len = (uint32_t)m->uri_len,
                                                .action = (uint8_t)act, .decision = (uint8_t)d,
                                                .disclose = (int8_t)disclose };
                memcpy(memo->uri, m->uri, m->uri_len);
            }
        }
        if (d == MB_RULE_ALLOW) {
            s->authz_disclose = disclose < 0 ? MB_DISCLOSE_ASK : disclose ? MB_DISCLOSE_FORCE : MB_DISCLOSE_REFUSE;
            return true;
        }
        if (d == MB_RULE_DENY && pwhy[0]) {
            z = MB_AUTHZ_DENY;
            snprintf(why, sizeof why, "not authorized to %s '%.*s' (%s): %s", action, URI_ARG(m),
                     mb_match_policy_name(match), pwhy);
        } else if (d == MB_RULE_DENY) {
            z = MB_AUTHZ_DENY;
            snprintf(why, sizeof why, "not authorized to %s '%.*s' (role %s denies it)", action, URI_ARG(m),
                     s->authrole);
        } else if (!mb_lua_has_authorizer(s->realm)) { /* default-deny */
            z = MB_AUTHZ_DENY;
            snprintf(why, sizeof why, "not authorized to %s '%.*s' (no rule of role %s allows it)", action,
                     URI_ARG(m), s->authrole);
        }
    }
    if (z == MB_AUTHZ_ALLOW)
        z = mb_lua_authorize(s, action, m, why, sizeof why);
    if (z == MB_AUTHZ_ALLOW)
        return true;
    mb_info(&s->router->log, "session %llu (authid=%s, authrole=%s): %s '%.*s' %s: %s", (unsigned long long)s->id,
            s->authid, s->authrole, action, URI_ARG(m), z == MB_AUTHZ_DENY ? "denied" : "authorization failed", why);
    if (reply)
        mb_session_error(s, m->type, m->request, z == MB_AUTHZ_DENY ? MB_R_NOT_AUTHORIZED : MB_R_AUTHORIZATION_FAILED,
                         "%s", why);
    return false;
}

static void check_queue(struct mb_session *s)
{
    struct mb_router *r = s->router;
    size_t q = s->tr->queued(s->conn);
    size_t limit = r->cfg->max_queue_bytes;
    if (q <= limit)
        return;
    if (q > 2 * limit) {
        mb_warn(&r->log, "session %llu (%s): slow consumer, outbound queue %zu bytes exceeds twice "
                "the limit of %zu: disconnecting", (unsigned long long)s->id, s->peer, q, limit);
        r->limits_stats.slow_consumers_dropped++;
        mb_session_close(s, WS_CLOSE_POLICY, "slow consumer: outbound queue overflow", false);
        return;
    }
    if (!s->reading_paused) {
        s->reading_paused = true;
        s->over_since = mb_router_now_ms(r);
        s->tr->set_reading(s->conn, false);
        mb_debug(&r->log, "session %llu: outbound queue %zu bytes over %zu, reading paused",
                 (unsigned long long)s->id, q, limit);
    }
}

void mb_session_drained(struct mb_session *s)
{
    if (!s->reading_paused || s->state == MB_S_CLOSED)
        return;
    if (s->tr->queued(s->conn) <= s->router->cfg->max_queue_bytes / 2) {
        s->reading_paused = false;
        s->over_since = 0;
        if (!s->throttled)
            s->tr->set_reading(s->conn, true);
        mb_debug(&s->router->log, "session %llu: outbound queue drained, reading resumed",
                 (unsigned long long)s->id);
    }
}

void mb_session_send_bytes(struct mb_session *s, const char *data, size_t len)
{
    if (s->state >= MB_S_LEAVING) /* nothing follows a GOODBYE or an ABORT */
        return;
    s->tr->send(s->conn, data, len);
    check_queue(s);
}

int mb_session_send(struct mb_session *s, json_t *msg)
{
    if (!msg) { /* json_pack failed: out of memory, or a format bug */
        mb_error(&s->router->log, "session %llu: a message could not be built", (unsigned long long)s->id);
        return -1;
    }
    if (s->state < MB_S_LEAVING && s->tr->send_json) {
        s->tr->send_json(s->conn, msg); /* in-process: no bytes */
        json_decref(msg);
        return 0;
    }
    size_t len;
    int rc = 0;
    const char *data = s->state >= MB_S_LEAVING ? NULL : mb_serialize(s->router, s->ser, msg, &len);
    if (data) {
        mb_session_send_bytes(s, data, len);
    } else if (s->state < MB_S_LEAVING) {
        mb_error(&s->router->log, "session %llu: a %s message could not be encoded in %s",
                 (unsigned long long)s->id, mb_msg_name((int)json_integer_value(json_array_get(msg, 0))),
                 mb_ser_name(s->ser));
        rc = -1;
    }
    json_decref(msg);
    return rc;
}

static json_t *message_args(const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    return json_pack("[s]", text);
}

void mb_session_error(struct mb_session *s, int req_type, uint64_t request, enum mb_reason reason,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *args = message_args(fmt, ap);
    va_end(ap);
    mb_debug(&s->router->log, "session %llu: %s error %s: %s", (unsigned long long)s->id,
             mb_msg_name(req_type), mb_reason_uri(reason), json_string_value(json_array_get(args, 0)));
    mb_session_send(s, json_pack("[iiI{}so]", MB_ERROR, req_type, (json_int_t)request,
                                 mb_reason_uri(reason), args));
}

void mb_session_refuse(struct mb_session *s, int req_type, uint64_t request, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *args = message_args(fmt, ap);
    va_end(ap);
    json_t *text = json_array_get(args, 0);
    mb_debug(&s->router->log, "session %llu: %s refused: %s", (unsigned long long)s->id, mb_msg_name(req_type),
             json_string_value(text));
    mb_session_send(s, json_pack("[iiI{sO}so]", MB_ERROR, req_type, (json_int_t)request, "message", text,
                                 mb_reason_uri(MB_R_RESOURCE_EXHAUSTED), args));
}

void mb_session_close(struct mb_session *s, int code, const char *reason, bool flush)
{
    if (s->doomed)
        return;
    s->doomed = true;
    s->state = MB_S_CLOSED;
    s->close_code = code;
    s->close_flush = flush;
    snprintf(s->close_reason, sizeof s->close_reason, "%s", reason ? reason : "");
    s->next_doomed = s->router->doomed;
    s->router->doomed = s;
}

void mb_session_abort(struct mb_session *s, enum mb_reason reason, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mb_warn(&s->router->log, "session %llu (%s): abort %s: %s", (unsigned long long)s->id, s->peer,
            mb_reason_uri(reason), text);
    mb_session_send(s, json_pack("[i{ss}s]", MB_ABORT, "message", text, mb_reason_uri(reason)));
    mb_session_close(s, reason == MB_R_PROTOCOL_VIOLATION ? WS_CLOSE_PROTOCOL_ERROR : 1000,
                     mb_reason_uri(reason), true);
}

void mb_session_shutdown(struct mb_session *s, enum mb_reason reason, const char *message)
{
    if (s->state == MB_S_JOINED) {
        /* the peer answers with its GOODBYE, then the transport closes (see dispatch) */
        mb_session_send(s, json_pack("[i{ss}s]", MB_GOODBYE, "message", message, mb_reason_uri(reason)));
        s->state = MB_S_LEAVING;
        return;
    }
    mb_session_close(s, WS_CLOSE_GOING_AWAY, message, true);
}

static void leave_realm(struct mb_session *s, const char *why);

void mb_session_kill(struct mb_session *s, const char *reason_uri, const char *message)
{
    if (s->state != MB_S_JOINED)
        return;
    json_t *details = message ? json_pack("{ss}", "message", message) : json_object();
    mb_session_send(s, json_pack("[ios]", MB_GOODBYE, details, reason_uri));
    leave_realm(s, "killed");
    s->state = MB_S_LEAVING;
    s->leaving_since = mb_router_now_ms(s->router);
}

/* Leaves the realm: subscriptions, registrations and pending calls go. Idempotent. */
static void leave_realm(struct mb_session *s, const char *why)
{
    struct mb_router *r = s->router;
    if (!s->realm)
        return;
    mb_map_del_id(&r->sessions, s->id); /* first: it gets no answer to its own pending calls */
    mb_broker_remove_session(s);
    mb_dealer_remove_session(s);
    s->realm->nsessions--;
    mb_info(&r->log, "session %llu left realm %s (%s)", (unsigned long long)s->id, s->realm->name, why);
    mb_meta_testaments(s);
    mb_meta_on_leave(s->realm, s);
    s->realm = NULL;
    s->role = NULL;
    free(s->memo);
    s->memo = NULL;
    mb_lua_forget_session(s);
    free(s->authid);
    free(s->authrole);
    s->authid = s->authrole = NULL;
}

void mb_session_reap(struct mb_router *r)
{
    while (r->doomed) {
        struct mb_session *s = r->doomed;
        r->doomed = s->next_doomed;
        s->next_doomed = NULL;
        leave_realm(s, "closed");
        s->tr->close(s->conn, s->close_code, s->close_reason, s->close_flush);
    }
}

void mb_session_free(struct mb_session *s)
{
    struct mb_router *r = s->router;
    if (s->doomed) { /* still listed if the transport went before the safe point */
        for (struct mb_session **p = &r->doomed; *p; p = &(*p)->next_doomed)
            if (*p == s) {
                *p = s->next_doomed;
                break;
            }
    }
    if (s->throttled) {
        for (struct mb_session **p = &r->throttled; *p; p = &(*p)->rate_next)
            if (*p == s) {
                *p = s->rate_next;
                break;
            }
        s->throttled = false;
    }
    s->state = MB_S_CLOSED;
    leave_realm(s, "connection lost");
    mb_debug(&r->log, "%s connection from %s closed", s->tr->name, s->peer);
    if (s->prev)
        s->prev->next = s->next;
    else
        r->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    r->nall--;
    mb_vec_free(&s->subs);
    mb_vec_free(&s->regs);
    mb_map_free(&s->invocations);
    mb_map_free(&s->calls);
    free(s->authid);
    mb_auth_forget(s);
    mb_meta_free_testaments(s);
    free(s);
}

bool mb_session_liveness(struct mb_session *s, uint64_t now_ms, uint64_t last_rx, uint64_t *ping_sent)
{
    const struct mb_config *cfg = s->router->cfg;
    if (s->doomed || s->state == MB_S_CLOSED)
        return false;
    if (*ping_sent && now_ms - *ping_sent > (uint64_t)(cfg->ping_timeout * 1000)) {
        mb_warn(&s->router->log, "session %llu (%s): no answer to a ping within %.1f s: dropped",
                (unsigned long long)s->id, s->peer, cfg->ping_timeout);
        mb_session_close(s, 1001, "ping timeout", false);
        return false;
    }
    if (!*ping_sent && now_ms - last_rx >= (uint64_t)(cfg->ping_interval * 1000)) {
        *ping_sent = now_ms;
        return true;
    }
    return false;
}

void mb_session_check_slow(struct mb_router *r, uint64_t now_ms)
{
    uint64_t limit_ms = (uint64_t)(r->cfg->slow_consumer_timeout * 1000.0);
    for (struct mb_session *s = r->all; s; s = s->next) {
        if (s->state == MB_S_LEAVING && s->leaving_since && now_ms - s->leaving_since > 2000) {
            mb_session_close(s, 1000, "no GOODBYE answer", false); /* killed, and the peer never answered */
            continue;
        }
        if (!s->reading_paused || s->doomed || s->over_since == 0)
            continue;
        if (now_ms - s->over_since >= limit_ms) {
            mb_warn(&r->log, "session %llu (%s): slow consumer, outbound queue over %zu bytes for "
                    "%.1f s: disconnecting", (unsigned long long)s->id, s->peer,
                    r->cfg->max_queue_bytes, r->cfg->slow_consumer_timeout);
            r->limits_stats.slow_consumers_dropped++;
            mb_session_close(s, WS_CLOSE_POLICY, "slow consumer", false);
        }
    }
}

void mb_session_check_hello(struct mb_router *r, uint64_t now_ms)
{
    uint64_t limit_ms = (uint64_t)(r->cfg->hello_timeout * 1000.0);
    for (struct mb_session *s = r->all; s; s = s->next) {
        if (s->state != MB_S_NEW || s->doomed || s->tr->send_json || now_ms - s->hello_since < limit_ms)
            continue;
        /* no ABORT: there is no session to abort yet (the spec answers a HELLO with ABORT);
         * WebSocket peers get close code 1008 (policy violation) */
        mb_info(&r->log, "%s %s: no HELLO within %.1f s (limits.hello_timeout): closed", s->tr->name, s->peer,
                r->cfg->hello_timeout);
        r->limits_stats.hello_timeouts++;
        mb_session_close(s, WS_CLOSE_POLICY, "no HELLO in time (limits.hello_timeout)", true);
    }
}

/* limits.max_message_rate: arms the router's rate timer for at the latest due. */
static void rate_arm(struct mb_router *r, uint64_t now, uint64_t due)
{
    if (uv_is_active((uv_handle_t *)&r->rate_timer) && r->rate_due <= due)
        return;
    r->rate_due = due;
    uv_timer_start(&r->rate_timer, mb_session_rate_timer, due > now ? due - now : 0, 0);
}

/* One message from s, which takes a token; once the bucket is empty the session is throttled:
 * reading pauses and the transport holds what it read, until the bucket has a token again. */
static void rate_take(struct mb_session *s)
{
    struct mb_router *r = s->router;
    if (!s->tr->resume) /* in-router and long-poll sessions: the transport cannot hold messages */
        return;
    uint64_t now = mb_router_now_ms(r);
    if (now > s->rate_ms) {
        int64_t t = s->rate_tokens + (int64_t)(now - s->rate_ms) * r->rate_per_ms;
        s->rate_tokens = t > r->rate_burst ? r->rate_burst : t;
        s->rate_ms = now;
    }
    if (s->rate_resuming)
        r->limits_stats.messages_delayed++;
    s->rate_tokens -= 1000000;
    if (s->rate_tokens >= 1000000 || s->throttled)
        return;
    s->throttled = true;
    s->rate_resume_at = now + (uint64_t)((1000000 - s->rate_tokens + r->rate_per_ms - 1) / r->rate_per_ms);
    s->rate_next = r->throttled;
    r->throttled = s;
    r->limits_stats.sessions_throttled++;
    s->tr->set_reading(s->conn, false);
    rate_arm(r, now, s->rate_resume_at);
}

void mb_session_rate_timer(uv_timer_t *h)
{
    struct mb_router *r = h->data;
    uint64_t now = mb_router_now_ms(r);
    struct mb_session *list = r->throttled;
    r->throttled = NULL;
    while (list) {
        struct mb_session *s = list;
        list = s->rate_next;
        s->rate_next = NULL;
        if (s->rate_resume_at > now) { /* not yet */
            s->rate_next = r->throttled;
            r->throttled = s;
            continue;
        }
        s->throttled = false;
        if (s->state == MB_S_CLOSED)
            continue;
        s->rate_resuming = true;
        s->tr->resume(s->conn); /* what it held, until the session is throttled again */
        s->rate_resuming = false;
        if (!s->throttled && !s->reading_paused && s->state != MB_S_CLOSED)
            s->tr->set_reading(s->conn, true);
    }
    uint64_t due = 0;
    for (struct mb_session *s = r->throttled; s; s = s->rate_next)
        if (!due || s->rate_resume_at < due)
            due = s->rate_resume_at;
    if (due) {
        r->rate_due = due;
        uv_timer_start(&r->rate_timer, mb_session_rate_timer, due > now ? due - now : 1, 0);
    }
}

size_t mb_realm_max_sessions(const struct mb_router *r, const struct mb_realm *realm)
{
    return realm->max_sessions ? realm->max_sessions : r->cfg->max_sessions_per_realm;
}

/* A HELLO (or a join after authentication) to a full realm: ABORT resource_exhausted. */
static bool realm_full(struct mb_session *s, struct mb_realm *realm)
{
    struct mb_router *r = s->router;
    size_t max = mb_realm_max_sessions(r, realm);
    if (realm->nsessions < max)
        return false;
    r->limits_stats.sessions_refused++;
    mb_info(&r->log, "%s %s: HELLO to realm %s refused: %zu sessions, limits.max_sessions_per_realm reached",
            s->tr->name, s->peer, realm->name, realm->nsessions);
    mb_session_abort(s, MB_R_RESOURCE_EXHAUSTED, "realm %s has %zu sessions: limits.max_sessions_per_realm reached",
                     realm->name, realm->nsessions);
    return true;
}

static void random_authid(struct mb_router *r, char *out, size_t n)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* 32 symbols */
    size_t k = 0;
    for (int i = 0; i < 4 && k + 5 < n; i++) {
        uint64_t x = mb_idgen_u64(&r->ids);
        if (i)
            out[k++] = '-';
        for (int j = 0; j < 4; j++, x >>= 5)
            out[k++] = alphabet[x & 31];
    }
    out[k] = '\0';
}

/* WELCOME.Details.roles: only what moonbar implements, one line per feature. */
static json_t *router_roles(void)
{
    static const struct { const char *role, *feature; } table[] = {
        { "broker", "pattern_based_subscription" },
        { "broker", "publisher_exclusion" },
        { "broker", "publisher_identification" },
        { "broker", "subscriber_blackwhite_listing" },
        { "broker", "event_retention" },
        { "broker", "event_history" },
        { "broker", "payload_passthru_mode" },
        { "broker", "session_meta_api" },
        { "broker", "subscription_meta_api" },
        { "broker", "subscription_revocation" },
        { "dealer", "pattern_based_registration" },
        { "dealer", "shared_registration" },
        { "dealer", "progressive_call_results" },
        { "dealer", "progressive_call_invocations" },
        { "dealer", "call_canceling" },
        { "dealer", "call_timeout" },
        { "dealer", "caller_identification" },
        { "dealer", "payload_passthru_mode" },
        { "dealer", "session_meta_api" },
        { "dealer", "registration_meta_api" },
        { "dealer", "registration_revocation" },
        { "dealer", "testament_meta_api" },
    };
    json_t *roles = json_object();
    for (size_t i = 0; roles && i < sizeof table / sizeof table[0]; i++) {
        json_t *role = json_object_get(roles, table[i].role);
        if (!role) {
            role = json_pack("{s{}}", "features");
            json_object_set_new(roles, table[i].role, role);
        }
        json_object_set_new(json_object_get(role, "features"), table[i].feature, json_true());
    }
    return roles;
}

void mb_session_join(struct mb_session *s, struct mb_realm *realm, const char *authid, const char *authrole,
                     const char *authmethod, const char *authprovider)
{
    struct mb_router *r = s->router;
    char gen[32];
    if (!authid || !*authid) {
        random_authid(r, gen, sizeof gen);
        authid = gen;
    }
    if (realm_full(s, realm)) /* others joined while it authenticated */
        return;
    s->authid = strdup(authid);
    s->authrole = strdup(authrole);
    s->authmethod = authmethod;
    s->authprovider = authprovider;
    if (!s->id || mb_map_get_id(&r->sessions, s->id)) /* WAMP-CRA's challenge announced its ID */
        s->id = mb_router_new_id(r, &r->sessions);
    if (!s->authid || !s->authrole || mb_map_put_id(&r->sessions, s->id, s) < 0) {
        mb_session_abort(s, MB_R_SYSTEM_SHUTDOWN, "out of memory");
        return;
    }
    s->realm = realm;
    mb_auth_bind_role(s);
    s->next_request = 1;
    realm->nsessions++;
    s->state = MB_S_JOINED;
    if (!r->welcome_roles) /* built once: the same for every session */
        r->welcome_roles = router_roles();
    json_t *roles = json_incref(r->welcome_roles);
    mb_session_send(s, json_pack("[iI{ssssssssssso}]", MB_WELCOME, (json_int_t)s->id,
                                 "realm", realm->name, "authid", s->authid, "authrole", s->authrole,
                                 "authmethod", s->authmethod, "authprovider", s->authprovider, "roles", roles));
    mb_info(&r->log, "session %llu joined realm %s (authid=%s, authrole=%s, authmethod=%s, %s %s)",
            (unsigned long long)s->id, realm->name, s->authid, s->authrole, s->authmethod, s->tr->name, s->peer);
    mb_meta_on_join(s);
}

json_t *mb_session_details(const struct mb_session *s)
{
    const struct mb_listener_config *lc = s->listener;
    return json_pack("{sIsssssssss{sssssbsb}}", "session", (json_int_t)s->id, "authid", s->authid ? s->authid : "",
                     "authrole", s->authrole ? s->authrole : "", "authmethod", s->authmethod ? s->authmethod : "",
                     "authprovider", s->authprovider ? s->authprovider : "", "transport", "type", s->tr->name,
                     "peer", s->peer, "tls", lc && lc->tls.cert, "unix", lc && lc->unix_path);
}

/* The features HELLO.Details.roles announce, as enum mb_peer_feature bits. */
static unsigned peer_features(json_t *details)
{
    static const struct { const char *role, *feature; unsigned bit; } table[] = {
        { "caller", "progressive_call_results", MB_F_CALLER_PROGRESSIVE_RESULTS },
        { "caller", "progressive_call_invocations", MB_F_CALLER_PROGRESSIVE_INVOCATIONS },
        { "caller", "call_canceling", MB_F_CALLER_CANCELING },
        { "caller", "payload_passthru_mode", MB_F_CALLER_PPT },
        { "callee", "progressive_call_results", MB_F_CALLEE_PROGRESSIVE_RESULTS },
        { "callee", "progressive_call_invocations", MB_F_CALLEE_PROGRESSIVE_INVOCATIONS },
        { "callee", "call_canceling", MB_F_CALLEE_CANCELING },
        { "callee", "payload_passthru_mode", MB_F_CALLEE_PPT },
        { "publisher", "payload_passthru_mode", MB_F_PUBLISHER_PPT },
        { "subscriber", "payload_passthru_mode", MB_F_SUBSCRIBER_PPT },
        { "callee", "registration_revocation", MB_F_CALLEE_REVOCATION },
        { "subscriber", "subscription_revocation", MB_F_SUBSCRIBER_REVOCATION },
    };
    json_t *roles = json_object_get(details, "roles");
    unsigned bits = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        json_t *features = json_object_get(json_object_get(roles, table[i].role), "features");
        if (json_is_true(json_object_get(features, table[i].feature)))
            bits |= table[i].bit;
    }
    return bits;
}

static void on_hello(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    struct mb_realm *realm = mb_map_get_str(&r->realms, m->uri, m->uri_len);
    if (!realm) {
        mb_session_abort(s, MB_R_NO_SUCH_REALM, "no realm named '%.*s' on this router",
                         (int)(m->uri_len > 200 ? 200 : m->uri_len), m->uri);
        return;
    }
    if (s->listener && s->listener->nrealms) { /* listeners[i].realms: the realms served there */
        bool allowed = false;
        for (size_t i = 0; i < s->listener->nrealms && !allowed; i++)
            allowed = strcmp(s->listener->realms[i], realm->name) == 0;
        if (!allowed) {
            mb_session_abort(s, MB_R_NO_SUCH_REALM, "realm '%s' is not served on this listener", realm->name);
            return;
        }
    }
    if (realm_full(s, realm))
        return;
    s->features = peer_features(m->dict);
    mb_auth_hello(s, realm, m->dict);
}

static void on_goodbye(struct mb_session *s, const struct mb_msg *m)
{
    mb_debug(&s->router->log, "session %llu says goodbye: %.*s", (unsigned long long)s->id,
             (int)m->uri_len, m->uri);
    mb_session_send(s, json_pack("[i{}s]", MB_GOODBYE, mb_reason_uri(MB_R_GOODBYE_AND_OUT)));
    leave_realm(s, "goodbye");
    s->state = MB_S_NEW; /* the transport may carry a new HELLO (within limits.hello_timeout) */
    s->id = 0;
    s->hello_since = mb_router_now_ms(s->router);
}

static void dispatch(struct mb_session *s, const struct mb_msg *m)
{
    switch (s->state) {
    case MB_S_NEW:
        if (m->type == MB_HELLO)
            on_hello(s, m);
        else if (m->type == MB_ABORT)
            mb_session_close(s, 1000, "abort", true);
        else
            mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "%s received before HELLO: a session "
                             "starts with HELLO", mb_msg_name(m->type));
        return;
    case MB_S_CHALLENGED:
        if (m->type == MB_AUTHENTICATE)
            mb_auth_authenticate(s, m);
        else if (m->type == MB_ABORT)
            mb_session_close(s, 1000, "abort", true);
        else
            mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "%s received while authenticating: AUTHENTICATE "
                             "expected", mb_msg_name(m->type));
        return;
    case MB_S_LEAVING:
        if (m->type == MB_GOODBYE || m->type == MB_ABORT)
            mb_session_close(s, s->router->stopping ? WS_CLOSE_GOING_AWAY : 1000, "goodbye", true);
        return; /* anything else is late traffic from a peer that is being closed */
    case MB_S_CLOSED:
        return;
    case MB_S_JOINED:
        break;
    }
    switch (m->type) {
    case MB_HELLO:
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "HELLO received on an established session");
        break;
    case MB_ABORT:
        mb_info(&s->router->log, "session %llu aborted by peer: %.*s", (unsigned long long)s->id,
                (int)m->uri_len, m->uri);
        mb_session_close(s, 1000, "abort", true);
        break;
    case MB_GOODBYE: on_goodbye(s, m); break;
    case MB_SUBSCRIBE: mb_broker_subscribe(s, m); break;
    case MB_UNSUBSCRIBE: mb_broker_unsubscribe(s, m); break;
    case MB_PUBLISH: mb_broker_publish(s, m); break;
    case MB_REGISTER: mb_dealer_register(s, m); break;
    case MB_UNREGISTER: mb_dealer_unregister(s, m); break;
    case MB_CALL: mb_dealer_call(s, m); break;
    case MB_YIELD: mb_dealer_yield(s, m); break;
    case MB_ERROR: mb_dealer_error(s, m); break;
    case MB_CANCEL: mb_dealer_cancel(s, m); break;
    default:
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "%s is not expected on an established session",
                         mb_msg_name(m->type));
        break;
    }
}

/* The Options/Details dict of a scanned message, a new reference: from the router's cache of
 * recent dicts when the same bytes came before (in the same serializer). NULL when out of memory. */
static json_t *decode_dict(int ser, const char *p, size_t n)
{
    return ser == MB_SER_JSON ? json_loadb(p, n, JSON_ALLOW_NUL, NULL) : mb_codec_decode(ser, p, n, NULL, 0);
}

static json_t *scanned_dict(struct mb_router *r, int ser, const char *p, size_t n)
{
    if (n > MB_DICT_KEY_MAX)
        return decode_dict(ser, p, n);
    uint64_t h = mb_hash_init();
    for (size_t i = 0; i < n; i++)
        h = mb_hash_step(h, (unsigned char)p[i]);
    h = mb_hash_step(h, (unsigned char)ser);
    struct mb_dict_slot *slot = &r->dicts[(h ^ (h >> 29)) & (MB_DICT_CACHE - 1)];
    if (!slot->dict || slot->len != n || slot->ser != ser || memcmp(slot->key, p, n) != 0) {
        json_t *d = decode_dict(ser, p, n);
        if (!d)
            return NULL;
        json_decref(slot->dict);
        slot->dict = d;
        slot->len = n;
        slot->ser = ser;
        memcpy(slot->key, p, n);
    }
    return json_incref(slot->dict);
}

static const char *const ser_title[MB_SER_COUNT] = { "JSON", "MessagePack", "CBOR" };

void mb_session_receive(struct mb_session *s, const char *data, size_t len)
{
    if (s->state == MB_S_CLOSED)
        return;
    if (s->router->rate_per_ms) /* limits.max_message_rate: off by default, one branch */
        rate_take(s);
    struct mb_msg m;
    int ser = s->ser;
    if (s->state == MB_S_JOINED &&
        (ser == MB_SER_JSON ? mb_msg_scan(data, len, &m) : mb_msg_scan_bin(ser, data, len, &m))) {
        /* the fast path: CALL, PUBLISH, YIELD, with their payload left as bytes */
        if ((m.dict = scanned_dict(s->router, ser, m.dict_raw, m.dict_len))) {
            dispatch(s, &m);
            mb_msg_release(&m);
            json_decref(m.dict);
            return;
        }
    }
    json_t *root;
    if (ser == MB_SER_JSON) {
        json_error_t jerr;
        if (!(root = json_loadb(data, len, JSON_ALLOW_NUL, &jerr))) {
            mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "malformed JSON at byte %d: %s",
                             jerr.position, jerr.text);
            return;
        }
    } else {
        char err[200];
        if (!(root = mb_codec_decode(ser, data, len, err, sizeof err))) {
            mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "malformed %s message: %s", ser_title[ser], err);
            return;
        }
        if (!json_is_array(root)) {
            json_decref(root);
            mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "a %s message must be an array, got another value",
                             ser_title[ser]);
            return;
        }
        /* cbor-x (wampy's CBOR) writes integers of 2^32 and more as floats: a message's own
         * IDs that are whole floats in [0, 2^53] are taken as those integers (not the message
         * code: every serializer writes a small integer as one) */
        for (size_t i = 1; i < json_array_size(root); i++) {
            json_t *v = json_array_get(root, i);
            double d = json_is_real(v) ? json_real_value(v) : -1;
            if (d >= 0 && d <= 9007199254740992.0 && d == (double)(json_int_t)d)
                json_array_set_new(root, i, json_integer((json_int_t)d));
        }
    }
    mb_session_receive_json(s, root);
    json_decref(root);
}

void mb_session_receive_json(struct mb_session *s, json_t *root)
{
    struct mb_msg m;
    char err[256];
    if (s->state == MB_S_CLOSED)
        return;
    if (mb_msg_parse(root, &m, err, sizeof err) < 0)
        mb_session_abort(s, MB_R_PROTOCOL_VIOLATION, "%s", err);
    else
        dispatch(s, &m);
}
