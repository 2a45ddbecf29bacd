"""The outgoing side of the HTTP bridge against a real HTTP server (mb_http_target): subscribers
(http.subscribers: events POSTed as Crossbar does, in order, retried with backoff, a bounded
queue that drops the oldest, counters) and callees (http.callees: Crossbar's arguments and
result, timeouts, size limits, URLs that would leave baseurl, cancel), and a router that stays
responsive while requests hang."""
import json
import os
import re
import shlex
import socket
import subprocess
import threading
import time

import pytest

import mb_twisted as tx
from mb_http_target import Target, header
from mb_router import T, T_quiet
from mb_tls import PKI

TOPIC = "com.test.http.events"
PROC = "com.test.http.rest"


@pytest.fixture
def target():
    t = Target()
    yield t
    t.close()


def subscriber(target, path="/hook", **kw):
    s = {"realm": "realm1", "topic": TOPIC, "url": target.url(path)}
    s.update(kw)
    return s


def callee(target, base="/api/", **kw):
    c = {"realm": "realm1", "procedure": PROC, "baseurl": target.url(base)}
    c.update(kw)
    return c


def start(router_factory, subscribers=(), callees=()):
    r = router_factory({"http": {"subscribers": list(subscribers), "callees": list(callees)}})
    for i in range(len(subscribers)):
        r.wait_for_log(r"http\.subscribers\[%d\]: events of " % (i + 1))
    for i in range(len(callees)):
        r.wait_for_log(r"http\.callees\[%d\]: .* calls go to " % (i + 1))
    return r


def settle():
    """Time for moonbar to read the answer to the last request the target saw."""
    time.sleep(T(0.3))


def bodies(requests):
    return [json.loads(q.body) for q in requests]


def wamp_error(fut_or_fn):
    """The ApplicationError a call ends with."""
    with pytest.raises(tx.ApplicationError) as ei:
        fut_or_fn()
    return ei.value


# ---------------------------------------------------------------- subscribers


def test_events_are_posted_as_crossbar_does(router_factory, clients, target):
    r = start(router_factory, [subscriber(target)])
    pub = clients(r)
    pub.publish(TOPIC, "hello", 2, x={"y": [1, None]})
    pub.publish(TOPIC)
    pub.publish(TOPIC, "only args")
    pub.publish(TOPIC, k="ünïcode ✓")
    got = target.wait(4)
    for q in got:
        assert q.method == "POST"
        assert q.path == "/hook"
        assert header(q, "Content-Type") == ["application/json"]
    assert bodies(got) == [
        {"args": ["hello", 2], "kwargs": {"x": {"y": [1, None]}}},
        {"args": [], "kwargs": {}},
        {"args": ["only args"], "kwargs": {}},
        {"args": [], "kwargs": {"k": "ünïcode ✓"}},
    ]
    assert "ünïcode ✓".encode() in got[3].body  # UTF-8 as is, not \\u escapes (Crossbar: ensure_ascii=False)


def test_details_method_and_pattern_subscriptions(router_factory, clients, target):
    r = start(router_factory, [subscriber(target, topic="com.test.http", match="prefix", details=True,
                                          method="PUT")])
    pub = clients(r)
    pub.publish("com.test.http.a.b", 1)
    (q,) = target.wait(1)
    assert q.method == "PUT"
    body = json.loads(q.body)
    assert body["args"] == [1] and body["kwargs"] == {}
    assert body["details"]["topic"] == "com.test.http.a.b"
    assert isinstance(body["details"]["publication"], int) and body["details"]["publication"] > 0


def test_exact_subscription_details_name_the_topic(router_factory, clients, target):
    r = start(router_factory, [subscriber(target, details=True)])
    clients(r).publish(TOPIC, "x")
    (q,) = target.wait(1)
    assert json.loads(q.body)["details"]["topic"] == TOPIC


def test_order_is_kept_with_one_request_in_flight(router_factory, clients, target):
    target.delay = 0.01
    r = start(router_factory, [subscriber(target)])
    pub = clients(r)
    for i in range(40):
        pub.publish(TOPIC, i, _acknowledge=(i % 10 == 9))
    got = target.wait(40, timeout=15)
    assert [b["args"][0] for b in bodies(got)] == list(range(40))
    assert target.max_in_flight == 1


