"""Start and stop the real moonbar binary for the interop tests.

Owns: the router process, its temporary config file and web root, and the
stderr/stdout collector threads. Uses nothing but the standard library.

Environment:
  MOONBAR_BIN            router binary (default <repo>/build/moonbar)
  MOONBAR_WRAPPER        words put in front of the binary (e.g. valgrind ...)
  MOONBAR_TIMEOUT_SCALE  multiplies every timeout of the suite (default 1)
"""
import contextlib
import os
import pathlib
import re
import shlex
import signal
import subprocess
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[3]


def _scale():
    try:
        return float(os.environ.get("MOONBAR_TIMEOUT_SCALE") or "1")
    except ValueError:
        return 1.0


SCALE = _scale()


def T(seconds):
    """A timeout of `seconds`, scaled by MOONBAR_TIMEOUT_SCALE."""
    return seconds * SCALE


def T_quiet(seconds):
    """How long to wait for something that must NOT come: scaled like T, but at most 3×
    `seconds`. Under valgrind (scale 20) a stray message later than that may slip past; the
    native and ASan runs (scale 1 and 3) wait the full time and catch it, and the waits of
    every "nothing more" check would otherwise add minutes to the valgrind run."""
    return min(T(seconds), 3 * seconds)


def moonbar_bin():
    return os.environ.get("MOONBAR_BIN") or str(REPO / "build" / "moonbar")


def wrapper_words():
    return shlex.split(os.environ.get("MOONBAR_WRAPPER", ""))


def command(*args):
    """The full argv to run moonbar with `args` (wrapper words included)."""
    return wrapper_words() + [moonbar_bin(), *args]


# Output that fails any router run, whatever the test did.
BAD_OUTPUT = [
    re.compile(r"AddressSanitizer"),
    re.compile(r"LeakSanitizer"),
    re.compile(r"runtime error:"),
    re.compile(r"ERROR SUMMARY: [1-9]"),
    re.compile(r"definitely lost: [1-9]"),
]


def bad_output(text):
    """The lines of `text` that show a sanitizer or valgrind finding."""
    found = []
    for line in text.splitlines():
        if any(p.search(line) for p in BAD_OUTPUT):
            found.append(line)
    return found


# ---------------------------------------------------------------- config

DELETE = object()  # in overrides: remove that key from the default config

_LUA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def lua_value(v, indent=0):
    """Python value -> Lua source. dict -> table with keys, list -> array."""
    pad = "  " * (indent + 1)
    end = "  " * indent
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "nil"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        if not v:
            return "{}"
        return "{\n" + "".join(pad + lua_value(x, indent + 1) + ",\n" for x in v) + end + "}"
    if isinstance(v, dict):
        if not v:
            return "{}"
        parts = []
        for k, x in v.items():
            key = k if _LUA_NAME.match(k) else "[" + lua_value(k) + "]"
            parts.append(pad + key + " = " + lua_value(x, indent + 1) + ",\n")
        return "{\n" + "".join(parts) + end + "}"
    raise TypeError("cannot write %r as Lua" % (v,))


def merge(base, overrides):
    """Deep-merge `overrides` into a copy of `base` (DELETE removes a key)."""
    out = dict(base)
    for k, v in (overrides or {}).items():
        if v is DELETE:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def default_config():
    return {
        "log_level": "info",
        "websocket": {"host": "127.0.0.1", "port": 0, "path": "/ws", "web_root": "www"},
        "rawsocket": {"host": "127.0.0.1", "port": 0},
        "realms": [{"name": "realm1"}],
    }


# Files of the temporary web root: name -> bytes.
WEB_FILES = {
    "index.html": b"<!doctype html><title>moonbar test</title><p>moonbar-test-index</p>\n",
    "app.js": b"console.log('moonbar-test-js');\n",
    "mod.mjs": b"export const x = 'moonbar-test-mjs';\n",
    "style.css": b"body { color: #123456; }\n",
    "data.json": b'{"moonbar": "test-json"}\n',
    "pic.png": b"\x89PNG\r\n\x1a\nmoonbar-test-png",
    "pic.jpg": b"\xff\xd8\xffmoonbar-test-jpg",
    "pic.svg": b'<svg xmlns="http://www.w3.org/2000/svg"></svg>\n',
    "favicon.ico": b"\x00\x00\x01\x00moonbar-test-ico",
    "notes.txt": b"moonbar-test-txt\n",
    "code.wasm": b"\x00asm\x01\x00\x00\x00",
    "blob.bin": b"\x00\x01\x02moonbar-test-bin",
    "sub/page.html": b"<p>moonbar-test-sub-page</p>\n",
}
# Placed next to (outside) the web root; must never be served.
SECRET = b"MOONBAR-TOP-SECRET-OUTSIDE-WEB-ROOT\n"


