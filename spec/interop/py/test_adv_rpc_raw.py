"""Advanced Profile RPC, dealer side, with hand-made peers (docs/behaviour.md "Advanced Profile"): what real
clients cannot send or would hide: announcements (or their absence), the request-ID rules of
progressive call invocations, every CANCEL mode message by message, payload pass-through
Details, bad cancel modes, and that each call gets exactly one final answer."""
import time
import uuid

import pytest

import mb_raw as raw
from mb_router import T

TRANSPORTS = ["websocket", "rawsocket"]
CANCEL, INTERRUPT = 49, 69


def proc(name):
    return "com.adv.%s_%s" % (name, uuid.uuid4().hex[:8])


def roles(caller=(), callee=()):
    """HELLO roles announcing the given caller and callee features."""
    return {"publisher": {}, "subscriber": {},
            "caller": {"features": {f: True for f in caller}},
            "callee": {"features": {f: True for f in callee}}}


ALL = ("progressive_call_results", "progressive_call_invocations", "call_canceling",
       "payload_passthru_mode")


def peer(router, transport, caller=(), callee=()):
    conn = raw.connect(router, transport)
    raw.join(conn, roles=roles(caller, callee))
    return conn


def quiet(conn, seconds=0.3):
    """Nothing (but meta events) arrives within `seconds` (mb_raw.quiet's bounded wait)."""
    got = raw.quiet(conn, seconds)
    assert not got, "unexpected messages %r" % (got,)


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


def invocation(callee):
    msg = raw.expect(callee, raw.INVOCATION)
    return msg[1], msg[3], msg[4:]


# ---------------------------------------------------------------- progressive call results

def test_progressive_results_forwarded_at_once_then_final(router, transport):
    p = proc("prog")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {"receive_progress": True}, p, [1]])
        inv, details, payload = invocation(callee)
        assert details.get("receive_progress") is True, details
        for i in range(3):
            callee.send_json([raw.YIELD, inv, {"progress": True}, [i], {"k": i}])
            assert caller.recv_json() == [raw.RESULT, 1, {"progress": True}, [i], {"k": i}]
        callee.send_json([raw.YIELD, inv, {}, ["done"]])
        assert caller.recv_json() == [raw.RESULT, 1, {}, ["done"]]
        callee.send_json([raw.YIELD, inv, {"progress": True}, ["late"]])  # after the end: dropped
        quiet(caller)


def test_receive_progress_without_announcement_is_not_forwarded(router, transport):
    p = proc("noann")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {"receive_progress": True}, p])
        inv, details, _ = invocation(callee)
        assert "receive_progress" not in details, details
        callee.send_json([raw.YIELD, inv, {"progress": True}, ["p"]])   # dropped
        callee.send_json([raw.YIELD, inv, {}, ["final"]])
        assert caller.recv_json() == [raw.RESULT, 1, {}, ["final"]]
        quiet(caller)


def test_callee_without_progressive_results_gets_no_flag(router, transport):
    p = proc("nocallee")
    with peer(router, transport) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {"receive_progress": True}, p])
        inv, details, _ = invocation(callee)
        assert details == {}, details
        callee.send_json([raw.YIELD, inv, {}, [2]])
        assert caller.recv_json() == [raw.RESULT, 1, {}, [2]]


def test_timeout_restarts_at_each_progressive_result(router, transport):
    import time
    p = proc("restart")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {"receive_progress": True, "timeout": 700}, p])
        inv, _, _ = invocation(callee)
        for i in range(4):  # 4 × 0.4 s > 0.7 s, but each gap is under the timeout
            time.sleep(0.4)
            callee.send_json([raw.YIELD, inv, {"progress": True}, [i]])
            assert caller.recv_json() == [raw.RESULT, 1, {"progress": True}, [i]]
        # then silence: the timeout fires
        err = raw.expect(caller, raw.ERROR, timeout=5)
        assert err[:5] == [raw.ERROR, raw.CALL, 1, {}, "wamp.error.timeout"], err
        intr = raw.expect(callee, INTERRUPT)
        assert intr[1] == inv and intr[2] == {"mode": "killnowait", "reason": "wamp.error.timeout"}, intr
        callee.send_json([raw.YIELD, inv, {}, ["late"]])
        quiet(caller)


