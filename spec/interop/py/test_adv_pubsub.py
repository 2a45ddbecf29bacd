"""Advanced Profile pub/sub (docs/behaviour.md "Advanced Profile"): subscriber black/whitelisting by session,
authid and authrole, all combined with exclude_me; publisher identification (asked, forced
and refused by the authorizer); payload pass-through options; bad option types. Raw peers
with identities from a ticket authenticator, and autobahn-python receivers."""
import pytest
from autobahn.wamp.types import PublishOptions

import adv_pubsub as ap
import mb_raw as raw
import mb_twisted as tw
from adv_pubsub import Peer, args_of, marker


@pytest.fixture
def ident(router_factory):
    return ap.identity_router(router_factory)


def peers(r, *who):
    """Peers for (authid, authrole) pairs; closed by the caller's test end (sockets die with it)."""
    return [Peer(r, a, role) for a, role in who]


# ---------------------------------------------------------------- black/whitelisting

def test_eligible_and_exclude_by_authid(ident):
    t = ap.topic("authid")
    a, b, c, pub = peers(ident, ("ann", "user"), ("bob", "user"), ("cat", "admin"), ("pub", "user"))
    for p in (a, b, c):
        p.subscribe(t)
    assert pub.publish(t, ["ann+cat"], eligible_authid=["ann", "cat", "nobody"])[0] == raw.PUBLISHED
    assert pub.publish(t, ["not bob"], exclude_authid=["bob"])[0] == raw.PUBLISHED
    marker(pub, t)
    assert args_of(a.events_until_marker()) == ["ann+cat", "not bob"]
    assert args_of(b.events_until_marker()) == []
    assert args_of(c.events_until_marker()) == ["ann+cat", "not bob"]


def test_eligible_and_exclude_by_authrole(ident):
    t = ap.topic("authrole")
    a, b, c, pub = peers(ident, ("ann", "user"), ("bob", "guest"), ("cat", "admin"), ("pub", "user"))
    for p in (a, b, c):
        p.subscribe(t)
    pub.publish(t, ["admins"], eligible_authrole=["admin"])
    pub.publish(t, ["no guests"], exclude_authrole=["guest"])
    pub.publish(t, ["nobody"], eligible_authrole=[])
    marker(pub, t)
    assert args_of(a.events_until_marker()) == ["no guests"]
    assert args_of(b.events_until_marker()) == []
    assert args_of(c.events_until_marker()) == ["admins", "no guests"]


def test_every_filter_must_pass_together_with_exclude_me(ident):
    t = ap.topic("all")
    a, b, c, d, pub = peers(ident, ("ann", "user"), ("bob", "user"), ("cat", "admin"), ("dan", "admin"),
                            ("pub", "admin"))
    for p in (a, b, c, d, pub):
        p.subscribe(t)
    # eligible sessions a, b, c, d, pub; authrole admin only (c, d, pub); not dan by authid;
    # not c by session: only the publisher remains, and exclude_me (default) keeps it out
    pub.publish(t, ["none"], eligible=[a.id, b.id, c.id, d.id, pub.id], eligible_authrole=["admin"],
                exclude_authid=["dan"], exclude=[c.id])
    # the same with exclude_me false: the publisher gets it
    pub.publish(t, ["pub only"], eligible=[a.id, b.id, c.id, d.id, pub.id], eligible_authrole=["admin"],
                exclude_authid=["dan"], exclude=[c.id], exclude_me=False)
    # authid and authrole whitelists together: ann is a user, cat an admin: only cat passes both
    pub.publish(t, ["cat"], eligible_authid=["ann", "cat"], eligible_authrole=["admin"])
    # exclude lists of both kinds: not users, not cat → dan
    pub.publish(t, ["dan"], exclude_authrole=["user"], exclude_authid=["cat"])
    marker(pub, t)
    assert args_of(a.events_until_marker()) == []
    assert args_of(b.events_until_marker()) == []
    assert args_of(c.events_until_marker()) == ["cat"]
    assert args_of(d.events_until_marker()) == ["dan"]
    assert args_of(pub.events_until_marker()) == ["pub only"]


