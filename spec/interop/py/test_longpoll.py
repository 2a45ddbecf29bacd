"""WAMP over HTTP long-poll (http.paths[...] = { type = "longpoll" }) with a hand-made client
(mb_longpoll: plain HTTP POSTs) beside autobahn-python WebSocket peers: open, send, receive,
close, the answers a client can get wrong, batched protocols, the transport's queue limits and
flow control, liveness (session_timeout), the meta API, CORS and shutdown.

Spec: wamp-proto rfc/text/advanced/ap_transport_http_longpoll.md (and
ap_transport_batched_websocket.md for batches); Crossbar's crossbar/router/longpoll.py for what
the spec leaves open; moonbar: docs/http-longpoll.md.
"""
import http.client
import json
import re
import socket
import threading
import time

import pytest

import mb_longpoll as lpc
import mb_meta as mm
import mb_raw as raw
import mb_router
import mb_twisted as tx
from mb_router import T, T_quiet

HELLO, WELCOME, ABORT, GOODBYE, ERROR = 1, 2, 3, 6, 8
PUBLISH, PUBLISHED, SUBSCRIBE, SUBSCRIBED, EVENT = 16, 17, 32, 33, 36
CALL, RESULT, REGISTER, REGISTERED, INVOCATION, YIELD = 48, 50, 64, 65, 68, 70


def lp_config(options=None, realm=None, path="/lp", extra=None):
    entry = {"type": "longpoll"}
    if realm:
        entry["realm"] = realm
    if options:
        entry["options"] = options
    cfg = {"http": {"paths": {path: entry}}}
    cfg.update(extra or {})
    return cfg


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    """One router for the tests that need no special option: /lp with the defaults."""
    r = mb_router.Router(tmp_path_factory.mktemp("moonbar-lp"), lp_config())
    r.start()
    r.wait_for_log(r"long-poll transport on /lp/ \(request_timeout 10\.0 s, session_timeout 30\.0 s, "
                   r"queue 100 messages / 131072 bytes\)")
    yield r
    r.check()


def port_of(router):
    return router.ws_port


def join(router, protocol="wamp.2.json", **kw):
    return lpc.joined(port_of(router), protocol=protocol, **kw)


class Receiver(threading.Thread):
    """A receive in its own thread: start it, then .answer(timeout) waits for its Answer."""

    def __init__(self, lp, timeout=15):
        super().__init__(daemon=True)
        self.lp, self.timeout, self.result, self.error = lp, timeout, None, None
        self.started_at = self.done_at = None
        self.start()

    def run(self):
        self.started_at = time.monotonic()
        try:
            self.result = self.lp.receive_raw(self.timeout)
        except BaseException as e:  # reported by answer()
            self.error = e
        self.done_at = time.monotonic()

    def answer(self, timeout=10):
        self.join(T(timeout))
        assert not self.is_alive(), "the receive got no answer within %.1fs" % T(timeout)
        if self.error:
            raise self.error
        return self.result


# ---------------------------------------------------------------- open

def test_open_answers_an_unguessable_transport_id_and_the_first_protocol_moonbar_speaks(router):
    a = lpc.post(port_of(router), "/lp/open",
                 json.dumps({"protocols": ["wamp.2.ubjson", "wamp.3.json", "wamp.2.msgpack", "wamp.2.json"]}))
    assert a.status == 200, a
    assert a.header("content-type").startswith("application/json")
    assert "no-store" in a.header("cache-control")
    info = json.loads(a.body)
    assert set(info) == {"transport", "protocol"}
    assert info["protocol"] == "wamp.2.msgpack"  # the client's order: the first one moonbar has
    assert re.fullmatch(r"[0-9a-f]{32}", info["transport"]), info  # 128 random bits
    ids = {info["transport"]}
    for _ in range(20):
        ids.add(json.loads(lpc.post(port_of(router), "/lp/open?x=%d" % len(ids),  # the spec's cache buster
                                    '{"protocols": ["wamp.2.json"]}').body)["transport"])
    assert len(ids) == 21


