"""Shared registrations (docs/behaviour.md, "Shared registrations (M2)";
/work/shared/notes/wamp-semantics.md, Shared registrations).

Every callee endpoint answers with its own name, so the caller sees which callee the
router chose.
"""
import collections
import time

import pytest

import mb_patterns as mp
import mb_raw as raw
import mb_twisted as tx
from mb_router import T

TRANSPORTS = ["websocket", "rawsocket"]
POLICIES = ["roundrobin", "random", "first", "last"]


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


def proc(name):
    return "com.shared.%s.%s" % (name, mp.uid())


def callees(clients, router, p, invoke, names, transport="websocket", **options):
    """One session per name, registered in that order; returns [(name, client, reg)]."""
    out = []
    for n in names:
        c = clients(router, transport)
        out.append((n, c, c.register(p, mp.named(n), invoke=invoke, **options)))
    return out


# ---------------------------------------------------------------- registering

@pytest.mark.parametrize("first_opts", [{}, {"invoke": "single"}], ids=["default", "single"])
@pytest.mark.parametrize("second_opts", [{}, {"invoke": "single"}], ids=["default", "single"])
def test_second_single_registration_is_procedure_already_exists(router, transport, first_opts,
                                                                 second_opts):
    p = proc("single")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as b:
        raw.join(a)
        raw.join(b)
        raw.register(a, p, dict(first_opts))
        sent, got = mp.raw_register_answer(b, p, dict(second_opts))
        assert got[:3] == [raw.ERROR, raw.REGISTER, sent[1]], "sent %r, got %r" % (sent, got)
        assert got[4] == "wamp.error.procedure_already_exists", "sent %r, got %r" % (sent, got)


@pytest.mark.parametrize("existing,new", [
    ("roundrobin", "first"), ("roundrobin", "random"), ("first", "last"), ("last", "first"),
    ("random", "roundrobin"), ("roundrobin", "single"), ("first", None),
])
def test_registration_with_a_different_policy_is_procedure_exists_with_different_invocation_policy(
        router, transport, existing, new):
    p = proc("policy")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as b:
        raw.join(a)
        raw.join(b)
        reg = raw.register(a, p, {"invoke": existing})
        sent, got = mp.raw_register_answer(b, p, {} if new is None else {"invoke": new})
        assert got[0] == raw.ERROR and got[2] == sent[1], "sent %r, got %r" % (sent, got)
        assert got[4] == "wamp.error.procedure_exists_with_different_invocation_policy", \
            "existing %s, sent %r, got %r" % (existing, sent, got)
        # the same policy is still welcome and joins the same registration
        assert raw.register(b, p, {"invoke": existing}) == reg


@pytest.mark.parametrize("new", ["roundrobin", "first"])
def test_registering_a_procedure_whose_existing_registration_is_single_is_procedure_already_exists(
        router, transport, new):
    # behaviour.md: "Registering a procedure (same URI and match) registered with single →
    # procedure_already_exists" (Crossbar checks the existing policy first the same way)
    p = proc("existsingle")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as b:
        raw.join(a)
        raw.join(b)
        raw.register(a, p)
        sent, got = mp.raw_register_answer(b, p, {"invoke": new})
        assert got[0] == raw.ERROR and got[4] == "wamp.error.procedure_already_exists", \
            "existing single, sent %r, got %r" % (sent, got)


def test_invalid_invoke_value_is_invalid_argument(router, transport):
    p = proc("badinvoke")
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        for i, inv in enumerate(["roundrobbin", "LAST", "", "all", "round robin"]):
            msg = [raw.REGISTER, None, {"invoke": inv}, "%s.%d" % (p, i)]
            err = mp.raw_request_error(conn, msg)
            assert err[4] == "wamp.error.invalid_argument", "sent %r, got %r" % (msg, err)
        # nothing was registered by the refused requests, and the session carries on
        raw.register(conn, p + ".0", {"invoke": "roundrobin"})


