/* The HTTP callee's URL rules (mb_http_url.h): pure string work, unit-tested in
 * spec/unit/test_http_url.c. */
#include "mb_http_url.h"
#include "mb_hex.h"
#include "mb_buf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool bad_byte(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

/* Length of "http://" or "https://" at the start of s (any case), or 0. */
static size_t scheme_len(const char *s)
{
    if (strncasecmp(s, "http://", 7) == 0)
        return 7;
    if (strncasecmp(s, "https://", 8) == 0)
        return 8;
    return 0;
}

int mb_http_url_check_base(const char *base, char *why, size_t whylen)
{
    size_t sl = base ? scheme_len(base) : 0;
    if (!sl) {
        snprintf(why, whylen, "baseurl must start with http:// or https://");
        return -1;
    }
    size_t host = strcspn(base + sl, "/");
    if (host == 0 || base[sl] == '@' || base[sl] == ':') {
        snprintf(why, whylen, "baseurl names no host");
        return -1;
    }
    for (const char *p = base; *p; p++) {
        if (bad_byte((unsigned char)*p) || *p == '\\') {
            snprintf(why, whylen, "baseurl contains a space, a control character or a backslash");
            return -1;
        }
        if (*p == '?' || *p == '#') {
            snprintf(why, whylen, "baseurl must not have a query or a fragment (the callee's params make the query)");
            return -1;
        }
    }
    return 0;
}

/* Whether the percent-decoded segment seg[0..n) is, or holds after its encoded slashes, a ".."
 * step. Decoding is repeated (up to 4 rounds) so that "%252e%252e" is caught for servers that
 * decode twice; a segment still holding escapes after 4 rounds (encoded 5 times over) is refused
 * as if it had one, rather than decoded on (each round costs its length). */
static bool dotdot_segment(const char *seg, size_t n)
{
    char buf[512];
    char *cur = NULL;
    size_t len = n;
    char *heap = NULL;
    if (n < sizeof buf) {
        memcpy(buf, seg, n);
        cur = buf;
    } else {
        heap = malloc(n);
        if (!heap)
            return true; /* refuse what cannot be checked */
        memcpy(heap, seg, n);
        cur = heap;
    }
    bool changed = false;
    for (int round = 0; round < 4; round++) {
        size_t o = 0;
        changed = false;
        for (size_t i = 0; i < len; i++) {
            int hi, lo;
            if (cur[i] == '%' && i + 2 < len && (hi = mb_hex_digit((unsigned char)cur[i + 1])) >= 0 &&
                (lo = mb_hex_digit((unsigned char)cur[i + 2])) >= 0) {
                cur[o++] = (char)(hi * 16 + lo);
                i += 2;
                changed = true;
            } else {
                cur[o++] = cur[i];
            }
        }
        len = o;
        if (!changed)
            break;
    }
    bool found = false;
    if (changed) { /* the 4th round still decoded: refuse if a 5th would find an escape */
        for (size_t i = 0; i + 2 < len && !found; i++)
            found = cur[i] == '%' && mb_hex_digit((unsigned char)cur[i + 1]) >= 0 &&
                    mb_hex_digit((unsigned char)cur[i + 2]) >= 0;
    }
    for (size_t i = 0; i <= len && !found;) {
        size_t j = i;
        while (j < len && cur[j] != '/' && cur[j] != '\\')
            j++;
        if (j - i == 2 && cur[i] == '.' && cur[i + 1] == '.')
            found = true;
        i = j + 1;
    }
    free(heap);
    return found;
}

/* Appends s[0..n) percent-encoding every byte but RFC 3986's unreserved ones (query names and
 * values), or, when path, only the bytes >= 0x80 (the rest was checked). */
static int append_encoded(struct mb_buf *b, const char *s, size_t n, bool path)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = path ? c < 0x80 : (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~');
        if (keep) {
            if (mb_buf_append(b, &s[i], 1) < 0)
                return -1;
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            if (mb_buf_append(b, e, 3) < 0)
                return -1;
        }
    }
    return 0;
}

