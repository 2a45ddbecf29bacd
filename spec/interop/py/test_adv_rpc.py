"""Advanced Profile RPC with autobahn-python (Twisted) peers (docs/behaviour.md "Advanced Profile"): progressive
call results (also across a shared registration, and with a timeout that restarts at each
result), call canceling as autobahn does it (no mode: killnowait), exactly one answer, late
answers dropped, INTERRUPT when the caller leaves or the call times out, caller disclosure."""
import time
import uuid

import pytest
from twisted.internet import defer, reactor, task

import mb_raw as raw
import mb_twisted as tx
from autobahn.wamp.types import CallOptions
from mb_router import T

TRANSPORTS = ["websocket", "rawsocket"]


def proc(name):
    return "com.advpy.%s_%s" % (name, uuid.uuid4().hex[:8])


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


def call_with_progress(caller, p, *args, timeout=None, **kwargs):
    """(future of the result, Sink of the progressive results as (args, kwargs))."""
    sink = tx.Sink()

    def on_progress(*a, **kw):
        sink.add((list(a), kw))

    opts = CallOptions(on_progress=on_progress, timeout=timeout)
    return caller.call_async(p, *args, options=opts, **kwargs), sink


def test_progressive_results_reach_the_caller_before_the_final_result(router, clients, transport):
    p = proc("count")
    callee, caller = clients(router, transport), clients(router, transport)

    def count(n, details=None):
        assert details.progress is not None, "INVOCATION carried no receive_progress"
        for i in range(n):
            details.progress(i, square=i * i)
        return "counted %d" % n

    callee.register(p, count, details_arg="details")
    fut, sink = call_with_progress(caller, p, 4)
    assert tx.wait(fut, 5) == "counted 4"
    assert sink.snapshot() == [([i], {"square": i * i}) for i in range(4)]
    # without on_progress the same procedure gets no progress function
    seen = []
    callee2 = clients(router, transport)
    p2 = proc("noprog")
    callee2.register(p2, lambda details=None: seen.append(details.progress) or "plain",
                     details_arg="details")
    assert caller.call(p2) == "plain" and seen == [None]


def test_progressive_results_across_a_shared_registration(router, clients, transport):
    p = proc("shared")
    callees = [clients(router, transport) for _ in range(3)]
    for i, c in enumerate(callees):
        def make(tag):
            def fn(n, details=None):
                for k in range(n):
                    details.progress(tag, k)
                return tag
            return fn
        c.register(p, make("c%d" % i), details_arg="details", invoke="roundrobin")
    caller = clients(router, transport)
    runs = [call_with_progress(caller, p, 3) for _ in range(6)]
    tags = []
    for fut, sink in runs:
        tag = tx.wait(fut, 5)
        tags.append(tag)
        assert sink.snapshot() == [([tag, k], {}) for k in range(3)]
    assert sorted(set(tags)) == ["c0", "c1", "c2"]


def test_timeout_restarts_at_each_progressive_result(router, clients, transport):
    p = proc("slow")
    callee, caller = clients(router, transport), clients(router, transport)

    @defer.inlineCallbacks
    def slow(steps, gap, details=None):
        for i in range(steps):
            yield task.deferLater(reactor, gap, lambda: None)
            details.progress(i)
        yield task.deferLater(reactor, gap, lambda: None)
        return "finished"

    callee.register(p, slow, details_arg="details")
    # 5 gaps of 0.25 s: 1.25 s in all, each gap well under the 700 ms timeout
    fut, sink = call_with_progress(caller, p, 4, 0.25, timeout=700)
    assert tx.wait(fut, 10) == "finished"
    assert [a for a, _ in sink.snapshot()] == [[0], [1], [2], [3]]
    # one gap longer than the timeout: wamp.error.timeout after the results so far
    fut, sink = call_with_progress(caller, p, 2, 0.9, timeout=600)
    with pytest.raises(tx.ApplicationError) as e:
        tx.wait(fut, 10)
    assert e.value.error == "wamp.error.timeout"
    assert sink.snapshot() == []


