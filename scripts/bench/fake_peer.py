#!/usr/bin/python3
"""A fake WAMP peer that checks what build/bench/loadgen sends, and nothing more.

It is NOT a router, and moonbar's tests never use it: it exists so that the load generator's
encoders, scanners, handshakes and TLS can be checked on their own (before the router speaks a
format, or when a benchmark number looks wrong). It listens on RawSocket or WebSocket
(optionally TLS), takes JSON, MessagePack or CBOR as the client asks, and:

- decodes every message with the reference libraries (json, msgpack, cbor2) and checks that
  encoding the result again gives back the same bytes (loadgen writes the smallest forms, as
  these libraries do), and that the message has the shape WAMP gives it;
- checks the handshakes: RawSocket's 0x7F 0xF<serializer>, WebSocket's upgrade request (Host,
  Upgrade, Connection, a Sec-WebSocket-Key of 16 random bytes never seen before, version 13,
  the subprotocol), masked client frames, text frames for JSON and binary for the others;
- answers like a tiny dealer and broker (WELCOME, REGISTERED, INVOCATION, RESULT, SUBSCRIBED,
  EVENT in each subscriber's own format, PUBLISHED, GOODBYE), so that loadgen's rpc, pubsub and
  conns scenarios run to their end;
- authenticates as a router does (loadgen --auth): a HELLO naming wampcra or cryptosign gets a
  CHALLENGE (WAMP-CRA: JSON text with characters that JSON must escape, \\u escapes and a
  surrogate pair among them; cryptosign: 32 random bytes in hex, channel_binding null), and the
  AUTHENTICATE is checked with hmac (key --secret) or PyNaCl / cryptography's Ed25519 (the
  HELLO's pubkey, which must be the bench key: the Ed25519 key of loadgen's fixed seed). A wrong
  signature gets an ABORT (counted, not a problem: refusing is the router's part); an AUTHENTICATE
  of the wrong shape is a problem. The WELCOME names the authmethod and authid.

On SIGTERM or SIGINT it prints what it saw and exits 1 if anything was wrong.

    scripts/bench/fake_peer.py --transport raw [--cert C --key K] --port-file F &
    build/bench/loadgen --port $(cat F) --serializer cbor [--tls] ...
"""
import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import json
import os
import signal
import ssl
import sys

import cbor2
import msgpack

# loadgen's bench key (BENCH_SEED in loadgen.c): not a secret
BENCH_SEED = b"moonbar bench key, not a secret!"
SECRET = "bench-secret"  # --secret
ED25519 = None  # (public key of a seed, verify), set in main

SERS = {1: "json", 2: "msgpack", 3: "cbor"}
PROTOS = {"wamp.2.json": 1, "wamp.2.msgpack": 2, "wamp.2.cbor": 3}
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

counts = collections.Counter()
problems = []
keys_seen = set()


def problem(what):
    if len(problems) < 1000:
        problems.append(what)
    if len(problems) <= 10:
        print("fake_peer: " + what, file=sys.stderr, flush=True)


def decode(ser, data):
    if ser == 1:
        obj = json.loads(data.decode("utf-8"))
        again = json.dumps(obj, separators=(",", ":")).encode()
    elif ser == 2:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
        again = msgpack.packb(obj, use_bin_type=True)
    else:
        obj = cbor2.loads(data)
        again = cbor2.dumps(obj)
    if again != data:
        problem(f"{SERS[ser]}: not the canonical encoding: {data[:80].hex()} (re-encoded {again[:80].hex()})")
    return obj


def encode(ser, obj):
    if ser == 1:
        return json.dumps(obj, separators=(",", ":")).encode()
    if ser == 2:
        return msgpack.packb(obj, use_bin_type=True)
    return cbor2.dumps(obj)


# The shapes of the messages loadgen sends: code -> element types (None: any), optional tail.
SHAPES = {
    1: ("HELLO", [str, dict], 0),
    5: ("AUTHENTICATE", [str, dict], 0),
    6: ("GOODBYE", [dict, str], 0),
    16: ("PUBLISH", [int, dict, str], 2),
    32: ("SUBSCRIBE", [int, dict, str], 0),
    48: ("CALL", [int, dict, str], 2),
    64: ("REGISTER", [int, dict, str], 0),
    70: ("YIELD", [int, dict], 2),
}


