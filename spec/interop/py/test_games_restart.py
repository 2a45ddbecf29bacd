"""Games that outlive their code and their router (docs/games.md: "snapshots to the store,
restore after a restart, hot reload of the rules mid-game"):

- hot reload: the goose module of a copy of the games app is edited while two games are being
  played by clients calling in a loop: no disconnect, no failed call, the games go on with
  their positions and turns (every roll checked against goose_ref) and finish;
- restart: SIGTERM mid-game and a new router on the same config and store: rooms, seats,
  positions, whose turn and the leaderboards are back; players rejoin with their tokens and
  finish.
"""
import os
import threading
import time

import pytest

import mb_rooms as mr
import mb_router
from mb_rooms import GooseTable, Member
from mb_router import T

ON_RELOAD = "moonbar.script.on_reload"

# What the test edits in the copy's goose.lua (a message text and a harmless code change).
MSG_OLD = '"the game has already started"'
CODE_OLD = "local function timeout_ms(room) return room.state.turn_timeout_s * 1000 end"
CODE_NEW = "local function timeout_ms(room) local s = room.state.turn_timeout_s; return 1000 * s end"


def _edit(path, text, atomic=False):
    """Save a new version of a file: in place (truncate and write) or by renaming a new file
    over it, as editors do."""
    if atomic:
        tmp = path.with_name("." + path.name + ".new")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:
        path.write_text(text)


def _new_game(clients_of, owner, names):
    room = mr.create(owner, "goose", max_players=len(names))
    ms = {}
    for c, name in zip(clients_of, names):
        m = Member(c, room, name)
        m.join("player")
        ms[m.seat] = m
    return GooseTable(ms)


