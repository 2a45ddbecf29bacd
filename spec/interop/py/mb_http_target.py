"""A real HTTP server for the outgoing-HTTP tests (moonbar's http.subscribers and http.callees
call it): Python's ThreadingHTTPServer on a free loopback port, in a thread, that records every
request and can be told to fail, to be slow, to hang until released, or to be down.

Owns: the server thread and its listening socket. Uses nothing but the standard library.

    t = Target()               # listening on 127.0.0.1:t.port
    t.url("/hook")             # "http://127.0.0.1:PORT/hook"
    t.fail_next(3, 503)        # the next 3 requests answer 503
    t.respond("/api/x", status=201, body=b"..", headers=[("X-A", "1")])
    t.delay = 0.05             # every request waits that long before its answer
    t.hang("/api/slow")        # requests to that path wait until t.release() (or the client leaves)
    t.down(); t.up()           # stop listening (connections refused), listen again on the same port
    t.wait(n)                  # the first n requests (Request tuples), waited for
"""
import http.server
import select
import socket
import threading
import time
from collections import namedtuple

from mb_router import T

# headers: list of (name, value) as received; aborted: the client went away while it hung
Request = namedtuple("Request", "method path headers body at")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: moonbar's client reuses connections

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.target.cond:
            self.server.target._conns.add(self.connection)

    def finish(self):
        with self.server.target.cond:
            self.server.target._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _any(self):
        t = self.server.target
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        req = Request(self.command, self.path, list(self.headers.items()), body, time.monotonic())
        t._arrived(req)
        try:
            status, rbody, rheaders, chunked = t._answer_for(req)
            if t._should_hang(req.path):
                if not self._hang(t):
                    t._aborted(req)
                    return
            if t.delay:
                time.sleep(t.delay)
            self.send_response(status)
            for name, value in rheaders:
                self.send_header(name, value)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(rbody), 1000):
                    part = rbody[i:i + 1000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(rbody)))
                self.end_headers()
                self.wfile.write(rbody)
        except (BrokenPipeError, ConnectionResetError):
            t._aborted(req)
        finally:
            t._left()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    def do_HEAD(self):
        self._any()

    def _hang(self, t):
        """Wait for release; False when the client closed the connection first."""
        while not t._released.is_set():
            r, _, _ = select.select([self.connection], [], [], 0.05)
            if r:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    return False
                if not data:
                    return False
        return True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Target:
    def __init__(self):
        self.requests = []
        self.aborted = []
        self.cond = threading.Condition()
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._fail = []  # statuses of the next requests
        self._routes = {}  # path (without query) -> (status, body, headers, chunked)
        self._hangs = set()
        self._released = threading.Event()
        self._server = None
        self._conns = set()
        self.port = None
        self.up()

    # -- life cycle

    def up(self):
        """Listen (again, on the same port once one was chosen)."""
        self._server = _Server(("127.0.0.1", self.port or 0), _Handler)
        self._server.target = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def down(self):
        """Stop listening: new connections are refused (kept ones are closed by the handlers)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None
        with self.cond:
            conns = list(self._conns)
        for c in conns:  # kept-alive connections too: down means down
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.release()
        self.down()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    # -- behaviour

    def fail_next(self, n, status=500):
        with self.cond:
            self._fail.extend([status] * n)

    def respond(self, path, status=200, body=b"", headers=(), chunked=False):
        with self.cond:
            self._routes[path] = (status, body, list(headers), chunked)

    def hang(self, path):
        with self.cond:
            self._hangs.add(path)
            self._released.clear()

    def release(self):
        self._released.set()

    # -- what came

    def wait(self, n, timeout=5):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.requests) >= n, T(timeout))
            if not ok:
                raise AssertionError("expected %d requests within %.1fs, got %d: %r"
                                     % (n, T(timeout), len(self.requests), self.requests[:5]))
            return list(self.requests)

    def wait_aborted(self, n, timeout=5):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.aborted) >= n, T(timeout))
            if not ok:
                raise AssertionError("expected %d aborted requests within %.1fs, got %d"
                                     % (n, T(timeout), len(self.aborted)))
            return list(self.aborted)

    def snapshot(self):
        with self.cond:
            return list(self.requests)

    # -- handler side

    def _arrived(self, req):
        with self.cond:
            self.requests.append(req)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.cond.notify_all()

    def _left(self):
        with self.cond:
            self.in_flight -= 1
            self.cond.notify_all()

    def _aborted(self, req):
        with self.cond:
            self.aborted.append(req)
            self.cond.notify_all()

    def _should_hang(self, path):
        with self.cond:
            return path.split("?")[0] in self._hangs and not self._released.is_set()

    def _answer_for(self, req):
        with self.cond:
            if self._fail:
                status = self._fail.pop(0)
                return status, b"failing on purpose", [("Content-Type", "text/plain")], False
            route = self._routes.get(req.path.split("?")[0])
        if route:
            return route
        return 200, b'{"ok":true}', [("Content-Type", "application/json")], False


def header(req, name):
    """The values of header `name` (any case) of a recorded request."""
    return [v for k, v in req.headers if k.lower() == name.lower()]
