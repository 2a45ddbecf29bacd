"""The serializer matrix over TLS: autobahn-python over wss:// and RawSocket-over-TLS in JSON,
MessagePack and CBOR (and wss with autobahn's default offer), against TLS listeners with
certificates made by the openssl command for this run (mb_tls: a CA and a server certificate
for localhost / 127.0.0.1, verified by the clients), beside plain listeners of the same router;
and listeners that require a client certificate signed by their CA.

Payloads and checks as in test_serializers.py (mb_matrix); under valgrind (or
MOONBAR_MATRIX=short) a bounded subset of pairs runs.
"""
import os

import pytest

import mb_matrix as mx
import mb_raw as raw
import mb_router
import mb_tls
import mb_twisted as tx
from twisted.internet.interfaces import ISSLTransport

TLS_TRANSPORTS = ["wss", "rawsocket-tls"]
TLS_ENDS = [(t, s) for t in TLS_TRANSPORTS for s in mx.SERIALIZERS]


def _next(s):
    return mx.SERIALIZERS[(mx.SERIALIZERS.index(s) + 1) % 3]


def select_pairs():
    if mx.short_matrix():
        return ([(("wss", s), ("rawsocket-tls", _next(s))) for s in mx.SERIALIZERS]
                + [(("rawsocket-tls", s), ("wss", _next(s))) for s in mx.SERIALIZERS])
    pairs = [(a, b) for a in TLS_ENDS for b in TLS_ENDS]
    for t, s in TLS_ENDS:  # and to and from a plain listener's session of another serializer
        plain = ("rawsocket" if t == "wss" else "websocket", _next(s))
        pairs += [((t, s), plain), (plain, (t, s))]
    return pairs


PAIRS = select_pairs()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return mb_tls.PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def trouter(tmp_path_factory, pki):
    if not os.access(mb_router.moonbar_bin(), os.X_OK):
        pytest.fail("moonbar binary %s not found" % mb_router.moonbar_bin(), pytrace=False)
    config = {
        "websocket": False,
        "rawsocket": False,
        "listeners": [
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws",
             "tls": pki.server_tls()},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0, "tls": pki.server_tls()},
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws"},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0},
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws",
             "tls": pki.server_tls(require_client_cert=True)},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0,
             "tls": pki.server_tls(require_client_cert=True)},
        ],
    }
    with mb_router.running(tmp_path_factory.mktemp("tls"), config) as r:
        r.tls_ca = pki.ca
        yield r


@pytest.fixture(scope="module")
def tpeers(trouter):
    made = {}

    def get(end):
        if end not in made:
            made[end] = mx.Peer(trouter, *end)
        return made[end]

    yield get
    for p in made.values():
        p.close()


def mtls_port(router, kind):
    found = [lst for lst in router.listening if lst.kind == kind and lst.client_certs]
    assert found, "no %s listener that requires client certificates: %r" % (kind, router.listening)
    return found[0].port


def test_the_router_logs_its_tls_listeners_and_which_require_client_certificates(trouter):
    got = sorted((lst.kind, lst.tls, lst.client_certs) for lst in trouter.listening)
    assert got == [("rawsocket", False, False), ("rawsocket", True, False),
                   ("rawsocket", True, True), ("websocket", False, False),
                   ("websocket", True, False), ("websocket", True, True)], trouter.listening


@pytest.mark.parametrize("end", TLS_ENDS, ids=mx.end_id)
def test_each_tls_end_speaks_the_serializer_it_asked_for(tpeers, end):
    p = tpeers(end)
    assert p.client.serializer_id == end[1]
    transport = p.client.protocol.transport
    assert ISSLTransport.providedBy(transport), transport
    assert transport.getPeerCertificate() is not None
    if end[0] == "wss":
        assert p.client.websocket_protocol == "wamp.2." + end[1]


def test_wss_with_autobahns_default_offer_speaks_cbor(trouter, clients):
    c = clients(trouter, "wss", serializers=None)
    assert c.websocket_protocol == "wamp.2.cbor"
    c.register("com.tls.default_offer.echo", lambda *a, **kw: tx.CallResult(*a, **kw))
    got = tx.result_parts(c.call("com.tls.default_offer.echo", b"\x00\xff", 2 ** 64 - 1, k=-0.0))
    assert mx.mb_payloads.exact(list(got), [[b"\x00\xff", 2 ** 64 - 1], {"k": -0.0}])


@pytest.mark.parametrize("pair", PAIRS, ids=mx.pair_id)
def test_events_over_tls_keep_every_value(tpeers, pair):
    mx.publish_and_check(tpeers(pair[0]), tpeers(pair[1]))


@pytest.mark.parametrize("pair", PAIRS, ids=mx.pair_id)
def test_calls_over_tls_keep_every_value(tpeers, pair):
    mx.call_and_check(tpeers(pair[0]), tpeers(pair[1]))


@pytest.mark.parametrize("kind", ["websocket", "rawsocket"])
@pytest.mark.parametrize("ser", mx.SERIALIZERS)
def test_a_client_certificate_signed_by_the_listeners_ca_is_let_in(trouter, pki, clients, tpeers,
                                                                    kind, ser):
    c = clients(trouter, kind, serializers=ser, tls=True, port=mtls_port(trouter, kind),
                client_cert=(pki.client_cert, pki.client_key))
    assert c.serializer_id == ser
    other = tpeers(("rawsocket-tls", _next(ser)))
    args, kwargs = mx.mb_payloads.SER_PAYLOADS["binary"]
    got = tx.result_parts(c.call(other.echo, *args, **kwargs))
    assert mx.mb_payloads.difference(list(got), [args, kwargs]) is None


@pytest.mark.parametrize("kind", ["websocket", "rawsocket"])
@pytest.mark.parametrize("cert", ["none", "other_ca"])
def test_a_listener_that_requires_client_certificates_refuses_others(trouter, pki, tpeers, kind,
                                                                     cert):
    client_cert = None if cert == "none" else (pki.stranger_cert, pki.stranger_key)
    with pytest.raises(Exception) as e:
        c = tx.connect(trouter, kind, serializers="cbor", tls=True, port=mtls_port(trouter, kind),
                       client_cert=client_cert, _timeout=5)
        c.close()
    assert not isinstance(e.value, TimeoutError), "the router neither refused nor let in: %s" % e
    assert trouter.alive()
    mx.call_and_check(tpeers(("wss", "json")), tpeers(("rawsocket-tls", "msgpack")))


@pytest.mark.parametrize("kind", ["websocket", "rawsocket"])
def test_plaintext_on_a_tls_listener_is_closed_and_the_router_carries_on(trouter, tpeers, kind):
    port = trouter.find_port(kind, tls=True)
    hello = (b"\x7f\xf2\x00\x00" if kind == "rawsocket" else
             b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
             b"Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n")
    with raw.RawSocketConn(port, handshake=None) as conn:
        conn.send_raw(hello)
        data, _ = conn.read_until_closed()
    # no RawSocket handshake reply or HTTP answer in the clear (a TLS alert at most)
    assert not data.startswith(b"\x7f") and b"HTTP/" not in data, data
    mx.call_and_check(tpeers(("rawsocket-tls", "cbor")), tpeers(("wss", "msgpack")))
