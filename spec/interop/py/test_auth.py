"""Authentication from the config (realms[i].auth, M10) with autobahn-python over WebSocket and
RawSocket: anonymous, ticket, WAMP-CRA (plain and salted) and WAMP-Cryptosign; every refusal
with its ABORT reason and message; what the router logs (address and authid, never a secret);
a bystander session unaffected by every failure."""
import json
import re

import pytest

import mb_auth
import mb_raw as raw
import mb_router
import mb_twisted as tx
from mb_router import T

CAROL_PRIV, CAROL_PUB = mb_auth.new_key()
CAROL2_PRIV, CAROL2_PUB = mb_auth.new_key()  # carol's second device
ERIN_PRIV, ERIN_PUB = mb_auth.new_key()      # a key nobody configured
SALT = "s4lt-of-dave"
DAVE_KEY = mb_auth.derived("dave-password", SALT, 1000, 32)
FRANK_KEY = mb_auth.derived("frank-password", "frank-salt", 10, 16)

AUTH = {
    "anonymous": {"role": "guest"},
    "ticket": {"users": {"alice": {"ticket": "alice-ticket", "role": "admin"},
                         "zoe": {"ticket": "zoe-ticket", "role": "user"}}},
    "wampcra": {"users": {
        "bob": {"secret": "bob-secret", "role": "user"},
        "dave": {"secret": DAVE_KEY, "salt": SALT, "iterations": 1000, "keylen": 32, "role": "user"},
        "frank": {"secret": FRANK_KEY, "salt": "frank-salt", "iterations": 10, "keylen": 16, "role": "admin"},
    }},
    "cryptosign": {"users": {"carol": {"pubkeys": [CAROL_PUB, CAROL2_PUB], "role": "user"}}},
}
ROLES = {
    "admin": [{"uri": "", "match": "prefix", "allow": ["call", "register", "publish", "subscribe"]}],
    "user": [{"uri": "com.", "match": "prefix", "allow": ["call", "register", "publish", "subscribe"]}],
    "guest": [{"uri": "com.witness.", "match": "prefix", "allow": ["call", "register", "publish", "subscribe"]}],
}
CONFIG = {"realms": [{"name": "realm1", "auth": AUTH, "roles": ROLES},
                     {"name": "closed", "auth": {"anonymous": False,
                                                 "ticket": {"users": {"alice": {"ticket": "t", "role": "r"}}}},
                      "roles": {"r": [{"uri": "", "match": "prefix", "allow": "*"}]}}],
          # every test here fails on purpose from 127.0.0.1: the guard has its own tests
          "brute_force": {"free_failures": 1000000, "lockout_after": 0}}

TRANSPORTS = ["websocket", "rawsocket"]


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    with mb_router.running(tmp_path_factory.mktemp("auth"), CONFIG) as r:
        yield r


class Bystander:
    """An anonymous (guest) caller and callee on the router: check() proves they still work."""

    def __init__(self, router):
        self.callee = tx.connect(router)
        self.caller = tx.connect(router, "rawsocket")
        self.callee.register("com.witness.echo", lambda x: x)
        self.n = 0

    def check(self):
        self.n += 1
        assert self.caller.call("com.witness.echo", self.n) == self.n

    def close(self):
        self.caller.close()
        self.callee.close()


@pytest.fixture(scope="module")
def bystander(router):
    b = Bystander(router)
    yield b
    b.close()


def join_fails(router, transport, **kw):
    with pytest.raises(tx.JoinFailed) as e:
        c = tx.connect(router, transport, **kw)
        c.close()
    assert e.value.message, "ABORT without a message: %r" % (e.value,)
    return e.value


def welcome(c):
    d = c.details
    return (d.authid, d.authrole, d.authmethod, d.authprovider)


# ---------------------------------------------------------------- each method joins

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_anonymous_joins_with_the_configured_role(router, clients, transport):
    c = clients(router, transport)
    authid, role, method, provider = welcome(c)
    assert (role, method, provider) == ("guest", "anonymous", "static")
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", authid), authid


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ticket_joins_with_the_users_authid_and_role(router, clients, transport):
    c = clients(router, transport, authid="alice", authmethods=["ticket"], ticket="alice-ticket")
    assert welcome(c) == ("alice", "admin", "ticket", "static")
    assert [ch.method for ch in c.challenges] == ["ticket"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("serializers", ["json", "msgpack", "cbor"])
def test_wampcra_plain_secret_joins(router, clients, transport, serializers):
    c = clients(router, transport, serializers=serializers, authid="bob", authmethods=["wampcra"],
                on_challenge=mb_auth.wampcra("bob-secret"))
    assert welcome(c) == ("bob", "user", "wampcra", "static")
    (ch,) = c.challenges
    assert "salt" not in ch.extra
    fields = mb_auth.cra_challenge_fields(ch.extra)
    assert {k: fields[k] for k in ("authid", "authrole", "authmethod", "authprovider")} == \
        {"authid": "bob", "authrole": "user", "authmethod": "wampcra", "authprovider": "static"}
    assert fields["session"] == c.details.session, "the challenge announces the session's ID"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["timestamp"]), fields
    assert len(fields["nonce"]) >= 16


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("user,password,iterations,keylen,role", [
    ("dave", "dave-password", 1000, 32, "user"), ("frank", "frank-password", 10, 16, "admin")])
