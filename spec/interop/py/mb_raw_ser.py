"""Hand-made WAMP peers that speak a chosen serializer (json, msgpack, cbor) on plain sockets:
WebSocket (subprotocol wamp.2.<ser>; binary frames for msgpack and cbor), RawSocket on TCP or
on a Unix domain socket (handshake serializer codes 1, 2, 3). For inputs no real client sends
(test_serializer_bad_input.py). Built on mb_raw; python3-msgpack and python3-cbor2 encode.
"""
import base64
import json
import socket
import struct
import time

import cbor2
import msgpack

import mb_raw as raw
from mb_router import T

CODES = {"json": 1, "msgpack": 2, "cbor": 3}


def _json_default(v):
    if isinstance(v, bytes):  # the spec's convention: "\0" + base64
        return "\x00" + base64.b64encode(v).decode("ascii")
    raise TypeError("cannot write %r as JSON" % (v,))


def _json_binary(v):
    if isinstance(v, str) and v.startswith("\x00"):
        return base64.b64decode(v[1:], validate=True)
    if isinstance(v, list):
        return [_json_binary(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_binary(x) for k, x in v.items()}
    return v


def encode(ser, obj):
    """obj in serializer `ser` (JSON: bytes as "\0" + base64)."""
    if ser == "json":
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                          default=_json_default).encode("utf-8")
    if ser == "msgpack":
        return msgpack.packb(obj, use_bin_type=True)
    if ser == "cbor":
        return cbor2.dumps(obj)
    raise ValueError(ser)


def decode(ser, data):
    """One message of serializer `ser` (JSON: "\0" + base64 strings read as bytes)."""
    if ser == "json":
        return _json_binary(json.loads(data))
    if ser == "msgpack":
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    if ser == "cbor":
        return cbor2.loads(data)
    raise ValueError(ser)


class UnixRawSocketConn(raw.RawSocketConn):
    """RawSocketConn on a Unix domain socket."""

    def __init__(self, path, handshake=b"\x7f\xf1\x00\x00", timeout=5):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(T(timeout))
        sock.connect(path)
        raw._Conn.__init__(self, sock)
        self.reply = None
        if handshake is not None:
            self.send_raw(handshake)
            self.reply = self._read_exact(4, time.monotonic() + T(timeout))


class SerConn:
    """A raw connection (`conn`: mb_raw.RawWebSocket or RawSocketConn) whose session speaks
    serializer `ser`: send()/recv() encode and decode WAMP messages; send_bytes() sends a
    message of exactly these bytes (WebSocket: in the frame type of the serializer)."""

    def __init__(self, conn, transport, ser):
        self.conn, self.transport, self.ser = conn, transport, ser
        self.websocket = isinstance(conn, raw.RawWebSocket)
        self._next_id = 0

    def next_id(self):
        self._next_id += 1
        return self._next_id

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()

    def close(self):
        self.conn.close()

    def send_bytes(self, data, text=None):
        """One message of `data`; WebSocket: a text frame if `text` (default: JSON sessions)."""
        if self.websocket:
            if text is None:
                text = self.ser == "json"
            return self.conn.send_frame(0x1 if text else 0x2, data)
        return self.conn.send_frame(raw.RawSocketConn.MSG, data)

    def send(self, obj):
        return self.send_bytes(encode(self.ser, obj))

    def recv_bytes(self, timeout=5):
        """The next message's bytes (WebSocket: it must come in the serializer's frame type)."""
        if not self.websocket:
            return self.conn.recv_message(timeout)
        deadline = time.monotonic() + T(timeout)
        parts, opcode = [], None
        while True:
            fin, op, payload = self.conn._frame(deadline)
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                reason = payload[2:].decode("utf-8", "replace")
                self.conn.close_frame = (code, reason)
                self.conn.send_close(code or 1000)
                raise raw.Closed("close", code, reason)
            if op == 0x9:
                self.conn.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if opcode is None:
                opcode = op
            parts.append(payload)
            if fin:
                want = 0x1 if self.ser == "json" else 0x2
                assert opcode == want, "a %s session got a message in a %s frame" % (
                    self.ser, {1: "text", 2: "binary"}.get(opcode, opcode))
                return b"".join(parts)

    def recv(self, timeout=5):
        data = self.recv_bytes(timeout)
        try:
            return decode(self.ser, data)
        except Exception as e:
            raise AssertionError("router sent invalid %s %r: %s" % (self.ser, data[:200], e))

    def expect(self, code, timeout=5):
        msg = self.recv(timeout)
        while code != raw.EVENT and raw.is_meta_event(msg):
            msg = self.recv(timeout)
        if not (isinstance(msg, list) and msg and msg[0] == code):
            raise AssertionError("expected %s, router sent %r" % (raw.NAMES.get(code, code), msg))
        return msg

    def join(self, realm="realm1"):
        self.send([raw.HELLO, realm, {"roles": raw.ROLES}])
        return self.expect(raw.WELCOME)

    def wait_closed(self, timeout=5):
        if not self.websocket:
            return self.conn.wait_closed(timeout)
        deadline = time.monotonic() + T(timeout)
        while True:
            try:
                self.recv_bytes(max(0.0, deadline - time.monotonic()) / T(1))
            except raw.Closed as c:
                if c.how == "close":
                    try:
                        while True:
                            self.conn._fill(deadline)
                            self.conn.buf.clear()
                    except raw.Closed:
                        pass
                    except raw.Timeout:
                        raise raw.Timeout("got close frame %s but the TCP connection stayed "
                                          "open" % c) from None
                return c

    def expect_abort_then_close(self, reason="wamp.error.protocol_violation", timeout=5):
        """ABORT(reason) with a non-empty details.message, in this session's serializer (and
        frame type), then the connection closes. Returns (abort message, Closed)."""
        return raw.check_abort_then_close(self.recv, self.wait_closed, reason, timeout)


def connect(router, transport, ser, unix=None, port=None, timeout=5):
    """A SerConn of `ser` over "websocket", "rawsocket" or "unix" (the router's first Unix
    RawSocket listener, or the path `unix`), handshake done and checked (not joined)."""
    if transport == "websocket":
        conn = raw.RawWebSocket(port or router.ws_port, protocol="wamp.2." + ser, timeout=timeout)
        if conn.protocol != "wamp.2." + ser:
            conn.close()
            raise AssertionError("asked for wamp.2.%s, the router chose %r" % (ser, conn.protocol))
        return SerConn(conn, transport, ser)
    handshake = bytes([0x7F, 0xF0 | CODES[ser], 0, 0])
    if transport == "unix":
        path = unix or router.find("rawsocket", unix=True).unix
        conn = UnixRawSocketConn(path, handshake, timeout=timeout)
    elif transport == "rawsocket":
        conn = raw.RawSocketConn(port or router.rawsocket_port, handshake=None, timeout=timeout)
        conn.send_raw(handshake)
        conn.reply = conn.read_handshake_reply(timeout)
    else:
        raise ValueError(transport)
    if conn.reply[0] != 0x7F or conn.reply[1] & 0x0F != CODES[ser] or conn.reply[2:] != b"\0\0":
        conn.close()
        raise AssertionError("RawSocket handshake for %s answered %s" % (ser, conn.reply.hex()))
    return SerConn(conn, transport, ser)
