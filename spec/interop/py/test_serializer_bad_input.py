"""Bad input in MessagePack and CBOR (and JSON) sessions over WebSocket, RawSocket on TCP and
RawSocket on a Unix socket: malformed bytes (truncated strings, a CBOR break outside an
indefinite item, reserved bytes, invalid UTF-8, declared lengths far beyond the frame), wrong
types, the wrong WebSocket frame type for the session, truncated frames and frames longer than
max_message_size. A malformed message is answered with ABORT wamp.error.protocol_violation
(with a message) in the session's own serializer, then the connection closes; bystander
sessions of every serializer carry on (docs/behaviour.md, Sessions).

The bad item sits where the router must look at it: as HELLO's realm (before HELLO), in the
Arguments of a PUBLISH or a CALL (the fast paths that pass payloads through) or in the
Options of a PUBLISH (after WELCOME). Under valgrind (or MOONBAR_MATRIX=short) each bad input
runs once, in one position over one transport, taken in turn (mb_matrix.short_matrix).
"""
import socket

import pytest

import mb_matrix as mx
import mb_raw as raw
import mb_raw_ser as rs
import mb_router

TRANSPORTS = ["websocket", "rawsocket", "unix"]
BINARY = ["msgpack", "cbor"]
ROLES = {"roles": raw.ROLES}
SMALL_LIMIT = 4096


def mp(obj):
    return rs.encode("msgpack", obj)


def cb(obj):
    return rs.encode("cbor", obj)


# name -> (bytes of one bad item, whether valid items may follow it: False when the item runs
# to the end of the frame, e.g. a string whose bytes are missing)
BAD_ITEMS = {
    "msgpack": {
        "truncated_str": (b"\xaarealm1", False),
        "str32_of_4GiB": (b"\xdb\xff\xff\xff\xffabc", False),
        "bin32_of_4GiB": (b"\xc6\xff\xff\xff\xff\x00\x01", False),
        "array32_of_4G_items": (b"\xdd\xff\xff\xff\xff\x01\x02", False),
        "map32_of_4G_pairs": (b"\xdf\xff\xff\xff\xff\xa1k\x01", False),
        "truncated_uint64": (b"\xcf\x00\x01", False),
        "truncated_float64": (b"\xcb\x3f\xf0", False),
        "reserved_byte_c1": (b"\xc1", True),
        "invalid_utf8_str": (b"\xa2\xc3\x28", True),
        "overlong_utf8_str": (b"\xa2\xc0\xaf", True),
        "utf8_surrogate_str": (b"\xa3\xed\xa0\x80", True),
        "map_with_int_key": (b"\x81\x01\x02", True),
        "nested_200_deep": (b"\x91" * 200 + b"\x01", True),
    },
    "cbor": {
        "truncated_text": (b"\x6arealm1", False),
        "text_of_2^64-1_bytes": (b"\x7b" + b"\xff" * 8 + b"abc", False),
        "text_of_4GiB": (b"\x7a\xff\xff\xff\xffab", False),
        "bytes_of_4GiB": (b"\x5a\xff\xff\xff\xff\x00", False),
        "array_of_2^64-1_items": (b"\x9b" + b"\xff" * 8 + b"\x01", False),
        "unterminated_indefinite_array": (b"\x9f\x01\x02", False),
        "truncated_uint64": (b"\x1b\x00\x01", False),
        "break_outside_indefinite": (b"\xff", True),
        "reserved_additional_info_28": (b"\x1c", True),
        "reserved_simple_fc": (b"\xfc", True),
        "two_byte_simple_below_32": (b"\xf8\x10", True),
        "invalid_utf8_text": (b"\x62\xc3\x28", True),
        "indefinite_text_with_int_chunk": (b"\x7f\x01\xff", True),
        "map_with_int_key": (b"\xa1\x01\x02", True),
        "nested_200_deep": (b"\x81" * 200 + b"\x01", True),
    },
}


def array_head(ser, n):
    return bytes([(0x90 if ser == "msgpack" else 0x80) | n])


def frames_with(ser, item, rest_ok, where):
    """A message with the bad item at `where`: "hello_realm", "publish_args", "call_args" or
    "publish_options"."""
    enc = lambda v: rs.encode(ser, v)  # noqa: E731
    if where == "hello_realm":
        return array_head(ser, 3) + enc(raw.HELLO) + item + (enc(ROLES) if rest_ok else b"")
    if where == "publish_options":
        return (array_head(ser, 5) + enc(raw.PUBLISH) + enc(1) + item
                + (enc("com.matrix.bad") + enc([1]) if rest_ok else b""))
    code = raw.PUBLISH if where == "publish_args" else raw.CALL
    return (array_head(ser, 6) + enc(code) + enc(7) + enc({}) + enc("com.matrix.bad")
            + array_head(ser, 2) + enc(1) + item + (enc({"k": "v"}) if rest_ok else b""))


