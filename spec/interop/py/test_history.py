"""Event history (docs/behaviour.md "Event history"): realms[].history rules, the meta
procedure wamp.subscription.get_events (record schema, limit, order, cursors, pattern
subscriptions, filtering by the caller's authid/authrole, publications with session lists not
stored, no history → wamp.error.history_unavailable), the ring bound, and persistence in the
store across a restart."""
import re

import pytest

import adv_pubsub as ap
import mb_raw as raw
from adv_pubsub import Peer
from mb_router import T

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def make(router_factory, rules, store=None):
    """A router with the identity policy and realm1's history rules."""
    import mb_lua as ml
    files = {ml.POLICY_PATH: ml.src(ap.IDENTITY_POLICY)}
    cfg = {"realms": [{"name": "realm1", "policy": ml.POLICY_PATH, "history": rules}]}
    if store is not None:
        cfg["store"] = store
    return router_factory(cfg, files=files)


def get_events(peer, sub_id, *args, **kwargs):
    msg = peer.call("wamp.subscription.get_events", [sub_id] + list(args), kwargs or None)
    if msg[0] == raw.RESULT:
        return msg[3][0]
    return msg


def test_get_events_record_schema_and_order(router_factory):
    r = make(router_factory, [{"uri": "com.h.", "match": "prefix", "limit": 100}])
    pub = Peer(r, "pub", "writer")
    t = "com.h.room1"
    pub.publish(t, [1])
    pub.publish(t, [2], {"k": "v"}, disclose_me=True)
    pub.publish(t)
    sub = Peer(r, "ann", "user")
    sid = sub.subscribe(t)
    got = get_events(sub, sid)
    assert [e.get("args") for e in got] == [[1], [2], None], got  # in order of occurrence
    e = got[1]
    assert set(e) == {"timestamp", "subscription", "publication", "topic", "details", "args", "kwargs"}, e
    assert ISO.match(e["timestamp"]), e
    assert e["subscription"] == sid and e["topic"] == t and e["kwargs"] == {"k": "v"}
    assert e["details"] == {"publisher": pub.id, "publisher_authid": "pub", "publisher_authrole": "writer"}
    assert got[0]["details"] == {} and "kwargs" not in got[0]
    assert got[0]["publication"] != got[1]["publication"]
    # the Crossbar form get_events(subscription, limit): the newest first
    assert [e.get("args") for e in get_events(sub, sid, 2)] == [None, [2]]
    # the spec's keyword form: in order unless reverse
    assert [e.get("args") for e in get_events(sub, sid, limit=2)] == [[1], [2]]
    assert [e.get("args") for e in get_events(sub, sid, limit=1, reverse=True)] == [None]
    # cursors by publication
    p1 = got[0]["publication"]
    assert [e.get("args") for e in get_events(sub, sid, after_publication=p1)] == [[2], None]
    assert [e.get("args") for e in get_events(sub, sid, before_publication=got[2]["publication"])] == [[1], [2]]


def test_pattern_subscription_history_holds_every_matching_topic(router_factory):
    r = make(router_factory, [{"uri": "com.h.", "match": "prefix", "limit": 100}])
    pub = Peer(r)
    for topic in ("com.h.a", "com.h.b", "com.h.a.x", "com.other"):
        pub.publish(topic, [topic])
    sub = Peer(r)
    pre = sub.subscribe("com.h.a", match="prefix")
    exact = sub.subscribe("com.h.b")
    wild = sub.subscribe("com.h..x", match="wildcard")
    got = get_events(sub, pre)
    assert [e["args"] for e in got] == [["com.h.a"], ["com.h.a.x"]]
    assert [e["details"]["topic"] for e in got] == ["com.h.a", "com.h.a.x"]
    assert [e["args"] for e in get_events(sub, exact)] == [["com.h.b"]]
    assert [e["args"] for e in get_events(sub, wild)] == [["com.h.a.x"]]
    assert [e["args"] for e in get_events(sub, pre, topic="com.h.a.x")] == [["com.h.a.x"]]


def test_no_history_for_the_subscription_and_bad_arguments(router_factory):
    r = make(router_factory, [{"uri": "com.h.only", "limit": 5}])
    sub = Peer(r)
    sid = sub.subscribe("com.h.other")
    msg = get_events(sub, sid)
    assert msg[0] == raw.ERROR and msg[4] == "wamp.error.history_unavailable", msg
    assert "no event history is kept for subscription" in msg[5][0], msg
    # a prefix rule narrower than the subscription does not cover it
    wide = sub.subscribe("com.h.", match="prefix")
    assert get_events(sub, wide)[4] == "wamp.error.history_unavailable"
    msg = get_events(sub, 12345)
    assert msg[0] == raw.ERROR and msg[4] == "wamp.error.no_such_subscription", msg
    ok = sub.subscribe("com.h.only")
    for args, kwargs, text in (([0], {}, "limit must be a positive integer"),
                               (["x"], {}, "limit must be a positive integer"),
                               ([], {"reverse": 1}, "reverse must be a boolean"),
                               ([], {"from_time": "2020"}, "option from_time is not supported"),
                               ([], {"after_publication": "x"}, "after_publication must be a publication ID")):
        msg = get_events(sub, ok, *args, **kwargs)
        assert msg[0] == raw.ERROR and msg[4] == "wamp.error.invalid_argument", msg
        assert text in msg[5][0], msg
    assert get_events(sub, ok) == []


def test_history_is_bounded_by_the_rule_limit(router_factory):
    r = make(router_factory, [{"uri": "com.h.ring", "limit": 3}])
    pub = Peer(r)
    for i in range(10):
        pub.publish("com.h.ring", [i])
    sub = Peer(r)
    sid = sub.subscribe("com.h.ring")
    assert [e["args"][0] for e in get_events(sub, sid)] == [7, 8, 9]
    assert [e["args"][0] for e in get_events(sub, sid, 100)] == [9, 8, 7]


