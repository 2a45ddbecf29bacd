"""The Lua authenticator for users kept elsewhere (M10): it serves every method — a ticket check,
a WAMP-CRA secret (plain or salted), cryptosign public keys — beside the config's static users,
which are tried first; what it returns is checked (no secret, no keys, an authrole that is not one
of the realm's roles); the ticket authenticator's details carry AUTHENTICATE.Extra's keys."""
import pytest

import mb_auth
import mb_lua as ml
import mb_twisted as tx

KEY_PRIV, KEY_PUB = mb_auth.new_key()
OTHER_PRIV, OTHER_PUB = mb_auth.new_key()
STATIC_PRIV, STATIC_PUB = mb_auth.new_key()
SALTED = mb_auth.derived("lua-salted-pw", "lua-salt", 50, 24)

POLICY = """
    moonbar.state.seen = moonbar.state.seen or moonbar.array()
    local cra = {
      eve = { secret = "eve-secret", authrole = "user" },
      gus = { secret = "%(salted)s", salt = "lua-salt", iterations = 50, keylen = 24, authrole = "user",
              authid = "gus@elsewhere" },
      nosecret = { authrole = "user" },
      badrole = { secret = "x", authrole = "no-such-role" },
    }
    moonbar.authenticate(function(realm, authid, details)
      table.insert(moonbar.state.seen, { authmethod = details.authmethod, authid = authid or moonbar.null,
                                         pubkey = details.authextra and details.authextra.pubkey or moonbar.null,
                                         extra_token = details.token or moonbar.null,
                                         ticket = details.ticket or moonbar.null })
      local m = details.authmethod
      if m == "ticket" then
        if authid == "lua-user" and details.ticket == "lua-ticket" then return { authrole = "user" } end
        if authid == "with-extra" and details.token == "x-token" then return { authrole = "user" } end
        return nil, "no such ticket here"
      elseif m == "wampcra" then
        local u = cra[authid]
        if not u then return nil, "unknown in the directory" end
        return u
      elseif m == "cryptosign" then
        if authid == "keyed" or authid == nil then
          return { authrole = "user", authid = "keyed", pubkeys = { "%(pub)s" } }
        end
        if authid == "nokeys" then return { authrole = "user" } end
        return nil, "no keys for " .. tostring(authid)
      end
      return nil, "no " .. m
    end)
    moonbar.register("policy.seen", function() return moonbar.state.seen end)
""" % {"salted": SALTED, "pub": KEY_PUB}

AUTH = {"anonymous": False, "ticket": True, "wampcra": True,
        "cryptosign": {"users": {"static": {"pubkeys": [STATIC_PUB], "role": "user"}}}}
ROLES = {"user": [{"uri": "", "match": "prefix", "allow": "*"}]}


@pytest.fixture
def router(router_factory):
    r = ml.lua_router(router_factory, policy=POLICY, brute_force={"free_failures": 1000, "lockout_after": 0})
    # the realm needs auth and roles beside the policy script
    return r


@pytest.fixture
def arouter(router_factory):
    files = {ml.POLICY_PATH: ml.src(POLICY)}
    cfg = {"realms": [{"name": "realm1", "policy": ml.POLICY_PATH, "auth": AUTH, "roles": ROLES}],
           "brute_force": {"free_failures": 1000, "lockout_after": 0}}
    return router_factory(cfg, files=files)


def fails(r, transport="websocket", **kw):
    with pytest.raises(tx.JoinFailed) as e:
        tx.connect(r, transport, **kw).close()
    assert e.value.message
    return e.value


def welcome(c):
    d = c.details
    return (d.authid, d.authrole, d.authmethod, d.authprovider)


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_lua_ticket_users(arouter, clients, transport):
    c = clients(arouter, transport, authid="lua-user", authmethods=["ticket"], ticket="lua-ticket")
    assert welcome(c) == ("lua-user", "user", "ticket", "lua")
    e = fails(arouter, transport, authid="lua-user", authmethods=["ticket"], ticket="nope")
    assert (e.reason, e.message) == ("wamp.error.not_authorized", "no such ticket here")


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_lua_wampcra_users_plain_and_salted(arouter, clients, transport):
    c = clients(arouter, transport, authid="eve", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("eve-secret"))
    assert welcome(c) == ("eve", "user", "wampcra", "lua")
    g = clients(arouter, transport, authid="gus", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("lua-salted-pw"))
    assert welcome(g) == ("gus@elsewhere", "user", "wampcra", "lua")
    (ch,) = g.challenges
    assert (ch.extra["salt"], ch.extra["iterations"], ch.extra["keylen"]) == ("lua-salt", 50, 24)
    assert mb_auth.cra_challenge_fields(ch.extra)["authprovider"] == "lua"
    e = fails(arouter, transport, authid="eve", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("wrong"))
    assert e.reason == "wamp.error.authentication_failed"
    e = fails(arouter, transport, authid="nobody", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("x"))
    assert (e.reason, e.message) == ("wamp.error.not_authorized", "unknown in the directory")


