/* Outgoing HTTP (mb_httpc.h): libcurl's multi-socket interface on the router's uv loop.
 * libcurl says which sockets to watch (the socket callback: one uv_poll_t per socket) and when
 * it wants to be woken (the timer callback: one uv_timer_t); every readiness and expiry goes back
 * to it through curl_multi_socket_action, and finished transfers are read with
 * curl_multi_info_read. The multi handle keeps connections alive between requests, so a
 * subscriber's POSTs to one target reuse one connection. User callbacks (done) only ever run
 * from finish(), never from inside a libcurl callback. */
#include "mb_httpc.h"
#include "mb_router.h"
#include "moonbar.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_MAX_BYTES ((size_t)16 << 20)

struct sock; /* one socket libcurl asked us to watch */

struct mb_httpc {
    struct mb_router *r;
    CURLM *multi;
    uv_timer_t timer;
    struct mb_httpc_call *calls; /* in flight */
    struct sock *socks;          /* watched */
    int open_handles;            /* the timer and polls not closed yet: the last close frees this */
};

struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct mb_httpc *hc;
    struct sock *prev, *next;
};

struct mb_httpc_call {
    struct mb_httpc *hc;
    CURL *easy;
    struct curl_slist *req_headers;
    mb_httpc_done done;
    void *ctx;
    double timeout;
    size_t max_bytes;
    bool too_large;
    bool in_done;
    struct mb_buf body;  /* the response body */
    char **headers;      /* the response's header lines, NULL-terminated */
    size_t nheaders, capheaders;
    char errbuf[CURL_ERROR_SIZE];
    struct mb_httpc_call *prev, *next;
};

/* ---- checks ------------------------------------------------------------------------------- */

/* RFC 9110 token characters (methods and header names). */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int mb_httpc_check(const struct mb_httpc_request *req, char *why, size_t whylen)
{
    if (!req->url || !(has_prefix_ci(req->url, "http://") || has_prefix_ci(req->url, "https://"))) {
        snprintf(why, whylen, "the URL must start with http:// or https://");
        return -1;
    }
    for (const char *p = req->url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(why, whylen, "the URL contains a space or a control character (percent-encode it)");
            return -1;
        }
    if (req->method && !is_token(req->method, strlen(req->method))) {
        snprintf(why, whylen, "the method \"%.40s\" is not an HTTP token", req->method);
        return -1;
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        const char *h = req->headers[i], *colon = strchr(h, ':');
        if (!colon || !is_token(h, (size_t)(colon - h))) {
            snprintf(why, whylen, "the header line \"%.60s\" is not \"Name: value\"", h);
            return -1;
        }
        if (strpbrk(h, "\r\n")) {
            snprintf(why, whylen, "the header %.*s contains CR or LF", (int)(colon - h), h);
            return -1;
        }
    }
    return 0;
}

/* Whether the header lines name header `name` (case-insensitive). */
static bool names_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
            return true;
    return false;
}

/* ---- the client, made on first use ------------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
    struct mb_httpc *hc = h->data;
    if (h->type == UV_POLL) {
        struct sock *sk = (struct sock *)h;
        hc = sk->hc;
        free(sk);
    }
    if (--hc->open_handles == 0)
        free(hc);
}

static void check_done(struct mb_httpc *hc);

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock *sk = h->data;
    struct mb_httpc *hc = sk->hc;
    int flags = 0;
    if (status < 0)
        flags |= CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(hc->multi, sk->fd, flags, &running); /* may remove sk: its memory stays
                                                                      until its close callback */
    check_done(hc);
}

