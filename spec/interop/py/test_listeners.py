"""Several listeners from the `listeners` key: two RawSocket ones and a WebSocket one, the realms
each serves (a HELLO for another realm gets ABORT wamp.error.no_such_realm), and their own
max_message_size and max_connections."""
import time

import pytest

import mb_raw as raw
from mb_router import DELETE, T

CONFIG = {
    "websocket": DELETE,
    "rawsocket": DELETE,
    "realms": [{"name": "realm1"}, {"name": "realm2"}],
    "listeners": [
        {"type": "rawsocket", "host": "127.0.0.1", "port": 0, "realms": ["realm1"],
         "max_message_size": 1024},
        {"type": "rawsocket", "host": "127.0.0.1", "port": 0, "realms": ["realm2"],
         "max_connections": 2},
        {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/wamp"},
    ],
}


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    import mb_router
    with mb_router.running(tmp_path_factory.mktemp("listeners"), CONFIG) as r:
        found = r.listeners(3)
        assert [k for k, _, _ in found] == ["websocket", "rawsocket", "rawsocket"], found
        r.ws_port = found[0][2]
        r.raw1, r.raw2 = found[1][2], found[2][2]
        yield r


def test_three_listeners_each_on_its_own_port(multi):
    assert len({multi.ws_port, multi.raw1, multi.raw2}) == 3
    with raw.RawSocketConn(multi.raw1) as a, raw.RawSocketConn(multi.raw2) as b, \
            raw.RawWebSocket(multi.ws_port, path="/wamp") as w:
        raw.join(a, "realm1")
        raw.join(b, "realm2")
        raw.join(w, "realm2")  # no realms list: every realm


@pytest.mark.parametrize("which,realm", [("raw1", "realm2"), ("raw2", "realm1")])
def test_hello_for_a_realm_the_listener_does_not_serve_is_no_such_realm(multi, which, realm):
    with raw.RawSocketConn(getattr(multi, which)) as conn:
        conn.send_json([raw.HELLO, realm, {"roles": raw.ROLES}])
        msg, _ = raw.expect_abort_then_close(conn, "wamp.error.no_such_realm")
        assert "not served on this listener" in msg[1]["message"], msg


def test_each_listener_has_its_own_max_message_size(multi):
    # raw1 announces 2^10 (len exponent 1) and drops a bigger frame; raw2 keeps the default 1 MiB
    with raw.RawSocketConn(multi.raw1) as conn:
        assert conn.reply == b"\x7f\x11\x00\x00", conn.reply.hex()
        raw.join(conn, "realm1")
        conn.send_json([raw.PUBLISH, 1, {}, "com.test.big", ["x" * 2000]])
        conn.wait_closed()
    with raw.RawSocketConn(multi.raw2) as conn:
        assert conn.reply == b"\x7f\xb1\x00\x00", conn.reply.hex()
        raw.join(conn, "realm2")
        conn.send_json([raw.PUBLISH, 1, {"acknowledge": True}, "com.test.big", ["x" * 2000]])
        raw.expect(conn, raw.PUBLISHED)


def test_max_connections_refuses_the_one_too_many_and_logs_it(multi):
    a = raw.RawSocketConn(multi.raw2)
    b = raw.RawSocketConn(multi.raw2)
    try:
        raw.join(a, "realm2")
        mark = multi.log_mark()
        with raw.RawSocketConn(multi.raw2, handshake=None) as c:
            closed = c.wait_closed()
            assert closed.how in ("eof", "reset")
        multi.wait_for_log(r"rawsocket 127\.0\.0\.1:%d: connection from 127\.0\.0\.1:\d+ refused: "
                           r"max_connections \(2\) reached" % multi.raw2, since=mark)
        # the other listener is not limited
        others = [raw.RawSocketConn(multi.raw1) for _ in range(3)]
        for o in others:
            o.close()
        raw.join(b, "realm2")
    finally:
        a.close()
        b.close()
    # once one is gone, a new connection is taken again
    deadline = time.monotonic() + T(3)
    while True:
        try:
            with raw.RawSocketConn(multi.raw2) as c:
                raw.join(c, "realm2")
            break
        except (raw.Closed, OSError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
