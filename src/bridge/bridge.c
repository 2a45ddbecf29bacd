/* The HTTP bridge's publisher, caller and webhook paths (mb_bridge.h, docs/http-bridge.md).
 *
 * A path's requests are checked in Crossbar's order (method, content type and charset, GitHub
 * signature, query parameters and request signature, TLS, UTF-8, JSON) and answered with
 * Crossbar's codes and bodies; what passes becomes a PUBLISH or CALL of the path's session.
 * The router's answers to that session are not handled where they are sent (inside the broker or
 * dealer, which an HTTP answer must not re-enter: answering resumes the connection's pipelined
 * requests) but queued, and handled on the loop's idle turn, like Lua's in-process sessions. */
#include "mb_bridge.h"
#include "mb_auth.h"
#include "mb_crypto.h"
#include "mb_httpd.h"
#include "mb_session.h"
#include "mb_utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NONCES_MAX 262144            /* per signed path: nonces within their window */
#define BODY_UNLIMITED (64u << 20)   /* post_body_limit 0 ("unlimited" for Crossbar): the most the config takes */
#define ECHO_MAX 1024                /* Access-Control-Request-Headers echoed back, at most */
#define CORS_MAX 512                 /* options.cors: an origin is short (the answers' headers have room) */

struct bpath;

/* One request waiting for the router's answer. */
struct preq {
    struct bpath *p;
    struct mb_http_exchange *ex;
    uint64_t id; /* its PUBLISH/CALL request ID */
};

struct bpath {
    struct mb_bridge *b;
    const struct mb_http_path_config *pc;
    struct mb_realm *realm;
    struct mb_session *s;    /* joined (or leaving), NULL while there is none */
    struct mb_session *gone; /* closed by the router: freed (and replaced) on the idle turn */
    char *authid;            /* "http:<path>" */
    char *hdr;               /* the header lines of every answer of this path */
    uint64_t next_request;
    struct mb_map pending;   /* request ID → struct preq */
    struct mb_vec inbox;     /* json_t *: what the router sent the session, not handled yet */
    struct mb_vec spare;     /* the inbox's other vector (swapped, capacity kept) */
    bool signed_req;
    struct mb_bridge_guard guard;
};

struct mb_bridge {
    struct mb_router *r;
    uv_idle_t idle; /* on while an inbox has messages or a session is gone: handles them */
    bool idle_on;
    struct bpath *paths;
    size_t npaths;
    struct mb_buf out;  /* answer bodies, reused */
    struct mb_buf text; /* error texts, reused */
};

static const char *const kind_names[] = { "publisher", "caller", "webhook", "longpoll" };

/* ---- the in-process transport ------------------------------------------------------------------ */

static void on_idle(uv_idle_t *h);

static void wake(struct mb_bridge *b)
{
    if (!b->idle_on) {
        b->idle_on = true;
        uv_idle_start(&b->idle, on_idle);
    }
}

static void ht_send_json(void *conn, json_t *msg)
{
    struct bpath *p = conn;
    json_incref(msg);
    if (mb_vec_push(&p->inbox, msg) < 0) {
        json_decref(msg); /* its request is answered when the session goes, or never: logged */
        mb_error(&p->b->r->log, "http path %s: out of memory for a message of the router", p->pc->path);
        return;
    }
    wake(p->b);
}

static void ht_send(void *conn, const char *data, size_t len)
{
    json_t *msg = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (msg) {
        ht_send_json(conn, msg);
        json_decref(msg);
    }
}

static size_t ht_queued(void *conn)
{
    (void)conn;
    return 0;
}

static void ht_set_reading(void *conn, bool on)
{
    (void)conn;
    (void)on;
}

/* The router closed the session (after its GOODBYE, a kill, an abort): freed on the idle turn. */
static void ht_close(void *conn, int code, const char *reason, bool flush)
{
    (void)code;
    (void)flush;
    struct bpath *p = conn;
    if (!p->s)
        return;
    mb_info(&p->b->r->log, "http path %s: its session %llu was closed (%s)", p->pc->path,
            (unsigned long long)p->s->id, reason ? reason : "");
    p->gone = p->s;
    p->s = NULL;
    wake(p->b);
}

static const struct mb_transport http_transport = {
    .name = "http", .send = ht_send, .send_json = ht_send_json, .queued = ht_queued,
    .set_reading = ht_set_reading, .close = ht_close,
};

static void join(struct bpath *p)
{
    struct mb_router *r = p->b->r;
    struct mb_session *s = mb_session_new(r, &http_transport, p, "in-process");
    if (!s) {
        mb_error(&r->log, "http path %s: out of memory for its session", p->pc->path);
        return;
    }
    p->s = s;
    s->trusted = false; /* its requests are authorized as its role's */
    s->features = MB_F_CALLER_CANCELING;
    mb_session_join(s, p->realm, p->authid, p->pc->role, "internal", "moonbar");
    if (s->state == MB_S_JOINED && p->realm->auth && p->realm->auth->roles && !s->role)
        mb_warn(&r->log, "http path %s: role '%s' is not one of the roles of realm %s: its requests are denied "
                "unless the realm's Lua authorizer allows them", p->pc->path, p->pc->role, p->realm->name);
}

