/* The serializers behind one interface (mb_codec.h): dispatch by enum mb_ser, decoding to and
 * encoding from json_t, one-pass transcoding, and the fast-path scanner of MessagePack and
 * CBOR messages. The per-format readers and writers are in msgpack.c and cbor.c. */
#include "codec_int.h"
#include "mb_id.h"
#include "mb_json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB_E_NONFINITE (-20) /* a NaN or an infinity where json_t or JSON must hold it */
#define MB_E_NOMEM (-21)

const char *mb_ser_name(enum mb_ser s)
{
    switch (s) {
    case MB_SER_JSON: return "json";
    case MB_SER_MSGPACK: return "msgpack";
    case MB_SER_CBOR: return "cbor";
    }
    return "unknown";
}

static const char *ser_title(enum mb_ser s)
{
    return s == MB_SER_MSGPACK ? "MessagePack" : s == MB_SER_CBOR ? "CBOR" : "JSON";
}

static bool is_bin(enum mb_ser s) { return s == MB_SER_MSGPACK || s == MB_SER_CBOR; }
static mb_next_fn next_of(enum mb_ser s) { return s == MB_SER_MSGPACK ? mb_mp_next : mb_cbor_next; }
static const struct mb_bin_writer *writer_of(enum mb_ser s)
{
    return s == MB_SER_MSGPACK ? &mb_mp_writer : &mb_cbor_writer;
}

/* ---- base64 (RFC 4648, standard alphabet): binary's JSON form ---- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
         : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Encoding in pieces (CBOR chunks): up to 2 bytes wait for the next piece. */
struct b64 {
    unsigned char carry[2];
    size_t nc;
};

static void b64_quad(char *o, const unsigned char *q, size_t n)
{
    uint32_t v = (uint32_t)q[0] << 16 | (n > 1 ? (uint32_t)q[1] << 8 : 0) | (n > 2 ? q[2] : 0);
    o[0] = b64_alphabet[v >> 18];
    o[1] = b64_alphabet[(v >> 12) & 63];
    o[2] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
    o[3] = n > 2 ? b64_alphabet[v & 63] : '=';
}

static int b64_feed(struct mb_buf *b, struct b64 *st, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (n / 3 > (SIZE_MAX - 8) / 4)
        return -1;
    char *o = mb_buf_reserve(b, (n / 3 + 1) * 4 + 4), *o0 = o;
    if (!o)
        return -1;
    while (st->nc && st->nc < 3 && p < end) {
        if (st->nc == 2) {
            unsigned char q[3] = { st->carry[0], st->carry[1], *p++ };
            b64_quad(o, q, 3);
            o += 4;
            st->nc = 0;
        } else
            st->carry[st->nc++] = *p++;
    }
    for (; end - p >= 3; p += 3, o += 4)
        b64_quad(o, p, 3);
    while (p < end)
        st->carry[st->nc++] = *p++;
    mb_buf_commit(b, (size_t)(o - o0));
    return 0;
}

static int b64_finish(struct mb_buf *b, struct b64 *st)
{
    if (!st->nc)
        return 0;
    char o[4];
    unsigned char q[3] = { st->carry[0], st->nc > 1 ? st->carry[1] : 0, 0 };
    b64_quad(o, q, st->nc);
    st->nc = 0;
    return mb_buf_append(b, o, 4);
}

/* The length of the bytes that s (the text after binary's NUL) is the base64 of, or -1 when it
 * is not canonical base64: padded or not, but no stray '=', no length of 4k+1, and zero unused
 * bits in the last character (so that binary → JSON → binary → JSON gives the same text). */
static ptrdiff_t b64_decoded_len(const char *s, size_t n)
{
    size_t m = n;
    if (n % 4 == 0 && n && s[n - 1] == '=')
        m -= n >= 2 && s[n - 2] == '=' ? 2 : 1;
    if (m % 4 == 1 || m > (size_t)PTRDIFF_MAX)
        return -1;
    for (size_t i = 0; i < m; i++)
        if (b64_value((unsigned char)s[i]) < 0)
            return -1;
    if (m % 4 == 2 && (b64_value((unsigned char)s[m - 1]) & 0x0f))
        return -1;
    if (m % 4 == 3 && (b64_value((unsigned char)s[m - 1]) & 0x03))
        return -1;
    return (ptrdiff_t)(m / 4 * 3 + (m % 4 == 2 ? 1 : m % 4 == 3 ? 2 : 0));
}

