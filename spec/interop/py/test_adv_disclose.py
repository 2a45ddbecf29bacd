"""Caller identification decided by the realm's authorizer (a Lua policy script returning
{allow = true, disclose = true|false}): disclose = true names the caller in the INVOCATION
whatever the CALL asked; disclose = false answers a CALL with disclose_me by
wamp.error.option_disallowed.disclose_me (a registration's disclose_caller still holds); a cached
decision keeps its disclose. The pub/sub side is in
test_adv_pubsub.py.

Spec: wamp-proto rfc/text/advanced/ap_rpc_caller_identification.md; moonbar: docs/lua-api.md
"moonbar.authorize", docs/behaviour.md "Advanced Profile".
"""
import mb_lua as ml
import mb_raw as raw

POLICY = """
    moonbar.authenticate(function(realm, authid, details)
      if details.authmethod == "ticket" then return {authid = authid, authrole = details.ticket} end
      return {authrole = "anonymous"}
    end)
    asked = 0
    moonbar.register("test.asked", function() return asked end)
    moonbar.authorize(function(session, action, uri)
      if action ~= "call" then return true end
      asked = asked + 1
      if uri:find("forced", 1, true) then return {allow = true, disclose = true, cache = uri:find("cached", 1, true) ~= nil} end
      if uri:find("refused", 1, true) then return {allow = true, disclose = false, cache = uri:find("cached", 1, true) ~= nil} end
      return true
    end)
"""

CALLER_DETAILS = ("caller", "caller_authid", "caller_authrole")


def ticket_session(router, authid, authrole, transport="rawsocket"):
    conn = raw.connect(router, transport)
    conn.send_json([raw.HELLO, "realm1", {"roles": raw.ROLES, "authid": authid, "authmethods": ["ticket"]}])
    msg = conn.recv_json()
    assert msg[0] == 4, msg  # CHALLENGE
    conn.send_json([5, authrole, {}])
    msg = raw.expect(conn, raw.WELCOME)
    return conn, msg[1]


def invoked(callee_conn, caller_conn, procedure, options, answer=True):
    """CALL from caller_conn; returns the INVOCATION's Details the callee got (and answers it)."""
    req = caller_conn.next_id()
    caller_conn.send_json([raw.CALL, req, options, procedure, [1]])
    inv = raw.expect(callee_conn, raw.INVOCATION)
    callee_conn.send_json([raw.YIELD, inv[1], {}, ["ok"]])
    res = raw.expect(caller_conn, raw.RESULT)
    assert res[1] == req and res[3] == ["ok"], res
    return inv[3]


def router_with(router_factory):
    return ml.lua_router(router_factory, policy=POLICY)


def test_disclose_true_names_the_caller_although_it_did_not_ask(router_factory):
    r = router_with(router_factory)
    callee, _ = ticket_session(r, "svc", "service")
    caller, caller_id = ticket_session(r, "ann", "user", "websocket")
    with callee, caller:
        raw.register(callee, "com.d.forced.p")
        d = invoked(callee, caller, "com.d.forced.p", {})
        assert {k: d[k] for k in CALLER_DETAILS} == {"caller": caller_id, "caller_authid": "ann",
                                                     "caller_authrole": "user"}, d
        d = invoked(callee, caller, "com.d.forced.p", {"disclose_me": True})
        assert d["caller"] == caller_id


def test_disclose_false_refuses_disclose_me_with_the_spec_error(router_factory):
    r = router_with(router_factory)
    callee, _ = ticket_session(r, "svc", "service")
    caller, _ = ticket_session(r, "ann", "user")
    with callee, caller:
        raw.register(callee, "com.d.refused.p")
        caller.send_json([raw.CALL, 7, {"disclose_me": True}, "com.d.refused.p", [1]])
        err = raw.expect(caller, raw.ERROR)
        assert err[1:3] == [raw.CALL, 7] and err[4] == "wamp.error.option_disallowed.disclose_me", err
        assert err[5] and "disclose" in err[5][0], err
        # without disclose_me the call goes through, anonymous
        d = invoked(callee, caller, "com.d.refused.p", {})
        assert not set(CALLER_DETAILS) & set(d), d


def test_disclose_false_leaves_a_callee_s_disclose_caller_alone(router_factory):
    """disclose = false refuses the caller's own disclose_me; a registration's disclose_caller
    was granted to the callee when it registered (the room service keys seats by it)."""
    r = router_with(router_factory)
    callee, _ = ticket_session(r, "svc", "service")
    caller, caller_id = ticket_session(r, "ann", "user")
    with callee, caller:
        raw.register(callee, "com.d.refused.q", {"disclose_caller": True})
        assert invoked(callee, caller, "com.d.refused.q", {})["caller"] == caller_id
        caller.send_json([raw.CALL, 8, {"disclose_me": True}, "com.d.refused.q", []])
        assert raw.expect(caller, raw.ERROR)[4] == "wamp.error.option_disallowed.disclose_me"


def test_a_cached_decision_keeps_its_disclose(router_factory):
    r = router_with(router_factory)
    callee, _ = ticket_session(r, "svc", "service")
    caller, caller_id = ticket_session(r, "ann", "user")
    with callee, caller:
        raw.register(callee, "com.d.forced.cached")
        raw.register(callee, "com.d.refused.cached")
        for _ in range(3):
            assert invoked(callee, caller, "com.d.forced.cached", {})["caller"] == caller_id
            caller.send_json([raw.CALL, 9, {"disclose_me": True}, "com.d.refused.cached", []])
            assert raw.expect(caller, raw.ERROR)[4] == "wamp.error.option_disallowed.disclose_me"
        caller.send_json([raw.CALL, 10, {}, "test.asked"])
        res = raw.expect(caller, raw.RESULT)
        assert res[3] == [2 + 1], res  # one decision per URI, then the cache (test.asked itself is asked once)


def test_without_a_disclose_key_the_request_decides(router_factory):
    r = router_with(router_factory)
    callee, _ = ticket_session(r, "svc", "service")
    caller, caller_id = ticket_session(r, "ann", "user")
    with callee, caller:
        raw.register(callee, "com.d.plain.p")
        assert not set(CALLER_DETAILS) & set(invoked(callee, caller, "com.d.plain.p", {}))
        assert invoked(callee, caller, "com.d.plain.p", {"disclose_me": True})["caller"] == caller_id
