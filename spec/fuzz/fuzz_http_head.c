/* libFuzzer harness of the HTTP request head reader (mb_http.h) and what moonbar reads from a
 * head before a WebSocket upgrade (mb_wsproto.h: the subprotocol, the permessage-deflate
 * offer). The stream is fed as ws.c's http_input feeds it: parsed in place while nothing is
 * buffered, else gathered in a buffer of MB_HTTP_HEAD_MAX bytes and parsed again, heads after
 * heads (pipelined requests, no bodies). Checks:
 *  - no crash, no leak, no read outside the input (every chunk is an exact-size allocation);
 *  - a head's length is within what was given and MB_HTTP_HEAD_MAX, INCOMPLETE only below
 *    MB_HTTP_HEAD_MAX (ws.c copies it into a buffer of that size); every parsed field (method,
 *    target, path, query, header names and values, comma-separated elements) lies inside the
 *    head, values trimmed, elements trimmed, non-empty and without commas;
 *  - the same heads, fields and verdicts whatever the chunking (fields compared as offsets in
 *    their head), so a head is never judged on bytes not yet received;
 *  - the subprotocol chosen (speaking one serializer, or all three) is the first element of the
 *    Sec-WebSocket-Protocol lines, in order, that moonbar speaks, by an independent reading of
 *    the header lines; an accepted deflate offer has a window of 9..15 or none, and its
 *    answer fits; a decoded path is no longer than the path and holds no NUL.
 * Input: byte 0: bits 0-2 pad (5, 6, 7: a header line of 4000, 8150, 8200 bytes inserted
 * after the first line, to reach MB_HTTP_HEAD_MAX), bits 3-5 the number k of chunk sizes
 * that follow; k bytes of sizes (a
 * byte b: b + 1 bytes below 128, else (b - 127) * 64; used once, then the rest comes in one
 * chunk; k = 7 without a pad: used in turn to the end); the stream. */
#include "fuzz_util.h"

#include "mb_buf.h"
#include "mb_http.h"
#include "mb_wsproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void put(struct mb_buf *log, long v)
{
    ASSERT(mb_buf_append(log, &v, sizeof v) == 0);
}

/* A field: inside the head; logged as its offset and length. */
static void field(struct mb_buf *log, const char *head, int n, struct mb_http_str s)
{
    if (!s.p) {
        ASSERT(s.n == 0);
        put(log, -1);
        return;
    }
    ASSERT(s.p >= head && s.p + s.n <= head + n);
    put(log, s.p - head);
    put(log, (long)s.n);
}

/* An independent reading of the offer: the first element of the Sec-WebSocket-Protocol
 * lines that spoken holds. */
static int first_spoken(const struct mb_http_request *req, unsigned spoken)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct mb_http_header *h = &req->headers[i];
        if (h->name.n != 22 || strncasecmp(h->name.p, "sec-websocket-protocol", 22) != 0)
            continue;
        const char *v = h->value.p, *end = v + h->value.n;
        while (v < end) {
            const char *c = memchr(v, ',', (size_t)(end - v)), *e = c ? c : end, *s = v;
            while (s < e && (*s == ' ' || *s == '\t'))
                s++;
            const char *t = e;
            while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
                t--;
            for (int k = 0; k < 3; k++)
                if ((spoken & 1u << k) && (size_t)(t - s) == strlen(mb_ws_subprotocols[k]) &&
                    strncasecmp(s, mb_ws_subprotocols[k], (size_t)(t - s)) == 0)
                    return k;
            v = c ? c + 1 : end;
        }
    }
    return -1;
}

static void elements(struct mb_buf *log, const struct mb_http_request *req, const char *head, int n, const char *name)
{
    struct mb_http_str e;
    for (size_t it = 0; mb_http_next_element(req, name, &it, &e);) {
        field(log, head, n, e);
        ASSERT(e.n > 0 && !memchr(e.p, ',', e.n));
        ASSERT(e.p[0] != ' ' && e.p[0] != '\t' && e.p[e.n - 1] != ' ' && e.p[e.n - 1] != '\t');
    }
}