static void sock_close(struct mb_httpc *hc, struct sock *sk)
{
    if (sk->prev)
        sk->prev->next = sk->next;
    else
        hc->socks = sk->next;
    if (sk->next)
        sk->next->prev = sk->prev;
    uv_poll_stop(&sk->poll);
    uv_close((uv_handle_t *)&sk->poll, on_handle_closed);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl wants, or stop watching it. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct mb_httpc *hc = userp;
    struct sock *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            curl_multi_assign(hc->multi, fd, NULL);
            sock_close(hc, sk);
        }
        return 0;
    }
    if (!sk) {
        sk = calloc(1, sizeof *sk);
        if (!sk)
            return -1;
        int rc = uv_poll_init_socket(hc->r->loop, &sk->poll, fd);
        if (rc < 0) {
            mb_error(&hc->r->log, "http client: cannot watch socket %d: %s", (int)fd, uv_strerror(rc));
            free(sk);
            return -1;
        }
        sk->fd = fd;
        sk->hc = hc;
        sk->poll.data = sk;
        uv_unref((uv_handle_t *)&sk->poll);
        hc->open_handles++;
        sk->next = hc->socks;
        if (hc->socks)
            hc->socks->prev = sk;
        hc->socks = sk;
        curl_multi_assign(hc->multi, fd, sk);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&sk->poll, events, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct mb_httpc *hc = t->data;
    int running;
    curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(hc);
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed or stopped as libcurl asks (0: as soon as
 * possible, which libuv's timer gives at the next loop turn, outside this callback). */
static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct mb_httpc *hc = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&hc->timer);
    else
        uv_timer_start(&hc->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static struct mb_httpc *httpc_get(struct mb_router *r)
{
    if (r->httpc)
        return r->httpc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mb_error(&r->log, "http client: libcurl cannot start (curl_global_init failed)");
        return NULL;
    }
    struct mb_httpc *hc = calloc(1, sizeof *hc);
    if (!hc || !(hc->multi = curl_multi_init())) {
        free(hc);
        curl_global_cleanup();
        return NULL;
    }
    hc->r = r;
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
    uv_timer_init(r->loop, &hc->timer);
    hc->timer.data = hc;
    uv_unref((uv_handle_t *)&hc->timer);
    hc->open_handles = 1;
    r->httpc = hc;
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    mb_info(&r->log, "http client: libcurl %s, %s", vi->version, vi->ssl_version ? vi->ssl_version : "no TLS");
    if (!(vi->features & CURL_VERSION_ASYNCHDNS))
        mb_warn(&r->log, "http client: libcurl %s has no asynchronous resolver (AsynchDNS): every DNS lookup of "
                "an outgoing request blocks the router; use IP addresses or a libcurl built with threads or c-ares",
                vi->version);
    return hc;
}

/* ---- one request ---------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct mb_httpc_call *c = userp;
    size_t n = size * nmemb;
    if (n > c->max_bytes - c->body.len) {
        c->too_large = true;
        return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
    }
    return mb_buf_append(&c->body, data, n) < 0 ? 0 : n;
}

static void drop_headers(struct mb_httpc_call *c)
{
    for (size_t i = 0; i < c->nheaders; i++)
        free(c->headers[i]);
    c->nheaders = 0;
    if (c->headers)
        c->headers[0] = NULL;
}

/* Header lines as they come: a status line starts a new response (after a 100 Continue, only the
 * final response's headers are kept); a line starting with a space continues the previous one. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct mb_httpc_call *c = userp;
    size_t n = size * nmemb, len = n;
    while (len && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        drop_headers(c);
        return n;
    }
    if (len == 0)
        return n;
    if ((data[0] == ' ' || data[0] == '\t') && c->nheaders) { /* obsolete line folding */
        char *prev = c->headers[c->nheaders - 1];
        size_t pl = strlen(prev);
        char *joined = realloc(prev, pl + len + 1);
        if (!joined)
            return 0;
        memcpy(joined + pl, data, len);
        joined[pl + len] = '\0';
        c->headers[c->nheaders - 1] = joined;
        return n;
    }
    if (c->nheaders + 1 >= c->capheaders) {
        size_t ncap = c->capheaders ? c->capheaders * 2 : 16;
        char **nh = realloc(c->headers, ncap * sizeof *nh);
        if (!nh)
            return 0;
        c->headers = nh;
        c->capheaders = ncap;
    }
    char *line = strndup(data, len);
    if (!line)
        return 0;
    c->headers[c->nheaders++] = line;
    c->headers[c->nheaders] = NULL;
    return n;
}

static void unlink_call(struct mb_httpc_call *c)
{
    struct mb_httpc *hc = c->hc;
    if (c->prev)
        c->prev->next = c->next;
    else
        hc->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    curl_multi_remove_handle(hc->multi, c->easy);
}

static void call_free(struct mb_httpc_call *c)
{
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->req_headers);
    drop_headers(c);
    free(c->headers);
    mb_buf_free(&c->body);
    free(c);
}

static bool add_header(struct mb_httpc_call *c, const char *line)
{
    struct curl_slist *l = curl_slist_append(c->req_headers, line);
    if (!l)
        return false;
    c->req_headers = l;
    return true;
}

static bool is_method(const char *m, const char *name)
{
    return strcasecmp(m, name) == 0;
}