/* ---- answers --------------------------------------------------------------------------------------- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reply(struct bpath *p, struct mb_http_exchange *ex, int status, const char *headers, const char *body,
                  size_t len)
{
    mb_debug(&p->b->r->log, "http path %s: %s answered %d", p->pc->path, mb_http_peer(ex), status);
    mb_http_reply(ex, status, headers ? headers : p->hdr, body, len);
}

/* Crossbar's refusal: status with {"error": text, "args": [], "kwargs": {}} (dump_json). */
static void deny(struct bpath *p, struct mb_http_exchange *ex, int status, const char *text, size_t len,
                 const char *headers, bool head)
{
    struct mb_buf *o = &p->b->out;
    mb_buf_reset(o);
    if (mb_buf_append(o, "{\"error\":", 9) < 0 || mb_pyjson_str(o, text, len, MB_PYJSON_COMPACT) < 0 ||
        mb_buf_append(o, ",\"args\":[],\"kwargs\":{}}", 23) < 0) {
        reply(p, ex, 500, headers, "", 0);
        return;
    }
    reply(p, ex, status, headers, mb_buf_data(o), head ? 0 : o->len);
}

static void deny_text(struct bpath *p, struct mb_http_exchange *ex, int status, const char *text)
{
    deny(p, ex, status, text, strlen(text), NULL, false);
}

/* moonbar's own refusals that Crossbar does not have (max_in_flight, the nonce table): {"error": text}. */
static void busy(struct bpath *p, struct mb_http_exchange *ex, int status, const char *text)
{
    struct mb_buf *o = &p->b->out;
    mb_buf_reset(o);
    if (mb_buf_append(o, "{\"error\":", 9) < 0 || mb_pyjson_str(o, text, strlen(text), MB_PYJSON_COMPACT) < 0 ||
        mb_buf_append(o, "}", 1) < 0) {
        reply(p, ex, 500, NULL, "", 0);
        return;
    }
    reply(p, ex, status, NULL, mb_buf_data(o), o->len);
}

/* Text for deny from a format and a value shown as Crossbar shows it (non-ASCII bytes as \xNN:
 * Crossbar decodes the value as ASCII and fails with a 500 instead, docs/http-bridge.md). */
static void deny_with(struct bpath *p, struct mb_http_exchange *ex, int status, const char *before, const char *v,
                      size_t n, const char *after)
{
    struct mb_buf *t = &p->b->text;
    mb_buf_reset(t);
    bool ok = mb_buf_append(t, before, strlen(before)) == 0;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        char x[5];
        if (c >= 0x20 && c < 0x7F)
            ok = mb_buf_append(t, v + i, 1) == 0;
        else
            ok = snprintf(x, sizeof x, "\\x%02x", c) > 0 && mb_buf_append(t, x, 4) == 0;
    }
    ok = ok && mb_buf_append(t, after, strlen(after)) == 0;
    if (!ok) {
        reply(p, ex, 500, NULL, "", 0);
        return;
    }
    deny(p, ex, status, mb_buf_data(t), t->len, NULL, false);
}

/* The request an answer is for, no longer waited for (NULL: abandoned, or never asked). */
static struct preq *take(struct bpath *p, uint64_t id)
{
    struct preq *q = mb_map_del_id(&p->pending, id);
    return q;
}

static void answer_published(struct bpath *p, struct preq *q, json_t *msg)
{
    if (p->pc->kind == MB_HTTP_WEBHOOK) {
        reply(p, q->ex, 202, NULL, "OK", 2);
        return;
    }
    char body[48];
    int n = snprintf(body, sizeof body, "{\"id\":%" JSON_INTEGER_FORMAT "}", json_integer_value(json_array_get(msg, 2)));
    reply(p, q->ex, 200, NULL, body, (size_t)n);
}

/* Crossbar's caller answer is autobahn's view of RESULT: one positional value alone, a
 * CallResult's results and kwresults when there are several or keyword ones, None for neither. */
static void answer_result(struct bpath *p, struct preq *q, json_t *msg)
{
    json_t *args = json_array_get(msg, 3), *kw = json_array_get(msg, 4);
    size_t na = json_is_array(args) ? json_array_size(args) : 0;
    bool has_kw = json_is_object(kw) && json_object_size(kw) > 0;
    struct mb_buf *o = &p->b->out;
    mb_buf_reset(o);
    int rc = mb_buf_append(o, "{", 1);
    if (rc == 0 && has_kw) {
        if (na)
            rc = mb_buf_append(o, "\"args\":", 7) < 0 || mb_pyjson_dump(o, args, MB_PYJSON_COMPACT) < 0 ||
                         mb_buf_append(o, ",", 1) < 0 ? -1 : 0;
        if (rc == 0)
            rc = mb_buf_append(o, "\"kwargs\":", 9) < 0 || mb_pyjson_dump(o, kw, MB_PYJSON_COMPACT) < 0 ? -1 : 0;
    } else if (rc == 0 && na) {
        rc = mb_buf_append(o, "\"args\":", 7) < 0 || mb_pyjson_dump(o, args, MB_PYJSON_COMPACT) < 0 ? -1 : 0;
    } else if (rc == 0) {
        rc = mb_buf_append(o, "\"args\":[null]", 13);
    }
    if (rc == 0)
        rc = mb_buf_append(o, "}", 1);
    if (rc < 0) {
        reply(p, q->ex, 500, NULL, "", 0);
        return;
    }
    reply(p, q->ex, 200, NULL, mb_buf_data(o), o->len);
}

/* A WAMP error is an application's answer: 200 and {"error", "args", "kwargs"} as json.dumps()
 * writes them (Crossbar's _fail_request); a webhook's publication that fails is Crossbar's 500
 * "NOT OK". */
