"""Protocol violations: ABORT wamp.error.protocol_violation with a non-empty
details.message, then the transport closes, and other sessions carry on
(docs/behaviour.md, Sessions). Raw frames by hand over WebSocket and RawSocket."""
import pytest

import mb_raw as raw

TRANSPORTS = ["websocket", "rawsocket"]
PHASES = ["before_hello", "after_welcome"]
MAX_ID = 2 ** 53


def violate(router, witness, transport, payloads, phase="after_welcome"):
    """Send `payloads` (str: raw text; else JSON) in `phase`; expect ABORT
    protocol_violation, close, and a working witness."""
    with raw.connect(router, transport) as conn:
        if phase == "after_welcome":
            raw.join(conn)
        for p in payloads:
            if isinstance(p, str):
                conn.send_text(p)
            else:
                conn.send_json(p)
        raw.expect_abort_then_close(conn)
    witness.check()


# -- malformed frames, in both phases

MALFORMED_JSON = {"truncated": '[1, "realm1", {', "garbage": "not json at all",
                  "trailing_garbage": '[6, {}, "wamp.close.close_realm"] x',
                  "unquoted_key": '[32, 1, {a: 1}, "t"]', "empty_text": ""}
NOT_AN_ARRAY = {"object": '{"a": 1}', "string": '"hello"', "number": "42", "null": "null",
                "true": "true"}
NON_INTEGER_CODE = {"string": '["1", "realm1", {"roles": {"caller": {}}}]',
                    "float": '[32.5, 1, {}, "t"]', "null": "[null]", "list": "[[1]]",
                    "bool": "[true, 1]"}
UNKNOWN_CODE = {"99": "[99, 1]", "0": "[0]", "negative": "[-1, 1]", "huge": "[9007199254740993]",
                "reserved_7": "[7, {}]"}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("case", list(MALFORMED_JSON))
def test_malformed_json_is_protocol_violation(router, witness, transport, phase, case):
    violate(router, witness, transport, [MALFORMED_JSON[case]], phase)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("case", list(NOT_AN_ARRAY))
def test_json_that_is_not_an_array_is_protocol_violation(router, witness, transport, phase, case):
    violate(router, witness, transport, [NOT_AN_ARRAY[case]], phase)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("phase", PHASES)
def test_empty_array_is_protocol_violation(router, witness, transport, phase):
    violate(router, witness, transport, ["[]"], phase)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("case", list(NON_INTEGER_CODE))
def test_non_integer_message_code_is_protocol_violation(router, witness, transport, phase, case):
    violate(router, witness, transport, [NON_INTEGER_CODE[case]], phase)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("case", list(UNKNOWN_CODE))
def test_unknown_message_code_is_protocol_violation(router, witness, transport, phase, case):
    violate(router, witness, transport, [UNKNOWN_CODE[case]], phase)


# -- session state

BEFORE_HELLO = {
    "subscribe": [raw.SUBSCRIBE, 1, {}, "com.t"],
    "publish": [raw.PUBLISH, 1, {}, "com.t"],
    "call": [raw.CALL, 1, {}, "com.p"],
    "register": [raw.REGISTER, 1, {}, "com.p"],
    "goodbye": [raw.GOODBYE, {}, "wamp.close.close_realm"],
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(BEFORE_HELLO))
def test_message_before_hello_is_protocol_violation(router, witness, transport, case):
    violate(router, witness, transport, [BEFORE_HELLO[case]], "before_hello")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_second_hello_is_protocol_violation(router, witness, transport):
    violate(router, witness, transport, [[raw.HELLO, "realm1", {"roles": raw.ROLES}]])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("details", [{}, {"roles": {}}, {"roles": "caller"}, {"roles": ["caller"]},
                                     {"roles": None}],
                         ids=["no_roles", "empty_roles", "roles_string", "roles_list", "roles_null"])
