"""RawSocket over TLS (listeners[i].tls): certificates made here with the openssl command (a CA,
a server certificate for 127.0.0.1/localhost, client certificates), sessions with raw bytes over
python's ssl module and with autobahn-python over Twisted TLS, bad certificate files stopping
moonbar at start, plain clients on a TLS port, late handshakes, client certificates."""
import os
import socket
import ssl
import subprocess
import time
import warnings

import pytest

import mb_raw as raw
import mb_router
import mb_twisted
from mb_router import DELETE, T


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Files: ca.pem/ca.key, server.pem/server.key (127.0.0.1, localhost), client.pem/client.key
    (signed by the CA), rogue.pem/rogue.key (self-signed), other.key (matches nothing)."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=moonbar test CA", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn, ext in (("server", "localhost", ["-extfile", "san.ext"]), ("client", "client1", [])):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", *ext, cwd=d)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2", "-subj", "/CN=rogue", cwd=d)
    openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "other.key", cwd=d)
    (d / "notpem.pem").write_text("this is not a certificate\n")
    return d


def tls_config(pki, ca=False, **extra):
    tls = {"cert": str(pki / "server.pem"), "key": str(pki / "server.key")}
    if ca:
        tls["ca"] = str(pki / "ca.pem")
    lc = {"type": "rawsocket", "host": "127.0.0.1", "port": 0, "tls": tls}
    lc.update(extra)
    return {"websocket": DELETE, "rawsocket": DELETE, "listeners": [lc]}


def client_context(pki, cert=None):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / (cert + ".pem")), str(pki / (cert + ".key")))
    return ctx


def start(router_factory, pki, **kw):
    r = router_factory(tls_config(pki, **kw))
    [(kind, addr, port)] = r.listeners(1)
    assert kind == "rawsocket"
    line = r.wait_for_log(r"listening rawsocket on 127\.0\.0\.1:%d .*\(tls" % port)
    assert line
    return r, port


def tls_conn(pki, port, cert=None, **kw):
    return raw.RawSocketConn(port, tls=client_context(pki, cert), host="127.0.0.1", **kw)


def session_transport(conn):
    sid = raw.join(conn)[1]
    res = raw.request(conn, [raw.CALL, None, {}, "wamp.session.get", [sid]])
    assert res[0] == raw.RESULT, res
    return res[3][0]["transport"]


def test_raw_session_over_tls(router_factory, pki):
    r, port = start(router_factory, pki)
    with tls_conn(pki, port) as conn:
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
        t = session_transport(conn)
        assert t["tls"] is True and t["unix"] is False and t["type"] == "rawsocket"
        sub = raw.subscribe(conn, "com.test.tls")
        big = "x" * 100000  # several TLS records each way
        conn.send_json([raw.PUBLISH, conn.next_id(), {"exclude_me": False}, "com.test.tls", [big]])
        ev = raw.expect(conn, raw.EVENT)
        assert ev[1] == sub and ev[4] == [big]
    r.check()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_1_2_and_1_3_work_and_1_1_is_refused(router_factory, pki, version):
    r, port = start(router_factory, pki)
    ctx = client_context(pki)
    v = getattr(ssl.TLSVersion, version)
    ctx.minimum_version = ctx.maximum_version = v
    with raw.RawSocketConn(port, tls=ctx, host="127.0.0.1") as conn:
        raw.join(conn)
    old = client_context(pki)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        old.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises((ssl.SSLError, OSError)):
        raw.RawSocketConn(port, tls=old, host="127.0.0.1").close()
    r.check()


def test_autobahn_twisted_client_over_tls(router_factory, pki):
    from twisted.internet import ssl as tssl
    from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
    r, port = start(router_factory, pki)
    authority = tssl.Certificate.loadPEM((pki / "ca.pem").read_bytes())
    options = tssl.optionsForClientTLS("localhost", trustRoot=authority)

    def endpoint(reactor):
        return wrapClientTLS(options, TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=T(5)))

    c = mb_twisted.connect(r, "rawsocket", endpoint=endpoint)
    try:
        reg = c.register("com.test.tls.echo", lambda x: x)
        assert c.call("com.test.tls.echo", "hello over tls") == "hello over tls"
        c.unregister(reg)
    finally:
        c.close()
    r.check()


