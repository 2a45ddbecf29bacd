"""The auth and roles sections of the config checked (M10): every mistake refuses the start (exit 2,
a message naming the key) and is reported by `moonbar --check-config FILE` (`FILE: error: ...`,
exit 2); the warnings of --check-config (anonymous sessions that may do everything on a public
listener, secrets written in clear in the file, tickets over a public listener without TLS); secrets
read from a file or an environment variable, which work like strings and never show in the log;
the repository's production config."""
import os
import re
import signal

import pytest

import mb_auth
import mb_router
import mb_tls
import mb_twisted as tx
from mb_router import bad_output, lua_value, run_cli

REPO = mb_router.REPO
PRODUCTION = REPO / "lua" / "config.production.lua"
UNSET = "MB_TEST_SECRET_NOBODY_SET"


def base_config():
    """A config --check-config finds clean: loopback listeners, a realm with ticket users whose
    tickets come from the environment, roles for all of them."""
    return {
        "log_level": "info",
        "websocket": {"host": "127.0.0.1", "port": 0, "path": "/ws", "web_root": False},
        "rawsocket": {"host": "127.0.0.1", "port": 0},
        "realms": [{
            "name": "realm1",
            "auth": {"anonymous": {"role": "guest"},
                     "ticket": {"users": {"alice": {"ticket": {"env": "HOME"}, "role": "user"}}}},
            "roles": {"user": [{"uri": "com.example.", "match": "prefix", "allow": ["call", "subscribe"]}],
                      "guest": [{"uri": "com.example.public.", "match": "prefix", "allow": "subscribe"}]},
        }],
    }


def write_config(tmp_path, config, name="moonbar.lua"):
    path = tmp_path / name
    path.write_text("return " + lua_value(config) + "\n")
    return path


def check_config(path):
    """moonbar --check-config PATH: (exit status, stdout lines)."""
    p = run_cli("--check-config", str(path))
    assert not bad_output(p.stdout + p.stderr), p.stdout + p.stderr
    return p.returncode, p.stdout.splitlines(), p


def refused(tmp_path, config, *named):
    """config is refused at the start and by --check-config, with one message naming every
    string of `named` (keys, values, users); returns that message (from --check-config)."""
    path = write_config(tmp_path, config)
    p = run_cli("--config", str(path))
    assert p.returncode == 2, "expected exit 2 at the start, got %s\nstderr:\n%s" % (p.returncode, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("moonbar: config %s:" % path)]
    assert len(lines) == 1, "one 'moonbar: config FILE:...' line expected:\n" + p.stderr
    for word in named:
        assert word in lines[0], "%r not in %r" % (word, lines[0])
    assert "listening" not in p.stderr, p.stderr
    rc, out, p = check_config(path)
    assert rc == 2, (rc, out, p.stderr)
    errors = [ln for ln in out if ln.startswith("%s: error: " % path)]
    assert len(errors) == 1, out
    for word in named:
        assert word in errors[0], "%r not in %r" % (word, errors[0])
    return errors[0]


def with_rules(*rules):
    c = base_config()
    c["realms"][0]["roles"]["user"] = list(rules)
    return c


def with_user(method, authid, user):
    c = base_config()
    c["realms"][0]["auth"].setdefault(method, {"users": {}})["users"][authid] = user
    return c


# ---------------------------------------------------------------- clean

def test_a_clean_config_has_no_errors_and_no_warnings(tmp_path):
    path = write_config(tmp_path, base_config())
    rc, out, p = check_config(path)
    assert (rc, out) == (0, ["%s: 0 errors, 0 warnings" % path]), (rc, out, p.stderr)


def test_the_suites_default_config_is_clean(tmp_path):
    (tmp_path / "www").mkdir()
    path = write_config(tmp_path, mb_router.default_config())
    rc, out, _ = check_config(path)
    assert (rc, out) == (0, ["%s: 0 errors, 0 warnings" % path])


# ---------------------------------------------------------------- errors in rules

RULE = "realms[1].roles.user[1]"

