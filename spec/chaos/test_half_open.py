"""Half-open TCP: a peer that vanishes without FIN (docs/behaviour.md, "Liveness", "Flow
control").

Method: a black-hole TCP proxy in the test. It accepts the client's connection, connects to
moonbar (its socket towards moonbar with SO_RCVBUF 4 KiB), relays both ways until the client
has joined (and subscribed), then stops reading and writing on both sockets and never closes
them. To moonbar the peer is an established TCP connection that never answers and never reads:
the kernel still ACKs what fits in its small buffer, then the window closes; no FIN, no RST.

- ping: limits.ping_interval 0.5 s, ping_timeout 0.5 s; the frozen session is dropped with the
  warn line "no answer to a ping" within ping_interval + ping_timeout (+ the 100 ms sweep),
  over WebSocket and RawSocket;
- slow consumer: pings far off (60 s), a publisher floods the frozen subscriber's topic; the
  session is dropped by the slow-consumer rule (limits.max_queue_bytes 64 KiB,
  slow_consumer_timeout 1 s) with its warn line;
- either way the witness pair carries on, wamp.session.count is back to its baseline, and moonbar
  closes its side: once the proxy drains its socket towards moonbar it reads EOF.

A true no-FIN test with a DROP rule needs iptables or nft (not installed here: skipped with that
reason). test_lo_down_in_a_network_namespace does the same thing without them: moonbar and a
victim run inside `unshare -rn` (a private network namespace, as an unprivileged user-namespace
root), the witness reaches moonbar over a Unix-socket RawSocket listener, and the victim's
packets are lost for good by `ip link set lo down`.
"""
import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

import mb_raw as raw
from chaos_util import session_count
from conftest import HERE, WsWitness as Witness, bad_level_lines, wait_until
from mb_router import T


class BlackHoleProxy:
    """Relays one client connection to moonbar until freeze(); then holds both sockets, silent."""

    def __init__(self, target_port, rcvbuf=4096):
        self.target_port, self.rcvbuf = target_port, rcvbuf
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.client = self.upstream = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.client, _ = self.lsock.accept()
        up = socket.socket()
        up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        up.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.rcvbuf)
        up.connect(("127.0.0.1", self.target_port))
        self.upstream = up
        sel = selectors.DefaultSelector()
        sel.register(self.client, selectors.EVENT_READ, up)
        sel.register(up, selectors.EVENT_READ, self.client)
        while not self.frozen.is_set():
            for key, _ in sel.select(0.02):
                if self.frozen.is_set():
                    break
                data = key.fileobj.recv(65536)
                if not data:
                    self.stopped.set()
                    return
                key.data.sendall(data)
        sel.close()
        self.stopped.wait()   # silent: neither read nor written, never closed until the test ends

    def freeze(self):
        self.frozen.set()
        time.sleep(0.05)  # (the relay loop notices within one select)

    def upstream_eof(self, timeout=10):
        """Drain the socket towards moonbar; True once moonbar closed it (EOF or reset)."""
        s = self.upstream
        s.settimeout(T(timeout))
        deadline = time.monotonic() + T(timeout)
        try:
            while time.monotonic() < deadline:
                if not s.recv(65536):
                    return True
        except (ConnectionResetError, socket.timeout):
            return not isinstance(sys.exc_info()[1], socket.timeout)
        return False

    def close(self):
        self.stopped.set()
        for s in (self.client, self.upstream, self.lsock):
            if s is not None:
                s.close()


def _victim(r, transport, proxy, topic):
    if transport == "websocket":
        c = raw.RawWebSocket(proxy.port)
    else:
        c = raw.RawSocketConn(proxy.port)
    sid = raw.join(c)[1]
    raw.subscribe(c, topic)
    return c, sid