WHERE = ["hello_realm", "publish_args", "call_args", "publish_options"]


def spread(cases, *axes):
    """Each case with every combination of the axes' values, or (short matrix: valgrind) with
    one combination each, taken in turn, so that every value still comes up."""
    if not mx.short_matrix():
        out = [()]
        for axis in axes:
            out = [o + (v,) for o in out for v in axis]
        return [tuple(c) + o for c in cases for o in out]
    return [tuple(c) + tuple(axis[i % len(axis)] for axis in axes) for i, c in enumerate(cases)]


MALFORMED = spread([(ser, name) for ser in BINARY for name in BAD_ITEMS[ser]], WHERE, TRANSPORTS)

# wrong types and shapes: (serializer, name) -> (join first?, message bytes)
WRONG = {}
for _ser, _enc in (("msgpack", mp), ("cbor", cb)):
    WRONG.update({
        (_ser, "hello_realm_int"): (False, _enc([raw.HELLO, 5, ROLES])),
        (_ser, "hello_realm_null"): (False, _enc([raw.HELLO, None, ROLES])),
        (_ser, "hello_details_list"): (False, _enc([raw.HELLO, "realm1", [1]])),
        (_ser, "code_as_string"): (False, _enc(["1", "realm1", ROLES])),
        (_ser, "code_as_float"): (True, _enc([32.0, 1, {}, "com.t"])),
        (_ser, "not_an_array"): (False, _enc({"a": 1})),
        (_ser, "empty_array"): (True, _enc([])),
        (_ser, "empty_message"): (True, b""),
        (_ser, "trailing_bytes"): (True, _enc([raw.PUBLISH, 1, {}, "com.t", [1]]) + b"\x00"),
        (_ser, "two_messages_in_one"): (False, _enc([raw.HELLO, "realm1", ROLES]) * 2),
        (_ser, "publish_options_list"): (True, _enc([raw.PUBLISH, 1, [], "com.t"])),
        (_ser, "call_args_not_a_list"): (True, _enc([raw.CALL, 1, {}, "com.t", {"a": 1}])),
        (_ser, "call_kwargs_not_a_dict"): (True, _enc([raw.CALL, 1, {}, "com.t", [], [1]])),
        (_ser, "request_id_negative"): (True, _enc([raw.SUBSCRIBE, -1, {}, "com.t"])),
        (_ser, "request_id_over_2^53"): (True, _enc([raw.SUBSCRIBE, 2 ** 64 - 1, {}, "com.t"])),
    })
WRONG.update({
    ("json", "hello_realm_int"): (False, rs.encode("json", [raw.HELLO, 5, ROLES])),
    ("json", "truncated"): (False, b'[1, "realm1", {'),
    ("json", "invalid_utf8"): (True, b'[16,1,{},"com.t",["\xc3\x28"]]'),
})


def matrix_config(sock_path):
    return {
        "websocket": False,
        "rawsocket": False,
        "listeners": [
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws"},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0},
            {"type": "rawsocket", "unix": sock_path},
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws",
             "max_message_size": SMALL_LIMIT},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0,
             "max_message_size": SMALL_LIMIT},
        ],
    }


@pytest.fixture(scope="module")
def brouter(tmp_path_factory):
    work = tmp_path_factory.mktemp("serbad")
    with mb_router.running(work, matrix_config(str(work / "bad.sock"))) as r:
        yield r


class Bystanders:
    """Three autobahn-python sessions, one per serializer and transport, joined before the
    misbehaviour; check() has each call the next one's echo and publish to it."""

    def __init__(self, router):
        self.router = router
        self.peers = [mx.Peer(router, "websocket", "json"), mx.Peer(router, "rawsocket", "msgpack"),
                      mx.Peer(router, "unix", "cbor")]

    def check(self):
        assert self.router.alive(), "moonbar exited; log:\n" + self.router.log
        args, kwargs = [b"\x00\xff", 2 ** 53, -0.0, "😀", [], {}], {"k": [None, True]}
        for i, p in enumerate(self.peers):
            other = self.peers[(i + 1) % 3]
            got = mx.tx.result_parts(p.client.call(other.echo, *args, **kwargs))
            assert mx.mb_payloads.difference(list(got), [args, kwargs]) is None, (p.end, got)
            pub = p.client.publish(other.topic, *args, _exclude_me=False, **kwargs)
            ev = mx.wait_event(other.events, pub.id)
            assert mx.mb_payloads.difference([ev.args, ev.kwargs], [args, kwargs]) is None

    def close(self):
        for p in self.peers:
            p.close()


