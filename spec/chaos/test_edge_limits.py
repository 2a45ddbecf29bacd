"""Messages at the limits, over JSON, MessagePack and CBOR, WebSocket and RawSocket
(docs/behaviour.md, "Transports", "Serializers (M9)").

Size, with limits.max_message_size = 65536: a PUBLISH of exactly 65536 bytes is acknowledged and
reaches a subscriber intact; one of 65537 bytes is refused (WebSocket: close 1009 naming the
limit; RawSocket: the connection is closed); a frame header announcing 16 MiB with no body is
refused at once. Other sessions carry on.

Nesting: the MessagePack and CBOR codecs (src/core/codec.c, MB_CODEC_MAX_DEPTH = 64) and the JSON
scanner (src/core/json.c, MAX_DEPTH = 64) take Arguments nested 64 deep (the Arguments list counted
as level 1): such a PUBLISH reaches subscribers of all three serializers intact, and such a CALL
reaches a callee of another serializer and its YIELD the caller intact. 65 deep: MessagePack and
CBOR sessions get ABORT wamp.error.protocol_violation "... nesting deeper than 64 ...", others
carry on.

JSON 65 deep: a JSON session may nest deeper (jansson reads up to 2048 levels, and
test_passthrough.py keeps a 69-deep payload between JSON peers): a PUBLISH 65 deep reaches the
JSON subscribers intact and not the MessagePack/CBOR ones (a warn line, as for a NaN to JSON); a
CALL 65 deep to a CBOR callee, or a YIELD 65 deep to a CBOR caller, is answered to the caller
with wamp.error.invalid_argument. (Before this suite's fix in src/router/dealer.c the caller was
never answered: an error line "a INVOCATION message could not be encoded in cbor", nothing else.)
"""
import struct

import pytest

import mb_raw as raw
import mb_raw_ser as rs
from conftest import Witness, bad_level_lines

LIMIT = 65536
SERS = ["json", "msgpack", "cbor"]
TRANSPORTS = ["websocket", "rawsocket"]


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    import mb_router
    with mb_router.running(tmp_path_factory.mktemp("limits"), {"limits": {"max_message_size": LIMIT}}) as r:
        yield r


@pytest.fixture(scope="module")
def witness(router):
    w = Witness(router)
    yield w
    w.close()


def publish_of_size(ser, size, topic="com.chaos.big"):
    """(message, its bytes) of a PUBLISH of exactly `size` bytes in serializer `ser`."""
    pad = size - 60
    for _ in range(10):
        msg = [raw.PUBLISH, 1, {"acknowledge": True}, topic, ["x" * pad]]
        data = rs.encode(ser, msg)
        if len(data) == size:
            return msg, data
        pad += size - len(data)
    raise AssertionError("no PUBLISH of exactly %d bytes in %s" % (size, ser))


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("ser", SERS)
def test_message_of_exactly_the_limit_passes_and_one_byte_more_is_refused(router, witness, ser, transport):
    with rs.connect(router, transport, ser) as sub, rs.connect(router, transport, ser) as pub:
        sub.join()
        sub.send([raw.SUBSCRIBE, 1, {}, "com.chaos.big"])
        sub.expect(raw.SUBSCRIBED)
        pub.join()
        msg, data = publish_of_size(ser, LIMIT)
        pub.send_bytes(data)
        assert pub.expect(raw.PUBLISHED)[1] == 1
        ev = sub.expect(raw.EVENT)
        assert ev[4] == msg[4]
        _, data = publish_of_size(ser, LIMIT + 1)
        pub.send_bytes(data)
        closed = pub.wait_closed()
        if transport == "websocket":
            assert closed.how == "close" and closed.code == 1009, closed
            assert str(LIMIT) in closed.reason, closed.reason
        else:
            assert closed.how in ("eof", "reset"), closed
        # the subscriber got nothing more, and is still there
        sub.send([raw.PUBLISH, 2, {"acknowledge": True, "exclude_me": False}, "com.chaos.big", ["small"]])
        got = sorted((m[0], m[-1]) for m in (sub.recv(), sub.recv()))
        assert got[0][0] == raw.PUBLISHED and got[1] == (raw.EVENT, ["small"]), got
    witness.check()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_16_mib_frame_header_without_a_body_is_refused_at_once(router, witness, transport):
    with raw.connect(router, transport) as c:
        raw.join(c)
        if transport == "websocket":
            # FIN + text, masked, 64-bit length 16 MiB, a mask, and no payload
            c.send_raw(struct.pack("!BBQ", 0x81, 0x80 | 127, 16 * 1024 * 1024) + b"\1\2\3\4")
            closed = c.wait_closed(timeout=2)
            assert closed.how == "close" and closed.code == 1009, closed
        else:
            c.send_raw(struct.pack("!I", 0xFFFFFF))  # type 0 (message), length 2^24 - 1
            closed = c.wait_closed(timeout=2)
            assert closed.how in ("eof", "reset"), closed
    witness.check()