/* Decodes s (checked by b64_decoded_len) into o. */
static void b64_decode(char *o, const char *s, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        acc = acc << 6 | (uint32_t)b64_value((unsigned char)s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (char)(acc >> bits);
        }
    }
}

/* ---- strings in pieces: one for a definite string, the chunks of an indefinite one ---- */

struct pieces {
    const struct mb_tok *t;
    const char *at; /* indefinite: the next chunk's head */
    bool done;
};

static bool piece(struct pieces *it, const char **d, size_t *n)
{
    if (it->done)
        return false;
    if (!it->t->indef) {
        it->done = true;
        *d = it->t->s;
        *n = it->t->n;
        return true;
    }
    if (!it->at)
        it->at = it->t->s;
    it->at = mb_cbor_chunk(it->at, d, n);
    it->done = !it->at;
    return !it->done;
}

/* Writes a string token in JSON: text escaped as mb_json_put_str, binary as "\u0000" + base64. */
static int json_put_tok_str(struct mb_buf *b, const struct mb_tok *t)
{
    struct pieces it = { t, NULL, false };
    const char *d;
    size_t n;
    int err = 0;
    if (t->kind == MB_T_STR) {
        if (!t->indef)
            return mb_json_put_str(b, t->s, t->n);
        err = mb_buf_append(b, "\"", 1);
        while (!err && piece(&it, &d, &n))
            err = mb_json_put_chars(b, d, n);
    } else {
        struct b64 st = { { 0, 0 }, 0 };
        err = mb_buf_append(b, "\"\\u0000", 7);
        while (!err && piece(&it, &d, &n))
            err = b64_feed(b, &st, d, n);
        err = err || b64_finish(b, &st);
    }
    return err || mb_buf_append(b, "\"", 1) ? -1 : 0;
}

/* A string token's json_t form (binary: NUL + base64); NULL when out of memory. */
static json_t *json_of_tok_str(const struct mb_tok *t)
{
    if (t->kind == MB_T_STR && !t->indef)
        return json_stringn_nocheck(t->s, t->n);
    struct mb_buf tmp = { 0 };
    struct pieces it = { t, NULL, false };
    const char *d;
    size_t n;
    int err = 0;
    if (t->kind == MB_T_STR) {
        err = mb_buf_reserve(&tmp, t->n + 1) ? 0 : -1; /* never empty: mem must exist */
        while (!err && piece(&it, &d, &n))
            err = mb_buf_append(&tmp, d, n);
    } else {
        struct b64 st = { { 0, 0 }, 0 };
        err = mb_buf_append(&tmp, "", 1);
        while (!err && piece(&it, &d, &n))
            err = b64_feed(&tmp, &st, d, n);
        err = err || b64_finish(&tmp, &st);
    }
    json_t *j = err ? NULL : json_stringn_nocheck(mb_buf_data(&tmp), tmp.len);
    mb_buf_free(&tmp);
    return j;
}

/* ---- decoding MessagePack and CBOR to json_t (recursive, depth-bounded) ---- */

struct rd {
    mb_next_fn next;
    const char *p, *end;
    int err;
    const char *at; /* where the error is */
};

static bool rd_fail(struct rd *r, int err, const char *at)
{
    r->err = err;
    r->at = at;
    return false;
}

/* Reads a token; false with the error recorded. */
static bool rd_next(struct rd *r, struct mb_tok *t)
{
    const char *at = r->p;
    int e = r->next(&r->p, r->end, t);
    return e == MB_E_OK || rd_fail(r, e, at);
}

/* An indefinite container's end: its break (consumed). */
static bool rd_break(struct rd *r)
{
    if (r->p < r->end && (unsigned char)*r->p == 0xff) {
        r->p++;
        return true;
    }
    return false;
}

static json_t *dec(struct rd *r, int depth);

