/* CBOR (RFC 8949): the token reader, the skipper and the head writers. An argument of up to
 * 2^64-1 is only ever compared with the bytes left (end - p), never added to a pointer first,
 * so a huge declared length is a truncation, not an overflow. */
#include "codec_int.h"

#include <math.h>
#include <string.h>

static inline uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* binary16 → binary64, exact: subnormals (exponent 0), infinities and NaN (exponent 31) too. */
static double half(unsigned h)
{
    unsigned ex = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (ex == 0)
        v = ldexp((double)mant, -24);
    else if (ex == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp((double)(mant | 0x400), (int)ex - 25);
    return h & 0x8000 ? -v : v;
}

/* The initial byte's argument (ai < 28), or MB_E_TRUNC. *p past the initial byte. */
static inline int arg(const unsigned char **p, const unsigned char *end, unsigned ai, uint64_t *out)
{
    if (ai < 24) {
        *out = ai;
        return MB_E_OK;
    }
    int w = 1 << (ai - 24);
    if (end - *p < w)
        return MB_E_TRUNC;
    *out = be(*p, w);
    *p += w;
    return MB_E_OK;
}

static inline __attribute__((always_inline)) int next(const char **pp, const char *e, struct mb_tok *t)
{
    const unsigned char *p = (const unsigned char *)*pp, *end = (const unsigned char *)e;
    bool tagged = false;
    uint64_t v;
    int err;
    t->indef = false;
again:
    if (p >= end)
        return MB_E_TRUNC;
    unsigned ib = *p++, major = ib >> 5, ai = ib & 0x1f;
    if (ai >= 28 && ai <= 30)
        return MB_E_BYTE; /* reserved */
    if (ai == 31) {
        switch (major) {
        case 2:
        case 3: {
            /* chunks: definite strings of the same major type, then a break */
            const unsigned char *first = p;
            size_t total = 0;
            for (;;) {
                if (p >= end)
                    return MB_E_TRUNC;
                unsigned cb = *p++;
                if (cb == 0xff)
                    break;
                if (cb >> 5 != major || (cb & 0x1f) == 31)
                    return MB_E_CHUNK;
                if ((cb & 0x1f) >= 28)
                    return MB_E_BYTE;
                if ((err = arg(&p, end, cb & 0x1f, &v)) != MB_E_OK)
                    return err;
                if (v > (uint64_t)(end - p))
                    return MB_E_TRUNC;
                /* RFC 8949 3.2.3: a chunk is a whole text string, so each is valid alone */
                if (major == 3 && !mb_utf8_valid((const char *)p, (size_t)v))
                    return MB_E_UTF8;
                p += v;
                total += (size_t)v;
            }
            t->kind = major == 3 ? MB_T_STR : MB_T_BIN;
            t->indef = true;
            t->s = (const char *)first;
            t->n = total;
            goto done;
        }
        case 4:
        case 5:
            t->kind = major == 5 ? MB_T_MAP : MB_T_ARRAY;
            t->indef = true;
            t->u = 0;
            goto done;
        case 7:
            if (tagged)
                return MB_E_BREAK;
            t->kind = MB_T_BREAK;
            goto done;
        default:
            return MB_E_BYTE;
        }
    }
    if (major == 7) {
        switch (ai) {
        case 20: t->kind = MB_T_FALSE; goto done;
        case 21: t->kind = MB_T_TRUE; goto done;
        case 22: t->kind = MB_T_NULL; goto done;
        case 23: t->kind = MB_T_NULL; t->undef = true; goto done; /* undefined: outside the model */
        case 25: case 26: case 27: {
            int w = 1 << (ai - 24);
            if (end - p < w)
                return MB_E_TRUNC;
            uint64_t u = be(p, w);
            p += w;
            t->kind = MB_T_REAL;
            if (w == 2)
                t->d = half((unsigned)u);
            else if (w == 4) {
                uint32_t u32 = (uint32_t)u;
                float f;
                memcpy(&f, &u32, 4);
                t->d = f;
            } else {
                union { uint64_t u; double d; } bits = { .u = u };
                t->d = bits.d;
            }
            goto done;
        }
        default: return MB_E_BYTE; /* other simple values: outside the model */
        }
    }
    if ((err = arg(&p, end, ai, &v)) != MB_E_OK)
        return err;
    size_t left = (size_t)(end - p);
    switch (major) {
    case 0:
        t->kind = MB_T_UINT;
        t->u = v;
        goto done;
    case 1:
        if (v > (uint64_t)INT64_MAX)
            return MB_E_INT;
        t->kind = MB_T_NINT;
        t->i = -1 - (int64_t)v;
        goto done;
    case 2:
    case 3:
        if (v > left)
            return MB_E_TRUNC;
        if (major == 3 && !mb_utf8_valid((const char *)p, (size_t)v))
            return MB_E_UTF8;
        t->kind = major == 3 ? MB_T_STR : MB_T_BIN;
        t->s = (const char *)p;
        t->n = (size_t)v;
        p += v;
        goto done;
    case 4:
    case 5:
        /* every item takes a byte at least, a pair two */
        if (v > (major == 5 ? left / 2 : left))
            return MB_E_TRUNC;
        t->kind = major == 5 ? MB_T_MAP : MB_T_ARRAY;
        t->u = v;
        goto done;
    default: /* 6: a tag, whose number the model ignores: the item is its content */
        tagged = true;
        goto again;
    }
done:
    *pp = (const char *)p;
    return MB_E_OK;
}

int mb_cbor_next(const char **p, const char *end, struct mb_tok *t)
{
    t->undef = false;
    return next(p, end, t);
}

const char *mb_cbor_skip(const char *p, const char *end)
{
    int err;
    const char *at;
    return mb_skip_value(p, end, next, &err, &at);
}

const char *mb_cbor_chunk(const char *s, const char **data, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned ib = *p++;
    if (ib == 0xff)
        return NULL;
    uint64_t v = 0;
    arg(&p, p + 8, ib & 0x1f, &v); /* validated by next(): the head and the bytes are there */
    *data = (const char *)p;
    *n = (size_t)v;
    return (const char *)p + v;
}

/* Writers: shortest heads, reals as binary64, definite lengths only. */

static int put_head(struct mb_buf *b, unsigned major, uint64_t v)
{
    char *o = mb_buf_reserve(b, 9);
    if (!o)
        return -1;
    int w = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffff ? 4 : 8;
    o[0] = (char)(major << 5 | (w == 0 ? (unsigned)v : w == 1 ? 24u : w == 2 ? 25u : w == 4 ? 26u : 27u));
    for (int i = 0; i < w; i++)
        o[1 + i] = (char)(v >> (8 * (w - 1 - i)));
    mb_buf_commit(b, (size_t)w + 1);
    return 0;
}

static int cb_simple(struct mb_buf *b, enum mb_tok_kind k)
{
    char c = (char)(k == MB_T_TRUE ? 0xf5 : k == MB_T_FALSE ? 0xf4 : 0xf6);
    return mb_buf_append(b, &c, 1);
}

static int cb_uint(struct mb_buf *b, uint64_t v) { return put_head(b, 0, v); }

/* -1 - v without overflow at INT64_MIN */
static int cb_nint(struct mb_buf *b, int64_t v) { return put_head(b, 1, (uint64_t)(-(v + 1))); }

static int cb_real(struct mb_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    char *o = mb_buf_reserve(b, 9);
    if (!o)
        return -1;
    o[0] = (char)0xfb;
    for (int i = 0; i < 8; i++)
        o[1 + i] = (char)(u >> (8 * (7 - i)));
    mb_buf_commit(b, 9);
    return 0;
}

static int cb_head(struct mb_buf *b, enum mb_tok_kind k, uint64_t n)
{
    switch (k) {
    case MB_T_BIN: return put_head(b, 2, n);
    case MB_T_STR: return put_head(b, 3, n);
    case MB_T_ARRAY: return put_head(b, 4, n);
    case MB_T_MAP: return put_head(b, 5, n);
    default: return -1;
    }
}

const struct mb_bin_writer mb_cbor_writer = { cb_simple, cb_uint, cb_nint, cb_real, cb_head };
