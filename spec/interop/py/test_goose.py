"""The goose game (docs/games.md, "Goose" and "Membership, reconnection and lifetimes") with
autobahn-python clients: full games checked roll by roll against goose_ref (an independent
reference of the rules), the event stream every member sees, spectators, the goose errors,
reconnection with the seat token, the reconnect timeout, the turn timeout (auto_roll) and the
leaderboards.

Every test starts its own router with the games app (mb_rooms.games_router); timers are short
room params (scaled with MOONBAR_TIMEOUT_SCALE) only where a test waits for one.
"""
import time

import goose_ref
import mb_rooms as mr
from mb_rooms import GooseTable, Member
from mb_router import T


def _seat(clients, r, room, name, transport="websocket", **kw):
    m = Member(clients(r, transport), room, name)
    m.join("player", **kw)
    return m


# ---------------------------------------------------------------- a full game

def test_full_game_of_three_players_checked_roll_by_roll(router_factory, clients):
    r = mr.games_router(router_factory)
    owner = clients(r)
    room = mr.goose_room(owner, max_players=4)
    e = mr.listed(owner, room, "goose")
    assert e and e["kind"] == "goose" and e["status"] == "waiting" and e["max_players"] == 4, e
    assert e["players"] == [] and e["spectators"] == 0, e

    names = ["ada", "bob", "cyd"]
    ms = {}
    for name, transport in zip(names, ["websocket", "rawsocket", "websocket"]):
        m = _seat(clients, r, room, name, transport)
        ms[m.seat] = m
    assert sorted(ms) == [1, 2, 3], "seats are taken in order 1, 2, ...: %r" % sorted(ms)
    assert [ms[s].name for s in (1, 2, 3)] == names
    st = ms[3].joined["state"]
    assert st["status"] == "waiting" and st["kind"] == "goose", st
    assert [(p["seat"], p["name"], p["square"]) for p in st["players"]] == \
        [(1, "ada", 0), (2, "bob", 0), (3, "cyd", 0)], st["players"]
    assert st.get("turn") is None and st.get("winner") is None
    assert st["max_players"] == 4 and st["turn_timeout_s"] == 30 and st["reconnect_s"] == 60, st
    colors = [p["color"] for p in st["players"]]
    assert len(set(colors)) == 3, colors

    # any seated player starts it once two are seated
    ms[2].act("start")
    st = ms[1].state()
    assert st["status"] == "playing" and st["state"]["turn"] == 1, st
    e = mr.listed(owner, room, "goose")
    assert e["status"] == "playing" and \
        e["players"] == [{"seat": s, "name": n, "connected": True} for s, n in zip((1, 2, 3), names)], e

    table = GooseTable(ms)
    start_seq = table.base
    n = table.play(check_every=1)
    assert table.ref.winner is not None and n == len(table.rolls)
    winner = table.ref.winner

    # the end: state, list, and every member saw the same events with consecutive seq
    st = table.check_state()
    assert st["status"] == "finished" and st["state"]["winner"] == winner, st
    assert st["state"].get("turn") is None, st["state"]
    assert st["state"]["last"]["to"] == 63, st["state"].get("last")
    end = [e for e in ms[1].public() if e["type"] == "end"]
    assert len(end) == 1 and end[0]["winner"] == winner and end[0]["name"] == ms[winner].name \
        and end[0]["reason"] == "finish", end
    first = ms[1].public()
    mr.check_consecutive(first, 0)
    assert first[0]["seq"] == 1 and [e["type"] for e in first[:3]] == ["join", "join", "join"], first[:4]
    assert [e["type"] for e in first if e["seq"] <= start_seq][-2:] == ["start", "turn"], first[:6]
    by_seq = {e["seq"]: e for e in first}
    for m in ms.values():
        evs = m.public()
        mr.check_consecutive(evs, evs[0]["seq"] - 1)
        assert evs[-1]["seq"] == first[-1]["seq"]
        for e in evs:
            assert e == by_seq[e["seq"]], "%s saw %r, ada %r" % (m.name, e, by_seq[e["seq"]])
    assert mr.listed(owner, room, "goose")["status"] == "finished"

    # the leaderboards
    mr.wait_until(lambda: mr.scores(owner, "goose.wins") == {ms[winner].name: 1}, what="goose.wins")
    mr.wait_until(lambda: mr.scores(owner, "goose.played") == {n: 1 for n in names}, what="goose.played")
    assert mr.top(owner, "goose.wins", 10) == [{"rank": 1, "owner": ms[winner].name, "score": 1}]
    assert len(mr.top(owner, "goose.played", 2)) == 2

    # after the end: no more rolls, and nobody can act
    for m in ms.values():
        m.act_error("game_over", "roll")
    ms[1].act_error("game_over", "start")


