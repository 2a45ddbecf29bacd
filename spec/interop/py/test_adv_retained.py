"""Event retention (docs/behaviour.md "Event retention"): PUBLISH.Options.retain keeps the
topic's last retained event; SUBSCRIBE.Options.get_retained delivers it right after
SUBSCRIBED with Details.retained, only to a subscriber that would have received it; pattern
subscriptions get every matching retained topic; the bound limits.max_retained_topics."""
import pytest
from autobahn.wamp.types import SubscribeOptions

import adv_pubsub as ap
import mb_lua as ml
import mb_raw as raw
import mb_twisted as tw
from adv_pubsub import Peer, args_of, marker


@pytest.fixture
def ident(router_factory):
    return ap.identity_router(router_factory)


def test_get_retained_delivers_the_last_retained_event_right_after_subscribed(router):
    t = ap.topic("ret")
    pub = Peer(router)
    pub.publish(t, ["first"], retain=True)
    pub.publish(t, ["second"], {"k": 2}, retain=True)  # replaces the first
    pub.publish(t, ["not retained"])                    # leaves the retained one alone
    sub = Peer(router)
    req = sub.conn.next_id()
    sub.conn.send_json([raw.SUBSCRIBE, req, {"get_retained": True}, t])
    got = sub.conn.recv_json()
    assert got[0] == raw.SUBSCRIBED and got[1] == req, got
    ev = sub.conn.recv_json()
    assert ev[0] == raw.EVENT and ev[1] == got[2], ev
    assert ev[3] == {"retained": True} and ev[4:] == [["second"], {"k": 2}], ev
    # without get_retained: nothing
    other = Peer(router)
    other.subscribe(t)
    marker(pub, t)
    assert other.events_until_marker() == []
    assert sub.events_until_marker() == []


def test_retained_event_without_payload_is_kept_and_replaces(router):
    t = ap.topic("empty")
    pub = Peer(router)
    pub.publish(t, ["x"], retain=True)
    pub.publish(t, retain=True)  # no payload: still an event, it replaces (not a clear)
    sub = Peer(router)
    sub.subscribe(t, get_retained=True)
    ev = raw.expect(sub.conn, raw.EVENT)
    assert ev[3] == {"retained": True} and len(ev) == 4, ev


def test_retained_event_goes_only_to_eligible_subscribers(ident):
    t = ap.topic("elig")
    pub = Peer(ident, "pub", "writer")
    pub.subscribe(t)
    pub.publish(t, ["admins, not dan"], retain=True, eligible_authrole=["admin"], exclude_authid=["dan"],
                exclude_me=False)
    assert pub.pending == []  # a writer: not eligible to the live one either
    results = {}
    for authid, role in (("ann", "user"), ("cat", "admin"), ("dan", "admin")):
        p = Peer(ident, authid, role)
        p.subscribe(t, get_retained=True)
        results[authid] = p
    marker(pub, t)
    assert args_of(results["ann"].events_until_marker()) == []
    cat = results["cat"].events_until_marker()
    assert args_of(cat) == ["admins, not dan"] and cat[0][3]["retained"] is True
    assert args_of(results["dan"].events_until_marker()) == []


def test_retained_event_keeps_exclude_me_and_session_lists(ident):
    t = ap.topic("me")
    pub = Peer(ident, "pub", "writer")
    a = Peer(ident, "ann", "user")
    b = Peer(ident, "bob", "user")
    pub.publish(t, ["for a"], retain=True, eligible=[a.id, pub.id])
    # the publisher itself (exclude_me by default) does not get it back, a does, b does not
    for p in (pub, a, b):
        p.subscribe(t, get_retained=True)
    marker(pub, t)
    assert args_of(pub.events_until_marker()) == []
    assert args_of(a.events_until_marker()) == ["for a"]
    assert args_of(b.events_until_marker()) == []


def test_pattern_subscriptions_get_every_matching_retained_topic(router):
    base = ap.topic("pat")
    pub = Peer(router)
    for name in ("a", "b", "c.d"):
        pub.publish(base + "." + name, [name], retain=True)
    pub.publish(base + "x.a", ["other"], retain=True)
    sub = Peer(router)
    sub.subscribe(base + ".", match="prefix", get_retained=True)
    got = sorted((e[3]["topic"], e[4][0], e[3]["retained"]) for e in
                 [raw.expect(sub.conn, raw.EVENT) for _ in range(3)])
    assert got == [(base + ".a", "a", True), (base + ".b", "b", True), (base + ".c.d", "c.d", True)]
    w = Peer(router)
    w.subscribe(base + "..d", match="wildcard", get_retained=True)
    ev = raw.expect(w.conn, raw.EVENT)
    assert ev[3] == {"topic": base + ".c.d", "retained": True} and ev[4] == ["c.d"], ev
    marker(pub, base + ".a")
    assert sub.events_until_marker() == []


def test_retained_event_carries_disclosure(router):
    t = ap.topic("disc")
    pub = Peer(router)
    pub.publish(t, ["who"], retain=True, disclose_me=True)
    sub = Peer(router)
    sub.subscribe(t, get_retained=True)
    ev = raw.expect(sub.conn, raw.EVENT)
    assert ev[3] == {"publisher": pub.id, "publisher_authid": pub.authid, "publisher_authrole": pub.authrole,
                     "retained": True}, ev


def test_retained_topics_are_bounded_per_realm(router_factory):
    r = router_factory({"limits": {"max_retained_topics": 2}})
    pub = Peer(r)
    base = ap.topic("bound")
    for i in range(4):
        assert pub.publish("%s.t%d" % (base, i), [i], retain=True)[0] == raw.PUBLISHED
    pub.publish(base + ".t1", ["replaced"], retain=True)  # a kept topic can still be replaced
    r.wait_for_log(r"retained event on %s\.t2 not kept: limits\.max_retained_topics \(2\) reached" % base)
    sub = Peer(r)
    sub.subscribe(base + ".", match="prefix", get_retained=True)
    got = sorted((str(e[4][0]) for e in [raw.expect(sub.conn, raw.EVENT) for _ in range(2)]))
    assert got == ["0", "replaced"], got
    marker(pub, base + ".t0")
    assert args_of(sub.events_until_marker()) == []


def test_autobahn_subscriber_gets_the_retained_event(router, clients):
    t = ap.topic("ab")
    pub = Peer(router)
    pub.publish(t, ["kept"], {"v": 1}, retain=True)
    c = clients(router)
    sink = tw.Sink()

    def handler(*a, **kw):
        d = kw.pop("_d")
        sink.add((list(a), kw, d.retained))

    tw.in_reactor(c.session.subscribe, handler, t, options=SubscribeOptions(get_retained=True, details_arg="_d"))
    pub.publish(t, ["live"])
    got = sink.wait(2)
    assert got == [(["kept"], {"v": 1}, True), (["live"], {}, None)], got


def test_lua_publisher_retains_with_disclosure(router_factory, clients):
    app = """
        moonbar.register("app.pub", function(args)
          moonbar.publish(args[1], {"from lua"}, {n = 1}, {retain = true, disclose_me = true})
          return true
        end)
    """
    r = ml.lua_router(router_factory, apps={"app.lua": app})
    t = ap.topic("lua")
    c = clients(r)
    assert c.call("app.pub", t) is True
    sub = Peer(r)
    sub.subscribe(t, get_retained=True)
    ev = raw.expect(sub.conn, raw.EVENT)
    assert ev[4:] == [["from lua"], {"n": 1}], ev
    assert ev[3]["retained"] is True and isinstance(ev[3]["publisher"], int), ev
