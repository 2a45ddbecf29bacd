/* mb_codec: MessagePack and CBOR readers and writers, JSON transcoding and the binary fast
 * path. What matters: known byte vectors of the specs read and write as specified; every
 * invalid or truncated input is refused by skip, decode, transcode and scan alike; values
 * survive every (from, to) pair; the scanner never accepts what decode + mb_msg_parse refuse. */
#include "unit.h"

#include "mb_codec.h"
#include "mb_id.h"
#include "mb_json.h"
#include "mb_wamp.h"

#include <math.h>
#include <stdint.h>

static const enum mb_ser BINS[] = { MB_SER_MSGPACK, MB_SER_CBOR };
static const enum mb_ser ALL[] = { MB_SER_JSON, MB_SER_MSGPACK, MB_SER_CBOR };

/* Hex text (spaces allowed) to bytes; returns the length. */
static size_t unhex(const char *h, char *out)
{
    size_t n = 0;
    while (*h) {
        if (*h == ' ') {
            h++;
            continue;
        }
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (char)v;
        h += 2;
    }
    return n;
}

static char *hexof(const char *p, size_t n)
{
    static char out[8192];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 3 < sizeof out; i++)
        k += (size_t)snprintf(out + k, sizeof out - k, "%02x", (unsigned char)p[i]);
    out[k] = 0;
    return out;
}

/* A heap copy of exactly n bytes, so that ASan sees any read past the end. */
static char *dup_exact(const char *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    memcpy(d, p, n);
    return d;
}

/* Transcodes to JSON text (static buffer), or NULL when refused. */
static const char *to_json(enum mb_ser s, const char *p, size_t n)
{
    static char out[16384];
    struct mb_buf b = { 0 };
    char *d = dup_exact(p, n);
    int e = mb_codec_transcode(&b, MB_SER_JSON, s, d, n);
    free(d);
    if (e) {
        CHECK_EQ_INT(b.len, 0);
        mb_buf_free(&b);
        return NULL;
    }
    snprintf(out, sizeof out, "%.*s", (int)b.len, mb_buf_data(&b));
    mb_buf_free(&b);
    return out;
}

/* Decodes then dumps as the router writes JSON; NULL when refused. */
static const char *dec_json(enum mb_ser s, const char *p, size_t n)
{
    static char out[16384];
    char err[128];
    char *d = dup_exact(p, n);
    json_t *v = mb_codec_decode(s, d, n, err, sizeof err);
    free(d);
    if (!v)
        return NULL;
    struct mb_buf b = { 0 };
    int e = mb_json_dump(&b, v);
    json_decref(v);
    snprintf(out, sizeof out, "%.*s", e ? 0 : (int)b.len, mb_buf_data(&b));
    mb_buf_free(&b);
    return e ? NULL : out;
}

/* JSON text to serializer s (through mb_codec_transcode); the hex of the bytes, or NULL. */
static const char *from_json(enum mb_ser s, const char *text)
{
    struct mb_buf b = { 0 };
    if (mb_codec_transcode(&b, s, MB_SER_JSON, text, strlen(text))) {
        mb_buf_free(&b);
        return NULL;
    }
    const char *h = hexof(mb_buf_data(&b), b.len);
    mb_buf_free(&b);
    return h;
}

/* Every reader refuses the bytes (given in hex). */
static int refused(enum mb_ser s, const char *hex)
{
    char raw[256];
    size_t n = unhex(hex, raw);
    char *d = dup_exact(raw, n);
    const char *q = mb_codec_skip(s, d, d + n);
    char err[128];
    json_t *v = mb_codec_decode(s, d, n, err, sizeof err);
    struct mb_buf b = { 0 };
    int t1 = mb_codec_transcode(&b, MB_SER_JSON, s, d, n);
    int t2 = mb_codec_transcode(&b, s == MB_SER_CBOR ? MB_SER_MSGPACK : MB_SER_CBOR, s, d, n);
    int t3 = mb_codec_transcode(&b, s, s, d, n);
    int ok = q != d + n && !v && t1 && t2 && t3 && b.len == 0;
    if (!ok)
        printf("# %s %s accepted (skip %d decode %d transcode %d %d %d)\n", mb_ser_name(s), hex,
               q == d + n, v != NULL, t1, t2, t3);
    json_decref(v);
    mb_buf_free(&b);
    free(d);
    return ok;
}

/* The bytes (hex) read as the JSON text expected, by transcoding and by decode + dump, and
 * skip takes all of them. */
static int reads_as(enum mb_ser s, const char *hex, const char *json)
{
    char raw[256];
    size_t n = unhex(hex, raw);
    const char *t = to_json(s, raw, n);
    int ok = t && strcmp(t, json) == 0;
    if (!ok)
        printf("# %s %s transcodes to %s, not %s\n", mb_ser_name(s), hex, unit_str(t), json);
    const char *d = dec_json(s, raw, n);
    if (!d || strcmp(d, json) != 0) {
        printf("# %s %s decodes to %s, not %s\n", mb_ser_name(s), hex, unit_str(d), json);
        ok = 0;
    }
    char *x = dup_exact(raw, n);
    if (mb_codec_skip(s, x, x + n) != x + n) {
        printf("# %s %s not skipped\n", mb_ser_name(s), hex);
        ok = 0;
    }
    free(x);
    return ok;
}

/* json_equal, but for keys holding NUL too (MessagePack and CBOR keys may; jansson's
 * json_equal looks keys up NUL-terminated). */