def test_turn_events_carry_the_seat_and_deadline_s(router_factory, clients):
    """docs/games.md: `turn {seat, deadline_s}` for the player to move."""
    r = mr.games_router(router_factory)
    room = mr.goose_room(clients(r), max_players=2)
    a = _seat(clients, r, room, "a")
    b = _seat(clients, r, room, "b")
    ev = a.wait_for({"type": "turn"})
    assert ev["seat"] == 1, ev
    assert isinstance(ev.get("deadline_s"), (int, float)), "turn event without deadline_s: %r" % ev
    table = GooseTable({1: a, 2: b})
    table.roll()
    ev = b.wait_for({"type": "turn"})
    assert isinstance(ev.get("deadline_s"), (int, float)), "turn event without deadline_s: %r" % ev


def test_several_games_every_roll_follows_the_rules(router_factory, clients):
    """More rolls for the reference to check: four 2-player games side by side in one router
    (bounces, geese, the inn, the well and prison, swaps come up in a few hundred rolls)."""
    r = mr.games_router(router_factory)
    owner = clients(r)
    tables = []
    for g in range(4):
        room = mr.goose_room(owner, max_players=2)
        a = _seat(clients, r, room, "a%d" % g)
        b = _seat(clients, r, room, "b%d" % g, "rawsocket")
        tables.append(GooseTable({1: a, 2: b}))
    kinds = set()
    while any(t.ref.winner is None for t in tables):
        for t in tables:
            if t.ref.winner is None:
                t.roll()
    for t in tables:
        t.check_events()
        t.check_state()
        for _, ans, _ in t.rolls:
            kinds.update(e["kind"] for e in ans["effects"])
    assert "win" in kinds and "goose" in kinds, kinds
    wins = mr.wait_until(lambda: (lambda s: s if sum(s.values()) == 4 else None)(mr.scores(owner, "goose.wins")),
                         what="four wins")
    assert set(wins) == {t.names[t.ref.winner] for t in tables}, wins


# ---------------------------------------------------------------- errors of the goose game

def test_goose_errors_leave_the_state_unchanged(router_factory, clients):
    r = mr.games_router(router_factory)
    owner = clients(r)
    room = mr.goose_room(owner, max_players=3)
    a = _seat(clients, r, room, "a")
    # waiting: start with one player, a seat that is taken, roll before the start
    a.act_error("invalid_argument", "start")
    other = Member(clients(r), room, "x")
    e = mr.error_of(other.c, "moonbar.room.join", room, **{"as": "player", "seat": 1, "name": "x"})
    assert e.error in (mr.ERR + "full", mr.ERR + "invalid_argument"), e   # a taken seat
    mr.expect_error("invalid_argument", other.c, "moonbar.room.join", room,
                    **{"as": "player", "name": "a"})        # the name is taken
    b = _seat(clients, r, room, "b")
    # the creator starts it without a seat
    owner_ans = mr.call(owner, "moonbar.room.act", room, "start")
    assert owner_ans is None or isinstance(owner_ans, dict), owner_ans
    table = GooseTable({1: a, 2: b})
    before = a.state()
    assert before["status"] == "playing"

    def unchanged():
        now = a.state()
        assert now == before, "state changed after an error:\n%r\n%r" % (before, now)

    b.act_error("not_your_turn", "roll")
    unchanged()
    # joining as a player once the game has started: full (a spectator may join)
    mr.expect_error("full", other.c, "moonbar.room.join", room, **{"as": "player", "name": "late"})
    unchanged()
    a.act_error("no_such_action", "fly")
    unchanged()
    a.act_error("invalid_argument", "start")                # already started
    unchanged()
    other.c.call("moonbar.room.state", room)                 # a non-member may read the state
    mr.expect_error("not_a_member", other.c, "moonbar.room.act", room, "roll")
    unchanged()
    # others carry on
    table.roll()
    table.roll()
    table.check_events()
    a2 = table.players[table.ref.turn]
    b2 = table.players[3 - table.ref.turn]
    before = a.state()
    b2.act_error("not_your_turn", "roll")
    unchanged()
    table.roll(a2.seat)
    table.check_events()
    table.check_state()

    # full room: a 2-seat room starts by itself when full, a third join is refused
    room2 = mr.goose_room(owner, max_players=2)
    _seat(clients, r, room2, "p")
    _seat(clients, r, room2, "q")
    assert mr.room_state(owner, room2)["status"] == "playing"
    e = mr.expect_error("full", other.c, "moonbar.room.join", room2, **{"as": "player", "name": "r"})
    assert isinstance(e.args[0], str)


