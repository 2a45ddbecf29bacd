"""Brute-force protection (brute_force in the config, M10): failed authentications counted per
peer address. 50 wrong tickets from 127.0.0.2: the first few answered at once, then each HELLO
held longer (whatever its credentials), then the address refused outright for `lockout` seconds —
even with the right ticket — while 127.0.0.3 joins at once. Loopback has the whole 127/8, so the
clients bind their own source addresses."""
import re
import time

import pytest

import mb_auth
import mb_raw as raw
import mb_twisted as tx
from mb_router import T

GUARD = {"free_failures": 3, "delay": 0.2, "max_delay": 0.8, "lockout_after": 8, "lockout": 30}
AUTH = {"anonymous": False,
        "ticket": {"users": {"alice": {"ticket": "alice-ticket", "role": "user"}}},
        "wampcra": {"users": {"bob": {"secret": "bob-secret", "role": "user"}}}}
ROLES = {"user": [{"uri": "com.", "match": "prefix", "allow": "*"}]}


def config(**guard):
    return {"realms": [{"name": "realm1", "auth": AUTH, "roles": ROLES}], "brute_force": dict(GUARD, **guard)}


def attempt(r, source, ticket, authid="alice"):
    """One ticket authentication from source: (first answer's message code, ABORT message or
    None, seconds until the HELLO was answered)."""
    c = raw.RawSocketConn(r.rawsocket_port, source=source, timeout=10)
    try:
        t0 = time.monotonic()
        c.send_json([raw.HELLO, "realm1", {"roles": raw.ROLES, "authmethods": ["ticket"], "authid": authid}])
        msg = c.recv_json(timeout=10)
        waited = time.monotonic() - t0
        if msg[0] == raw.CHALLENGE:
            c.send_json([raw.AUTHENTICATE, ticket, {}])
            msg = c.recv_json(timeout=10)
        return msg[0], (msg[1].get("message") if msg[0] == raw.ABORT else None), msg, waited
    finally:
        c.close()


def test_fifty_wrong_tickets_are_slowed_then_refused_while_another_address_joins_at_once(router_factory):
    r = router_factory(config())
    results = [attempt(r, "127.0.0.2", "guess-%d" % i) for i in range(50)]
    codes = [x[0] for x in results]
    assert codes == [raw.ABORT] * 50
    wrong = [i for i, x in enumerate(results) if x[2][2] == "wamp.error.authentication_failed"
             and "wrong ticket" in x[1]]
    locked = [i for i, x in enumerate(results) if "too many failed authentications from 127.0.0.2" in x[1]]
    # 8 guesses were checked (lockout_after), the 42 others refused without looking at the ticket
    assert wrong == list(range(8)), [x[1] for x in results[:10]]
    assert locked == list(range(8, 50)), [x[1] for x in results[:12]]
    # guesses 4..8 were held: 0.2, 0.4, 0.8, 0.8, 0.8 s at least
    for i, least in zip(range(3, 8), (0.2, 0.4, 0.8, 0.8, 0.8)):
        assert results[i][3] >= least * 0.95, (i, results[i][3])
    r.wait_for_log(r"address 127\.0\.0\.2 locked out for 30 s after 8 failed authentications")
    assert "HELLO from 127.0.0.2:" in r.log and " held " in r.log
    # another address: not held, joins with its right ticket
    mark = r.log_mark()
    code, _, msg, waited = attempt(r, "127.0.0.3", "alice-ticket")
    assert code == raw.WELCOME, msg
    assert "HELLO from 127.0.0.3" not in r.log[mark:]
    # the locked address is refused even with the right ticket, and with another method
    code, message, msg, _ = attempt(r, "127.0.0.2", "alice-ticket")
    assert code == raw.ABORT and "too many failed" in message, msg
    with pytest.raises(tx.JoinFailed) as e:
        tx.connect(r, "rawsocket", authid="bob", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("bob-secret"),
                   endpoint=lambda reactor: _from(reactor, r, "127.0.0.2")).close()
    assert e.value.reason == "wamp.error.authentication_failed" and "too many" in e.value.message
    # and autobahn from a third address joins with the right secret
    c = tx.connect(r, "rawsocket", authid="bob", authmethods=["wampcra"], on_challenge=mb_auth.wampcra("bob-secret"),
                   endpoint=lambda reactor: _from(reactor, r, "127.0.0.4"))
    assert c.details.authid == "bob"
    c.close()


def _from(reactor, r, source):
    from twisted.internet.endpoints import TCP4ClientEndpoint
    return TCP4ClientEndpoint(reactor, "127.0.0.1", r.rawsocket_port, timeout=T(5), bindAddress=(source, 0))


