"""The meta API from and around Lua app scripts: a Lua procedure calling wamp.session.* through
moonbar.call, a Lua subscriber on wamp.session.on_join/on_leave counting sessions, and the
in-router sessions (authrole "trusted": the realm's "moonbar" session and one "lua:<file>"
session per script) as the meta API shows them and refuses to kill them.
"""
import mb_meta as mm
import mb_twisted as tx

APP = """
    moonbar.state.joins = moonbar.state.joins or 0
    moonbar.state.leaves = moonbar.state.leaves or 0
    moonbar.subscribe("wamp.session.on_join", function(args)
      moonbar.state.joins = moonbar.state.joins + 1
      moonbar.state.last_join = args[1].session
    end)
    moonbar.subscribe("wamp.session.on_leave", function(args)
      moonbar.state.leaves = moonbar.state.leaves + 1
      moonbar.state.last_leave = args[1]
    end)
    moonbar.register("com.lua.meta.counts", function()
      return moonbar.state.joins, moonbar.state.leaves,
             moonbar.state.last_join or moonbar.null, moonbar.state.last_leave or moonbar.null
    end)
    moonbar.register("com.lua.meta.sessions", function()
      return moonbar.call("wamp.session.list")
    end)
    moonbar.register("com.lua.meta.count", function(args)
      return moonbar.call("wamp.session.count", args)
    end)
    moonbar.register("com.lua.meta.get", function(args)
      return moonbar.call("wamp.session.get", {args[1]})
    end)
    moonbar.register("com.lua.meta.kill", function(args, kwargs)
      local r = moonbar.call("wamp.session.kill", {args[1]}, kwargs)
      return r == nil and "killed" or r
    end)
    moonbar.register("com.lua.meta.try", function(args)
      local ok, err = pcall(moonbar.call, args[1], args[2])
      if ok then return "no error" end
      return err.uri
    end)
"""

APP_AUTHID = "lua:meta.lua"


def lua_router(router_factory, **kw):
    return mm.meta_router(router_factory, apps={"meta.lua": APP}, **kw)


def in_router_sessions(client):
    """{authid: details} of the trusted sessions of the realm."""
    out = {}
    for sid in client.call("wamp.session.list", ["trusted"]):
        d = client.call("wamp.session.get", sid)
        out[d["authid"]] = d
    return out


def test_lua_procedure_calling_wamp_session_list_sees_clients_and_in_router_sessions(
        router_factory, clients):
    r = lua_router(router_factory)
    a, b = clients(r), clients(r, "rawsocket")
    from_lua = a.call("com.lua.meta.sessions")
    assert sorted(from_lua) == sorted(a.call("wamp.session.list"))
    trusted = in_router_sessions(a)
    assert set(trusted) == {"moonbar", APP_AUTHID}, trusted
    assert sorted(from_lua) == sorted(mm.session_ids_of([a, b]) + [d["session"] for d in trusted.values()])
    for d in trusted.values():
        assert (d["authrole"], d["authmethod"], d["authprovider"]) == ("trusted", "internal", "moonbar"), d
        assert d["transport"]["type"] == "lua", d
    assert a.call("com.lua.meta.count", ["trusted"]) == 2
    assert a.call("com.lua.meta.count", ["anonymous"]) == 2
    assert a.call("com.lua.meta.count") == 4
    b.leave()
    assert sorted(a.call("com.lua.meta.sessions")) == sorted([a.id] + [d["session"] for d in trusted.values()])
    # the script's procedures are registrations of its session
    rid = a.call("wamp.registration.lookup", "com.lua.meta.sessions")
    assert a.call("wamp.registration.list_callees", rid) == [trusted[APP_AUTHID]["session"]]
    assert a.call("com.lua.meta.get", a.id) == a.call("wamp.session.get", a.id)


def counts(client):
    """[joins, leaves, last joined session, last left session] as the Lua subscriber saw them."""
    return tx.result_parts(client.call("com.lua.meta.counts"))[0]


def test_lua_subscriber_on_session_on_join_and_on_leave_counts_sessions(router_factory, clients):
    r = lua_router(router_factory)
    a = clients(r)
    # the in-router sessions joined before the script subscribed: only clients are counted
    mm.wait_until(lambda: counts(a) == [1, 0, a.id, None], what="one join counted")
    b, c = clients(r, "rawsocket"), clients(r)
    mm.wait_until(lambda: counts(a) == [3, 0, c.id, None], what="three joins counted")
    b.leave()
    mm.wait_until(lambda: counts(a) == [3, 1, c.id, b.id], what="b's leave counted")
    c.drop()
    mm.wait_until(lambda: counts(a) == [3, 2, c.id, c.id], what="c's leave counted")
    d = clients(r)
    mm.wait_until(lambda: counts(a) == [4, 2, d.id, c.id], what="fourth join counted")
    joins, leaves = counts(a)[:2]
    assert joins - leaves == a.call("wamp.session.count", ["anonymous"]) == 2


def test_lua_procedure_kills_a_client_with_reason_and_message(router_factory, clients):
    r = lua_router(router_factory)
    a, b = clients(r), clients(r)
    assert a.call("com.lua.meta.kill", b.id, reason="com.example.lua", message="from lua") == "killed"
    d = tx.wait(b.left, 5, "GOODBYE at the killed client")
    assert (d.reason, d.message) == ("com.example.lua", "from lua")
    tx.wait(b.disconnected, 5, "close of the killed client")
    assert a.call("com.lua.meta.try", "wamp.session.get", [b.id]) == "wamp.error.no_such_session"
    # the Lua session can kill the client whose call it is serving (it is not the meta caller)
    fut = a.call_async("com.lua.meta.try", "wamp.session.kill", [a.id])
    assert tx.wait(a.left, 5, "GOODBYE at a").reason == "wamp.close.normal"
    assert fut.exception(timeout=mm.T(5)) is not None  # a left before its result


def test_in_router_sessions_are_never_killed_by_the_meta_api(router_factory, clients):
    r = lua_router(router_factory)
    a = clients(r)
    others = [clients(r), clients(r, "rawsocket")]
    trusted = in_router_sessions(a)
    for d in trusted.values():
        assert mm.call_error(a, "wamp.session.kill", d["session"]).error == "wamp.error.no_such_session"
    assert a.call("wamp.session.kill_by_authrole", "trusted") == 0
    assert a.call("wamp.session.kill_by_authid", "moonbar") == 0
    assert a.call("wamp.session.kill_by_authid", APP_AUTHID) == 0
    # a Lua script cannot kill its own session either (it is the caller, and trusted)
    assert a.call("com.lua.meta.try", "wamp.session.kill",
                  [trusted[APP_AUTHID]["session"]]) == "wamp.error.no_such_session"
    assert a.call("wamp.session.kill_all") == len(others)
    for o in others:
        tx.wait(o.left, 5, "GOODBYE")
    assert sorted(a.call("wamp.session.list")) == sorted([a.id] + [d["session"] for d in trusted.values()])
    assert a.call("com.lua.meta.count", ["trusted"]) == 2  # the script still runs
    # a kill_all from Lua kills the clients, not the in-router sessions
    b = clients(r)
    fut = b.call_async("com.lua.meta.try", "wamp.session.kill_all")
    tx.wait(a.left, 5, "GOODBYE at a")
    tx.wait(b.left, 5, "GOODBYE at b (the caller of the Lua procedure)")
    # b was killed while its call was pending: it never gets the result
    assert fut.exception(timeout=mm.T(5)) is not None
    c = clients(r)
    assert sorted(c.call("wamp.session.list")) == sorted([c.id] + [d["session"] for d in trusted.values()])
