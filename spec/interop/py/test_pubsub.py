"""Publish & subscribe over WebSocket and RawSocket (docs/behaviour.md, Broker)."""
import json
import uuid

import pytest

import mb_raw as raw
from mb_payloads import PAYLOADS, same

TRANSPORTS = ["websocket", "rawsocket"]
MAX_ID = 2 ** 53


def topic(name):
    return "com.test.%s_%s" % (name, uuid.uuid4().hex[:8])


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


def test_published_event_reaches_subscribers_on_both_transports(router, clients, transport):
    t = topic("deliver")
    pub = clients(router, transport)
    sub_ws, sub_rs = clients(router, "websocket"), clients(router, "rawsocket")
    s1, ev1 = sub_ws.subscribe(t)
    s2, ev2 = sub_rs.subscribe(t)
    p = pub.publish(t, 1, "two", key="value")
    assert type(p.id) is int and 1 <= p.id <= MAX_ID
    for ev, s in ((ev1, s1), (ev2, s2)):
        e = ev.wait(1)[0]
        assert e.args == [1, "two"] and e.kwargs == {"key": "value"}
        assert e.details.publication == p.id
    assert s1.id == s2.id


def test_publisher_is_excluded_by_default(router, clients, transport):
    t = topic("exclude")
    pub, other = clients(router, transport), clients(router, transport)
    _, own = pub.subscribe(t)
    _, theirs = other.subscribe(t)
    pub.publish(t, "first")
    assert theirs.wait(1)[0].args == ["first"]
    pub.publish(t, "marker", _exclude_me=False)
    got = own.wait(1)
    assert [e.args for e in got] == [["marker"]], "publisher got its own event: %r" % got
    assert [e.args for e in theirs.wait(2)] == [["first"], ["marker"]]


def test_exclude_me_false_delivers_event_to_the_publisher(router, clients, transport):
    t = topic("self")
    c = clients(router, transport)
    _, ev = c.subscribe(t)
    c.publish(t, "to-me", _exclude_me=False)
    assert ev.wait(1)[0].args == ["to-me"]


def test_two_subscribers_of_one_topic_share_the_subscription_id(router, clients, transport):
    t = topic("shared")
    a, b = clients(router, transport), clients(router, "websocket")
    sa, _ = a.subscribe(t)
    sb, _ = b.subscribe(t)
    assert type(sa.id) is int and 1 <= sa.id <= MAX_ID
    assert sa.id == sb.id


def test_same_session_subscribing_twice_gets_the_same_id_and_one_event(router, transport):
    t = topic("twice")
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        first = raw.subscribe(conn, t)
        second = raw.subscribe(conn, t)
        assert first == second
        conn.send_json([raw.PUBLISH, 100, {"acknowledge": True, "exclude_me": False}, t, [1]])
        conn.send_json([raw.PUBLISH, 101, {"acknowledge": True, "exclude_me": False}, t, [2]])
        msgs = [conn.recv_json() for _ in range(4)]
        events = [m for m in msgs if m[0] == raw.EVENT]
        acks = [m for m in msgs if m[0] == raw.PUBLISHED]
        assert [e[4] for e in events] == [[1], [2]], msgs
        assert sorted(a[1] for a in acks) == [100, 101], msgs
        assert all(e[1] == first for e in events)


def test_unsubscribe_stops_events(router, clients, transport):
    t, marker = topic("unsub"), topic("marker")
    pub, sub = clients(router, transport), clients(router, transport)
    s, ev = sub.subscribe(t)
    _, mev = sub.subscribe(marker)
    pub.publish(t, "before")
    ev.wait(1)
    sub.unsubscribe(s)
    pub.publish(t, "after")
    pub.publish(marker, "done")
    mev.wait(1)
    assert [e.args for e in ev.snapshot()] == [["before"]]


def test_last_unsubscribe_then_resubscribe_still_works(router, clients, transport):
    t = topic("resub")
    pub, sub = clients(router, transport), clients(router, transport)
    s, _ = sub.subscribe(t)
    sub.unsubscribe(s)
    s2, ev = sub.subscribe(t)
    pub.publish(t, "again")
    assert ev.wait(1)[0].args == ["again"]


