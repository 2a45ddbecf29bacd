"""The HTTP bridge's incoming services (M11, docs/http-bridge.md) against Crossbar's REST bridge:
publisher, caller and webhook paths driven with python3-requests, raw sockets and curl (the
curl examples of Crossbar's docs, byte for byte), autobahn-python (Twisted) as subscriber and
callee. Every answer is checked with its status and exact body: Crossbar's refusals (method,
content type, charset, UTF-8, JSON, missing keys), signed requests (valid in every base64
spelling, wrong key, wrong secret, missing fields, expired and future timestamps, replayed
nonces, decreasing sequence numbers), authorization of the path's role by static roles and the
Lua authorizer, the caller's timeout and max_in_flight, a client leaving mid-call, GitHub
webhook signatures, the path's session in the meta API, and a bystander WAMP session that keeps
working throughout."""
import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import itertools
import json
import random
import re
import socket
import subprocess
import time
import urllib.parse

import pytest
import requests
from twisted.internet import defer, reactor, task

import mb_lua as ml
import mb_router
import mb_twisted as tx
from mb_router import T

PATHS = {
    "/publish": {"type": "publisher", "realm": "realm1", "role": "anonymous",
                 "options": {"post_body_limit": 4096}},
    "/publish-signed": {"type": "publisher", "realm": "realm1", "role": "anonymous",
                        "options": {"key": "k", "secret": "s", "timestamp_delta_limit": 60,
                                    "require_increasing_seq": True}},
    "/publish-seq": {"type": "publisher", "realm": "realm1",
                     "options": {"key": "k2", "secret": "s2", "require_increasing_seq": True}},
    "/call": {"type": "caller", "realm": "realm1", "role": "anonymous",
              "options": {"timeout": 1000, "max_in_flight": 100}},
    "/call-signed": {"type": "caller", "realm": "realm1",
                     "options": {"key": "ck", "secret": "cs"}},
    "/call-small": {"type": "caller", "realm": "realm1", "options": {"timeout": 0, "max_in_flight": 2}},
    "/webhook": {"type": "webhook", "realm": "realm1", "role": "anonymous",
                 "options": {"topic": "app.hook", "github_secret": "g"}},
    "/hook-open": {"type": "webhook", "realm": "realm1", "options": {"topic": "app.hook.open"}},
    "/cors-any": {"type": "publisher", "realm": "realm1", "options": {"cors": "*"}},
    "/cors-one": {"type": "publisher", "realm": "realm1", "options": {"cors": "https://app.example"}},
    "/tls-only": {"type": "publisher", "realm": "realm1", "options": {"require_tls": True}},
}

JSON_HEADERS = {"Content-Type": "application/json"}
COMMON = {
    "Content-Type": "application/json; charset=UTF-8",
    "Cache-Control": "no-store,no-cache,must-revalidate,max-age=0",
}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    with mb_router.running(tmp_path_factory.mktemp("bridge"), {"http": {"paths": PATHS}}) as r:
        yield r


@pytest.fixture(scope="module")
def peers(bridge):
    """A subscriber of the bridge's topics and a callee of its procedures (autobahn, Twisted)."""
    sub = tx.connect(bridge, "websocket")
    callee = tx.connect(bridge, "rawsocket")
    yield sub, callee
    sub.close()
    callee.close()


@pytest.fixture(scope="module")
def bystander(bridge):
    """Two WAMP sessions that must keep working whatever the HTTP requests do."""
    a = tx.connect(bridge, "websocket")
    b = tx.connect(bridge, "rawsocket")
    b.register("com.bystander.echo", lambda *x, **kw: tx.CallResult(*x, **kw))
    _, events = b.subscribe("com.bystander.topic")
    counter = iter(range(1, 1 << 30))

    def check():
        n = next(counter)
        assert bridge.alive(), bridge.log
        assert tx.result_parts(a.call("com.bystander.echo", n, k=n)) == ([n], {"k": n})
        before = len(events)
        a.publish("com.bystander.topic", n)
        assert events.wait(before + 1)[before].args == [n]

    check()
    yield check
    a.close()
    b.close()


def url(router, path, query=None):
    return router.http_base + path + ("?" + query if query else "")


def http(router, path, body=b"", headers=JSON_HEADERS, method="POST", query=None, timeout=5):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    return requests.request(method, url(router, path, query), data=body, headers=headers, timeout=T(timeout))


def raw_http(router, head, body=b""):
    """One request written as given (lowercase methods, repeated headers: what requests
    normalizes); returns (status, {lowercase name: value}, body)."""
    with socket.create_connection(("127.0.0.1", router.ws_port), timeout=T(5)) as s:
        s.sendall(head.encode() + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def deny_body(text):
    """Crossbar's refusal: dump_json({"error": text, "args": [], "kwargs": {}})."""
    return json.dumps({"error": text, "args": [], "kwargs": {}}, separators=(",", ":"),
                      ensure_ascii=False).encode()


def assert_answer(r, status, body):
    assert (r.status_code, r.content) == (status, body)
    for k, v in COMMON.items():
        assert r.headers.get(k) == v, (k, dict(r.headers))


def publication_of(r):
    m = re.fullmatch(rb'\{"id":(\d+)\}', r.content)
    assert r.status_code == 200 and m, (r.status_code, r.content)
    return int(m.group(1))


# ---------------------------------------------------------------- Crossbar's doc examples, with curl

def curl(*args):
    out = subprocess.run(["curl", "-s", "-S", "-i", *args], capture_output=True, timeout=T(10))
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), body