# ---------------------------------------------------------------- spectators

def test_spectators_see_every_event_cannot_act_and_may_chat(router_factory, clients):
    r = mr.games_router(router_factory)
    room = mr.goose_room(clients(r), max_players=2)
    a = _seat(clients, r, room, "a")
    b = _seat(clients, r, room, "b", "rawsocket")
    table = GooseTable({1: a, 2: b})
    for _ in range(2):           # (no 2-player game ends within 2 rolls)
        table.roll()
    table.check_events()
    # a spectator joins mid-game: its state is the game's
    s = Member(clients(r, "rawsocket"), room, "watcher")
    ans = s.join("spectator")
    assert ans.get("seat") is None and ans.get("token") is None and ans["role"] == "spectator", ans
    assert ans["seq"] == table.seq + 1, (ans["seq"], table.seq)
    assert goose_ref.Goose.router_positions(ans["state"]) == table.ref.positions()
    assert ans["state"]["turn"] == table.ref.turn
    assert {"seat": None, "name": "watcher", "role": "spectator", "connected": True} in \
        [dict(m, seat=m.get("seat")) for m in ans["state"]["members"]], ans["state"]["members"]
    table.expect({"type": "join", "name": "watcher", "role": "spectator"})
    assert mr.listed(a.c, room)["spectators"] == 1
    s.since = ans["seq"] - 1
    table.observers.append(s)
    s_base = ans["seq"]

    # it cannot act, and that changes nothing
    before = a.state()
    s.act_error("not_a_member", "roll")
    s.act_error("not_a_member", "start")
    assert a.state() == before
    # joining as a player mid-game is refused
    mr.expect_error("full", s.c, "moonbar.room.join", room, **{"as": "player", "name": "w2"})
    # it may chat: everyone sees it
    seq = s.chat("hello players")
    assert seq == table.seq + 1, (seq, table.seq)
    table.expect({"type": "chat", "from": "watcher", "text": "hello players"})
    table.check_events()

    table.play()
    got = s.public(s_base)
    mr.check_consecutive(got, s_base)
    assert got[-1]["type"] == "end", got[-1]
    assert [e["type"] for e in got].count("roll") == len(table.rolls) - 2
    # the spectator left the finished room: a plain leave
    s.leave()
    ev = a.wait_for({"type": "leave", "name": "watcher"})
    assert ev["role"] == "spectator" and ev["reason"] == "left", ev


def test_spectator_join_answer_has_null_seat_and_token(router_factory, clients):
    """docs/games.md: joining as a spectator, `seat` and `token` are null; members are
    `{seat, name, role, connected}`."""
    r = mr.games_router(router_factory)
    room = mr.goose_room(clients(r), max_players=2)
    s = clients(r)
    ans = mr.call(s, "moonbar.room.join", room, **{"as": "spectator", "name": "eye"})
    assert "seat" in ans and ans["seat"] is None, "join answer of a spectator: %r" % ans
    assert "token" in ans and ans["token"] is None, "join answer of a spectator: %r" % ans
    (me,) = ans["state"]["members"]
    assert set(me) == {"seat", "name", "role", "connected"} and me["seat"] is None, me


# ---------------------------------------------------------------- reconnection

