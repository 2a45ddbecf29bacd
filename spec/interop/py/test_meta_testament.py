"""Testaments (wamp.session.add_testament / flush_testaments) with autobahn-python: published
when the session leaves by GOODBYE, by a lost connection (a client process killed with
SIGKILL), by wamp.session.kill; detached before destroyed, each in the order added; flushed
testaments are never published.

Spec: wamp-proto rfc/text/advanced/ap_pubsub_testament.md; moonbar: docs/behaviour.md.
"""
import signal
import time

import pytest

import mb_meta as mm
import mb_twisted as tx
from mb_meta import peers  # noqa: F401 - fixture
from mb_router import T


def add(client, topic, args=None, kwargs=None, **kw):
    return client.call("wamp.session.add_testament", topic, args if args is not None else [],
                       kwargs if kwargs is not None else {}, **kw)


def leave_then_events(w, sink, leaver, how="leave"):
    """Make `leaver` leave (how: leave, drop), wait for its on_leave at the watch; returns the
    testament events the sink got by then (testaments come before the on_leave)."""
    mark = w.mark()
    getattr(leaver, how)()
    w.wait_leave(leaver.id, since=mark)
    w.client.call("wamp.session.count")
    return [(e.args, e.kwargs) for e in sink.snapshot()]


def test_add_testament_returns_nothing_and_goodbye_publishes_it(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = w.client.subscribe("com.will.t")
    a = clients(r)
    assert add(a, "com.will.t", ["seeya", 1], {"my_name": "app1"}) is None
    a.call("wamp.session.count")
    assert len(got) == 0, "published before the session left"
    events = leave_then_events(w, got, a)
    assert events == [(["seeya", 1], {"my_name": "app1"})]


def test_testaments_come_detached_first_then_destroyed_each_in_the_order_added(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = mm.subscribe(w.client, "com.will.order.", "prefix")
    a = clients(r, "rawsocket")
    add(a, "com.will.order.x", ["destroyed-1"])
    add(a, "com.will.order.y", ["detached-1"], scope="detached")
    add(a, "com.will.order.x", ["destroyed-2"], scope="destroyed")
    add(a, "com.will.order.z", ["detached-2"], {"k": 2}, scope="detached")
    add(a, "com.will.order.y", ["destroyed-3"])
    mark = w.mark()
    a.leave()
    end = w.wait_leave(a.id, since=mark)
    evs = got.snapshot()
    assert [(e.args[0], e.details.topic) for e in evs] == [
        ("detached-1", "com.will.order.y"), ("detached-2", "com.will.order.z"),
        ("destroyed-1", "com.will.order.x"), ("destroyed-2", "com.will.order.x"),
        ("destroyed-3", "com.will.order.y")]
    assert evs[1].kwargs == {"k": 2}
    # the session's on_leave comes after its testaments
    assert end >= mark


def test_testaments_are_published_when_the_connection_drops(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = w.client.subscribe("com.will.drop")
    a = clients(r)
    add(a, "com.will.drop", ["dropped"], scope="detached")
    add(a, "com.will.drop", [], {"only": "kwargs"})
    assert leave_then_events(w, got, a, "drop") == [(["dropped"], {}), ([], {"only": "kwargs"})]


def test_testaments_are_published_when_the_session_is_killed(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = w.client.subscribe("com.will.killed")
    a = clients(r)
    add(a, "com.will.killed", ["killed"])
    mark = w.mark()
    w.client.call("wamp.session.kill", a.id, reason="com.example.kill")
    # published at once (the session left), before its on_leave
    assert [e.args for e in got.wait(1)] == [["killed"]]
    w.wait_leave(a.id, since=mark)
    tx.wait(a.left, 5, "GOODBYE")


@pytest.mark.parametrize("mode,transport", [("autobahn", "websocket"), ("raw", "rawsocket")])
def test_testament_of_a_client_killed_with_sigkill_is_published_promptly(
        router_factory, clients, peers, mode, transport):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = w.client.subscribe("com.will.sigkill")
    p = peers(r, mode, transport, register=["com.will.sigkill.proc"],
              testaments=[{"topic": "com.will.sigkill", "args": ["gone", mode], "kwargs": {"pid": 1}},
                          {"topic": "com.will.sigkill", "args": ["detached"], "scope": "detached"}])
    rid = p.ready["registrations"]["com.will.sigkill.proc"]
    w.wait_for("wamp.registration.on_register", lambda x: x == [p.session, rid])
    mark = w.wait_join(p.session)
    assert w.client.call("wamp.registration.match", "com.will.sigkill.proc") == rid
    t0 = time.monotonic()
    p.send_signal(signal.SIGKILL)
    evs = got.wait(2, timeout=2)
    took = time.monotonic() - t0
    assert [(e.args, e.kwargs) for e in evs] == [(["detached"], {}), (["gone", mode], {"pid": 1})]
    assert took < T(1.5), "testament published %.2fs after SIGKILL" % took
    end = w.wait_leave(p.session, since=mark)
    about = [t for t, _ in w.about(p.session, since=mark, until=end + 1)]
    assert about == ["wamp.registration.on_unregister", "wamp.registration.on_delete",
                     "wamp.session.on_leave"], about
    assert w.client.call("wamp.registration.match", "com.will.sigkill.proc") is None
    r.wait_for_log(r"session %d left realm realm1 \(connection lost\)" % p.session)


def test_flush_testaments_prevents_publication_and_returns_the_count(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = mm.subscribe(w.client, "com.will.flush.", "prefix")
    a = clients(r)
    add(a, "com.will.flush.destroyed", [1])
    add(a, "com.will.flush.destroyed", [2], scope="destroyed")
    add(a, "com.will.flush.detached", [3], scope="detached")
    assert a.call("wamp.session.flush_testaments") == 2  # default scope: destroyed
    assert a.call("wamp.session.flush_testaments") == 0
    assert a.call("wamp.session.flush_testaments", scope="destroyed") == 0
    add(a, "com.will.flush.destroyed", [4])
    assert leave_then_events(w, got, a) == [([3], {}), ([4], {})]

    b = clients(r)
    add(b, "com.will.flush.detached", [5], scope="detached")
    add(b, "com.will.flush.destroyed", [6])
    assert b.call("wamp.session.flush_testaments", scope="detached") == 1
    assert b.call("wamp.session.flush_testaments", scope="destroyed") == 1
    before = len(got)
    assert leave_then_events(w, got, b, "drop")[before:] == []


def test_testaments_of_one_session_are_not_published_when_another_leaves(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = w.client.subscribe("com.will.mine")
    a, b = clients(r), clients(r)
    add(a, "com.will.mine", ["a"])
    assert leave_then_events(w, got, b) == []
    assert leave_then_events(w, got, a) == [(["a"], {})]


def test_testament_is_published_to_pattern_subscribers_with_its_topic(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, exact = w.client.subscribe("com.will.pat.x")
    _, wild = mm.subscribe(w.client, "com.will..x", "wildcard")
    a = clients(r)
    add(a, "com.will.pat.x", ["p"], publish_options={"exclude_me": False})
    leave_then_events(w, exact, a)
    assert [e.args for e in exact.snapshot()] == [["p"]]
    assert [(e.args, e.details.topic) for e in wild.snapshot()] == [(["p"], "com.will.pat.x")]


@pytest.mark.parametrize("topic", ["wamp.session.on_join", "wamp.x", "bad topic", "", "a..b", 7])
def test_add_testament_with_a_reserved_or_invalid_topic_is_invalid_uri(router, clients, topic):
    a = clients(router)
    e = mm.call_error(a, "wamp.session.add_testament", topic, [], {})
    assert e.error == "wamp.error.invalid_uri", e


def test_add_and_flush_testaments_reject_bad_scope_and_payload(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    _, got = w.client.subscribe("com.will.bad")
    a = clients(r)
    for scope in ("forever", "", 1, ["detached"]):
        e = mm.call_error(a, "wamp.session.add_testament", "com.will.bad", ["s"], {}, scope=scope)
        assert e.error == "wamp.error.invalid_argument", (scope, e)
        e = mm.call_error(a, "wamp.session.flush_testaments", scope=scope)
        assert e.error == "wamp.error.invalid_argument", (scope, e)
    for args, kwargs, extra in (("x", {}, {}), ([1], ["not", "a", "dict"], {}),
                                ([1], {}, {"publish_options": "acknowledge"})):
        e = mm.call_error(a, "wamp.session.add_testament", "com.will.bad", args, kwargs, **extra)
        assert e.error == "wamp.error.invalid_argument", (args, kwargs, extra, e)
    # args and kwargs may be left out (or null)
    assert a.call("wamp.session.add_testament", "com.will.bad") is None
    assert a.call("wamp.session.add_testament", "com.will.bad", None, None) is None
    assert leave_then_events(w, got, a) == [([], {}), ([], {})]