# ---------------------------------------------------------------- nesting

def nested(depth):
    """Arguments nested `depth` deep, the Arguments list itself level 1: [[[...[1]...]]]."""
    v = 1
    for _ in range(depth - 1):
        v = [v]
    return [v]


def json_nested(depth):
    return "[" * depth + "1" + "]" * depth


def send_nested(conn, ser, prefix_json, depth, obj_msg):
    """Send a message ending with Arguments nested `depth` deep: for JSON written as text (Python's
    json module recurses), else encoded."""
    if ser == "json":
        conn.send_bytes((prefix_json + json_nested(depth) + "]").encode())
    else:
        conn.send(obj_msg)


@pytest.fixture
def subscribers(router):
    subs = {}
    for ser in SERS:
        s = rs.connect(router, "websocket", ser)
        s.join()
        s.send([raw.SUBSCRIBE, 1, {}, "com.chaos.deep"])
        s.expect(raw.SUBSCRIBED)
        subs[ser] = s
    yield subs
    for s in subs.values():
        s.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("ser", SERS)
def test_arguments_nested_64_deep_reach_subscribers_of_every_serializer(router, subscribers, ser, transport):
    with rs.connect(router, transport, ser) as pub:
        pub.join()
        send_nested(pub, ser, '[16,1,{"acknowledge":true},"com.chaos.deep",', 64,
                    [raw.PUBLISH, 1, {"acknowledge": True}, "com.chaos.deep", nested(64)])
        assert pub.expect(raw.PUBLISHED)[1] == 1
        for sser, s in subscribers.items():
            ev = s.expect(raw.EVENT)
            assert ev[4] == nested(64), "%s subscriber got another value" % sser


@pytest.mark.parametrize("ser", SERS)
def test_call_and_yield_nested_64_deep_cross_serializers(router, ser):
    other = {"json": "cbor", "msgpack": "json", "cbor": "msgpack"}[ser]
    with rs.connect(router, "websocket", other) as callee, rs.connect(router, "rawsocket", ser) as caller:
        callee.join()
        callee.send([raw.REGISTER, 1, {}, "com.chaos.deep.echo"])
        callee.expect(raw.REGISTERED)
        caller.join()
        send_nested(caller, ser, '[48,5,{},"com.chaos.deep.echo",', 64,
                    [raw.CALL, 5, {}, "com.chaos.deep.echo", nested(64)])
        inv = callee.expect(raw.INVOCATION)
        assert inv[4] == nested(64)
        send_nested(callee, other, '[70,%d,{},' % inv[1], 64, [raw.YIELD, inv[1], {}, nested(64)])
        res = caller.expect(raw.RESULT)
        assert res[1] == 5 and res[3] == nested(64)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("ser", ["msgpack", "cbor"])
