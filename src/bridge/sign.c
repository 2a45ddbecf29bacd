/* The bridge's pure request rules (mb_bridge.h): the query string, timestamps and integers as
 * Crossbar reads them, request and GitHub signatures, and the replay guard. Signatures are
 * HMACs from libsodium (SHA-256) and OpenSSL (GitHub's SHA-1), compared as bytes in constant time. */
#include "mb_bridge.h"
#include "mb_hex.h"
#include "mb_crypto.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

/* ---- query strings ------------------------------------------------------------------------------ */

/* The next decoded byte of [*p, end) ('+' a space, %XX a byte, a bad escape kept as '%'). */
static unsigned char next_byte(const char **p, const char *end)
{
    unsigned char c = (unsigned char)**p;
    if (c == '+') {
        (*p)++;
        return ' ';
    }
    if (c == '%' && end - *p >= 3) {
        int hi = mb_hex_digit((unsigned char)(*p)[1]), lo = mb_hex_digit((unsigned char)(*p)[2]);
        if (hi >= 0 && lo >= 0) {
            *p += 3;
            return (unsigned char)(hi << 4 | lo);
        }
    }
    (*p)++;
    return c;
}

/* Whether the encoded name [p, end) decodes to name. */
static bool name_is(const char *p, const char *end, const char *name)
{
    while (p < end) {
        if (!*name || next_byte(&p, end) != (unsigned char)*name)
            return false;
        name++;
    }
    return *name == '\0';
}

bool mb_bridge_query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap, size_t *len)
{
    const char *p = q, *end = q + qlen;
    while (q && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        if (pair_end > p) { /* empty pairs are skipped */
            const char *eq = memchr(p, '=', (size_t)(pair_end - p));
            const char *name_end = eq ? eq : pair_end;
            if (name_is(p, name_end, name)) {
                size_t n = 0;
                for (const char *v = eq ? eq + 1 : pair_end; v < pair_end && n < cap;)
                    out[n++] = (char)next_byte(&v, pair_end);
                *len = n;
                return true;
            }
        }
        p = pair_end + 1;
    }
    return false;
}

/* ---- timestamps and integers ---------------------------------------------------------------------- */

/* Up to max decimal digits at *p (at least one): their value, or -1. */
static int digits(const char **p, const char *end, int max)
{
    int v = 0, n = 0;
    while (*p < end && n < max && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n ? v : -1;
}

static bool expect(const char **p, const char *end, char c)
{
    if (*p >= end || (**p != c && !(c >= 'A' && c <= 'Z' && **p == c + 32)))
        return false;
    (*p)++;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = y / 400; /* y >= 0 here: years start at 1 */
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

int mb_bridge_parse_timestamp(const char *s, size_t n, double *t)
{
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    const char *p = s, *end = s + n;
    int year = 0;
    for (int i = 0; i < 4; i++) { /* %Y: exactly four digits */
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        year = year * 10 + (*p++ - '0');
    }
    int mon = -1, day = -1, hour = -1, min = -1, sec = -1;
    if (!expect(&p, end, '-') || (mon = digits(&p, end, 2)) < 1 || mon > 12 || !expect(&p, end, '-'))
        return -1;
    if (p < end && *p == ' ') { /* %d also takes " 1" .. " 9" */
        p++;
        if (p >= end || *p < '1' || *p > '9')
            return -1;
        day = *p++ - '0';
    } else {
        day = digits(&p, end, 2);
    }
    if (day < 1 || !expect(&p, end, 'T') || (hour = digits(&p, end, 2)) < 0 || hour > 23 ||
        !expect(&p, end, ':') || (min = digits(&p, end, 2)) < 0 || min > 59 || !expect(&p, end, ':') ||
        (sec = digits(&p, end, 2)) < 0 || sec > 59 || !expect(&p, end, '.'))
        return -1;
    double frac = 0, scale = 1;
    int nf = 0;
    while (p < end && nf < 6 && *p >= '0' && *p <= '9') {
        frac = frac * 10 + (*p++ - '0');
        scale *= 10;
        nf++;
    }
    if (nf == 0 || !expect(&p, end, 'Z') || p != end)
        return -1;
    if (year < 1 || day > mdays[mon - 1] + (mon == 2 && leap(year)))
        return -1;
    *t = (double)days_from_civil(year, mon, day) * 86400.0 + hour * 3600.0 + min * 60.0 + sec + frac / scale;
    return 0;
}

static bool py_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int mb_bridge_parse_int(const char *s, size_t n, int64_t *v)
{
    const char *p = s, *end = s + n;
    while (p < end && py_space(*p))
        p++;
    while (end > p && py_space(end[-1]))
        end--;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == end)
        return -1;
    uint64_t x = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool digit_before = false;
    for (; p < end; p++) {
        if (*p == '_') {
            if (!digit_before || p + 1 == end || p[1] < '0' || p[1] > '9')
                return -1;
            digit_before = false;
            continue;
        }
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (x > (limit - d) / 10)
            return -1; /* beyond int64 (Python's int has no bound: documented) */
        x = x * 10 + d;
        digit_before = true;
    }
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    return 0;
}

/* ---- signatures ------------------------------------------------------------------------------------ */

#define MAC_LEN 32

static void request_mac(const char *secret, size_t secret_len, const struct mb_bridge_signed *sr, const char *body,
                        size_t body_len, unsigned char mac[MAC_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)sr->key, sr->key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)sr->timestamp, sr->timestamp_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)sr->seq, sr->seq_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)sr->nonce, sr->nonce_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