# ---------------------------------------------------------------- progressive call invocations

STREAM = ("progressive_call_invocations", "call_canceling")


def test_progressive_invocations_share_one_invocation_id(router, transport):
    p = proc("stream")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 5, {"progress": True, "disclose_me": True}, p, ["a"]])
        inv, d1, pl = invocation(callee)
        assert d1["progress"] is True and d1["caller"] and pl == [["a"]], (d1, pl)
        caller.send_json([raw.CALL, 5, {"progress": True}, p, ["b"]])
        inv2, d2, pl = invocation(callee)
        assert inv2 == inv and pl == [["b"]]
        assert d2 == d1, "the first CALL's Details are frozen for the whole call"
        caller.send_json([raw.CALL, 5, {}, p, ["c"]])
        inv3, d3, pl = invocation(callee)
        assert inv3 == inv and "progress" not in d3 and d3["caller"] == d1["caller"] and pl == [["c"]]
        callee.send_json([raw.YIELD, inv, {}, ["abc"]])
        assert caller.recv_json() == [raw.RESULT, 5, {}, ["abc"]]
        # a late continuation of the completed call is discarded without an answer
        caller.send_json([raw.CALL, 5, {"progress": True}, p, ["late"]])
        quiet(callee)
        quiet(caller)
        caller.send_json([raw.CALL, 6, {}, p])
        inv4, _, _ = invocation(callee)
        callee.send_json([raw.YIELD, inv4, {}, [6]])
        assert caller.recv_json() == [raw.RESULT, 6, {}, [6]]


def test_progressive_invocations_with_progressive_results(router, transport):
    p = proc("duplex")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {"progress": True, "receive_progress": True}, p, [1]])
        inv, d, _ = invocation(callee)
        assert d == {"progress": True, "receive_progress": True}, d
        callee.send_json([raw.YIELD, inv, {"progress": True}, [10]])
        assert caller.recv_json() == [raw.RESULT, 1, {"progress": True}, [10]]
        caller.send_json([raw.CALL, 1, {}, p, [2]])
        assert invocation(callee)[0] == inv
        callee.send_json([raw.YIELD, inv, {}, [20]])
        assert caller.recv_json() == [raw.RESULT, 1, {}, [20]]


def test_progressive_call_from_caller_without_announcement_aborts(router, transport):
    p = proc("noprog")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {"progress": True}, p])
        raw.expect_abort_then_close(caller)


def test_progressive_call_to_callee_without_support_is_feature_not_supported(router, transport):
    p = proc("nostream")
    for features in ((), ("progressive_call_invocations",)):  # call_canceling is needed too
        with peer(router, transport, callee=features) as callee, \
                peer(router, transport, caller=ALL) as caller:
            raw.register(callee, p)
            caller.send_json([raw.CALL, 1, {"progress": True}, p])
            err = raw.expect(caller, raw.ERROR)
            assert err[:5] == [raw.ERROR, raw.CALL, 1, {}, "wamp.error.feature_not_supported"], err
            assert err[5] and isinstance(err[5][0], str)
            quiet(callee)


def test_reusing_the_id_of_a_plain_call_in_flight_aborts(router, transport):
    p = proc("reuse")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {}, p])
        invocation(callee)
        caller.send_json([raw.CALL, 1, {"progress": True}, p])
        raw.expect_abort_then_close(caller)
        intr = raw.expect(callee, INTERRUPT)   # the caller left: its call is interrupted
        assert intr[2]["mode"] == "killnowait", intr