static int veq(json_t *a, json_t *b)
{
    if (!a || !b || json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_object(a)) {
        const char *k;
        size_t kl;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_keylen_foreach(a, k, kl, v) {
            if (!veq(v, json_object_getn(b, k, kl)))
                return 0;
        }
        return 1;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!veq(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}

TEST(serializer_names)
{
    CHECK_EQ_STR(mb_ser_name(MB_SER_JSON), "json");
    CHECK_EQ_STR(mb_ser_name(MB_SER_MSGPACK), "msgpack");
    CHECK_EQ_STR(mb_ser_name(MB_SER_CBOR), "cbor");
}

TEST(msgpack_reads_every_type)
{
    static const char *v[][2] = {
        { "c0", "null" }, { "c2", "false" }, { "c3", "true" }, { "00", "0" }, { "7f", "127" },
        { "ff", "-1" }, { "e0", "-32" }, { "cc80", "128" }, { "ccff", "255" }, { "cd0100", "256" },
        { "ce00010000", "65536" }, { "cf0000000100000000", "4294967296" },
        { "d080", "-128" }, { "d005", "5" },
        { "d1ff7f", "-129" }, { "d280000000", "-2147483648" },
        { "d38000000000000000", "-9223372036854775808" }, { "d37fffffffffffffff", "9223372036854775807" },
        { "cb3ff8000000000000", "1.5" }, { "ca3fc00000", "1.5" }, { "cb3ff199999999999a", "1.1000000000000001" },
        { "cb0000000000000000", "0.0" }, { "ca00000000", "0.0" },
        { "a0", "\"\"" }, { "a3616263", "\"abc\"" }, { "d903616263", "\"abc\"" }, { "da0003616263", "\"abc\"" },
        { "db00000003616263", "\"abc\"" }, { "a2c3bc", "\"\xc3\xbc\"" }, { "a40a225c01", "\"\\n\\\"\\\\\\u0001\"" },
        { "c403010203", "\"\\u0000AQID\"" }, { "c400", "\"\\u0000\"" }, { "c50001ff", "\"\\u0000/w==\"" },
        { "c6000000020102", "\"\\u0000AQI=\"" },
        { "90", "[]" }, { "80", "{}" }, { "93010203", "[1,2,3]" }, { "dc0002c0c3", "[null,true]" },
        { "dd00000001a0", "[\"\"]" }, { "81a16101", "{\"a\":1}" }, { "de0001a16190", "{\"a\":[]}" },
        { "df00000002a16101a16202", "{\"a\":1,\"b\":2}" }, { "91919280 80", "[[[{},{}]]]" },
        /* ext: outside the model, read as null (wampy's undefined); as a dict value, the entry
         * is absent (JSON.stringify drops undefined values) */
        { "d40105", "null" }, { "d5010102", "null" }, { "d60101020304", "null" },
        { "d701" "0102030405060708", "null" }, { "d801" "0102030405060708090a0b0c0d0e0f10", "null" },
        { "c70001", "null" }, { "c7020161 62", "null" }, { "c800020161 62", "null" }, { "c90000000101ff", "null" },
        { "92d4000081a161c7000a", "[null,{}]" },
        { "82a161c0a162d40000", "{\"a\":null}" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK(reads_as(MB_SER_MSGPACK, v[i][0], v[i][1]));
}

TEST(msgpack_writes_the_smallest_forms)
{
    static const char *v[][2] = {
        { "0", "00" }, { "127", "7f" }, { "128", "cc80" }, { "255", "ccff" }, { "256", "cd0100" },
        { "65535", "cdffff" }, { "65536", "ce00010000" }, { "4294967295", "ceffffffff" },
        { "4294967296", "cf0000000100000000" }, { "-1", "ff" }, { "-32", "e0" }, { "-33", "d0df" },
        { "-128", "d080" }, { "-129", "d1ff7f" }, { "-32768", "d18000" }, { "-32769", "d2ffff7fff" },
        { "-2147483648", "d280000000" }, { "-2147483649", "d3ffffffff7fffffff" },
        { "-9223372036854775808", "d38000000000000000" }, { "9223372036854775807", "cf7fffffffffffffff" },
        { "1.5", "cb3ff8000000000000" }, { "0.0", "cb0000000000000000" }, { "null", "c0" },
        { "true", "c3" }, { "false", "c2" }, { "\"abc\"", "a3616263" },
        { "\"0123456789012345678901234567890\"", "bf30313233343536373839303132333435363738393031323334353637383930" },
        { "\"01234567890123456789012345678901\"", "d9203031323334353637383930313233343536373839303132333435363738393031" },
        { "\"\\u0000AQID\"", "c403010203" }, { "[]", "90" }, { "{}", "80" }, { "[1,[2]]", "920191 02" },
        { "{\"a\":{\"b\":null}}", "81a16181a162c0" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char want[256];
        size_t n = unhex(v[i][1], want);
        const char *got = from_json(MB_SER_MSGPACK, v[i][0]);
        CHECK_EQ_STR(got, hexof(want, n));
    }
    /* 16 items: array16; 16 pairs: map16 */
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]"), "dc001000000000000000000000000000000000");
    CHECK(strncmp(from_json(MB_SER_MSGPACK, "{\"a\":0,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,\"g\":0,\"h\":0,"
                                            "\"i\":0,\"j\":0,\"k\":0,\"l\":0,\"m\":0,\"n\":0,\"o\":0,\"p\":0}"),
                  "de0010a16100", 12) == 0);
}

/* RFC 8949 Appendix A, the examples in the model (and what the model maps: tags, undefined). */
TEST(cbor_reads_the_rfc_examples)
{
    static const char *v[][2] = {
        { "00", "0" }, { "01", "1" }, { "0a", "10" }, { "17", "23" }, { "1818", "24" }, { "1819", "25" },
        { "1864", "100" }, { "1903e8", "1000" }, { "1a000f4240", "1000000" },
        { "1b000000e8d4a51000", "1000000000000" }, 
        { "3b7fffffffffffffff", "-9223372036854775808" }, { "20", "-1" }, { "29", "-10" },
        { "3863", "-100" }, { "3903e7", "-1000" },
        { "f90000", "0.0" }, { "f98000", "-0.0" }, { "f93c00", "1.0" }, { "fb3ff199999999999a", "1.1000000000000001" },
        { "f93e00", "1.5" }, { "f97bff", "65504.0" }, { "fa47c35000", "100000.0" },
        { "fa7f7fffff", "3.4028234663852886e38" }, { "fb7e37e43c8800759c", "1.0000000000000001e300" },
        { "f90001", "5.9604644775390625e-8" }, { "f90400", "6.103515625e-5" }, { "f9c400", "-4.0" },
        { "fbc010666666666666", "-4.0999999999999996" },
        { "f4", "false" }, { "f5", "true" }, { "f6", "null" }, { "f7", "null" },
        { "a26161f76162f6", "{\"b\":null}" }, { "bf6161f76162f6ff", "{\"b\":null}" },
        { "c074323031332d30332d32315432303a30343a30305a", "\"2013-03-21T20:04:00Z\"" },
        { "c11a514b67b0", "1363896240" }, { "c1fb41d452d9ec200000", "1363896240.5" },
        { "d74401020304", "\"\\u0000AQIDBA==\"" }, { "d818456449455446", "\"\\u0000ZElFVEY=\"" },
        { "d82076687474703a2f2f7777772e6578616d706c652e636f6d", "\"http://www.example.com\"" },
        { "40", "\"\\u0000\"" }, { "4401020304", "\"\\u0000AQIDBA==\"" }, { "60", "\"\"" }, { "6161", "\"a\"" },
        { "6449455446", "\"IETF\"" }, { "62225c", "\"\\\"\\\\\"" }, { "62c3bc", "\"\xc3\xbc\"" },
        { "63e6b0b4", "\"\xe6\xb0\xb4\"" }, { "64f0908591", "\"\xf0\x90\x85\x91\"" },
        { "80", "[]" }, { "83010203", "[1,2,3]" }, { "8301820203820405", "[1,[2,3],[4,5]]" },
        { "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
          "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25]" },
        { "a0", "{}" }, { "a26161016162820203", "{\"a\":1,\"b\":[2,3]}" },
        { "826161a161626163", "[\"a\",{\"b\":\"c\"}]" },
        { "a56161614161626142616361436164614461656145",
          "{\"a\":\"A\",\"b\":\"B\",\"c\":\"C\",\"d\":\"D\",\"e\":\"E\"}" },
        /* indefinite lengths */
        { "5f42010243030405ff", "\"\\u0000AQIDBAU=\"" }, { "5fff", "\"\\u0000\"" }, { "5f4101ff", "\"\\u0000AQ==\"" },
        { "5f41014102410341044105ff", "\"\\u0000AQIDBAU=\"" },
        { "7f657374726561646d696e67ff", "\"streaming\"" }, { "7fff", "\"\"" }, { "7f61616062c3bcff", "\"a\xc3\xbc\"" },
        { "9fff", "[]" }, { "9f018202039f0405ffff", "[1,[2,3],[4,5]]" }, { "9f01820203820405ff", "[1,[2,3],[4,5]]" },
        { "83018202039f0405ff", "[1,[2,3],[4,5]]" }, { "83019f0203ff820405", "[1,[2,3],[4,5]]" },
        { "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
          "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25]" },
        { "bf61610161629f0203ffff", "{\"a\":1,\"b\":[2,3]}" }, { "826161bf61626163ff", "[\"a\",{\"b\":\"c\"}]" },
        { "bf6346756ef563416d7421ff", "{\"Fun\":true,\"Amt\":-2}" }, { "bfff", "{}" },
        { "bf7f6161ff01ff", "{\"a\":1}" }, { "a1c06161c001", "{\"a\":1}" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK(reads_as(MB_SER_CBOR, v[i][0], v[i][1]));
}

TEST(cbor_writes_shortest_heads_and_float64)
{
    static const char *v[][2] = {
        { "0", "00" }, { "23", "17" }, { "24", "1818" }, { "255", "18ff" }, { "256", "190100" },
        { "65536", "1a00010000" }, { "1000000000000", "1b000000e8d4a51000" }, { "-1", "20" },
        { "-24", "37" }, { "-25", "3818" }, { "-1000", "3903e7" }, { "-9223372036854775808", "3b7fffffffffffffff" },
        { "1.5", "fb3ff8000000000000" }, { "1.0", "fb3ff0000000000000" }, { "false", "f4" }, { "true", "f5" },
        { "null", "f6" }, { "\"IETF\"", "6449455446" }, { "\"\\u0000AQIDBA==\"", "4401020304" },
        { "\"\\u0000\"", "40" }, { "[]", "80" }, { "{}", "a0" }, { "[1,[2,3],[4,5]]", "8301820203820405" },
        { "{\"a\":1,\"b\":[2,3]}", "a26161016162820203" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK_EQ_STR(from_json(MB_SER_CBOR, v[i][0]), v[i][1]);
    CHECK_EQ_STR(from_json(MB_SER_CBOR, "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]"),
                 "9818000000000000000000000000000000000000000000000000");
}

TEST(half_floats_decode_exactly)
{
    static const struct { const char *hex; double v; } h[] = {
        { "f90000", 0.0 }, { "f93c00", 1.0 }, { "f9bc00", -1.0 }, { "f93555", 0.333251953125 },
        { "f97bff", 65504.0 }, { "f90001", 5.9604644775390625e-8 }, { "f903ff", 6.097555160522461e-5 },
        { "f90400", 6.103515625e-5 }, { "f98001", -5.9604644775390625e-8 }, { "f9c400", -4.0 },
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
        char raw[8];
        size_t n = unhex(h[i].hex, raw);
        json_t *v = mb_codec_decode(MB_SER_CBOR, raw, n, NULL, 0);
        CHECK(json_is_real(v) && json_real_value(v) == h[i].v);
        json_decref(v);
    }
    /* -0.0 keeps its sign */
    json_t *z = mb_codec_decode(MB_SER_CBOR, "\xf9\x80\x00", 3, NULL, 0);
    CHECK(json_is_real(z) && signbit(json_real_value(z)));
    json_decref(z);
    /* infinities and NaN: carried between binary serializers, refused by json_t and JSON */
    static const char *nf[][2] = { { "f97c00", "cb7ff0000000000000" }, { "f9fc00", "cbfff0000000000000" },
                                   { "fa7f800000", "cb7ff0000000000000" } };
    for (size_t i = 0; i < 3; i++) {
        char raw[16];
        size_t n = unhex(nf[i][0], raw);
        struct mb_buf b = { 0 };
        CHECK(mb_codec_transcode(&b, MB_SER_MSGPACK, MB_SER_CBOR, raw, n) == 0);
        CHECK_EQ_STR(hexof(mb_buf_data(&b), b.len), nf[i][1]);
        mb_buf_free(&b);
        CHECK(to_json(MB_SER_CBOR, raw, n) == NULL);
        char err[128] = "";
        CHECK(mb_codec_decode(MB_SER_CBOR, raw, n, err, sizeof err) == NULL);
        CHECK_HAS_STR(err, "NaN or infinity");
    }
    struct mb_buf b = { 0 };
    CHECK(mb_codec_transcode(&b, MB_SER_MSGPACK, MB_SER_CBOR, "\xf9\x7e\x00", 3) == 0);
    REQUIRE(b.len == 9);
    double d;
    uint64_t u = 0;
    for (int i = 1; i < 9; i++)
        u = u << 8 | (unsigned char)mb_buf_data(&b)[i];
    memcpy(&d, &u, 8);
    CHECK(isnan(d));
    mb_buf_free(&b);
}

TEST(uint64_max_and_int64_min_are_exact)
{
    struct mb_buf c = { 0 }, m = { 0 };
    const char *mp = "\xcf\xff\xff\xff\xff\xff\xff\xff\xff";
    CHECK(mb_codec_transcode(&c, MB_SER_CBOR, MB_SER_MSGPACK, mp, 9) == 0);
    CHECK_EQ_STR(hexof(mb_buf_data(&c), c.len), "1bffffffffffffffff");
    CHECK(mb_codec_transcode(&m, MB_SER_MSGPACK, MB_SER_CBOR, mb_buf_data(&c), c.len) == 0);
    CHECK(m.len == 9 && memcmp(mb_buf_data(&m), mp, 9) == 0);
    CHECK_EQ_STR(to_json(MB_SER_MSGPACK, mp, 9), "18446744073709551615");
    CHECK_EQ_STR(to_json(MB_SER_CBOR, mb_buf_data(&c), c.len), "18446744073709551615");
    /* json_t has no unsigned: a real */
    json_t *v = mb_codec_decode(MB_SER_MSGPACK, mp, 9, NULL, 0);
    CHECK(json_is_real(v) && json_real_value(v) == 18446744073709551615.0);
    json_decref(v);
    /* 2^63 - 1 stays an integer */
    v = mb_codec_decode(MB_SER_CBOR, "\x1b\x7f\xff\xff\xff\xff\xff\xff\xff", 9, NULL, 0);
    CHECK(json_is_integer(v) && json_integer_value(v) == INT64_MAX);
    json_decref(v);
    mb_buf_free(&c);
    mb_buf_free(&m);

    /* INT64_MIN through every pair */
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "-9223372036854775808"), "d38000000000000000");
    CHECK_EQ_STR(from_json(MB_SER_CBOR, "-9223372036854775808"), "3b7fffffffffffffff");
    struct mb_buf b = { 0 };
    CHECK(mb_codec_transcode(&b, MB_SER_CBOR, MB_SER_MSGPACK, "\xd3\x80\0\0\0\0\0\0\0", 9) == 0);
    CHECK_EQ_STR(hexof(mb_buf_data(&b), b.len), "3b7fffffffffffffff");
    mb_buf_free(&b);
    v = mb_codec_decode(MB_SER_CBOR, "\x3b\x7f\xff\xff\xff\xff\xff\xff\xff", 9, NULL, 0);
    CHECK(json_is_integer(v) && json_integer_value(v) == INT64_MIN);
    json_decref(v);
    /* below -2^63: outside the model */
    CHECK(refused(MB_SER_CBOR, "3b8000000000000000"));
    CHECK(refused(MB_SER_CBOR, "3bffffffffffffffff"));
    /* JSON cannot send 2^63 and above (jansson refuses them) */
    CHECK(from_json(MB_SER_MSGPACK, "18446744073709551615") == NULL);
}

TEST(binary_is_nul_and_base64_in_json)
{
    /* JSON → binary when what follows the NUL is canonical base64, padded or not */
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000AQID\""), "c403010203");
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000AQIDBA==\""), "c40401020304");
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000AQIDBA\""), "c40401020304");
    CHECK_EQ_STR(from_json(MB_SER_CBOR, "\"\\u0000AQIDBAU=\""), "450102030405");
    CHECK_EQ_STR(from_json(MB_SER_CBOR, "\"\\u0000AQIDBAU\""), "450102030405");
    CHECK_EQ_STR(from_json(MB_SER_CBOR, "\"\\u0000+/+/\""), "43fbffbf");
    CHECK_EQ_STR(from_json(MB_SER_CBOR, "\"\\u0000\""), "40");
    /* else a string */
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000A\""), "a20041");
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000AQ=\""), "a40041513d");
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000AB==\""), "a50041423d3d"); /* unused bits set */
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000A-_Q\""), "a500412d5f51"); /* not the url alphabet */
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"\\u0000AQ==AQ==\""), "a90041513d3d41513d3d");
    CHECK_EQ_STR(from_json(MB_SER_MSGPACK, "\"AQID\""), "a441514944");
    /* binary → JSON: padded base64 */
    CHECK(reads_as(MB_SER_MSGPACK, "c401ff", "\"\\u0000/w==\""));
    CHECK(reads_as(MB_SER_MSGPACK, "c402ffee", "\"\\u0000/+4=\""));
    CHECK(reads_as(MB_SER_MSGPACK, "c403ffeedd", "\"\\u0000/+7d\""));
    /* a json_t string of that form encodes as binary too, and the decoded binary is that form */
    json_t *s = json_stringn("\0AQID", 5);
    struct mb_buf b = { 0 };
    CHECK(mb_codec_encode(MB_SER_MSGPACK, &b, s) == 0);
    CHECK_EQ_STR(hexof(mb_buf_data(&b), b.len), "c403010203");
    json_t *back = mb_codec_decode(MB_SER_MSGPACK, mb_buf_data(&b), b.len, NULL, 0);
    CHECK(veq(s, back));
    json_decref(back);
    json_decref(s);
    mb_buf_free(&b);
    /* a long binary in chunks, through base64's carried bytes */
    char cb[64] = { 0x5f };
    size_t n = 1;
    for (int c = 0; c < 5; c++) {
        cb[n++] = 0x40 | (char)(c + 1);
        for (int i = 0; i <= c; i++)
            cb[n++] = (char)(0x10 * c + i);
    }
    cb[n++] = (char)0xff;
    char flat[32] = { 0x4f };
    size_t k = 1;
    for (int c = 0; c < 5; c++)
        for (int i = 0; i <= c; i++)
            flat[k++] = (char)(0x10 * c + i);
    const char *a = to_json(MB_SER_CBOR, cb, n);
    char want[128];
    snprintf(want, sizeof want, "%s", unit_str(a));
    CHECK_EQ_STR(to_json(MB_SER_CBOR, flat, k), want);
}

