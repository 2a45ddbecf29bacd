"""The serializer matrix with real clients: autobahn-python speaking wamp.2.json, wamp.2.msgpack
and wamp.2.cbor over WebSocket (binary frames for the binary serializers), RawSocket on TCP
(handshake serializer codes 1, 2, 3) and RawSocket on a Unix domain socket, all on one router
whose listeners come from the `listeners` list of the config.

Every pair of (transport, serializer) ends publishes to and calls each other with the payloads
of mb_payloads.SER_PAYLOADS (integers to +-2^63 and to 2^64 - 1 between MessagePack and CBOR
clients, floats with -0.0 and the extremes, unicode, binary, empty list vs empty dict, deep
nesting, null, kwargs), checked type-strictly at the far end: a JSON client sends and receives
binary as "\\0" + base64, which autobahn-python reads back as bytes. Same-serializer hops pass
the payload bytes through; across serializers the router converts.

Under valgrind (or MOONBAR_MATRIX=short) a bounded subset of pairs runs: every ordered pair of
serializers from WebSocket to RawSocket and back, and each Unix end once (mb_matrix).
"""
import os
import stat

import pytest

import mb_matrix as mx
import mb_raw as raw
import mb_raw_ser as rs
import mb_router
import mb_twisted as tx

TRANSPORTS = ["websocket", "rawsocket", "unix"]
ENDS = [(t, s) for t in TRANSPORTS for s in mx.SERIALIZERS]


def select_pairs():
    if not mx.short_matrix():
        return [(a, b) for a in ENDS for b in ENDS]
    pairs = []
    for s1 in mx.SERIALIZERS:
        for s2 in mx.SERIALIZERS:
            pairs.append((("websocket", s1), ("rawsocket", s2)))
            pairs.append((("rawsocket", s1), ("websocket", s2)))
    for i, s in enumerate(mx.SERIALIZERS):
        pairs.append((("unix", s), ("unix", mx.SERIALIZERS[(i + 1) % 3])))
    return pairs


PAIRS = select_pairs()
WS_SERIALIZER_PAIRS = [(("websocket", a), ("websocket", b))
                       for a in mx.SERIALIZERS for b in mx.SERIALIZERS]


def matrix_config(sock_path):
    return {
        "websocket": False,
        "rawsocket": False,
        "listeners": [
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws",
             "web_root": "www"},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0},
            {"type": "rawsocket", "unix": sock_path, "mode": "0660"},
        ],
    }


@pytest.fixture(scope="module")
def mrouter(tmp_path_factory):
    if not os.access(mb_router.moonbar_bin(), os.X_OK):
        pytest.fail("moonbar binary %s not found" % mb_router.moonbar_bin(), pytrace=False)
    work = tmp_path_factory.mktemp("serializers")
    sock = str(work / "moonbar.sock")
    with mb_router.running(work, matrix_config(sock)) as r:
        r.unix_path = sock
        yield r


@pytest.fixture(scope="module")
def peers(mrouter):
    """One Peer per end (connected on first use, closed at the end of the module)."""
    made = {}

    def get(end):
        if end not in made:
            made[end] = mx.Peer(mrouter, *end)
        return made[end]

    yield get
    for p in made.values():
        p.close()


def test_the_router_logs_every_listener_of_the_config(mrouter):
    kinds = sorted((lst.kind, bool(lst.unix), lst.tls) for lst in mrouter.listening)
    assert kinds == [("rawsocket", False, False), ("rawsocket", True, False),
                     ("websocket", False, False)], mrouter.listening
    assert mrouter.find("rawsocket", unix=True).unix == mrouter.unix_path
    assert all(lst.port for lst in mrouter.listening if not lst.unix)


def test_the_unix_socket_has_the_configured_mode(mrouter):
    st = os.stat(mrouter.unix_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)


@pytest.mark.parametrize("end", ENDS, ids=mx.end_id)
def test_each_end_speaks_the_serializer_it_asked_for(peers, end):
    p = peers(end)
    assert p.client.serializer_id == end[1]
    if end[0] == "websocket":
        assert p.client.websocket_protocol == "wamp.2." + end[1]


def test_autobahns_default_offer_gets_the_first_serializer_moonbar_speaks(mrouter, clients):
    # autobahn offers cbor.batched, cbor, msgpack.batched, msgpack, ubjson..., json.batched, json
    c = clients(mrouter, "websocket", serializers=None)
    assert c.websocket_protocol == "wamp.2.cbor"
    c.register("com.matrix.default_offer.echo", lambda *a, **kw: tx.CallResult(*a, **kw))
    got = tx.result_parts(c.call("com.matrix.default_offer.echo", b"\x00\xff", 2 ** 64 - 1, k=-0.0))
    assert mx.mb_payloads.exact(list(got), [[b"\x00\xff", 2 ** 64 - 1], {"k": -0.0}])


@pytest.mark.parametrize("offer,chosen", [
    (["msgpack", "json"], "msgpack"), (["json", "cbor"], "json"), (["cbor", "msgpack"], "cbor")],
    ids=["msgpack_json", "json_cbor", "cbor_msgpack"])