def test_wampcra_salted_secret_joins_and_the_challenge_carries_the_pbkdf2_parameters(
        router, clients, transport, user, password, iterations, keylen, role):
    c = clients(router, transport, authid=user, authmethods=["wampcra"], on_challenge=mb_auth.wampcra(password))
    assert welcome(c) == (user, role, "wampcra", "static")
    (ch,) = c.challenges
    assert (ch.extra["salt"], ch.extra["iterations"], ch.extra["keylen"]) == \
        (AUTH["wampcra"]["users"][user]["salt"], iterations, keylen)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("priv,pub", [(CAROL_PRIV, CAROL_PUB), (CAROL2_PRIV, CAROL2_PUB)])
def test_cryptosign_joins_with_either_of_the_users_keys(router, clients, transport, priv, pub):
    c = clients(router, transport, authid="carol", authmethods=["cryptosign"], authextra={"pubkey": pub},
                on_challenge=mb_auth.cryptosign(priv))
    assert welcome(c) == ("carol", "user", "cryptosign", "static")
    (ch,) = c.challenges
    assert re.fullmatch(r"[0-9a-f]{64}", ch.extra["challenge"])
    assert ch.extra.get("channel_binding") is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cryptosign_without_authid_finds_the_user_by_public_key(router, clients, transport):
    c = clients(router, transport, authmethods=["cryptosign"], authextra={"pubkey": CAROL2_PUB},
                on_challenge=mb_auth.cryptosign(CAROL2_PRIV))
    assert welcome(c) == ("carol", "user", "cryptosign", "static")


def test_each_cryptosign_challenge_is_fresh(router, clients):
    seen = set()
    for _ in range(3):
        c = clients(router, "rawsocket", authid="carol", authmethods=["cryptosign"],
                    authextra={"pubkey": CAROL_PUB}, on_challenge=mb_auth.cryptosign(CAROL_PRIV))
        seen.add(c.challenges[0].extra["challenge"])
        c.close()
    assert len(seen) == 3


# ---------------------------------------------------------------- method choice

def test_the_first_offered_method_the_realm_accepts_is_used(router, clients):
    c = clients(router, authid="alice", authmethods=["scram", "ticket", "wampcra"], ticket="alice-ticket")
    assert [ch.method for ch in c.challenges] == ["ticket"]
    c2 = clients(router, authid="bob", authmethods=["wampcra", "ticket"], on_challenge=mb_auth.wampcra("bob-secret"))
    assert [ch.method for ch in c2.challenges] == ["wampcra"]


def test_offering_anonymous_last_joins_anonymously_when_the_first_methods_are_not_accepted(router, clients):
    c = clients(router, "websocket", authmethods=["scram", "anonymous"])
    assert welcome(c)[1:] == ("guest", "anonymous", "static")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_matching_method_aborts_and_names_what_the_realm_accepts(router, transport, bystander):
    e = join_fails(router, transport, realm="closed")  # autobahn offers anonymous (no authmethods)
    assert e.reason == "wamp.error.no_matching_auth_method"
    assert "ticket" in e.message and "anonymous" in e.message, e.message
    e = join_fails(router, transport, realm="closed", authmethods=["wampcra", "cryptosign"], authid="alice")
    assert e.reason == "wamp.error.no_matching_auth_method"
    assert "wampcra" in e.message, e.message
    bystander.check()


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_ticket_aborts_with_authentication_failed(router, transport, bystander):
    e = join_fails(router, transport, authid="alice", authmethods=["ticket"], ticket="wrong")
    assert e.reason == "wamp.error.authentication_failed"
    assert "ticket" in e.message and "alice" in e.message, e.message
    # another user's ticket is wrong too, and a prefix of the right one
    for t in ("zoe-ticket", "alice-ticke", "alice-ticket2", ""):
        assert join_fails(router, transport, authid="alice", authmethods=["ticket"], ticket=t).reason == \
            "wamp.error.authentication_failed"
    bystander.check()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("user,secret", [("bob", "not-bobs"), ("dave", "wrong-password"),
                                         ("dave", DAVE_KEY)])  # the derived key is not the password
