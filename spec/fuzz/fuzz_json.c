/* libFuzzer harness of the JSON message paths, differential: the fast path (mb_msg_scan, which
 * recognizes CALL, PUBLISH and YIELD straight from the bytes with mb_json's skipper) against
 * the slow path (jansson's json_loadb with JSON_ALLOW_NUL, then mb_msg_parse), exactly as
 * mb_session_receive uses them. Checks:
 *  - whatever mb_msg_scan accepts, jansson and mb_msg_parse accept with the same meaning: type,
 *    Request, URI bytes, Options (decoded from dict_raw as session.c does) equal to the tree's,
 *    Arguments / ArgumentsKw (mb_msg_payload) equal to the tree's, and the raw tail
 *    (",Arguments[,ArgumentsKw]", copied as is into INVOCATION / EVENT / RESULT) reads back as
 *    those same values when spliced into another message;
 *  - whatever mb_json_skip accepts as a value, jansson accepts (the skipper is a subset);
 *  - when the fast path refuses a CALL / PUBLISH / YIELD the slow path takes, the message
 *    written compactly (mb_json_dump) is taken by the fast path, unless it holds one of the
 *    forms mb_json.h leaves to jansson: an escape in the URI, a \u escape in a key, an integer
 *    of 19 digits or more, a real with a 3-digit exponent, nesting deeper than 64;
 *  - and (with the sanitizers) nothing reads past the input, leaks or overflows.
 * The input is the message itself; seeds in spec/fuzz/corpus/json. */
#include "fuzz_util.h"

#include "mb_buf.h"
#include "mb_json.h"
#include "mb_wamp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether v (at nesting level depth, 1 for the dict or list itself) holds a form the skipper
 * leaves to jansson even in mb_json_dump's compact output (see mb_json.h). */
static int left_to_jansson(json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth > 64)
            return 1;
        const char *k;
        size_t kl;
        json_t *x;
        json_object_keylen_foreach(v, k, kl, x) {
            for (size_t i = 0; i < kl; i++)
                if ((unsigned char)k[i] < 0x20 && !strchr("\b\f\n\r\t", k[i]))
                    return 1; /* written \u00XX: no \u escapes in keys */
            if (left_to_jansson(x, depth + 1))
                return 1;
        }
        return 0;
    }
    case JSON_ARRAY:
        if (depth > 64)
            return 1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (left_to_jansson(json_array_get(v, i), depth + 1))
                return 1;
        return 0;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        return i <= -1000000000000000000LL || i >= 1000000000000000000LL; /* 19 digits */
    }
    case JSON_REAL: {
        struct mb_buf b = { 0 };
        ASSERT(mb_json_put_real(&b, json_real_value(v)) == 0);
        const char *s = mb_buf_data(&b), *e = memchr(s, 'e', b.len);
        size_t exp = e ? b.len - (size_t)(e + 1 - s) - (e[1] == '-') : 0;
        mb_buf_free(&b);
        return exp > 2;
    }
    default: return 0;
    }
}

static int uri_plain(const struct mb_msg *m)
{
    for (size_t i = 0; i < m->uri_len; i++)
        if ((unsigned char)m->uri[i] < 0x20 || m->uri[i] == '"' || m->uri[i] == '\\')
            return 0;
    return 1;
}

static void check(const char *d, size_t n, int again);

