"""Values one serializer has and another lacks (docs/behaviour.md, "Value mapping").

NaN and the infinities exist in MessagePack and CBOR, not in JSON: they pass between binary
sessions as they are; a JSON callee or caller cannot get them, and the other side gets an ERROR
saying so instead of silence; a JSON subscriber misses that one event (logged), the binary
subscribers get it, and the next events reach everybody."""
import math

import pytest

import mb_twisted as mt
from mb_twisted import ApplicationError, CallResult


@pytest.fixture
def clients(router):
    made = {}
    for ser in ("json", "msgpack", "cbor"):
        made[ser] = mt.connect(router, "rawsocket", serializers=ser)
    yield made
    for c in made.values():
        c.close()


def test_nan_passes_between_binary_sessions(clients):
    clients["cbor"].register("com.nan.binary", lambda *a, **kw: CallResult(*a, **kw))
    try:
        res = clients["msgpack"].call("com.nan.binary", float("nan"), float("inf"), -float("inf"), x=float("nan"))
        assert math.isnan(res.results[0]) and res.results[1] == float("inf") and res.results[2] == -float("inf")
        assert math.isnan(res.kwresults["x"])
    finally:
        pass


def test_nan_to_a_json_callee_gets_the_caller_an_error(clients):
    seen = []
    clients["json"].register("com.nan.json_callee", lambda *a: seen.append(a) or "called")
    with pytest.raises(ApplicationError) as e:
        clients["msgpack"].call("com.nan.json_callee", float("nan"))
    assert e.value.error == "wamp.error.invalid_argument"
    assert "json" in e.value.args[0].lower()
    assert seen == []
    # the callee and the caller both carry on
    assert clients["cbor"].call("com.nan.json_callee", 1.5) == "called"


def test_nan_result_to_a_json_caller_becomes_an_error(clients):
    clients["cbor"].register("com.nan.result", lambda: float("nan"))
    with pytest.raises(ApplicationError) as e:
        clients["json"].call("com.nan.result")
    assert e.value.error == "wamp.error.invalid_argument"
    assert math.isnan(clients["msgpack"].call("com.nan.result"))


def test_nan_event_skips_json_subscribers_only(clients, router):
    sinks = {ser: c.subscribe("com.nan.topic")[1] for ser, c in clients.items()}
    mark = router.log_mark()
    clients["msgpack"].publish("com.nan.topic", float("nan"), _exclude_me=False)
    clients["msgpack"].publish("com.nan.topic", 2.5, _exclude_me=False)
    for ser in ("msgpack", "cbor"):
        got = sinks[ser].wait(2)
        assert math.isnan(got[0].args[0]) and got[1].args == [2.5]
    got = sinks["json"].wait(1)
    assert [e.args for e in got] == [[2.5]]
    router.wait_for_log(r"cannot be encoded in json", since=mark)