def test_wrong_wampcra_secret_aborts_with_authentication_failed(router, transport, bystander, user, secret):
    e = join_fails(router, transport, authid=user, authmethods=["wampcra"], on_challenge=mb_auth.wampcra(secret))
    assert e.reason == "wamp.error.authentication_failed"
    assert "WAMP-CRA" in e.message and user in e.message, e.message
    bystander.check()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_cryptosign_signature_aborts_with_authentication_failed(router, transport, bystander):
    # announces carol's key but signs with another
    e = join_fails(router, transport, authid="carol", authmethods=["cryptosign"], authextra={"pubkey": CAROL_PUB},
                   on_challenge=mb_auth.cryptosign(ERIN_PRIV))
    assert e.reason == "wamp.error.authentication_failed"
    assert "signature" in e.message, e.message
    bystander.check()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cryptosign_key_that_is_not_the_users_aborts(router, transport):
    e = join_fails(router, transport, authid="carol", authmethods=["cryptosign"], authextra={"pubkey": ERIN_PUB},
                   on_challenge=mb_auth.cryptosign(ERIN_PRIV))
    assert e.reason == "wamp.error.authentication_failed"
    assert "carol" in e.message, e.message


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kw", [
    dict(authid="mallory", authmethods=["ticket"], ticket="x"),
    dict(authid="mallory", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("x")),
    dict(authid="mallory", authmethods=["cryptosign"], authextra={"pubkey": ERIN_PUB},
         on_challenge=mb_auth.cryptosign(ERIN_PRIV)),
    dict(authmethods=["cryptosign"], authextra={"pubkey": ERIN_PUB}, on_challenge=mb_auth.cryptosign(ERIN_PRIV)),
], ids=["ticket", "wampcra", "cryptosign", "cryptosign-no-authid"])
def test_unknown_user_aborts_with_no_such_principal(router, transport, kw, bystander):
    e = join_fails(router, transport, **kw)
    assert e.reason == "wamp.error.no_such_principal"
    assert "realm1" in e.message, e.message
    bystander.check()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_user_of_one_method_is_unknown_to_another(router, transport):
    # alice is a ticket user, not a wampcra one
    e = join_fails(router, transport, authid="alice", authmethods=["wampcra"],
                   on_challenge=mb_auth.wampcra("alice-ticket"))
    assert e.reason == "wamp.error.no_such_principal"


def test_wampcra_without_authid_aborts(router):
    e = join_fails(router, "websocket", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("x"))
    assert e.reason == "wamp.error.no_such_principal"
    assert "authid" in e.message


@pytest.mark.parametrize("authextra,what", [
    (None, "pubkey"), ({"pubkey": "abcd"}, "pubkey"), ({"pubkey": "zz" * 32}, "pubkey"),
    ({"pubkey": CAROL_PUB, "channel_binding": "tls-unique"}, "TLS"),
    ({"pubkey": CAROL_PUB, "channel_binding": "tls-server-end-point"}, "not supported"),
    ({"pubkey": CAROL_PUB, "channel_binding": 7}, "channel_binding"),
])
def test_bad_cryptosign_hello_aborts_with_a_message(router, authextra, what, bystander):
    c = raw.RawSocketConn(router.rawsocket_port)
    details = {"authmethods": ["cryptosign"], "authid": "carol"}
    if authextra is not None:
        details["authextra"] = authextra
    msg = raw.hello(c, **details)
    assert msg[0] == raw.ABORT and msg[2] == "wamp.error.authentication_failed", msg
    assert what in msg[1]["message"], msg
    c.close()
    bystander.check()


@pytest.mark.parametrize("signature", ["", "00", "zz" * 96, "ab" * 95, "ab" * 97, "ab" * 96])
def test_malformed_cryptosign_signatures_are_refused(router, signature):
    c = raw.RawSocketConn(router.rawsocket_port)
    msg = raw.hello(c, authmethods=["cryptosign"], authid="carol", authextra={"pubkey": CAROL_PUB})
    assert msg[0] == raw.CHALLENGE, msg
    c.send_json([raw.AUTHENTICATE, signature, {}])
    ab, _ = raw.expect_abort_then_close(c, "wamp.error.authentication_failed")
    c.close()


