/* mb_http (request heads) and mb_wsproto (WebSocket frames, handshake values, subprotocol
 * choice, permessage-deflate offers). */
#include "unit.h"

#include "mb_http.h"
#include "mb_wsproto.h"

#include <stdint.h>

static int parse(const char *head, struct mb_http_request *req)
{
    return mb_http_parse(head, strlen(head), req);
}

static int str_eq(struct mb_http_str s, const char *want)
{
    return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static struct mb_http_request req; /* big: not on the stack of every test */

/* ---- request heads ---- */

TEST(http_parses_request_line_and_headers)
{
    const char *h = "GET /a/b.html?x=1&y HTTP/1.1\r\nHost: example\r\nX-Empty:\r\n"
                    "Accept:   text/html  \r\n\r\nBODY";
    int n = parse(h, &req);
    CHECK_EQ_INT(n, (int)(strstr(h, "BODY") - h));
    CHECK(str_eq(req.method, "GET"));
    CHECK(str_eq(req.target, "/a/b.html?x=1&y"));
    CHECK(str_eq(req.path, "/a/b.html"));
    CHECK(str_eq(req.query, "x=1&y"));
    CHECK_EQ_INT(req.minor, 1);
    CHECK_EQ_INT(req.nheaders, 3);
    const struct mb_http_str *v = mb_http_header(&req, "ACCEPT", 0);
    REQUIRE(v);
    CHECK(str_eq(*v, "text/html"));
    v = mb_http_header(&req, "x-empty", 0);
    REQUIRE(v);
    CHECK_EQ_INT(v->n, 0);
    CHECK(mb_http_header(&req, "host", 1) == NULL);
}

TEST(http_accepts_bare_lf_leading_blank_lines_and_absolute_form)
{
    CHECK(parse("\r\n\r\nGET / HTTP/1.0\nA: b\n\n", &req) > 0);
    CHECK_EQ_INT(req.minor, 0);
    CHECK(str_eq(req.path, "/"));
    CHECK(req.query.n == 0);
    CHECK(parse("GET http://h:1/p/q?z HTTP/1.1\r\n\r\n", &req) > 0);
    CHECK(str_eq(req.path, "/p/q"));
    CHECK(str_eq(req.query, "z"));
}

TEST(http_incomplete_head_asks_for_more)
{
    CHECK_EQ_INT(parse("GET / HTTP/1.1\r\nHost: x\r\n", &req), MB_HTTP_INCOMPLETE);
    CHECK_EQ_INT(parse("GET / HT", &req), MB_HTTP_INCOMPLETE);
    CHECK_EQ_INT(parse("", &req), MB_HTTP_INCOMPLETE);
    CHECK_EQ_INT(parse("GET", &req), MB_HTTP_INCOMPLETE);
}

TEST(http_malformed_heads_are_400)
{
    const char *bad[] = {
        "GET / HTTP/1.1 extra\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n", "GET / http/1.1\r\n\r\n", "GET relative HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "GET / HTTP/1.1\r\nName : v\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\n: v\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\001c\r\n\r\n", "GET /a\x7f HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02",
        "GET http://host HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], &req);
        if (rc != MB_HTTP_BAD)
            printf("# case %zu: %d\n", i, rc);
        CHECK_EQ_INT(rc, MB_HTTP_BAD);
    }
}

TEST(http_head_over_8k_or_too_many_headers_is_431)
{
    static char big[MB_HTTP_HEAD_MAX + 100];
    strcpy(big, "GET / HTTP/1.1\r\nX: ");
    size_t n = strlen(big);
    memset(big + n, 'a', sizeof big - n - 1);
    big[sizeof big - 1] = '\0';
    CHECK_EQ_INT(mb_http_parse(big, MB_HTTP_HEAD_MAX, &req), MB_HTTP_TOO_LARGE);
    CHECK_EQ_INT(mb_http_parse(big, sizeof big - 1, &req), MB_HTTP_TOO_LARGE);
    /* a head of exactly the limit is fine */
    memcpy(big + MB_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
    CHECK_EQ_INT(mb_http_parse(big, MB_HTTP_HEAD_MAX, &req), MB_HTTP_HEAD_MAX);
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i <= MB_HTTP_HEADERS_MAX; i++)
        sprintf(many + strlen(many), "H%d: v\r\n", i);
    strcat(many, "\r\n");
    CHECK_EQ_INT(parse(many, &req), MB_HTTP_TOO_LARGE);
    /* junk that cannot be a request line is 400 however much of it came at once (it is 400
     * from its first bad byte, so the verdict may not depend on the chunking) */
    memset(big, 'a', sizeof big - 1);
    memcpy(big, ".cbor/http://X-Pad: ", 20);
    CHECK_EQ_INT(mb_http_parse(big, 100, &req), MB_HTTP_BAD);
    CHECK_EQ_INT(mb_http_parse(big, sizeof big - 1, &req), MB_HTTP_BAD);
}

TEST(http_token_lists_span_lines_and_ignore_case)
{
    REQUIRE(parse("GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
                  "X-L: a, ,b\r\nx-l:c,  d  \r\n\r\n", &req) > 0);
    CHECK(mb_http_has_token(&req, "connection", "upgrade"));
    CHECK(mb_http_has_token(&req, "Upgrade", "websocket"));
    CHECK(!mb_http_has_token(&req, "connection", "close"));
    const char *want[] = { "a", "b", "c", "d" };
    struct mb_http_str e;
    size_t k = 0;
    for (size_t it = 0; mb_http_next_element(&req, "x-l", &it, &e); k++)
        if (k < 4)
            CHECK(str_eq(e, want[k]));
    CHECK_EQ_INT(k, 4);
}

TEST(http_keep_alive_rules)
{
    REQUIRE(parse("GET / HTTP/1.1\r\n\r\n", &req) > 0);
    CHECK(mb_http_keep_alive(&req));
    REQUIRE(parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", &req) > 0);
    CHECK(!mb_http_keep_alive(&req));
    REQUIRE(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    CHECK(!mb_http_keep_alive(&req));
    REQUIRE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req) > 0);
    CHECK(mb_http_keep_alive(&req));
}

TEST(http_path_decoding_and_traversal)
{
    char out[64];
    struct mb_http_str p = { "/a%20b/%2e%2E/c", 15 };
    CHECK_EQ_INT(mb_http_decode_path(p, out, sizeof out), 9);
    CHECK_EQ_STR(out, "/a b/../c");
    CHECK(mb_http_path_escapes(out));
    CHECK(mb_http_decode_path((struct mb_http_str){ "/%2", 3 }, out, sizeof out) < 0);
    CHECK(mb_http_decode_path((struct mb_http_str){ "/%zz", 4 }, out, sizeof out) < 0);
    CHECK(mb_http_decode_path((struct mb_http_str){ "/%00", 4 }, out, sizeof out) < 0);
    CHECK(mb_http_decode_path((struct mb_http_str){ "/abcdef", 7 }, out, 4) < 0);
    CHECK(mb_http_path_escapes("/.."));
    CHECK(mb_http_path_escapes("/../x"));
    CHECK(mb_http_path_escapes("/a/..\\x"));
    CHECK(!mb_http_path_escapes("/a..b/c.."));
    CHECK(!mb_http_path_escapes("/...") );
    CHECK(!mb_http_path_escapes("/index.html"));
}

/* ---- frames ---- */

TEST(ws_frame_heads_of_every_length_form)
{
    struct mb_ws_frame f;
    const unsigned char small[] = { 0x81, 0x85, 1, 2, 3, 4 };
    CHECK_EQ_INT(mb_ws_parse_head(small, sizeof small, &f), 6);
    CHECK(f.fin && !f.rsv1 && f.masked && f.opcode == 1 && f.len == 5 && f.mask[3] == 4);
    CHECK_EQ_INT(mb_ws_parse_head(small, 5, &f), 0);
    const unsigned char mid[] = { 0x02, 0xfe, 0x01, 0x00, 9, 9, 9, 9 };
    CHECK_EQ_INT(mb_ws_parse_head(mid, sizeof mid, &f), 8);
    CHECK(!f.fin && f.opcode == 2 && f.len == 256);
    CHECK_EQ_INT(mb_ws_parse_head(mid, 3, &f), 0);
    const unsigned char big[] = { 0xc1, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };
    CHECK_EQ_INT(mb_ws_parse_head(big, sizeof big, &f), 14);
    CHECK(f.rsv1 && f.len == ((uint64_t)1 << 32));
    CHECK_EQ_INT(mb_ws_parse_head(big, 13, &f), 0);
    const unsigned char huge[] = { 0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };
    CHECK_EQ_INT(mb_ws_parse_head(huge, sizeof huge, &f), -1);
    const unsigned char unmasked[] = { 0x81, 0x03, 'a', 'b', 'c' };
    CHECK_EQ_INT(mb_ws_parse_head(unmasked, sizeof unmasked, &f), 2);
    CHECK(!f.masked);
}

static struct mb_ws_frame frame(bool fin, int opcode, uint64_t len)
{
    struct mb_ws_frame f = { .fin = fin, .masked = true, .opcode = opcode, .len = len };
    return f;
}

TEST(ws_frame_rules)
{
    struct mb_ws_rx rx = { 0 };
    struct mb_ws_frame f = frame(true, MB_WS_TEXT, 10);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 100), 0);
    f.masked = false;
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 100), 1002);
    f = frame(true, MB_WS_TEXT, 10);
    f.rsv1 = true;
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 100), 1002);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 0);
    f.rsv1 = false;
    f.rsv23 = 1;
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 1002);
    for (int op = 3; op <= 15; op++) {
        if (op >= 8 && op <= 10)
            continue;
        f = frame(true, op, 1);
        CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 100), 1002);
    }
    f = frame(true, MB_WS_PING, 126);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 1000), 1002);
    f = frame(true, MB_WS_PING, 125);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 1000), 0);
    f = frame(false, MB_WS_PING, 1);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 1000), 1002);
    f = frame(true, MB_WS_CLOSE, 2);
    f.rsv1 = true;
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 1000), 1002);
    f = frame(true, MB_WS_BINARY, 101);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 100), 1009);
    f = frame(true, MB_WS_CONT, 1); /* nothing to continue */
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, false, 100), 1002);
}

