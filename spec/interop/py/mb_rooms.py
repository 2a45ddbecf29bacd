"""Helpers for the room service and games tests (test_rooms.py, test_goose.py,
test_games_restart.py), written against docs/games.md ("The WAMP contract").

- games_router(): a router whose realm1 runs the games app (lua/apps/games, absolute path, or a
  copy of it), with its own store beside its config;
- call()/unwrap()/as_list(): RESULTs as the contract shapes them (a dict comes as kwargs, a
  list or a single value as the args);
- error_of()/expect_error(): the ApplicationError of a call, checked for its URI and message;
- Member: one client's membership of one room: its event stream (subscribed before joining),
  join/act/roll/chat/state/leave;
- GooseTable: drives a goose game seat by seat and checks every roll against goose_ref and
  every observer's event stream against the expected events (consecutive seq).

Builds on mb_twisted (autobahn-python, Twisted) and conftest's router_factory.
"""
import pathlib
import shutil
import textwrap
import time

import pytest

import goose_ref
import mb_twisted as tx
from mb_router import REPO, SCALE, T

GAMES_APP = REPO / "lua" / "apps" / "games"
ERR = "moonbar.error.room."


def need_games_app():
    if not (GAMES_APP / "init.lua").is_file():
        pytest.fail("the games app %s/init.lua is missing" % GAMES_APP, pytrace=False)


def games_overrides(app=None, lua=None, store=None, policy=None, **extra):
    """Config overrides: realm1 runs the games app (absolute path). With a timeout scale above 1
    (ASan, valgrind) the Lua callback budget is scaled too, from its 0.1 s default: the app's
    start takes ~2 ms natively and ~200 ms under valgrind."""
    cfg = {"realms": [{"name": "realm1", "apps": [str(app or GAMES_APP)]}]}
    if policy is not None:
        cfg["realms"][0]["policy"] = policy
    lua = dict(lua or {})
    if SCALE > 1 and "callback_timeout" not in lua:
        lua["callback_timeout"] = min(60.0, 0.1 * SCALE)
    if lua:
        cfg["lua"] = lua
    if store is not None:
        cfg["store"] = store
    cfg.update(extra)
    return cfg


def games_router(router_factory, app=None, lua=None, store=None, policy_source=None, **extra):
    """A started router with the games app in realm1 (its store: data/moonbar.db beside
    the config unless `store` says otherwise), and the realm's policy script if given."""
    need_games_app()
    files = {}
    policy = None
    if policy_source is not None:
        policy = "policy/policy.lua"
        files[policy] = textwrap.dedent(policy_source).lstrip("\n")
    return router_factory(games_overrides(app, lua, store, policy, **extra), files=files)


def copy_games_app(dest):
    """A copy of lua/apps/games in `dest` (a folder path); returns the copy's path."""
    dest = pathlib.Path(dest)
    shutil.copytree(GAMES_APP, dest)
    return dest


# ---------------------------------------------------------------- results and errors

def unwrap(r):
    """A RESULT as the contract means it: dict (kwargs), list (args of several), value, None."""
    if isinstance(r, tx.CallResult):
        if r.kwresults:
            assert not r.results, "an answer with both args %r and kwargs %r" % (r.results, r.kwresults)
            return dict(r.kwresults)
        return list(r.results)
    return r


def as_list(r):
    """A list answer: its items are the RESULT's args (autobahn gives None for none, the
    item itself for one)."""
    if r is None:
        return []
    if isinstance(r, tx.CallResult):
        assert not r.kwresults, "a list answer with kwargs %r" % (r.kwresults,)
        return list(r.results)
    return [r]


def call(c, procedure, *args, _timeout=5, **kwargs):
    return unwrap(c.call(procedure, *args, _timeout=_timeout, **kwargs))


def error_of(c, procedure, *args, _timeout=5, **kwargs):
    try:
        r = c.call(procedure, *args, _timeout=_timeout, **kwargs)
    except tx.ApplicationError as e:
        return e
    pytest.fail("call %s%r %r returned %r, expected an error" % (procedure, args, kwargs, unwrap(r)),
                pytrace=False)


