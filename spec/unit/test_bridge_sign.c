/* mb_bridge's pure rules: the query string, timestamps and integers as Crossbar (Twisted,
 * Python) reads them, request and GitHub signatures, the replay guard, and Python's json.dumps.
 * The expected values were computed with CPython 3.11 (hmac, base64, datetime, urllib.parse,
 * json), the code Crossbar runs. */
#include "unit.h"

#include <math.h>

#include "mb_bridge.h"
#include "mb_crypto.h"

TEST(init_starts_libsodium)
{
    CHECK_EQ_INT(mb_crypto_init(), 0);
}

/* ---------------------------------------------------------------- query strings */

static const char *qget(const char *q, const char *name)
{
    static char out[256];
    size_t n;
    if (!mb_bridge_query_get(q, strlen(q), name, out, sizeof out - 1, &n))
        return NULL;
    out[n] = '\0';
    return out;
}

TEST(query_takes_the_first_value_and_decodes_like_parse_qs)
{
    const char *q = "a=1&a=2&b&&c=x+y%2Bz%zz&d=%41=&%6Bey=k";
    CHECK_EQ_STR(qget(q, "a"), "1");
    CHECK_EQ_STR(qget(q, "b"), "");          /* no '=': an empty value (keep_blank_values) */
    CHECK_EQ_STR(qget(q, "c"), "x y+z%zz");  /* '+' a space, %2B a '+', a bad escape kept */
    CHECK_EQ_STR(qget(q, "d"), "A=");        /* split at the first '=' */
    CHECK_EQ_STR(qget(q, "key"), "k");       /* names are decoded too */
    CHECK(qget(q, "e") == NULL);
    CHECK(qget(q, "") == NULL);
    CHECK(qget("", "a") == NULL);
    size_t n;
    char out[4];
    CHECK(!mb_bridge_query_get(NULL, 0, "a", out, sizeof out, &n));
}

/* ---------------------------------------------------------------- timestamps */

static double ts(const char *s)
{
    double t = NAN;
    return mb_bridge_parse_timestamp(s, strlen(s), &t) == 0 ? t : NAN;
}

TEST(timestamps_read_as_strptime_in_utc)
{
    CHECK(fabs(ts("2011-10-14T16:59:51.123Z") - 1318611591.123) < 1e-6);
    CHECK(ts("1970-01-01T00:00:00.0Z") == 0.0);
    CHECK(fabs(ts("2000-2-29t1:2:3.000001z") - 951786123.000001) < 1e-6); /* one-digit fields, any case */
    CHECK(fabs(ts("2024-12-31T23:59:59.999999Z") - 1735689599.999999) < 1e-6);
    CHECK(ts("0001-01-01T00:00:00.0Z") == -62135596800.0);
    CHECK(fabs(ts("2011-10- 4T16:59:51.1Z") - 1317747591.1) < 1e-6); /* %d takes " 4" */
}

TEST(timestamps_refused_as_strptime_refuses_them)
{
    static const char *const bad[] = {
        "2011-10-14T16:59:51Z",        /* no fraction */
        "2011-13-14T16:59:51.1Z",      /* month 13 */
        "2001-02-29T00:00:00.0Z",      /* not a leap year */
        "2011-10-14T24:00:00.0Z",      /* hour 24 */
        "2011-10-14T16:59:60.0Z",      /* leap second: datetime refuses it */
        "2011-10-14T16:59:51.1234567Z", /* seven fraction digits */
        "2011-10-14 16:59:51.1Z",      /* no T */
        "11-10-14T16:59:51.1Z",        /* two-digit year */
        "0000-01-01T00:00:00.0Z",      /* year 0 */
        "2011-10-14T16:59:51.1Zx",     /* trailing bytes */
        "2011-10-14T16:59:51.1",       /* no Z */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double t;
        if (mb_bridge_parse_timestamp(bad[i], strlen(bad[i]), &t) == 0)
            unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
    }
}

/* ---------------------------------------------------------------- integers */

