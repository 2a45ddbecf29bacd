"""Hot reload of Lua scripts (docs/lua-api.md; "Hot reload"): on file
change, SIGHUP and moonbar.reload; rejected versions leave the running one serving; the
moonbar.script.on_reload event; registrations kept, added and dropped; hooks; timers; and a
reload storm under continuous calls.
"""
import signal
import threading
import time

import pytest

import mb_lua as ml
import mb_twisted as tx
from mb_router import T

from twisted.internet import defer


def versioned(tag, extra=""):
    return """
        moonbar.register("com.lua.tag", function() return "%s", moonbar.version end)
        %s
    """ % (tag, extra)


def tag_of(c):
    return ml.parts(c.call("com.lua.tag"))[0]


def wait_tag(c, tag, timeout=1.0):
    """Poll com.lua.tag until it answers `tag`; returns (seconds waited, version)."""
    t0 = time.monotonic()
    got = ml.wait_until(lambda: (lambda a: a if a[0] == tag else None)(tag_of(c)), timeout=timeout,
                        interval=0.01, what="tag %r" % tag)
    return time.monotonic() - t0, got[1]


def on_reload_events(c):
    _, events = c.subscribe("moonbar.script.on_reload")
    return events


# ---------------------------------------------------------------- file changes

@pytest.mark.parametrize("atomic", [False, True], ids=["in_place", "atomic_rename"])
def test_file_change_reloads_the_script_within_a_second(router_factory, clients, atomic):
    r = ml.lua_router(router_factory, apps={"app.lua": versioned("v1")})
    c = clients(r)
    assert tag_of(c) == ["v1", 1]
    ml.write_app(r, "app.lua", versioned("v2"), atomic=atomic)
    waited, version = wait_tag(c, "v2")
    assert version == 2 and waited < T(1.0)
    r.wait_for_log(r"script app\.lua: file changed, reloading")
    r.wait_for_log(r"script app\.lua: version 2 loaded")


def test_folder_app_reloads_when_a_lua_file_in_it_changes(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"game": {
        "init.lua": 'local m = require("rules")\n'
                    'moonbar.register("com.lua.tag", function() return m.tag, moonbar.version end)\n',
        "rules.lua": 'return {tag = "rules1"}\n'}})
    c = clients(r)
    assert tag_of(c) == ["rules1", 1]
    r.wait_for_log(r"joined realm realm1 \(authid=lua:game,")
    r.write_file("apps/game/rules.lua", 'return {tag = "rules2"}\n')
    assert wait_tag(c, "rules2")[1] == 2


@pytest.mark.parametrize("after", ["start", "file_reload"])
def test_rewriting_unchanged_content_does_not_reload(router_factory, clients, after):
    r = ml.lua_router(router_factory, apps={"app.lua": versioned("v1")})
    c = clients(r)
    current = versioned("v1")
    if after == "file_reload":
        current = versioned("v2")
        ml.write_app(r, "app.lua", current)
        wait_tag(c, "v2")
    version = tag_of(c)
    mark = r.log_mark()
    ml.write_app(r, "app.lua", current)  # the same bytes again, in place
    time.sleep(T(0.1))
    ml.write_app(r, "app.lua", current, atomic=True)  # and by rename
    time.sleep(T(0.2))
    assert tag_of(c) == version, "".join(r.log.splitlines(True)[mark:])
    assert "reloading" not in "".join(r.log.splitlines(True)[mark:])


# ---------------------------------------------------------------- rejected versions

@pytest.mark.parametrize("broken", [
    "moonbar.register('com.lua.tag', function() return 'broken' end\n",          # syntax error
    "moonbar.register('com.lua.tag', function() return 'broken' end)\nerror('refusing to load')\n",
    "moonbar.register('com.lua.tag', function() return 'broken' end)\nlocal x = nil\nx.y = 1\n",
], ids=["syntax_error", "error_at_load", "nil_index_at_load"])
def test_broken_version_is_rejected_and_the_old_one_keeps_serving(router_factory, clients, broken):
    r = ml.lua_router(router_factory, apps={"app.lua": versioned("v1")})
    c = clients(r)
    events = on_reload_events(c)
    mark = r.log_mark()
    ml.write_app(r, "app.lua", broken)
    e = events.wait(1)[0]
    assert e.args == [] and e.kwargs["script"] == "app.lua" and e.kwargs["ok"] is False, e
    assert e.kwargs["version"] == 1
    assert "app.lua:" in e.kwargs["error"], e.kwargs
    r.wait_for_log(r"error script app\.lua: new version rejected, the running version stays: .*app\.lua:",
                   since=mark)
    for _ in range(3):
        assert tag_of(c) == ["v1", 1]
    # then a good version
    ml.write_app(r, "app.lua", versioned("v3"), atomic=True)
    e = events.wait(2)[1]
    assert e.args == [] and e.kwargs == {"script": "app.lua", "ok": True, "version": 2}, e
    assert tag_of(c) == ["v3", 2]


