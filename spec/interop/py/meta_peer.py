"""A WAMP client run as a subprocess by the meta API tests (mb_meta.Peer), so that a test can
SIGKILL or SIGSTOP it while it holds registrations, subscriptions and testaments.

    /usr/bin/python3 meta_peer.py SPEC_JSON

SPEC: {mode: "autobahn" | "raw", transport: "websocket" | "rawsocket", port,
       register: [uri], subscribe: [uri],
       testaments: [{topic, args, kwargs, scope?, publish_options?}]}

mode autobahn: autobahn-python's asyncio flavour over WebSocket (wamp.2.json).
mode raw: mb_raw over WebSocket or RawSocket; it answers the router's pings while it runs.

Registered procedures never answer (the call stays pending). Prints JSON lines on stdout:
  {"what": "ready", "session": id, "registrations": {uri: id}, "subscriptions": {uri: id}}
  {"what": "invoked", "procedure": uri, "args": [...]}
  {"what": "event", "topic": uri, "args": [...]}
  {"what": "left", "reason": uri, "message": str|null}   (a GOODBYE from the router)
  {"what": "closed"}
"""
import json
import sys


def out(what, **kw):
    kw["what"] = what
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def testament_call(t):
    kwargs = {}
    if "scope" in t:
        kwargs["scope"] = t["scope"]
    if "publish_options" in t:
        kwargs["publish_options"] = t["publish_options"]
    return [t["topic"], t.get("args", []), t.get("kwargs", {})], kwargs


# ---------------------------------------------------------------- autobahn (asyncio)

def run_autobahn(spec):
    import asyncio

    import txaio
    txaio.use_asyncio()
    from autobahn.asyncio.wamp import ApplicationSession
    from autobahn.asyncio.websocket import WampWebSocketClientFactory
    from autobahn.wamp.serializer import JsonSerializer
    from autobahn.wamp.types import ComponentConfig

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        class S(ApplicationSession):
            async def onJoin(self, details):
                regs, subs = {}, {}
                for uri in spec.get("register", []):
                    async def slow(*args, _uri=uri, **kwargs):
                        out("invoked", procedure=_uri, args=list(args))
                        await loop.create_future()  # never answers
                    regs[uri] = (await self.register(slow, uri)).id
                for uri in spec.get("subscribe", []):
                    def on_event(*args, _uri=uri, **kwargs):
                        out("event", topic=_uri, args=list(args))
                    subs[uri] = (await self.subscribe(on_event, uri)).id
                for t in spec.get("testaments", []):
                    a, kw = testament_call(t)
                    await self.call("wamp.session.add_testament", *a, **kw)
                out("ready", session=details.session, registrations=regs, subscriptions=subs)

            def onLeave(self, details):
                out("left", reason=details.reason, message=details.message)
                self.disconnect()

            def onDisconnect(self):
                out("closed")
                if not done.done():
                    done.set_result(None)

        session = S(ComponentConfig(realm="realm1"))
        factory = WampWebSocketClientFactory(lambda: session, url="ws://127.0.0.1:%d/ws" % spec["port"],
                                             serializers=[JsonSerializer()])
        await loop.create_connection(factory, "127.0.0.1", spec["port"])
        await done

    asyncio.run(main())


# ---------------------------------------------------------------- raw (mb_raw)

def run_raw(spec):
    import mb_raw as raw

    if spec["transport"] == "websocket":
        conn = raw.RawWebSocket(spec["port"])
    else:
        conn = raw.RawSocketConn(spec["port"])
    welcome = raw.join(conn)
    session = welcome[1]
    regs, subs, procedures = {}, {}, {}
    for t in spec.get("testaments", []):
        a, kw = testament_call(t)
        req = conn.next_id()
        conn.send_json([raw.CALL, req, {}, "wamp.session.add_testament", a, kw])
        msg = raw.expect(conn, raw.RESULT)
        assert msg[1] == req, msg
    for uri in spec.get("register", []):
        regs[uri] = raw.register(conn, uri)
        procedures[regs[uri]] = uri
    for uri in spec.get("subscribe", []):
        subs[uri] = raw.subscribe(conn, uri)
    topics = {v: k for k, v in subs.items()}
    out("ready", session=session, registrations=regs, subscriptions=subs)
    while True:
        try:
            msg = conn.recv_json(timeout=3600)
        except raw.Timeout:
            continue
        except raw.Closed:
            out("closed")
            return
        if msg[0] == raw.INVOCATION:
            out("invoked", procedure=procedures.get(msg[2]), args=msg[4] if len(msg) > 4 else [])
        elif msg[0] == raw.EVENT:
            out("event", topic=topics.get(msg[1]), args=msg[4] if len(msg) > 4 else [])
        elif msg[0] == raw.GOODBYE:
            out("left", reason=msg[2], message=msg[1].get("message"))
            conn.send_json([raw.GOODBYE, {}, "wamp.close.goodbye_and_out"])


def main():
    spec = json.loads(sys.argv[1])
    if spec["mode"] == "autobahn":
        run_autobahn(spec)
    else:
        run_raw(spec)


if __name__ == "__main__":
    main()