static void answer_error(struct bpath *p, struct preq *q, json_t *msg)
{
    if (p->pc->kind == MB_HTTP_WEBHOOK) {
        mb_info(&p->b->r->log, "http path %s: webhook from %s not published to %s: %s", p->pc->path,
                mb_http_peer(q->ex), p->pc->topic, json_string_value(json_array_get(msg, 4)));
        reply(p, q->ex, 500, NULL, "NOT OK", 6);
        return;
    }
    json_t *uri = json_array_get(msg, 4), *args = json_array_get(msg, 5), *kw = json_array_get(msg, 6);
    struct mb_buf *o = &p->b->out;
    mb_buf_reset(o);
    bool ok = mb_buf_append(o, "{\"error\": ", 10) == 0 &&
              mb_pyjson_str(o, json_string_value(uri), json_string_length(uri), MB_PYJSON_DEFAULT) == 0 &&
              mb_buf_append(o, ", \"args\": ", 10) == 0;
    if (ok && json_is_array(args) && json_array_size(args))
        ok = mb_pyjson_dump(o, args, MB_PYJSON_DEFAULT) == 0;
    else if (ok)
        ok = mb_buf_append(o, "[]", 2) == 0;
    ok = ok && mb_buf_append(o, ", \"kwargs\": ", 12) == 0;
    if (ok && json_is_object(kw) && json_object_size(kw))
        ok = mb_pyjson_dump(o, kw, MB_PYJSON_DEFAULT) == 0;
    else if (ok)
        ok = mb_buf_append(o, "{}", 2) == 0;
    ok = ok && mb_buf_append(o, "}", 1) == 0;
    if (!ok) {
        reply(p, q->ex, 500, NULL, "", 0);
        return;
    }
    reply(p, q->ex, 200, NULL, mb_buf_data(o), o->len);
}

/* The session carrying the requests is gone: each gets its answer now. */
static void fail_pending(struct bpath *p, const char *why)
{
    struct mb_vec all = { 0 };
    struct preq *q;
    for (size_t it = 0; (q = mb_map_next(&p->pending, &it));)
        if (mb_vec_push(&all, q) == 0)
            mb_map_del_id(&p->pending, q->id);
    /* what could not be listed (out of memory) goes unanswered but is freed when its client leaves */
    for (size_t i = 0; i < all.len; i++) {
        q = all.items[i];
        if (p->pc->kind == MB_HTTP_WEBHOOK)
            reply(p, q->ex, 500, NULL, "NOT OK", 6);
        else
            busy(p, q->ex, 503, why);
        free(q);
    }
    mb_vec_free(&all);
}

/* One message the router sent the path's session. */
static void deliver(struct bpath *p, json_t *msg)
{
    int type = (int)json_integer_value(json_array_get(msg, 0));
    struct preq *q;
    switch (type) {
    case MB_PUBLISHED:
        if ((q = take(p, (uint64_t)json_integer_value(json_array_get(msg, 1))))) {
            answer_published(p, q, msg);
            free(q);
        }
        return;
    case MB_RESULT:
        if ((q = take(p, (uint64_t)json_integer_value(json_array_get(msg, 1))))) {
            answer_result(p, q, msg);
            free(q);
        }
        return;
    case MB_ERROR:
        if ((q = take(p, (uint64_t)json_integer_value(json_array_get(msg, 2))))) {
            answer_error(p, q, msg);
            free(q);
        }
        return;
    case MB_GOODBYE: /* the router ends the session (shutdown, wamp.session.kill): it gets its answer */
        if (p->s && p->s->state == MB_S_LEAVING) {
            json_t *bye = json_pack("[i{}s]", MB_GOODBYE, mb_reason_uri(MB_R_GOODBYE_AND_OUT));
            if (bye)
                mb_session_receive_json(p->s, bye);
            json_decref(bye);
        }
        return;
    default: /* WELCOME, ABORT; nothing else is asked for */
        return;
    }
}

static void on_idle(uv_idle_t *h)
{
    struct mb_bridge *b = h->data;
    struct mb_router *r = b->r;
    bool more = false;
    for (size_t i = 0; i < b->npaths; i++) {
        struct bpath *p = &b->paths[i];
        if (p->inbox.len) {
            /* answering may run the connection's next request, which may queue messages: they go
             * to the other vector and wait for the next turn */
            struct mb_vec batch = p->inbox;
            p->inbox = p->spare;
            p->spare = (struct mb_vec){ 0 };
            for (size_t k = 0; k < batch.len; k++) {
                deliver(p, batch.items[k]);
                json_decref(batch.items[k]);
            }
            batch.len = 0;
            mb_vec_free(&p->spare);
            p->spare = batch;
        }
        if (p->gone) {
            struct mb_session *s = p->gone;
            p->gone = NULL;
            fail_pending(p, r->stopping ? "router is shutting down" : "the path's session was closed by the router");
            mb_session_free(s);
            if (!r->stopping)
                join(p);
        }
        more = more || p->inbox.len || p->gone;
    }
    if (!more) {
        b->idle_on = false;
        uv_idle_stop(h);
    }
}

/* ---- requests --------------------------------------------------------------------------------------- */

static void on_abandon(void *ctx)
{
    struct preq *q = ctx;
    struct bpath *p = q->p;
    mb_map_del_id(&p->pending, q->id);
    if (p->pc->kind == MB_HTTP_CALLER && p->s && p->s->state == MB_S_JOINED) {
        /* killnowait: the callee is interrupted (if it can be) and the dealer forgets the call now */
        json_t *cancel = json_pack("[iI{ss}]", MB_CANCEL, (json_int_t)q->id, "mode", "killnowait");
        if (cancel)
            mb_session_receive_json(p->s, cancel);
        json_decref(cancel);
        mb_info(&p->b->r->log, "http path %s: client %s left during call %llu: canceled", p->pc->path,
                 mb_http_peer(q->ex), (unsigned long long)q->id);
    }
    free(q);
}

