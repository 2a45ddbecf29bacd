/* http.callees[i] (mb_bridge_out.h): an in-router session that registers one procedure and turns
 * each invocation into an HTTP request under its baseurl, with Crossbar's HTTP callee arguments
 * (method, url, body, headers, params; by keyword or in that order) and result
 * ({"code", "content", "headers"} as the one positional result). A url that would leave baseurl
 * is refused before any request; a caller's cancel (INTERRUPT) cancels the request. */
#include "out_int.h"
#include "mb_http_url.h"
#include "mb_utf8.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 100
#define MAX_PARAMS 200

struct callee;

struct pending {
    struct callee *c;
    uint64_t invocation;
    struct mb_httpc_call *call;
    char method[24];
    char *url;
};

struct callee {
    struct mb_out_peer peer; /* first: the peer is the callee */
    const struct mb_http_callee_config *cfg;
    uint64_t register_request;
    uint64_t registration;
    struct mb_map pending;   /* INVOCATION.Request → struct pending */
    uint64_t calls, answered, refused, timeouts, too_large, failed, canceled;
};

static const char *const arg_names[] = { "method", "url", "body", "headers", "params" };
enum { A_METHOD, A_URL, A_BODY, A_HEADERS, A_PARAMS, A_COUNT };

static void pending_free(struct pending *pd)
{
    free(pd->url);
    free(pd);
}

/* ---- the answer -------------------------------------------------------------------------------- */

/* The body as a JSON string: as is when it is UTF-8, else read as ISO-8859-1 (every byte one
 * character, as HTTP's old default charset and treq's text_content without a charset). */
static json_t *content_string(const char *body, size_t len)
{
    const unsigned char *p = (const unsigned char *)body, *end = p + len;
    bool utf8 = true;
    for (const unsigned char *q = p; q < end && utf8;) {
        if (*q < 0x80) {
            q++;
            continue;
        }
        size_t n = mb_utf8_seq(q, end);
        if (!n)
            utf8 = false;
        q += n;
    }
    if (utf8)
        return json_stringn(body, len);
    char *conv = malloc(len * 2 + 1);
    if (!conv)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x80) {
            conv[o++] = (char)p[i];
        } else {
            conv[o++] = (char)(0xC0 | (p[i] >> 6));
            conv[o++] = (char)(0x80 | (p[i] & 0x3F));
        }
    }
    json_t *s = json_stringn(conv, o);
    free(conv);
    return s;
}

/* Response headers as Crossbar gives them: name → list of values, one list per name whatever its
 * case (the first spelling is kept). */
static json_t *header_dict(const struct mb_httpc_response *res)
{
    json_t *d = json_object();
    for (size_t i = 0; d && i < res->nheaders; i++) {
        const char *line = res->headers[i], *colon = strchr(line, ':');
        if (!colon || colon == line)
            continue;
        const char *v = colon + 1, *vend = line + strlen(line);
        while (*v == ' ' || *v == '\t')
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        size_t nl = (size_t)(colon - line);
        json_t *list = NULL;
        const char *key;
        json_t *val;
        json_object_foreach(d, key, val) {
            if (strlen(key) == nl && strncasecmp(key, line, nl) == 0) {
                list = val;
                break;
            }
        }
        json_t *value = content_string(v, (size_t)(vend - v));
        if (!value)
            continue;
        if (!list) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(nl < sizeof name ? nl : sizeof name - 1), line);
            list = json_array();
            if (!list || json_object_set_new(d, name, list) < 0) {
                json_decref(value);
                continue;
            }
        }
        json_array_append_new(list, value);
    }
    return d;
}

static void on_done(void *ctx, const struct mb_httpc_response *res)
{
    struct pending *pd = ctx;
    struct callee *c = pd->c;
    struct mb_out_peer *p = &c->peer;
    mb_map_del_id(&c->pending, pd->invocation);
    if (res->failure != MB_HTTPC_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s %s: %s", pd->method, pd->url, res->error);
        const char *uri = mb_reason_uri(MB_R_RUNTIME_ERROR);
        if (res->failure == MB_HTTPC_TIMEOUT) {
            c->timeouts++;
            uri = mb_reason_uri(MB_R_TIMEOUT);
        } else if (res->failure == MB_HTTPC_TOO_LARGE) {
            c->too_large++;
            snprintf(msg, sizeof msg, "%s %s: the response body is larger than max_bytes (%zu bytes)", pd->method,
                     pd->url, c->cfg->max_bytes);
        } else {
            c->failed++;
        }
        mb_debug(&p->r->log, "%s: %s", p->name, msg);
        mb_out_peer_error(p, pd->invocation, uri, msg);
        pending_free(pd);
        return;
    }
    json_t *content = content_string(res->body, res->body_len);
    json_t *result = json_pack("{siso*so*}", "code", res->status, "content", content, "headers", header_dict(res));
    if (!result) {
        c->failed++;
        mb_out_peer_error(p, pd->invocation, mb_reason_uri(MB_R_RUNTIME_ERROR), "out of memory for the result");
    } else {
        c->answered++;
        mb_out_peer_send(p, json_pack("[iI{}[o]]", MB_YIELD, (json_int_t)pd->invocation, result));
    }
    pending_free(pd);
}

