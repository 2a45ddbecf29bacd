/* MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md): the token reader, the
 * skipper and the head writers. Every length is checked against the bytes left before it is
 * used, in size_t arithmetic that cannot overflow (a length is compared with end - p, never
 * added to p first). */
#include "codec_int.h"

#include <string.h>

static inline uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static inline double be_double(const unsigned char *p)
{
    uint64_t u = be(p, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline double be_float(const unsigned char *p)
{
    uint32_t u = (uint32_t)be(p, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The reader, inline so that the skipper below gets its own copy. */
static inline __attribute__((always_inline)) int next(const char **pp, const char *e, struct mb_tok *t)
{
    const unsigned char *p = (const unsigned char *)*pp, *end = (const unsigned char *)e;
    if (p >= end)
        return MB_E_TRUNC;
    unsigned c = *p++;
    size_t left = (size_t)(end - p), w, n; /* w: bytes of the length or value field */
    t->indef = false;
    if (c <= 0x7f) {
        t->kind = MB_T_UINT;
        t->u = c;
        goto done;
    }
    if (c >= 0xe0) {
        t->kind = MB_T_NINT;
        t->i = (int8_t)c;
        goto done;
    }
    if (c <= 0x8f) {
        n = c & 0x0f;
        t->kind = MB_T_MAP;
        goto container;
    }
    if (c <= 0x9f) {
        n = c & 0x0f;
        t->kind = MB_T_ARRAY;
        goto container;
    }
    if (c <= 0xbf) {
        n = c & 0x1f;
        t->kind = MB_T_STR;
        goto bytes;
    }
    switch (c) {
    case 0xc0: t->kind = MB_T_NULL; goto done;
    case 0xc2: t->kind = MB_T_FALSE; goto done;
    case 0xc3: t->kind = MB_T_TRUE; goto done;
    case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
        w = (size_t)1 << (c - 0xc4);
        t->kind = MB_T_BIN;
        goto sized;
    case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
        w = (size_t)1 << (c - 0xd9);
        t->kind = MB_T_STR;
        goto sized;
    case 0xdc: case 0xdd: /* array 16/32 */
    case 0xde: case 0xdf: /* map 16/32 */
        w = c & 1 ? 4 : 2;
        if (left < w)
            return MB_E_TRUNC;
        n = (size_t)be(p, (int)w);
        p += w;
        left -= w;
        t->kind = c >= 0xde ? MB_T_MAP : MB_T_ARRAY;
        goto container;
    case 0xca: case 0xcb: /* float 32/64 */
        w = c == 0xca ? 4 : 8;
        if (left < w)
            return MB_E_TRUNC;
        t->kind = MB_T_REAL;
        t->d = w == 4 ? be_float(p) : be_double(p);
        p += w;
        goto done;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: /* uint 8/16/32/64 */
        w = (size_t)1 << (c - 0xcc);
        if (left < w)
            return MB_E_TRUNC;
        t->kind = MB_T_UINT;
        t->u = be(p, (int)w);
        p += w;
        goto done;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: { /* int 8/16/32/64: sign-extended */
        w = (size_t)1 << (c - 0xd0);
        if (left < w)
            return MB_E_TRUNC;
        uint64_t u = be(p, (int)w);
        int64_t v = w == 1 ? (int8_t)u : w == 2 ? (int16_t)u : w == 4 ? (int32_t)u : (int64_t)u;
        p += w;
        if (v >= 0) {
            t->kind = MB_T_UINT;
            t->u = (uint64_t)v;
        } else {
            t->kind = MB_T_NINT;
            t->i = v;
        }
        goto done;
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16: type + data */
        n = (size_t)1 + ((size_t)1 << (c - 0xd4));
        if (left < n)
            return MB_E_TRUNC;
        p += n;
        t->kind = MB_T_NULL; /* outside the model: wampy's JS undefined */
        t->undef = true;
        goto done;
    case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, type, data */
        w = (size_t)1 << (c - 0xc7);
        if (left < w)
            return MB_E_TRUNC;
        n = (size_t)be(p, (int)w);
        p += w;
        left -= w;
        if (left < 1 || left - 1 < n)
            return MB_E_TRUNC;
        p += 1 + n;
        t->kind = MB_T_NULL;
        t->undef = true;
        goto done;
    default: /* 0xc1, never used */
        return MB_E_BYTE;
    }
sized:
    if (left < w)
        return MB_E_TRUNC;
    n = (size_t)be(p, (int)w);
    p += w;
    left -= w;
bytes:
    if (left < n)
        return MB_E_TRUNC;
    if (t->kind == MB_T_STR && !mb_utf8_valid((const char *)p, n))
        return MB_E_UTF8;
    t->s = (const char *)p;
    t->n = n;
    p += n;
    goto done;
container:
    /* every item takes a byte at least, a pair two */
    if (n > (t->kind == MB_T_MAP ? left / 2 : left))
        return MB_E_TRUNC;
    t->u = n;
done:
    *pp = (const char *)p;
    return MB_E_OK;
}

int mb_mp_next(const char **p, const char *end, struct mb_tok *t)
{
    t->undef = false;
    return next(p, end, t);
}

const char *mb_mp_skip(const char *p, const char *end)
{
    int err;
    const char *at;
    return mb_skip_value(p, end, next, &err, &at);
}

/* Writers: the smallest form of each integer and head. */

static int put1(struct mb_buf *b, unsigned c)
{
    char ch = (char)c;
    return mb_buf_append(b, &ch, 1);
}

/* c then v in w big-endian bytes */
static int put_be(struct mb_buf *b, unsigned c, uint64_t v, int w)
{
    char *o = mb_buf_reserve(b, (size_t)w + 1);
    if (!o)
        return -1;
    o[0] = (char)c;
    for (int i = 0; i < w; i++)
        o[1 + i] = (char)(v >> (8 * (w - 1 - i)));
    mb_buf_commit(b, (size_t)w + 1);
    return 0;
}

static int mp_simple(struct mb_buf *b, enum mb_tok_kind k)
{
    return put1(b, k == MB_T_TRUE ? 0xc3 : k == MB_T_FALSE ? 0xc2 : 0xc0);
}

static int mp_uint(struct mb_buf *b, uint64_t v)
{
    if (v <= 0x7f)
        return put1(b, (unsigned)v);
    if (v <= 0xff)
        return put_be(b, 0xcc, v, 1);
    if (v <= 0xffff)
        return put_be(b, 0xcd, v, 2);
    if (v <= 0xffffffff)
        return put_be(b, 0xce, v, 4);
    return put_be(b, 0xcf, v, 8);
}

static int mp_nint(struct mb_buf *b, int64_t v)
{
    if (v >= -32)
        return put1(b, (unsigned)(v & 0xff));
    if (v >= INT8_MIN)
        return put_be(b, 0xd0, (uint64_t)v, 1);
    if (v >= INT16_MIN)
        return put_be(b, 0xd1, (uint64_t)v, 2);
    if (v >= INT32_MIN)
        return put_be(b, 0xd2, (uint64_t)v, 4);
    return put_be(b, 0xd3, (uint64_t)v, 8);
}

static int mp_real(struct mb_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return put_be(b, 0xcb, u, 8);
}

static int mp_head(struct mb_buf *b, enum mb_tok_kind k, uint64_t n)
{
    if (n > 0xffffffff)
        return -1; /* MessagePack's lengths have 32 bits */
    switch (k) {
    case MB_T_STR:
        if (n <= 31)
            return put1(b, 0xa0 | (unsigned)n);
        return n <= 0xff ? put_be(b, 0xd9, n, 1) : n <= 0xffff ? put_be(b, 0xda, n, 2) : put_be(b, 0xdb, n, 4);
    case MB_T_BIN:
        return n <= 0xff ? put_be(b, 0xc4, n, 1) : n <= 0xffff ? put_be(b, 0xc5, n, 2) : put_be(b, 0xc6, n, 4);
    case MB_T_ARRAY:
        if (n <= 15)
            return put1(b, 0x90 | (unsigned)n);
        return n <= 0xffff ? put_be(b, 0xdc, n, 2) : put_be(b, 0xdd, n, 4);
    case MB_T_MAP:
        if (n <= 15)
            return put1(b, 0x80 | (unsigned)n);
        return n <= 0xffff ? put_be(b, 0xde, n, 2) : put_be(b, 0xdf, n, 4);
    default:
        return -1;
    }
}

const struct mb_bin_writer mb_mp_writer = { mp_simple, mp_uint, mp_nint, mp_real, mp_head };
