// The room service and its games (docs/games.md) with autobahn-js 22.11.1: goose games of two
// players to the end over WebSocket and over RawSocket, each with a spectator and a whisper,
// every roll checked against a reference of the rules (below, written from docs/games.md like
// spec/interop/py/goose_ref.py); tic-tac-toe to a win and to a draw, with illegal moves refused.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startMoonbar, withTimeout, ms, sleep, REPO_ROOT } from './lib/moonbar.mjs';
import { autobahn, autobahnConnect, wsTransport, rsTransport } from './lib/clients.mjs';

const T = { timeout: ms(30000) };
const GAMES_APP = path.join(REPO_ROOT, 'lua', 'apps', 'games');
const ERR = 'moonbar.error.room.';

// ---------------------------------------------------------------- the goose rules

const GEESE = new Set([5, 9, 14, 18, 23, 27, 32, 36, 41, 45, 50, 54, 59]);
const JUMPS = { 6: ['bridge', 12], 42: ['maze', 30], 58: ['death', 0] };
const TRAPS = { 31: 'well', 52: 'prison' };
const NO_SWAP = new Set([0, 31, 52]);

class Goose {
  constructor(players) { // [[seat, name]] in seat order
    this.pawns = new Map(players.map(([seat, name]) => [seat, { seat, name, square: 0, miss: 0, stuck: null, rolled: false }]));
    this.turn = Math.min(...this.pawns.keys());
    this.winner = null;
  }

  seats() { return [...this.pawns.keys()].sort((a, b) => a - b); }

  positions() {
    return Object.fromEntries(this.seats().map((s) => {
      const p = this.pawns.get(s);
      return [s, [p.square, p.miss, p.stuck]];
    }));
  }

  static routerPositions(state) {
    return Object.fromEntries(state.players.map((p) => [p.seat, [p.square, p.miss || 0, p.stuck || null]]));
  }

  roll(seat, d1, d2) {
    assert.equal(this.winner, null, 'roll after the end');
    assert.equal(seat, this.turn, `seat ${seat} rolls on seat ${this.turn}'s turn`);
    const pawn = this.pawns.get(seat);
    const start = pawn.square;
    const s = d1 + d2;
    const effects = [];
    const pathOut = [];
    let dir = 1;
    const step = (sq) => {
      let t = sq + dir * s;
      if (t > 63) {
        t = 126 - t;
        dir = -1;
        effects.push({ kind: 'bounce', square: t });
      }
      assert.ok(t >= 0, 'a backward move below 0');
      return t;
    };
    const pair = [d1, d2].sort().join('+');
    const first = !pawn.rolled ? { '3+6': 26, '4+5': 53 }[pair] : undefined;
    pawn.rolled = true;
    let sq;
    if (first !== undefined) {
      sq = first;
      effects.push({ kind: 'first_roll', to: first });
    } else {
      sq = step(start);
    }
    pathOut.push(sq);
    for (;;) {
      if (GEESE.has(sq)) {
        effects.push({ kind: 'goose', square: sq });
        sq = step(sq);
        pathOut.push(sq);
        continue;
      }
      if (JUMPS[sq]) {
        const [kind, to] = JUMPS[sq];
        effects.push({ kind, square: sq, to });
        sq = to;
        pathOut.push(sq);
      }
      break;
    }
    pawn.square = sq;
    if (sq === 63) {
      effects.push({ kind: 'win', square: 63 });
    } else if (sq === 19) {
      pawn.miss = 2;
      effects.push({ kind: 'inn', square: 19, miss: 2 });
    } else if (TRAPS[sq]) {
      effects.push({ kind: TRAPS[sq], square: sq });
      for (const p of this.seats().map((x) => this.pawns.get(x))) {
        if (p !== pawn && p.square === sq && p.stuck) {
          p.stuck = null;
          effects.push({ kind: 'freed', seat: p.seat, square: sq });
        }
      }
      pawn.stuck = TRAPS[sq];
    }
    if (!NO_SWAP.has(sq)) {
      for (const p of this.seats().map((x) => this.pawns.get(x))) {
        if (p !== pawn && p.square === sq) {
          p.square = start;
          p.miss = 0;
          p.stuck = null;
          effects.push({ kind: 'swap', seat: p.seat, from: sq, to: start });
        }
      }
    }
    const all = [...this.pawns.values()];
    const freedAll = all.every((p) => p.stuck);
    if (freedAll) for (const p of all) p.stuck = null;
    const skips = [];
    if (sq === 63) {
      this.winner = seat;
      this.turn = null;
    } else {
      const order = this.seats();
      let i = order.findIndex((x) => x > seat);
      if (i < 0) i = 0;
      for (let guard = 0; ; guard++) {
        assert.ok(guard < 1000, 'nobody can move');
        const p = this.pawns.get(order[i % order.length]);
        i++;
        if (p.miss > 0) {
          p.miss -= 1;
          skips.push([p.seat, 'inn']);
        } else if (p.stuck) {
          skips.push([p.seat, p.stuck]);
        } else {
          this.turn = p.seat;
          break;
        }
      }
    }
    return { dice: [d1, d2], from: start, to: sq, path: pathOut, effects, next: this.turn,
             skips, winner: this.winner, freedAll: freedAll && this.winner === null };
  }
}