/* ---- the request ------------------------------------------------------------------------------ */

struct args {
    json_t *v[A_COUNT];
};

/* The call's arguments by position (Crossbar's on_call order) then by keyword. */
static int read_args(json_t *msg, struct args *a, char *why, size_t whylen)
{
    memset(a, 0, sizeof *a);
    json_t *args = json_array_get(msg, 4), *kwargs = json_array_get(msg, 5);
    if (args && !json_is_array(args)) {
        snprintf(why, whylen, "bad arguments");
        return -1;
    }
    if (json_array_size(args) > A_COUNT) {
        snprintf(why, whylen, "at most %d positional arguments (method, url, body, headers, params), got %zu", A_COUNT,
                 json_array_size(args));
        return -1;
    }
    for (size_t i = 0; i < json_array_size(args); i++)
        a->v[i] = json_array_get(args, i);
    const char *key;
    json_t *val;
    json_object_foreach(kwargs, key, val) {
        size_t k = 0;
        while (k < A_COUNT && strcmp(key, arg_names[k]) != 0)
            k++;
        if (k == A_COUNT) {
            snprintf(why, whylen, "unknown argument \"%.60s\" (the arguments are method, url, body, headers, params)",
                     key);
            return -1;
        }
        a->v[k] = val;
    }
    for (int k = 0; k < A_COUNT; k++)
        if (json_is_null(a->v[k]))
            a->v[k] = NULL;
    static const json_type want[A_COUNT] = { JSON_STRING, JSON_STRING, JSON_STRING, JSON_OBJECT, JSON_OBJECT };
    for (int k = 0; k < A_COUNT; k++)
        if (a->v[k] && json_typeof(a->v[k]) != want[k]) {
            snprintf(why, whylen, "%s must be %s", arg_names[k], want[k] == JSON_STRING ? "a string" : "a dict");
            return -1;
        }
    return 0;
}

/* A param's value as text: a string, a number or a boolean. */
static int param_text(json_t *v, char *buf, size_t len, const char **out)
{
    if (json_is_string(v))
        *out = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), *out = buf;
    else if (json_is_real(v))
        snprintf(buf, len, "%.17g", json_real_value(v)), *out = buf;
    else if (json_is_boolean(v))
        *out = json_is_true(v) ? "true" : "false";
    else
        return -1;
    return 0;
}

/* Builds the request's URL (baseurl, url, params) and header lines: 0, or -1 with why. */
static int build(struct callee *c, const struct args *a, char **url, char ***lines, char *why, size_t whylen)
{
    struct mb_url_param params[MAX_PARAMS];
    char numbers[MAX_PARAMS][32];
    size_t np = 0;
    const char *key;
    json_t *val;
    json_object_foreach(a->v[A_PARAMS], key, val) {
        json_t *one[1] = { val };
        json_t **vals = json_is_array(val) ? NULL : one;
        size_t n = json_is_array(val) ? json_array_size(val) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *v = vals ? vals[i] : json_array_get(val, i);
            if (np == MAX_PARAMS) {
                snprintf(why, whylen, "more than %d params", MAX_PARAMS);
                return -1;
            }
            if (param_text(v, numbers[np], sizeof numbers[np], &params[np].value) < 0) {
                snprintf(why, whylen, "params.%.60s must be a string, a number, a boolean or a list of those", key);
                return -1;
            }
            params[np++].name = key;
        }
    }
    const char *rel = a->v[A_URL] ? json_string_value(a->v[A_URL]) : "";
    if (mb_http_url_join(c->cfg->baseurl, rel, params, np, url, why, whylen) < 0)
        return -1;
    size_t nh = 0;
    char **h = calloc(MAX_HEADERS + 1, sizeof *h);
    if (!h) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    *lines = h;
    json_object_foreach(a->v[A_HEADERS], key, val) {
        if (!*key || strpbrk(key, ": \t\r\n")) { /* the rest of a name's rules: mb_httpc_check */
            snprintf(why, whylen, "the header name \"%.60s\" is not an HTTP token", key);
            return -1;
        }
        json_t *one[1] = { val };
        json_t **vals = json_is_array(val) ? NULL : one;
        size_t n = json_is_array(val) ? json_array_size(val) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *v = vals ? vals[i] : json_array_get(val, i);
            if (!json_is_string(v)) {
                snprintf(why, whylen, "headers.%.60s must be a string or a list of strings", key);
                return -1;
            }
            if (nh == MAX_HEADERS) {
                snprintf(why, whylen, "more than %d header lines", MAX_HEADERS);
                return -1;
            }
            size_t len = strlen(key) + json_string_length(v) + 3;
            if (!(h[nh] = malloc(len))) {
                snprintf(why, whylen, "out of memory");
                return -1;
            }
            snprintf(h[nh++], len, "%s: %s", key, json_string_value(v));
        }
    }
    return 0;
}

