"""limits.max_message_size and the slow-consumer rule (docs/behaviour.md)."""
import json
import os
import time
import re

import pytest

import mb_raw as raw
import mb_router

LIMIT = 65536


@pytest.fixture(scope="module")
def small_router(tmp_path_factory):
    with mb_router.running(tmp_path_factory.mktemp("small"),
                           {"limits": {"max_message_size": LIMIT}}) as r:
        yield r


@pytest.fixture(scope="module")
def small_witness(small_router):
    from conftest import Witness
    w = Witness(small_router)
    yield w
    w.close()


def publish_text(size, topic="com.test.big"):
    """A PUBLISH of exactly `size` bytes of JSON."""
    head = '[16,1,{"acknowledge":true,"exclude_me":false},"%s",["' % topic
    tail = '"]]'
    return head + "x" * (size - len(head) - len(tail)) + tail


def test_websocket_message_over_max_message_size_is_closed_with_1009(small_router, small_witness):
    with raw.RawWebSocket(small_router.ws_port) as conn:
        raw.join(conn)
        conn.send_text(publish_text(100 * 1024))
        closed = conn.wait_closed()
        assert closed.how == "close", "expected a close frame 1009, got %s" % closed
        assert closed.code == 1009, closed
        assert str(LIMIT) in closed.reason, "close reason should name the limit: %r" % closed.reason
    small_witness.check()


def test_websocket_message_over_limit_in_fragments_is_closed_with_1009(small_router, small_witness):
    with raw.RawWebSocket(small_router.ws_port) as conn:
        raw.join(conn)
        data = publish_text(100 * 1024).encode()
        step = 16 * 1024
        chunks = [data[i:i + step] for i in range(0, len(data), step)]
        for i, c in enumerate(chunks):
            conn.send_frame(0x1 if i == 0 else 0x0, c, fin=(i == len(chunks) - 1))
        closed = conn.wait_closed()
        assert closed.how == "close" and closed.code == 1009, closed
    small_witness.check()


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_message_just_under_max_message_size_is_accepted(small_router, transport):
    with raw.connect(small_router, transport) as conn:
        raw.join(conn)
        raw.subscribe(conn, "com.test.big")
        text = publish_text(LIMIT - 100)
        conn.send_text(text)
        got = [conn.recv_json(), conn.recv_json()]
        kinds = sorted(m[0] for m in got)
        assert kinds == [raw.PUBLISHED, raw.EVENT], got
        ev = [m for m in got if m[0] == raw.EVENT][0]
        assert ev[4] == json.loads(text)[4]


def test_rawsocket_handshake_announces_length_exponent_covering_max_message_size(small_router):
    with raw.RawSocketConn(small_router.rawsocket_port) as conn:
        L = conn.reply[1] >> 4
        assert conn.reply[0] == 0x7F and conn.reply[1] & 0x0F == 1 and conn.reply[2:] == b"\0\0", \
            conn.reply.hex()
        assert 2 ** (9 + L) >= LIMIT, "announced 2^(9+%d) < %d" % (L, LIMIT)
        assert L == 7, "contract: smallest L with 2^(9+L) >= max_message_size; got L=%d" % L


def test_rawsocket_message_over_max_message_size_closes_connection(small_router, small_witness):
    with raw.RawSocketConn(small_router.rawsocket_port) as conn:
        raw.join(conn)
        conn.send_text(publish_text(100 * 1024))
        closed = conn.wait_closed()
        assert closed.how in ("eof", "reset")
    small_witness.check()


def test_rawsocket_oversized_frame_header_alone_closes_connection(small_router, small_witness):
    with raw.RawSocketConn(small_router.rawsocket_port) as conn:
        raw.join(conn)
        conn.send_raw((100 * 1024).to_bytes(4, "big"))  # header only, no payload
        conn.wait_closed()
    small_witness.check()