def test_crossbar_publisher_doc_example_with_curl(bridge, peers):
    sub, _ = peers
    _, events = sub.subscribe("com.myapp.topic1")
    head, body = curl("-H", "Content-Type: application/json",
                      "-d", '{"topic": "com.myapp.topic1", "args": ["Hello, world"]}',
                      url(bridge, "/publish"))
    assert head[0] == "HTTP/1.1 200 OK"
    assert "Content-Type: application/json; charset=UTF-8" in head
    m = re.fullmatch(rb'\{"id":(\d+)\}', body)
    assert m, body
    ev = events.wait(1)[0]
    assert (ev.args, ev.kwargs) == (["Hello, world"], {})
    assert ev.details.publication == int(m.group(1))


def test_crossbar_caller_doc_example_with_curl(bridge, peers):
    _, callee = peers
    reg = callee.register("com.example.add2", lambda a, b: a + b)
    try:
        head, body = curl("-H", "Content-Type: application/json",
                          "-d", '{"procedure": "com.example.add2", "args": [1, 2]}',
                          url(bridge, "/call"))
        assert head[0] == "HTTP/1.1 200 OK"
        assert body == b'{"args":[3]}'
    finally:
        callee.unregister(reg)


def test_crossbar_webhook_doc_example_with_curl(bridge, peers):
    sub, _ = peers
    _, events = sub.subscribe("app.hook.open")
    version = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1]
    head, body = curl("-H", "Content-Type: text/plain", "-d", "fresh webhooks!", url(bridge, "/hook-open"))
    assert head[0] == "HTTP/1.1 202 Accepted"
    assert body == b"OK"
    ev = events.wait(1)[0]
    assert ev.kwargs == {}
    assert ev.args == [{
        "headers": {"Host": ["127.0.0.1:%d" % bridge.ws_port], "User-Agent": ["curl/" + version],
                    "Accept": ["*/*"], "Content-Type": ["text/plain"], "Content-Length": ["15"]},
        "body": "fresh webhooks!",
    }]
    assert json.dumps(ev.args[0], separators=(",", ":")).startswith('{"headers":{"Host":')


# ---------------------------------------------------------------- publisher

def test_publish_payload_options_and_answers(bridge, peers, bystander):
    sub, _ = peers
    _, events = sub.subscribe("com.pub.t")
    # args, kwargs, as PUT too, and a path under the service (Crossbar's services are leaves)
    p1 = publication_of(http(bridge, "/publish", {"topic": "com.pub.t", "args": [1, "é"], "kwargs": {"a": 0.5}}))
    p2 = publication_of(http(bridge, "/publish/anything", {"topic": "com.pub.t"}, method="PUT"))
    got = events.wait(2)
    assert [(e.args, e.kwargs, e.details.publication) for e in got[:2]] == [
        ([1, "é"], {"a": 0.5}, p1), ([], {}, p2)]
    # falsy args/kwargs/options are none (Python's truthiness); options as autobahn's PublishOptions
    publication_of(http(bridge, "/publish", {"topic": "com.pub.t", "args": None, "kwargs": [], "options": 0}))
    assert events.wait(3)[2].args == []
    # eligible: one session ID is a list of one; exclude_authid: a string too; null means absent
    publication_of(http(bridge, "/publish", {"topic": "com.pub.t", "args": ["only"],
                                             "options": {"eligible": sub.id, "exclude": None}}))
    publication_of(http(bridge, "/publish", {"topic": "com.pub.t", "args": ["not"],
                                             "options": {"exclude_authid": sub.details.authid}}))
    publication_of(http(bridge, "/publish", {"topic": "com.pub.t", "args": ["after"]}))
    assert [e.args for e in events.wait(5)[3:]] == [["only"], ["after"]]
    # a bad option is the broker's answer, as a WAMP error
    r = http(bridge, "/publish", {"topic": "com.pub.t", "options": {"retain": "yes"}})
    assert_answer(r, 200, b'{"error": "wamp.error.invalid_argument", "args": ["Options.retain must be a boolean"], '
                          b'"kwargs": {}}')
    r = http(bridge, "/publish", {"topic": "com..bad"})
    assert r.status_code == 200 and json.loads(r.content)["error"] == "wamp.error.invalid_uri"
    bystander()