static json_t *dec_container(struct rd *r, const struct mb_tok *c, int depth)
{
    bool map = c->kind == MB_T_MAP;
    json_t *v = map ? json_object() : json_array();
    if (!v) {
        rd_fail(r, MB_E_NOMEM, r->p);
        return NULL;
    }
    for (uint64_t i = 0; c->indef ? !rd_break(r) : i < c->u; i++) {
        struct mb_tok k;
        json_t *key = NULL;
        if (map) {
            const char *at = r->p;
            if (!rd_next(r, &k))
                goto fail;
            if (k.kind != MB_T_STR) {
                rd_fail(r, k.kind == MB_T_BREAK ? MB_E_BREAK : MB_E_KEY, at);
                goto fail;
            }
            if (k.indef && !(key = json_of_tok_str(&k))) {
                rd_fail(r, MB_E_NOMEM, at);
                goto fail;
            }
            /* a dict entry whose value is undefined is absent, as JSON.stringify has it:
             * wampy sends every option it was not given as undefined */
            const char *vat = r->p;
            struct mb_tok u;
            if (rd_next(r, &u) && u.kind == MB_T_NULL && u.undef) {
                json_decref(key);
                continue;
            }
            r->p = vat;
            r->err = 0;
        }
        json_t *item = dec(r, depth + 1);
        if (!item) {
            json_decref(key);
            goto fail;
        }
        int e = !map ? json_array_append_new(v, item)
              : key ? json_object_setn_new_nocheck(v, json_string_value(key), json_string_length(key), item)
                    : json_object_setn_new_nocheck(v, k.s, k.n, item);
        json_decref(key);
        if (e) {
            rd_fail(r, MB_E_NOMEM, r->p);
            goto fail;
        }
    }
    return v;
fail:
    json_decref(v);
    return NULL;
}

static json_t *dec(struct rd *r, int depth)
{
    struct mb_tok t;
    const char *at = r->p;
    json_t *v = NULL;
    if (!rd_next(r, &t))
        return NULL;
    switch (t.kind) {
    case MB_T_NULL: return json_null();
    case MB_T_FALSE: return json_false();
    case MB_T_TRUE: return json_true();
    case MB_T_UINT: /* jansson has no unsigned integers: above INT64_MAX, a real */
        v = t.u <= (uint64_t)INT64_MAX ? json_integer((json_int_t)t.u) : json_real((double)t.u);
        break;
    case MB_T_NINT: v = json_integer((json_int_t)t.i); break;
    case MB_T_REAL:
        if (!isfinite(t.d)) {
            rd_fail(r, MB_E_NONFINITE, at);
            return NULL;
        }
        v = json_real(t.d);
        break;
    case MB_T_STR:
    case MB_T_BIN: v = json_of_tok_str(&t); break;
    case MB_T_ARRAY:
    case MB_T_MAP:
        if (depth == MB_CODEC_MAX_DEPTH) {
            rd_fail(r, MB_E_DEPTH, at);
            return NULL;
        }
        return dec_container(r, &t, depth);
    case MB_T_BREAK: rd_fail(r, MB_E_BREAK, at); return NULL;
    }
    if (!v)
        rd_fail(r, MB_E_NOMEM, at);
    return v;
}

static const char *err_text(int e)
{
    switch (e) {
    case MB_E_TRUNC: return "truncated value";
    case MB_E_BYTE: return "reserved or unsupported initial byte";
    case MB_E_UTF8: return "invalid UTF-8 in a string";
    case MB_E_INT: return "integer below -2^63";
    case MB_E_CHUNK: return "invalid chunk in an indefinite-length string";
    case MB_E_BREAK: return "unexpected break";
    case MB_E_KEY: return "map key that is not a string";
    case MB_E_DEPTH: return "nesting deeper than 64";
    case MB_E_TRAILING: return "bytes after the value";
    case MB_E_NONFINITE: return "NaN or infinity (not representable)";
    default: return "out of memory";
    }
}

json_t *mb_codec_decode(enum mb_ser s, const char *p, size_t len, char *err, size_t errlen)
{
    if (s == MB_SER_JSON) {
        json_error_t je;
        json_t *v = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!v && err && errlen)
            snprintf(err, errlen, "JSON: %s at byte %d", je.text, je.position);
        return v;
    }
    if (!is_bin(s)) {
        if (err && errlen)
            snprintf(err, errlen, "unknown serializer %d", (int)s);
        return NULL;
    }
    struct rd r = { next_of(s), p, p + len, 0, p };
    json_t *v = dec(&r, 0);
    if (v && r.p != r.end) {
        json_decref(v);
        v = NULL;
        rd_fail(&r, MB_E_TRAILING, r.p);
    }
    if (!v && err && errlen)
        snprintf(err, errlen, "%s: %s at byte %zu", ser_title(s), err_text(r.err), (size_t)(r.at - p));
    return v;
}

