"""URI checks: loose (default) and strict realms, reserved wamp. URIs."""
import uuid

import pytest

import mb_raw as raw
import mb_router

TRANSPORTS = ["websocket", "rawsocket"]
INVALID_LOOSE = {"double_dot": "a..b", "space": "a b", "hash": "#x", "trailing_dot": "a.",
                 "empty": "", "leading_dot": ".a", "tab": "a\tb", "hash_inside": "com.a#b"}
OPS = {
    "subscribe": lambda req, uri: [raw.SUBSCRIBE, req, {}, uri],
    "publish": lambda req, uri: [raw.PUBLISH, req, {"acknowledge": True}, uri, ["x"]],
    "register": lambda req, uri: [raw.REGISTER, req, {}, uri],
    "call": lambda req, uri: [raw.CALL, req, {}, uri, ["x"]],
}


def check_invalid_uri(conn, op, uri):
    req = conn.next_id()
    conn.send_json(OPS[op](req, uri))
    msg = conn.recv_json()
    assert msg[:5] == [raw.ERROR, OPS[op](req, uri)[0], req, {}, "wamp.error.invalid_uri"], \
        "%s %r: expected ERROR wamp.error.invalid_uri, got %r" % (op, uri, msg)
    assert isinstance(msg[5], list) and msg[5] and isinstance(msg[5][0], str), msg


def check_usable(conn):
    raw.subscribe(conn, "com.test.usable_" + uuid.uuid4().hex[:8])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("case", list(INVALID_LOOSE))
def test_invalid_uri_is_rejected_with_invalid_uri_and_session_stays_usable(router, transport, op, case):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        check_invalid_uri(conn, op, INVALID_LOOSE[case])
        check_usable(conn)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_publish_to_invalid_topic_without_acknowledge_is_silently_dropped(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        conn.send_json([raw.PUBLISH, 1, {}, "a..b", ["x"]])
        check_usable(conn)  # the next message is SUBSCRIBED: no ERROR, no ABORT


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_loose_realm_accepts_uppercase_dash_and_non_ascii(router, transport):
    suffix = uuid.uuid4().hex[:8]
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        for uri in ["A.B_" + suffix, "com.my-app.x_" + suffix, "com.ü.日本_" + suffix, "x" + suffix]:
            raw.subscribe(conn, uri)
            raw.register(conn, uri)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_publish_to_wamp_topic_with_acknowledge_is_invalid_uri(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        check_invalid_uri(conn, "publish", "wamp.x")
        check_usable(conn)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_register_of_wamp_procedure_is_invalid_uri(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        check_invalid_uri(conn, "register", "wamp.foo")
        check_usable(conn)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_subscribe_to_wamp_session_on_join_is_allowed(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        sub = raw.subscribe(conn, "wamp.session.on_join")
        assert type(sub) is int and 1 <= sub <= 2 ** 53


def test_autobahn_can_subscribe_to_wamp_session_on_join(router, clients):
    c = clients(router, "websocket")
    sub, _ = c.subscribe("wamp.session.on_join")
    assert type(sub.id) is int


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_calling_a_wamp_procedure_is_not_an_invalid_uri(router, transport):
    with raw.connect(router, transport) as conn:
        raw.join(conn)
        conn.send_json([raw.CALL, 3, {}, "wamp.moonbar.no_such_thing"])
        msg = conn.recv_json()
        assert msg[0] in (raw.RESULT, raw.ERROR), msg
        if msg[0] == raw.ERROR:
            assert msg[4] == "wamp.error.no_such_procedure", msg


@pytest.fixture(scope="module")
def strict_router(tmp_path_factory):
    with mb_router.running(tmp_path_factory.mktemp("strict"),
                           {"realms": [{"name": "realm1", "uri_check": "strict"}]}) as r:
        yield r


INVALID_STRICT = {"uppercase": "A.B", "dash": "com.my-app.x", "non_ascii": "com.ü",
                  "double_dot": "a..b", "space": "a b"}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("case", list(INVALID_STRICT))
def test_strict_realm_rejects_uri_outside_lowercase_digits_underscore(strict_router, transport, op, case):
    with raw.connect(strict_router, transport) as conn:
        raw.join(conn)
        check_invalid_uri(conn, op, INVALID_STRICT[case])
        check_usable(conn)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_strict_realm_accepts_lowercase_digits_and_underscore(strict_router, transport):
    uri = "a.b_c.d9_" + uuid.uuid4().hex[:8]
    with raw.connect(strict_router, transport) as conn, raw.connect(strict_router, transport) as other:
        raw.join(conn)
        raw.join(other)
        sub = raw.subscribe(conn, uri)
        reg = raw.register(conn, uri)
        other.send_json([raw.PUBLISH, 1, {"acknowledge": True}, uri, [1]])
        assert raw.expect(other, raw.PUBLISHED)[1] == 1
        ev = raw.expect(conn, raw.EVENT)
        assert ev[1] == sub and ev[4] == [1]
        other.send_json([raw.CALL, 2, {}, uri, [2]])
        inv = raw.expect(conn, raw.INVOCATION)
        assert inv[2] == reg
        conn.send_json([raw.YIELD, inv[1], {}, [3]])
        res = raw.expect(other, raw.RESULT)
        assert res[1] == 2 and res[3:] == [[3]], res
