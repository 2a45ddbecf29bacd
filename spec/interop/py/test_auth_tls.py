"""WAMP-Cryptosign with TLS channel binding (M10): autobahn-python over wss:// and RawSocket-TLS
with `tls-unique` (the channel ID autobahn computes: SHA-256 of the server's Finished message);
`tls-exporter` (RFC 9266) with a raw client on pyOpenSSL, which can export keying material;
a signature bound to another channel, or not bound at all, is refused; over plain TCP a binding
cannot be had; WAMP-CRA and tickets over TLS."""
import hashlib
import socket
import struct
import time

import pytest
from OpenSSL import SSL

import mb_auth
import mb_raw as raw
import mb_router
import mb_tls
import mb_twisted as tx

PRIV, PUB = mb_auth.new_key()
CONFIG_AUTH = {
    "ticket": {"users": {"alice": {"ticket": "alice-ticket", "role": "user"}}},
    "wampcra": {"users": {"bob": {"secret": "bob-secret", "role": "user"}}},
    "cryptosign": {"users": {"carol": {"pubkeys": [PUB], "role": "user"}}},
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return mb_tls.PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def router(tmp_path_factory, pki):
    config = {
        "websocket": False, "rawsocket": False,
        "listeners": [
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws", "tls": pki.server_tls()},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0, "tls": pki.server_tls()},
            {"type": "websocket", "host": "127.0.0.1", "port": 0, "path": "/ws"},
            {"type": "rawsocket", "host": "127.0.0.1", "port": 0},
        ],
        "realms": [{"name": "realm1", "auth": CONFIG_AUTH,
                    "roles": {"user": [{"uri": "com.", "match": "prefix", "allow": "*"}]}}],
        "brute_force": {"free_failures": 1000000, "lockout_after": 0},
    }
    with mb_router.running(tmp_path_factory.mktemp("auth-tls"), config) as r:
        r.tls_ca = pki.ca
        yield r


def welcome(c):
    d = c.details
    return (d.authid, d.authrole, d.authmethod, d.authprovider)


@pytest.mark.parametrize("transport", ["wss", "rawsocket-tls"])
def test_cryptosign_with_tls_unique_channel_binding_joins(router, clients, transport):
    c = clients(router, transport, authid="carol", authmethods=["cryptosign"],
                authextra={"pubkey": PUB, "channel_binding": "tls-unique"},
                on_challenge=mb_auth.cryptosign(PRIV, channel_binding="tls-unique"))
    assert welcome(c) == ("carol", "user", "cryptosign", "static")
    assert c.challenges[0].extra["channel_binding"] == "tls-unique"


@pytest.mark.parametrize("transport", ["wss", "rawsocket-tls"])
def test_cryptosign_over_tls_without_binding_joins(router, clients, transport):
    c = clients(router, transport, authid="carol", authmethods=["cryptosign"], authextra={"pubkey": PUB},
                on_challenge=mb_auth.cryptosign(PRIV))
    assert welcome(c) == ("carol", "user", "cryptosign", "static")
    assert c.challenges[0].extra.get("channel_binding") is None


@pytest.mark.parametrize("transport", ["wss", "rawsocket-tls"])
def test_a_signature_not_bound_to_the_channel_is_refused(router, transport):
    """The client asked for tls-unique but signs the bare challenge: as a relayed signature would be."""
    with pytest.raises(tx.JoinFailed) as e:
        tx.connect(router, transport, authid="carol", authmethods=["cryptosign"],
                   authextra={"pubkey": PUB, "channel_binding": "tls-unique"},
                   on_challenge=mb_auth.cryptosign(PRIV)).close()
    assert e.value.reason == "wamp.error.authentication_failed"
    assert "channel binding" in e.value.message


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_channel_binding_over_plain_tcp_is_refused(router, transport):
    c = raw.connect(router, transport)
    msg = raw.hello(c, authmethods=["cryptosign"], authid="carol",
                    authextra={"pubkey": PUB, "channel_binding": "tls-unique"})
    assert msg[0] == raw.ABORT and msg[2] == "wamp.error.authentication_failed", msg
    assert "needs a TLS connection" in msg[1]["message"]
    c.close()


@pytest.mark.parametrize("transport", ["wss", "rawsocket-tls"])
def test_wampcra_and_ticket_over_tls(router, clients, transport):
    c = clients(router, transport, authid="bob", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("bob-secret"))
    assert welcome(c) == ("bob", "user", "wampcra", "static")
    t = clients(router, transport, authid="alice", authmethods=["ticket"], ticket="alice-ticket")
    assert welcome(t) == ("alice", "user", "ticket", "static")


# ---------------------------------------------------------------- a raw client on pyOpenSSL

class _TLSSock:
    """pyOpenSSL's Connection with the socket calls mb_raw's connections make."""

    def __init__(self, conn, sock):
        self.conn, self.raw = conn, sock

    def settimeout(self, t):
        secs = max(0.01, t or 10)
        self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                            struct.pack("ll", int(secs), int((secs % 1) * 1e6)))

    def recv(self, n):
        try:
            return self.conn.recv(n)
        except SSL.ZeroReturnError:
            return b""
        except (SSL.WantReadError, SSL.SysCallError):
            raise socket.timeout() from None

    def sendall(self, data):
        self.conn.sendall(data)

    def close(self):
        self.raw.close()