def _check_dropped(r, w, proxy, baseline):
    """After the victim's drop: the session count back to baseline, the witness unaffected,
    moonbar's side of the dead connection closed, no bad log line."""
    wait_until(lambda: session_count(w.caller) == baseline, what="session count back")
    w.check()
    assert proxy.upstream_eof(timeout=5), "moonbar kept its side of the dead connection open"
    assert bad_level_lines(r) == []


def _close(c, proxy, w):
    if c:
        c.close()
    proxy.close()
    w.close()


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_silent_peer_is_dropped_by_its_ping(router_factory, transport):
    r = router_factory({"limits": {"ping_interval": 0.5, "ping_timeout": 0.5}})
    w = Witness(r)
    proxy = BlackHoleProxy(r.ws_port if transport == "websocket" else r.rawsocket_port)
    c = None
    try:
        baseline = session_count(w.caller)
        c, sid = _victim(r, transport, proxy, "com.chaos.silent")
        assert session_count(w.caller) == baseline + 1
        mark = r.log_mark()
        proxy.freeze()
        t0 = time.monotonic()
        m = r.wait_for_log(r"session %d .*no answer to a ping" % sid, timeout=5, since=mark)
        took = time.monotonic() - t0
        assert " warn " in m.string, m.string
        assert took < T(0.5 + 0.5 + 1.0), "dropped after %.2f s" % took
        _check_dropped(r, w, proxy, baseline)
    finally:
        _close(c, proxy, w)


def test_silent_subscriber_under_a_flood_is_dropped_as_a_slow_consumer(router_factory, clients):
    r = router_factory({"limits": {"ping_interval": 60, "ping_timeout": 60,
                                   "max_queue_bytes": 65536, "slow_consumer_timeout": 1}})
    w = Witness(r)
    proxy = BlackHoleProxy(r.ws_port)
    c = None
    try:
        pub = clients(r)
        baseline = session_count(w.caller)
        c, sid = _victim(r, "websocket", proxy, "com.chaos.flood")
        proxy.freeze()
        mark = r.log_mark()
        deadline = time.monotonic() + T(10)
        k = 0
        while "slow consumer" not in "".join(r._lines[mark:]):
            assert time.monotonic() < deadline, "not dropped as a slow consumer; log:\n" + r.log[-3000:]
            for _ in range(50):
                k += 1
                pub.publish("com.chaos.flood", k, "x" * 1024, _acknowledge=False)
            pub.publish("com.chaos.flood", "ack", _acknowledge=True)   # paces the flood
        line = r.wait_for_log(r"session %d .*slow consumer" % sid, since=mark).string
        assert " warn " in line, line
        _check_dropped(r, w, proxy, baseline)
    finally:
        _close(c, proxy, w)


def test_true_no_fin_with_a_drop_rule():
    if os.geteuid() != 0:
        pytest.skip("needs root for a DROP rule in a private network namespace")
    if not (shutil.which("iptables") or shutil.which("nft")):
        pytest.skip("neither iptables nor nft is installed: no DROP rule possible "
                    "(test_lo_down_in_a_network_namespace loses the packets another way)")
    pytest.skip("iptables/nft found but this DROP-rule form is not written yet")


def _unshare_works():
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    try:
        return subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], timeout=10,
                              capture_output=True).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_lo_down_in_a_network_namespace(tmp_path):
    """The real thing: the victim's TCP packets vanish (lo down) with no FIN and no RST."""
    if os.environ.get("MOONBAR_WRAPPER"):
        pytest.skip("runs moonbar itself inside the namespace (no wrapper)")
    if not _unshare_works():
        pytest.skip("unshare -rn (a private network namespace) or ip is not available")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent / "interop" / "py")]))
    p = subprocess.run(["unshare", "-rn", sys.executable, str(HERE / "netns_no_fin.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=T(60), env=env)
    assert p.returncode == 0, "netns scenario failed:\nstdout:\n%s\nstderr:\n%s" % (p.stdout, p.stderr[-6000:])
    assert "NO-FIN OK" in p.stdout, p.stdout
