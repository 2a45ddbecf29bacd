"""pytest fixtures for moonbar's Python interop suite.

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 -m pytest spec/interop/py

Fixtures:
  router          module-scoped moonbar (default config: realm1, WebSocket and
                  RawSocket on port 0, temporary web root)
  router_factory  function-scoped: make_router(overrides, files=...) starts a moonbar
                  with its own config (deep-merged into the default) and files (e.g.
                  Lua scripts) next to it; stopped and checked at teardown
  clients         function-scoped: connect(router, transport=..., ...) -> joined
                  autobahn (Twisted) client, closed at teardown
  witness         module-scoped pair of autobahn sessions on `router`; witness.check()
                  proves that other sessions still work
Every router is stopped with SIGTERM at teardown and must exit 0 with no
sanitizer/valgrind findings on stderr.
"""
import itertools
import os

import pytest

import mb_router
import mb_twisted


def pytest_report_header(config):
    return ["moonbar: %s (wrapper: %r, timeout scale %s)"
            % (mb_router.moonbar_bin(), os.environ.get("MOONBAR_WRAPPER", ""), mb_router.SCALE)]


def pytest_sessionfinish(session, exitstatus):
    mb_twisted.stop_reactor()


def _need_binary():
    b = mb_router.moonbar_bin()
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail("moonbar binary %s not found (run make, or set MOONBAR_BIN)" % b,
                    pytrace=False)


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    """The module's shared moonbar (default config)."""
    _need_binary()
    with mb_router.running(tmp_path_factory.mktemp("moonbar")) as r:
        yield r


@pytest.fixture
def router_factory(tmp_path):
    """make_router(overrides=None, start=True, files=None) -> Router with its own config;
    files: {path relative to the config's folder: text or bytes} written before the start."""
    _need_binary()
    made = []
    counter = itertools.count()

    def make_router(overrides=None, start=True, files=None):
        r = mb_router.Router(tmp_path / ("r%d" % next(counter)), overrides)
        for name, data in (files or {}).items():  # e.g. scripts the config names
            r.write_file(name, data)
        if start:
            try:
                r.start()
            except BaseException:
                r.stop(timeout=1)
                raise
        made.append(r)
        return r

    yield make_router
    errors = []
    for r in made:
        try:
            r.check()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def clients():
    """connect(router, transport="websocket", realm="realm1", serializers="json",
    authid=None, authmethods=None, ticket=None) -> mb_twisted.Client; all closed at
    teardown."""
    made = []

    def connect(router, transport="websocket", **kw):
        c = mb_twisted.connect(router, transport, **kw)
        made.append(c)
        return c

    connect.made = made
    yield connect
    for c in made:
        c.close()


class Witness:
    """Two sessions (caller/publisher over WebSocket, callee/subscriber over
    RawSocket) joined before a test misbehaves; check() proves they still work."""

    def __init__(self, router):
        self.router = router
        self.counter = itertools.count(1)
        self.callee = mb_twisted.connect(router, "rawsocket")
        self.caller = mb_twisted.connect(router, "websocket")
        self.callee.register("com.witness.echo", lambda *a, **kw: mb_twisted.CallResult(*a, **kw))
        _, self.events = self.callee.subscribe("com.witness.topic")

    def check(self):
        n = next(self.counter)
        assert self.router.alive(), "moonbar exited; log:\n" + self.router.log
        got = mb_twisted.result_parts(self.caller.call("com.witness.echo", n, k=n))
        assert got == ([n], {"k": n})
        before = len(self.events)
        self.caller.publish("com.witness.topic", n)
        got = self.events.wait(before + 1)
        assert got[before].args == [n]

    def close(self):
        self.caller.close()
        self.callee.close()


@pytest.fixture(scope="module")
def witness(router):
    w = Witness(router)
    yield w
    w.close()