/* A complete head at [head, head+n): its fields and what moonbar reads from them. */
static void head_read(struct mb_buf *log, const struct mb_http_request *req, const char *head, int n)
{
    ASSERT(n > 0 && n <= MB_HTTP_HEAD_MAX && req->nheaders <= MB_HTTP_HEADERS_MAX);
    put(log, n);
    field(log, head, n, req->method);
    field(log, head, n, req->target);
    field(log, head, n, req->path);
    field(log, head, n, req->query);
    ASSERT(req->method.n > 0 && req->target.n > 0 && (req->minor == 0 || req->minor == 1));
    ASSERT(req->path.p >= req->target.p && req->path.p + req->path.n <= req->target.p + req->target.n);
    put(log, req->minor);
    put(log, (long)req->nheaders);
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct mb_http_header *h = &req->headers[i];
        field(log, head, n, h->name);
        field(log, head, n, h->value);
        ASSERT(h->name.n > 0 && !memchr(h->name.p, ':', h->name.n));
        ASSERT(!h->value.n || (h->value.p[0] != ' ' && h->value.p[0] != '\t' && h->value.p[h->value.n - 1] != ' ' &&
                               h->value.p[h->value.n - 1] != '\t'));
    }
    put(log, mb_http_keep_alive(req));
    put(log, mb_http_has_token(req, "connection", "upgrade"));
    elements(log, req, head, n, "sec-websocket-protocol");
    elements(log, req, head, n, "connection");
    static const unsigned spokens[] = { 1, 2, 4, 7 };
    for (size_t i = 0; i < 4; i++) {
        unsigned spoken = spokens[i];
        bool offered;
        int s = mb_ws_pick_subprotocol(req, spoken, &offered);
        ASSERT(s == first_spoken(req, spoken));
        ASSERT(s < 0 || (offered && (spoken & 1u << s)));
        ASSERT(offered == (mb_http_header(req, "sec-websocket-protocol", 0) != NULL));
        put(log, s);
    }
    struct mb_ws_deflate d;
    bool on = mb_ws_deflate_offer(req, &d);
    ASSERT(on == d.on);
    ASSERT(!on || d.server_max_window_bits == 0 || (d.server_max_window_bits >= 9 && d.server_max_window_bits <= 15));
    if (on) {
        char v[160];
        ASSERT(mb_ws_deflate_response(&d, v, sizeof v) > 0);
    }
    put(log, on ? 16 + d.server_max_window_bits : 0);
    const struct mb_http_str *key = mb_http_header(req, "sec-websocket-key", 0);
    put(log, key ? mb_ws_key_valid(*key) : -1);
    char *out = malloc(req->path.n + 1);
    int dl = mb_http_decode_path(req->path, out, req->path.n + 1);
    ASSERT(dl <= (int)req->path.n);
    if (dl >= 0) {
        ASSERT(strlen(out) == (size_t)dl);
        put(log, mb_http_path_escapes(out));
    }
    put(log, dl);
    free(out);
}

/* ws.c's http_input, heads only. Returns false once the connection would be answered with an
 * error (it closes). */
struct reader {
    char *head; /* MB_HTTP_HEAD_MAX bytes once a head came in pieces */
    size_t head_len;
    bool dead;
    struct mb_buf log;
};

static void input(struct reader *r, const char *data, size_t len)
{
    struct mb_http_request req;
    while (len && !r->dead) {
        int n;
        if (r->head_len) {
            size_t room = MB_HTTP_HEAD_MAX - r->head_len, take = room < len ? room : len, old = r->head_len;
            memcpy(r->head + old, data, take);
            r->head_len = old + take;
            n = mb_http_parse(r->head, r->head_len, &req);
            ASSERT(n <= (int)r->head_len);
            if (n == MB_HTTP_INCOMPLETE && r->head_len < MB_HTTP_HEAD_MAX)
                return;
            if (n > 0) {
                ASSERT((size_t)n > old); /* else the bytes before were a complete head */
                head_read(&r->log, &req, r->head, n);
                r->head_len = 0;
                data += (size_t)n - old;
                len -= (size_t)n - old;
                continue;
            }
        } else {
            n = mb_http_parse(data, len, &req);
            ASSERT(n <= (int)len);
            if (n > 0) {
                head_read(&r->log, &req, data, n);
                data += n;
                len -= (size_t)n;
                continue;
            }
            if (n == MB_HTTP_INCOMPLETE) {
                ASSERT(len < MB_HTTP_HEAD_MAX);
                if (!r->head)
                    r->head = malloc(MB_HTTP_HEAD_MAX);
                memcpy(r->head, data, len);
                r->head_len = len;
                return;
            }
        }
        put(&r->log, n == MB_HTTP_INCOMPLETE ? MB_HTTP_TOO_LARGE : n);
        r->dead = true;
    }
}

static void run(struct reader *r, const char *s, size_t n, const unsigned char *sizes, size_t k, bool cycle)
{
    *r = (struct reader){ 0 };
    for (size_t off = 0, i = 0; off < n && !r->dead; i++) {
        /* the k sizes once, then the rest in one chunk; k = 7: the sizes in turn to the end */
        unsigned b = k ? sizes[i % k] : 0;
        size_t take = !k || (i >= k && !(k == 7 && cycle)) ? n : b < 128 ? b + 1 : (size_t)(b - 127) * 64;
        if (take > n - off)
            take = n - off;
        char *chunk = malloc(take);
        memcpy(chunk, s + off, take);
        input(r, chunk, take);
        free(chunk);
        off += take;
    }
    put(&r->log, r->dead ? -100 : (long)r->head_len);
    free(r->head);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t pads[8] = { 0, 0, 0, 0, 0, 4000, 8150, 8200 };
    size_t pad = pads[data[0] & 7], k = (data[0] >> 3) & 7;
    if (size < 1 + k)
        return 0;
    const unsigned char *sizes = data + 1;
    const char *s = (const char *)data + 1 + k;
    size_t n = size - 1 - k;
    char *stream = (char *)s;
    if (pad) {
        const char *nl = memchr(s, '\n', n);
        size_t at = nl ? (size_t)(nl + 1 - s) : n;
        stream = malloc(n + pad);
        memcpy(stream, s, at);
        memcpy(stream + at, "X-Pad: ", 7);
        memset(stream + at + 7, 'a', pad - 9);
        memcpy(stream + at + pad - 2, "\r\n", 2);
        memcpy(stream + at + pad, s + at, n - at);
        n += pad;
    }
    struct reader whole, split;
    run(&whole, stream, n, NULL, 0, false);
    run(&split, stream, n, sizes, k, !pad); /* a long head byte by byte: too slow to fuzz */
    ASSERT(whole.log.len == split.log.len && memcmp(mb_buf_data(&whole.log), mb_buf_data(&split.log), whole.log.len) == 0);
    mb_buf_free(&whole.log);
    mb_buf_free(&split.log);
    if (pad)
        free(stream);
    return 0;
}
