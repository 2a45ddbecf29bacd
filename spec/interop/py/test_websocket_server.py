"""moonbar's own HTTP/1.1 + WebSocket server (RFC 6455, permessage-deflate of RFC 7692), by
raw sockets: HTTP errors and keep-alive, the upgrade's checks, the subprotocol choice, frame
rules and their close codes, fragments, pings, the frame kind of each serializer, and
compression (raw and with autobahn-python)."""
import os
import socket
import struct
import time
import zlib

import pytest

import mb_raw as raw
import mb_router
import mb_twisted as tx
from mb_router import DELETE, T, WEB_FILES

LIMIT = 65536


@pytest.fixture(scope="module")
def deflate_router(tmp_path_factory):
    """WebSocket with compression = true (the listeners key), RawSocket beside it."""
    with mb_router.running(tmp_path_factory.mktemp("deflate"), {
            "websocket": DELETE, "rawsocket": DELETE,
            "limits": {"max_message_size": LIMIT},
            "listeners": [
                {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws", "web_root": "www",
                 "compression": True},
                {"type": "rawsocket", "host": "127.0.0.1", "port": 0},
            ]}) as r:
        yield r


# ---------------------------------------------------------------- HTTP by hand

class Http:
    """One TCP connection speaking HTTP/1.1 by hand."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=T(5))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def response(self, head_only=False):
        """(status, headers, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n\r\n")
        lines = self.buf[:i].decode("latin-1").split("\r\n")
        self.buf = self.buf[i + 4:]
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed(self):
        """True once the server closed the connection (within a few seconds)."""
        self.sock.settimeout(T(3))
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(path, extra=""):
    return "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, extra)


def test_unknown_path_is_404_and_the_connection_stays(router):
    with Http(router.ws_port) as h:
        h.send(get("/no/such/file.html"))
        status, headers, _ = h.response()
        assert status == 404
        h.send(get("/index.html"))
        status, _, body = h.response()
        assert status == 200 and body == WEB_FILES["index.html"]


def test_keep_alive_serves_two_requests_on_one_connection_even_pipelined(router):
    with Http(router.ws_port) as h:
        h.send(get("/app.js"))
        assert h.response()[2] == WEB_FILES["app.js"]
        h.send(get("/style.css") + get("/sub/page.html"))
        s1, h1, b1 = h.response()
        s2, h2, b2 = h.response()
        assert (s1, b1) == (200, WEB_FILES["style.css"]) and h1["content-type"].startswith("text/css")
        assert (s2, b2) == (200, WEB_FILES["sub/page.html"])


def test_connection_close_is_honoured(router):
    with Http(router.ws_port) as h:
        h.send(get("/notes.txt", "Connection: close\r\n"))
        status, headers, body = h.response()
        assert status == 200 and body == WEB_FILES["notes.txt"]
        assert headers.get("connection", "").lower() == "close"
        assert h.closed()


def test_http_1_0_closes_after_the_response(router):
    with Http(router.ws_port) as h:
        h.send("GET /notes.txt HTTP/1.0\r\n\r\n")
        assert h.response()[2] == WEB_FILES["notes.txt"]
        assert h.closed()


def test_head_has_the_headers_of_get_and_no_body(router):
    with Http(router.ws_port) as h:
        h.send("HEAD /data.json HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = h.response(head_only=True)
        assert status == 200
        assert int(headers["content-length"]) == len(WEB_FILES["data.json"])
        assert headers["content-type"].startswith("application/json")
        h.send(get("/data.json"))  # no stray body came before this answer
        assert h.response()[2] == WEB_FILES["data.json"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_are_405_with_allow(router, method):
    with Http(router.ws_port) as h:
        h.send("%s /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % method)
        status, headers, _ = h.response()
        assert status == 405
        assert "GET" in headers.get("allow", "") and "HEAD" in headers.get("allow", "")


def test_head_over_8k_is_431(router):
    with Http(router.ws_port) as h:
        h.send("GET / HTTP/1.1\r\nX-Big: " + "a" * 9000 + "\r\n\r\n")
        assert h.response()[0] == 431
        assert h.closed()


def test_head_over_8k_in_pieces_is_431(router):
    with Http(router.ws_port) as h:
        h.send("GET / HTTP/1.1\r\n")
        for _ in range(10):
            h.send("X-Piece: " + "b" * 1000 + "\r\n")
            time.sleep(0.01)
        assert h.response()[0] == 431


@pytest.mark.parametrize("head", ["GARBAGE\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
                                  "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "GET / HTTP/3.0\r\n\r\n"],
                         ids=["garbage", "no-version", "no-colon", "folding", "version"])
def test_malformed_head_is_400(router, head):
    with Http(router.ws_port) as h:
        h.send(head)
        assert h.response()[0] == 400
        assert h.closed()


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt",
                                  "/.%2e/secret.txt"])
def test_path_traversal_is_refused(router, path):
    with Http(router.ws_port) as h:
        h.send(get(path))
        status, _, body = h.response()
        assert status in (403, 404) and mb_router.SECRET.strip() not in body


def test_a_file_bigger_than_one_read_is_served_whole(router):
    data = os.urandom(300 * 1024)
    (router.workdir / "www" / "big.bin").write_bytes(data)
    with Http(router.ws_port) as h:
        h.send(get("/big.bin"))
        status, headers, body = h.response()
        assert status == 200 and body == data


# ---------------------------------------------------------------- the upgrade

def upgrade_head(path="/ws", version="13", key="dGhlIHNhbXBsZSBub25jZQ==", protocol="wamp.2.json", extra=""):
    lines = ["GET %s HTTP/1.1" % path, "Host: x", "Upgrade: websocket", "Connection: Upgrade"]
    if version is not None:
        lines.append("Sec-WebSocket-Version: " + version)
    if key is not None:
        lines.append("Sec-WebSocket-Key: " + key)
    if protocol is not None:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    return "\r\n".join(lines) + "\r\n" + extra + "\r\n"


def test_upgrade_answers_the_rfc_accept(router):
    with Http(router.ws_port) as h:
        h.send(upgrade_head())
        status, headers, _ = h.response(head_only=True)
        assert status == 101
        assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert headers["sec-websocket-protocol"] == "wamp.2.json"
        assert "sec-websocket-extensions" not in headers  # compression is off by default


@pytest.mark.parametrize("version", ["8", "14", None])
def test_upgrade_with_another_version_is_426(router, version):
    with Http(router.ws_port) as h:
        h.send(upgrade_head(version=version))
        status, headers, _ = h.response()
        assert status == 426 and headers.get("sec-websocket-version") == "13"


@pytest.mark.parametrize("key", ["short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBs!SBub25jZQ==", None])
def test_upgrade_with_a_bad_key_is_400(router, key):
    with Http(router.ws_port) as h:
        h.send(upgrade_head(key=key))
        assert h.response()[0] == 400


def test_upgrade_offering_no_wamp_subprotocol_is_400_naming_what_moonbar_speaks(router):
    with Http(router.ws_port) as h:
        h.send(upgrade_head(protocol="mqtt, graphql-ws"))
        status, _, body = h.response()
        assert status == 400 and b"wamp.2.json" in body
    with Http(router.ws_port) as h:
        h.send(upgrade_head(protocol=None))
        status, _, body = h.response()
        assert status == 400 and b"no WebSocket subprotocol offered" in body


AUTOBAHN_DEFAULT = ("wamp.2.cbor.batched,wamp.2.cbor,wamp.2.msgpack.batched,wamp.2.msgpack,"
                    "wamp.2.ubjson.batched,wamp.2.ubjson,wamp.2.json.batched,wamp.2.json")


def spoken(router, protocol):
    """Whether the router takes an offer of `protocol` alone."""
    try:
        raw.RawWebSocket(router.ws_port, protocol=protocol).close()
        return True
    except raw.HandshakeRefused:
        return False


def test_the_137_byte_autobahn_python_offer_is_accepted(router):
    assert len(AUTOBAHN_DEFAULT) == 137
    with raw.RawWebSocket(router.ws_port, protocol=AUTOBAHN_DEFAULT) as conn:
        assert conn.protocol in ("wamp.2.cbor", "wamp.2.msgpack", "wamp.2.json")
        if conn.protocol == "wamp.2.json":
            raw.join(conn)


def test_a_2kb_offer_with_json_last_and_over_two_lines_is_accepted(router):
    offer = ", ".join("x-proto-%04d" % i for i in range(150))
    assert len(offer) > 2000
    with raw.RawWebSocket(router.ws_port, protocol=offer, extra_headers=[
            "Sec-WebSocket-Protocol: x-more, wamp.2.json"]) as conn:
        assert conn.protocol == "wamp.2.json"
        raw.join(conn)


def test_the_clients_first_spoken_protocol_is_chosen(router):
    if not spoken(router, "wamp.2.cbor"):
        pytest.skip("this build speaks only wamp.2.json over WebSocket (WS_SPOKEN in ws.c)")
    with raw.RawWebSocket(router.ws_port, protocol="wamp.2.cbor, wamp.2.json") as conn:
        assert conn.protocol == "wamp.2.cbor"
    with raw.RawWebSocket(router.ws_port, protocol="wamp.2.json, wamp.2.cbor") as conn:
        assert conn.protocol == "wamp.2.json"


def test_text_frame_on_a_cbor_session_is_an_abort(router, witness):
    if not spoken(router, "wamp.2.cbor"):
        pytest.skip("this build speaks only wamp.2.json over WebSocket (WS_SPOKEN in ws.c)")
    import cbor2
    with raw.RawWebSocket(router.ws_port, protocol="wamp.2.cbor") as conn:
        conn.send_frame(0x1, b'[1, "realm1", {"roles": {"caller": {}}}]')
        fin, op, payload = conn.recv_frame()
        assert op == 0x2, "CBOR messages come in binary frames"
        msg = cbor2.loads(payload)
        assert msg[0] == raw.ABORT and msg[2] == "wamp.error.protocol_violation"
        assert "text" in msg[1]["message"] and "binary" in msg[1]["message"]
        conn.wait_closed()
    witness.check()


# ---------------------------------------------------------------- frames

def close_code(conn):
    closed = conn.wait_closed()
    assert closed.how == "close", "expected a close frame, got %s" % closed
    return closed.code


def test_unmasked_frame_is_closed_with_1002(router, witness):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        payload = b'[32, 1, {}, "com.t"]'
        conn.send_raw(bytes([0x81, len(payload)]) + payload)
        assert close_code(conn) == 1002
    witness.check()


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_reserved_opcode_is_closed_with_1002(router, opcode):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_frame(opcode, b"x")
        assert close_code(conn) == 1002


def test_control_frame_over_125_bytes_is_closed_with_1002(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_frame(0x9, b"p" * 126)
        assert close_code(conn) == 1002


def test_fragmented_control_frame_is_closed_with_1002(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        conn.send_frame(0x9, b"ping", fin=False)
        assert close_code(conn) == 1002


def test_rsv1_without_deflate_is_closed_with_1002(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        conn.send_frame(0x40 | 0x1, b"[1]")
        assert close_code(conn) == 1002


def test_continuation_without_a_message_is_closed_with_1002(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        conn.send_frame(0x0, b"[1]")
        assert close_code(conn) == 1002


def test_frame_over_max_message_size_is_closed_with_1009_before_its_payload(deflate_router):
    with raw.RawWebSocket(deflate_router.ws_port) as conn:
        raw.join(conn)
        # only the head of a 1 GB frame: moonbar must not wait for (or buffer) the payload
        conn.send_raw(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 30) + os.urandom(4))
        assert close_code(conn) == 1009


def test_64_bit_length_with_the_high_bit_is_closed_with_1002(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        conn.send_raw(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 63) + os.urandom(4))
        assert close_code(conn) == 1002


def test_fragmented_message_is_reassembled_with_pings_between(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        msg = raw.dumps([raw.SUBSCRIBE, 7, {}, "com.test.fragments"])
        parts = [msg[:3], msg[3:10], msg[10:]]
        conn.send_frame(0x1, parts[0], fin=False)
        conn.send_frame(0x9, b"between")
        conn.send_frame(0x0, parts[1], fin=False)
        conn.send_frame(0x0, parts[2])
        fin, op, payload = conn.recv_frame()
        assert (op, payload) == (0xA, b"between")
        assert raw.expect(conn, raw.SUBSCRIBED)[1] == 7


def test_frame_head_and_payload_byte_by_byte(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        payload = raw.dumps([raw.SUBSCRIBE, 9, {}, "com.test.bytewise"])
        mask = os.urandom(4)
        frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        for i in range(len(frame)):
            conn.send_raw(frame[i:i + 1])
            time.sleep(0.002)
        assert raw.expect(conn, raw.SUBSCRIBED)[1] == 9


def test_ping_is_answered_with_a_pong_of_the_same_payload(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        conn.send_frame(0x9, b"hello-\x00-\xff")
        fin, op, payload = conn.recv_frame()
        assert (fin, op, payload) == (True, 0xA, b"hello-\x00-\xff")
        conn.send_frame(0x9, b"")
        assert conn.recv_frame()[1:] == (0xA, b"")


def test_peer_close_is_echoed_with_its_code_then_the_connection_closes(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_close(4321, b"bye")
        fin, op, payload = conn.recv_frame()
        assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 4321
        data, closed = conn.read_until_closed()
        assert closed.how in ("eof", "reset")


@pytest.mark.parametrize("payload, code", [
    (b"\x03", 1002),                           # one byte: no room for a code
    (struct.pack("!H", 1005), 1002),            # 1005, 1006, 1015: never on the wire
    (struct.pack("!H", 1006), 1002),
    (struct.pack("!H", 1015), 1002),
    (struct.pack("!H", 999), 1002),             # below 1000
    (struct.pack("!H", 1004), 1002),            # reserved
    (struct.pack("!H", 2000), 1002),            # 1015-2999: reserved for the protocol
    (struct.pack("!H", 5000), 1002),            # above 4999
    (struct.pack("!H", 1000) + b"\xff\xfe", 1007),  # a reason that is not UTF-8
], ids=["one_byte", "1005", "1006", "1015", "999", "1004", "2000", "5000", "bad_utf8_reason"])
def test_peer_close_with_an_invalid_code_or_reason_is_answered_1002_or_1007(router, witness, payload, code):
    # RFC 6455 section 7.4: such a close is not echoed; moonbar closes with a protocol error
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_frame(0x8, payload)
        assert close_code(conn) == code
    witness.check()


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999])
def test_peer_close_with_any_code_a_peer_may_send_is_echoed(router, code):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_close(code, "déjà".encode())
        fin, op, payload = conn.recv_frame()
        assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == code


def test_goodbye_close_frame_has_code_and_reason(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_json([raw.GOODBYE, {}, "wamp.close.close_realm"])
        raw.expect(conn, raw.GOODBYE)


# ---------------------------------------------------------------- permessage-deflate

def deflate(data):
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(data):
    return zlib.decompressobj(wbits=-15).decompress(data + b"\x00\x00\xff\xff")


def read_frame_rsv(conn, timeout=5):
    """(fin, rsv1, opcode, payload) of the next frame."""
    deadline = time.monotonic() + T(timeout)
    b0, b1 = conn._read_exact(2, deadline)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", conn._read_exact(2, deadline))[0]
    elif n == 127:
        n = struct.unpack("!Q", conn._read_exact(8, deadline))[0]
    return bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, conn._read_exact(n, deadline)


def recv_json_inflating(conn):
    import json
    while True:
        fin, rsv1, op, payload = read_frame_rsv(conn)
        if op in (0x9, 0xA):
            continue
        assert op == 0x1 and fin, (op, fin)
        return json.loads(inflate(payload) if rsv1 else payload)


def deflate_conn(router, offer="permessage-deflate; client_max_window_bits"):
    return raw.RawWebSocket(router.ws_port, extra_headers=["Sec-WebSocket-Extensions: " + offer])


def test_deflate_is_negotiated_only_when_the_listener_has_compression(router, deflate_router):
    with deflate_conn(router) as conn:
        assert "sec-websocket-extensions" not in conn.headers
    with deflate_conn(deflate_router) as conn:
        ext = conn.headers.get("sec-websocket-extensions", "")
        assert ext.startswith("permessage-deflate")
        assert "server_no_context_takeover" in ext and "client_no_context_takeover" in ext
    with deflate_conn(deflate_router, "permessage-deflate; server_max_window_bits=8") as conn:
        assert "sec-websocket-extensions" not in conn.headers  # declined: zlib cannot do 8
    with deflate_conn(deflate_router, "permessage-deflate; server_max_window_bits=10") as conn:
        assert "server_max_window_bits=10" in conn.headers.get("sec-websocket-extensions", "")


def test_compressed_messages_round_trip(deflate_router):
    with deflate_conn(deflate_router) as sub, deflate_conn(deflate_router) as pub:
        for c in (sub, pub):  # HELLO compressed; WELCOME may come either way
            c.send_frame(0x40 | 0x1, deflate(raw.dumps([raw.HELLO, "realm1", {"roles": raw.ROLES}])))
            assert recv_json_inflating(c)[0] == raw.WELCOME
        sub.send_frame(0x40 | 0x1, deflate(raw.dumps([raw.SUBSCRIBE, 1, {}, "com.test.deflate"])))
        assert recv_json_inflating(sub)[0] == raw.SUBSCRIBED
        text = "moonbar " * 500
        # a compressed message in fragments (RSV1 on the first only)
        body = deflate(raw.dumps([raw.PUBLISH, 2, {"acknowledge": True}, "com.test.deflate", [text]]))
        pub.send_frame(0x40 | 0x1, body[:10], fin=False)
        pub.send_frame(0x0, body[10:])
        assert recv_json_inflating(pub)[0] == raw.PUBLISHED
        fin, rsv1, op, payload = read_frame_rsv(sub)
        assert rsv1, "a 4 KB EVENT goes compressed"
        assert len(payload) < len(text)
        import json
        event = json.loads(inflate(payload))
        assert event[0] == raw.EVENT and event[4] == [text]
        # small messages may go plain on a compressed connection
        pub.send_json([raw.PUBLISH, 3, {"acknowledge": True}, "com.test.deflate", ["x"]])
        assert recv_json_inflating(pub)[0] == raw.PUBLISHED
        assert recv_json_inflating(sub)[4] == ["x"]


def test_decompression_bomb_is_closed_with_1009(deflate_router, witness):
    with deflate_conn(deflate_router) as conn:
        conn.send_frame(0x40 | 0x1, deflate(raw.dumps([raw.HELLO, "realm1", {"roles": raw.ROLES}])))
        assert recv_json_inflating(conn)[0] == raw.WELCOME
        bomb = deflate(b'[16, 1, {}, "com.t", ["' + b"a" * (4 * LIMIT) + b'"]]')
        assert len(bomb) < LIMIT
        conn.send_frame(0x40 | 0x1, bomb)
        assert close_code(conn) == 1009


def test_corrupt_deflate_data_closes_the_connection(deflate_router):
    with deflate_conn(deflate_router) as conn:
        conn.send_frame(0x40 | 0x1, b"\xff\xff\xff\xff garbage")
        closed = conn.wait_closed()
        assert closed.how == "close" and closed.code in (1002, 1007)


def test_autobahn_python_with_compression_offered(deflate_router):
    from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateResponse, \
        PerMessageDeflateResponseAccept
    from autobahn.twisted.websocket import WampWebSocketClientFactory

    accepted = []
    orig_init = WampWebSocketClientFactory.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)

        def accept(response):
            if isinstance(response, PerMessageDeflateResponse):
                accepted.append(response)
                return PerMessageDeflateResponseAccept(response)
        self.setProtocolOptions(perMessageCompressionOffers=[PerMessageDeflateOffer()],
                                perMessageCompressionAccept=accept)

    WampWebSocketClientFactory.__init__ = init
    try:
        a = tx.connect(deflate_router)
        b = tx.connect(deflate_router)
    finally:
        WampWebSocketClientFactory.__init__ = orig_init
    try:
        assert accepted, "moonbar did not accept autobahn's permessage-deflate offer"
        big = "compress me " * 1000
        a.register("com.test.deflate.echo", lambda x: x)
        assert b.call("com.test.deflate.echo", big) == big
        assert b.call("com.test.deflate.echo", "small") == "small"
    finally:
        a.close()
        b.close()