RULE_ERRORS = [
    ("unknown key", [{"uri": "com.x", "allow": "call", "alow": "publish"}], [RULE + ".alow", "not a known setting"]),
    ("bad match", [{"uri": "com.x", "match": "regex", "allow": "call"}], [RULE + ".match", "regex"]),
    ("unknown action in a list", [{"uri": "com.x", "allow": ["call", "pubish"]}], [RULE + ".allow", "'pubish'"]),
    ("unknown action alone", [{"uri": "com.x", "deny": "pubish"}], [RULE + ".deny", "'pubish'"]),
    ("action not a string", [{"uri": "com.x", "allow": [1]}], [RULE + ".allow", "not an action"]),
    ("allows and denies an action", [{"uri": "com.x", "allow": ["call", "publish"], "deny": "publish"}],
     [RULE, "both allows and denies publish"]),
    ("allows all and denies one", [{"uri": "com.x", "allow": "*", "deny": ["call"]}],
     [RULE, "both allows and denies call"]),
    ("neither allow nor deny", [{"uri": "com.x"}], [RULE, "allows and denies nothing"]),
    ("allow is empty", [{"uri": "com.x", "allow": []}], [RULE, "allows and denies nothing"]),
    ("no uri", [{"allow": "call"}], [RULE + ".uri", "is required"]),
    ("invalid exact uri", [{"uri": "com..x", "allow": "call"}], [RULE + ".uri", "'com..x'", "not a valid URI"]),
    ("invalid uri with a space", [{"uri": "com.x y", "allow": "call"}], [RULE + ".uri", "'com.x y'"]),
    ("empty exact uri", [{"uri": "", "allow": "call"}], [RULE + ".uri", "''"]),
    ("invalid prefix", [{"uri": "com.#", "match": "prefix", "allow": "call"}], [RULE + ".uri", "'com.#'"]),
    ("empty wildcard", [{"uri": "", "match": "wildcard", "allow": "call"}], [RULE + ".uri", "''"]),
    ("disclose not a boolean", [{"uri": "com.x", "allow": "call", "disclose": "yes"}], [RULE + ".disclose"]),
    ("rule not a table", ["com.x"], [RULE, "must be a table"]),
    ("two exact rules decide one action",
     [{"uri": "com.x", "allow": "call"}, {"uri": "com.x", "match": "exact", "deny": ["publish", "call"]}],
     ["realms[1].roles", "'user'", "rules 1 and 2", "'call'", "exact 'com.x'"]),
    ("two prefix rules decide one action",
     [{"uri": "com.", "match": "prefix", "allow": "*"}, {"uri": "com.", "match": "prefix", "deny": "register"}],
     ["'user'", "rules 1 and 2", "'register'", "prefix 'com.'"]),
    ("two wildcard rules decide one action",
     [{"uri": "com.example.first", "allow": "call"},
      {"uri": "com..x", "match": "wildcard", "allow": "subscribe"},
      {"uri": "com..x", "match": "wildcard", "deny": ["call", "subscribe"]}],
     ["'user'", "rules 2 and 3", "'subscribe'", "wildcard 'com..x'"]),
]


@pytest.mark.parametrize("rules,named", [c[1:] for c in RULE_ERRORS], ids=[c[0] for c in RULE_ERRORS])
def test_a_bad_rule_is_refused_naming_the_rule_and_key(tmp_path, rules, named):
    refused(tmp_path, with_rules(*rules), *named)


def test_rules_on_one_uri_that_decide_different_actions_or_match_differently_are_fine(tmp_path):
    c = with_rules({"uri": "com.x", "allow": "call"}, {"uri": "com.x", "deny": "publish"},
                   {"uri": "com.x", "match": "prefix", "deny": "call"},
                   {"uri": "com.x", "match": "wildcard", "allow": "call"})
    path = write_config(tmp_path, c)
    assert check_config(path)[:2] == (0, ["%s: 0 errors, 0 warnings" % path])


def test_a_bad_rule_in_a_later_role_or_realm_is_found_too(tmp_path):
    c = base_config()
    c["realms"][0]["roles"]["zeta"] = [{"uri": "com.ok", "allow": "call"}, {"uri": "com.x", "allow": "pubish"}]
    refused(tmp_path, c, "realms[1].roles.zeta[2].allow", "'pubish'")
    c = base_config()
    c["realms"].append({"name": "realm2", "roles": {"r": [{"uri": "com.x", "match": "glob", "allow": "call"}]}})
    refused(tmp_path, c, "realms[2].roles.r[1].match", "glob")


def test_roles_that_are_not_a_table_of_rule_lists_are_refused(tmp_path):
    c = base_config()
    c["realms"][0]["roles"] = "admin"
    refused(tmp_path, c, "realms[1].roles")


# ---------------------------------------------------------------- errors in users

