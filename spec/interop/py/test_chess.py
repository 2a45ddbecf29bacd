"""The chess room (docs/games.md, "Chess (kind chess)") with autobahn-python clients: full games
checked move by move against known SAN and FEN (Scholar's mate, Byrne-Fischer 1956 from UCI),
every kind of illegal move refused with the state unchanged, the service's refusals, the
sorted legal moves, draw offers, resignation, the router's clocks (flag fall, insufficient
material to mate, increments), games from a FEN, the automatic draws (threefold repetition,
fifty moves, stalemate, insufficient material), ratings, PGN and the archive, and a hot
reload of the chess module mid-game with clocks running.

Every test starts its own router with the games app (mb_chess.chess_router, store beside its
config). Clocks that a test must beat are scaled with MOONBAR_TIMEOUT_SCALE (mb_chess.clock_s).
"""
import time

import mb_chess as mc
import mb_rooms as mr
from mb_chess import DRAW, ChessGame
from mb_rooms import Member
from mb_router import T

ROOM_ERR = mr.ERR


# ---------------------------------------------------------------- full games

def test_scholars_mate_seen_by_both_players_and_a_spectator(router_factory, clients):
    r = mc.chess_router(router_factory)
    log = mc.subscribe_prefix(clients(r), "moonbar.room.")             # logs every game
    g = ChessGame(clients, r, names=("alice", "bob"), line=mc.SCHOLAR)   # default clock 300 + 0
    g.check_start(clocks_ms=300000)
    st = g.check_state()
    s = st["state"]
    assert s["clock"] == {"initial_s": 300, "increment_s": 0}, s["clock"]
    assert s["rated"] is True and s.get("draw_offer") is None, s
    assert s["players"] == {"white": {"name": "alice", "connected": True},
                            "black": {"name": "bob", "connected": True}}, s["players"]
    assert set(s["clocks"]) == {"white_ms", "black_ms"} and s["clocks"]["black_ms"] == 300000, s["clocks"]
    assert 300000 - T(2) * 1000 <= s["clocks"]["white_ms"] <= 300000, s["clocks"]
    assert sorted((m["seat"], m["name"], m["role"]) for m in s["members"] if m["role"] == "player") == \
        [("black", "bob", "player"), ("white", "alice", "player")], s["members"]
    e = mr.listed(g.owner, g.room, "chess")
    assert e and e["status"] == "playing" and e["spectators"] == 1, e

    for i in range(len(mc.SCHOLAR)):
        ans = g.play(end=("1-0", "checkmate") if i == len(mc.SCHOLAR) - 1 else None)
        assert set(ans["clocks"]) == {"white_ms", "black_ms"}, ans
    g.check_events()
    st = g.check_state()
    s = st["state"]
    assert s["turn"] == "black" and s["check"] is True and s["result"] == "1-0" and s["reason"] == "checkmate", s
    end = g.events_of(g.spectator, "end")
    assert len(end) == 1 and end[0]["fen"] == g.expected[-2]["fen"], end
    assert set(end[0]["clocks"]) == {"white_ms", "black_ms"}, end
    moves = [e for e in g.events_of(g.black, "move")]
    assert [e["side"] for e in moves] == ["white", "black"] * 3 + ["white"], moves
    assert [e["check"] for e in moves] == [False] * 6 + [True], moves
    assert mr.listed(g.owner, g.room, "chess")["status"] == "finished"
    assert mr.as_list(g.owner.call("moonbar.room.act", g.room, "moves")) == [], "legal moves after a mate"

    def logged():
        return [ev for t, ev in log.snapshot() if t == "moonbar.room." + g.room and ev["type"] == "move"]

    mr.wait_until(lambda: len(logged()) == 7, what="the 7 moves on a prefix subscription to moonbar.room.")
    assert [ev["san"] for ev in logged()] == mc.SCHOLAR.san, logged()


def test_game_of_the_century_replayed_from_uci(router_factory, clients):
    """Byrne-Fischer, New York 1956: 82 plies, castling, a queen sacrifice, 41...Rc2# 0-1."""
    r = mc.chess_router(router_factory)
    g = ChessGame(clients, r, names=("Donald Byrne", "Robert James Fischer"), line=mc.CENTURY, clock=False)
    g.check_start()
    g.play_line(upto=40)
    g.check_events()
    g.check_state()
    g.play_line(end=("0-1", "checkmate"))
    g.check_events()
    st = g.check_state()
    assert st["state"]["clocks"] is None, st["state"]
    moves = g.events_of(g.spectator, "move")
    assert len(moves) == 82 and moves[-1]["san"] == "Rc2#" and moves[-1]["side"] == "black", moves[-1]
    assert all(e.get("clocks") is None for e in moves), "clocks of an untimed game: %r" % moves[0]
    pgn = g.white.act("pgn")
    mc.check_pgn(pgn, "Donald Byrne", "Robert James Fischer", mc.CENTURY.san, "0-1")


