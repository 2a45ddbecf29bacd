"""Helpers for the chess room tests (test_chess.py, test_chess_restart.py), written against
docs/games.md ("Chess (kind chess)" and "The WAMP contract").

- chess_router(): a router whose realm1 runs the games app (absolute path of lua/apps/games, or
  a copy), its store the default data/moonbar.db beside the config (mb_rooms.games_router);
- create_chess(): moonbar.room.create("chess", ...) with a clear failure while the kind is
  missing;
- ChessGame: one room with its white and black players and a spectator (mb_rooms.Member, each
  subscribed before joining); play() checks each move's answer (uci, san, fen, status, result,
  reason, clocks) against known values, check_events() checks that every observer saw every
  public event after the start with consecutive seq (each `move` with its uci, san, fen, side,
  check), check_state() the state's fields;
- illegal(): a move refused with chess.error.illegal_move, args [uci, why], the state unchanged;
- parse_pgn()/check_pgn(): the Seven Tag Roster, SetUp/FEN, SAN movetext and result;
- elo(): the expected ratings (K = 32, start 1500);
- known lines (Line: a start FEN and (uci, san, fen) per ply) made with an independent
  implementation of the rules (chess.js 1.4.0): Scholar's mate, Byrne-Fischer 1956 (the "Game
  of the Century", 41 moves, 41...Rc2#), castling, en passant, promotions, SAN disambiguation,
  draws; LEGAL_MOVES: the sorted legal UCI moves of well-known positions (perft(1) 20, 48, 14,
  6, 44, ...).

FEN's en passant field: docs/games.md does not say which convention the router follows, so a
FEN matches when its en passant field is the one of any of the three usual ones, kept
consistent over a game (FenCheck): "always" (the square a pawn skipped, after every double
push: the PGN standard), "adjacent" (only when an enemy pawn stands beside it: chess.js) and
"legal" (only when an en passant capture is legal: python-chess, lichess).

Builds on mb_rooms (Member, call, errors, scores) and mb_twisted (autobahn-python, Twisted).
"""
import math
import re

import pytest

import mb_rooms as mr
import mb_twisted as tx
from mb_rooms import Member
from mb_router import SCALE

KIND = "chess"
ILLEGAL = "chess.error.illegal_move"
ERR = mr.ERR
START_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
SIDES = ("white", "black")
OTHER = {"white": "black", "black": "white"}
WIN = {"white": "1-0", "black": "0-1"}
DRAW = "1/2-1/2"
STATE_KEYS = {"fen", "moves", "san", "turn", "check", "status", "result", "reason", "clocks", "players",
              "draw_offer", "rated", "clock"}
ANSWER_KEYS = {"uci", "san", "fen", "status", "result", "reason", "clocks"}
EP_CONVENTIONS = ("always", "adjacent", "legal")


def clock_s(seconds):
    """A chess clock of `seconds` scaled like the suite's timeouts (a slow router still gets
    the time to answer the moves a test makes on it)."""
    return seconds * SCALE


# ---------------------------------------------------------------- known lines

class Line:
    """A known sequence of moves from `start`: plies [(uci, san, fen)], fen with the en
    passant field of the "always" convention; alts {ply index: (adjacent ep, legal ep)} where
    those differ."""

    def __init__(self, start, plies, alts=None):
        self.start = start
        self.plies = list(plies)
        self.alts = dict(alts or {})

    def __len__(self):
        return len(self.plies)

    @property
    def uci(self):
        return [u for u, _, _ in self.plies]

    @property
    def san(self):
        return [s for _, s, _ in self.plies]

    def forms(self, i):
        """{convention: fen} after ply i (i = -1: the start)."""
        if i < 0:
            return {c: self.start for c in EP_CONVENTIONS}
        fen = self.plies[i][2]
        adj, legal = self.alts.get(i, (None, None))
        out = {"always": fen, "adjacent": fen, "legal": fen}
        f = fen.split(" ")
        if adj is not None:
            out["adjacent"] = " ".join(f[:3] + [adj] + f[4:])
            out["legal"] = " ".join(f[:3] + [legal] + f[4:])
        return out


def fen_forms(fen):
    """A FEN whose en passant field is the same under every convention."""
    return {c: fen for c in EP_CONVENTIONS}


class FenCheck:
    """Checks FENs against their forms under the en passant conventions still possible."""

    def __init__(self):
        self.conventions = set(EP_CONVENTIONS)

    def check(self, got, forms, what="fen"):
        ok = {c for c in self.conventions if forms[c] == got}
        want = sorted({forms[c] for c in self.conventions})
        assert ok, "%s: got %r, expected %s" % (what, got, " or ".join(repr(w) for w in want))
        self.conventions = ok


def turn_of(fen):
    return "white" if fen.split(" ")[1] == "w" else "black"


# ---------------------------------------------------------------- router and rooms

# autobahn-python 22's RawSocket client takes moonbar's RawSocket PING frames (sent after
# limits.ping_interval, 10 s, of silence: easily reached under valgrind) for a 16 MiB message and
# drops the connection (README, limits.ping_rawsocket): the chess routers send none.
LIMITS = {"ping_rawsocket": False}


def chess_overrides(app=None, lua=None):
    return mr.games_overrides(app=app, lua=lua, limits=dict(LIMITS))


def chess_router(router_factory, app=None, lua=None):
    """A started router with the games app in realm1, its store data/moonbar.db beside its
    config."""
    mr.need_games_app()
    return router_factory(chess_overrides(app, lua))


def create_chess(c, **params):
    """moonbar.room.create("chess", **params) -> room ID."""
    try:
        ans = mr.call(c, "moonbar.room.create", KIND, **params)
    except tx.ApplicationError as e:
        if e.error == ERR + "invalid_argument" and e.args and "kind" in str(e.args[0]) and "chess" in str(e.args[0]):
            pytest.fail("the room kind chess is not loaded (lua/apps/games/init.lua must require chess): %s %r"
                        % (e.error, e.args), pytrace=False)
        raise
    assert isinstance(ans, dict) and ans.get("kind") == KIND, ans
    room = ans["room"]
    assert isinstance(room, str) and re.match(r"^[a-z0-9_]+$", room), room
    return room


