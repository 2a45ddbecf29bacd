"""Liveness: `limits.ping_interval` / `limits.ping_timeout` (here 1 s each). A silent peer gets a
WebSocket ping (RawSocket: a PING frame); a peer from which nothing at all arrives within
ping_timeout is dropped, with everything a leave implies: meta events, its registrations and
subscriptions removed, its callers answered with wamp.error.canceled, its testaments published.

The frozen peers are real client processes stopped with SIGSTOP (their sockets stay open, the
kernel still ACKs, but nothing answers). moonbar: docs/behaviour.md "Liveness".
"""
import json
import signal
import time

import pytest

import mb_meta as mm
import mb_raw as raw
import mb_twisted as tx
from mb_meta import peers  # noqa: F401 - fixture
from mb_router import T

LIMITS = {"ping_interval": 1, "ping_timeout": 1}
TICK = 0.25  # moonbar checks liveness every 100 ms; 250 ms leaves room
# how much earlier than the interval a ping may seem to come: the router counts silence from when
# it read the peer's last message, the test from when it saw the answer (slow under valgrind)
EARLY = 0.05 * T(1)


def live_router(router_factory):
    return mm.meta_router(router_factory, limits=LIMITS)


@pytest.mark.parametrize("mode,transport", [("autobahn", "websocket"), ("raw", "websocket"),
                                            ("raw", "rawsocket")])
def test_sigstopped_client_is_dropped_within_the_ping_timeout_with_all_a_leave_implies(
        router_factory, clients, peers, mode, transport):
    r = live_router(router_factory)
    w = mm.Watch(clients(r))
    caller = clients(r)
    _, will = w.client.subscribe("com.live.will")
    p = peers(r, mode, transport, register=["com.live.slow"], subscribe=["com.live.topic"],
              testaments=[{"topic": "com.live.will", "args": ["frozen", mode, transport]}])
    rid = p.ready["registrations"]["com.live.slow"]
    sid = p.ready["subscriptions"]["com.live.topic"]
    w.wait_for("wamp.subscription.on_subscribe", lambda x: x == [p.session, sid])
    mark = w.wait_join(p.session)
    # a responsive peer survives a ping interval (and answers the ping)
    time.sleep(1.5)
    assert p.session in w.client.call("wamp.session.list")
    fut = caller.call_async("com.live.slow", 1)
    p.expect("invoked")

    p.stop()
    t0 = time.monotonic()
    end = w.wait_leave(p.session, since=mark, timeout=6)
    took = time.monotonic() - t0
    assert 1.0 - 0.1 <= took <= T(LIMITS["ping_interval"] + LIMITS["ping_timeout"] + 2 * TICK + 0.5), \
        "frozen peer dropped %.2fs after SIGSTOP" % took
    r.wait_for_log(r"warn .*session %d \(127\.0\.0\.1:\d+\): no answer to a ping within 1\.0 s: dropped"
                   % p.session)

    # the caller waiting on it is answered
    with pytest.raises(tx.ApplicationError) as ei:
        tx.wait(fut, 1, "the call pending at the frozen callee")
    assert ei.value.error == "wamp.error.canceled"
    # its testament is out, and its registration and subscription are gone, before its on_leave
    assert [e.args for e in will.snapshot()] == [["frozen", mode, transport]]
    about = w.about(p.session, since=mark, until=end + 1)
    assert sorted(about[:4]) == sorted([("wamp.subscription.on_unsubscribe", [p.session, sid]),
                                        ("wamp.subscription.on_delete", [p.session, sid]),
                                        ("wamp.registration.on_unregister", [p.session, rid]),
                                        ("wamp.registration.on_delete", [p.session, rid])]), about
    assert about[4:] == [("wamp.session.on_leave", [p.session, w.events()[end][1][1], "anonymous"])]
    assert w.client.call("wamp.registration.lookup", "com.live.slow") is None
    assert w.client.call("wamp.subscription.lookup", "com.live.topic") is None
    assert mm.call_error(caller, "com.live.slow").error == "wamp.error.no_such_procedure"
    assert sorted(w.client.call("wamp.session.list")) == mm.session_ids_of([w.client, caller])

    # woken up, the peer finds its connection closed
    p.send_signal(signal.SIGCONT)
    p.expect("closed", timeout=5)
    p.kill()


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_silent_peer_is_pinged_after_ping_interval_and_dropped_after_ping_timeout(
        router_factory, transport):
    r = live_router(router_factory)
    with raw.connect(r, transport) as conn:
        session = raw.join(conn)[1]
        t_join = time.monotonic()
        # first ping: after ~ping_interval of silence
        frame = conn.recv_frame(timeout=3)
        t_ping = time.monotonic()
        if transport == "websocket":
            assert frame[1] == 0x9, frame
            conn.send_frame(0xA, frame[2])  # pong
        else:
            assert frame[0] == raw.RawSocketConn.PING, frame
            conn.send_frame(raw.RawSocketConn.PONG, frame[1])
        assert 1.0 - EARLY <= t_ping - t_join <= T(1.0 + 2 * TICK + 0.3), t_ping - t_join
        # answered: the next ping comes another ping_interval later
        frame = conn.recv_frame(timeout=3)
        t_ping2 = time.monotonic()
        assert (frame[1] == 0x9) if transport == "websocket" else (frame[0] == raw.RawSocketConn.PING)
        assert 1.0 - EARLY <= t_ping2 - t_ping <= T(1.0 + 2 * TICK + 0.3), t_ping2 - t_ping
        # not answered: dropped ~ping_timeout later
        closed = conn.wait_closed(timeout=5)
        t_closed = time.monotonic()
        assert closed.how in ("close", "eof", "reset")
        assert 1.0 - EARLY <= t_closed - t_ping2 <= T(1.0 + 2 * TICK + 0.3), t_closed - t_ping2
    r.wait_for_log(r"session %d .*no answer to a ping" % session)
    r.wait_for_log(r"session %d left realm realm1" % session)