void mb_bridge_sign(const char *secret, size_t secret_len, const struct mb_bridge_signed *sr, const char *body,
                    size_t body_len, char out[45])
{
    unsigned char mac[MAC_LEN];
    request_mac(secret, secret_len, sr, body, body_len, mac);
    mb_base64_encode(mac, sizeof mac, out);
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
}

bool mb_bridge_signature_ok(const char *secret, size_t secret_len, const struct mb_bridge_signed *sr,
                            const char *body, size_t body_len, const char *sig, size_t sig_len)
{
    char text[64];
    unsigned char got[MAC_LEN + 4], want[MAC_LEN];
    if (sig_len > sizeof text)
        return false;
    for (size_t i = 0; i < sig_len; i++)
        text[i] = sig[i] == ' ' ? '+' : sig[i];
    if (mb_base64_decode(text, sig_len, got, sizeof got) != MAC_LEN)
        return false;
    request_mac(secret, secret_len, sr, body, body_len, want);
    bool ok = mb_ct_equal(got, want, MAC_LEN);
    sodium_memzero(want, sizeof want);
    return ok;
}

/* Whether header ("<prefix><hex>", prefix in either case) carries the digest mac (n bytes). */
static bool github_one(const char *prefix, const char *header, size_t len, const unsigned char *mac, size_t n)
{
    size_t pl = strlen(prefix);
    unsigned char got[64];
    if (len != pl + 2 * n || strncasecmp(header, prefix, pl) != 0)
        return false;
    if (mb_hex_decode(header + pl, 2 * n, got, sizeof got) != (int)n)
        return false;
    return mb_ct_equal(got, mac, n);
}

bool mb_bridge_github_ok(const char *secret, size_t secret_len, const char *sha1, size_t sha1_len,
                         const char *sha256, size_t sha256_len, const char *body, size_t body_len)
{
    if (!sha1 && !sha256)
        return false;
    bool ok = true;
    if (sha256) {
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_memzero(&st, sizeof st);
        ok = github_one("sha256=", sha256, sha256_len, mac, sizeof mac);
    }
    if (sha1 && ok) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (secret_len > 0x7fffffff ||
            !HMAC(EVP_sha1(), secret, (int)secret_len, (const unsigned char *)body, body_len, mac, &n) || n != 20)
            return false;
        ok = github_one("sha1=", sha1, sha1_len, mac, n);
    }
    return ok;
}

/* ---- the replay guard -------------------------------------------------------------------------------- */

void mb_bridge_guard_init(struct mb_bridge_guard *g, size_t max)
{
    memset(g, 0, sizeof *g);
    g->max = max;
}

static void heap_swap(struct mb_bridge_nonce *h, size_t a, size_t b)
{
    struct mb_bridge_nonce t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static void heap_pop(struct mb_bridge_guard *g)
{
    struct mb_bridge_nonce *h = g->heap;
    h[0] = h[--g->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < g->n && h[l].expiry < h[m].expiry)
            m = l;
        if (r < g->n && h[r].expiry < h[m].expiry)
            m = r;
        if (m == i)
            break;
        heap_swap(h, i, m);
        i = m;
    }
}

