"""Static files on the WebSocket port and WebSocket upgrade rules (docs/behaviour.md)."""
import pytest

import mb_raw as raw
from mb_router import SECRET, WEB_FILES

TYPES = {
    "index.html": "text/html", "app.js": "application/javascript",
    "mod.mjs": "application/javascript", "style.css": "text/css",
    "data.json": "application/json", "pic.png": "image/png", "pic.jpg": "image/jpeg",
    "pic.svg": "image/svg+xml", "favicon.ico": "image/x-icon", "notes.txt": "text/plain",
    "code.wasm": "application/wasm", "blob.bin": "application/octet-stream",
    "sub/page.html": "text/html",
}


def mime(headers):
    return headers.get("content-type", "").split(";")[0].strip().lower()


def test_root_serves_index_html_as_text_html(router):
    status, headers, body = raw.http_get(router.ws_port, "/")
    assert status == 200, (status, body[:200])
    assert mime(headers) == "text/html"
    assert body == WEB_FILES["index.html"]


@pytest.mark.parametrize("name", list(TYPES))
def test_file_is_served_with_its_content_type(router, name):
    status, headers, body = raw.http_get(router.ws_port, "/" + name)
    assert status == 200, (status, body[:200])
    assert mime(headers) == TYPES[name], headers
    assert body == WEB_FILES[name]


@pytest.mark.parametrize("path", ["/missing.html", "/sub/missing.js", "/nope/", "/index.html.bak"])
def test_missing_file_is_404(router, path):
    status, _, body = raw.http_get(router.ws_port, path)
    assert status == 404, (status, body[:200])


@pytest.mark.parametrize("path", ["/../secret.txt", "/sub/../../secret.txt", "/../../../../../../etc/passwd",
                                  "/sub/../../../../../../etc/passwd"])
def test_dot_dot_path_is_403_or_404_and_never_leaves_the_root(router, path):
    status, _, body = raw.http_get(router.ws_port, path)
    assert SECRET.strip() not in body and b"root:x:0:0" not in body, "served a file outside the root"
    assert status in (403, 404), (status, body[:200])


@pytest.mark.parametrize("path", ["/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/..%2fsecret.txt",
                                  "/sub/%2e%2e/%2e%2e/secret.txt", "/..\\secret.txt",
                                  "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd",
                                  "/%252e%252e/secret.txt", "/.%2e/secret.txt"])
def test_encoded_traversal_never_serves_a_file_outside_the_root(router, path):
    status, _, body = raw.http_get(router.ws_port, path)
    assert SECRET.strip() not in body and b"root:x:0:0" not in body, \
        "%s served a file outside the web root (HTTP %s)" % (path, status)
    assert status != 200 or body in WEB_FILES.values(), (status, body[:200])


def test_dot_dot_that_stays_inside_the_root_never_leaves_it(router):
    status, _, body = raw.http_get(router.ws_port, "/sub/../index.html")
    assert status in (200, 403, 404)
    if status == 200:
        assert body == WEB_FILES["index.html"]


def test_websocket_upgrade_on_ws_path_is_accepted(router):
    with raw.RawWebSocket(router.ws_port, "/ws") as conn:
        assert conn.protocol == "wamp.2.json"
        raw.join(conn)


@pytest.mark.parametrize("path", ["/", "/other", "/ws/extra", "/wsx", "/index.html"])
def test_websocket_upgrade_on_another_path_is_refused(router, witness, path):
    with pytest.raises(raw.HandshakeRefused) as e:
        raw.RawWebSocket(router.ws_port, path)
    assert e.value.status is not None, "connection closed without an HTTP response (expected 4xx)"
    assert 400 <= e.value.status < 500, "expected HTTP 4xx, got %s" % e.value.status
    witness.check()


@pytest.mark.parametrize("protocol", [None, "mqtt", "wamp.2.json.batched,wamp.2.ubjson"],
                         ids=["none", "mqtt", "batched_ubjson"])
def test_websocket_upgrade_without_a_protocol_moonbar_speaks_is_refused(router, witness, protocol):
    with pytest.raises(raw.HandshakeRefused) as e:
        raw.RawWebSocket(router.ws_port, "/ws", protocol=protocol)
    assert e.value.status is not None, "connection closed without an HTTP response (expected 4xx)"
    assert 400 <= e.value.status < 500, "expected HTTP 4xx, got %s" % e.value.status
    witness.check()


@pytest.mark.parametrize("offer,picked", [
    ("wamp.2.json,wamp.2.msgpack", "wamp.2.json"),
    ("wamp.2.msgpack,wamp.2.json", "wamp.2.msgpack"),
    ("wamp.2.cbor,wamp.2.msgpack", "wamp.2.cbor"),
    ("wamp.2.cbor.batched, wamp.2.cbor, wamp.2.msgpack.batched, wamp.2.msgpack, "
     "wamp.2.ubjson.batched, wamp.2.ubjson, wamp.2.json.batched, wamp.2.json", "wamp.2.cbor"),
    ("wamp.2.ubjson, wamp.2.json.batched, wamp.2.msgpack.batched, wamp.2.json", "wamp.2.json"),
    (",".join("x-proto-%02d" % i for i in range(20)) + ",wamp.2.json", "wamp.2.json"),
], ids=["json_first", "msgpack_first", "cbor_first", "spaced_long_list", "json_after_unspoken",
        "very_long_list"])
def test_websocket_upgrade_picks_the_first_offered_protocol_moonbar_speaks(router, offer, picked):
    with raw.RawWebSocket(router.ws_port, "/ws", protocol=offer) as conn:
        assert conn.protocol == picked
        if picked == "wamp.2.json":
            raw.join(conn)


def test_http_and_websocket_share_the_port_concurrently(router):
    with raw.RawWebSocket(router.ws_port) as conn:
        raw.join(conn)
        status, _, body = raw.http_get(router.ws_port, "/")
        assert status == 200 and body == WEB_FILES["index.html"]
        raw.subscribe(conn, "com.test.static_and_ws")
