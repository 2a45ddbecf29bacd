"""The Lua API's Advanced Profile pub/sub (docs/lua-api.md, "Advanced publish and subscribe"):
moonbar.publish with the authid/authrole lists, retain and disclose_me; moonbar.subscribe
with get_retained; what a Lua handler gets in details (retained, publisher*)."""
import pytest

import adv_pubsub as ap
import mb_lua as ml
import mb_raw as raw
from adv_pubsub import Peer, args_of, marker

APP = """
    moonbar.state.got = moonbar.array()
    local function record(args, kwargs, details)
      table.insert(moonbar.state.got, {arg = args[1] or moonbar.null, retained = details.retained or false,
                                       publisher = details.publisher or moonbar.null,
                                       publisher_authid = details.publisher_authid or moonbar.null,
                                       topic = details.topic or moonbar.null})
    end
    moonbar.register("app.subscribe", function(args)
      moonbar.subscribe(args[1], record, {get_retained = args[2], match = args[3]})
      return true
    end)
    moonbar.register("app.got", function() return moonbar.state.got end)
    moonbar.register("app.publish", function(args, kwargs)
      moonbar.publish(args[1], {args[2]}, nil, kwargs)
      return true
    end)
"""


def lua_router(router_factory):
    return ml.lua_router(router_factory, apps={"app.lua": APP}, policy=ap.IDENTITY_POLICY)


def test_lua_subscriber_gets_the_retained_event_and_the_publisher(router_factory):
    r = lua_router(router_factory)
    t = ap.topic("lua_ret")
    pub = Peer(r, "pub", "writer")
    pub.publish(t, ["kept"], retain=True, disclose_me=True)
    caller = Peer(r)
    assert caller.call("app.subscribe", [t, True])[0] == raw.RESULT
    assert caller.call("app.subscribe", [t.rsplit("_", 1)[0] + "_", False, "prefix"])[0] == raw.RESULT
    pub.publish(t, ["live"])
    got = ml.wait_until(lambda: (lambda g: g if len(g) >= 3 else None)(caller.call("app.got")[3][0]),
                        what="three events in Lua")
    kept = [g for g in got if g["retained"]]
    assert kept == [{"arg": "kept", "retained": True, "publisher": pub.id, "publisher_authid": "pub",
                     "topic": None}], got
    assert sorted((g["arg"], g["topic"] or "") for g in got if not g["retained"]) == [("live", ""), ("live", t)]


def test_lua_publisher_lists_by_authid_and_authrole(router_factory):
    r = lua_router(router_factory)
    t = ap.topic("lua_lists")
    ann, bob, cat = Peer(r, "ann", "user"), Peer(r, "bob", "user"), Peer(r, "cat", "admin")
    for p in (ann, bob, cat):
        p.subscribe(t)
    caller = Peer(r)
    for arg, opts in (("admins", {"eligible_authrole": ["admin"]}),
                      ("not bob", {"exclude_authid": ["bob"]}),
                      ("ann", {"eligible_authid": ["ann", "cat"], "exclude_authrole": ["admin"]}),
                      ("disclosed", {"disclose_me": True, "eligible": [cat.id]})):
        assert caller.call("app.publish", [t, arg], opts)[0] == raw.RESULT
    marker(caller, t)
    assert args_of(ann.events_until_marker()) == ["not bob", "ann"]
    assert args_of(bob.events_until_marker()) == []
    got = cat.events_until_marker()
    assert args_of(got) == ["admins", "not bob", "disclosed"]
    assert got[2][3]["publisher_authrole"] == "trusted" and isinstance(got[2][3]["publisher"], int), got[2]


@pytest.mark.parametrize("opts,message", [
    ({"eligible_authid": "ann"}, "eligible_authid must be a list of strings, got string"),
    ({"exclude_authrole": [1]}, "exclude_authrole[1] must be a string"),
    ({"retain": "yes"}, "retain must be a boolean, got string"),
    ({"disclose_me": 1}, "disclose_me must be a boolean, got number"),
])
def test_lua_publish_options_are_checked(router_factory, opts, message):
    r = lua_router(router_factory)
    caller = Peer(r)
    msg = caller.call("app.publish", [ap.topic("bad"), 1], opts)
    assert msg[0] == raw.ERROR, msg
    assert message in str(msg[5:]), msg


def test_lua_subscribe_get_retained_must_be_a_boolean(router_factory):
    r = lua_router(router_factory)
    caller = Peer(r)
    msg = caller.call("app.subscribe", [ap.topic("bad"), "yes"])
    assert msg[0] == raw.ERROR and "get_retained must be a boolean, got string" in str(msg[5:]), msg
