"""lua/config.production.lua runs as documented (README "Securing moonbar"): the file itself,
with only what a test must change (loopback instead of 0.0.0.0, free ports, a temporary Unix
socket and store, the apps by absolute path, a test user's public key): TLS listeners, no
anonymous sessions, the three kinds of users from environment variables, and each role's
permissions."""
import pathlib
import re

import pytest

import mb_auth
import mb_router
import mb_tls
import mb_twisted as tx

REPO = pathlib.Path(__file__).resolve().parents[3]
PROD = REPO / "lua" / "config.production.lua"
PRIV, PUB = mb_auth.new_key()
SVC_PASSWORD = "svc-password-for-tests"


def adapted(text, workdir):
    """The production config with the changes a test on loopback needs, and nothing else."""
    subs = [
        (r'host = "0\.0\.0\.0", port = 8443', 'host = "127.0.0.1", port = 0'),
        (r'host = "0\.0\.0\.0", port = 8444', 'host = "127.0.0.1", port = 0'),
        (r'"/run/moonbar/moonbar\.sock"', '"%s"' % (workdir / "moonbar.sock")),
        (r'"/var/lib/moonbar/moonbar\.db"', '"%s"' % (workdir / "moonbar.db")),
        (r'"apps/example\.lua", "apps/games"', '"%s", "%s"' % (REPO / "lua/apps/example.lua", REPO / "lua/apps/games")),
        (r'web_root = "www"', 'web_root = "%s"' % (REPO / "lua/www")),
        (r'"545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"', '"%s"' % PUB),
    ]
    for pattern, repl in subs:
        text, n = re.subn(pattern, repl, text)
        assert n >= 1, "the production config no longer has %s: update this test" % pattern
    return text


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return mb_tls.PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def env(pki):
    mp = pytest.MonkeyPatch()
    mp.setenv("MOONBAR_TLS_CERT", pki.server_cert)
    mp.setenv("MOONBAR_TLS_KEY", pki.server_key)
    mp.setenv("MOONBAR_ALICE_TICKET", "alice-ticket-from-env")
    mp.setenv("MOONBAR_SERVICE_KEY", mb_auth.derived(SVC_PASSWORD, "moonbar-svc", 100000, 32))
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def router(tmp_path_factory, env, pki):
    workdir = tmp_path_factory.mktemp("prod")
    r = mb_router.Router(workdir)
    r.config = {"listeners": [None, None, None]}  # what start() waits for: three listeners
    r.config_path.write_text(adapted(PROD.read_text(), pathlib.Path(workdir)))
    r.start(timeout=20)
    r.tls_ca = pki.ca
    yield r
    r.check()


def test_check_config_passes_without_warnings(env, tmp_path):
    out = mb_router.run_cli("--check-config", str(PROD))
    assert out.returncode == 2 or out.returncode == 0  # /etc/moonbar/tls may not exist here
    p = tmp_path / "prod.lua"
    p.write_text(adapted(PROD.read_text(), tmp_path))
    out = mb_router.run_cli("--check-config", str(p))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("0 errors, 0 warnings"), out.stdout


def test_it_listens_with_tls_and_on_a_unix_socket(router):
    kinds = sorted((lst.kind, lst.tls, bool(lst.unix)) for lst in router.listening)
    assert kinds == [("rawsocket", False, True), ("rawsocket", True, False), ("websocket", True, False)]


def test_anonymous_clients_are_refused(router):
    for transport in ("wss", "rawsocket-tls", "unix"):
        with pytest.raises(tx.JoinFailed) as e:
            tx.connect(router, transport).close()
        assert e.value.reason == "wamp.error.no_matching_auth_method", e.value


def test_the_operator_joins_with_the_ticket_from_the_environment_and_may_do_everything(router, clients):
    a = clients(router, "wss", authid="alice", authmethods=["ticket"], ticket="alice-ticket-from-env")
    assert (a.details.authrole, a.details.authmethod) == ("admin", "ticket")
    assert isinstance(a.call("wamp.session.count"), int)
    assert "alice-ticket-from-env" not in router.log


def test_the_service_joins_with_a_salted_wampcra_secret_over_the_unix_socket(router, clients):
    s = clients(router, "unix", authid="svc", authmethods=["wampcra"], on_challenge=mb_auth.wampcra(SVC_PASSWORD))
    assert (s.details.authrole, s.details.authmethod) == ("backend", "wampcra")
    assert s.challenges[0].extra["iterations"] == 100000
    s.register("com.example.svc.ping", lambda: "pong")
    with pytest.raises(tx.ApplicationError) as e:
        s.call("moonbar.reload")
    assert e.value.error == "wamp.error.not_authorized"


def test_a_player_joins_with_cryptosign_bound_to_the_tls_channel(router, clients):
    p = clients(router, "rawsocket-tls", authid="carol", authmethods=["cryptosign"],
                authextra={"pubkey": PUB, "channel_binding": "tls-unique"},
                on_challenge=mb_auth.cryptosign(PRIV, channel_binding="tls-unique"))
    assert (p.details.authrole, p.details.authmethod) == ("player", "cryptosign")
    p.call("moonbar.room.list")  # the lobby (one room) comes back: allowed
    p.publish("com.example.chat", "hello")
    for action in (lambda: p.publish("com.example.other", 1), lambda: p.register("com.example.mine", lambda: 1),
                   lambda: p.call("wamp.session.list")):
        with pytest.raises(tx.ApplicationError) as e:
            action()
        assert e.value.error == "wamp.error.not_authorized"