/* Sends msg (stolen) for the request ex through the path's session; its answer comes later. */
static void send_request(struct bpath *p, struct mb_http_exchange *ex, uint64_t id, json_t *msg)
{
    struct preq *q = msg ? malloc(sizeof *q) : NULL;
    if (!q || mb_map_put_id(&p->pending, id, q) < 0) {
        free(q);
        json_decref(msg);
        deny_text(p, ex, 500, "router out of memory");
        return;
    }
    *q = (struct preq){ .p = p, .ex = ex, .id = id };
    mb_http_on_abandon(ex, on_abandon, q);
    mb_session_receive_json(p->s, msg);
    json_decref(msg);
}

static bool method_is(struct mb_http_str m, const char *s)
{
    return m.n == strlen(s) && memcmp(m.p, s, m.n) == 0; /* case-sensitive, as Twisted compares */
}

static bool py_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static struct mb_http_str strip(const char *s, size_t n)
{
    while (n && py_space(*s))
        s++, n--;
    while (n && py_space(s[n - 1]))
        n--;
    return (struct mb_http_str){ s, n };
}

static bool ieq(struct mb_http_str a, const char *s)
{
    return a.n == strlen(s) && strncasecmp(a.p, s, a.n) == 0;
}

/* Crossbar's Content-Type rules: for JSON paths the type (the first ';' element) must be
 * application/json when there is one; with parameters, each "k=v" one must have one '=' and a
 * key of its own, and charset (default utf-8) must be utf-8 or utf8. false after the answer. */
static bool content_type_ok(struct bpath *p, struct mb_http_exchange *ex, const struct mb_http_request *req)
{
    const struct mb_http_str *ct = mb_http_header(req, "content-type", 0);
    if (!ct)
        return true;
    const char *s = ct->p, *end = ct->p + ct->n;
    const char *semi = memchr(s, ';', ct->n);
    struct mb_http_str first = strip(s, (size_t)((semi ? semi : end) - s));
    if (p->pc->kind != MB_HTTP_WEBHOOK && !ieq(first, "application/json")) {
        struct mb_buf *t = &p->b->text;
        char low[MB_HTTP_HEAD_MAX];
        for (size_t i = 0; i < first.n; i++)
            low[i] = (first.p[i] >= 'A' && first.p[i] <= 'Z') ? (char)(first.p[i] + 32) : first.p[i];
        mb_buf_reset(t);
        static const char before[] = "Non-accepted content type. (must be one of '[b'application/json']', not '";
        if (mb_buf_append(t, before, sizeof before - 1) < 0 || mb_pybytes_repr(t, low, first.n) < 0 ||
            mb_buf_append(t, "')", 2) < 0) {
            reply(p, ex, 500, NULL, "", 0);
            return false;
        }
        deny(p, ex, 400, mb_buf_data(t), t->len, NULL, false);
        return false;
    }
    if (!semi)
        return true;
    struct mb_http_str keys[64];
    size_t nkeys = 0;
    struct mb_http_str charset = { "utf-8", 5 };
    for (const char *e = s; e <= end;) {
        const char *next = memchr(e, ';', (size_t)(end - e));
        const char *e_end = next ? next : end;
        struct mb_http_str item = strip(e, (size_t)(e_end - e));
        const char *eq = memchr(item.p, '=', item.n);
        if (eq) {
            bool bad = memchr(eq + 1, '=', item.n - (size_t)(eq + 1 - item.p)) != NULL || nkeys == 64;
            for (size_t i = 0; i < item.n && !bad; i++)
                bad = (unsigned char)item.p[i] >= 0x80; /* Crossbar decodes it as ASCII */
            struct mb_http_str k = strip(item.p, (size_t)(eq - item.p));
            for (size_t i = 0; i < nkeys && !bad; i++)
                bad = keys[i].n == k.n && strncasecmp(keys[i].p, k.p, k.n) == 0;
            if (bad) {
                deny_text(p, ex, 400, "Non-accepted request encoding, must be UTF-8.");
                return false;
            }
            keys[nkeys++] = k;
            if (ieq(k, "charset"))
                charset = strip(eq + 1, item.n - (size_t)(eq + 1 - item.p));
        }
        if (!next)
            break;
        e = next + 1;
    }
    if (!ieq(charset, "utf-8") && !ieq(charset, "utf8")) {
        deny_text(p, ex, 400, "Non-accepted request encoding, must be UTF-8.");
        return false;
    }
    return true;
}

static void missing_field(struct bpath *p, struct mb_http_exchange *ex, const char *reason)
{
    deny_with(p, ex, 400, "REST bridge signature was invalid (missing mandatory field - ", reason, strlen(reason),
              ").");
}

/* Crossbar's query parameters: key, timestamp, seq, nonce, signature; their checks, and on a
 * signed path the signature and (moonbar's) the replay guard. false after the answer. */