TEST(empty_list_and_empty_dict_stay_apart)
{
    const char *json[] = { "[]", "{}", "[[],{}]", "{\"a\":[],\"b\":{}}" };
    const char *mp[] = { "90", "80", "929080", "82a16190a16280" };
    const char *cb[] = { "80", "a0", "8280a0", "a26161806162a0" };
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_STR(from_json(MB_SER_MSGPACK, json[i]), mp[i]);
        char want[32];
        size_t n = unhex(cb[i], want);
        CHECK_EQ_STR(from_json(MB_SER_CBOR, json[i]), hexof(want, n));
        CHECK(reads_as(MB_SER_MSGPACK, mp[i], json[i]));
        CHECK(reads_as(MB_SER_CBOR, cb[i], json[i]));
    }
}

/* depth nested arrays around 1 */
static size_t nested(enum mb_ser s, int depth, bool indef, char *out)
{
    size_t n = 0;
    for (int i = 0; i < depth; i++)
        out[n++] = (char)(s == MB_SER_MSGPACK ? 0x91 : indef ? 0x9f : 0x81);
    out[n++] = 1;
    if (indef)
        for (int i = 0; i < depth; i++)
            out[n++] = (char)0xff;
    return n;
}

TEST(nesting_up_to_the_limit_and_not_one_more)
{
    char buf[300];
    for (int f = 0; f < 3; f++) {
        enum mb_ser s = f == 0 ? MB_SER_MSGPACK : MB_SER_CBOR;
        bool indef = f == 2;
        size_t n = nested(s, MB_CODEC_MAX_DEPTH, indef, buf);
        CHECK(mb_codec_skip(s, buf, buf + n) == buf + n);
        json_t *v = mb_codec_decode(s, buf, n, NULL, 0);
        CHECK(v != NULL);
        struct mb_buf b = { 0 };
        CHECK(mb_codec_transcode(&b, MB_SER_JSON, s, buf, n) == 0);
        CHECK(mb_codec_transcode(&b, s == MB_SER_CBOR ? MB_SER_MSGPACK : MB_SER_CBOR, s, buf, n) == 0);
        CHECK(mb_codec_encode(s, &b, v) == 0);
        /* one more level: refused everywhere */
        json_t *w = json_array();
        json_array_append(w, v);
        size_t len0 = b.len;
        CHECK(mb_codec_encode(MB_SER_MSGPACK, &b, w) == -1);
        CHECK(mb_codec_encode(MB_SER_CBOR, &b, w) == -1);
        CHECK(b.len == len0);
        json_decref(w);
        json_decref(v);
        mb_buf_free(&b);
        n = nested(s, MB_CODEC_MAX_DEPTH + 1, indef, buf);
        CHECK(refused(s, hexof(buf, n)));
        char err[128] = "";
        CHECK(mb_codec_decode(s, buf, n, err, sizeof err) == NULL);
        CHECK_HAS_STR(err, "nesting deeper than 64");
    }
    /* an empty container one past the limit counts too, as in mb_json_skip */
    size_t n = nested(MB_SER_MSGPACK, MB_CODEC_MAX_DEPTH, false, buf);
    buf[n - 1] = (char)0x90;
    CHECK(refused(MB_SER_MSGPACK, hexof(buf, n)));
    /* a map as the deepest level */
    n = nested(MB_SER_MSGPACK, MB_CODEC_MAX_DEPTH - 1, false, buf);
    memcpy(buf + n - 1, "\x81\xa1k\x01", 4);
    CHECK(mb_codec_skip(MB_SER_MSGPACK, buf, buf + n + 3) == buf + n + 3);
}