static void free_lines(char **lines)
{
    for (size_t i = 0; lines && lines[i]; i++)
        free(lines[i]);
    free(lines);
}

static void on_invocation(struct callee *c, json_t *msg)
{
    struct mb_out_peer *p = &c->peer;
    uint64_t inv = (uint64_t)json_integer_value(json_array_get(msg, 1));
    c->calls++;
    struct args a;
    char why[400], *url = NULL, **lines = NULL;
    char method[24] = "GET"; /* Crossbar requires one; GET when none is given */
    if (read_args(msg, &a, why, sizeof why) < 0)
        goto refuse;
    if (a.v[A_METHOD]) {
        const char *m = json_string_value(a.v[A_METHOD]);
        size_t n = strlen(m);
        if (n == 0 || n >= sizeof method) {
            snprintf(why, sizeof why, "method \"%.30s\" is not an HTTP method", m);
            goto refuse;
        }
        for (size_t i = 0; i < n; i++)
            method[i] = (char)toupper((unsigned char)m[i]);
        method[n] = '\0';
    }
    if (build(c, &a, &url, &lines, why, sizeof why) < 0)
        goto refuse;
    struct mb_httpc_request req = {
        .method = method, .url = url, .headers = (const char *const *)lines,
        .body = a.v[A_BODY] ? json_string_value(a.v[A_BODY]) : NULL,
        .body_len = a.v[A_BODY] ? json_string_length(a.v[A_BODY]) : 0,
        .timeout = c->cfg->timeout_ms > 0 ? c->cfg->timeout_ms / 1000.0 : 0,
        .max_bytes = c->cfg->max_bytes,
    };
    if (mb_httpc_check(&req, why, sizeof why) < 0)
        goto refuse;
    struct pending *pd = calloc(1, sizeof *pd);
    if (!pd) {
        snprintf(why, sizeof why, "out of memory");
        goto refuse;
    }
    pd->c = c;
    pd->invocation = inv;
    pd->url = url;
    snprintf(pd->method, sizeof pd->method, "%s", method);
    if (mb_map_put_id(&c->pending, inv, pd) < 0 || !(pd->call = mb_httpc_start(p->r, &req, on_done, pd))) {
        mb_map_del_id(&c->pending, inv);
        pending_free(pd);
        free_lines(lines);
        c->failed++;
        mb_out_peer_error(p, inv, mb_reason_uri(MB_R_RUNTIME_ERROR), "the HTTP request could not start");
        return;
    }
    mb_debug(&p->r->log, "%s: invocation %llu: %s %s", p->name, (unsigned long long)inv, method, url);
    free_lines(lines);
    return;
refuse:
    c->refused++;
    free(url);
    free_lines(lines);
    mb_debug(&p->r->log, "%s: invocation %llu refused: %s", p->name, (unsigned long long)inv, why);
    mb_out_peer_error(p, inv, mb_reason_uri(MB_R_INVALID_ARGUMENT), why);
}

/* ---- messages from the router -------------------------------------------------------------------- */

