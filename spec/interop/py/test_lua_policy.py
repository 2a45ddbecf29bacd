"""A realm's Lua policy script (docs/lua-api.md; "Policy script only"):
the authorizer (per action, failures, its cache), ticket/anonymous authentication, and custom
invocation policies.

The policy script and app scripts have separate moonbar.state tables, so a policy script that
must report what it saw registers its own procedures (policy scripts can register too).
"""
import re
import time

import pytest

import mb_lua as ml
import mb_patterns as mp
import mb_raw as raw
import mb_twisted as tx
from mb_router import T

from twisted.internet import defer


def error_of(fn, *a, **kw):
    try:
        r = fn(*a, **kw)
    except tx.ApplicationError as e:
        return e
    pytest.fail("expected an ApplicationError, got %r" % (r,), pytrace=False)


# ---------------------------------------------------------------- authorizer: allow / deny

AUTHORIZER = """
    moonbar.authorize(function(session, action, uri, options)
      -- deny "com.forbidden.<action>..." for that action only
      local p = "com.forbidden." .. action
      if uri:sub(1, #p) == p then return false end
      if action == "subscribe" and options.match == "prefix" and uri == "com.open." then return false end
      if session.authid == "mallory" then return false end
      return true
    end)
"""


def test_authorizer_denies_subscribe_with_not_authorized(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTHORIZER)
    c = clients(r)
    e = error_of(c.subscribe, "com.forbidden.subscribe")
    assert e.error == "wamp.error.not_authorized"
    assert e.args[0] == "not authorized to subscribe 'com.forbidden.subscribe'", e.args
    # the same URI family for another action is not denied
    c.subscribe("com.forbidden.publish")
    c.subscribe("com.forbidden.call.x")
    # the authorizer sees the request's options
    e = error_of(mp.subscribe, c, "com.open.", match="prefix")
    assert e.error == "wamp.error.not_authorized"
    mp.subscribe(c, "com.open.", match="wildcard")
    r.wait_for_log(r"session %d \(authid=[^,]+, authrole=anonymous\): subscribe 'com\.forbidden\.subscribe' "
                   r"denied: not authorized to subscribe 'com\.forbidden\.subscribe'" % c.id)


def test_authorizer_denies_publish_with_acknowledge_and_drops_it_without(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTHORIZER)
    pub, sub = clients(r), clients(r)
    _, events = sub.subscribe("com.forbidden.publish")
    _, ok_events = sub.subscribe("com.allowed")
    e = error_of(pub.publish, "com.forbidden.publish", 1)
    assert e.error == "wamp.error.not_authorized"
    assert e.args[0] == "not authorized to publish 'com.forbidden.publish'", e.args
    mark = r.log_mark()
    pub.publish("com.forbidden.publish", 2, _acknowledge=False)
    r.wait_for_log(r"publish 'com\.forbidden\.publish' denied", since=mark)
    pub.publish("com.allowed", 3)
    assert [x.args for x in ok_events.wait(1)] == [[3]]
    assert len(events) == 0, events.snapshot()
    assert pub.is_connected()


def test_authorizer_denies_register_and_call_with_not_authorized(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTHORIZER, apps={"app.lua": """
        -- scripts are not asked to the authorizer
        moonbar.register("com.forbidden.register.lua", function() return "lua" end)
    """})
    callee, caller = clients(r), clients(r)
    e = error_of(callee.register, "com.forbidden.register.py", lambda: "py")
    assert e.error == "wamp.error.not_authorized"
    assert e.args[0] == "not authorized to register 'com.forbidden.register.py'", e.args
    assert caller.call("com.forbidden.register.lua") == "lua"
    invoked = []
    callee.register("com.forbidden.call", lambda: invoked.append(1) or "reached")
    e = error_of(caller.call, "com.forbidden.call")
    assert e.error == "wamp.error.not_authorized"
    assert e.args[0] == "not authorized to call 'com.forbidden.call'", e.args
    assert invoked == []
    r.wait_for_log(r"session %d \(authid=[^,]+, authrole=anonymous\): call 'com\.forbidden\.call' denied"
                   % caller.id)