def test_unsubscribe_of_unknown_id_is_no_such_subscription(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        conn.send_json([raw.UNSUBSCRIBE, 7, 123456789])
        msg = raw.expect(conn, raw.ERROR)
        assert msg[:5] == [raw.ERROR, raw.UNSUBSCRIBE, 7, {}, "wamp.error.no_such_subscription"], msg
        assert isinstance(msg[5], list) and msg[5] and isinstance(msg[5][0], str), msg
        # still usable
        raw.subscribe(conn, topic("after_error"))


def test_unsubscribe_of_another_sessions_subscription_is_no_such_subscription(router, transport):
    t = topic("foreign")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as b:
        raw.join(a)
        raw.join(b)
        sub = raw.subscribe(a, t)
        b.send_json([raw.UNSUBSCRIBE, 8, sub])
        msg = raw.expect(b, raw.ERROR)
        assert msg[4] == "wamp.error.no_such_subscription", msg
        # a's subscription is untouched
        b.send_json([raw.PUBLISH, 9, {}, t, ["x"]])
        ev = raw.expect(a, raw.EVENT)
        assert ev[1] == sub and ev[4] == ["x"], ev


def test_unsubscribe_twice_is_no_such_subscription_the_second_time(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        sub = raw.subscribe(conn, topic("twice_unsub"))
        conn.send_json([raw.UNSUBSCRIBE, 20, sub])
        assert raw.expect(conn, raw.UNSUBSCRIBED) == [raw.UNSUBSCRIBED, 20]
        conn.send_json([raw.UNSUBSCRIBE, 21, sub])
        msg = raw.expect(conn, raw.ERROR)
        assert msg[2] == 21 and msg[4] == "wamp.error.no_such_subscription", msg


@pytest.mark.parametrize("case", list(PAYLOADS))
def test_event_payload_arrives_unchanged(router, clients, transport, case):
    args, kwargs = PAYLOADS[case]
    t = topic("payload")
    pub, sub = clients(router, transport), clients(router, transport)
    _, ev = sub.subscribe(t)
    pub.publish(t, *args, **kwargs)
    e = ev.wait(1)[0]
    assert same(e.args, args), "args changed:\nsent %r\ngot  %r" % (args, e.args)
    assert same(e.kwargs, kwargs), "kwargs changed:\nsent %r\ngot  %r" % (kwargs, e.kwargs)


def test_event_carries_args_and_kwargs_only_when_publish_had_them(router, transport):
    t = topic("shape")
    with raw.connect(router, transport) as sub, raw.connect(router, transport) as pub:
        raw.join(sub)
        raw.join(pub)
        sid = raw.subscribe(sub, t)
        sent = [
            [raw.PUBLISH, 1, {}, t],
            [raw.PUBLISH, 2, {}, t, []],
            [raw.PUBLISH, 3, {}, t, [], {}],
            [raw.PUBLISH, 4, {}, t, [1, "x"]],
            [raw.PUBLISH, 5, {}, t, [], {"k": []}],
            [raw.PUBLISH, 6, {}, t, [{}], {"k": {}}],
        ]
        for m in sent:
            pub.send_json(m)
        for m in sent:
            ev = raw.expect(sub, raw.EVENT)
            assert ev[1] == sid and type(ev[2]) is int and isinstance(ev[3], dict), ev
            assert same(ev[4:], m[4:]), "PUBLISH %s became EVENT %s" % (m, ev)


def test_escaped_json_strings_are_decoded_and_forwarded_intact(router, transport):
    t = topic("escapes")
    with raw.connect(router, transport) as sub, raw.connect(router, transport) as pub:
        raw.join(sub)
        raw.join(pub)
        raw.subscribe(sub, t)
        # \u escapes incl. a surrogate pair, written by hand (ASCII-only JSON)
        text = '[16,1,{},"%s",["\\ud83d\\ude00","\\u4e2d\\u6587","\\"\\\\\\/\\b\\f\\n\\r\\t"]]' % t
        pub.send_text(text)
        ev = raw.expect(sub, raw.EVENT)
        assert ev[4] == ["😀", "中文", "\"\\/\b\f\n\r\t"], ev


def test_large_event_payload_of_500kb_arrives_unchanged(router, clients, transport):
    t = topic("large")
    pub, sub = clients(router, transport), clients(router, "websocket")
    _, ev = sub.subscribe(t)
    blob = "x" * 500_000
    pub.publish(t, blob, n=json.dumps(list(range(1000))))
    e = ev.wait(1)[0]
    assert e.args == [blob] and e.kwargs == {"n": json.dumps(list(range(1000)))}


def test_publish_without_acknowledge_still_delivers(router, clients, transport):
    t = topic("noack")
    pub, sub = clients(router, transport), clients(router, transport)
    _, ev = sub.subscribe(t)
    assert pub.publish(t, "fire-and-forget", _acknowledge=False) is None
    assert ev.wait(1)[0].args == ["fire-and-forget"]


def test_publication_ids_are_distinct(router, clients, transport):
    t = topic("pubids")
    pub = clients(router, transport)
    ids = [pub.publish(t, i).id for i in range(20)]
    assert len(set(ids)) == 20 and all(type(i) is int and 1 <= i <= MAX_ID for i in ids)