@pytest.fixture(scope="module")
def bystanders(brouter):
    b = Bystanders(brouter)
    yield b
    b.close()


def violate(router, bystanders, transport, ser, data, join, text=None):
    with rs.connect(router, transport, ser) as sc:
        if join:
            sc.join()
        sc.send_bytes(data, text=text)
        msg, _ = sc.expect_abort_then_close()
    bystanders.check()
    return msg


@pytest.mark.parametrize("ser,name,where,transport", MALFORMED,
                         ids=["%s-%s-%s-%s" % c for c in MALFORMED])
def test_malformed_bytes_are_a_protocol_violation_in_the_sessions_serializer(
        brouter, bystanders, transport, ser, name, where):
    item, rest_ok = BAD_ITEMS[ser][name]
    violate(brouter, bystanders, transport, ser, frames_with(ser, item, rest_ok, where),
            join=where != "hello_realm")


WRONG_CASES = spread(list(WRONG), TRANSPORTS)


@pytest.mark.parametrize("ser,name,transport", WRONG_CASES, ids=["%s-%s-%s" % c for c in WRONG_CASES])
def test_wrong_types_are_a_protocol_violation_in_the_sessions_serializer(
        brouter, bystanders, ser, name, transport):
    case = (ser, name)
    join, data = WRONG[case]
    violate(brouter, bystanders, transport, ser, data, join)


@pytest.mark.parametrize("ser", BINARY)
@pytest.mark.parametrize("joined", [True, False], ids=["joined", "before_hello"])
def test_a_text_frame_on_a_binary_session_is_a_protocol_violation(brouter, bystanders, ser,
                                                                   joined):
    msg = violate(brouter, bystanders, "websocket", ser,
                  b'[32, 1, {}, "com.matrix.text_frame"]' if joined
                  else raw.dumps([raw.HELLO, "realm1", ROLES]), joined, text=True)
    assert "text" in msg[1]["message"], msg


@pytest.mark.parametrize("joined", [True, False], ids=["joined", "before_hello"])
def test_a_binary_frame_on_a_json_session_is_a_protocol_violation(brouter, bystanders, joined):
    msg = violate(brouter, bystanders, "websocket", "json", raw.dumps([raw.SUBSCRIBE, 1, {}, "com.t"]),
                  joined, text=False)
    assert "binary" in msg[1]["message"], msg


@pytest.mark.parametrize("ser", BINARY)
def test_a_binary_session_takes_its_messages_in_fragments(brouter, ser):
    """A binary message may come in a binary frame and continuation frames."""
    with rs.connect(brouter, "websocket", ser) as sc:
        sc.join()
        data = rs.encode(ser, [raw.SUBSCRIBE, 5, {}, "com.matrix.fragments"])
        sc.conn.send_frame(0x2, data[:3], fin=False)
        sc.conn.send_frame(0x0, data[3:7], fin=False)
        sc.conn.send_frame(0x0, data[7:])
        msg = sc.expect(raw.SUBSCRIBED)
        assert msg[1] == 5


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("ser", rs.CODES)
def test_a_frame_cut_short_by_eof_closes_the_connection(brouter, bystanders, transport, ser):
    with rs.connect(brouter, transport, ser) as sc:
        sc.join()
        data = rs.encode(ser, [raw.PUBLISH, 1, {}, "com.matrix.cut", ["x" * 90]])
        if sc.websocket:
            head = bytes([0x82 if ser != "json" else 0x81, 0x80 | 126]) + len(data).to_bytes(2, "big")
            sc.conn.send_raw(head + b"\x00\x00\x00\x00" + data[:20])  # zero mask: bytes as is
        else:
            sc.conn.send_raw(len(data).to_bytes(4, "big") + data[:20])
        sc.conn.sock.shutdown(socket.SHUT_WR)
        closed = sc.wait_closed()
        assert closed.how in ("eof", "reset", "close"), closed
    bystanders.check()


