"""Lua app scripts with MessagePack and CBOR clients (docs/behaviour.md, "Serializers"): a
script sees decoded values whatever the caller's serializer, and what it returns or publishes
reaches each client in its own serializer, binary included."""
import pytest

import mb_lua as ml
import mb_twisted as tx
from mb_payloads import same

APP = """
    moonbar.register("com.lua.ser.echo", function(args, kwargs)
      return moonbar.result(args, kwargs)
    end)
    moonbar.register("com.lua.ser.describe", function(args)
      local out = {}
      for i, v in ipairs(args) do out[i] = type(v) end
      return moonbar.result(out)
    end)
    moonbar.subscribe("com.lua.ser.in", function(args, kwargs)
      moonbar.publish("com.lua.ser.out", args, kwargs)
    end)
"""

SERIALIZERS = ["json", "msgpack", "cbor"]
VALUES = [0, -1, 2 ** 53, 1.5, "h\u00e9 \U0001F600", b"\x00\x01\xfe\xff", [], {}, None, True,
          {"nested": [1, {"a": [None, False]}]}]


@pytest.fixture(scope="module")
def lua_app_router(tmp_path_factory):
    import mb_router
    r = mb_router.Router(tmp_path_factory.mktemp("lua_ser"),
                         {"realms": [{"name": "realm1", "apps": [ml.app_path("ser.lua")]}]})
    r.write_file(ml.app_path("ser.lua"), ml.src(APP))
    r.start()
    yield r
    r.stop()
    r.check()


@pytest.mark.parametrize("transport", ["websocket", "rawsocket"])
@pytest.mark.parametrize("ser", SERIALIZERS)
def test_a_lua_procedure_takes_and_returns_every_value(lua_app_router, ser, transport):
    c = tx.connect(lua_app_router, transport, serializers=ser)
    try:
        res = c.call("com.lua.ser.echo", *VALUES, k={"x": [1, 2]}, b=b"\x00bin")
        assert same(list(res.results), VALUES), res.results
        assert same(res.kwresults, {"k": {"x": [1, 2]}, "b": b"\x00bin"}), res.kwresults
        kinds = c.call("com.lua.ser.describe", 1, "s", b"\x01", [1], {"a": 1}, True)
        assert list(kinds.results if hasattr(kinds, "results") else kinds) == \
            ["number", "string", "string", "table", "table", "boolean"]
    finally:
        c.close()


def test_a_lua_subscriber_republishes_to_clients_of_every_serializer(lua_app_router):
    clients = {ser: tx.connect(lua_app_router, "rawsocket", serializers=ser) for ser in SERIALIZERS}
    try:
        sinks = {ser: c.subscribe("com.lua.ser.out")[1] for ser, c in clients.items()}
        clients["cbor"].publish("com.lua.ser.in", *VALUES, tag=b"\xff")
        for ser, sink in sinks.items():
            ev = sink.wait(1)[0]
            assert same(ev.args, VALUES), (ser, ev.args)
            assert same(ev.kwargs, {"tag": b"\xff"}), (ser, ev.kwargs)
    finally:
        for c in clients.values():
            c.close()