@pytest.mark.parametrize("method,authid,user", [
    ("ticket", "alice", {"ticket": {"env": "HOME"}, "role": "admn"}),
    ("wampcra", "bob", {"secret": {"env": "HOME"}, "role": "svc"}),
    ("cryptosign", "carol", {"pubkeys": ["ab" * 32], "role": "player"}),
], ids=["ticket", "wampcra", "cryptosign"])
def test_a_user_whose_role_is_not_in_roles_is_refused_naming_the_user_and_role(tmp_path, method, authid, user):
    msg = refused(tmp_path, with_user(method, authid, user),
                  "realms[1].auth.%s.users.%s.role" % (method, authid), "'%s'" % user["role"], "realms[1].roles")
    assert "is not one of" in msg, msg


def test_an_anonymous_role_not_in_roles_is_refused(tmp_path):
    c = base_config()
    c["realms"][0]["auth"]["anonymous"] = {"role": "gest"}
    refused(tmp_path, c, "realms[1].auth.anonymous.role", "'gest'")


def test_without_roles_any_role_name_is_fine(tmp_path):
    c = base_config()
    del c["realms"][0]["roles"]
    c["realms"][0]["auth"]["ticket"]["users"]["alice"]["role"] = "whatever"
    path = write_config(tmp_path, c)
    assert check_config(path)[:2] == (0, ["%s: 0 errors, 0 warnings" % path])


def test_a_secret_from_an_unset_environment_variable_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)
    refused(tmp_path, with_user("ticket", "alice", {"ticket": {"env": UNSET}, "role": "user"}),
            "realms[1].auth.ticket.users.alice.ticket", UNSET, "not set")
    refused(tmp_path, with_user("wampcra", "bob", {"secret": {"env": UNSET}, "role": "user"}),
            "realms[1].auth.wampcra.users.bob.secret", UNSET)


def test_a_secret_from_a_file_that_cannot_be_read_is_refused_naming_it(tmp_path):
    refused(tmp_path, with_user("ticket", "alice", {"ticket": {"file": "secrets/missing.txt"}, "role": "user"}),
            "realms[1].auth.ticket.users.alice.ticket", "secrets/missing.txt", "cannot be read")
    (tmp_path / "secrets").mkdir()
    refused(tmp_path, with_user("wampcra", "bob", {"secret": {"file": "secrets"}, "role": "user"}),
            "realms[1].auth.wampcra.users.bob.secret", "secrets", "cannot be read")


@pytest.mark.parametrize("secret,named", [
    ({"file": "a", "env": "HOME"}, "must be a string"),
    ({}, "must be a string"),
    ({"path": "a"}, "path"),
    (42, "got number"),
    ("", "is empty"),
], ids=["file and env", "neither", "unknown key", "a number", "empty"])
def test_a_secret_of_the_wrong_shape_is_refused(tmp_path, secret, named):
    refused(tmp_path, with_user("ticket", "alice", {"ticket": secret, "role": "user"}),
            "realms[1].auth.ticket.users.alice.ticket", named)


def test_an_empty_secret_file_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("\n")
    refused(tmp_path, with_user("ticket", "alice", {"ticket": {"file": "empty.txt"}, "role": "user"}),
            "realms[1].auth.ticket.users.alice.ticket", "is empty")


# ---------------------------------------------------------------- warnings

def listeners(host, tls=None):
    """The old websocket/rawsocket keys replaced by one WebSocket listener on host."""
    lst = {"type": "websocket", "host": host, "port": 0, "path": "/ws", "web_root": False}
    if tls:
        lst["tls"] = tls
    return {"websocket": mb_router.DELETE, "rawsocket": mb_router.DELETE, "listeners": [lst]}


def warnings_of(tmp_path, config):
    """--check-config of config: the text of its warnings (exit 0, summary line checked)."""
    path = write_config(tmp_path, config)
    rc, out, p = check_config(path)
    assert rc == 0, (rc, out, p.stderr)
    warnings = [ln[len("%s: warning: " % path):] for ln in out if ln.startswith("%s: warning: " % path)]
    assert out == ["%s: warning: %s" % (path, w) for w in warnings] + \
        ["%s: 0 errors, %d warning%s" % (path, len(warnings), "" if len(warnings) == 1 else "s")], out
    return warnings


def anonymous_realm(**realm):
    return {"realms": [dict({"name": "realm1"}, **realm)]}