def test_special_moves_have_their_san_and_fen(router_factory, clients):
    """Castling both ways, en passant, promotion with check and under-promotion, SAN
    disambiguation by file, rank and square, a game whose first move is black's."""
    r = mc.chess_router(router_factory)
    wc, bc = clients(r), clients(r, "rawsocket")
    for line in (mc.CASTLING, mc.EN_PASSANT, mc.PROMOTIONS, mc.DISAMBIG_QUEEN, mc.DISAMBIG_KNIGHT,
                 mc.DISAMBIG_ROOK, mc.BLACK_FIRST, mc.KNIGHT_TAKES_ROOK):
        g = ChessGame(clients, r, white=wc, black=bc, spectator=None, line=line, clock=False)
        g.check_start()
        g.play_line()
        g.check_events()
        g.check_state()


# ---------------------------------------------------------------- refusals

GARBAGE = ["", "e2", "e2e", "e2e9", "i2i4", "e0e1", "a9a8", "e2e4e5", "hello", "e2-e4", "e4", "Nf3", "O-O",
           "0-0", "0000", " e2e4", "e2e4 ", "e2e4\n", "e2\u00e94", "\u00e92e4", "e2e4" * 50, "g1f3n"]

ILLEGAL_CASES = [
    # (what, FEN, illegal moves of the side to move, a legal move played after them)
    ("moving into check", "4k3/8/8/8/8/8/r7/4K3 w - - 0 1", ["e1e2", "e1d2", "e1f2"], "e1d1"),
    ("a pinned piece", "4k3/4r3/8/8/8/8/4B3/4K3 w - - 0 1", ["e2d3", "e2f3", "e2d1", "e2f1"], "e1d1"),
    ("a pinned pawn", "4k3/8/8/8/1b6/8/3P4/4K3 w - - 0 1", ["d2d3", "d2d4"], "e1e2"),
    ("leaving a check unanswered", "4k3/8/8/8/8/8/8/r3K2N w - - 0 1", ["h1g3", "h1f2"], "e1e2"),
    ("castling through check", "4kr2/8/8/8/8/8/8/R3K2R w KQ - 0 1", ["e1g1"], "e1c1"),
    ("castling out of check", "4r1k1/8/8/8/8/8/8/R3K2R w KQ - 0 1", ["e1g1", "e1c1"], "e1d1"),
    ("castling into check", "4k1r1/8/8/8/8/8/8/R3K2R w KQ - 0 1", ["e1g1"], "e1c1"),
    ("castling without rights", "4k3/8/8/8/8/8/8/R3K2R w - - 0 1", ["e1g1", "e1c1"], "e1f1"),
    ("castling on the side without the right", "4k3/8/8/8/8/8/8/R3K2R w K - 0 1", ["e1c1"], "e1g1"),
    ("castling through a piece", "4k3/8/8/8/8/8/8/RN2K2R w KQ - 0 1", ["e1c1"], "e1g1"),
    ("black castling through check", "r3k2r/8/8/8/8/8/8/3RK3 b kq - 0 1", ["e8c8"], "e8g8"),
    ("en passant without the right", "4k3/8/8/3pP3/8/8/8/4K3 w - - 0 1", ["e5d6"], "e5e6"),
    ("en passant exposing the king", "8/8/8/K2pP2r/8/8/8/4k3 w - d6 0 1", ["e5d6"], "e5e6"),
    ("promotion without its letter", "4k3/P7/8/8/8/8/8/4K3 w - - 0 1",
     ["a7a8", "a7a8k", "a7a8p", "a7a8x", "a7a8Q", "e1e2q"], "a7a8q"),
    ("blocked pawns", "4k3/8/8/8/4p3/4P3/8/4K3 w - - 0 1", ["e3e4", "e3d4", "e3f4", "e3e5"], "e1d1"),
    ("a blocked double push", "4k3/8/8/8/8/4p3/4P3/4K3 w - - 0 1", ["e2e4", "e2e3", "e2f3"], "e1d1"),
    ("pieces that do not move so", mc.START_FEN,
     ["g1g3", "f1f3", "e2e5", "a1a3", "e1e2", "d1d3", "e2e2", "b1d2", "c1a3", "h1h3"], "e2e4"),
    ("the opponent's pieces and empty squares", mc.START_FEN, ["e7e5", "g8f6", "b8c6", "e3e4", "a3a4"], "g1f3"),
    ("garbage", mc.START_FEN, GARBAGE, "b1c3"),
]


def test_every_kind_of_illegal_move_is_refused_and_changes_nothing(router_factory, clients):
    r = mc.chess_router(router_factory)
    wc, bc = clients(r), clients(r, "rawsocket")
    for what, fen, bad, good in ILLEGAL_CASES:
        g = ChessGame(clients, r, white=wc, black=bc, spectator=None, fen=fen, clock=False)
        m = g.member(mc.turn_of(fen))
        before = m.state()
        for uci in bad:
            try:
                mc.illegal(m, uci, before=before)
            except AssertionError as e:
                raise AssertionError("%s (%s): %s" % (what, fen, e)) from None
        assert uci_in(good, g), "%s: the control move %s is not in moves()" % (what, good)
        ans = m.act("move", good)
        assert ans["uci"] == good and ans["status"] == "playing", (what, ans)
        assert m.state()["state"]["moves"] == [good]


def uci_in(uci, g):
    return uci in mc.legal_moves(g.white)


