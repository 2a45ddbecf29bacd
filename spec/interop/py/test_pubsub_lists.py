"""Subscriber white- and blacklisting by session (docs/behaviour.md, Broker): PUBLISH
Options.eligible and Options.exclude, from autobahn-python and from a raw client."""
import uuid

import pytest
from autobahn.wamp.types import PublishOptions

import mb_raw as raw
import mb_twisted as tw


def topic(name):
    return "com.test.%s_%s" % (name, uuid.uuid4().hex[:8])


def publish(c, t, *args, **options):
    return tw.in_reactor(c.session.publish, t, *args, options=PublishOptions(acknowledge=True, **options))


def subscribers(router, clients, t, n):
    out = []
    for _ in range(n):
        c = clients(router)
        _, sink = c.subscribe(t)
        out.append((c, sink))
    return out


def test_eligible_delivers_only_to_the_listed_sessions(router, clients):
    t = topic("eligible")
    (a, ea), (b, eb), (c, ec) = subscribers(router, clients, t, 3)
    pub = clients(router)
    publish(pub, t, "for a and c", eligible=[a.id, c.id])
    publish(pub, t, "marker")
    assert [e.args for e in ea.wait(2)] == [["for a and c"], ["marker"]]
    assert [e.args for e in ec.wait(2)] == [["for a and c"], ["marker"]]
    assert [e.args for e in eb.wait(1)] == [["marker"]]


def test_exclude_keeps_the_listed_sessions_out(router, clients):
    t = topic("exclude")
    (a, ea), (b, eb) = subscribers(router, clients, t, 2)
    pub = clients(router)
    publish(pub, t, "not for b", exclude=[b.id])
    publish(pub, t, "marker")
    assert [e.args for e in ea.wait(2)] == [["not for b"], ["marker"]]
    assert [e.args for e in eb.wait(1)] == [["marker"]]


def test_eligible_and_exclude_together_and_unknown_ids(router, clients):
    t = topic("both")
    (a, ea), (b, eb) = subscribers(router, clients, t, 2)
    pub = clients(router)
    publish(pub, t, "a only", eligible=[a.id, b.id, 12345], exclude=[b.id])
    publish(pub, t, "nobody", eligible=[])
    publish(pub, t, "marker")
    assert [e.args for e in ea.wait(2)] == [["a only"], ["marker"]]
    assert [e.args for e in eb.wait(1)] == [["marker"]]


@pytest.mark.parametrize("key,value", [
    ("eligible", "123"), ("eligible", [1.5]), ("eligible", ["x"]), ("eligible", [0]),
    ("exclude", {"a": 1}), ("exclude", [2 ** 53 + 1]), ("exclude", [-1]),
])
def test_bad_session_lists_are_refused_with_a_message(router, clients, key, value):
    t = topic("bad")
    sub = clients(router)
    _, sink = sub.subscribe(t)
    with raw.connect(router, "rawsocket") as conn:
        raw.join(conn)
        conn.send_json([raw.PUBLISH, 7, {"acknowledge": True, key: value}, t, ["bad"]])
        msg = conn.recv_json()
        assert msg[:2] == [8, raw.PUBLISH] and msg[2] == 7, msg
        assert msg[4] == "wamp.error.invalid_argument", msg
        assert "must be a list of session IDs" in msg[5][0], msg
        conn.send_json([raw.PUBLISH, 8, {"acknowledge": True}, t, ["good"]])
        assert conn.recv_json()[0] == raw.PUBLISHED
    assert [e.args for e in sink.wait(1)] == [["good"]]