def test_the_first_serializer_of_the_offer_is_chosen(mrouter, clients, offer, chosen):
    c = clients(mrouter, "websocket", serializers=offer)
    assert c.websocket_protocol == "wamp.2." + chosen
    assert c.call("wamp.session.count") >= 1


@pytest.mark.parametrize("pair", PAIRS, ids=mx.pair_id)
def test_events_between_ends_keep_every_value(peers, pair):
    mx.publish_and_check(peers(pair[0]), peers(pair[1]))


@pytest.mark.parametrize("pair", PAIRS, ids=mx.pair_id)
def test_calls_between_ends_keep_every_value(peers, pair):
    mx.call_and_check(peers(pair[0]), peers(pair[1]))


@pytest.mark.parametrize("pair", WS_SERIALIZER_PAIRS, ids=mx.pair_id)
def test_call_errors_between_serializers_keep_their_payload(peers, pair):
    mx.error_and_check(peers(pair[0]), peers(pair[1]))


@pytest.mark.parametrize("ser", mx.SERIALIZERS)
def test_one_publication_reaches_every_serializer_at_once(peers, ser):
    """A single PUBLISH fans out to subscribers of all three serializers and transports, each
    getting the values in its own serializer (the router encodes once per serializer)."""
    pub_peer = peers(("websocket", ser))
    topic = "com.matrix.fanout.%s" % ser
    receivers = [peers(end) for end in ENDS]
    subs = [(p, p.client.subscribe(topic)) for p in receivers]
    try:
        for name in ("ints", "floats", "binary", "unicode", "empty_list_vs_empty_dict"):
            args, kwargs = mx.mb_payloads.SER_PAYLOADS[name]
            pub = pub_peer.client.publish(topic, *args, _exclude_me=False, **kwargs)
            for p, (_, sink) in subs:
                ev = mx.wait_event(sink, pub.id)
                d = mx.mb_payloads.difference([ev.args, ev.kwargs], [args, kwargs])
                assert d is None, "%s at %s: %s" % (name, mx.end_id(p.end), d)
    finally:
        for p, (sub, _) in subs:
            p.client.unsubscribe(sub)



# Payloads spelled the long way (an integer in 8 bytes, a short string with a 1-byte length,
# a float64 that fits a float32, a map with a 2-byte count): a hop between two sessions of the
# same serializer carries these bytes as they are; to another serializer the values arrive.
LONG_FORM = {
    "msgpack": (b"\x93\xcf\x00\x00\x00\x00\x00\x00\x00\x01\xd9\x03abc"
                b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
                b"\xde\x00\x01\xa1k\xc4\x02\x00\xff"),
    "cbor": (b"\x83\x1b\x00\x00\x00\x00\x00\x00\x00\x01\x78\x03abc"
             b"\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00",
             b"\xb9\x00\x01\x61k\x42\x00\xff"),
}
LONG_FORM_VALUES = [[1, "abc", 1.5], {"k": b"\x00\xff"}]


def _message(ser, fixed, payload):
    """A message of the fixed fields `fixed` (encoded) followed by the raw payload bytes."""
    head = bytes([(0x90 if ser == "msgpack" else 0x80) | (len(fixed) + 2)])
    return head + b"".join(rs.encode(ser, v) for v in fixed) + payload


@pytest.mark.parametrize("transport", ["websocket", "rawsocket", "unix"])
@pytest.mark.parametrize("ser", ["msgpack", "cbor"])
def test_same_serializer_hops_pass_the_payload_bytes_through(mrouter, transport, ser):
    args, kwargs = LONG_FORM[ser]
    payload = args + kwargs
    other = "cbor" if ser == "msgpack" else "msgpack"
    proc = "com.matrix.long_form.%s.%s" % (transport, ser)
    conns = {name: rs.connect(mrouter, transport, s)
             for name, s in (("callee", ser), ("caller", ser), ("other", other), ("json", "json"))}
    try:
        for c in conns.values():
            c.join()
        callee, caller = conns["callee"], conns["caller"]
        callee.send([raw.REGISTER, 1, {}, proc])
        callee.expect(raw.REGISTERED)
        caller.send_bytes(_message(ser, [raw.CALL, 2, {}, proc], payload))
        inv = callee.recv_bytes()
        assert inv.endswith(payload), inv.hex()
        inv_id = rs.decode(ser, inv)[1]
        callee.send_bytes(_message(ser, [raw.YIELD, inv_id, {}], payload))
        res = caller.recv_bytes()
        assert res.endswith(payload), res.hex()
        assert rs.decode(ser, res)[:3] == [raw.RESULT, 2, {}]
        # one publication to the same serializer (bytes as sent) and to two others (values)
        topic = proc + ".topic"
        for name in ("callee", "other", "json"):
            conns[name].send([raw.SUBSCRIBE, 3, {}, topic])
            conns[name].expect(raw.SUBSCRIBED)
        caller.send_bytes(_message(ser, [raw.PUBLISH, 4, {"acknowledge": True}, topic], payload))
        caller.expect(raw.PUBLISHED)
        ev = callee.recv_bytes()
        assert ev.endswith(payload), ev.hex()
        for name in ("other", "json"):
            got = conns[name].expect(raw.EVENT)[4:]
            assert mx.mb_payloads.difference(got, LONG_FORM_VALUES) is None, (name, got)
    finally:
        for c in conns.values():
            c.close()