ALL = [{"uri": "", "match": "prefix", "allow": "*"}]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7"])
@pytest.mark.parametrize("realm", [
    {},                                                     # no auth, no roles, no policy
    {"auth": {"anonymous": True}},
    {"auth": {"anonymous": {"role": "guest"}}, "roles": {"guest": ALL}},
    {"auth": {"anonymous": {"role": "guest"}},
     "roles": {"guest": [{"uri": "", "match": "prefix", "allow": ["call", "register", "publish", "subscribe"]}]}},
], ids=["no-auth", "anonymous-true", "role-star", "role-all-four"])
def test_anonymous_sessions_that_may_do_everything_on_a_public_listener_are_a_warning(tmp_path, host, realm):
    c = mb_router.merge(base_config(), dict(listeners(host), **anonymous_realm(**realm)))
    (w,) = warnings_of(tmp_path, c)
    assert w.startswith("realm realm1: anonymous sessions may do everything"), w
    assert "not loopback" in w and "websocket listener" in w, w
    assert ("authrole guest" if "roles" in realm else "authrole anonymous") in w, w


@pytest.mark.parametrize("overrides", [
    listeners("127.0.0.1"),
    listeners("127.0.0.2"),
    listeners("::1"),
    {"websocket": mb_router.DELETE, "rawsocket": mb_router.DELETE,
     "listeners": [{"type": "rawsocket", "unix": "run/moonbar.sock"}]},
], ids=["127.0.0.1", "127.0.0.2", "::1", "unix"])
def test_anonymous_sessions_that_may_do_everything_on_loopback_are_fine(tmp_path, overrides):
    assert warnings_of(tmp_path, mb_router.merge(base_config(), dict(overrides, **anonymous_realm()))) == []


@pytest.mark.parametrize("realm", [
    {"auth": {"anonymous": False, "wampcra": {"users": {"b": {"secret": {"env": "HOME"}, "role": "r"}}}}},
    {"auth": {"anonymous": {"role": "guest"}}, "roles": {"guest": [{"uri": "com.", "match": "prefix", "allow": "*"}]}},
    {"auth": {"anonymous": {"role": "guest"}},
     "roles": {"guest": [{"uri": "", "match": "prefix", "allow": "subscribe"}]}},
    {"auth": {"anonymous": {"role": "guest"}},
     "roles": {"guest": ALL + [{"uri": "com.admin.", "match": "prefix", "deny": "*"}]}},
    {"policy": "policy.lua"},
], ids=["no-anonymous", "role-com", "role-subscribe-only", "role-star-with-a-deny", "policy"])
def test_anonymous_sessions_restricted_by_roles_or_a_policy_are_fine_on_a_public_listener(tmp_path, realm):
    (tmp_path / "policy.lua").write_text("moonbar.authorize(function() return true end)\n")
    c = mb_router.merge(base_config(), dict(listeners("0.0.0.0"), **anonymous_realm(**realm)))
    assert warnings_of(tmp_path, c) == []


def test_each_public_listener_gets_its_warning(tmp_path):
    c = mb_router.merge(base_config(), dict(anonymous_realm(), websocket={"host": "0.0.0.0"},
                                            rawsocket={"host": "0.0.0.0"}))
    ws, rs = warnings_of(tmp_path, c)
    assert "websocket listener on 0.0.0.0" in ws and "rawsocket listener on 0.0.0.0" in rs, (ws, rs)


@pytest.mark.parametrize("method,authid,user,key", [
    ("ticket", "alice", {"ticket": "alice-in-the-file", "role": "user"}, "ticket"),
    ("wampcra", "bob", {"secret": "bob-in-the-file", "role": "user"}, "secret"),
    ("wampcra", "dave", {"secret": mb_auth.derived("pw", "salt"), "salt": "salt", "role": "user"}, "secret"),
], ids=["ticket", "wampcra", "wampcra-salted"])
def test_a_secret_written_in_clear_in_the_file_is_a_warning(tmp_path, method, authid, user, key):
    (w,) = warnings_of(tmp_path, with_user(method, authid, user))
    assert w == "realms[1].auth.%s.users.%s.%s is written in clear in the file: use { file = \"path\" } " \
        "or { env = \"NAME\" }" % (method, authid, key), w
    assert user[key] not in w


def test_secrets_from_a_file_or_the_environment_are_no_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_TEST_BOB", "bob-from-env")
    (tmp_path / "alice.txt").write_text("alice-from-file\n")
    c = with_user("ticket", "alice", {"ticket": {"file": "alice.txt"}, "role": "user"})
    c["realms"][0]["auth"]["wampcra"] = {"users": {"bob": {"secret": {"env": "MB_TEST_BOB"}, "role": "user"}}}
    assert warnings_of(tmp_path, c) == []