static void on_interrupt(struct callee *c, json_t *msg)
{
    uint64_t inv = (uint64_t)json_integer_value(json_array_get(msg, 1));
    struct pending *pd = mb_map_del_id(&c->pending, inv);
    if (!pd)
        return; /* answered already */
    const char *mode = json_string_value(json_object_get(json_array_get(msg, 2), "mode"));
    mb_httpc_cancel(pd->call);
    c->canceled++;
    mb_debug(&c->peer.r->log, "%s: invocation %llu canceled (%s): %s %s stopped", c->peer.name,
             (unsigned long long)inv, mode ? mode : "no mode", pd->method, pd->url);
    if (mode && strcmp(mode, "kill") == 0) /* the caller waits for this answer */
        mb_out_peer_error(&c->peer, inv, mb_reason_uri(MB_R_CANCELED), "canceled: the HTTP request was stopped");
    pending_free(pd);
}

static void deliver(struct mb_out_peer *p, json_t *msg)
{
    struct callee *c = (struct callee *)p;
    switch ((int)json_integer_value(json_array_get(msg, 0))) {
    case MB_INVOCATION:
        on_invocation(c, msg);
        return;
    case MB_INTERRUPT:
        on_interrupt(c, msg);
        return;
    case MB_REGISTERED:
        if ((uint64_t)json_integer_value(json_array_get(msg, 1)) != c->register_request)
            return;
        c->registration = (uint64_t)json_integer_value(json_array_get(msg, 2));
        mb_info(&p->r->log, "%s: %s calls go to %s", p->name, c->cfg->procedure, c->cfg->baseurl);
        return;
    case MB_ERROR:
        if ((int)json_integer_value(json_array_get(msg, 1)) == MB_REGISTER)
            mb_error(&p->r->log, "%s: registering %s was refused: %s %s", p->name, c->cfg->procedure,
                     json_string_value(json_array_get(msg, 4)) ?: "",
                     json_string_value(json_array_get(json_array_get(msg, 5), 0)) ?: "");
        return;
    default:
        return;
    }
}

static void stop(struct mb_out_peer *p)
{
    struct callee *c = (struct callee *)p;
    struct pending *pd;
    for (size_t it = 0; (pd = mb_map_next(&c->pending, &it));) {
        mb_httpc_cancel(pd->call);
        pending_free(pd);
    }
    mb_map_free(&c->pending);
    mb_info(&p->r->log, "%s: %s: calls %llu, answered %llu, refused %llu, timeouts %llu, too large %llu, "
            "failed %llu, canceled %llu", p->name, c->cfg->procedure, (unsigned long long)c->calls,
            (unsigned long long)c->answered, (unsigned long long)c->refused, (unsigned long long)c->timeouts,
            (unsigned long long)c->too_large, (unsigned long long)c->failed, (unsigned long long)c->canceled);
}

static void release(struct mb_out_peer *p)
{
    free(p);
}

static const struct mb_out_peer_ops ops = { .deliver = deliver, .stop = stop, .release = release };

struct mb_out_peer *mb_http_callee_new(struct mb_router *r, const struct mb_http_callee_config *cfg, size_t index,
                                       char *why, size_t whylen)
{
    struct mb_realm *realm = cfg->realm ? mb_map_get_str(&r->realms, cfg->realm, strlen(cfg->realm)) : NULL;
    if (!realm) {
        snprintf(why, whylen, "no realm %s", cfg->realm ? cfg->realm : "(none given)");
        return NULL;
    }
    if (!cfg->procedure) {
        snprintf(why, whylen, "no procedure");
        return NULL;
    }
    if (mb_http_url_check_base(cfg->baseurl, why, whylen) < 0)
        return NULL;
    struct callee *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->peer.ops = &ops;
    c->peer.r = r;
    snprintf(c->peer.name, sizeof c->peer.name, "http.callees[%zu]", index + 1);
    c->cfg = cfg;
    char authid[48];
    snprintf(authid, sizeof authid, "http-callee-%zu", index + 1);
    /* call_canceling: a caller's cancel and a call timeout reach us as INTERRUPT */
    if (mb_out_peer_join(&c->peer, realm, authid, MB_F_CALLEE_CANCELING) < 0) {
        snprintf(why, whylen, "its session cannot join realm %s", realm->name);
        if (c->peer.s)
            mb_session_free(c->peer.s);
        free(c);
        return NULL;
    }
    c->register_request = mb_out_peer_request(&c->peer);
    mb_out_peer_send(&c->peer, json_pack("[iI{}s]", MB_REGISTER, (json_int_t)c->register_request, cfg->procedure));
    return &c->peer;
}
