"""Pattern-based subscriptions and registrations (docs/behaviour.md, "Pattern-based
subscriptions and registrations (M2)"; /work/shared/notes/wamp-semantics.md, Matching).

autobahn-python fills EventDetails.topic / CallDetails.procedure with the subscription's
or registration's own URI when the router leaves the field out, so the autobahn tests
compare them with the concrete URI (which differs from the pattern); the raw tests check
the wire itself.
"""
import pytest

import mb_patterns as mp
import mb_raw as raw
import mb_twisted as tx

TRANSPORTS = ["websocket", "rawsocket"]


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


def base(name):
    return "com.pat.%s.%s" % (name, mp.uid())


# ---------------------------------------------------------------- WELCOME

def test_welcome_announces_pattern_based_subscription_registration_shared_registration_and_publisher_exclusion(
        router, clients, transport):
    with raw.connect(router, transport) as conn:
        welcome = raw.join(conn)
    roles = welcome[2]["roles"]
    broker = roles["broker"]["features"]
    dealer = roles["dealer"]["features"]
    assert broker.get("pattern_based_subscription") is True, welcome
    assert broker.get("publisher_exclusion") is True, welcome
    assert dealer.get("pattern_based_registration") is True, welcome
    assert dealer.get("shared_registration") is True, welcome
    # and autobahn-python parses them
    c = clients(router, transport)
    assert c.router_roles["broker"].pattern_based_subscription is True
    assert c.router_roles["broker"].publisher_exclusion is True
    assert c.router_roles["dealer"].pattern_based_registration is True
    assert c.router_roles["dealer"].shared_registration is True


# ---------------------------------------------------------------- prefix subscriptions

def _delivered(clients, router, sub_topic, match, publish_topics):
    """Subscribe `sub_topic` with `match`, publish every topic (then a marker), and
    return the list of (args, details.topic) received on the pattern subscription."""
    sub, pub = clients(router), clients(router)
    marker = base("marker")
    _, ev = mp.subscribe(sub, sub_topic, match=match)
    _, mev = sub.subscribe(marker)
    for t in publish_topics:
        pub.publish(t, t)
    pub.publish(marker, "done")
    mev.wait(1)
    return [(e.args[0], e.details.topic) for e in ev.snapshot()]


def test_prefix_subscription_seed_example_gets_longer_topics_and_itself_but_not_a_shorter_topic(
        router, clients):
    got = _delivered(clients, router, "debut.du.nom.du.topic", "prefix", [
        "debut.du.nom.du.topic.genial",
        "debut.du.nom.du.topic",
        "debut.du.nom.du.topic-x",
        "debut.du.nom.du.topi",
        "debut.du.nom.du",
        "autre.debut.du.nom.du.topic",
    ])
    assert [g[0] for g in got] == ["debut.du.nom.du.topic.genial", "debut.du.nom.du.topic",
                                   "debut.du.nom.du.topic-x"], got


def test_prefix_subscription_chess_log_with_trailing_dot_gets_every_games_moves_but_not_chess_gamex(
        router, clients):
    got = _delivered(clients, router, "chess.game.", "prefix", [
        "chess.game.1.move",
        "chess.game.42.move",
        "chess.game.42.resign",
        "chess.gamex",
        "chess.gamex.1.move",
        "chess.game",
        "chess.games.1.move",
    ])
    assert got == [("chess.game.1.move", "chess.game.1.move"),
                   ("chess.game.42.move", "chess.game.42.move"),
                   ("chess.game.42.resign", "chess.game.42.resign")], got


def test_event_details_topic_is_the_concrete_topic_for_prefix_and_wildcard_subscriptions(
        router, clients, transport):
    b = base("dtopic")
    sub, pub = clients(router, transport), clients(router, transport)
    sp, evp = mp.subscribe(sub, b + ".", match="prefix")
    sw, evw = mp.subscribe(sub, b + "..x", match="wildcard")
    published = b + ".game7.x"
    p = pub.publish(published, 1)
    ep, ew = evp.wait(1)[0], evw.wait(1)[0]
    assert ep.details.topic == published, "prefix EVENT details.topic %r" % (ep.details.topic,)
    assert ew.details.topic == published, "wildcard EVENT details.topic %r" % (ew.details.topic,)
    assert ep.details.publication == ew.details.publication == p.id
    assert ep.details.subscription.id == sp.id and ew.details.subscription.id == sw.id