class ChessGame:
    """A chess room: white and black seated (seat kwargs), a spectator, all subscribed to the
    room's topic before joining. The game starts when black sits down."""

    def __init__(self, clients, router, names=("ann", "ben"), spectator="sam", white=None, black=None,
                 line=None, **params):
        self.router = router
        self.owner = clients(router)
        if line is not None and "fen" not in params and line.start != START_FEN:
            params["fen"] = line.start
        self.params = params
        self.room = create_chess(self.owner, **params)
        self.start_fen = params.get("fen") or START_FEN
        self.white = Member(white or clients(router), self.room, names[0])
        self.black = Member(black or clients(router, "rawsocket"), self.room, names[1])
        ans = self.white.join("player", seat="white")
        assert ans["seat"] == "white", ans
        assert ans["state"]["status"] == "waiting", ans["state"]
        ans = self.black.join("player", seat="black")
        assert ans["seat"] == "black", ans
        self.start_seq = ans["seq"]
        self.by_side = {"white": self.white, "black": self.black}
        self.fenchk = FenCheck()
        self.line = line
        self.ply = -1                  # index in line of the last ply played
        self.uci, self.san = [], []
        self.forms = fen_forms(self.start_fen)
        self.turn = turn_of(self.start_fen)
        self.result = self.reason = None
        self.expected = []             # public events expected after base
        self.spectator = None
        if spectator:
            self.spectator = Member(clients(router), self.room, spectator)
            self.spectator.join("spectator")
            self.base = self.spectator.joined["seq"]
        else:
            self.base = self.start_seq
        self.observers = [m for m in (self.white, self.black, self.spectator) if m is not None]

    def rejoin(self, clients, router, spectator="sam2"):
        """After a restart on `router`: new clients take both seats back with their tokens
        (white first), and a new spectator joins; every later event is expected after the
        spectator's join. Returns the two join answers {side: answer}."""
        self.router = router
        self.owner = clients(router)
        answers = {}
        for side, transport in (("white", "websocket"), ("black", "rawsocket")):
            old = self.by_side[side]
            m = Member(clients(router, transport), self.room, old.name)
            ans = m.join("player", token=old.token)
            assert ans["seat"] == side and m.name == old.name and ans["token"] == old.token, ans
            answers[side] = ans
            self.by_side[side] = m
        self.white, self.black = self.by_side["white"], self.by_side["black"]
        self.spectator = Member(clients(router), self.room, spectator)
        self.spectator.join("spectator")
        self.base = self.spectator.joined["seq"]
        self.expected = []
        self.observers = [self.white, self.black, self.spectator]
        return answers

    # -- the start

    def check_start(self, clocks_ms=None):
        """The join/join/start events every player saw, and the start event's fields."""
        for m in (self.white, self.black):
            m.wait_seq(self.start_seq)
            evs = m.public()
            assert [(e["type"], e["seq"]) for e in evs[:3]] == [("join", 1), ("join", 2), ("start", 3)], evs[:4]
            assert [e.get("seat") for e in evs[:2]] == ["white", "black"], evs[:2]
            start = evs[2]
            self.fenchk.check(start.get("fen"), fen_forms(self.start_fen), "start event fen")
            assert start.get("turn") == self.turn, start
            if clocks_ms is None:
                assert start.get("clocks") is None, start
            else:
                assert start.get("clocks") == {"white_ms": clocks_ms, "black_ms": clocks_ms}, start
        return self

    # -- moves

    def member(self, side):
        return self.by_side[side]

    def play(self, uci=None, san=None, fen=None, end=None, by=None, _timeout=5):
        """Play the next move of the line (or uci, with san and fen (str or forms) expected);
        end = (result, reason) when it ends the game. Returns the answer."""
        from_line = uci is None
        if from_line:
            assert self.line is not None and self.ply + 1 < len(self.line), "no move left in the line"
            uci, san, fen = self.line.plies[self.ply + 1]
            forms = self.line.forms(self.ply + 1)
        else:
            forms = fen_forms(fen) if isinstance(fen, str) else fen
        side = by or self.turn
        ans = self.member(side).act("move", uci, _timeout=_timeout)
        what = "move %d %s (%s)" % (len(self.uci) + 1, uci, side)
        assert isinstance(ans, dict) and set(ans) >= ANSWER_KEYS - {"result", "reason", "clocks"}, \
            "%s answered %r" % (what, ans)
        assert ans["uci"] == uci, (what, ans)
        if san is not None:
            assert ans["san"] == san, "%s: san %r, expected %r" % (what, ans["san"], san)
        if forms is not None:
            self.fenchk.check(ans["fen"], forms, what + ": fen")
        if from_line:
            self.ply += 1
        self.uci.append(uci)
        self.san.append(ans["san"])
        self.forms = forms
        self.turn = OTHER[side]
        if self.params.get("clock") is False:
            assert ans.get("clocks") is None, "%s: clocks of an untimed game: %r" % (what, ans)
        else:
            assert set(ans.get("clocks") or {}) == {"white_ms", "black_ms"}, "%s: clocks %r" % (what, ans)
        check = ans["san"].endswith(("+", "#"))
        self.expected.append({"type": "move", "uci": uci, "san": ans["san"], "fen": ans["fen"], "side": side,
                              "check": check})
        if end is None:
            assert ans["status"] == "playing", "%s: %r" % (what, ans)
            assert ans.get("result") is None and ans.get("reason") is None, "%s: %r" % (what, ans)
        else:
            assert (ans["status"], ans.get("result"), ans.get("reason")) == ("finished",) + tuple(end), \
                "%s: status/result/reason %r, expected finished %r" % (what, (ans["status"], ans.get("result"),
                                                                           ans.get("reason")), end)
            self.ended(end, ans["fen"])
        return ans

    def play_line(self, upto=None, end=None):
        """Play the rest of the line (up to ply index upto, excluded); end for the last ply."""
        last = len(self.line) if upto is None else upto
        while self.ply + 1 < last:
            final = self.ply + 2 == len(self.line)
            self.play(end=end if final else None)

    def ended(self, end, fen=None):
        self.result, self.reason = end
        want = {"type": "end", "result": end[0], "reason": end[1]}
        if fen is not None:
            want["fen"] = fen
        self.expected.append(want)

    def expect(self, *events):
        self.expected.extend(events)

    # -- checks

    def check_events(self, observers=None, timeout=5):
        """Every observer's public events after base are exactly the expected ones, seq
        base+1, base+2, ..."""
        for m in observers or self.observers:
            m.wait_seq(self.base + len(self.expected), timeout)
            got = m.public(self.base)
            mr.check_consecutive(got, self.base)
            assert len(got) == len(self.expected), \
                "%s: %d events after seq %d, expected %d:\n got %r\n expected %r" % (
                    m.name, len(got), self.base, len(self.expected), got[-6:], self.expected[-6:])
            for ev, want in zip(got, self.expected):
                assert mr.matches(ev, want), "%s: event seq %d is\n %r\nexpected\n %r" % (m.name, ev["seq"], ev, want)
                if want["type"] == "move":
                    assert set(ev) >= {"type", "seq", "uci", "san", "fen", "side", "check"}, ev
                    if "clocks" not in ev:
                        assert self.params.get("clock") is False, "a move event without clocks: %r" % ev
        return self

    def events_of(self, m, type_):
        return [e for e in m.public(self.base) if e["type"] == type_]

    def state(self, c=None):
        return mr.room_state(c or self.owner, self.room)

    def check_state(self, st=None, status=None):
        """The chess fields of the state against what was played."""
        st = st or self.state()
        s = st["state"]
        missing = STATE_KEYS - set(s) - {"result", "reason", "draw_offer", "clocks", "clock"}
        assert not missing, "state lacks %s: %r" % (sorted(missing), s)
        self.fenchk.check(s["fen"], self.forms, "state.fen")
        assert s["moves"] == self.uci, "state.moves %r, expected %r" % (s["moves"], self.uci)
        assert s["san"] == self.san, "state.san %r, expected %r" % (s["san"], self.san)
        assert s["turn"] == self.turn, (s["turn"], self.turn)
        assert s["check"] is (bool(self.san) and self.san[-1].endswith(("+", "#"))), s["check"]
        want_status = status or ("finished" if self.result else "playing")
        assert st["status"] == want_status and s["status"] == want_status, (st["status"], want_status)
        assert s.get("result") == self.result and s.get("reason") == self.reason, \
            (s.get("result"), s.get("reason"), self.result, self.reason)
        assert s["kind"] == KIND, s["kind"]
        players = s["players"]
        for side in SIDES:
            p = players[side]
            assert p["name"] == self.member(side).name, players
            assert isinstance(p["connected"], bool), players
        assert s["rated"] is self.params.get("rated", True), s["rated"]
        if self.params.get("clock") is False:
            assert s.get("clocks") is None, s.get("clocks")
        else:
            assert set(s["clocks"]) == {"white_ms", "black_ms"}, s["clocks"]
            assert all(isinstance(v, int) and v >= 0 for v in s["clocks"].values()), s["clocks"]
        return st