def test_a_lockout_ends_and_the_count_starts_again(router_factory):
    r = router_factory(config(lockout_after=2, lockout=1, free_failures=5))
    for i in range(2):
        assert attempt(r, "127.0.0.5", "bad")[0] == raw.ABORT
    code, message, _, _ = attempt(r, "127.0.0.5", "alice-ticket")
    assert "too many failed" in message
    time.sleep(1.3)
    r.wait_for_log(r"locked out for 1 s")
    deadline = time.monotonic() + T(5)
    while True:  # the guard is swept once a second
        code, message, msg, _ = attempt(r, "127.0.0.5", "alice-ticket")
        if code == raw.WELCOME or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == raw.WELCOME, msg


def test_unknown_users_and_wrong_wampcra_signatures_count_too(router_factory):
    r = router_factory(config(lockout_after=3, free_failures=10))
    assert attempt(r, "127.0.0.6", "x", authid="nobody")[2][2] == "wamp.error.no_such_principal"
    c = raw.RawSocketConn(r.rawsocket_port, source="127.0.0.6")
    ch = raw.hello(c, authmethods=["wampcra"], authid="bob")
    c.send_json([raw.AUTHENTICATE, mb_auth.cra_signature("not-bob", ch[2]), {}])
    assert c.recv_json()[2] == "wamp.error.authentication_failed"
    c.close()
    assert attempt(r, "127.0.0.6", "wrong")[2][2] == "wamp.error.authentication_failed"
    _, message, _, _ = attempt(r, "127.0.0.6", "alice-ticket")
    assert "too many failed" in message


def test_no_matching_method_and_protocol_errors_do_not_count(router_factory):
    r = router_factory(config(lockout_after=2, free_failures=10))
    for _ in range(5):
        c = raw.RawSocketConn(r.rawsocket_port, source="127.0.0.7")
        assert raw.hello(c, authmethods=["anonymous"])[2] == "wamp.error.no_matching_auth_method"
        c.close()
    assert attempt(r, "127.0.0.7", "alice-ticket")[0] == raw.WELCOME


def test_a_held_hello_whose_connection_goes_away_costs_nothing(router_factory):
    r = router_factory(config(free_failures=1, delay=1, max_delay=1, lockout_after=0))
    attempt(r, "127.0.0.8", "bad")
    for _ in range(20):  # held, then gone before the answer
        c = raw.RawSocketConn(r.rawsocket_port, source="127.0.0.8")
        c.send_json([raw.HELLO, "realm1", {"roles": raw.ROLES, "authmethods": ["ticket"], "authid": "alice"}])
        c.close()
    time.sleep(1.3)
    assert r.alive()
    assert attempt(r, "127.0.0.9", "alice-ticket")[0] == raw.WELCOME


def test_the_counters_are_logged_at_shutdown(router_factory):
    r = router_factory(config(lockout_after=2, free_failures=1, delay=0.1, max_delay=0.1))
    assert attempt(r, "127.0.0.10", "alice-ticket")[0] == raw.WELCOME
    attempt(r, "127.0.0.11", "bad")
    attempt(r, "127.0.0.11", "bad")  # held, then the second failure locks the address
    attempt(r, "127.0.0.11", "bad")  # refused
    c = raw.RawSocketConn(r.rawsocket_port, source="127.0.0.12")
    assert raw.hello(c, authmethods=["cryptosign"])[2] == "wamp.error.no_matching_auth_method"  # not a failure
    c.close()
    r.stop()
    assert "auth: joins anonymous 0, ticket 1, wampcra 0, cryptosign 0; failures 2, held 1, locked out 1, " \
           "no matching method 1, challenge timeouts 0, guard evictions 0" in r.log, r.log[-1500:]


def test_a_full_guard_forgets_the_address_seen_longest_ago(router_factory):
    """brute_force.max_addresses bounds the memory an attacker with many addresses costs: past
    it, the address whose last failure is the oldest is forgotten (and counted)."""
    r = router_factory(config(lockout_after=2, free_failures=100, max_addresses=16))
    attempt(r, "127.0.1.1", "bad")                     # one failure: one more would lock it
    for i in range(20):                                 # 20 other addresses fill the table
        attempt(r, "127.0.2.%d" % (i + 1), "bad")
    attempt(r, "127.0.1.1", "bad")                     # forgotten: this is its first failure again
    assert attempt(r, "127.0.1.1", "alice-ticket")[0] == raw.WELCOME
    attempt(r, "127.0.1.1", "bad")                     # now the second: locked
    assert "too many failed" in attempt(r, "127.0.1.1", "alice-ticket")[1]
    r.stop()
    m = re.search(r"guard evictions (\d+)", r.log)
    assert m and int(m.group(1)) >= 5, r.log[-800:]