def test_raw_event_details_topic_present_for_prefix_and_wildcard_and_absent_for_exact(
        router, transport):
    b = base("rawtopic")
    published = b + ".a.b"
    with raw.connect(router, transport) as sub, raw.connect(router, transport) as pub:
        raw.join(sub)
        raw.join(pub)
        exact = raw.subscribe(sub, published)
        prefix = raw.subscribe(sub, b, {"match": "prefix"})
        wild = raw.subscribe(sub, b + "..b", {"match": "wildcard"})
        pub_id, _ = mp.raw_publish(pub, published, ["x"])
        events = {e[1]: e for e in mp.raw_events(sub, 3)}
        assert set(events) == {exact, prefix, wild}, events
        assert "topic" not in events[exact][3], \
            "EVENT for an exact subscription carries details.topic: %r" % (events[exact],)
        assert events[prefix][3].get("topic") == published, events[prefix]
        assert events[wild][3].get("topic") == published, events[wild]
        assert all(e[2] == pub_id and e[4] == ["x"] for e in events.values()), events


# ---------------------------------------------------------------- wildcard subscriptions

def test_wildcard_subscription_seed_example_matches_exactly_one_component_per_empty_component(
        router, clients):
    got = _delivered(clients, router, "nom.du.topic..general", "wildcard", [
        "nom.du.topic.moins.general",
        "nom.du.topic.general",
        "nom.du.topic.a.b.general",
        "nom.du.topic.plus.generale",
        "nom.du.topic.plus.general.x",
        "x.nom.du.topic.plus.general",
        "nom.du.topic.plus.general",
    ])
    assert got == [("nom.du.topic.moins.general", "nom.du.topic.moins.general"),
                   ("nom.du.topic.plus.general", "nom.du.topic.plus.general")], got


WILDCARD_CASES = {
    "leading": ("..{z}", ["a.b.{z}", "{z}.b.{z}"],
                ["a.{z}", "{z}", "a.b.c.{z}", "a.b.{z}x", "a.b.{z}.d"]),
    "trailing": ("{z}..", ["{z}.b.c", "{z}.{z}.{z}"],
                 ["{z}.b", "{z}", "{z}.b.c.d", "x{z}.b.c", "x.{z}.b"]),
    "consecutive": ("{z}...d", ["{z}.b.c.d", "{z}.x.y.d"],
                    ["{z}.b.d", "{z}.b.c.e.d", "{z}.b.c.d.e", "{z}.b.c.dd", "x.{z}.b.c.d"]),
}


@pytest.mark.parametrize("case", list(WILDCARD_CASES))
def test_leading_trailing_and_consecutive_wildcards_match_one_component_each(router, clients, case):
    z = mp.uid()
    pattern, yes, no = WILDCARD_CASES[case]
    pattern = pattern.format(z=z)
    yes = [t.format(z=z) for t in yes]
    no = [t.format(z=z) for t in no]
    got = _delivered(clients, router, pattern, "wildcard", yes + no)
    assert [g[0] for g in got] == yes, "pattern %r: published %r, received %r" % (pattern, yes + no, got)
    assert all(topic == args for args, topic in got), got


# ---------------------------------------------------------------- several subscriptions

def test_session_with_matching_exact_prefix_and_wildcard_subscriptions_gets_three_events_one_publication(
        router, transport):
    b = base("three")
    published = b + ".game.move"
    with raw.connect(router, transport) as sub, raw.connect(router, transport) as pub:
        raw.join(sub)
        raw.join(pub)
        ids = [raw.subscribe(sub, published),
               raw.subscribe(sub, b + ".game", {"match": "prefix"}),
               raw.subscribe(sub, b + "..move", {"match": "wildcard"})]
        marker = raw.subscribe(sub, b + ".marker")
        assert len(set(ids)) == 3, "three different subscriptions expected, got IDs %r" % ids
        pub_id, _ = mp.raw_publish(pub, published, ["m"])
        mp.raw_publish(pub, b + ".marker", [])
        events = mp.raw_events_until_marker(sub, marker)
        assert len(events) == 3, "expected 3 EVENTs (exact, prefix, wildcard), got %r" % events
        assert sorted(e[1] for e in events) == sorted(ids), events
        assert {e[2] for e in events} == {pub_id}, events
        assert all(e[4] == ["m"] for e in events), events