@pytest.mark.parametrize("what", ["missing_cert", "missing_key", "not_pem", "key_not_matching", "missing_ca"])
def test_bad_certificate_files_stop_moonbar_at_start_naming_the_file(pki, tmp_path, what):
    tls = {"cert": str(pki / "server.pem"), "key": str(pki / "server.key")}
    if what == "missing_cert":
        tls["cert"] = str(pki / "nope.pem")
        named, why = tls["cert"], "No such file"
    elif what == "missing_key":
        tls["key"] = str(pki / "nope.key")
        named, why = tls["key"], "No such file"
    elif what == "not_pem":
        tls["cert"] = str(pki / "notpem.pem")
        named, why = tls["cert"], "no start line"
    elif what == "key_not_matching":
        tls["key"] = str(pki / "other.key")
        named, why = tls["key"], "does not match"
    else:
        tls["ca"] = str(pki / "nope-ca.pem")
        named, why = tls["ca"], "No such file"
    cfg = {"websocket": DELETE, "rawsocket": DELETE,
           "listeners": [{"type": "rawsocket", "port": 0, "tls": tls}]}
    once = mb_router.Router(tmp_path / "once", cfg)
    res = mb_router.run_cli("--config", str(once.config_path), cwd=str(once.workdir / "run"))
    assert res.returncode != 0, res
    assert named in res.stderr and why in res.stderr, res.stderr
    assert "listening" not in res.stderr
    assert not mb_router.bad_output(res.stderr + res.stdout), res.stderr


@pytest.mark.parametrize("clear", [b"\x7f\xf1\x00\x00", b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello"],
                         ids=["rawsocket_handshake", "http", "garbage_record"])
def test_a_plain_client_on_a_tls_port_is_closed_alone(router_factory, pki, clear):
    r, port = start(router_factory, pki)
    with tls_conn(pki, port) as bystander:
        raw.join(bystander)
        mark = r.log_mark()
        with raw.RawSocketConn(port, handshake=None) as plain:
            plain.send_raw(clear)
            data, closed = plain.read_until_closed()
            assert not data.startswith(b"\x7f"), data
        r.wait_for_log(r"TLS handshake with 127\.0\.0\.1:\d+ failed", since=mark)
        raw.subscribe(bystander, "com.test.bystander")  # still served
    assert r.alive()
    r.check()


def test_an_aborted_tls_handshake_closes_only_that_connection(router_factory, pki):
    r, port = start(router_factory, pki)
    with tls_conn(pki, port) as bystander:
        raw.join(bystander)
        mark = r.log_mark()
        # a ClientHello cut in the middle, then the connection closed
        hello_bytes = _hello_from_bio()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(hello_bytes[: len(hello_bytes) // 2])
        time.sleep(0.1)
        s.close()
        r.wait_for_log(r"went away during the TLS handshake", since=mark)
        raw.subscribe(bystander, "com.test.bystander")
    r.check()


def _hello_from_bio():
    """The first flight (ClientHello) of a real TLS client, through memory BIOs."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def test_a_client_that_never_finishes_the_handshake_is_cut_after_handshake_timeout(router_factory, pki):
    r, port = start(router_factory, pki, handshake_timeout=1)
    t0 = time.monotonic()
    silent = socket.create_connection(("127.0.0.1", port))
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(_hello_from_bio()[:10])
    try:
        for s in (silent, half):
            s.settimeout(T(4))
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        took = time.monotonic() - t0
        assert 0.9 <= took <= T(1 + 1.5), took
        assert "no handshake within 1.0 s" in r.log
        # TLS done but no RawSocket handshake: the same deadline
        with tls_conn(pki, port, handshake=None) as conn:
            closed = conn.wait_closed(timeout=3)
            assert closed.how in ("eof", "reset")
    finally:
        silent.close()
        half.close()
    r.check()


def test_client_certificate_required_when_ca_is_set(router_factory, pki):
    r, port = start(router_factory, pki, ca=True)
    assert "client certificates required" in r.log
    with tls_conn(pki, port, cert="client") as conn:
        raw.join(conn)
        with pytest.raises((ssl.SSLError, OSError, raw.Closed, AssertionError)):
            tls_conn(pki, port).close()  # no certificate
        with pytest.raises((ssl.SSLError, OSError, raw.Closed, AssertionError)):
            tls_conn(pki, port, cert="rogue").close()  # not signed by the CA
        raw.subscribe(conn, "com.test.after_refusals")
    r.wait_for_log(r"TLS handshake with 127\.0\.0\.1:\d+ failed: .*certificate")
    r.check()


def test_shutdown_with_tls_connections_open_is_clean(router_factory, pki):
    """SIGTERM while a joined TLS session, a TLS connection without a RawSocket handshake and a
    half-done TLS handshake are open: exit 0, nothing leaked (the valgrind and ASan runs)."""
    r, port = start(router_factory, pki)
    joined = tls_conn(pki, port)
    raw.join(joined)
    bare = tls_conn(pki, port, handshake=None)
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(_hello_from_bio()[:20])
    try:
        r.check()
    finally:
        for c in (joined, bare):
            c.close()
        half.close()