def make_workdir(path):
    """Create www/ (with WEB_FILES) and secret.txt under `path`."""
    path = pathlib.Path(path)
    www = path / "www"
    for name, data in WEB_FILES.items():
        f = www / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    (path / "secret.txt").write_bytes(SECRET)
    (path / "run").mkdir(exist_ok=True)
    return path


# ---------------------------------------------------------------- process

# "listening websocket on 127.0.0.1:PORT path /ws ...", "listening rawsocket on unix:/path",
# either with " (tls" further on for a TLS listener
_LISTEN = re.compile(r"listening (websocket|rawsocket) on "
                     r"(?:unix:(.+?)(?=\s+\(tls|\s+path /|\s*$)"
                     r"|(\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:.]+\]):(\d+))(.*)")


class Listener:
    """One listener as the router logged it: kind ("websocket" or "rawsocket"), host and port
    (TCP) or unix (the socket's path), tls (bool), client_certs (TLS that requires client
    certificates)."""

    def __init__(self, kind, host=None, port=None, unix=None, tls=False, client_certs=False):
        self.kind, self.host, self.port, self.unix, self.tls = kind, host, port, unix, tls
        self.client_certs = client_certs

    def __repr__(self):
        where = "unix:%s" % self.unix if self.unix else "%s:%s" % (self.host, self.port)
        return "<%s %s%s%s>" % (self.kind, where, " tls" if self.tls else "",
                                 " client-certs" if self.client_certs else "")


def parse_listen_line(line):
    """The Listener a "listening ..." log line names, or None."""
    m = _LISTEN.search(line)
    if not m:
        return None
    kind, unix, host, port, rest = m.groups()
    tls = "(tls" in rest
    certs = tls and "client cert" in rest
    if unix:
        return Listener(kind, unix=unix, tls=tls, client_certs=certs)
    return Listener(kind, host=host.strip("[]"), port=int(port), tls=tls, client_certs=certs)


def expected_listeners(config):
    """How many listeners `config` opens: the older websocket / rawsocket keys (when tables),
    then every entry of listeners."""
    n = sum(1 for k in ("websocket", "rawsocket") if isinstance(config.get(k), dict))
    return n + len(config.get("listeners") or [])


class RouterError(AssertionError):
    pass