def test_filters_apply_to_pattern_subscriptions_too(ident):
    t = ap.topic("pat")
    a, b, pub = peers(ident, ("ann", "user"), ("bob", "admin"), ("pub", "user"))
    a.subscribe(t.rsplit("_", 1)[0] + "_", match="prefix")
    b.subscribe(t.rsplit("_", 1)[0] + "_", match="prefix")
    pub.publish(t, ["admins"], eligible_authrole=["admin"])
    marker(pub, t)
    got_b = b.events_until_marker()
    assert args_of(a.events_until_marker()) == []
    assert args_of(got_b) == ["admins"] and got_b[0][3]["topic"] == t


def test_autobahn_publisher_with_authid_lists(ident, clients):
    t = ap.topic("ab")
    a, b = peers(ident, ("ann", "user"), ("bob", "user"))
    a.subscribe(t)
    b.subscribe(t)
    c = clients(ident)
    tw.in_reactor(c.session.publish, t, "not bob",
                  options=PublishOptions(acknowledge=True, exclude_authid=["bob"]))
    tw.in_reactor(c.session.publish, t, "bob",
                  options=PublishOptions(acknowledge=True, eligible_authrole=["user"], eligible_authid=["bob"]))
    tw.in_reactor(c.session.publish, t, ap.MARKER, options=PublishOptions(acknowledge=True))
    assert args_of(a.events_until_marker()) == ["not bob"]
    assert args_of(b.events_until_marker()) == ["bob"]


@pytest.mark.parametrize("key,value,message", [
    ("eligible_authid", "ann", "Options.eligible_authid must be a list of authids (strings)"),
    ("eligible_authid", [1], "Options.eligible_authid must be a list of authids (strings)"),
    ("exclude_authid", {"a": 1}, "Options.exclude_authid must be a list of authids (strings)"),
    ("eligible_authrole", [None], "Options.eligible_authrole must be a list of authroles (strings)"),
    ("exclude_authrole", "admin", "Options.exclude_authrole must be a list of authroles (strings)"),
    ("exclude", [1.5], "Options.exclude must be a list of session IDs"),
    ("retain", "yes", "Options.retain must be a boolean"),
    ("disclose_me", 1, "Options.disclose_me must be a boolean"),
    ("ppt_serializer", 7, "Options.ppt_serializer must be a string"),
])
def test_bad_option_types_are_refused_with_a_message(router, key, value, message):
    t = ap.topic("bad")
    sub = Peer(router)
    sub.subscribe(t)
    pub = Peer(router, roles={"publisher": {"features": {"payload_passthru_mode": True}}})
    got = pub.publish(t, ["bad"], **{key: value})
    assert got[0] == raw.ERROR and got[4] == "wamp.error.invalid_argument", got
    assert got[5] == [message], got
    # nothing was delivered, and the session goes on
    marker(pub, t)
    assert sub.events_until_marker() == []


# ---------------------------------------------------------------- publisher identification

def test_disclose_me_adds_the_publisher_to_event_details(ident, clients):
    t = ap.topic("disclose")
    a, pub = peers(ident, ("ann", "user"), ("pub", "writer"))
    a.subscribe(t)
    a.subscribe(t.rsplit("_", 1)[0] + "_", match="prefix")
    c = clients(ident)
    _, sink = c.subscribe(t)
    pub.publish(t, ["who"], disclose_me=True)
    pub.publish(t, ["anon"])
    got = [a.conn.recv_json() for _ in range(4)]
    exact = [m for m in got if "topic" not in m[3]]
    pattern = [m for m in got if "topic" in m[3]]
    assert [m[3] for m in exact] == [{"publisher": pub.id, "publisher_authid": "pub",
                                      "publisher_authrole": "writer"}, {}]
    assert [m[3] for m in pattern] == [{"publisher": pub.id, "publisher_authid": "pub",
                                        "publisher_authrole": "writer", "topic": t}, {"topic": t}]
    evs = sink.wait(2)
    assert evs[0].details.publisher == pub.id and evs[0].details.publisher_authid == "pub"
    assert evs[0].details.publisher_authrole == "writer"
    assert evs[1].details.publisher is None


DISCLOSE_POLICY = """
    moonbar.authorize(function(session, action, uri)
      if action == "publish" and uri:find("forced", 1, true) then return {allow = true, disclose = true} end
      if action == "publish" and uri:find("refused", 1, true) then return {allow = true, disclose = false} end
      return true
    end)
"""