def test_several_sessions_on_the_same_pattern_share_one_subscription_id(router, clients):
    b = base("sharedid")
    a, c, pub = clients(router, "websocket"), clients(router, "rawsocket"), clients(router)
    for match, pattern, published in (("prefix", b + ".p", b + ".p.x"),
                                      ("wildcard", b + ".w..z", b + ".w.y.z")):
        sa, eva = mp.subscribe(a, pattern, match=match)
        sc, evc = mp.subscribe(c, pattern, match=match)
        assert sa.id == sc.id, "%s %r: session IDs differ %r %r" % (match, pattern, sa.id, sc.id)
        pub.publish(published, match)
        assert eva.wait(1)[0].details.subscription.id == sa.id
        assert evc.wait(1)[0].details.subscription.id == sc.id


def test_same_session_subscribing_a_pattern_twice_gets_the_same_id_and_one_event(router, transport):
    b = base("twice")
    with raw.connect(router, transport) as sub, raw.connect(router, transport) as pub:
        raw.join(sub)
        raw.join(pub)
        for match, pattern in (("prefix", b + ".p"), ("wildcard", b + "..w")):
            first = raw.subscribe(sub, pattern, {"match": match})
            second = raw.subscribe(sub, pattern, {"match": match})
            assert first == second, "%s %r: %r then %r" % (match, pattern, first, second)
        marker = raw.subscribe(sub, b + ".marker")
        mp.raw_publish(pub, b + ".p.x", [1])   # prefix only
        mp.raw_publish(pub, b + ".q.w", [2])   # wildcard only
        mp.raw_publish(pub, b + ".marker", [])
        events = mp.raw_events_until_marker(sub, marker)
        assert [e[4] for e in events] == [[1], [2]], events


def test_same_uri_with_exact_prefix_and_wildcard_match_are_three_distinct_subscriptions(
        router, transport):
    t = base("distinct") + ".x"
    with raw.connect(router, transport) as a, raw.connect(router, transport) as pub:
        raw.join(a)
        raw.join(pub)
        exact = raw.subscribe(a, t)
        prefix = raw.subscribe(a, t, {"match": "prefix"})
        wild = raw.subscribe(a, t, {"match": "wildcard"})
        explicit = raw.subscribe(a, t, {"match": "exact"})
        assert len({exact, prefix, wild}) == 3, (exact, prefix, wild)
        assert explicit == exact, "match 'exact' and no match are the same subscription"
        pub_id, _ = mp.raw_publish(pub, t, [])
        events = mp.raw_events(a, 3)
        assert sorted(e[1] for e in events) == sorted([exact, prefix, wild]), events
        # prefix reaches t.more, exact and wildcard (same component count) do not
        mp.raw_publish(pub, t + ".more", [])
        e = raw.expect(a, raw.EVENT)
        assert e[1] == prefix, e


def test_unsubscribing_the_last_member_deletes_the_pattern_subscription(router, transport):
    b = base("delete")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as c, \
            raw.connect(router, transport) as pub:
        raw.join(a)
        raw.join(c)
        raw.join(pub)
        marker = raw.subscribe(a, b + ".marker")
        sid = raw.subscribe(a, b + ".", {"match": "prefix"})
        assert raw.subscribe(c, b + ".", {"match": "prefix"}) == sid
        # c leaves it: a still a member, same subscription
        c.send_json([raw.UNSUBSCRIBE, 50, sid])
        assert raw.expect(c, raw.UNSUBSCRIBED) == [raw.UNSUBSCRIBED, 50]
        mp.raw_publish(pub, b + ".one", [1])
        e = raw.expect(a, raw.EVENT)
        assert e[1] == sid and e[4] == [1], e
        # a, the last member, leaves it: deleted
        a.send_json([raw.UNSUBSCRIBE, 51, sid])
        assert raw.expect(a, raw.UNSUBSCRIBED) == [raw.UNSUBSCRIBED, 51]
        mp.raw_publish(pub, b + ".two", [2])
        mp.raw_publish(pub, b + ".marker", [])
        assert mp.raw_events_until_marker(a, marker) == []
        # the old ID is gone for both
        a.send_json([raw.UNSUBSCRIBE, 52, sid])
        err = raw.expect(a, raw.ERROR)
        assert err[2] == 52 and err[4] == "wamp.error.no_such_subscription", err
        # a new subscribe works (its ID may be new) and gets events again
        new = raw.subscribe(c, b + ".", {"match": "prefix"})
        mp.raw_publish(pub, b + ".three", [3])
        e = raw.expect(c, raw.EVENT)
        assert e[1] == new and e[4] == [3] and e[3].get("topic") == b + ".three", e