TEST(huge_declared_lengths_are_refused)
{
    const char *mp[] = {
        "dbffffffff61", "da ffff 61", "d9ff61", "c6ffffffff00", "c5ffff00", "c4ff00", "ddffffffff01",
        "dfffffffff01", "dcffff01", "deffff0101", "c9ffffffff0100", "c8ffff0100", "c7ff0100", "9f01",
        "8f0101", "c7", "c9ffffff", "d8010102", "cf0102", "cb3ff0", "ca3f",
    };
    for (size_t i = 0; i < sizeof mp / sizeof mp[0]; i++)
        CHECK(refused(MB_SER_MSGPACK, mp[i]));
    const char *cb[] = {
        "5bffffffffffffffff00", "7bffffffffffffffff61", "9bffffffffffffffff01", "bbffffffffffffffff0101",
        "bb7fffffffffffffff0101", "bb8000000000000000", "5b0000000100000000", "7a ffffffff 61",
        "9affffffff01", "5f5bffffffffffffffff00ff", "7f7bffffffffffffffff61ff", "1b0102", "fb3ff0",
        "d9", "c0", "9f", "bf", "5f", "7f", "5f41", "9f01", "bf6161", "a1", "a16161", "8201",
    };
    for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++)
        CHECK(refused(MB_SER_CBOR, cb[i]));
}

