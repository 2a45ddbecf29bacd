"""Lua app scripts as WAMP peers (docs/lua-api.md; "How scripts run",
"Conversion", "The moonbar module"): procedures, subscribers, publications, moonbar.call,
errors, values, pattern and shared registrations, sessions, timers, state, moonbar.reload.

Every test writes its own scripts into its router's temporary folder (mb_lua.lua_router).
"""
import time

import pytest

import mb_lua as ml
import mb_twisted as tx
from mb_router import T

from twisted.internet import defer


# ---------------------------------------------------------------- procedures

PROCS = """
    moonbar.register("com.lua.echo", function(args, kwargs, details)
      return moonbar.result(args, kwargs)
    end)
    moonbar.register("com.lua.shape", function(args, kwargs, details)
      local nk = 0
      for _ in pairs(kwargs) do nk = nk + 1 end
      return #args, nk, type(details), moonbar.is_error(args)
    end)
    moonbar.register("com.lua.sum", function(args, kwargs)
      local s = 0
      for _, v in ipairs(args) do s = s + v end
      return s * (kwargs.times or 1)
    end)
    moonbar.register("com.lua.two", function(args) return args[1], args[2] end)
    moonbar.register("com.lua.kw", function(args, kwargs)
      return moonbar.result({"a", #args}, {got = kwargs.x, n = 2})
    end)
    moonbar.register("com.lua.kwonly", function() return moonbar.result(nil, {only = true}) end)
    moonbar.register("com.lua.nothing", function() end)
    moonbar.register("com.lua.details", function(args, kwargs, details) return details end)
"""


def test_client_calls_lua_procedure_with_args_and_kwargs(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"procs.lua": PROCS})
    c = clients(r)
    assert ml.parts(c.call("com.lua.echo", 1, "two", [3], four={"x": 4})) == \
        ([1, "two", [3]], {"four": {"x": 4}})
    assert c.call("com.lua.sum", 1, 2, 3, times=10) == 60
    # no args / no kwargs: an empty array and an empty table; details is a table
    assert ml.parts(c.call("com.lua.shape")) == ([0, 0, "table", False], {})
    assert ml.parts(c.call("com.lua.shape", 1, 2, a=1, b=2, c=3)) == ([2, 3, "table", False], {})


def test_lua_procedure_single_and_multiple_returns(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"procs.lua": PROCS})
    c = clients(r)
    assert c.call("com.lua.sum", 20, 22) == 42                   # return x -> [x]
    assert ml.parts(c.call("com.lua.two", "x", 7)) == (["x", 7], {})   # return x, y -> [x, y]


def test_lua_procedure_moonbar_result_carries_kwargs(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"procs.lua": PROCS})
    c = clients(r)
    assert ml.parts(c.call("com.lua.kw", 1, 2, 3, x="y")) == (["a", 3], {"got": "y", "n": 2})
    assert ml.parts(c.call("com.lua.kwonly")) == ([], {"only": True})


def test_lua_procedure_returning_nothing_yields_an_empty_result(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"procs.lua": PROCS})
    c = clients(r)
    assert c.call("com.lua.nothing", 1, k=2) is None
    assert ml.parts(c.call("com.lua.nothing")) == ([], {})


def test_exact_registration_details_carry_no_procedure(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"procs.lua": PROCS})
    c = clients(r)
    assert c.call("com.lua.details") == {}


def test_disclose_caller_gives_a_lua_callee_the_callers_identity(router_factory, clients):
    app = """
    moonbar.register("com.lua.who", function(args, kwargs, details) return details end, { disclose_caller = true })
    """
    r = ml.lua_router(router_factory, apps={"who.lua": app})
    c = clients(r)
    details = c.call("com.lua.who")
    assert details == {"caller": c.id, "caller_authid": details["caller_authid"],
                       "caller_authrole": "anonymous", "caller_authmethod": "anonymous"}, details
    assert isinstance(details["caller_authid"], str) and details["caller_authid"]


def test_disclose_caller_must_be_a_boolean(router_factory, clients):
    app = """
    local ok, err = pcall(moonbar.register, "com.lua.bad", function() end, { disclose_caller = "yes" })
    moonbar.register("com.lua.why", function() return err end)
    """
    r = ml.lua_router(router_factory, apps={"bad.lua": app})
    c = clients(r)
    assert "disclose_caller must be a boolean" in c.call("com.lua.why")