def test_failures_are_retried_with_a_doubling_backoff(router_factory, clients, target):
    target.fail_next(3, 503)
    r = start(router_factory, [subscriber(target, retry_delay=0.2)])
    pub = clients(r)
    pub.publish(TOPIC, "first")
    pub.publish(TOPIC, "second")
    got = target.wait(5, timeout=10)
    assert [b["args"][0] for b in bodies(got)] == ["first"] * 4 + ["second"]
    gaps = [b.at - a.at for a, b in zip(got, got[1:4])]
    # 0.2, 0.4, 0.8 s: each at least its delay, and each longer than the one before
    for gap, want in zip(gaps, (0.2, 0.4, 0.8)):
        assert gap >= want * 0.9, gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps
    r.wait_for_log(r"http\.subscribers\[1\]: delivery to .* failed \(HTTP status 503\): retry 1 of 10 in 0\.2 s")
    r.wait_for_log(r"http\.subscribers\[1\]: .* takes events again \(after 3 failed attempts\)")
    settle()
    r.check()
    assert re.search(r"http\.subscribers\[1\]: .*: delivered 2, retried 3, dropped 0, failed 0; 0 undelivered",
                     r.log), r.log


def test_an_event_is_given_up_after_its_retries(router_factory, clients, target):
    target.fail_next(3, 500)
    r = start(router_factory, [subscriber(target, retries=2, retry_delay=0.05)])
    pub = clients(r)
    pub.publish(TOPIC, "doomed")
    pub.publish(TOPIC, "next")
    got = target.wait(4, timeout=10)
    assert [b["args"][0] for b in bodies(got)] == ["doomed"] * 3 + ["next"]
    r.wait_for_log(r"http\.subscribers\[1\]: an event could not be delivered to .* after 3 attempts "
                   r"\(HTTP status 500\): dropped \(1 so far\)")
    settle()
    r.check()
    assert re.search(r"delivered 1, retried 2, dropped 0, failed 1", r.log), r.log


def test_a_refusal_is_not_retried(router_factory, clients, target):
    target.fail_next(1, 400)
    r = start(router_factory, [subscriber(target, retry_delay=0.05)])
    pub = clients(r)
    pub.publish(TOPIC, "bad")
    pub.publish(TOPIC, "good")
    got = target.wait(2)
    assert [b["args"][0] for b in bodies(got)] == ["bad", "good"]
    time.sleep(T_quiet(0.3))
    assert len(target.snapshot()) == 2
    settle()
    r.check()
    assert re.search(r"delivered 1, retried 0, dropped 0, failed 1", r.log), r.log


def test_the_queue_drops_the_oldest_while_the_target_is_down(router_factory, clients, target):
    target.down()
    r = start(router_factory, [subscriber(target, queue=5, retry_delay=0.1, retries=1000)])
    pub = clients(r)
    for i in range(20):
        pub.publish(TOPIC, i)
    r.wait_for_log(r"http\.subscribers\[1\]: queue full \(5 events waiting for .*\): dropping the oldest until "
                   r"deliveries resume \(dropped 1 in all\)")
    r.wait_for_log(r"http\.subscribers\[1\]: delivery to .* failed \(.*\): retry")
    target.up()
    got = target.wait(5, timeout=40)
    time.sleep(T_quiet(0.5))
    got = target.snapshot()
    seen = [b["args"][0] for b in bodies(got)]
    # the last five always; before them at most the one that was in flight when the queue filled
    assert seen[-5:] == [15, 16, 17, 18, 19], seen
    assert len(seen) <= 6 and seen == sorted(seen), seen
    dropped = 20 - len(seen)
    m = r.wait_for_log(r"http\.subscribers\[1\]: (\d+) events were dropped while the queue was full "
                       r"\(dropped (\d+) in all\)")
    assert int(m.group(1)) == dropped and int(m.group(2)) == dropped
    assert len(re.findall(r"queue full", r.log)) == 1  # once per burst
    settle()
    r.check()
    assert re.search(r"delivered %d, retried \d+, dropped %d, failed 0; 0 undelivered" % (len(seen), dropped),
                     r.log), r.log