def subscribe_prefix(c, prefix="moonbar.room."):
    """A prefix subscription of client c; a Sink of (topic, event dict)."""
    sink = tx.Sink()

    def handler(*args, **kwargs):
        details = kwargs.pop("_details", None)
        sink.add((details.topic if details else None, args[0] if args else None))

    tx.in_reactor(c.session.subscribe, handler, prefix,
                  options=tx.SubscribeOptions(match="prefix", details_arg="_details"))
    return sink


def legal_moves(m):
    """moves() asked by member m: the list (its items are the RESULT's args)."""
    return mr.as_list(m.c.call("moonbar.room.act", m.room, "moves"))


# ---------------------------------------------------------------- refusals

def illegal(m, uci, why=None, before=None):
    """m's move uci is refused with chess.error.illegal_move, args [uci, why] (why a message),
    and the room's state (moonbar.room.state) is what it was. Returns the why."""
    before = before or m.state()
    e = mr.error_of(m.c, "moonbar.room.act", m.room, "move", uci)
    assert e.error == ILLEGAL, "move %r: expected %s, got %s %r" % (uci, ILLEGAL, e.error, e.args)
    args = list(e.args)
    assert len(args) == 2 and args[0] == uci, "move %r: %s args %r, expected [uci, why]" % (uci, ILLEGAL, args)
    assert isinstance(args[1], str) and args[1], "move %r: the why is not a message: %r" % (uci, args)
    if why is not None:
        assert re.search(why, args[1], re.I), "move %r: why %r does not say %r" % (uci, args[1], why)
    after = m.state()
    assert after == before, "move %r refused, but the state changed:\n before %r\n after  %r" % (uci, before, after)
    return args[1]


def refused(m, kind, action, *args, before=None):
    """m's action is refused with moonbar.error.room.<kind> (message first) and nothing
    changed."""
    before = before or m.state()
    e = m.act_error(kind, action, *args)
    after = m.state()
    assert after == before, "%s %r refused, but the state changed:\n before %r\n after  %r" % (
        action, args, before, after)
    return e


# ---------------------------------------------------------------- PGN

_TAG = re.compile(r'^\[([A-Za-z0-9_]+)\s+"((?:[^"\\]|\\.)*)"\]$')
SEVEN_TAGS = ["Event", "Site", "Date", "Round", "White", "Black", "Result"]