/* Refuses rel when it would leave the base: 0, or -1 with why. */
static int check_rel(const char *rel, char *why, size_t whylen)
{
    for (const char *p = rel; *p; p++)
        if (bad_byte((unsigned char)*p) || *p == '\\') {
            snprintf(why, whylen, "url \"%.80s\" contains a space, a control character or a backslash "
                     "(percent-encode it)", rel);
            return -1;
        }
    /* RFC 3986: a scheme is letters, digits, "+-." after a letter, then ':', before any '/?#' */
    if (is_alpha((unsigned char)rel[0])) {
        size_t i = 1;
        while (is_alpha((unsigned char)rel[i]) || is_digit((unsigned char)rel[i]) || rel[i] == '+' || rel[i] == '-' ||
               rel[i] == '.')
            i++;
        if (rel[i] == ':') {
            snprintf(why, whylen, "url \"%.80s\" escapes baseurl: it names a scheme (%.*s:); give a path under "
                     "baseurl", rel, (int)i, rel);
            return -1;
        }
    }
    if (rel[0] == '/' && rel[1] == '/') {
        snprintf(why, whylen, "url \"%.80s\" escapes baseurl: it names another host (//...); give a path under "
                 "baseurl", rel);
        return -1;
    }
    size_t pathlen = strcspn(rel, "?#");
    for (size_t i = 0; i <= pathlen;) {
        size_t j = i;
        while (j < pathlen && rel[j] != '/')
            j++;
        if (dotdot_segment(rel + i, j - i)) {
            snprintf(why, whylen, "url \"%.80s\" escapes baseurl: it has a \"..\" path segment", rel);
            return -1;
        }
        i = j + 1;
    }
    return 0;
}

int mb_http_url_join(const char *base, const char *rel, const struct mb_url_param *params, size_t nparams,
                     char **out, char *why, size_t whylen)
{
    *out = NULL;
    if (!rel)
        rel = "";
    if (mb_http_url_check_base(base, why, whylen) < 0 || check_rel(rel, why, whylen) < 0)
        return -1;
    struct mb_buf b = { 0 };
    size_t baselen = strlen(base);
    size_t rellen = strcspn(rel, "#"); /* a fragment is never sent */
    bool has_query = memchr(rel, '?', rellen) != NULL;
    int rc = mb_buf_append(&b, base, baselen);
    if (rc == 0 && rellen && rel[0] != '?') {
        const char *r = rel[0] == '/' ? rel + 1 : rel; /* relative to base, not to its host */
        size_t rl = rellen - (size_t)(r - rel);
        size_t host_end = scheme_len(base) + strcspn(base + scheme_len(base), "/");
        bool slash = baselen > host_end && base[baselen - 1] == '/';
        if (!slash)
            rc = mb_buf_append(&b, "/", 1);
        if (rc == 0)
            rc = append_encoded(&b, r, rl, true);
    } else if (rc == 0 && rellen) {
        rc = append_encoded(&b, rel, rellen, true);
    }
    for (size_t i = 0; rc == 0 && i < nparams; i++) {
        const char *sep = has_query ? "&" : "?";
        has_query = true;
        rc = mb_buf_append(&b, sep, 1);
        if (rc == 0)
            rc = append_encoded(&b, params[i].name, strlen(params[i].name), false);
        if (rc == 0)
            rc = mb_buf_append(&b, "=", 1);
        if (rc == 0)
            rc = append_encoded(&b, params[i].value, strlen(params[i].value), false);
    }
    if (rc == 0 && (*out = malloc(b.len + 1))) {
        memcpy(*out, mb_buf_data(&b), b.len);
        (*out)[b.len] = '\0';
    }
    mb_buf_free(&b);
    if (!*out) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    return 0;
}
