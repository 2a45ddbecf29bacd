/* mb_json and mb_msg_scan: the pass-through fast path. The property that matters: whatever
 * the skipper or the scanner accepts, jansson and mb_msg_parse accept too, with the same
 * extent and the same fields; what they refuse falls back to jansson (never a wrong answer). */
#include "unit.h"

#include "mb_json.h"
#include "mb_wamp.h"

#include <stdint.h>

/* Skips the whole of text; returns 1 if the skipper took all of it, 0 if it fell back. */
static int skips(const char *text)
{
    const char *end = text + strlen(text);
    const char *q = mb_json_skip(text, end);
    return q == end;
}

/* jansson accepts text as one JSON value (the router's flags). */
static int jansson_ok(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_decref(j);
    return j != NULL;
}

TEST(skipper_takes_ordinary_values)
{
    const char *ok[] = {
        "0", "-0", "12", "-3.25", "1e10", "1E-5", "2.5e+07", "true", "false", "null", "\"\"",
        "\"abc\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "[]", "{}", "[1,2,3]", "[ 1 , [ ] , { } ]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
        "{ \"k\" : \"v\" }", "123456789012345678", "[\"dup\",{\"a\":1,\"a\":2}]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK(skips(ok[i]));
        CHECK(jansson_ok(ok[i], strlen(ok[i])));
    }
}

TEST(skipper_refuses_invalid_json)
{
    const char *bad[] = {
        "", "[", "]", "{", "[1,]", "{\"a\":1,}", "{\"a\"}", "{1:2}", "01", "-", "1.", ".5", "1e", "+1",
        "tru", "nul", "\"abc", "\"a\x01\"", "\"\\x\"", "[1 2]", "{\"a\" 1}", "'a'", "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"", "\"\x80\"", "NaN", "[1]]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!skips(bad[i]));
        if (!jansson_ok(bad[i], strlen(bad[i])))
            continue;
        printf("# jansson takes %s\n", bad[i]); /* only "[1]]"-like trailing data differs in extent */
    }
}

TEST(skipper_leaves_what_jansson_may_refuse_to_jansson)
{
    /* valid JSON that jansson may refuse or that needs decoding: the fast path steps aside */
    const char *fallback[] = {
        "\"\\ud83d\\ude00\"", "\"\\udc00\"", "\"\\u12\"", "\"\\u12g4\"", "{\"\\u0000\":1}", "{\"\\u00e9\":1}",
        "1234567890123456789", "-99999999999999999999", "1e400", "1e308",
    };
    for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++)
        CHECK(!skips(fallback[i]));
    /* \u escapes outside the surrogates in string values pass: binary in JSON ("\u0000" +
     * base64, payload pass-through mode's payloads) keeps to the fast path */
    const char *fast[] = { "\"\\u00e9\"", "\"\\u0000AAEC\"", "[\"\\uFFFF\",{\"k\":\"\\u0041\"}]", "\"\\uD7FF\\uE000\"" };
    for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++)
        CHECK(skips(fast[i]));
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(mb_json_skip(deep, deep + 200) == NULL);
    CHECK(mb_json_skip(deep + 36, deep + 164) == deep + 164); /* 64 levels */
}

/* xorshift, deterministic */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

TEST(skipper_never_accepts_what_jansson_refuses)
{
    /* mutations of valid documents: whenever the skipper takes the whole text, jansson must too */
    const char *seeds[] = {
        "[1,\"two\",{\"three\":[3.5e2,true,null]},false]",
        "{\"a\":\"h\xc3\xa9\",\"b\":[-0.5,{\"c\":\"\\n\"}]}",
        "[\"\xe2\x82\xac\",[],{},\"x\\\"y\"]",
        "[\"a\\u00e9b\",{\"k\":\"\\u0000\\uD7FFAB\"},\"\\uE000\"]",
    };
    const char alphabet[] = "[]{}\",:0123456789.eE+-tfnrul \\/\x01\x7f\x80\xbf\xc3\xe2\xed\xf0\xf4" "aAdDFg";
    int accepted = 0;
    for (int round = 0; round < 200000; round++) {
        char buf[128];
        const char *seed = seeds[rnd() % (sizeof seeds / sizeof seeds[0])];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = 1 + (int)(rnd() % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = rnd() % n;
            switch (rnd() % 3) {
            case 0: buf[at] = alphabet[rnd() % (sizeof alphabet - 1)]; break;
            case 1: /* delete */
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            default: /* insert */
                if (n + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = alphabet[rnd() % (sizeof alphabet - 1)];
                    n++;
                }
            }
        }
        const char *q = mb_json_skip(buf, buf + n);
        if (!q)
            continue;
        accepted++;
        if (!jansson_ok(buf, (size_t)(q - buf))) {
            printf("# skipper took what jansson refuses: %.*s\n", (int)(q - buf), buf);
            CHECK(0);
            return;
        }
    }
    printf("# %d mutants taken by the skipper, all taken by jansson\n", accepted);
    CHECK(accepted > 1000);
}

