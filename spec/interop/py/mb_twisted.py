"""Blocking facade over autobahn-python's Twisted flavour, for pytest.

Owns: one Twisted reactor running in a daemon thread for the whole test run,
and Client, a joined autobahn ApplicationSession driven from the test thread
(every call waits with a scaled timeout). Uses autobahn.twisted (WebSocket and
RawSocket transports), txaio set to Twisted.

Twisted and asyncio cannot share one process with autobahn (txaio picks one
framework globally), so the asyncio flavour runs as a subprocess
(aio_client.py).
"""
import concurrent.futures
import copy
import threading
from collections import namedtuple

import txaio

txaio.use_twisted()

from twisted.internet import defer, reactor  # noqa: E402
from twisted.internet.endpoints import (SSL4ClientEndpoint, TCP4ClientEndpoint,  # noqa: E402
                                        UNIXClientEndpoint)

from autobahn.twisted.rawsocket import WampRawSocketClientFactory  # noqa: E402
from autobahn.twisted.wamp import ApplicationSession  # noqa: E402
from autobahn.twisted.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402,F401
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer  # noqa: E402
from autobahn.wamp.types import (CallOptions, CallResult, ComponentConfig,  # noqa: E402,F401
                                 PublishOptions, RegisterOptions, SubscribeOptions)

from mb_router import T  # noqa: E402

_thread = None
_lock = threading.Lock()


def ensure_reactor():
    """Start the reactor thread once."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=reactor.run,
                                       kwargs={"installSignalHandlers": False},
                                       name="twisted-reactor", daemon=True)
            _thread.start()


def stop_reactor():
    global _thread
    with _lock:
        if _thread is not None and reactor.running:
            reactor.callFromThread(reactor.stop)
            _thread.join(5)


def submit(fn, *a, **kw):
    """Run fn(*a, **kw) in the reactor thread; a concurrent Future of its
    (Deferred's) result."""
    ensure_reactor()
    fut = concurrent.futures.Future()

    def ok(r):
        if not fut.done():
            fut.set_result(r)

    def bad(f):
        if not fut.done():
            fut.set_exception(f.value)

    def run():
        d = defer.maybeDeferred(lambda: fn(*a, **kw))
        d.addCallbacks(ok, bad)

    reactor.callFromThread(run)
    return fut


def wait(fut, timeout, what="operation"):
    try:
        return fut.result(timeout=T(timeout))
    except concurrent.futures.TimeoutError:
        raise TimeoutError("%s did not complete within %.1fs" % (what, T(timeout))) from None


def in_reactor(fn, *a, _timeout=5, **kw):
    """Run fn in the reactor thread and wait for its result (scaled timeout)."""
    return wait(submit(fn, *a, **kw), _timeout, getattr(fn, "__name__", "call"))


def _resolve(fut, value=None, exc=None):
    if not fut.done():
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)


Event = namedtuple("Event", "args kwargs details")