TEST(map_keys_must_be_strings)
{
    const char *mp[] = { "8101 01", "81c0 01", "81c40161 01", "8190 01", "8180 01", "81cb3ff000000000000001", "82a16101 0202" };
    for (size_t i = 0; i < sizeof mp / sizeof mp[0]; i++)
        CHECK(refused(MB_SER_MSGPACK, mp[i]));
    const char *cb[] = { "a10101", "a1f601", "a1416101", "a18001", "a1a001", "bf0101ff", "bf5f4161ff01ff",
                         "a201020304", "a1c10101" };
    for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++)
        CHECK(refused(MB_SER_CBOR, cb[i]));
    char err[128] = "";
    CHECK(mb_codec_decode(MB_SER_MSGPACK, "\x81\x01\x01", 3, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "MessagePack: map key that is not a string at byte 1");
}

TEST(invalid_utf8_is_refused)
{
    const char *bad[] = { "c0af", "e08080", "eda080", "edbfbf", "f4908080", "f8888080", "80", "e282", "ff", "c2",
                          "f0808080", "c1bf" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char hex[64];
        size_t n = strlen(bad[i]) / 2;
        snprintf(hex, sizeof hex, "%02zx%s", 0xa0 | n, bad[i]);
        CHECK(refused(MB_SER_MSGPACK, hex));
        snprintf(hex, sizeof hex, "%02zx%s", 0x60 | n, bad[i]);
        CHECK(refused(MB_SER_CBOR, hex));
        /* as a key too, and after 8 bytes of ASCII (the fast path) */
        snprintf(hex, sizeof hex, "81%02zx%s01", 0xa0 | n, bad[i]);
        CHECK(refused(MB_SER_MSGPACK, hex));
        snprintf(hex, sizeof hex, "%02zx6161616161616161%s", 0xa8 + n, bad[i]);
        CHECK(refused(MB_SER_MSGPACK, hex));
    }
    /* a character split between two chunks (RFC 8949 3.2.3) */
    CHECK(refused(MB_SER_CBOR, "7f61e26282acff"));
    CHECK(reads_as(MB_SER_CBOR, "7f63e282acff", "\"\xe2\x82\xac\""));
    /* the limits that are valid */
    CHECK(reads_as(MB_SER_MSGPACK, "a4f48fbfbf", "\"\xf4\x8f\xbf\xbf\""));
    CHECK(reads_as(MB_SER_MSGPACK, "a3ed9fbf", "\"\xed\x9f\xbf\""));
    CHECK(reads_as(MB_SER_MSGPACK, "a3ee8080", "\"\xee\x80\x80\""));
    /* invalid binary is fine: bytes */
    CHECK(reads_as(MB_SER_MSGPACK, "c402c0af", "\"\\u0000wK8=\""));
    /* a json_t string with invalid UTF-8 (built unchecked) is not written */
    json_t *s = json_stringn_nocheck("\xc0\xaf", 2);
    struct mb_buf b = { 0 };
    CHECK(mb_codec_encode(MB_SER_CBOR, &b, s) == -1);
    CHECK(mb_codec_encode(MB_SER_MSGPACK, &b, s) == -1);
    CHECK(b.len == 0);
    json_decref(s);
    mb_buf_free(&b);
}

