"""Faulty Lua scripts (docs/lua-api.md; "How scripts run": budgets,
sandbox, load errors): the router stops what runs too long or takes too much memory, reports
errors to the caller or the log, and the script, other scripts and other clients carry on.
"""
import re
import time

import pytest

import mb_lua as ml
import mb_router
import mb_twisted as tx
from mb_router import T


# ---------------------------------------------------------------- time budget

LOOPS = """
    moonbar.register("com.lua.spin", function()
      while true do end
    end)
    moonbar.register("com.lua.spin_pcall", function()
      local ok, err = pcall(function() while true do end end)
      return "swallowed", tostring(err)
    end)
    moonbar.register("com.lua.spin_pcall_loop", function()
      while true do
        pcall(function() while true do end end)
      end
    end)
    moonbar.register("com.lua.spin_xpcall", function()
      local n = 0
      while true do
        xpcall(function() while true do n = n + 1 end end, function(e) return e end)
      end
    end)
    moonbar.register("com.lua.spin_in_coroutine", function()
      local co = coroutine.wrap(function() while true do end end)
      co()
    end)
    moonbar.register("com.lua.spin_string", function()
      -- long-running without many Lua instructions between hook checks
      local s = string.rep("a", 1000)
      while true do s = s:gsub("a", "a") end
    end)
    moonbar.register("com.lua.ok", function(args) return "ok", args[1] end)
"""

BUDGET = re.compile(r"callback stopped: it ran longer than its budget of 50 ms")


@pytest.mark.parametrize("proc", ["com.lua.spin", "com.lua.spin_pcall", "com.lua.spin_pcall_loop",
                                  "com.lua.spin_xpcall", "com.lua.spin_in_coroutine",
                                  "com.lua.spin_string"])
def test_infinite_loop_in_a_procedure_is_stopped_by_the_budget(router_factory, clients, proc):
    # pcall/xpcall/coroutines cannot swallow the stop
    r = ml.lua_router(router_factory, apps={"loops.lua": LOOPS}, lua={"callback_timeout": 0.05})
    c = clients(r)
    t0 = time.monotonic()
    e = ml.call_error(c, proc, _timeout=3)
    elapsed = time.monotonic() - t0
    assert e.error == "wamp.error.runtime_error", (e.error, e.args)
    assert len(e.args) == 1 and BUDGET.search(e.args[0]), e.args
    assert 0.045 <= elapsed < T(1.0), "stopped after %.3fs" % elapsed
    # the same script answers other calls, and again the loop
    assert ml.parts(c.call("com.lua.ok", 1)) == (["ok", 1], {})
    assert BUDGET.search(ml.call_error(c, proc, _timeout=3).args[0])
    assert ml.parts(c.call("com.lua.ok", 2)) == (["ok", 2], {})
    r.wait_for_log(r"script loops\.lua: procedure failed: .*budget of 50 ms")


def test_stopped_loop_does_not_hold_up_other_clients_for_long(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"loops.lua": LOOPS}, lua={"callback_timeout": 0.05})
    c, other = clients(r), clients(r, "rawsocket")
    other.register("com.py.echo", lambda x: x)
    fut = c.call_async("com.lua.spin")
    t0 = time.monotonic()
    assert other.call("com.py.echo", "alive") == "alive"
    assert time.monotonic() - t0 < T(1.0)
    with pytest.raises(tx.ApplicationError) as e:
        tx.wait(fut, 3)
    assert BUDGET.search(e.value.args[0])


def test_subscriber_and_timer_loops_are_stopped_too(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"loops2.lua": """
        moonbar.subscribe("com.lua.spin_topic", function() while true do end end)
        moonbar.register("com.lua.spin_timer", function()
          moonbar.timer(0, function() while true do end end)
        end)
        moonbar.register("com.lua.ok", function() return "ok" end)
    """}, lua={"callback_timeout": 0.05})
    c = clients(r)
    mark = r.log_mark()
    c.publish("com.lua.spin_topic")
    r.wait_for_log(r"script loops2\.lua: subscriber failed: .*budget of 50 ms", timeout=2, since=mark)
    assert c.call("com.lua.ok") == "ok"
    c.call("com.lua.spin_timer")
    r.wait_for_log(r"script loops2\.lua: timer failed: .*budget of 50 ms", timeout=2, since=mark)
    assert c.call("com.lua.ok") == "ok"