def expect_error(kind, c, procedure, *args, **kwargs):
    """The call must fail with moonbar.error.room.<kind> (or a full URI) whose first argument
    is a message; returns the error."""
    uri = kind if "." in kind else ERR + kind
    e = error_of(c, procedure, *args, **kwargs)
    assert e.error == uri, "%s%r: expected %s, got %s %r" % (procedure, args, uri, e.error, e.args)
    assert e.args and isinstance(e.args[0], str) and e.args[0], \
        "%s: the first argument is not a message: %r" % (uri, e.args)
    return e


def create(c, kind, **params):
    ans = call(c, "moonbar.room.create", kind, **params)
    assert isinstance(ans, dict) and ans.get("kind") == kind, ans
    room = ans["room"]
    assert isinstance(room, str) and room and all(ch.islower() or ch.isdigit() or ch == "_"
                                                 for ch in room), room
    return room


def room_list(c, kind=None):
    return as_list(c.call("moonbar.room.list", *([kind] if kind is not None else [])))


def listed(c, room, kind=None):
    for e in room_list(c, kind):
        if e["room"] == room:
            return e
    return None


def top(c, board, limit=10):
    return as_list(c.call("moonbar.leaderboard.top", board, limit))


def scores(c, board, limit=100):
    """{owner: score} of a board; checks the ranks run 1.. with scores not increasing."""
    rows = top(c, board, limit)
    out = {}
    last = None
    for i, row in enumerate(rows):
        assert set(row) >= {"rank", "owner", "score"}, row
        if last is not None:
            assert row["score"] <= last["score"], rows
            assert row["rank"] >= last["rank"], rows
            if row["score"] < last["score"]:
                assert row["rank"] > last["rank"], rows
        else:
            assert row["rank"] == 1, rows
        assert row["rank"] <= i + 1, rows
        out[row["owner"]] = row["score"]
        last = row
    return out


def room_state(c, room):
    ans = call(c, "moonbar.room.state", room)
    assert isinstance(ans, dict) and set(ans) >= {"state", "seq", "status"}, ans
    assert ans["state"]["status"] == ans["status"], ans
    return ans


def wait_until(fn, timeout=3, interval=0.02, what="condition"):
    deadline = time.monotonic() + T(timeout)
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.1fs (last: %r)" % (what, T(timeout), last))
        time.sleep(interval)


def matches(ev, want):
    """ev has every field of want (a field wanted null may be absent: Lua's nil)."""
    return all(ev.get(k) == v if v is None else (k in ev and ev[k] == v) for k, v in want.items())


# ---------------------------------------------------------------- a member of a room

