"""pytest setup for moonbar's chaos suite (spec/chaos): peers and the router killed, half-open
TCP, silent connection floods, messages at the size and nesting limits, memory under slow
consumers.

Reuses the interop suite's helpers (spec/interop/py: mb_router starts the real binary, mb_raw and
mb_raw_ser are hand-made peers, mb_twisted is autobahn-python) and its fixtures (router_factory,
clients), imported from its conftest. Run from the repository root:

    /usr/bin/python3 -m pytest spec/chaos

The whole directory takes about 25 s natively (CI runs it once, natively). MOONBAR_CHAOS_LONG=1
gives two modules a longer local form: test_silent_flood.py (3 rounds of 2 × 2 000 silent
connections instead of one round of 2 × 800) and test_router_killed.py (3 SIGKILL-and-restart
cycles of 3 s of load instead of one of 1.5 s). MOONBAR_CHAOS_SYSTEM_TCP=1 runs
test_slow_consumers.py at the system's TCP settings instead of in a private network namespace.

Modules: test_killed_peers (callers, callees, publishers SIGKILLed), test_half_open (black-hole
proxy, lo down in a namespace), test_silent_flood, test_edge_limits (size and nesting limits),
test_router_killed (moonbar SIGKILLed under load, restarted on its store), test_slow_consumers
(memory bound). Helpers: chaos_util.py, chaos_peer.py (the autobahn peers that get killed),
netns_no_fin.py and slow_scenario.py (run inside `unshare -rn`).
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

from chaos_util import LONG, bad_level_lines, fd_count, proc_status, wait_until  # noqa: E402,F401


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