def test_reconnect_with_the_token_then_the_reconnect_timeout(router_factory, clients):
    r = mr.games_router(router_factory)
    reconnect_s = T(1.0)
    room = mr.goose_room(clients(r), max_players=2, reconnect_s=reconnect_s)
    a = _seat(clients, r, room, "ann")
    b = _seat(clients, r, room, "ben")
    table = GooseTable({1: a, 2: b}, observers=[a])
    table.roll()
    table.check_events()

    # ben's transport is cut: drop, the seat is kept
    token = b.token
    b.c.drop()
    ev = a.wait_for({"type": "drop"})
    assert mr.matches(ev, {"seq": table.seq + 1, "seat": 2, "name": "ben"}), ev
    table.expect({"type": "drop", "seat": 2, "name": "ben"})
    st = a.state()
    assert [p["connected"] for p in st["state"]["players"]] == [True, False], st["state"]["players"]
    assert {"seat": 2, "name": "ben", "role": "player", "connected": False} in st["state"]["members"]
    assert mr.listed(a.c, room)["players"][1] == {"seat": 2, "name": "ben", "connected": False}

    # a new session reclaims the seat with the token: return, same seat, current state
    b2 = Member(clients(r, "rawsocket"), room)
    ans = b2.join("player", token=token)
    assert ans["seat"] == 2 and ans["role"] == "player", ans
    assert goose_ref.Goose.router_positions(ans["state"]) == table.ref.positions()
    assert ans["state"]["turn"] == table.ref.turn
    ev = a.wait_for({"type": "return"})
    assert mr.matches(ev, {"seq": table.seq + 1, "seat": 2, "name": "ben"}), ev
    table.expect({"type": "return", "seat": 2, "name": "ben"})
    table.players[2] = b2
    table.observers.append(b2)
    b2_base = table.seq
    # it can roll: play rounds until ben rolled twice
    rolled = 0
    while rolled < 2 and table.ref.winner is None:
        if table.ref.turn == 2:
            rolled += 1
        table.roll()
    table.check_events(observers=[a])
    got = b2.public(b2_base)
    mr.check_consecutive(got, b2_base)
    if table.ref.winner is not None:
        return  # the game ended before the timeout part (rare); the reconnection was proved

    # cut again and wait: after reconnect_s, leave (timeout) and ann wins (last player)
    t0 = time.monotonic()
    b2.c.drop()
    a.wait_for({"type": "drop", "seat": 2})
    ev = a.wait_for({"type": "leave"}, timeout=reconnect_s + 5)
    waited = time.monotonic() - t0
    assert ev["seat"] == 2 and ev["name"] == "ben" and ev["reason"] == "timeout" and ev["role"] == "player", ev
    assert waited >= reconnect_s * 0.9, "leave after %.2fs, reconnect_s is %.2f" % (waited, reconnect_s)
    end = a.wait_for({"type": "end"})
    assert end["winner"] == 1 and end["name"] == "ann" and end["reason"] == "last_player", end
    assert end["seq"] == ev["seq"] + 1, (ev, end)
    st = a.state()
    assert st["status"] == "finished" and st["state"]["winner"] == 1, st
    assert [p["seat"] for p in st["state"]["members"] if p["role"] == "player"] == [1]
    # the token is worth nothing now
    b3 = clients(r)
    e = mr.error_of(b3, "moonbar.room.join", room, **{"as": "player", "token": token})
    assert e.error in (mr.ERR + "invalid_argument", mr.ERR + "full", mr.ERR + "game_over"), e
    mr.wait_until(lambda: mr.scores(a.c, "goose.wins") == {"ann": 1}, what="goose.wins")
    assert mr.scores(a.c, "goose.played").get("ann") == 1


def test_a_player_who_leaves_is_removed_and_the_last_one_wins(router_factory, clients):
    r = mr.games_router(router_factory)
    room = mr.goose_room(clients(r), max_players=3)
    ms = {s: _seat(clients, r, room, n) for s, n in ((1, "x"), (2, "y"), (3, "z"))}
    assert mr.room_state(ms[1].c, room)["status"] == "playing"
    table = GooseTable(ms, observers=[ms[1]])
    table.roll()
    table.check_events()
    # the player to move leaves: the turn passes on
    mover = table.ref.turn
    ms[mover].leave()
    out = table.ref.remove(mover)
    table.expect({"type": "leave", "seat": mover, "name": ms[mover].name, "role": "player", "reason": "left"})
    table.expect(*[{"type": "skip", "seat": s, "reason": why} for s, why in out["skips"]])
    table.expect({"type": "turn", "seat": out["next"]})
    del table.players[mover]
    table.observers = [m for m in table.players.values()]
    table.check_events()
    mr.expect_error("not_a_member", ms[mover].c, "moonbar.room.act", ms[mover].room, "roll")
    # one more leaves: the last one wins
    table.roll()
    table.check_events()
    quitter = [s for s in table.players if s != table.ref.turn][0]
    table.players[quitter].leave()
    out = table.ref.remove(quitter)
    last = out["winner"]
    assert last is not None
    table.expect({"type": "leave", "seat": quitter, "reason": "left"},
                 {"type": "end", "winner": last, "name": ms[last].name, "reason": "last_player"})
    table.observers = [table.players[last]]
    table.check_events()
    mr.wait_until(lambda: mr.scores(ms[1].c, "goose.wins") == {ms[last].name: 1}, what="goose.wins")
    st = table.players[last].state()
    assert st["status"] == "finished" and st["state"]["winner"] == last, st
    # "the game removes the player": the two who left are no longer among the players
    table.check_state(st)