def test_castling_rights_lost_and_en_passant_window_closed_during_the_game(router_factory, clients):
    r = mc.chess_router(router_factory)
    # the rook went out and came back: no more castling on its side
    g = ChessGame(clients, r, spectator=None, line=mc.ROOK_BACK_HOME, clock=False)
    g.play_line()
    assert not uci_in("e1g1", g) and uci_in("e1c1", g)
    mc.illegal(g.white, "e1g1")
    g.play("e1c1", "O-O-O", "4k3/8/8/8/8/8/8/2KR3R b - - 5 3")
    g.check_state()
    # en passant: only right after the double push
    g = ChessGame(clients, r, spectator=None, line=mc.EP_WINDOW, clock=False)
    g.play_line(upto=4)                       # 1. e4 a6 2. e5 d5
    assert uci_in("e5d6", g), "en passant right after d7-d5 is legal"
    g.play_line()                             # 3. h3 h6
    assert not uci_in("e5d6", g)
    mc.illegal(g.white, "e5d6")
    g.check_state()


def test_seats_are_white_and_black_as_asked_or_white_first(router_factory, clients):
    r = mc.chess_router(router_factory)
    owner = clients(r)
    room = mc.create_chess(owner, clock=False)
    b = Member(clients(r), room, "bea")
    ans = b.join("player", seat="black")
    assert ans["seat"] == "black" and ans["state"]["status"] == "waiting", ans
    x = Member(clients(r), room, "xav")
    mr.expect_error("invalid_argument", x.c, "moonbar.room.join", room, **{"as": "player", "seat": "red"})
    mr.expect_error("full", x.c, "moonbar.room.join", room, **{"as": "player", "seat": "black"})
    ans = x.join("player")
    assert ans["seat"] == "white" and ans["state"]["status"] == "playing", ans
    st = mr.room_state(owner, room)["state"]
    assert st["players"] == {"white": {"name": "xav", "connected": True},
                             "black": {"name": "bea", "connected": True}}, st["players"]
    assert st["turn"] == "white" and st["fen"] == mc.START_FEN, st
    e = mr.listed(owner, room, "chess")
    assert e["max_players"] == 2 and sorted(p["seat"] for p in e["players"]) == ["black", "white"], e
    for i in range(3):                       # spectators: as many as come
        Member(clients(r), room, "fan%d" % i).join("spectator")
    assert mr.listed(owner, room, "chess")["spectators"] == 3


def test_refusals_of_turn_membership_and_game_over(router_factory, clients):
    r = mc.chess_router(router_factory)
    owner = clients(r)
    room = mc.create_chess(owner, clock=False)
    w = Member(clients(r), room, "wendy")
    ans = w.join("player")                   # no seat asked: the first free one, white first
    assert ans["seat"] == "white" and ans["state"]["status"] == "waiting", ans
    before = w.state()
    e = mr.error_of(w.c, "moonbar.room.act", room, "move", "e2e4")
    assert e.error.startswith(ROOM_ERR) or e.error == mc.ILLEGAL, e
    assert w.state() == before, "a move before the start changed the room"
    b = Member(clients(r, "rawsocket"), room, "barry")
    ans = b.join("player")
    assert ans["seat"] == "black" and ans["state"]["status"] == "playing", ans
    spec = Member(clients(r), room, "sue")
    spec.join("spectator")
    outsider = clients(r)

    # whose turn
    mc.refused(b, "not_your_turn", "move", "e7e5")
    mc.refused(b, "not_your_turn", "move", "e2e4")           # white's move, asked by black
    w.act("move", "e2e4")
    mc.refused(w, "not_your_turn", "move", "d2d4")
    mc.refused(w, "not_your_turn", "move", "e7e5")
    # spectators and strangers
    for action, args in (("move", ["e7e5"]), ("resign", []), ("offer_draw", []), ("accept_draw", []),
                         ("decline_draw", [])):
        mc.refused(spec, "not_a_member", action, *args)
        before = w.state()
        mr.expect_error("not_a_member", outsider, "moonbar.room.act", room, action, *args)
        assert w.state() == before
    # the game has started: players are refused, spectators welcome
    late = Member(clients(r), room, "late")
    mr.expect_error("full", late.c, "moonbar.room.join", room, **{"as": "player", "name": "late"})
    mr.expect_error("full", late.c, "moonbar.room.join", room, **{"as": "player", "seat": "white"})
    # a refused action did not break the game
    assert b.act("move", "e7e5")["san"] == "e5"
    # the end: everything but the reads is game_over
    assert w.act("resign") is not None
    st = w.state()
    assert st["status"] == "finished" and st["state"]["result"] == "0-1" \
        and st["state"]["reason"] == "resignation", st
    for m in (w, b):
        for action, args in (("move", ["d2d4" if m is w else "d7d5"]), ("move", ["e1e2"]), ("resign", []),
                             ("offer_draw", []), ("accept_draw", []), ("decline_draw", [])):
            mc.refused(m, "game_over", action, *args)
    mc.refused(spec, "not_a_member", "move", "d7d5")
    assert st["state"]["moves"] == ["e2e4", "e7e5"]
    assert isinstance(spec.act("pgn"), str)      # reads still answer


