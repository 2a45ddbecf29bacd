/* libFuzzer harness of the HTTP bridge's pure request checks. The first byte picks the target,
 * the rest is split into fields at 0xFF bytes (each given as an exact-size copy, so ASan sees
 * any read past its end):
 *
 *   0 mb_bridge_query_get: the value fits in the output (cap = the query's length) and is never
 *     longer than the query.
 *   1 mb_bridge_parse_timestamp: when accepted, a time between the years 1 and 9999.
 *   2 mb_bridge_parse_int: equal to an independent reading of Python's int() (ASCII whitespace,
 *     a sign, digits with single underscores between them, within int64).
 *   3 mb_bridge_sign / mb_bridge_signature_ok: the signature made is accepted in its URL-safe,
 *     standard and unpadded spellings, and refused with its first character changed; any other
 *     signature text is checked without crashing.
 *   4 mb_bridge_github_ok: headers built from the right HMACs (libsodium, OpenSSL) are accepted
 *     in either case, a wrong one refused; fuzzed headers do not crash.
 *   5 mb_bridge_guard_check: a sequence of requests (nonce, expiry, now, seq) agrees with a
 *     naive model (a list), result by result.
 *   6 mb_http_url_join / mb_http_url_check_base: a URL accepted never leaves the base, checked
 *     independently: it starts with the base, then a '/' (or the base's own) or '?', and its path
 *     after the base, percent-decoded any number of times, has no ".." segment (split on '/' and
 *     '\'); and what follows the base carries no space, control or non-ASCII byte.
 *   7 mb_pyjson_dump / mb_pybytes_repr: both styles read back (jansson) as the same value; the
 *     default style is ASCII; the bytes repr is b'...' or b"..." in printable ASCII. */
#include "fuzz_util.h"

#include "mb_bridge.h"
#include "mb_buf.h"
#include "mb_codec.h"
#include "mb_http_url.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXF 8
struct fields {
    char *f[MAXF]; /* NUL-terminated exact-size copies */
    size_t n[MAXF];
    size_t count;
};

static void split(struct fields *fs, const uint8_t *d, size_t size)
{
    memset(fs, 0, sizeof *fs);
    size_t start = 0;
    for (size_t i = 0; i <= size && fs->count < MAXF; i++) {
        if (i == size || (d[i] == 0xff && fs->count < MAXF - 1)) {
            size_t n = i - start;
            fs->f[fs->count] = malloc(n + 1);
            memcpy(fs->f[fs->count], d + start, n);
            fs->f[fs->count][n] = '\0';
            fs->n[fs->count++] = n;
            start = i + 1;
        }
    }
    for (size_t k = fs->count; k < MAXF; k++) {
        fs->f[k] = calloc(1, 1);
        fs->n[k] = 0;
    }
}

static void unsplit(struct fields *fs)
{
    for (size_t k = 0; k < MAXF; k++)
        free(fs->f[k]);
}