def test_same_uri_with_different_match_is_a_different_shared_registration(router, clients):
    p = proc("matchsplit")
    a, b, caller = clients(router), clients(router), clients(router)
    ra = a.register(p, mp.named("exact-rr"), invoke="roundrobin")
    rb = b.register(p, mp.named("prefix-first"), invoke="first", match="prefix")
    assert ra.id != rb.id
    assert caller.call(p) == "exact-rr"
    assert caller.call(p + ".x") == "prefix-first"


def test_same_session_registering_a_shared_procedure_again_gets_the_same_id_and_one_slot(
        router, clients):
    p = proc("again")
    with raw.connect(router, "websocket") as conn:
        raw.join(conn)
        first = raw.register(conn, p, {"invoke": "roundrobin"})
        assert raw.register(conn, p, {"invoke": "roundrobin"}) == first
        other = clients(router)
        other.register(p, mp.named("other"), invoke="roundrobin")
        caller = clients(router)
        # 4 calls: a doubly-counted raw callee would get 3 of them in some window
        results = []
        for i in range(4):
            fut = caller.call_async(p)
            deadline = time.monotonic() + T(5)
            while not fut.done() and time.monotonic() < deadline:
                try:
                    inv = raw.expect(conn, raw.INVOCATION, timeout=0.05)
                except raw.Timeout:
                    continue
                assert inv[2] == first, inv
                conn.send_json([raw.YIELD, inv[1], {}, ["raw"]])
            results.append(tx.wait(fut, 1))
        assert sorted(results) == ["other", "other", "raw", "raw"], results


# ---------------------------------------------------------------- policies

def test_roundrobin_gives_each_of_three_callees_exactly_ten_of_thirty_calls_in_registration_order(
        router, clients, transport):
    p = proc("rr")
    names = ["a", "b", "c"]
    regs = callees(clients, router, p, "roundrobin", names, transport)
    assert len({r.id for _, _, r in regs}) == 1, "one registration ID shared by all callees"
    caller = clients(router, transport)
    seq = [caller.call(p) for _ in range(30)]
    assert collections.Counter(seq) == {"a": 10, "b": 10, "c": 10}, seq
    for x, y in zip(seq, seq[1:]):
        assert names.index(y) == (names.index(x) + 1) % 3, \
            "roundrobin must cycle a→b→c→a (registration order): %r" % seq


def test_roundrobin_skips_a_callee_that_left_and_keeps_cycling(router, clients):
    p = proc("rrleave")
    regs = callees(clients, router, p, "roundrobin", ["a", "b", "c"])
    caller = clients(router)
    [caller.call(p) for _ in range(3)]
    regs[1][1].leave()
    seq = [caller.call(p) for _ in range(10)]
    assert collections.Counter(seq) == {"a": 5, "c": 5}, seq
    assert all(x != y for x, y in zip(seq, seq[1:])), seq


def test_random_eventually_picks_every_callee_and_answers_every_call(router, clients, transport):
    p = proc("random")
    callees(clients, router, p, "random", ["a", "b", "c"], transport)
    caller = clients(router, transport)
    futs = [caller.call_async(p) for _ in range(200)]
    seq = [tx.wait(f, 10) for f in futs]
    counts = collections.Counter(seq)
    assert len(seq) == 200 and set(counts) == {"a", "b", "c"}, counts
    # uniform: expected 66.7 each (sd 6.7); 25 is more than 6 sd away
    assert min(counts.values()) >= 25, "random does not look uniform: %r" % counts


def test_first_follows_registration_order_and_moves_on_when_a_callee_leaves(router, clients):
    p = proc("first")
    regs = callees(clients, router, p, "first", ["a", "b", "c"])
    caller = clients(router)
    assert [caller.call(p) for _ in range(5)] == ["a"] * 5
    regs[0][1].leave()
    assert [caller.call(p) for _ in range(3)] == ["b"] * 3
    regs[1][1].unregister(regs[1][2])
    assert [caller.call(p) for _ in range(3)] == ["c"] * 3
    # a newcomer goes to the end of the line
    late = clients(router)
    late.register(p, mp.named("d"), invoke="first")
    assert caller.call(p) == "c"