def test_non_string_moves_are_refused_and_change_nothing(router_factory, clients):
    r = mc.chess_router(router_factory)
    g = ChessGame(clients, r, spectator=None, clock=False)
    before = g.white.state()
    for args in ([42], [], [None], [["e2", "e4"]], [{"uci": "e2e4"}], [True]):
        e = mr.error_of(g.white.c, "moonbar.room.act", g.room, "move", *args)
        assert e.error in (mc.ILLEGAL, ROOM_ERR + "invalid_argument"), (args, e.error, e.args)
        assert e.args and all(isinstance(a, str) for a in e.args), (args, e.args)
        assert g.white.state() == before, "move %r changed the room" % (args,)


# ---------------------------------------------------------------- legal moves

def test_moves_is_the_sorted_list_of_legal_moves(router_factory, clients):
    r = mc.chess_router(router_factory)
    wc, bc, stranger = clients(r), clients(r, "rawsocket"), clients(r)
    for fen, want in mc.LEGAL_MOVES.items():
        g = ChessGame(clients, r, white=wc, black=bc, fen=fen, clock=False)
        assert want == sorted(want)
        for c in (g.white.c, g.black.c, g.spectator.c, stranger):
            got = mr.as_list(c.call("moonbar.room.act", g.room, "moves"))
            assert got == want, "moves() of %s (%d, expected %d):\n got      %r\n expected %r" % (
                fen, len(got), len(want), got, want)
    start = mc.LEGAL_MOVES[mc.START_FEN]
    assert len(start) == 20
    # black's 20 after 1. e4
    g = ChessGame(clients, r, white=wc, black=bc, spectator=None, clock=False)
    g.play("e2e4", "e4", mc.SCHOLAR.forms(0))
    black = sorted(u[0] + chr(ord("9") - int(u[1])) + u[2] + chr(ord("9") - int(u[3])) for u in start)
    assert mc.legal_moves(g.black) == black


# ---------------------------------------------------------------- draws and resignation

def test_draw_offer_accepted_and_offered_back(router_factory, clients):
    r = mc.chess_router(router_factory)
    g = ChessGame(clients, r, clock=False)
    g.play("e2e4", "e4", mc.SCHOLAR.forms(0))
    g.black.act("offer_draw")
    g.expect({"type": "draw_offer", "side": "black"})
    assert g.state()["state"]["draw_offer"] == "black"
    g.white.act("accept_draw")
    g.ended((DRAW, "agreement"))
    g.check_events()
    st = g.check_state()
    assert st["state"].get("draw_offer") is None, st["state"]
    end = g.events_of(g.spectator, "end")[0]
    assert end["result"] == DRAW and end["reason"] == "agreement", end

    # offering back is accepting
    g = ChessGame(clients, r, clock=False)
    g.white.act("offer_draw")
    g.expect({"type": "draw_offer", "side": "white"})
    g.black.act("offer_draw")
    g.ended((DRAW, "agreement"))
    g.check_events()
    g.check_state()


def test_draw_offer_lapses_when_the_other_side_moves_and_can_be_declined(router_factory, clients):
    r = mc.chess_router(router_factory)
    g = ChessGame(clients, r, line=mc.SCHOLAR, clock=False)
    g.play()                                               # 1. e4
    g.white.act("offer_draw")                              # black to move
    g.expect({"type": "draw_offer", "side": "white"})
    assert g.state()["state"]["draw_offer"] == "white"
    # accepting one's own offer is no agreement
    before = g.state()
    e = mr.error_of(g.white.c, "moonbar.room.act", g.room, "accept_draw")
    assert e.error.startswith(ROOM_ERR), e
    assert g.state() == before
    g.play()                                               # 1... e5 instead of an answer
    st = g.check_state()
    assert st["state"].get("draw_offer") is None, "the offer did not lapse: %r" % st["state"].get("draw_offer")
    before = g.state()
    e = mr.error_of(g.black.c, "moonbar.room.act", g.room, "accept_draw")
    assert e.error.startswith(ROOM_ERR), "accepting a lapsed offer: %s %r" % (e.error, e.args)
    assert g.state() == before

    # an offer made before one's own move stands until the other side moves
    g.white.act("offer_draw")                              # white to move
    g.expect({"type": "draw_offer", "side": "white"})
    g.play()                                               # 2. Bc4
    assert g.state()["state"]["draw_offer"] == "white", "the offer lapsed when its own side moved"
    # declined: draw_declined, no offer, the game goes on
    g.black.act("decline_draw")
    g.expect({"type": "draw_declined", "side": "black"})
    assert g.state()["state"].get("draw_offer") is None
    before = g.state()
    for m in (g.black, g.white):
        e = mr.error_of(m.c, "moonbar.room.act", g.room, "decline_draw")
        assert e.error.startswith(ROOM_ERR), e
        e = mr.error_of(m.c, "moonbar.room.act", g.room, "accept_draw")
        assert e.error.startswith(ROOM_ERR), e
    assert g.state() == before
    g.play_line(end=("1-0", "checkmate"))
    g.check_events()
    g.check_state()


def test_resignation(router_factory, clients):
    r = mc.chess_router(router_factory)
    wc, bc = clients(r), clients(r, "rawsocket")
    # white resigns on its move
    g = ChessGame(clients, r, white=wc, black=bc, clock=False)
    g.white.act("resign")
    g.ended(("0-1", "resignation"))
    g.check_events()
    g.check_state()
    # black resigns while white is to move
    g = ChessGame(clients, r, white=wc, black=bc, line=mc.SCHOLAR, clock=False)
    g.play()
    g.play()
    g.black.act("resign")
    g.ended(("1-0", "resignation"))
    g.check_events()
    g.check_state()
    end = g.events_of(g.spectator, "end")[0]
    assert end["fen"] == g.expected[1]["fen"], end