def tls_rawsocket(router, pki, version=None):
    """A RawSocket (JSON) connection over TLS on pyOpenSSL: (conn, pyOpenSSL Connection)."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.load_verify_locations(pki.ca)
    ctx.set_verify(SSL.VERIFY_PEER, lambda *a: a[-1])
    if version is not None:
        ctx.set_min_proto_version(version)
        ctx.set_max_proto_version(version)
    sock = socket.create_connection(("127.0.0.1", router.find_port("rawsocket", tls=True)), timeout=5)
    sock.settimeout(None)  # pyOpenSSL reads the descriptor itself: SO_RCVTIMEO bounds it
    conn = SSL.Connection(ctx, sock)
    conn.set_tlsext_host_name(b"localhost")
    conn.set_connect_state()
    conn.do_handshake()
    c = raw.RawSocketConn.__new__(raw.RawSocketConn)
    raw._Conn.__init__(c, _TLSSock(conn, sock))
    c.send_raw(b"\x7f\xf1\x00\x00")
    c.reply = c._read_exact(4, time.monotonic() + 5)
    assert c.reply[0] == 0x7F, c.reply
    return c, conn


def exporter(conn):
    return conn.export_keying_material(b"EXPORTER-Channel-Binding", 32)


def tls_unique(conn):
    """autobahn's tls-unique: SHA-256 of the server's Finished (the peer's, on this client side)."""
    return hashlib.sha256(conn.get_peer_finished()).digest()


@pytest.mark.parametrize("version", [SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("binding,channel_id", [("tls-exporter", exporter), ("tls-unique", tls_unique)])
def test_raw_client_binds_with_tls_exporter_and_tls_unique(router, pki, version, binding, channel_id):
    c, conn = tls_rawsocket(router, pki, version)
    ch = raw.hello(c, authmethods=["cryptosign"], authid="carol",
                   authextra={"pubkey": PUB, "channel_binding": binding})
    assert ch[0] == raw.CHALLENGE and ch[2]["channel_binding"] == binding, ch
    c.send_json([raw.AUTHENTICATE, mb_auth.sign_raw(PRIV, ch[2]["challenge"], channel_id(conn)), {}])
    w = raw.expect(c, raw.WELCOME)
    assert (w[2]["authid"], w[2]["authmethod"]) == ("carol", "cryptosign")
    c.close()


@pytest.mark.parametrize("binding,wrong", [("tls-exporter", tls_unique), ("tls-unique", exporter),
                                           ("tls-exporter", lambda conn: bytes(32))])
def test_raw_client_signing_with_the_wrong_channel_id_is_refused(router, pki, binding, wrong):
    c, conn = tls_rawsocket(router, pki)
    ch = raw.hello(c, authmethods=["cryptosign"], authid="carol",
                   authextra={"pubkey": PUB, "channel_binding": binding})
    c.send_json([raw.AUTHENTICATE, mb_auth.sign_raw(PRIV, ch[2]["challenge"], wrong(conn)), {}])
    msg = c.recv_json()
    assert msg[0] == raw.ABORT and msg[2] == "wamp.error.authentication_failed", msg
    c.close()


def test_a_signature_bound_to_another_connection_is_refused(router, pki):
    """A man in the middle relays the challenge of its own connection to the victim: the
    victim's signature is bound to the victim's channel, not to the relay's."""
    victim, vconn = tls_rawsocket(router, pki)
    relay, rconn = tls_rawsocket(router, pki)
    ch = raw.hello(relay, authmethods=["cryptosign"], authid="carol",
                   authextra={"pubkey": PUB, "channel_binding": "tls-exporter"})
    relay.send_json([raw.AUTHENTICATE, mb_auth.sign_raw(PRIV, ch[2]["challenge"], exporter(vconn)), {}])
    msg = relay.recv_json()
    assert msg[0] == raw.ABORT and msg[2] == "wamp.error.authentication_failed", msg
    victim.close()
    relay.close()
