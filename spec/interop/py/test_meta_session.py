"""Session meta API with autobahn-python: WELCOME features, wamp.session.count/list/get, the
kill procedures, wamp.session.on_join/on_leave (payload and order), and authorization of meta
calls. Every result is checked against the sessions the test itself opened and closed.

Spec: wamp-proto rfc/text/advanced/ap_session_meta_api.md; moonbar: docs/behaviour.md "Meta API".
"""
import time

import pytest

import mb_meta as mm
import mb_raw as raw
import mb_twisted as tx
from mb_router import T

TRANSPORTS = ["websocket", "rawsocket"]


# ---------------------------------------------------------------- WELCOME

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_welcome_announces_session_subscription_registration_and_testament_meta_features(
        router, transport):
    with raw.connect(router, transport) as conn:
        roles = raw.join(conn)[2]["roles"]
    broker, dealer = roles["broker"]["features"], roles["dealer"]["features"]
    assert broker.get("session_meta_api") is True, broker
    assert broker.get("subscription_meta_api") is True, broker
    assert dealer.get("session_meta_api") is True, dealer
    assert dealer.get("registration_meta_api") is True, dealer
    assert dealer.get("testament_meta_api") is True, dealer
    # the earlier features are still there
    assert broker.get("pattern_based_subscription") is True
    assert dealer.get("pattern_based_registration") is True
    assert dealer.get("shared_registration") is True


# ---------------------------------------------------------------- count / list / get

def test_session_count_and_list_follow_joins_and_leaves(router_factory, clients):
    r = router_factory()
    a = clients(r)
    assert a.call("wamp.session.count") == 1
    assert a.call("wamp.session.list") == [a.id]
    b, c = clients(r, "rawsocket"), clients(r)
    assert a.call("wamp.session.count") == 3
    assert sorted(a.call("wamp.session.list")) == mm.session_ids_of([a, b, c])
    b.leave()
    assert a.call("wamp.session.count") == 2
    assert sorted(a.call("wamp.session.list")) == mm.session_ids_of([a, c])
    c.drop()  # connection lost, no GOODBYE
    mm.wait_until(lambda: a.call("wamp.session.count") == 1, what="count 1 after a drop")
    assert a.call("wamp.session.list") == [a.id]
    d = clients(r, "rawsocket")
    assert sorted(c_.id for c_ in [a, d]) == sorted(d.call("wamp.session.list"))


def test_session_count_and_list_filter_by_authroles(router_factory, clients):
    r = router_factory()
    a, b = clients(r), clients(r, "rawsocket")
    assert a.call("wamp.session.count", ["anonymous"]) == 2
    assert sorted(a.call("wamp.session.list", ["anonymous"])) == mm.session_ids_of([a, b])
    assert a.call("wamp.session.count", ["trusted"]) == 0
    assert a.call("wamp.session.list", ["trusted"]) == []
    assert a.call("wamp.session.count", ["trusted", "anonymous"]) == 2
    assert a.call("wamp.session.count", None) == 2  # null: no filter
    e = mm.call_error(a, "wamp.session.count", "anonymous")
    assert e.error == "wamp.error.invalid_argument"
    e = mm.call_error(a, "wamp.session.list", {"authrole": "anonymous"})
    assert e.error == "wamp.error.invalid_argument"


def test_session_meta_api_sees_only_the_callers_realm(router_factory, clients):
    r = router_factory({"realms": [{"name": "realm1"}, {"name": "realm2"}]})
    a = clients(r)
    _, joins = a.subscribe("wamp.session.on_join")
    _, leaves = a.subscribe("wamp.session.on_leave")
    others = [clients(r, realm="realm2"), clients(r, "rawsocket", realm="realm2")]
    mine = clients(r)
    assert [e.args[0]["session"] for e in joins.wait(1)] == [mine.id]
    mine.leave()
    assert [e.args for e in leaves.wait(1)] == [[mine.id, mine.details.authid, "anonymous"]]
    assert a.call("wamp.session.count") == 1
    assert a.call("wamp.session.list") == [a.id]
    assert sorted(others[0].call("wamp.session.list")) == mm.session_ids_of(others)
    e = mm.call_error(a, "wamp.session.get", others[0].id)
    assert e.error == "wamp.error.no_such_session"
    e = mm.call_error(a, "wamp.session.kill", others[0].id)
    assert e.error == "wamp.error.no_such_session"
    assert others[0].call("wamp.session.count") == 2
    others[1].leave()
    a.call("wamp.session.count")
    assert len(joins) == 1 and len(leaves) == 1, "events of realm2 reached realm1"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_session_get_returns_the_sessions_details_and_transport(router, clients, transport):
    a = clients(router)
    b = clients(router, transport, authid="getme-" + transport)
    d = a.call("wamp.session.get", b.id)
    assert d == {
        "session": b.id,
        "authid": "getme-" + transport,
        "authrole": "anonymous",
        "authmethod": "anonymous",
        "authprovider": "static",
        "transport": {"type": transport, "peer": mm.local_peer(b), "tls": False, "unix": False},
    }
    # own session; a generated authid is the one WELCOME carried
    own = a.call("wamp.session.get", a.id)
    assert own["session"] == a.id and own["authid"] == a.details.authid
    assert own["transport"] == {"type": "websocket", "peer": mm.local_peer(a), "tls": False, "unix": False}