class Member:
    """One client in one room. Subscribes to moonbar.room.<room> at once, so it sees every
    event published after that (its own join included)."""

    def __init__(self, client, room, name=None):
        self.c = client
        self.room = room
        self.name = name
        self.sub, self.sink = client.subscribe("moonbar.room." + room)
        self.cursor = 0
        self.seat = self.token = self.role = None
        self.joined = None
        self.since = None    # for GooseTable.check_events: sees every event after this seq

    # -- calls

    def join(self, as_="player", **kw):
        if self.name is not None and "name" not in kw:
            kw["name"] = self.name
        kw = {k: v for k, v in kw.items() if v is not None}
        ans = call(self.c, "moonbar.room.join", self.room, **dict(kw, **{"as": as_}))
        # (seat and token of a spectator: null; their presence is checked by
        # test_goose.py::test_spectator_join_answer_has_null_seat_and_token)
        assert isinstance(ans, dict) and set(ans) >= {"room", "role", "state", "seq"}, ans
        if as_ == "player":
            assert set(ans) >= {"seat", "token"}, ans
        assert ans["room"] == self.room and ans["role"] == as_, ans
        self.joined = ans
        self.seat, self.token, self.role = ans.get("seat"), ans.get("token"), ans["role"]
        if as_ == "player":
            assert isinstance(self.token, str) and self.token, ans
        else:
            assert self.seat is None and self.token is None, ans
        me = [m for m in ans["state"]["members"] if m.get("seat") == self.seat and m["role"] == as_
              and (as_ == "player" or m["name"] == kw.get("name", m["name"]))]
        assert me, "the joiner is not among the members of its join state: %r" % ans["state"]["members"]
        if self.name is None:
            self.name = me[0]["name"]
        return ans

    def act(self, action, *args, _timeout=5, **kwargs):
        return call(self.c, "moonbar.room.act", self.room, action, *args, _timeout=_timeout, **kwargs)

    def act_error(self, kind, action, *args, **kwargs):
        return expect_error(kind, self.c, "moonbar.room.act", self.room, action, *args, **kwargs)

    def roll(self, _timeout=5):
        ans = self.act("roll", _timeout=_timeout)
        assert isinstance(ans, dict), "roll answered %r" % (ans,)
        return ans

    def chat(self, text):
        ans = self.act("chat", text)
        assert isinstance(ans, dict) and isinstance(ans.get("seq"), int), "chat answered %r" % (ans,)
        return ans["seq"]

    def state(self):
        return room_state(self.c, self.room)

    def leave(self):
        assert call(self.c, "moonbar.room.leave", self.room) is None

    # -- events

    def events(self):
        return [e.args[0] for e in self.sink.snapshot()]

    def public(self, after=0):
        """The public events (not whispers) with seq > after, in arrival order."""
        return [e for e in self.events() if not is_private(e) and e["seq"] > after]

    def wait_for(self, want, timeout=5, what=None):
        """The next event (from the cursor) matching `want` (a dict of fields, or a predicate);
        the cursor moves past it."""
        pred = want if callable(want) else (lambda e: matches(e, want))
        deadline = time.monotonic() + T(timeout)
        while True:
            evs = self.events()
            for i in range(self.cursor, len(evs)):
                if pred(evs[i]):
                    self.cursor = i + 1
                    return evs[i]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no event %s within %.1fs; events after #%d: %r"
                                     % (self.name, what or want, T(timeout), self.cursor,
                                        evs[self.cursor:][-12:]))
            with self.sink.cond:
                self.sink.cond.wait(min(left, 0.1))

    def wait_seq(self, seq, timeout=5):
        """Wait until a public event with seq >= `seq` arrived."""
        deadline = time.monotonic() + T(timeout)
        while True:
            if any(not is_private(e) and e["seq"] >= seq for e in self.events()):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no event with seq %d within %.1fs; last: %r"
                                     % (self.name, seq, T(timeout), self.events()[-5:]))
            with self.sink.cond:
                self.sink.cond.wait(min(left, 0.1))


def is_private(e):
    return e.get("type") == "whisper"


def check_consecutive(events, after):
    """Public events with seq > after: seq after+1, after+2, ... in arrival order."""
    seqs = [e["seq"] for e in events if not is_private(e) and e["seq"] > after]
    assert seqs == list(range(after + 1, after + 1 + len(seqs))), "seq not consecutive: %r" % seqs
    return seqs


# ---------------------------------------------------------------- a goose game