static bool query_ok(struct bpath *p, struct mb_http_exchange *ex, const struct mb_http_request *req,
                     const char *body, size_t len)
{
    const struct mb_http_path_config *pc = p->pc;
    static char buf[MB_HTTP_HEAD_MAX]; /* the decoded values: never longer than the query together */
    const char *q = req->query.p;
    size_t qn = req->query.n, used = 0;
    struct { const char *name; char *v; size_t n; bool set; } f[5] = {
        { "key", NULL, 0, false }, { "timestamp", NULL, 0, false }, { "seq", NULL, 0, false },
        { "nonce", NULL, 0, false }, { "signature", NULL, 0, false },
    };
    for (int i = 0; i < 5; i++) {
        f[i].v = buf + used;
        f[i].set = mb_bridge_query_get(q, qn, f[i].name, f[i].v, sizeof buf - used, &f[i].n);
        if (f[i].set)
            used += f[i].n;
    }
    bool sig = pc->secret != NULL;
    if (!f[0].set && sig) {
        missing_field(p, ex, "'key' field missing");
        return false;
    }
    double ts = 0, now = wall_now();
    if (f[1].set) {
        if (mb_bridge_parse_timestamp(f[1].v, f[1].n, &ts) < 0) {
            deny_with(p, ex, 400, "REST bridge signature was invalid (invalid timestamp '", f[1].v, f[1].n,
                      "' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')).");
            return false;
        }
        if (fabs(ts - now) > pc->timestamp_delta_limit) {
            deny_text(p, ex, 400, "Request expired, too old timestamp.");
            return false;
        }
    } else if (sig) {
        missing_field(p, ex, "signed request required, but mandatory 'timestamp' field missing");
        return false;
    }
    int64_t seq = 0, nonce = 0;
    if (f[2].set) {
        if (mb_bridge_parse_int(f[2].v, f[2].n, &seq) < 0) {
            deny_with(p, ex, 400, "REST bridge signature was invalid (invalid sequence number '", f[2].v, f[2].n,
                      "' (must be an integer)).");
            return false;
        }
    } else if (sig) {
        missing_field(p, ex, "'seq' field missing");
        return false;
    }
    if (f[3].set) {
        if (mb_bridge_parse_int(f[3].v, f[3].n, &nonce) < 0) {
            deny_with(p, ex, 400, "REST bridge signature was invalid (invalid nonce '", f[3].v, f[3].n,
                      "' (must be an integer)).");
            return false;
        }
    } else if (sig) {
        missing_field(p, ex, "'nonce' field missing");
        return false;
    }
    if (!f[4].set && sig) {
        missing_field(p, ex, "'signature' field missing");
        return false;
    }
    if (!sig)
        return true;
    size_t klen = strlen(pc->key);
    if (f[0].n != klen || !mb_ct_equal(f[0].v, pc->key, klen)) {
        mb_info(&p->b->r->log, "http path %s: signed request from %s with an unknown key refused", pc->path,
                mb_http_peer(ex));
        deny_text(p, ex, 401, "REST bridge signature key not valid.");
        return false;
    }
    struct mb_bridge_signed sr = { f[0].v, f[1].v, f[2].v, f[3].v, f[0].n, f[1].n, f[2].n, f[3].n };
    if (!mb_bridge_signature_ok(pc->secret, pc->secret_len, &sr, body, len, f[4].v, f[4].n)) {
        mb_info(&p->b->r->log, "http path %s: signed request from %s with a wrong signature refused", pc->path,
                mb_http_peer(ex));
        deny_text(p, ex, 401, "REST bridge signature secret not valid.");
        return false;
    }
    switch (mb_bridge_guard_check(&p->guard, nonce, ts + pc->timestamp_delta_limit, now, pc->require_increasing_seq,
                                  seq)) {
    case MB_GUARD_OK:
        return true;
    case MB_GUARD_REPLAY:
        mb_info(&p->b->r->log, "http path %s: replayed request from %s refused (nonce %lld)", pc->path,
                mb_http_peer(ex), (long long)nonce);
        deny_text(p, ex, 401, "REST bridge request replayed (nonce already used within timestamp_delta_limit).");
        return false;
    case MB_GUARD_SEQ: {
        char text[200];
        snprintf(text, sizeof text, "REST bridge sequence number not increasing (%lld after %lld).", (long long)seq,
                 (long long)p->guard.last_seq);
        mb_info(&p->b->r->log, "http path %s: request from %s refused: %s", pc->path, mb_http_peer(ex), text);
        deny_text(p, ex, 401, text);
        return false;
    }
    case MB_GUARD_FULL: {
        char text[200];
        snprintf(text, sizeof text, "%d signed requests within timestamp_delta_limit: no nonce can be forgotten "
                 "yet, try again later", NONCES_MAX);
        mb_warn(&p->b->r->log, "http path %s: request from %s refused: %s", pc->path, mb_http_peer(ex), text);
        busy(p, ex, 503, text);
        return false;
    }
    default:
        deny_text(p, ex, 500, "router out of memory");
        return false;
    }
}

/* Python's truthiness of a JSON value (Crossbar takes "args", "kwargs", "options" when truthy). */
static bool truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return json_object_size(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_TRUE: return true;
    default: return false;
    }
}

/* event[key] when truthy, checked to be of type (JSON_ARRAY or JSON_OBJECT); NULL when falsy.
 * *bad after the answer. */
static json_t *payload_part(struct bpath *p, struct mb_http_exchange *ex, json_t *event, const char *key, int type,
                            bool *bad)
{
    json_t *v = json_object_get(event, key);
    if (!v || !truthy(v))
        return NULL;
    if ((int)json_typeof(v) != type) {
        char text[160];
        snprintf(text, sizeof text, "Request body was valid JSON, but not well formed ('%s' must be a %s).", key,
                 type == JSON_ARRAY ? "list" : "dict");
        deny_text(p, ex, 400, text);
        *bad = true;
    }
    return v;
}

/* [type, id, options, uri, args?, kwargs?]: the payload as autobahn sends it (nothing empty). */
static json_t *request_msg(int type, uint64_t id, json_t *options, json_t *uri, json_t *args, json_t *kwargs)
{
    json_t *msg = json_pack("[iIoO]", type, (json_int_t)id, options, uri);
    if (msg && (args || kwargs))
        json_array_append_new(msg, args ? json_incref(args) : json_array());
    if (msg && kwargs)
        json_array_append(msg, kwargs);
    return msg;
}

