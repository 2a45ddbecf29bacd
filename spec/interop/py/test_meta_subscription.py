"""Subscription meta API with autobahn-python: wamp.subscription.list/lookup/match/get/
list_subscribers/count_subscribers/remove_subscriber and the on_create/on_subscribe/
on_unsubscribe/on_delete events, checked against which subscriptions really receive a
publication after a scripted sequence of subscribes, unsubscribes and leaves.

Spec: wamp-proto rfc/text/advanced/ap_pubsub_subscription_meta_api.md; moonbar: docs/behaviour.md.
"""
import time

import mb_meta as mm
import mb_raw as raw
from mb_router import T

EMPTY = mm.EMPTY_LISTS
created_ok = mm.created_ok


def test_subscription_events_follow_a_scripted_lifecycle_in_order(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    a, b = clients(r), clients(r, "rawsocket")
    m0 = w.wait_join(a.id, b.id)
    sa, _ = a.subscribe("com.sub.ev.t")
    w.wait_for("wamp.subscription.on_subscribe", lambda x: x == [a.id, sa.id], since=m0)
    ev = w.events(m0)
    assert [t for t, _, _ in ev] == ["wamp.subscription.on_create", "wamp.subscription.on_subscribe"]
    create = ev[0][1]
    assert create[0] == a.id and ev[0][2] == {}
    assert create[1] == {"id": sa.id, "created": create[1]["created"], "uri": "com.sub.ev.t",
                         "match": "exact"}
    assert created_ok(create[1]["created"])
    assert b.call("wamp.subscription.get", sa.id) == create[1]

    m1 = w.mark()
    sb, _ = b.subscribe("com.sub.ev.t")
    assert sb.id == sa.id
    pre, _ = mm.subscribe(b, "com.sub.", "prefix")
    wild, _ = mm.subscribe(a, "com..t", "wildcard")
    w.wait_for("wamp.subscription.on_subscribe", lambda x: x == [a.id, wild.id], since=m1)
    got = [(t, x) for t, x, _ in w.events(m1)]
    assert [t for t, _ in got] == ["wamp.subscription.on_subscribe",
                                   "wamp.subscription.on_create", "wamp.subscription.on_subscribe",
                                   "wamp.subscription.on_create", "wamp.subscription.on_subscribe"]
    assert got[0][1] == [b.id, sa.id]
    assert (got[1][1][0], got[1][1][1]["uri"], got[1][1][1]["match"]) == (b.id, "com.sub.", "prefix")
    assert (got[3][1][0], got[3][1][1]["uri"], got[3][1][1]["match"]) == (a.id, "com..t", "wildcard")
    assert set(got[3][1][1]) == {"id", "created", "uri", "match"}

    # b unsubscribes the shared one: on_unsubscribe only
    m2 = w.mark()
    b.unsubscribe(sb)
    w.wait_for("wamp.subscription.on_unsubscribe", lambda x: x == [b.id, sa.id], since=m2)
    time.sleep(T(0.1))
    assert [(t, x) for t, x, _ in w.events(m2)] == [("wamp.subscription.on_unsubscribe", [b.id, sa.id])]
    assert b.call("wamp.subscription.list_subscribers", sa.id) == [a.id]

    # b leaves: its prefix subscription goes (unsubscribe, delete), then its on_leave
    m3 = w.mark()
    b.leave()
    end = w.wait_leave(b.id, since=m3)
    assert [(t, x) for t, x in w.about(b.id, since=m3, until=end + 1)] == [
        ("wamp.subscription.on_unsubscribe", [b.id, pre.id]),
        ("wamp.subscription.on_delete", [b.id, pre.id]),
        ("wamp.session.on_leave", [b.id, b.details.authid, "anonymous"])]

    # a drops its connection: both of its subscriptions go before its on_leave
    m4 = w.mark()
    a.drop()
    end = w.wait_leave(a.id, since=m4)
    got = w.about(a.id, since=m4, until=end + 1)
    assert got[-1][0] == "wamp.session.on_leave" and len(got) == 5, got
    for sid in (sa.id, wild.id):
        k = got.index(("wamp.subscription.on_unsubscribe", [a.id, sid]))
        assert got[k + 1] == ("wamp.subscription.on_delete", [a.id, sid]), got
    got = w.client.call("wamp.subscription.list")
    assert got == {"exact": [], "prefix": [w.subscription_id], "wildcard": []}


def test_repeated_subscribe_by_the_same_session_fires_no_second_on_subscribe(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    with raw.connect(r, "rawsocket") as conn:
        sid = raw.join(conn)[1]
        mark = w.wait_join(sid)
        s1 = raw.subscribe(conn, "com.sub.twice")
        s2 = raw.subscribe(conn, "com.sub.twice")
        assert s1 == s2
        w.wait_for("wamp.subscription.on_subscribe", lambda x: x == [sid, s1], since=mark)
        w.client.publish("com.sub.marker")  # a round trip through the router
        time.sleep(T(0.1))
        assert [t for t, _, _ in w.events(mark)] == ["wamp.subscription.on_create",
                                                     "wamp.subscription.on_subscribe"]
        assert w.client.call("wamp.subscription.count_subscribers", s1) == 1


def test_subscription_list_lookup_get_and_counts(router_factory, clients):
    r = router_factory()
    a, b, c = clients(r), clients(r, "rawsocket"), clients(r)
    assert a.call("wamp.subscription.list") == EMPTY
    e1, _ = a.subscribe("com.sl.e")
    b.subscribe("com.sl.e")
    p1, _ = mm.subscribe(b, "com.sl.", "prefix")
    w1, _ = mm.subscribe(c, "com..e", "wildcard")
    got = c.call("wamp.subscription.list")
    assert got == {"exact": [e1.id], "prefix": [p1.id], "wildcard": [w1.id]}
    assert c.call("wamp.subscription.lookup", "com.sl.e") == e1.id
    assert c.call("wamp.subscription.lookup", "com.sl.", {"match": "prefix"}) == p1.id
    assert c.call("wamp.subscription.lookup", "com..e", {"match": "wildcard"}) == w1.id
    assert c.call("wamp.subscription.lookup", "com.sl.e", {"match": "prefix"}) is None
    assert c.call("wamp.subscription.lookup", "com.sl.nothing") is None
    assert mm.call_error(c, "wamp.subscription.lookup", "com.sl.e", {"match": "x"}).error == \
        "wamp.error.invalid_argument"
    assert mm.call_error(c, "wamp.subscription.lookup").error == "wamp.error.invalid_argument"
    for sub, uri, match in ((e1, "com.sl.e", "exact"), (p1, "com.sl.", "prefix"), (w1, "com..e", "wildcard")):
        d = a.call("wamp.subscription.get", sub.id)
        assert set(d) == {"id", "created", "uri", "match"}, d
        assert (d["id"], d["uri"], d["match"]) == (sub.id, uri, match)
        assert created_ok(d["created"])
    assert sorted(c.call("wamp.subscription.list_subscribers", e1.id)) == mm.session_ids_of([a, b])
    assert c.call("wamp.subscription.count_subscribers", e1.id) == 2
    assert c.call("wamp.subscription.list_subscribers", p1.id) == [b.id]
    b.leave()
    assert c.call("wamp.subscription.list_subscribers", e1.id) == [a.id]
    assert c.call("wamp.subscription.count_subscribers", e1.id) == 1
    for proc in ("wamp.subscription.get", "wamp.subscription.list_subscribers",
                 "wamp.subscription.count_subscribers"):
        assert mm.call_error(c, proc, p1.id).error == "wamp.error.no_such_subscription", proc
        assert mm.call_error(c, proc, "x").error == "wamp.error.invalid_argument", proc
    assert c.call("wamp.subscription.list") == {"exact": [e1.id], "prefix": [], "wildcard": [w1.id]}


def test_subscription_match_lists_exactly_the_subscriptions_an_event_reaches(router_factory, clients):
    r = router_factory()
    sub, pub = clients(r, "rawsocket"), clients(r)
    sinks = {}
    for uri, match in (("com.sm.a.b", None), ("com.sm.a", "prefix"), ("com.sm.", "prefix"),
                       ("com.sm..b", "wildcard"), ("..b", "wildcard"), ("com.sm.a.b", "prefix")):
        s, sink = mm.subscribe(sub, uri, match)
        sinks[s.id] = sink
    for i, topic in enumerate(("com.sm.a.b", "com.sm.a.x", "com.sm.q.b", "x.y.b", "com.sm.a",
                               "com.sm.ab", "com.sm.a.b.c", "org.none", "com.sm")):
        before = {k: len(v) for k, v in sinks.items()}
        pub.publish(topic, i)
        pub.call("wamp.session.count")  # the events are out before the answer to a later call
        sub.call("wamp.session.count")
        reached = sorted(k for k, v in sinks.items() if len(v) > before[k])
        ids = pub.call("wamp.subscription.match", topic)
        if not reached:
            assert ids is None, (topic, ids)
        else:
            assert isinstance(ids, list) and sorted(ids) == reached, (topic, ids, reached)
    assert mm.call_error(pub, "wamp.subscription.match").error == "wamp.error.invalid_argument"


def test_subscription_match_of_a_meta_topic_includes_meta_subscribers(router_factory, clients):
    r = router_factory()
    a = clients(r)
    assert a.call("wamp.subscription.match", "wamp.session.on_join") is None
    s1, _ = a.subscribe("wamp.session.on_join")
    s2, _ = mm.subscribe(a, "wamp.", "prefix")
    assert sorted(a.call("wamp.subscription.match", "wamp.session.on_join")) == sorted([s1.id, s2.id])
    assert a.call("wamp.subscription.match", "wamp.session.on_leave") == [s2.id]


# ---------------------------------------------------------------- remove_subscriber

def test_remove_subscriber_stops_its_events_and_leaves_the_others(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    # autobahn-python 22.7 announces subscription_revocation but takes the router's
    # UNSUBSCRIBED(0) for a protocol error: these two announce without it (revocation itself
    # is tested in test_revocation.py and with autobahn-js)
    quiet = {"subscriber": {"subscription_revocation": False}}
    gone, kept, pub = clients(r, features=quiet), clients(r, "rawsocket", features=quiet), clients(r)
    s, gone_events = gone.subscribe("com.rs.t")
    _, kept_events = kept.subscribe("com.rs.t")
    pub.publish("com.rs.t", 1)
    gone_events.wait(1)
    kept_events.wait(1)
    mark = w.wait_join(gone.id, kept.id, pub.id)
    assert pub.call("wamp.subscription.remove_subscriber", s.id, gone.id) is None
    w.wait_for("wamp.subscription.on_unsubscribe", lambda x: x == [gone.id, s.id], since=mark)
    assert pub.call("wamp.subscription.list_subscribers", s.id) == [kept.id]
    pub.publish("com.rs.t", 2)
    assert [e.args for e in kept_events.wait(2)] == [[1], [2]]
    gone.call("wamp.session.count")
    time.sleep(T(0.1))
    assert [e.args for e in gone_events.snapshot()] == [[1]], "removed subscriber still got events"
    assert not w.of("wamp.subscription.on_delete", since=mark)
    # the last one: unsubscribe + delete, and nobody gets events any more
    mark = w.mark()
    pub.call("wamp.subscription.remove_subscriber", s.id, kept.id)
    w.wait_for("wamp.subscription.on_delete", lambda x: x == [kept.id, s.id], since=mark)
    assert [(t, x) for t, x, _ in w.events(mark)] == [
        ("wamp.subscription.on_unsubscribe", [kept.id, s.id]),
        ("wamp.subscription.on_delete", [kept.id, s.id])]
    assert pub.call("wamp.subscription.lookup", "com.rs.t") is None
    assert pub.call("wamp.subscription.match", "com.rs.t") is None
    pub.publish("com.rs.t", 3)
    kept.call("wamp.session.count")
    time.sleep(T(0.1))
    assert len(kept_events) == 2
    assert gone.is_connected() and kept.is_connected()


def test_remove_subscriber_errors(router_factory, clients):
    r = router_factory()
    a, b = clients(r), clients(r)
    s, _ = a.subscribe("com.rs.err")
    assert mm.call_error(b, "wamp.subscription.remove_subscriber", s.id, b.id).error == \
        "wamp.error.no_such_session"
    assert mm.call_error(b, "wamp.subscription.remove_subscriber", s.id, 1).error == \
        "wamp.error.no_such_session"
    assert mm.call_error(b, "wamp.subscription.remove_subscriber", 1, a.id).error == \
        "wamp.error.no_such_subscription"
    assert mm.call_error(b, "wamp.subscription.remove_subscriber", s.id).error == \
        "wamp.error.invalid_argument"
    assert b.call("wamp.subscription.list_subscribers", s.id) == [a.id]