def test_lua_registrations_are_owned_by_the_scripts_session(router_factory, clients):
    # authid lua:<file>, authrole trusted, transport lua
    r = ml.lua_router(router_factory, apps={"procs.lua": PROCS})
    r.wait_for_log(r"joined realm realm1 \(authid=lua:procs\.lua, authrole=trusted, "
                   r"authmethod=internal, lua in-process\)")
    r.wait_for_log(r"joined realm realm1 \(authid=moonbar, authrole=trusted")
    c = clients(r)
    assert c.call("com.lua.sum", 1) == 1


# ---------------------------------------------------------------- pub/sub

PUBSUB = """
    moonbar.state.seen = {}
    moonbar.subscribe("com.lua.in", function(args, kwargs, details)
      table.insert(moonbar.state.seen, {args = args, kwargs = kwargs, publication = details.publication})
      -- a Lua publisher, called from a subscriber
      moonbar.publish("com.lua.out", {"got", args[1]}, {publication = details.publication})
    end)
    moonbar.subscribe("com.lua.any.", function(args, kwargs, details)
      moonbar.publish("com.lua.out", {"pattern", details.topic})
    end, {match = "prefix"})
    moonbar.register("com.lua.seen", function() return moonbar.array(moonbar.state.seen) end)
    moonbar.register("com.lua.later", function(args)
      moonbar.timer(args[1], function()
        moonbar.publish("com.lua.out", {"from timer"}, {delay = args[1]})
      end)
      return "scheduled"
    end)
"""


def test_lua_subscriber_receives_a_client_publication(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"pubsub.lua": PUBSUB})
    c = clients(r)
    p = c.publish("com.lua.in", "hello", 2, k={"v": [1]})
    seen = ml.wait_until(lambda: c.call("com.lua.seen"), what="Lua subscriber call")
    assert seen == [{"args": ["hello", 2], "kwargs": {"k": {"v": [1]}}, "publication": p.id}]


def test_lua_publish_from_a_subscriber_reaches_a_client(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"pubsub.lua": PUBSUB})
    pub, sub = clients(r), clients(r, "rawsocket")
    _, events = sub.subscribe("com.lua.out")
    p = pub.publish("com.lua.in", "ping")
    e = events.wait(1)[0]
    assert e.args == ["got", "ping"] and e.kwargs == {"publication": p.id}
    pub.publish("com.lua.any.thing")
    e = events.wait(2)[1]
    assert e.args == ["pattern", "com.lua.any.thing"]


def test_lua_publish_from_a_timer_reaches_a_client(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"pubsub.lua": PUBSUB})
    c = clients(r)
    _, events = c.subscribe("com.lua.out")
    t0 = time.monotonic()
    assert c.call("com.lua.later", 50) == "scheduled"
    e = events.wait(1, timeout=2)[0]
    assert time.monotonic() - t0 >= 0.045
    assert e.args == ["from timer"] and e.kwargs == {"delay": 50}


# ---------------------------------------------------------------- moonbar.call

CALLS = """
    moonbar.register("com.lua.via", function(args, kwargs)
      -- calls a procedure a client registered; returns what came back, as is
      return moonbar.call(args[1], args[2], kwargs)
    end)
    moonbar.register("com.lua.via_shape", function(args, kwargs)
      local r = moonbar.call(args[1], args[2], kwargs)
      if r == nil then return "nil" end
      if type(r) == "table" and r.args and r.kwargs then
        return moonbar.result({"table", r.args}, r.kwargs)
      end
      return "value", r
    end)
    moonbar.register("com.lua.try", function(args, kwargs)
      local ok, err = pcall(moonbar.call, args[1], args[2], kwargs)
      if ok then return "no error", err end
      return moonbar.result({err.uri, err.message or moonbar.null, tostring(err), moonbar.is_error(err)},
                            {args = err.args, kwargs = err.kwargs})
    end)
    moonbar.register("com.lua.notry", function(args)
      moonbar.call(args[1])
      return "not reached"
    end)
"""


