"""Helpers for the M2 tests (pattern-based subscriptions/registrations, shared
registrations): subscribing with a match policy through the Twisted facade,
unique URIs, and a few raw-wire helpers. Builds on mb_twisted and mb_raw
without changing them.
"""
import select
import time
import uuid

import mb_raw as raw
import mb_twisted as tx
from mb_router import T


def uid():
    """A short unique URI component."""
    return "u" + uuid.uuid4().hex[:10]


def subscribe(client, topic, match=None, sink=None, _timeout=5):
    """Like Client.subscribe, with SubscribeOptions.match; returns (Subscription, Sink of Event).
    Event.details is autobahn's EventDetails (details.topic, details.subscription)."""
    sink = sink if sink is not None else tx.Sink()

    def handler(*args, **kwargs):
        details = kwargs.pop("_details", None)
        sink.add(tx.Event(list(args), kwargs, details))

    sub = tx.in_reactor(client.session.subscribe, handler, topic,
                        options=tx.SubscribeOptions(match=match, details_arg="_details"),
                        _timeout=_timeout)
    return sub, sink


def named(name):
    """A callee endpoint that answers every call with `name`."""
    def endpoint(*args, **kwargs):
        return name
    endpoint.__name__ = "endpoint_" + "".join(c if c.isalnum() else "_" for c in name)
    return endpoint


def error_of(fn, *a, **kw):
    """The ApplicationError URI raised by fn(*a, **kw); AssertionError if none."""
    try:
        r = fn(*a, **kw)
    except tx.ApplicationError as e:
        return e.error
    raise AssertionError("expected an ApplicationError, got result %r" % (r,))


# ---------------------------------------------------------------- raw wire

def recv_app(conn, timeout=None):
    """The next message that is not a meta event: patterns such as '..' also match the router's
    own wamp.* meta topics (wamp.subscription.on_create, ...), which the models here leave out."""
    while True:
        msg = conn.recv_json(timeout) if timeout is not None else conn.recv_json()
        if not raw.is_meta_event(msg):
            return msg


def raw_request_error(conn, msg):
    """Send a request (request ID at index 1 filled in) expecting ERROR; returns the ERROR."""
    msg = list(msg)
    msg[1] = conn.next_id()
    conn.send_json(msg)
    got = recv_app(conn)
    assert isinstance(got, list) and got and got[0] == raw.ERROR, \
        "sent %r, expected ERROR, router sent %r" % (msg, got)
    assert got[1] == msg[0] and got[2] == msg[1], "sent %r, got %r" % (msg, got)
    return got


def raw_subscribe_answer(conn, topic, options):
    """Send SUBSCRIBE and return whatever the router answers."""
    req = conn.next_id()
    sent = [raw.SUBSCRIBE, req, options, topic]
    conn.send_json(sent)
    return sent, recv_app(conn)


def raw_register_answer(conn, procedure, options):
    req = conn.next_id()
    sent = [raw.REGISTER, req, options, procedure]
    conn.send_json(sent)
    return sent, recv_app(conn)


def raw_publish(conn, topic, args, exclude_me=None):
    """PUBLISH with acknowledge; returns the publication ID (waits for PUBLISHED, skipping
    any EVENT that arrives first, which is returned in the second element)."""
    req = conn.next_id()
    opts = {"acknowledge": True}
    if exclude_me is not None:
        opts["exclude_me"] = exclude_me
    conn.send_json([raw.PUBLISH, req, opts, topic, args])
    early = []
    while True:
        msg = recv_app(conn)
        if msg[0] == raw.PUBLISHED and msg[1] == req:
            return msg[2], early
        if msg[0] == raw.EVENT:
            early.append(msg)
            continue
        raise AssertionError("PUBLISH %s: expected PUBLISHED, router sent %r" % (topic, msg))


def raw_events(conn, n, timeout=5):
    """The next n messages, which must all be EVENTs."""
    out = []
    for _ in range(n):
        msg = recv_app(conn, timeout)
        assert msg[0] == raw.EVENT, "expected EVENT, router sent %r (after %r)" % (msg, out)
        out.append(msg)
    return out


def raw_events_until_marker(conn, marker_sub, timeout=5):
    """EVENTs received until (and without) the first EVENT on subscription `marker_sub`."""
    out = []
    while True:
        msg = recv_app(conn, timeout)
        assert msg[0] == raw.EVENT, "expected EVENT, router sent %r (after %r)" % (msg, out)
        if msg[1] == marker_sub:
            return out
        out.append(msg)


# ---------------------------------------------------------------- reference model

def model_matches(pattern, match, topic):
    """Does `topic` match (pattern, match) by docs/behaviour.md's rules?"""
    if match == "exact":
        return topic == pattern
    if match == "prefix":
        return topic.startswith(pattern)
    pc, tc = pattern.split("."), topic.split(".")
    return len(pc) == len(tc) and all(p == "" or p == t for p, t in zip(pc, tc))


def model_pick_registration(regs, uri):
    """The registration the dealer must pick for `uri` among `regs` ((pattern, match)
    pairs): exact, else the longest prefix, else the wildcard that is concrete where the
    other is a wildcard at the first component where they differ. None: no match."""
    hits = [r for r in regs if model_matches(r[0], r[1], uri)]
    for r in hits:
        if r[1] == "exact":
            return r
    prefixes = [r for r in hits if r[1] == "prefix"]
    if prefixes:
        return max(prefixes, key=lambda r: len(r[0]))
    wild = [r for r in hits if r[1] == "wildcard"]
    if wild:
        return max(wild, key=lambda r: tuple(c != "" for c in r[0].split(".")))
    return None


def raw_ready(conns, timeout=5):
    """The first of `conns` (mb_raw connections) with data to read, or None on timeout."""
    deadline = time.monotonic() + T(timeout)
    while True:
        for c in conns:
            if c.buf:
                return c
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([c.sock for c in conns], [], [], left)
        for c in conns:
            if c.sock in r:
                return c