class Sink:
    """Thread-safe list of received events (or invocations)."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def __len__(self):
        with self.cond:
            return len(self.items)

    def wait(self, n, timeout=5):
        """Wait until at least n items arrived; returns a copy of all items."""
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.items) >= n, T(timeout))
            if not ok:
                shown = repr(self.items[:3])
                if len(shown) > 600:
                    shown = shown[:600] + "..."
                raise AssertionError("expected %d items within %.1fs, got %d: %s"
                                     % (n, T(timeout), len(self.items), shown))
            return list(self.items)

    def snapshot(self):
        with self.cond:
            return list(self.items)


class JoinFailed(Exception):
    def __init__(self, reason, message=None):
        super().__init__("join failed: %s (%s)" % (reason, message))
        self.reason, self.message = reason, message


class _Session(ApplicationSession):
    def onConnect(self):
        c = self.config.extra["client"]
        c.session = self
        if c.features:  # announce other role features than autobahn's defaults
            roles = {name: copy.copy(features) for name, features in self._session_roles.items()}
            for name, changes in c.features.items():
                for feature, value in changes.items():
                    setattr(roles[name], feature, value)
            self._session_roles = roles
        self.join(self.config.realm, authid=c.authid, authmethods=c.authmethods, authextra=c.authextra)

    def onChallenge(self, challenge):
        c = self.config.extra["client"]
        c.challenges.append(challenge)
        if c.on_challenge is not None:  # (session, challenge) -> signature (or a Deferred)
            return c.on_challenge(self, challenge)
        if challenge.method == "ticket" and c.ticket is not None:
            return c.ticket
        raise Exception("no answer to a %r challenge" % challenge.method)

    def onJoin(self, details):
        self.config.extra["client"]._on_join(details)

    def onLeave(self, details):
        self.config.extra["client"]._on_leave(details)
        self.disconnect()

    def onDisconnect(self):
        # the base class fails outstanding requests with TransportLost
        super().onDisconnect()
        self.config.extra["client"]._on_disconnect()


class Client:
    """A joined autobahn (Twisted) session, driven synchronously.

    All methods block the test thread until the router answered (scaled timeouts,
    keyword `_timeout`). Handlers given to register() run in the reactor thread.
    """

    def __init__(self, authid=None, authmethods=None, ticket=None):
        self.authid = authid
        self.authmethods = authmethods
        self.ticket = ticket
        self.authextra = None  # HELLO.Details.authextra (connect's authextra)
        self.on_challenge = None  # connect's on_challenge
        self.features = None  # role feature changes for HELLO (connect's features)
        self.challenges = []  # autobahn Challenge objects the router sent
        self.session = None
        self.protocol = None
        self.details = None
        self.joined = concurrent.futures.Future()
        self.left = concurrent.futures.Future()
        self.disconnected = concurrent.futures.Future()

    # reactor-thread hooks
    def _on_join(self, details):
        self.details = details
        _resolve(self.joined, details)

    def _on_leave(self, details):
        _resolve(self.joined, exc=JoinFailed(details.reason, details.message))
        _resolve(self.left, details)

    def _on_disconnect(self):
        _resolve(self.joined, exc=JoinFailed("transport closed before WELCOME"))
        _resolve(self.disconnected, True)

    def _on_closed(self, _):
        _resolve(self.joined, exc=JoinFailed("connection closed before WELCOME"))
        _resolve(self.disconnected, True)

    # -- information

    @property
    def id(self):
        return self.details.session

    @property
    def router_roles(self):
        return self.session._router_roles

    @property
    def websocket_protocol(self):
        return getattr(self.protocol, "websocket_protocol_in_use", None)

    @property
    def serializer_id(self):
        """The serializer the connection settled on: "json", "msgpack" or "cbor"."""
        ser = getattr(self.protocol, "_serializer", None)
        return getattr(ser, "SERIALIZER_ID", None)

    def is_connected(self):
        return not self.disconnected.done()

    # -- WAMP operations

    def publish(self, topic, *args, _acknowledge=True, _exclude_me=None, _timeout=5, **kwargs):
        opts = PublishOptions(acknowledge=_acknowledge, exclude_me=_exclude_me)
        return in_reactor(self.session.publish, topic, *args, options=opts,
                          _timeout=_timeout, **kwargs)

    def subscribe(self, topic, sink=None, _timeout=5):
        """Subscribe; returns (Subscription, Sink of Event)."""
        sink = sink if sink is not None else Sink()

        def handler(*args, **kwargs):
            details = kwargs.pop("_details", None)
            sink.add(Event(list(args), kwargs, details))

        sub = in_reactor(self.session.subscribe, handler, topic,
                         options=SubscribeOptions(details_arg="_details"), _timeout=_timeout)
        return sub, sink

    def unsubscribe(self, sub, _timeout=5):
        return in_reactor(sub.unsubscribe, _timeout=_timeout)

    def register(self, procedure, fn, _timeout=5, **options):
        return in_reactor(self.session.register, fn, procedure,
                          options=RegisterOptions(**options) if options else None,
                          _timeout=_timeout)

    def unregister(self, reg, _timeout=5):
        return in_reactor(reg.unregister, _timeout=_timeout)

    def call_async(self, procedure, *args, **kwargs):
        """Start a call; returns a concurrent Future of its result."""
        return submit(self.session.call, procedure, *args, **kwargs)

    def call(self, procedure, *args, _timeout=5, **kwargs):
        return wait(self.call_async(procedure, *args, **kwargs), _timeout, "call " + procedure)

    def leave(self, reason=None, _timeout=5):
        """Send GOODBYE; returns the CloseDetails of the router's answer."""
        in_reactor(lambda: (self.session.leave(reason), None)[1], _timeout=_timeout)
        details = wait(self.left, _timeout, "leave")
        wait(self.disconnected, _timeout, "disconnect after leave")
        return details

    def drop(self, _timeout=5):
        """Abort the TCP connection without GOODBYE."""
        in_reactor(lambda: self.protocol.transport.abortConnection(), _timeout=_timeout)
        wait(self.disconnected, _timeout, "disconnect after abort")

    def close(self):
        """Best-effort cleanup: leave if joined, else drop the connection."""
        if self.disconnected.done():
            return
        try:
            if self.joined.done() and not self.joined.exception() and not self.left.done():
                self.leave(_timeout=2)
                return
        except Exception:
            pass
        try:
            if self.protocol is not None:
                self.drop(_timeout=2)
        except Exception:
            pass


SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

# transport names that say it all: (transport, unix, tls)
TRANSPORT_ALIASES = {"unix": ("rawsocket", True, False), "wss": ("websocket", False, True),
                     "rawsocket-tls": ("rawsocket", False, True)}


def make_serializers(serializers, transport):
    """connect's `serializers` as autobahn serializer objects: "json", "msgpack", "cbor", a
    list of those names or of serializer objects, or None (autobahn's default offer; WebSocket
    only, RawSocket takes JSON)."""
    if serializers is None:
        return None if transport == "websocket" else [JsonSerializer()]
    if isinstance(serializers, str):
        serializers = [serializers]
    return [SERIALIZERS[s]() if isinstance(s, str) else s for s in serializers]


def tls_options(ca, hostname="localhost", client_cert=None):
    """Twisted client TLS options trusting the PEM CA file `ca` (the server must present a
    certificate for `hostname` it signed); client_cert: (cert PEM file, key PEM file) to
    present."""
    from twisted.internet import ssl

    with open(ca, "rb") as f:
        root = ssl.Certificate.loadPEM(f.read())
    mine = None
    if client_cert is not None:
        cert_file, key_file = client_cert
        with open(cert_file, "rb") as f, open(key_file, "rb") as g:
            mine = ssl.PrivateCertificate.loadPEM(f.read() + b"\n" + g.read())
    return ssl.optionsForClientTLS(hostname, trustRoot=root, clientCertificate=mine)