def test_lua_procedure_calls_a_client_procedure_and_returns_its_result(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"calls.lua": CALLS})
    callee, caller = clients(r, "rawsocket"), clients(r)
    seen = []

    def mul(a, b, **kw):
        seen.append((a, b, kw))
        return a * b * kw.get("times", 1)

    callee.register("com.py.mul", mul)
    assert caller.call("com.lua.via", "com.py.mul", [6, 7]) == 42
    assert caller.call("com.lua.via", "com.py.mul", [2, 3], times=10) == 60
    assert seen == [(6, 7, {}), (2, 3, {"times": 10})]


def test_moonbar_call_returns_value_nil_or_result_table(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"calls.lua": CALLS})
    callee, caller = clients(r), clients(r)
    callee.register("com.py.one", lambda: "single")
    callee.register("com.py.none", lambda: tx.CallResult())  # YIELD without args
    callee.register("com.py.null", lambda: None)  # autobahn: YIELD [null]
    callee.register("com.py.many", lambda: tx.CallResult(1, 2, k="v"))
    callee.register("com.py.pair", lambda: tx.CallResult(1, 2))
    assert ml.parts(caller.call("com.lua.via_shape", "com.py.one")) == (["value", "single"], {})
    assert caller.call("com.lua.via_shape", "com.py.none") == "nil"
    assert ml.parts(caller.call("com.lua.via_shape", "com.py.null")) == (["value", None], {})
    assert ml.parts(caller.call("com.lua.via_shape", "com.py.many")) == (["table", [1, 2]], {"k": "v"})
    assert ml.parts(caller.call("com.lua.via_shape", "com.py.pair")) == (["table", [1, 2]], {})


def test_moonbar_call_error_is_catchable_with_pcall_and_has_the_uri(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"calls.lua": CALLS})
    callee, caller = clients(r), clients(r)

    def fail(*a, **kw):
        raise tx.ApplicationError("com.py.failed", "bad thing", 7, why="x")

    callee.register("com.py.fail", fail)
    got = ml.parts(caller.call("com.lua.try", "com.py.fail"))
    assert got == (["com.py.failed", "bad thing", "com.py.failed: bad thing", True],
                   {"args": ["bad thing", 7], "kwargs": {"why": "x"}})
    got = ml.parts(caller.call("com.lua.try", "com.nobody.here"))
    assert got[0][0] == "wamp.error.no_such_procedure" and got[0][3] is True


def test_uncaught_moonbar_call_error_reaches_the_caller_with_its_uri(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"calls.lua": CALLS})
    callee, caller = clients(r), clients(r)

    def fail(*a, **kw):
        raise tx.ApplicationError("com.py.failed", "bad thing", 7, why="x")

    callee.register("com.py.fail", fail)
    e = ml.call_error(caller, "com.lua.notry", "com.py.fail")
    assert (e.error, list(e.args), e.kwargs) == ("com.py.failed", ["bad thing", 7], {"why": "x"})
    e = ml.call_error(caller, "com.lua.notry", "com.nobody.here")
    assert e.error == "wamp.error.no_such_procedure"


# ---------------------------------------------------------------- errors raised by procedures

ERRORS = """
    moonbar.register("com.lua.app_error", function(args)
      error(moonbar.error("com.example.app_error", {"it failed", args[1]}, {code = 42}))
    end)
    moonbar.register("com.lua.bare_error", function()
      error(moonbar.error("com.example.bare"))
    end)
    moonbar.register("com.lua.plain_error", function(args)
      error("plain failure " .. tostring(args[1]))
    end)
    moonbar.register("com.lua.nil_index", function()
      local x
      return x.field
    end)
    moonbar.register("com.lua.bad_return", function()
      return function() end
    end)
    moonbar.register("com.lua.fine", function() return "fine" end)
"""


def test_error_with_moonbar_error_gives_the_caller_that_uri_args_and_kwargs(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"errors.lua": ERRORS})
    c = clients(r)
    e = ml.call_error(c, "com.lua.app_error", 5)
    assert (e.error, list(e.args), e.kwargs) == ("com.example.app_error", ["it failed", 5], {"code": 42})
    e = ml.call_error(c, "com.lua.bare_error")
    assert (e.error, list(e.args), e.kwargs) == ("com.example.bare", [], {})