TEST(writers_match_jansson)
{
    struct mb_buf b = { 0 };
    uint64_t ints[] = { 0, 1, 9, 10, 1234567890, 9007199254740992ULL, UINT64_MAX };
    char want[32];
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        mb_buf_reset(&b);
        REQUIRE(mb_json_put_u64(&b, ints[i]) == 0);
        snprintf(want, sizeof want, "%llu", (unsigned long long)ints[i]);
        CHECK(b.len == strlen(want) && memcmp(mb_buf_data(&b), want, b.len) == 0);
    }
    const char *strs[] = { "", "com.example.add", "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f", "h\xc3\xa9 \xe2\x82\xac" };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        mb_buf_reset(&b);
        REQUIRE(mb_json_put_str(&b, strs[i], strlen(strs[i])) == 0);
        json_t *j = json_string(strs[i]);
        char *dumped = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        CHECK(b.len == strlen(dumped) && memcmp(mb_buf_data(&b), dumped, b.len) == 0);
        free(dumped);
        json_decref(j);
    }
    mb_buf_free(&b);
}

/* mb_json_dump(v) must be byte for byte json_dumps(v, JSON_COMPACT). */
static int dump_agrees(json_t *v)
{
    struct mb_buf b = { 0 };
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int ok = mb_json_dump(&b, v) == 0 && want && b.len == strlen(want) && memcmp(mb_buf_data(&b), want, b.len) == 0;
    if (!ok)
        printf("# jansson: %s\n# moonbar: %.*s\n", want, (int)b.len, b.mem ? mb_buf_data(&b) : "");
    free(want);
    mb_buf_free(&b);
    json_decref(v);
    return ok;
}