def test_the_signature_must_be_over_this_challenge(router):
    """A signature over another challenge (a replay) is refused."""
    c1 = raw.RawSocketConn(router.rawsocket_port)
    ch1 = raw.hello(c1, authmethods=["cryptosign"], authid="carol", authextra={"pubkey": CAROL_PUB})
    c2 = raw.RawSocketConn(router.rawsocket_port)
    ch2 = raw.hello(c2, authmethods=["cryptosign"], authid="carol", authextra={"pubkey": CAROL_PUB})
    c2.send_json([raw.AUTHENTICATE, mb_auth.sign_raw(CAROL_PRIV, ch1[2]["challenge"]), {}])
    raw.expect_abort_then_close(c2, "wamp.error.authentication_failed")
    c1.send_json([raw.AUTHENTICATE, mb_auth.sign_raw(CAROL_PRIV, ch1[2]["challenge"]), {}])
    assert raw.expect(c1, raw.WELCOME)[2]["authid"] == "carol"
    assert ch1[2]["challenge"] != ch2[2]["challenge"]
    c1.close()
    c2.close()


def test_wampcra_signature_of_another_challenge_is_refused(router):
    c1 = raw.RawSocketConn(router.rawsocket_port)
    ch1 = raw.hello(c1, authmethods=["wampcra"], authid="bob")
    c2 = raw.RawSocketConn(router.rawsocket_port)
    ch2 = raw.hello(c2, authmethods=["wampcra"], authid="bob")
    assert ch1[2]["challenge"] != ch2[2]["challenge"]
    c2.send_json([raw.AUTHENTICATE, mb_auth.cra_signature("bob-secret", ch1[2]), {}])
    raw.expect_abort_then_close(c2, "wamp.error.authentication_failed")
    # padded, unpadded, URL-safe: the same signature in every base64 spelling is accepted
    sig = mb_auth.cra_signature("bob-secret", ch1[2])
    c1.send_json([raw.AUTHENTICATE, sig.rstrip("=").replace("+", "-").replace("/", "_"), {}])
    w = raw.expect(c1, raw.WELCOME)
    assert w[1] == json.loads(ch1[2]["challenge"])["session"]
    c1.close()
    c2.close()


def test_messages_other_than_authenticate_after_a_challenge_are_a_protocol_violation(router, bystander):
    c = raw.RawSocketConn(router.rawsocket_port)
    assert raw.hello(c, authmethods=["ticket"], authid="alice")[0] == raw.CHALLENGE
    c.send_json([raw.SUBSCRIBE, 1, {}, "com.example.x"])
    raw.expect_abort_then_close(c, "wamp.error.protocol_violation")
    c.close()
    c = raw.RawSocketConn(router.rawsocket_port)
    c.send_json([raw.AUTHENTICATE, "alice-ticket", {}])  # before any HELLO
    raw.expect_abort_then_close(c, "wamp.error.protocol_violation")
    c.close()
    bystander.check()


def test_an_authenticate_with_a_non_string_signature_is_a_protocol_violation(router):
    c = raw.RawSocketConn(router.rawsocket_port)
    assert raw.hello(c, authmethods=["ticket"], authid="alice")[0] == raw.CHALLENGE
    c.send_json([raw.AUTHENTICATE, 12, {}])
    raw.expect_abort_then_close(c, "wamp.error.protocol_violation")
    c.close()


# ---------------------------------------------------------------- logs

def test_failures_are_logged_with_address_and_authid_never_the_secret(router):
    mark = router.log_mark()
    join_fails(router, "rawsocket", authid="alice", authmethods=["ticket"], ticket="Sup3r-S3cret-Guess")
    join_fails(router, "rawsocket", authid="bob", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("Another-Guess"))
    router.wait_for_log(r"authentication failed: wampcra from 127\.0\.0\.1:\d+, authid bob", since=mark)
    log = router.log[mark:]
    assert re.search(r"authentication failed: ticket from 127\.0\.0\.1:\d+, authid alice, realm realm1", log), log
    for secret in ("Sup3r-S3cret-Guess", "Another-Guess", "alice-ticket", "bob-secret", DAVE_KEY):
        assert secret not in router.log


def test_the_config_secrets_are_not_in_the_log(router):
    for secret in ("alice-ticket", "zoe-ticket", "bob-secret", DAVE_KEY, FRANK_KEY):
        assert secret not in router.log


# ---------------------------------------------------------------- the challenge's deadline

def test_a_challenge_left_unanswered_is_aborted_after_auth_timeout(router_factory):
    r = router_factory(dict(CONFIG, limits={"auth_timeout": 0.5}))
    c = raw.RawSocketConn(r.rawsocket_port)
    assert raw.hello(c, authmethods=["ticket"], authid="alice")[0] == raw.CHALLENGE
    ab, _ = raw.expect_abort_then_close(c, "wamp.error.authentication_failed", timeout=5)
    assert "AUTHENTICATE" in ab[1]["message"], ab
    c.close()
