"""Registration and subscription revocation: wamp.registration.remove_callee and
wamp.subscription.remove_subscriber tell the removed peer, with UNREGISTERED / UNSUBSCRIBED
of request 0 and Details {registration|subscription, reason}, when it announced
callee.registration_revocation / subscriber.subscription_revocation, and say nothing to a
peer that did not (the spec forbids it).

Spec: wamp-proto rfc/text/advanced/ap_rpc_registration_revocation.md and
ap_pubsub_subscription_revocation.md; moonbar: docs/behaviour.md.
"""
import mb_meta as mm
import mb_raw as raw

REVOKING = {"publisher": {}, "caller": {},
            "subscriber": {"features": {"subscription_revocation": True}},
            "callee": {"features": {"registration_revocation": True}}}


def quiet_for(conn, seconds=0.2):
    """Everything the router sent within `seconds` (meta events aside; mb_raw.quiet)."""
    return raw.quiet(conn, seconds)


def test_a_subscriber_that_announced_revocation_hears_it_with_the_reason(router, clients):
    admin = clients(router)
    with raw.connect(router, "websocket") as conn:
        me = raw.join(conn, roles=REVOKING)[1]
        sub = raw.subscribe(conn, "com.rv.s1")
        assert admin.call("wamp.subscription.remove_subscriber", sub, me,
                          reason="com.example.moderated") is None
        msg = raw.expect(conn, raw.UNSUBSCRIBED)
        assert msg == [raw.UNSUBSCRIBED, 0, {"subscription": sub, "reason": "com.example.moderated"}]
        admin.publish("com.rv.s1", "after")
        assert quiet_for(conn) == [], "a removed subscriber still got events"


def test_without_a_reason_the_details_name_only_the_subscription(router, clients):
    admin = clients(router)
    with raw.connect(router, "rawsocket") as conn:
        me = raw.join(conn, roles=REVOKING)[1]
        sub = raw.subscribe(conn, "com.rv.s2")
        admin.call("wamp.subscription.remove_subscriber", sub, me)
        assert raw.expect(conn, raw.UNSUBSCRIBED) == [raw.UNSUBSCRIBED, 0, {"subscription": sub}]


def test_a_subscriber_that_did_not_announce_it_hears_nothing_and_gets_no_more_events(router, clients):
    admin = clients(router)
    with raw.connect(router, "websocket") as conn:
        me = raw.join(conn)[1]
        sub = raw.subscribe(conn, "com.rv.s3")
        admin.call("wamp.subscription.remove_subscriber", sub, me, reason="com.example.x")
        admin.publish("com.rv.s3", "after")
        assert quiet_for(conn) == []
        # the session carries on
        conn.send_json([raw.CALL, 5, {}, "wamp.session.count"])
        assert raw.expect(conn, raw.RESULT)[1] == 5


def test_a_callee_that_announced_revocation_hears_it_and_calls_go_elsewhere(router, clients):
    admin = clients(router)
    other = clients(router)
    other.register("com.rv.p1", lambda: "other", invoke="first")
    with raw.connect(router, "websocket") as conn:
        me = raw.join(conn, roles=REVOKING)[1]
        reg = raw.register(conn, "com.rv.p1", {"invoke": "first"})
        assert admin.call("wamp.registration.remove_callee", reg, me, reason="com.example.moved") is None
        msg = raw.expect(conn, raw.UNREGISTERED)
        assert msg == [raw.UNREGISTERED, 0, {"registration": reg, "reason": "com.example.moved"}]
        assert admin.call("com.rv.p1") == "other"
        assert quiet_for(conn) == [], "a removed callee still got invocations"


def test_a_callee_that_did_not_announce_it_hears_nothing(router, clients):
    admin = clients(router)
    with raw.connect(router, "rawsocket") as conn:
        me = raw.join(conn)[1]
        reg = raw.register(conn, "com.rv.p2")
        admin.call("wamp.registration.remove_callee", reg, me)
        assert quiet_for(conn) == []
        assert mm.call_error(admin, "com.rv.p2").error == "wamp.error.no_such_procedure"


def test_an_autobahn_python_callee_takes_the_revocation_and_stays_connected(router, clients):
    admin = clients(router)
    callee = clients(router)  # autobahn-python announces registration_revocation
    reg = callee.register("com.rv.p3", lambda: 1)
    admin.call("wamp.registration.remove_callee", reg.id, callee.id, reason="com.example.bye")
    assert mm.call_error(admin, "com.rv.p3").error == "wamp.error.no_such_procedure"
    assert callee.call("wamp.session.count") >= 2
    assert callee.is_connected()


def test_a_reason_that_is_not_a_string_is_refused_and_nothing_is_removed(router, clients):
    admin = clients(router)
    callee = clients(router)
    reg = callee.register("com.rv.p4", lambda: 4)
    err = mm.call_error(admin, "wamp.registration.remove_callee", reg.id, callee.id, reason=5)
    assert err.error == "wamp.error.invalid_argument" and "reason" in err.args[0]
    assert admin.call("com.rv.p4") == 4
