"""Advanced Profile RPC in Lua scripts (docs/lua-api.md, "Progressive results, canceling and
disclosure"): moonbar.progress in procedures, moonbar.call's opts.progress (returning false
cancels), opts.disclose_me, what a Lua procedure sees of its caller, INTERRUPT to a Lua
procedure, and what Lua sessions do not support (progressive invocations)."""
import uuid

import pytest
from twisted.internet import defer

import mb_lua as ml
import mb_raw as raw
import mb_twisted as tx
from autobahn.wamp.types import CallOptions

APP = """
    moonbar.register("com.lua.countdown", function(args)
      local sent = {}
      for i = args[1], 1, -1 do
        sent[#sent + 1] = moonbar.progress({i}, {left = i})
      end
      return "liftoff", sent
    end)
    moonbar.register("com.lua.collect", function(args)
      local got = {}
      local r = moonbar.call(args[1], {args[2]}, nil, {progress = function(a, kw)
        got[#got + 1] = a[1]
        if a[1] == args[3] then return false end   -- enough: cancel
      end})
      return moonbar.result({r, got})
    end)
    moonbar.register("com.lua.collect_err", function(args)
      local ok, e = pcall(moonbar.call, args[1], {args[2]}, nil, {progress = function(a)
        if a[1] == args[3] then return false end
      end})
      return ok, tostring(e and e.uri or e)
    end)
    moonbar.register("com.lua.progress_fails", function(args)
      return moonbar.call(args[1], {args[2]}, nil, {progress = function(a)
        error("no thanks")
      end})
    end)
    moonbar.register("com.lua.details", function(args, kwargs, details)
      return moonbar.result({}, details)
    end)
    moonbar.register("com.lua.disclosing", function(args)
      return moonbar.call(args[1], {}, nil, {disclose_me = true})
    end)
    moonbar.register("com.lua.waits", function(args)
      return moonbar.call(args[1], {})
    end)
"""


def proc(name):
    return "com.luaadv.%s_%s" % (name, uuid.uuid4().hex[:8])


@pytest.fixture
def lua(router_factory):
    return ml.lua_router(router_factory, apps={"adv.lua": APP})


def test_lua_procedure_sends_progressive_results(lua, clients):
    c = clients(lua)
    got = []
    r = c.call("com.lua.countdown", 3,
               options=CallOptions(on_progress=lambda *a, **kw: got.append((list(a), kw))))
    assert ml.parts(r) == (["liftoff", [True, True, True]], {})
    assert got == [([3], {"left": 3}), ([2], {"left": 2}), ([1], {"left": 1})]
    # a caller that did not ask: moonbar.progress sends nothing and says so
    assert ml.parts(c.call("com.lua.countdown", 2)) == (["liftoff", [False, False]], {})


def counting_callee(clients, router, p, interrupted):
    callee = clients(router)

    def count(n, details=None):
        d = defer.Deferred(canceller=lambda _: interrupted.add(n))
        for i in range(1, n + 1):
            details.progress(i)
        if n < 100:
            d.callback("all %d" % n)
        return d

    callee.register(p, count, details_arg="details")
    return callee


def test_lua_call_receives_progressive_results(lua, clients):
    p = proc("count")
    interrupted = tx.Sink()
    counting_callee(clients, lua, p, interrupted)
    c = clients(lua)
    assert ml.parts(c.call("com.lua.collect", p, 4, -1)) == (["all 4", [1, 2, 3, 4]], {})


def test_lua_progress_returning_false_cancels_the_call(lua, clients):
    p = proc("endless")
    interrupted = tx.Sink()
    counting_callee(clients, lua, p, interrupted)
    c = clients(lua)
    assert ml.parts(c.call("com.lua.collect_err", p, 200, 2)) == ([False, "wamp.error.canceled"], {})
    assert interrupted.wait(1) == [200]


def test_lua_progress_callback_error_fails_the_task_and_cancels(lua, clients):
    p = proc("fails")
    interrupted = tx.Sink()
    counting_callee(clients, lua, p, interrupted)
    c = clients(lua)
    e = ml.call_error(c, "com.lua.progress_fails", p, 200)
    assert e.error == "wamp.error.runtime_error" and "no thanks" in e.args[0], (e.error, e.args)
    assert interrupted.wait(1) == [200]
    assert ml.parts(c.call("com.lua.countdown", 1)) == (["liftoff", [False]], {})   # the script goes on


def test_lua_procedure_sees_the_disclosed_caller(lua, transport="websocket"):
    with raw.connect(lua, transport) as caller:
        welcome = raw.join(caller, authid="bob", roles={"caller": {"features": {"progressive_call_results": True}}})
        caller.send_json([raw.CALL, 1, {"disclose_me": True}, "com.lua.details"])
        res = raw.expect(caller, raw.RESULT)
        assert res[4]["caller"] == welcome[1] and res[4]["caller_authid"] == "bob", res
        assert res[4]["caller_authrole"] == "anonymous", res
        caller.send_json([raw.CALL, 2, {"receive_progress": True}, "com.lua.details"])
        res = raw.expect(caller, raw.RESULT)
        assert res[4].get("receive_progress") is True and "caller" not in res[4], res


def test_lua_call_disclose_me(lua, clients):
    p = proc("who")
    callee = clients(lua)
    callee.register(p, lambda details=None: [details.caller_authrole, details.caller is not None],
                    details_arg="details")
    c = clients(lua)
    assert c.call("com.lua.disclosing", p) == ["trusted", True]


def test_cancel_kill_of_a_lua_procedure_is_answered_by_the_lua_session(lua, clients):
    p = proc("slow")
    held = []
    callee = clients(lua)
    callee.register(p, lambda: held.append(defer.Deferred()) or held[-1])
    with raw.connect(lua, "websocket") as caller:
        raw.join(caller, roles={"caller": {"features": {"call_canceling": True}}})
        caller.send_json([raw.CALL, 1, {}, "com.lua.waits", [p]])
        ml.wait_until(lambda: held, what="the Lua procedure's call to arrive")
        caller.send_json([49, 1, {"mode": "kill"}])
        err = raw.expect(caller, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.CALL, 1, {}, "wamp.error.canceled"], err
        tx.in_reactor(lambda: held[0].callback("late"))
        assert raw.quiet(caller, 0.5) == []


def test_progressive_call_to_a_lua_procedure_is_feature_not_supported(lua):
    with raw.connect(lua, "rawsocket") as caller:
        raw.join(caller, roles={"caller": {"features": {"progressive_call_invocations": True}}})
        caller.send_json([raw.CALL, 1, {"progress": True}, "com.lua.details"])
        err = raw.expect(caller, raw.ERROR)
        assert err[4] == "wamp.error.feature_not_supported", err