def test_leaving_mid_game_loses_it(router_factory, clients):
    r = mc.chess_router(router_factory)
    g = ChessGame(clients, r, line=mc.SCHOLAR, clock=False)
    g.play()
    g.black.leave()
    g.expect({"type": "leave", "seat": "black", "role": "player", "reason": "left"})
    g.ended(("1-0", "abandoned"))
    g.observers.remove(g.black)
    g.check_events()


# ---------------------------------------------------------------- clocks

FLAG_CASES = [
    # (what, FEN, moves before the flag, flagged side, result)
    ("black flags after 1. e4", mc.START_FEN, ["e2e4"], "black", "1-0"),
    ("white flags before moving", mc.START_FEN, [], "white", "0-1"),
    ("white flags, black has a bare king", "8/8/8/8/8/8/k7/6RK w - - 0 1", [], "white", DRAW),
    ("black flags, white has king and knight", "8/8/8/8/8/8/kp6/6NK b - - 0 1", [], "black", DRAW),
    ("black flags, white has king and bishop", "8/8/8/8/8/8/kp6/5BK1 b - - 0 1", [], "black", DRAW),
    ("black flags, white has king and rook", "8/8/8/8/8/8/k7/6RK b - - 0 1", [], "black", "1-0"),
    ("black flags, white has king and two knights", "8/8/8/8/8/8/k7/5NNK b - - 0 1", [], "black", "1-0"),
    ("white flags with a bare king, black has a pawn", "8/8/8/8/8/8/kp6/7K w - - 0 1", [], "white", "0-1"),
]


def test_flag_falls_end_the_game_by_themselves(router_factory, clients):
    """2 s clocks (scaled): nobody calls, the router ends each game when the flag falls, with
    reason timeout: the other side wins, or a draw when it has only a king or a king and one
    minor piece."""
    r = mc.chess_router(router_factory)
    wc, bc = clients(r), clients(r, "rawsocket")
    initial = mc.clock_s(2)
    games = []
    for what, fen, moves, flagged, result in FLAG_CASES:
        owner = clients(r)
        room = mc.create_chess(owner, fen=fen, clock={"initial_s": initial, "increment_s": 0})
        w, b = Member(wc, room, "w"), Member(bc, room, "b")
        w.join("player", seat="white")
        t0 = time.monotonic()               # the first clock starts at the next join
        b.join("player", seat="black")
        for uci in moves:
            t0 = time.monotonic()           # then the other one at this move
            w.act("move", uci)
        games.append((what, w, t0, flagged, result, len(moves)))
    for what, w, t0, flagged, result, n in games:
        end = w.wait_for({"type": "end"}, timeout=2 + 5, what="%s: the end" % what)
        elapsed = time.monotonic() - t0
        assert end["result"] == result and end["reason"] == "timeout", "%s: %r" % (what, end)
        assert elapsed >= initial - 0.05, "%s: the flag fell after %.2fs of a %.2fs clock" % (what, elapsed, initial)
        assert end["clocks"][flagged + "_ms"] == 0, "%s: %r" % (what, end)
        other = end["clocks"][mc.OTHER[flagged] + "_ms"]
        assert 0 < other <= initial * 1000, "%s: %r" % (what, end)
        st = mr.room_state(w.c, w.room)
        s = st["state"]
        assert st["status"] == "finished" and s["result"] == result and s["reason"] == "timeout", (what, s)
        assert s["clocks"][flagged + "_ms"] == 0 and s["clocks"][mc.OTHER[flagged] + "_ms"] == other, (what, s)
        assert len(s["moves"]) == n
        mr.check_consecutive(w.public(), 0)
        assert [e["type"] for e in w.public()][-1] == "end", w.public()
    w = games[0][1]
    w.act_error("game_over", "move", "d2d4")


def test_increment_is_added_after_each_move_and_only_the_side_to_move_loses_time(router_factory, clients):
    r = mc.chess_router(router_factory)
    initial = mc.clock_s(30)
    inc = 5
    I, INC = int(initial * 1000), inc * 1000
    slack = T(0.05) * 1000

    def ms(a, b):
        return (b - a) * 1000

    t0 = time.monotonic()           # white's clock starts after this, at black's join
    g = ChessGame(clients, r, line=mc.SCHOLAR, clock={"initial_s": initial, "increment_s": inc})
    s = g.check_state()["state"]
    assert s["clock"] == {"initial_s": initial, "increment_s": inc}, s["clock"]
    assert s["clocks"]["black_ms"] == I and I - ms(t0, time.monotonic()) - slack <= s["clocks"]["white_ms"] <= I, \
        s["clocks"]
    time.sleep(0.3)
    tw0 = time.monotonic()
    c = g.play()["clocks"]          # white used 300 ms at least, gets 5 s
    tw1 = time.monotonic()
    assert I + INC - ms(t0, tw1) - slack <= c["white_ms"] <= I + INC - 300 + 1, \
        "white's clock after its move with %ds increment: %r (initial %d)" % (inc, c, I)
    assert I - ms(tw0, tw1) - slack <= c["black_ms"] <= I, c
    ev = g.black.wait_for({"type": "move", "uci": "e2e4"})
    assert ev["clocks"]["white_ms"] == c["white_ms"], (ev, c)
    assert I - ms(tw0, tw1) - slack <= ev["clocks"]["black_ms"] <= I, ev
    white_after = c["white_ms"]

    time.sleep(0.4)
    s = g.state()["state"]
    assert s["clocks"]["white_ms"] == white_after, "white's clock ran on black's move: %r" % s["clocks"]
    assert I - ms(tw0, time.monotonic()) - slack <= s["clocks"]["black_ms"] <= I - 400 + 1, s["clocks"]
    tb0 = time.monotonic()
    c = g.play()["clocks"]          # black used 400 ms at least, gets 5 s
    tb1 = time.monotonic()
    assert I + INC - ms(tw0, tb1) - slack <= c["black_ms"] <= I + INC - ms(tw1, tb0) + 1, c
    assert white_after - ms(tb0, tb1) - slack <= c["white_ms"] <= white_after, c
    g.play_line(end=("1-0", "checkmate"))
    g.check_events()
    end = g.events_of(g.white, "end")[0]
    assert end["clocks"]["white_ms"] > I and end["clocks"]["black_ms"] > I, end