def test_other_lua_errors_become_runtime_error_with_the_message(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"errors.lua": ERRORS})
    c = clients(r)
    e = ml.call_error(c, "com.lua.plain_error", "x1")
    assert e.error == "wamp.error.runtime_error"
    assert len(e.args) == 1 and e.args[0].endswith("errors.lua:8: plain failure x1"), e.args
    e = ml.call_error(c, "com.lua.nil_index")
    assert e.error == "wamp.error.runtime_error"
    assert e.args[0].endswith("errors.lua:12: attempt to index a nil value (local 'x')"), e.args
    # the traceback goes to the log (warn)
    r.wait_for_log(r"warn\s+script errors\.lua: procedure failed: .*errors\.lua:12: attempt to index "
                   r"a nil value .*stack traceback")
    e = ml.call_error(c, "com.lua.bad_return")
    assert e.error == "wamp.error.runtime_error" and "function" in e.args[0], e.args
    assert c.call("com.lua.fine") == "fine"


# ---------------------------------------------------------------- values

VALUES = r"""
    moonbar.register("com.lua.echo", function(args, kwargs)
      return moonbar.result(args, kwargs)
    end)
    -- what each argument is on the Lua side
    local function kind(v)
      if v == moonbar.null then return "null" end
      if type(v) == "number" then return math.type(v) end
      if type(v) == "string" then return "string:" .. #v end
      if type(v) == "table" then
        local n = 0
        for _ in pairs(v) do n = n + 1 end
        return "table:" .. n
      end
      return type(v)
    end
    moonbar.register("com.lua.kinds", function(args)
      local out = moonbar.array()
      for i = 1, #args do out[i] = kind(args[i]) end
      return out
    end)
    moonbar.register("com.lua.bytes", function(args)
      local s = args[1]
      local out = moonbar.array()
      for i = 1, #s do out[i] = s:byte(i) end
      return out
    end)
    moonbar.register("com.lua.check", function(args)
      local v = args[1]
      return v.big == 9007199254740992, v.neg == -9007199254740992, v.half == 0.5,
             v.text == "h\u{e9}llo \u{2713} \u{1F389}", v.nested[2].deep[1] == moonbar.null,
             math.type(v.two_f) == "float" and v.two_f == 2.0
    end)
    -- values made in Lua
    local function made()
      return {
        int = 9007199254740992, negint = -9007199254740993, zero = 0, float = 0.25,
        bigfloat = 1e300, twof = 2.0,
        text = "\u{fc}n\u{ef}c\u{f8}d\u{e9} \u{1F680}",
        nested = {1, {a = {true, false, moonbar.null}}, moonbar.array(), {}},
        empty_array = moonbar.array(), empty_object = {},
        bytes = string.char(0, 255, 128, 10),
        intkeys = {[1] = "one", [3] = "three"},
        seq = {"x", "y", "z"},
      }
    end
    moonbar.register("com.lua.made", function() return made() end)
    moonbar.register("com.lua.made_to", function(args)
      moonbar.call(args[1], {made()}, {v = made()})
      moonbar.publish(args[2], {made()}, {v = made()})
    end)
"""

EXPECTED_MADE = {
    "int": 2 ** 53, "negint": -(2 ** 53) - 1, "zero": 0, "float": 0.25, "bigfloat": 1e300, "twof": 2.0,
    "text": "\u00fcn\u00efc\u00f8d\u00e9 \U0001F680",
    "nested": [1, {"a": [True, False, None]}, [], {}],
    "empty_array": [], "empty_object": {},
    "bytes": b"\x00\xff\x80\n",
    "intkeys": {"1": "one", "3": "three"},
    "seq": ["x", "y", "z"],
}


