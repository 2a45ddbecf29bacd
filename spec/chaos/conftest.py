"""pytest setup for moonbar's chaos suite (spec/chaos): peers and the router killed, half-open
TCP, silent connection floods, messages at the size and nesting limits, memory under slow
consumers.

Reuses the interop suite's helpers (spec/interop/py: mb_router starts the real binary, mb_raw and
mb_raw_ser are hand-made peers, mb_twisted is autobahn-python) and its fixtures (router_factory,
clients), imported from its conftest. Run from the repository root:

    /usr/bin/python3 -m pytest spec/chaos

MOONBAR_CHAOS_LONG=1 gives some tests a longer local form (see each module's docstring).
"""
import os
import pathlib
import re
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
PY = HERE.parent / "interop" / "py"
if str(PY) not in sys.path:
    sys.path.insert(0, str(PY))

import importlib.util  # noqa: E402

import mb_router  # noqa: E402

# the interop suite's conftest, loaded under another name (both files are "conftest")
_spec = importlib.util.spec_from_file_location("mb_interop_conftest", PY / "conftest.py")
interop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(interop)
router_factory = interop.router_factory
clients = interop.clients
pytest_report_header = interop.pytest_report_header
pytest_sessionfinish = interop.pytest_sessionfinish
Witness = interop.Witness

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


class WsWitness(Witness):
    """The interop Witness with both sessions on WebSocket: autobahn-python's RawSocket client
    cannot take moonbar's RawSocket PINGs (docs/behaviour.md, "Liveness"), which the liveness
    tests send every fraction of a second."""

    def __init__(self, router):
        import itertools
        import mb_twisted
        self.router = router
        self.counter = itertools.count(1)
        self.callee = mb_twisted.connect(router, "websocket")
        self.caller = mb_twisted.connect(router, "websocket")
        self.callee.register("com.witness.echo", lambda *a, **kw: mb_twisted.CallResult(*a, **kw))
        _, self.events = self.callee.subscribe("com.witness.topic")