def parse_pgn(text):
    """(tags [(name, value)], movetext tokens) of a one-game PGN."""
    assert isinstance(text, str) and text.strip(), "pgn answered %r" % (text,)
    lines = text.strip().splitlines()
    tags, i = [], 0
    while i < len(lines) and lines[i].strip().startswith("["):
        m = _TAG.match(lines[i].strip())
        assert m, "PGN tag line %r" % lines[i]
        tags.append((m.group(1), m.group(2).replace('\\"', '"').replace("\\\\", "\\")))
        i += 1
    assert i < len(lines) and lines[i].strip() == "", "no empty line after the tags: %r" % text
    movetext = " ".join(lines[i:])
    assert "{" not in movetext and ";" not in movetext, "comments in the movetext: %r" % movetext
    tokens = re.findall(r"\d+\.(?:\.\.)?|[^\s]+", movetext)
    return tags, tokens


def movetext_tokens(sans, start_fen, result):
    """The movetext of sans from start_fen: move numbers, SAN, the result."""
    f = start_fen.split(" ")
    n, black = int(f[5]), f[1] == "b"
    out = []
    for i, s in enumerate(sans):
        if not black:
            out.append("%d." % n)
        elif i == 0:
            out.append("%d..." % n)
        out.append(s)
        if black:
            n += 1
        black = not black
    out.append(result)
    return out


def check_pgn(text, white, black, sans, result, start_fen=START_FEN):
    tags, tokens = parse_pgn(text)
    names = [k for k, _ in tags]
    assert names[:7] == SEVEN_TAGS, "PGN tags %r: the Seven Tag Roster comes first, in order" % names
    d = dict(tags)
    assert len(d) == len(tags), "a PGN tag twice: %r" % names
    assert d["White"] == white and d["Black"] == black and d["Result"] == result, tags
    assert re.match(r"^(\d{4}|\?{4})\.(\d\d|\?\?)\.(\d\d|\?\?)$", d["Date"]), d["Date"]
    assert all(d[k] for k in ("Event", "Site", "Round")), tags
    if start_fen == START_FEN:
        assert "FEN" not in d and d.get("SetUp", "0") == "0", "SetUp/FEN for the standard start: %r" % tags
    else:
        assert d.get("SetUp") == "1" and d.get("FEN") == start_fen, \
            "a custom start needs [SetUp \"1\"] and [FEN \"%s\"]: %r" % (start_fen, tags)
    want = movetext_tokens(sans, start_fen, result)
    assert tokens == want, "PGN movetext\n %s\nexpected\n %s" % (" ".join(tokens), " ".join(want))
    return d


# ---------------------------------------------------------------- ratings

def elo(rw, rb, score_white, k=32):
    """New (white, black) ratings after one game (score_white 1, 0.5 or 0)."""
    ew = 1 / (1 + 10 ** ((rb - rw) / 400))
    return (math.floor(rw + k * (score_white - ew) + 0.5),
            math.floor(rb + k * ((1 - score_white) - (1 - ew)) + 0.5))


def wait_scores(c, board, want, timeout=3):
    """Waits until the board is exactly `want` ({owner: score}); returns it."""
    mr.wait_until(lambda: mr.scores(c, board) == want, timeout=timeout, what="board %s == %r" % (board, want))
    return want


def archive(c, limit=5):
    return mr.as_list(c.call("chess.archive.latest", limit))


# ---------------------------------------------------------------- known lines
# Generated with chess.js 1.4.0 from the moves (SAN for the real games), then frozen here.

SCHOLAR = Line(START_FEN, [
    ('e2e4', 'e4', 'rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1'),
    ('e7e5', 'e5', 'rnbqkbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w KQkq e6 0 2'),
    ('f1c4', 'Bc4', 'rnbqkbnr/pppp1ppp/8/4p3/2B1P3/8/PPPP1PPP/RNBQK1NR b KQkq - 1 2'),
    ('b8c6', 'Nc6', 'r1bqkbnr/pppp1ppp/2n5/4p3/2B1P3/8/PPPP1PPP/RNBQK1NR w KQkq - 2 3'),
    ('d1h5', 'Qh5', 'r1bqkbnr/pppp1ppp/2n5/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR b KQkq - 3 3'),
    ('g8f6', 'Nf6', 'r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w KQkq - 4 4'),
    ('h5f7', 'Qxf7#', 'r1bqkb1r/pppp1Qpp/2n2n2/4p3/2B1P3/8/PPPP1PPP/RNB1K1NR b KQkq - 0 4'),
], {0: ('-', '-'), 1: ('-', '-')})