def test_progressive_invocations_stay_on_one_callee_of_a_shared_registration(router, transport):
    p = proc("sharedstream")
    with peer(router, transport, callee=ALL) as a, peer(router, transport, callee=ALL) as b, \
            peer(router, transport, caller=ALL) as caller:
        raw.register(a, p, {"invoke": "roundrobin"})
        raw.register(b, p, {"invoke": "roundrobin"})
        caller.send_json([raw.CALL, 1, {"progress": True}, p, [0]])
        first = None
        deadline = time.monotonic() + T(5)
        while not first and time.monotonic() < deadline:  # whichever callee it went to
            for conn in (a, b):
                try:
                    first = (conn, conn.recv_json(0.05))
                    break
                except raw.Timeout:
                    continue
        assert first and first[1][0] == raw.INVOCATION, first
        conn, msg = first
        other = b if conn is a else a
        for i in range(1, 4):
            caller.send_json([raw.CALL, 1, {"progress": i < 3}, p, [i]])
            nxt = raw.expect(conn, raw.INVOCATION)
            assert nxt[1] == msg[1] and nxt[4] == [i], nxt
        quiet(other)
        conn.send_json([raw.YIELD, msg[1], {}, ["ok"]])
        assert caller.recv_json() == [raw.RESULT, 1, {}, ["ok"]]


# ---------------------------------------------------------------- call canceling

def start_call(router, transport, callee_features=ALL):
    p = proc("cancel")
    callee = peer(router, transport, callee=callee_features)
    caller = peer(router, transport, caller=ALL)
    raw.register(callee, p)
    caller.send_json([raw.CALL, 7, {}, p])
    inv, _, _ = invocation(callee)
    return caller, callee, inv


def canceled(caller, req=7):
    err = raw.expect(caller, raw.ERROR)
    assert err[:5] == [raw.ERROR, raw.CALL, req, {}, "wamp.error.canceled"], err
    assert isinstance(err[5][0], str) and err[5][0], err


def test_cancel_skip_answers_at_once_without_interrupt(router, transport):
    caller, callee, inv = start_call(router, transport)
    with caller, callee:
        caller.send_json([CANCEL, 7, {"mode": "skip"}])
        canceled(caller)
        quiet(callee)
        callee.send_json([raw.YIELD, inv, {}, ["late"]])   # dropped
        quiet(caller)


def test_cancel_killnowait_answers_at_once_and_interrupts(router, transport):
    caller, callee, inv = start_call(router, transport)
    with caller, callee:
        caller.send_json([CANCEL, 7, {"mode": "killnowait"}])
        canceled(caller)
        intr = raw.expect(callee, INTERRUPT)
        assert intr == [INTERRUPT, inv, {"mode": "killnowait", "reason": "wamp.error.canceled"}], intr
        callee.send_json([raw.ERROR, raw.INVOCATION, inv, {}, "wamp.error.canceled"])   # dropped
        quiet(caller)


def test_cancel_without_mode_is_killnowait(router, transport):
    caller, callee, inv = start_call(router, transport)
    with caller, callee:
        caller.send_json([CANCEL, 7, {}])
        canceled(caller)
        intr = raw.expect(callee, INTERRUPT)
        assert intr[2]["mode"] == "killnowait", intr


def test_cancel_kill_answers_when_the_callee_answers_the_interrupt(router, transport):
    caller, callee, inv = start_call(router, transport)
    with caller, callee:
        caller.send_json([CANCEL, 7, {"mode": "kill"}])
        intr = raw.expect(callee, INTERRUPT)
        assert intr == [INTERRUPT, inv, {"mode": "kill", "reason": "wamp.error.canceled"}], intr
        quiet(caller)                                     # not before the callee answers
        caller.send_json([CANCEL, 7, {"mode": "kill"}])  # pushing the button again: ignored
        quiet(callee)
        callee.send_json([raw.ERROR, raw.INVOCATION, inv, {}, "wamp.error.canceled"])
        canceled(caller)
        callee.send_json([raw.YIELD, inv, {}, ["late"]])
        quiet(caller)