def same_typed(a, b):
    """Equal, with ints and floats kept apart (2 != 2.0 here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_typed(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_typed(x, y) for x, y in zip(a, b))
    return a == b


CLIENT_VALUES = [
    0, 1, -1, 2 ** 53, -(2 ** 53), 2 ** 31, 0.5, -1.25, 1e300, 2.0, "",
    "h\u00e9llo \u2713 \U0001F389", None, True, False, [], {}, [[]], {"e": {}},
    {"a": [1, {"b": [None, True, 2.5]}], "c": {"d": []}}, [None, 1, None],
]


def test_client_values_round_trip_through_lua_unchanged(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"values.lua": VALUES})
    c = clients(r)
    args, kwargs = ml.parts(c.call("com.lua.echo", *CLIENT_VALUES, kw=CLIENT_VALUES, e={}, a=[]))
    assert same_typed(args, CLIENT_VALUES), args
    assert same_typed(kwargs, {"kw": CLIENT_VALUES, "e": {}, "a": []}), kwargs


def test_client_values_arrive_in_lua_as_integers_floats_strings_null_and_tables(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"values.lua": VALUES})
    c = clients(r)
    got = c.call("com.lua.kinds", 7, 2 ** 53, 7.0, 0.5, "h\u00e9", None, True, [], {}, [1, 2], {"a": 1})
    assert got == ["integer", "integer", "float", "float", "string:3", "null", "boolean",
                   "table:0", "table:0", "table:2", "table:1"]
    checks = ml.parts(c.call("com.lua.check", {
        "big": 2 ** 53, "neg": -(2 ** 53), "half": 0.5, "text": "h\u00e9llo \u2713 \U0001F389",
        "nested": [0, {"deep": [None]}], "two_f": 2.0}))
    assert checks == ([True] * 6, {})


def test_binary_bytes_become_lua_strings_and_back(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"values.lua": VALUES})
    c = clients(r)
    blob = bytes([0, 1, 2, 0xFF, 0xFE, 0x80, 0x7F, 10])
    assert c.call("com.lua.bytes", blob) == list(blob)
    assert c.call("com.lua.kinds", blob) == ["string:8"]
    assert c.call("com.lua.echo", blob) == blob
    assert c.call("com.lua.echo", {"nested": [blob]}) == {"nested": [blob]}


def test_lua_made_values_reach_clients_in_results_calls_and_events(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"values.lua": VALUES})
    c = clients(r)
    got = c.call("com.lua.made")
    assert same_typed(got, EXPECTED_MADE), got
    callee = clients(r, "rawsocket")
    invocations = tx.Sink()
    callee.register("com.py.sink", lambda *a, **kw: invocations.add((list(a), kw)))
    _, events = callee.subscribe("com.py.topic")
    assert c.call("com.lua.made_to", "com.py.sink", "com.py.topic") is None
    for a, kw in (invocations.wait(1)[0], events.wait(1)[0][:2]):
        assert same_typed(a, [EXPECTED_MADE]) and same_typed(kw, {"v": EXPECTED_MADE}), (a, kw)


# ---------------------------------------------------------------- registrations

def test_lua_pattern_registration_sees_the_called_procedure_in_details(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"pat.lua": """
        moonbar.register("com.lua.pfx", function(args, kwargs, details)
          return "prefix", details.procedure, args[1]
        end, {match = "prefix"})
        moonbar.register("com.lua..op", function(args, kwargs, details)
          return "wildcard", details.procedure
        end, {match = "wildcard"})
    """})
    c = clients(r)
    assert ml.parts(c.call("com.lua.pfx.a.b", 1)) == (["prefix", "com.lua.pfx.a.b", 1], {})
    assert ml.parts(c.call("com.lua.pfx")) == (["prefix", "com.lua.pfx", None], {})
    assert ml.parts(c.call("com.lua.calc.op")) == (["wildcard", "com.lua.calc.op"], {})


def test_lua_and_autobahn_callees_share_a_roundrobin_registration(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"shared.lua": """
        moonbar.register("com.shared.work", function(args) return "lua", args[1] end,
                         {invoke = "roundrobin"})
    """})
    ext = clients(r, "rawsocket")
    ext.register("com.shared.work", lambda n: tx.CallResult("py", n), invoke="roundrobin")
    c = clients(r)
    got = [ml.parts(c.call("com.shared.work", i))[0] for i in range(8)]
    assert [n for _, n in got] == list(range(8))
    who = [w for w, _ in got]
    assert sorted(who) == ["lua"] * 4 + ["py"] * 4, who
    assert all(who[i] != who[i + 1] for i in range(7)), "calls did not alternate: %r" % who
    # a different policy is refused to the external client
    other = clients(r)
    with pytest.raises(tx.ApplicationError) as e:
        other.register("com.shared.work", lambda: None, invoke="first")
    assert e.value.error == "wamp.error.procedure_exists_with_different_invocation_policy"


def test_lua_registration_is_single_by_default(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"single.lua": """
        moonbar.register("com.lua.mine", function() return "lua" end)
    """})
    ext = clients(r)
    with pytest.raises(tx.ApplicationError) as e:
        ext.register("com.lua.mine", lambda: "py")
    assert e.value.error == "wamp.error.procedure_already_exists"
    assert ext.call("com.lua.mine") == "lua"


# ---------------------------------------------------------------- sessions

def test_moonbar_session_describes_the_callers_session(router_factory, clients):
    # details.caller is not disclosed, so the caller passes its own session ID
    r = ml.lua_router(router_factory, apps={"who.lua": """
        moonbar.register("com.lua.whois", function(args)
          local s = moonbar.session(args[1])
          if s == nil then return "nobody" end
          return s
        end)
    """})
    ws = clients(r, authid="ws-user")
    rs = clients(r, "rawsocket", authid="rs-user")
    for c, ttype, authid in ((ws, "websocket", "ws-user"), (rs, "rawsocket", "rs-user")):
        s = c.call("com.lua.whois", c.id)
        peer = s["transport"].pop("peer")
        assert s == {"id": c.id, "authid": authid, "authrole": "anonymous", "authmethod": "anonymous",
                     "realm": "realm1", "transport": {"type": ttype}}, s
        host, port = peer.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) == c.protocol.transport.getHost().port
    assert ws.call("com.lua.whois", 123456789) == "nobody"


def test_moonbar_session_is_nil_for_a_session_of_another_realm(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"who.lua": """
        moonbar.register("com.lua.whois", function(args)
          return moonbar.session(args[1]) == nil
        end)
    """}, realms_extra=[{"name": "realm2"}])
    c1 = clients(r)
    c2 = clients(r, realm="realm2")
    assert c1.call("com.lua.whois", c1.id) is False
    assert c1.call("com.lua.whois", c2.id) is True


# ---------------------------------------------------------------- timers and state

TIMERS = """
    moonbar.state.ticks = 0
    moonbar.register("com.lua.start", function(args)
      moonbar.state.ticker = moonbar.every(args[1], function()
        moonbar.state.ticks = moonbar.state.ticks + 1
        moonbar.publish("com.lua.tick", {moonbar.state.ticks})
      end)
    end)
    moonbar.register("com.lua.stop", function()
      moonbar.state.ticker:cancel()
      moonbar.state.ticker:cancel() -- twice is harmless
      return moonbar.state.ticks
    end)