CENTURY = Line(START_FEN, [
    ('g1f3', 'Nf3', 'rnbqkbnr/pppppppp/8/8/8/5N2/PPPPPPPP/RNBQKB1R b KQkq - 1 1'),
    ('g8f6', 'Nf6', 'rnbqkb1r/pppppppp/5n2/8/8/5N2/PPPPPPPP/RNBQKB1R w KQkq - 2 2'),
    ('c2c4', 'c4', 'rnbqkb1r/pppppppp/5n2/8/2P5/5N2/PP1PPPPP/RNBQKB1R b KQkq c3 0 2'),
    ('g7g6', 'g6', 'rnbqkb1r/pppppp1p/5np1/8/2P5/5N2/PP1PPPPP/RNBQKB1R w KQkq - 0 3'),
    ('b1c3', 'Nc3', 'rnbqkb1r/pppppp1p/5np1/8/2P5/2N2N2/PP1PPPPP/R1BQKB1R b KQkq - 1 3'),
    ('f8g7', 'Bg7', 'rnbqk2r/ppppppbp/5np1/8/2P5/2N2N2/PP1PPPPP/R1BQKB1R w KQkq - 2 4'),
    ('d2d4', 'd4', 'rnbqk2r/ppppppbp/5np1/8/2PP4/2N2N2/PP2PPPP/R1BQKB1R b KQkq d3 0 4'),
    ('e8g8', 'O-O', 'rnbq1rk1/ppppppbp/5np1/8/2PP4/2N2N2/PP2PPPP/R1BQKB1R w KQ - 1 5'),
    ('c1f4', 'Bf4', 'rnbq1rk1/ppppppbp/5np1/8/2PP1B2/2N2N2/PP2PPPP/R2QKB1R b KQ - 2 5'),
    ('d7d5', 'd5', 'rnbq1rk1/ppp1ppbp/5np1/3p4/2PP1B2/2N2N2/PP2PPPP/R2QKB1R w KQ d6 0 6'),
    ('d1b3', 'Qb3', 'rnbq1rk1/ppp1ppbp/5np1/3p4/2PP1B2/1QN2N2/PP2PPPP/R3KB1R b KQ - 1 6'),
    ('d5c4', 'dxc4', 'rnbq1rk1/ppp1ppbp/5np1/8/2pP1B2/1QN2N2/PP2PPPP/R3KB1R w KQ - 0 7'),
    ('b3c4', 'Qxc4', 'rnbq1rk1/ppp1ppbp/5np1/8/2QP1B2/2N2N2/PP2PPPP/R3KB1R b KQ - 0 7'),
    ('c7c6', 'c6', 'rnbq1rk1/pp2ppbp/2p2np1/8/2QP1B2/2N2N2/PP2PPPP/R3KB1R w KQ - 0 8'),
    ('e2e4', 'e4', 'rnbq1rk1/pp2ppbp/2p2np1/8/2QPPB2/2N2N2/PP3PPP/R3KB1R b KQ e3 0 8'),
    ('b8d7', 'Nbd7', 'r1bq1rk1/pp1nppbp/2p2np1/8/2QPPB2/2N2N2/PP3PPP/R3KB1R w KQ - 1 9'),
    ('a1d1', 'Rd1', 'r1bq1rk1/pp1nppbp/2p2np1/8/2QPPB2/2N2N2/PP3PPP/3RKB1R b K - 2 9'),
    ('d7b6', 'Nb6', 'r1bq1rk1/pp2ppbp/1np2np1/8/2QPPB2/2N2N2/PP3PPP/3RKB1R w K - 3 10'),
    ('c4c5', 'Qc5', 'r1bq1rk1/pp2ppbp/1np2np1/2Q5/3PPB2/2N2N2/PP3PPP/3RKB1R b K - 4 10'),
    ('c8g4', 'Bg4', 'r2q1rk1/pp2ppbp/1np2np1/2Q5/3PPBb1/2N2N2/PP3PPP/3RKB1R w K - 5 11'),
    ('f4g5', 'Bg5', 'r2q1rk1/pp2ppbp/1np2np1/2Q3B1/3PP1b1/2N2N2/PP3PPP/3RKB1R b K - 6 11'),
    ('b6a4', 'Na4', 'r2q1rk1/pp2ppbp/2p2np1/2Q3B1/n2PP1b1/2N2N2/PP3PPP/3RKB1R w K - 7 12'),
    ('c5a3', 'Qa3', 'r2q1rk1/pp2ppbp/2p2np1/6B1/n2PP1b1/Q1N2N2/PP3PPP/3RKB1R b K - 8 12'),
    ('a4c3', 'Nxc3', 'r2q1rk1/pp2ppbp/2p2np1/6B1/3PP1b1/Q1n2N2/PP3PPP/3RKB1R w K - 0 13'),
    ('b2c3', 'bxc3', 'r2q1rk1/pp2ppbp/2p2np1/6B1/3PP1b1/Q1P2N2/P4PPP/3RKB1R b K - 0 13'),
    ('f6e4', 'Nxe4', 'r2q1rk1/pp2ppbp/2p3p1/6B1/3Pn1b1/Q1P2N2/P4PPP/3RKB1R w K - 0 14'),
    ('g5e7', 'Bxe7', 'r2q1rk1/pp2Bpbp/2p3p1/8/3Pn1b1/Q1P2N2/P4PPP/3RKB1R b K - 0 14'),
    ('d8b6', 'Qb6', 'r4rk1/pp2Bpbp/1qp3p1/8/3Pn1b1/Q1P2N2/P4PPP/3RKB1R w K - 1 15'),
    ('f1c4', 'Bc4', 'r4rk1/pp2Bpbp/1qp3p1/8/2BPn1b1/Q1P2N2/P4PPP/3RK2R b K - 2 15'),
    ('e4c3', 'Nxc3', 'r4rk1/pp2Bpbp/1qp3p1/8/2BP2b1/Q1n2N2/P4PPP/3RK2R w K - 0 16'),
    ('e7c5', 'Bc5', 'r4rk1/pp3pbp/1qp3p1/2B5/2BP2b1/Q1n2N2/P4PPP/3RK2R b K - 1 16'),
    ('f8e8', 'Rfe8+', 'r3r1k1/pp3pbp/1qp3p1/2B5/2BP2b1/Q1n2N2/P4PPP/3RK2R w K - 2 17'),
    ('e1f1', 'Kf1', 'r3r1k1/pp3pbp/1qp3p1/2B5/2BP2b1/Q1n2N2/P4PPP/3R1K1R b - - 3 17'),
    ('g4e6', 'Be6', 'r3r1k1/pp3pbp/1qp1b1p1/2B5/2BP4/Q1n2N2/P4PPP/3R1K1R w - - 4 18'),
    ('c5b6', 'Bxb6', 'r3r1k1/pp3pbp/1Bp1b1p1/8/2BP4/Q1n2N2/P4PPP/3R1K1R b - - 0 18'),
    ('e6c4', 'Bxc4+', 'r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q1n2N2/P4PPP/3R1K1R w - - 0 19'),
    ('f1g1', 'Kg1', 'r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q1n2N2/P4PPP/3R2KR b - - 1 19'),
    ('c3e2', 'Ne2+', 'r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q4N2/P3nPPP/3R2KR w - - 2 20'),
    ('g1f1', 'Kf1', 'r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q4N2/P3nPPP/3R1K1R b - - 3 20'),
    ('e2d4', 'Nxd4+', 'r3r1k1/pp3pbp/1Bp3p1/8/2bn4/Q4N2/P4PPP/3R1K1R w - - 0 21'),
    ('f1g1', 'Kg1', 'r3r1k1/pp3pbp/1Bp3p1/8/2bn4/Q4N2/P4PPP/3R2KR b - - 1 21'),
    ('d4e2', 'Ne2+', 'r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q4N2/P3nPPP/3R2KR w - - 2 22'),
    ('g1f1', 'Kf1', 'r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q4N2/P3nPPP/3R1K1R b - - 3 22'),
    ('e2c3', 'Nc3+', 'r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q1n2N2/P4PPP/3R1K1R w - - 4 23'),
    ('f1g1', 'Kg1', 'r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q1n2N2/P4PPP/3R2KR b - - 5 23'),
    ('a7b6', 'axb6', 'r3r1k1/1p3pbp/1pp3p1/8/2b5/Q1n2N2/P4PPP/3R2KR w - - 0 24'),
    ('a3b4', 'Qb4', 'r3r1k1/1p3pbp/1pp3p1/8/1Qb5/2n2N2/P4PPP/3R2KR b - - 1 24'),
    ('a8a4', 'Ra4', '4r1k1/1p3pbp/1pp3p1/8/rQb5/2n2N2/P4PPP/3R2KR w - - 2 25'),
    ('b4b6', 'Qxb6', '4r1k1/1p3pbp/1Qp3p1/8/r1b5/2n2N2/P4PPP/3R2KR b - - 0 25'),
    ('c3d1', 'Nxd1', '4r1k1/1p3pbp/1Qp3p1/8/r1b5/5N2/P4PPP/3n2KR w - - 0 26'),
    ('h2h3', 'h3', '4r1k1/1p3pbp/1Qp3p1/8/r1b5/5N1P/P4PP1/3n2KR b - - 0 26'),
    ('a4a2', 'Rxa2', '4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4PP1/3n2KR w - - 0 27'),
    ('g1h2', 'Kh2', '4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4PPK/3n3R b - - 1 27'),
    ('d1f2', 'Nxf2', '4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4nPK/7R w - - 0 28'),
    ('h1e1', 'Re1', '4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4nPK/4R3 b - - 1 28'),
    ('e8e1', 'Rxe1', '6k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4nPK/4r3 w - - 0 29'),
    ('b6d8', 'Qd8+', '3Q2k1/1p3pbp/2p3p1/8/2b5/5N1P/r4nPK/4r3 b - - 1 29'),
    ('g7f8', 'Bf8', '3Q1bk1/1p3p1p/2p3p1/8/2b5/5N1P/r4nPK/4r3 w - - 2 30'),
    ('f3e1', 'Nxe1', '3Q1bk1/1p3p1p/2p3p1/8/2b5/7P/r4nPK/4N3 b - - 0 30'),
    ('c4d5', 'Bd5', '3Q1bk1/1p3p1p/2p3p1/3b4/8/7P/r4nPK/4N3 w - - 1 31'),
    ('e1f3', 'Nf3', '3Q1bk1/1p3p1p/2p3p1/3b4/8/5N1P/r4nPK/8 b - - 2 31'),
    ('f2e4', 'Ne4', '3Q1bk1/1p3p1p/2p3p1/3b4/4n3/5N1P/r5PK/8 w - - 3 32'),
    ('d8b8', 'Qb8', '1Q3bk1/1p3p1p/2p3p1/3b4/4n3/5N1P/r5PK/8 b - - 4 32'),
    ('b7b5', 'b5', '1Q3bk1/5p1p/2p3p1/1p1b4/4n3/5N1P/r5PK/8 w - b6 0 33'),
    ('h3h4', 'h4', '1Q3bk1/5p1p/2p3p1/1p1b4/4n2P/5N2/r5PK/8 b - - 0 33'),
    ('h7h5', 'h5', '1Q3bk1/5p2/2p3p1/1p1b3p/4n2P/5N2/r5PK/8 w - h6 0 34'),
    ('f3e5', 'Ne5', '1Q3bk1/5p2/2p3p1/1p1bN2p/4n2P/8/r5PK/8 b - - 1 34'),
    ('g8g7', 'Kg7', '1Q3b2/5pk1/2p3p1/1p1bN2p/4n2P/8/r5PK/8 w - - 2 35'),
    ('h2g1', 'Kg1', '1Q3b2/5pk1/2p3p1/1p1bN2p/4n2P/8/r5P1/6K1 b - - 3 35'),
    ('f8c5', 'Bc5+', '1Q6/5pk1/2p3p1/1pbbN2p/4n2P/8/r5P1/6K1 w - - 4 36'),
    ('g1f1', 'Kf1', '1Q6/5pk1/2p3p1/1pbbN2p/4n2P/8/r5P1/5K2 b - - 5 36'),
    ('e4g3', 'Ng3+', '1Q6/5pk1/2p3p1/1pbbN2p/7P/6n1/r5P1/5K2 w - - 6 37'),
    ('f1e1', 'Ke1', '1Q6/5pk1/2p3p1/1pbbN2p/7P/6n1/r5P1/4K3 b - - 7 37'),
    ('c5b4', 'Bb4+', '1Q6/5pk1/2p3p1/1p1bN2p/1b5P/6n1/r5P1/4K3 w - - 8 38'),
    ('e1d1', 'Kd1', '1Q6/5pk1/2p3p1/1p1bN2p/1b5P/6n1/r5P1/3K4 b - - 9 38'),
    ('d5b3', 'Bb3+', '1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b4n1/r5P1/3K4 w - - 10 39'),
    ('d1c1', 'Kc1', '1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b4n1/r5P1/2K5 b - - 11 39'),
    ('g3e2', 'Ne2+', '1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b6/r3n1P1/2K5 w - - 12 40'),
    ('c1b1', 'Kb1', '1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b6/r3n1P1/1K6 b - - 13 40'),
    ('e2c3', 'Nc3+', '1Q6/5pk1/2p3p1/1p2N2p/1b5P/1bn5/r5P1/1K6 w - - 14 41'),
    ('b1c1', 'Kc1', '1Q6/5pk1/2p3p1/1p2N2p/1b5P/1bn5/r5P1/2K5 b - - 15 41'),
    ('a2c2', 'Rc2#', '1Q6/5pk1/2p3p1/1p2N2p/1b5P/1bn5/2r3P1/2K5 w - - 16 42'),
], {2: ('-', '-'), 6: ('-', '-'), 9: ('-', '-'), 14: ('-', '-'), 63: ('-', '-'), 65: ('-', '-')})