def test_procedure_dropped_by_the_new_version_is_gone_and_a_new_one_appears(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"app.lua": versioned("v1", """
        moonbar.register("com.lua.old", function() return "old" end)
        moonbar.register("com.lua.kept", function() return "kept v1" end)
        moonbar.subscribe("com.lua.topic_old", function() moonbar.publish("com.lua.out", {"old topic"}) end)
    """)})
    c = clients(r)
    _, out = c.subscribe("com.lua.out")
    assert c.call("com.lua.old") == "old"
    assert ml.call_error(c, "com.lua.new").error == "wamp.error.no_such_procedure"
    ml.write_app(r, "app.lua", versioned("v2", """
        moonbar.register("com.lua.kept", function() return "kept v2" end)
        moonbar.register("com.lua.new", function() return "new" end)
        moonbar.subscribe("com.lua.topic_new", function() moonbar.publish("com.lua.out", {"new topic"}) end)
    """))
    wait_tag(c, "v2")
    assert c.call("com.lua.kept") == "kept v2"
    assert c.call("com.lua.new") == "new"
    e = ml.call_error(c, "com.lua.old")
    assert e.error == "wamp.error.no_such_procedure"
    c.publish("com.lua.topic_old")
    c.publish("com.lua.topic_new")
    assert [x.args for x in out.wait(1)] == [["new topic"]]
    time.sleep(T(0.1))
    assert [x.args for x in out.snapshot()] == [["new topic"]]
    # a client may now take the dropped URI
    other = clients(r)
    other.register("com.lua.old", lambda: "client now")
    assert c.call("com.lua.old") == "client now"


def test_registration_kept_across_versions_keeps_its_id(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"app.lua": versioned("v1")})
    c = clients(r)
    m = r.wait_for_log(r"registered com\.lua\.tag \(registration (\d+),")
    ml.write_app(r, "app.lua", versioned("v2"))
    wait_tag(c, "v2")
    log = r.log
    assert log.count("registered com.lua.tag (registration") == 1, log
    assert "registration %s of com.lua.tag deleted" % m.group(1) not in log


# ---------------------------------------------------------------- SIGHUP, hooks, timers

def test_sighup_reloads_every_script(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"a.lua": versioned("a1"), "b.lua": """
        moonbar.register("com.lua.b", function() return "b1", moonbar.version end)
    """}, lua={"watch": False})
    c = clients(r)
    events = on_reload_events(c)
    ml.write_app(r, "a.lua", versioned("a2"))
    time.sleep(T(0.1))
    assert tag_of(c) == ["a1", 1], "watch = false, yet the file change was loaded"
    r.signal(signal.SIGHUP)
    got = events.wait(2)
    assert sorted((e.kwargs["script"], e.kwargs["ok"], e.kwargs["version"]) for e in got) == \
        [("a.lua", True, 2), ("b.lua", True, 2)]
    assert tag_of(c) == ["a2", 2]
    assert ml.parts(c.call("com.lua.b")) == (["b1", 2], {})


def test_on_unload_and_on_reload_hooks_run_in_order(router_factory, clients):
    hooks = """
        moonbar.state.trace = moonbar.state.trace or moonbar.array()
        table.insert(moonbar.state.trace, "load %(tag)s v" .. moonbar.version)
        function on_unload()
          table.insert(moonbar.state.trace, "unload %(tag)s v" .. moonbar.version)
        end
        function on_reload(state)
          table.insert(state.trace, "reload %(tag)s v" .. moonbar.version ..
                       " same_state=" .. tostring(state == moonbar.state))
        end
        moonbar.register("com.lua.trace", function() return moonbar.state.trace end)
        moonbar.register("com.lua.tag", function() return "%(tag)s", moonbar.version end)
    """
    r = ml.lua_router(router_factory, apps={"app.lua": hooks % {"tag": "h1"}})
    c = clients(r)
    assert c.call("com.lua.trace") == ["load h1 v1"]
    ml.write_app(r, "app.lua", hooks % {"tag": "h2"})
    wait_tag(c, "h2")
    assert c.call("com.lua.trace") == ["load h1 v1", "load h2 v2", "unload h1 v1",
                                       "reload h2 v2 same_state=true"]
    # a rejected version runs no hook
    ml.write_app(r, "app.lua", "function on_reload() end\nsyntax error here\n")
    r.wait_for_log(r"new version rejected")
    assert len(c.call("com.lua.trace")) == 4