/* ---- encoding json_t to MessagePack or CBOR ---- */

static int enc(const struct mb_bin_writer *w, struct mb_buf *b, const json_t *cv, int depth)
{
    json_t *v = (json_t *)cv; /* jansson's getters take non-const */
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *val;
        if (depth == MB_CODEC_MAX_DEPTH || w->head(b, MB_T_MAP, json_object_size(v)))
            return -1;
        json_object_keylen_foreach(v, key, klen, val) {
            if (!mb_utf8_valid(key, klen) || w->head(b, MB_T_STR, klen) || mb_buf_append(b, key, klen) ||
                enc(w, b, val, depth + 1))
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (depth == MB_CODEC_MAX_DEPTH || w->head(b, MB_T_ARRAY, n))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (enc(w, b, json_array_get(v, i), depth + 1))
                return -1;
        return 0;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        ptrdiff_t bn;
        if (n && s[0] == '\0' && (bn = b64_decoded_len(s + 1, n - 1)) >= 0) {
            char *o;
            if (w->head(b, MB_T_BIN, (uint64_t)bn) || !(o = mb_buf_reserve(b, (size_t)bn)))
                return -1;
            b64_decode(o, s + 1, n - 1);
            mb_buf_commit(b, (size_t)bn);
            return 0;
        }
        /* what a reader would refuse is not written */
        if (!mb_utf8_valid(s, n))
            return -1;
        return w->head(b, MB_T_STR, n) || mb_buf_append(b, s, n) ? -1 : 0;
    }
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        return i >= 0 ? w->uint(b, (uint64_t)i) : w->nint(b, (int64_t)i);
    }
    case JSON_REAL: return w->real(b, json_real_value(v));
    case JSON_TRUE: return w->simple(b, MB_T_TRUE);
    case JSON_FALSE: return w->simple(b, MB_T_FALSE);
    case JSON_NULL: return w->simple(b, MB_T_NULL);
    }
    return -1;
}

int mb_codec_encode(enum mb_ser s, struct mb_buf *b, const json_t *v)
{
    size_t len0 = b->len;
    int e = s == MB_SER_JSON ? mb_json_dump(b, v) : is_bin(s) ? enc(writer_of(s), b, v, 0) : -1;
    if (e)
        b->len = len0; /* nothing half-written */
    return e ? -1 : 0;
}

/* ---- transcoding from MessagePack or CBOR, one pass, no json_t ---- */

struct tc {
    struct rd r;
    const struct mb_bin_writer *w; /* NULL: JSON */
    struct mb_buf *b;
};

/* Items of the indefinite container at p (pairs for a map): binary heads need the count. */
static int count_indef(const char *p, const char *end, bool map, uint64_t *out)
{
    uint64_t k = 0;
    while (p < end && (unsigned char)*p != 0xff) {
        if (!(p = mb_cbor_skip(p, end)))
            return -1;
        k++;
    }
    if (p >= end || (map && k % 2))
        return -1;
    *out = map ? k / 2 : k;
    return 0;
}

/* Entries of the map whose entries start at r->p (n of them, or up to its break) whose value is
 * not undefined: a binary head announces what is written. r is left where it was. */
static int count_defined(const struct rd *r, bool indef, uint64_t n, uint64_t *out)
{
    struct rd q = *r;
    uint64_t kept = 0;
    for (uint64_t i = 0; indef ? (q.p < q.end && (unsigned char)*q.p != 0xff) : i < n; i++) {
        const char *v;
        struct mb_tok k, u;
        if (q.next(&q.p, q.end, &k) != MB_E_OK || k.kind != MB_T_STR)
            return -1;
        v = q.p;
        if (q.next(&q.p, q.end, &u) != MB_E_OK)
            return -1;
        if (u.kind == MB_T_NULL && u.undef)
            continue;
        const char *after = q.next == mb_mp_next ? mb_mp_skip(v, q.end) : mb_cbor_skip(v, q.end);
        if (!after)
            return -1;
        q.p = after;
        kept++;
    }
    *out = kept;
    return 0;
}

static int tc_str(struct tc *c, const struct mb_tok *t)
{
    if (!c->w)
        return json_put_tok_str(c->b, t);
    if (c->w->head(c->b, t->kind, t->n))
        return -1;
    struct pieces it = { t, NULL, false };
    const char *d;
    size_t n;
    while (piece(&it, &d, &n))
        if (mb_buf_append(c->b, d, n))
            return -1;
    return 0;
}

