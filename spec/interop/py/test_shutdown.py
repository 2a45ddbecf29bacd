"""SIGTERM / SIGINT: GOODBYE wamp.close.system_shutdown to every session, close
frame 1001 on WebSocket, exit 0 in under a second (docs/behaviour.md, Running)."""
import signal
import time

import pytest

import mb_raw as raw
from mb_router import T


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_sends_system_shutdown_goodbye_and_exits_0_within_1s(router_factory, clients, sig):
    r = router_factory()
    ws = raw.RawWebSocket(r.ws_port)
    rs = raw.RawSocketConn(r.rawsocket_port)
    ab = clients(r, "websocket")
    try:
        raw.join(ws)
        raw.join(rs)
        raw.subscribe(ws, "com.test.shutdown")
        raw.register(rs, "com.test.shutdown")
        start = time.monotonic()
        r.signal(sig)
        for conn in (ws, rs):
            msg = conn.recv_json(timeout=1)
            assert msg[0] == raw.GOODBYE and msg[2] == "wamp.close.system_shutdown", msg
            assert isinstance(msg[1], dict), msg
        ws.send_json([raw.GOODBYE, {}, "wamp.close.goodbye_and_out"])  # a polite client answers
        closed = ws.wait_closed(timeout=1)
        assert closed.how == "close" and closed.code == 1001, closed
        rs.wait_closed(timeout=1)  # RawSocket client that never answers
        rc = r.wait(max(0.0, T(1) - (time.monotonic() - start)) + 0.05)
        elapsed = time.monotonic() - start
        assert rc is not None, "moonbar still running %.2fs after %s" % (elapsed, sig.name)
        assert rc == 0 and elapsed < T(1), (rc, elapsed)
        details = ab.left.result(timeout=T(1))
        assert details.reason == "wamp.close.system_shutdown"
    finally:
        ws.close()
        rs.close()


def test_sigterm_with_no_clients_exits_0_quickly(router_factory):
    r = router_factory()
    start = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(T(1))
    assert rc == 0, "exit %s after %.2fs" % (rc, time.monotonic() - start)


def test_sigterm_with_unjoined_and_half_open_connections_exits_0(router_factory):
    r = router_factory()
    conns = [raw.RawSocketConn(r.rawsocket_port, handshake=None),       # no handshake yet
             raw.RawSocketConn(r.rawsocket_port),                        # handshake, no HELLO
             raw.RawWebSocket(r.ws_port)]                                # upgraded, no HELLO
    try:
        conns[0].send_raw(b"\x7f")                                       # half a handshake
        start = time.monotonic()
        r.signal(signal.SIGTERM)
        rc = r.wait(T(1))
        assert rc == 0, "exit %s after %.2fs" % (rc, time.monotonic() - start)
    finally:
        for c in conns:
            c.close()