def connect(router, transport="websocket", realm="realm1", serializers="json", authid=None,
            authmethods=None, ticket=None, features=None, unix=None, tls=False, ca=None,
            client_cert=None, port=None, tls_hostname="localhost", endpoint=None,
            authextra=None, on_challenge=None, _timeout=5):
    """Connect an autobahn Twisted client to `router` and join `realm`.

    transport: "websocket" or "rawsocket", or "unix" (RawSocket on the router's Unix
    listener), "wss" (WebSocket over TLS), "rawsocket-tls". serializers: "json", "msgpack",
    "cbor" (that one only), a list of names or autobahn serializer objects (WebSocket: offered
    in that order), or None (autobahn's default offer, WebSocket only). unix: the path of a Unix
    socket to connect to (RawSocket; default: the router's first Unix RawSocket listener when
    transport is "unix"). tls: connect with TLS (port: the router's first TLS listener of that
    kind), verifying the server's certificate for `tls_hostname` against the PEM file `ca`
    (default router.tls_ca); client_cert: (cert, key) PEM files to present. port: connect to
    this TCP port instead of the router's first listener of the kind. authmethods: offered in
    HELLO (e.g. ["ticket"]); ticket: the answer to a ticket CHALLENGE. Raises JoinFailed on
    ABORT. features: role feature announcements to change, e.g.
    {"subscriber": {"subscription_revocation": False}}. endpoint: a function of the reactor
    returning the Twisted client endpoint to use instead of the one the other arguments name.
    authextra: HELLO.Details.authextra; on_challenge(session, challenge): the AUTHENTICATE
    signature for any CHALLENGE (a value or a Deferred; see mb_auth.py for WAMP-CRA and
    cryptosign answers).
    """
    if transport in TRANSPORT_ALIASES:
        transport, is_unix, tls = TRANSPORT_ALIASES[transport]
        if is_unix and unix is None:
            found = router.find("rawsocket", unix=True)
            if found is None:
                raise ValueError("the router has no Unix RawSocket listener: %r" % router.listening)
            unix = found.unix
    if transport not in ("websocket", "rawsocket"):
        raise ValueError(transport)
    if unix is not None and transport != "rawsocket":
        raise ValueError("a Unix socket is for RawSocket")
    if port is None and unix is None and endpoint is None:
        port = router.find_port(transport, tls=bool(tls)) if tls else \
            (router.ws_port if transport == "websocket" else router.rawsocket_port)
        if port is None:
            raise ValueError("the router has no %s%s listener: %r"
                             % ("TLS " if tls else "", transport, router.listening))
    if tls and endpoint is None:
        ca = ca or getattr(router, "tls_ca", None)
        if ca is None:
            raise ValueError("tls=True needs ca= (or router.tls_ca)")
    sers = make_serializers(serializers, transport)
    client = Client(authid=authid, authmethods=authmethods, ticket=ticket)
    client.features = features
    client.authextra = authextra
    client.on_challenge = on_challenge

    def session_factory():
        return _Session(ComponentConfig(realm=realm, extra={"client": client}))

    def start():
        if transport == "websocket":
            url = "%s://%s:%d/ws" % ("wss" if tls else "ws", tls_hostname if tls else "127.0.0.1",
                                     port)
            factory = WampWebSocketClientFactory(session_factory, url=url, serializers=sers)
        else:
            if len(sers) != 1:
                raise ValueError("RawSocket takes one serializer, not %r" % (serializers,))
            factory = WampRawSocketClientFactory(session_factory, serializer=sers[0])
        client.factory = factory
        if endpoint is not None:
            ep = endpoint(reactor)
        elif unix is not None:
            ep = UNIXClientEndpoint(reactor, unix, timeout=T(5))
        elif tls:
            ep = SSL4ClientEndpoint(reactor, "127.0.0.1", port,
                                    tls_options(ca, tls_hostname, client_cert), timeout=T(5))
        else:
            ep = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=T(5))
        d = ep.connect(factory)

        def connected(proto):
            client.protocol = proto
            proto.is_closed.addCallback(client._on_closed)

        def failed(f):
            _resolve(client.joined, exc=f.value)
            _resolve(client.disconnected, True)

        d.addCallbacks(connected, failed)

    def start_safely():
        try:
            start()
        except BaseException as e:  # a bad argument: fail the join instead of the reactor
            _resolve(client.joined, exc=e)
            _resolve(client.disconnected, True)

    ensure_reactor()
    reactor.callFromThread(start_safely)
    where = unix or ("%s%s" % (transport, " (tls)" if tls else ""))
    try:
        wait(client.joined, _timeout, "join of %s over %s" % (realm, where))
    except BaseException:
        client.close()
        raise
    return client


def result_parts(r):
    """An autobahn call result as (args list, kwargs dict)."""
    if isinstance(r, CallResult):
        return list(r.results), dict(r.kwresults)
    if r is None:
        return [], {}
    return [r], {}