@pytest.mark.parametrize("body, why", [
    (b"", "not JSON"),
    (b"{\"protocols\": [\"wamp.2.json\"]", "not JSON"),
    (b"[\"wamp.2.json\"]", "must be a JSON object"),
    (b"{}", "\"protocols\" must be a list"),
    (b"{\"protocols\": \"wamp.2.json\"}", "\"protocols\" must be a list"),
    (b"{\"protocols\": []}", "no common protocol"),
    (b"{\"protocols\": [\"wamp.2.ubjson\", 7, null, \"wamp.2.JSON\"]}", "no common protocol"),
])
def test_a_bad_open_body_gets_400_saying_why(router, body, why):
    a = lpc.post(port_of(router), "/lp/open", body)
    assert a.status == 400, a
    assert why in a.text, a.text
    assert a.header("content-type").startswith("text/plain")


def test_unknown_transports_paths_and_methods_get_404_and_405(router):
    port = port_of(router)
    lp = lpc.LongPoll(port)
    lp.open()
    unknown = "0123456789abcdef0123456789abcdef"
    for op in ("send", "receive", "close"):
        a = lpc.post(port, "/lp/%s/%s" % (unknown, op), b"[1,\"realm1\",{}]")
        assert a.status == 404 and a.text == "no such transport\n", a
    for path in ("/lp/%s/publish" % lp.id, "/lp/%s" % lp.id, "/lp/%s/send/x" % lp.id, "/lp/%s/send" % lp.id.upper(),
                 "/lp/xyz/send", "/lp/opened"):
        a = lpc.post(port, path, b"")
        assert a.status == 404, (path, a)
    a = lpc.post(port, "/lp/%s/receive" % lp.id, method="GET")
    assert a.status == 405 and a.header("allow") == "POST, OPTIONS", a
    a = lpc.post(port, "/lp/open", method="PUT", body=b"{}")
    assert a.status == 405, a
    # the base itself: a notice for a person with a browser
    a = lpc.post(port, "/lp", method="GET")
    assert a.status == 200 and "POST /lp/open" in a.text, a
    a = lpc.post(port, "/lp/", method="GET")
    assert a.status == 200, a
    # a path that only starts like the base is not the transport's
    a = lpc.post(port, "/lpx/open", b'{"protocols": ["wamp.2.json"]}')
    assert a.status != 200, a
    # the transport opened above still works
    lp.send([HELLO, "realm1", {"roles": {"caller": {}}}])
    assert lp.recv()[0] == WELCOME
    assert lp.close().status == 204


# ---------------------------------------------------------------- a session like any other

def test_a_longpoll_session_calls_subscribes_registers_and_publishes_with_a_websocket_peer(router, clients):
    ws = clients(router)
    ws.register("com.lp.add", lambda a, b: a + b)
    _, ws_events = ws.subscribe("com.lp.from_longpoll")
    lp, welcome = join(router)
    assert welcome[2]["realm"] == "realm1" and welcome[2]["authrole"] == "anonymous"
    assert welcome[2]["roles"]["broker"]["features"]["session_meta_api"] is True
    # CALL → RESULT
    assert lp.request_reply([CALL, 1, {}, "com.lp.add", [2, 3]]) == [RESULT, 1, {}, [5]]
    # SUBSCRIBE, then an EVENT published by the WebSocket peer
    sub = lp.request_reply([SUBSCRIBE, 2, {}, "com.lp.to_longpoll"])
    assert sub[:2] == [SUBSCRIBED, 2]
    ws.publish("com.lp.to_longpoll", "hi", n=1)
    ev = lp.expect(EVENT)
    assert ev[1] == sub[2] and ev[4:] == [["hi"], {"n": 1}], ev
    # REGISTER, then an INVOCATION from the WebSocket peer's CALL, answered with YIELD
    reg = lp.request_reply([REGISTER, 3, {}, "com.lp.upper"])
    assert reg[:2] == [REGISTERED, 3]
    fut = tx.submit(lambda: ws.session.call("com.lp.upper", "abc"))
    inv = lp.expect(INVOCATION)
    assert inv[2] == reg[2] and inv[4] == ["abc"], inv
    lp.send([YIELD, inv[1], {}, ["ABC"]])
    assert tx.wait(fut, 5) == "ABC"
    # PUBLISH with acknowledge, reaching the WebSocket subscriber
    assert lp.request_reply([PUBLISH, 4, {"acknowledge": True}, "com.lp.from_longpoll", [7]])[:2] == [PUBLISHED, 4]
    assert ws_events.wait(1)[0].args == [7]
    # GOODBYE: the router answers, then the client closes the transport
    assert lp.request_reply([GOODBYE, {}, "wamp.close.normal"]) == [GOODBYE, {}, "wamp.close.goodbye_and_out"]
    assert lp.close().status == 204
    assert ws.call("com.lp.add", 1, 1) == 2