# ---------------------------------------------------------------- memory

MEMORY = """
    moonbar.register("com.lua.bomb", function()
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end
    end)
    moonbar.register("com.lua.big_string", function()
      return #string.rep("x", 64 * 1024 * 1024)
    end)
    moonbar.register("com.lua.keep", function(args)
      moonbar.state.kept = (moonbar.state.kept or 0) + 1
      return moonbar.state.kept, args[1]
    end)
    moonbar.register("com.lua.alloc", function(args)
      -- a modest allocation after the bomb: memory was given back
      local t = {}
      for i = 1, args[1] do t[i] = string.rep("y", 100) .. i end
      return #t
    end)
"""


@pytest.mark.parametrize("proc", ["com.lua.bomb", "com.lua.big_string"])
def test_memory_bomb_fails_with_the_memory_limit_and_the_script_keeps_working(router_factory, clients,
                                                                              proc):
    # a generous time budget: only the memory limit may stop these (ASan builds are slow)
    r = ml.lua_router(router_factory, apps={"memory.lua": MEMORY},
                      lua={"memory_limit": 8, "callback_timeout": 3})
    c = clients(r)
    assert ml.parts(c.call("com.lua.keep", "a")) == ([1, "a"], {})
    for _ in range(2):
        e = ml.call_error(c, proc, _timeout=5)
        assert e.error == "wamp.error.runtime_error"
        assert list(e.args) == ["script memory limit of 8 MiB reached"], e.args
        assert ml.parts(c.call("com.lua.keep", "b"))[0][1] == "b"
        assert c.call("com.lua.alloc", 10000) == 10000  # ~1.3 MiB
    assert ml.parts(c.call("com.lua.keep", "c")) == ([4, "c"], {})
    r.wait_for_log(r"warn\s+script memory\.lua: procedure failed: script memory limit of 8 MiB reached")


# ---------------------------------------------------------------- errors in subscribers

def test_error_in_a_lua_subscriber_is_logged_and_others_still_get_the_event(router_factory, clients):
    r = ml.lua_router(router_factory, apps={
        "bad.lua": """
            moonbar.state.n = 0
            moonbar.subscribe("com.t.shared", function(args)
              moonbar.state.n = moonbar.state.n + 1
              if args[1] == "boom" then error("subscriber exploded on " .. args[1]) end
            end)
            moonbar.register("com.lua.bad_count", function() return moonbar.state.n end)
        """,
        "good.lua": """
            moonbar.subscribe("com.t.shared", function(args)
              moonbar.publish("com.t.relayed", {"good", args[1]})
            end)
        """})
    pub = clients(r)
    sub = clients(r, "rawsocket")
    _, direct = sub.subscribe("com.t.shared")
    _, relayed = sub.subscribe("com.t.relayed")
    mark = r.log_mark()
    pub.publish("com.t.shared", "boom")
    pub.publish("com.t.shared", "calm")
    assert [e.args for e in direct.wait(2)] == [["boom"], ["calm"]]
    assert [e.args for e in relayed.wait(2)] == [["good", "boom"], ["good", "calm"]]
    r.wait_for_log(r"warn\s+script bad\.lua: subscriber failed: .*bad\.lua:4: subscriber exploded on boom",
                   since=mark)
    # the failing script handled the next event too
    assert ml.wait_until(lambda: pub.call("com.lua.bad_count") == 2, what="bad.lua saw 2 events")
    assert pub.is_connected() and sub.is_connected()


# ---------------------------------------------------------------- scripts failing at start

