"""Payloads pass through the router as bytes (docs/performance.md, "pass-through payloads").

CALL → INVOCATION, YIELD → RESULT and PUBLISH → EVENT carry Arguments and ArgumentsKw exactly
as the sender wrote them: numbers keep their spelling, dict keys their order. Messages the fast
path does not take (\\u escapes, huge numbers) are decoded and re-encoded, and must still mean
the same. Broken payloads are protocol violations either way. Raw peers over both transports."""
import json

import pytest

import mb_raw as raw

TRANSPORTS = ["websocket", "rawsocket"]

# payload texts that jansson would re-encode differently: a byte-exact copy proves pass-through
VERBATIM = [
    '[1.50,1E2,-0,{"b":1,"a":2},"h\u00e9 \u20ac",[ ],{ }]',
    '[ "spaced" , 2 ] , { "z" : null , "y" : [true,false] }',
    '["tab\\tand\\/slash\\"quote"]',
]
# payloads the fast path leaves to jansson: the receiver must get the same values
DECODED = [
    '["\\u00e9\\u0000x"]',
    '[1234567890123456789, -9223372036854775808]',
    '[1e300, 1.5e-300, 123456789012345678901234567890.5]',
    '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
]


def payload_of(text, fixed):
    """The bytes after the first `fixed` elements of a message text, without the final ']'."""
    doc = text.decode("utf-8")
    # walk the fixed fields with a JSON decoder: robust to the router's spacing
    dec = json.JSONDecoder()
    i = doc.index("[") + 1
    for _ in range(fixed):
        while doc[i] in " \t\r\n,":
            i += 1
        _, i = dec.raw_decode(doc, i)
    return doc[i:doc.rindex("]")]


def pair(router, transport):
    callee, caller = raw.connect(router, transport), raw.connect(router, transport)
    raw.join(callee)
    raw.join(caller)
    return callee, caller


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("payload", VERBATIM)
def test_call_and_result_payloads_pass_through_byte_for_byte(router, transport, payload):
    callee, caller = pair(router, transport)
    with callee, caller:
        raw.register(callee, "com.pass.echo")
        caller.send_text('[48,7,{},"com.pass.echo",%s]' % payload)
        inv = callee.recv_message()
        assert payload_of(inv, 4) == "," + payload
        inv_id = json.loads(inv)[1]
        callee.send_text('[70,%d,{},%s]' % (inv_id, payload))
        res = caller.recv_message()
        assert json.loads(res)[:3] == [raw.RESULT, 7, {}]
        assert payload_of(res, 3) == "," + payload


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("payload", VERBATIM)
def test_event_payload_passes_through_byte_for_byte(router, transport, payload):
    sub, pub = pair(router, transport)
    with sub, pub:
        raw.subscribe(sub, "com.pass.topic")
        raw.subscribe(sub, "com.pass", {"match": "prefix"})
        pub.send_text('[16,3,{"acknowledge":true},"com.pass.topic",%s]' % payload)
        assert raw.expect(pub, raw.PUBLISHED)[1] == 3
        details = []
        for _ in range(2):  # one EVENT per subscription, the prefix one with details.topic
            ev = sub.recv_message()
            assert payload_of(ev, 4) == "," + payload
            details.append(json.loads(ev)[3])
        assert sorted(details, key=len) == [{}, {"topic": "com.pass.topic"}]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("payload", DECODED, ids=["unicode_escapes", "big_int", "extreme_reals", "deep"])
def test_payloads_the_fast_path_leaves_to_jansson_keep_their_values(router, transport, payload):
    callee, caller = pair(router, transport)
    with callee, caller:
        raw.register(callee, "com.pass.decoded")
        caller.send_text('[48,8,{},"com.pass.decoded",%s]' % payload)
        inv = json.loads(callee.recv_message())
        want = json.loads(payload)
        assert inv[0] == raw.INVOCATION and inv[4] == want
        callee.send_text('[70,%d,{},%s,{"k":%s}]' % (inv[1], payload, payload))
        res = json.loads(caller.recv_message())
        assert res == [raw.RESULT, 8, {}, want, {"k": want}]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_result_of_a_payload_free_yield_has_no_payload(router, transport):
    callee, caller = pair(router, transport)
    with callee, caller:
        raw.register(callee, "com.pass.empty")
        caller.send_text('[48,9,{},"com.pass.empty"]')
        inv = json.loads(callee.recv_message())
        assert inv == [raw.INVOCATION, inv[1], inv[2], {}]
        callee.send_text('[70,%d,{}]' % inv[1])
        assert json.loads(caller.recv_message()) == [raw.RESULT, 9, {}]


BROKEN = {
    "call_trailing_comma": '[48,1,{},"com.p",[1,]]',
    "call_bad_number": '[48,1,{},"com.p",[01]]',
    "call_overflowing_real": '[48,1,{},"com.p",[1e400]]',
    "call_kwargs_unclosed": '[48,1,{},"com.p",[],{"a":1]',
    "call_garbage_after": '[48,1,{},"com.p",[1]] x',
    "call_options_broken": '[48,1,{"timeout":},"com.p",[1]]',
    "publish_bare_word": '[16,1,{},"com.t",[nope]]',
    "publish_control_char": '[16,1,{},"com.t",["a\x01b"]]',
    "yield_bad_escape": '[70,1,{},["\\x"]]',
    "yield_too_big_int": '[70,1,{},[99999999999999999999]]',
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_payloads_on_the_fast_path_are_protocol_violations(router, witness, transport, case):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        conn.send_text(BROKEN[case])
        msg = raw.expect(conn, raw.ABORT)
        assert msg[2] == "wamp.error.protocol_violation"
        assert msg[1]["message"]
        conn.wait_closed()
    witness.check()


def test_invalid_utf8_in_a_rawsocket_payload_is_a_protocol_violation(router, witness):
    # (a WebSocket text frame with invalid UTF-8 is refused by the transport itself)
    with raw.connect(router, "rawsocket") as conn:
        raw.join(conn)
        conn.send_text(b'[16,1,{},"com.t",["\xc3\x28"]]')
        assert raw.expect(conn, raw.ABORT)[2] == "wamp.error.protocol_violation"
        conn.wait_closed()
    witness.check()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_options_are_read_from_each_message_even_when_their_bytes_repeat(router, transport):
    """Options dicts are decoded once per distinct text: many distinct texts (evicting each
    other) and repeated ones must each act as written."""
    sub, pub = pair(router, transport)
    with sub, pub:
        raw.subscribe(sub, "com.pass.acks")
        acked = []
        for i in range(300):
            ack = i % 3 != 0
            opts = '{"acknowledge":%s,"n":%d}' % ("true" if ack else "false", i % 150)
            pub.send_text('[16,%d,{"acknowledge":%s},"com.pass.acks",[%d]]' % (
                i + 1, "true" if ack else "false", i) if i % 2 else
                '[16,%d,%s,"com.pass.acks",[%d]]' % (i + 1, opts, i))
            if ack:
                acked.append(i + 1)
        # Options longer than the cache keeps (120 bytes) are decoded every time
        long_opts = '{"acknowledge":%s,"pad":"' + "x" * 200 + '"}'
        for i in range(300, 304):
            ack = i % 2 == 0
            pub.send_text('[16,%d,%s,"com.pass.acks",[%d]]' % (
                i + 1, long_opts % ("true" if ack else "false"), i))
            if ack:
                acked.append(i + 1)
        got = [raw.expect(pub, raw.PUBLISHED)[1] for _ in acked]
        assert got == acked
        events = [json.loads(sub.recv_message())[4][0] for _ in range(304)]
        assert events == list(range(304))
