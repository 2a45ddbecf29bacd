"""The serializer matrix: autobahn-python peers, one per (transport, serializer), that publish to
and call each other with the payloads of mb_payloads.SER_PAYLOADS, checked type-strictly at the
far end (test_serializers.py, test_serializers_tls.py).

Owns: Peer (a joined client with a subscription to its own topic and an echo procedure that
records every invocation), the choice of pairs (all of them, or a bounded subset for valgrind),
and the checks (publish_and_check, call_and_check, error_and_check).

MOONBAR_MATRIX=full runs every pair, =short the subset; unset: the subset under valgrind
(MOONBAR_TIMEOUT_SCALE >= 10), every pair otherwise.
"""
import itertools
import os
import threading

import mb_payloads
import mb_twisted as tx
from mb_router import SCALE, T

SERIALIZERS = ["json", "msgpack", "cbor"]
BINARY_SERIALIZERS = {"msgpack", "cbor"}


def short_matrix():
    mode = os.environ.get("MOONBAR_MATRIX", "")
    if mode == "short":
        return True
    if mode == "full":
        return False
    return SCALE >= 10


def end_id(end):
    transport, ser = end
    return "%s.%s" % (transport, ser)


def pair_id(pair):
    return "%s->%s" % (end_id(pair[0]), end_id(pair[1]))


def payloads_for(sender_ser, receiver_ser):
    """The payload sets that must arrive intact between a `sender_ser` and a `receiver_ser`
    session (either way)."""
    out = dict(mb_payloads.SER_PAYLOADS)
    if sender_ser in BINARY_SERIALIZERS and receiver_ser in BINARY_SERIALIZERS:
        out.update(mb_payloads.BINARY_ONLY_PAYLOADS)
    return out


class Peer:
    """One joined autobahn-python session of a (transport, serializer) end: subscribed to
    `topic` (events kept in `events`), callee of `echo` (returns what it got, and keeps it in
    `invocations`) and of `fail` (raises com.matrix.error with what it got)."""

    _n = itertools.count(1)

    def __init__(self, router, transport, ser, **connect_kw):
        self.end = (transport, ser)
        self.name = "%s_%s_%d" % (transport.replace("-", "_"), ser, next(self._n))
        self.client = tx.connect(router, transport, serializers=ser, **connect_kw)
        self.topic = "com.matrix.%s.topic" % self.name
        self.echo = "com.matrix.%s.echo" % self.name
        self.fail = "com.matrix.%s.fail" % self.name
        self.invocations = []
        self.lock = threading.Lock()
        _, self.events = self.client.subscribe(self.topic)

        def echo(*args, **kwargs):
            with self.lock:
                self.invocations.append((list(args), dict(kwargs)))
            return tx.CallResult(*args, **kwargs)

        def fail(*args, **kwargs):
            raise tx.ApplicationError("com.matrix.error", *args, **kwargs)

        self.client.register(self.echo, echo)
        self.client.register(self.fail, fail)

    def last_invocation(self):
        with self.lock:
            return self.invocations[-1] if self.invocations else None

    def close(self):
        self.client.close()


def wait_event(sink, publication, timeout=5):
    """The event of `publication` among those `sink` received."""
    with sink.cond:
        ok = sink.cond.wait_for(
            lambda: any(e.details.publication == publication for e in sink.items), T(timeout))
        if not ok:
            raise AssertionError("no event of publication %s within %.1fs (%d other events)"
                                 % (publication, T(timeout), len(sink.items)))
        return next(e for e in sink.items if e.details.publication == publication)


def check_all(what, results):
    """results: [(payload name, difference or None)]; one assertion naming every failure."""
    bad = ["%s: %s" % (name, d) for name, d in results if d]
    assert not bad, "%s:\n  %s" % (what, "\n  ".join(bad))


def publish_and_check(sender, receiver):
    """Every payload from sender to receiver's topic: the EVENT has the same values."""
    results = []
    for name, (args, kwargs) in payloads_for(sender.end[1], receiver.end[1]).items():
        pub = sender.client.publish(receiver.topic, *args, _exclude_me=False, **kwargs)
        ev = wait_event(receiver.events, pub.id)
        results.append((name, mb_payloads.difference([ev.args, ev.kwargs], [args, kwargs])))
    check_all("events %s -> %s" % (end_id(sender.end), end_id(receiver.end)), results)


def call_and_check(caller, callee):
    """Every payload from caller to callee's echo: the INVOCATION has the same values, and so
    has the RESULT of the echo."""
    results = []
    for name, (args, kwargs) in payloads_for(caller.end[1], callee.end[1]).items():
        res = caller.client.call(callee.echo, *args, **kwargs)
        inv = callee.last_invocation()
        results.append((name + " (invocation)",
                        mb_payloads.difference(list(inv) if inv else None, [args, kwargs])))
        results.append((name + " (result)",
                        mb_payloads.difference(list(tx.result_parts(res)), [args, kwargs])))
    check_all("calls %s -> %s" % (end_id(caller.end), end_id(callee.end)), results)


def error_and_check(caller, callee, names=("ints", "binary", "unicode", "nested")):
    """Payloads in a callee's ERROR reach the caller with the same values."""
    results = []
    sets = payloads_for(caller.end[1], callee.end[1])
    for name in names:
        args, kwargs = sets[name]
        try:
            caller.client.call(callee.fail, *args, **kwargs)
        except tx.ApplicationError as e:
            results.append((name, mb_payloads.difference(
                [e.error, list(e.args), dict(e.kwargs)], ["com.matrix.error", args, kwargs])))
        else:
            results.append((name, "the call succeeded"))
    check_all("errors %s -> %s" % (end_id(callee.end), end_id(caller.end)), results)