@pytest.mark.parametrize("transport", ["rawsocket", "unix"])
@pytest.mark.parametrize("ser", rs.CODES)
def test_a_rawsocket_frame_header_over_max_message_size_closes_the_connection(
        brouter, bystanders, transport, ser):
    """A header announcing 16 MiB - 1 (over the 1 MiB default): closed; if anything comes
    first it is an ABORT protocol_violation in the session's serializer."""
    with rs.connect(brouter, transport, ser) as sc:
        sc.join()
        sc.conn.send_raw(b"\x00\xff\xff\xff" + b"\x90" * 16)
        try:
            msg = sc.recv()
        except raw.Closed:
            pass
        else:
            assert msg[0] == raw.ABORT and msg[2] == "wamp.error.protocol_violation", msg
            sc.wait_closed()
    bystanders.check()


@pytest.mark.parametrize("ser", rs.CODES)
@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_a_listeners_own_max_message_size_holds_for_every_serializer(brouter, bystanders,
                                                                      transport, ser):
    port = brouter.find_port(transport, nth=1)
    small = rs.connect(brouter, transport, ser, port=port)
    with small:
        small.join()
        small.send([raw.SUBSCRIBE, 1, {}, "com.matrix.small"])
        sub = small.expect(raw.SUBSCRIBED)[2]
        # just under the limit passes (and is delivered in this session's serializer)
        fits = [raw.PUBLISH, 2, {"acknowledge": True, "exclude_me": False}, "com.matrix.small",
                [b"\x01" * (SMALL_LIMIT // 2 - 200)]]
        small.send(fits)
        got = sorted((small.recv(), small.recv()), key=lambda m: m[0])
        assert [m[0] for m in got] == [raw.PUBLISHED, raw.EVENT], got
        assert got[1][1] == sub and got[1][4] == fits[4], got[1][:4]
        too_big = [raw.PUBLISH, 3, {}, "com.matrix.small", ["x" * (SMALL_LIMIT + 10)]]
        small.send(too_big)
        closed = small.wait_closed()
        if small.websocket:
            assert closed.how == "close" and closed.code == 1009, closed
    bystanders.check()


@pytest.mark.parametrize("ser", BINARY)
def test_a_huge_declared_length_does_not_make_the_router_wait_or_allocate(brouter, bystanders,
                                                                           ser):
    """A 30-byte frame declaring a 4 GiB string, many times over, on many sessions at once:
    every one is answered at once (no waiting for bytes that never come) and the router lives."""
    item = b"\xdb\xff\xff\xff\xff" if ser == "msgpack" else b"\x7a\xff\xff\xff\xff"
    data = frames_with(ser, item + b"x" * 20, False, "publish_args")
    conns = [rs.connect(brouter, t, ser) for t in TRANSPORTS for _ in range(3)]
    try:
        for sc in conns:
            sc.join()
        for sc in conns:
            sc.send_bytes(data)
        for sc in conns:
            sc.expect_abort_then_close()
    finally:
        for sc in conns:
            sc.close()
    bystanders.check()


@pytest.mark.parametrize("ser", rs.CODES)
@pytest.mark.parametrize("payload", [b"", b"\x03\xe8"], ids=["empty", "code_only"])
def test_a_close_frame_without_a_reason_is_answered_and_the_router_carries_on(
        brouter, bystanders, ser, payload):
    """autobahn-js closes with an empty close frame: moonbar answers with a close frame and
    closes the TCP connection; nothing else happens (under ASan+UBSan: no runtime error)."""
    with rs.connect(brouter, "websocket", ser) as sc:
        sc.join()
        sc.conn.send_frame(0x8, payload)
        closed = sc.wait_closed()
        assert closed.how == "close", closed
    assert "runtime error" not in brouter.log, brouter.log[-3000:]
    bystanders.check()


@pytest.mark.parametrize("ser", BINARY)
def test_ids_written_as_whole_floats_are_taken_on_binary_sessions(brouter, ser):
    """cbor-x (wampy's CBOR) writes integers from 2^32 as floats: a subscription ID echoed in
    UNSUBSCRIBE comes as a whole float and is taken as the integer (a fraction is not)."""
    with rs.connect(brouter, "rawsocket", ser) as sc:
        sc.join()
        sc.send([raw.SUBSCRIBE, 3, {}, "com.matrix.float_ids"])
        sub = sc.expect(raw.SUBSCRIBED)[2]
        sc.send([raw.UNSUBSCRIBE, 4.0, float(sub)])
        assert sc.expect(raw.UNSUBSCRIBED)[1] == 4
        sc.send([raw.UNSUBSCRIBE, 5.5, float(sub)])
        sc.expect_abort_then_close()