def test_authorizer_sees_the_session(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTHORIZER, apps={"app.lua": """
        moonbar.register("com.lua.hi", function() return "hi" end)
    """})
    good, bad = clients(r, authid="trent"), clients(r, authid="mallory")
    assert good.call("com.lua.hi") == "hi"
    assert error_of(bad.call, "com.lua.hi").error == "wamp.error.not_authorized"


AUTHORIZER_FAILS = """
    moonbar.authorize(function(session, action, uri, options)
      if uri == "com.crash" then error("authorizer crashed on " .. action) end
      if uri == "com.weird" then return 42 end
      if uri == "com.spin" then while true do end end
      return true
    end)
"""


@pytest.mark.parametrize("uri,why", [
    ("com.crash", r"authorizer failed: .*policy\.lua:2: authorizer crashed on (call|subscribe|publish|register)"),
    ("com.weird", r"authorizer failed: it returned a number, not a boolean or \{allow=\.\.\.\}"),
    ("com.spin", r"authorizer failed: .*callback stopped: it ran longer than its budget of 50 ms"),
])
def test_authorizer_that_fails_gives_authorization_failed(router_factory, clients, uri, why):
    r = ml.lua_router(router_factory, policy=AUTHORIZER_FAILS, lua={"callback_timeout": 0.05})
    c = clients(r)
    for op in (lambda: c.call(uri), lambda: c.subscribe(uri), lambda: c.publish(uri),
               lambda: c.register(uri, lambda: None)):
        t0 = time.monotonic()
        e = error_of(op)
        assert e.error == "wamp.error.authorization_failed", (e.error, e.args)
        assert re.search(why, e.args[0]), e.args
        assert time.monotonic() - t0 < T(1)
    r.wait_for_log(r"'%s' authorization failed: authorizer failed" % re.escape(uri))
    c.subscribe("com.fine")  # the authorizer still answers
    assert c.is_connected()


# ---------------------------------------------------------------- authorizer cache

CACHING = """
    moonbar.state.counts = moonbar.state.counts or {}
    moonbar.authorize(function(session, action, uri, options)
      local key = session.id .. " " .. action .. " " .. uri
      moonbar.state.counts[key] = (moonbar.state.counts[key] or 0) + 1
      if uri:find("^com%.cached%.") then return {allow = true, cache = true} end
      if uri:find("^com%.cached_deny%.") then return {allow = false, cache = true} end
      if uri:find("^com%.nocache%.") then return {allow = true, cache = false} end
      return true
    end)
    -- the policy script reports its own counts
    moonbar.register("policy.count", function(args)
      return moonbar.state.counts[args[1] .. " " .. args[2] .. " " .. args[3]] or 0
    end)
"""


def count(c, session, action, uri):
    return c.call("policy.count", session.id, action, uri)


def test_cached_decision_is_asked_once_per_session_action_and_uri(router_factory, clients):
    r = ml.lua_router(router_factory, policy=CACHING)
    callee, c = clients(r), clients(r)
    callee.register("com.cached.x", lambda: "x")
    callee.register("com.nocache.x", lambda: "y")
    callee.register("com.plain.x", lambda: "z")
    for _ in range(3):
        assert c.call("com.cached.x") == "x"
        assert c.call("com.nocache.x") == "y"
        assert c.call("com.plain.x") == "z"
        assert error_of(c.call, "com.cached_deny.x").error == "wamp.error.not_authorized"
    assert count(c, c, "call", "com.cached.x") == 1
    assert count(c, c, "call", "com.cached_deny.x") == 1
    assert count(c, c, "call", "com.nocache.x") == 3
    assert count(c, c, "call", "com.plain.x") == 3
    # the cache is per action: subscribing to the same URI asks again
    c.subscribe("com.cached.x")
    c.subscribe("com.cached.x")
    assert count(c, c, "subscribe", "com.cached.x") == 1
    assert count(c, callee, "register", "com.cached.x") == 1
    r.wait_for_log(r"call 'com\.cached_deny\.x' denied: .*\(cached decision\)")