TEST(reserved_and_misplaced_bytes_are_refused)
{
    const char *mp[] = { "c1", "91c1", "81a161c1" };
    for (size_t i = 0; i < sizeof mp / sizeof mp[0]; i++)
        CHECK(refused(MB_SER_MSGPACK, mp[i]));
    const char *cb[] = {
        "1c", "1d", "1e", "1f", "3c", "3f", "5c", "7d", "9e", "be", "dc", "df", "fc", "fd", "fe", /* ai 28-31 */
        "ff", "81ff", "a1ff", "9fc0ff", "bf6161ff", "bf61ff", "c0ff", /* breaks where none may be */
        "f0", "f3", "f820", "f8ff", "e0", /* simple values outside the model */
        "5f6161ff", "7f4161ff", "5f5fffff", "7f7fffff", "5f01ff", "7f80ff", "5fc04161ff", /* bad chunks */
        "0000", "8001", /* trailing bytes */
    };
    for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++)
        CHECK(refused(MB_SER_CBOR, cb[i]));
    char err[128] = "";
    CHECK(mb_codec_decode(MB_SER_CBOR, "\x82\x01\x1c", 3, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "CBOR: reserved or unsupported initial byte at byte 2");
    CHECK(mb_codec_decode(MB_SER_MSGPACK, "\x92\x01\xa5" "ab", 5, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "MessagePack: truncated value at byte 2");
    CHECK(mb_codec_decode(MB_SER_MSGPACK, "\x01\x02", 2, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "MessagePack: bytes after the value at byte 1");
    CHECK(mb_codec_decode(MB_SER_JSON, "[1,", 3, err, sizeof err) == NULL);
    CHECK_HAS_STR(err, "JSON: ");
}

/* JSON payloads in the model that each serializer carries. */
static const char *const payloads[] = {
    "null", "true", "false", "0", "-1", "1", "23", "24", "255", "256", "65535", "65536", "-9223372036854775808",
    "9223372036854775807", "4294967296", "-4294967297", "1.5", "-0.0", "1e+300", "3.141592653589793", "5e-324",
    "\"\"", "\"abc\"", "\"\\u0000AQID\"", "\"\\u0000\"", "\"\\u0000A\"", "\"tab\\there \\\"q\\\" \\\\ \\u0001\"",
    "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "[]", "{}", "[1,2,3]", "[[],{},[[]]]",
    "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", "{\"\":0,\"\xc3\xa9\":[1.25,-2]}",
    "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]",
    "[\"0123456789012345678901234567890123456789\",{\"k\":\"\\u0000/+7d\"}]",
};

TEST(transcoding_gives_equal_values_between_every_pair)
{
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        json_t *orig = json_loads(payloads[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        REQUIRE(orig);
        struct mb_buf canon = { 0 };
        REQUIRE(mb_json_dump(&canon, orig) == 0);
        for (int f = 0; f < 3; f++) {
            struct mb_buf src = { 0 };
            CHECK(mb_codec_encode(ALL[f], &src, orig) == 0);
            for (int t = 0; t < 3; t++) {
                struct mb_buf dst = { 0 }, text = { 0 };
                char *d = dup_exact(mb_buf_data(&src), src.len);
                CHECK(mb_codec_transcode(&dst, ALL[t], ALL[f], d, src.len) == 0);
                free(d);
                /* the same value, and as JSON the same bytes as mb_json_dump */
                json_t *back = mb_codec_decode(ALL[t], mb_buf_data(&dst), dst.len, NULL, 0);
                if (!back || !veq(back, orig))
                    printf("# %s: %s → %s differs\n", payloads[i], mb_ser_name(ALL[f]), mb_ser_name(ALL[t]));
                CHECK(back && veq(back, orig));
                json_decref(back);
                CHECK(mb_codec_transcode(&text, MB_SER_JSON, ALL[t], mb_buf_data(&dst), dst.len) == 0);
                CHECK(text.len == canon.len && memcmp(mb_buf_data(&text), mb_buf_data(&canon), canon.len) == 0);
                /* encoding the value directly in t gives the transcoder's bytes */
                struct mb_buf direct = { 0 };
                CHECK(mb_codec_encode(ALL[t], &direct, orig) == 0);
                CHECK(direct.len == dst.len && memcmp(mb_buf_data(&direct), mb_buf_data(&dst), dst.len) == 0);
                mb_buf_free(&direct);
                mb_buf_free(&dst);
                mb_buf_free(&text);
            }
            mb_buf_free(&src);
        }
        mb_buf_free(&canon);
        json_decref(orig);
    }
}

TEST(a_failed_transcode_leaves_the_buffer_as_it_was)
{
    struct mb_buf b = { 0 };
    mb_buf_append(&b, "xy", 2);
    /* [1, "a", NaN]: fails at the end when the target is JSON */
    const char *mp = "\x93\x01\xa1" "a" "\xcb\x7f\xf8\0\0\0\0\0\0";
    CHECK(mb_codec_transcode(&b, MB_SER_JSON, MB_SER_MSGPACK, mp, 13) == -1);
    CHECK(b.len == 2);
    CHECK(mb_codec_transcode(&b, MB_SER_CBOR, MB_SER_MSGPACK, mp, 13) == 0);
    CHECK_EQ_STR(hexof(mb_buf_data(&b), b.len), "7879" "830161" "61" "fb7ff8000000000000");
    /* the same with a truncated tail */
    b.len = 2;
    CHECK(mb_codec_transcode(&b, MB_SER_CBOR, MB_SER_MSGPACK, mp, 12) == -1);
    CHECK(b.len == 2);
    CHECK(mb_codec_transcode(&b, MB_SER_JSON, MB_SER_JSON, "[1,2] x", 7) == -1);
    CHECK(mb_codec_transcode(&b, MB_SER_JSON, MB_SER_JSON, "[1,2]\n", 6) == 0);
    CHECK(b.len == 8);
    mb_buf_free(&b);
}

TEST(json_skip_falls_back_to_jansson_for_what_the_skipper_leaves)
{
    const char *v[] = { "\"\\ud83d\\ude00\"", "{\"\\u00e9\":1}", "1234567890123456789", "[1e308]" };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char buf[64];
        size_t n = strlen(v[i]);
        snprintf(buf, sizeof buf, "%s ,x", v[i]);
        CHECK(mb_json_skip(buf, buf + n + 3) == NULL);
        CHECK(mb_codec_skip(MB_SER_JSON, buf, buf + n + 3) == buf + n);
    }
    const char *bad[] = { " 1", "", "[1,", "\"\\udc00\"", "1e400", "nul" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(mb_codec_skip(MB_SER_JSON, bad[i], bad[i] + strlen(bad[i])) == NULL);
    const char *fast = "[1,{\"a\":\"b\"}]]";
    CHECK(mb_codec_skip(MB_SER_JSON, fast, fast + strlen(fast)) == fast + strlen(fast) - 1);
}

TEST(head_writers)
{
    struct mb_buf b = { 0 };
    CHECK(mb_codec_put_array(MB_SER_MSGPACK, &b, 3) == 0);
    CHECK(mb_codec_put_uint(MB_SER_MSGPACK, &b, 36) == 0);
    CHECK(mb_codec_put_uint(MB_SER_MSGPACK, &b, MB_ID_MAX) == 0);
    CHECK(mb_codec_put_map(MB_SER_MSGPACK, &b, 0) == 0);
    CHECK(mb_codec_put_str(MB_SER_MSGPACK, &b, "a.b", 3) == 0);
    CHECK_EQ_STR(hexof(mb_buf_data(&b), b.len), "9324cf002000000000000080a3612e62");
    mb_buf_reset(&b);
    CHECK(mb_codec_put_array(MB_SER_CBOR, &b, 3) == 0);
    CHECK(mb_codec_put_uint(MB_SER_CBOR, &b, 36) == 0);
    CHECK(mb_codec_put_uint(MB_SER_CBOR, &b, MB_ID_MAX) == 0);
    CHECK(mb_codec_put_map(MB_SER_CBOR, &b, 0) == 0);
    CHECK(mb_codec_put_str(MB_SER_CBOR, &b, "a.b", 3) == 0);
    CHECK(mb_codec_put_array(MB_SER_CBOR, &b, 70000) == 0);
    CHECK_EQ_STR(hexof(mb_buf_data(&b), b.len), "8318241b0020000000000000a063612e629a00011170");
    mb_buf_reset(&b);
    CHECK(mb_codec_put_array(MB_SER_JSON, &b, 1) == -1);
    CHECK(mb_codec_put_map(MB_SER_JSON, &b, 1) == -1);
    CHECK(mb_codec_put_uint(MB_SER_JSON, &b, 18446744073709551615ULL) == 0);
    CHECK(mb_codec_put_str(MB_SER_JSON, &b, "a\"", 2) == 0);
    CHECK(b.len == 25 && memcmp(mb_buf_data(&b), "18446744073709551615\"a\\\"\"", 25) == 0);
    mb_buf_free(&b);
}

/* ---- the fast path ---- */

/* Encodes a JSON text in s; returns a heap copy of exactly the bytes. */
static char *encode_text(enum mb_ser s, const char *text, size_t *n)
{
    struct mb_buf b = { 0 };
    if (mb_codec_transcode(&b, s, MB_SER_JSON, text, strlen(text))) {
        mb_buf_free(&b);
        return NULL;
    }
    char *d = dup_exact(mb_buf_data(&b), b.len);
    *n = b.len;
    mb_buf_free(&b);
    return d;
}

/* The scanner agrees with decode + mb_msg_parse on data: every field when it accepts. */
static int scan_agrees(enum mb_ser s, const char *d, size_t n)
{
    struct mb_msg m, p;
    int scanned = mb_msg_scan_bin(s, d, n, &m);
    if (!scanned)
        return 1;
    char err[160];
    json_t *root = mb_codec_decode(s, d, n, err, sizeof err);
    if (!root)
        return printf("# scanned, but not decoded: %s\n", err), 0;
    int ok = mb_msg_parse(root, &p, err, sizeof err) == 0;
    if (!ok)
        printf("# scanned, but mb_msg_parse says %s\n", err);
    ok = ok && m.ser == (int)s && m.type == p.type && m.request == p.request && m.uri_len == p.uri_len &&
         (!m.uri_len || memcmp(m.uri, p.uri, m.uri_len) == 0) && m.dict == NULL;
    json_t *dict = ok ? mb_codec_decode(s, m.dict_raw, m.dict_len, NULL, 0) : NULL;
    ok = ok && dict && veq(dict, p.dict);
    json_decref(dict);
    ok = ok && mb_msg_payload(&m) == 0 && (m.args ? p.args && veq(m.args, p.args) : !p.args) &&
         (m.kwargs ? p.kwargs && veq(m.kwargs, p.kwargs) : !p.kwargs);
    ok = ok && m.tail_n == (p.kwargs ? 2u : p.args ? 1u : 0u) && m.tail_len == m.args_len + m.kwargs_len &&
         (!m.args_raw || m.tail == m.args_raw) && (!m.kwargs_raw || m.kwargs_raw == m.args_raw + m.args_len) &&
         m.tail + m.tail_len == d + n;
    mb_msg_release(&m);
    json_decref(root);
    return ok;
}

TEST(scan_bin_takes_the_usual_call_publish_yield)
{
    static const char *ok[] = {
        "[48,1,{},\"com.example.add\"]", "[48,2,{\"timeout\":100},\"a.b\",[1,2]]",
        "[48,9007199254740992,{\"receive_progress\":true},\"a.b\",[1,\"\\u0000AQID\"],{\"k\":[{},null]}]",
        "[16,1,{},\"t\"]", "[16,77,{\"acknowledge\":true,\"exclude_me\":false},\"com.t\",[]]",
        "[16,5,{},\"t\",[],{}]", "[70,5,{}]", "[70,5,{\"progress\":true},[1.5]]", "[70,5,{},[],{\"a\":-1}]",
        "[48,3,{},\"\"]", "[48,3,{},\"caf\xc3\xa9\"]",
    };
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
            size_t n;
            char *d = encode_text(BINS[f], ok[i], &n);
            REQUIRE(d);
            struct mb_msg m;
            CHECK_EQ_INT(mb_msg_scan_bin(BINS[f], d, n, &m), 1);
            CHECK(scan_agrees(BINS[f], d, n));
            /* no prefix scans, skips, or decodes */
            for (size_t k = 0; k < n; k++) {
                char *pre = dup_exact(d, k);
                CHECK_EQ_INT(mb_msg_scan_bin(BINS[f], pre, k, &m), 0);
                CHECK(mb_codec_skip(BINS[f], pre, pre + k) == NULL);
                CHECK(mb_codec_decode(BINS[f], pre, k, NULL, 0) == NULL);
                struct mb_buf b = { 0 };
                CHECK(mb_codec_transcode(&b, MB_SER_JSON, BINS[f], pre, k) == -1);
                CHECK(mb_codec_transcode(&b, BINS[1 - f], BINS[f], pre, k) == -1);
                mb_buf_free(&b);
                free(pre);
            }
            free(d);
        }
    /* the fields themselves */
    size_t n;
    char *d = encode_text(MB_SER_MSGPACK, "[48,7,{\"x\":1},\"a.b\",[1],{\"k\":2}]", &n);
    struct mb_msg m;
    REQUIRE(mb_msg_scan_bin(MB_SER_MSGPACK, d, n, &m) == 1);
    CHECK(m.type == MB_CALL && m.request == 7 && m.ser == MB_SER_MSGPACK);
    CHECK(m.uri_len == 3 && memcmp(m.uri, "a.b", 3) == 0);
    CHECK(m.dict_len == 4 && memcmp(m.dict_raw, "\x81\xa1x\x01", 4) == 0);
    CHECK(m.args_len == 2 && memcmp(m.args_raw, "\x91\x01", 2) == 0);
    CHECK(m.kwargs_len == 4 && memcmp(m.kwargs_raw, "\x81\xa1k\x02", 4) == 0);
    CHECK(m.tail == m.args_raw && m.tail_len == 6 && m.tail_n == 2);
    free(d);
    d = encode_text(MB_SER_CBOR, "[70,7,{}]", &n);
    REQUIRE(mb_msg_scan_bin(MB_SER_CBOR, d, n, &m) == 1);
    CHECK(m.type == MB_YIELD && m.tail == d + n && m.tail_len == 0 && m.tail_n == 0 && !m.uri);
    free(d);
    /* CBOR's indefinite lengths and tags inside the values are fine */
    char raw[64];
    n = unhex("84 1830 01 bf6161f5ff c0 63612e62", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_CBOR, raw, n, &m), 1);
    CHECK(scan_agrees(MB_SER_CBOR, raw, n));
    n = unhex("86 1830 01 a0 63612e62 9f01ff bfff", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_CBOR, raw, n, &m), 1);
    CHECK(scan_agrees(MB_SER_CBOR, raw, n));
    /* non-minimal forms of MessagePack are still MessagePack */
    n = unhex("dc0004 d030 cd0001 de0000 d903612e62", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_MSGPACK, raw, n, &m), 1);
    CHECK(scan_agrees(MB_SER_MSGPACK, raw, n));
}

