"""RawSocket opening handshake and PING/PONG (docs/behaviour.md, Transports)."""
import pytest

import mb_raw as raw


def read_all(conn, timeout=5):
    """Bytes until EOF/reset; returns (data, Closed)."""
    return conn.read_until_closed(timeout)


def test_json_handshake_is_answered_with_json_and_default_length_exponent(router):
    with raw.RawSocketConn(router.rawsocket_port, handshake=None) as conn:
        conn.send_raw(b"\x7f\xf1\x00\x00")
        reply = conn.read_handshake_reply()
        # default max_message_size 1048576 = 2^20 -> L = 11
        assert reply == b"\x7f\xb1\x00\x00", reply.hex()
        raw.join(conn)


@pytest.mark.parametrize("client_len", [0, 5, 15])
def test_client_length_exponent_does_not_change_the_answer(router, client_len):
    with raw.RawSocketConn(router.rawsocket_port, handshake=bytes([0x7F, client_len << 4 | 1, 0, 0])) as conn:
        assert conn.reply == b"\x7f\xb1\x00\x00", conn.reply.hex()
        if client_len:
            raw.join(conn)


def test_a_client_too_small_for_the_welcome_gets_an_abort_saying_so(router, witness):
    """2^9 bytes: the WELCOME (its feature list) does not fit; moonbar sends no frame longer
    than the client said it takes, and ABORTs with the reason instead."""
    with raw.RawSocketConn(router.rawsocket_port, handshake=bytes([0x7F, 0x01, 0, 0])) as conn:
        msg = raw.hello(conn)
        assert msg[0] == raw.ABORT and msg[2] == "wamp.error.protocol_violation", msg
        assert "WELCOME" in msg[1]["message"] and "512" in msg[1]["message"], msg
        conn.wait_closed()
    witness.check()


@pytest.mark.parametrize("serializer", [2, 3], ids=["msgpack", "cbor"])
def test_msgpack_and_cbor_handshakes_are_accepted_with_the_same_serializer(router, serializer):
    with raw.RawSocketConn(router.rawsocket_port, handshake=None) as conn:
        conn.send_raw(bytes([0x7F, 0xF0 | serializer, 0, 0]))
        reply = conn.read_handshake_reply()
        assert reply == bytes([0x7F, 0xB0 | serializer, 0, 0]), reply.hex()


@pytest.mark.parametrize("serializer", [0, 4, 15], ids=["illegal_0", "ser_4", "ser_15"])
def test_unsupported_serializer_is_answered_with_error_1_then_closed(router, serializer):
    with raw.RawSocketConn(router.rawsocket_port, handshake=None) as conn:
        conn.send_raw(bytes([0x7F, 0xF0 | serializer, 0, 0]))
        data, closed = read_all(conn)
        assert data == b"\x7f\x10\x00\x00", data.hex()


@pytest.mark.parametrize("handshake", [b"\x7f\xf1\x01\x00", b"\x7f\xf1\x00\x01", b"\x7f\xf1\xff\xff"],
                         ids=["byte3", "byte4", "both"])
def test_nonzero_reserved_bytes_are_answered_with_error_3_then_closed(router, handshake):
    with raw.RawSocketConn(router.rawsocket_port, handshake=None) as conn:
        conn.send_raw(handshake)
        data, closed = read_all(conn)
        assert data == b"\x7f\x30\x00\x00", data.hex()


@pytest.mark.parametrize("handshake", [b"\x00\xf1\x00\x00", b"\x7e\xf1\x00\x00", b"GET / HTTP/1.1\r\n\r\n"],
                         ids=["zero", "7e", "http"])
def test_first_byte_not_7f_is_closed_without_answer(router, witness, handshake):
    with raw.RawSocketConn(router.rawsocket_port, handshake=None) as conn:
        conn.send_raw(handshake)
        data, closed = read_all(conn)
        assert data == b"", "router answered %s" % data.hex()
    witness.check()


def test_handshake_sent_byte_by_byte_is_understood(router):
    with raw.RawSocketConn(router.rawsocket_port, handshake=None) as conn:
        for b in b"\x7f\xf1\x00\x00":
            conn.send_raw(bytes([b]))
        assert conn.read_handshake_reply() == b"\x7f\xb1\x00\x00"
        raw.join(conn)


@pytest.mark.parametrize("phase", ["before_hello", "after_welcome"])
@pytest.mark.parametrize("payload", [b"moonbar-ping", b"", bytes(range(256)) * 8],
                         ids=["text", "empty", "2kb_binary"])
def test_ping_is_answered_with_pong_carrying_the_same_payload(router, phase, payload):
    with raw.RawSocketConn(router.rawsocket_port) as conn:
        if phase == "after_welcome":
            raw.join(conn)
        conn.send_frame(raw.RawSocketConn.PING, payload)
        ftype, data, first = conn.recv_frame()
        assert ftype == raw.RawSocketConn.PONG and first == 0x02, (ftype, first)
        assert data == payload
        if phase == "before_hello":
            raw.join(conn)
        else:
            raw.subscribe(conn, "com.test.after_ping")


def test_message_split_across_tcp_writes_is_reassembled(router):
    with raw.RawSocketConn(router.rawsocket_port) as conn:
        payload = raw.dumps([raw.HELLO, "realm1", {"roles": raw.ROLES}])
        frame = len(payload).to_bytes(4, "big") + payload
        for i in range(0, len(frame), 3):
            conn.send_raw(frame[i:i + 3])
        raw.expect(conn, raw.WELCOME)