TEST(integers_read_as_python_int_within_int64)
{
    static const struct { const char *s; int64_t v; } good[] = {
        { " 12 ", 12 }, { "+5", 5 }, { "-0", 0 }, { "1_000", 1000 }, { "0012", 12 },
        { "9223372036854775807", INT64_MAX }, { "-9223372036854775808", INT64_MIN }, { "\t7\n", 7 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = -1;
        CHECK_EQ_INT(mb_bridge_parse_int(good[i].s, strlen(good[i].s), &v), 0);
        CHECK(v == good[i].v);
    }
    static const char *const bad[] = { "1__0", "_1", "1_", "", "+", "1.0", "0x10", "- 1", "9223372036854775808",
                                       "-9223372036854775809", "1 2" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        if (mb_bridge_parse_int(bad[i], strlen(bad[i]), &v) == 0)
            unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
    }
}

/* ---------------------------------------------------------------- request signatures */

static struct mb_bridge_signed parts(const char *key, const char *t, const char *seq, const char *nonce)
{
    return (struct mb_bridge_signed){ key, t, seq, nonce, strlen(key), strlen(t), strlen(seq), strlen(nonce) };
}

TEST(signature_is_crossbars_urlsafe_padded_hmac)
{
    static const char body[] = "{\"topic\": \"a.b\"}";
    struct mb_bridge_signed sr = parts("k", "2011-10-14T16:59:51.123Z", "1", "42");
    char sig[45];
    mb_bridge_sign("s", 1, &sr, body, strlen(body), sig);
    CHECK_EQ_STR(sig, "nZVgKy81x5VS9dNjFSE9N86K_XLcwZfLEWWxVGlG0yU=");
    sr = parts("myapp1", "2026-12-02T08:00:00.5Z", "0", "9007199254740992");
    mb_bridge_sign("kkjH68GiuUZ", 11, &sr, "", 0, sig);
    CHECK_EQ_STR(sig, "DpxxH0L2_D6AJhnsObLOLj2K3wXholpnUBu-TPHiA0E=");
}

TEST(signature_accepts_every_base64_spelling_and_nothing_else)
{
    static const char body[] = "{\"topic\": \"a.b\"}";
    struct mb_bridge_signed sr = parts("k", "2011-10-14T16:59:51.123Z", "1", "42");
    static const char *const good[] = {
        "nZVgKy81x5VS9dNjFSE9N86K_XLcwZfLEWWxVGlG0yU=", /* URL-safe, padded (Crossbar's) */
        "nZVgKy81x5VS9dNjFSE9N86K_XLcwZfLEWWxVGlG0yU",  /* URL-safe, unpadded */
        "nZVgKy81x5VS9dNjFSE9N86K/XLcwZfLEWWxVGlG0yU=", /* standard, padded */
        "nZVgKy81x5VS9dNjFSE9N86K/XLcwZfLEWWxVGlG0yU",  /* standard, unpadded */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(mb_bridge_signature_ok("s", 1, &sr, body, strlen(body), good[i], strlen(good[i])));
    /* a '+' sent unencoded in a query arrives as a space */
    struct mb_bridge_signed sr2 = parts("myapp1", "2026-12-02T08:00:00.5Z", "0", "9007199254740992");
    char sig[45];
    mb_bridge_sign("kkjH68GiuUZ", 11, &sr2, "x", 1, sig);
    for (char *c = sig; *c; c++)
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    char *plus = strchr(sig, '+');
    if (plus)
        *plus = ' ';
    CHECK(mb_bridge_signature_ok("kkjH68GiuUZ", 11, &sr2, "x", 1, sig, strlen(sig)));
    static const char *const bad[] = {
        "nZVgKy81x5VS9dNjFSE9N86K_XLcwZfLEWWxVGlG1yU=", /* one byte off ("0yV=" would be the same
                                                           bytes: the last character's spare bits) */
        "nZVgKy81x5VS9dNjFSE9N86K_XLcwZfLEWWxVGlG0y",   /* truncated */
        "", "!!!!", "nZVgKy81x5VS9dNjFSE9N86K_XLcwZfLEWWxVGlG0yU=AAAA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!mb_bridge_signature_ok("s", 1, &sr, body, strlen(body), bad[i], strlen(bad[i])));
    CHECK(!mb_bridge_signature_ok("t", 1, &sr, body, strlen(body), good[0], strlen(good[0]))); /* other secret */
    CHECK(!mb_bridge_signature_ok("s", 1, &sr, "{}", 2, good[0], strlen(good[0])));            /* other body */
    struct mb_bridge_signed sr3 = parts("k", "2011-10-14T16:59:51.123Z", "2", "42");
    CHECK(!mb_bridge_signature_ok("s", 1, &sr3, body, strlen(body), good[0], strlen(good[0]))); /* other seq */
}

/* ---------------------------------------------------------------- GitHub */

TEST(github_signatures_sha1_and_sha256)
{
    static const char s1[] = "sha1=9fbde479bd372426d4ed750dececc72186675dc4";
    static const char s256[] = "sha256=b147884a2c9b7ba8ed11f2507567b555427c9141c16ecfbc096d0de054aa20d3";
    static const char upper1[] = "SHA1=9FBDE479BD372426D4ED750DECECC72186675DC4";
    CHECK(mb_bridge_github_ok("g", 1, s1, strlen(s1), NULL, 0, "payload", 7));
    CHECK(mb_bridge_github_ok("g", 1, NULL, 0, s256, strlen(s256), "payload", 7));
    CHECK(mb_bridge_github_ok("g", 1, s1, strlen(s1), s256, strlen(s256), "payload", 7));
    CHECK(mb_bridge_github_ok("g", 1, upper1, strlen(upper1), NULL, 0, "payload", 7)); /* Crossbar lowercases it */
    CHECK(!mb_bridge_github_ok("g", 1, NULL, 0, NULL, 0, "payload", 7));               /* none */
    CHECK(!mb_bridge_github_ok("h", 1, s1, strlen(s1), NULL, 0, "payload", 7));        /* other secret */
    CHECK(!mb_bridge_github_ok("g", 1, s1, strlen(s1), NULL, 0, "payload!", 8));       /* other body */
    CHECK(!mb_bridge_github_ok("g", 1, s1, strlen(s1), "sha256=00", 9, "payload", 7)); /* one of two wrong */
    CHECK(!mb_bridge_github_ok("g", 1, s256 + 2, strlen(s256) - 2, NULL, 0, "payload", 7)); /* sha256 as sha1 */
    CHECK(!mb_bridge_github_ok("g", 1, "sha1=", 5, NULL, 0, "payload", 7));
}

/* ---------------------------------------------------------------- the replay guard */

TEST(guard_accepts_a_nonce_once_within_its_window)
{
    struct mb_bridge_guard g;
    mb_bridge_guard_init(&g, 100);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 7, 160.0, 100.0, false, 0), MB_GUARD_OK);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 7, 160.0, 150.0, false, 0), MB_GUARD_REPLAY);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 7, 160.0, 160.0, false, 0), MB_GUARD_REPLAY); /* still inside */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, -7, 160.0, 150.0, false, 0), MB_GUARD_OK);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 7, 230.0, 160.5, false, 0), MB_GUARD_OK); /* forgotten past it */
    CHECK_EQ_INT((long long)g.n, 1);
    mb_bridge_guard_free(&g);
}