def test_arguments_nested_65_deep_abort_the_session(router, witness, subscribers, ser, transport):
    with rs.connect(router, transport, ser) as pub:
        pub.join()
        pub.send([raw.PUBLISH, 1, {"acknowledge": True}, "com.chaos.deep", nested(65)])
        msg, _ = pub.expect_abort_then_close()
        assert "nesting deeper than 64" in msg[1]["message"], msg
    with rs.connect(router, "websocket", "json") as pub:   # nothing of the aborted PUBLISH came
        pub.join()
        pub.send([raw.PUBLISH, 2, {"acknowledge": True}, "com.chaos.deep", ["after"]])
        pub.expect(raw.PUBLISHED)
    for sser, s in subscribers.items():
        assert s.expect(raw.EVENT)[4] == ["after"], sser
    witness.check()
    assert bad_level_lines(router) == []


def test_json_publish_nested_65_deep_reaches_json_subscribers_only(router, subscribers):
    """JSON may nest deeper than 64 (jansson reads 2048 levels; test_passthrough.py's "deep"
    payload); what MessagePack and CBOR cannot carry is not delivered to them, with a warn line."""
    with rs.connect(router, "websocket", "json") as pub:
        pub.join()
        mark = router.log_mark()
        send_nested(pub, "json", '[16,1,{"acknowledge":true},"com.chaos.deep",', 65, None)
        assert pub.expect(raw.PUBLISHED)[1] == 1
        assert subscribers["json"].expect(raw.EVENT)[4] == nested(65)
        for ser in ("msgpack", "cbor"):
            router.wait_for_log(r"warn .*its EVENT cannot be encoded in %s" % ser, since=mark)
        pub.send([raw.PUBLISH, 2, {"acknowledge": True}, "com.chaos.deep", ["after"]])
        pub.expect(raw.PUBLISHED)
    for ser, s in subscribers.items():
        assert s.expect(raw.EVENT)[4] == ["after"], ser


def test_json_call_and_yield_nested_65_deep_to_cbor_are_answered(router, witness):
    """Fixed with this suite: a CALL (or YIELD) that the fast path left to jansson and that cannot
    be encoded for the other side was dropped with an error line, and the caller waited for ever.
    Now the caller gets wamp.error.invalid_argument, as for a NaN going to JSON."""
    with rs.connect(router, "websocket", "cbor") as callee, rs.connect(router, "websocket", "json") as caller:
        callee.join()
        callee.send([raw.REGISTER, 1, {}, "com.chaos.deep.cbor"])
        callee.expect(raw.REGISTERED)
        caller.join()
        send_nested(caller, "json", '[48,9,{},"com.chaos.deep.cbor",', 65, None)
        err = caller.expect(raw.ERROR, timeout=2)
        assert err[1:3] == [raw.CALL, 9] and err[4] == "wamp.error.invalid_argument", err
        assert "cbor" in err[5][0], err
        caller.send([raw.CALL, 10, {}, "com.chaos.deep.cbor", [1]])   # the callee got nothing else
        inv = callee.expect(raw.INVOCATION)
        assert inv[4] == [1]
        callee.send([raw.YIELD, inv[1], {}, ["ok"]])
        assert caller.expect(raw.RESULT)[1:4:2] == [10, ["ok"]]
    with rs.connect(router, "websocket", "json") as callee, rs.connect(router, "rawsocket", "cbor") as caller:
        callee.join()
        callee.send([raw.REGISTER, 1, {}, "com.chaos.deep.json"])
        callee.expect(raw.REGISTERED)
        caller.join()
        caller.send([raw.CALL, 11, {}, "com.chaos.deep.json", [1]])
        inv = callee.expect(raw.INVOCATION)
        send_nested(callee, "json", '[70,%d,{},' % inv[1], 65, None)
        err = caller.expect(raw.ERROR, timeout=2)
        assert err[1:3] == [raw.CALL, 11] and err[4] == "wamp.error.invalid_argument", err
    witness.check()
