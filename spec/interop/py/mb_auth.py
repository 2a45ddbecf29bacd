"""Answers to moonbar's CHALLENGEs, computed with autobahn-python's own code (the client side of
WAMP-CRA and WAMP-Cryptosign), for mb_twisted.connect(on_challenge=...) and for raw clients."""
import binascii
import json

from autobahn.wamp import auth as ab_auth
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.types import Challenge
import nacl.signing


def new_key():
    """(private seed hex, public key hex) of a fresh Ed25519 key."""
    sk = nacl.signing.SigningKey.generate()
    return sk.encode().hex(), sk.verify_key.encode().hex()


def derived(secret, salt, iterations=1000, keylen=32):
    """The key a salted WAMP-CRA user's config holds (autobahn's derive_key, as text)."""
    return ab_auth.derive_key(secret, salt, iterations, keylen).decode("ascii")


def cra_signature(secret, extra):
    """AUTHENTICATE's signature for a wampcra CHALLENGE's extra dict: with salt, the key is
    derived from secret first (as autobahn's AuthWampCra does)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if "salt" in extra:
        key = ab_auth.derive_key(key, extra["salt"], extra.get("iterations", 1000), extra.get("keylen", 32))
    return ab_auth.compute_wcs(key, extra["challenge"].encode("utf-8")).decode("ascii")


def wampcra(secret):
    """on_challenge for mb_twisted.connect: answers a wampcra CHALLENGE with secret."""
    def answer(session, challenge):
        assert challenge.method == "wampcra", challenge
        return cra_signature(secret, challenge.extra)
    return answer


def cryptosign(priv_hex, channel_binding=None):
    """on_challenge for mb_twisted.connect: signs a cryptosign CHALLENGE with the private seed,
    bound to the TLS channel (autobahn's channel id of the connection) when channel_binding."""
    key = CryptosignKey.from_bytes(binascii.a2b_hex(priv_hex))

    def answer(session, challenge):
        assert challenge.method == "cryptosign", challenge
        channel_id = None
        if channel_binding:
            channel_id = session._transport.transport_details.channel_id.get(channel_binding)
        return key.sign_challenge(challenge, channel_id=channel_id, channel_id_type=channel_binding)
    return answer


def sign_raw(priv_hex, challenge_hex, channel_id=None):
    """The 192-hex-digit signature of a cryptosign challenge (XOR channel_id, 32 bytes), as
    autobahn sends it: signature then the signed message."""
    data = bytes.fromhex(challenge_hex)
    if channel_id is not None:
        data = bytes(a ^ b for a, b in zip(data, channel_id))
    sk = nacl.signing.SigningKey(bytes.fromhex(priv_hex))
    return sk.sign(data).signature.hex() + data.hex()


def cra_challenge_fields(extra):
    """The JSON object inside a wampcra CHALLENGE."""
    return json.loads(extra["challenge"])


__all__ = ["new_key", "derived", "cra_signature", "wampcra", "cryptosign", "sign_raw", "Challenge",
           "cra_challenge_fields"]
