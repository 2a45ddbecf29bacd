"""RawSocket over a Unix domain socket (listeners[i].unix, .mode): raw bytes and autobahn-python
(Twisted's UNIXClientEndpoint), the file's mode, its removal at shutdown, a stale file replaced,
and a second moonbar on a live path refused."""
import os
import re
import socket
import stat
import tempfile

import pytest

import mb_raw as raw
import mb_router
import mb_twisted
from mb_router import DELETE, T


@pytest.fixture
def sock_dir():
    # a short path of its own: sun_path holds 107 bytes, pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="mb-unix-") as d:
        yield d


def unix_config(path, **extra):
    lc = {"type": "rawsocket", "unix": path}
    lc.update(extra)
    return {"websocket": DELETE, "rawsocket": DELETE, "listeners": [lc]}


def run_to_exit(tmp_path, overrides):
    """Runs moonbar with `overrides` to its exit (a start that must fail)."""
    cfg = mb_router.Router(tmp_path / "once", overrides)
    return mb_router.run_cli("--config", str(cfg.config_path), cwd=str(cfg.workdir / "run"))


def start(router_factory, path, **extra):
    r = router_factory(unix_config(path, **extra))
    assert r.listeners(1) == [("rawsocket", "unix:" + path, None)]
    return r


def test_raw_session_over_a_unix_socket(router_factory, sock_dir):
    path = os.path.join(sock_dir, "mb.sock")
    r = start(router_factory, path)
    with raw.RawSocketConn(None, unix=path) as conn:
        assert conn.reply == b"\x7f\xb1\x00\x00", conn.reply.hex()
        welcome = raw.join(conn)
        sid = welcome[1]
        res = raw.request(conn, [raw.CALL, None, {}, "wamp.session.get", [sid]])
        assert res[0] == raw.RESULT, res
        transport = res[3][0]["transport"]
        assert transport["type"] == "rawsocket" and transport["unix"] is True and transport["tls"] is False
        assert transport["peer"] == "unix:" + path
        sub = raw.subscribe(conn, "com.test.unix")
        conn.send_json([raw.PUBLISH, conn.next_id(), {"exclude_me": False}, "com.test.unix", ["hi"]])
        ev = raw.expect(conn, raw.EVENT)
        assert ev[1] == sub and ev[4] == ["hi"]
    r.check()


def test_autobahn_twisted_client_over_a_unix_socket(router_factory, sock_dir):
    from twisted.internet.endpoints import UNIXClientEndpoint
    path = os.path.join(sock_dir, "mb.sock")
    r = start(router_factory, path)
    c = mb_twisted.connect(r, "rawsocket", endpoint=lambda reactor: UNIXClientEndpoint(reactor, path, timeout=T(5)))
    try:
        assert c.call("wamp.session.count") >= 1
        reg = c.register("com.test.unix.add", lambda a, b: a + b)
        assert c.call("com.test.unix.add", 2, 3) == 5
        c.unregister(reg)
    finally:
        c.close()
    r.check()


@pytest.mark.parametrize("mode,want", [(None, 0o660), ("0600", 0o600), ("0666", 0o666), (0o640, 0o640)])
def test_the_socket_file_gets_the_mode_and_is_removed_at_shutdown(router_factory, sock_dir, mode, want):
    path = os.path.join(sock_dir, "mb.sock")
    r = start(router_factory, path, **({} if mode is None else {"mode": mode}))
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == want, oct(st.st_mode)
    r.check()
    assert not os.path.exists(path), "socket file left behind at shutdown"


def test_a_stale_socket_file_is_replaced(router_factory, sock_dir):
    path = os.path.join(sock_dir, "mb.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listened on, closed: what a crashed server leaves
    stale.close()
    assert os.path.exists(path)
    r = start(router_factory, path)
    assert "stale socket file removed" in r.log
    with raw.RawSocketConn(None, unix=path) as conn:
        raw.join(conn)
    r.check()


def test_a_second_moonbar_on_a_live_path_exits_with_a_clear_message(router_factory, sock_dir, tmp_path):
    path = os.path.join(sock_dir, "mb.sock")
    first = start(router_factory, path)
    res = run_to_exit(tmp_path, unix_config(path))
    assert res.returncode != 0, res
    assert "rawsocket unix:%s: in use by a running server" % path in res.stderr, res.stderr
    # the first one is untouched and still serves
    with raw.RawSocketConn(None, unix=path) as conn:
        raw.join(conn)
    first.check()
    assert not os.path.exists(path)


def test_a_path_that_is_not_a_socket_is_not_removed(sock_dir, tmp_path):
    path = os.path.join(sock_dir, "mb.sock")
    with open(path, "w") as f:
        f.write("precious")
    res = run_to_exit(tmp_path, unix_config(path))
    assert res.returncode != 0
    assert "not a socket" in res.stderr, res.stderr
    with open(path) as f:
        assert f.read() == "precious"


def test_websocket_and_http_over_a_unix_socket(router_factory, sock_dir):
    """A websocket listener may be a Unix socket too: static files and WAMP sessions on it."""
    import http.client
    import socket as socketlib
    from twisted.internet.endpoints import UNIXClientEndpoint
    path = os.path.join(sock_dir, "ws.sock")
    r = router_factory({"websocket": DELETE, "rawsocket": DELETE,
                        "listeners": [{"type": "websocket", "unix": path, "path": "/ws", "web_root": "www"}]})
    r.wait_for_log(r"listening websocket on unix:" + re.escape(path))

    class UnixHTTP(http.client.HTTPConnection):
        def connect(self):
            self.sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
            self.sock.settimeout(T(5))
            self.sock.connect(path)

    h = UnixHTTP("localhost")
    h.request("GET", "/")
    resp = h.getresponse()
    assert resp.status == 200 and b"moonbar-test-index" in resp.read()
    h.close()
    c = mb_twisted.connect(r, "websocket", serializers="msgpack", port=1,
                           endpoint=lambda reactor: UNIXClientEndpoint(reactor, path, timeout=T(5)))
    try:
        assert c.websocket_protocol == "wamp.2.msgpack"
        reg = c.register("com.test.unix.ws", lambda a: a * 2)
        assert c.call("com.test.unix.ws", 21) == 42
        c.unregister(reg)
    finally:
        c.close()
    r.check()