def test_the_meta_api_sees_the_session_with_its_transport_type_and_its_leave(router, clients):
    ws = clients(router)
    joins = tx.Sink()
    leaves = tx.Sink()
    ws.subscribe("wamp.session.on_join", joins)
    ws.subscribe("wamp.session.on_leave", leaves)
    lp, welcome = join(router)
    sid = welcome[1]
    details = ws.call("wamp.session.get", sid)
    assert details["session"] == sid
    transport = details["transport"]
    assert transport["type"] == "longpoll"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", transport["peer"]), transport
    assert transport["tls"] is False and transport["unix"] is False
    assert sid in ws.call("wamp.session.list")
    joined = [e.args[0] for e in joins.wait(1) if e.args[0]["session"] == sid]
    assert joined and joined[0]["transport"]["type"] == "longpoll"
    lp.close()
    mm.wait_until(lambda: any(e.args[0] == sid for e in leaves.snapshot()), what="on_leave of the long-poll session")
    assert sid not in ws.call("wamp.session.list")


def test_wamp_session_kill_sends_goodbye_over_longpoll_and_the_client_closes(router, clients):
    ws = clients(router)
    lp, welcome = join(router)
    ws.call("wamp.session.kill", welcome[1], reason="com.lp.kicked", message="bye")
    g = lp.expect(GOODBYE)
    assert g[2] == "com.lp.kicked" and g[1].get("message") == "bye", g
    lp.send([GOODBYE, {}, "wamp.close.goodbye_and_out"])
    assert lp.close().status == 204
    mm.wait_until(lambda: welcome[1] not in ws.call("wamp.session.list"), what="the killed session gone")


# ---------------------------------------------------------------- receive

def test_a_receive_is_held_open_until_an_event_comes(router, clients):
    ws = clients(router)
    lp, _ = join(router)
    sub = lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.held"])
    rx = Receiver(lp)
    time.sleep(T_quiet(0.5))
    assert rx.is_alive(), "the receive was answered with nothing to say: %r" % (rx.result,)
    ws.publish("com.lp.held", "late")
    a = rx.answer()
    assert a.status == 200 and a.header("content-type") == "application/json", a
    ev = json.loads(a.body)
    assert ev[0] == EVENT and ev[1] == sub[2] and ev[4] == ["late"], ev
    assert rx.done_at - rx.started_at >= T_quiet(0.5) * 0.9
    lp.close()


def test_an_unbatched_receive_takes_one_message_and_a_receive_after_the_timeout_gets_204(router_factory, clients):
    r = router_factory(lp_config({"request_timeout": 0.4}))
    ws = clients(r)
    lp, _ = join(r)
    lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.many"])
    for i in range(3):
        ws.publish("com.lp.many", i)
    # the three events are queued (acknowledged publications) and come one per receive
    got = []
    for _ in range(3):
        msgs = lp.receive()
        assert len(msgs) == 1, msgs
        got.append(msgs[0][4])
    assert got == [[0], [1], [2]]
    t0 = time.monotonic()
    a = lp.receive_raw()
    waited = time.monotonic() - t0
    assert a.status == 204 and a.body == b"", a
    assert waited >= 0.35, waited
    lp.close()


