"""An independent reference of the goose rules (docs/games.md, "Goose"), used by the interop
tests to check every roll the router makes: given the dice the router reports, it computes
the move (from, to, path, effects), the skips, whose turn is next and the winner, and keeps
the positions, inn counters and stuck pawns to compare with moonbar.room.state.

Written from the rules alone, without looking at the router's Lua:

- squares 0..63; two dice, the pawn moves by their sum s;
- a player's first roll: 6+3 goes to 26, 5+4 to 53 (in either order);
- passing 63 bounces: the pawn ends on 126 - target and moves backwards from then on (for the
  goose repeats of that move);
- geese (GEESE): move again by s in the current direction (bounce included), repeatedly;
- bridge 6 -> 12, maze 42 -> 30, death 58 -> 0: jumps, no effect at the destination;
- inn 19: misses the next 2 turns;
- well 31, prison 52: stuck until another pawn ends its move there (that frees the first and
  sticks the newcomer); when every player still in the game is stuck, all are freed;
- a pawn ending on a square held by another (except 0, 31, 52) sends that pawn to the square
  the mover started the turn from, without that square's effect (also at 12/30 after the
  bridge/maze); a pawn sent away from the inn misses no more turns;
- exactly 63 wins;
- players who miss a turn (inn) or are stuck are skipped (reason inn/well/prison);
- a player who leaves or times out is removed; when one remains, that player wins.

Effects (docs/games.md): first_roll {to}, bounce {square}, goose {square},
bridge/maze/death {square, to}, inn {square, miss}, well/prison {square}, freed {seat, square},
swap {seat, from, to}, win {square}.

Details docs/games.md leaves open are constants below, set from what the router does where
the doc allows either reading:
- the bounce effect names the landing square;
- at the well/prison the newcomer's effect comes before the freed effect of the pawn it frees;
  a swap effect comes after the square's own (inn) effect;
- the release of all stuck players (every player still in the game stuck) is not a roll
  effect: the router publishes an event {type = "freed", reason = "all_stuck"} after the skips
  (FREED_ALL_EVENT; docs/games.md names no such event, see the tests' report).
"""
import copy

START, END = 0, 63
GEESE = frozenset({5, 9, 14, 18, 23, 27, 32, 36, 41, 45, 50, 54, 59})
JUMPS = {6: ("bridge", 12), 42: ("maze", 30), 58: ("death", 0)}
INN = 19
INN_MISS = 2
TRAPS = {31: "well", 52: "prison"}
NO_SWAP = frozenset({0, 31, 52})
FIRST_ROLL = {frozenset((6, 3)): 26, frozenset((5, 4)): 53}

# Open points of the doc (see the module docstring).
# The bounce effect names the square the pawn lands on after bouncing (not 63).
BOUNCE_SQUARE_IS_LANDING = True
# At the well/prison: the newcomer's well/prison effect comes before the freed effect of the
# pawn it frees.
TRAP_BEFORE_FREED = True
# When every player still in the game is stuck and all are freed: no freed effects, an event
# {type = "freed", reason = "all_stuck"} after the skips.
FREED_ALL_EVENT = {"type": "freed", "reason": "all_stuck"}


class Pawn:
    def __init__(self, seat, name):
        self.seat = seat
        self.name = name
        self.square = START
        self.miss = 0
        self.stuck = None
        self.rolled = False

    def __repr__(self):
        return "Pawn(%d %r sq=%d miss=%d stuck=%s)" % (self.seat, self.name, self.square,
                                                      self.miss, self.stuck)


