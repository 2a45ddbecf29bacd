"""Helpers of the Advanced Profile pub/sub tests (test_adv_pubsub*.py, test_history*.py):
raw sessions with a chosen authid/authrole (a policy script's ticket authenticator), event
collection up to a marker publication, and routers with history rules."""
import uuid

import mb_lua as ml
import mb_raw as raw

# Ticket authentication: authid as asked, authrole = the ticket; anonymous: "anonymous".
IDENTITY_POLICY = """
    moonbar.authenticate(function(realm, authid, details)
      if details.authmethod == "ticket" then return {authid = authid, authrole = details.ticket} end
      return {authrole = "anonymous"}
    end)
"""

MARKER = "--marker--"


def topic(name):
    return "com.adv.%s_%s" % (name, uuid.uuid4().hex[:8])


def identity_router(router_factory, policy_extra="", **overrides):
    return ml.lua_router(router_factory, policy=IDENTITY_POLICY + policy_extra, **overrides)


class Peer:
    """A raw session (RawSocket) with its ID, authid and authrole."""

    def __init__(self, router, authid=None, authrole=None, roles=None, transport="rawsocket"):
        self.conn = raw.connect(router, transport)
        self.pending = []  # EVENTs received while waiting for another answer
        details = {}
        if roles is not None:
            details["roles"] = roles
        if authid is not None:
            details.update(authid=authid, authmethods=["ticket"])
            self.conn.send_json([raw.HELLO, "realm1", dict(roles=roles or raw.ROLES, **details)])
            msg = self.conn.recv_json()
            assert msg[0] == 4 and msg[1] == "ticket", msg  # CHALLENGE
            self.conn.send_json([5, authrole, {}])  # AUTHENTICATE
            msg = self.conn.recv_json()
        else:
            msg = raw.hello(self.conn, **details)
        assert msg[0] == raw.WELCOME, msg
        self.welcome = msg
        self.id = msg[1]
        self.authid = msg[2]["authid"]
        self.authrole = msg[2]["authrole"]

    def subscribe(self, t, **options):
        return raw.subscribe(self.conn, t, options)

    def subscribe_raw(self, t, **options):
        """SUBSCRIBE; returns (subscription ID, messages that came with SUBSCRIBED... none yet)."""
        req = self.conn.next_id()
        self.conn.send_json([raw.SUBSCRIBE, req, options, t])
        msg = raw.expect(self.conn, raw.SUBSCRIBED)
        assert msg[1] == req, msg
        return msg[2]

    def publish(self, t, args=None, kwargs=None, **options):
        """PUBLISH with acknowledge; returns the PUBLISHED or ERROR message."""
        req = self.conn.next_id()
        options.setdefault("acknowledge", True)
        msg = [raw.PUBLISH, req, options, t]
        if args is not None or kwargs is not None:
            msg.append(args if args is not None else [])
        if kwargs is not None:
            msg.append(kwargs)
        self.conn.send_json(msg)
        if not options["acknowledge"]:
            return None
        got = self.conn.recv_json()
        while got[0] == raw.EVENT:  # kept for events_until_marker
            self.pending.append(got)
            got = self.conn.recv_json()
        assert got[0] in (raw.PUBLISHED, raw.ERROR) and got[1 if got[0] == raw.PUBLISHED else 2] == req, got
        return got

    def call(self, procedure, args=None, kwargs=None):
        req = self.conn.next_id()
        msg = [raw.CALL, req, {}, procedure, args or []]
        if kwargs is not None:
            msg.append(kwargs)
        self.conn.send_json(msg)
        got = self.conn.recv_json()
        while got[0] == raw.EVENT:
            self.pending.append(got)
            got = self.conn.recv_json()
        return got

    def events_until_marker(self, timeout=5):
        """EVENT messages received up to (not including) the marker publication's."""
        out = []
        while True:
            msg = self.pending.pop(0) if self.pending else raw.expect(self.conn, raw.EVENT, timeout)
            if msg[4:5] == [[MARKER]]:
                return out
            out.append(msg)

    def close(self):
        self.conn.close()


def args_of(events):
    return [e[4][0] if len(e) > 4 and e[4] else None for e in events]


def marker(pub, t):
    got = pub.publish(t, [MARKER], exclude_me=False)
    assert got[0] == raw.PUBLISHED, got