"""


def test_moonbar_every_ticks_reach_a_subscriber_and_cancel_stops_them(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"timers.lua": TIMERS})
    c = clients(r)
    _, ticks = c.subscribe("com.lua.tick")
    t0 = time.monotonic()
    c.call("com.lua.start", 20)
    got = ticks.wait(4, timeout=2)
    elapsed = time.monotonic() - t0
    assert [e.args[0] for e in got[:4]] == [1, 2, 3, 4]
    assert elapsed >= 0.075, "4 ticks every 20 ms came after only %.3fs" % elapsed
    n = c.call("com.lua.stop")
    assert n >= 4
    ticks.wait(n)
    time.sleep(T(0.15))
    assert [e.args[0] for e in ticks.snapshot()] == list(range(1, n + 1)), "ticks after cancel"


def test_moonbar_state_is_shared_between_procedures_of_a_script(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"state.lua": """
        moonbar.register("com.lua.put", function(args) moonbar.state[args[1]] = args[2] end)
        moonbar.register("com.lua.get", function(args) return moonbar.state[args[1]] end)
    """, "other.lua": """
        moonbar.register("com.lua.other_get", function(args) return moonbar.state[args[1]] end)
    """})
    c = clients(r)
    c.call("com.lua.put", "k", {"list": [1, 2]})
    assert c.call("com.lua.get", "k") == {"list": [1, 2]}
    c.call("com.lua.put", "k", 3)
    assert c.call("com.lua.get", "k") == 3
    # another script has its own state
    assert c.call("com.lua.other_get", "k") is None


# ---------------------------------------------------------------- moonbar.reload

RELOADABLE = """
    moonbar.register("com.lua.%s.version", function() return moonbar.version, moonbar.script end)