def test_cancel_kill_then_the_callee_finishes_first_gets_the_result(router, transport):
    caller, callee, inv = start_call(router, transport)
    with caller, callee:
        caller.send_json([CANCEL, 7, {"mode": "kill"}])
        raw.expect(callee, INTERRUPT)
        callee.send_json([raw.YIELD, inv, {}, ["finished first"]])
        assert caller.recv_json() == [raw.RESULT, 7, {}, ["finished first"]]
        callee.send_json([raw.ERROR, raw.INVOCATION, inv, {}, "wamp.error.canceled"])
        quiet(caller)


@pytest.mark.parametrize("mode", ["kill", "killnowait", "skip"])
def test_cancel_to_callee_without_call_canceling_is_skip(router, transport, mode):
    caller, callee, inv = start_call(router, transport, callee_features=())
    with caller, callee:
        caller.send_json([CANCEL, 7, {"mode": mode}])
        canceled(caller)
        quiet(callee)
        callee.send_json([raw.YIELD, inv, {}, ["late"]])
        quiet(caller)


@pytest.mark.parametrize("mode", ["nuke", 3, None])
def test_cancel_with_a_bad_mode_is_invalid_argument_and_the_call_goes_on(router, transport, mode):
    caller, callee, inv = start_call(router, transport)
    with caller, callee:
        caller.send_json([CANCEL, 7, {"mode": mode}])
        err = raw.expect(caller, raw.ERROR)
        assert err[:5] == [raw.ERROR, CANCEL, 7, {}, "wamp.error.invalid_argument"], err
        assert "mode" in err[5][0], err
        quiet(callee)
        callee.send_json([raw.YIELD, inv, {}, ["fine"]])
        assert caller.recv_json() == [raw.RESULT, 7, {}, ["fine"]]


def test_cancel_of_unknown_request_is_ignored(router, transport):
    caller, callee, inv = start_call(router, transport)
    with caller, callee:
        caller.send_json([CANCEL, 999, {"mode": "kill"}])
        quiet(caller)
        quiet(callee)
        callee.send_json([raw.YIELD, inv, {}, ["ok"]])
        assert caller.recv_json() == [raw.RESULT, 7, {}, ["ok"]]
        caller.send_json([CANCEL, 7, {}])   # answered already: unknown now
        quiet(caller)


def test_caller_leaving_interrupts_its_calls(router, transport):
    caller, callee, inv = start_call(router, transport)
    with callee:
        caller.close()
        intr = raw.expect(callee, INTERRUPT)
        assert intr == [INTERRUPT, inv, {"mode": "killnowait", "reason": "wamp.error.canceled"}], intr
        callee.send_json([raw.YIELD, inv, {}, ["nobody"]])
        raw.register(callee, proc("still_fine"))


def test_caller_leaving_does_not_interrupt_callee_without_call_canceling(router, transport):
    caller, callee, inv = start_call(router, transport, callee_features=())
    with callee:
        caller.send_json([raw.GOODBYE, {}, "wamp.close.normal"])
        raw.expect(caller, raw.GOODBYE)
        caller.close()
        quiet(callee)
        callee.send_json([raw.YIELD, inv, {}, ["nobody"]])
        raw.register(callee, proc("still_fine"))


def test_timeout_interrupts_killnowait_with_reason_timeout(router, transport):
    p = proc("timeout")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 3, {"timeout": 200}, p])
        inv, details, _ = invocation(callee)
        err = raw.expect(caller, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.CALL, 3, {}, "wamp.error.timeout"], err
        intr = raw.expect(callee, INTERRUPT)
        assert intr == [INTERRUPT, inv, {"mode": "killnowait", "reason": "wamp.error.timeout"}], intr
        callee.send_json([raw.YIELD, inv, {}, ["late"]])
        quiet(caller)


# ---------------------------------------------------------------- caller identification

