"""The operator's auth tools agree with autobahn-python (docs/behaviour.md, Running):
`moonbar wampcra-secret` prints what autobahn's derive_key derives, `moonbar keygen` prints a
private key autobahn loads and the public key autobahn computes from it."""
import re

import pytest
from autobahn.wamp import auth
from autobahn.wamp.cryptosign import CryptosignKey

from mb_router import bad_output, run_cli


def _own_lines(text):
    """stderr without a wrapper's lines (valgrind writes '==PID== ...')."""
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("==")]


def _run(*args):
    p = run_cli(*args)
    assert not bad_output(p.stderr), p.stderr
    return p


# (secret, salt, iterations or None for the default, keylen or None for the default)
DERIVE_CASES = [
    ("secret", "salt123", None, None),
    ("secret", "salt123", 1, None),
    ("secret", "salt123", None, 16),
    ("secret", "salt123", 1000, 64),
    ("secret", "salt123", 1, 1),
    ("secret", "salt123", 2, 1024),
    ("p\u00e4ssw\u00f6rd", "N\u00e4Cl", 7, 20),
    ("", "salt", None, None),
    ("secret", "", 3, 32),
    ("-starts-with-a-dash", "salt", None, None),
]


@pytest.mark.parametrize("secret,salt,iterations,keylen", DERIVE_CASES)
def test_wampcra_secret_with_salt_prints_autobahns_derive_key(secret, salt, iterations, keylen):
    args = ["wampcra-secret", "--salt", salt]
    kw = {}
    if iterations is not None:
        args += ["--iterations", str(iterations)]
        kw["iterations"] = iterations
    if keylen is not None:
        args += ["--keylen", str(keylen)]
        kw["keylen"] = keylen
    args += ["--", secret]
    p = _run(*args)
    assert p.returncode == 0, p
    want = auth.derive_key(secret, salt, **kw).decode("ascii")
    assert p.stdout == want + "\n"


def test_wampcra_secret_takes_options_before_or_after_the_secret():
    want = auth.derive_key("secret", "salt123", 10, 16).decode("ascii") + "\n"
    for args in (["secret", "--salt", "salt123", "--iterations", "10", "--keylen", "16"],
                 ["--keylen", "16", "--salt", "salt123", "secret", "--iterations", "10"]):
        p = _run("wampcra-secret", *args)
        assert p.returncode == 0, p
        assert p.stdout == want, args


def test_wampcra_secret_key_signs_as_autobahn_signs_a_salted_challenge():
    # what a router holding the printed key computes is what autobahn's client sends
    key = _run("wampcra-secret", "hunter2", "--salt", "pepper", "--iterations", "100").stdout.strip()
    challenge = '{"authid": "peter", "nonce": "abc"}'
    client_key = auth.derive_key("hunter2", "pepper", 100, 32)
    assert key.encode("ascii") == client_key
    assert auth.compute_wcs(key, challenge) == auth.compute_wcs(client_key, challenge)


def test_wampcra_secret_without_salt_prints_the_secret_unchanged_and_says_so():
    p = _run("wampcra-secret", "s3cr\u00e9t with spaces")
    assert p.returncode == 0, p
    assert p.stdout == "s3cr\u00e9t with spaces\n"
    assert "no salt: the secret is used as it is" in p.stderr


BAD_ARGS = [
    ([], "SECRET"),
    (["--salt"], "--salt"),
    (["secret", "--salt"], "--salt"),
    (["secret", "--salt", "s", "--iterations"], "--iterations"),
    (["secret", "--salt", "s", "--keylen"], "--keylen"),
    (["secret", "--iterations", "5"], "--iterations"),
    (["secret", "--keylen", "16"], "--keylen"),
    (["secret", "--salt", "s", "--iterations", "0"], "--iterations"),
    (["secret", "--salt", "s", "--iterations", "-1"], "--iterations"),
    (["secret", "--salt", "s", "--iterations", "2147483648"], "--iterations"),
    (["secret", "--salt", "s", "--iterations", "99999999999999999999999"], "--iterations"),
    (["secret", "--salt", "s", "--iterations", "1e3"], "--iterations"),
    (["secret", "--salt", "s", "--iterations", " 5"], "--iterations"),
    (["secret", "--salt", "s", "--iterations", "+5"], "--iterations"),
    (["secret", "--salt", "s", "--iterations", ""], "--iterations"),
    (["secret", "--salt", "s", "--keylen", "0"], "--keylen"),
    (["secret", "--salt", "s", "--keylen", "1025"], "--keylen"),
    (["secret", "--salt", "s", "--keylen", "16.5"], "--keylen"),
    (["secret", "--salt", "s", "--keylen", "abc"], "--keylen"),
    (["secret", "--salt", "s", "--salt", "t"], "--salt"),
    (["secret", "--bogus"], "--bogus"),
    (["secret", "--salt=s"], "--salt=s"),
    (["secret", "other"], "other"),
]


@pytest.mark.parametrize("args,named", BAD_ARGS, ids=[" ".join(a) or "(none)" for a, _ in BAD_ARGS])
def test_wampcra_secret_bad_arguments_exit_2_with_one_line_naming_the_problem(args, named):
    p = _run("wampcra-secret", *args)
    assert p.returncode == 2, p
    assert p.stdout == ""
    lines = _own_lines(p.stderr)
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("moonbar: wampcra-secret"), lines
    assert named in lines[0], lines


KEYGEN_OUT = re.compile(r"\Aprivate ([0-9a-f]{64})\npublic ([0-9a-f]{64})\n\Z")


def _keygen():
    p = _run("keygen")
    assert p.returncode == 0, p
    m = KEYGEN_OUT.match(p.stdout)
    assert m, "keygen should print 'private <hex>' and 'public <hex>':\n%r" % p.stdout
    return m.group(1), m.group(2)


def test_keygen_private_key_loaded_by_autobahn_gives_the_printed_public_key():
    priv, pub = _keygen()
    key = CryptosignKey.from_bytes(bytes.fromhex(priv))
    assert key.public_key() == pub
    # and a signature made with the seed (PyNaCl, which autobahn signs with) verifies under it
    from nacl.signing import SigningKey, VerifyKey
    msg = bytes(range(32))
    sig = SigningKey(bytes.fromhex(priv)).sign(msg).signature
    VerifyKey(bytes.fromhex(pub)).verify(msg, sig)


def test_keygen_gives_a_new_key_each_time():
    a, b = _keygen(), _keygen()
    assert a[0] != b[0] and a[1] != b[1]


def test_keygen_with_an_argument_exits_2_with_one_line():
    p = _run("keygen", "extra")
    assert p.returncode == 2, p
    assert p.stdout == ""
    lines = _own_lines(p.stderr)
    assert len(lines) == 1 and "keygen" in lines[0] and "extra" in lines[0], p.stderr


def test_subcommands_are_in_the_usage():
    p = _run("--help")
    assert p.returncode == 0, p
    assert "keygen" in p.stdout and "wampcra-secret" in p.stdout