def test_cache_is_dropped_when_the_policy_reloads(router_factory, clients):
    r = ml.lua_router(router_factory, policy=CACHING)
    callee, c = clients(r), clients(r)
    callee.register("com.cached.x", lambda: "x")
    c.call("com.cached.x")
    c.call("com.cached.x")
    assert count(c, c, "call", "com.cached.x") == 1
    # moonbar.reload of the policy script (moonbar.state keeps the counts)
    assert ml.parts(c.call("moonbar.reload", "policy.lua"))[1] == {"reloaded": ["policy.lua"], "failed": []}
    c.call("com.cached.x")
    c.call("com.cached.x")
    assert count(c, c, "call", "com.cached.x") == 2
    # a file change of the policy script
    events = c.subscribe("moonbar.script.on_reload")[1]
    r.write_file(ml.POLICY_PATH, ml.src(CACHING) + "-- edited\n")
    ml.wait_until(lambda: len(events) >= 1 and events.snapshot()[0].kwargs["ok"], what="policy reloaded")
    c.call("com.cached.x")
    c.call("com.cached.x")
    assert count(c, c, "call", "com.cached.x") == 3


def test_cache_is_per_session_and_a_new_session_is_asked_again(router_factory, clients):
    r = ml.lua_router(router_factory, policy=CACHING)
    callee, a = clients(r), clients(r)
    callee.register("com.cached.x", lambda: "x")
    a.call("com.cached.x")
    a.call("com.cached.x")
    a_id = a.id
    a.leave()
    b = clients(r)
    b.call("com.cached.x")
    b.call("com.cached.x")
    assert b.call("policy.count", a_id, "call", "com.cached.x") == 1
    assert count(b, b, "call", "com.cached.x") == 1


def test_cache_with_pattern_registrations_is_per_called_uri(router_factory, clients):
    r = ml.lua_router(router_factory, policy=CACHING)
    callee, c = clients(r), clients(r)
    callee.register("com.cached.", lambda *a, **kw: "pfx", match="prefix")
    for _ in range(2):
        assert c.call("com.cached.a") == "pfx"
        assert c.call("com.cached.b") == "pfx"
    assert count(c, c, "call", "com.cached.a") == 1
    assert count(c, c, "call", "com.cached.b") == 1


# ---------------------------------------------------------------- authentication

AUTH = """
    moonbar.state.seen = moonbar.state.seen or moonbar.array()
    moonbar.authenticate(function(realm, authid, details)
      table.insert(moonbar.state.seen, {realm = realm, authid = authid or moonbar.null,
                                        authmethod = details.authmethod,
                                        ticket = details.ticket or moonbar.null,
                                        authmethods = details.authmethods or moonbar.null,
                                        has_roles = details.roles ~= nil})
      if details.authmethod == "ticket" then
        if details.ticket == "crash" then error("authenticator blew up") end
        if details.ticket == "norole" then return {authid = "x"} end
        if details.ticket == "s3cret" then
          return {authrole = authid == "root" and "admin" or "user", authid = "user:" .. authid}
        end
        if details.ticket == "keepid" then return {authrole = "user"} end
        return nil, "bad ticket for " .. tostring(authid)
      end
      if authid == "guest" then return {authrole = "anonymous"} end
      return nil, "anonymous not welcome"
    end)
    moonbar.state.asked = moonbar.state.asked or moonbar.array()
    moonbar.authorize(function(session, action, uri)
      table.insert(moonbar.state.asked, {session.authrole, action, uri})
      if uri == "moonbar.reload" then return session.authrole ~= "anonymous" end
      return true
    end)
    moonbar.register("policy.seen", function() return moonbar.state.seen end)
    moonbar.register("policy.asked", function() return moonbar.state.asked end)
"""


def join_fails(r, **kw):
    with pytest.raises(tx.JoinFailed) as e:
        c = tx.connect(r, **kw)
        c.close()
    return e.value


def test_ticket_authentication_accepted_gives_authid_and_authrole_from_the_script(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTH)
    c = clients(r, authid="alice", authmethods=["ticket"], ticket="s3cret")
    d = c.details
    assert (d.authid, d.authrole, d.authmethod, d.authprovider, d.realm) == \
        ("user:alice", "user", "ticket", "lua", "realm1")
    assert [(ch.method, ch.extra) for ch in c.challenges] == [("ticket", {})]
    seen = c.call("policy.seen")
    assert [(x["realm"], x["authid"], x["authmethod"], x["ticket"]) for x in seen] == \
        [("realm1", "alice", "ticket", "s3cret")], seen
    # authid optional in the answer: the HELLO's stays
    k = clients(r, authid="kim", authmethods=["ticket"], ticket="keepid")
    assert (k.details.authid, k.details.authrole) == ("kim", "user")