class Held:
    """A callee whose invocations wait until released; records INTERRUPTs (autobahn cancels
    the handler's Deferred when one comes)."""

    def __init__(self):
        self.pending = {}
        self.interrupted = tx.Sink()
        self.started = tx.Sink()

    def handler(self, tag):
        def canceller(d):
            self.interrupted.add(tag)
        d = defer.Deferred(canceller=canceller)
        self.pending[tag] = d
        self.started.add(tag)
        return d

    def release(self, tag, value):
        def go():
            d = self.pending[tag]
            if not d.called:
                d.callback(value)
        tx.in_reactor(go)


def test_cancel_answers_canceled_once_and_interrupts_the_callee(router, clients, transport):
    p = proc("held")
    callee, caller = clients(router, transport), clients(router, transport)
    held = Held()
    callee.register(p, held.handler)
    fut = caller.call_async(p, "a")
    held.started.wait(1)
    start = time.monotonic()
    # autobahn's own cancel (CANCEL without a mode): the call's Deferred, in the reactor thread
    d_holder = {}

    def call_and_cancel():
        d = caller.session.call(p, "b")
        d_holder["d"] = d
        d.addErrback(lambda f: d_holder.setdefault("err", f.value))
        return None

    tx.in_reactor(call_and_cancel)
    held.started.wait(2)
    tx.in_reactor(lambda: d_holder["d"].cancel())
    assert held.interrupted.wait(1) == ["b"]
    assert time.monotonic() - start < T(2)
    # the first call is untouched and answers normally
    held.release("a", "A")
    assert tx.wait(fut, 5) == "A"
    held.release("b", "late")   # already canceled: dropped by the router
    caller.call("wamp.session.count")  # the caller still works and got nothing more
    assert "err" in d_holder


def test_cancel_reaches_the_caller_as_canceled(router, transport):
    """The caller's view of a CANCEL: exactly one ERROR wamp.error.canceled, whatever the
    callee does afterwards (autobahn callee, raw caller to see every message)."""
    p = proc("once")
    callee = tx.connect(router, transport)
    held = Held()
    try:
        callee.register(p, held.handler)
        with raw.connect(router, transport) as caller:
            raw.join(caller, roles={"caller": {"features": {"call_canceling": True}}})
            caller.send_json([raw.CALL, 1, {}, p, ["x"]])
            held.started.wait(1)
            caller.send_json([49, 1, {"mode": "kill"}])
            assert held.interrupted.wait(1) == ["x"]
            err = raw.expect(caller, raw.ERROR)   # autobahn answers the INTERRUPT with an ERROR
            assert err[:5] == [raw.ERROR, raw.CALL, 1, {}, "wamp.error.canceled"], err
            held.release("x", "late")
            assert raw.quiet(caller, 0.5) == []
    finally:
        callee.close()


def test_caller_leaving_interrupts_the_callee(router, clients, transport):
    p = proc("leave")
    callee, caller = clients(router, transport), clients(router, transport)
    held = Held()
    callee.register(p, held.handler)
    caller.call_async(p, "gone")
    held.started.wait(1)
    caller.drop()
    assert held.interrupted.wait(1) == ["gone"]
    held.release("gone", "nobody listens")
    assert clients(router, transport).call("wamp.session.count") >= 1


def test_timeout_interrupts_the_callee_and_the_caller_gets_timeout(router, clients, transport):
    p = proc("timeout")
    callee, caller = clients(router, transport), clients(router, transport)
    held = Held()
    callee.register(p, held.handler)
    fut = caller.call_async(p, "t", options=CallOptions(timeout=300))
    with pytest.raises(tx.ApplicationError) as e:
        tx.wait(fut, 5)
    assert e.value.error == "wamp.error.timeout"
    assert held.interrupted.wait(1) == ["t"]
    held.release("t", "late")


def test_disclose_me_reaches_an_autobahn_callee(router, clients, transport):
    p = proc("who")
    callee = clients(router, transport)
    got = []
    callee.register(p, lambda details=None: got.append(
        (details.caller, details.caller_authid, details.caller_authrole)) or "ok", details_arg="details")
    with raw.connect(router, transport) as caller:
        welcome = raw.join(caller, authid="alice")
        caller.send_json([raw.CALL, 1, {"disclose_me": True}, p])
        assert raw.expect(caller, raw.RESULT)[3] == ["ok"]
        caller.send_json([raw.CALL, 2, {}, p])
        assert raw.expect(caller, raw.RESULT)[3] == ["ok"]
    assert got == [(welcome[1], "alice", "anonymous"), (None, None, None)]
