"""A hand-made WAMP-over-HTTP-long-poll client (the advanced profile's transport), for
test_longpoll.py: open, send, receive and close as plain HTTP POSTs with http.client, one
keep-alive connection for sending and one for receiving (as a browser would use).

Owns: LongPoll (one transport: its ID, protocol, connections, and the messages received but not
yet taken) and post() (one raw request). Standard library, plus python3-msgpack and
python3-cbor2 for the binary protocols (mb_raw_ser).
"""
import http.client
import json
import struct
import time

import mb_raw_ser as rs
from mb_router import T

RS = b"\x1e"  # JSON batches: the record separator after each message (spec)


class Answer:
    """One HTTP answer: status, headers (lower-case names), body (bytes)."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<HTTP %d %r %r>" % (self.status, self.headers, self.body[:200])


def post(port, path, body=b"", headers=None, method="POST", timeout=5, conn=None):
    """One request (a new connection unless conn is given); returns an Answer."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=T(timeout))
    try:
        hdrs = {"Content-Type": "application/json; charset=utf-8"}
        hdrs.update(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8")
        c.request(method, path, body=body if method in ("POST", "PUT") or body else None, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        if conn is None:
            c.close()


def split_batch(ser, body):
    """The messages of a batched body (JSON: each ends with 0x1e; binary: 4-byte lengths)."""
    if ser == "json":
        assert body.endswith(RS), body[-20:]
        return [json.loads(p) for p in body.split(RS)[:-1]]
    out, i = [], 0
    while i < len(body):
        (n,) = struct.unpack("!L", body[i:i + 4])
        out.append(rs.decode(ser, body[i + 4:i + 4 + n]))
        i += 4 + n
    assert i == len(body)
    return out


def make_batch(ser, msgs):
    if ser == "json":
        return b"".join(rs.encode("json", m) + RS for m in msgs)
    return b"".join(struct.pack("!L", len(e)) + e for e in (rs.encode(ser, m) for m in msgs))


class LongPoll:
    """One long-poll transport of the router on `port`, under `base` ("/lp")."""

    def __init__(self, port, base="/lp", protocol="wamp.2.json"):
        self.port, self.base, self.protocol = port, base, protocol
        parts = protocol.split(".")
        self.ser = parts[2]
        self.batched = parts[-1] == "batched"
        self.id = None
        self.pending = []  # received, not yet taken by recv()
        self._tx = self._rx = None

    # -- requests

    def _conn(self, which, timeout):
        c = getattr(self, which)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=T(timeout))
            setattr(self, which, c)
        c.timeout = T(timeout)
        if c.sock is not None:
            c.sock.settimeout(T(timeout))
        return c

    def request(self, op, body=b"", which="_tx", timeout=5, headers=None):
        """POST base/ID/op (or base/op before open) on a kept-alive connection."""
        path = "%s/%s/%s" % (self.base, self.id, op) if self.id else "%s/%s" % (self.base, op)
        for attempt in (1, 2):
            c = self._conn(which, timeout)
            try:
                a = post(self.port, path, body, headers=headers, conn=c, timeout=timeout)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                c.close()
                setattr(self, which, None)
                if attempt == 2:
                    raise
                continue
            if a.header("connection") == "close":
                c.close()
                setattr(self, which, None)
            return a

    def open(self, protocols=None):
        a = post(self.port, self.base + "/open",
                 json.dumps({"protocols": protocols or [self.protocol]}))
        assert a.status == 200, a
        info = json.loads(a.body)
        self.id, self.protocol = info["transport"], info["protocol"]
        return info

    def encode(self, msgs):
        if self.batched:
            return make_batch(self.ser, msgs)
        assert len(msgs) == 1
        return rs.encode(self.ser, msgs[0])

    def send_raw(self, body, timeout=5):
        return self.request("send", body, timeout=timeout)

    def send(self, *msgs, timeout=5):
        """Sends the messages (one POST each when unbatched, one batch otherwise); each 204."""
        bodies = [self.encode(list(msgs))] if self.batched else [self.encode([m]) for m in msgs]
        for b in bodies:
            a = self.send_raw(b, timeout)
            assert a.status == 204, a
            assert a.body == b""

    def receive_raw(self, timeout=15):
        return self.request("receive", which="_rx", timeout=timeout)

    def receive(self, timeout=15):
        """One receive: the messages it brought ([] for an empty answer)."""
        a = self.receive_raw(timeout)
        if a.status == 204:
            return []
        assert a.status == 200, a
        if self.batched:
            return split_batch(self.ser, a.body)
        return [rs.decode(self.ser, a.body)]

    def recv(self, timeout=5):
        """The next message (polling as needed); fails after timeout."""
        deadline = time.monotonic() + T(timeout)
        while not self.pending:
            assert time.monotonic() < deadline, "no message within %.1fs" % T(timeout)
            self.pending.extend(self.receive())
        return self.pending.pop(0)

    def expect(self, code, timeout=5):
        """The next message that is not a meta event, which must have type `code`."""
        m = self.recv(timeout)
        assert m[0] == code, m
        return m

    def request_reply(self, msg, timeout=5):
        self.send(msg)
        return self.recv(timeout)

    def close(self):
        a = self.request("close")
        for c in (self._tx, self._rx):
            if c is not None:
                c.close()
        self._tx = self._rx = None
        return a

    def drop(self):
        """Forget the connections without a close (a client that goes away)."""
        for c in (self._tx, self._rx):
            if c is not None:
                c.close()
        self._tx = self._rx = None


def joined(port, base="/lp", protocol="wamp.2.json", realm="realm1", roles=None):
    """An open transport whose session joined realm; returns (LongPoll, WELCOME)."""
    lp = LongPoll(port, base, protocol)
    lp.open()
    lp.send([1, realm, {"roles": roles or {"publisher": {}, "subscriber": {}, "caller": {}, "callee": {}}}])
    welcome = lp.recv()
    assert welcome[0] == 2, welcome
    return lp, welcome