def test_history_is_filtered_by_what_the_caller_may_see(router_factory):
    r = make(router_factory, [{"uri": "com.h.f", "limit": 50}])
    pub = Peer(r, "pub", "writer")
    t = "com.h.f"
    ann = Peer(r, "ann", "user")
    cat = Peer(r, "cat", "admin")
    pub.publish(t, ["all"])
    pub.publish(t, ["admins"], eligible_authrole=["admin"])
    pub.publish(t, ["not ann"], exclude_authid=["ann"])
    pub.publish(t, ["session list"], eligible=[ann.id, cat.id])  # not stored (the spec)
    pub.publish(t, ["session exclude"], exclude=[pub.id])        # not stored either
    sa, sc = ann.subscribe(t), cat.subscribe(t)
    assert [e["args"][0] for e in get_events(ann, sa)] == ["all"]
    assert [e["args"][0] for e in get_events(cat, sc)] == ["all", "admins", "not ann"]


def test_get_events_needs_the_right_to_subscribe(router_factory):
    import mb_lua as ml
    policy = ap.IDENTITY_POLICY + """
        moonbar.authorize(function(session, action, uri)
          if action == "subscribe" and uri == "com.h.secret" then return session.authrole == "admin" end
          return true
        end)
    """
    files = {ml.POLICY_PATH: ml.src(policy)}
    r = router_factory({"realms": [{"name": "realm1", "policy": ml.POLICY_PATH,
                                    "history": [{"uri": "com.h.secret", "limit": 5}]}]}, files=files)
    admin = Peer(r, "cat", "admin")
    sid = admin.subscribe("com.h.secret")
    admin.publish("com.h.secret", ["s"])
    user = Peer(r, "ann", "user")
    msg = get_events(user, sid)
    assert msg[0] == raw.ERROR and msg[4] == "wamp.error.not_authorized", msg
    assert [e["args"] for e in get_events(admin, sid)] == [["s"]]


def test_history_survives_a_restart_with_the_store(router_factory, tmp_path):
    store = {"path": str(tmp_path / "keep" / "moonbar.db")}
    rules = [{"uri": "com.h.keep", "limit": 4}, {"uri": "com.h.w..x", "match": "wildcard", "limit": 2}]
    r1 = make(router_factory, rules, store=store)
    pub = Peer(r1, "pub", "writer")
    for i in range(6):
        pub.publish("com.h.keep", [i], {"i": i}, disclose_me=(i == 5))
    pub.publish("com.h.keep", ["admins"], eligible_authrole=["admin"])
    pub.publish("com.h.w.a.x", ["w"])
    sub = Peer(r1, "ann", "user")
    before = get_events(sub, sub.subscribe("com.h.keep"))
    assert [e["args"][0] for e in before] == [3, 4, 5]  # "admins" hidden from a user
    pub.close()
    sub.close()
    r1.check()  # stopped cleanly: the rings were written at shutdown
    r2 = make(router_factory, rules, store=store)
    sub = Peer(r2, "ann", "user")
    after = get_events(sub, sub.subscribe("com.h.keep"))
    assert [(e["args"], e.get("kwargs"), e["publication"], e["timestamp"], e["details"]) for e in after] == \
        [(e["args"], e.get("kwargs"), e["publication"], e["timestamp"], e["details"]) for e in before]
    cat = Peer(r2, "cat", "admin")
    cat_sub = cat.subscribe("com.h.keep")
    assert [e["args"][0] for e in get_events(cat, cat_sub)] == [3, 4, 5, "admins"]
    assert [e["args"] for e in get_events(sub, sub.subscribe("com.h.w..x", match="wildcard"))] == [["w"]]
    # new events go on after the loaded ones
    p2 = Peer(r2)
    p2.publish("com.h.keep", ["new"])
    assert [e["args"][0] for e in get_events(cat, cat_sub)] == [4, 5, "admins", "new"]


def test_history_written_by_the_timer_survives_a_kill(router_factory, tmp_path):
    """Flushed once a second while running: a router killed (no shutdown) loses at most the
    last second."""
    import time
    store = {"path": str(tmp_path / "kill" / "moonbar.db")}
    rules = [{"uri": "com.h.k", "limit": 10}]
    r1 = make(router_factory, rules, store=store)
    pub = Peer(r1)
    pub.publish("com.h.k", ["early"])
    time.sleep(min(T(2.5), 7.5))  # past the once-a-second flush (and its write on the store's thread)
    r1.proc.kill()
    r1.wait(10)
    r1.checked = True
    r2 = make(router_factory, rules, store=store)
    sub = Peer(r2)
    assert [e["args"] for e in get_events(sub, sub.subscribe("com.h.k"))] == [["early"]]


@pytest.mark.parametrize("rules,message", [
    ([{"uri": "com.x", "match": "glob"}], 'match must be "exact", "prefix" or "wildcard"'),
    ([{"uri": "com.x", "limit": 0}], "limit must be between 1 and 100000"),
    ([{"match": "prefix"}], "uri is required"),
    ([{"uri": "com.x", "size": 3}], "size is not a known setting"),
    ("com.x", "history must be a list"),
])
def test_bad_history_rules_stop_the_start_with_a_message(tmp_path, rules, message):
    import mb_router
    r = mb_router.Router(tmp_path / "bad", {"realms": [{"name": "realm1", "history": rules}]})
    with pytest.raises(mb_router.RouterError) as e:
        r.start()
    assert message in str(e.value), str(e.value)