def test_lua_wampcra_without_a_secret_is_refused(arouter):
    e = fails(arouter, authid="nosecret", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("x"))
    assert e.reason == "wamp.error.not_authorized"
    assert "no secret" in e.message
    arouter.wait_for_log(r"authenticator returned no secret for wampcra")


def test_lua_authrole_that_is_not_a_configured_role_is_refused(arouter):
    e = fails(arouter, authid="badrole", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("x"))
    assert e.reason == "wamp.error.no_such_role"
    assert "no-such-role" in e.message


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
def test_lua_cryptosign_users(arouter, clients, transport):
    c = clients(arouter, transport, authid="keyed", authmethods=["cryptosign"], authextra={"pubkey": KEY_PUB},
                on_challenge=mb_auth.cryptosign(KEY_PRIV))
    assert welcome(c) == ("keyed", "user", "cryptosign", "lua")
    n = clients(arouter, transport, authmethods=["cryptosign"], authextra={"pubkey": KEY_PUB},
                on_challenge=mb_auth.cryptosign(KEY_PRIV))
    assert welcome(n) == ("keyed", "user", "cryptosign", "lua")
    e = fails(arouter, transport, authid="keyed", authmethods=["cryptosign"], authextra={"pubkey": OTHER_PUB},
              on_challenge=mb_auth.cryptosign(OTHER_PRIV))
    assert e.reason == "wamp.error.authentication_failed"
    e = fails(arouter, transport, authid="keyed", authmethods=["cryptosign"], authextra={"pubkey": KEY_PUB},
              on_challenge=mb_auth.cryptosign(OTHER_PRIV))
    assert e.reason == "wamp.error.authentication_failed"


def test_lua_cryptosign_without_keys_is_refused(arouter):
    e = fails(arouter, authid="nokeys", authmethods=["cryptosign"], authextra={"pubkey": KEY_PUB},
              on_challenge=mb_auth.cryptosign(KEY_PRIV))
    assert e.reason == "wamp.error.not_authorized"
    assert "no pubkeys" in e.message


def test_static_users_come_first_and_the_script_is_not_asked(arouter, clients):
    c = clients(arouter, authid="static", authmethods=["cryptosign"], authextra={"pubkey": STATIC_PUB},
                on_challenge=mb_auth.cryptosign(STATIC_PRIV))
    assert welcome(c) == ("static", "user", "cryptosign", "static")
    seen = clients(arouter, authid="eve", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("eve-secret"))
    assert [s["authid"] for s in seen.call("policy.seen")] == ["eve"]


def test_a_method_the_auth_section_leaves_out_is_not_offered_to_the_script(arouter):
    e = fails(arouter, authmethods=["anonymous"])
    assert e.reason == "wamp.error.no_matching_auth_method"


def test_without_an_auth_section_the_script_serves_every_method(router, clients):
    c = clients(router, authid="eve", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("eve-secret"))
    assert welcome(c) == ("eve", "user", "wampcra", "lua")
    k = clients(router, "rawsocket", authmethods=["cryptosign"], authextra={"pubkey": KEY_PUB},
                on_challenge=mb_auth.cryptosign(KEY_PRIV))
    assert welcome(k)[1:] == ("user", "cryptosign", "lua")
    seen = c.call("policy.seen")
    assert [(s["authmethod"], s["pubkey"]) for s in seen] == [("wampcra", None), ("cryptosign", KEY_PUB)], seen


def test_the_ticket_authenticator_gets_authenticate_extra_in_details(router, clients):
    """docs/lua-api.md: details = the HELLO details, authmethod, ticket, plus AUTHENTICATE.Extra."""
    import mb_raw as raw
    c = raw.RawSocketConn(router.rawsocket_port)
    assert raw.hello(c, authmethods=["ticket"], authid="with-extra")[0] == raw.CHALLENGE
    c.send_json([raw.AUTHENTICATE, "anything", {"token": "x-token"}])
    w = raw.expect(c, raw.WELCOME)
    assert w[2]["authid"] == "with-extra"
    c.close()
    viewer = clients(router, authid="lua-user", authmethods=["ticket"], ticket="lua-ticket")
    seen = viewer.call("policy.seen")
    assert seen[0]["extra_token"] == "x-token" and seen[0]["ticket"] == "anything", seen
    assert "authenticate_extra" not in str(seen)