def test_authorizer_forces_disclosure(router_factory):
    r = ap.identity_router(router_factory, DISCLOSE_POLICY)
    t = ap.topic("forced")
    a, pub = peers(r, ("ann", "user"), ("pub", "writer"))
    a.subscribe(t)
    pub.publish(t, ["x"])  # no disclose_me: disclosed anyway
    ev = raw.expect(a.conn, raw.EVENT)
    assert ev[3] == {"publisher": pub.id, "publisher_authid": "pub", "publisher_authrole": "writer"}


def test_authorizer_refuses_disclosure(router_factory):
    r = ap.identity_router(router_factory, DISCLOSE_POLICY)
    t = ap.topic("refused")
    a, pub = peers(r, ("ann", "user"), ("pub", "writer"))
    a.subscribe(t)
    got = pub.publish(t, ["x"], disclose_me=True)
    assert got[0] == raw.ERROR and got[4] == "wamp.error.option_disallowed.disclose_me", got
    assert got[5][0], got
    pub.publish(t, ["y"], disclose_me=True, acknowledge=False)  # dropped, logged
    r.wait_for_log(r"disclose_me refused by the authorizer")
    marker(pub, t)
    assert a.events_until_marker() == []  # neither was delivered


# ---------------------------------------------------------------- payload pass-through

PPT = {"ppt_scheme": "x_test", "ppt_serializer": "custom", "ppt_cipher": "none", "ppt_keyid": "k1"}
PPT_ROLES = {"publisher": {"features": {"payload_passthru_mode": True}},
             "subscriber": {"features": {"payload_passthru_mode": True}}}


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_ppt_options_are_forwarded_and_the_payload_passes_untouched(router, transport):
    t = ap.topic("ppt")
    sub = Peer(router, roles=PPT_ROLES, transport=transport)
    plain = Peer(router)  # did not announce payload_passthru_mode: gets it anyway (the spec)
    sub.subscribe(t)
    plain.subscribe(t)
    pub = Peer(router, roles=PPT_ROLES, transport=transport)
    # bytes the scanner passes through (no \\u escape): they arrive byte for byte
    payload = '["AAEC/w==", 1.50, {"b":1,"a":2}]'
    req = pub.conn.next_id()
    opts = dict(PPT, acknowledge=True, disclose_me=True)
    pub.conn.send_text(('[16,%d,%s,"%s",%s]' % (req, raw.dumps(opts).decode(), t, payload)).encode())
    assert raw.expect(pub.conn, raw.PUBLISHED)[1] == req
    for p in (sub, plain):
        data = p.conn.recv_message()
        text = data.decode() if isinstance(data, bytes) else data
        assert text.endswith("," + payload + "]"), text  # the bytes as published
        msg = raw.json.loads(text)
        assert msg[3] == dict(PPT, publisher=pub.id, publisher_authid=pub.authid,
                              publisher_authrole=pub.authrole), msg
    # a binary item in JSON ("\\u0000" + base64): the same value arrives
    pub.publish(t, ["\u0000AAEC/w=="], **PPT)
    for p in (sub, plain):
        ev = raw.expect(p.conn, raw.EVENT)
        assert ev[3] == PPT and ev[4] == ["\u0000AAEC/w=="], ev


def test_ppt_from_a_publisher_that_did_not_announce_it_is_a_protocol_violation(router):
    t = ap.topic("ppt_bad")
    sub = Peer(router)
    sub.subscribe(t)
    pub = Peer(router)
    pub.conn.send_json([raw.PUBLISH, 1, dict(PPT, acknowledge=True), t, ["x"]])
    msg, _ = raw.expect_abort_then_close(pub.conn)
    assert "payload_passthru_mode" in msg[1]["message"], msg
    other = Peer(router)
    marker(other, t)
    assert sub.events_until_marker() == []


def test_ppt_scheme_must_be_a_non_empty_string(router):
    t = ap.topic("ppt_empty")
    pub = Peer(router, roles=PPT_ROLES)
    got = pub.publish(t, ["x"], ppt_scheme="")
    assert got[0] == raw.ERROR and got[4] == "wamp.error.invalid_argument", got
    assert "ppt_scheme must be a non-empty string" in got[5][0], got


def test_plain_publication_from_autobahn_keeps_empty_details(router, clients):
    """The plain path is unchanged: an event with no advanced option has empty Details."""
    t = ap.topic("plain")
    c = clients(router)
    sub = Peer(router)
    sub.subscribe(t)
    c.publish(t, 1)
    ev = raw.expect(sub.conn, raw.EVENT)
    assert ev[3] == {} and ev[4] == [1], ev