REFUSALS = [
    # (method, headers, body, status, text) -- Crossbar's _deny_request texts
    ("GET", {}, b"", 405, "Method not accepted by the REST bridge. (b'GET' not allowed, only POST, PUT)"),
    ("DELETE", {}, b"", 405, "Method not accepted by the REST bridge. (b'DELETE' not allowed, only POST, PUT)"),
    ("POST", {"Content-Type": "text/plain"}, b"{}", 400,
     "Non-accepted content type. (must be one of '[b'application/json']', not 'b'text/plain'')"),
    ("POST", {"Content-Type": "Text/Plain ; charset=utf-8"}, b"{}", 400,
     "Non-accepted content type. (must be one of '[b'application/json']', not 'b'text/plain'')"),
    ("POST", {"Content-Type": "application/json; charset=ascii"}, b"{}", 400,
     "Non-accepted request encoding, must be UTF-8."),
    ("POST", {"Content-Type": "application/json; a=b=c"}, b"{}", 400, "Non-accepted request encoding, must be UTF-8."),
    ("POST", {"Content-Type": "application/json; q=1; Q=2"}, b"{}", 400,
     "Non-accepted request encoding, must be UTF-8."),
    ("POST", JSON_HEADERS, b'{"topic": "a\xff"}', 400, "Non-decodable request body, was not UTF-8."),
    ("POST", JSON_HEADERS, b"sometext", 400, "Request body was invalid JSON."),
    ("POST", JSON_HEADERS, b"", 400, "Request body was invalid JSON."),
    ("POST", {}, b"[{},{}]", 400, "Request body was valid JSON, but not well formed (must be a dict)."),
    ("POST", JSON_HEADERS, b"5", 400, "Request body was valid JSON, but not well formed (must be a dict)."),
    ("POST", JSON_HEADERS, b'{"args": [1]}', 400,
     "Request body was valid JSON, but not well formed (missing key 'topic')."),
    # moonbar's own, where Crossbar fails with a 500 (docs/http-bridge.md)
    ("POST", JSON_HEADERS, b'{"topic": 5}', 400,
     "Request body was valid JSON, but not well formed ('topic' must be a string)."),
    ("POST", JSON_HEADERS, b'{"topic": "a.b", "args": "ab"}', 400,
     "Request body was valid JSON, but not well formed ('args' must be a list)."),
    ("POST", JSON_HEADERS, b'{"topic": "a.b", "kwargs": [1]}', 400,
     "Request body was valid JSON, but not well formed ('kwargs' must be a dict)."),
    ("POST", JSON_HEADERS, b'{"topic": "a.b", "options": "x"}', 400,
     "Request body was valid JSON, but not well formed ('options' must be a dict)."),
]


@pytest.mark.parametrize("method,headers,body,status,text", REFUSALS,
                         ids=["%s-%d-%d" % (m, s, i) for i, (m, _, _, s, _) in enumerate(REFUSALS)])
def test_publish_refusals_are_crossbars(bridge, bystander, method, headers, body, status, text):
    r = http(bridge, "/publish", body, headers=headers, method=method)
    assert_answer(r, status, deny_body(text))
    if status == 405:
        assert r.headers["Allow"] == "POST,PUT,OPTIONS"
    bystander()


def test_methods_are_case_sensitive(bridge):
    status, headers, body = raw_http(bridge, "post /publish HTTP/1.1\r\nHost: x\r\n", b"{}")
    assert (status, body) == (405, deny_body("Method not accepted by the REST bridge. (b'post' not allowed, "
                                             "only POST, PUT)"))
    assert headers["content-type"] == COMMON["Content-Type"]


def test_publish_accepts_json_with_a_utf8_charset_and_no_content_type(bridge):
    for ct in ["application/json; charset=utf-8", "APPLICATION/JSON; CHARSET=UTF8", "application/json;x=1", None]:
        publication_of(http(bridge, "/publish", {"topic": "com.pub.ct"}, headers={"Content-Type": ct} if ct else {}))


def test_head_gets_405_without_a_body(bridge):
    r = requests.head(url(bridge, "/publish"), timeout=T(5))
    assert (r.status_code, r.content, r.headers["Content-Length"]) == (405, b"", "0")


def test_body_over_post_body_limit_is_413(bridge):
    body = json.dumps({"topic": "com.pub.big", "args": ["x" * 4096]}).encode()
    r = http(bridge, "/publish", body)
    # mb_httpd answers it before the path sees it (Crossbar: {"error":"Request too long. (...)"})
    assert r.status_code == 413
    assert r.content == b"request body of %d bytes is over this path's limit of 4096\n" % len(body)


def test_query_parameters_are_checked_on_unsigned_paths_as_crossbar_does(bridge):
    r = http(bridge, "/publish", {"topic": "a.b"}, query="timestamp=yesterday")
    assert_answer(r, 400, deny_body("REST bridge signature was invalid (invalid timestamp 'yesterday' (must be "
                                    "UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z'))."))
    r = http(bridge, "/publish", {"topic": "a.b"}, query="timestamp=2011-10-14T16:59:51.123Z")
    assert_answer(r, 400, deny_body("Request expired, too old timestamp."))
    r = http(bridge, "/publish", {"topic": "a.b"}, query="seq=x1")
    assert_answer(r, 400, deny_body("REST bridge signature was invalid (invalid sequence number 'x1' (must be an "
                                    "integer))."))
    r = http(bridge, "/publish", {"topic": "a.b"}, query="nonce=%C3%A9")
    assert_answer(r, 400, deny_body("REST bridge signature was invalid (invalid nonce '\\xc3\\xa9' (must be an "
                                    "integer))."))
    publication_of(http(bridge, "/publish", {"topic": "a.b"}, query="seq=%2B1_0&nonce=+7+&key=whatever&signature="))