// The public events that follow a roll, without seq.
function expectedEvents(res, seat, ans, names) {
  const out = [{ ...ans, type: 'roll', seat }];
  for (const [s, reason] of res.skips) out.push({ type: 'skip', seat: s, reason });
  if (res.freedAll) out.push({ type: 'freed', reason: 'all_stuck' });
  if (res.winner !== null) out.push({ type: 'end', winner: res.winner, name: names[res.winner], reason: 'finish' });
  else out.push({ type: 'turn', seat: res.next });
  return out;
}

// ---------------------------------------------------------------- WAMP helpers

// A RESULT as the contract means it: a dict (kwargs), a list (args), a value, null.
function unwrap(r) {
  if (r instanceof autobahn.Result) {
    if (r.kwargs && Object.keys(r.kwargs).length) {
      assert.equal(r.args.length, 0, 'an answer with both args and kwargs');
      return r.kwargs;
    }
    return r.args;
  }
  return r ?? null;
}

function asList(r) {
  if (r === null || r === undefined) return [];
  if (r instanceof autobahn.Result) return r.args;
  return [r];
}

async function call(c, proc, args = [], kwargs = {}) {
  return unwrap(await withTimeout(c.session.call(proc, args, kwargs), 5000, `call ${proc}`));
}

async function callError(c, proc, args = [], kwargs = {}) {
  try {
    const r = await withTimeout(c.session.call(proc, args, kwargs), 5000, `call ${proc}`);
    assert.fail(`${proc} ${JSON.stringify(args)} answered ${JSON.stringify(unwrap(r))}, expected an error`);
  } catch (err) {
    if (!(err instanceof autobahn.Error)) throw err;
    return err;
  }
}

async function expectError(kind, c, proc, args = [], kwargs = {}) {
  const err = await callError(c, proc, args, kwargs);
  assert.equal(err.error, ERR + kind, `${proc} ${JSON.stringify(args)}: ${err.error} ${JSON.stringify(err.args)}`);
  assert.equal(typeof err.args[0], 'string', 'the error\'s first argument is a message');
  return err;
}

// Value equality where a null wanted may be an absent field (Lua's nil).
function matches(ev, want) {
  for (const [k, v] of Object.entries(want)) {
    if (v === null) {
      if (ev[k] !== undefined && ev[k] !== null) return false;
    } else {
      try { assert.deepStrictEqual(ev[k], v); } catch { return false; }
    }
  }
  return true;
}

const isPrivate = (e) => e.type === 'whisper';

// The leaderboard rows of a board once they equal `want` (scores are written after the
// callback that ends a game, so they may lag its `end` event a little).
async function topEventually(c, board, want, timeoutMs = 3000) {
  const deadline = Date.now() + ms(timeoutMs);
  let rows;
  for (;;) {
    rows = asList(await c.session.call('moonbar.leaderboard.top', [board, 10]));
    try {
      assert.deepStrictEqual(want(rows), true);
      return rows;
    } catch {
      if (Date.now() > deadline) assert.fail(`${board}: ${JSON.stringify(rows)}`);
    }
    await sleep(20);
  }
}

/** One client in one room: subscribed to moonbar.room.<room> before it joins. */
class Member {
  static async make(c, room, name) {
    const m = new Member(c, room, name);
    await c.session.subscribe(`moonbar.room.${room}`, (args, kwargs) => m._push(args, kwargs));
    return m;
  }

  constructor(c, room, name) {
    this.c = c;
    this.room = room;
    this.name = name;
    this.events = [];
    this.waiters = [];
    this.since = null;
  }

