"""moonbar.store (the embedded store) driven by WAMP clients through a Lua app
(mb_store_app.APP): values round trip, versions and conflicts, deletes and prefix listing,
leaderboards, persistence across a restart, files that stop moonbar at start, a full database,
wait=false puts, many concurrent calls, the store in a policy script, and a shutdown with ops
in flight.
"""
import os

import pytest

import mb_lua as ml
import mb_router
import mb_store_app as sa
import mb_twisted as tx
from mb_router import T


def v_of(c, coll, key):
    got = c.call("store.get", coll, key)
    return None if got is None else tuple(got)


# ---------------------------------------------------------------- values and versions

def test_values_round_trip_exactly(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    values = [
        {"nested": {"list": [1, [2, [3, {}]], []], "empty_obj": {}, "empty_list": []}},
        [],
        {},
        [[], {}, [{}]],
        2 ** 53,
        -(2 ** 53),
        2 ** 53 - 1,
        1.5,
        -0.25,
        "héllo ☃",
        "",
        True,
        False,
        None,
        [None, 1, "a"],
    ]
    for i, v in enumerate(values):
        assert c.call("store.put", "vals", "k%d" % i, v) == 1, v
    for i, v in enumerate(values):
        got = v_of(c, "vals", "k%d" % i)
        assert got == (v, 1), (v, got)
        assert type(got[0]) is type(v)


def test_each_put_adds_one_to_the_version_and_absent_keys_give_null(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    assert c.call("store.get", "users", "ada") is None
    assert [c.call("store.put", "users", "ada", {"n": n}) for n in range(3)] == [1, 2, 3]
    assert v_of(c, "users", "ada") == ({"n": 2}, 3)
    assert c.call("store.put", "other", "ada", 1) == 1  # collections are apart


def test_version_conflict_reaches_the_wamp_caller_with_its_uri(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    assert c.call("store.put", "doc", "d", "v1", {"version": 0}) == 1  # 0: only if absent
    e = ml.call_error(c, "store.put", "doc", "d", "again", {"version": 0})
    assert e.error == "moonbar.error.store.version_conflict"
    assert "expected version 0, found 1" in e.args[0], e.args
    assert e.kwargs == {"expected": 0, "actual": 1}
    e = ml.call_error(c, "store.put", "doc", "d", "v?", {"version": 5})
    assert e.error == "moonbar.error.store.version_conflict"
    assert "expected version 5, found 1" in e.args[0]
    assert c.call("store.put", "doc", "d", "v2", {"version": 1}) == 2
    assert v_of(c, "doc", "d") == ("v2", 2)


def test_delete_and_list_by_prefix_with_a_limit(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    for k in ["room:2", "room:10", "room:1", "user:1"]:
        c.call("store.put", "c", k, {"k": k})
    got = c.call("store.list", "c", "room:")
    assert [x["key"] for x in got] == ["room:1", "room:10", "room:2"]
    assert got[0] == {"key": "room:1", "value": {"k": "room:1"}, "version": 1}
    assert [x["key"] for x in c.call("store.list", "c", "room:", 2)] == ["room:1", "room:10"]
    assert len(c.call("store.list", "c")) == 4
    assert c.call("store.list", "c", "zzz") == []
    assert c.call("store.delete", "c", "room:10") is True
    assert c.call("store.delete", "c", "room:10") is False
    assert [x["key"] for x in c.call("store.list", "c", "room:")] == ["room:1", "room:2"]


def test_bad_arguments_raise_clear_errors(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    bad = [
        ("get", (1, "k"), "moonbar.store.get: collection must be a string, got number"),
        ("get", ("", "k"), "collection must not be empty"),
        ("get", ("c", "x" * 201), "key is longer than 200 bytes"),
        ("put", ("c", "k"), "value is missing"),
        ("put", ("c", "k", 1, {"versoin": 1}), "unknown option versoin"),
        ("put", ("c", "k", 1, {"version": -1}), "options.version must be an integer >= 0"),
        ("list", ("c", "", 1001), "limit must be between 1 and 1000"),
        ("submit", ("b", "o", "ten"), "score must be a number"),
        ("submit", ("b", "o", 1, "max"), 'op must be "best", "set" or "incr"'),
        ("top", ("b", 0), "limit must be between 1 and 1000"),
    ]
    for fn, args, want in bad:
        got = c.call("store.bad", fn, list(args))
        assert want in got, (fn, args, got)


# ---------------------------------------------------------------- leaderboards

def test_leaderboards_best_set_incr_top_rank_and_ties(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    assert c.call("store.submit", "b", "carol", 50) == 50
    assert c.call("store.submit", "b", "alice", 40) == 40
    assert c.call("store.submit", "b", "bob", 50) == 50
    assert c.call("store.submit", "b", "alice", 30) == 40           # best keeps the higher
    assert c.call("store.submit", "b", "alice", 50, "best") == 50   # reaches 50 last
    assert c.call("store.submit", "b", "dave", 5, "set") == 5
    assert c.call("store.submit", "b", "dave", 2, "incr") == 7
    assert c.call("store.submit", "b", "erin", 2.5, "incr") == 2.5
    assert c.call("store.top", "b") == [
        {"rank": 1, "owner": "carol", "score": 50},
        {"rank": 2, "owner": "bob", "score": 50},
        {"rank": 3, "owner": "alice", "score": 50},
        {"rank": 4, "owner": "dave", "score": 7},
        {"rank": 5, "owner": "erin", "score": 2.5},
    ]
    assert [x["owner"] for x in c.call("store.top", "b", 2)] == ["carol", "bob"]
    assert c.call("store.rank", "b", "alice") == {"rank": 3, "score": 50}
    assert c.call("store.rank", "b", "nobody") is None
    top = c.call("store.top", "b")
    assert type(top[0]["score"]) is int and type(top[4]["score"]) is float
    assert c.call("store.submit", "b", "carol", 1, "set") == 1
    assert c.call("store.rank", "b", "bob") == {"rank": 1, "score": 50}


# ---------------------------------------------------------------- persistence, bad files

def test_data_survives_a_restart_of_moonbar(router_factory, clients, tmp_path):
    store = {"path": str(tmp_path / "keep" / "moonbar.db")}
    r1 = sa.store_router(router_factory, store=store)
    c = clients(r1)
    assert c.call("store.loaded") is None  # the app's load-time get (outside a task)
    c.call("store.put", "p", "k", {"deep": [1, {}, []]})
    c.call("store.put", "p", "k", {"deep": [2, {}, []]})
    c.call("store.submit", "lb", "ada", 7)
    c.call("store.put_many", "bulk", "w", 20, False)
    c.close()
    r1.check()  # stopped cleanly
    r2 = sa.store_router(router_factory, store=store)
    c = clients(r2)
    assert v_of(c, "p", "k") == ({"deep": [2, {}, []]}, 2)
    assert c.call("store.rank", "lb", "ada") == {"rank": 1, "score": 7}
    assert len(c.call("store.list", "bulk")) == 20
    assert c.call("store.loaded") == 1  # the first run's load-time put
    assert c.call("store.put", "p", "k", 0) == 3


def bad_start(tmp_path, store, prepare):
    """Runs moonbar with the store app and `store`; prepare(workdir) first. Returns the
    CompletedProcess (it must not start)."""
    r = mb_router.Router(tmp_path / "bad", {"store": store, "realms": [
        {"name": "realm1", "apps": ["apps/store.lua"]}]})
    r.write_file("apps/store.lua", ml.src(sa.APP))
    prepare(r.workdir)
    return mb_router.run_cli("--config", str(r.config_path), cwd=str(r.workdir / "run"), timeout=15)


def test_a_corrupt_database_file_stops_moonbar_at_start(tmp_path):
    def prepare(wd):
        (wd / "data").mkdir()
        (wd / "data" / "moonbar.db").write_bytes(b"this is not an SQLite database " * 200)
    p = bad_start(tmp_path, {"max_size_mb": 10}, prepare)
    assert p.returncode == 2, p.stderr
    path = str(tmp_path / "bad" / "data" / "moonbar.db")
    assert "moonbar: store %s: file is not a database\n" % path in p.stderr, p.stderr
    assert not mb_router.bad_output(p.stderr), p.stderr


def test_an_unwritable_folder_stops_moonbar_at_start(tmp_path):
    def prepare(wd):
        (wd / "blocker").write_text("a file where the store's folder should be\n")
    p = bad_start(tmp_path, {"path": "blocker/db/moonbar.db"}, prepare)
    assert p.returncode == 2, p.stderr
    path = str(tmp_path / "bad" / "blocker" / "db" / "moonbar.db")
    assert "moonbar: store %s: cannot create folder %s" % (path, tmp_path / "bad" / "blocker") in p.stderr, \
        p.stderr
    if os.geteuid() != 0:  # root writes anywhere: only the file in the way stops it
        def ro(wd):
            (wd / "ro").mkdir(mode=0o500)
        p = bad_start(tmp_path, {"path": "ro/moonbar.db"}, ro)
        assert p.returncode == 2 and "is not writable" in p.stderr, p.stderr


# ---------------------------------------------------------------- failures, load

def test_a_full_database_fails_the_call_and_everything_else_carries_on(router_factory, clients):
    r = sa.store_router(router_factory, store={"max_size_mb": 1})
    c, other = clients(r), clients(r, "rawsocket")
    c.call("store.put", "keep", "first", {"kept": [1, 2, 3]})
    other.register("com.other.echo", lambda x: x)
    big = "x" * 150000
    err = None
    for i in range(20):
        try:
            c.call("store.put", "fill", "k%d" % i, big)
        except tx.ApplicationError as e:
            err = e
            break
    assert err is not None, "1 MiB never filled up"
    assert err.error == "moonbar.error.store.failed"
    assert "database or disk is full" in err.args[0], err.args
    assert i >= 2
    r.wait_for_log(r"store: put fill/k%d failed: database or disk is full" % i)
    # earlier data is there, reads and other sessions work, moonbar is fine
    assert v_of(c, "keep", "first") == ({"kept": [1, 2, 3]}, 1)
    assert v_of(other, "fill", "k0") == (big, 1)
    assert c.call("store.get", "fill", "k%d" % i) is None
    assert c.call("com.other.echo", 42) == 42
    assert other.call("store.rank", "none", "x") is None
    assert r.alive()


def test_wait_false_puts_land_and_sync_waits_for_them(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    assert c.call("store.put", "nw", "x", 1, {"wait": False}) is None  # returns nothing at once
    assert c.call("store.put_many", "nw", "k", 300, False) is True     # then sync()
    assert len(c.call("store.list", "nw", "k", 1000)) == 300
    assert v_of(c, "nw", "k300") == ({"i": 300}, 1)
    assert v_of(c, "nw", "x") == (1, 1)


def test_many_concurrent_calls_from_several_clients_are_all_answered(router_factory, clients):
    r = sa.store_router(router_factory)
    cs = [clients(r, "websocket" if i % 2 else "rawsocket") for i in range(4)]
    futs = []
    for i, c in enumerate(cs):
        for k in range(50):
            futs.append(c.call_async("store.put", "hot", "counter", {"by": i}))
            futs.append(c.call_async("store.submit", "race", "p%d" % i, 1, "incr"))
            futs.append(c.call_async("store.get", "hot", "counter"))
    got = [tx.wait(f, T(10), "concurrent store call") for f in futs]
    versions = sorted(got[0::3])
    assert versions == list(range(1, 201))  # every put got its own version
    assert all(x is None or x[1] >= 1 for x in got[2::3])
    top = cs[0].call("store.top", "race")
    assert sorted(x["owner"] for x in top) == ["p0", "p1", "p2", "p3"]
    assert [x["score"] for x in top] == [50] * 4 and [x["rank"] for x in top] == [1, 2, 3, 4]
    assert v_of(cs[1], "hot", "counter")[1] == 200


def test_the_policy_script_reads_the_store_in_its_authorizer(router_factory, clients):
    policy = """
        moonbar.authorize(function(session, action, uri)
          if uri:sub(1, 4) == "vip." then  -- runs outside any task: at once, on the loop thread
            return moonbar.store.get("vip", tostring(session.id)) ~= nil
          end
          return true
        end)
    """
    vip = """
        moonbar.register("vip.hello", function() return "welcome" end)
    """
    r = ml.lua_router(router_factory, apps={"store.lua": sa.APP, "vip.lua": vip}, policy=policy)
    c = clients(r)
    e = ml.call_error(c, "vip.hello")
    assert e.error == "wamp.error.not_authorized"
    c.call("store.put", "vip", str(c.id), True)
    assert c.call("vip.hello") == "welcome"


def test_shutdown_with_tasks_waiting_on_the_store_is_clean(router_factory, clients):
    r = sa.store_router(router_factory)
    c = clients(r)
    for i in range(4):  # procedures that always wait on the store: SIGTERM finds them waiting
        c.call_async("store.spin", "sd", "k%d" % i)
    futs = [c.call_async("store.put_many", "sd", "m%d." % i, 30, i % 2 == 0) for i in range(20)]
    ml.wait_until(lambda: all((v_of(c, "sd", "k%d" % i) or (0, 0))[1] > 5 for i in range(4)),
                  what="spinning puts")
    tx.wait(futs[0], T(10), "first put_many")
    r.check()  # SIGTERM now: exit 0, no sanitizer or valgrind finding
    assert "store:" not in r.log.split("shutting down")[-1]  # nothing failed while closing