def test_shutdown_with_events_waiting_and_a_request_hanging(router_factory, clients, target):
    target.hang("/hook")
    r = start(router_factory, [subscriber(target)])
    pub = clients(r)
    for i in range(3):
        pub.publish(TOPIC, i)
    target.wait(1)
    t0 = time.monotonic()
    r.check()  # SIGTERM: exit 0, clean stderr
    assert time.monotonic() - t0 < T(5)
    assert re.search(r"delivered 0, retried 0, dropped 0, failed 0; 3 undelivered at shutdown", r.log), r.log
    target.wait_aborted(1)


# ---------------------------------------------------------------- callees


def test_callee_request_and_result(router_factory, clients, target):
    target.respond("/api/items/7", status=201, body="créé ✓".encode(),
                   headers=[("Content-Type", "text/plain; charset=utf-8"), ("X-Reply", "yes"),
                            ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    r = start(router_factory, callees=[callee(target)])
    c = clients(r)
    res = c.call(PROC, method="post", url="items/7", body='{"x": 1}',
                 headers={"X-Token": ["abc"], "X-Multi": ["1", "2"], "Content-Type": ["application/json"]},
                 params={"q": "a b&c", "n": 3, "flag": True})
    (q,) = target.snapshot()
    assert q.method == "POST"
    assert q.path == "/api/items/7?q=a%20b%26c&n=3&flag=true"
    assert header(q, "X-Token") == ["abc"]
    assert header(q, "X-Multi") == ["1", "2"]
    assert header(q, "Content-Type") == ["application/json"]
    assert q.body == b'{"x": 1}'
    assert res["code"] == 201
    assert res["content"] == "créé ✓"
    assert res["headers"]["X-Reply"] == ["yes"]
    assert res["headers"]["Set-Cookie"] == ["a=1", "b=2"]
    assert res["headers"]["Content-Length"] == [str(len("créé ✓".encode()))]
    assert set(res) == {"code", "content", "headers"}


def test_callee_defaults_positional_arguments_and_statuses(router_factory, clients, target):
    target.respond("/api/missing", status=404, body=b"nope")
    r = start(router_factory, callees=[callee(target, base="/api")])
    c = clients(r)
    res = c.call(PROC)  # no arguments: GET baseurl itself
    res2 = c.call(PROC, "DELETE", "/missing")  # Crossbar's order: method, url, body, headers, params
    res3 = c.call(PROC, url="?page=2", params={"tag": ["x", "y"]})
    got = target.snapshot()
    assert [(q.method, q.path) for q in got] == [("GET", "/api"), ("DELETE", "/api/missing"),
                                                 ("GET", "/api?page=2&tag=x&tag=y")]
    assert got[0].body == b""
    assert res["code"] == 200 and json.loads(res["content"]) == {"ok": True}
    assert res2["code"] == 404 and res2["content"] == "nope"  # an HTTP error status is a result
    assert res3["code"] == 200


def test_callee_content_that_is_not_utf8_is_read_as_latin1(router_factory, clients, target):
    target.respond("/api/bin", body=b"\xff\xfe\x00A")
    r = start(router_factory, callees=[callee(target)])
    res = clients(r).call(PROC, url="bin")
    assert res["content"] == "\xff\xfe\x00A"


@pytest.mark.parametrize("url", [
    "..", "../secret", "a/../../secret", "%2e%2e/secret", ".%2E/secret", "a%2f..%2fsecret", "%252e%252e/x",
    "//evil.example/x", "http://127.0.0.1:1/secret", "HTTPS://evil.example/", "file:///etc/passwd",
    "javascript:alert(1)", "a\\..\\b",
])
def test_callee_refuses_urls_that_escape_baseurl(router_factory, clients, target, url):
    r = start(router_factory, callees=[callee(target)])
    err = wamp_error(lambda: clients(r).call(PROC, url=url))
    assert err.error == "wamp.error.invalid_argument"
    assert "escapes baseurl" in err.args[0] or "backslash" in err.args[0], err.args
    time.sleep(T_quiet(0.1))
    assert target.snapshot() == []  # refused before any request


def test_callee_refuses_bad_arguments(router_factory, clients, target):
    r = start(router_factory, callees=[callee(target)])
    c = clients(r)
    cases = [
        ({"uri": "x"}, "unknown argument \"uri\""),
        ({"headers": "X-A: 1"}, "headers must be a dict"),
        ({"headers": {"X-A": "1\r\nX-Injected: 1"}}, "CR or LF"),
        ({"headers": {"Bad Name": "1"}}, "is not an HTTP token"),
        ({"headers": {"X-A:X-B": "1"}}, "is not an HTTP token"),
        ({"headers": {"X(A)": "1"}}, "is not \"Name: value\""),
        ({"headers": {"X-A": [1]}}, "must be a string or a list of strings"),
        ({"method": "GE T"}, "is not an HTTP token"),
        ({"body": {"a": 1}}, "body must be a string"),
        ({"params": {"a": {"b": 1}}}, "params.a must be"),
        ({"url": "a b"}, "space"),
    ]
    for kwargs, want in cases:
        err = wamp_error(lambda: c.call(PROC, **kwargs))
        assert err.error == "wamp.error.invalid_argument", (kwargs, err)
        assert want in err.args[0], (kwargs, err.args)
    err = wamp_error(lambda: c.call(PROC, "GET", "", "", {}, {}, "extra"))
    assert "at most 5 positional arguments" in err.args[0]
    assert target.snapshot() == []


def test_callee_timeout(router_factory, clients, target):
    target.hang("/api/slow")
    r = start(router_factory, callees=[callee(target, timeout=300)])
    t0 = time.monotonic()
    err = wamp_error(lambda: clients(r).call(PROC, url="slow"))
    elapsed = time.monotonic() - t0
    assert err.error == "wamp.error.timeout"
    assert "GET http://127.0.0.1:%d/api/slow: timeout" % target.port in err.args[0], err.args
    assert 0.25 <= elapsed < T(3), elapsed
    target.wait_aborted(1)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_callee_size_limit(router_factory, clients, target, chunked):
    target.respond("/api/big", body=b"x" * 5000, chunked=chunked)
    target.respond("/api/fits", body=b"y" * 1000, chunked=chunked)
    r = start(router_factory, callees=[callee(target, max_bytes=1000)])
    c = clients(r)
    err = wamp_error(lambda: c.call(PROC, url="big"))
    assert err.error == "wamp.error.runtime_error"
    assert "larger than max_bytes (1000 bytes)" in err.args[0], err.args
    assert c.call(PROC, url="fits")["content"] == "y" * 1000


def test_callee_connection_refused(router_factory, clients, target):
    r = start(router_factory, callees=[callee(target)])
    target.down()
    err = wamp_error(lambda: clients(r).call(PROC, url="x"))
    assert err.error == "wamp.error.runtime_error"
    assert "GET http://127.0.0.1:%d/api/x: " % target.port in err.args[0]
    assert "connect" in err.args[0].lower(), err.args


def test_callee_https_verifies_certificates(router_factory, clients, tmp_path):
    import http.server
    import ssl
    import threading
    pki = PKI(tmp_path / "pki")
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    try:
        r = start(router_factory, callees=[{"realm": "realm1", "procedure": PROC,
                                            "baseurl": "https://127.0.0.1:%d/" % srv.server_address[1]}])
        err = wamp_error(lambda: clients(r).call(PROC, url="x"))
        assert err.error == "wamp.error.runtime_error"
        assert "certificate" in err.args[0].lower(), err.args  # a CA moonbar does not trust
    finally:
        srv.shutdown()
        srv.server_close()


def test_callee_cancel_stops_the_request(router_factory, clients, target):
    target.hang("/api/slow")
    r = start(router_factory, callees=[callee(target)])
    c = clients(r)
    holder = {}

    def call():
        holder["d"] = c.session.call(PROC, url="slow")
        holder["d"].addErrback(lambda f: holder.setdefault("err", f.value))

    tx.in_reactor(call)
    target.wait(1)
    tx.in_reactor(lambda: holder["d"].cancel())
    target.wait_aborted(1)  # the HTTP request was closed, not left to finish
    r.check()
    assert re.search(r"http\.callees\[1\]: %s: calls 1, answered 0, refused 0, timeouts 0, too large 0, "
                     r"failed 0, canceled 1" % re.escape(PROC), r.log), r.log


def test_call_timeout_cancels_the_request(router_factory, clients, target):
    target.hang("/api/slow")
    r = start(router_factory, callees=[callee(target)])
    c = clients(r)
    err = wamp_error(lambda: c.call(PROC, url="slow", options=tx.CallOptions(timeout=300)))
    assert err.error == "wamp.error.timeout"
    target.wait_aborted(1)


def test_router_stays_responsive_while_requests_hang(router_factory, clients, target):
    target.hang("/api/slow")
    target.hang("/hook")
    r = start(router_factory, [subscriber(target)], [callee(target)])
    a, b = clients(r), clients(r)
    b.register("com.test.echo", lambda x: x)
    _, events = b.subscribe("com.test.other")
    pending = [a.call_async(PROC, url="slow") for _ in range(5)]
    a.publish(TOPIC, "stuck")
    target.wait(6)
    t0 = time.monotonic()
    for i in range(20):
        assert a.call("com.test.echo", i) == i
    a.publish("com.test.other", "still flowing")
    events.wait(1)
    assert time.monotonic() - t0 < T(2)
    assert not any(f.done() for f in pending)
    target.release()
    for f in pending:
        assert tx.wait(f, 5)["code"] == 200


def _can_unshare_mounts():
    try:
        return os.geteuid() == 0 and subprocess.run(["unshare", "-m", "true"], timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _can_unshare_mounts(), reason="needs root and unshare -m (a private /etc/resolv.conf)")
def test_a_hanging_dns_lookup_blocks_nothing(router_factory, clients, tmp_path, monkeypatch):
    """moonbar runs in a mount namespace whose resolv.conf names a DNS server that never answers:
    a call whose request times out (or is canceled) while its name is being resolved must not
    stall the loop (libcurl 7.88 joins its resolver thread then, unless told not to)."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.53", 53))
    stop = threading.Event()

    def swallow():
        hole.settimeout(0.1)
        while not stop.is_set():
            try:
                hole.recvfrom(2048)
            except socket.timeout:
                pass

    th = threading.Thread(target=swallow, daemon=True)
    th.start()
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\n")
    mount = "mount --bind %s /etc/resolv.conf && exec \"$@\"" % shlex.quote(str(conf))
    monkeypatch.setenv("MOONBAR_WRAPPER", "unshare -m -- sh -c %s sh %s"
                       % (shlex.quote(mount), os.environ.get("MOONBAR_WRAPPER", "")))
    try:
        r = start(router_factory, callees=[{"realm": "realm1", "procedure": PROC, "timeout": int(T(0.3) * 1000),
                                            "baseurl": "http://unanswered.example.org/"}])
        monkeypatch.delenv("MOONBAR_WRAPPER")
        a, b = clients(r), clients(r)
        b.register("com.test.echo", lambda x: x)
        f1 = a.call_async(PROC, url="x")
        holder = {}

        def call():
            holder["d"] = a.session.call(PROC, url="y")
            holder["d"].addErrback(lambda f: None)

        tx.in_reactor(call)
        time.sleep(T(0.05))
        tx.in_reactor(lambda: holder["d"].cancel())
        worst = 0
        for i in range(30):
            t0 = time.monotonic()
            assert a.call("com.test.echo", i) == i
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.05)
        err = wamp_error(lambda: tx.wait(f1, 5))
        assert err.error == "wamp.error.timeout", err
        assert worst < T(0.5), worst
        r.check()  # a resolver thread may still be waiting: the exit is clean all the same
    finally:
        stop.set()
        th.join(2)
        hole.close()


def test_subscriber_and_callee_sessions_are_trusted_members_of_the_realm(router_factory, clients, target):
    r = start(router_factory, [subscriber(target)], [callee(target)])
    c = clients(r)
    ids = c.call("wamp.session.list")
    details = [c.call("wamp.session.get", i) for i in ids]
    mine = sorted(d["authid"] for d in details if d["authid"].startswith("http-"))
    assert mine == ["http-callee-1", "http-subscriber-1"]
    assert all(d["authrole"] == "trusted" for d in details if d["authid"].startswith("http-"))


def test_bad_callee_config_is_refused_at_start(router_factory, target):
    r = router_factory({"http": {"callees": [callee(target, base="/api?key=1")]}}, start=False)
    with pytest.raises(Exception):
        r.start(timeout=5)
    assert "http.callees[1]: baseurl must not have a query" in r.log
    r.checked = True