  _push(args, kwargs) {
    assert.equal(args.length, 1, 'a room event is one positional dict');
    assert.equal(Object.keys(kwargs || {}).length, 0);
    this.events.push(args[0]);
    for (const w of this.waiters.splice(0)) w();
  }

  public(after = 0) { return this.events.filter((e) => !isPrivate(e) && e.seq > after); }

  async waitFor(pred, what, timeoutMs = 5000) {
    const deadline = Date.now() + ms(timeoutMs);
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${ms(timeoutMs)} ms; last: ${JSON.stringify(this.events.slice(-4))}`);
      await new Promise((res) => { this.waiters.push(res); setTimeout(res, Math.min(left, 100)); });
    }
  }

  waitSeq(seq) { return this.waitFor((e) => !isPrivate(e) && e.seq >= seq, `event seq ${seq}`); }

  async join(as = 'player', extra = {}) {
    const kw = { as, ...extra };
    if (this.name && kw.name === undefined) kw.name = this.name;
    const ans = await call(this.c, 'moonbar.room.join', [this.room], kw);
    assert.equal(ans.room, this.room);
    assert.equal(ans.role, as);
    assert.equal(typeof ans.seq, 'number');
    if (as === 'player') {
      assert.equal(typeof ans.seat, 'number');
      assert.equal(typeof ans.token, 'string');
    } else {
      assert.equal(ans.seat ?? null, null);
      assert.equal(ans.token ?? null, null);
    }
    this.joined = ans;
    this.seat = ans.seat ?? null;
    this.token = ans.token ?? null;
    return ans;
  }

  act(action, ...args) { return call(this.c, 'moonbar.room.act', [this.room, action, ...args]); }
  actError(kind, action, ...args) { return expectError(kind, this.c, 'moonbar.room.act', [this.room, action, ...args]); }
  state() { return call(this.c, 'moonbar.room.state', [this.room]); }
}

function checkConsecutive(events, after) {
  const seqs = events.filter((e) => !isPrivate(e) && e.seq > after).map((e) => e.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => after + 1 + i), `seq not consecutive: ${seqs}`);
}

/** A goose game: every roll against the rules, every observer's events against the expected. */
class GooseTable {
  constructor(players, observers, base) {
    this.players = players; // {seat: Member}
    this.observers = observers;
    this.base = base;
    this.names = Object.fromEntries(Object.entries(players).map(([s, m]) => [s, m.name]));
    this.ref = new Goose(Object.keys(players).map(Number).sort().map((s) => [s, players[s].name]));
    this.expected = [];
    this.rolls = 0;
  }

  get seq() { return this.base + this.expected.length; }

  async roll() {
    const seat = this.ref.turn;
    const ans = await this.players[seat].act('roll');
    assert.ok(Array.isArray(ans.dice) && ans.dice.length === 2 && ans.dice.every((d) => Number.isInteger(d) && d >= 1 && d <= 6), JSON.stringify(ans));
    const before = JSON.stringify(this.ref.positions());
    const res = this.ref.roll(seat, ans.dice[0], ans.dice[1]);
    const pick = (o) => ({ from: o.from, to: o.to, path: o.path, effects: o.effects, next: o.next ?? null });
    assert.deepEqual(pick(ans), pick(res), `roll of seat ${seat} with ${ans.dice} from ${before}`);
    const fields = { ...ans };
    delete fields.seat;
    this.expected.push(...expectedEvents(res, seat, fields, this.names));
    this.rolls++;
    return ans;
  }

  async checkEvents() {
    for (const m of this.observers) {
      await m.waitSeq(this.seq);
      const after = Math.max(this.base, m.since ?? this.base);
      const want = this.expected.slice(after - this.base);
      const got = m.public(after);
      checkConsecutive(got, after);
      assert.equal(got.length, want.length, `${m.name}: ${got.length} events after ${after}, expected ${want.length}`);
      got.forEach((ev, i) => assert.ok(matches(ev, want[i]), `${m.name}: event ${JSON.stringify(ev)}\nexpected ${JSON.stringify(want[i])}`));
    }
  }

  async checkState() {
    const st = await this.players[Object.keys(this.players)[0]].state();
    assert.deepEqual(Goose.routerPositions(st.state), this.ref.positions());
    assert.equal(st.state.turn ?? null, this.ref.turn);
    assert.equal(st.state.winner ?? null, this.ref.winner);
    return st;
  }
}

// ---------------------------------------------------------------- the tests

describe('rooms and games with autobahn-js', () => {
  let router;
  const open = [];

  async function connect(kind = 'websocket') {
    const c = await autobahnConnect({ transport: kind === 'rawsocket' ? rsTransport(router) : wsTransport(router) });
    open.push(c);
    return c;
  }

  before(async () => {
    assert.ok(existsSync(path.join(GAMES_APP, 'init.lua')), `${GAMES_APP}/init.lua is missing`);
    router = await startMoonbar({ realms: [{ name: 'realm1', apps: [GAMES_APP] }] });
  });

  after(async () => {
    for (const c of open) {
      if (c.session.isOpen) await c.close().catch(() => {});
    }
    if (router) await router.stop();
  });

  async function gooseGame(transport) {
    const owner = await connect(transport);
    const created = await call(owner, 'moonbar.room.create', ['goose'], { max_players: 2 });
    assert.equal(created.kind, 'goose');
    const room = created.room;
    assert.match(room, /^[a-z0-9_]+$/);
    const tag = transport === 'rawsocket' ? 'rs' : 'ws';
    const a = await Member.make(await connect(transport), room, `ann-${tag}`);
    const b = await Member.make(await connect(transport), room, `ben-${tag}`);
    const s = await Member.make(await connect(transport === 'rawsocket' ? 'websocket' : 'rawsocket'), room, `eye-${tag}`);
    const spy = await connect(transport);     // subscribed, never a member
    const spied = [];
    await spy.session.subscribe(`moonbar.room.${room}`, (args) => spied.push(args[0]));

    assert.equal((await a.join('player')).seat, 1);
    await s.join('spectator');
    assert.equal((await b.join('player')).seat, 2);           // full: it starts by itself
    const st = await a.state();
    assert.equal(st.status, 'playing');
    assert.equal(st.state.turn, 1);
    const listed = asList(await owner.session.call('moonbar.room.list', ['goose'])).find((e) => e.room === room);
    assert.deepEqual(listed.players, [{ seat: 1, name: a.name, connected: true }, { seat: 2, name: b.name, connected: true }]);
    assert.equal(listed.spectators, 1);
    for (const m of [a, b, s]) await m.waitSeq(st.seq);

    const table = new GooseTable({ 1: a, 2: b }, [a, b, s], st.seq);
    // the spectator cannot roll, and that changes nothing
    await s.actError('not_a_member', 'roll');
    await b.actError('not_your_turn', 'roll');
    assert.deepEqual(await a.state(), st);

    let whispered = false;
    while (table.ref.winner === null) {
      await table.roll();
      if (table.rolls === 2) { // (no 2-player game ends within 2 rolls)
        // a whisper mid-game: only ben gets it, with the current seq
        await table.checkEvents();
        assert.equal(await a.act('whisper', b.name, 'psst'), null);
        const w = await b.waitFor((e) => e.type === 'whisper', 'the whisper');
        assert.ok(matches(w, { from: a.name, to: b.name, text: 'psst', seq: table.seq }), JSON.stringify(w));
        whispered = true;
        // the spectator chats
        const ans = await s.act('chat', 'go ann go');
        assert.deepEqual(ans, { seq: table.seq + 1 });
        table.expected.push({ type: 'chat', from: s.name, text: 'go ann go' });
      }
      if (table.rolls % 10 === 0) await table.checkEvents();
      assert.ok(table.rolls < 3000, 'no winner after 3000 rolls');
    }
    await table.checkEvents();
    await table.checkState();
    const end = a.public().find((e) => e.type === 'end');
    assert.equal(end.winner, table.ref.winner);
    assert.equal(end.reason, 'finish');
    await a.actError('game_over', 'roll');
    await b.actError('game_over', 'roll');
    // nobody but ben saw the whisper
    assert.ok(whispered);
    for (const [who, evs] of [['ann', a.events], ['eye', s.events], ['spy', spied]]) {
      assert.deepEqual(evs.filter(isPrivate), [], `${who} saw a whisper`);
    }
    assert.equal(b.events.filter(isPrivate).length, whispered ? 1 : 0);
    checkConsecutive(spied, spied[0].seq - 1);
    return { table, owner };
  }

  it('goose over WebSocket: two players to the end, a spectator and a whisper', T, async () => {
    const { table, owner } = await gooseGame('websocket');
    const winner = table.names[table.ref.winner];
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    await topEventually(owner, 'goose.wins', (rows) =>
      same(rows.map((r) => [r.rank, r.owner, r.score, Object.keys(r).length]), [[1, winner, 1, 3]]));
    await topEventually(owner, 'goose.played', (rows) =>
      same(rows.map((r) => [r.owner, r.score]).sort(), [['ann-ws', 1], ['ben-ws', 1]]));
  });

  it('goose over RawSocket: two players to the end, a spectator and a whisper', T, async () => {
    await gooseGame('rawsocket');
  });

  async function tictactoe(transport) {
    const owner = await connect(transport);
    const { room, kind } = await call(owner, 'moonbar.room.create', ['tictactoe']);
    assert.equal(kind, 'tictactoe');
    const x = await Member.make(await connect(transport), room, 'xavier');
    const o = await Member.make(await connect('rawsocket'), room, 'olga');
    assert.equal((await x.join('player')).seat, 1);
    assert.equal((await o.join('player')).seat, 2);
    const st = await x.state();
    assert.equal(st.status, 'playing');
    await x.waitSeq(st.seq);
    return { owner, room, x, o, base: st.seq };
  }

  async function play(x, o, cells) {
    const moves = [];
    for (const [i, cell] of cells.entries()) {
      const m = i % 2 === 0 ? x : o;
      const ans = await m.act('move', cell);
      assert.equal(ans.cell, cell);
      assert.equal(ans.mark, i % 2 === 0 ? 'X' : 'O');
      moves.push(ans);
    }
    return moves;
  }

  it('tictactoe: a game to a win, illegal moves refused', T, async () => {
    const { owner, x, o, base } = await tictactoe('websocket');
    const before = await x.state();
    await o.actError('not_your_turn', 'move', 5);
    await x.actError('invalid_argument', 'move', 0);
    await x.actError('invalid_argument', 'move', 10);
    await x.actError('invalid_argument', 'move', 'five');
    await x.actError('no_such_action', 'jump', 5);
    assert.deepEqual(await x.state(), before);
    await play(x, o, [1, 4]);
    await x.actError('invalid_argument', 'move', 1);        // occupied
    await x.actError('invalid_argument', 'move', 4);        // occupied by O
    await o.actError('not_your_turn', 'move', 5);
    const moves = await play(x, o, [2, 5, 3]);
    const last = moves[moves.length - 1];
    assert.equal(last.winner, 'X');
    assert.ok(!last.draw);
    await o.actError('game_over', 'move', 9);
    await x.actError('game_over', 'move', 9);
    await x.waitSeq(base + 6);
    const evs = x.public(base);
    checkConsecutive(evs, base);
    assert.deepEqual(evs.slice(0, 5).map((e) => [e.type, e.seat, e.cell, e.mark, e.next ?? null]),
      [['move', 1, 1, 'X', 2], ['move', 2, 4, 'O', 1], ['move', 1, 2, 'X', 2], ['move', 2, 5, 'O', 1],
       ['move', 1, 3, 'X', null]]);
    assert.equal(evs.length, 6);
    assert.equal(evs[5].type, 'end');
    assert.equal(evs[5].winner, 1);
    assert.ok(!evs[5].draw);
    assert.deepEqual(o.public(base), evs);
    const st = await x.state();
    assert.equal(st.status, 'finished');
    await topEventually(owner, 'tictactoe.wins', (rows) =>
      JSON.stringify(rows.map((r) => [r.rank, r.owner, r.score])) === JSON.stringify([[1, 'xavier', 1]]));
  });

  it('tictactoe: a game to a draw', T, async () => {
    const { x, o, base } = await tictactoe('rawsocket');
    const moves = await play(x, o, [1, 2, 3, 5, 4, 6, 8, 7, 9]);
    for (const m of moves.slice(0, 8)) assert.ok(!m.winner && !m.draw, JSON.stringify(m));
    const last = moves[8];
    assert.equal(last.draw, true);
    assert.equal(last.winner ?? null, null);
    await x.waitSeq(base + 10);
    const evs = x.public(base);
    checkConsecutive(evs, base);
    assert.deepEqual(evs.map((e) => e.type), [...Array(9).fill('move'), 'end']);
    assert.equal(evs[9].draw, true);
    assert.equal(evs[9].winner ?? null, null);
    await x.actError('game_over', 'move', 1);
    await sleep(10);
  });
});
