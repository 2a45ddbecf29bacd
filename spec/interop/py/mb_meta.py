"""Helpers for the meta API, testament and liveness tests (test_meta_*.py).

Owns: Watch (one session that records every wamp.* meta event in the router's order),
meta_router (a router_factory router with limits, Lua apps and a policy script), Peer (a WAMP
client in a subprocess, meta_peer.py, that can be SIGKILLed or SIGSTOPped), and small helpers
(error capture, polling, a client's own TCP address). Builds on conftest's router_factory and
mb_twisted; edits nothing of theirs.
"""
import datetime
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

import mb_twisted as tx
from mb_lua import call_error, src, wait_until  # noqa: F401 - shared helpers, re-exported for tests
from mb_patterns import subscribe  # noqa: F401 - re-exported for tests
from mb_router import T  # noqa: F401 - re-exported for tests

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_SCRIPT = os.path.join(HERE, "meta_peer.py")

MAX_ID = 2 ** 53
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

SESSION_EVENTS = ("wamp.session.on_join", "wamp.session.on_leave")
SUB_EVENTS = ("wamp.subscription.on_create", "wamp.subscription.on_subscribe",
              "wamp.subscription.on_unsubscribe", "wamp.subscription.on_delete")
REG_EVENTS = ("wamp.registration.on_create", "wamp.registration.on_register",
              "wamp.registration.on_unregister", "wamp.registration.on_delete")


EMPTY_LISTS = {"exact": [], "prefix": [], "wildcard": []}


def created_ok(created):
    """True if `created` is an ISO 8601 UTC time with milliseconds within a minute of now."""
    assert ISO_MS.match(created), created
    t = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < 60, (created, now)
    return True


def is_id(x):
    return type(x) is int and 1 <= x <= MAX_ID


# ---------------------------------------------------------------- calls and errors

def error_of(fn, *a, **kw):
    """The ApplicationError fn(*a, **kw) ends with; fails the test if it succeeds."""
    try:
        r = fn(*a, **kw)
    except tx.ApplicationError as e:
        return e
    pytest.fail("expected an ApplicationError from %s%r, got %r"
                % (getattr(fn, "__name__", fn), a, r), pytrace=False)


def local_peer(client):
    """"127.0.0.1:<port>": the client's end of its TCP connection (what the router sees)."""
    transport = client.protocol.transport
    host = tx.in_reactor(transport.getHost)
    return "%s:%d" % (host.host, host.port)


def session_ids_of(clients):
    return sorted(c.id for c in clients)


# ---------------------------------------------------------------- meta event recorder

class Watch:
    """One session subscribed to the prefix `wamp.`: every meta event of the realm arrives on
    that single subscription, so the recorded order is the order the router published in.
    Items are (topic, args, kwargs)."""

    def __init__(self, client):
        self.client = client
        self.sub, self.sink = subscribe(client, "wamp.", "prefix")
        # its own on_create + on_subscribe come first; wait for them so marks are clean
        self.wait_for("wamp.subscription.on_subscribe", lambda a: a[1] == self.sub.id)

    @property
    def subscription_id(self):
        return self.sub.id

    def mark(self):
        return len(self.sink)

    def events(self, since=0):
        return [(e.details.topic, e.args, e.kwargs) for e in self.sink.snapshot()[since:]]

    def of(self, topic, since=0):
        return [args for t, args, _ in self.events(since) if t == topic]

    def wait_for(self, topic, pred=None, since=0, timeout=5):
        """Wait for an event on `topic` (whose args satisfy pred) at or after index `since`;
        returns its index in the recording."""
        deadline = time.monotonic() + T(timeout)
        with self.sink.cond:
            while True:
                for i, e in enumerate(self.sink.items[since:], since):
                    if e.details.topic == topic and (pred is None or pred(e.args)):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s event%s within %.1fs; recorded since %d: %r"
                                         % (topic, " matching" if pred else "", T(timeout), since,
                                            self.events(since)))
                self.sink.cond.wait(min(left, 0.2))

    def wait_join(self, *sessions, since=0, timeout=5):
        """Wait until the on_join of every session was recorded; returns a mark after them."""
        for s in sessions:
            self.wait_for("wamp.session.on_join", lambda a, s=s: a[0]["session"] == s, since, timeout)
        return self.mark()

    def wait_leave(self, session, since=0, timeout=5):
        return self.wait_for("wamp.session.on_leave", lambda a: a[0] == session, since, timeout)

    def about(self, session, since=0, until=None):
        """(topic, args) of the recorded events that concern `session` (args[0] is its ID or its
        details), from `since` up to (excluding) `until`."""
        out = []
        for t, args, _ in self.events(since)[: None if until is None else until - since]:
            first = args[0] if args else None
            sid = first.get("session") if isinstance(first, dict) else first
            if sid == session:
                out.append((t, args))
        return out