/* ---- 2: Python's int(), independently ---- */
static int py_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0, j = n;
    while (i < j && strchr(" \t\n\r\v\f", s[i]) && s[i])
        i++;
    while (j > i && strchr(" \t\n\r\v\f", s[j - 1]) && s[j - 1])
        j--;
    bool neg = false;
    if (i < j && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == j)
        return -1;
    uint64_t mag = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool prev_digit = false;
    for (size_t k = i; k < j; k++) {
        if (s[k] == '_') {
            if (!prev_digit || k + 1 == j)
                return -1;
            prev_digit = false;
            continue;
        }
        if (s[k] < '0' || s[k] > '9')
            return -1;
        unsigned dgt = (unsigned)(s[k] - '0');
        if (mag > (lim - dgt) / 10)
            return -1;
        mag = mag * 10 + dgt;
        prev_digit = true;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

/* ---- 6: the URL stays under the base, independently ---- */
/* Whether p[0..n) has a ".." segment (between '/' or '\') once percent-decoded any number of
 * times: every escape is replaced, leftmost first, until none is left (the order does not
 * matter: escapes never overlap), then the segments are read. A decoded byte can complete an
 * escape with the two bytes before it ("%%32e" is "%2e"), so the scan steps back two bytes
 * after each one. A ".." seen after some decodings is still there after more. */
static bool has_dotdot(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    size_t len = n, i = 0;
    while (i + 2 < len) {
        if (s[i] == '%' && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            unsigned v;
            char h[3] = { s[i + 1], s[i + 2], 0 };
            sscanf(h, "%x", &v);
            s[i] = (char)v;
            memmove(s + i + 1, s + i + 3, len - i - 3);
            len -= 2;
            i = i > 2 ? i - 2 : 0;
        } else {
            i++;
        }
    }
    bool found = false;
    size_t start = 0;
    for (size_t k = 0; k <= len; k++)
        if (k == len || s[k] == '/' || s[k] == '\\') {
            found = found || (k - start == 2 && s[start] == '.' && s[start + 1] == '.');
            start = k + 1;
        }
    free(s);
    return found;
}

static void check_url(struct fields *fs)
{
    static const char *const bases[] = { "https://example.com/api", "https://example.com/api/", "http://h",
                                         "http://h/", "HTTPS://x.y:8443/a/b/c" };
    const char *base = fs->n[1] == 1 ? bases[(unsigned char)fs->f[1][0] % 5] : fs->f[1];
    char why[200] = "";
    int ok_base = mb_http_url_check_base(base, why, sizeof why);
    if (ok_base == 0) {
        ASSERT(strncasecmp(base, "http://", 7) == 0 || strncasecmp(base, "https://", 8) == 0);
        ASSERT(!strpbrk(base, "?#\\ "));
    } else {
        ASSERT(why[0]);
    }
    struct mb_url_param params[2] = { { fs->f[3], fs->f[4] }, { fs->f[5], fs->f[6] } };
    size_t np = fs->count > 5 ? 2 : fs->count > 3 ? 1 : 0;
    char *out = NULL;
    if (mb_http_url_join(base, fs->f[2], params, np, &out, why, sizeof why) < 0) {
        ASSERT(!out && why[0]);
        return;
    }
    ASSERT(ok_base == 0 && out);
    size_t bl = strlen(base);
    ASSERT(strncmp(out, base, bl) == 0);
    const char *rest = out + bl;
    ASSERT(rest[0] == '\0' || rest[0] == '?' || rest[0] == '/' || base[bl - 1] == '/');
    for (const char *p = rest; *p; p++) /* the base is the config's, kept as written */
        ASSERT((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '\\');
    size_t pathlen = strcspn(rest, "?#");
    ASSERT(!has_dotdot(rest, pathlen));
    ASSERT(!strchr(out, '#'));
    free(out);
}

/* ---- 5: the replay guard against a list ---- */
static void check_guard(const uint8_t *d, size_t n)
{
    struct mb_bridge_guard g;
    size_t max = 1 + (n ? d[0] % 16 : 0);
    mb_bridge_guard_init(&g, max);
    struct { int64_t nonce; double expiry; } model[64];
    size_t mn = 0;
    bool have_seq = false;
    int64_t last_seq = 0;
    for (size_t i = 1; i + 4 <= n; i += 4) {
        int64_t nonce = (d[i] & 0x80) ? INT64_MIN + (d[i] & 3) : (int64_t)(d[i] % 24) - 12;
        double now = d[i + 1] % 64, expiry = now + d[i + 2] % 16;
        bool check_seq = d[i + 3] & 1;
        int64_t seq = (d[i + 3] >> 1) % 32;
        /* the model */
        size_t k = 0;
        for (size_t j = 0; j < mn; j++)
            if (!(model[j].expiry < now))
                model[k++] = model[j];
        mn = k;
        enum mb_guard_result want = MB_GUARD_OK;
        for (size_t j = 0; j < mn; j++)
            if (model[j].nonce == nonce)
                want = MB_GUARD_REPLAY;
        if (want == MB_GUARD_OK && check_seq && have_seq && seq <= last_seq)
            want = MB_GUARD_SEQ;
        if (want == MB_GUARD_OK && mn >= max)
            want = MB_GUARD_FULL;
        if (want == MB_GUARD_OK) {
            model[mn].nonce = nonce;
            model[mn++].expiry = expiry;
            if (check_seq) {
                have_seq = true;
                last_seq = seq;
            }
        }
        enum mb_guard_result got = mb_bridge_guard_check(&g, nonce, expiry, now, check_seq, seq);
        ASSERT(got == want);
        ASSERT(g.n == mn && g.n <= max);
    }
    mb_bridge_guard_free(&g);
}

/* ---- 3 and 4: signatures ---- */
static void check_sign(struct fields *fs)
{
    struct mb_bridge_signed sr = { fs->f[1], fs->f[2], fs->f[3], fs->f[4], fs->n[1], fs->n[2], fs->n[3], fs->n[4] };
    char sig[45];
    mb_bridge_sign(fs->f[0], fs->n[0], &sr, fs->f[5], fs->n[5], sig);
    ASSERT(strlen(sig) == 44);
    ASSERT(mb_bridge_signature_ok(fs->f[0], fs->n[0], &sr, fs->f[5], fs->n[5], sig, 44));
    char alt[45];
    memcpy(alt, sig, 45);
    for (int i = 0; i < 44; i++)
        alt[i] = alt[i] == '-' ? '+' : alt[i] == '_' ? '/' : alt[i];
    ASSERT(mb_bridge_signature_ok(fs->f[0], fs->n[0], &sr, fs->f[5], fs->n[5], alt, 44));
    ASSERT(mb_bridge_signature_ok(fs->f[0], fs->n[0], &sr, fs->f[5], fs->n[5], alt, 43)); /* unpadded */
    alt[0] = alt[0] == 'A' ? 'B' : 'A';
    ASSERT(!mb_bridge_signature_ok(fs->f[0], fs->n[0], &sr, fs->f[5], fs->n[5], alt, 44));
    (void)mb_bridge_signature_ok(fs->f[0], fs->n[0], &sr, fs->f[5], fs->n[5], fs->f[6], fs->n[6]);
}

static void hexof(const unsigned char *m, size_t n, char *out, bool upper)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, upper ? "%02X" : "%02x", m[i]);
}