static void heap_push(struct mb_bridge_guard *g, struct mb_bridge_nonce e)
{
    struct mb_bridge_nonce *h = g->heap;
    size_t i = g->n++;
    h[i] = e;
    while (i > 0 && h[(i - 1) / 2].expiry > h[i].expiry) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/* The nonce set: linear probing over a power-of-two table, deletion by shifting back (no
 * tombstones: a set whose entries come and go forever never needs a rehash to clean up). */
#define FREE INT64_MIN

static size_t slot_of(int64_t v, size_t cap)
{
    uint64_t x = (uint64_t)v; /* murmur3's finalizer */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static bool set_has(const struct mb_bridge_guard *g, int64_t v)
{
    if (v == FREE)
        return g->set_min;
    for (size_t i = g->set_cap ? slot_of(v, g->set_cap) : 0; g->set_cap && g->set[i] != FREE;
         i = (i + 1) & (g->set_cap - 1))
        if (g->set[i] == v)
            return true;
    return false;
}

static void set_place(int64_t *set, size_t cap, int64_t v)
{
    size_t i = slot_of(v, cap);
    while (set[i] != FREE)
        i = (i + 1) & (cap - 1);
    set[i] = v;
}

static int set_add(struct mb_bridge_guard *g, int64_t v)
{
    if (v == FREE) {
        g->set_min = true;
        return 0;
    }
    if ((g->set_len + 1) * 2 > g->set_cap) { /* at most half full */
        size_t cap = g->set_cap ? 2 * g->set_cap : 128;
        int64_t *ns = malloc(cap * sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < cap; i++)
            ns[i] = FREE;
        for (size_t i = 0; i < g->set_cap; i++)
            if (g->set[i] != FREE)
                set_place(ns, cap, g->set[i]);
        free(g->set);
        g->set = ns;
        g->set_cap = cap;
    }
    set_place(g->set, g->set_cap, v);
    g->set_len++;
    return 0;
}

static void set_del(struct mb_bridge_guard *g, int64_t v)
{
    if (v == FREE) {
        g->set_min = false;
        return;
    }
    size_t mask = g->set_cap - 1, i = slot_of(v, g->set_cap);
    while (g->set[i] != v) {
        if (g->set[i] == FREE)
            return;
        i = (i + 1) & mask;
    }
    /* shift back every later entry of the run that may not stay behind the hole */
    for (size_t j = (i + 1) & mask; g->set[j] != FREE; j = (j + 1) & mask) {
        size_t home = slot_of(g->set[j], g->set_cap);
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            g->set[i] = g->set[j];
            i = j;
        }
    }
    g->set[i] = FREE;
    g->set_len--;
}

enum mb_guard_result mb_bridge_guard_check(struct mb_bridge_guard *g, int64_t nonce, double expiry, double now,
                                           bool check_seq, int64_t seq)
{
    while (g->n && g->heap[0].expiry < now) {
        set_del(g, g->heap[0].nonce);
        heap_pop(g);
    }
    if (set_has(g, nonce))
        return MB_GUARD_REPLAY;
    if (check_seq && g->have_seq && seq <= g->last_seq)
        return MB_GUARD_SEQ;
    if (g->n >= g->max)
        return MB_GUARD_FULL;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        if (cap > g->max)
            cap = g->max;
        struct mb_bridge_nonce *nh = realloc(g->heap, cap * sizeof *nh);
        if (!nh)
            return MB_GUARD_NOMEM;
        g->heap = nh;
        g->cap = cap;
    }
    if (set_add(g, nonce) < 0)
        return MB_GUARD_NOMEM;
    heap_push(g, (struct mb_bridge_nonce){ .expiry = expiry, .nonce = nonce });
    if (check_seq) {
        g->have_seq = true;
        g->last_seq = seq;
    }
    return MB_GUARD_OK;
}

void mb_bridge_guard_free(struct mb_bridge_guard *g)
{
    free(g->set);
    free(g->heap);
    memset(g, 0, sizeof *g);
}