class Goose:
    """The game as the rules make it, seat by seat. turn: the seat to move (None before the
    start and after the end); winner: a seat or None."""

    def __init__(self, players):
        """players: [(seat, name)] of the seated players when the game starts."""
        self.pawns = {seat: Pawn(seat, name) for seat, name in players}
        self.turn = min(self.pawns)
        self.winner = None
        self.end_reason = None
        self.rolls = 0

    @classmethod
    def from_state(cls, state):
        """A reference positioned like a router's goose state (moonbar.room.state /
        the join answer's state) of a game being played."""
        g = cls([(p["seat"], p["name"]) for p in state["players"]])
        for p in state["players"]:
            pawn = g.pawns[p["seat"]]
            pawn.square = p["square"]
            pawn.miss = p.get("miss") or 0
            pawn.stuck = p.get("stuck") or None
            # a pawn away from the start has rolled; one on 0 may have (death): the rules
            # only differ for a pawn that never rolled, which is on 0
            pawn.rolled = p["square"] != START
        g.turn = state.get("turn")
        g.winner = state.get("winner")
        return g

    def copy(self):
        return copy.deepcopy(self)

    # ------------------------------------------------------------ queries

    def seats(self):
        return sorted(self.pawns)

    def positions(self):
        """{seat: (square, miss, stuck)} to compare with the router's state."""
        return {s: (p.square, p.miss, p.stuck) for s, p in self.pawns.items()}

    @staticmethod
    def router_positions(state):
        return {p["seat"]: (p["square"], p.get("miss") or 0, p.get("stuck") or None)
                for p in state["players"]}

    # ------------------------------------------------------------ a roll

    def _step(self, square, s, direction, effects):
        target = square + direction * s
        if target > END:
            landing = 2 * END - target
            effects.append({"kind": "bounce",
                            "square": landing if BOUNCE_SQUARE_IS_LANDING else END})
            return landing, -1
        assert target >= START, "a backward move below 0 (%d - %d)" % (square, s)
        return target, direction

    def roll(self, seat, d1, d2):
        """Apply seat's roll of (d1, d2). Returns the expected result:
        {dice, from, to, path, effects, next} plus 'skips': [(seat, reason)] (the skip
        events that follow) and 'winner' (a seat or None)."""
        assert self.winner is None, "roll after the end"
        assert seat == self.turn, "seat %s rolls on seat %s's turn" % (seat, self.turn)
        assert 1 <= d1 <= 6 and 1 <= d2 <= 6, (d1, d2)
        self.rolls += 1
        pawn = self.pawns[seat]
        start = pawn.square
        s = d1 + d2
        effects = []
        path = []
        direction = 1
        first = FIRST_ROLL.get(frozenset((d1, d2))) if not pawn.rolled else None
        pawn.rolled = True
        if first is not None:
            square = first
            effects.append({"kind": "first_roll", "to": first})
        else:
            square, direction = self._step(start, s, direction, effects)
        path.append(square)
        while True:
            if square in GEESE:
                effects.append({"kind": "goose", "square": square})
                square, direction = self._step(square, s, direction, effects)
                path.append(square)
                continue
            if square in JUMPS:
                kind, to = JUMPS[square]
                effects.append({"kind": kind, "square": square, "to": to})
                square = to
                path.append(square)
            break
        pawn.square = square

        if square == END:
            effects.append({"kind": "win", "square": END})
        elif square == INN:
            pawn.miss = INN_MISS
            effects.append({"kind": "inn", "square": INN, "miss": INN_MISS})
        elif square in TRAPS:
            trap = TRAPS[square]
            freed = [p for p in self.pawns.values()
                     if p is not pawn and p.square == square and p.stuck]
            here = [{"kind": trap, "square": square}]
            gone = []
            for p in sorted(freed, key=lambda p: p.seat):
                p.stuck = None
                gone.append({"kind": "freed", "seat": p.seat, "square": square})
            effects.extend(here + gone if TRAP_BEFORE_FREED else gone + here)
            pawn.stuck = trap

        if square not in NO_SWAP:
            for p in sorted(self.pawns.values(), key=lambda p: p.seat):
                if p is not pawn and p.square == square:
                    p.square = start
                    p.miss = 0
                    p.stuck = None
                    effects.append({"kind": "swap", "seat": p.seat, "from": square, "to": start})

        freed_all = self._free_if_all_stuck()

        skips = []
        if square == END:
            self.winner = seat
            self.end_reason = "finish"
            self.turn = None
        else:
            self.turn = self._next_turn(seat, skips)
        return {"dice": [d1, d2], "from": start, "to": square, "path": path,
                "effects": effects, "next": self.turn, "skips": skips,
                "winner": self.winner, "freed_all": freed_all and self.winner is None}

    def _free_if_all_stuck(self):
        """Every player still in the game stuck: all are freed (they stay on their squares)."""
        pawns = list(self.pawns.values())
        if pawns and all(p.stuck for p in pawns):
            for p in pawns:
                p.stuck = None
            return True
        return False

    def _next_turn(self, after, skips):
        """The next seat after `after` in seat order that plays, skipping (and counting down)
        the inn and the stuck ones; appends (seat, reason) to skips."""
        order = self.seats()
        if not order:
            return None
        # the seat after `after` (which may be gone)
        later = [s for s in order if s > after]
        i = order.index(later[0]) if later else 0
        guard = 0
        while True:
            guard += 1
            assert guard < 1000, "no player can move: %r" % self.pawns
            p = self.pawns[order[i % len(order)]]
            i += 1
            if p.miss > 0:
                p.miss -= 1
                skips.append((p.seat, "inn"))
            elif p.stuck:
                skips.append((p.seat, p.stuck))
            else:
                return p.seat

    # ------------------------------------------------------------ removal

    def remove(self, seat):
        """seat leaves the game (left or timed out). Returns the expected follow-up:
        {'winner': seat or None, 'next': seat or None, 'skips': [...], 'freed': [...]}."""
        was_turn = self.turn == seat
        del self.pawns[seat]
        out = {"winner": None, "next": self.turn, "skips": [], "freed_all": False}
        if self.winner is not None:
            return out
        if len(self.pawns) == 1:
            (last,) = self.pawns
            self.winner = last
            self.end_reason = "last_player"
            self.turn = None
            out.update(winner=last, next=None)
            return out
        if not self.pawns:
            self.turn = None
            out["next"] = None
            return out
        if was_turn:
            out["freed_all"] = self._free_if_all_stuck()
            self.turn = self._next_turn(seat, out["skips"])
        out["next"] = self.turn
        return out