def test_failing_hook_is_logged_and_the_new_version_still_runs(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"app.lua": versioned("v1", """
        function on_unload() error("unload trouble") end
    """)})
    c = clients(r)
    ml.write_app(r, "app.lua", versioned("v2", """
        function on_reload(state) error("reload trouble") end
    """))
    wait_tag(c, "v2")
    r.wait_for_log(r"script app\.lua: on_unload\(\) failed: .*unload trouble")
    r.wait_for_log(r"script app\.lua: on_reload\(\) failed: .*reload trouble")


def test_timers_of_the_old_version_stop(router_factory, clients):
    ticking = """
        moonbar.every(15, function() moonbar.publish("com.lua.tick", {"%s"}) end)
        moonbar.register("com.lua.tag", function() return "%s", moonbar.version end)
    """
    r = ml.lua_router(router_factory, apps={"app.lua": ticking % ("t1", "t1")})
    c = clients(r)
    _, ticks = c.subscribe("com.lua.tick")
    ticks.wait(3)
    ml.write_app(r, "app.lua", ticking % ("t2", "t2"))
    wait_tag(c, "t2")
    n = len(ticks)
    ticks.wait(n + 5)
    seq = [e.args[0] for e in ticks.snapshot()]
    first_t2 = seq.index("t2")
    assert "t1" not in seq[first_t2:], seq
    # and with a version without timers, no ticks at all
    ml.write_app(r, "app.lua", versioned("quiet"))
    wait_tag(c, "quiet")
    time.sleep(T(0.05))
    n = len(ticks)
    time.sleep(T(0.15))
    assert len(ticks) == n, "ticks after the timers' version was replaced"


def test_call_running_during_a_reload_finishes_in_the_old_version(router_factory, clients):
    slow = """
        moonbar.register("com.lua.tag", function() return "%s", moonbar.version end)
        moonbar.register("com.lua.slow", function()
          local r = moonbar.call("com.py.wait")   -- suspended while the script reloads
          return "%s", r
        end)
    """
    r = ml.lua_router(router_factory, apps={"app.lua": slow % ("s1", "s1")})
    callee, c = clients(r), clients(r)
    held = []
    callee.register("com.py.wait", lambda: held.append(defer.Deferred()) or held[-1])
    fut = c.call_async("com.lua.slow")
    ml.wait_until(lambda: held, what="com.py.wait invoked")
    ml.write_app(r, "app.lua", slow % ("s2", "s2"))
    wait_tag(c, "s2")
    tx.in_reactor(lambda: held[0].callback("answer"))
    assert ml.parts(tx.wait(fut, 2)) == (["s1", "answer"], {})


# ---------------------------------------------------------------- reload under load

LOADED = """
    moonbar.state.counter = moonbar.state.counter or 0
    moonbar.register("com.lua.count", function()
      moonbar.state.counter = moonbar.state.counter + 1
      return "%s", moonbar.state.counter
    end)
    -- filler so that versions differ in size too
    local filler = %s
"""

BROKEN_VERSIONS = [
    "moonbar.register('com.lua.count', function() return 'broken', -1 end\n",    # syntax error
    "moonbar.register('com.lua.count', function() return 'broken', -1 end)\nerror('no')\n",
    "moonbar.register('com.lua.count', function() return 'broken', -1 end)\n"
    "local x = moonbar.call('com.lua.count')\n",                                    # call at load
    "moonbar.register('com.lua.count', function() return 'broken', -1 end)\nwhile true do end\n",
    "moonbar.register('com.lua.count', function() return 'broken', -1 end)\n"
    "local t = {} for i = 1, 1e9 do t[i] = string.rep('m', 4096) .. i end\n",       # memory
]


class Hammer:
    """N callers calling `procedure` back to back, in the reactor thread."""

    def __init__(self, client, procedure, n):
        self.client, self.procedure, self.n = client, procedure, n
        self.results = [[] for _ in range(n)]   # per caller: (tag, counter)
        self.failures = []
        self.stopping = False
        self.done = [defer.Deferred() for _ in range(n)]
        self.lock = threading.Lock()
        self.total = 0

    def _loop(self, i):
        if self.stopping:
            self.done[i].callback(None)
            return
        d = self.client.session.call(self.procedure)

        def ok(res):
            tag, counter = res.results
            self.results[i].append((tag, counter))
            with self.lock:
                self.total += 1
            self._loop(i)

        def bad(f):
            self.failures.append(repr(f.value))
            with self.lock:
                self.total += 1
            self._loop(i)

        d.addCallbacks(ok, bad)

    def start(self):
        def go():
            for i in range(self.n):
                self._loop(i)
        tx.in_reactor(go)

    def stop(self):
        def halt():
            self.stopping = True
            return defer.DeferredList(self.done)
        tx.in_reactor(halt, _timeout=10)

    def count(self):
        with self.lock:
            return self.total

    def last_tags(self):
        return {res[-1][0] for res in self.results if res}