def test_options_preflight_and_cors(bridge):
    r = http(bridge, "/publish", method="OPTIONS", headers={"Origin": "https://evil.example",
                                                             "Access-Control-Request-Headers": "content-type"})
    assert_answer(r, 200, b"")
    assert r.headers["Allow"] == "POST,PUT,OPTIONS"
    assert not [k for k in r.headers if k.lower().startswith("access-control-")]  # no CORS unless asked
    r = http(bridge, "/cors-any", method="OPTIONS", headers={"Origin": "https://x.example",
                                                             "Access-Control-Request-Headers": "content-type, x-a"})
    assert_answer(r, 200, b"")
    assert (r.headers["Access-Control-Allow-Origin"], r.headers["Access-Control-Allow-Methods"],
            r.headers["Access-Control-Allow-Headers"]) == ("*", "POST,PUT,OPTIONS", "content-type, x-a")
    assert "Access-Control-Allow-Credentials" not in r.headers
    r = http(bridge, "/cors-one", {"topic": "com.pub.cors"}, headers={**JSON_HEADERS, "Origin": "https://app.example"})
    publication_of(r)
    assert (r.headers["Access-Control-Allow-Origin"], r.headers["Access-Control-Allow-Credentials"]) == \
        ("https://app.example", "true")


def test_require_tls_refuses_plain_http_as_crossbar_does(bridge):
    assert_answer(http(bridge, "/tls-only", {"topic": "a.b"}), 400, deny_body("Malformed request to the REST bridge."))


def test_keep_alive_connection_carries_many_requests(bridge, peers):
    sub, _ = peers
    _, events = sub.subscribe("com.pub.ka")
    with requests.Session() as s:
        ids = [publication_of(s.post(url(bridge, "/publish"), data=json.dumps({"topic": "com.pub.ka", "args": [i]}),
                                     headers=JSON_HEADERS, timeout=T(5))) for i in range(20)]
    got = events.wait(20)
    assert [e.args[0] for e in got] == list(range(20))
    assert [e.details.publication for e in got] == ids


# ---------------------------------------------------------------- signed requests

def crossbar_sign(key, secret, timestamp, seq, nonce, body):
    """Crossbar's signature: base64url(HMAC-SHA256(secret, key | timestamp | seq | nonce | body))."""
    hm = hmac.new(secret.encode(), None, hashlib.sha256)
    for part in (key, timestamp, str(seq), str(nonce)):
        hm.update(part.encode())
    hm.update(body)
    return base64.urlsafe_b64encode(hm.digest()).decode()


SEQ = itertools.count(int(time.time() * 1000))  # one increasing sequence for every signer


def now_ts(offset=0.0):
    t = datetime.datetime.utcnow() + datetime.timedelta(seconds=offset)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Signer:
    """Signed requests to a path, with increasing seq and fresh nonces."""

    def __init__(self, router, path, key, secret):
        self.router, self.path, self.key, self.secret = router, path, key, secret

    def query(self, body, key=None, secret=None, ts=None, seq=None, nonce=None, drop=None, sig=None):
        fields = {"key": key or self.key, "timestamp": ts or now_ts(),
                  "seq": next(SEQ) if seq is None else seq,
                  "nonce": random.randrange(1 << 53) if nonce is None else nonce}
        fields["signature"] = sig or crossbar_sign(fields["key"], secret or self.secret, fields["timestamp"],
                                                   fields["seq"], fields["nonce"], body)
        if drop:
            del fields[drop]
        return urllib.parse.urlencode(fields, quote_via=urllib.parse.quote)

    def post(self, body, query=None, **kw):
        body = json.dumps(body).encode() if isinstance(body, dict) else body
        return http(self.router, self.path, body, query=query or self.query(body, **kw))


def test_signed_publish_valid_and_every_refusal(bridge, peers, bystander):
    sub, _ = peers
    _, events = sub.subscribe("com.signed.t")
    s = Signer(bridge, "/publish-signed", "k", "s")
    body = json.dumps({"topic": "com.signed.t", "args": ["signed"]}).encode()
    pub = publication_of(s.post(body))
    assert events.wait(1)[0].details.publication == pub
    # unsigned, or a field missing: Crossbar's 400s, in its order of checks
    missing = "REST bridge signature was invalid (missing mandatory field - %s)."
    assert_answer(http(bridge, "/publish-signed", body), 400, deny_body(missing % "'key' field missing"))
    for drop, why in [("key", "'key' field missing"),
                      ("timestamp", "signed request required, but mandatory 'timestamp' field missing"),
                      ("seq", "'seq' field missing"), ("nonce", "'nonce' field missing"),
                      ("signature", "'signature' field missing")]:
        assert_answer(s.post(body, drop=drop), 400, deny_body(missing % why))
    # wrong key, wrong secret, a body that is not the one signed: 401
    assert_answer(s.post(body, key="other"), 401, deny_body("REST bridge signature key not valid."))
    assert_answer(s.post(body, secret="other"), 401, deny_body("REST bridge signature secret not valid."))
    q = s.query(body)
    assert_answer(http(bridge, "/publish-signed", body + b" ", query=q), 401,
                  deny_body("REST bridge signature secret not valid."))
    assert_answer(s.post(body, sig="AAAA"), 401, deny_body("REST bridge signature secret not valid."))
    # timestamps: outside timestamp_delta_limit (60 s) either way, or not Crossbar's format
    assert_answer(s.post(body, ts=now_ts(-61)), 400, deny_body("Request expired, too old timestamp."))
    assert_answer(s.post(body, ts=now_ts(+61)), 400, deny_body("Request expired, too old timestamp."))
    bad_ts = now_ts()[:-5] + "Z"  # no fraction
    assert_answer(s.post(body, ts=bad_ts), 400, deny_body(
        "REST bridge signature was invalid (invalid timestamp '%s' (must be UTC/ISO-8601, e.g. "
        "'2011-10-14T16:59:51.123Z'))." % bad_ts))
    publication_of(s.post(body, ts=now_ts(-50)))
    publication_of(s.post(body, ts=now_ts(+50)))
    assert len(events.wait(3)) == 3
    bystander()