def test_peer_that_sends_anything_is_not_dropped_even_without_pongs(router_factory, clients):
    # "nothing at all arrives" - WAMP traffic counts as a sign of life, pongs are not required
    r = live_router(router_factory)
    obs = clients(r)
    with raw.connect(r, "websocket") as conn:
        session = raw.join(conn)[1]
        pings = 0
        deadline = time.monotonic() + 2.6  # > ping_interval + ping_timeout
        while time.monotonic() < deadline:
            req = conn.next_id()
            conn.send_json([raw.CALL, req, {}, "wamp.session.count"])
            end = time.monotonic() + 0.4
            while True:  # read (never answering pings) until the result, then idle a bit
                fin, op, payload = conn.recv_frame(timeout=2)
                if op == 0x9:
                    pings += 1
                    continue
                msg = json.loads(payload)
                if msg[0] == raw.RESULT and msg[1] == req:
                    break
            time.sleep(max(0.0, end - time.monotonic()))
        assert session in obs.call("wamp.session.list")
        assert pings == 0, "a peer that keeps sending was pinged"


def test_autobahn_twisted_websocket_client_answers_pings_and_stays_joined(router_factory, clients):
    r = live_router(router_factory)
    a, b = clients(r), clients(r)
    b.register("com.live.echo", lambda x: x)
    time.sleep(2.6)  # more than ping_interval + ping_timeout of WAMP silence
    assert a.is_connected() and b.is_connected()
    assert a.call("com.live.echo", "still here") == "still here"
    assert sorted(a.call("wamp.session.list")) == mm.session_ids_of([a, b])
    assert "no answer to a ping" not in r.log


@pytest.mark.xfail(strict=True, reason=(
    "autobahn-python 22.7 (Debian 12) RawSocket has no PING support: Int32StringReceiver reads the "
    "frame-type byte as part of the length, so moonbar's PING frame (type 1, 7 bytes) looks like a "
    "16777223-byte message and the client raises PayloadExceededError and drops the connection. "
    "With moonbar's default ping_interval an idle autobahn-python RawSocket client is cut after "
    "10 s. Tracked as an interop problem; this test flips to XPASS when either side changes."))
