"""M13 resource limits (docs/behaviour.md, Limits): each limit's answer at the limit, that only
the offending session is affected, and its counter in the shutdown line `limits: ...`."""
import shutil
import subprocess
import re
import time

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

import mb_raw as raw
import mb_router
import mb_twisted
from mb_router import T

EXHAUSTED = "wamp.error.resource_exhausted"


def counters(r):
    """Stops r (it must exit cleanly) and returns the counters of its `limits:` line."""
    r.check()
    m = re.search(r"limits: (.*)", r.log)
    assert m, "no limits: line at shutdown; log:\n" + r.log[-4000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def refused_at_accept(port, source=None):
    """A TCP connection the router closes at once, before reading anything."""
    conn = raw.RawSocketConn(port, handshake=None, source=source)
    try:
        closed = conn.wait_closed(timeout=5)
        assert closed.how in ("eof", "reset"), closed
    finally:
        conn.close()


def rs(r, source=None):
    """A RawSocket connection with its handshake done."""
    return raw.RawSocketConn(r.rawsocket_port, source=source)


def retry(fn, timeout=5):
    """fn() until it does not raise (a closed connection's count goes down in the next turn)."""
    deadline = time.monotonic() + T(timeout)
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def replace(r, conns, i, source=None):
    """Closes conns[i], then opens (from source) and joins another in its place, at the end of
    conns: the count went down."""
    conns.pop(i).close()
    c = retry(lambda: rs(r, source))
    conns.append(c)
    assert raw.join(c)[0] == raw.WELCOME


def assert_refused(r, total, per_address):
    """Stops r; its counters of connections refused (max_connections, per address) are these."""
    got = counters(r)
    assert got["connections_refused_total"] == total, got
    assert got["connections_refused_per_address"] == per_address, got


# ---------------------------------------------------------------- connections

def test_max_connections_refuses_the_next_connection_at_accept(router_factory):
    r = router_factory({"limits": {"max_connections": 3}})
    conns = [rs(r) for _ in range(3)]
    try:
        mark = r.log_mark()
        refused_at_accept(r.rawsocket_port)
        refused_at_accept(r.ws_port)
        r.wait_for_log(r"connection from 127\.0\.0\.1:\d+ refused: limits\.max_connections \(3\) reached",
                       since=mark)
        # at most one warning a second
        assert len(re.findall(r"limits\.max_connections \(3\)", r.log)) == 1, r.log
        assert raw.join(conns[0])[0] == raw.WELCOME  # the open ones carry on
        replace(r, conns, -1)
    finally:
        for c in conns:
            c.close()
    assert_refused(r, total=2, per_address=0)


def test_max_connections_per_address_is_per_peer_address(router_factory):
    r = router_factory({"limits": {"max_connections_per_address": 2}})
    conns = [rs(r, "127.0.0.2"), rs(r, "127.0.0.2")]
    try:
        mark = r.log_mark()
        refused_at_accept(r.rawsocket_port, source="127.0.0.2")
        r.wait_for_log(r"connection from 127\.0\.0\.2:\d+ refused: limits\.max_connections_per_address "
                       r"\(2\) reached", since=mark)
        # other addresses are not affected
        conns += [rs(r, "127.0.0.3"), rs(r, "127.0.0.3"), rs(r)]
        for c in conns:
            assert raw.join(c)[0] == raw.WELCOME
        client = mb_twisted.connect(r, "websocket")  # 127.0.0.1: its second connection
        try:
            assert client.is_connected()
        finally:
            client.close()
        # a closed connection makes room for its address again
        replace(r, conns, 0, "127.0.0.2")
    finally:
        for c in conns:
            c.close()
    assert_refused(r, total=0, per_address=1)


def test_an_ipv4_peer_of_a_dual_stack_listener_counts_as_its_ipv4_address(router_factory):
    # a "::" listener sees IPv4 peers as ::ffff:a.b.c.d: moonbar names them a.b.c.d, so the
    # per-address limit counts one host once across an IPv4 and a dual-stack listener
    r = router_factory({"limits": {"max_connections_per_address": 2},
                        "listeners": [{"type": "rawsocket", "host": "::", "port": 0}]})
    r.listeners(3)
    dual = r.find("rawsocket", nth=1).port
    conns = [rs(r, "127.0.0.5"), raw.RawSocketConn(dual, source="127.0.0.5")]
    try:
        for c in conns:
            assert raw.join(c)[0] == raw.WELCOME
        r.wait_for_log(r"joined realm realm1 .*rawsocket 127\.0\.0\.5:\d+\)")
        assert "::ffff:" not in r.log
        mark = r.log_mark()
        refused_at_accept(dual, source="127.0.0.5")
        r.wait_for_log(r"connection from 127\.0\.0\.5:\d+ refused: limits\.max_connections_per_address "
                       r"\(2\) reached", since=mark)
    finally:
        for c in conns:
            c.close()
    assert_refused(r, total=0, per_address=1)


# ---------------------------------------------------------------- sessions per realm

def test_max_sessions_per_realm_aborts_the_hello_with_resource_exhausted(router_factory):
    r = router_factory({"limits": {"max_sessions_per_realm": 2},
                        "realms": [{"name": "realm1"}, {"name": "realm2", "max_sessions": 1}]})
    a = mb_twisted.connect(r, "websocket")
    b = mb_twisted.connect(r, "rawsocket")
    c = mb_twisted.connect(r, "websocket", realm="realm2")
    try:
        with pytest.raises(mb_twisted.JoinFailed) as e:
            mb_twisted.connect(r, "websocket")
        assert e.value.reason == EXHAUSTED, e.value
        assert "realm realm1 has 2 sessions: limits.max_sessions_per_realm reached" in e.value.message
        with raw.RawSocketConn(r.rawsocket_port) as conn:  # the exact ABORT
            msg, _ = raw.check_abort_then_close(lambda t: raw.hello(conn, "realm2"), conn.wait_closed,
                                                EXHAUSTED, 5)
            assert msg[1]["message"] == "realm realm2 has 1 sessions: limits.max_sessions_per_realm reached"
        # the joined sessions carry on; a session leaving makes room
        b.register("com.limits.echo", lambda x: x)
        assert a.call("com.limits.echo", 5) == 5
        a.leave()
        d = retry(lambda: mb_twisted.connect(r, "websocket"))
        assert d.call("com.limits.echo", 6) == 6
        d.close()
    finally:
        for x in (a, b, c):
            x.close()
    assert counters(r)["sessions_refused"] == 2


# ---------------------------------------------------------------- subscriptions, registrations

def test_subscriptions_and_registrations_per_session(router_factory):
    r = router_factory({"limits": {"max_subscriptions_per_session": 3,
                                   "max_registrations_per_session": 2}})
    other = mb_twisted.connect(r, "rawsocket")
    try:
        with raw.RawWebSocket(r.ws_port) as conn:
            raw.join(conn)
            ids = [raw.subscribe(conn, "com.limits.t%d" % i) for i in range(3)]
            assert raw.subscribe(conn, "com.limits.t0") == ids[0]  # the same subscription: not counted
            err = raw.request(conn, [raw.SUBSCRIBE, None, {}, "com.limits.t3"])
            assert err[:2] == [raw.ERROR, raw.SUBSCRIBE] and err[4] == EXHAUSTED, err
            assert err[3]["message"] == "session has 3 subscriptions: limits.max_subscriptions_per_session reached"
            regs = [raw.register(conn, "com.limits.p%d" % i) for i in range(2)]
            assert raw.register(conn, "com.limits.p0") == regs[0]
            err = raw.request(conn, [raw.REGISTER, None, {}, "com.limits.p2"])
            assert err[:2] == [raw.ERROR, raw.REGISTER] and err[4] == EXHAUSTED, err
            assert err[3]["message"] == "session has 2 registrations: limits.max_registrations_per_session reached"
            # still joined: an unsubscription makes room
            raw.request(conn, [raw.UNSUBSCRIBE, None, ids[1]])
            raw.subscribe(conn, "com.limits.t3")
            # other sessions are not affected
            other.subscribe("com.limits.t0")
            other.register("com.limits.p2", lambda: "ok")
            for i in range(2):  # its own three
                other.subscribe("com.limits.o%d" % i)
            err = raw.request(conn, [raw.PUBLISH, None, {"acknowledge": True}, "com.limits.t0", [1]])
            assert err[0] == raw.PUBLISHED, err
    finally:
        other.close()
    got = counters(r)
    assert got["subscriptions_refused"] == 1 and got["registrations_refused"] == 1, got


# ---------------------------------------------------------------- calls in flight

def test_calls_in_flight_per_caller_and_per_callee(router_factory):
    r = router_factory({"limits": {"max_calls_per_caller": 2, "max_invocations_per_callee": 3}})
    with raw.RawSocketConn(r.rawsocket_port) as callee, raw.RawWebSocket(r.ws_port) as caller, \
            raw.RawWebSocket(r.ws_port) as caller2:
        for c in (callee, caller, caller2):
            raw.join(c)
        raw.register(callee, "com.limits.slow")
        invs = []
        for req in (1, 2):
            caller.send_json([raw.CALL, req, {}, "com.limits.slow", [req]])
            invs.append(raw.expect(callee, raw.INVOCATION))
        caller.send_json([raw.CALL, 3, {}, "com.limits.slow", [3]])
        err = raw.expect(caller, raw.ERROR)
        assert err[1:3] == [raw.CALL, 3] and err[4] == EXHAUSTED, err
        assert err[3]["message"] == "caller has 2 calls in flight: limits.max_calls_per_caller reached"
        caller2.send_json([raw.CALL, 1, {}, "com.limits.slow", ["b"]])
        invs.append(raw.expect(callee, raw.INVOCATION))
        caller2.send_json([raw.CALL, 2, {}, "com.limits.slow", ["c"]])
        err = raw.expect(caller2, raw.ERROR)
        assert err[1:3] == [raw.CALL, 2] and err[4] == EXHAUSTED, err
        assert "has 3 invocations in flight: limits.max_invocations_per_callee reached" in err[3]["message"]
        # answers make room again, the sessions stayed joined
        callee.send_json([raw.YIELD, invs[0][1], {}, ["r1"]])
        assert raw.expect(caller, raw.RESULT)[1] == 1
        caller.send_json([raw.CALL, 4, {}, "com.limits.slow", [4]])
        inv = raw.expect(callee, raw.INVOCATION)
        callee.send_json([raw.YIELD, inv[1], {}, ["r4"]])
        assert raw.expect(caller, raw.RESULT)[1:] == [4, {}, ["r4"]]
    got = counters(r)
    assert got["calls_refused_caller"] == 1 and got["calls_refused_callee"] == 1, got


def test_a_shared_registration_picks_a_callee_with_room(router_factory):
    r = router_factory({"limits": {"max_invocations_per_callee": 1}})
    with raw.RawSocketConn(r.rawsocket_port) as a, raw.RawSocketConn(r.rawsocket_port) as b, \
            raw.RawWebSocket(r.ws_port) as caller:
        for c in (a, b, caller):
            raw.join(c)
        raw.register(a, "com.limits.shared", {"invoke": "first"})
        raw.register(b, "com.limits.shared", {"invoke": "first"})
        caller.send_json([raw.CALL, 1, {}, "com.limits.shared", []])
        inv_a = raw.expect(a, raw.INVOCATION)
        caller.send_json([raw.CALL, 2, {}, "com.limits.shared", []])  # a is full: b takes it
        inv_b = raw.expect(b, raw.INVOCATION)
        caller.send_json([raw.CALL, 3, {}, "com.limits.shared", []])  # both full
        err = raw.expect(caller, raw.ERROR)
        assert err[1:3] == [raw.CALL, 3] and err[4] == EXHAUSTED, err
        a.send_json([raw.YIELD, inv_a[1], {}, ["a"]])
        b.send_json([raw.YIELD, inv_b[1], {}, ["b"]])
        got = sorted(tuple(raw.expect(caller, raw.RESULT)[1:4:2]) for _ in range(2))
        assert got == [(1, ("a",)), (2, ("b",))] or got == [(1, ["a"]), (2, ["b"])], got
    assert counters(r)["calls_refused_callee"] == 1


# ---------------------------------------------------------------- message rate

def test_max_message_rate_delays_a_session_without_loss_and_others_stay_fast(router_factory):
    r = router_factory({"limits": {"max_message_rate": 50, "max_message_burst": 10}})
    fast_callee = mb_twisted.connect(r, "rawsocket")
    fast_callee.register("com.limits.ping", lambda: "pong")
    fast = mb_twisted.connect(r, "websocket")
    busy = mb_twisted.connect(r, "websocket")
    try:
        time.sleep(0.3)  # the joins' tokens come back
        t0 = time.monotonic()
        futs = [mb_twisted.submit(busy.session.publish, "com.limits.rate", i,
                                  options=PublishOptions(acknowledge=True)) for i in range(60)]
        time.sleep(0.1)
        slowest = 0.0
        for _ in range(4):  # another session's calls meanwhile
            t = time.monotonic()
            assert fast.call("com.limits.ping") == "pong"
            slowest = max(slowest, time.monotonic() - t)
            time.sleep(0.05)
        for f in futs:
            f.result(timeout=T(10))  # all acknowledged: nothing lost
        took = time.monotonic() - t0
        assert took >= 0.85, "60 publishes at 50/s (burst 10) acknowledged in %.2f s" % took
        assert slowest < T(0.25), "a call of another session took %.2f s" % slowest
        assert not futs[-1].exception()
    finally:
        for c in (fast, busy, fast_callee):
            c.close()
    got = counters(r)
    # each pause lets one token in: about 50 pauses when the 60 publishes come at once, fewer when
    # a loaded machine sends them slower than the bucket refills
    assert 1 <= got["sessions_throttled"] <= 60 and got["messages_delayed"] >= 1, got


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_max_message_rate_holds_messages_of_one_read_and_resumes_where_it_stopped(router_factory, transport):
    r = router_factory({"limits": {"max_message_rate": 100, "max_message_burst": 5}})
    with raw.connect(r, transport) as conn:
        raw.join(conn)
        time.sleep(0.1)
        sent = []
        real_send = conn.send_raw
        conn.send_raw = lambda data: sent.append(data)  # collect the frames: one write
        for i in range(25):
            conn.send_json([raw.PUBLISH, 100 + i, {"acknowledge": True}, "com.limits.burst", [i]])
        conn.send_raw = real_send
        t0 = time.monotonic()
        conn.send_raw(b"".join(sent))
        acks = [raw.expect(conn, raw.PUBLISHED, timeout=5)[1] for _ in range(25)]
        took = time.monotonic() - t0
        assert acks == [100 + i for i in range(25)], acks  # every one, in order
        assert took >= 0.15, "25 messages at 100/s (burst 5) answered in %.2f s" % took
    got = counters(r)
    assert got["messages_delayed"] >= 10 and got["sessions_throttled"] >= 10, got


# ---------------------------------------------------------------- hello and handshake timeouts

def test_hello_timeout_closes_transports_without_hello(router_factory):
    r = router_factory({"limits": {"hello_timeout": 0.5},
                        "listeners": [{"type": "rawsocket", "host": "127.0.0.1", "port": 0,
                                       "handshake_timeout": 0.5}]})
    r.listeners(3)
    slow_port = r.find("rawsocket", nth=1).port
    witness = mb_twisted.connect(r, "websocket")
    try:
        with raw.RawWebSocket(r.ws_port) as ws, raw.RawSocketConn(r.rawsocket_port) as rsc, \
                raw.RawSocketConn(r.rawsocket_port) as left, \
                raw.RawSocketConn(slow_port, handshake=None) as no_handshake:
            raw.join(left)
            left.send_json([raw.GOODBYE, {}, "wamp.close.normal"])
            assert raw.expect(left, raw.GOODBYE)
            closed = ws.wait_closed(timeout=5)
            assert closed.how == "close" and closed.code == 1008, closed
            assert "hello_timeout" in closed.reason, closed
            assert rsc.wait_closed(timeout=5).how in ("eof", "reset")
            assert left.wait_closed(timeout=5).how in ("eof", "reset")  # no new HELLO after GOODBYE
            assert no_handshake.wait_closed(timeout=5).how in ("eof", "reset")
            r.wait_for_log(r"websocket 127\.0\.0\.1:\d+: no HELLO within 0\.5 s \(limits\.hello_timeout\): closed")
        assert witness.call("wamp.session.count") >= 1  # joined sessions are not affected
    finally:
        witness.close()
    got = counters(r)
    assert got["hello_timeouts"] == 3 and got["handshake_timeouts"] == 1, got


# ---------------------------------------------------------------- the existing limits' counters

def test_messages_too_large_are_counted(router_factory):
    r = router_factory({"limits": {"max_message_size": 4096}})
    with raw.RawWebSocket(r.ws_port) as conn:
        raw.join(conn)
        conn.send_text('[16,1,{},"com.big",["%s"]]' % ("x" * 8000))
        assert conn.wait_closed().code == 1009
    with raw.RawSocketConn(r.rawsocket_port) as conn:
        raw.join(conn)
        conn.send_text('[16,1,{},"com.big",["%s"]]' % ("x" * 8000))
        conn.wait_closed()
    assert counters(r)["messages_too_large"] == 2


def _sndbuf_of_router_side(r, client_port):
    """The kernel's send buffer (ss's skmem tb) of moonbar's socket towards the client port."""
    out = subprocess.run(["ss", "-tmnH", "state", "established", "( dport = :%d )" % client_port],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"\btb(\d+)\b", out)
    assert m, "no socket towards port %d in ss's output: %r" % (client_port, out)
    return int(m.group(1))


@pytest.mark.skipif(not shutil.which("ss"), reason="ss (iproute2) is not installed")
def test_socket_send_buffer_bounds_what_the_kernel_queues_per_connection(router_factory):
    # limits.socket_send_buffer: SO_SNDBUF of every TCP connection, so a peer that stops reading
    # holds at most that much kernel memory besides moonbar's own queue (Linux doubles the value)
    r = router_factory({"limits": {"socket_send_buffer": 65536}})
    with raw.RawSocketConn(r.rawsocket_port) as c, raw.RawWebSocket(r.ws_port) as w:
        raw.join(c)
        raw.join(w)
        for conn in (c, w):
            assert _sndbuf_of_router_side(r, conn.sock.getsockname()[1]) == 2 * 65536
    plain = router_factory({})
    with raw.RawSocketConn(plain.rawsocket_port) as c:
        raw.join(c)
        assert _sndbuf_of_router_side(plain, c.sock.getsockname()[1]) != 2 * 65536  # autotuned
