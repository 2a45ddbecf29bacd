"""A chess game that outlives its router (docs/games.md: "Clocks survive hot reload and pause
while moonbar is down"; "The room service": snapshots to the store, restore after a restart):
SIGTERM mid-game, a new router on the same config and store (data/moonbar.db beside the
config): the games, their clocks (paused while moonbar was down, running again after), their
seats, the ratings and the archive are back; the players rejoin with their tokens and finish,
and the game is rated once.
"""
import time

import mb_chess as mc
import mb_rooms as mr
import mb_router
from mb_chess import ChessGame
from mb_router import T


def test_restart_mid_game_keeps_the_game_its_clocks_and_seats(router_factory, clients):
    mr.need_games_app()
    overrides = mc.chess_overrides()
    r1 = router_factory(overrides)
    c1 = clients(r1)

    # a rated game finished before the restart
    done = ChessGame(clients, r1, names=("alice", "bob"), line=mc.SCHOLAR, clock=False)
    done.play_line(end=("1-0", "checkmate"))
    mc.wait_scores(c1, "chess.rating", {"alice": 1516, "bob": 1484})
    mr.wait_until(lambda: len(mc.archive(c1)) == 1, what="the first game archived")

    # a game with a short clock: black's flag is running when moonbar stops
    short = mc.clock_s(2)
    reconnect = mc.clock_s(60)       # the seats wait that long for their players after the restart
    f = ChessGame(clients, r1, names=("fay", "flo"), spectator=None, line=mc.SCHOLAR,
                  clock={"initial_s": short, "increment_s": 0}, reconnect_s=reconnect)
    f.play()
    # the game that goes on after the restart: 1. e4 e5 2. Bc4, black to move
    initial, inc = mc.clock_s(60), 2
    g = ChessGame(clients, r1, names=("alice", "bob"), line=mc.SCHOLAR, clock={"initial_s": initial, "increment_s": inc},
                  reconnect_s=reconnect)
    for _ in range(3):
        g.play()
    g.check_events()
    f_before = f.state()
    tb0 = time.monotonic()
    before = g.state()
    b0 = before["state"]
    assert b0["turn"] == "black" and b0["clocks"]["black_ms"] <= int((initial + inc) * 1000), b0

    # SIGTERM: moonbar exits 0 and cleanly; it stays down a while
    r1.check()
    t_down = time.monotonic()
    time.sleep(T(1))

    r2 = mb_router.Router(r1.workdir, overrides)
    try:
        t_up = time.monotonic()
        r2.start()
        c = clients(r2)
        _, f_events = c.subscribe("moonbar.room." + f.room)
        after = mr.room_state(c, g.room)
        ta1 = time.monotonic()
        a0 = after["state"]
        assert after["seq"] == before["seq"] and after["status"] == "playing", (before["seq"], after)
        for k in ("fen", "moves", "san", "turn", "check", "clock", "rated", "draw_offer"):
            assert a0.get(k) == b0.get(k), "%s changed across the restart: %r -> %r" % (k, b0.get(k), a0.get(k))
        assert a0["players"] == {"white": {"name": "alice", "connected": False},
                                 "black": {"name": "bob", "connected": False}}, a0["players"]
        assert sorted((m["seat"], m["name"], m["connected"]) for m in a0["members"] if m["role"] == "player") == \
            [("black", "bob", False), ("white", "alice", False)], a0["members"]
        # the clocks: white's stopped, black's paused while moonbar was down
        assert a0["clocks"]["white_ms"] == b0["clocks"]["white_ms"], (b0["clocks"], a0["clocks"])
        used = b0["clocks"]["black_ms"] - a0["clocks"]["black_ms"]
        up = (t_down - tb0) + (ta1 - t_up)          # the time moonbar was running between the reads
        slack = 1000 * T(0.05)
        assert -slack <= used <= up * 1000 + slack, \
            ("black's clock lost %d ms between the reads, moonbar ran %.0f ms of them and was down %.0f ms: "
             "%r -> %r" % (used, up * 1000, (t_up - t_down) * 1000, b0["clocks"], a0["clocks"]))

        # the short game: still playing, and its flag still falls
        st = mr.room_state(c, f.room)
        assert st["status"] == "playing" and st["seq"] == f_before["seq"], st
        assert st["state"]["clocks"]["black_ms"] <= f_before["state"]["clocks"]["black_ms"]
        ev = mr.wait_until(lambda: [e.args[0] for e in f_events.snapshot() if e.args[0]["type"] == "end"],
                           timeout=2 + 5, what="the flag of the short game after the restart")[0]
        assert ev["result"] == "1-0" and ev["reason"] == "timeout" and ev["clocks"]["black_ms"] == 0, ev
        assert ev["seq"] == f_before["seq"] + 1, ev

        # what was saved besides: the finished room, the ratings, the archive
        e = mr.listed(c, done.room, "chess")
        assert e and e["status"] == "finished", e
        # the flag game (fay over flo) is rated after its end: two writes, one per player, so a
        # read between them sees one; wait for both
        mc.wait_scores(c, "chess.rating", {"alice": 1516, "bob": 1484, "fay": 1516, "flo": 1484})
        assert [x["room"] for x in mc.archive(c)][-1:] == [done.room]

        # the players come back with their tokens and finish
        answers = g.rejoin(clients, r2)
        assert answers["white"]["seq"] == after["seq"] + 1 and answers["black"]["seq"] == after["seq"] + 2, answers
        evs = g.white.public(after["seq"])
        assert [(x["type"], x["seat"]) for x in evs[:2]] == [("return", "white"), ("return", "black")], evs
        st = g.check_state()
        assert st["state"]["players"]["white"]["connected"] and st["state"]["players"]["black"]["connected"], st
        t0 = time.monotonic()
        black_left = mr.room_state(c, g.room)["state"]["clocks"]["black_ms"]
        ans = g.play()                                                  # 2... Nc6
        assert black_left + inc * 1000 - (time.monotonic() - t0) * 1000 - 1000 * T(0.05) <= \
            ans["clocks"]["black_ms"] <= black_left + inc * 1000, (black_left, ans["clocks"])
        g.play_line(end=("1-0", "checkmate"))
        g.check_events()
        g.check_state()

        # rated once: the second win of alice over bob
        alice, bob = mc.elo(1516, 1484, 1)
        want = {"alice": alice, "bob": bob, "fay": 1516, "flo": 1484}
        mc.wait_scores(c, "chess.rating", want)
        mc.wait_scores(c, "chess.wins", {"alice": 2, "fay": 1})
        mc.wait_scores(c, "chess.losses", {"bob": 2, "flo": 1})
        entries = mr.wait_until(lambda: (lambda a: a if len(a) == 3 else None)(mc.archive(c)), what="3 archived")
        assert sorted(x["room"] for x in entries) == sorted([done.room, f.room, g.room]), entries
        mc.check_pgn([x for x in entries if x["room"] == g.room][0]["pgn"], "alice", "bob", mc.SCHOLAR.san, "1-0")
        time.sleep(T(0.3))
        assert mr.scores(c, "chess.rating") == want, "rated twice"
    finally:
        r2.check()