static void do_publish(struct bpath *p, struct mb_http_exchange *ex, json_t *event)
{
    json_t *topic = json_object_get(event, "topic");
    if (!topic) {
        deny_text(p, ex, 400, "Request body was valid JSON, but not well formed (missing key 'topic').");
        return;
    }
    if (!json_is_string(topic)) {
        deny_text(p, ex, 400, "Request body was valid JSON, but not well formed ('topic' must be a string).");
        return;
    }
    bool bad = false;
    json_t *args = payload_part(p, ex, event, "args", JSON_ARRAY, &bad);
    json_t *kwargs = bad ? NULL : payload_part(p, ex, event, "kwargs", JSON_OBJECT, &bad);
    json_t *options = bad ? NULL : payload_part(p, ex, event, "options", JSON_OBJECT, &bad);
    if (bad)
        return;
    /* autobahn's PublishOptions: these keys only, null as absent, one ID or authid for a list */
    static const char *const keys[] = { "exclude_me", "retain", "exclude", "eligible", "exclude_authid",
                                        "exclude_authrole", "eligible_authid", "eligible_authrole" };
    json_t *o = json_pack("{sb}", "acknowledge", 1);
    for (size_t i = 0; o && options && i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(options, keys[i]);
        if (!v || json_is_null(v))
            continue;
        bool list = i >= 2;
        if (list && !json_is_array(v) && (json_is_integer(v) || json_is_string(v)))
            json_object_set_new(o, keys[i], json_pack("[O]", v));
        else
            json_object_set(o, keys[i], v);
    }
    uint64_t id = p->next_request++;
    send_request(p, ex, id, request_msg(MB_PUBLISH, id, o, topic, args, kwargs));
}

static void do_call(struct bpath *p, struct mb_http_exchange *ex, json_t *event)
{
    const struct mb_http_path_config *pc = p->pc;
    json_t *procedure = json_object_get(event, "procedure");
    if (!procedure) {
        deny_text(p, ex, 400, "Request body was valid JSON, but not well formed (missing key 'procedure').");
        return;
    }
    if (!json_is_string(procedure)) {
        deny_text(p, ex, 400, "Request body was valid JSON, but not well formed ('procedure' must be a string).");
        return;
    }
    bool bad = false;
    json_t *args = payload_part(p, ex, event, "args", JSON_ARRAY, &bad);
    json_t *kwargs = bad ? NULL : payload_part(p, ex, event, "kwargs", JSON_OBJECT, &bad);
    if (bad)
        return;
    if (pc->max_in_flight && p->pending.len >= pc->max_in_flight) {
        char text[160];
        snprintf(text, sizeof text, "%zu calls in flight on %s: max_in_flight reached, try again later",
                 p->pending.len, pc->path);
        mb_info(&p->b->r->log, "http path %s: call from %s refused: %s", pc->path, mb_http_peer(ex), text);
        busy(p, ex, 503, text);
        return;
    }
    /* the path's timeout, or a shorter one the request asks for (options.timeout, ms) */
    json_int_t timeout = pc->timeout_ms > 0 ? (json_int_t)ceil(pc->timeout_ms) : 0;
    json_t *asked = json_object_get(json_object_get(event, "options"), "timeout");
    if (json_is_integer(asked) && json_integer_value(asked) > 0 && (!timeout || json_integer_value(asked) < timeout))
        timeout = json_integer_value(asked);
    json_t *o = timeout ? json_pack("{sI}", "timeout", timeout) : json_object();
    uint64_t id = p->next_request++;
    send_request(p, ex, id, request_msg(MB_CALL, id, o, procedure, args, kwargs));
}

/* Twisted's name for a header (Crossbar's webhook event has them): each '-' part capitalized,
 * a few names spelled their own way. */
static void header_name(const struct mb_http_str *name, char *out)
{
    static const char *const special[] = { "Content-MD5", "DNT", "ETag", "P3P", "TE", "WWW-Authenticate",
                                           "X-XSS-Protection" };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (ieq(*name, special[i])) {
            strcpy(out, special[i]);
            return;
        }
    bool start = true;
    for (size_t i = 0; i < name->n; i++) {
        char c = name->p[i];
        if (c >= 'A' && c <= 'Z' && !start)
            c = (char)(c + 32);
        else if (c >= 'a' && c <= 'z' && start)
            c = (char)(c - 32);
        out[i] = c;
        start = c == '-';
    }
    out[name->n] = '\0';
}

static void do_webhook(struct bpath *p, struct mb_http_exchange *ex, const struct mb_http_request *req,
                       const char *body, size_t len)
{
    json_t *headers = json_object(), *event = NULL, *msg = NULL;
    for (size_t i = 0; headers && i < req->nheaders; i++) {
        const struct mb_http_header *h = &req->headers[i];
        char name[MB_HTTP_HEAD_MAX + 1];
        if (!mb_utf8_valid(h->value.p, h->value.n)) {
            json_decref(headers);
            deny_text(p, ex, 400, "Malformed request to the REST bridge.");
            return;
        }
        header_name(&h->name, name);
        json_t *list = json_object_get(headers, name);
        if (!list && json_object_set_new(headers, name, list = json_array()) < 0)
            list = NULL;
        if (!list || json_array_append_new(list, json_stringn(h->value.p, h->value.n)) < 0) {
            json_decref(headers);
            headers = NULL;
        }
    }
    if (headers)
        event = json_pack("{s:o, s:s%}", "headers", headers, "body", body, len);
    uint64_t id = p->next_request++;
    if (event)
        msg = json_pack("[iI{sb}s[o]]", MB_PUBLISH, (json_int_t)id, "acknowledge", 1, p->pc->topic, event);
    if (!msg) {
        deny_text(p, ex, 500, "router out of memory");
        return;
    }
    send_request(p, ex, id, msg);
}