static void check_github(struct fields *fs)
{
    const char *secret = fs->f[0], *body = fs->f[1];
    size_t sl = fs->n[0], bl = fs->n[1];
    unsigned char m256[32], m1[EVP_MAX_MD_SIZE];
    unsigned int n1 = 0;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, sl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, bl);
    crypto_auth_hmacsha256_final(&st, m256);
    ASSERT(HMAC(EVP_sha1(), secret, (int)sl, (const unsigned char *)body, bl, m1, &n1) && n1 == 20);
    char h256[7 + 64 + 1] = "sha256=", h1[5 + 40 + 1] = "sha1=";
    bool up = bl & 1;
    hexof(m256, 32, h256 + 7, up);
    hexof(m1, 20, h1 + 5, !up);
    ASSERT(mb_bridge_github_ok(secret, sl, NULL, 0, h256, strlen(h256), body, bl));
    ASSERT(mb_bridge_github_ok(secret, sl, h1, strlen(h1), NULL, 0, body, bl));
    ASSERT(mb_bridge_github_ok(secret, sl, h1, strlen(h1), h256, strlen(h256), body, bl));
    ASSERT(!mb_bridge_github_ok(secret, sl, NULL, 0, NULL, 0, body, bl));
    h256[7] = h256[7] == '0' ? '1' : '0';
    ASSERT(!mb_bridge_github_ok(secret, sl, h1, strlen(h1), h256, strlen(h256), body, bl));
    (void)mb_bridge_github_ok(secret, sl, fs->f[2], fs->n[2], fs->count > 3 ? fs->f[3] : NULL, fs->n[3], body, bl);
}

/* ---- 7: Python's json.dumps ---- */
static void check_pyjson(const uint8_t *d, size_t n)
{
    char *t = malloc(n ? n : 1);
    memcpy(t, d, n);
    struct mb_buf b = { 0 };
    ASSERT(mb_pybytes_repr(&b, t, n) == 0);
    const char *r = mb_buf_data(&b);
    ASSERT(b.len >= 3 && r[0] == 'b' && (r[1] == '\'' || r[1] == '"') && r[b.len - 1] == r[1]);
    for (size_t i = 0; i < b.len; i++)
        ASSERT(r[i] >= 0x20 && r[i] < 0x7f);
    json_t *v = json_loadb(t, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    free(t);
    mb_buf_free(&b);
    if (!v)
        return;
    for (int style = MB_PYJSON_COMPACT; style <= MB_PYJSON_DEFAULT; style++) {
        struct mb_buf o = { 0 };
        ASSERT(mb_pyjson_dump(&o, v, (enum mb_pyjson_style)style) == 0);
        json_error_t e;
        json_t *w = json_loadb(mb_buf_data(&o), o.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!w)
            fprintf(stderr, "%.*s\n%s\n", (int)o.len, mb_buf_data(&o), e.text);
        ASSERT(w && fz_veq(v, w));
        if (style == MB_PYJSON_DEFAULT)
            for (size_t i = 0; i < o.len; i++)
                ASSERT((unsigned char)mb_buf_data(&o)[i] < 0x80);
        json_decref(w);
        mb_buf_free(&o);
    }
    json_decref(v);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned target = data[0] % 8;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    if (target == 5) {
        check_guard(d, n);
        return 0;
    }
    if (target == 7) {
        check_pyjson(d, n);
        return 0;
    }
    struct fields fs;
    split(&fs, d, n);
    switch (target) {
    case 0: {
        static const char *const names[] = { "key", "timestamp", "seq", "nonce", "signature", "" };
        const char *name = fs.n[0] == 1 ? names[(unsigned char)fs.f[0][0] % 6] : fs.f[0];
        size_t cap = fs.n[1], len = (size_t)-1;
        char *out = malloc(cap ? cap : 1);
        if (mb_bridge_query_get(fs.f[1], fs.n[1], name, out, cap, &len))
            ASSERT(len <= cap && len <= fs.n[1]);
        free(out);
        break;
    }
    case 1: {
        double t;
        if (mb_bridge_parse_timestamp(fs.f[0], fs.n[0], &t) == 0)
            ASSERT(isfinite(t) && t >= -62135596800.0 && t < 253402300800.0);
        break;
    }
    case 2: {
        int64_t a = 0, b = 0;
        int ra = mb_bridge_parse_int(fs.f[0], fs.n[0], &a), rb = py_int(fs.f[0], fs.n[0], &b);
        ASSERT(ra == rb && (ra < 0 || a == b));
        break;
    }
    case 3: check_sign(&fs); break;
    case 4: check_github(&fs); break;
    default: check_url(&fs); break;
    }
    unsplit(&fs);
    return 0;
}