def test_leaving_session_removes_its_pattern_subscriptions(router, transport):
    b = base("leave")
    with raw.connect(router, transport) as pub, raw.connect(router, transport) as other:
        raw.join(pub)
        raw.join(other)
        marker = raw.subscribe(other, b + ".marker")
        with raw.connect(router, transport) as gone:
            raw.join(gone)
            raw.subscribe(gone, b, {"match": "prefix"})
            raw.subscribe(gone, b + "..x", {"match": "wildcard"})
        # the router must drop gone's subscriptions; publishing is fine and reaches nobody
        for t in (b + ".a", b + ".a.x", b + ".marker"):
            mp.raw_publish(pub, t, [])
        assert mp.raw_events_until_marker(other, marker) == []
        new = raw.subscribe(other, b, {"match": "prefix"})
        mp.raw_publish(pub, b + ".b", [9])
        e = raw.expect(other, raw.EVENT)
        assert e[1] == new and e[4] == [9], e


def test_publisher_exclusion_applies_to_pattern_subscriptions(router, clients):
    b = base("excl")
    p, o = clients(router), clients(router)
    _, own_prefix = mp.subscribe(p, b + ".", match="prefix")
    _, own_wild = mp.subscribe(p, b + "..m", match="wildcard")
    marker = base("exclmarker")   # outside b's patterns
    _, own_marker = p.subscribe(marker)
    _, theirs = mp.subscribe(o, b + ".", match="prefix")
    p.publish(b + ".g.m", "default")
    assert theirs.wait(1)[0].args == ["default"]
    o.publish(marker, "done")
    own_marker.wait(1)
    assert own_prefix.snapshot() == [] and own_wild.snapshot() == [], \
        "publisher got its own event through a pattern subscription"
    p.publish(b + ".g.m", "include-me", _exclude_me=False)
    assert [e.args for e in own_prefix.wait(1)] == [["include-me"]]
    assert [e.args for e in own_wild.wait(1)] == [["include-me"]]
    assert [e.args for e in theirs.wait(2)] == [["default"], ["include-me"]]


# ---------------------------------------------------------------- pattern registrations

def test_exact_registration_beats_prefix_beats_wildcard(router, clients, transport):
    b = base("prec")
    callee, caller = clients(router, transport), clients(router, transport)
    exact = callee.register(b + ".a.b", mp.named("exact"))
    prefix = callee.register(b + ".", mp.named("prefix"), match="prefix")
    callee.register(b + "..b", mp.named("wildcard"), match="wildcard")
    assert caller.call(b + ".a.b") == "exact"
    assert caller.call(b + ".c.b") == "prefix"
    assert caller.call(b + ".c.d") == "prefix"
    callee.unregister(exact)
    assert caller.call(b + ".a.b") == "prefix"
    callee.unregister(prefix)
    assert caller.call(b + ".a.b") == "wildcard"
    assert caller.call(b + ".c.b") == "wildcard"
    assert mp.error_of(caller.call, b + ".c.d") == "wamp.error.no_such_procedure"


def test_longest_prefix_registration_wins(router, clients):
    b = base("longest")
    callee, caller = clients(router), clients(router)
    regs = {}
    # registered shortest last, so registration order cannot be what decides
    for p in (b + ".a.b", b + ".a.", b + ".a", b):
        regs[p] = callee.register(p, mp.named(p), match="prefix")
    assert caller.call(b + ".a.b.c") == b + ".a.b"
    assert caller.call(b + ".a.bc") == b + ".a.b"      # plain string prefix
    assert caller.call(b + ".a.x") == b + ".a."
    assert caller.call(b + ".ab") == b + ".a"
    assert caller.call(b + ".x") == b
    assert caller.call(b + "x") == b
    callee.unregister(regs[b + ".a.b"])
    assert caller.call(b + ".a.b.c") == b + ".a."
    assert mp.error_of(caller.call, "com.pat.longest") == "wamp.error.no_such_procedure"