class GooseTable:
    """Drives a goose game whose players are `players` ({seat: Member}) and checks it:
    every roll answer against goose_ref, and (check_events) every observer's public events
    after `base` (the seq when the table was made) against the expected list, seq by seq."""

    def __init__(self, players, observers=None, ref=None, base=None):
        """Without ref/base: a game that just started, read from moonbar.room.state. With both:
        no state is read (e.g. while timers may fire)."""
        self.players = dict(players)
        self.observers = list(observers if observers is not None else self.players.values())
        self.expected = []   # expected public events after base (without seq)
        self.rolls = []      # (seat, answer, ref result)
        if ref is not None and base is not None:
            self.ref, self.base = ref, base
        else:
            st = next(iter(self.players.values())).state()
            assert st["status"] == "playing", st
            self.ref = ref or goose_ref.Goose([(p["seat"], p["name"]) for p in st["state"]["players"]])
            self.base = st["seq"] if base is None else base
            self.check_state(st)
        self.names = {s: p.name for s, p in self.ref.pawns.items()}

    @property
    def seq(self):
        return self.base + len(self.expected)

    def check_state(self, st=None):
        st = st or next(iter(self.players.values())).state()
        s = st["state"]
        gone = [p for p in s["players"] if p["seat"] not in self.ref.pawns]
        assert not gone, "players removed from the game are still in state.players: %r" % gone
        assert goose_ref.Goose.router_positions(s) == self.ref.positions(), \
            "positions: router %r, rules %r" % (goose_ref.Goose.router_positions(s), self.ref.positions())
        assert s.get("turn") == self.ref.turn, "turn: router %r, rules %r" % (s.get("turn"), self.ref.turn)
        assert s.get("winner") == self.ref.winner, (s.get("winner"), self.ref.winner)
        return st

    def expect(self, *events):
        self.expected.extend(events)

    def check_answer(self, seat, ans, kind="roll"):
        dice = ans.get("dice")
        assert isinstance(dice, list) and len(dice) == 2 and all(isinstance(d, int) and 1 <= d <= 6
                                                                 for d in dice), ans
        before = self.ref.copy()
        exp = self.ref.roll(seat, dice[0], dice[1])
        got = {k: ans.get(k) for k in ("from", "to", "path", "effects", "next")}
        want = {k: exp[k] for k in ("from", "to", "path", "effects", "next")}
        assert got == want, ("%s of seat %d with dice %r from %r:\n router %r\n rules  %r"
                             % (kind, seat, dice, before.positions(), got, want))
        self.rolls.append((seat, ans, exp))
        evs = goose_ref.expected_events(exp, seat, kind,
                                        self.names.get(exp["winner"]) if exp["winner"] else None)
        # the roll event carries the answer's fields
        evs[0] = dict(evs[0], **{k: v for k, v in ans.items() if k != "seat"})
        self.expect(*evs)
        return exp

    def roll(self, seat=None, _timeout=5):
        seat = self.ref.turn if seat is None else seat
        ans = self.players[seat].roll(_timeout=_timeout)
        return self.check_answer(seat, ans)

    def play(self, max_rolls=3000, check_every=1, until=None):
        """Roll until the game ends (or until(table) is true); check the events as it goes."""
        n = 0
        while self.ref.winner is None and not (until and until(self)):
            self.roll()
            n += 1
            assert n <= max_rolls, "no winner after %d rolls" % max_rolls
            if check_every and n % check_every == 0:
                self.check_events()
        self.check_events()
        return n

    def check_events(self, timeout=5, observers=None, exact=True):
        """Every observer's public events after base are the expected ones (exact=False: they
        begin with them)."""
        for m in (observers if observers is not None else self.observers):
            m.wait_seq(self.seq, timeout)
            # a member subscribed after base (a late spectator) from the seq it joined at
            after = max(self.base, m.since if m.since is not None else self.base)
            expected = self.expected[after - self.base:]
            got = m.public(after)
            check_consecutive(got, after)
            if not exact:
                got = got[:len(expected)]
            assert len(got) == len(expected), \
                "%s: %d events after seq %d, expected %d: %r" % (m.name, len(got), after,
                                                                 len(expected), got[-5:])
            for i, (ev, want) in enumerate(zip(got, expected)):
                assert matches(ev, want), ("%s: event seq %d is\n %r\nexpected\n %r"
                                           % (m.name, ev["seq"], ev, want))
                if want["type"] in ("roll", "auto_roll"):
                    extra = set(ev) - set(want) - {"seq"}
                    assert not extra, "%s event has fields the answer lacks: %r" % (want["type"], ev)
                # (the deadline_s of turn events: test_goose.py::test_turn_events_carry_...)


def goose_room(owner_client, **params):
    return create(owner_client, "goose", **params)


def seat_players(clients_fn, router, room, names, transport="websocket"):
    """Connect one client per name, subscribe, join as players in order; {seat: Member}."""
    out = {}
    for name in names:
        m = Member(clients_fn(router, transport), room, name)
        m.join("player")
        out[m.seat] = m
    return out