static int tc_value(struct tc *c, int depth)
{
    struct mb_tok t;
    struct mb_buf *b = c->b;
    const struct mb_bin_writer *w = c->w;
    if (!rd_next(&c->r, &t))
        return -1;
    switch (t.kind) {
    case MB_T_NULL: return w ? w->simple(b, t.kind) : mb_buf_append(b, "null", 4);
    case MB_T_FALSE: return w ? w->simple(b, t.kind) : mb_buf_append(b, "false", 5);
    case MB_T_TRUE: return w ? w->simple(b, t.kind) : mb_buf_append(b, "true", 4);
    case MB_T_UINT: return w ? w->uint(b, t.u) : mb_json_put_u64(b, t.u);
    case MB_T_NINT: return w ? w->nint(b, t.i) : mb_json_put_i64(b, t.i);
    case MB_T_REAL: return w ? w->real(b, t.d) : mb_json_put_real(b, t.d);
    case MB_T_STR:
    case MB_T_BIN: return tc_str(c, &t);
    case MB_T_BREAK: return -1;
    case MB_T_ARRAY:
    case MB_T_MAP: break;
    }
    bool map = t.kind == MB_T_MAP;
    uint64_t n = t.u;
    if (depth == MB_CODEC_MAX_DEPTH)
        return -1;
    if (w) {
        if (t.indef && count_indef(c->r.p, c->r.end, map, &n))
            return -1;
        uint64_t kept = n;
        if (map && count_defined(&c->r, t.indef, n, &kept))
            return -1;
        if (w->head(b, t.kind, kept))
            return -1;
    } else if (mb_buf_append(b, map ? "{" : "[", 1))
        return -1;
    uint64_t written = 0;
    for (uint64_t i = 0; t.indef ? !rd_break(&c->r) : i < n; i++) {
        struct mb_tok k;
        if (map) {
            if (!rd_next(&c->r, &k) || k.kind != MB_T_STR)
                return -1;
            /* an entry whose value is undefined is absent (as mb_codec_decode has it) */
            const char *at = c->r.p;
            struct mb_tok u;
            if (rd_next(&c->r, &u) && u.kind == MB_T_NULL && u.undef)
                continue;
            c->r.p = at;
            c->r.err = 0;
        }
        if (!w && written && mb_buf_append(b, ",", 1))
            return -1;
        if (map && (tc_str(c, &k) || (!w && mb_buf_append(b, ":", 1))))
            return -1;
        if (tc_value(c, depth + 1))
            return -1;
        written++;
    }
    return w ? 0 : mb_buf_append(b, map ? "}" : "]", 1);
}

int mb_codec_transcode(struct mb_buf *b, enum mb_ser to, enum mb_ser from, const char *p, size_t len)
{
    const char *end = p + len;
    size_t len0 = b->len;
    int e = -1;
    if (!is_bin(to) && to != MB_SER_JSON)
        return -1;
    if (from == to) {
        /* validated, then copied; JSON may end in whitespace */
        const char *q = mb_codec_skip(from, p, end);
        if (q && (from == MB_SER_JSON ? mb_json_ws(q, end) : q) == end)
            e = mb_buf_append(b, p, len);
    } else if (from == MB_SER_JSON) {
        /* through jansson: JSON numbers and escapes need its parser */
        json_t *v = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (v)
            e = enc(writer_of(to), b, v, 0);
        json_decref(v);
    } else if (is_bin(from)) {
        struct tc c = { { next_of(from), p, end, 0, p }, is_bin(to) ? writer_of(to) : NULL, b };
        e = tc_value(&c, 0);
        if (!e && c.r.p != end)
            e = -1;
    }
    if (e)
        b->len = len0;
    return e ? -1 : 0;
}

/* ---- skipping ---- */

const char *mb_codec_skip(enum mb_ser s, const char *p, const char *end)
{
    switch (s) {
    case MB_SER_MSGPACK: return mb_mp_skip(p, end);
    case MB_SER_CBOR: return mb_cbor_skip(p, end);
    case MB_SER_JSON: {
        const char *q = mb_json_skip(p, end);
        if (q || p >= end || mb_json_ws(p, 1 + p) != p || end - p > INT_MAX)
            return q;
        /* what the skipper leaves to jansson (\u escapes in keys, big numbers, deep nesting):
         * jansson parses one value and tells where it stopped */
        json_error_t je;
        json_t *v = json_loadb(p, (size_t)(end - p), JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK, &je);
        if (!v)
            return NULL;
        json_decref(v);
        return p + je.position;
    }
    }
    return NULL;
}