def test_slow_consumer_is_disconnected_while_publisher_and_others_carry_on(router_factory, clients):
    r = router_factory({"limits": {"max_queue_bytes": 65536, "slow_consumer_timeout": 1}})
    t = "com.test.slow"
    slow = raw.RawSocketConn(r.rawsocket_port, rcvbuf=4096)
    try:
        slow_id = raw.join(slow)[1]
        raw.subscribe(slow, t)
        normal = clients(r, "websocket")
        _, events = normal.subscribe(t)
        publisher = clients(r, "rawsocket")
        n, blob = 120, "s" * 50_000  # ~6 MB in total
        for i in range(n):
            publisher.publish(t, i, blob)
            # pace on the normal subscriber: its queue never holds more than one event
            events.wait(i + 1, timeout=10)
        got = events.wait(n)
        assert [e.args[0] for e in got] == list(range(n)), "normal subscriber missed events"
        assert all(e.args[1] == blob for e in got)
        m = r.wait_for_log(r"slow consumer", timeout=5)
        line = r.log.splitlines()[[i for i, ln in enumerate(r.log.splitlines())
                                   if "slow consumer" in ln][0]]
        assert re.search(r"\bwarn\b", line) and re.search(r"session %d\b" % slow_id, line), \
            "expected a warn line 'session %d ... slow consumer': %r" % (slow_id, line)
        assert m
        closed = slow.wait_closed(timeout=10)  # drains what the kernel buffered, then EOF/reset
        assert closed.how in ("eof", "reset")
        # publisher and normal subscriber keep working
        publisher.publish(t, "after", "")
        assert events.wait(n + 1)[n].args == ["after", ""]
        normal.register("com.test.slow.ping", lambda: "pong")
        assert publisher.call("com.test.slow.ping") == "pong"
        assert r.alive()
    finally:
        slow.close()
    # the shutdown line counts the one slow consumer dropped
    r.check()
    m = re.search(r"limits: .*\bslow_consumers_dropped=(\d+)", r.log)
    assert m and m.group(1) == "1", "expected slow_consumers_dropped=1 in the limits: line:\n" + r.log[-3000:]


def test_fast_subscriber_under_the_queue_limit_is_not_disconnected(router_factory, clients):
    r = router_factory({"limits": {"max_queue_bytes": 65536, "slow_consumer_timeout": 1}})
    t = "com.test.fast"
    sub, pub = clients(r, "rawsocket"), clients(r, "websocket")
    _, events = sub.subscribe(t)
    for i in range(200):
        pub.publish(t, i, "y" * 1000)
        if i % 20 == 19:  # at most ~20 KB in flight: well under the limit
            events.wait(i + 1)
    assert [e.args[0] for e in events.wait(200)] == list(range(200))
    assert sub.is_connected() and "slow consumer" not in r.log


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("busy_poll_us", [50, 10000])
def test_busy_poll_stops_spinning_once_traffic_stops(router_factory, busy_poll_us):
    """limits.busy_poll_us keeps the loop polling only while messages flow: after a burst of
    calls, an idle router uses (almost) no CPU."""
    r = router_factory({"limits": {"busy_poll_us": busy_poll_us}})
    with raw.connect(r, "rawsocket") as callee, raw.connect(r, "rawsocket") as caller:
        raw.join(callee)
        raw.join(caller)
        raw.register(callee, "com.spin.echo")
        for i in range(200):
            caller.send_json([raw.CALL, i + 1, {}, "com.spin.echo", [i]])
            inv = raw.expect(callee, raw.INVOCATION)
            callee.send_json([raw.YIELD, inv[1], {}, [i]])
            assert raw.expect(caller, raw.RESULT)[3] == [i]
        time.sleep(0.2)
        before = _cpu_seconds(r.proc.pid)
        time.sleep(1.0)
        used = _cpu_seconds(r.proc.pid) - before
    assert used < 0.2, "an idle router used %.2f s of CPU in 1 s" % used
