"""An autobahn-python (asyncio) peer that the chaos tests start as a child process and kill with
SIGKILL in the middle of its work. Usage:

    /usr/bin/python3 chaos_peer.py URL ROLE [N]

ROLE
  caller     calls com.chaos.slow N times at once (N default 20) and waits for them
  callee     registers com.chaos.held; every invocation is held for ever (never answered)
  publisher  publishes on com.chaos.flood with acknowledge, N (default 64) in flight at a time,
             for ever

It prints one line per fact on stdout, flushed, for the test to wait on:
  joined SESSION       after WELCOME
  registered           (callee) after REGISTERED
  called N             (caller) the N calls are sent
  held K               (callee) K invocations are held
  acked K              (publisher) K publications acknowledged so far (every 500)
"""
import asyncio
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.serializer import JsonSerializer  # noqa: E402
from autobahn.wamp.types import ComponentConfig, PublishOptions  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402


def say(*words):
    print(*words, flush=True)


async def run(url, role, n):
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class S(ApplicationSession):
        def onJoin(self, details):
            if not joined.done():
                joined.set_result(details)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(RuntimeError("ABORT %s" % details.reason))
            self.disconnect()

    session = S(ComponentConfig(realm="realm1"))
    factory = WampWebSocketClientFactory(lambda: session, url=url, serializers=[JsonSerializer()])
    _, host, port, _, _, _ = parse_url(url)
    await loop.create_connection(factory, host, port)
    details = await asyncio.wait_for(joined, 10)
    say("joined", details.session)

    if role == "caller":
        calls = [asyncio.ensure_future(session.call("com.chaos.slow", i)) for i in range(n)]
        say("called", n)
        await asyncio.gather(*calls, return_exceptions=True)
    elif role == "callee":
        held = []

        def hold(*args):
            f = loop.create_future()   # never resolved: the invocation stays held
            held.append(f)
            say("held", len(held))
            return f

        await session.register(hold, "com.chaos.held")
        say("registered")
    elif role == "publisher":
        acked = 0
        seq = 0
        opts = PublishOptions(acknowledge=True)
        sem = asyncio.Semaphore(n)

        async def one(k):
            nonlocal acked
            try:
                await session.publish("com.chaos.flood", k, "x" * 200, options=opts)
                acked += 1
                if acked % 500 == 0:
                    say("acked", acked)
            finally:
                sem.release()

        while True:
            await sem.acquire()
            seq += 1
            asyncio.ensure_future(one(seq))
    await asyncio.Event().wait()   # until killed


def main():
    url, role = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else {"caller": 20, "publisher": 64}.get(role, 0)
    asyncio.run(run(url, role, n))


if __name__ == "__main__":
    main()