def test_last_follows_registration_order_and_moves_on_when_a_callee_leaves(router, clients):
    p = proc("last")
    regs = callees(clients, router, p, "last", ["a", "b", "c"])
    caller = clients(router)
    assert [caller.call(p) for _ in range(5)] == ["c"] * 5
    regs[2][1].leave()
    assert [caller.call(p) for _ in range(3)] == ["b"] * 3
    regs[1][1].unregister(regs[1][2])
    assert [caller.call(p) for _ in range(3)] == ["a"] * 3
    late = clients(router)
    late.register(p, mp.named("d"), invoke="last")
    assert caller.call(p) == "d"


@pytest.mark.parametrize("how", ["goodbye", "abort"])
def test_zero_downtime_upgrade_with_last_new_version_takes_over_and_old_one_returns_when_it_leaves(
        router, clients, how):
    p = proc("upgrade_last")
    caller = clients(router)
    v1 = clients(router)
    v1.register(p, mp.named("v1"), invoke="last")
    assert [caller.call(p) for _ in range(3)] == ["v1"] * 3
    v2 = clients(router)
    reg2 = v2.register(p, mp.named("v2"), invoke="last")
    assert [caller.call(p) for _ in range(3)] == ["v2"] * 3
    if how == "goodbye":
        v2.leave()
    else:
        v2.drop()
    assert [caller.call(p) for _ in range(3)] == ["v1"] * 3
    # and v3 after that
    v3 = clients(router)
    reg3 = v3.register(p, mp.named("v3"), invoke="last")
    assert reg3.id == reg2.id, "the registration survived the upgrade"
    assert caller.call(p) == "v3"


@pytest.mark.parametrize("how", ["goodbye", "abort"])
def test_zero_downtime_upgrade_with_first_old_version_keeps_calls_until_it_leaves(
        router, clients, how):
    p = proc("upgrade_first")
    caller = clients(router)
    v1 = clients(router)
    v1.register(p, mp.named("v1"), invoke="first")
    assert caller.call(p) == "v1"
    v2 = clients(router)
    v2.register(p, mp.named("v2"), invoke="first")
    assert [caller.call(p) for _ in range(3)] == ["v1"] * 3
    if how == "goodbye":
        v1.leave()
    else:
        sid = v1.id
        v1.drop()
        # the reset reaches the router on its own socket: a CALL may be read first
        router.wait_for_log(r"session %d left realm" % sid)
    assert [caller.call(p) for _ in range(3)] == ["v2"] * 3


def test_upgrade_with_last_while_a_caller_keeps_calling_loses_no_call(router, clients):
    p = proc("upgrade_busy")
    caller = clients(router)
    v1 = clients(router)
    v1.register(p, mp.named("v1"), invoke="last")
    seen = []

    def burst(n):
        futs = [caller.call_async(p) for _ in range(n)]
        seen.extend(tx.wait(f, 5) for f in futs)   # raises on any error

    burst(20)
    v2 = clients(router)
    v2.register(p, mp.named("v2"), invoke="last")
    burst(20)
    v2.leave()   # nothing pending at v2: every burst call was answered
    burst(20)
    assert seen[:20] == ["v1"] * 20 and seen[20:40] == ["v2"] * 20 and seen[40:] == ["v1"] * 20, seen


# ---------------------------------------------------------------- callee leaving

@pytest.mark.parametrize("how", ["goodbye", "abort"])
def test_callee_leaving_a_shared_registration_with_a_call_pending_cancels_only_that_call(
        router, clients, how):
    p = proc("pending")
    seen = tx.Sink()
    held = {}

    def holder(name):
        def endpoint(n):
            d = tx.defer.Deferred()
            held[n] = d
            seen.add((name, n))
            return d
        return endpoint

    a, b = clients(router), clients(router)
    a.register(p, holder("a"), invoke="roundrobin")
    b.register(p, holder("b"), invoke="roundrobin")
    caller1, caller2 = clients(router), clients(router, "rawsocket")
    f1 = caller1.call_async(p, 1)
    seen.wait(1)
    f2 = caller2.call_async(p, 2)
    got = dict((n, name) for name, n in seen.wait(2))
    assert sorted(got.values()) == ["a", "b"], "roundrobin sent both calls to one callee: %r" % got
    at_a = [n for n, name in got.items() if name == "a"][0]
    at_b = [n for n, name in got.items() if name == "b"][0]
    fut = {1: f1, 2: f2}
    start = time.monotonic()
    if how == "goodbye":
        a.leave()
    else:
        a.drop()
    with pytest.raises(tx.ApplicationError) as e:
        tx.wait(fut[at_a], 2)
    assert e.value.error == "wamp.error.canceled"
    assert time.monotonic() - start < T(2)
    # the call pending at b is untouched and completes
    assert not fut[at_b].done(), "the call pending at the remaining callee was answered early"
    tx.in_reactor(lambda: held[at_b].callback("b-late"))
    assert tx.wait(fut[at_b], 5) == "b-late"
    # and new calls go to b
    f3 = caller1.call_async(p, 3)
    seen.wait(3)
    tx.in_reactor(lambda: held[3].callback("b-3"))
    assert tx.wait(f3, 5) == "b-3"


