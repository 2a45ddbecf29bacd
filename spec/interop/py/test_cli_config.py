"""Command line and config file handling (docs/behaviour.md, Running)."""
import re

from mb_router import lua_value, run_cli


def test_help_prints_usage_to_stdout_and_exits_0():
    p = run_cli("--help")
    assert p.returncode == 0, p
    assert "--config" in p.stdout, "usage on stdout should mention --config: %r" % p.stdout


def test_version_prints_name_and_semver_and_exits_0():
    p = run_cli("--version")
    assert p.returncode == 0, p
    assert re.match(r"^moonbar \d+\.\d+\.\d+\s*$", p.stdout), repr(p.stdout)


def _config_error(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    p = run_cli("--config", str(f))
    assert p.returncode == 2, "expected exit 2 for a bad config, got %s\nstderr:\n%s" \
        % (p.returncode, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if "moonbar: config " in ln]
    assert lines, "stderr should have a 'moonbar: config FILE:...' line:\n" + p.stderr
    return f, lines, p


def test_config_with_lua_syntax_error_exits_2_naming_file_and_line(tmp_path):
    text = ('return {\n'
            '  log_level = "info",\n'
            '  websocket = { port = 0 },\n'
            '  this is not lua\n'
            '}\n')
    f, lines, p = _config_error(tmp_path, "bad_syntax.lua", text)
    assert any(re.search(r"moonbar: config \S*bad_syntax\.lua:4:", ln) for ln in lines), \
        "expected 'moonbar: config .../bad_syntax.lua:4: ...' in:\n" + p.stderr


def test_config_with_string_port_exits_2_naming_the_key(tmp_path):
    text = "return " + lua_value({"websocket": {"port": "x"}}) + "\n"
    f, lines, p = _config_error(tmp_path, "bad_port.lua", text)
    assert any("bad_port.lua" in ln and "port" in ln for ln in lines), \
        "message should name the file and the port key:\n" + p.stderr


def test_config_with_unknown_key_exits_2_naming_the_key(tmp_path):
    text = "return " + lua_value({"websocket": {"port": 0}, "bogus_key": 1}) + "\n"
    f, lines, p = _config_error(tmp_path, "bad_key.lua", text)
    assert any("bogus_key" in ln for ln in lines), p.stderr


def test_config_that_does_not_return_a_table_exits_2(tmp_path):
    _config_error(tmp_path, "not_table.lua", "return 42\n")


def test_config_with_runtime_error_exits_2_naming_file_and_line(tmp_path):
    text = 'local t = nil\nreturn { log_level = t.x }\n'
    f, lines, p = _config_error(tmp_path, "runtime_err.lua", text)
    assert any(re.search(r"runtime_err\.lua:2:", ln) for ln in lines), p.stderr


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug|trace)\s+\S")


def test_every_log_line_has_timestamp_and_level_and_session_lines_carry_the_id(router_factory):
    import mb_raw as raw
    r = router_factory()
    with raw.RawSocketConn(r.rawsocket_port) as conn:
        sid = raw.join(conn)[1]
        conn.send_json([raw.GOODBYE, {}, "wamp.close.close_realm"])
        raw.expect(conn, raw.GOODBYE)
    r.wait_for_log(r"session %d\b" % sid)
    r.check()
    lines = [ln for ln in r.log.splitlines() if ln.strip() and not ln.startswith("==")]
    bad = [ln for ln in lines if not LOG_LINE.match(ln)]
    assert not bad, "log lines not in the 'TIMESTAMP level  text' format:\n" + "\n".join(bad[:10])


def test_rawsocket_false_disables_the_rawsocket_listener(router_factory):
    import mb_raw as raw
    r = router_factory({"rawsocket": False})
    assert r.rawsocket_port is None and "listening rawsocket" not in r.log
    with raw.RawWebSocket(r.ws_port) as conn:
        raw.join(conn)


def test_websocket_false_disables_the_websocket_listener(router_factory):
    import mb_raw as raw
    r = router_factory({"websocket": False})
    assert r.ws_port is None and "listening websocket" not in r.log
    with raw.RawSocketConn(r.rawsocket_port) as conn:
        raw.join(conn)


def test_web_root_false_serves_no_files_but_websocket_works(router_factory):
    import mb_raw as raw
    r = router_factory({"websocket": {"web_root": False}})
    status, _, body = raw.http_get(r.ws_port, "/index.html")
    assert status == 404 and b"moonbar-test-index" not in body, (status, body[:200])
    with raw.RawWebSocket(r.ws_port) as conn:
        raw.join(conn)


def test_relative_web_root_is_resolved_against_the_config_folder(router_factory):
    import mb_raw as raw
    from mb_router import WEB_FILES
    r = router_factory()  # web_root = "www", started with its cwd elsewhere
    status, _, body = raw.http_get(r.ws_port, "/")
    assert status == 200 and body == WEB_FILES["index.html"]


def test_two_realms_are_separate(router_factory):
    import mb_raw as raw
    r = router_factory({"realms": [{"name": "realm1"}, {"name": "realm2"}]})
    with raw.RawSocketConn(r.rawsocket_port) as a, raw.RawWebSocket(r.ws_port) as b:
        assert raw.join(a, "realm1")[2]["realm"] == "realm1"
        assert raw.join(b, "realm2")[2]["realm"] == "realm2"
        raw.register(a, "com.test.same_name")
        raw.register(b, "com.test.same_name")  # no procedure_already_exists across realms
        raw.subscribe(b, "com.test.topic")
        a.send_json([raw.PUBLISH, 1, {"acknowledge": True}, "com.test.topic", ["realm1 only"]])
        raw.expect(a, raw.PUBLISHED)
        b.send_json([raw.PUBLISH, 2, {"acknowledge": True, "exclude_me": False}, "com.test.topic", ["mine"]])
        msgs = [b.recv_json(), b.recv_json()]
        events = [m for m in msgs if m[0] == raw.EVENT]
        assert [e[4] for e in events] == [["mine"]], msgs