def ed25519():
    """(public key of a seed, verify(pubkey, signature, message) -> bool), from PyNaCl or cryptography."""
    try:
        import nacl.exceptions
        import nacl.signing

        def verify(pub, sig, msg):
            try:
                nacl.signing.VerifyKey(pub).verify(msg, sig)
                return True
            except nacl.exceptions.BadSignatureError:
                return False
        return lambda seed: bytes(nacl.signing.SigningKey(seed).verify_key), verify
    except ImportError:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519 as ed

        def public(seed):
            return ed.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)

        def verify(pub, sig, msg):
            try:
                ed.Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
                return True
            except InvalidSignature:
                return False
        return public, verify


class Router:
    def __init__(self):
        self.next_id = 1
        self.callee = None  # (peer, registration)
        self.invocations = {}  # request -> (caller peer, call request)
        self.subs = collections.defaultdict(list)  # topic -> [(peer, subscription)]

    def new_id(self):
        self.next_id += 1
        return self.next_id


router = Router()


class Peer:
    def __init__(self, reader, writer, ws):
        self.r, self.w, self.ws = reader, writer, ws
        self.ser = None
        self.session = None
        self.auth = None  # (method, authid, what the AUTHENTICATE must prove) between HELLO and it

    def send(self, msg):
        data = encode(self.ser, msg)
        if self.ws:
            op = 1 if self.ser == 1 else 2
            n = len(data)
            head = bytes([0x80 | op]) + (bytes([n]) if n < 126 else
                                         bytes([126]) + n.to_bytes(2, "big") if n < 65536 else
                                         bytes([127]) + n.to_bytes(8, "big"))
        else:
            head = bytes([0]) + len(data).to_bytes(3, "big")
        self.w.write(head + data)

    async def handshake(self):
        if not self.ws:
            hs = await self.r.readexactly(4)
            if hs[0] != 0x7F or hs[2:] != b"\0\0" or (hs[1] & 0x0F) not in SERS:
                problem(f"RawSocket handshake {hs.hex()}")
                self.w.write(bytes([0x7F, 0x10, 0, 0]))
                return False
            self.ser = hs[1] & 0x0F
            self.w.write(bytes([0x7F, 0xF0 | self.ser, 0, 0]))
            return True
        head = (await self.r.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        hdr = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                hdr[k.strip().lower()] = v.strip()
        ok = lines[0].startswith("GET ") and lines[0].endswith(" HTTP/1.1")
        ok = ok and "host" in hdr and hdr.get("upgrade", "").lower() == "websocket"
        ok = ok and "upgrade" in hdr.get("connection", "").lower() and hdr.get("sec-websocket-version") == "13"
        key = hdr.get("sec-websocket-key", "")
        try:
            raw_key = base64.b64decode(key, validate=True)
        except ValueError:
            raw_key = b""
        if len(raw_key) != 16:
            ok = False
        if key in keys_seen:
            problem(f"Sec-WebSocket-Key seen before: {key}")
        keys_seen.add(key)
        offered = [p.strip() for p in hdr.get("sec-websocket-protocol", "").split(",")]
        proto = next((p for p in offered if p in PROTOS), None)
        if not ok or not proto:
            problem("WebSocket upgrade request: " + repr(head))
            self.w.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        self.ser = PROTOS[proto]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.w.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {proto}\r\n\r\n").encode())
        return True

    async def frames(self):
        while True:
            if not self.ws:
                h = await self.r.readexactly(4)
                data = await self.r.readexactly(int.from_bytes(h[1:], "big"))
                if h[0] & 7 == 1:  # PING
                    self.w.write(bytes([2]) + h[1:] + data)
                    continue
                if h[0] != 0:
                    problem(f"RawSocket frame type {h[0]}")
                    continue
                yield data
                continue
            h = await self.r.readexactly(2)
            op, n = h[0] & 15, h[1] & 127
            if not h[0] & 0x80 or not h[1] & 0x80:
                problem(f"WebSocket frame not final or not masked: {h.hex()}")
            if n == 126:
                n = int.from_bytes(await self.r.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.r.readexactly(8), "big")
            mask = await self.r.readexactly(4) if h[1] & 0x80 else b"\0\0\0\0"
            data = bytearray(await self.r.readexactly(n))
            for i in range(n):
                data[i] ^= mask[i & 3]
            if op == 8:
                return
            if op in (9, 10):
                continue
            if op != (1 if self.ser == 1 else 2):
                problem(f"{SERS[self.ser]} message in a frame of opcode {op}")
            yield bytes(data)

    def handle(self, data):
        try:
            msg = decode(self.ser, data)
        except Exception as e:  # noqa: BLE001 (any decoding failure is the finding)
            problem(f"{SERS[self.ser]}: cannot decode {data[:80].hex()}: {e}")
            return False
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], int) or msg[0] not in SHAPES:
            problem(f"{SERS[self.ser]}: not a message loadgen sends: {msg!r:.200}")
            return True
        name, types, extra = SHAPES[msg[0]]
        body = msg[1:]
        if not (len(types) <= len(body) <= len(types) + extra) or \
                any(not isinstance(v, t) or isinstance(v, bool) for v, t in zip(body, types)) or \
                any(not isinstance(v, (list if i == 0 else dict)) for i, v in enumerate(body[len(types):])):
            problem(f"{SERS[self.ser]}: malformed {name}: {msg!r:.200}")
            return True
        counts[f"{name} {SERS[self.ser]}"] += 1
        code = msg[0]
        if code == 1:
            self.session = router.new_id()
            methods = msg[2].get("authmethods") or []
            if methods:
                return self.challenge(methods, msg[2])
            self.send([2, self.session, {"roles": {"broker": {}, "dealer": {}}}])
        elif code == 5:
            return self.authenticate(msg)
        elif code == 6:
            self.send([6, {}, "wamp.close.goodbye_and_out"])
            return False
        elif code == 64:
            reg = router.new_id()
            router.callee = (self, reg)
            self.send([65, msg[1], reg])
        elif code == 48:
            if not router.callee:
                self.send([8, 48, msg[1], {}, "wamp.error.no_such_procedure"])
                return True
            peer, reg = router.callee
            inv = router.new_id()
            router.invocations[inv] = (self, msg[1])
            details = {"receive_progress": True} if msg[2].get("receive_progress") else {}
            peer.send([68, inv, reg, details] + msg[4:])
        elif code == 70:
            progress = bool(msg[2].get("progress"))
            caller = router.invocations.get(msg[1]) if progress else router.invocations.pop(msg[1], None)
            if not caller:
                problem(f"YIELD for no invocation: {msg!r:.100}")
                return True
            caller[0].send([50, caller[1], {"progress": True} if progress else {}] + msg[3:])
        elif code == 32:
            sub = router.new_id()
            router.subs[msg[3]].append((self, sub))
            self.send([33, msg[1], sub])
        elif code == 16:
            pub = router.new_id()
            eligible = msg[2].get("eligible")
            if len(msg) < 5 or not msg[4] or not isinstance(msg[4][0], int) or isinstance(msg[4][0], bool):
                problem(f"PUBLISH args without a timestamp first: {msg!r:.100}")
            for peer, sub in router.subs.get(msg[3], []):
                if eligible is None or peer.session in eligible:
                    peer.send([36, sub, pub, {}] + msg[4:])
            if msg[2].get("acknowledge"):
                self.send([17, msg[1], pub])
        return True

    def challenge(self, methods, details):
        authid = details.get("authid")
        method = methods[0] if len(methods) == 1 else None
        if method not in ("wampcra", "cryptosign") or not isinstance(authid, str) or not authid:
            problem(f"HELLO authmethods {methods!r} / authid {authid!r}: loadgen --auth sends one method and an authid")
            self.send([3, {}, "wamp.error.no_auth_method"])
            return False
        if method == "wampcra":
            # JSON text that JSON must escape inside the CHALLENGE: quotes, a slash, a backslash,
            # a control character, \u00e9 and a surrogate pair (json.dumps escapes all non-ASCII)
            text = json.dumps({"authid": authid, "authmethod": "wampcra", "nonce": base64.b64encode(os.urandom(18)).decode(),
                               "session": self.session, "x": "a/b\\c\t\u00e9\U0001f600"}, separators=(",", ":"))
            key = SECRET.encode()
            want = base64.b64encode(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()).decode()
            self.auth = (method, authid, want)
            self.send([4, "wampcra", {"challenge": text}])
            return True
        pub = (details.get("authextra") or {}).get("pubkey")
        bench_pub = ED25519[0](BENCH_SEED).hex()
        if pub != bench_pub:
            problem(f"cryptosign HELLO authextra.pubkey {pub!r} is not the bench key's {bench_pub}")
        nonce = os.urandom(32)
        self.auth = (method, authid, (bytes.fromhex(pub) if isinstance(pub, str) and len(pub) == 64 else b"", nonce))
        self.send([4, "cryptosign", {"challenge": nonce.hex(), "channel_binding": None}])
        return True

    def authenticate(self, msg):
        if not self.auth:
            problem(f"AUTHENTICATE without a CHALLENGE: {msg!r:.100}")
            return False
        method, authid, want = self.auth
        self.auth = None
        sig = msg[1]
        if method == "wampcra":
            ok = hmac.compare_digest(sig, want)
        else:
            pub, nonce = want
            if len(sig) != 192 or any(ch not in "0123456789abcdef" for ch in sig):
                problem(f"cryptosign AUTHENTICATE is not 192 lowercase hex digits: {sig!r:.200}")
                ok = False
            elif sig[128:] != nonce.hex():
                problem(f"cryptosign AUTHENTICATE: the challenge after the signature is not the one sent: {sig[128:]}")
                ok = False
            else:
                ok = len(pub) == 32 and ED25519[1](pub, bytes.fromhex(sig[:128]), nonce)
        if not ok:
            counts[f"AUTHENTICATE {method} refused"] += 1
            self.send([3, {"message": f"{method} signature is not valid"}, "wamp.error.authentication_failed"])
            return False
        counts[f"AUTHENTICATE {method} accepted"] += 1
        self.send([2, self.session, {"authid": authid, "authrole": "anonymous", "authmethod": method,
                                     "authprovider": "static", "roles": {"broker": {}, "dealer": {}}}])
        return True

    async def run(self):
        counts["connections"] += 1
        try:
            if not await self.handshake():
                return
            counts[f"connections {'ws' if self.ws else 'raw'} {SERS[self.ser]}"] += 1
            async for data in self.frames():
                if not self.handle(data):
                    break
                if self.w.transport.get_write_buffer_size() > 1 << 20:
                    await self.w.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            router.subs = {t: [(p, s) for p, s in v if p is not self] for t, v in router.subs.items()}
            if router.callee and router.callee[0] is self:
                router.callee = None
            self.w.close()


async def main():
    global SECRET, ED25519
    ap = argparse.ArgumentParser(description="checks what loadgen sends (not a router)")
    ap.add_argument("--transport", choices=("raw", "ws"), default="raw")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port listened on to this file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--secret", default=SECRET, help="the WAMP-CRA secret loadgen must sign with")
    a = ap.parse_args()
    SECRET = a.secret
    ED25519 = ed25519()
    ctx = None
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(a.cert, a.key)
    ws = a.transport == "ws"
    server = await asyncio.start_server(lambda r, w: Peer(r, w, ws).run(), "127.0.0.1", a.port, ssl=ctx,
                                        backlog=4096, limit=1 << 24)
    port = server.sockets[0].getsockname()[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    server.close()
    for k in sorted(counts):
        print(f"fake_peer: {k}: {counts[k]}")
    print(f"fake_peer: {len(problems)} problems" + (f", the first: {problems[0]}" if problems else ""))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    asyncio.run(main())