static void preflight(struct bpath *p, struct mb_http_exchange *ex, const struct mb_http_request *req)
{
    char h[2048 + ECHO_MAX];
    int n = snprintf(h, sizeof h, "%sAllow: POST,PUT,OPTIONS\r\n", p->hdr);
    if (p->pc->cors) {
        n += snprintf(h + n, sizeof h - (size_t)n, "Access-Control-Allow-Methods: POST,PUT,OPTIONS\r\n");
        const struct mb_http_str *asked = mb_http_header(req, "access-control-request-headers", 0);
        if (asked && asked->n <= ECHO_MAX)
            snprintf(h + n, sizeof h - (size_t)n, "Access-Control-Allow-Headers: %.*s\r\n", (int)asked->n, asked->p);
    }
    reply(p, ex, 200, h, "", 0);
}

/* A body over post_body_limit: Crossbar's 413 (the body is not read; the connection closes). */
static void on_too_large(void *ctx, struct mb_http_exchange *ex, const struct mb_http_request *req, const char *path,
                         uint64_t length)
{
    struct bpath *p = ctx;
    char text[160];
    (void)req, (void)path;
    snprintf(text, sizeof text, "Request too long. (%llu is longer than accepted %zu)", (unsigned long long)length,
             p->pc->post_body_limit ? p->pc->post_body_limit : (size_t)BODY_UNLIMITED);
    mb_info(&p->b->r->log, "http path %s: %s sent a body of %llu bytes (limit %zu): refused", p->pc->path,
            mb_http_peer(ex), (unsigned long long)length, p->pc->post_body_limit);
    deny_text(p, ex, 413, text);
}

static void on_request(void *ctx, struct mb_http_exchange *ex, const struct mb_http_request *req, const char *path,
                       const char *body, size_t len)
{
    (void)path;
    struct bpath *p = ctx;
    const struct mb_http_path_config *pc = p->pc;
    bool options = method_is(req->method, "OPTIONS");
    if (!method_is(req->method, "POST") && !method_is(req->method, "PUT") && !options) {
        struct mb_buf *t = &p->b->text;
        char h[2048];
        snprintf(h, sizeof h, "%sAllow: POST,PUT,OPTIONS\r\n", p->hdr);
        mb_buf_reset(t);
        static const char before[] = "Method not accepted by the REST bridge. (";
        if (mb_buf_append(t, before, sizeof before - 1) < 0 || mb_pybytes_repr(t, req->method.p, req->method.n) < 0 ||
            mb_buf_append(t, " not allowed, only POST, PUT)", 29) < 0) {
            reply(p, ex, 500, NULL, "", 0);
            return;
        }
        deny(p, ex, 405, mb_buf_data(t), t->len, h, method_is(req->method, "HEAD"));
        return;
    }
    if (options) {
        preflight(p, ex, req);
        return;
    }
    if (!content_type_ok(p, ex, req))
        return;
    if (pc->github_secret) {
        const struct mb_http_str *s1 = mb_http_header(req, "x-hub-signature", 0);
        const struct mb_http_str *s256 = mb_http_header(req, "x-hub-signature-256", 0);
        if (!mb_bridge_github_ok(pc->github_secret, pc->github_secret_len, s1 ? s1->p : NULL, s1 ? s1->n : 0,
                                 s256 ? s256->p : NULL, s256 ? s256->n : 0, body, len)) {
            mb_info(&p->b->r->log, "http path %s: webhook from %s refused: GitHub signature %s", pc->path,
                    mb_http_peer(ex), s1 || s256 ? "not valid" : "missing");
            deny_text(p, ex, 400, "Malformed request to the REST bridge.");
            return;
        }
    }
    if (!query_ok(p, ex, req, body, len))
        return;
    if (pc->require_tls && !mb_http_tls(ex)) {
        deny_text(p, ex, 400, "Malformed request to the REST bridge.");
        return;
    }
    if (!mb_utf8_valid(body, len)) {
        deny_text(p, ex, 400, "Non-decodable request body, was not UTF-8.");
        return;
    }
    if (!p->s || p->s->state != MB_S_JOINED) {
        if (pc->kind == MB_HTTP_WEBHOOK)
            reply(p, ex, 500, NULL, "NOT OK", 6);
        else
            busy(p, ex, 503, "the path's session is not joined (the router is shutting down)");
        return;
    }
    if (pc->kind == MB_HTTP_WEBHOOK) {
        do_webhook(p, ex, req, body, len);
        return;
    }
    json_t *event = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!event) {
        deny_text(p, ex, 400, "Request body was invalid JSON.");
        return;
    }
    if (!json_is_object(event))
        deny_text(p, ex, 400, "Request body was valid JSON, but not well formed (must be a dict).");
    else if (pc->kind == MB_HTTP_PUBLISHER)
        do_publish(p, ex, event);
    else
        do_call(p, ex, event);
    json_decref(event);
}

/* ---- lifecycle --------------------------------------------------------------------------------------- */