def test_hello_without_valid_roles_is_protocol_violation(router, witness, transport, details):
    violate(router, witness, transport, [[raw.HELLO, "realm1", details]], "before_hello")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("msg", [[raw.HELLO], [raw.HELLO, "realm1"], [raw.HELLO, 5, {"roles": raw.ROLES}],
                                 [raw.HELLO, "realm1", []]],
                         ids=["no_realm", "no_details", "realm_not_string", "details_not_dict"])
def test_malformed_hello_is_protocol_violation(router, witness, transport, msg):
    violate(router, witness, transport, [msg], "before_hello")


ROUTER_ONLY = {
    "welcome": [raw.WELCOME, 123, {}],
    "event": [raw.EVENT, 1, 2, {}],
    "result": [raw.RESULT, 1, {}],
    "subscribed": [raw.SUBSCRIBED, 1, 2],
    "published": [raw.PUBLISHED, 1, 2],
    "registered": [raw.REGISTERED, 1, 2],
    "invocation": [raw.INVOCATION, 1, 2, {}],
    "unsubscribed": [raw.UNSUBSCRIBED, 1],
    "unregistered": [raw.UNREGISTERED, 1],
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(ROUTER_ONLY))
def test_router_only_message_from_client_is_protocol_violation(router, witness, transport, case):
    violate(router, witness, transport, [ROUTER_ONLY[case]])


WRONG_TYPES = {
    "subscribe_request_id_string": [raw.SUBSCRIBE, "x", {}, "t"],
    "subscribe_options_list": [raw.SUBSCRIBE, 1, [], "com.t"],
    "subscribe_options_string": [raw.SUBSCRIBE, 1, "opts", "com.t"],
    "subscribe_topic_int": [raw.SUBSCRIBE, 1, {}, 42],
    "subscribe_too_short": [raw.SUBSCRIBE, 1, {}],
    "subscribe_too_long": [raw.SUBSCRIBE, 1, {}, "com.t", []],
    "publish_args_dict": [raw.PUBLISH, 1, {}, "com.t", {}],
    "publish_args_string": [raw.PUBLISH, 1, {}, "com.t", "args"],
    "publish_kwargs_list": [raw.PUBLISH, 1, {}, "com.t", [], []],
    "publish_options_null": [raw.PUBLISH, 1, None, "com.t"],
    "publish_too_long": [raw.PUBLISH, 1, {}, "com.t", [], {}, 1],
    "call_args_dict": [raw.CALL, 1, {}, "com.p", {"a": 1}],
    "call_kwargs_string": [raw.CALL, 1, {}, "com.p", [], "kw"],
    "call_procedure_null": [raw.CALL, 1, {}, None],
    "register_options_list": [raw.REGISTER, 1, [], "com.p"],
    "unsubscribe_id_string": [raw.UNSUBSCRIBE, 1, "5"],
    "unregister_too_short": [raw.UNREGISTER, 1],
    "goodbye_details_list": [raw.GOODBYE, [], "wamp.close.close_realm"],
    "goodbye_reason_int": [raw.GOODBYE, {}, 5],
    "yield_args_dict": [raw.YIELD, 1, {}, {}],
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_wrong_field_types_or_counts_are_protocol_violation(router, witness, transport, case):
    violate(router, witness, transport, [WRONG_TYPES[case]])


BAD_IDS = {"zero": 0, "negative": -1, "above_2_53": MAX_ID + 1, "float": 1.5, "string": "1",
           "float_integral": "1.0", "huge": 2 ** 64}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(BAD_IDS))
def test_request_id_outside_1_to_2_53_is_protocol_violation(router, witness, transport, case):
    v = BAD_IDS[case]
    if case == "float_integral":  # 1.0 written literally: a JSON real, not an integer
        violate(router, witness, transport, ['[32, 1.0, {}, "com.t"]'])
    else:
        violate(router, witness, transport, [[raw.SUBSCRIBE, v, {}, "com.t"]])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", ["zero", "negative", "above_2_53", "float", "string"])