def test_ticket_authenticator_gets_the_hello_details_plus_authmethod_and_ticket(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTH)
    c = clients(r, authid="alice", authmethods=["ticket"], ticket="s3cret")
    seen = c.call("policy.seen")
    # HELLO.Details had authmethods ["ticket"] and roles (autobahn sends both)
    assert seen == [{"realm": "realm1", "authid": "alice", "authmethod": "ticket", "ticket": "s3cret",
                     "authmethods": ["ticket"], "has_roles": True}], seen


@pytest.mark.parametrize("ticket,message", [
    ("wrong", "bad ticket for alice"),
    ("crash", r"authenticator failed: .*policy\.lua:\d+: authenticator blew up"),
    ("norole", "authenticator returned no authrole"),
])
def test_ticket_authentication_refused_aborts_with_not_authorized_and_the_reason(router_factory, ticket,
                                                                                message):
    r = ml.lua_router(router_factory, policy=AUTH)
    e = join_fails(r, authid="alice", authmethods=["ticket"], ticket=ticket)
    assert e.reason == "wamp.error.not_authorized", (e.reason, e.message)
    assert re.fullmatch(message, e.message or ""), e.message
    r.wait_for_log(r"abort wamp\.error\.not_authorized")


def test_anonymous_hello_goes_through_the_authenticator(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTH)
    g = clients(r, authid="guest")
    assert (g.details.authid, g.details.authrole, g.details.authmethod, g.details.authprovider) == \
        ("guest", "anonymous", "anonymous", "lua")
    e = join_fails(r)
    assert e.reason == "wamp.error.not_authorized" and e.message == "anonymous not welcome"
    e = join_fails(r, authid="alice")
    assert e.reason == "wamp.error.not_authorized" and e.message == "anonymous not welcome"
    seen = g.call("policy.seen")
    assert [(s["authid"], s["authmethod"], s["ticket"], s["has_roles"]) for s in seen] == \
        [("guest", "anonymous", None, True), (None, "anonymous", None, True), ("alice", "anonymous", None, True)]


def test_authorizer_sees_moonbar_reload_and_can_deny_it_to_anonymous(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTH, apps={"app.lua": """
        moonbar.register("com.lua.v", function() return moonbar.version end)
    """})
    guest = clients(r, authid="guest")
    admin = clients(r, authid="root", authmethods=["ticket"], ticket="s3cret")
    assert admin.details.authrole == "admin"
    e = error_of(guest.call, "moonbar.reload")
    assert e.error == "wamp.error.not_authorized"
    assert e.args[0] == "not authorized to call 'moonbar.reload'"
    assert guest.call("com.lua.v") == 1
    args, kwargs = ml.parts(admin.call("moonbar.reload", "app.lua"))
    assert kwargs == {"reloaded": ["app.lua"], "failed": []}
    assert guest.call("com.lua.v") == 2
    asked = admin.call("policy.asked")
    assert ["anonymous", "call", "moonbar.reload"] in asked and ["admin", "call", "moonbar.reload"] in asked


def test_realm_without_authenticator_stays_anonymous(router_factory, clients):
    r = ml.lua_router(router_factory, policy=AUTHORIZER)
    c = clients(r, authid="someone")
    assert (c.details.authid, c.details.authrole, c.details.authmethod) == \
        ("someone", "anonymous", "anonymous")


# ---------------------------------------------------------------- custom invocation policies

POLICIES = """
    moonbar.state.picks = moonbar.array()
    moonbar.policy("least_loaded", function(callees, call)
      local best
      local loads = moonbar.array()
      for i, c in ipairs(callees) do
        loads[i] = c.inflight
        assert(c.index == i)
        if best == nil or c.inflight < best.inflight then best = c end
      end
      table.insert(moonbar.state.picks, {procedure = call.procedure, caller = call.caller.id,
                                         args = call.args or moonbar.null, loads = loads,
                                         picked = best.id})
      return best
    end)
    moonbar.policy("last_by_index", function(callees) return #callees end)
    moonbar.policy("broken", function(callees, call) error("no callee for you") end)
    moonbar.policy("bad_return", function(callees, call) return 99 end)
    moonbar.policy("spin", function() while true do end end)
    moonbar.register("policy.picks", function() return moonbar.state.picks end)
"""