"""


def test_moonbar_reload_procedure_returns_reloaded_and_failed(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"one.lua": RELOADABLE % "one", "two.lua": RELOADABLE % "two"},
                      lua={"watch": False})
    c = clients(r)
    assert ml.parts(c.call("com.lua.one.version")) == ([1, "one.lua"], {})
    args, kwargs = ml.parts(c.call("moonbar.reload"))
    assert args == [] and sorted(kwargs["reloaded"]) == ["one.lua", "two.lua"] and kwargs["failed"] == []
    assert set(kwargs) == {"reloaded", "failed"}
    assert ml.parts(c.call("moonbar.reload", "two.lua")) == ([], {"reloaded": ["two.lua"], "failed": []})
    assert ml.parts(c.call("com.lua.one.version"))[0] == [2, "one.lua"]
    assert ml.parts(c.call("com.lua.two.version"))[0] == [3, "two.lua"]
    # a version that fails to load is listed in failed, with the reason
    ml.write_app(r, "two.lua", "this is not lua\n")
    args, kwargs = ml.parts(c.call("moonbar.reload", "two.lua"))
    assert kwargs["reloaded"] == [] and len(kwargs["failed"]) == 1, kwargs
    assert kwargs["failed"][0]["script"] == "two.lua" and "two.lua:1:" in kwargs["failed"][0]["error"]
    assert ml.parts(c.call("com.lua.two.version"))[0] == [3, "two.lua"]


def test_moonbar_reload_of_an_unknown_script_is_invalid_argument(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"one.lua": RELOADABLE % "one"})
    c = clients(r)
    e = ml.call_error(c, "moonbar.reload", "nope.lua")
    assert e.error == "wamp.error.invalid_argument"
    e = ml.call_error(c, "moonbar.reload", 42)
    assert e.error == "wamp.error.invalid_argument"
    assert ml.parts(c.call("com.lua.one.version"))[0] == [1, "one.lua"]


# ---------------------------------------------------------------- more of the moonbar module

def test_lua_procedure_calls_a_procedure_of_its_own_and_of_another_script(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"one.lua": """
        moonbar.register("com.lua.inner", function(args) return args[1] * 2 end)
        moonbar.register("com.lua.outer", function(args)
          local a = moonbar.call("com.lua.inner", {args[1]})     -- same script
          local b = moonbar.call("com.lua.other", {a})           -- another script
          return a, b
        end)
    """, "two.lua": """
        moonbar.register("com.lua.other", function(args) return args[1] + 1 end)
    """})
    c = clients(r)
    assert ml.parts(c.call("com.lua.outer", 5)) == ([10, 11], {})


def test_subscriber_and_timer_callbacks_can_use_moonbar_call(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"cb.lua": """
        moonbar.subscribe("com.lua.ask", function(args)
          local v = moonbar.call("com.py.answer", {args[1]})
          moonbar.publish("com.lua.answers", {"subscriber", v})
        end)
        moonbar.register("com.lua.ask_later", function(args)
          moonbar.timer(5, function()
            local v = moonbar.call("com.py.answer", {args[1]})
            moonbar.publish("com.lua.answers", {"timer", v})
          end)
        end)
    """})
    callee, c = clients(r), clients(r)
    callee.register("com.py.answer", lambda x: x * 3)
    _, answers = c.subscribe("com.lua.answers")
    c.publish("com.lua.ask", 2)
    assert answers.wait(1)[0].args == ["subscriber", 6]
    c.call("com.lua.ask_later", 3)
    assert answers.wait(2)[1].args == ["timer", 9]


def test_caller_leaving_while_a_lua_procedure_waits_in_moonbar_call_is_harmless(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"calls.lua": CALLS})
    callee, caller, witness = clients(r), clients(r), clients(r, "rawsocket")
    held = []
    callee.register("com.py.hold", lambda: held.append(defer.Deferred()) or held[-1])
    caller.call_async("com.lua.via", "com.py.hold")
    ml.wait_until(lambda: held, what="com.py.hold invoked")
    caller.drop()
    time.sleep(T(0.05))
    tx.in_reactor(lambda: held[0].callback("late answer"))
    callee.register("com.py.echo", lambda x: x)
    assert witness.call("com.lua.via", "com.py.echo", ["still fine"]) == "still fine"


def test_moonbar_register_at_run_time_applies_at_once_and_replaces(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"dyn.lua": """
        moonbar.register("com.lua.install", function(args)
          local answer = args[1]
          moonbar.register("com.lua.dyn", function() return answer end)
        end)
    """})
    c = clients(r)
    assert ml.call_error(c, "com.lua.dyn").error == "wamp.error.no_such_procedure"
    c.call("com.lua.install", "first")
    assert ml.wait_until(lambda: c.call("com.lua.dyn") == "first", what="com.lua.dyn registered")
    c.call("com.lua.install", "second")
    assert ml.wait_until(lambda: c.call("com.lua.dyn") == "second", what="com.lua.dyn replaced")
    assert r.log.count("registered com.lua.dyn (registration") == 1


def test_refused_lua_registration_is_logged_as_an_error(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"dyn.lua": """
        moonbar.register("com.lua.take", function(args)
          moonbar.register(args[1], function() return "lua" end)
        end)
    """})
    c = clients(r)
    c.register("com.taken", lambda: "client")
    mark = r.log_mark()
    c.call("com.lua.take", "com.taken")
    r.wait_for_log(r"error script dyn\.lua: register com\.taken refused: "
                   r"wamp\.error\.procedure_already_exists", since=mark)
    assert c.call("com.taken") == "client"


def test_lua_publish_excludes_the_script_unless_exclude_me_is_false(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"self.lua": """
        moonbar.state.got = moonbar.array()
        moonbar.subscribe("com.lua.self", function(args) table.insert(moonbar.state.got, args[1]) end)
        moonbar.register("com.lua.pub", function(args)
          moonbar.publish("com.lua.self", {"default"})
          moonbar.publish("com.lua.self", {"included"}, nil, {exclude_me = false})
        end)
        moonbar.register("com.lua.got", function() return moonbar.state.got end)
    """})
    c = clients(r)
    _, events = c.subscribe("com.lua.self")
    c.call("com.lua.pub")
    assert [e.args for e in events.wait(2)] == [["default"], ["included"]]
    assert ml.wait_until(lambda: c.call("com.lua.got")) == ["included"]


def test_moonbar_log_and_print_write_script_log_lines(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"talk.lua": """
        moonbar.register("com.lua.talk", function(args)
          moonbar.log.info("info line", 1, true)
          moonbar.log.warn("warn line")
          moonbar.log.error("error line", moonbar.realm, moonbar.script)
          moonbar.log.debug("debug line")
          print("printed", 2)
        end)
    """})
    c = clients(r)
    mark = r.log_mark()
    c.call("com.lua.talk")
    r.wait_for_log(r"info\s+script talk\.lua: info line 1 true$", since=mark)
    r.wait_for_log(r"warn\s+script talk\.lua: warn line$", since=mark)
    r.wait_for_log(r"error script talk\.lua: error line realm1 talk\.lua$", since=mark)
    r.wait_for_log(r"info\s+script talk\.lua: printed\t2$", since=mark)
    assert "debug line" not in r.log  # log_level info


UNCONVERTIBLE = """
    moonbar.register("com.lua.nan", function() return 0/0 end)
    moonbar.register("com.lua.inf", function() return math.huge end)
    moonbar.register("com.lua.cycle", function() local t = {} t.self = t return t end)
    moonbar.register("com.lua.deep", function()
      local t = {}
      for i = 1, 100 do t = {t} end
      return t
    end)
    moonbar.register("com.lua.publish_fn", function()
      moonbar.publish("com.lua.x", {print})
      return "not reached"
    end)
    moonbar.register("com.lua.call_fn", function()
      return moonbar.call("com.lua.fine", {1}, {f = print})  -- good args, bad kwargs
    end)
    moonbar.register("com.lua.error_fn", function()
      error(moonbar.error("com.example.x", {1}, {f = print}))
    end)
    moonbar.register("com.lua.fine", function() return "fine" end)
"""


@pytest.mark.parametrize("proc", ["com.lua.nan", "com.lua.inf", "com.lua.cycle", "com.lua.deep",
                                  "com.lua.publish_fn", "com.lua.call_fn", "com.lua.error_fn"])
def test_unconvertible_lua_values_give_runtime_error(router_factory, clients, proc):
    r = ml.lua_router(router_factory, apps={"bad.lua": UNCONVERTIBLE})
    c = clients(r)
    e = ml.call_error(c, proc)
    assert e.error == "wamp.error.runtime_error" and len(e.args) == 1 and e.args[0], (e.error, e.args)
    assert c.call("com.lua.fine") == "fine"