static char *answer_headers(const struct mb_http_path_config *pc)
{
    static const char base[] = "Content-Type: application/json; charset=UTF-8\r\n"
                               "Cache-Control: no-store,no-cache,must-revalidate,max-age=0\r\n";
    size_t n = sizeof base + (pc->cors ? strlen(pc->cors) + 96 : 0);
    char *h = malloc(n);
    if (!h)
        return NULL;
    if (!pc->cors)
        snprintf(h, n, "%s", base);
    else if (strcmp(pc->cors, "*") == 0)
        snprintf(h, n, "%sAccess-Control-Allow-Origin: *\r\n", base);
    else
        snprintf(h, n, "%sAccess-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Credentials: true\r\n", base,
                 pc->cors);
    return h;
}

static int start_path(struct mb_bridge *b, struct bpath *p, const struct mb_http_path_config *pc)
{
    struct mb_router *r = b->r;
    p->b = b;
    p->pc = pc;
    p->next_request = 1;
    p->realm = mb_map_get_str(&r->realms, pc->realm, strlen(pc->realm));
    if (!p->realm) {
        mb_error(&r->log, "http path %s: no realm %s", pc->path, pc->realm);
        return -1;
    }
    bool cors_ok = !pc->cors || strlen(pc->cors) <= CORS_MAX;
    for (const char *c = pc->cors; cors_ok && c && *c; c++)
        cors_ok = (unsigned char)*c >= 0x20 && *c != 0x7F;
    if (!cors_ok) {
        mb_error(&r->log, "http path %s: options.cors must be \"*\" or an origin (at most %d characters, no control "
                 "characters)", pc->path, CORS_MAX);
        return -1;
    }
    size_t an = strlen(pc->path) + 6;
    if (!(p->authid = malloc(an)) || !(p->hdr = answer_headers(pc))) {
        mb_error(&r->log, "http path %s: out of memory", pc->path);
        return -1;
    }
    snprintf(p->authid, an, "http:%s", pc->path);
    p->signed_req = pc->secret != NULL;
    mb_bridge_guard_init(&p->guard, NONCES_MAX);
    size_t max_body = pc->post_body_limit ? pc->post_body_limit : BODY_UNLIMITED;
    int id = mb_httpd_route(r, pc->path, false, max_body, on_request, p);
    if (id < 0) {
        mb_error(&r->log, "http path %s: cannot claim the path (claimed twice?)", pc->path);
        return -1;
    }
    mb_httpd_on_too_large(r, id, on_too_large);
    size_t pl = strlen(pc->path);
    if (pl > 1 && pc->path[pl - 1] != '/') { /* Crossbar's path services are leaves: /publish/x too */
        char *under = malloc(pl + 2);
        if (under)
            snprintf(under, pl + 2, "%s/", pc->path);
        int rc = under ? mb_httpd_route(r, under, true, max_body, on_request, p) : -1;
        free(under);
        if (rc > 0)
            mb_httpd_on_too_large(r, rc, on_too_large);
        if (rc < 0) {
            mb_error(&r->log, "http path %s: cannot claim the paths under it", pc->path);
            return -1;
        }
    }
    join(p);
    if (!p->s || p->s->state != MB_S_JOINED)
        return -1;
    mb_info(&r->log, "http path %s: %s on realm %s as role %s%s%s (body limit %zu bytes)", pc->path,
            kind_names[pc->kind], pc->realm, pc->role, p->signed_req ? ", signed requests, key " : "",
            p->signed_req ? pc->key : "", max_body);
    return 0;
}

int mb_bridge_start(struct mb_router *r)
{
    const struct mb_http_config *h = &r->cfg->http;
    size_t n = 0;
    for (size_t i = 0; i < h->npaths; i++)
        n += h->paths[i].kind != MB_HTTP_LONGPOLL;
    if (!n)
        return 0;
    struct mb_bridge *b = calloc(1, sizeof *b);
    if (!b || !(b->paths = calloc(n, sizeof *b->paths))) {
        free(b);
        mb_error(&r->log, "http bridge: out of memory");
        return -1;
    }
    b->r = r;
    uv_idle_init(r->loop, &b->idle);
    b->idle.data = b;
    uv_unref((uv_handle_t *)&b->idle); /* work for it keeps the loop turning; it keeps nothing alive */
    r->bridge = b;
    for (size_t i = 0; i < h->npaths; i++) {
        if (h->paths[i].kind == MB_HTTP_LONGPOLL)
            continue;
        if (start_path(b, &b->paths[b->npaths++], &h->paths[i]) < 0)
            return -1;
    }
    return 0;
}

static void on_idle_closed(uv_handle_t *h)
{
    struct mb_bridge *b = h->data;
    mb_buf_free(&b->out);
    mb_buf_free(&b->text);
    free(b->paths);
    free(b);
}

void mb_bridge_free(struct mb_router *r)
{
    struct mb_bridge *b = r->bridge;
    if (!b)
        return;
    r->bridge = NULL;
    for (size_t i = 0; i < b->npaths; i++) {
        struct bpath *p = &b->paths[i];
        if (p->s)
            mb_session_free(p->s);
        if (p->gone)
            mb_session_free(p->gone);
        struct preq *q;
        for (size_t it = 0; (q = mb_map_next(&p->pending, &it));)
            free(q); /* their connections are gone: nothing to answer */
        mb_map_free(&p->pending);
        for (size_t k = 0; k < p->inbox.len; k++)
            json_decref(p->inbox.items[k]);
        mb_vec_free(&p->inbox);
        mb_vec_free(&p->spare);
        mb_bridge_guard_free(&p->guard);
        free(p->authid);
        free(p->hdr);
    }
    uv_idle_stop(&b->idle);
    uv_close((uv_handle_t *)&b->idle, on_idle_closed);
}
