"""Shared pieces of the chaos tests: child peers killed with SIGKILL, a reading raw subscriber
thread, the session count, and config helpers.
"""
import os
import pathlib
import re
import signal
import subprocess
import threading
import time

import mb_raw as raw
import mb_router
from mb_router import T

HERE = pathlib.Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"

LONG = os.environ.get("MOONBAR_CHAOS_LONG") == "1"

# error/crit lines of moonbar's log ("<time> error <what>")
_BAD_LEVEL = re.compile(r"^\S+\s+(error|crit|fatal|alert|emerg)\b", re.M)


def bad_level_lines(router, allowed=()):
    """The log lines at error level or worse, but those matching one of `allowed` (regexes)."""
    out = []
    for m in _BAD_LEVEL.finditer(router.log):
        line = router.log[m.start():router.log.find("\n", m.start())]
        if not any(re.search(a, line) for a in allowed):
            out.append(line)
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_status(pid, key):
    """A /proc/PID/status field in kB (VmRSS, VmHWM, ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def wait_until(fn, timeout=5, interval=0.02, what="condition"):
    deadline = time.monotonic() + mb_router.T(timeout)
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s (last: %r)" % (what, v))
        time.sleep(interval)


class Peer:
    """A child process (chaos_peer.py ROLE) whose stdout lines are collected."""

    def __init__(self, url, role, *args):
        self.proc = subprocess.Popen([PYTHON, str(HERE / "chaos_peer.py"), url, role] + [str(a) for a in args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.err = []
        self.cond = threading.Condition()
        for stream, sink in ((self.proc.stdout, self.lines), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    def _read(self, stream, sink):
        for line in iter(stream.readline, b""):
            with self.cond:
                sink.append(line.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, prefix, timeout=10):
        """The first stdout line starting with `prefix` (waited for)."""
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError("peer: no line %r; stdout %r stderr %s"
                                         % (prefix, self.lines[-5:], "\n".join(self.err[-20:])))
                self.cond.wait(min(left, 0.1))

    def session(self):
        return int(self.wait_for("joined ").split()[1])

    def kill9(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self):
        self.kill9()
        for s in (self.proc.stdout, self.proc.stderr):
            s.close()


class EventReader:
    """A thread that reads the events of `conn` (an mb_raw connection, joined and subscribed)
    and keeps their Arguments in .args; stop() closes conn and returns them."""

    def __init__(self, conn):
        self.conn = conn
        self.args = []
        self.error = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                msg = self.conn.recv_json(timeout=0.2)
            except raw.Timeout:
                continue
            except BaseException as e:  # noqa: BLE001 - reported by stop()
                self.error = e
                return
            if msg[0] == raw.EVENT:
                self.args.append(msg[4] if len(msg) > 4 else [])

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.conn.close()
        return self.args


class RawReader(EventReader):
    """A joined raw WebSocket (JSON) session subscribed to `topic`, whose events a thread
    reads and keeps (their Arguments)."""

    def __init__(self, router, topic):
        conn = raw.RawWebSocket(router.ws_port)
        self.session = raw.join(conn)[1]
        raw.subscribe(conn, topic)
        super().__init__(conn)


def session_count(client):
    return client.call("wamp.session.count")


def config_accepts(overrides, tmpdir):
    """Whether `moonbar --check-config` accepts the default test config with `overrides`."""
    cfg = mb_router.merge(mb_router.default_config(), overrides)
    path = pathlib.Path(tmpdir) / "probe-config.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("return " + mb_router.lua_value(cfg) + "\n")
    return mb_router.run_cli("--check-config", str(path)).returncode == 0


def with_per_address_limit(limits, tmpdir):
    """`limits` plus max_connections_per_address = 100000 when this moonbar knows that key."""
    probe = dict(limits, max_connections_per_address=100000)
    return probe if config_accepts({"limits": probe}, tmpdir) else limits


def raise_fd_limit(n):
    """Raise this process's soft RLIMIT_NOFILE to at least n (the router inherits it)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
