"""Clients killed with SIGKILL in the middle of their work (docs/behaviour.md, "Caller leaving,
callee leaving, timeouts", "Meta API"): the kernel closes their sockets, with no GOODBYE.

Each victim is a child process running an autobahn-python (asyncio) peer (chaos_peer.py):
  (a) a caller with 20 calls in flight to a slow callee: the callee (a raw session that announced
      call_canceling) gets one INTERRUPT killnowait wamp.error.canceled per held invocation,
      and its late YIELDs are dropped;
  (b) a callee holding 10 invocations: every caller gets wamp.error.canceled at once;
  (c) a publisher flooding a topic with acknowledged publishes: a subscriber of the flood got
      1..M in order with no gap, and a second publisher's 300 events all reach the witness.
Each time the router stays up, a witness session pair (autobahn, WebSocket and RawSocket)
still calls and receives events, wamp.session.count is back to what it was, and the log has no
line at error level or worse.
"""
import pytest

import mb_raw as raw
import mb_twisted as tx
from chaos_util import Peer, RawReader, session_count
from conftest import Witness, bad_level_lines, wait_until


@pytest.fixture
def setup(router_factory):
    r = router_factory()
    w = Witness(r)
    peers = []
    yield r, w, peers
    for p in peers:
        p.close()
    w.close()


def _settled(r, w, baseline):
    wait_until(lambda: session_count(w.caller) == baseline, what="wamp.session.count back to %d" % baseline)
    w.check()
    assert r.alive()
    assert bad_level_lines(r) == []


def test_caller_killed_with_calls_in_flight(setup):
    r, w, peers = setup
    callee = raw.RawWebSocket(r.ws_port)
    try:
        raw.join(callee, roles={"callee": {"features": {"call_canceling": True}}})
        raw.register(callee, "com.chaos.slow")
        baseline = session_count(w.caller)
        p = Peer(r.url, "caller", 20)
        peers.append(p)
        victim = p.session()
        invs = [raw.expect(callee, raw.INVOCATION, timeout=10) for _ in range(20)]
        assert sorted(i[4][0] for i in invs) == list(range(20))
        p.kill9()
        interrupts = [raw.expect(callee, 69, timeout=5) for _ in range(20)]
        assert sorted(i[1] for i in interrupts) == sorted(i[1] for i in invs)
        for i in interrupts:
            assert i[2] == {"mode": "killnowait", "reason": "wamp.error.canceled"}, i
        for inv in invs:  # late answers: dropped without a word
            callee.send_json([raw.YIELD, inv[1], {}, ["late"]])
        assert raw.quiet(callee, 0.3) == []
        r.wait_for_log(r"session %d left realm realm1" % victim)
        _settled(r, w, baseline)
    finally:
        callee.close()


def test_callee_killed_holding_invocations(setup):
    r, w, peers = setup
    baseline = session_count(w.caller)
    p = Peer(r.url, "callee")
    peers.append(p)
    victim = p.session()
    p.wait_for("registered")
    calls = [w.caller.call_async("com.chaos.held", i) for i in range(10)]
    p.wait_for("held 10")
    p.kill9()
    for f in calls:
        with pytest.raises(tx.ApplicationError) as e:
            tx.wait(f, 5, "held call")
        assert e.value.error == "wamp.error.canceled", e.value
    r.wait_for_log(r"session %d left realm realm1" % victim)
    # the procedure went with its callee
    with pytest.raises(tx.ApplicationError) as e:
        w.caller.call("com.chaos.held", 1)
    assert e.value.error == "wamp.error.no_such_procedure"
    _settled(r, w, baseline)


def test_publisher_killed_while_flooding(setup):
    r, w, peers = setup
    reader = RawReader(r, "com.chaos.flood")
    baseline = session_count(w.caller)
    p = Peer(r.url, "publisher", 64)
    peers.append(p)
    victim = p.session()
    p.wait_for("acked 1000", timeout=20)
    # a second publisher while the flood goes on: every event reaches the witness, in order
    before = len(w.events)
    for k in range(300):
        w.caller.publish("com.witness.topic", "second", k)
    got = w.events.wait(before + 300)[before:]
    assert [e.args for e in got] == [["second", k] for k in range(300)]
    p.kill9()
    r.wait_for_log(r"session %d left realm realm1" % victim)
    _settled(r, w, baseline)
    args = reader.stop()
    assert reader.error is None, reader.error
    seqs = [a[0] for a in args]
    assert len(seqs) >= 1000 and seqs == list(range(1, len(seqs) + 1)), \
        "flood events not 1..M in order: %d events, first gaps %r" % (
            len(seqs), [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1][:5])