def test_signed_request_replayed_is_refused(bridge):
    s = Signer(bridge, "/publish-signed", "k", "s")
    body = json.dumps({"topic": "com.signed.replay"}).encode()
    q = s.query(body)
    publication_of(http(bridge, "/publish-signed", body, query=q))
    for _ in range(2):
        assert_answer(http(bridge, "/publish-signed", body, query=q), 401,
                      deny_body("REST bridge request replayed (nonce already used within timestamp_delta_limit)."))
    # the same nonce in a new request (new seq, new timestamp, new signature) is a replay too
    nonce = int(urllib.parse.parse_qs(q)["nonce"][0])
    assert s.post(body, nonce=nonce).status_code == 401
    publication_of(s.post(body))


def test_signed_sequence_numbers_must_increase(bridge):
    s = Signer(bridge, "/publish-seq", "k2", "s2")
    body = json.dumps({"topic": "com.signed.seq"}).encode()
    last = 1000
    publication_of(s.post(body, seq=last))
    for seq in (last, last - 1, -5):
        assert_answer(s.post(body, seq=seq), 401, deny_body(
            "REST bridge sequence number not increasing (%d after %d)." % (seq, last)))
    publication_of(s.post(body, seq=last + 1))
    # a path without require_increasing_seq takes them in any order
    c = Signer(bridge, "/call-signed", "ck", "cs")
    cbody = json.dumps({"procedure": "wamp.session.count"}).encode()
    for seq in (10, 5, 5):
        r = c.post(cbody, seq=seq)
        assert r.status_code == 200 and json.loads(r.content)["args"][0] >= 1, r.content


def test_signature_in_every_base64_spelling(bridge):
    s = Signer(bridge, "/publish-signed", "k", "s")
    body = json.dumps({"topic": "com.signed.b64"}).encode()
    spellings = {
        "urlsafe padded": lambda sig: sig,
        "urlsafe unpadded": lambda sig: sig.rstrip("="),
        "standard padded": lambda sig: sig.replace("-", "+").replace("_", "/"),
        "standard unpadded": lambda sig: sig.replace("-", "+").replace("_", "/").rstrip("="),
    }
    seen_plus = False
    for name, spell in spellings.items():
        for _ in range(8):  # a few signatures, so that '+' and '/' both show up
            q = s.query(body)
            fields = dict(urllib.parse.parse_qsl(q))
            fields["signature"] = spell(fields["signature"])
            seen_plus = seen_plus or "+" in fields["signature"]
            r = http(bridge, "/publish-signed", body, query=urllib.parse.urlencode(fields, quote_via=urllib.parse.quote))
            publication_of(r)
            if "+" in fields["signature"]:  # unencoded in the query, a '+' arrives as a space
                q = s.query(body)
                fields = dict(urllib.parse.parse_qsl(q))
                raw_sig = spell(fields["signature"])
                del fields["signature"]
                raw = urllib.parse.urlencode(fields, quote_via=urllib.parse.quote) + "&signature=" + raw_sig
                publication_of(http(bridge, "/publish-signed", body, query=raw))
    assert seen_plus


def test_fractions_of_one_to_six_digits(bridge):
    s = Signer(bridge, "/publish-signed", "k", "s")
    body = json.dumps({"topic": "com.signed.frac"}).encode()
    base = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S")
    for frac in ["1", "12", "123", "1234", "123456"]:
        publication_of(s.post(body, ts=base + "." + frac + "Z"))
    publication_of(s.post(body, ts=base.replace("T", "t") + ".5z"))


# ---------------------------------------------------------------- caller