def start_fails(tmp_path, apps, policy=None):
    """Run moonbar with these scripts to completion; returns CompletedProcess."""
    realm = {"name": "realm1", "apps": ["apps/" + n for n in apps]}
    if policy is not None:
        realm["policy"] = ml.POLICY_PATH
    rt = mb_router.Router(tmp_path, {"realms": [realm]})
    for n, text in apps.items():
        ml.write_app(rt, n, text)
    if policy is not None:
        rt.write_file(ml.POLICY_PATH, ml.src(policy))
    cp = mb_router.run_cli("--config", str(rt.config_path), cwd=str(rt.workdir / "run"))
    assert not mb_router.bad_output(cp.stderr + cp.stdout), cp.stderr
    assert "listening" not in cp.stderr, cp.stderr
    return cp


BROKEN = """
    moonbar.register("com.lua.a", function() return 1 end)

    moonbar.register("com.lua.b", function()
      return 2 +
    end)
"""


def test_syntax_error_at_start_stops_moonbar_with_the_file_and_line(tmp_path):
    cp = start_fails(tmp_path, {"broken.lua": BROKEN})
    assert cp.returncode != 0
    assert re.search(r"apps/broken\.lua:5: unexpected symbol near 'end'", cp.stderr), cp.stderr


def test_start_failing_after_a_good_script_loaded_exits_cleanly(tmp_path):
    # good.lua loads first (its REGISTER is still unanswered when broken.lua fails):
    # moonbar must still exit non-zero without touching freed memory
    cp = start_fails(tmp_path, {"good.lua": "moonbar.register('com.lua.good', function() end)\n",
                                "broken.lua": BROKEN})
    assert cp.returncode != 0
    assert re.search(r"apps/broken\.lua:5: unexpected symbol near 'end'", cp.stderr), cp.stderr


def test_error_at_load_stops_moonbar_with_the_file_and_line(tmp_path):
    cp = start_fails(tmp_path, {"loaderr.lua": """
        local cfg = nil
        moonbar.register("com.lua.a", function() return cfg.port end)
        local port = cfg.port
    """})
    assert cp.returncode != 0
    assert re.search(r"apps/loaderr\.lua:3: attempt to index a nil value \(local 'cfg'\)", cp.stderr), \
        cp.stderr


def test_syntax_error_in_the_policy_script_stops_moonbar(tmp_path):
    cp = start_fails(tmp_path, {}, policy="moonbar.authorize(function() return true end\n")
    assert cp.returncode != 0
    assert re.search(r"policy/policy\.lua:\d+: .*expected", cp.stderr), cp.stderr


def test_missing_script_stops_moonbar(tmp_path):
    rt = mb_router.Router(tmp_path, {"realms": [{"name": "realm1", "apps": ["apps/none.lua"]}]})
    cp = mb_router.run_cli("--config", str(rt.config_path), cwd=str(rt.workdir / "run"))
    assert cp.returncode != 0 and "none.lua" in cp.stderr, cp.stderr


def test_moonbar_call_at_load_time_is_a_load_error(tmp_path, router_factory, clients):
    calls_at_load = """
        local x = moonbar.call("com.somewhere")
        moonbar.register("com.lua.a", function() return x end)
    """
    cp = start_fails(tmp_path / "start", {"early.lua": calls_at_load})
    assert cp.returncode != 0
    assert re.search(r"early\.lua:1: moonbar\.call works in procedures, subscribers and timers", cp.stderr), \
        cp.stderr
    # as a new version of a running script: rejected, the old one stays
    r = ml.lua_router(router_factory, apps={"early.lua": """
        moonbar.register("com.lua.a", function() return "v1" end)
    """}, lua={"watch": False})
    c = clients(r)
    ml.write_app(r, "early.lua", calls_at_load)
    args, kwargs = ml.parts(c.call("moonbar.reload", "early.lua"))
    assert kwargs["reloaded"] == [] and len(kwargs["failed"]) == 1
    assert "moonbar.call" in kwargs["failed"][0]["error"], kwargs
    assert c.call("com.lua.a") == "v1"