# ---------------------------------------------------------------- routers

def meta_router(router_factory, limits=None, apps=None, policy=None, start=True):
    """A router whose realm1 runs the Lua `apps` ({file name: source}, in <workdir>/apps/) and the
    optional `policy` script source; limits: the config's limits table."""
    files = {}
    realm = {"name": "realm1"}
    if apps:
        realm["apps"] = []
        for name, text in apps.items():
            files["apps/" + name] = src(text)
            realm["apps"].append("apps/" + name)
    if policy is not None:
        files["policy/policy.lua"] = src(policy)
        realm["policy"] = "policy/policy.lua"
    cfg = {"realms": [realm]}
    if limits:
        cfg["limits"] = limits
    return router_factory(cfg, start=start, files=files)


# ---------------------------------------------------------------- peers in a subprocess

class Peer:
    """A WAMP client in its own process (meta_peer.py), so a test can SIGKILL or SIGSTOP it.

    mode "autobahn" (autobahn-python asyncio, WebSocket) or "raw" (mb_raw, WebSocket or
    RawSocket; answers the router's pings while it runs). spec keys: register [uri],
    subscribe [uri], testaments [{topic, args, kwargs, scope?, publish_options?}].
    The peer prints JSON lines: ready {session, registrations, subscriptions}, invoked
    {procedure}, left {reason, message}, closed.
    """

    def __init__(self, router, mode="autobahn", transport="websocket", **spec):
        spec = dict(spec, mode=mode, transport=transport,
                    port=router.ws_port if transport == "websocket" else router.rawsocket_port)
        self.lines = queue.Queue()
        self.seen = []
        self.proc = subprocess.Popen([sys.executable, PEER_SCRIPT, json.dumps(spec)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=HERE)
        self._err = []
        threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True).start()
        try:
            self.ready = self.expect("ready", timeout=10)
        except BaseException:
            self.kill()
            raise
        self.session = self.ready["session"]

    def _read(self, stream, out):
        for line in iter(stream.readline, ""):
            if not out:
                self._err.append(line)
                continue
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self._err.append(line)
        if out:
            self.lines.put({"what": "eof"})

    @property
    def stderr(self):
        return "".join(self._err)

    def expect(self, what, timeout=5):
        """The next line the peer printed with this `what` (earlier ones are kept in seen)."""
        deadline = time.monotonic() + T(timeout)
        for line in self.seen:
            if line.get("what") == what and not line.get("_taken"):
                line["_taken"] = True
                return line
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError("peer printed no %r within %.1fs; seen %r; stderr:\n%s"
                                     % (what, T(timeout), self.seen, self.stderr)) from None
            self.seen.append(line)
            if line.get("what") == what:
                line["_taken"] = True
                return line
            if line.get("what") == "eof":
                raise AssertionError("peer exited (%s) before printing %r; seen %r; stderr:\n%s"
                                     % (self.proc.poll(), what, self.seen, self.stderr))

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGSTOP: the process keeps its sockets open but answers nothing."""
        self.proc.send_signal(signal.SIGSTOP)

    def kill(self):
        """SIGKILL (works on a stopped process too) and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        self.kill()


@pytest.fixture
def peers():
    """peers(router, mode, transport, **spec) -> Peer; every peer is SIGKILLed at teardown."""
    made = []

    def make(router, mode="autobahn", transport="websocket", **spec):
        p = Peer(router, mode, transport, **spec)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