THREEFOLD = Line(START_FEN, [
    ('g1f3', 'Nf3', 'rnbqkbnr/pppppppp/8/8/8/5N2/PPPPPPPP/RNBQKB1R b KQkq - 1 1'),
    ('g8f6', 'Nf6', 'rnbqkb1r/pppppppp/5n2/8/8/5N2/PPPPPPPP/RNBQKB1R w KQkq - 2 2'),
    ('f3g1', 'Ng1', 'rnbqkb1r/pppppppp/5n2/8/8/8/PPPPPPPP/RNBQKBNR b KQkq - 3 2'),
    ('f6g8', 'Ng8', 'rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 4 3'),
    ('g1f3', 'Nf3', 'rnbqkbnr/pppppppp/8/8/8/5N2/PPPPPPPP/RNBQKB1R b KQkq - 5 3'),
    ('g8f6', 'Nf6', 'rnbqkb1r/pppppppp/5n2/8/8/5N2/PPPPPPPP/RNBQKB1R w KQkq - 6 4'),
    ('f3g1', 'Ng1', 'rnbqkb1r/pppppppp/5n2/8/8/8/PPPPPPPP/RNBQKBNR b KQkq - 7 4'),
    ('f6g8', 'Ng8', 'rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 8 5'),
])

CASTLING = Line('r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1', [
    ('e1g1', 'O-O', 'r3k2r/8/8/8/8/8/8/R4RK1 b kq - 1 1'),
    ('e8c8', 'O-O-O', '2kr3r/8/8/8/8/8/8/R4RK1 w - - 2 2'),
])