TEST(ws_fragmented_messages_follow_the_continuation_rules)
{
    struct mb_ws_rx rx = { 0 };
    struct mb_ws_frame f = frame(false, MB_WS_TEXT, 40);
    f.rsv1 = true;
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 0);
    CHECK(rx.opcode == MB_WS_TEXT && rx.compressed && rx.len == 40);
    f = frame(true, MB_WS_PING, 3); /* control frames may come in between */
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 0);
    f = frame(false, MB_WS_BINARY, 1); /* no new message inside one */
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 1002);
    f = frame(false, MB_WS_CONT, 10);
    f.rsv1 = true; /* RSV1 on a continuation */
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 1002);
    f.rsv1 = false;
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 0);
    CHECK(rx.len == 50);
    f = frame(true, MB_WS_CONT, 51); /* the whole message over the limit */
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 1009);
    f = frame(true, MB_WS_CONT, 50);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 0);
    CHECK(rx.opcode == 0);
    f = frame(true, MB_WS_CONT, 1);
    CHECK_EQ_INT(mb_ws_check_frame(&rx, &f, true, 100), 1002);
}

TEST(ws_unmask_at_any_offset_and_server_heads)
{
    const unsigned char mask[4] = { 0x11, 0x22, 0x33, 0x44 };
    unsigned char plain[37], wire[37], out[37];
    for (int i = 0; i < 37; i++) {
        plain[i] = (unsigned char)(i * 7);
        wire[i] = plain[i] ^ mask[i & 3];
    }
    /* in pieces of odd sizes, as reads deliver them */
    size_t at = 0;
    for (size_t step = 1; at < sizeof wire; step += 2) {
        size_t n = at + step > sizeof wire ? sizeof wire - at : step;
        mb_ws_unmask_copy(out + at, wire + at, n, mask, at);
        at += n;
    }
    CHECK(memcmp(out, plain, sizeof plain) == 0);
    memcpy(out, wire, sizeof wire);
    mb_ws_unmask(out, sizeof out, mask, 0);
    CHECK(memcmp(out, plain, sizeof plain) == 0);

    unsigned char h[10];
    CHECK_EQ_INT(mb_ws_put_head(h, MB_WS_TEXT, false, 125), 2);
    CHECK(h[0] == 0x81 && h[1] == 125);
    CHECK_EQ_INT(mb_ws_put_head(h, MB_WS_BINARY, true, 126), 4);
    CHECK(h[0] == 0xc2 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK_EQ_INT(mb_ws_put_head(h, MB_WS_TEXT, false, 70000), 10);
    CHECK(h[1] == 127 && h[7] == 0x01 && h[8] == 0x11 && h[9] == 0x70);
}

/* ---- handshake ---- */

TEST(ws_accept_of_the_rfc_example_key)
{
    char out[29];
    struct mb_http_str key = { "dGhlIHNhbXBsZSBub25jZQ==", 24 };
    CHECK(mb_ws_key_valid(key));
    REQUIRE(mb_ws_accept(key, out) == 0);
    /* RFC 6455 §1.3 (the value in some write-ups, "...zzxo+xOOo4A=", is not it) */
    CHECK_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    REQUIRE(mb_ws_accept(key, out) == 0); /* the kept digest context, again */
    CHECK_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    mb_ws_accept_cleanup();
    CHECK(!mb_ws_key_valid((struct mb_http_str){ "dGhlIHNhbXBsZSBub25jZQ=", 23 }));
    CHECK(!mb_ws_key_valid((struct mb_http_str){ "dGhlIHNhbXBsZSBub25jZQ=x", 24 }));
    CHECK(!mb_ws_key_valid((struct mb_http_str){ "dGhlIHNhbXBs!SBub25jZQ==", 24 }));
    CHECK(!mb_ws_key_valid((struct mb_http_str){ "dGhlIHNhbXBsZSBub25jZSBub25jZQ==", 32 }));
}

#define ALL_SERS 7u

TEST(ws_subprotocol_is_the_clients_first_spoken_one)
{
    bool offered;
    REQUIRE(parse("GET /ws HTTP/1.1\r\nSec-WebSocket-Protocol: wamp.2.cbor, wamp.2.json\r\n\r\n", &req) > 0);
    CHECK_EQ_INT(mb_ws_pick_subprotocol(&req, ALL_SERS, &offered), 2);
    CHECK(offered);
    CHECK_EQ_INT(mb_ws_pick_subprotocol(&req, 1u, &offered), 0);
    CHECK_EQ_INT(mb_ws_pick_subprotocol(&req, 2u, &offered), -1);
    REQUIRE(parse("GET /ws HTTP/1.1\r\nSec-WebSocket-Protocol: wamp.2.cbor.batched, x\r\n"
                  "Sec-WebSocket-Protocol: wamp.2.msgpack.batched,wamp.2.msgpack,wamp.2.json\r\n\r\n", &req) > 0);
    CHECK_EQ_INT(mb_ws_pick_subprotocol(&req, ALL_SERS, &offered), 1);
    REQUIRE(parse("GET /ws HTTP/1.1\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", &req) > 0);
    CHECK_EQ_INT(mb_ws_pick_subprotocol(&req, ALL_SERS, &offered), -1);
    CHECK(offered);
    REQUIRE(parse("GET /ws HTTP/1.1\r\n\r\n", &req) > 0);
    CHECK_EQ_INT(mb_ws_pick_subprotocol(&req, ALL_SERS, &offered), -1);
    CHECK(!offered);
    /* a 2 KB offer with json last */
    static char head[4096];
    strcpy(head, "GET /ws HTTP/1.1\r\nSec-WebSocket-Protocol: ");
    for (int i = 0; i < 150; i++)
        sprintf(head + strlen(head), "x-proto-%03d, ", i);
    strcat(head, "wamp.2.json\r\n\r\n");
    REQUIRE(parse(head, &req) > 0);
    CHECK_EQ_INT(mb_ws_pick_subprotocol(&req, ALL_SERS, &offered), 0);
}

static bool offer(const char *ext, struct mb_ws_deflate *d)
{
    static char head[1024];
    snprintf(head, sizeof head, "GET /ws HTTP/1.1\r\nSec-WebSocket-Extensions: %s\r\n\r\n", ext);
    if (parse(head, &req) <= 0)
        return false;
    return mb_ws_deflate_offer(&req, d);
}

TEST(ws_deflate_offers)
{
    struct mb_ws_deflate d;
    char resp[200];
    CHECK(offer("permessage-deflate", &d) && d.on && d.server_max_window_bits == 0);
    mb_ws_deflate_response(&d, resp, sizeof resp);
    CHECK_EQ_STR(resp, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    CHECK(offer("permessage-deflate; client_max_window_bits", &d));
    CHECK(offer("Permessage-Deflate; client_max_window_bits=10; server_no_context_takeover", &d));
    CHECK(offer("permessage-deflate; server_max_window_bits=\"12\"", &d) && d.server_max_window_bits == 12);
    mb_ws_deflate_response(&d, resp, sizeof resp);
    CHECK_HAS_STR(resp, "server_max_window_bits=12");
    CHECK(offer("permessage-deflate;client_no_context_takeover", &d));
    /* declined: moonbar cannot satisfy or does not know them */
    CHECK(!offer("permessage-deflate; server_max_window_bits=8", &d) && !d.on);
    CHECK(!offer("permessage-deflate; server_max_window_bits", &d));
    CHECK(!offer("permessage-deflate; server_max_window_bits=16", &d));
    CHECK(!offer("permessage-deflate; client_max_window_bits=7", &d));
    CHECK(!offer("permessage-deflate; x_unknown", &d));
    CHECK(!offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover", &d));
    CHECK(!offer("permessage-deflate; server_no_context_takeover=1", &d));
    CHECK(!offer("x-webkit-deflate-frame", &d));
    /* the first offer moonbar can take, among several */
    CHECK(offer("foo, permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10",
                &d) && d.server_max_window_bits == 10);
}

UNIT_MAIN()