class Callee:
    """An autobahn callee answering at once, or holding every invocation until release()."""

    def __init__(self, clients, r, name, hold=False):
        self.name, self.hold = name, hold
        self.client = clients(r, "rawsocket")
        self.invoked = tx.Sink()
        self.pending = []

    def handler(self, *args, **kwargs):
        self.invoked.add(args)
        if not self.hold:
            return tx.CallResult(self.name, *args)
        d = defer.Deferred()
        self.pending.append((d, args))
        return d

    def register(self, procedure, invoke):
        return ml.register_with_invoke(self.client, procedure, self.handler, invoke)

    def release(self):
        def go():
            for d, args in self.pending:
                d.callback(tx.CallResult(self.name, *args))
            self.pending.clear()
        tx.in_reactor(go)


def test_least_loaded_policy_picks_the_callee_with_fewest_calls_in_flight(router_factory, clients):
    r = ml.lua_router(router_factory, policy=POLICIES)
    a = Callee(clients, r, "A", hold=True)
    b = Callee(clients, r, "B", hold=True)
    c = Callee(clients, r, "C")
    for x in (a, b, c):
        x.register("com.work", "least_loaded")
    caller = clients(r)
    f1 = caller.call_async("com.work", 1)
    a.invoked.wait(1)                          # all idle: the first callee
    f2 = caller.call_async("com.work", 2)
    b.invoked.wait(1)                          # A busy: B
    got = [ml.parts(caller.call("com.work", n))[0] for n in range(3, 9)]
    assert got == [["C", n] for n in range(3, 9)], got   # A and B busy: C
    assert len(a.invoked) == 1 and len(b.invoked) == 1
    a.release()
    b.release()
    assert ml.parts(tx.wait(f1, 2))[0] == ["A", 1]
    assert ml.parts(tx.wait(f2, 2))[0] == ["B", 2]
    # all idle again: the first callee
    a.hold = False
    assert ml.parts(caller.call("com.work", 9))[0] == ["A", 9]
    picks = caller.call("policy.picks")
    ids = {x.client.id: x.name for x in (a, b, c)}
    assert [(ids[p["picked"]], p["loads"]) for p in picks] == \
        [("A", [0, 0, 0]), ("B", [1, 0, 0])] + [("C", [1, 1, 0])] * 6 + [("A", [0, 0, 0])]
    assert all(p["procedure"] == "com.work" and p["caller"] == caller.id for p in picks)
    assert [p["args"] for p in picks] == [[n] for n in range(1, 10)]


def test_custom_policy_may_return_the_callee_index(router_factory, clients):
    r = ml.lua_router(router_factory, policy=POLICIES)
    a, b = Callee(clients, r, "A"), Callee(clients, r, "B")
    a.register("com.idx", "last_by_index")
    b.register("com.idx", "last_by_index")
    caller = clients(r)
    assert [ml.parts(caller.call("com.idx"))[0] for _ in range(3)] == [["B"]] * 3


def test_lua_callee_can_join_a_custom_policy_registration(router_factory, clients):
    r = ml.lua_router(router_factory, policy=POLICIES, apps={"app.lua": """
        moonbar.register("com.mixed", function(args) return "lua", args[1] end, {invoke = "last_by_index"})
    """})
    a = Callee(clients, r, "A")
    a.register("com.mixed", "last_by_index")
    caller = clients(r)
    assert ml.parts(caller.call("com.mixed", 1))[0] == ["A", 1]   # A registered after the script


@pytest.mark.parametrize("policy,why", [
    ("broken", r"invocation policy 'broken': failed: .*policy\.lua:\d+: no callee for you"),
    ("bad_return", r"invocation policy 'bad_return': it must return one of the callees it was given.*"),
    ("spin", r"invocation policy 'spin': failed: .*budget of 50 ms"),
])
def test_custom_policy_that_fails_gives_the_caller_invalid_argument(router_factory, clients, policy, why):
    r = ml.lua_router(router_factory, policy=POLICIES, lua={"callback_timeout": 0.05})
    a = Callee(clients, r, "A")
    a.register("com.p", policy)
    caller = clients(r)
    for _ in range(2):
        e = error_of(caller.call, "com.p")
        assert e.error == "wamp.error.invalid_argument"
        assert re.fullmatch(why, e.args[0]), e.args
    assert len(a.invoked) == 0
    assert caller.call("policy.picks") == []