def test_bad_subscription_id_in_unsubscribe_is_protocol_violation(router, witness, transport, case):
    violate(router, witness, transport, [[raw.UNSUBSCRIBE, 1, BAD_IDS[case]]])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_request_id_2_53_is_accepted(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        conn.send_json([raw.SUBSCRIBE, MAX_ID, {}, "com.test.max_id"])
        msg = raw.expect(conn, raw.SUBSCRIBED)
        assert msg[1] == MAX_ID


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("request_type", [raw.CALL, raw.SUBSCRIBE, raw.PUBLISH, raw.REGISTER, 99],
                         ids=["call", "subscribe", "publish", "register", "unknown"])
def test_error_for_a_request_type_other_than_invocation_is_protocol_violation(
        router, witness, transport, request_type):
    violate(router, witness, transport, [[raw.ERROR, request_type, 1, {}, "com.example.error"]])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_violation_after_subscribing_and_registering_cleans_up_the_session(router, clients, witness, transport):
    proc, topic = "com.test.violator_proc", "com.test.violator_topic"
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        raw.register(conn, proc)
        raw.subscribe(conn, topic)
        conn.send_text("{broken")
        raw.expect_abort_then_close(conn)
    c = clients(router, transport)
    reg = c.register(proc, lambda: "mine now")  # the violator's registration is gone
    assert c.call(proc) == "mine now"
    c.publish(topic, "nobody listens")
    c.unregister(reg)
    witness.check()


@pytest.mark.parametrize("payload", [b"\xff\xfe\x00binary", b'[32, 1, {}, "com.test.json_in_binary"]'],
                         ids=["garbage", "valid-json"])
@pytest.mark.parametrize("joined", [True, False], ids=["joined", "before-hello"])
def test_websocket_binary_frame_on_a_json_session_is_a_protocol_violation(router, witness, payload, joined):
    """wamp.2.json messages are text frames: a binary frame is refused with ABORT
    protocol_violation saying so, then the connection closes, even when its bytes are
    valid JSON; other sessions carry on."""
    with raw.RawWebSocket(router.ws_port) as conn:
        if joined:
            raw.join(conn)
        conn.send_frame(0x2, payload)
        msg, _ = raw.expect_abort_then_close(conn)
        assert "binary" in msg[1]["message"] and "text" in msg[1]["message"], msg
    witness.check()


def test_websocket_binary_frame_in_fragments_is_refused_once(router, witness):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_frame(0x2, b'[32, 1, {}, ', fin=False)
        conn.send_frame(0x0, b'"com.test.frag"]')
        raw.expect_abort_then_close(conn)
    witness.check()


def test_websocket_invalid_utf8_text_frame_closes_connection(router, witness):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        conn.send_frame(0x1, b'[32, 1, {}, "\xff\xfe"]')
        try:
            conn.recv_json(timeout=2)
        except raw.Closed:
            pass
        conn.wait_closed()
    witness.check()


@pytest.mark.parametrize("first_byte", [0x08 | 3, 0x08 | 0, 0x80])
def test_rawsocket_frame_with_unknown_type_or_reserved_bits_closes_connection(router, witness, first_byte):
    with raw.RawSocketConn(router.rawsocket_port) as conn:
        raw.join(conn)
        payload = b'[32, 1, {}, "com.t"]'
        conn.send_raw(bytes([first_byte]) + len(payload).to_bytes(3, "big") + payload)
        conn.wait_closed()
    witness.check()


@pytest.mark.parametrize("frame_type", [3, 7])
def test_rawsocket_unknown_frame_type_closes_connection(router, witness, frame_type):
    with raw.RawSocketConn(router.rawsocket_port) as conn:
        raw.join(conn)
        conn.send_frame(frame_type, b"[]")
        conn.wait_closed()
    witness.check()