def test_spec_wildcard_registration_example_picks_the_spec_winner(router_factory, clients):
    r = router_factory()   # its own router: the spec's literal URIs
    callee, caller = clients(r), clients(r)
    for p in ("a1.b2..d4.e5", "a1.b2.c3..e5", "a1.b2..d4.e5..g7", "a1.b2..d4..f6.g7"):
        callee.register(p, mp.named(p), match="wildcard")
    callee.register("a1.b2.c3.d4.e55", mp.named("exact"))
    prefixes = [callee.register(p, mp.named(p), match="prefix")
                for p in ("a1.b2.c3", "a1.b2.c3.d4")]
    assert caller.call("a1.b2.c3.d4.e55") == "exact"
    assert caller.call("a1.b2.c3.d98.e74") == "a1.b2.c3"
    assert caller.call("a1.b2.c3.d4.e325") == "a1.b2.c3.d4"
    assert caller.call("a1.b2.c3.d4.e5") == "a1.b2.c3.d4"   # a prefix beats any wildcard
    for reg in prefixes:
        callee.unregister(reg)
    assert caller.call("a1.b2.c55.d4.e5") == "a1.b2..d4.e5"
    assert caller.call("a1.b2.c3.d4.e5") == "a1.b2.c3..e5"
    assert caller.call("a1.b2.c88.d4.e5.f6.g7") == "a1.b2..d4.e5..g7"
    assert caller.call("a1.b2.c88.d4.e99.f6.g7") == "a1.b2..d4..f6.g7"
    assert mp.error_of(caller.call, "a2.b2.c2.d2.e2") == "wamp.error.no_such_procedure"


WILDCARD_PRECEDENCE = {
    # called URI, two matching patterns, the spec's winner (concrete where the other is a
    # wildcard at the first component where they differ)
    "second_component": ("{z}.b.c.d", "{z}..c.d", "{z}.b..d"),
    "first_component": ("a.b.c.{z}", "..c.{z}", "a...{z}"),
    "not_the_longer_string": ("{z}.b.c.d.e", "{z}..c.d.e", "{z}.b...e"),
    "not_the_most_concrete": ("{z}.b.c.d", "{z}..c.d", "{z}.b.."),
    "consecutive": ("{z}.b.c.d", "{z}...d", "{z}.b..d"),
}


@pytest.mark.parametrize("order", ["loser_first", "winner_first"])
@pytest.mark.parametrize("case", list(WILDCARD_PRECEDENCE))
def test_wildcard_registration_concrete_component_first_wins_whatever_the_registration_order(
        router, clients, case, order):
    z = mp.uid()
    called, loser, winner = (x.format(z=z) for x in WILDCARD_PRECEDENCE[case])
    callee, caller = clients(router), clients(router)
    pats = [loser, winner] if order == "loser_first" else [winner, loser]
    for p in pats:
        callee.register(p, mp.named(p), match="wildcard")
    got = caller.call(called)
    assert got == winner, "call %r with wildcards %r registered: got %r, spec picks %r" \
        % (called, pats, got, winner)


def test_pattern_callee_leaving_with_a_call_pending_cancels_it(router, clients):
    b = base("patpending")
    callee, caller = clients(router), clients(router)
    seen = tx.Sink()

    def hold(*args):
        seen.add(args)
        return tx.defer.Deferred()

    callee.register(b, hold, match="prefix")
    fut = caller.call_async(b + ".x", 1)
    seen.wait(1)
    callee.drop()
    with pytest.raises(tx.ApplicationError) as e:
        tx.wait(fut, 2)
    assert e.value.error == "wamp.error.canceled"
    assert mp.error_of(caller.call, b + ".x") == "wamp.error.no_such_procedure"