TEST(scan_bin_refuses_the_rest)
{
    static const char *bad[] = {
        "[48,0,{},\"a\"]", "[48,9007199254740993,{},\"a\"]", "[48,-1,{},\"a\"]", "[48,1.0,{},\"a\"]",
        "[48,\"1\",{},\"a\"]", "[48,1,{},\"a\",[],{},1]", "[48,1,[],\"a\"]", "[48,1,{},1]", "[48,1,{},\"a\",{}]",
        "[48,1,{},\"a\",[],[]]", "[48,1,{},\"a\",null]", "[48,1,{}]", "[48,1]", "[48]", "[]", "{}", "48",
        "[70,1,{},[],{},1]", "[70,1,{},{}]", "[70,1]", "[16,1,{},\"t\",[],{},{}]", "[16,1,null,\"t\"]",
        "[32,1,{},\"t\"]", "[64,1,{},\"p\"]", "[1,\"realm\",{\"roles\":{\"caller\":{}}}]", "[49,1,{}]",
        "[48.0,1,{},\"a\"]", "[-48,1,{},\"a\"]", "[\"48\",1,{},\"a\"]", "[8,68,1,{},\"e\"]", "[48,1,{},\"\\u0000AQID\"]",
    };
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            size_t n;
            char *d = encode_text(BINS[f], bad[i], &n);
            REQUIRE(d);
            struct mb_msg m;
            if (mb_msg_scan_bin(BINS[f], d, n, &m))
                printf("# %s %s scanned\n", mb_ser_name(BINS[f]), bad[i]);
            CHECK_EQ_INT(mb_msg_scan_bin(BINS[f], d, n, &m), 0);
            free(d);
        }
    /* trailing bytes; an invalid byte deep in a payload; JSON is not scanned here */
    char raw[64];
    size_t n = unhex("94 30 01 80 a161 c0", raw);
    struct mb_msg m;
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_MSGPACK, raw, n, &m), 0);
    n = unhex("95 30 01 80 a161 92 01 c1", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_MSGPACK, raw, n, &m), 0);
    n = unhex("95 30 01 80 a161 92 01 a1ff", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_MSGPACK, raw, n, &m), 0);
    n = unhex("96 30 01 80 a161 90 81 01 01", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_MSGPACK, raw, n, &m), 0);
    n = unhex("9f 1830 01 a0 6161 ff", raw); /* indefinite outer array: left to the slow path */
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_CBOR, raw, n, &m), 0);
    n = unhex("84 1830 01 a0 7f6161ff", raw); /* chunked URI: the slow path */
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_CBOR, raw, n, &m), 0);
    n = unhex("84 1830 01 a0 6161 00", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_CBOR, raw, n, &m), 0);
    n = unhex("84 1830 1b0020000000000001 a0 6161", raw);
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_CBOR, raw, n, &m), 0);
    const char *j = "[48,1,{},\"a\"]";
    CHECK_EQ_INT(mb_msg_scan_bin(MB_SER_JSON, j, strlen(j), &m), 0);
}

