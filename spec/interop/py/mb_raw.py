"""Hand-made WAMP peers on plain sockets, for inputs no real client would send.

Owns: RawWebSocket (RFC 6455 client: handshake with a chosen
Sec-WebSocket-Protocol, masked frames, close frames), RawSocketConn (WAMP
RawSocket: 4-byte handshake, framed messages, PING/PONG), http_get, and the
WAMP helpers hello/join/expect. Standard library only.
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time

from mb_router import T, T_quiet

HOST = "127.0.0.1"

# WAMP message codes
HELLO, WELCOME, ABORT, CHALLENGE, AUTHENTICATE, GOODBYE, ERROR = 1, 2, 3, 4, 5, 6, 8
PUBLISH, PUBLISHED = 16, 17
SUBSCRIBE, SUBSCRIBED, UNSUBSCRIBE, UNSUBSCRIBED, EVENT = 32, 33, 34, 35, 36
CALL, RESULT = 48, 50
REGISTER, REGISTERED, UNREGISTER, UNREGISTERED, INVOCATION, YIELD = 64, 65, 66, 67, 68, 70

ROLES = {"publisher": {}, "subscriber": {}, "caller": {}, "callee": {}}


class Closed(Exception):
    """The peer closed the connection.

    how: "close" (WebSocket close frame; code/reason set), "eof" or "reset".
    """

    def __init__(self, how, code=None, reason=None):
        super().__init__("connection closed (%s, code=%r, reason=%r)" % (how, code, reason))
        self.how, self.code, self.reason = how, code, reason


class Timeout(AssertionError):
    pass


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class _Conn:
    """Buffered socket reads with deadlines; shared by both raw transports."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = None  # Closed once the socket reached EOF/reset
        self._next_id = 0

    def next_id(self):
        self._next_id += 1
        return self._next_id

    def _fill(self, deadline):
        if self.eof:
            raise self.eof
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("timed out waiting for data")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            raise Timeout("timed out waiting for data") from None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            self.eof = Closed("reset")
            raise self.eof from None
        if not data:
            self.eof = Closed("eof")
            raise self.eof
        self.buf += data

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send_raw(self, data):
        """Send bytes; returns False if the peer already closed (EPIPE/reset)."""
        try:
            self.sock.settimeout(T(10))
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False

    def read_until_closed(self, timeout=5):
        """All bytes until EOF/reset: (data, Closed). Timeout if it stays open."""
        deadline = time.monotonic() + T(timeout)
        while True:
            try:
                self._fill(deadline)
            except Closed as c:
                data = bytes(self.buf)
                self.buf.clear()
                return data, c

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- WAMP-level helpers common to both transports

    def send_json(self, obj):
        return self.send_text(dumps(obj))

    def recv_json(self, timeout=5):
        data = self.recv_message(timeout)
        try:
            return json.loads(data)
        except ValueError as e:
            raise AssertionError("router sent invalid JSON %r: %s" % (data[:200], e))


class HandshakeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__("WebSocket upgrade refused: HTTP %s" % status)
        self.status, self.headers, self.body = status, headers, body


def _read_http_head(conn, deadline):
    while b"\r\n\r\n" not in conn.buf:
        conn._fill(deadline)
    i = conn.buf.index(b"\r\n\r\n")
    head = bytes(conn.buf[:i]).decode("latin-1")
    del conn.buf[:i + 4]
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


class RawWebSocket(_Conn):
    """Minimal RFC 6455 client. Text frames carry WAMP JSON."""

    def __init__(self, port, path="/ws", protocol="wamp.2.json", timeout=5, extra_headers=(),
                 host=HOST):
        sock = socket.create_connection((host, port), timeout=T(timeout))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
               "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        if protocol is not None:
            req.append("Sec-WebSocket-Protocol: " + protocol)
        req.extend(extra_headers)
        self.send_raw(("\r\n".join(req) + "\r\n\r\n").encode("latin-1"))
        deadline = time.monotonic() + T(timeout)
        try:
            status, headers = _read_http_head(self, deadline)
        except Closed:
            self.close()
            raise HandshakeRefused(None, {}, b"")
        if status != 101:
            body = bytes(self.buf)
            try:
                while len(body) < int(headers.get("content-length", "0") or 0):
                    self._fill(deadline)
                    body = bytes(self.buf)
            except (Closed, Timeout):
                pass
            self.close()
            raise HandshakeRefused(status, headers, body)
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            self.close()
            raise AssertionError("bad Sec-WebSocket-Accept %r" % headers.get("sec-websocket-accept"))
        self.status = status
        self.headers = headers
        self.protocol = headers.get("sec-websocket-protocol")
        self.close_frame = None  # (code, reason) once a close frame arrived

    def send_frame(self, opcode, payload, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        return self.send_raw(head + mask + _mask_fast(payload, mask))

    def send_text(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        return self.send_frame(0x1, data)

    def send_close(self, code=1000, reason=b""):
        return self.send_frame(0x8, struct.pack("!H", code) + reason)

    def recv_frame(self, timeout=5):
        """One frame: (fin, opcode, payload)."""
        return self._frame(time.monotonic() + T(timeout))

    def _frame(self, deadline):
        b0, b1 = self._read_exact(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8, deadline))[0]
        mask = self._read_exact(4, deadline) if b1 & 0x80 else None
        payload = self._read_exact(n, deadline)
        if mask:
            payload = _mask_fast(payload, mask)
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self, timeout=5):
        """Next text/binary message (reassembled); answers PINGs; Closed on close/EOF."""
        return self._message(time.monotonic() + T(timeout))

    def _message(self, deadline):
        parts = []
        while True:
            fin, op, payload = self._frame(deadline)
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                reason = payload[2:].decode("utf-8", "replace")
                self.close_frame = (code, reason)
                self.send_close(code or 1000)
                raise Closed("close", code, reason)
            if op == 0x9:
                self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            parts.append(payload)
            if fin:
                return b"".join(parts)

    def wait_closed(self, timeout=5):
        """Read (and drop) messages until the connection closes; returns the Closed.
        After a close frame the TCP connection must close too."""
        deadline = time.monotonic() + T(timeout)
        while True:
            try:
                self._message(deadline)
            except Closed as c:
                if c.how == "close":
                    try:
                        while True:
                            self._fill(deadline)
                            self.buf.clear()
                    except Closed:
                        pass
                    except Timeout:
                        raise Timeout("got close frame %s but the TCP connection stayed open"
                                      % c) from None
                return c