def test_clock_false_has_no_clocks_and_bad_clocks_are_refused(router_factory, clients):
    r = mc.chess_router(router_factory)
    c = clients(r)
    g = ChessGame(clients, r, spectator=None, clock=False)
    s = g.check_state()["state"]
    assert s.get("clocks") is None and not s.get("clock"), s
    for bad in ({"initial_s": 0}, {"initial_s": -5}, {"initial_s": "300"}, {"increment_s": 2},
                {"initial_s": 60, "increment_s": -1}, "blitz", 300, True):
        mr.expect_error("invalid_argument", c, "moonbar.room.create", "chess", clock=bad)
    mr.expect_error("invalid_argument", c, "moonbar.room.create", "chess", rated="yes")
    mr.expect_error("invalid_argument", c, "moonbar.room.create", "chess", colour="white")


# ---------------------------------------------------------------- FEN

BAD_FENS = [
    "", "not a fen", "8/8/8/8/8/8/8/8 w - - 0 1",
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR x KQkq - 0 1",
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP w KQkq - 0 1",
    "rnbqkbnr/pppppppp/9/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1",
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNRR w KQkq - 0 1",
    "rnbqkbnr/ppppXppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1",
    "4k3/8/8/8/8/8/8/4KK2 w - - 0 1",
    "4k3/8/8/8/8/8/8/8 w - - 0 1",
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq e9 0 1",
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - x 1",
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w XYZ - 0 1",
    "4k3/4R3/8/8/8/8/8/4K3 w - - 0 1",        # black is in check with white to move
]


def test_game_from_a_fen(router_factory, clients):
    r = mc.chess_router(router_factory)
    line = mc.BLACK_FIRST
    g = ChessGame(clients, r, line=line, clock=False)
    g.check_start()
    st = g.check_state()
    assert st["state"]["fen"] == line.start and st["state"]["turn"] == "black", st["state"]
    assert st["state"]["moves"] == [] and st["state"]["san"] == []
    g.play_line()
    g.check_events()
    g.check_state()
    pgn = g.spectator.act("pgn")
    mc.check_pgn(pgn, "ann", "ben", line.san, "*", start_fen=line.start)

    # bad FENs: invalid_argument with the reason, no room made
    c = clients(r)
    rooms_before = sorted(e["room"] for e in mr.room_list(c))
    for fen in BAD_FENS:
        e = mr.error_of(c, "moonbar.room.create", "chess", fen=fen)
        assert e.error == ROOM_ERR + "invalid_argument", "FEN %r: %s %r" % (fen, e.error, e.args)
        assert e.args and isinstance(e.args[0], str) and e.args[0], (fen, e.args)
    mr.expect_error("invalid_argument", c, "moonbar.room.create", "chess", fen=42)
    assert sorted(e["room"] for e in mr.room_list(c)) == rooms_before


# ---------------------------------------------------------------- automatic draws

def test_threefold_repetition_draws(router_factory, clients):
    r = mc.chess_router(router_factory)
    g = ChessGame(clients, r, line=mc.THREEFOLD, clock=False)
    g.play_line(upto=7)
    assert g.state()["status"] == "playing", "a draw before the third repetition"
    g.play_line(end=(DRAW, "threefold"))
    g.check_events()
    g.check_state()


def test_fifty_move_rule(router_factory, clients):
    r = mc.chess_router(router_factory)
    wc, bc = clients(r), clients(r, "rawsocket")
    g = ChessGame(clients, r, white=wc, black=bc, line=mc.FIFTY, clock=False)
    g.play_line(end=(DRAW, "fifty_moves"))            # the 100th quiet half-move
    g.check_events()
    g.check_state()
    g = ChessGame(clients, r, white=wc, black=bc, line=mc.FIFTY_PAWN, clock=False)
    g.play_line()                                     # a pawn move resets the count
    g.check_state()
    assert g.state()["state"]["fen"].split(" ")[4] == "0"
    g = ChessGame(clients, r, white=wc, black=bc, line=mc.FIFTY_MATE, clock=False)
    g.play_line(end=("1-0", "checkmate"))             # mate on the 100th half-move is mate
    g.check_events()