def test_invocation_details_procedure_is_the_called_uri_for_prefix_and_wildcard_registrations(
        router, clients, transport):
    b = base("dproc")
    callee, caller = clients(router, transport), clients(router, transport)

    def report(*args, details=None):
        return [details.procedure, details.registration.id]

    rp = callee.register(b + ".p.", report, match="prefix", details=True)
    rw = callee.register(b + ".w..x", report, match="wildcard", details=True)
    assert caller.call(b + ".p.deep.er") == [b + ".p.deep.er", rp.id]
    assert caller.call(b + ".w.y.x") == [b + ".w.y.x", rw.id]
    # details_arg (the older spelling) works the same
    rd = callee.register(b + ".d", lambda **kw: kw["cd"].procedure, match="prefix", details_arg="cd")
    assert caller.call(b + ".d.z") == b + ".d.z"
    assert rd.id not in (rp.id, rw.id)


def test_raw_invocation_details_procedure_is_on_the_wire_for_pattern_registrations(router, transport):
    b = base("rawproc")
    with raw.connect(router, transport) as callee, raw.connect(router, transport) as caller:
        raw.join(callee)
        raw.join(caller)
        rp = raw.register(callee, b + ".p", {"match": "prefix"})
        rw = raw.register(callee, b + "..w", {"match": "wildcard"})
        for reg, uri in ((rp, b + ".p.1"), (rw, b + ".v.w")):
            caller.send_json([raw.CALL, 9, {}, uri, ["a"]])
            inv = raw.expect(callee, raw.INVOCATION)
            assert inv[2] == reg and inv[3].get("procedure") == uri and inv[4] == ["a"], \
                "CALL %s: INVOCATION %r" % (uri, inv)
            callee.send_json([raw.YIELD, inv[1], {}, [uri]])
            res = raw.expect(caller, raw.RESULT)
            assert res[1] == 9 and res[3] == [uri], res


def test_same_uri_exact_and_prefix_registrations_are_distinct_and_both_allowed(router, clients):
    p = base("exactprefix")
    a, c, caller = clients(router), clients(router), clients(router)
    ra = a.register(p, mp.named("exact"))
    rc = c.register(p, mp.named("prefix"), match="prefix")
    assert ra.id != rc.id
    assert caller.call(p) == "exact"
    assert caller.call(p + ".x") == "prefix"


def test_same_session_registering_a_pattern_again_gets_the_same_id(router, transport):
    b = base("regtwice")
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        for match, p in (("prefix", b + ".p"), ("wildcard", b + "..w")):
            assert raw.register(conn, p, {"match": match}) == raw.register(conn, p, {"match": match})


def test_another_session_registering_the_same_pattern_single_is_procedure_already_exists(
        router, transport):
    b = base("patdup")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as c:
        raw.join(a)
        raw.join(c)
        for match, p in (("prefix", b + ".p"), ("wildcard", b + "..w")):
            raw.register(a, p, {"match": match})
            sent, got = mp.raw_register_answer(c, p, {"match": match})
            assert got[0] == raw.ERROR and got[4] == "wamp.error.procedure_already_exists", \
                "sent %r, got %r" % (sent, got)


def test_pattern_registration_is_deleted_when_its_callee_leaves(router, clients):
    b = base("regleave")
    callee, caller = clients(router), clients(router)
    callee.register(b, mp.named("p"), match="prefix")
    callee.register(b + "..x", mp.named("w"), match="wildcard")
    assert caller.call(b + ".y") == "p"
    callee.leave()
    assert mp.error_of(caller.call, b + ".y") == "wamp.error.no_such_procedure"
    assert mp.error_of(caller.call, b + ".y.x") == "wamp.error.no_such_procedure"
    other = clients(router)
    other.register(b, mp.named("new"), match="prefix")
    assert caller.call(b + ".y.x") == "new"


# ---------------------------------------------------------------- invalid options / URIs

BAD_MATCH = ["regex", "Prefix", "", "exact "]


@pytest.mark.parametrize("kind", ["subscribe", "register"])
def test_invalid_match_value_is_invalid_argument(router, transport, kind):
    b = base("badmatch")
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        for i, m in enumerate(BAD_MATCH):
            code = raw.SUBSCRIBE if kind == "subscribe" else raw.REGISTER
            msg = [code, None, {"match": m}, "%s.t%d" % (b, i)]
            err = mp.raw_request_error(conn, msg)
            assert err[4] == "wamp.error.invalid_argument", "sent %r, got %r" % (msg, err)
        # the session carries on
        raw.subscribe(conn, b + ".ok", {"match": "prefix"})
        raw.register(conn, b + ".ok", {"match": "prefix"})