def test_reload_under_load_loses_no_call_and_keeps_state(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"load.lua": LOADED % ("g0", "0")})
    c = clients(r)
    events = on_reload_events(clients(r))
    assert ml.parts(c.call("com.lua.count"))[0] == ["g0", 1]
    hammer = Hammer(c, "com.lua.count", 8)
    hammer.start()
    plan = []   # (tag or None for broken, source)
    broken = iter(BROKEN_VERSIONS)
    for k in range(1, 21):
        if k % 4 == 0:
            plan.append((None, next(broken)))
        else:
            plan.append(("g%d" % k, LOADED % ("g%d" % k, "{" + ", ".join(str(x) for x in range(k * 7)) + "}")))
    assert sum(1 for t, _ in plan if t is None) == 5 and len(plan) == 20
    good_tags = ["g0"]
    t_start = time.monotonic()
    for k, (tag, text) in enumerate(plan, start=1):
        n_events = len(events)
        before = hammer.count()
        ml.write_app(r, "load.lua", text, atomic=(k % 2 == 0))
        ev = events.wait(n_events + 1, timeout=2)[n_events]
        if tag is None:
            assert ev.kwargs["ok"] is False, ev
        else:
            assert ev.kwargs["ok"] is True, (ev, r.log[-3000:])
            good_tags.append(tag)
            ml.wait_until(lambda: hammer.last_tags() == {tag}, timeout=2, interval=0.005,
                          what="every caller sees %s" % tag)
        # let some calls run in each version
        ml.wait_until(lambda: hammer.count() >= before + 120, timeout=5, interval=0.005,
                      what="120 calls after write %d" % k)
    hammer.stop()
    elapsed = time.monotonic() - t_start

    assert hammer.failures == [], hammer.failures[:5]
    assert c.is_connected(), "the caller was disconnected"
    results = [x for per in hammer.results for x in per]
    total = len(results)
    assert total >= 2000, "only %d calls in %.1fs" % (total, elapsed)
    tags_seen = {t for t, _ in results}
    assert tags_seen == set(good_tags), (sorted(tags_seen), good_tags)
    # every call incremented the one counter: 2..total+1 (call 1 was made before), no reset
    counters = sorted(n for _, n in results)
    assert counters == list(range(2, total + 2)), "counter reset or lost: %r" % counters[:20]
    for per in hammer.results:
        ns = [n for _, n in per]
        assert all(a < b for a, b in zip(ns, ns[1:])), "a caller saw the counter go back"
        order = [good_tags.index(t) for t, _ in per]
        assert order == sorted(order), "a caller saw an older version after a newer one"
    # versions never overlap in counter ranges: each version's calls come after the previous'
    ranges = {}
    for t, n in results:
        lo, hi = ranges.get(t, (n, n))
        ranges[t] = (min(lo, n), max(hi, n))
    spans = [ranges[t] for t in good_tags]
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), spans
    assert len(r.log.split("new version rejected")) - 1 == 5


def test_registration_dropped_by_a_reload_while_its_register_is_in_flight(router_factory, clients):
    # A callback registers at run time and reloads its own script before the REGISTERED
    # comes back: the new version does not declare the registration, so it is closed while
    # in flight, and its REGISTERED must unregister it (found by gcc's -fanalyzer: this
    # path used to strlen(NULL) and free the handler twice).
    r = ml.lua_router(router_factory, apps={"app.lua": versioned("v1", """
        moonbar.register("com.lua.trigger", function()
            moonbar.register("com.lua.late", function() return "late" end)
            moonbar.subscribe("com.lua.late_topic", function() end)
            local res = moonbar.call("moonbar.reload", {"app.lua"})
            return "reloaded"
        end)
    """)})
    c = clients(r)
    assert c.call("com.lua.trigger") == "reloaded"
    assert c.call("com.lua.trigger") == "reloaded"
    assert tag_of(c)[0] == "v1"
    ml.wait_until(lambda: ml.call_error(c, "com.lua.late").error == "wamp.error.no_such_procedure",
                  what="com.lua.late unregistered")
    other = clients(r)
    other.register("com.lua.late", lambda: "client now")
    assert c.call("com.lua.late") == "client now"