EN_PASSANT = Line('4k3/8/8/8/3p4/8/4P3/4K3 w - - 0 1', [
    ('e2e4', 'e4', '4k3/8/8/8/3pP3/8/8/4K3 b - e3 0 1'),
    ('d4e3', 'dxe3', '4k3/8/8/8/8/4p3/8/4K3 w - - 0 2'),
])

PROMOTIONS = Line('4k3/P7/8/8/8/8/6p1/4K3 w - - 0 1', [
    ('a7a8q', 'a8=Q+', 'Q3k3/8/8/8/8/8/6p1/4K3 b - - 0 1'),
    ('e8d7', 'Kd7', 'Q7/3k4/8/8/8/8/6p1/4K3 w - - 1 2'),
    ('e1d2', 'Kd2', 'Q7/3k4/8/8/8/8/3K2p1/8 b - - 2 2'),
    ('g2g1n', 'g1=N', 'Q7/3k4/8/8/8/8/3K4/6n1 w - - 0 3'),
])

DISAMBIG_QUEEN = Line('2k5/8/8/8/4Q2Q/8/8/K6Q w - - 0 1', [
    ('h4e1', 'Qh4e1', '2k5/8/8/8/4Q3/8/8/K3Q2Q b - - 1 1'),
])

DISAMBIG_KNIGHT = Line('4k3/8/8/8/8/5N2/8/1N2K3 w - - 0 1', [
    ('b1d2', 'Nbd2', '4k3/8/8/8/8/5N2/3N4/4K3 b - - 1 1'),
])

DISAMBIG_ROOK = Line('4k3/8/8/R7/8/8/8/R3K3 w - - 0 1', [
    ('a1a3', 'R1a3', '4k3/8/8/R7/8/R7/8/4K3 b - - 1 1'),
])

STALEMATE = Line('7k/8/4Q1K1/8/8/8/8/8 w - - 0 1', [
    ('e6f7', 'Qf7', '7k/5Q2/6K1/8/8/8/8/8 b - - 1 1'),
])

BARE_KINGS = Line('8/8/8/4k3/8/8/8/Kr6 w - - 0 1', [
    ('a1b1', 'Kxb1', '8/8/8/4k3/8/8/8/1K6 b - - 0 1'),
])

KNIGHT_TAKES_LAST_ROOK = Line('4k3/8/8/8/8/8/4r3/K1N5 w - - 0 1', [
    ('c1e2', 'Nxe2', '4k3/8/8/8/8/8/4N3/K7 b - - 0 1'),
])

FIFTY = Line('4k3/8/8/8/8/8/8/4K2R w K - 99 60', [
    ('h1h2', 'Rh2', '4k3/8/8/8/8/8/7R/4K3 b - - 100 60'),
])

FIFTY_PAWN = Line('4k3/8/8/8/8/8/P7/4K2R w K - 99 60', [
    ('a2a3', 'a3', '4k3/8/8/8/8/P7/8/4K2R b K - 0 60'),
])

FIFTY_MATE = Line('7k/8/6K1/8/8/8/8/R7 w - - 99 80', [
    ('a1a8', 'Ra8#', 'R6k/8/6K1/8/8/8/8/8 b - - 100 80'),
])

ROOK_BACK_HOME = Line('4k3/8/8/8/8/8/8/R3K2R w KQ - 0 1', [
    ('h1h2', 'Rh2', '4k3/8/8/8/8/8/7R/R3K3 b Q - 1 1'),
    ('e8d8', 'Kd8', '3k4/8/8/8/8/8/7R/R3K3 w Q - 2 2'),
    ('h2h1', 'Rh1', '3k4/8/8/8/8/8/8/R3K2R b Q - 3 2'),
    ('d8e8', 'Ke8', '4k3/8/8/8/8/8/8/R3K2R w Q - 4 3'),
])