def test_idle_autobahn_python_rawsocket_client_survives_router_pings(router_factory, clients):
    r = live_router(router_factory)
    a = clients(r, "rawsocket")
    time.sleep(2.0)
    assert a.is_connected(), "autobahn-python RawSocket client lost its connection at the first PING"


def test_ping_rawsocket_false_keeps_idle_autobahn_python_rawsocket_clients(router_factory, clients):
    # the way around autobahn-python 22's missing RawSocket PING support: no PING frames on
    # RawSocket, while WebSocket peers are still pinged
    r = mm.meta_router(router_factory, limits=dict(LIMITS, ping_rawsocket=False))
    a = clients(r, "rawsocket")
    time.sleep(2.5)
    assert a.is_connected(), "the RawSocket client was cut although ping_rawsocket is false"
    assert "no answer to a ping" not in r.log


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_peer_sending_its_own_pings_but_never_answering_is_not_dropped(router_factory, clients, transport):
    # "if nothing at all arrives from it within ping_timeout it is dropped": a peer whose own
    # keep-alive pings keep arriving (the router answers each with a pong) is alive
    r = live_router(router_factory)
    obs = clients(r)
    with raw.connect(r, transport) as conn:
        session = raw.join(conn)[1]
        router_pings = pongs = 0
        deadline = time.monotonic() + 2.6  # > ping_interval + ping_timeout
        try:
            while time.monotonic() < deadline:
                if transport == "websocket":
                    conn.send_frame(0x9, b"client-ping")
                else:
                    conn.send_frame(raw.RawSocketConn.PING, b"client-ping")
                end = time.monotonic() + 0.3
                while time.monotonic() < end:
                    try:
                        frame = conn.recv_frame(timeout=0.05)
                    except raw.Timeout:
                        continue
                    kind = {0x9: "ping", 0xA: "pong", 0x8: "close"}.get(frame[1]) \
                        if transport == "websocket" else {1: "ping", 2: "pong"}.get(frame[0])
                    if kind == "close":
                        code = int.from_bytes(frame[2][:2], "big") if len(frame[2]) >= 2 else None
                        raise raw.Closed("close", code, frame[2][2:].decode())
                    router_pings += kind == "ping"
                    pongs += kind == "pong"
        except raw.Closed as c:
            pytest.fail("dropped %.2fs before the end although its pings kept arriving (%d answered "
                        "with pongs, %d router pings ignored): %s; log: %s"
                        % (deadline - time.monotonic(), pongs, router_pings, c,
                           [l for l in r.log.splitlines() if "no answer to a ping" in l]), pytrace=False)
        assert pongs >= (5 if T(1) == 1 else 2)  # fewer round trips fit under valgrind
        assert session in obs.call("wamp.session.list")


def test_rawsocket_connection_that_never_completes_the_handshake_is_dropped(router_factory):
    # a peer that connected and went silent before (or in the middle of) the 4-byte RawSocket
    # handshake cannot be pinged, but it is just as dead: "A dead peer is found within
    # ping_interval + ping_timeout" (docs/behaviour.md, Liveness)
    r = live_router(router_factory)
    silent = raw.RawSocketConn(r.rawsocket_port, handshake=None)
    partial = raw.RawSocketConn(r.rawsocket_port, handshake=None)
    partial.send_raw(b"\x7f\xf1")
    t0 = time.monotonic()
    limit = LIMITS["ping_interval"] + LIMITS["ping_timeout"] + 2 * TICK + 0.5
    try:
        for name, conn in (("silent", silent), ("half a handshake", partial)):
            try:
                left = max(0.1, t0 + T(limit) - time.monotonic())
                closed = conn.wait_closed(timeout=left / T(1))  # wait_closed scales it again
            except raw.Timeout:
                pytest.fail("RawSocket connection (%s) still open %.1fs after it went silent"
                            % (name, time.monotonic() - t0), pytrace=False)
            assert closed.how in ("eof", "reset")
    finally:
        silent.close()
        partial.close()
