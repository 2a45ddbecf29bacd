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