def test_call_results_as_crossbar_gives_them(bridge, peers, bystander):
    _, callee = peers
    regs = [
        callee.register("com.call.none", lambda: None),
        callee.register("com.call.one", lambda x: x),
        callee.register("com.call.many", lambda: tx.CallResult(1, "two", [3])),
        callee.register("com.call.kw", lambda: tx.CallResult(a=1)),
        callee.register("com.call.both", lambda: tx.CallResult(1, b={"c": None})),
        callee.register("com.call.echo", lambda *a, **kw: tx.CallResult(*a, **kw)),
    ]
    try:
        cases = [
            ({"procedure": "com.call.none"}, b'{"args":[null]}'),
            ({"procedure": "com.call.one", "args": [{"x": [1.5, 0.1, 1e16, "é"]}]},
             '{"args":[{"x":[1.5,0.1,1e+16,"é"]}]}'.encode()),
            ({"procedure": "com.call.many"}, b'{"args":[1,"two",[3]]}'),
            ({"procedure": "com.call.kw"}, b'{"kwargs":{"a":1}}'),
            ({"procedure": "com.call.both"}, b'{"args":[1],"kwargs":{"b":{"c":null}}}'),
            ({"procedure": "com.call.echo", "args": [1, 2], "kwargs": {"k": True}}, b'{"args":[1,2],"kwargs":{"k":true}}'),
            ({"procedure": "com.call.echo", "args": [], "kwargs": {}}, b'{"args":[null]}'),
            # the request's options: a shorter timeout is taken, the rest ignored (Crossbar ignores them all)
            ({"procedure": "com.call.one", "args": [7], "options": {"timeout": 500, "disclose_me": True}},
             b'{"args":[7]}'),
            ({"procedure": "com.call.one", "args": [7], "options": "whatever"}, b'{"args":[7]}'),
        ]
        for body, want in cases:
            assert_answer(http(bridge, "/call", body), 200, want)
        r = http(bridge, "/call", {"procedure": "wamp.session.get", "args": [callee.id]})
        assert json.loads(r.content)["args"][0]["session"] == callee.id
    finally:
        for reg in regs:
            callee.unregister(reg)
    bystander()


def test_call_errors_are_200_with_crossbars_error_body(bridge, peers):
    _, callee = peers

    def oops(*a):
        raise tx.ApplicationError("com.call.oops", "bad é", 2, detail={"n": 1.0})

    def plain():
        raise tx.ApplicationError("com.call.plain")

    regs = [callee.register("com.call.oops", oops), callee.register("com.call.plain", plain)]
    try:
        # json.dumps() defaults: ", " and ": ", ASCII with \u escapes (Crossbar's _fail_request)
        assert_answer(http(bridge, "/call", {"procedure": "com.call.oops"}), 200,
                      b'{"error": "com.call.oops", "args": ["bad \\u00e9", 2], "kwargs": {"detail": {"n": 1.0}}}')
        assert_answer(http(bridge, "/call", {"procedure": "com.call.plain"}), 200,
                      b'{"error": "com.call.plain", "args": [], "kwargs": {}}')
    finally:
        for reg in regs:
            callee.unregister(reg)
    assert_answer(http(bridge, "/call", {"procedure": "com.call.nobody"}), 200,
                  b'{"error": "wamp.error.no_such_procedure", "args": ["no callee registered for procedure '
                  b'\'com.call.nobody\'"], "kwargs": {}}')
    assert_answer(http(bridge, "/call", {"args": [1]}), 400,
                  deny_body("Request body was valid JSON, but not well formed (missing key 'procedure')."))
    assert_answer(http(bridge, "/call", {"procedure": ["x"]}), 400,
                  deny_body("Request body was valid JSON, but not well formed ('procedure' must be a string)."))
    assert_answer(http(bridge, "/call", {"procedure": "a.b", "args": {"x": 1}}), 400,
                  deny_body("Request body was valid JSON, but not well formed ('args' must be a list)."))


class Hanging:
    """A procedure that never answers; it records its invocations and their cancellations."""

    def __init__(self):
        self.started, self.canceled = tx.Sink(), tx.Sink()

    def __call__(self, *args):
        self.started.add(args)
        return defer.Deferred(lambda d: self.canceled.add(args))


def test_call_timeout_answers_wamp_timeout_and_interrupts_the_callee(bridge, peers, bystander):
    _, callee = peers
    hang = Hanging()
    reg = callee.register("com.call.hang", hang)
    try:
        t0 = time.monotonic()
        r = http(bridge, "/call", {"procedure": "com.call.hang", "args": [1]}, timeout=10)
        took = time.monotonic() - t0
        assert_answer(r, 200, b'{"error": "wamp.error.timeout", "args": ["the call timed out: no answer from the '
                              b'callee within its timeout of 1000 ms"], "kwargs": {}}')
        assert 0.9 <= took <= T(3), took
        assert hang.canceled.wait(1)[0] == (1,)
        # a shorter timeout asked by the request
        t0 = time.monotonic()
        r = http(bridge, "/call", {"procedure": "com.call.hang", "args": [2], "options": {"timeout": 200}})
        assert json.loads(r.content)["args"] == ["the call timed out: no answer from the callee within its timeout "
                                                 "of 200 ms"]
        assert time.monotonic() - t0 < T(0.9)
        assert hang.canceled.wait(2)[1] == (2,)
    finally:
        callee.unregister(reg)
    bystander()


def raw_request(router, path, body):
    """A POST on a socket of its own, not read: for clients that leave."""
    s = socket.create_connection(("127.0.0.1", router.ws_port), timeout=T(5))
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (path.encode(), len(body), body))
    return s


