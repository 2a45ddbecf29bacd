"""Helpers for the Lua engine tests (test_lua_*.py): a router with app/policy scripts
written by the test into the router's temporary folder, polling, error capture.

Builds on conftest's router_factory (files=...) and mb_twisted; the scripts live in
<workdir>/apps/<name> (policy: <workdir>/policy/policy.lua), paths the config names
relative to its own folder.
"""
import textwrap
import time

import pytest

import mb_twisted as tx
from mb_router import T


def src(text):
    """Lua source written inline in a test (dedented)."""
    return textwrap.dedent(text).lstrip("\n")


def app_path(name):
    return "apps/" + name


POLICY_PATH = "policy/policy.lua"


def lua_router(router_factory, apps=None, policy=None, lua=None, realms_extra=(), start=True,
               **overrides):
    """A router whose realm1 runs `apps` ({file name: source}, or {folder name: {file: source}}
    for a folder app) and the optional `policy` script source; lua: the config's lua section."""
    files = {}
    paths = []
    for name, text in (apps or {}).items():
        if isinstance(text, dict):
            for fname, ftext in text.items():
                files[app_path(name) + "/" + fname] = src(ftext)
        else:
            files[app_path(name)] = src(text)
        paths.append(app_path(name))
    realm = {"name": "realm1"}
    if paths:
        realm["apps"] = paths
    if policy is not None:
        files[POLICY_PATH] = src(policy)
        realm["policy"] = POLICY_PATH
    cfg = {"realms": [realm] + list(realms_extra)}
    if lua is not None:
        cfg["lua"] = lua
    cfg.update(overrides)
    return router_factory(cfg, start=start, files=files)


def write_app(router, name, text, atomic=False):
    return router.write_file(app_path(name), src(text), atomic=atomic)


def wait_until(fn, timeout=3, interval=0.02, what="condition"):
    """Poll fn() until it returns a true value (returned); AssertionError after timeout,
    showing the last value or exception."""
    deadline = time.monotonic() + T(timeout)
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Exception as e:  # noqa: BLE001 - shown on timeout
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.1fs (last: %r)" % (what, T(timeout), last))
        time.sleep(interval)


def call_error(client, procedure, *args, _timeout=5, **kwargs):
    """The ApplicationError a call ends with; fails the test if it succeeds."""
    try:
        r = client.call(procedure, *args, _timeout=_timeout, **kwargs)
    except tx.ApplicationError as e:
        return e
    pytest.fail("call %s%r returned %r, expected an error" % (procedure, args, r), pytrace=False)


def parts(r):
    return tx.result_parts(r)


def register_with_invoke(client, procedure, fn, invoke, _timeout=5):
    """Register with Options.invoke set to any name, e.g. a custom policy of the realm's policy
    script. autobahn-python only lets the five built-in names through (RegisterOptions and
    message.Register assert on them), so the REGISTER is built with "roundrobin" and its invoke
    replaced just before autobahn serializes it."""
    from autobahn.wamp import message

    def go():
        transport = client.session._transport
        had_own = "send" in vars(transport)
        orig = transport.send

        def send(msg):
            if isinstance(msg, message.Register) and msg.procedure == procedure:
                msg.invoke = invoke
            return orig(msg)

        transport.send = send
        try:
            return client.session.register(fn, procedure, options=tx.RegisterOptions(invoke="roundrobin"))
        finally:
            if had_own:
                transport.send = orig
            else:
                del transport.send

    return tx.in_reactor(go, _timeout=_timeout)
