"""Lua HTTP (docs/lua-api.md "moonbar.http"): routes that app scripts serve on the
WebSocket/HTTP listener (methods, 404/405, the request table, answers, errors, budgets,
moonbar.call inside a handler, hot reload while requests run, routes of two scripts), and
moonbar.http.request from a callback to a Python http.server on a loopback port (answers,
status codes, headers, timeout, max_bytes, refused connections, reload and shutdown while a
request is in flight). Requests are made with http.client and curl.
"""
import http.client
import http.server
import json
import re
import socket
import subprocess
import threading
import time

import pytest

import mb_lua as ml
import mb_router
import mb_twisted as tx
from mb_router import T

from twisted.internet import defer


def fetch(r, method, path, body=None, headers=None, timeout=5):
    """One request on a new connection: (status, {lower-case name: value}, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", r.ws_port, timeout=T(timeout))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def status_for_head(r, method, path, length):
    """The status line moonbar answers a request head announcing a body of `length` bytes with,
    the body not sent."""
    s = socket.create_connection(("127.0.0.1", r.ws_port), timeout=T(5))
    try:
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (method.encode(), path.encode(), length))
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n")[0]
    finally:
        s.close()


def fetch_json(r, method, path, body=None, headers=None, timeout=5):
    status, hdrs, data = fetch(r, method, path, body, headers, timeout)
    assert hdrs.get("content-type") == "application/json", (status, hdrs, data)
    return status, json.loads(data)


class Background:
    """fetch() in a thread: result() waits for it."""

    def __init__(self, *args, **kw):
        self.out = None
        self.exc = None
        self.thread = threading.Thread(target=self._run, args=args, kwargs=kw, daemon=True)
        self.thread.start()

    def _run(self, *args, **kw):
        try:
            self.out = fetch(*args, **kw)
        except Exception as e:  # noqa: BLE001 - shown by result()
            self.exc = e

    def done(self):
        return not self.thread.is_alive()

    def result(self, timeout=10):
        self.thread.join(T(timeout))
        assert not self.thread.is_alive(), "request still running"
        if self.exc:
            raise self.exc
        return self.out


class Holder:
    """A WAMP procedure com.test.hold of a Python client that answers only when released:
    the slow step of a handler (moonbar.call waits for it)."""

    def __init__(self, client):
        self.client = client
        self.held = []
        self.lock = threading.Lock()
        client.register("com.test.hold", self._hold)

    def _hold(self, *args):
        d = defer.Deferred()
        with self.lock:
            self.held.append((d, args))
        return d

    def wait(self, n, what="held calls"):
        return ml.wait_until(lambda: len(self.held) >= n, what=what)

    def release(self, value):
        def go():
            with self.lock:
                held, self.held = self.held, []
            for d, _ in held:
                d.callback(value)
        tx.in_reactor(go)


# ---------------------------------------------------------------- routes

ROUTES = """
    local function echo(req)
      return { headers = { ["X-Method"] = req.method }, body = {
        method = req.method, path = req.path, query = req.query, query_string = req.query_string,
        headers = req.headers, body = req.body, peer = req.peer, tls = req.tls } }
    end
    moonbar.http.route("GET", "/echo", echo)
    moonbar.http.route("post", "/echo", echo)            -- methods are upper-cased
    moonbar.http.route("*", "/api/*", echo)
    moonbar.http.route("GET", "/api/exact", function() return "exact beats prefix" end)
    moonbar.http.route("GET", "/text", function() return "plain text" end)
    moonbar.http.route("POST", "/raw", function(req) return req.body end)
    moonbar.http.route("GET", "/nothing", function() end)
    moonbar.http.route("GET", "/created", function()
      return { status = 201, body = "made",
               headers = { ["Content-Type"] = "text/x-made", ["X-Two"] = { "a", "b" }, ["X-N"] = 7,
                           ["Content-Length"] = "999", Connection = "close" } }
    end)
    moonbar.http.route("GET", "/typed_json", function()
      return { headers = { ["content-type"] = "application/vnd.moonbar+json" }, body = { 1, 2 } }
    end)
    moonbar.http.route("GET", "/empty_json", function()
      return { body = { list = moonbar.array(), dict = {}, null = moonbar.null } }
    end)
    moonbar.http.route("GET", "/no_content", function() return { status = 204, body = "dropped" } end)
    moonbar.http.route("GET", "/fail", function() error("handler exploded") end)
    moonbar.http.route("GET", "/fail_error", function()
      error(moonbar.error("app.error.teapot", { "short and stout" }))
    end)
    moonbar.http.route("GET", "/fail_table", function() error({ code = 1 }) end)
    moonbar.http.route("GET", "/bad_return", function() return 42 end)
    moonbar.http.route("GET", "/bad_status", function() return { status = 99 } end)
    moonbar.http.route("GET", "/bad_header", function() return { headers = { ["bad name"] = "x" } } end)
    moonbar.http.route("GET", "/bad_header_value", function() return { headers = { ["x-a"] = "a\\r\\nb: c" } } end)
    moonbar.http.route("GET", "/bad_body", function() return { body = true } end)
    moonbar.http.route("GET", "/bad_json", function() return { body = { f = print } } end)
    moonbar.http.route("GET", "/yield", function() coroutine.yield() end)
    moonbar.http.route("GET", "/spin", function() while true do end end)
    moonbar.http.route("GET", "/spin_pcall", function()
      while true do pcall(function() while true do end end) end
    end)
    moonbar.http.route("GET", "/add", function(req)
      local sum = moonbar.call("com.lua.add", { tonumber(req.query.a), tonumber(req.query.b) })
      local ok, err = pcall(moonbar.call, "com.lua.missing")
      return { body = { sum = sum, missing = err.uri } }
    end)
    moonbar.register("com.lua.add", function(args) return args[1] + args[2] end)
    moonbar.http.route("GET", "/route_late", function()
      local ok, err = pcall(moonbar.http.route, "GET", "/late", function() end)
      return tostring(err)
    end)
    moonbar.register("com.lua.route_late", function()
      local ok, err = pcall(moonbar.http.route, "GET", "/late", function() end)
      return tostring(err)
    end)
    moonbar.http.route("POST", "/upload", function(req) return "got " .. #req.body end, { max_body = 16 })
    moonbar.http.route("PUT", "/upload", function(req) return "put " .. #req.body end)
    moonbar.http.route("POST", "/big", function(req) return "big " .. #req.body end, { max_body = 3 << 20 })
    moonbar.http.route("POST", "/json", function(req)
      local ok, v = pcall(moonbar.json.decode, req.body)
      if not ok then return { status = 400, body = v } end
      return { body = { got = v, again = moonbar.json.decode(moonbar.json.encode(v)),
                        text = moonbar.json.encode({ a = { 1, 2 } }), scalar = moonbar.json.encode("x") } }
    end)
    moonbar.http.route("GET", "/hold", function(req)
      local v = moonbar.call("com.test.hold", { req.query.tag })
      return "held " .. tostring(v) .. " " .. tostring(req.query.tag)
    end)
"""


@pytest.fixture
def routes(router_factory):
    return ml.lua_router(router_factory, apps={"routes.lua": ROUTES}, lua={"callback_timeout": 0.05})


def test_a_get_route_sees_method_path_query_headers_and_peer(routes):
    status, hdrs, data = fetch(routes, "GET", "/echo?name=a+b&x=%41%42&flag&tag=1&tag=2&tag=3&=v&bad=%zz",
                               headers={"X-Thing": "one", "Accept": "text/plain"})
    assert status == 200
    assert hdrs["content-type"] == "application/json" and hdrs["x-method"] == "GET"
    req = json.loads(data)
    assert req["method"] == "GET" and req["path"] == "/echo"
    assert req["query_string"] == "name=a+b&x=%41%42&flag&tag=1&tag=2&tag=3&=v&bad=%zz"
    assert req["query"] == {"name": "a b", "x": "AB", "flag": "", "tag": ["1", "2", "3"], "": "v",
                            "bad": "%zz"}
    assert req["headers"]["x-thing"] == "one" and req["headers"]["accept"] == "text/plain"
    assert req["headers"]["host"].startswith("127.0.0.1:")
    assert all(k == k.lower() for k in req["headers"])
    assert req["body"] == "" and req["tls"] is False
    assert re.fullmatch(r"127\.0\.0\.1:\d+", req["peer"])


def test_the_path_is_percent_decoded_and_the_query_empty_when_absent(routes):
    status, req = fetch_json(routes, "GET", "/api/a%20b/%C3%A9")
    assert status == 200 and req["path"] == "/api/a b/\u00e9"
    assert req["query"] == {} and req["query_string"] == ""


def test_a_post_route_gets_the_body_and_repeated_headers_joined(routes):
    conn = http.client.HTTPConnection("127.0.0.1", routes.ws_port, timeout=T(5))
    conn.putrequest("POST", "/echo")
    conn.putheader("Content-Type", "text/x-test")
    conn.putheader("X-Multi", "a")
    conn.putheader("X-Multi", "b")
    body = b"line1\nline2\x00\xffend"
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 200
    req = json.loads(data)
    assert req["method"] == "POST" and req["headers"]["content-type"] == "text/x-test"
    assert req["headers"]["x-multi"] == "a, b"
    # not UTF-8: a JSON body carries such strings in WAMP's binary form ("\0" + base64)
    assert req["body"].startswith("\x00")
    assert fetch(routes, "POST", "/raw", body=body)[2] == body


def test_answers_status_headers_string_nothing_and_json_bodies(routes):
    assert fetch(routes, "GET", "/text")[0::2] == (200, b"plain text")
    assert fetch(routes, "GET", "/text")[1]["content-type"] == "text/plain; charset=utf-8"
    status, hdrs, data = fetch(routes, "GET", "/nothing")
    assert (status, data) == (204, b"") and "content-length" not in hdrs
    status, hdrs, data = fetch(routes, "GET", "/created")
    assert (status, data) == (201, b"made")
    assert hdrs["content-type"] == "text/x-made" and hdrs["x-n"] == "7"
    assert hdrs["content-length"] == "4" and "connection" not in hdrs  # moonbar's own, not the script's
    status, hdrs, data = fetch(routes, "GET", "/typed_json")
    assert (status, hdrs["content-type"], data) == (200, "application/vnd.moonbar+json", b"[1,2]")
    assert fetch_json(routes, "GET", "/empty_json") == (200, {"list": [], "dict": {}, "null": None})
    assert fetch(routes, "GET", "/no_content")[0::2] == (204, b"")


def test_a_list_of_header_values_gives_one_line_each(routes):
    out = subprocess.run(["curl", "-s", "-i", routes.http_base + "/created"], capture_output=True,
                         timeout=T(10), check=True).stdout.decode()
    assert re.search(r"\r\nX-Two: a\r\n", out) and re.search(r"\r\nX-Two: b\r\n", out), out
    assert len(re.findall(r"(?i)\r\ncontent-length:", out)) == 1, out


def test_methods_dispatch_and_other_methods_get_405_with_allow(routes):
    assert fetch_json(routes, "GET", "/echo")[1]["method"] == "GET"
    assert fetch_json(routes, "POST", "/echo", body=b"x")[1]["method"] == "POST"
    status, hdrs, data = fetch(routes, "PUT", "/echo", body=b"x")
    assert status == 405 and hdrs["allow"] == "GET, HEAD, POST" and data == b"method not allowed\n"
    status, hdrs, _ = fetch(routes, "DELETE", "/upload")
    assert status == 405 and hdrs["allow"] == "POST, PUT"
    # "*" takes every method of its paths
    for m in ("GET", "POST", "DELETE", "PATCH", "OPTIONS"):
        status, req = fetch_json(routes, m, "/api/things/7", body=b"b" if m in ("POST", "PATCH") else None)
        assert status == 200 and req["method"] == m and req["path"] == "/api/things/7"


def test_head_goes_to_the_get_route_without_a_body(routes):
    out = subprocess.run(["curl", "-s", "-I", routes.http_base + "/text"], capture_output=True,
                         timeout=T(10), check=True).stdout.decode()
    assert out.startswith("HTTP/1.1 200 OK\r\n"), out
    assert re.search(r"\r\nContent-Length: 10\r\n", out), out   # what GET sends: "plain text"
    status, hdrs, data = fetch(routes, "HEAD", "/echo")
    assert status == 200 and data == b"" and hdrs["x-method"] == "HEAD"
    assert int(hdrs["content-length"]) > 100


def test_paths_no_route_claims_are_static_files_or_404(routes):
    status, _, data = fetch(routes, "GET", "/index.html")
    assert status == 200 and b"moonbar-test-index" in data
    assert fetch(routes, "GET", "/missing")[0] == 404
    assert fetch(routes, "GET", "/api")[0] == 404          # "/api/*" claims what is under /api/ only
    assert fetch_json(routes, "GET", "/api/")[1]["path"] == "/api/"
    assert fetch(routes, "GET", "/api/exact")[2] == b"exact beats prefix"
    assert fetch(routes, "GET", "/echo/more")[0] == 404    # exact paths are exact
    assert fetch(routes, "POST", "/missing", body=b"x")[0] == 405  # static files: GET and HEAD


def test_errors_in_a_handler_answer_500_with_the_message_and_are_logged(routes):
    mark = routes.log_mark()
    status, hdrs, data = fetch(routes, "GET", "/fail")
    assert status == 500 and hdrs["content-type"] == "text/plain; charset=utf-8"
    assert re.fullmatch(rb"http handler failed: \S*routes\.lua:\d+: handler exploded\n", data), data
    routes.wait_for_log(r"warn\s+script routes\.lua: http handler failed: \S*routes\.lua:\d+: handler exploded "
                        r"stack traceback:", since=mark)
    assert fetch(routes, "GET", "/fail_error")[0::2] == (
        500, b"http handler failed: app.error.teapot: short and stout\n")
    routes.wait_for_log(r"warn\s+script routes\.lua: http handler failed: app\.error\.teapot: short and stout",
                        since=mark)
    status, _, data = fetch(routes, "GET", "/fail_table")
    assert status == 500 and data.startswith(b"http handler failed: table: 0x"), data
    assert fetch(routes, "GET", "/yield")[0::2] == (500, b"http handler failed: callback yielded outside "
                                                         b"moonbar.call\n")


@pytest.mark.parametrize("path,why", [
    ("/bad_return", "an http handler returns a table {status, headers, body}, a string or nothing, not a number"),
    ("/bad_status", "status must be an integer from 200 to 599"),
    ("/bad_header", "headers: 'bad name' is not a header name"),
    ("/bad_header_value", "headers: x-a has a CR, LF or NUL byte"),
    ("/bad_body", "body must be a string or a table (sent as JSON), got boolean"),
    ("/bad_json", "body: a function cannot be sent as a WAMP value"),
])
def test_an_answer_that_cannot_be_sent_is_a_500_with_the_reason(routes, path, why):
    mark = routes.log_mark()
    status, _, data = fetch(routes, "GET", path)
    assert status == 500 and data.decode() == "http handler result cannot be sent: %s\n" % why
    routes.wait_for_log(r"warn\s+script routes\.lua: http handler result cannot be sent: " + re.escape(why),
                        since=mark)


@pytest.mark.parametrize("path", ["/spin", "/spin_pcall"])
def test_a_handler_over_its_budget_is_a_500_and_the_router_carries_on(routes, clients, path):
    c = clients(routes)
    t0 = time.monotonic()
    status, _, data = fetch(routes, "GET", path)
    assert status == 500
    assert b"callback stopped: it ran longer than its budget of 50 ms" in data, data
    assert time.monotonic() - t0 < T(2)
    # the script, the HTTP listener and WAMP all go on
    assert fetch(routes, "GET", "/text")[0::2] == (200, b"plain text")
    assert c.call("com.lua.add", 2, 3) == 5
    assert fetch_json(routes, "GET", "/add?a=1&b=2")[1]["sum"] == 3


def test_a_request_body_over_the_script_memory_limit_is_a_500(router_factory):
    r = ml.lua_router(router_factory, apps={"small.lua": """
        moonbar.http.route("POST", "/up", function(req) return "got " .. #req.body end, { max_body = 4 << 20 })
    """}, lua={"memory_limit": 1})
    mark = r.log_mark()
    status, _, data = fetch(r, "POST", "/up", body=b"m" * (2 << 20))
    assert (status, data) == (500, b"http handler failed: script memory limit reached\n")
    r.wait_for_log(r"warn\s+script small\.lua: http POST /up: script memory limit reached", since=mark)
    assert fetch(r, "POST", "/up", body=b"m" * 1000)[2] == b"got 1000"


def test_a_handler_may_use_moonbar_call(routes):
    assert fetch_json(routes, "GET", "/add?a=20&b=22") == (200, {"sum": 42, "missing": "wamp.error.no_such_procedure"})


def test_routes_are_declared_only_while_the_script_loads(routes, clients):
    msg = "moonbar.http.route is called while the script loads (routes belong to a version)"
    assert fetch(routes, "GET", "/route_late")[2].decode().endswith(msg)
    assert clients(routes).call("com.lua.route_late").endswith(msg)
    assert fetch(routes, "GET", "/late")[0] == 404


def test_max_body_is_per_route_with_a_default_of_1_mib(routes):
    assert fetch(routes, "POST", "/upload", body=b"x" * 16)[2] == b"got 16"
    status, _, data = fetch(routes, "POST", "/upload", body=b"x" * 17)
    assert status == 413 and b"over this route's limit of 16" in data
    # PUT on the same path has the default limit (the path's mb_httpd limit is the larger one)
    assert fetch(routes, "PUT", "/upload", body=b"y" * 5000)[2] == b"put 5000"
    assert fetch(routes, "PUT", "/upload", body=b"y" * (1 << 20))[2] == b"put 1048576"
    # over the path's limit mb_httpd answers after the head, before the body, and closes
    assert status_for_head(routes, "PUT", "/upload", (1 << 20) + 1) == b"HTTP/1.1 413 Payload Too Large"
    assert status_for_head(routes, "POST", "/echo", (1 << 20) + 1) == b"HTTP/1.1 413 Payload Too Large"


def test_curl_posts_a_large_body(routes, tmp_path):
    # curl asks "Expect: 100-continue" for a body of 1 MiB and more, and sends it at the 100
    f = tmp_path / "body"
    f.write_bytes(b"q" * (2 << 20))
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-s", "-w", " %{http_code}", "--data-binary", "@" + str(f),
                          routes.http_base + "/big"], capture_output=True, timeout=T(20), check=True).stdout
    assert out == b"big 2097152 200"
    assert time.monotonic() - t0 < T(0.9)   # not curl's 1 s wait for a 100 that never comes


def test_moonbar_json_encodes_and_decodes(routes):
    status, got = fetch_json(routes, "POST", "/json", body=b'{"a": [1, 2.5, "x", null, true], "e": {}, "l": []}')
    assert status == 200
    assert got["got"] == {"a": [1, 2.5, "x", None, True], "e": {}, "l": []}
    assert got["again"] == got["got"]
    assert json.loads(got["text"]) == {"a": [1, 2]} and got["scalar"] == '"x"'
    status, _, data = fetch(routes, "POST", "/json", body=b'{"a": ')
    assert status == 400 and data.startswith(b"moonbar.json.decode: "), data


# ---------------------------------------------------------------- requests in flight

def test_a_client_that_goes_away_before_the_answer_changes_nothing(routes, clients):
    holder = Holder(clients(routes))
    s = socket.create_connection(("127.0.0.1", routes.ws_port), timeout=T(5))
    s.sendall(b"GET /hold?tag=gone HTTP/1.1\r\nHost: x\r\n\r\n")
    holder.wait(1)
    s.close()
    time.sleep(0.1)
    holder.release("late")
    assert fetch(routes, "GET", "/text")[2] == b"plain text"
    bg = Background(routes, "GET", "/hold?tag=next")
    holder.wait(1)
    holder.release("now")
    assert bg.result()[0::2] == (200, b"held now next")


def test_pipelined_requests_are_answered_in_order(routes, clients):
    holder = Holder(clients(routes))
    s = socket.create_connection(("127.0.0.1", routes.ws_port), timeout=T(5))
    s.sendall(b"GET /hold?tag=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /text HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    holder.wait(1)
    holder.release("v")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    answers = re.findall(rb"HTTP/1\.1 (\d+)", data)
    assert answers == [b"200", b"200", b"204"], data
    assert data.index(b"held v 1") < data.index(b"plain text")


HOLD_V1 = """
    moonbar.http.route("GET", "/slow", function(req)
      local v = moonbar.call("com.test.hold", { "v1" })
      return { body = "v1 finished with " .. tostring(v), headers = { ["x-version"] = moonbar.version } }
    end)
    moonbar.http.route("GET", "/gone_in_v2", function() return "v1" end)
    moonbar.http.route("GET", "/tag", function() return "v1" end)
"""

HOLD_V2 = """
    moonbar.http.route("GET", "/slow", function(req)
      return { body = "v2 at once", headers = { ["x-version"] = moonbar.version } }
    end)
    moonbar.http.route("POST", "/new_in_v2", function(req) return "v2 " .. req.body end, { max_body = 8 })
    moonbar.http.route("GET", "/tag", function() return "v2" end)
"""


def test_a_reload_changes_routes_for_new_requests_while_running_ones_finish_in_their_version(
        router_factory, clients):
    r = ml.lua_router(router_factory, apps={"slow.lua": HOLD_V1})
    holder = Holder(clients(r))
    first = Background(r, "GET", "/slow")
    second = Background(r, "GET", "/slow")
    holder.wait(2)
    mark = r.log_mark()
    ml.write_app(r, "slow.lua", HOLD_V2)
    r.wait_for_log(r"script slow\.lua: version 2 loaded", since=mark)
    # new requests: the new version, at once, while the old ones still wait
    status, hdrs, data = fetch(r, "GET", "/slow")
    assert (status, data, hdrs["x-version"]) == (200, b"v2 at once", "2")
    assert fetch(r, "GET", "/tag")[2] == b"v2"
    assert fetch(r, "POST", "/new_in_v2", body=b"12345678")[2] == b"v2 12345678"
    assert fetch(r, "POST", "/new_in_v2", body=b"123456789")[0] == 413
    assert fetch(r, "GET", "/gone_in_v2")[0] == 404
    r.wait_for_log(r"script slow\.lua: no longer serves http GET /gone_in_v2", since=mark)
    r.wait_for_log(r"script slow\.lua: serves http POST /new_in_v2", since=mark)
    assert not first.done() and not second.done()
    holder.release("the answer")
    for bg in (first, second):
        status, hdrs, data = bg.result()
        assert (status, data, hdrs["x-version"]) == (200, b"v1 finished with the answer", "1")


def test_a_rejected_version_keeps_the_routes_of_the_running_one(router_factory):
    r = ml.lua_router(router_factory, apps={"app.lua": HOLD_V1})
    mark = r.log_mark()
    ml.write_app(r, "app.lua", HOLD_V2 + "\nerror('not this one')\n")
    r.wait_for_log(r"script app\.lua: new version rejected, the running version stays: .*not this one", since=mark)
    assert fetch(r, "GET", "/tag")[2] == b"v1"
    assert fetch(r, "GET", "/gone_in_v2")[2] == b"v1"
    assert fetch(r, "POST", "/new_in_v2", body=b"x")[0] == 405  # static files: GET and HEAD


@pytest.mark.parametrize("decl,why", [
    ('moonbar.http.route("GET", "relative", f)', "moonbar.http.route: path must start with '/'"),
    ('moonbar.http.route("GET", "/a b", f)', "moonbar.http.route: bad path '/a b'"),
    ('moonbar.http.route("GET", "/a?b", f)', "moonbar.http.route: bad path '/a?b'"),
    ('moonbar.http.route("GET", "/a*", f)', "moonbar.http.route: bad path '/a*'"),
    ('moonbar.http.route("GET", "/*/x", f)', "moonbar.http.route: bad path '/*/x'"),
    ('moonbar.http.route("GE T", "/a", f)', "moonbar.http.route: 'GE T' is not a method name"),
    ('moonbar.http.route("", "/a", f)', "moonbar.http.route: method must be a method name"),
    ('moonbar.http.route("GET", "/a")', "bad argument #3 to 'route' (function expected, got no value)"),
    ('moonbar.http.route("GET", "/a", f, { max_bdy = 1 })', "moonbar.http.route: unknown option max_bdy"),
    ('moonbar.http.route("GET", "/a", f, { max_body = -1 })', "moonbar.http.route: max_body must be an integer"),
    ('moonbar.http.route("GET", "/a", f); moonbar.http.route("get", "/a", f)',
     "moonbar.http.route: GET /a is declared twice"),
])
def test_a_bad_route_declaration_rejects_the_version(router_factory, decl, why):
    r = ml.lua_router(router_factory, apps={"app.lua": HOLD_V1})
    mark = r.log_mark()
    ml.write_app(r, "app.lua", "local function f() return 'new' end\n"
                               'moonbar.http.route("GET", "/tag", f)\n' + decl + "\n")
    r.wait_for_log(r"script app\.lua: new version rejected, the running version stays: .*" + re.escape(why),
                   since=mark)
    assert fetch(r, "GET", "/tag")[2] == b"v1"


SHARED_A = """
    moonbar.http.route("GET", "/shared", function() return "a" end)
    moonbar.http.route("GET", "/only_a/*", function() return "a" end)
"""
SHARED_B = """
    moonbar.http.route("POST", "/shared", function(req) return "b " .. req.body end)
"""


def test_two_scripts_share_a_path_with_different_methods_and_not_one_method(router_factory):
    r = ml.lua_router(router_factory, apps={"a.lua": SHARED_A, "b.lua": SHARED_B})
    assert fetch(r, "GET", "/shared")[2] == b"a"
    assert fetch(r, "POST", "/shared", body=b"x")[2] == b"b x"
    status, hdrs, _ = fetch(r, "PUT", "/shared", body=b"x")
    assert status == 405 and set(hdrs["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    # b taking a's GET /shared (or GET /only_a/*): b's new version is rejected, both keep serving
    for taken, path in (("GET", "/shared"), ("GET", "/only_a/*")):
        mark = r.log_mark()
        ml.write_app(r, "b.lua", SHARED_B + '\nmoonbar.http.route("%s", "%s", function() return "b!" end)\n'
                     % (taken.lower(), path))
        r.wait_for_log(r"script b\.lua: new version rejected, the running version stays: \S+b\.lua:\d+: "
                       r"moonbar\.http\.route: %s %s is served by script a\.lua" % (taken, re.escape(path)),
                       since=mark)
    assert fetch(r, "GET", "/shared")[2] == b"a"
    assert fetch(r, "GET", "/only_a/x")[2] == b"a"
    assert fetch(r, "POST", "/shared", body=b"y")[2] == b"b y"
    # a version of a without the path frees it: b may take it
    mark = r.log_mark()
    ml.write_app(r, "a.lua", "-- nothing served\n")
    r.wait_for_log(r"script a\.lua: no longer serves http GET /shared", since=mark)
    mark = r.log_mark()
    ml.write_app(r, "b.lua", SHARED_B + '\nmoonbar.http.route("GET", "/shared", function() return "b!" end)\n')
    r.wait_for_log(r"script b\.lua: version \d+ loaded", since=mark)
    assert fetch(r, "GET", "/shared")[2] == b"b!"
    assert fetch(r, "GET", "/only_a/x")[0] == 404


def test_two_scripts_claiming_one_method_and_path_at_start_stop_moonbar(tmp_path):
    realm = {"name": "realm1", "apps": ["apps/a.lua", "apps/c.lua"]}
    rt = mb_router.Router(tmp_path, {"realms": [realm]})
    ml.write_app(rt, "a.lua", SHARED_A)
    ml.write_app(rt, "c.lua", 'moonbar.http.route("GET", "/shared", function() return "c" end)\n')
    cp = mb_router.run_cli("--config", str(rt.config_path), cwd=str(rt.workdir / "run"))
    assert not mb_router.bad_output(cp.stderr + cp.stdout), cp.stderr
    assert cp.returncode == 1 and "listening" not in cp.stderr, cp.stderr
    assert re.search(r"error script c\.lua: new version rejected, no version running: \S+c\.lua:1: "
                     r"moonbar\.http\.route: GET /shared is served by script a\.lua", cp.stderr), cp.stderr


BRIDGE = {"http": {"paths": {"/publish": {"type": "publisher", "realm": "realm1"}}}}


@pytest.mark.parametrize("path", ["/publish", "/publish/", "/publish/*"])
def test_a_route_cannot_take_a_path_of_the_http_bridge(router_factory, tmp_path, path):
    decl = 'moonbar.http.route("POST", "%s", function() return "lua" end)\n' % path
    why = r"moonbar\.http\.route: %s is the config's http path /publish" % re.escape(path)
    # at start (the bridge claims its paths after the scripts load): moonbar does not start
    realm = {"name": "realm1", "apps": ["apps/a.lua"]}
    rt = mb_router.Router(tmp_path / "start", dict(BRIDGE, realms=[realm]))
    ml.write_app(rt, "a.lua", decl)
    cp = mb_router.run_cli("--config", str(rt.config_path), cwd=str(rt.workdir / "run"))
    assert cp.returncode == 1 and re.search(why, cp.stderr), cp.stderr
    assert not mb_router.bad_output(cp.stderr + cp.stdout), cp.stderr
    # at a reload: the version is rejected, the bridge keeps its path
    r = ml.lua_router(router_factory, apps={"a.lua": 'moonbar.http.route("GET", "/mine", function() return "mine" end)\n'},
                      **BRIDGE)
    mark = r.log_mark()
    ml.write_app(r, "a.lua", decl)
    r.wait_for_log(r"script a\.lua: new version rejected, the running version stays: .*" + why, since=mark)
    assert fetch(r, "GET", "/mine")[2] == b"mine"
    status, _, data = fetch(r, "POST", "/publish", body=b'{"topic": "com.x"}',
                            headers={"Content-Type": "application/json"})
    assert status == 200 and b"lua" not in data, (status, data)


def test_a_route_cannot_take_the_websocket_upgrade(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"ws.lua": """
        moonbar.http.route("GET", "/ws", function() return "plain GET /ws" end)
        moonbar.register("com.lua.ping", function() return "pong" end)
    """})
    assert fetch(r, "GET", "/ws")[2] == b"plain GET /ws"
    assert clients(r).call("com.lua.ping") == "pong"


def test_shutdown_answers_waiting_requests_with_503(router_factory, clients):
    r = ml.lua_router(router_factory, apps={"routes.lua": ROUTES})
    holder = Holder(clients(r))
    bg = Background(r, "GET", "/hold?tag=x")
    holder.wait(1)
    r.signal()
    status, _, data = bg.result()
    assert (status, data) == (503, b"the script stopped: moonbar is shutting down\n")
    assert r.wait(T(10)) == 0


# ---------------------------------------------------------------- moonbar.http.request

class Upstream(http.server.BaseHTTPRequestHandler):
    """The test's HTTP server: /echo (the request as JSON), /status/N, /slow?seconds,
    /big?bytes, /headers (repeated fields)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def send(self, status, body, ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def answer(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        path, _, query = self.path.partition("?")
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if path == "/echo":
            out = json.dumps({"method": self.command, "path": self.path, "body": body.decode("latin-1"),
                              "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send(200, out, "application/json", [("X-Upstream", "yes")])
        elif path.startswith("/status/"):
            code = int(path[8:])
            self.send(code, b"status %d" % code)
        elif path == "/slow":
            time.sleep(float(query or "1"))
            try:
                self.send(200, b"slow done")
            except OSError:
                pass
        elif path == "/big":
            self.send(200, b"x" * int(query))
        elif path == "/headers":
            self.send(200, b"h", extra=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Mixed-Case", "Yes")])
        else:
            self.send(404, b"no such path")


class UpstreamServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client moonbar canceled (timeout, shutdown) is no error of the test


@pytest.fixture
def upstream():
    srv = UpstreamServer(("127.0.0.1", 0), Upstream)
    srv.seen = []
    srv.base = "http://127.0.0.1:%d" % srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


FETCH = """
    -- POST /fetch with the request table as JSON: the answer, or the error, as JSON
    moonbar.http.route("POST", "/fetch", function(req)
      local spec = moonbar.json.decode(req.body)
      local t0 = moonbar.now()
      local ok, res = pcall(moonbar.http.request, spec)
      local took = moonbar.now() - t0
      if not ok then
        if not moonbar.is_error(res) then return { body = { ok = false, lua_error = tostring(res) } } end
        return { body = { ok = false, uri = res.uri, message = res.message, kwargs = res.kwargs, took = took } }
      end
      return { body = { ok = true, status = res.status, headers = res.headers, body = res.body, took = took } }
    end)
    moonbar.http.route("GET", "/ping", function() return "pong" end)
    -- the main chunk is no coroutine: moonbar.http.request raises
    local ok, err = pcall(moonbar.http.request, { url = "http://127.0.0.1:9/" })
    local at_load = tostring(err)
    moonbar.http.route("GET", "/at_load", function() return at_load end)
    moonbar.http.route("GET", "/in_own_coroutine", function()
      local co = coroutine.wrap(function() return pcall(moonbar.http.request, { url = "http://127.0.0.1:9/" }) end)
      local ok2, err2 = co()
      return tostring(err2)
    end)
    -- a procedure and a timer may use it too
    moonbar.register("com.lua.get", function(args)
      local res = moonbar.http.request{ url = args[1] }
      return res.status, res.body
    end)
    moonbar.register("com.lua.get_later", function(args)
      moonbar.timer(0, function()
        local res = moonbar.http.request{ url = args[1] }
        moonbar.state.timer_got = res.body
      end)
    end)
    moonbar.register("com.lua.timer_got", function() return moonbar.state.timer_got end)
"""


def fetch_via(r, spec, timeout=10):
    status, out = fetch_json(r, "POST", "/fetch", body=json.dumps(spec).encode(), timeout=timeout)
    assert status == 200
    return out


@pytest.fixture
def fetcher(router_factory, upstream):
    return ml.lua_router(router_factory, apps={"fetch.lua": FETCH}, lua={"callback_timeout": 0.05})


def test_request_returns_status_headers_and_body(fetcher, upstream):
    out = fetch_via(fetcher, {"url": upstream.base + "/echo?x=1", "headers": {"X-Custom": "abc", "X-N": 5}})
    assert out["ok"] and out["status"] == 200
    assert out["headers"]["content-type"] == "application/json" and out["headers"]["x-upstream"] == "yes"
    assert all(k == k.lower() for k in out["headers"])
    seen = json.loads(out["body"])
    assert seen["method"] == "GET" and seen["path"] == "/echo?x=1" and seen["body"] == ""
    assert seen["headers"]["x-custom"] == "abc" and seen["headers"]["x-n"] == "5"


def test_request_sends_a_body_with_post_by_default_and_a_table_as_json(fetcher, upstream):
    out = fetch_via(fetcher, {"url": upstream.base + "/echo", "body": "raw bytes",
                              "headers": {"Content-Type": "text/x-raw"}})
    seen = json.loads(out["body"])
    assert seen["method"] == "POST" and seen["body"] == "raw bytes"
    assert seen["headers"]["content-type"] == "text/x-raw"
    out = fetch_via(fetcher, {"url": upstream.base + "/echo", "method": "put", "body": {"a": [1, 2]}})
    seen = json.loads(out["body"])
    assert seen["method"] == "PUT" and json.loads(seen["body"]) == {"a": [1, 2]}
    assert seen["headers"]["content-type"] == "application/json"
    out = fetch_via(fetcher, {"url": upstream.base + "/echo", "method": "DELETE"})
    assert json.loads(out["body"])["method"] == "DELETE"


@pytest.mark.parametrize("code", [201, 204, 301, 404, 500, 503])
def test_request_status_codes_are_answers_not_errors(fetcher, upstream, code):
    out = fetch_via(fetcher, {"url": upstream.base + "/status/%d" % code})
    assert out["ok"] and out["status"] == code
    assert out["body"] == ("" if code == 204 else "status %d" % code)


def test_request_repeated_response_headers_are_joined(fetcher, upstream):
    out = fetch_via(fetcher, {"url": upstream.base + "/headers"})
    assert out["headers"]["set-cookie"] == "a=1, b=2" and out["headers"]["x-mixed-case"] == "Yes"


def test_request_timeout_raises_and_never_blocks_the_router(fetcher, upstream):
    bg = Background(fetcher, "POST", "/fetch", body=json.dumps({"url": upstream.base + "/slow?2",
                                                                 "timeout": 400}).encode())
    time.sleep(0.1)
    t0 = time.monotonic()
    assert fetch(fetcher, "GET", "/ping")[2] == b"pong"        # the loop is free meanwhile
    assert time.monotonic() - t0 < T(0.3)
    status, _, data = bg.result()
    out = json.loads(data)
    assert out["ok"] is False and out["uri"] == "moonbar.error.http.timeout", out
    assert out["message"].startswith("moonbar.http.request GET %s/slow?2 timed out: " % upstream.base)
    assert out["kwargs"] == {"url": upstream.base + "/slow?2"}
    assert 350 <= out["took"] < 1900


def test_waiting_for_an_answer_does_not_count_against_the_budget(fetcher, upstream):
    out = fetch_via(fetcher, {"url": upstream.base + "/slow?0.3"})    # budget 50 ms
    assert out["ok"] and out["body"] == "slow done" and out["took"] >= 250


def test_request_max_bytes(fetcher, upstream):
    out = fetch_via(fetcher, {"url": upstream.base + "/big?1000", "max_bytes": 1000})
    assert out["ok"] and len(out["body"]) == 1000
    out = fetch_via(fetcher, {"url": upstream.base + "/big?1001", "max_bytes": 1000})
    assert out["ok"] is False and out["uri"] == "moonbar.error.http.too_large", out
    # the default: 1 MiB
    assert fetch_via(fetcher, {"url": upstream.base + "/big?%d" % (1 << 20)})["ok"]
    assert fetch_via(fetcher, {"url": upstream.base + "/big?%d" % ((1 << 20) + 1)})["uri"] == \
        "moonbar.error.http.too_large"


def test_request_to_a_closed_port_fails(fetcher):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = fetch_via(fetcher, {"url": "http://127.0.0.1:%d/x" % port})
    assert out["ok"] is False and out["uri"] == "moonbar.error.http.failed", out
    assert out["message"].startswith("moonbar.http.request GET http://127.0.0.1:%d/x failed: " % port)


@pytest.mark.parametrize("spec,why", [
    ({}, "moonbar.http.request: url must be a string, got nil"),
    ({"url": "ftp://127.0.0.1/"}, "moonbar.http.request: url must start with http:// or https://"),
    ({"url": "http://127.0.0.1/a b"}, "moonbar.http.request: url has a space or control character"),
    ({"url": "http://127.0.0.1/", "tiemout": 1}, "moonbar.http.request: unknown key tiemout"),
    ({"url": "http://127.0.0.1/", "timeout": 0},
     "moonbar.http.request: timeout must be a number from 1 to 86400000, got 0"),
    ({"url": "http://127.0.0.1/", "timeout": 1e300}, "moonbar.http.request: timeout must be a number from 1 to"),
    ({"url": "http://127.0.0.1/", "max_bytes": "x"},
     "moonbar.http.request: max_bytes must be a number from 1 to 1099511627776, got string"),
    ({"url": "http://127.0.0.1/", "method": "GE T"}, "moonbar.http.request: 'GE T' is not a method name"),
    ({"url": "http://127.0.0.1/", "headers": {"Content-Length": "3"}},
     "moonbar.http.request: headers: Content-Length is set by moonbar"),
    ({"url": "http://127.0.0.1/", "headers": {"X-A": "a\r\nb"}}, "moonbar.http.request: headers: X-A has a CR"),
    ({"url": "http://127.0.0.1/", "body": True}, "moonbar.http.request: body must be a string or a table"),
])
def test_request_arguments_are_checked(fetcher, spec, why):
    out = fetch_via(fetcher, spec)
    assert out["ok"] is False and why in out["lua_error"], out


def test_request_outside_a_task_raises(fetcher):
    msg = (b"moonbar.http.request works in procedures, subscribers, timers and http handlers (not while the "
           b"script loads, in an authorizer or policy, nor in a coroutine the script made)")
    assert fetch(fetcher, "GET", "/at_load")[2].endswith(msg)
    assert fetch(fetcher, "GET", "/in_own_coroutine")[2].endswith(msg)


def test_request_from_a_procedure_and_a_timer(fetcher, upstream, clients):
    c = clients(fetcher)
    assert ml.parts(c.call("com.lua.get", upstream.base + "/status/202")) == ([202, "status 202"], {})
    c.call("com.lua.get_later", upstream.base + "/status/203")
    assert ml.wait_until(lambda: c.call("com.lua.timer_got"), what="the timer's answer") == "status 203"


RELOAD_V1 = """
    moonbar.http.route("GET", "/slow_fetch", function(req)
      local res = moonbar.http.request{ url = req.query.url }
      return "v1 got " .. res.body
    end)
    moonbar.http.route("GET", "/version", function() return "v1" end)
"""


def test_a_reload_lets_requests_in_flight_finish_in_their_version(router_factory, upstream):
    r = ml.lua_router(router_factory, apps={"rl.lua": RELOAD_V1 + FETCH})
    bg = Background(r, "GET", "/slow_fetch?url=" + upstream.base + "/slow?0.8")
    ml.wait_until(lambda: any(p == "/slow?0.8" for _, p, _, _ in upstream.seen), what="the upstream request")
    mark = r.log_mark()
    ml.write_app(r, "rl.lua", RELOAD_V1.replace("v1", "v2") + FETCH)
    r.wait_for_log(r"script rl\.lua: version 2 loaded", since=mark)
    assert fetch(r, "GET", "/version")[2] == b"v2"
    assert bg.result()[0::2] == (200, b"v1 got slow done")


def test_shutdown_with_requests_in_flight_cancels_them(router_factory, upstream, clients):
    r = ml.lua_router(router_factory, apps={"fetch.lua": FETCH})
    c = clients(r)
    bg = Background(r, "POST", "/fetch", body=json.dumps({"url": upstream.base + "/slow?3"}).encode())
    c.call_async("com.lua.get", upstream.base + "/slow?3")
    ml.wait_until(lambda: sum(p == "/slow?3" for _, p, _, _ in upstream.seen) == 2, what="both upstream requests")
    t0 = time.monotonic()
    r.signal()
    status, _, data = bg.result()
    assert (status, data) == (503, b"the script stopped: moonbar is shutting down\n")
    assert r.wait(T(10)) == 0
    assert time.monotonic() - t0 < T(2.5)   # not waiting for the upstream's 3 s
