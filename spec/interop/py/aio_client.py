"""autobahn-python asyncio-flavour client, run as a subprocess by the tests.

txaio selects one framework per process, and the suite's own process runs
Twisted, so the asyncio flavour lives here. Usage:

    /usr/bin/python3 aio_client.py URL SERIALIZERS [TIMEOUT]

SERIALIZERS: "default" (autobahn's default offer) or "json". Joins realm1 over
WebSocket, exercises register/call, an ApplicationError, subscribe/publish and
leave, then prints one JSON object describing what it saw on stdout.
"""
import asyncio
import json
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.serializer import JsonSerializer  # noqa: E402
from autobahn.wamp.types import (CallResult, ComponentConfig, PublishOptions,  # noqa: E402
                                 SubscribeOptions)
from autobahn.websocket.util import parse_url  # noqa: E402


async def scenario(url, serializers, timeout):
    out = {}
    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    left = loop.create_future()

    class S(ApplicationSession):
        def onJoin(self, details):
            if not joined.done():
                joined.set_result(details)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(RuntimeError("ABORT %s %s" % (details.reason, details.message)))
            if not left.done():
                left.set_result(details)
            self.disconnect()

    session = S(ComponentConfig(realm="realm1"))
    sers = [JsonSerializer()] if serializers == "json" else None
    factory = WampWebSocketClientFactory(lambda: session, url=url, serializers=sers)
    out["offer"] = ",".join(factory.protocols)
    is_secure, host, port, resource, path, params = parse_url(url)
    transport, proto = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout)
    details = await asyncio.wait_for(joined, timeout)
    out["protocol_in_use"] = proto.websocket_protocol_in_use
    out["session"] = details.session
    out["authrole"] = details.authrole
    out["authmethod"] = details.authmethod
    out["realm"] = details.realm
    out["router_roles"] = sorted(session._router_roles.keys())

    # RPC: args and kwargs both ways
    await session.register(lambda *a, **kw: CallResult(*a, **kw), "com.aio.echo")
    r = await asyncio.wait_for(session.call("com.aio.echo", 1, "two", [3], four={"x": 4}), timeout)
    out["echo"] = [list(r.results), r.kwresults]

    def oops():
        raise ApplicationError("com.example.oops", 1, 2, x=3)

    await session.register(oops, "com.aio.oops")
    try:
        await asyncio.wait_for(session.call("com.aio.oops"), timeout)
        out["oops"] = "no error"
    except ApplicationError as e:
        out["oops"] = [e.error, list(e.args), e.kwargs]

    try:
        await asyncio.wait_for(session.call("com.aio.nothing_here"), timeout)
        out["no_such_procedure"] = "no error"
    except ApplicationError as e:
        out["no_such_procedure"] = e.error

    # Pub/sub to self (exclude_me false)
    got = loop.create_future()

    def on_event(*a, **kw):
        kw.pop("_d", None)
        if not got.done():
            got.set_result([list(a), kw])

    sub = await session.subscribe(on_event, "com.aio.topic", options=SubscribeOptions(details_arg="_d"))
    pub = await session.publish("com.aio.topic", "hi", 2, k="v",
                                options=PublishOptions(acknowledge=True, exclude_me=False))
    out["publication_id"] = pub.id
    out["event"] = await asyncio.wait_for(got, timeout)
    await sub.unsubscribe()

    session.leave()
    d = await asyncio.wait_for(left, timeout)
    out["leave_reason"] = d.reason
    await asyncio.sleep(0)
    transport.close()
    return out


def main():
    url, serializers = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    out = asyncio.run(scenario(url, serializers, timeout))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
