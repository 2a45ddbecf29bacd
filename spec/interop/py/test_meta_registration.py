"""Registration meta API with autobahn-python: wamp.registration.list/lookup/match/get/
list_callees/count_callees/remove_callee and the on_create/on_register/on_unregister/on_delete
events. Results are checked against what the router really does with calls (which callee
answers) after a scripted sequence of registers, unregisters and leaves.

Spec: wamp-proto rfc/text/advanced/ap_rpc_registration_meta_api.md; moonbar: docs/behaviour.md.
"""
import mb_meta as mm
import mb_twisted as tx

EMPTY = mm.EMPTY_LISTS
created_ok = mm.created_ok


def named(name):
    def endpoint(*args, **kwargs):
        return name
    return endpoint


# ---------------------------------------------------------------- events

def test_registration_events_follow_a_scripted_lifecycle_in_order(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    a, b = clients(r), clients(r, "rawsocket")
    m0 = w.wait_join(a.id, b.id)
    p = a.register("com.reg.ev.p", named("p"))
    i = w.wait_for("wamp.registration.on_register", lambda x: x == [a.id, p.id], since=m0)
    ev = w.events(m0)[: i - m0 + 1]
    assert [t for t, _, _ in ev] == ["wamp.registration.on_create", "wamp.registration.on_register"]
    create = ev[0][1]
    assert create[0] == a.id and ev[0][2] == {}
    assert create[1] == {"id": p.id, "created": create[1]["created"], "uri": "com.reg.ev.p",
                         "match": "exact", "invoke": "single"}
    assert created_ok(create[1]["created"])
    assert a.call("wamp.registration.get", p.id) == create[1]

    # shared: created by b, joined by a (on_register only)
    m1 = w.mark()
    s_b = b.register("com.reg.ev.shared", named("b"), invoke="roundrobin")
    s_a = a.register("com.reg.ev.shared", named("a"), invoke="roundrobin")
    assert s_a.id == s_b.id
    w.wait_for("wamp.registration.on_register", lambda x: x == [a.id, s_a.id], since=m1)
    got = [(t, x) for t, x, _ in w.events(m1)]
    assert [t for t, _ in got] == ["wamp.registration.on_create", "wamp.registration.on_register",
                                   "wamp.registration.on_register"]
    assert got[0][1][0] == b.id and got[0][1][1]["invoke"] == "roundrobin"
    assert got[1][1] == [b.id, s_b.id] and got[2][1] == [a.id, s_a.id]

    # a prefix and a wildcard registration say so in "match"
    m2 = w.mark()
    pre = a.register("com.reg.ev.", named("pre"), match="prefix")
    wild = a.register("com.reg..wild", named("wild"), match="wildcard", invoke="last")
    w.wait_for("wamp.registration.on_register", lambda x: x == [a.id, wild.id], since=m2)
    creates = w.of("wamp.registration.on_create", since=m2)
    assert [(c[1]["uri"], c[1]["match"], c[1]["invoke"]) for c in creates] == [
        ("com.reg.ev.", "prefix", "single"), ("com.reg..wild", "wildcard", "last")]

    # b leaves the shared one: on_unregister only, the registration stays
    m3 = w.mark()
    b.unregister(s_b)
    w.wait_for("wamp.registration.on_unregister", lambda x: x == [b.id, s_b.id], since=m3)
    assert a.call("wamp.registration.list_callees", s_a.id) == [a.id]

    # a unregisters p: on_unregister then on_delete
    m4 = w.mark()
    a.unregister(p)
    w.wait_for("wamp.registration.on_delete", lambda x: x == [a.id, p.id], since=m4)
    assert [(t, x) for t, x, _ in w.events(m4)] == [
        ("wamp.registration.on_unregister", [a.id, p.id]),
        ("wamp.registration.on_delete", [a.id, p.id])]
    assert mm.call_error(b, "wamp.registration.get", p.id).error == "wamp.error.no_such_registration"

    # a leaves: each of its registrations goes (unregister, delete), then its on_leave
    m5 = w.mark()
    a.leave()
    end = w.wait_leave(a.id, since=m5)
    got = [(t, x) for t, x in w.about(a.id, since=m5, until=end + 1)]
    assert got[-1] == ("wamp.session.on_leave", [a.id, a.details.authid, "anonymous"])
    for reg in (s_a, pre, wild):
        k = got.index(("wamp.registration.on_unregister", [a.id, reg.id]))
        assert got[k + 1] == ("wamp.registration.on_delete", [a.id, reg.id]), got
    assert len(got) == 7, got
    assert b.call("wamp.registration.list") == EMPTY


def test_registration_events_are_published_to_exact_subscribers_of_each_topic(router_factory, clients):
    r = router_factory()
    w = clients(r)
    sinks = {}
    for topic in mm.REG_EVENTS:
        _, sinks[topic] = w.subscribe(topic)
    a = clients(r)
    reg = a.register("com.reg.exact_subs", named("x"))
    a.unregister(reg)
    for topic in mm.REG_EVENTS:
        ev = sinks[topic].wait(1)
        assert len(ev) == 1 and ev[0].args[0] == a.id, (topic, ev)
        if topic == "wamp.registration.on_create":
            assert ev[0].args[1]["id"] == reg.id
        else:
            assert ev[0].args == [a.id, reg.id]


# ---------------------------------------------------------------- list / lookup / get

def test_registration_list_groups_ids_by_match_policy(router_factory, clients):
    r = router_factory()
    a, b = clients(r), clients(r, "rawsocket")
    assert a.call("wamp.registration.list") == EMPTY
    e1 = a.register("com.list.e1", named("e1"))
    e2 = b.register("com.list.e2", named("e2"))
    p1 = a.register("com.list.", named("p1"), match="prefix")
    w1 = b.register("com.list..x", named("w1"), match="wildcard")
    w2 = a.register("..x", named("w2"), match="wildcard")
    got = a.call("wamp.registration.list")
    assert {k: sorted(v) for k, v in got.items()} == {
        "exact": sorted([e1.id, e2.id]), "prefix": [p1.id], "wildcard": sorted([w1.id, w2.id])}
    b.leave()
    got = a.call("wamp.registration.list")
    assert {k: sorted(v) for k, v in got.items()} == {
        "exact": [e1.id], "prefix": [p1.id], "wildcard": [w2.id]}
    # meta procedures are answered by the router, they are not registrations
    assert a.call("wamp.registration.match", "wamp.session.count") is None
    assert a.call("wamp.registration.lookup", "wamp.session.count") is None


def test_registration_lookup_finds_by_uri_and_match_policy(router_factory, clients):
    r = router_factory()
    a = clients(r)
    ex = a.register("com.look.a", named("ex"))
    pre = a.register("com.look.a", named("pre"), match="prefix")
    wild = a.register("com..a", named("wild"), match="wildcard")
    assert a.call("wamp.registration.lookup", "com.look.a") == ex.id
    assert a.call("wamp.registration.lookup", "com.look.a", {"match": "exact"}) == ex.id
    assert a.call("wamp.registration.lookup", "com.look.a", {"match": "prefix"}) == pre.id
    assert a.call("wamp.registration.lookup", "com..a", {"match": "wildcard"}) == wild.id
    # lookup is by the registered URI, not by matching
    assert a.call("wamp.registration.lookup", "com.look.a.b", {"match": "prefix"}) is None
    assert a.call("wamp.registration.lookup", "com.look.a", {"match": "wildcard"}) is None
    assert a.call("wamp.registration.lookup", "com.look.zz") is None
    assert a.call("wamp.registration.lookup", "com.look.a", {}) == ex.id
    e = mm.call_error(a, "wamp.registration.lookup", "com.look.a", {"match": "fuzzy"})
    assert e.error == "wamp.error.invalid_argument"
    assert mm.call_error(a, "wamp.registration.lookup").error == "wamp.error.invalid_argument"
    assert mm.call_error(a, "wamp.registration.lookup", 7).error == "wamp.error.invalid_argument"
    a.unregister(pre)
    assert a.call("wamp.registration.lookup", "com.look.a", {"match": "prefix"}) is None


def test_registration_get_describes_each_registration(router_factory, clients):
    r = router_factory()
    a, b = clients(r), clients(r)
    cases = [("com.get.one", {}, "exact", "single"),
             ("com.get.", {"match": "prefix"}, "prefix", "single"),
             ("com..get", {"match": "wildcard", "invoke": "random"}, "wildcard", "random"),
             ("com.get.rr", {"invoke": "roundrobin"}, "exact", "roundrobin"),
             ("com.get.first", {"invoke": "first"}, "exact", "first"),
             ("com.get.last", {"invoke": "last"}, "exact", "last")]
    for uri, opts, match, invoke in cases:
        reg = a.register(uri, named(uri), **opts)
        d = b.call("wamp.registration.get", reg.id)
        assert set(d) == {"id", "created", "uri", "match", "invoke"}, d
        assert (d["id"], d["uri"], d["match"], d["invoke"]) == (reg.id, uri, match, invoke)
        assert created_ok(d["created"])
    reg = a.register("com.get.gone", named("gone"))
    a.unregister(reg)
    assert mm.call_error(b, "wamp.registration.get", reg.id).error == "wamp.error.no_such_registration"
    assert mm.call_error(b, "wamp.registration.get", 1).error == "wamp.error.no_such_registration"
    for bad in ("x", 0, None, 2 ** 53 + 1):
        e = mm.call_error(b, "wamp.registration.get", bad)
        assert e.error == "wamp.error.invalid_argument", (bad, e)


def test_registration_created_time_does_not_change_when_callees_join(router_factory, clients):
    r = router_factory()
    a, b = clients(r), clients(r)
    reg = a.register("com.created.shared", named("a"), invoke="roundrobin")
    before = a.call("wamp.registration.get", reg.id)
    b.register("com.created.shared", named("b"), invoke="roundrobin")
    a.leave()
    assert b.call("wamp.registration.get", reg.id) == before


# ---------------------------------------------------------------- match

def test_registration_match_names_the_registration_a_call_reaches(router_factory, clients):
    r = router_factory()
    callee, caller = clients(r, "rawsocket"), clients(r)
    regs = {}
    for uri, match in (("com.m.a.b", None), ("com.m.a", "prefix"), ("com.m.", "prefix"),
                       ("org.w..c", "wildcard"), ("org..b.c", "wildcard"), ("..z", "wildcard")):
        opts = {"match": match} if match else {}
        regs[uri] = callee.register(uri, named(uri), **opts).id
    by_id = {v: k for k, v in regs.items()}
    for uri in ("com.m.a.b", "com.m.a.x", "com.m.a", "com.m.ab", "com.m.zz", "com.m.q.c",
                "org.w.b.c", "org.x.b.c", "org.w.x.c", "x.y.z", "com.m.a.b.c"):
        rid = caller.call("wamp.registration.match", uri)
        answered = caller.call(uri)
        assert rid is not None and by_id[rid] == answered, (uri, by_id.get(rid), answered)
    for uri in ("org.w.c", "none.x", "com.n.a"):
        assert caller.call("wamp.registration.match", uri) is None, uri
        assert mm.call_error(caller, uri).error == "wamp.error.no_such_procedure", uri
    assert mm.call_error(caller, "wamp.registration.match").error == "wamp.error.invalid_argument"


def test_registration_match_follows_unregister_and_leave(router_factory, clients):
    r = router_factory()
    a, b, caller = clients(r), clients(r), clients(r)
    pre = a.register("com.mf.", named("pre"), match="prefix")
    ex = b.register("com.mf.x", named("ex"))
    assert caller.call("wamp.registration.match", "com.mf.x") == ex.id
    b.leave()
    assert caller.call("wamp.registration.match", "com.mf.x") == pre.id
    assert caller.call("com.mf.x") == "pre"
    a.unregister(pre)
    assert caller.call("wamp.registration.match", "com.mf.x") is None


# ---------------------------------------------------------------- callees

def test_list_and_count_callees_follow_the_shared_registration(router_factory, clients):
    r = router_factory()
    cs = [clients(r), clients(r, "rawsocket"), clients(r)]
    obs = clients(r)
    regs = [c.register("com.callees.p", named(str(i)), invoke="roundrobin") for i, c in enumerate(cs)]
    rid = regs[0].id
    assert all(x.id == rid for x in regs)
    assert sorted(obs.call("wamp.registration.list_callees", rid)) == mm.session_ids_of(cs)
    assert obs.call("wamp.registration.count_callees", rid) == 3
    cs[1].unregister(regs[1])
    assert sorted(obs.call("wamp.registration.list_callees", rid)) == mm.session_ids_of([cs[0], cs[2]])
    cs[2].drop()
    mm.wait_until(lambda: obs.call("wamp.registration.count_callees", rid) == 1, what="one callee")
    assert obs.call("wamp.registration.list_callees", rid) == [cs[0].id]
    cs[0].leave()
    for proc in ("wamp.registration.list_callees", "wamp.registration.count_callees"):
        assert mm.call_error(obs, proc, rid).error == "wamp.error.no_such_registration", proc
        assert mm.call_error(obs, proc, "x").error == "wamp.error.invalid_argument", proc


# ---------------------------------------------------------------- remove_callee

def test_remove_callee_sends_next_calls_to_the_remaining_callee(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    first, second, caller = clients(r), clients(r, "rawsocket"), clients(r)
    pending = tx.Sink()

    def slow():
        d = tx.defer.Deferred()
        pending.add(d)
        return d

    reg = first.register("com.rm.p", slow, invoke="first")
    second.register("com.rm.p", named("second"), invoke="first")
    fut = caller.call_async("com.rm.p")
    d = pending.wait(1)[0]  # the first call is with `first`
    mark = w.mark()
    assert caller.call("wamp.registration.remove_callee", reg.id, first.id) is None
    w.wait_for("wamp.registration.on_unregister", lambda x: x == [first.id, reg.id], since=mark)
    assert caller.call("wamp.registration.list_callees", reg.id) == [second.id]
    assert caller.call("com.rm.p") == "second"
    assert caller.call("com.rm.p") == "second"
    assert len(pending) == 1
    # the removed callee's pending call still completes
    tx.in_reactor(d.callback, "first, late")
    assert tx.wait(fut, 3, "the call pending at the removed callee") == "first, late"
    assert not w.of("wamp.registration.on_delete", since=mark)
    assert first.is_connected()


def test_remove_callee_of_the_last_callee_deletes_the_registration(router_factory, clients):
    r = router_factory()
    w = mm.Watch(clients(r))
    callee, caller = clients(r), clients(r)
    reg = callee.register("com.rm.last", named("x"))
    w.wait_for("wamp.registration.on_register", lambda x: x == [callee.id, reg.id])
    mark = w.wait_join(callee.id, caller.id)
    caller.call("wamp.registration.remove_callee", reg.id, callee.id)
    w.wait_for("wamp.registration.on_delete", lambda x: x == [callee.id, reg.id], since=mark)
    assert [(t, x) for t, x, _ in w.events(mark)] == [
        ("wamp.registration.on_unregister", [callee.id, reg.id]),
        ("wamp.registration.on_delete", [callee.id, reg.id])]
    assert mm.call_error(caller, "com.rm.last").error == "wamp.error.no_such_procedure"
    assert caller.call("wamp.registration.lookup", "com.rm.last") is None
    assert mm.call_error(caller, "wamp.registration.get", reg.id).error == "wamp.error.no_such_registration"
    # the URI is free again for someone else
    other = caller.register("com.rm.last", named("other"))
    assert callee.call("com.rm.last") == "other"
    assert other.id != reg.id


def test_remove_callee_errors(router_factory, clients):
    r = router_factory()
    a, b = clients(r), clients(r)
    reg = a.register("com.rm.err", named("a"))
    e = mm.call_error(b, "wamp.registration.remove_callee", reg.id, b.id)  # b is not on it
    assert e.error == "wamp.error.no_such_session"
    e = mm.call_error(b, "wamp.registration.remove_callee", reg.id, 1)
    assert e.error == "wamp.error.no_such_session"
    e = mm.call_error(b, "wamp.registration.remove_callee", 1, a.id)
    assert e.error == "wamp.error.no_such_registration"
    e = mm.call_error(b, "wamp.registration.remove_callee", reg.id)
    assert e.error == "wamp.error.invalid_argument"
    assert b.call("com.rm.err") == "a"