def test_a_newer_receive_supersedes_a_held_one_which_gets_an_empty_answer(router, clients):
    ws = clients(router)
    lp, _ = join(router)
    lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.two"])
    first = Receiver(lp)
    time.sleep(T_quiet(0.3))
    second = lpc.LongPoll(lp.port)
    second.id = lp.id  # the same transport, another connection
    rx2 = Receiver(second)
    a = first.answer()
    assert a.status == 204, a
    assert rx2.is_alive()
    ws.publish("com.lp.two", 2)
    a = rx2.answer()
    assert a.status == 200 and json.loads(a.body)[4] == [2], a
    lp.close()


def test_a_receive_whose_connection_goes_away_leaves_the_session_working(router, clients):
    ws = clients(router)
    lp, welcome = join(router)
    lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.gone"])
    # a receive on a raw socket, then the socket closes before any answer
    s = socket.create_connection(("127.0.0.1", lp.port))
    s.sendall(("POST /lp/%s/receive HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % lp.id).encode())
    time.sleep(T_quiet(0.3))
    s.close()
    time.sleep(T_quiet(0.3))
    ws.publish("com.lp.gone", "kept")
    ev = lp.expect(EVENT)
    assert ev[4] == ["kept"]
    lp.close()


# ---------------------------------------------------------------- send

def test_a_bad_send_gets_400_and_a_message_that_breaks_the_protocol_aborts_the_session(router):
    lp, _ = join(router)
    a = lp.send_raw(b"")
    assert a.status == 400 and "empty body" in a.text, a
    # framing is fine, the session goes on; then a message that is not JSON
    assert lp.request_reply([CALL, 1, {}, "wamp.session.count", []])[0] == RESULT
    a = lp.send_raw(b"[48, 2, {}, ")
    assert a.status == 400 and "protocol violation" in a.text, a
    abort = lp.expect(ABORT)
    assert abort[2] == "wamp.error.protocol_violation", abort
    # the session is gone: the transport says so, then forgets its ID
    a = lp.receive_raw()
    assert a.status == 404 and a.text == "transport closed\n", a
    a = lp.receive_raw()
    assert a.status == 404 and a.text == "no such transport\n", a


def test_a_message_before_hello_is_aborted_like_on_any_transport(router):
    lp = lpc.LongPoll(port_of(router))
    lp.open()
    a = lp.send_raw(b'[48, 1, {}, "com.x", []]')
    assert a.status == 400, a
    assert lp.expect(ABORT)[2] == "wamp.error.protocol_violation"


# ---------------------------------------------------------------- batched protocols

@pytest.mark.parametrize("ser", ["json", "msgpack", "cbor"])
def test_batched_protocols_carry_several_messages_per_send_and_per_receive(router, clients, ser):
    ws = clients(router)
    lp = lpc.LongPoll(port_of(router), protocol="wamp.2.%s.batched" % ser)
    assert lp.open()["protocol"] == "wamp.2.%s.batched" % ser
    # HELLO and SUBSCRIBE in one batch: WELCOME and SUBSCRIBED come back in one answer
    lp.send([HELLO, "realm1", {"roles": {"subscriber": {}, "caller": {}}}], [SUBSCRIBE, 1, {}, "com.lp.batch"])
    deadline = time.monotonic() + T(5)
    got = []
    while len(got) < 2 and time.monotonic() < deadline:
        got += lp.receive()
    assert [m[0] for m in got] == [WELCOME, SUBSCRIBED], got
    for i in range(4):
        ws.publish("com.lp.batch", i)
    # all four queued events in one answer
    a = lp.receive_raw()
    assert a.status == 200, a
    evs = lpc.split_batch(ser, a.body)
    assert [e[4] for e in evs] == [[0], [1], [2], [3]], evs
    assert a.header("content-type") == {"json": "application/json", "msgpack": "application/x-msgpack",
                                        "cbor": "application/cbor"}[ser]
    lp.close()


def test_json_batches_take_autobahn_pythons_separator_and_refuse_bad_framing(router):
    lp = lpc.LongPoll(port_of(router), protocol="wamp.2.json.batched")
    lp.open()
    # autobahn-python (and Crossbar) write b'\30', octal: 0x18; the spec says 0x1e
    a = lp.send_raw(b'[1,"realm1",{"roles":{"caller":{}}}]\x18')
    assert a.status == 204, a
    assert lp.recv()[0] == WELCOME
    for body, why in [(b"\x1e", "empty record"), (b'[48,1,{},"wamp.session.count"]', "lacks its 0x1e"),
                      (b'[48,1,{},"wamp.session.count"]\x1e\x1e', "empty record"), (b"", "empty body")]:
        a = lp.send_raw(body)
        assert a.status == 400 and why in a.text, (body, a)
    # nothing of a refused batch reached the session, which still works
    assert lp.request_reply([CALL, 2, {}, "wamp.session.count"])[:2] == [RESULT, 2]
    lp.close()


def test_binary_batches_refuse_bad_length_prefixes(router):
    lp = lpc.LongPoll(port_of(router), protocol="wamp.2.msgpack.batched")
    lp.open()
    hello = lpc.make_batch("msgpack", [[HELLO, "realm1", {"roles": {"caller": {}}}]])
    for body, why in [(hello[:3], "truncated length prefix"), (hello[:-1], "longer than the body"),
                      (b"\x00\x00\x00\x00", "empty message"), (hello + b"\x00\x00", "truncated length prefix")]:
        a = lp.send_raw(body)
        assert a.status == 400 and why in a.text, (body, a)
    assert lp.send_raw(hello).status == 204
    assert lp.recv()[0] == WELCOME
    lp.close()


# ---------------------------------------------------------------- close and liveness

def test_close_ends_the_session_answers_a_held_receive_and_forgets_the_id(router, clients):
    ws = clients(router)
    lp, welcome = join(router)
    other = lpc.LongPoll(lp.port)
    other.id = lp.id
    held = Receiver(other)
    time.sleep(T_quiet(0.3))
    a = lp.close()
    assert a.status == 204 and a.body == b"", a
    a = held.answer()
    assert a.status == 404 and a.text == "transport closed\n", a
    mm.wait_until(lambda: welcome[1] not in ws.call("wamp.session.list"), what="the closed session gone")
    a = lpc.post(lp.port, "/lp/%s/send" % lp.id, b"[]")
    assert a.status == 404 and a.text == "no such transport\n", a


def test_a_client_that_stops_polling_is_dropped_after_session_timeout(router_factory, clients):
    r = router_factory(lp_config({"session_timeout": 1, "request_timeout": 0.3}))
    ws = clients(r)
    leaves = tx.Sink()
    ws.subscribe("wamp.session.on_leave", leaves)
    keeper, kept = join(r)
    lp, welcome = join(r)
    sid = welcome[1]
    # the keeper polls on (its receives time out empty) and stays; lp goes silent
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        keeper.receive()
    r.wait_for_log(r"session %d \(127\.0\.0\.1:\d+\): no long-poll request for 1\.0 s \(session_timeout\): closed"
                   % sid)
    mm.wait_until(lambda: any(e.args[0] == sid for e in leaves.snapshot()), what="on_leave of the silent session")
    live = ws.call("wamp.session.list")
    assert sid not in live and kept[1] in live
    a = lp.receive_raw()
    assert a.status == 404 and a.text == "no such transport\n", a
    keeper.close()


# ---------------------------------------------------------------- queue limits and flow control

def test_a_queue_over_queue_limit_messages_drops_the_session_as_a_slow_consumer(router_factory, clients):
    r = router_factory(lp_config({"queue_limit_messages": 5}))
    ws = clients(r)
    lp, welcome = join(r)
    lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.flood"])
    for i in range(5):
        ws.publish("com.lp.flood", i)  # five wait: at the limit, still fine
    ws.publish("com.lp.flood", 5)      # a sixth: over it
    r.wait_for_log(r"session %d \(127\.0\.0\.1:\d+\): slow consumer, 5 long-poll messages \(\d+ bytes\) wait for a "
                   r"receive, over the path's queue_limit_messages 5" % welcome[1])
    mm.wait_until(lambda: welcome[1] not in ws.call("wamp.session.list"), what="the slow session gone")
    a = lp.receive_raw()
    assert a.status == 404 and a.text == "transport closed\n", a  # nothing kept: dropped, not flushed


def test_a_queue_over_queue_limit_bytes_drops_the_session(router_factory, clients):
    r = router_factory(lp_config({"queue_limit_bytes": 4096}))
    ws = clients(r)
    lp, welcome = join(r)
    lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.big"])
    ws.publish("com.lp.big", "x" * 3000)
    ws.publish("com.lp.big", "y" * 3000)
    r.wait_for_log(r"session %d .*slow consumer, 1 long-poll messages \(\d+ bytes\).*queue_limit_bytes 4096"
                   % welcome[1])


def test_one_message_larger_than_queue_limit_bytes_still_goes_through(router_factory, clients):
    r = router_factory(lp_config({"queue_limit_bytes": 2048}))
    ws = clients(r)
    lp, _ = join(r)
    lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.one"])
    ws.publish("com.lp.one", "z" * 5000)
    assert lp.expect(EVENT)[4] == ["z" * 5000]
    lp.close()


def test_sends_wait_while_the_outbound_queue_is_over_max_queue_bytes(router_factory, clients):
    """moonbar's slow-consumer rules on top of the transport's own limits: over
    limits.max_queue_bytes the session stops reading, so sends are held (in order) until a
    receive drains the queue."""
    r = router_factory(lp_config({"queue_limit_bytes": 1 << 20, "queue_limit_messages": 1000},
                                 extra={"limits": {"max_queue_bytes": 2048}}))
    ws = clients(r)
    lp, _ = join(r)
    lp.request_reply([SUBSCRIBE, 1, {}, "com.lp.pause"])
    for i in range(3):
        ws.publish("com.lp.pause", "%d" % i * 800)  # ~2.5 KB queued: over 2048, under twice that
    time.sleep(T_quiet(0.2))
    results = []

    def send_calls():
        sender = lpc.LongPoll(lp.port)
        sender.id = lp.id
        for req in (10, 11):
            results.append(sender.send_raw(json.dumps([CALL, req, {}, "wamp.session.count"]).encode()).status)

    t = threading.Thread(target=send_calls, daemon=True)
    t.start()
    time.sleep(T_quiet(0.5))
    assert results == [], "a send was answered while the session's reading was paused: %r" % results
    got = [lp.expect(EVENT)[4] for _ in range(3)]  # drains the queue: reading resumes
    assert [g[0][0] for g in got] == ["0", "1", "2"]
    t.join(T(5))
    assert results == [204, 204]
    assert lp.expect(RESULT)[1] == 10
    assert lp.expect(RESULT)[1] == 11
    lp.close()


def test_transports_per_address_are_limited(router_factory):
    r = router_factory(lp_config())
    port = r.ws_port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=T(10))
    ids = []
    for _ in range(100):
        a = lpc.post(port, "/lp/open", '{"protocols": ["wamp.2.json"]}', conn=conn)
        assert a.status == 200, a
        ids.append(json.loads(a.body)["transport"])
    a = lpc.post(port, "/lp/open", '{"protocols": ["wamp.2.json"]}', conn=conn)
    assert a.status == 429 and "from your address" in a.text, a
    r.wait_for_log(r"long-poll open from 127\.0\.0\.1:\d+ refused: 100 transports open from that address "
                   r"\(limit 100\)")
    # closing one frees a place
    assert lpc.post(port, "/lp/%s/close" % ids[0], conn=conn).status == 204
    assert lpc.post(port, "/lp/open", '{"protocols": ["wamp.2.json"]}', conn=conn).status == 200
    conn.close()


# ---------------------------------------------------------------- realm, CORS, shutdown

def test_the_paths_realm_is_the_only_one_its_sessions_may_join(router_factory):
    r = router_factory(dict(lp_config(realm="realm1"), realms=[{"name": "realm1"}, {"name": "realm2"}]))
    lp = lpc.LongPoll(r.ws_port)
    lp.open()
    lp.send([HELLO, "realm2", {"roles": {"caller": {}}}])
    abort = lp.expect(ABORT)
    assert abort[2] == "wamp.error.no_such_realm" and "not served" in abort[1]["message"], abort
    lp2, welcome = lpc.joined(r.ws_port, realm="realm1")
    assert welcome[2]["realm"] == "realm1"
    lp2.close()


def test_cors_echoes_the_origin_with_credentials_and_answers_preflights(router_factory):
    r = router_factory(dict(lp_config({"cors": "*"}, path="/cors"), http={"paths": {
        "/cors": {"type": "longpoll", "options": {"cors": "*"}},
        "/only": {"type": "longpoll", "options": {"cors": "https://a.example https://b.example"}},
        "/none": {"type": "longpoll"}}}))
    port = r.ws_port
    origin = {"Origin": "https://app.example"}
    pre = lpc.post(port, "/cors/open", method="OPTIONS", headers=dict(origin, **{
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}))
    assert pre.status == 204, pre
    assert pre.header("access-control-allow-origin") == "https://app.example"
    assert pre.header("access-control-allow-credentials") == "true"
    assert "POST" in pre.header("access-control-allow-methods")
    assert pre.header("access-control-allow-headers") == "content-type"
    a = lpc.post(port, "/cors/open", '{"protocols": ["wamp.2.json"]}', headers=origin)
    assert a.status == 200 and a.header("access-control-allow-origin") == "https://app.example", a
    tid = json.loads(a.body)["transport"]
    a = lpc.post(port, "/cors/%s/receive" % tid, headers={"Origin": "null"}, timeout=15)  # a file:// page
    assert a.header("access-control-allow-origin") == "null", a
    # a list of origins: the request's when listed, else the first
    a = lpc.post(port, "/only/open", '{"protocols": ["wamp.2.json"]}', headers={"Origin": "https://b.example"})
    assert a.header("access-control-allow-origin") == "https://b.example", a
    a = lpc.post(port, "/only/open", '{"protocols": ["wamp.2.json"]}', headers=origin)
    assert a.header("access-control-allow-origin") == "https://a.example", a
    # no cors: no CORS headers (same-origin pages only)
    a = lpc.post(port, "/none/open", '{"protocols": ["wamp.2.json"]}', headers=origin)
    assert a.status == 200 and a.header("access-control-allow-origin") is None, a


def test_shutdown_says_goodbye_over_longpoll_and_the_router_exits_cleanly(router_factory):
    r = router_factory(lp_config(extra={"limits": {"shutdown_grace": 10}}))
    lp, welcome = lpc.joined(r.ws_port)
    rx = Receiver(lp)
    time.sleep(T_quiet(0.2))
    t0 = time.monotonic()
    r.signal()
    a = rx.answer()
    assert a.status == 200, a
    g = json.loads(a.body)
    assert g[0] == GOODBYE and g[2] == "wamp.close.system_shutdown", g
    # the listeners are closed, so the client cannot answer: the session ends once its GOODBYE
    # is out, not when the first half of the 10 s grace is over
    assert r.wait(T(10)) == 0, r.log
    assert time.monotonic() - t0 < 4.5, r.log
    r.wait_for_log(r"session %d left realm realm1" % welcome[1])


def test_a_transport_opened_without_hello_is_closed_after_hello_timeout(router_factory, clients):
    # limits.hello_timeout covers long-poll too: a transport that keeps polling but never
    # sends HELLO is closed, and counted; one that joined in time stays
    r = router_factory(lp_config({"request_timeout": 0.3}, extra={"limits": {"hello_timeout": 1}}))
    silent = lpc.LongPoll(r.ws_port)
    silent.open()
    keeper, kept = join(r)
    deadline = time.monotonic() + 2.5
    closed = None
    while time.monotonic() < deadline and closed is None:
        a = silent.receive_raw()
        if a.status == 404:
            closed = a
        keeper.receive()
    assert closed is not None and closed.text in ("transport closed\n", "no such transport\n"), closed
    r.wait_for_log(r"longpoll 127\.0\.0\.1:\d+: no HELLO within 1\.0 s \(limits\.hello_timeout\): closed")
    assert kept[1] in clients(r).call("wamp.session.list")
    keeper.close()
    r.check()
    assert re.search(r"limits: .*\bhello_timeouts=1\b", r.log), r.log[-3000:]
