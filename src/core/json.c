/* Validating JSON skipper and hot-path writers (see mb_json.h for what the skipper accepts). */
#include "mb_json.h"
#include "mb_utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64

const char *mb_json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hex_value(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* escapes: 0 none (URIs: their bytes are their value), 1 the short ones (keys: jansson refuses
 * a key holding U+0000), 2 also \uXXXX outside the surrogates (string values: jansson takes
 * them with JSON_ALLOW_NUL; binary values, "\u0000" + base64, pass through undecoded). */
static const char *skip_string(const char *s, const char *e, int escapes)
{
    const unsigned char *p = (const unsigned char *)s + 1, *end = (const unsigned char *)e;
    while (p < end) {
        unsigned char c = *p;
        if (c == '"')
            return (const char *)p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (escapes == 2 && p + 5 < end && p[1] == 'u') {
                int h[4] = { hex_value(p[2]), hex_value(p[3]), hex_value(p[4]), hex_value(p[5]) };
                if (h[0] < 0 || h[1] < 0 || h[2] < 0 || h[3] < 0)
                    return NULL;
                if (h[0] == 0xD && h[1] >= 8)
                    return NULL; /* a surrogate, paired or not, is left to jansson */
                p += 6;
                continue;
            }
            if (!escapes || p + 1 >= end || !strchr("\"\\/bfnrt", p[1]) || p[1] == 0)
                return NULL; /* \u in keys (and anything odd) is left to jansson */
            p += 2;
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = mb_utf8_seq(p, end);
            if (!n)
                return NULL;
            p += n;
        }
    }
    return NULL;
}

const char *mb_json_skip_plain_string(const char *p, const char *end)
{
    return p < end && *p == '"' ? skip_string(p, end, 0) : NULL;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *skip_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    const char *d = p;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && is_digit(*p))
            p++;
    else
        return NULL;
    size_t int_digits = (size_t)(p - d), exp_digits = 0;
    int real = 0;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *x = p;
        while (p < end && is_digit(*p))
            p++;
        exp_digits = (size_t)(p - x);
        if (!exp_digits)
            return NULL;
        real = 1;
    }
    /* what jansson could refuse as out of range is left to it */
    if (real ? int_digits > 200 || exp_digits > 2 : int_digits > 18)
        return NULL;
    return p;
}

static const char *skip_literal(const char *p, const char *end, const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

const char *mb_json_skip(const char *p, const char *end)
{
    char stack[MAX_DEPTH];
    int depth = 0;
value:
    if (p >= end)
        return NULL;
    switch (*p) {
    case '{':
    case '[':
        if (depth == MAX_DEPTH)
            return NULL;
        stack[depth++] = *p == '{' ? '}' : ']';
        p = mb_json_ws(p + 1, end);
        if (p < end && *p == stack[depth - 1]) {
            p++;
            depth--;
            goto after;
        }
        if (stack[depth - 1] == '}')
            goto key;
        goto value;
    case '"': p = skip_string(p, end, 2); break;
    case 't': p = skip_literal(p, end, "true", 4); break;
    case 'f': p = skip_literal(p, end, "false", 5); break;
    case 'n': p = skip_literal(p, end, "null", 4); break;
    default: p = skip_number(p, end); break;
    }
    if (!p)
        return NULL;
after:
    if (depth == 0)
        return p;
    p = mb_json_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == stack[depth - 1]) {
        p++;
        depth--;
        goto after;
    }
    if (*p != ',')
        return NULL;
    p = mb_json_ws(p + 1, end);
    if (stack[depth - 1] == ']')
        goto value;
key:
    if (p >= end || *p != '"' || !(p = skip_string(p, end, 1)))
        return NULL;
    p = mb_json_ws(p, end);
    if (p >= end || *p != ':')
        return NULL;
    p = mb_json_ws(p + 1, end);
    goto value;
}

int mb_json_put_u64(struct mb_buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return mb_buf_append(b, tmp + sizeof tmp - n, n);
}

/* Appends the escaped bytes of s; quote: with the surrounding quotes. */
static int put_chars(struct mb_buf *b, const char *s, size_t n, bool quote)
{
    /* worst case: every byte becomes \u00XX */
    if (n > (SIZE_MAX - 2) / 6)
        return -1;
    char *out = mb_buf_reserve(b, n * 6 + 2);
    if (!out)
        return -1;
    char *o = out;
    if (quote)
        *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = "0123456789ABCDEF"[c >> 4];
            *o++ = "0123456789ABCDEF"[c & 15];
        }
    }
    if (quote)
        *o++ = '"';
    mb_buf_commit(b, (size_t)(o - out));
    return 0;
}

int mb_json_put_str(struct mb_buf *b, const char *s, size_t n) { return put_chars(b, s, n, true); }

int mb_json_put_chars(struct mb_buf *b, const char *s, size_t n) { return put_chars(b, s, n, false); }

int mb_json_put_i64(struct mb_buf *b, int64_t v)
{
    if (v >= 0)
        return mb_json_put_u64(b, (uint64_t)v);
    return mb_buf_append(b, "-", 1) | mb_json_put_u64(b, (uint64_t)0 - (uint64_t)v);
}

/* jansson's real format: %.17g, a '.' or 'e' always present, no '+' nor leading zeros in the
 * exponent. */
int mb_json_put_real(struct mb_buf *b, double v)
{
    char tmp[40];
    if (!isfinite(v))
        return -1;
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof tmp - 3)
        return -1;
    size_t len = (size_t)n;
    for (size_t i = 0; i < len; i++)
        if (tmp[i] == ',') /* a locale's decimal comma */
            tmp[i] = '.';
    if (!memchr(tmp, '.', len) && !memchr(tmp, 'e', len)) {
        tmp[len++] = '.';
        tmp[len++] = '0';
    }
    char *e = memchr(tmp, 'e', len);
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (end < tmp + len && *end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(tmp + len - end));
            len -= (size_t)(end - start);
        }
    }
    return mb_buf_append(b, tmp, len);
}

int mb_json_dump(struct mb_buf *b, const json_t *v)
{
    json_t *jv = (json_t *)v; /* jansson's getters take non-const */
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *val;
        int err = mb_buf_append(b, "{", 1);
        bool first = true;
        json_object_keylen_foreach(jv, key, klen, val) {
            if (!first)
                err |= mb_buf_append(b, ",", 1);
            first = false;
            err |= mb_json_put_str(b, key, klen) | mb_buf_append(b, ":", 1) | mb_json_dump(b, val);
            if (err)
                return -1;
        }
        return err | mb_buf_append(b, "}", 1);
    }
    case JSON_ARRAY: {
        int err = mb_buf_append(b, "[", 1);
        size_t n = json_array_size(jv);
        for (size_t i = 0; i < n && !err; i++) {
            if (i)
                err |= mb_buf_append(b, ",", 1);
            err |= mb_json_dump(b, json_array_get(jv, i));
        }
        return err | mb_buf_append(b, "]", 1);
    }
    case JSON_STRING: return mb_json_put_str(b, json_string_value(jv), json_string_length(jv));
    case JSON_INTEGER: return mb_json_put_i64(b, json_integer_value(jv));
    case JSON_REAL: return mb_json_put_real(b, json_real_value(jv));
    case JSON_TRUE: return mb_buf_append(b, "true", 4);
    case JSON_FALSE: return mb_buf_append(b, "false", 5);
    case JSON_NULL: return mb_buf_append(b, "null", 4);
    }
    return -1;
}