def test_client_gone_mid_call_cancels_it(bridge, peers, bystander):
    _, callee = peers
    hang = Hanging()
    reg = callee.register("com.call.leave", hang)
    try:
        mark = bridge.log_mark()
        s = raw_request(bridge, "/call", json.dumps({"procedure": "com.call.leave", "args": ["gone"]}).encode())
        hang.started.wait(1)
        s.close()
        assert hang.canceled.wait(1)[0] == ("gone",)
        bridge.wait_for_log(r"http path /call: client 127\.0\.0\.1:\d+ left during call \d+: canceled", since=mark)
    finally:
        callee.unregister(reg)
    bystander()


def test_max_in_flight_answers_503_and_frees_with_the_calls(bridge, peers, bystander):
    _, callee = peers
    hang = Hanging()
    reg = callee.register("com.call.slow", hang)
    body = json.dumps({"procedure": "com.call.slow", "args": ["x"]}).encode()
    try:
        socks = [raw_request(bridge, "/call-small", body) for _ in range(2)]
        hang.started.wait(2)
        r = http(bridge, "/call-small", body)
        assert (r.status_code, r.content) == (503, b'{"error":"2 calls in flight on /call-small: max_in_flight '
                                                   b'reached, try again later"}')
        assert r.headers["Content-Type"] == COMMON["Content-Type"]
        for s in socks:
            s.close()
        hang.canceled.wait(2)
        # room again: the next ones go through
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futs = [pool.submit(http, bridge, "/call-small", json.dumps({"procedure": "wamp.session.count"}))
                    for _ in range(2)]
            assert [f.result().status_code for f in futs] == [200, 200]
    finally:
        callee.unregister(reg)
    bystander()


def test_many_concurrent_calls_each_get_their_own_answer(bridge, peers):
    _, callee = peers
    reg = callee.register("com.call.slowecho", lambda x: task.deferLater(reactor, random.random() / 20, lambda: x))
    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            futs = {i: pool.submit(http, bridge, "/call", {"procedure": "com.call.slowecho", "args": [i]})
                    for i in range(64)}
            for i, f in futs.items():
                assert f.result().content == b'{"args":[%d]}' % i
    finally:
        callee.unregister(reg)


# ---------------------------------------------------------------- webhook

