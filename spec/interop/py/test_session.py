"""Joining, WELCOME, ABORT and GOODBYE; autobahn-python's default serializer offer."""
import json
import os
import subprocess
import sys
import uuid

import pytest

import mb_raw as raw
import mb_twisted as tx
from mb_router import T

TRANSPORTS = ["websocket", "rawsocket"]
MAX_ID = 2 ** 53


def test_autobahn_twisted_default_serializer_offer_over_127_bytes_joins_with_its_first_choice(router, clients):
    # the client's order of preference decides (as Crossbar does): autobahn offers CBOR first
    f = tx.WampWebSocketClientFactory(lambda: None, url=router.url)
    offer = ",".join(f.protocols)
    assert len(offer) > 127, ("autobahn's default offer is only %d bytes (%s): install "
                              "python3-cbor2, python3-msgpack, python3-ubjson" % (len(offer), offer))
    c = clients(router, "websocket", serializers=None)
    assert f.protocols[:2] == ["wamp.2.cbor.batched", "wamp.2.cbor"]  # batched: not spoken
    assert c.websocket_protocol == "wamp.2.cbor"
    c.register("com.default_offer.echo", lambda x: x)
    assert c.call("com.default_offer.echo", "ok") == "ok"


@pytest.mark.parametrize("serializers", ["default", "json"])
def test_autobahn_asyncio_client_joins_calls_publishes_and_leaves(router, serializers):
    script = os.path.join(os.path.dirname(__file__), "aio_client.py")
    p = subprocess.run([sys.executable, script, router.url, serializers, str(T(5))],
                       capture_output=True, text=True, timeout=T(30))
    assert p.returncode == 0, "asyncio client failed:\n%s\n%s" % (p.stdout, p.stderr)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    if serializers == "default":
        assert len(out["offer"]) > 127, out["offer"]
    assert out["protocol_in_use"] == ("wamp.2.cbor" if serializers == "default" else "wamp.2.json")
    assert isinstance(out["session"], int) and 1 <= out["session"] <= MAX_ID
    assert out["authrole"] == "anonymous"
    assert out["realm"] == "realm1"
    assert {"broker", "dealer"} <= set(out["router_roles"])
    assert out["echo"] == [[1, "two", [3]], {"four": {"x": 4}}]
    assert out["oops"] == ["com.example.oops", [1, 2], {"x": 3}]
    assert out["no_such_procedure"] == "wamp.error.no_such_procedure"
    assert isinstance(out["publication_id"], int) and 1 <= out["publication_id"] <= MAX_ID
    assert out["event"] == [["hi", 2], {"k": "v"}]
    assert out["leave_reason"] == "wamp.close.goodbye_and_out"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_autobahn_welcome_announces_broker_dealer_anonymous_and_session_id_in_range(
        router, clients, transport):
    c = clients(router, transport)
    d = c.details
    assert type(d.session) is int and 1 <= d.session <= MAX_ID
    assert d.realm == "realm1"
    assert d.authrole == "anonymous"
    assert d.authmethod == "anonymous"
    assert isinstance(d.authid, str) and d.authid
    assert "broker" in c.router_roles and "dealer" in c.router_roles


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_raw_welcome_details_follow_the_contract(router, transport):
    with raw.connect(router, transport) as conn:
        msg = raw.join(conn)
        assert len(msg) == 3, msg
        _, session, details = msg
        assert type(session) is int and 1 <= session <= MAX_ID, msg
        assert details["realm"] == "realm1"
        assert details["authrole"] == "anonymous"
        assert details["authmethod"] == "anonymous"
        assert details["authprovider"] == "static"
        assert isinstance(details["authid"], str) and details["authid"], details
        roles = details["roles"]
        assert roles["broker"]["features"]["publisher_exclusion"] is True, roles
        assert isinstance(roles["dealer"], dict) and isinstance(roles["dealer"].get("features"), dict), roles


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_authid_given_in_hello_is_echoed_in_welcome(router, transport):
    with raw.connect(router, transport) as conn:
        msg = raw.join(conn, authid="alice-" + transport)
        assert msg[2]["authid"] == "alice-" + transport


def test_autobahn_authid_is_echoed(router, clients):
    c = clients(router, "rawsocket", authid="bob")
    assert c.details.authid == "bob"


def test_session_ids_are_distinct_integers_in_range(router):
    conns, ids = [], set()
    try:
        for i in range(12):
            conn = raw.connect(router, TRANSPORTS[i % 2])
            conns.append(conn)
            sid = raw.join(conn)[1]
            assert type(sid) is int and 1 <= sid <= MAX_ID
            ids.add(sid)
    finally:
        for c in conns:
            c.close()
    assert len(ids) == 12


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_realm_is_aborted_with_no_such_realm_for_autobahn(router, clients, transport):
    with pytest.raises(tx.JoinFailed) as e:
        clients(router, transport, realm="no.such.realm")
    assert e.value.reason == "wamp.error.no_such_realm"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_realm_gets_abort_then_the_connection_closes(router, transport):
    with raw.connect(router, transport) as conn:
        msg = raw.hello(conn, "no.such.realm")
        assert msg[0] == raw.ABORT and msg[2] == "wamp.error.no_such_realm", msg
        assert isinstance(msg[1], dict) and isinstance(msg[1].get("message"), str), msg
        conn.wait_closed()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_autobahn_leave_is_answered_with_goodbye_and_out(router, clients, transport):
    c = clients(router, transport)
    details = c.leave()
    assert details.reason == "wamp.close.goodbye_and_out"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_goodbye_then_new_hello_on_same_transport_joins_again(router, clients, transport):
    proc = "com.goodbye.proc_" + uuid.uuid4().hex[:8]
    other = clients(router, "websocket")
    with raw.connect(router, transport) as conn:
        first = raw.join(conn)[1]
        raw.register(conn, proc)
        conn.send_json([raw.GOODBYE, {}, "wamp.close.close_realm"])
        msg = raw.expect(conn, raw.GOODBYE)
        assert msg == [raw.GOODBYE, {}, "wamp.close.goodbye_and_out"], msg
        # the registration of the left session is gone
        reg = other.register(proc, lambda: "other")
        assert conn.send_json([raw.HELLO, "realm1", {"roles": raw.ROLES}])
        welcome = raw.expect(conn, raw.WELCOME)
        assert type(welcome[1]) is int and welcome[1] != first
        # the new session works
        conn.send_json([raw.CALL, 1, {}, proc])
        res = raw.expect(conn, raw.RESULT)
        assert res[1] == 1 and res[3] == ["other"], res
        other.unregister(reg)