def test_register_with_an_unknown_invoke_name_is_invalid_argument(router_factory, clients):
    r = ml.lua_router(router_factory, policy=POLICIES, realms_extra=[{"name": "realm2"}])
    c = clients(r)
    e = error_of(ml.register_with_invoke, c, "com.x", lambda: None, "no_such_policy")
    assert e.error == "wamp.error.invalid_argument"
    # a policy of realm1's script means nothing in realm2
    c2 = clients(r, realm="realm2")
    e = error_of(ml.register_with_invoke, c2, "com.x", lambda: None, "least_loaded")
    assert e.error == "wamp.error.invalid_argument"


def test_callees_of_a_custom_policy_registration_must_use_the_same_policy(router_factory, clients):
    r = ml.lua_router(router_factory, policy=POLICIES)
    a, b = clients(r), clients(r)
    ml.register_with_invoke(a, "com.same", lambda: "a", "least_loaded")
    for other in ("last_by_index", "roundrobin"):
        e = error_of(ml.register_with_invoke, b, "com.same", lambda: "b", other)
        assert e.error == "wamp.error.procedure_exists_with_different_invocation_policy"
    ml.register_with_invoke(b, "com.same", lambda: "b", "least_loaded")


# ---------------------------------------------------------------- more

CACHE_BY_AUTHID = """
    moonbar.authorize(function(session, action, uri)
      return {allow = session.authid ~= "mallory", cache = true}
    end)
"""


def test_cache_does_not_outlive_a_goodbye_on_the_same_connection(router_factory):
    # one transport, two sessions: the second must be asked again
    r = ml.lua_router(router_factory, policy=CACHE_BY_AUTHID)
    with raw.connect(r, "rawsocket") as conn:
        raw.join(conn, authid="alice")
        raw.subscribe(conn, "com.t")
        conn.send_json([raw.GOODBYE, {}, "wamp.close.close_realm"])
        raw.expect(conn, raw.GOODBYE)
        raw.join(conn, authid="mallory")
        got = raw.request(conn, [raw.SUBSCRIBE, None, {}, "com.t"])
        assert got[0] == raw.ERROR and got[4] == "wamp.error.not_authorized", got


def test_policy_reload_replaces_the_authorizer_and_the_invocation_policies(router_factory, clients):
    v1 = POLICIES + """
        moonbar.authorize(function(session, action, uri) return action ~= "call" or uri ~= "com.v1_denied" end)
    """
    v2 = """
        moonbar.authorize(function(session, action, uri) return action ~= "call" or uri ~= "com.v2_denied" end)
    """
    r = ml.lua_router(router_factory, policy=v1)
    callee, c = clients(r), clients(r)
    callee.register("com.v1_denied", lambda: "v1d")
    callee.register("com.v2_denied", lambda: "v2d")
    ml.register_with_invoke(callee, "com.ll", lambda: "ll", "least_loaded")
    assert c.call("com.ll") == "ll"
    assert error_of(c.call, "com.v1_denied").error == "wamp.error.not_authorized"
    assert c.call("com.v2_denied") == "v2d"
    events = c.subscribe("moonbar.script.on_reload")[1]
    r.write_file(ml.POLICY_PATH, ml.src(v2))
    assert events.wait(1)[0].kwargs == {"script": "policy.lua", "ok": True, "version": 2}
    assert c.call("com.v1_denied") == "v1d"
    assert error_of(c.call, "com.v2_denied").error == "wamp.error.not_authorized"
    e = error_of(c.call, "com.ll")
    assert e.error == "wamp.error.invalid_argument"
    assert e.args[0] == "invocation policy 'least_loaded': the policy script no longer defines it"
    # a broken version changes nothing
    r.write_file(ml.POLICY_PATH, "moonbar.authorize(function() return false end\n")
    assert events.wait(2)[1].kwargs["ok"] is False
    assert c.call("com.v1_denied") == "v1d"