def test_stalemate_and_insufficient_material(router_factory, clients):
    r = mc.chess_router(router_factory)
    wc, bc = clients(r), clients(r, "rawsocket")
    for line, end in ((mc.STALEMATE, (DRAW, "stalemate")),
                      (mc.BARE_KINGS, (DRAW, "insufficient_material")),
                      (mc.KNIGHT_TAKES_LAST_ROOK, (DRAW, "insufficient_material"))):
        g = ChessGame(clients, r, white=wc, black=bc, line=line, clock=False)
        g.play_line(end=end)
        g.check_events()
        st = g.check_state()
        if end[1] == "stalemate":
            assert mc.legal_moves(g.white) == [], "legal moves in a stalemate"
            assert st["state"]["check"] is False
    # a capture that leaves mating material does not end the game
    g = ChessGame(clients, r, white=wc, black=bc, line=mc.KNIGHT_TAKES_ROOK, clock=False)
    g.play_line()
    assert g.state()["status"] == "playing"


# ---------------------------------------------------------------- ratings, PGN, archive

def test_ratings_are_updated_once_per_rated_game(router_factory, clients):
    r = mc.chess_router(router_factory)
    c = clients(r)
    alice, bob = clients(r), clients(r, "rawsocket")
    assert mr.top(c, "chess.rating") == []
    # 1: alice mates bob
    g = ChessGame(clients, r, names=("alice", "bob"), white=alice, black=bob, line=mc.SCHOLAR, clock=False)
    g.play_line(end=("1-0", "checkmate"))
    mc.wait_scores(c, "chess.rating", {"alice": 1516, "bob": 1484})
    assert mr.top(c, "chess.rating", 10) == [{"rank": 1, "owner": "alice", "score": 1516},
                                             {"rank": 2, "owner": "bob", "score": 1484}]
    mc.wait_scores(c, "chess.wins", {"alice": 1})
    mc.wait_scores(c, "chess.losses", {"bob": 1})
    assert mr.scores(c, "chess.draws") == {}
    for _ in range(3):                               # reads after the end change nothing
        g.white.act("pgn")
        g.state()
    time.sleep(T(0.3))
    assert mr.scores(c, "chess.rating") == {"alice": 1516, "bob": 1484}, "rated twice"
    assert mr.scores(c, "chess.wins") == {"alice": 1} and mr.scores(c, "chess.losses") == {"bob": 1}

    # 2: bob (white) and alice agree a draw
    g = ChessGame(clients, r, names=("bob", "alice"), white=bob, black=alice, clock=False)
    g.white.act("offer_draw")
    g.black.act("accept_draw")
    want = dict(zip(("bob", "alice"), mc.elo(1484, 1516, 0.5)))
    assert want == {"bob": 1485, "alice": 1515}
    mc.wait_scores(c, "chess.rating", want)
    mc.wait_scores(c, "chess.draws", {"alice": 1, "bob": 1})
    assert mr.scores(c, "chess.wins") == {"alice": 1} and mr.scores(c, "chess.losses") == {"bob": 1}

    # 3: unrated: nothing moves
    g = ChessGame(clients, r, names=("alice", "bob"), white=alice, black=bob, line=mc.SCHOLAR, clock=False,
                  rated=False)
    assert g.state()["state"]["rated"] is False
    g.play_line(end=("1-0", "checkmate"))
    mr.wait_until(lambda: len(mc.archive(c, 10)) == 3, what="three games archived")
    time.sleep(T(0.3))
    assert mr.scores(c, "chess.rating") == want
    assert mr.scores(c, "chess.wins") == {"alice": 1} and mr.scores(c, "chess.losses") == {"bob": 1}
    assert mr.scores(c, "chess.draws") == {"alice": 1, "bob": 1}

    # 4: a newcomer resigns to alice
    g = ChessGame(clients, r, names=("carol", "alice"), black=alice, clock=False)
    g.white.act("resign")
    carol, alice_r = mc.elo(1500, 1515, 0)
    mc.wait_scores(c, "chess.rating", {"alice": alice_r, "bob": 1485, "carol": carol})
    mc.wait_scores(c, "chess.wins", {"alice": 2})
    mc.wait_scores(c, "chess.losses", {"bob": 1, "carol": 1})


