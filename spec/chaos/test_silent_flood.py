"""A flood of connections that never send a byte (docs/behaviour.md, "Transports": a connection
that has not finished its handshake within the listener's handshake_timeout is closed).

800 TCP connections to a WebSocket listener and 800 to a RawSocket listener, both with
handshake_timeout = 1 s, all silent. Checks: each one sees EOF (or a reset) from moonbar, none
before ~1 s after it connected and all within a few seconds; meanwhile a normal autobahn client
joins and makes 50 calls with normal latency (p50 and max printed and bounded); moonbar's fd count
(/proc/PID/fd) rises by the flood and comes back to its baseline; one info line per closed
connection, nothing at error level.

MOONBAR_CHAOS_LONG=1: 3 rounds of 2 × 2000 connections instead of one round of 2 × 800.
"""
import os
import selectors
import socket
import statistics
import time

import mb_twisted as tx
from chaos_util import raise_fd_limit, with_per_address_limit
from conftest import LONG, bad_level_lines, fd_count, wait_until
from mb_router import DELETE, T

N = 2000 if LONG else 800
ROUNDS = 3 if LONG else 1
TIMEOUT = 1.0


def _open_silent(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(T(10))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append((s, time.monotonic()))
    return socks


def _wait_all_closed(socks, timeout):
    """{socket: seconds from its connect to its EOF}; raises if some stay open past `timeout`."""
    sel = selectors.DefaultSelector()
    opened = {}
    for s, t in socks:
        sel.register(s, selectors.EVENT_READ)
        opened[s] = t
    closed = {}
    deadline = time.monotonic() + timeout
    while len(closed) < len(socks):
        left = deadline - time.monotonic()
        assert left > 0, "%d of %d silent connections still open %.1f s on" % (
            len(socks) - len(closed), len(socks), timeout)
        for key, _ in sel.select(min(left, 0.2)):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            except BlockingIOError:
                continue
            assert data == b"", "moonbar sent %r to a silent connection" % data[:100]
            closed[s] = time.monotonic() - opened[s]
            sel.unregister(s)
    sel.close()
    return closed


def _latencies(c, n=50):
    out = []
    for i in range(n):
        t = time.perf_counter()
        assert c.call("com.chaos.echo", i) == i
        out.append(time.perf_counter() - t)
    return out


def test_silent_connections_are_closed_after_the_handshake_timeout(router_factory, clients, tmp_path):
    raise_fd_limit(4 * N + 1000)
    limits = with_per_address_limit({}, tmp_path)
    cfg = {"websocket": DELETE, "rawsocket": DELETE,
           "listeners": [{"type": "websocket", "port": 0, "web_root": False, "handshake_timeout": TIMEOUT},
                         {"type": "rawsocket", "port": 0, "handshake_timeout": TIMEOUT}]}
    if limits:
        cfg["limits"] = limits
    r = router_factory(cfg)
    pid = r.proc.pid
    callee = clients(r)
    callee.register("com.chaos.echo", lambda x: x)
    before = _latencies(callee)
    base_fds = fd_count(pid)
    for rnd in range(ROUNDS):
        mark = r.log_mark()
        t0 = time.monotonic()
        socks = _open_silent(r.ws_port, N) + _open_silent(r.rawsocket_port, N)
        opened_in = time.monotonic() - t0
        peak = fd_count(pid)
        # a normal client meanwhile
        c = tx.connect(r, "websocket")
        during = _latencies(c)
        c.close()
        closed = _wait_all_closed(socks, T(TIMEOUT + 4 + opened_in))
        first, last = min(closed.values()), max(closed.values())
        print("round %d: %d silent connections opened in %.2f s; fds %d -> %d; closed after %.2f..%.2f s; "
              "calls before p50 %.2f ms max %.2f ms, during p50 %.2f ms max %.2f ms"
              % (rnd, len(socks), opened_in, base_fds, peak, first, last,
                 1e3 * statistics.median(before), 1e3 * max(before),
                 1e3 * statistics.median(during), 1e3 * max(during)))
        assert first >= TIMEOUT - 0.05, "a silent connection was closed after %.2f s, before the timeout" % first
        assert peak >= base_fds + 2 * N * 0.9, (base_fds, peak)
        # normal latency: a loaded 2-core machine is allowed a few ms, not the flood's seconds
        assert statistics.median(during) < max(0.02, 5 * statistics.median(before)), during
        assert max(during) < T(0.5), max(during)
        for s, _ in socks:
            s.close()
        wait_until(lambda: fd_count(pid) <= base_fds, timeout=5, what="moonbar's fds back to %d" % base_fds)
        lines = [ln for ln in r._lines[mark:] if "no handshake within" in ln]
        assert len(lines) == 2 * N, "%d 'no handshake' lines for %d connections" % (len(lines), 2 * N)
    assert callee.call("com.chaos.echo", "still") == "still"
    assert bad_level_lines(r) == []
    assert os.path.isdir("/proc/%d" % pid)