def test_infinite_loop_at_load_time_is_a_load_error(tmp_path):
    cp = start_fails(tmp_path, {"spin.lua": "while true do end\n"})
    assert cp.returncode != 0
    # a version's main chunk has a budget of at least 2 s (start-up work on a busy machine)
    assert re.search(r"script spin\.lua: new version rejected, no version running: .*callback stopped: "
                     r"it ran longer than its budget of 2000 ms", cp.stderr), cp.stderr


# ---------------------------------------------------------------- sandbox

SANDBOX = """
    moonbar.register("com.lua.globals", function(args)
      local out = {}
      for _, name in ipairs(args) do
        local v = _G
        for part in name:gmatch("[^.]+") do v = type(v) == "table" and v[part] or nil end
        out[name] = type(v)
      end
      return out
    end)
    moonbar.register("com.lua.require", function(args)
      local ok, mod = pcall(require, args[1])
      if ok then return true, mod end
      return false, tostring(mod)
    end)
    moonbar.register("com.lua.require_moonbar", function()
      return require("moonbar") == moonbar
    end)
"""

FORBIDDEN = ["io", "load", "loadstring", "dofile", "loadfile", "debug", "package", "collectgarbage",
             "os.execute", "os.exit", "os.getenv", "os.remove", "os.rename", "os.tmpname"]
ALLOWED = ["assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawlen",
           "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type", "xpcall",
           "string.format", "table.concat", "math.floor", "utf8.char", "coroutine.wrap", "os.time",
           "os.clock", "os.date", "os.difftime", "print", "require", "moonbar.register"]


def test_sandbox_has_no_io_load_dofile_debug_or_package(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"sandbox.lua": SANDBOX})
    c = clients(r)
    got = c.call("com.lua.globals", *FORBIDDEN)
    assert got == {name: "nil" for name in FORBIDDEN}, got
    got = c.call("com.lua.globals", *ALLOWED)
    assert got == {name: "function" for name in ALLOWED}, got


def test_require_of_a_path_outside_the_script_folder_is_refused(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"app": {
        "init.lua": SANDBOX,
        "helper.lua": "return {name = 'helper', answer = 42}\n",
        "sub/mod.lua": "return 'sub.mod'\n",
    }})
    # modules outside the app folder that must stay out of reach
    outside = 'SECRET_LOADED = true\nreturn "outside"\n'
    r.write_file("apps/x.lua", outside)
    r.write_file("x.lua", outside)
    c = clients(r)
    assert ml.parts(c.call("com.lua.require", "helper")) == ([True, {"name": "helper", "answer": 42}], {})
    assert ml.parts(c.call("com.lua.require", "sub.mod")) == ([True, "sub.mod"], {})
    for name in ["../x", "..x", "...x", "/etc/passwd", "../../x", "sub/../../x", "x/../../x"]:
        ok, msg = ml.parts(c.call("com.lua.require", name))[0]
        assert ok is False and "bad module name" in msg, (name, msg)
    ok, msg = ml.parts(c.call("com.lua.require", "x"))[0]
    assert ok is False and "require 'x'" in msg, msg   # not in the app's folder: not found
    assert c.call("com.lua.globals", "SECRET_LOADED") == {"SECRET_LOADED": "nil"}
    assert c.call("com.lua.require_moonbar") is True


# ---------------------------------------------------------------- shutdown

def test_shutdown_with_a_lua_call_in_flight_exits_cleanly(router_factory, clients):
    # SIGTERM (by the fixture) while a Lua procedure waits in moonbar.call and a timer is armed
    from twisted.internet import defer
    r = ml.lua_router(router_factory, apps={"inflight.lua": """
        moonbar.register("com.lua.via", function(args) return moonbar.call(args[1]) end)
        moonbar.every(1000, function() end)
    """})
    callee, caller = clients(r), clients(r)
    held = []
    callee.register("com.py.hold", lambda: held.append(defer.Deferred()) or held[-1])
    caller.call_async("com.lua.via", "com.py.hold")
    ml.wait_until(lambda: held, what="com.py.hold invoked")
    assert r.stop() == 0, r.log
    assert not mb_router.bad_output(r.log), r.log