TEST(guard_forgets_by_expiry_not_arrival)
{
    struct mb_bridge_guard g;
    mb_bridge_guard_init(&g, 100);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 1, 500.0, 0.0, false, 0), MB_GUARD_OK); /* a future timestamp */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 2, 100.0, 0.0, false, 0), MB_GUARD_OK);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 3, 300.0, 0.0, false, 0), MB_GUARD_OK);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 9, 999.0, 200.0, false, 0), MB_GUARD_OK); /* 2 goes */
    CHECK_EQ_INT((long long)g.n, 3);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 2, 999.0, 200.0, false, 0), MB_GUARD_OK);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 3, 999.0, 200.0, false, 0), MB_GUARD_REPLAY);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 1, 999.0, 400.0, false, 0), MB_GUARD_REPLAY);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 3, 999.0, 400.0, false, 0), MB_GUARD_OK);
    mb_bridge_guard_free(&g);
}

TEST(guard_is_full_only_while_every_nonce_is_in_its_window)
{
    struct mb_bridge_guard g;
    mb_bridge_guard_init(&g, 1000);
    for (int64_t i = 0; i < 1000; i++)
        REQUIRE(mb_bridge_guard_check(&g, i, 10.0 + (double)i, 0.0, false, 0) == MB_GUARD_OK);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 5000, 99.0, 5.0, false, 0), MB_GUARD_FULL);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 3, 99.0, 5.0, false, 0), MB_GUARD_REPLAY); /* a replay is one still */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 5000, 99.0, 10.5, false, 0), MB_GUARD_OK); /* nonce 0 went */
    CHECK_EQ_INT((long long)g.n, 1000);
    CHECK(g.cap <= 1000);
    mb_bridge_guard_free(&g);
}