def test_disclose_me_names_the_caller(router, transport):
    p = proc("disclose")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {"disclose_me": True}, p, [1], {"a": 1}])
        inv, details, payload = invocation(callee)
        assert payload == [[1], {"a": 1}]
        assert isinstance(details["caller"], int) and details["caller"] > 0, details
        assert details["caller_authrole"] == "anonymous" and details["caller_authid"], details
        callee.send_json([raw.YIELD, inv, {}])
        assert caller.recv_json() == [raw.RESULT, 1, {}]
        caller.send_json([raw.CALL, 2, {"disclose_me": False}, p])
        inv, details, _ = invocation(callee)
        assert "caller" not in details, details
        callee.send_json([raw.YIELD, inv, {}])


# ---------------------------------------------------------------- payload passthru mode

PPT = {"ppt_scheme": "x_my_ppt", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305",
       "ppt_keyid": "key-1"}
BLOB = "\u0000AAECAwQ="   # a binary in WAMP's JSON form: never decoded by the router


def test_ppt_options_are_forwarded_with_the_payload_untouched(router, transport):
    p = proc("ppt")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, dict(PPT), p, [BLOB]])
        inv, details, payload = invocation(callee)
        assert details == PPT and payload == [[BLOB]], (details, payload)
        callee.send_json([raw.YIELD, inv, dict(PPT, ppt_keyid="key-2"), [BLOB]])
        assert caller.recv_json() == [raw.RESULT, 1, dict(PPT, ppt_keyid="key-2"), [BLOB]]
        caller.send_json([raw.CALL, 2, dict(PPT, receive_progress=True), p, [BLOB]])
        inv, details, _ = invocation(callee)
        callee.send_json([raw.YIELD, inv, {"progress": True, "ppt_scheme": "x_my_ppt"}, [BLOB]])
        assert caller.recv_json() == [raw.RESULT, 2, {"progress": True, "ppt_scheme": "x_my_ppt"}, [BLOB]]
        callee.send_json([raw.ERROR, raw.INVOCATION, inv, dict(PPT), "com.app.failed", [BLOB]])
        assert caller.recv_json() == [raw.ERROR, raw.CALL, 2, PPT, "com.app.failed", [BLOB]]


def test_ppt_call_from_caller_without_announcement_aborts(router, transport):
    p = proc("pptnoann")
    with peer(router, transport, callee=ALL) as callee, \
            peer(router, transport, caller=("call_canceling",)) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, dict(PPT), p, [BLOB]])
        raw.expect_abort_then_close(caller)
        quiet(callee)


def test_ppt_call_to_callee_without_support_is_feature_not_supported(router, transport):
    p = proc("pptcallee")
    with peer(router, transport, callee=("call_canceling",)) as callee, \
            peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, dict(PPT), p, [BLOB]])
        err = raw.expect(caller, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.CALL, 1, {}, "wamp.error.feature_not_supported"], err
        quiet(callee)


def test_ppt_yield_from_callee_without_announcement_aborts(router, transport):
    p = proc("pptyield")
    with peer(router, transport) as callee, peer(router, transport, caller=ALL) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {}, p])
        inv, _, _ = invocation(callee)
        callee.send_json([raw.YIELD, inv, dict(PPT), [BLOB]])
        raw.expect_abort_then_close(callee)
        err = raw.expect(caller, raw.ERROR)    # its callee is gone: exactly one answer
        assert err[4] == "wamp.error.canceled", err
        quiet(caller)


def test_ppt_yield_to_caller_without_support_is_feature_not_supported_both_ways(router, transport):
    p = proc("pptcaller")
    with peer(router, transport, callee=ALL) as callee, peer(router, transport) as caller:
        raw.register(callee, p)
        caller.send_json([raw.CALL, 1, {}, p])
        inv, _, _ = invocation(callee)
        callee.send_json([raw.YIELD, inv, dict(PPT), [BLOB]])
        err = raw.expect(callee, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.YIELD, inv, {}, "wamp.error.feature_not_supported"], err
        err = raw.expect(caller, raw.ERROR)
        assert err[:5] == [raw.ERROR, raw.CALL, 1, {}, "wamp.error.feature_not_supported"], err
        quiet(caller)