/* The fast path accepted d: the slow path must agree, field by field. */
static void agree(const char *d, size_t n, struct mb_msg *f)
{
    char err[256];
    json_error_t je;
    json_t *root = json_loadb(d, n, JSON_ALLOW_NUL, &je);
    ASSERT(root);
    struct mb_msg s;
    ASSERT(mb_msg_parse(root, &s, err, sizeof err) == 0);
    ASSERT(f->type == s.type && f->request == s.request && f->id == s.id);
    ASSERT(f->type == MB_CALL || f->type == MB_PUBLISH || f->type == MB_YIELD);
    ASSERT(f->uri_len == s.uri_len && (!f->uri_len || memcmp(f->uri, s.uri, f->uri_len) == 0));
    ASSERT((f->type == MB_YIELD) == (f->uri == NULL));
    /* Options as the session decodes them (scanned_dict) */
    ASSERT(f->dict_raw >= d && f->dict_raw + f->dict_len <= d + n);
    json_t *dict = json_loadb(f->dict_raw, f->dict_len, JSON_ALLOW_NUL, NULL);
    ASSERT(json_is_object(dict) && fz_veq(dict, s.dict));
    json_decref(dict);
    /* the payload */
    ASSERT(f->tail >= d && f->tail + f->tail_len <= d + n);
    ASSERT(f->tail_n == (s.kwargs ? 2u : s.args ? 1u : 0u));
    ASSERT(mb_msg_payload(f) == 0);
    ASSERT(f->args ? fz_veq(f->args, s.args) : !s.args);
    ASSERT(f->kwargs ? fz_veq(f->kwargs, s.kwargs) : !s.kwargs);
    ASSERT(!f->args_raw || (f->args_raw >= f->tail && f->args_raw + f->args_len <= f->tail + f->tail_len));
    ASSERT(!f->kwargs_raw || (f->kwargs_raw >= f->tail && f->kwargs_raw + f->kwargs_len <= f->tail + f->tail_len));
    /* the tail spliced into an outgoing message (as the dealer and broker do) */
    struct mb_buf b = { 0 };
    ASSERT(mb_buf_append(&b, "[50,1,{}", 8) == 0 && mb_buf_append(&b, f->tail, f->tail_len) == 0 &&
           mb_buf_append(&b, "]", 1) == 0);
    json_t *out = json_loadb(mb_buf_data(&b), b.len, JSON_ALLOW_NUL, NULL);
    ASSERT(json_is_array(out) && json_array_size(out) == 3 + f->tail_n);
    ASSERT(!f->tail_n || fz_veq(json_array_get(out, 3), s.args));
    ASSERT(f->tail_n < 2 || fz_veq(json_array_get(out, 4), s.kwargs));
    json_decref(out);
    mb_buf_free(&b);
    mb_msg_release(f);
    json_decref(root);
}

/* The fast path refused d: say what the slow path does with it. */
static void refused(const char *d, size_t n, int again)
{
    char err[256];
    json_t *root = json_loadb(d, n, JSON_ALLOW_NUL, NULL);
    struct mb_msg s;
    if (!root)
        return; /* both refuse: the session aborts with jansson's error */
    if (mb_msg_parse(root, &s, err, sizeof err) == 0 && again &&
        (s.type == MB_CALL || s.type == MB_PUBLISH || s.type == MB_YIELD)) {
        /* a valid message the fast path left to jansson: its compact form must be taken
         * unless it holds one of the documented forms */
        struct mb_buf b = { 0 };
        ASSERT(mb_json_dump(&b, root) == 0);
        int documented = !uri_plain(&s) || left_to_jansson(s.dict, 1) ||
                         (s.args && left_to_jansson(s.args, 1)) || (s.kwargs && left_to_jansson(s.kwargs, 1));
        struct mb_msg f;
        int fast = mb_msg_scan(mb_buf_data(&b), b.len, &f);
        if (!documented && !fast) {
            fprintf(stderr, "fast path refuses %.*s\n", (int)(b.len > 2000 ? 2000 : b.len), mb_buf_data(&b));
            ASSERT(!"the fast path refuses a plain compact message");
        }
        check(mb_buf_data(&b), b.len, 0);
        mb_buf_free(&b);
    }
    json_decref(root);
}

static void check(const char *d, size_t n, int again)
{
    struct mb_msg f;
    if (mb_msg_scan(d, n, &f))
        agree(d, n, &f);
    else
        refused(d, n, again);
    /* the skipper alone: a subset of jansson */
    const char *q = mb_json_skip(d, d + n);
    ASSERT(!q || (q > d && q <= d + n));
    if (q) {
        json_t *v = json_loadb(d, (size_t)(q - d), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        ASSERT(v);
        json_decref(v);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    /* an exact-size copy: ASan sees any read past the end */
    char *d = malloc(size ? size : 1);
    if (size)
        memcpy(d, data, size);
    check(d, size, 1);
    free(d);
    return 0;
}