def expected_events(result, seat, kind="roll", winner_name=None):
    """The public events that follow a roll (without seq): the roll (or auto_roll) itself,
    the skips, then turn or end."""
    ev = {"type": kind, "seat": seat}
    for k in ("dice", "from", "to", "path", "effects", "next"):
        ev[k] = result[k]
    out = [ev]
    out += [{"type": "skip", "seat": s, "reason": r} for s, r in result["skips"]]
    if result.get("freed_all"):
        out.append(dict(FREED_ALL_EVENT))
    if result["winner"] is not None:
        out.append({"type": "end", "winner": result["winner"], "name": winner_name,
                    "reason": "finish"})
    else:
        out.append({"type": "turn", "seat": result["next"]})
    return out


# ---------------------------------------------------------------- self-check

def _self_test():
    g = Goose([(1, "a"), (2, "b")])
    r = g.roll(1, 6, 3)
    assert r["to"] == 26 and r["effects"] == [{"kind": "first_roll", "to": 26}], r
    r = g.roll(2, 4, 5)
    assert r["to"] == 53 and r["path"] == [53], r
    # a second 6+3 is an ordinary 9: 26 -> 35
    r = g.roll(1, 3, 6)
    assert r["to"] == 35 and r["effects"] == [], r
    # bounce: 53 + 12 = 65 -> 61
    r = g.roll(2, 6, 6)
    assert r["to"] == 61 and r["effects"] == [{"kind": "bounce", "square": 61}], r
    # goose chain: 35 -> 41 (goose) -> 47
    r = g.roll(1, 3, 3)
    assert r["path"] == [41, 47] and r["effects"] == [{"kind": "goose", "square": 41}], r
    # bounce then backward goose: 61 + 2 = 63: a win
    r = g.roll(2, 1, 1)
    assert r["to"] == 63 and r["winner"] == 2 and r["next"] is None, r

    # goose then bounce then backward goose then maze: 50 + 9 = 59 (goose) -> 68 -> 58
    g = Goose([(1, "a"), (2, "b")])
    g.pawns[1].square, g.pawns[1].rolled = 50, True
    r = g.roll(1, 4, 5)
    assert r["path"] == [59, 58, 0], r
    assert [e["kind"] for e in r["effects"]] == ["goose", "bounce", "death"], r

    # swap: 2 at 10, 1 moves 4 -> 10; 2 goes to 4
    g = Goose([(1, "a"), (2, "b")])
    g.pawns[1].square, g.pawns[1].rolled = 4, True
    g.pawns[2].square, g.pawns[2].rolled = 10, True
    r = g.roll(1, 3, 3)
    assert r["to"] == 10 and g.pawns[2].square == 4, r
    assert r["effects"] == [{"kind": "swap", "seat": 2, "from": 10, "to": 4}], r

    # well: 2 stuck at 31; 1 lands there: frees 2, 1 stuck; then 2 plays, 1 is skipped
    g = Goose([(1, "a"), (2, "b"), (3, "c")])
    for p, sq in ((1, 25), (2, 31), (3, 0)):
        g.pawns[p].square, g.pawns[p].rolled = sq, True
    g.pawns[2].stuck = "well"
    r = g.roll(1, 3, 3)
    assert r["to"] == 31 and g.pawns[1].stuck == "well" and g.pawns[2].stuck is None, r
    assert r["next"] == 2 and r["skips"] == [], r
    g.roll(2, 1, 1)            # 31 -> 33
    r = g.roll(3, 1, 2)        # 0 -> 3 ; then 1 is skipped (well)
    assert r["skips"] == [(1, "well")] and r["next"] == 2, r

    # inn: misses two turns, and a pawn sent away from the inn misses no more
    g = Goose([(1, "a"), (2, "b")])
    g.pawns[1].square, g.pawns[1].rolled = 16, True
    g.pawns[2].rolled = True
    r = g.roll(1, 1, 2)
    assert r["to"] == 19 and g.pawns[1].miss == 2 and r["next"] == 2, r
    r = g.roll(2, 1, 1)          # 0 -> 2; 1 misses (1 left), 2 again
    assert r["skips"] == [(1, "inn")] and r["next"] == 2, r
    r = g.roll(2, 6, 6)          # 2 -> 14 goose -> 26
    assert r["skips"] == [(1, "inn")] and r["next"] == 2 and g.pawns[1].miss == 0, r
    r = g.roll(2, 1, 2)          # 26 -> 29
    assert r["skips"] == [] and r["next"] == 1, r

    # all stuck: 1 in the well, 2 goes to prison: both freed
    g = Goose([(1, "a"), (2, "b")])
    g.pawns[1].square, g.pawns[1].rolled, g.pawns[1].stuck = 31, True, "well"
    g.pawns[2].square, g.pawns[2].rolled = 46, True
    g.turn = 2
    r = g.roll(2, 3, 3)
    assert r["to"] == 52 and not g.pawns[1].stuck and not g.pawns[2].stuck, r
    assert r["next"] == 1, r

    # removal: 2 players, one leaves, the other wins
    g = Goose([(1, "a"), (2, "b")])
    out = g.remove(1)
    assert out["winner"] == 2 and g.end_reason == "last_player"


_self_test()