def test_pgn_of_a_finished_game_and_the_archive(router_factory, clients):
    r = mc.chess_router(router_factory)
    c = clients(r)
    assert mc.archive(c) == []
    g = ChessGame(clients, r, names=("alice", "bob"), line=mc.SCHOLAR, clock=False)
    g.play_line(upto=3)
    mc.check_pgn(g.white.act("pgn"), "alice", "bob", mc.SCHOLAR.san[:3], "*")   # in progress
    g.play_line(end=("1-0", "checkmate"))
    pgn = g.white.act("pgn")
    tags = mc.check_pgn(pgn, "alice", "bob", mc.SCHOLAR.san, "1-0")
    assert "1. e4 e5 2. Bc4 Nc6 3. Qh5 Nf6 4. Qxf7# 1-0" in " ".join(pgn.split()), pgn
    for other in (g.spectator.c, c):                       # anyone may ask
        assert mr.call(other, "moonbar.room.act", g.room, "pgn") == pgn
    entries = mr.wait_until(lambda: mc.archive(c), what="the game archived")
    assert len(entries) == 1, entries
    e = entries[0]
    assert set(e) >= {"room", "white", "black", "result", "reason", "pgn", "ended", "moves"}, e
    assert (e["room"], e["white"], e["black"], e["result"], e["reason"]) == \
        (g.room, "alice", "bob", "1-0", "checkmate"), e
    assert e["moves"] in (7, mc.SCHOLAR.uci), e["moves"]
    assert isinstance(e["ended"], (int, float)) and abs(e["ended"] - time.time()) < 60 + T(5), e["ended"]
    assert dict(mc.parse_pgn(e["pgn"])[0])["Result"] == "1-0" and e["pgn"] == pgn, e["pgn"]
    assert tags["White"] == "alice"

    # a second game, finished after the first: newest first
    g2 = ChessGame(clients, r, names=("carl", "dora"), line=mc.SCHOLAR, clock=False)
    g2.play()
    g2.black.act("resign")
    entries = mr.wait_until(lambda: (lambda a: a if len(a) == 2 else None)(mc.archive(c)), what="two archived")
    assert [(x["room"], x["result"], x["reason"]) for x in entries] == \
        [(g2.room, "1-0", "resignation"), (g.room, "1-0", "checkmate")], \
        "chess.archive.latest is not newest first: %r" % [(x["room"], x["ended"]) for x in entries]
    mc.check_pgn(entries[0]["pgn"], "carl", "dora", ["e4"], "1-0")
    assert [x["room"] for x in mc.archive(c, 1)] == [g2.room]


# ---------------------------------------------------------------- hot reload

ON_RELOAD = "moonbar.script.on_reload"
MSG_OLD = '"it is %s\'s move"'
MSG_NEW = '"it is %s\'s move (edited)"'


def test_hot_reload_of_the_chess_module_mid_game(router_factory, clients, tmp_path):
    """chess.lua of a copy of the games app is edited while two timed games run: no
    disconnect, the games, seats and clocks carry on (the clock keeps running and its flag
    still falls), and the new code answers."""
    app = mr.copy_games_app(tmp_path / "games")
    chess = app / "chess.lua"
    src = chess.read_text()
    assert MSG_OLD in src, "chess.lua changed: update MSG_OLD of this test to a message of it"
    r = mc.chess_router(router_factory, app=app, lua={"watch": True})
    watcher = clients(r)
    _, reloads = watcher.subscribe(ON_RELOAD)
    initial = mc.clock_s(60)
    g = ChessGame(clients, r, line=mc.SCHOLAR, clock={"initial_s": initial, "increment_s": 0})
    short = mc.clock_s(2)
    f = ChessGame(clients, r, names=("fay", "flo"), line=mc.SCHOLAR, clock={"initial_s": short, "increment_s": 0})
    sessions = [m.c.id for m in g.observers + f.observers]
    assert g.black.act_error("not_your_turn", "move", "e7e5").args[0] == "it is white's move"
    g.play()
    g.play()
    g.play()                                               # black to move, black's clock running
    t_f = time.monotonic()
    f.play()                                               # black's flag in f falls after `short`
    tb0 = time.monotonic()
    before = g.state()
    tb1 = time.monotonic()

    chess.write_text(src.replace(MSG_OLD, MSG_NEW))
    ev = reloads.wait(1, timeout=10)[0]
    assert ev.kwargs.get("ok") is True, ev.kwargs
    assert g.white.act_error("not_your_turn", "move", "d2d4").args[0] == "it is black's move (edited)"
    ta0 = time.monotonic()
    after = g.state()
    ta1 = time.monotonic()
    b, a = before["state"], after["state"]
    for k in ("fen", "moves", "san", "turn", "players", "clock", "rated", "members"):
        assert a[k] == b[k], "%s changed across the reload: %r -> %r" % (k, b[k], a[k])
    assert after["seq"] == before["seq"] and after["status"] == "playing"
    assert a["clocks"]["white_ms"] == b["clocks"]["white_ms"], (b["clocks"], a["clocks"])
    ran = b["clocks"]["black_ms"] - a["clocks"]["black_ms"]   # between the two reads, on the router
    slack = 1000 * T(0.02)
    assert (ta0 - tb1) * 1000 - slack <= ran <= (ta1 - tb0) * 1000 + slack, \
        "black's clock across the reload: %r then %r, %.0f ms apart" % (b["clocks"], a["clocks"], (ta0 - tb1) * 1000)
    assert a["clocks"]["black_ms"] < int(initial * 1000), "black's clock was reset: %r" % a["clocks"]

    # the short game: its flag falls after the reload, on time
    assert f.state()["status"] == "playing", "the short game ended before the reload was done"
    end = f.white.wait_for({"type": "end"}, timeout=2 + 5)
    assert end["result"] == "1-0" and end["reason"] == "timeout", end
    assert time.monotonic() - t_f >= short - 0.05
    # the long game goes on to its end
    g.play_line(end=("1-0", "checkmate"))
    g.check_events()
    g.check_state()
    assert [m.c.id for m in g.observers + f.observers] == sessions
    assert all(m.c.is_connected() for m in g.observers + f.observers)
    assert "rejected" not in r.log[-5000:]