AUTH_POLICY = """
    moonbar.authenticate(function(realm, authid, details)
      if details.authmethod == "ticket" and details.ticket == "pw" and authid then
        return {authrole = "user", authid = "u_" .. authid}
      end
      return {authrole = "anonymous"}
    end)
"""


def test_authenticated_players_own_their_seat_and_their_scores(router_factory, clients):
    """docs/games.md: for authenticated sessions the seat also belongs to the authid (a new
    session of the same authid gets it back without the token); the scores' owner is the
    authid; the default name is the authid."""
    r = mr.games_router(router_factory, policy_source=AUTH_POLICY)

    def login(who, transport="websocket"):
        c = clients(r, transport, authid=who, authmethods=["ticket"], ticket="pw")
        assert c.details.authid == "u_" + who and c.details.authmethod == "ticket", c.details
        return c

    room = mr.goose_room(login("alice"), max_players=2)
    a = Member(login("alice"), room, "Ann")
    a.join("player")
    b = Member(login("bob", "rawsocket"), room)      # no name: the authid
    b.join("player")
    assert b.name == "u_bob", b.joined["state"]["members"]
    table = GooseTable({1: a, 2: b}, observers=[a])
    table.roll()
    table.check_events()
    # bob's connection is cut; a new session of bob joins without the token: its seat
    b.c.drop()
    a.wait_for({"type": "drop", "seat": 2})
    table.expect({"type": "drop", "seat": 2})
    b2 = Member(login("bob"), room)
    ans = b2.join("player")
    assert ans["seat"] == 2 and ans["role"] == "player", ans
    a.wait_for({"type": "return", "seat": 2})
    table.expect({"type": "return", "seat": 2, "name": "u_bob"})
    table.players[2] = b2
    table.play()
    winner = table.ref.winner
    owners = {1: "u_alice", 2: "u_bob"}
    mr.wait_until(lambda: mr.scores(a.c, "goose.wins") == {owners[winner]: 1}, what="goose.wins by authid")
    assert mr.scores(a.c, "goose.played") == {"u_alice": 1, "u_bob": 1}


# ---------------------------------------------------------------- the turn timeout

def test_turn_timeout_rolls_for_the_player(router_factory, clients):
    r = mr.games_router(router_factory)
    timeout_s = T(0.3)
    room = mr.goose_room(clients(r), max_players=2, turn_timeout_s=timeout_s)
    a = Member(clients(r), room, "sleepy")
    b = Member(clients(r), room, "dozy")
    a.join("player")
    b.join("player")                 # full: it starts
    turn = a.wait_for({"type": "turn"})
    t_turn = time.monotonic()
    assert turn["seat"] == 1, turn
    ref = goose_ref.Goose([(1, "sleepy"), (2, "dozy")])
    table = GooseTable({1: a, 2: b}, ref=ref, base=turn["seq"])
    # nobody rolls: the router rolls for them, turn after turn
    for i in range(2):
        ev = a.wait_for({"type": "auto_roll"}, timeout=timeout_s + 5)
        waited = time.monotonic() - t_turn
        assert waited >= timeout_s * 0.8, "auto_roll %.2fs after the turn (timeout %.2fs)" % (waited, timeout_s)
        assert ev["seat"] == ref.turn, (ev, ref.turn)
        answer = {k: v for k, v in ev.items() if k not in ("type", "seq")}
        table.check_answer(ev["seat"], answer, kind="auto_roll")
        if ref.winner is not None:
            break
        nxt = a.wait_for({"type": "turn"})
        t_turn = time.monotonic()
        assert nxt["seat"] == ref.turn, (nxt, ref.turn)
    # a roll in time is a plain roll again
    if ref.winner is None:
        seat = ref.turn
        ans = table.players[seat].roll()
        table.check_answer(seat, ans)
        assert a.state()["state"]["last"]["to"] == ans["to"]
    table.check_events(exact=False)