TEST(guard_wants_increasing_sequence_numbers_when_asked)
{
    struct mb_bridge_guard g;
    mb_bridge_guard_init(&g, 100);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 1, 60.0, 0.0, true, 5), MB_GUARD_OK);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 2, 60.0, 0.0, true, 5), MB_GUARD_SEQ);  /* equal */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 3, 60.0, 0.0, true, 4), MB_GUARD_SEQ);  /* lower */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 1, 60.0, 0.0, true, 9), MB_GUARD_REPLAY); /* the nonce first */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 4, 60.0, 0.0, true, 6), MB_GUARD_OK);
    CHECK(g.last_seq == 6);
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 5, 60.0, 0.0, false, 1), MB_GUARD_OK);  /* not asked */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 3, 60.0, 0.0, true, 5), MB_GUARD_SEQ);  /* refused: 3 not kept */
    CHECK_EQ_INT(mb_bridge_guard_check(&g, 3, 60.0, 0.0, true, 7), MB_GUARD_OK);
    mb_bridge_guard_free(&g);
}

/* Against a plain list: random nonces from a small range (so that they collide, come back and
 * go often), random windows, INT64_MIN and INT64_MAX among them; memory stays bounded. */
TEST(guard_agrees_with_a_plain_list_over_many_requests)
{
    enum { N = 20000, RANGE = 3000, MAX = 5000 };
    static struct entry { int64_t nonce; double expiry; } ref[MAX];
    size_t nref = 0;
    struct mb_bridge_guard g;
    mb_bridge_guard_init(&g, MAX);
    unsigned long long x = 88172645463325252ULL;
    double now = 0;
    for (int k = 0; k < N; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t nonce = (int64_t)(x % RANGE) - RANGE / 2;
        if (x % 97 == 0)
            nonce = INT64_MIN;
        else if (x % 89 == 0)
            nonce = INT64_MAX;
        double expiry = now + (double)((x >> 20) % 400);
        now += 0.05;
        size_t w = 0;
        for (size_t i = 0; i < nref; i++)
            if (!(ref[i].expiry < now))
                ref[w++] = ref[i];
        nref = w;
        bool seen = false;
        for (size_t i = 0; i < nref && !seen; i++)
            seen = ref[i].nonce == nonce;
        enum mb_guard_result want = seen ? MB_GUARD_REPLAY : nref >= MAX ? MB_GUARD_FULL : MB_GUARD_OK;
        enum mb_guard_result got = mb_bridge_guard_check(&g, nonce, expiry, now, false, 0);
        if (got != want) {
            unit_fail(__FILE__, __LINE__, "request %d (nonce %lld): %d, expected %d", k, (long long)nonce, got, want);
            break;
        }
        if (got == MB_GUARD_OK)
            ref[nref++] = (struct entry){ nonce, expiry };
        REQUIRE(g.n == nref);
    }
    CHECK(g.set_cap <= 2 * 8192 && g.cap <= MAX);
    mb_bridge_guard_free(&g);
}