def github_headers(secret, body, sha1=True, sha256=True):
    h = {"Content-Type": "application/json", "X-GitHub-Event": "ping", "User-Agent": "GitHub-Hookshot/4963429"}
    if sha1:
        h["X-Hub-Signature"] = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    if sha256:
        h["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return h


def test_webhook_with_github_signatures(bridge, peers, bystander):
    sub, _ = peers
    _, events = sub.subscribe("app.hook")
    body = b'{"zen":"Design for failure.","hook_id":1}'
    for sha1, sha256 in [(True, True), (True, False), (False, True)]:
        r = http(bridge, "/webhook", body, headers=github_headers("g", body, sha1, sha256))
        assert_answer(r, 202, b"OK")
    got = events.wait(3)
    ev = got[0].args[0]
    assert ev["body"] == body.decode()
    assert ev["headers"]["X-Github-Event"] == ["ping"]  # Twisted's capitalization
    assert ev["headers"]["X-Hub-Signature"][0].startswith("sha1=")
    assert ev["headers"]["Content-Length"] == [str(len(body))]
    bad = "Malformed request to the REST bridge."  # Crossbar's answer (its log category is misspelt)
    assert_answer(http(bridge, "/webhook", body, headers={"Content-Type": "application/json"}), 400, deny_body(bad))
    assert_answer(http(bridge, "/webhook", body, headers=github_headers("wrong", body)), 400, deny_body(bad))
    h = github_headers("g", body)
    h["X-Hub-Signature-256"] = github_headers("wrong", body)["X-Hub-Signature-256"]
    assert_answer(http(bridge, "/webhook", body, headers=h), 400, deny_body(bad))
    assert_answer(http(bridge, "/webhook", body + b" ", headers=github_headers("g", body)), 400, deny_body(bad))
    assert len(events) == 3
    bystander()


def test_webhook_without_secret_takes_any_body_as_text(bridge, peers):
    sub, _ = peers
    _, events = sub.subscribe("app.hook.open")
    body = "not json at all: é \u2028 \x00".encode()
    status, _, answer = raw_http(bridge, "POST /hook-open HTTP/1.1\r\nhost: x\r\nX-Multi: a\r\n"
                                         "Content-Type: application/x-www-form-urlencoded\r\nx-MULTI: b\r\n", body)
    assert (status, answer) == (202, b"OK")
    ev = events.wait(1)[0].args[0]
    assert ev == {"headers": {"Host": ["x"], "X-Multi": ["a", "b"],
                              "Content-Type": ["application/x-www-form-urlencoded"],
                              "Content-Length": [str(len(body))], "Connection": ["close"]},
                  "body": body.decode()}
    assert_answer(http(bridge, "/hook-open", b"\xff\xfe", headers={}), 400,
                  deny_body("Non-decodable request body, was not UTF-8."))
    assert_answer(http(bridge, "/hook-open", b"x", headers={"Content-Type": "text/plain; charset=latin-1"}), 400,
                  deny_body("Non-accepted request encoding, must be UTF-8."))
    assert_answer(http(bridge, "/hook-open", b"x", method="GET", headers={}), 405, deny_body(
        "Method not accepted by the REST bridge. (b'GET' not allowed, only POST, PUT)"))


# ---------------------------------------------------------------- the path's session

def test_each_path_has_a_session_in_the_meta_api(bridge, peers):
    sub, _ = peers
    ids = sub.call("wamp.session.list")
    details = [sub.call("wamp.session.get", i) for i in ids]
    mine = {d["authid"]: d for d in details if d["authid"].startswith("http:")}
    assert set(mine) == {"http:" + p for p in PATHS}
    d = mine["http:/publish"]
    assert (d["authrole"], d["authmethod"], d["transport"]["type"]) == ("anonymous", "internal", "http")


def test_a_killed_path_session_is_replaced(bridge, peers, bystander):
    sub, _ = peers
    details = [sub.call("wamp.session.get", i) for i in sub.call("wamp.session.list")]
    old = [d["session"] for d in details if d["authid"] == "http:/publish"][0]
    mark = bridge.log_mark()
    sub.call("wamp.session.kill", old)
    bridge.wait_for_log(r"session \d+ joined realm realm1 \(authid=http:/publish,", since=mark)
    publication_of(http(bridge, "/publish", {"topic": "com.after.kill"}))
    details = [sub.call("wamp.session.get", i) for i in sub.call("wamp.session.list")]
    new = [d["session"] for d in details if d["authid"] == "http:/publish"]
    assert len(new) == 1 and new[0] != old
    bystander()


# ---------------------------------------------------------------- authorization

ROLES = {
    "anonymous": [{"uri": "", "match": "prefix", "allow": "*"}],
    "limited": [{"uri": "ok.", "match": "prefix", "allow": ["publish", "call"]}],
}


def test_requests_are_authorized_as_the_paths_role(router_factory, clients):
    r = router_factory({
        "realms": [{"name": "realm1", "roles": ROLES}],
        "http": {"paths": {
            "/p": {"type": "publisher", "realm": "realm1", "role": "limited"},
            "/c": {"type": "caller", "realm": "realm1", "role": "limited"},
            "/h": {"type": "webhook", "realm": "realm1", "role": "limited", "options": {"topic": "no.hook"}},
            "/h2": {"type": "webhook", "realm": "realm1", "role": "limited", "options": {"topic": "ok.hook"}},
            "/ghost": {"type": "publisher", "realm": "realm1", "role": "ghost"},
        }},
    })
    c = clients(r)
    c.register("ok.proc", lambda: "fine")
    c.register("no.proc", lambda: "never")
    _, events = c.subscribe("ok.t")
    publication_of(http(r, "/p", {"topic": "ok.t", "args": [1]}))
    assert events.wait(1)[0].args == [1]
    assert_answer(http(r, "/p", {"topic": "no.t"}), 200,
                  b'{"error": "wamp.error.not_authorized", "args": ["not authorized to publish \'no.t\' (no rule '
                  b'of role limited allows it)"], "kwargs": {}}')
    assert_answer(http(r, "/c", {"procedure": "ok.proc"}), 200, b'{"args":["fine"]}')
    assert_answer(http(r, "/c", {"procedure": "no.proc"}), 200,
                  b'{"error": "wamp.error.not_authorized", "args": ["not authorized to call \'no.proc\' (no rule '
                  b'of role limited allows it)"], "kwargs": {}}')
    assert_answer(http(r, "/h", b"x", headers={}), 500, b"NOT OK")
    assert_answer(http(r, "/h2", b"x", headers={}), 202, b"OK")
    r.wait_for_log(r"http path /ghost: role 'ghost' is not one of the roles of realm realm1")
    assert http(r, "/ghost", {"topic": "ok.t"}).content.startswith(b'{"error": "wamp.error.not_authorized"')


def test_requests_are_authorized_by_the_lua_authorizer(router_factory, clients):
    policy = """
        moonbar.authorize(function(session, action, uri, options)
          if session.authid == "http:/p" and uri == "lua.no" then return false end
          return true
        end)
    """
    r = ml.lua_router(router_factory, policy=policy,
                      http={"paths": {"/p": {"type": "publisher", "realm": "realm1"}}})
    c = clients(r)
    _, events = c.subscribe("lua.yes")
    publication_of(http(r, "/p", {"topic": "lua.yes"}))
    events.wait(1)
    assert_answer(http(r, "/p", {"topic": "lua.no"}), 200,
                  b'{"error": "wamp.error.not_authorized", "args": ["not authorized to publish \'lua.no\'"], '
                  b'"kwargs": {}}')


def test_shutdown_with_calls_in_flight(router_factory, clients):
    r = router_factory({"http": {"paths": {"/c": {"type": "caller", "realm": "realm1",
                                                   "options": {"timeout": 0}}}}})
    c = clients(r)
    hang = Hanging()
    c.register("com.hang", hang)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(http, r, "/c", {"procedure": "com.hang"}, timeout=10)
        hang.started.wait(1)
        assert r.stop() == 0
        res = fut.result()
        # the router answers before it goes: the callee's leaving (canceled) or the path's own
        if res.status_code == 503:
            assert res.content == b'{"error":"router is shutting down"}'
        else:
            assert json.loads(res.content)["error"] == "wamp.error.canceled", res.content
