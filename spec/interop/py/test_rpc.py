"""Remote procedure calls over WebSocket and RawSocket (docs/behaviour.md, Dealer)."""
import threading
import time
import uuid

import pytest

import mb_raw as raw
import mb_twisted as tx
from mb_router import T
from mb_payloads import PAYLOADS, same

TRANSPORTS = ["websocket", "rawsocket"]
MAX_ID = 2 ** 53


def proc(name):
    return "com.test.%s_%s" % (name, uuid.uuid4().hex[:8])


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


def echo(*args, **kwargs):
    return tx.CallResult(*args, **kwargs)


def test_register_call_result_with_args_and_kwargs(router, clients, transport):
    p = proc("add")
    callee = clients(router, transport)
    caller_same, caller_other = clients(router, transport), clients(router, "websocket")
    reg = callee.register(p, lambda a, b, scale=1: tx.CallResult(a + b, (a + b) * scale, tag="sum"))
    assert type(reg.id) is int and 1 <= reg.id <= MAX_ID
    for caller in (caller_same, caller_other, clients(router, "rawsocket")):
        r = caller.call(p, 2, 3, scale=10)
        assert tx.result_parts(r) == ([5, 50], {"tag": "sum"})


def test_callee_application_error_reaches_caller_with_uri_args_and_kwargs(router, clients, transport):
    p = proc("oops")
    callee, caller = clients(router, transport), clients(router, transport)

    def oops():
        raise tx.ApplicationError("com.example.oops", 1, 2, x=3)

    callee.register(p, oops)
    with pytest.raises(tx.ApplicationError) as e:
        caller.call(p)
    assert e.value.error == "com.example.oops"
    assert list(e.value.args) == [1, 2]
    assert e.value.kwargs == {"x": 3}


def test_call_of_unknown_procedure_is_no_such_procedure(router, clients, transport):
    caller = clients(router, transport)
    with pytest.raises(tx.ApplicationError) as e:
        caller.call(proc("missing"))
    assert e.value.error == "wamp.error.no_such_procedure"


def test_raw_error_shapes_for_no_such_procedure_and_procedure_already_exists(router, transport):
    p = proc("shapes")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as b:
        raw.join(a)
        raw.join(b)
        b.send_json([raw.CALL, 11, {}, p])
        err = raw.expect(b, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.CALL, 11, {}, "wamp.error.no_such_procedure"], err
        assert isinstance(err[5], list) and err[5] and isinstance(err[5][0], str), err
        raw.register(a, p)
        b.send_json([raw.REGISTER, 12, {}, p])
        err = raw.expect(b, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.REGISTER, 12, {}, "wamp.error.procedure_already_exists"], err
        assert isinstance(err[5], list) and err[5] and isinstance(err[5][0], str), err


def test_second_session_registering_same_procedure_gets_procedure_already_exists(
        router, clients, transport):
    p = proc("dup")
    a, b = clients(router, transport), clients(router, transport)
    a.register(p, lambda: "a")
    with pytest.raises(tx.ApplicationError) as e:
        b.register(p, lambda: "b")
    assert e.value.error == "wamp.error.procedure_already_exists"
    assert b.call(p) == "a"


def test_same_session_registering_again_gets_the_same_id(router, transport):
    p = proc("again")
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        assert raw.register(conn, p) == raw.register(conn, p)


def test_unregister_then_call_is_no_such_procedure(router, clients, transport):
    p = proc("gone")
    callee, caller = clients(router, transport), clients(router, transport)
    reg = callee.register(p, lambda: "here")
    assert caller.call(p) == "here"
    callee.unregister(reg)
    with pytest.raises(tx.ApplicationError) as e:
        caller.call(p)
    assert e.value.error == "wamp.error.no_such_procedure"
    # and the name is free again
    caller.register(p, lambda: "new owner")
    assert callee.call(p) == "new owner"