/* ---------------------------------------------------------------- Python's json.dumps */

static const char *dump(const char *json, enum mb_pyjson_style style)
{
    static char out[1024];
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    struct mb_buf b = { 0 };
    out[0] = '\0';
    if (v && mb_pyjson_dump(&b, v, style) == 0 && b.len < sizeof out) {
        memcpy(out, mb_buf_data(&b), b.len);
        out[b.len] = '\0';
    }
    mb_buf_free(&b);
    json_decref(v);
    return out;
}

TEST(pyjson_floats_as_python_repr)
{
    CHECK_EQ_STR(dump("[0.1, 1.0, 1e16, 1e15, 1e-5, 0.0001, -0.0, 123456789012345678.0, 1.5e300, 2.5e-7, 3.14159, "
                      "100.0, 1e22, 9999999999999998.0, 5e-324, 1.7976931348623157e308]",
                      MB_PYJSON_DEFAULT),
                 "[0.1, 1.0, 1e+16, 1000000000000000.0, 1e-05, 0.0001, -0.0, 1.2345678901234568e+17, 1.5e+300, "
                 "2.5e-07, 3.14159, 100.0, 1e+22, 9999999999999998.0, 5e-324, 1.7976931348623157e+308]");
    CHECK_EQ_STR(dump("[0.0, -12, 9223372036854775807]", MB_PYJSON_COMPACT), "[0.0,-12,9223372036854775807]");
}

TEST(pyjson_default_escapes_to_ascii_compact_keeps_utf8)
{
    static const char in[] = "{\"a\":[1,\"\xc3\xa9\",true,null,{\"b\":\"x\\\"y\\\\z\\n\\t\\u0001\\u007f\"}],"
                             "\"\xf0\x9f\x98\x80\":\"\\u2028\"}";
    CHECK_EQ_STR(dump(in, MB_PYJSON_DEFAULT), "{\"a\": [1, \"\\u00e9\", true, null, {\"b\": "
                                             "\"x\\\"y\\\\z\\n\\t\\u0001\\u007f\"}], \"\\ud83d\\ude00\": \"\\u2028\"}");
    CHECK_EQ_STR(dump(in, MB_PYJSON_COMPACT), "{\"a\":[1,\"\xc3\xa9\",true,null,{\"b\":\"x\\\"y\\\\z\\n\\t\\u0001\x7f\"}],"
                                             "\"\xf0\x9f\x98\x80\":\"\xe2\x80\xa8\"}");
    CHECK_EQ_STR(dump("[\"\\b\\f\\r\\u0000\", {}, []]", MB_PYJSON_DEFAULT), "[\"\\b\\f\\r\\u0000\", {}, []]");
}

static const char *brepr(const char *s, size_t n)
{
    static char out[128];
    struct mb_buf b = { 0 };
    out[0] = '\0';
    if (mb_pybytes_repr(&b, s, n) == 0 && b.len < sizeof out) {
        memcpy(out, mb_buf_data(&b), b.len);
        out[b.len] = '\0';
    }
    mb_buf_free(&b);
    return out;
}

TEST(pybytes_repr_as_python)
{
    CHECK_EQ_STR(brepr("GET", 3), "b'GET'");
    CHECK_EQ_STR(brepr("it's", 4), "b\"it's\"");
    CHECK_EQ_STR(brepr("a\"b", 3), "b'a\"b'");
    CHECK_EQ_STR(brepr("a'b\"c", 5), "b'a\\'b\"c'");
    CHECK_EQ_STR(brepr("\x00\xff\\\t", 4), "b'\\x00\\xff\\\\\\t'");
    CHECK_EQ_STR(brepr("", 0), "b''");
}

UNIT_MAIN()