EP_WINDOW = Line(START_FEN, [
    ('e2e4', 'e4', 'rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1'),
    ('a7a6', 'a6', 'rnbqkbnr/1ppppppp/p7/8/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - 0 2'),
    ('e4e5', 'e5', 'rnbqkbnr/1ppppppp/p7/4P3/8/8/PPPP1PPP/RNBQKBNR b KQkq - 0 2'),
    ('d7d5', 'd5', 'rnbqkbnr/1pp1pppp/p7/3pP3/8/8/PPPP1PPP/RNBQKBNR w KQkq d6 0 3'),
    ('h2h3', 'h3', 'rnbqkbnr/1pp1pppp/p7/3pP3/8/7P/PPPP1PP1/RNBQKBNR b KQkq - 0 3'),
    ('h7h6', 'h6', 'rnbqkbnr/1pp1ppp1/p6p/3pP3/8/7P/PPPP1PP1/RNBQKBNR w KQkq - 0 4'),
], {0: ('-', '-')})

BLACK_FIRST = Line('r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R b KQkq - 3 12', [
    ('g8f6', 'Nf6', 'r1bqkb1r/pppp1ppp/2n2n2/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 4 13'),
    ('f1c4', 'Bc4', 'r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R b KQkq - 5 13'),
    ('f8c5', 'Bc5', 'r1bqk2r/pppp1ppp/2n2n2/2b1p3/2B1P3/5N2/PPPP1PPP/RNBQK2R w KQkq - 6 14'),
])

KNIGHT_TAKES_ROOK = Line('4k3/8/8/8/8/8/4r3/K1NR4 w - - 0 1', [
    ('c1e2', 'Nxe2', '4k3/8/8/8/8/8/4N3/K2R4 b - - 0 1'),
])

LEGAL_MOVES = {
    START_FEN: [
        'a2a3', 'a2a4', 'b1a3', 'b1c3', 'b2b3', 'b2b4', 'c2c3', 'c2c4', 'd2d3', 'd2d4',
        'e2e3', 'e2e4', 'f2f3', 'f2f4', 'g1f3', 'g1h3', 'g2g3', 'g2g4', 'h2h3', 'h2h4',
    ],
    'r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1': [
        'a1b1', 'a1c1', 'a1d1', 'a2a3', 'a2a4', 'b2b3', 'c3a4', 'c3b1', 'c3b5', 'c3d1',
        'd2c1', 'd2e3', 'd2f4', 'd2g5', 'd2h6', 'd5d6', 'd5e6', 'e1c1', 'e1d1', 'e1f1',
        'e1g1', 'e2a6', 'e2b5', 'e2c4', 'e2d1', 'e2d3', 'e2f1', 'e5c4', 'e5c6', 'e5d3',
        'e5d7', 'e5f7', 'e5g4', 'e5g6', 'f3d3', 'f3e3', 'f3f4', 'f3f5', 'f3f6', 'f3g3',
        'f3g4', 'f3h3', 'f3h5', 'g2g3', 'g2g4', 'g2h3', 'h1f1', 'h1g1',
    ],
    '8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1': [
        'a5a4', 'a5a6', 'b4a4', 'b4b1', 'b4b2', 'b4b3', 'b4c4', 'b4d4', 'b4e4', 'b4f4',
        'e2e3', 'e2e4', 'g2g3', 'g2g4',
    ],
    'r3k2r/Pppp1ppp/1b3nbN/nP6/BBP1P3/q4N2/Pp1P2PP/R2Q1RK1 w kq - 0 1': [
        'b4c5', 'c4c5', 'd2d4', 'f1f2', 'f3d4', 'g1h1',
    ],
    'rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8': [
        'a2a3', 'a2a4', 'b1a3', 'b1c3', 'b1d2', 'b2b3', 'b2b4', 'c1d2', 'c1e3', 'c1f4',
        'c1g5', 'c1h6', 'c2c3', 'c4a6', 'c4b3', 'c4b5', 'c4d3', 'c4d5', 'c4e6', 'c4f7',
        'd1d2', 'd1d3', 'd1d4', 'd1d5', 'd1d6', 'd7c8b', 'd7c8n', 'd7c8q', 'd7c8r', 'e1d2',
        'e1f1', 'e1f2', 'e1g1', 'e2c3', 'e2d4', 'e2f4', 'e2g1', 'e2g3', 'g2g3', 'g2g4',
        'h1f1', 'h1g1', 'h2h3', 'h2h4',
    ],
    'rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3': [
        'a2a3', 'a2a4', 'b1a3', 'b1c3', 'b2b3', 'b2b4', 'c2c3', 'c2c4', 'd1e2', 'd1f3',
        'd1g4', 'd1h5', 'd2d3', 'd2d4', 'e1e2', 'e5e6', 'e5f6', 'f1a6', 'f1b5', 'f1c4',
        'f1d3', 'f1e2', 'f2f3', 'f2f4', 'g1e2', 'g1f3', 'g1h3', 'g2g3', 'g2g4', 'h2h3',
        'h2h4',
    ],
    '4k3/P7/8/8/8/8/8/4K3 w - - 0 1': [
        'a7a8b', 'a7a8n', 'a7a8q', 'a7a8r', 'e1d1', 'e1d2', 'e1e2', 'e1f1', 'e1f2',
    ],
    'r3k2r/8/8/8/8/8/8/R3K2R b KQkq - 0 1': [
        'a8a1', 'a8a2', 'a8a3', 'a8a4', 'a8a5', 'a8a6', 'a8a7', 'a8b8', 'a8c8', 'a8d8',
        'e8c8', 'e8d7', 'e8d8', 'e8e7', 'e8f7', 'e8f8', 'e8g8', 'h8f8', 'h8g8', 'h8h1',
        'h8h2', 'h8h3', 'h8h4', 'h8h5', 'h8h6', 'h8h7',
    ],
}
