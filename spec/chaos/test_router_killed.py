"""moonbar killed with SIGKILL under load, then restarted on the same store file (docs/games.md:
snapshots to the store, restore after a restart; docs/lua-api.md, moonbar.store).

The router runs the games app (the room service, lua/apps/games) and the store test app
(mb_store_app.APP: one procedure per moonbar.store function) in realm1, one SQLite store. Before
the load: 4 goose games of 2 players are started and rolled a few times, 50 store records are put,
then store.sync() (every queued write, the rooms' snapshots included, committed). The load, for
1.5 s: a writer putting new records one after the other (each put is answered once its
transaction is committed), a client publishing acknowledged events to a subscriber and calling a
procedure, and the four games rolling. Then SIGKILL, mid-load.

Checks after the kill: SQLite's integrity_check of (a copy of) the store is "ok"; a new moonbar on
the same config and store starts; every store record whose put was answered is there with its
value and version (none lost), the records before the load too, the leaderboards; every room is
listed with its players, and its state is exactly the state of the game at a seq a client saw
(positions and turn as the rules had them then), not older than the synced one; players rejoin with
their tokens, roll on (checked against the rules), and calls and pub/sub work.

MOONBAR_CHAOS_LONG=1: 3 kill-and-restart cycles, 3 s of load each.
"""
import shutil
import sqlite3
import threading
import time

import goose_ref
import mb_lua as ml
import mb_rooms as mr
import mb_router
import mb_store_app as sa
import mb_twisted as tx
from conftest import LONG
from mb_rooms import GooseTable, Member
from mb_router import T

CYCLES = 3 if LONG else 1
LOAD_S = 3.0 if LONG else 1.5
GAMES = 4


def _config(db):
    cfg = mr.games_overrides(store={"path": str(db)}, lua={"callback_timeout": 5})
    cfg["realms"][0]["apps"].append(ml.app_path("store.lua"))
    return cfg


def _integrity(db, tmp):
    """integrity_check of a copy of the store (its -wal and -shm files too)."""
    tmp.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            shutil.copy(src, tmp / (db.name + suffix))
    con = sqlite3.connect(str(tmp / db.name))
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


class Game:
    """A goose table with the state (positions, turn) it had at each seq it reached."""

    def __init__(self, r, owner, k):
        room = mr.create(owner, "goose", max_players=2)
        ms = {}
        for i in range(2):
            m = Member(tx.connect(r, "websocket"), room, "k%d_p%d" % (k, i))
            m.join("player")
            ms[m.seat] = m
        self.room = room
        self.table = GooseTable(ms)
        self.tokens = {s: m.token for s, m in ms.items()}
        self.names = {s: m.name for s, m in ms.items()}
        self.history = {}
        self.note()

    def note(self):
        self.history[self.table.seq] = (self.table.ref.positions(), self.table.ref.turn, self.table.ref.winner)

    def roll(self):
        if self.table.ref.winner is None:
            self.table.roll()
            self.note()

    def close(self):
        for m in self.table.players.values():
            m.c.close()


def _loader(stop, fn, out):
    try:
        while not stop.is_set():
            fn()
    except BaseException as e:  # noqa: BLE001 - the kill ends every loader with an error
        out.append((time.monotonic(), e))