def test_shared_registration_id_is_shared_by_all_callees_and_disappears_with_the_last(
        router, clients, transport):
    p = proc("lifecycle")
    regs = callees(clients, router, p, "roundrobin", ["a", "b", "c"], transport)
    rid = regs[0][2].id
    assert all(r.id == rid for _, _, r in regs), [r.id for _, _, r in regs]
    caller = clients(router, transport)
    regs[0][1].leave()
    assert set(caller.call(p) for _ in range(4)) == {"b", "c"}
    regs[1][1].unregister(regs[1][2])
    assert set(caller.call(p) for _ in range(2)) == {"c"}
    sid = regs[2][1].id
    regs[2][1].drop()
    router.wait_for_log(r"session %d left realm" % sid)  # the reset comes on its own socket
    assert mp.error_of(caller.call, p) == "wamp.error.no_such_procedure"
    # the registration is gone: a new callee may use any policy now
    fresh = clients(router, transport)
    fresh.register(p, mp.named("fresh"))   # single
    assert caller.call(p) == "fresh"


def test_raw_unregister_of_a_shared_registration_removes_only_that_callee(router, transport):
    p = proc("rawunreg")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as b, \
            raw.connect(router, transport) as caller:
        for c in (a, b, caller):
            raw.join(c)
        rid = raw.register(a, p, {"invoke": "first"})
        assert raw.register(b, p, {"invoke": "first"}) == rid
        a.send_json([raw.UNREGISTER, 30, rid])
        assert raw.expect(a, raw.UNREGISTERED) == [raw.UNREGISTERED, 30]
        # a is no member any more
        a.send_json([raw.UNREGISTER, 31, rid])
        err = raw.expect(a, raw.ERROR)
        assert err[2] == 31 and err[4] == "wamp.error.no_such_registration", err
        caller.send_json([raw.CALL, 32, {}, p, [7]])
        inv = raw.expect(b, raw.INVOCATION)
        assert inv[2] == rid and inv[4] == [7], inv
        b.send_json([raw.YIELD, inv[1], {}, ["b"]])
        assert raw.expect(caller, raw.RESULT)[:4] == [raw.RESULT, 32, {}, ["b"]]


# ---------------------------------------------------------------- shared + patterns

@pytest.mark.parametrize("match,pattern,called", [
    ("prefix", "{p}.", "{p}.x.y"),
    ("wildcard", "{p}..z", "{p}.y.z"),
])
def test_roundrobin_shared_pattern_registration_cycles_and_reports_the_called_uri(
        router, clients, match, pattern, called):
    p = proc("patrr")
    pattern, called = pattern.format(p=p), called.format(p=p)
    cs = []
    for n in ("a", "b"):
        c = clients(router)
        c.register(pattern, lambda n=n, details=None: [n, details.procedure],
                   invoke="roundrobin", match=match, details=True)
        cs.append(c)
    caller = clients(router)
    seq = [caller.call(called) for _ in range(4)]
    assert sorted(s[0] for s in seq) == ["a", "a", "b", "b"], seq
    assert all(s[1] == called for s in seq), seq
    assert seq[0][0] != seq[1][0] and seq[1][0] != seq[2][0], seq