@pytest.mark.parametrize("kind", ["websocket", "rawsocket"])
def test_tickets_on_a_public_listener_without_tls_are_a_warning(tmp_path, kind):
    c = base_config()
    c["realms"][0]["auth"]["anonymous"] = False
    c[kind]["host"] = "0.0.0.0"
    (w,) = warnings_of(tmp_path, c)
    assert w == "realm realm1: tickets travel in clear on the %s listener 0.0.0.0:0 (no tls): anyone on the " \
        "path can read them" % kind, w


def test_tickets_on_a_public_listener_with_tls_or_on_loopback_are_fine(tmp_path):
    pki = mb_tls.PKI(tmp_path / "pki")
    c = mb_router.merge(base_config(), listeners("0.0.0.0", tls=pki.server_tls()))
    c["realms"][0]["auth"]["anonymous"] = False
    assert warnings_of(tmp_path, c) == []
    c = base_config()
    c["realms"][0]["auth"]["anonymous"] = False
    assert warnings_of(tmp_path, c) == []


def test_a_config_with_every_warning_lists_them_all_and_exits_0(tmp_path):
    c = mb_router.merge(base_config(), listeners("0.0.0.0"))
    c["realms"][0]["auth"] = {"ticket": {"users": {"alice": {"ticket": "t-in-clear", "role": "user"}}},
                              "anonymous": {"role": "guest"}}
    c["realms"][0]["roles"]["guest"] = ALL
    ws = warnings_of(tmp_path, c)
    assert len(ws) == 3, ws
    assert "anonymous sessions may do everything" in ws[0], ws
    assert "tickets travel in clear" in ws[1], ws
    assert ws[2].startswith("realms[1].auth.ticket.users.alice.ticket is written in clear"), ws
    assert "t-in-clear" not in "".join(ws)


# ---------------------------------------------------------------- secrets from a file and the environment

SALT = "svc-salt"
DAVE_KEY = mb_auth.derived("dave-password", SALT, 10, 32)


def secrets_config():
    return {"realms": [{"name": "realm1", "auth": {
        "ticket": {"users": {
            "alice": {"ticket": {"file": "secrets/alice.ticket"}, "role": "user"},
            "amy": {"ticket": {"file": "secrets/amy.ticket"}, "role": "user"},
            "win": {"ticket": {"file": "secrets/win.ticket"}, "role": "user"},
            "eve": {"ticket": {"env": "MB_TEST_EVE_TICKET"}, "role": "user"}}},
        "wampcra": {"users": {
            "bob": {"secret": {"env": "MB_TEST_BOB_SECRET"}, "role": "user"},
            "dave": {"secret": {"file": "secrets/dave.key"}, "salt": SALT, "iterations": 10, "keylen": 32,
                     "role": "user"}}}},
        "roles": {"user": [{"uri": "com.", "match": "prefix", "allow": "*"}]}}],
        "brute_force": {"free_failures": 1000000, "lockout_after": 0}}


SECRET_FILES = {"secrets/alice.ticket": "alice-from-file\n",     # one newline dropped
                "secrets/amy.ticket": "amy-from-file\n\n",       # one only
                "secrets/win.ticket": "win-from-file\r\n",       # a CRLF line end is one newline
                "secrets/dave.key": DAVE_KEY + "\n"}
SECRETS = ["alice-from-file", "amy-from-file", "win-from-file", "eve-from-env", "bob-from-env", DAVE_KEY]


@pytest.fixture
def secrets_env(monkeypatch):
    monkeypatch.setenv("MB_TEST_EVE_TICKET", "eve-from-env")
    monkeypatch.setenv("MB_TEST_BOB_SECRET", "bob-from-env")


def ticket_fails(r, authid, ticket):
    with pytest.raises(tx.JoinFailed) as e:
        tx.connect(r, authid=authid, authmethods=["ticket"], ticket=ticket).close()
    assert e.value.reason == "wamp.error.authentication_failed", (e.value.reason, e.value.message)