INVALID_PATTERNS = [
    ("wildcard", "a b..c"),
    ("wildcard", "a..c#"),
    ("prefix", "a b."),
    ("prefix", "com.#app"),
    ("exact", "a..c"),      # empty components only in patterns
    ("exact", "a.b."),
]


@pytest.mark.parametrize("kind", ["subscribe", "register"])
def test_invalid_pattern_uri_is_invalid_uri(router, transport, kind):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        for match, uri in INVALID_PATTERNS:
            code = raw.SUBSCRIBE if kind == "subscribe" else raw.REGISTER
            msg = [code, None, {"match": match}, uri]
            err = mp.raw_request_error(conn, msg)
            assert err[4] == "wamp.error.invalid_uri", "sent %r, got %r" % (msg, err)
        raw.subscribe(conn, base("valid") + "..c", {"match": "wildcard"})


def test_registering_a_pattern_in_the_reserved_wamp_namespace_is_invalid_uri(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        for match, uri in (("prefix", "wamp.session"), ("prefix", "wamp."),
                           ("wildcard", "wamp..get")):
            msg = [raw.REGISTER, None, {"match": match}, uri]
            err = mp.raw_request_error(conn, msg)
            assert err[4] == "wamp.error.invalid_uri", "sent %r, got %r" % (msg, err)


# ---------------------------------------------------------------- against a reference model

COMPONENTS = ["a", "ab", "b"]   # "a" is a string prefix of "ab": plain-prefix cases come up


def _random_topic(rng):
    return ".".join(rng.choice(COMPONENTS) for _ in range(rng.randint(1, 4)))


def _random_pattern(rng, kinds=("exact", "prefix", "wildcard")):
    match = rng.choice(kinds)
    t = _random_topic(rng)
    if match == "prefix":
        cut = rng.randint(1, len(t))
        if t[cut - 1] == "." and rng.random() < 0.5:
            cut -= 1   # both "a.b." and "a.b"
        return t[:cut], match
    if match == "wildcard":
        comps = t.split(".")
        if len(comps) == 1:
            comps.append("b")
        comps = ["" if rng.random() < 0.4 else c for c in comps]
        return ".".join(comps), match
    return t, match


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pubsub_matches_a_reference_model_through_subscribe_unsubscribe_and_leave(
        router_factory, seed):
    import random
    rng = random.Random(seed)
    r = router_factory()   # a router of its own: the random topics are not unique
    marker_topic = "zzmarker"
    conns = [raw.connect(r, "websocket" if i % 2 else "rawsocket") for i in range(4)]
    pub = raw.connect(r, "websocket")
    try:
        for c in conns + [pub]:
            raw.join(c)
        ids = {}                           # (pattern, match) -> subscription ID
        member = [dict() for _ in conns]   # per session: sub ID -> (pattern, match)
        markers = [raw.subscribe(c, marker_topic) for c in conns]

        def sub(i, pm):
            sid = raw.subscribe(conns[i], pm[0], {"match": pm[1]})
            if pm in ids:
                assert sid == ids[pm], "seed %d: %r got ID %r, live ID is %r" % (seed, pm, sid, ids[pm])
            assert sid not in ids.values() or ids.get(pm) == sid, \
                "seed %d: %r got the ID of another subscription" % (seed, pm)
            ids[pm] = sid
            member[i][sid] = pm

        def check_round(round_name, live):
            topics = [_random_topic(rng) for _ in range(30)]
            expected = [[] for _ in conns]
            for t in topics:
                pid, early = mp.raw_publish(pub, t, [t])
                assert not early
                for i in live:
                    for sid, (pat, m) in member[i].items():
                        if mp.model_matches(pat, m, t):
                            expected[i].append((sid, pid, t, None if m == "exact" else t))
            mp.raw_publish(pub, marker_topic, [])
            for i in live:
                got = [(e[1], e[2], e[4][0], e[3].get("topic"))
                       for e in mp.raw_events_until_marker(conns[i], markers[i])]
                assert sorted(got) == sorted(expected[i]), \
                    "seed %d, %s, session %d subscribed to %r:\nmissing %r\nextra %r" % (
                        seed, round_name, i, sorted(member[i].values()),
                        sorted(set(expected[i]) - set(got)), sorted(set(got) - set(expected[i])))

        for i in range(len(conns)):
            for _ in range(10):
                sub(i, _random_pattern(rng))
        check_round("after subscribing", range(len(conns)))

        for i in range(len(conns)):
            for sid in rng.sample(sorted(member[i]), len(member[i]) // 2):
                req = conns[i].next_id()
                conns[i].send_json([raw.UNSUBSCRIBE, req, sid])
                assert raw.expect(conns[i], raw.UNSUBSCRIBED) == [raw.UNSUBSCRIBED, req]
                pm = member[i].pop(sid)
                if not any(pm in m.values() for m in member):
                    del ids[pm]   # deleted with its last member
        check_round("after unsubscribing half", range(len(conns)))

        conns[0].close()   # without UNSUBSCRIBE or GOODBYE
        gone, member[0] = list(member[0].values()), {}
        for pm in gone:
            if not any(pm in m.values() for m in member):
                ids.pop(pm, None)
        for i in range(1, len(conns)):
            for _ in range(4):
                sub(i, _random_pattern(rng))
        check_round("after a session left and others subscribed more", range(1, len(conns)))
    finally:
        for c in conns + [pub]:
            c.close()


def _raw_call(caller, callee, uri):
    """CALL uri; the raw callee YIELDs the registration ID it was invoked for.
    Returns (registration ID or error URI, INVOCATION details or None)."""
    req = caller.next_id()
    caller.send_json([raw.CALL, req, {}, uri])
    while True:
        who = mp.raw_ready([caller, callee])
        assert who is not None, "CALL %s: no answer" % uri
        msg = who.recv_json()
        if who is callee:
            assert msg[0] == raw.INVOCATION, msg
            callee.send_json([raw.YIELD, msg[1], {}, [msg[2]]])
            inv_details = msg[3]
            continue
        if msg[0] == raw.RESULT:
            assert msg[1] == req, msg
            return msg[3][0], inv_details
        assert msg[0] == raw.ERROR and msg[2] == req, msg
        return msg[4], None


@pytest.mark.parametrize("kinds", [("exact", "prefix", "wildcard"), ("wildcard",), ("prefix",)],
                         ids=["mixed", "wildcard_only", "prefix_only"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dealer_picks_the_registration_a_reference_model_picks(router_factory, seed, kinds):
    import random
    rng = random.Random(seed)
    r = router_factory()
    callee, caller = raw.connect(r, "websocket"), raw.connect(r, "rawsocket")
    try:
        raw.join(callee)
        raw.join(caller)
        regs = {}   # (pattern, match) -> registration ID
        while len(regs) < 30:
            pm = _random_pattern(rng, kinds)
            rid = raw.register(callee, pm[0], {"match": pm[1]})
            assert regs.get(pm, rid) == rid
            assert rid not in [v for k, v in regs.items() if k != pm], (pm, rid, regs)
            regs[pm] = rid
        by_id = {v: k for k, v in regs.items()}

        def check(round_name):
            for _ in range(60):
                uri = _random_topic(rng)
                want = mp.model_pick_registration(list(regs), uri)
                got, details = _raw_call(caller, callee, uri)
                if want is None:
                    assert got == "wamp.error.no_such_procedure", \
                        "seed %d, %s: CALL %r went to %r; registered %r" % (
                            seed, round_name, uri, by_id.get(got, got), sorted(regs))
                    continue
                assert got == regs[want], \
                    "seed %d, %s: CALL %r went to %r, the spec picks %r; registered %r" % (
                        seed, round_name, uri, by_id.get(got, got), want, sorted(regs))
                if want[1] != "exact":
                    assert details.get("procedure") == uri, details

        check("30 registrations")
        for pm in rng.sample(sorted(regs), 15):
            req = callee.next_id()
            callee.send_json([raw.UNREGISTER, req, regs[pm]])
            assert raw.expect(callee, raw.UNREGISTERED) == [raw.UNREGISTERED, req]
            del regs[pm]
        check("after unregistering half")
    finally:
        callee.close()
        caller.close()