def test_session_get_of_unknown_or_departed_session_is_no_such_session(router, clients):
    a, b = clients(router), clients(router)
    gone = b.id
    b.leave()
    for sid in (gone, 1, mm.MAX_ID):
        if sid == a.id:
            continue
        e = mm.call_error(a, "wamp.session.get", sid)
        assert e.error == "wamp.error.no_such_session", (sid, e)
    for bad in ("x", 0, -5, 2 ** 53 + 1, None):
        e = mm.call_error(a, "wamp.session.get", bad)
        assert e.error == "wamp.error.invalid_argument", (bad, e)


def test_unknown_meta_procedure_is_no_such_procedure(router, clients):
    a = clients(router)
    for uri in ("wamp.session.nothing", "wamp.registration.nothing", "wamp.subscription.nothing",
                "wamp.nothing"):
        assert mm.call_error(a, uri).error == "wamp.error.no_such_procedure", uri


# ---------------------------------------------------------------- on_join / on_leave

def test_on_join_carries_the_same_details_as_session_get(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    mark = w.mark()
    a = clients(r, "rawsocket", authid="joiner")
    i = w.wait_for("wamp.session.on_join", lambda args: args[0]["session"] == a.id, since=mark)
    topic, args, kwargs = w.events()[i]
    assert len(args) == 1 and kwargs == {}
    assert args[0] == w.client.call("wamp.session.get", a.id)
    assert args[0]["authid"] == "joiner" and args[0]["transport"]["type"] == "rawsocket"


def test_on_join_and_on_leave_exact_subscribers_get_one_event_each_in_order(router_factory, clients):
    r = router_factory()
    w = clients(r)
    _, joins = w.subscribe("wamp.session.on_join")
    _, leaves = w.subscribe("wamp.session.on_leave")
    a = clients(r, authid="alice")
    b = clients(r, "rawsocket", authid="bob")
    got = joins.wait(2)
    assert [e.args[0]["session"] for e in got] == [a.id, b.id]
    assert [e.args[0]["authid"] for e in got] == ["alice", "bob"]
    b.leave()
    a.drop()
    got = leaves.wait(2)
    assert [e.args for e in got] == [[b.id, "bob", "anonymous"], [a.id, "alice", "anonymous"]]
    assert all(e.kwargs == {} for e in got)
    time.sleep(T(0.2))
    assert len(joins) == 2 and len(leaves) == 2, "one event per join/leave"


def test_meta_events_are_not_subject_to_publisher_exclusion(router_factory, clients):
    # the session whose action causes the event receives it too: the router publishes
    r = router_factory()
    a = clients(r)
    meta_sub, created = a.subscribe("wamp.subscription.on_create")
    sub, _ = a.subscribe("com.meta.self")
    first, second = created.wait(2)
    # the subscription to on_create is itself created, and a sees that too
    assert first.args[0] == a.id and first.args[1]["id"] == meta_sub.id
    assert first.args[1]["uri"] == "wamp.subscription.on_create"
    assert second.args[0] == a.id and second.args[1]["id"] == sub.id
    assert second.args[1]["uri"] == "com.meta.self"


def test_pattern_subscriptions_receive_meta_events_with_the_concrete_topic(router_factory, clients):
    r = router_factory()
    w = clients(r)
    _, session_events = mm.subscribe(w, "wamp.session.", "prefix")
    _, creates = mm.subscribe(w, "wamp..on_create", "wildcard")
    a = clients(r)
    a.subscribe("com.meta.pattern.t")
    a.register("com.meta.pattern.p", lambda: None)
    got = creates.wait(3)
    # the first is the creation of the wildcard subscription itself
    assert [(e.details.topic, e.args[1]["uri"]) for e in got] == [
        ("wamp.subscription.on_create", "wamp..on_create"),
        ("wamp.subscription.on_create", "com.meta.pattern.t"),
        ("wamp.registration.on_create", "com.meta.pattern.p")]
    a.leave()
    got = session_events.wait(2)
    assert [e.details.topic for e in got] == ["wamp.session.on_join", "wamp.session.on_leave"]
    assert got[0].args[0]["session"] == a.id and got[1].args[0] == a.id


def test_leave_by_goodbye_drop_and_transport_close_each_publish_one_on_leave(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    a, b, c = clients(r), clients(r, "rawsocket"), clients(r)
    mark = w.mark()
    a.leave()
    b.drop()
    with raw.connect(r, "websocket") as conn:
        sid = raw.join(conn)[1]
    for s in (a.id, b.id, sid):
        w.wait_leave(s, since=mark)
    c.leave()
    w.wait_leave(c.id, since=mark)
    leaves = w.of("wamp.session.on_leave", since=mark)
    assert sorted(l[0] for l in leaves) == sorted([a.id, b.id, sid, c.id]), leaves
    assert w.client.call("wamp.session.list") == [w.client.id]


def test_session_rejoining_on_the_same_transport_gets_a_new_id_and_both_events(router_factory):
    r = router_factory()
    with raw.connect(r, "websocket") as watcher, raw.connect(r, "rawsocket") as conn:
        raw.join(watcher)
        raw.subscribe(watcher, "wamp.session.on_join")
        raw.subscribe(watcher, "wamp.session.on_leave")
        first = raw.join(conn)[1]
        conn.send_json([raw.GOODBYE, {}, "wamp.close.close_realm"])
        assert raw.expect(conn, raw.GOODBYE)[2] == "wamp.close.goodbye_and_out"
        second = raw.join(conn)[1]
        assert second != first
        evs = [raw.expect(watcher, raw.EVENT) for _ in range(3)]
        assert [e[4][0] if isinstance(e[4][0], int) else e[4][0]["session"] for e in evs] == \
            [first, first, second]
        assert isinstance(evs[0][4][0], dict) and evs[1][4] == [first, evs[0][4][0]["authid"], "anonymous"]


# ---------------------------------------------------------------- kill

def goodbye_of(client, timeout=5):
    """The CloseDetails of the GOODBYE the router sent to `client`; its transport then closes."""
    details = tx.wait(client.left, timeout, "GOODBYE at the killed client")
    tx.wait(client.disconnected, timeout, "transport close at the killed client")
    return details


def test_kill_sends_goodbye_with_reason_and_message_and_the_session_leaves(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    killer, victim, bystander = clients(r), clients(r, "rawsocket"), clients(r)
    victim.subscribe("com.kill.topic")
    reg = victim.register("com.kill.proc", lambda: None)
    w.wait_for("wamp.registration.on_register", lambda x: x == [victim.id, reg.id])
    mark = w.wait_join(killer.id, victim.id, bystander.id)
    assert killer.call("wamp.session.kill", victim.id, reason="com.example.kicked",
                       message="go away") is None
    d = goodbye_of(victim)
    assert d.reason == "com.example.kicked"
    assert d.message == "go away"
    i = w.wait_leave(victim.id, since=mark)
    assert w.events()[i][1] == [victim.id, victim.details.authid, "anonymous"]
    # its subscription and registration went with it, and before its on_leave
    about = [t for t, _ in w.about(victim.id, since=mark, until=i + 1)]
    assert about == ["wamp.subscription.on_unsubscribe", "wamp.subscription.on_delete",
                     "wamp.registration.on_unregister", "wamp.registration.on_delete",
                     "wamp.session.on_leave"], about
    assert sorted(killer.call("wamp.session.list")) == mm.session_ids_of([w.client, killer, bystander])
    assert mm.call_error(killer, "wamp.session.get", victim.id).error == "wamp.error.no_such_session"
    assert mm.call_error(bystander, "com.kill.proc").error == "wamp.error.no_such_procedure"
    # the others carry on
    bystander.register("com.kill.alive", lambda: "yes")
    assert killer.call("com.kill.alive") == "yes"
    assert killer.is_connected() and bystander.is_connected()


def test_kill_without_kwargs_uses_wamp_close_normal_and_no_message(router_factory, clients):
    r = router_factory()
    killer, victim = clients(r), clients(r)
    assert killer.call("wamp.session.kill", victim.id) is None
    d = goodbye_of(victim)
    assert d.reason == "wamp.close.normal"
    assert d.message is None


def test_kill_goodbye_on_the_wire_has_message_in_details(router_factory, clients):
    r = router_factory()
    killer = clients(r)
    for transport in TRANSPORTS:
        with raw.connect(r, transport) as conn:
            sid = raw.join(conn)[1]
            killer.call("wamp.session.kill", sid, reason="com.example.wire", message="m1")
            assert raw.expect(conn, raw.GOODBYE) == [raw.GOODBYE, {"message": "m1"}, "com.example.wire"]
            conn.send_json([raw.GOODBYE, {}, "wamp.close.goodbye_and_out"])
            assert conn.wait_closed().how in ("close", "eof", "reset")
        with raw.connect(r, transport) as conn:
            sid = raw.join(conn)[1]
            killer.call("wamp.session.kill", sid)
            assert raw.expect(conn, raw.GOODBYE) == [raw.GOODBYE, {}, "wamp.close.normal"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_killed_peer_that_never_answers_goodbye_is_closed_after_about_two_seconds(
        router_factory, clients, transport):
    r = router_factory()
    killer = clients(r)
    with raw.connect(r, transport) as conn:
        sid = raw.join(conn)[1]
        killer.call("wamp.session.kill", sid, reason="com.example.bye")
        assert raw.expect(conn, raw.GOODBYE)[2] == "com.example.bye"
        t0 = time.monotonic()
        # the session left at once, before its transport closes
        assert killer.call("wamp.session.list") == [killer.id]
        closed = conn.wait_closed(timeout=6)
        took = time.monotonic() - t0
    assert closed.how in ("close", "eof", "reset")
    assert 1.5 <= took <= T(3.5), "closed %.2fs after the GOODBYE (expected ~2s)" % took


def test_kill_own_session_or_unknown_session_is_no_such_session(router_factory, clients):
    r = router_factory()
    a, b = clients(r), clients(r)
    assert mm.call_error(a, "wamp.session.kill", a.id).error == "wamp.error.no_such_session"
    gone = b.id
    b.leave()
    assert mm.call_error(a, "wamp.session.kill", gone).error == "wamp.error.no_such_session"
    assert mm.call_error(a, "wamp.session.kill", "x").error == "wamp.error.invalid_argument"
    assert a.is_connected() and a.call("wamp.session.count") == 1


@pytest.mark.parametrize("reason", ["", "not a uri", "a..b", ".a", 42, ["com.x"], "com.#x"])
def test_kill_with_an_invalid_reason_is_invalid_uri_and_kills_nobody(router_factory, clients, reason):
    r = router_factory()
    a, b = clients(r), clients(r)
    for proc, arg in (("wamp.session.kill", [b.id]), ("wamp.session.kill_by_authid", [b.details.authid]),
                      ("wamp.session.kill_by_authrole", ["anonymous"]), ("wamp.session.kill_all", [])):
        e = mm.call_error(a, proc, *arg, reason=reason)
        assert e.error == "wamp.error.invalid_uri", (proc, e)
    assert sorted(a.call("wamp.session.list")) == mm.session_ids_of([a, b])
    assert b.is_connected()


def test_kill_by_authid_kills_every_session_with_it_but_the_caller_and_returns_the_count(
        router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    caller = clients(r, authid="bob")
    bobs = [clients(r, authid="bob"), clients(r, "rawsocket", authid="bob")]
    carol = clients(r, authid="carol")
    mark = w.mark()
    n = caller.call("wamp.session.kill_by_authid", "bob", reason="com.example.bobs", message="all bobs")
    assert n == 2
    for b in bobs:
        d = goodbye_of(b)
        assert (d.reason, d.message) == ("com.example.bobs", "all bobs")
        w.wait_leave(b.id, since=mark)
    assert sorted(carol.call("wamp.session.list")) == mm.session_ids_of([w.client, caller, carol])
    assert caller.call("wamp.session.kill_by_authid", "bob") == 0  # only the caller is left
    assert caller.call("wamp.session.kill_by_authid", "nobody") == 0
    assert mm.call_error(caller, "wamp.session.kill_by_authid").error == "wamp.error.invalid_argument"
    assert mm.call_error(caller, "wamp.session.kill_by_authid", 5).error == "wamp.error.invalid_argument"
    assert caller.is_connected() and carol.is_connected()
    assert sorted(l[0] for l in w.of("wamp.session.on_leave", since=mark)) == mm.session_ids_of(bobs)


def test_kill_by_authrole_kills_every_other_session_with_the_role(router_factory, clients):
    r = router_factory()
    caller = clients(r)
    others = [clients(r), clients(r, "rawsocket"), clients(r)]
    assert caller.call("wamp.session.kill_by_authrole", "nobody") == 0
    assert caller.call("wamp.session.kill_by_authrole", "anonymous", message="role gone") == len(others)
    for o in others:
        d = goodbye_of(o)
        assert (d.reason, d.message) == ("wamp.close.normal", "role gone")
    assert caller.call("wamp.session.list") == [caller.id]
    assert mm.call_error(caller, "wamp.session.kill_by_authrole", None).error == "wamp.error.invalid_argument"


def test_kill_all_kills_every_other_session_of_the_realm_only(router_factory, clients):
    r = router_factory({"realms": [{"name": "realm1"}, {"name": "realm2"}]})
    caller = clients(r)
    many = [clients(r, "rawsocket" if i % 2 else "websocket") for i in range(12)]
    elsewhere = clients(r, realm="realm2")
    # Not checked here: on_leave/testament events of the killed sessions. The spec's kill_all
    # text says it generates none ("since no subscribers would remain"), yet the caller remains;
    # moonbar publishes them like any leave.
    assert caller.call("wamp.session.kill_all", reason="com.example.all") == len(many)
    for c in many:
        assert goodbye_of(c).reason == "com.example.all"
    assert caller.call("wamp.session.list") == [caller.id]
    assert caller.call("wamp.session.kill_all") == 0
    assert elsewhere.is_connected() and elsewhere.call("wamp.session.count") == 1


def test_killed_callee_fails_pending_calls_with_canceled(router_factory, clients):
    r = router_factory()
    caller, callee = clients(r), clients(r, "rawsocket")
    started = tx.Sink()

    def slow():
        d = tx.defer.Deferred()
        started.add(d)
        return d

    callee.register("com.kill.slow", slow)
    fut = caller.call_async("com.kill.slow")
    started.wait(1)
    caller.call("wamp.session.kill", callee.id)
    with pytest.raises(tx.ApplicationError) as ei:
        tx.wait(fut, 3, "the pending call")
    assert ei.value.error == "wamp.error.canceled"
    goodbye_of(callee)


# ---------------------------------------------------------------- authorization

POLICY = """
    moonbar.authorize(function(session, action, uri, options)
      if session.authid == "mallory" and action == "call" and uri:sub(1, 13) == "wamp.session." then
        return false
      end
      if action == "subscribe" and uri == "wamp.session.on_join" and session.authid == "mallory" then
        return false
      end
      return true
    end)
"""


def test_meta_procedures_and_events_are_authorized_like_any_call_and_subscribe(router_factory, clients):
    r = mm.meta_router(router_factory, policy=POLICY)
    alice, mallory = clients(r, authid="alice"), clients(r, authid="mallory")
    for proc, args in (("wamp.session.count", []), ("wamp.session.list", []),
                       ("wamp.session.get", [alice.id]), ("wamp.session.kill", [alice.id]),
                       ("wamp.session.kill_all", [])):
        e = mm.call_error(mallory, proc, *args)
        assert e.error == "wamp.error.not_authorized", (proc, e)
    e = mm.error_of(mallory.subscribe, "wamp.session.on_join")
    assert e.error == "wamp.error.not_authorized"
    assert alice.is_connected()
    # the policy's own in-router session joined too; alice is allowed
    ids = alice.call("wamp.session.list", ["anonymous"])
    assert sorted(ids) == mm.session_ids_of([alice, mallory])
    assert mallory.call("wamp.registration.count_callees",
                        mallory.call("wamp.registration.lookup", "moonbar.reload")) == 1
    alice.call("wamp.session.kill", mallory.id)
    assert goodbye_of(mallory).reason == "wamp.close.normal"