def _mask_fast(payload, mask):
    n = len(payload)
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


class RawSocketConn(_Conn):
    """WAMP RawSocket client. handshake=None: connect only (send bytes yourself).
    unix=PATH: over a Unix domain socket instead of host:port; tls=ssl.SSLContext: over TLS;
    source: the local address to connect from."""

    MSG, PING, PONG = 0, 1, 2

    def __init__(self, port, handshake=b"\x7f\xf1\x00\x00", timeout=5, rcvbuf=None, host=HOST,
                 unix=None, tls=None, source=None):
        sock = socket.socket(socket.AF_UNIX if unix else socket.AF_INET, socket.SOCK_STREAM)
        if source:  # the local address to connect from (another 127.x.y.z: another peer address)
            sock.bind((source, 0))
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(T(timeout))
        try:
            sock.connect(unix if unix else (host, port))
            if not unix:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        super().__init__(sock)
        self.reply = None
        if handshake is not None:
            self.send_raw(handshake)
            self.reply = self._read_exact(4, time.monotonic() + T(timeout))
            if self.reply[0] != 0x7F or self.reply[1] & 0x0F != 1:
                raise AssertionError("RawSocket handshake refused: %s" % self.reply.hex())

    def read_handshake_reply(self, timeout=5):
        return self._read_exact(4, time.monotonic() + T(timeout))

    def send_frame(self, ftype, payload):
        return self.send_raw(struct.pack("!I", (ftype << 24) | len(payload)) + payload)

    def send_text(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        return self.send_frame(self.MSG, data)

    def recv_frame(self, timeout=5):
        """One frame: (type, payload, first header byte)."""
        return self._frame(time.monotonic() + T(timeout))

    def _frame(self, deadline):
        head = self._read_exact(4, deadline)
        n = struct.unpack("!I", b"\x00" + head[1:])[0]
        return head[0] & 0x07, self._read_exact(n, deadline), head[0]

    def recv_message(self, timeout=5):
        deadline = time.monotonic() + T(timeout)
        while True:
            ftype, payload, _ = self._frame(deadline)
            if ftype == self.PING:
                self.send_frame(self.PONG, payload)
                continue
            if ftype == self.PONG:
                continue
            if ftype != self.MSG:
                raise AssertionError("router sent RawSocket frame type %d" % ftype)
            return payload

    def wait_closed(self, timeout=5):
        """Read (and drop) bytes until EOF/reset; returns the Closed."""
        deadline = time.monotonic() + T(timeout)
        while True:
            try:
                self._fill(deadline)
                self.buf.clear()
            except Closed as c:
                return c


# ---------------------------------------------------------------- transports

def connect(router, transport, **kw):
    """A raw connection of kind "websocket" or "rawsocket" to `router`."""
    if transport == "websocket":
        return RawWebSocket(router.ws_port, **kw)
    if transport == "rawsocket":
        return RawSocketConn(router.rawsocket_port, **kw)
    raise ValueError(transport)


# ---------------------------------------------------------------- WAMP helpers

NAMES = {1: "HELLO", 2: "WELCOME", 3: "ABORT", 4: "CHALLENGE", 5: "AUTHENTICATE", 6: "GOODBYE", 8: "ERROR", 16: "PUBLISH",
         17: "PUBLISHED", 32: "SUBSCRIBE", 33: "SUBSCRIBED", 34: "UNSUBSCRIBE",
         35: "UNSUBSCRIBED", 36: "EVENT", 48: "CALL", 50: "RESULT", 64: "REGISTER",
         65: "REGISTERED", 66: "UNREGISTER", 67: "UNREGISTERED", 68: "INVOCATION", 70: "YIELD"}


def is_meta_event(msg):
    """An EVENT on one of the router's wamp.* meta topics (a pattern subscription such as '..'
    receives them too)."""
    return (isinstance(msg, list) and len(msg) > 3 and msg[0] == EVENT and isinstance(msg[3], dict)
            and str(msg[3].get("topic", "")).startswith("wamp."))


def quiet(conn, seconds=0.3):
    """Every message but meta events that arrives within T_quiet(seconds) (a list, usually
    expected to be empty)."""
    got = []
    deadline = time.monotonic() + T_quiet(seconds)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        try:
            msg = conn.recv_json(left / T(1))  # recv_json scales its timeout
        except Timeout:
            return got
        if not is_meta_event(msg):
            got.append(msg)


def expect(conn, code, timeout=5):
    """Receive one message (meta events skipped) and check it is of type `code`."""
    msg = conn.recv_json(timeout)
    while code != EVENT and is_meta_event(msg):
        msg = conn.recv_json(timeout)
    if not (isinstance(msg, list) and msg and msg[0] == code):
        raise AssertionError("expected %s, router sent %r" % (NAMES.get(code, code), msg))
    return msg


def hello(conn, realm="realm1", **details):
    """Send HELLO (roles default to all four client roles) and return the answer."""
    d = {"roles": ROLES}
    d.update(details)
    conn.send_json([HELLO, realm, d])
    return conn.recv_json()


def join(conn, realm="realm1", **details):
    """HELLO + WELCOME; returns the WELCOME message."""
    msg = hello(conn, realm, **details)
    if not (isinstance(msg, list) and msg and msg[0] == WELCOME):
        raise AssertionError("expected WELCOME, router sent %r" % (msg,))
    return msg


def request(conn, msg, timeout=5):
    """Send `msg` (request ID filled in at index 1 when None) and return the answer."""
    msg = list(msg)
    if msg[1] is None:
        msg[1] = conn.next_id()
    conn.send_json(msg)
    return conn.recv_json(timeout)


def subscribe(conn, topic, options=None):
    req = conn.next_id()
    conn.send_json([SUBSCRIBE, req, options or {}, topic])
    msg = expect(conn, SUBSCRIBED)
    assert msg[1] == req, msg
    return msg[2]


def register(conn, procedure, options=None):
    req = conn.next_id()
    conn.send_json([REGISTER, req, options or {}, procedure])
    msg = expect(conn, REGISTERED)
    assert msg[1] == req, msg
    return msg[2]


def expect_abort_then_close(conn, reason="wamp.error.protocol_violation", timeout=5):
    """The next message is ABORT(reason) with a non-empty details.message, then the
    transport closes. Returns (abort message, Closed)."""
    return check_abort_then_close(conn.recv_json, conn.wait_closed, reason, timeout)


def check_abort_then_close(recv, wait_closed, reason, timeout):
    """expect_abort_then_close for any connection: recv(timeout) gives the next decoded
    message, wait_closed(timeout) the Closed once the transport is gone."""
    try:
        msg = recv(timeout)
    except Closed as c:
        raise AssertionError("connection closed (%s) without ABORT %s" % (c, reason))
    assert isinstance(msg, list) and len(msg) == 3 and msg[0] == ABORT, \
        "expected ABORT %s, router sent %r" % (reason, msg)
    assert msg[2] == reason, "expected ABORT reason %s, got %r" % (reason, msg)
    assert isinstance(msg[1], dict), msg
    m = msg[1].get("message")
    assert isinstance(m, str) and m.strip(), "ABORT details.message must be a non-empty " \
        "string: %r" % (msg,)
    return msg, wait_closed(timeout)


# ---------------------------------------------------------------- HTTP

def http_get(port, path, headers=(), timeout=5, method="GET"):
    """Send one request with the path exactly as given; returns (status, headers, body)."""
    sock = socket.create_connection((HOST, port), timeout=T(timeout))
    conn = _Conn(sock)
    try:
        req = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port,
               "Connection: close"] + list(headers)
        conn.send_raw(("\r\n".join(req) + "\r\n\r\n").encode("latin-1"))
        deadline = time.monotonic() + T(timeout)
        status, hdrs = _read_http_head(conn, deadline)
        length = hdrs.get("content-length")
        if method == "HEAD":
            return status, hdrs, b""
        if length is not None:
            while len(conn.buf) < int(length):
                conn._fill(deadline)
            return status, hdrs, bytes(conn.buf[:int(length)])
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in conn.buf:
                    conn._fill(deadline)
                i = conn.buf.index(b"\r\n")
                size = int(bytes(conn.buf[:i]).split(b";")[0], 16)
                del conn.buf[:i + 2]
                while len(conn.buf) < size + 2:
                    conn._fill(deadline)
                body += bytes(conn.buf[:size])
                del conn.buf[:size + 2]
                if size == 0:
                    return status, hdrs, body
        try:
            while True:
                conn._fill(deadline)
        except Closed:
            pass
        return status, hdrs, bytes(conn.buf)
    finally:
        conn.close()