struct mb_httpc_call *mb_httpc_start(struct mb_router *r, const struct mb_httpc_request *req, mb_httpc_done done,
                                     void *ctx)
{
    char why[160];
    if (r->stopped || mb_httpc_check(req, why, sizeof why) < 0)
        return NULL;
    struct mb_httpc *hc = httpc_get(r);
    if (!hc)
        return NULL;
    struct mb_httpc_call *c = calloc(1, sizeof *c);
    if (!c || !(c->easy = curl_easy_init())) {
        free(c);
        return NULL;
    }
    c->hc = hc;
    c->done = done;
    c->ctx = ctx;
    c->timeout = req->timeout > 0 ? req->timeout : DEFAULT_TIMEOUT;
    c->max_bytes = req->max_bytes ? req->max_bytes : DEFAULT_MAX_BYTES;
    const char *method = req->method ? req->method : req->body ? "POST" : "GET";
    CURL *e = c->easy;
    bool ok = true;
    for (size_t i = 0; ok && req->headers && req->headers[i]; i++)
        ok = add_header(c, req->headers[i]);
    /* libcurl's own additions that would change what the caller asked for: a form content type
     * for any body, and Expect: 100-continue (a second's wait on servers that ignore it) */
    if (ok && req->body && !names_header(req->headers, "Content-Type"))
        ok = add_header(c, "Content-Type:");
    if (ok && !names_header(req->headers, "Expect"))
        ok = add_header(c, "Expect:");
    ok = ok && curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* A request canceled or timed out while its name is being resolved: without this, libcurl
     * 7.88 joins the resolver thread, blocking the loop until getaddrinfo gives up (seconds with
     * an unanswering DNS server, measured); with it the thread is detached and frees its own
     * data when getaddrinfo returns. */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout * 1000.0));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer: never a second host */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "moonbar/" MOONBAR_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_bytes); /* a Content-Length over it: at once */
    if (is_method(method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (is_method(method, "GET") && !req->body) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        if (!is_method(method, "POST"))
            ok = ok && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
        if (req->body || is_method(method, "POST") || is_method(method, "PUT") || is_method(method, "PATCH")) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
            ok = ok && curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "") == CURLE_OK;
        }
    }
    if (c->req_headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->req_headers);
    if (!ok || curl_multi_add_handle(hc->multi, e) != CURLM_OK) {
        call_free(c);
        return NULL;
    }
    c->next = hc->calls;
    if (hc->calls)
        hc->calls->prev = c;
    hc->calls = c;
    return c;
}

static void finish(struct mb_httpc_call *c, CURLcode rc)
{
    char error[CURL_ERROR_SIZE + 160];
    struct mb_httpc_response res = { 0 };
    static const char *const no_headers[] = { NULL };
    res.headers = no_headers;
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        res.status = (int)status;
        res.failure = MB_HTTPC_OK;
        if (mb_buf_reserve(&c->body, 1))
            mb_buf_data(&c->body)[c->body.len] = '\0';
        else
            c->body.len = 0;
        res.body = c->body.len || c->body.mem ? mb_buf_data(&c->body) : "";
        res.body_len = c->body.len;
        if (c->headers) {
            res.headers = (const char *const *)c->headers;
            res.nheaders = c->nheaders;
        }
    } else {
        if (c->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
            res.failure = MB_HTTPC_TOO_LARGE;
            snprintf(error, sizeof error, "the response body is larger than the limit of %zu bytes", c->max_bytes);
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            res.failure = MB_HTTPC_TIMEOUT;
            snprintf(error, sizeof error, "timeout: no complete answer within %g s", c->timeout);
        } else {
            res.failure = MB_HTTPC_FAILED;
            snprintf(error, sizeof error, "%s%s%s", curl_easy_strerror(rc), c->errbuf[0] ? ": " : "", c->errbuf);
        }
        res.error = error;
        res.body = "";
    }
    c->in_done = true;
    c->done(c->ctx, &res);
    call_free(c);
}

/* After every socket action: hand each finished transfer to its caller. A done callback may cancel
 * other calls; curl_multi_remove_handle takes their messages off the queue. */
static void check_done(struct mb_httpc *hc)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(hc->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct mb_httpc_call *c = NULL;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (!c)
            continue;
        unlink_call(c);
        finish(c, rc);
    }
}

void mb_httpc_cancel(struct mb_httpc_call *c)
{
    if (!c || c->in_done)
        return;
    unlink_call(c);
    call_free(c);
}

void mb_httpc_free(struct mb_router *r)
{
    struct mb_httpc *hc = r->httpc;
    if (!hc)
        return;
    r->httpc = NULL;
    while (hc->calls)
        mb_httpc_cancel(hc->calls);
    curl_multi_cleanup(hc->multi); /* closes the kept connections: their sockets may be removed here */
    hc->multi = NULL;
    while (hc->socks)
        sock_close(hc, hc->socks);
    uv_timer_stop(&hc->timer);
    uv_close((uv_handle_t *)&hc->timer, on_handle_closed);
    curl_global_cleanup();
}
