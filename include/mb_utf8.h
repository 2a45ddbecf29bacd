/* mb_utf8: the UTF-8 rules every reader of the hot path applies (the JSON skipper, the
 * MessagePack and CBOR readers, the HTTP bridge): the same as jansson's, so the fast paths never accept a string
 * the slow path would refuse. Pure, header-only. */
#ifndef MB_UTF8_H
#define MB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (first byte >= 0x80), or 0: no overlong forms, no
 * surrogates, nothing above U+10FFFF (jansson's rules). */
static inline size_t mb_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t n;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Whether [s, s+n) is valid UTF-8. ASCII, the common case, goes 8 bytes at a time. */
static inline bool mb_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if ((size_t)(end - p) >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!(w & 0x8080808080808080ULL)) {
                p += 8;
                continue;
            }
        }
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t k = mb_utf8_seq(p, end);
        if (!k)
            return false;
        p += k;
    }
    return true;
}

#endif