def test_hot_reload_of_the_goose_module_mid_game(router_factory, clients, tmp_path):
    app = mr.copy_games_app(tmp_path / "games")
    goose = app / "goose.lua"
    src = goose.read_text()
    assert MSG_OLD in src and CODE_OLD in src, \
        "goose.lua changed: update MSG_OLD/CODE_OLD of this test to a message and a line of it"
    r = mr.games_router(router_factory, app=app, lua={"watch": True})
    watcher = clients(r)
    _, reloads = watcher.subscribe(ON_RELOAD)
    owner = clients(r)

    players = [[clients(r), clients(r, "rawsocket")], [clients(r, "rawsocket"), clients(r), clients(r)]]
    sessions = [c.id for group in players for c in group]
    # a third game, started and waiting for its first roll, answers with the module's message
    probe_room = mr.create(owner, "goose", max_players=2)
    probe = Member(clients(r), probe_room, "p1")
    probe.join("player")
    probe2 = Member(clients(r), probe_room, "p2")
    probe2.join("player")
    assert probe.act_error("invalid_argument", "start").args[0] == MSG_OLD.strip('"')
    gen = [1]               # the version of the games app now running (reloads done + 1)
    spanned = [threading.Event(), threading.Event()]
    results = [None, None]

    def drive(k):
        """Play games in a loop until one that was in progress across a reload (rolls under two
        versions) has ended; every call must work."""
        try:
            games = 0
            while True:
                games += 1
                assert games <= 30, "no game spanned a reload"
                names = ["g%d_p%d_%d" % (k, i, games) for i in range(len(players[k]))]
                table = _new_game(players[k], owner, names)
                versions = []
                while table.ref.winner is None:
                    versions.append(gen[0])
                    table.roll()
                    table.players[table.ref.turn or 1].state()   # another call in the loop
                    if len(set(versions)) > 1:
                        spanned[k].set()
                    time.sleep(0.005)
                table.check_events()
                table.check_state()
                if len(set(versions)) > 1:
                    results[k] = {"games": games, "versions": versions}
                    return
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            results[k] = e
            spanned[k].set()

    threads = [threading.Thread(target=drive, args=(k,), daemon=True) for k in (0, 1)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    # edits: the message and a line of code, in place, until a reload happened in the middle of
    # a game of each driver
    for n in range(1, 9):
        mark = r.log_mark()
        _edit(goose, src.replace(MSG_OLD, '"the game is under way (reload %d)"' % n)
              .replace(CODE_OLD, CODE_NEW), atomic=n % 2 == 0)
        ev = reloads.wait(n, timeout=5)[n - 1]
        assert ev.kwargs == {"script": "games", "ok": True, "version": n + 1}, ev.kwargs
        r.wait_for_log(r"script games: version %d loaded" % (n + 1), since=mark)
        gen[0] = n + 1
        assert probe.act_error("invalid_argument", "start").args[0] == "the game is under way (reload %d)" % n
        if all(e.wait(0.15) for e in spanned):
            break
    for t in threads:
        t.join(T(60))
    for k, res in enumerate(results):
        assert not isinstance(res, BaseException), "game %d failed: %r" % (k, res)
        assert res is not None, "game %d did not finish" % k
    # the waiting game goes on too
    probe_table = GooseTable({1: probe, 2: probe2})
    probe_table.roll()
    probe_table.check_events()
    # no disconnect: the same sessions, still connected
    assert [c.id for group in players for c in group] == sessions
    assert all(c.is_connected() for group in players for c in group)
    assert "rejected" not in r.log[-5000:]


def test_hot_reload_keeps_the_state_of_a_waiting_game(router_factory, clients, tmp_path):
    """A reload between two rolls: the state after it is the state before it."""
    app = mr.copy_games_app(tmp_path / "games")
    goose = app / "goose.lua"
    src = goose.read_text()
    assert MSG_OLD in src
    r = mr.games_router(router_factory, app=app, lua={"watch": True})
    watcher = clients(r)
    _, reloads = watcher.subscribe(ON_RELOAD)
    owner = clients(r)
    table = _new_game([clients(r), clients(r), clients(r)], owner, ["x", "y", "z"])
    for _ in range(3):           # (no game of 3 ends within 3 rolls)
        table.roll()
    table.check_events()
    before = table.players[1].state()
    _edit(goose, src.replace(MSG_OLD, '"started already (edited)"'), atomic=True)
    ev = reloads.wait(1, timeout=5)[0]
    assert ev.kwargs.get("ok") is True, ev
    after = table.players[1].state()
    assert after == before
    assert table.players[1].act_error("invalid_argument", "start").args[0] == "started already (edited)"
    table.play()


@pytest.mark.parametrize("store", ["store_path", "default_store"])
def test_restart_restores_rooms_seats_positions_turn_and_leaderboards(router_factory, clients, tmp_path,
                                                                      store):
    """store_path: config store = {path = <absolute>}; default_store: no store key, the store
    is data/moonbar.db beside the config."""
    if store == "store_path":
        db = tmp_path / "store" / "games.db"
        db.parent.mkdir()
        overrides = mr.games_overrides(store={"path": str(db)})
    else:
        overrides = mr.games_overrides()
    mr.need_games_app()
    r1 = router_factory(overrides)
    if store == "default_store":
        db = r1.workdir / "data" / "moonbar.db"
    owner = clients(r1)

    # a game played to the end before the restart
    done = _new_game([clients(r1), clients(r1)], owner, ["alice", "bob"])
    done.play()
    won_by = done.names[done.ref.winner]
    mr.wait_until(lambda: mr.scores(owner, "goose.played") == {"alice": 1, "bob": 1}, what="played")
    wins_before = mr.scores(owner, "goose.wins")
    assert wins_before == {won_by: 1}

    # a game in progress, with a chat message
    names = ["alice", "bob", "carol"]
    for attempt in range(5):
        live = _new_game([clients(r1), clients(r1, "rawsocket"), clients(r1)], owner, names)
        for _ in range(7):
            live.roll()
            if live.ref.winner is not None:
                break
        if live.ref.winner is None:
            break
        # (a game that ended within 7 rolls (a 9 from 0 goes 9, 18, ... 63): another one)
        live.check_events()
    assert live.ref.winner is None
    mr.wait_until(lambda: sum(mr.scores(owner, "goose.wins").values()) == attempt + 1, what="wins so far")
    wins_before = mr.scores(owner, "goose.wins")
    played_before = mr.scores(owner, "goose.played")
    live.players[1].chat("see you after the restart")
    live.expect({"type": "chat", "from": "alice"})
    live.check_events()
    room = live.players[1].room
    before = mr.room_state(owner, room)
    tokens = {s: m.token for s, m in live.players.items()}

    # SIGTERM: moonbar exits 0 and cleanly
    r1.check()
    assert db.is_file(), "no store at %s" % db

    r2 = mb_router.Router(r1.workdir, overrides)
    try:
        r2.start()
        c = clients(r2)
        after = mr.room_state(c, room)
        assert after["seq"] == before["seq"], (before["seq"], after["seq"])
        assert after["status"] == "playing"
        s0, s1 = before["state"], after["state"]
        assert mr.goose_ref.Goose.router_positions(s1) == live.ref.positions(), s1["players"]
        assert s1.get("turn") == live.ref.turn
        assert [(p["seat"], p["name"]) for p in s1["players"]] == [(p["seat"], p["name"]) for p in s0["players"]]
        assert [m["text"] for m in s1["chat"]] == ["see you after the restart"]
        assert sorted((m["seat"], m["name"], m["connected"]) for m in s1["members"] if m["role"] == "player") == \
            [(1, "alice", False), (2, "bob", False), (3, "carol", False)], s1["members"]
        e = mr.listed(c, room, "goose")
        assert e and e["status"] == "playing" and [p["connected"] for p in e["players"]] == [False] * 3, e
        e = mr.listed(c, done.players[1].room, "goose")
        assert e and e["status"] == "finished", e
        assert mr.listed(c, "lobby") is not None
        # the leaderboards survived
        assert mr.scores(c, "goose.wins") == wins_before
        assert mr.scores(c, "goose.played") == played_before

        # the players come back with their tokens: return events, same seats, and finish
        back = {}
        seq = after["seq"]
        for seat in (1, 2, 3):
            m = Member(clients(r2, "rawsocket" if seat == 2 else "websocket"), room)
            ans = m.join("player", token=tokens[seat])
            assert ans["seat"] == seat and m.name == names[seat - 1], ans
            seq += 1
            assert ans["seq"] == seq, (ans["seq"], seq)
            back[seat] = m
        first = back[1]
        first.wait_seq(seq)
        evs = first.public(after["seq"])
        assert [(e["type"], e["seat"]) for e in evs][:1] == [("return", 1)], evs
        table = GooseTable(back, ref=live.ref, base=seq)
        table.check_state()
        table.play()
        winner = table.names[table.ref.winner]
        want = dict(wins_before, **{winner: wins_before.get(winner, 0) + 1})
        mr.wait_until(lambda: mr.scores(c, "goose.wins") == want, what="the new win")
        assert mr.scores(c, "goose.played") == {n: played_before.get(n, 0) + 1 for n in names}
    finally:
        r2.check()