class Router:
    """One moonbar process started with a temporary config file.

    Attributes once started: listening (Listener, in log order), ws_port and rawsocket_port
    (the first plain TCP listener of each kind), url (ws://127.0.0.1:PORT/ws), http_base,
    config_path, workdir, proc.
    """

    def __init__(self, workdir, overrides=None, name="moonbar"):
        self.workdir = make_workdir(workdir)
        self.config = merge(default_config(), overrides)
        self.config_path = self.workdir / (name + ".lua")
        self.config_path.write_text("return " + lua_value(self.config) + "\n")
        self.proc = None
        self.ws_port = None
        self.rawsocket_port = None
        self.listening = []
        self._lines = []
        self._stdout = []
        self._cond = threading.Condition()
        self._threads = []
        self.returncode = None
        self.checked = False
        self._eof_count = 0

    # -- files next to the config (scripts and such)

    def write_file(self, relpath, data, atomic=False):
        """Write `data` (str or bytes) to workdir/relpath (folders made as needed).
        atomic=True: write a temporary file next to it and rename it over the old one;
        else truncate and write in place. Returns the path."""
        path = self.workdir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if atomic:
            tmp = path.with_name(".%s.tmp%d" % (path.name, os.getpid()))
            tmp.write_bytes(data)
            os.replace(tmp, path)
        else:
            with open(path, "r+b" if path.exists() else "wb") as f:
                f.truncate(0)
                f.write(data)
        return path

    # -- logs

    @property
    def log(self):
        """Everything the router wrote to stderr so far."""
        with self._cond:
            return "".join(self._lines)

    @property
    def stdout(self):
        with self._cond:
            return "".join(self._stdout)

    def log_mark(self):
        """A position in the log; pass to wait_for_log(since=...)."""
        with self._cond:
            return len(self._lines)

    def wait_for_log(self, pattern, timeout=5, since=0):
        """Wait until a stderr line from index `since` matches `pattern`; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + T(timeout)
        with self._cond:
            i = since
            while True:
                while i < len(self._lines):
                    m = rx.search(self._lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc is not None and self.proc.poll() is not None
                                 and self._eof_count == len(self._threads)):
                    raise RouterError("no log line matching %r within %.1fs; log:\n%s"
                                      % (pattern, T(timeout), "".join(self._lines)))
                self._cond.wait(min(left, 0.2))

    def _reader(self, stream, sink):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self._cond:
                sink.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof_count += 1
            self._cond.notify_all()

    # -- life cycle

    def start(self, timeout=10):
        cmd = command("--config", str(self.config_path))
        self._eof_count = 0
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=str(self.workdir / "run"))
        for stream, sink in ((self.proc.stderr, self._lines), (self.proc.stdout, self._stdout)):
            t = threading.Thread(target=self._reader, args=(stream, sink), daemon=True)
            t.start()
            self._threads.append(t)
        want = expected_listeners(self.config)
        deadline = time.monotonic() + T(timeout)
        found = []
        with self._cond:
            i = 0
            while len(found) < want:
                while i < len(self._lines):
                    lst = parse_listen_line(self._lines[i])
                    if lst:
                        found.append(lst)
                    i += 1
                if len(found) >= want:
                    break
                if self.proc.poll() is not None and self._eof_count == len(self._threads):
                    raise RouterError("moonbar exited with %s before listening; cmd %s; log:\n%s"
                                      % (self.proc.returncode, cmd, "".join(self._lines)))
                left = deadline - time.monotonic()
                if left <= 0:
                    self.proc.kill()
                    raise RouterError("moonbar did not log its %d listeners within %.1fs; log:\n%s"
                                      % (want, T(timeout), "".join(self._lines)))
                self._cond.wait(min(left, 0.2))
        self.listening = found  # as logged: of one kind, in config order
        self.ws_port = self.find_port("websocket")
        self.rawsocket_port = self.find_port("rawsocket")
        return self

    def find(self, kind, tls=False, unix=False, nth=0):
        """The nth listener of `kind` (TLS or not, Unix or TCP) in log order (the config's order
        among listeners of one kind), or None."""
        match = [lst for lst in self.listening
                 if lst.kind == kind and lst.tls == tls and bool(lst.unix) == unix]
        return match[nth] if nth < len(match) else None

    def find_port(self, kind, tls=False, nth=0):
        lst = self.find(kind, tls=tls, nth=nth)
        return lst.port if lst else None

    def listeners(self, n, timeout=10):
        """The first `n` "listening KIND on ADDRESS" lines of the log, waited for: a list of
        (kind, address, port or None), address "127.0.0.1:PORT" or "unix:/path"."""
        rx = re.compile(r"listening (websocket|rawsocket) on (\S+)")
        deadline = time.monotonic() + T(timeout)
        while True:
            found = rx.findall(self.log)
            if len(found) >= n:
                out = []
                for kind, addr in found[:n]:
                    port = None if addr.startswith("unix:") else int(addr.rsplit(":", 1)[1])
                    out.append((kind, addr, port))
                return out
            if time.monotonic() > deadline or not self.alive():
                raise RouterError("%d listening lines expected; log:\n%s" % (n, self.log))
            time.sleep(0.05)

    @property
    def url(self):
        return "ws://127.0.0.1:%d/ws" % self.ws_port

    @property
    def http_base(self):
        return "http://127.0.0.1:%d" % self.ws_port

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Wait for exit (unscaled `timeout`); returns the exit status or None."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(timeout=5)
        return self.returncode

    def stop(self, timeout=5):
        """SIGTERM (if running), wait, and return the exit status (None: had to kill)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(T(timeout)) is None:
                self.proc.kill()
                self.wait(10)
                return None
        return self.wait(T(timeout))

    def check(self, timeout=5):
        """Stop the router; raise RouterError unless it exited 0 with a clean stderr."""
        if self.checked:
            return
        self.checked = True
        rc = self.stop(timeout)
        problems = []
        if rc is None:
            problems.append("did not exit within %.1fs of SIGTERM (killed)" % T(timeout))
        elif rc != 0:
            problems.append("exit status %s (expected 0)" % rc)
        text = self.log + self.stdout
        bad = bad_output(text)
        if bad:
            problems.append("sanitizer/valgrind findings:\n  " + "\n  ".join(bad))
        if problems:
            raise RouterError("moonbar (%s): %s\n--- log ---\n%s"
                              % (self.config_path, "; ".join(problems), text[-20000:]))


def run_cli(*args, timeout=10, cwd=None):
    """Run moonbar to completion; returns CompletedProcess (text output)."""
    return subprocess.run(command(*args), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=T(timeout), cwd=cwd)


@contextlib.contextmanager
def running(workdir, overrides=None):
    """A started Router; on exit it is stopped and must have exited cleanly.
    A router that fails to start is killed and the start error raised alone."""
    r = Router(workdir, overrides)
    try:
        r.start()
    except BaseException:
        r.stop(timeout=1)
        raise
    try:
        yield r
    except BaseException:
        r.stop(timeout=1)  # the test failed: stop the router all the same, never leave it running
        raise
    r.check()