def test_sigkill_under_load_then_restart_on_the_same_store(router_factory, tmp_path):
    mr.need_games_app()
    db = tmp_path / "store" / "moonbar.db"
    db.parent.mkdir()
    cfg = _config(db)
    r = router_factory(cfg, files={ml.app_path("store.lua"): ml.src(sa.APP)})
    workdir = r.workdir
    owner = tx.connect(r, "websocket")
    games = [Game(r, owner, k) for k in range(GAMES)]
    for g in games:
        for _ in range(3):
            g.roll()
    acked = {}      # key -> (value, version) of every answered put
    for i in range(50):
        acked["pre%d" % i] = ({"i": i, "pre": True}, owner.call("store.put", "chaos", "pre%d" % i, {"i": i, "pre": True}))
    owner.call("store.submit", "chaos.board", "ada", 42)
    assert owner.call("store.sync") is True
    synced = {g.room: g.table.seq for g in games}
    clients = [owner]
    ctl = owner
    made = GAMES

    for cycle in range(CYCLES):
        for i in range(GAMES):   # a finished game is replaced by a new one (it stays listed)
            g = games[i]
            if g.table.ref.winner is not None:
                games.append(g)
                games[i] = Game(r, ctl, made)
                made += 1
                synced[games[i].room] = 0
        live = games[:GAMES]
        stop = threading.Event()
        errors = []
        writer = tx.connect(r, "websocket")
        pubber = tx.connect(r, "rawsocket")
        sub = tx.connect(r, "websocket")
        _, events = sub.subscribe("com.chaos.load")
        sub.register("com.chaos.load.echo", lambda x: x)
        clients += [writer, pubber, sub]
        n = [0]

        def write():
            n[0] += 1
            key = "c%d_w%d" % (cycle, n[0])
            value = {"cycle": cycle, "n": n[0], "pad": "y" * 100}
            ver = writer.call("store.put", "chaos", key, value)
            acked[key] = (value, ver)

        pubs = [0]

        def traffic():
            pubs[0] += 1
            pubber.publish("com.chaos.load", pubs[0])
            assert pubber.call("com.chaos.load.echo", pubs[0]) == pubs[0]

        def play(g):
            def step():
                g.roll()
                time.sleep(0.002)
            return step

        threads = [threading.Thread(target=_loader, args=(stop, fn, errors), daemon=True)
                   for fn in [write, traffic] + [play(g) for g in live]]
        for t in threads:
            t.start()
        time.sleep(LOAD_S)
        pid = r.proc.pid
        killed_at = time.monotonic()
        r.proc.kill()                       # SIGKILL, mid-load
        r.proc.wait(10)
        r.checked = True                    # (killed: no clean exit to check)
        stop.set()
        for t in threads:
            t.join(T(10))
        early = [e for t, e in errors if t < killed_at]
        assert not early, "the load failed before the kill: %r" % early
        writes = sum(1 for k in acked if k.startswith("c%d_" % cycle))
        print("cycle %d: moonbar %d killed after %d answered puts, %d publishes, rolls %r"
              % (cycle, pid, writes, pubs[0], [(len(g.history), g.table.ref.winner) for g in live]))
        assert writes > 20 and pubs[0] > 20, (writes, pubs[0])
        assert len(events) >= pubs[0] - 1      # (the last publish may be cut by the kill)
        for c in clients:
            c.close()

        check = _integrity(db, tmp_path / ("copy%d" % cycle))
        assert check == [("ok",)], check

        r = mb_router.Router(workdir, cfg)
        r.start()
        try:
            c = ctl = tx.connect(r, "websocket")
            clients = [c]
            # every answered put is there, with its value and version
            lost = []
            for key, (value, ver) in acked.items():
                got = c.call("store.get", "chaos", key)
                if got is None or got[0] != value or got[1] != ver:
                    lost.append((key, ver, got))
            assert not lost, "%d answered puts lost or changed after SIGKILL: %r" % (len(lost), lost[:5])
            assert c.call("store.rank", "chaos.board", "ada") == {"rank": 1, "score": 42}
            # every room is back, exactly as it was at a seq the players saw
            listed = {e["room"]: e for e in mr.room_list(c, "goose")}
            for g in games:
                assert g.room in listed, "room %s not restored: %r" % (g.room, sorted(listed))
                st = mr.room_state(c, g.room)
                seq = st["seq"]
                assert seq >= synced[g.room], (g.room, seq, synced[g.room])
                assert seq in g.history, "room %s restored at seq %d, not a seq of the game (%r)" % (
                    g.room, seq, sorted(g.history)[-5:])
                pos, turn, winner = g.history[seq]
                assert goose_ref.Goose.router_positions(st["state"]) == pos, (st["state"], pos)
                assert st["state"].get("turn") == turn and st["state"].get("winner") == winner
                assert sorted((p["seat"], p["name"]) for p in st["state"]["players"]) == sorted(g.names.items())
                # the players come back with their tokens and play on
                back = {}
                for seat, token in g.tokens.items():
                    m = Member(tx.connect(r, "websocket"), g.room)
                    ans = m.join("player", token=token)
                    assert ans["seat"] == seat, ans
                    back[seat] = m
                clients += [m.c for m in back.values()]
                now = mr.room_state(c, g.room)
                ref = goose_ref.Goose.from_state(now["state"])
                g.table = GooseTable(back, ref=ref, base=now["seq"])
                g.history = {now["seq"]: (ref.positions(), ref.turn, ref.winner)}
                synced[g.room] = now["seq"]
                for _ in range(2):
                    g.roll()
            # pub/sub and calls on the new router
            s2 = tx.connect(r, "rawsocket")
            clients.append(s2)
            _, ev2 = s2.subscribe("com.chaos.after")
            s2.register("com.chaos.after.echo", lambda x: x)
            for k in range(20):
                c.publish("com.chaos.after", k)
                assert c.call("com.chaos.after.echo", k) == k
            assert [e.args for e in ev2.wait(20)] == [[k] for k in range(20)]
            assert c.call("store.sync") is True
            synced.update({g.room: g.table.seq for g in games})
            for g in games:
                g.note()
        except BaseException:
            r.stop(timeout=1)
            raise
    for c in clients:
        c.close()
    r.check()