TEST(dump_matches_jansson)
{
    const char *docs[] = {
        "[1,-2,0,9223372036854775807,-9223372036854775808,\"h\u00e9\\n\",true,false,null,[],{}]",
        "{\"z\":1,\"a\":{\"b\":[1.5,-0.0,1e300,1e-300,0.1,100.0,123456789.125,2.5e-7]},\"m\":\"\\u0001\"}",
        "[68,1,2,{\"procedure\":\"com.x\"},[\"0123456789abcdef\"],{\"k\":[{}]}]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        CHECK(dump_agrees(json_loads(docs[i], 0, NULL)));
    for (int i = 0; i < 20000; i++) { /* reals of every magnitude */
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (d != d || d - d != 0) /* NaN, infinities: not JSON */
            continue;
        if (!dump_agrees(json_pack("[f]", d))) {
            CHECK(0);
            return;
        }
    }
    CHECK(dump_agrees(json_pack("[I]", (json_int_t)rnd())));
    json_t *nul = json_stringn("a\0b", 3);
    CHECK(dump_agrees(json_pack("[o]", nul)));
}

/* Scans text and checks it against jansson + mb_msg_parse: same type, request, URI, dict,
 * payload. Returns mb_msg_scan's answer. */
static int scan_agrees(const char *text)
{
    struct mb_msg fast, slow;
    size_t len = strlen(text);
    int rc = mb_msg_scan(text, len, &fast);
    if (!rc)
        return 0;
    char err[256];
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    CHECK(root != NULL);
    if (!root)
        return rc;
    CHECK(mb_msg_parse(root, &slow, err, sizeof err) == 0);
    CHECK(fast.type == slow.type && fast.request == slow.request);
    CHECK(fast.uri_len == slow.uri_len && (!fast.uri_len || memcmp(fast.uri, slow.uri, fast.uri_len) == 0));
    json_t *dict = json_loadb(fast.dict_raw, fast.dict_len, 0, NULL);
    CHECK(json_equal(dict, slow.dict));
    json_decref(dict);
    CHECK(mb_msg_payload(&fast) == 0);
    CHECK((fast.args == NULL) == (slow.args == NULL) && (!fast.args || json_equal(fast.args, slow.args)));
    CHECK((fast.kwargs == NULL) == (slow.kwargs == NULL) && (!fast.kwargs || json_equal(fast.kwargs, slow.kwargs)));
    mb_msg_release(&fast);
    json_decref(root);
    return rc;
}

TEST(scanner_takes_the_hot_messages)
{
    CHECK(scan_agrees("[48,1,{},\"com.example.add\",[1,2]]"));
    CHECK(scan_agrees("[48, 9007199254740992, {\"timeout\":100}, \"a.b\", [], {\"x\":[1]}]"));
    CHECK(scan_agrees("[48,7,{},\"a.b\"]"));
    CHECK(scan_agrees(" [16,2,{\"acknowledge\":true},\"t.t\",[\"0123456789abcdef\"]] "));
    CHECK(scan_agrees("[70,3,{},[\"r\"],{\"k\":\"v\"}]"));
    CHECK(scan_agrees("[70,3,{}]"));
    CHECK(scan_agrees("[48,1,{},\"h\xc3\xa9.x\",[\"\xe2\x82\xac\"]]"));
    struct mb_msg m;
    const char *text = "[48,5,{},\"p\",[1] , {\"a\":2}]";
    REQUIRE(mb_msg_scan(text, strlen(text), &m) == 1);
    CHECK(m.tail_len == strlen(",[1] , {\"a\":2}") && memcmp(m.tail, ",[1] , {\"a\":2}", m.tail_len) == 0);
    CHECK(m.args_raw && m.kwargs_raw && !m.args && !m.owns_payload); /* not decoded yet */
    text = "[70,5,{}]";
    REQUIRE(mb_msg_scan(text, strlen(text), &m) == 1);
    CHECK(m.tail_len == 0 && m.args_raw == NULL && m.kwargs_raw == NULL);
}

TEST(scanner_keeps_escaped_payload_strings_as_bytes)
{
    /* a binary argument in JSON ("\u0000" + base64), as payload pass-through mode sends it */
    const char *text = "[48,7,{\"ppt_scheme\":\"x\"},\"p\",[\"\\u0000AQID\"]]";
    struct mb_msg m;
    REQUIRE(mb_msg_scan(text, strlen(text), &m) == 1);
    CHECK(m.args_len == strlen("[\"\\u0000AQID\"]") && memcmp(m.args_raw, "[\"\\u0000AQID\"]", m.args_len) == 0);
    REQUIRE(mb_msg_payload(&m) == 0);
    CHECK(json_string_length(json_array_get(m.args, 0)) == 5);
    mb_msg_release(&m);
}

TEST(scanner_leaves_the_rest_to_jansson)
{
    const char *rest[] = {
        "[1,\"realm1\",{}]",                     /* not a hot message */
        "[32,1,{},\"t\"]", "[64,1,{},\"p\"]", "[8,68,1,{},\"e\"]",
        "[048,1,{},\"p\"]",                      /* leading zero: jansson refuses it */
        "[48,0,{},\"p\"]", "[48,9007199254740993,{},\"p\"]", "[48,-1,{},\"p\"]", "[48,01,{},\"p\"]",
        "[48,1.0,{},\"p\"]", "[48,1,[],\"p\"]", "[48,1,{},1]", "[48,1,{},\"p\",{}]",
        "[48,1,{},\"p\",[],[]]", "[48,1,{},\"p\",[],{},1]", "[48,1,{},\"p\"", "[48,1,{},\"p\"]x",
        "[48,1,{},\"p\\u0041\"]",                /* escaped URI: decoded by jansson */
        "[48,1,{},\"p\",[\"\\ud800\"]]", "[70,1,{},1]", "[16,1,{},\"t\",[1,]]", "{\"a\":1}", "48",
    };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        struct mb_msg m;
        int rc = mb_msg_scan(rest[i], strlen(rest[i]), &m);
        if (rc)
            printf("# scanned: %s\n", rest[i]);
        CHECK(rc == 0);
    }
}

UNIT_MAIN()