/* xorshift, deterministic */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

TEST(mutated_messages_never_crash_and_scan_agrees_with_parse)
{
    static const char *seeds[] = {
        "[48,2,{\"timeout\":100},\"a.b\",[1,\"x\",-3.5,null,true],{\"k\":[{},\"\\u0000AQID\"]}]",
        "[16,77,{\"acknowledge\":true},\"com.t\",[18446744073],{\"a\":{\"b\":{\"c\":[1,2]}}}]",
        "[70,5,{\"progress\":true},[\"caf\xc3\xa9\",65536,-129]]",
    };
    int scanned = 0;
    for (int f = 0; f < 2; f++)
        for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
            size_t n;
            char *d = encode_text(BINS[f], seeds[s], &n);
            REQUIRE(d);
            for (int round = 0; round < 3000; round++) {
                char *x = dup_exact(d, n);
                int flips = 1 + (int)(rnd() % 3);
                for (int k = 0; k < flips; k++) {
                    uint64_t r = rnd();
                    x[r % n] = (char)(r % 3 == 0 ? (int)(r >> 8) : r % 3 == 1 ? x[r % n] ^ (char)(1 << ((r >> 8) % 8)) : (int)((r >> 8) % 0x20 + 0x40));
                }
                size_t len = n - (rnd() % 4 == 0 ? rnd() % n : 0);
                struct mb_msg m;
                scanned += mb_msg_scan_bin(BINS[f], x, len, &m);
                if (!scan_agrees(BINS[f], x, len))
                    printf("# scan %s %s\n", mb_ser_name(BINS[f]), hexof(x, len));
                CHECK(scan_agrees(BINS[f], x, len));
                /* skip, decode and transcode agree on validity (NaN aside, which json_t lacks) */
                const char *q = mb_codec_skip(BINS[f], x, x + len);
                char err[128] = "";
                json_t *v = mb_codec_decode(BINS[f], x, len, err, sizeof err);
                struct mb_buf b = { 0 };
                int t = mb_codec_transcode(&b, BINS[1 - f], BINS[f], x, len);
                bool valid = q == x + len;
                CHECK(valid == (t == 0));
                CHECK(valid == (v != NULL) || (valid && strstr(err, "NaN")));
                if (v) {
                    /* the other format holds the same value */
                    json_t *w = mb_codec_decode(BINS[1 - f], mb_buf_data(&b), b.len, NULL, 0);
                    if (!(w && veq(v, w)))
                        printf("# %s %s\n", mb_ser_name(BINS[f]), hexof(x, len));
                    CHECK(w && veq(v, w));
                    json_decref(w);
                }
                json_decref(v);
                mb_buf_free(&b);
                free(x);
            }
            free(d);
        }
    CHECK(scanned > 0);
}

UNIT_MAIN()