/* ---- message heads ---- */

int mb_codec_put_array(enum mb_ser s, struct mb_buf *b, size_t n)
{
    return is_bin(s) ? writer_of(s)->head(b, MB_T_ARRAY, n) : -1;
}

int mb_codec_put_map(enum mb_ser s, struct mb_buf *b, size_t n)
{
    return is_bin(s) ? writer_of(s)->head(b, MB_T_MAP, n) : -1;
}

int mb_codec_put_uint(enum mb_ser s, struct mb_buf *b, uint64_t v)
{
    return is_bin(s) ? writer_of(s)->uint(b, v) : s == MB_SER_JSON ? mb_json_put_u64(b, v) : -1;
}

int mb_codec_put_str(enum mb_ser s, struct mb_buf *b, const char *p, size_t n)
{
    if (s == MB_SER_JSON)
        return mb_json_put_str(b, p, n);
    if (!is_bin(s))
        return -1;
    size_t len0 = b->len;
    if (writer_of(s)->head(b, MB_T_STR, n) || mb_buf_append(b, p, n)) {
        b->len = len0;
        return -1;
    }
    return 0;
}

/* ---- the fast path ---- */

/* The value at *p, of kind want, validated whole: its bytes in raw/len and *p past it. */
static bool scan_value(mb_next_fn next, const char **p, const char *end, enum mb_tok_kind want,
                       const char **raw, size_t *len)
{
    struct mb_tok t;
    const char *q = *p;
    if (next(&q, end, &t) != MB_E_OK || t.kind != want)
        return false;
    if (!(q = next == mb_mp_next ? mb_mp_skip(*p, end) : mb_cbor_skip(*p, end)))
        return false;
    *raw = *p;
    *len = (size_t)(q - *p);
    *p = q;
    return true;
}

static int scan_bin(enum mb_ser s, const char *data, size_t len, struct mb_msg *m)
{
    const char *p = data, *end = data + len;
    struct mb_tok t;
    mb_next_fn next = next_of(s);
    /* [type, request, ...]: an indefinite outer array takes the slow path */
    if (next(&p, end, &t) != MB_E_OK || t.kind != MB_T_ARRAY || t.indef)
        return 0;
    uint64_t n = t.u, fixed;
    if (next(&p, end, &t) != MB_E_OK || t.kind != MB_T_UINT)
        return 0;
    if (t.u == MB_CALL || t.u == MB_PUBLISH)
        fixed = 4;
    else if (t.u == MB_YIELD)
        fixed = 3;
    else
        return 0;
    if (n < fixed || n > fixed + 2)
        return 0;
    m->type = (int)t.u;
    if (next(&p, end, &t) != MB_E_OK || t.kind != MB_T_UINT || t.u < 1 || t.u > MB_ID_MAX)
        return 0;
    m->request = t.u;
    if (!scan_value(next, &p, end, MB_T_MAP, &m->dict_raw, &m->dict_len))
        return 0;
    if (m->type != MB_YIELD) {
        /* a chunked URI has no contiguous bytes: the slow path */
        if (next(&p, end, &t) != MB_E_OK || t.kind != MB_T_STR || t.indef)
            return 0;
        m->uri = t.s;
        m->uri_len = t.n;
    }
    m->tail = p;
    if (n > fixed && !scan_value(next, &p, end, MB_T_ARRAY, &m->args_raw, &m->args_len))
        return 0;
    if (n > fixed + 1 && !scan_value(next, &p, end, MB_T_MAP, &m->kwargs_raw, &m->kwargs_len))
        return 0;
    if (p != end)
        return 0;
    m->tail_len = (size_t)(p - m->tail);
    m->tail_n = (unsigned)(n - fixed);
    m->ser = s;
    return 1;
}

int mb_msg_scan_bin(enum mb_ser s, const char *data, size_t len, struct mb_msg *m)
{
    *m = (struct mb_msg){ 0 };
    if (is_bin(s) && scan_bin(s, data, len, m))
        return 1;
    *m = (struct mb_msg){ 0 }; /* nothing half-filled for the slow path */
    return 0;
}