def test_secrets_from_a_file_and_the_environment_work_like_strings(router_factory, clients, secrets_env):
    r = router_factory(secrets_config(), files=SECRET_FILES)  # the files: next to the config, not the cwd
    for authid, ticket in (("alice", "alice-from-file"), ("amy", "amy-from-file\n"), ("win", "win-from-file"),
                           ("eve", "eve-from-env")):
        c = clients(r, "rawsocket", authid=authid, authmethods=["ticket"], ticket=ticket)
        assert (c.details.authid, c.details.authrole) == (authid, "user")
    for authid, ticket in (("alice", "alice-from-file\n"), ("amy", "amy-from-file"), ("win", "win-from-file\r"),
                           ("eve", "eve-from-env\n")):
        ticket_fails(r, authid, ticket)
    bob = clients(r, authid="bob", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("bob-from-env"))
    dave = clients(r, authid="dave", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("dave-password"))
    assert (bob.details.authmethod, dave.details.authmethod) == ("wampcra", "wampcra")
    r.check()
    for secret in SECRETS:
        assert secret not in r.log + r.stdout, secret


def test_check_config_reads_the_secrets_and_prints_none_of_them(tmp_path, secrets_env):
    for name, text in SECRET_FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    path = write_config(tmp_path, secrets_config())
    p = run_cli("--check-config", str(path), cwd=str(tmp_path / "secrets"))  # relative to the config
    assert (p.returncode, p.stdout.splitlines()) == (0, ["%s: 0 errors, 0 warnings" % path]), p
    for secret in SECRETS:
        assert secret not in p.stdout + p.stderr


def test_a_secret_file_changed_is_read_again_on_sighup(router_factory, clients, secrets_env):
    r = router_factory(secrets_config(), files=SECRET_FILES)
    clients(r, authid="alice", authmethods=["ticket"], ticket="alice-from-file")
    mark = r.log_mark()
    r.write_file("secrets/alice.ticket", "alice-rotated\n", atomic=True)
    r.signal(signal.SIGHUP)
    r.wait_for_log(r"SIGHUP: realm realm1: auth and roles reloaded", since=mark)
    ticket_fails(r, "alice", "alice-from-file")
    clients(r, authid="alice", authmethods=["ticket"], ticket="alice-rotated")
    assert "alice-rotated" not in r.log


# ---------------------------------------------------------------- the production config

@pytest.fixture
def production_env(tmp_path, monkeypatch):
    pki = mb_tls.PKI(tmp_path / "pki")
    monkeypatch.setenv("MOONBAR_TLS_CERT", pki.server_cert)
    monkeypatch.setenv("MOONBAR_TLS_KEY", pki.server_key)
    monkeypatch.setenv("MOONBAR_ALICE_TICKET", "alice-production-ticket")
    monkeypatch.setenv("MOONBAR_SERVICE_KEY", mb_auth.derived("svc-password", "moonbar-svc", 100000, 32))
    return pki


def test_the_production_config_passes_check_config_without_warnings(production_env):
    p = run_cli("--check-config", str(PRODUCTION))
    assert (p.returncode, p.stdout.splitlines()) == (0, ["%s: 0 errors, 0 warnings" % PRODUCTION]), \
        (p.returncode, p.stdout, p.stderr)
    assert "alice-production-ticket" not in p.stdout + p.stderr
    assert os.environ["MOONBAR_SERVICE_KEY"] not in p.stdout + p.stderr


@pytest.mark.parametrize("var", ["MOONBAR_ALICE_TICKET", "MOONBAR_SERVICE_KEY"])
def test_the_production_config_without_a_secret_fails_naming_its_variable(production_env, monkeypatch, var):
    monkeypatch.delenv(var)
    p = run_cli("--check-config", str(PRODUCTION))
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    (line,) = [ln for ln in p.stdout.splitlines() if ln.startswith("%s: error: " % PRODUCTION)]
    assert var in line and "not set" in line, line
    assert re.search(r"realms\[1\]\.auth\.(ticket\.users\.alice\.ticket|wampcra\.users\.svc\.secret)", line), line


@pytest.mark.skipif(os.path.exists("/etc/moonbar/tls/fullchain.pem"), reason="this machine has the default certificate")
def test_the_production_config_without_certificates_fails_naming_the_listener(production_env, monkeypatch):
    monkeypatch.delenv("MOONBAR_TLS_CERT")
    monkeypatch.delenv("MOONBAR_TLS_KEY")
    p = run_cli("--check-config", str(PRODUCTION))
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "%s: error: listeners[1].tls.cert: cannot read /etc/moonbar/tls/fullchain.pem" % PRODUCTION in \
        p.stdout.splitlines(), p.stdout