def test_unregister_of_unknown_id_is_no_such_registration(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        conn.send_json([raw.UNREGISTER, 5, 987654321])
        msg = raw.expect(conn, raw.ERROR)
        assert msg[:5] == [raw.ERROR, raw.UNREGISTER, 5, {}, "wamp.error.no_such_registration"], msg
        assert isinstance(msg[5], list) and msg[5] and isinstance(msg[5][0], str), msg
        raw.register(conn, proc("still_usable"))


def test_unregister_of_another_sessions_registration_is_no_such_registration(router, transport):
    p = proc("foreign")
    with raw.connect(router, transport) as a, raw.connect(router, transport) as b:
        raw.join(a)
        raw.join(b)
        reg = raw.register(a, p)
        b.send_json([raw.UNREGISTER, 6, reg])
        msg = raw.expect(b, raw.ERROR)
        assert msg[4] == "wamp.error.no_such_registration", msg
        b.send_json([raw.CALL, 7, {}, p])
        inv = raw.expect(a, raw.INVOCATION)
        assert inv[2] == reg


def test_registering_a_wamp_procedure_is_invalid_uri(router, clients, transport):
    c = clients(router, transport)
    with pytest.raises(tx.ApplicationError) as e:
        c.register("wamp.foo", lambda: None)
    assert e.value.error == "wamp.error.invalid_uri"
    c.register(proc("after_invalid"), lambda: "ok")


@pytest.mark.parametrize("case", list(PAYLOADS))
def test_call_payload_round_trips_unchanged(router, clients, transport, case):
    args, kwargs = PAYLOADS[case]
    p = proc("echo")
    callee, caller = clients(router, transport), clients(router, transport)
    callee.register(p, echo)
    got_args, got_kwargs = tx.result_parts(caller.call(p, *args, **kwargs))
    if len(args) == 1 and not kwargs:
        got_args = [got_args]
    assert same(got_args, args), "args changed:\nsent %r\ngot  %r" % (args, got_args)
    assert same(got_kwargs, kwargs), "kwargs changed:\nsent %r\ngot  %r" % (kwargs, got_kwargs)


def test_invocation_and_result_carry_args_and_kwargs_only_when_sent(router, transport):
    p = proc("shape")
    with raw.connect(router, transport) as callee, raw.connect(router, transport) as caller:
        raw.join(callee)
        raw.join(caller)
        reg = raw.register(callee, p)
        cases = [[], [[]], [[], {}], [[1], {"a": {}}], [[{}]]]
        for i, tail in enumerate(cases):
            caller.send_json([raw.CALL, 100 + i, {}, p] + tail)
            inv = raw.expect(callee, raw.INVOCATION)
            assert inv[2] == reg and isinstance(inv[3], dict), inv
            assert same(inv[4:], tail), "CALL tail %r became INVOCATION %r" % (tail, inv)
            callee.send_json([raw.YIELD, inv[1], {}] + tail)
            res = raw.expect(caller, raw.RESULT)
            assert res[1] == 100 + i and isinstance(res[2], dict), res
            assert same(res[3:], tail), "YIELD tail %r became RESULT %r" % (tail, res)


def test_callee_error_message_is_forwarded_with_uri_args_and_kwargs(router, transport):
    p = proc("rawerr")
    with raw.connect(router, transport) as callee, raw.connect(router, transport) as caller:
        raw.join(callee)
        raw.join(caller)
        raw.register(callee, p)
        caller.send_json([raw.CALL, 41, {}, p])
        inv = raw.expect(callee, raw.INVOCATION)
        callee.send_json([raw.ERROR, raw.INVOCATION, inv[1], {}, "com.example.oops", [1, 2], {"x": 3}])
        err = raw.expect(caller, raw.ERROR)
        assert err[:3] == [raw.ERROR, raw.CALL, 41] and isinstance(err[3], dict), err
        assert err[4:] == ["com.example.oops", [1, 2], {"x": 3}], err


def test_concurrent_calls_are_answered_to_the_right_caller(router, clients, transport):
    p = proc("concurrent")
    callee = clients(router, transport)
    callee.register(p, lambda n: n * 2)
    callers = [clients(router, t) for t in TRANSPORTS]
    futs = [(n, callers[n % 2].call_async(p, n)) for n in range(50)]
    for n, f in futs:
        assert tx.wait(f, 5) == 2 * n


@pytest.mark.parametrize("how", ["abort", "goodbye"])
def test_callee_leaving_with_calls_pending_cancels_every_pending_call(router, clients, transport, how):
    p = proc("pending")
    callee = clients(router, transport)
    seen = tx.Sink()

    def never_answers(n):
        seen.add(n)
        return tx.defer.Deferred()  # never fires

    callee.register(p, never_answers)
    callers = [clients(router, "websocket"), clients(router, "rawsocket")]
    futs = [callers[n % 2].call_async(p, n) for n in range(4)]
    seen.wait(4)
    start = time.monotonic()
    if how == "abort":
        callee.drop()
    else:
        callee.leave()
    for f in futs:
        with pytest.raises(tx.ApplicationError) as e:
            tx.wait(f, 2)
        assert e.value.error == "wamp.error.canceled"
    assert time.monotonic() - start < T(2)
    # the procedure is gone with its callee
    with pytest.raises(tx.ApplicationError) as e:
        callers[0].call(p)
    assert e.value.error == "wamp.error.no_such_procedure"


def test_raw_callee_leaving_sends_canceled_error_in_contract_shape(router, transport):
    p = proc("pending_raw")
    with raw.connect(router, transport) as callee, raw.connect(router, transport) as caller:
        raw.join(callee)
        raw.join(caller)
        raw.register(callee, p)
        caller.send_json([raw.CALL, 77, {}, p, [1]])
        raw.expect(callee, raw.INVOCATION)
        callee.close()
        err = raw.expect(caller, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.CALL, 77, {}, "wamp.error.canceled"], err
        assert isinstance(err[5], list) and err[5] and isinstance(err[5][0], str), err


@pytest.mark.parametrize("late", ["yield", "error"])
def test_caller_leaving_then_late_callee_answer_is_dropped_and_router_carries_on(
        router, clients, witness, transport, late):
    p = proc("late")
    callee = clients(router, transport)
    pending = []
    got = threading.Event()

    def slow(n):
        d = tx.defer.Deferred()
        pending.append(d)
        got.set()
        return d

    callee.register(p, slow)
    callee.register(p + ".ping", lambda: "pong")
    caller = clients(router, transport)
    caller_id = caller.id
    fut = caller.call_async(p, 1)
    assert got.wait(T(5))
    mark = router.log_mark()
    caller.drop()
    try:  # give the router the chance to notice (it logs session lines); no hard requirement
        router.wait_for_log(r"session %d\b" % caller_id, timeout=1, since=mark)
    except AssertionError:
        pass
    assert fut.exception(timeout=T(2)) is not None  # failed locally with the transport
    if late == "yield":
        tx.in_reactor(lambda: pending[0].callback("too late"))
    else:
        tx.in_reactor(lambda: pending[0].errback(tx.ApplicationError("com.example.late")))
    other = clients(router, "websocket")
    assert other.call(p + ".ping") == "pong"
    assert router.alive()
    witness.check()


def test_yield_for_unknown_invocation_is_dropped(router, transport):
    p = proc("unknown_yield")
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        conn.send_json([raw.YIELD, 424242, {}, ["nobody asked"]])
        conn.send_json([raw.ERROR, raw.INVOCATION, 434343, {}, "com.example.nobody"])
        # session still fine: the next request is answered normally
        raw.register(conn, p)


def test_register_disclose_caller_names_the_caller_in_invocations(router):
    """REGISTER.Options.disclose_caller: INVOCATION.Details carry the caller's session, authid,
    authrole and authmethod (docs/behaviour.md, Dealer); without it they carry none."""
    import mb_raw as raw
    proc = "com.test.disclose_%d" % id(router)
    with raw.connect(router, "rawsocket") as callee, raw.connect(router, "websocket") as caller:
        raw.join(callee)
        caller_id = raw.join(caller)[1]
        callee.send_json([raw.REGISTER, 1, {"disclose_caller": True}, proc])
        assert callee.recv_json()[0] == raw.REGISTERED
        caller.send_json([raw.CALL, 2, {}, proc, [1]])
        inv = callee.recv_json()
        assert inv[0] == raw.INVOCATION and inv[4] == [1], inv
        assert inv[3]["caller"] == caller_id and inv[3]["caller_authrole"] == "anonymous", inv
        assert inv[3]["caller_authmethod"] == "anonymous" and isinstance(inv[3]["caller_authid"], str), inv
        callee.send_json([raw.YIELD, inv[1], {}, ["ok"]])
        assert caller.recv_json()[:4] == [raw.RESULT, 2, {}, ["ok"]]
    plain = "com.test.plain_%d" % id(router)
    with raw.connect(router, "rawsocket") as callee, raw.connect(router, "rawsocket") as caller:
        raw.join(callee)
        raw.join(caller)
        callee.send_json([raw.REGISTER, 1, {}, plain])
        assert callee.recv_json()[0] == raw.REGISTERED
        caller.send_json([raw.CALL, 2, {}, plain, [1]])
        inv = callee.recv_json()
        assert inv[0] == raw.INVOCATION and inv[3] == {}, inv
