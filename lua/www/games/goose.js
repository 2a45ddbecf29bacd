// /games/goose.html?room=<id>[&as=spectator]: one goose room. Joins as a player (the seat and
// its token are kept in localStorage per room, so a reload or a lost connection gets the same
// seat back) or as a spectator, draws the board, follows the room's events (docs/games.md).

import {
  connect, describeError, isError, act, joinWithName, RoomFeed, store, roomTopic,
} from './net.js';
import { el, $, statusPill, askName, ChatBox, showMe, playerColor } from './ui.js';
import { Board, diceFaces, legend } from './board.js';

const params = new URLSearchParams(location.search);
const ROOM = (params.get('room') || '').trim();
const WANT_SPECTATOR = params.get('as') === 'spectator';
const STEP_MS = 200;
const MAX_LOG = 300;

let session = null;
let feed = null;
let st = null;            // the room's state as this page knows it
let me = { role: null, seat: null, name: '' };
let deadline = null;      // ms (local clock) when the current turn times out
let pending = false;      // a roll/start call in flight
let notice = '';

const board = new Board($('board'));
$('legend').replaceChildren(...legend());
const status = statusPill($('status'));

const chat = new ChatBox({
  list: $('chat'), form: $('chat-form'), input: $('chat-input'), error: $('chat-error'), empty: $('chat-empty'),
  max: 100,
  me: () => me.name,
  send: (text) => act(session, ROOM, 'chat', text),
  whisper: (to, text) => act(session, ROOM, 'whisper', to, text),
});
chat.members = () => (st && st.members) || [];

// ---- who is who ---------------------------------------------------------------------------

function players() {
  return (st && Array.isArray(st.players)) ? st.players : [];
}

function player(seat) {
  return players().find((p) => p.seat === seat) || null;
}

function nameOf(seat) {
  const p = player(seat);
  if (p && p.name) return String(p.name);
  const m = ((st && st.members) || []).find((x) => x.seat === seat);
  return m ? String(m.name) : `player ${seat}`;
}

function colorOf(seat) {
  const p = player(seat);
  return playerColor(p && p.color, seat);
}

const isPlayer = () => me.role === 'player' && me.seat !== null && me.seat !== undefined;
const myTurn = () => !!(st && isPlayer() && st.status === 'playing' && st.turn === me.seat);

// ---- rendering ----------------------------------------------------------------------------

function render() {
  if (!st) return;
  document.title = `${myTurn() ? '● Your turn · ' : ''}Goose ${ROOM} · moonbar games`;
  const list = players();
  board.setPlayers(list.map((p) => ({ ...p, color: colorOf(p.seat), square: Number(p.square) || 0 })),
    st.status === 'playing' ? st.turn : null);
  renderPlayers();
  renderTurn();
  renderButtons();
  renderResult();
  renderDice(st.last);
}

function renderPlayers() {
  const list = players().length ? players() : ((st && st.members) || []).filter((m) => m.role === 'player');
  const memberOf = new Map(((st && st.members) || []).map((m) => [m.seat, m]));
  $('players').replaceChildren(...list.map((p) => {
    const m = memberOf.get(p.seat);
    const connected = m ? m.connected !== false : p.connected !== false;
    const tags = [];
    if (p.seat === me.seat && isPlayer()) tags.push(el('span', { class: 'badge' }, 'you'));
    if (st.status === 'playing' && st.turn === p.seat) tags.push(el('span', { class: 'tag to-move' }, 'to move'));
    if (p.miss > 0) tags.push(el('span', { class: 'tag inn' }, `inn: misses ${p.miss}`));
    if (p.stuck) tags.push(el('span', { class: `tag ${p.stuck}` }, p.stuck === 'well' ? 'in the well' : 'in prison'));
    if (!connected) tags.push(el('span', { class: 'tag offline' }, 'offline'));
    if (st.winner !== undefined && st.winner !== null && st.winner === p.seat) tags.push(el('span', { class: 'tag win' }, 'winner'));
    return el('li', {
      class: ['player', st.turn === p.seat && st.status === 'playing' ? 'current' : '', connected ? '' : 'offline'].join(' ').trim(),
      dataset: { seat: String(p.seat) },
    },
    el('span', { class: 'pawn-dot', style: `background:${colorOf(p.seat)}` }, String(p.seat)),
    el('span', { class: 'pname' }, String(p.name ?? (m && m.name) ?? `player ${p.seat}`)),
    el('span', { class: 'tags' }, tags),
    el('span', { class: 'square', title: 'square' }, p.square === undefined ? '' : String(p.square)));
  }));
  const max = st.max_players;
  $('players-count').textContent = max ? `${list.length}/${max}` : String(list.length);
  const watchers = ((st && st.members) || []).filter((m) => m.role === 'spectator');
  $('watchers').textContent = watchers.length
    ? `watching: ${watchers.map((w) => w.name + (w.name === me.name && me.role === 'spectator' ? ' (you)' : '')).join(', ')}` : '';
}

function renderTurn() {
  const turn = $('turn');
  const sub = $('turn-sub');
  if (!st) return;
  const seated = players().length || ((st.members || []).filter((m) => m.role === 'player').length);
  if (st.status === 'waiting') {
    turn.textContent = `Waiting for players (${seated}${st.max_players ? '/' + st.max_players : ''})`;
    sub.textContent = seated >= 2 ? 'any seated player may start now; it starts by itself when full'
      : 'share this page’s address, or wait in the lobby';
  } else if (st.status === 'playing' && st.turn !== undefined && st.turn !== null) {
    turn.replaceChildren(el('span', { class: 'pawn-dot small', style: `background:${colorOf(st.turn)}` }),
      myTurn() ? 'Your turn' : `${nameOf(st.turn)}’s turn`);
    sub.textContent = countdownText();
  } else if (st.status === 'finished') {
    turn.textContent = 'Game over';
    sub.textContent = '';
  } else {
    turn.textContent = st.status || '…';
    sub.textContent = '';
  }
  if (notice) sub.textContent = notice + (sub.textContent ? ' · ' + sub.textContent : '');
  turn.dataset.turn = st.turn === undefined || st.turn === null ? '' : String(st.turn);
}

function countdownText() {
  if (!deadline) return st && st.turn_timeout_s ? `${st.turn_timeout_s} s per turn` : '';
  const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
  return `${left} s left${myTurn() ? ' — the router rolls for you then' : ''}`;
}

function renderButtons() {
  const roll = $('roll');
  const startButton = $('start');
  const online = !!(session && feed && feed.ready);
  roll.hidden = !isPlayer() || !!(st && st.status === 'finished');
  roll.disabled = !(online && myTurn() && !pending);
  roll.classList.toggle('ready', !roll.disabled);
  const seated = players().length || ((st && st.members) || []).filter((m) => m.role === 'player').length;
  startButton.hidden = !(isPlayer() && st && st.status === 'waiting');
  startButton.disabled = !(online && seated >= 2 && !pending);
}

function renderResult() {
  const box = $('result');
  const finished = !!(st && st.status === 'finished');
  box.hidden = !finished;
  $('turn-info').hidden = finished;
  $('to-lobby').hidden = !finished;
  document.querySelector('.board-card').classList.toggle('finished', finished);
  if (!finished) return;
  const w = st.winner;
  if (w === undefined || w === null) {
    $('result-text').textContent = 'The game ended without a winner';
  } else if (isPlayer() && w === me.seat) {
    $('result-text').textContent = 'You win!';
  } else {
    $('result-text').textContent = `${nameOf(w)} wins!`;
  }
  box.dataset.winner = w === undefined || w === null ? '' : String(w);
  const reason = st.end_reason || (st.last && st.last.to === 63 ? 'finish' : '');
  $('result-sub').textContent = reason === 'last_player' ? 'the other players left the game'
    : reason === 'finish' ? 'first to reach square 63' : 'game over';
}

function renderDice(last) {
  const host = $('dice');
  if (!last || !Array.isArray(last.dice)) {
    host.replaceChildren(...diceFaces([1, 1]).map((d) => { d.classList.add('idle'); return d; }));
    host.dataset.dice = '';
    return;
  }
  if (host.dataset.dice === `${last.seat}:${last.dice.join(',')}:${last.from}`) return;
  host.replaceChildren(...diceFaces(last.dice));
  host.dataset.dice = `${last.seat}:${last.dice.join(',')}:${last.from}`;
  host.title = `${nameOf(last.seat)} rolled ${last.dice[0] + last.dice[1]}`;
}

setInterval(() => {
  if (st && st.status === 'playing' && deadline) $('turn-sub').textContent = (notice ? notice + ' · ' : '') + countdownText();
}, 250);

// ---- the event log ------------------------------------------------------------------------

function log(ev, text, { cls, seat } = {}) {
  const li = el('li', {
    class: cls || null,
    dataset: { type: ev.type || 'info', seq: ev.seq === undefined ? '' : String(ev.seq) },
  });
  if (seat !== undefined && seat !== null) li.append(el('span', { class: 'pawn-dot tiny', style: `background:${colorOf(seat)}` }));
  li.append(el('span', { class: 'log-text' }, text));
  const listEl = $('log');
  listEl.prepend(li);
  while (listEl.children.length > MAX_LOG) listEl.lastChild.remove();
}

function effectText(e, ev) {
  const sum = ev.dice ? ev.dice[0] + ev.dice[1] : '';
  switch (e.kind) {
    case 'first_roll': return `a first roll of ${ev.dice ? ev.dice.join(' and ') : ''}: straight to ${e.to}`;
    case 'bounce': return `overshoots 63 and bounces back to ${e.square}`;
    case 'goose': return `goose on ${e.square}: another ${sum}`;
    case 'bridge': return `crosses the bridge to ${e.to}`;
    case 'maze': return `lost in the maze: back to ${e.to}`;
    case 'death': return 'death on 58: back to the start';
    case 'inn': return `stops at the inn: misses ${e.miss} turn${e.miss === 1 ? '' : 's'}`;
    case 'well': return 'falls into the well';
    case 'prison': return 'goes to prison';
    case 'freed': return `${nameOf(e.seat)} is freed`;
    case 'swap': return `${nameOf(e.seat)} is sent back to ${e.to}`;
    case 'win': return 'reaches 63!';
    default: return e.kind;
  }
}

function rollText(ev) {
  const who = nameOf(ev.seat);
  const dice = Array.isArray(ev.dice) ? `${ev.dice[0]} + ${ev.dice[1]}` : '?';
  const head = ev.type === 'auto_roll' ? `Time’s up for ${who}: the router rolled ${dice}` : `${who} rolled ${dice}`;
  const move = ev.from !== undefined && ev.to !== undefined ? `, ${ev.from} → ${ev.to}` : '';
  const effects = (ev.effects || []).map((e) => effectText(e, ev));
  return head + move + (effects.length ? ': ' + effects.join('; ') : '');
}

// ---- applying events ----------------------------------------------------------------------

// turn {seat, timeout_s, deadline_s}: deadline_s is the seconds left when the event was sent
function setDeadline(ev) {
  const left = typeof ev.deadline_s === 'number' ? ev.deadline_s : ev.timeout_s;
  deadline = typeof left === 'number' ? Date.now() + left * 1000 : null;
}

function applyRoll(ev) {
  const p = player(ev.seat);
  if (p) {
    p.square = ev.to;
    p.rolled = true;
  }
  for (const e of ev.effects || []) {
    const q = e.seat !== undefined ? player(e.seat) : p;
    if (!q) continue;
    if (e.kind === 'inn') q.miss = e.miss;
    else if (e.kind === 'well' || e.kind === 'prison') q.stuck = e.kind;
    else if (e.kind === 'freed') delete q.stuck;
    else if (e.kind === 'swap') { q.square = e.to; q.miss = 0; delete q.stuck; }
    else if (e.kind === 'win') st.winner = ev.seat;
  }
  if (ev.freed_all) for (const x of players()) delete x.stuck;
  st.last = ev;
  if ('next' in ev) st.turn = ev.next === null ? undefined : ev.next;

  // the mover walks its path, then the pawns it sent away go back
  const done = board.animate(ev.seat, compress(walkOf(ev)), STEP_MS);
  for (const e of ev.effects || []) {
    if (e.kind === 'swap') board.animate(e.seat, [e.to], STEP_MS, STEP_MS, done); // once the mover is there
  }
  board.highlight(Array.isArray(ev.path) ? ev.path : [ev.to]);
}

// The squares a pawn walks through: step by step along the dice moves (up to 63 and back on a
// bounce), straight across a bridge, maze, death or first-roll jump.
function walkOf(ev) {
  const effects = ev.effects || [];
  const path = (Array.isArray(ev.path) ? ev.path : [ev.to]).filter((n) => typeof n === 'number');
  const jumps = new Set(effects.filter((e) => ['bridge', 'maze', 'death'].includes(e.kind)).map((e) => e.square));
  const bounces = new Set(effects.filter((e) => e.kind === 'bounce').map((e) => e.square));
  const firstRoll = effects.some((e) => e.kind === 'first_roll');
  const out = [];
  const walk = (a, b) => {
    const d = Math.sign(b - a);
    for (let k = a + d; d && k !== b + d; k += d) out.push(k);
  };
  let pos = typeof ev.from === 'number' ? ev.from : path[0];
  let bounced = false;
  for (const b of path) {
    if (firstRoll || jumps.has(pos)) out.push(b);
    else if (!bounced && bounces.has(b) && b <= 63 && pos + 12 > 63) {
      walk(pos, 63);
      walk(63, b);
      bounced = true;
    } else walk(pos, b);
    pos = b;
  }
  return out.length ? out : [ev.to];
}

// A long walk is sampled: at most 10 steps.
function compress(steps) {
  const max = 10;
  if (steps.length <= max) return steps;
  const out = [];
  for (let i = 1; i <= max; i++) out.push(steps[Math.round((i * steps.length) / max) - 1]);
  return out.filter((sq, i) => i === 0 || sq !== out[i - 1]);
}

// An event changes the state this page holds (unless it is stale: a re-read state already
// holds it), moves the pawns, and is told in the log.
function onEvent(ev, stale = false) {
  if (!st) return;
  const fresh = !stale;
  switch (ev.type) {
    case 'roll':
    case 'auto_roll':
      if (fresh) applyRoll(ev);
      log(ev, rollText(ev), { cls: ev.type === 'auto_roll' ? 'auto' : null, seat: ev.seat });
      renderDice(ev);
      $('dice').classList.remove('rolled');
      void $('dice').offsetWidth;
      $('dice').classList.add('rolled');
      break;
    case 'skip': {
      const p = player(ev.seat);
      if (fresh && p && ev.reason === 'inn' && p.miss > 0) p.miss -= 1;
      const why = ev.reason === 'inn' ? 'rests at the inn' : ev.reason === 'well' ? 'is stuck in the well'
        : ev.reason === 'prison' ? 'is stuck in prison' : `(${ev.reason})`;
      log(ev, `${nameOf(ev.seat)} ${why}: turn skipped`, { cls: 'skip', seat: ev.seat });
      break;
    }
    case 'freed': // every player left was stuck: all are freed
      if (fresh) for (const p of players()) delete p.stuck;
      log(ev, 'Everyone is stuck: all are freed', { cls: 'skip' });
      break;
    case 'turn':
      if (fresh) st.turn = ev.seat;
      if (st.turn === ev.seat) setDeadline(ev);
      break;
    case 'start':
      if (fresh) st.status = 'playing';
      log(ev, 'The game starts: seat 1 rolls first', { cls: 'big' });
      if (fresh) feed.resync();
      break;
    case 'end': {
      if (fresh) {
        st.status = 'finished';
        st.turn = undefined;
        if (ev.winner !== undefined) st.winner = ev.winner;
      }
      st.end_reason = ev.reason;
      deadline = null;
      const who = ev.name || (ev.winner !== undefined && ev.winner !== null ? nameOf(ev.winner) : null);
      log(ev, who ? `${who} wins the game${ev.reason === 'last_player' ? ' (the last player left)' : ''}` : 'The game is over',
        { cls: 'big', seat: ev.winner });
      if (fresh) feed.resync();
      break;
    }
    case 'join':
      log(ev, ev.role === 'spectator' ? `${ev.name} is watching` : `${ev.name} sits down (seat ${ev.seat})`, { cls: 'member' });
      if (fresh) feed.resync();
      break;
    case 'leave':
      log(ev, `${ev.name} ${ev.reason === 'timeout' ? 'did not come back and leaves the game' : 'leaves'}`, { cls: 'member' });
      if (fresh) feed.resync();
      break;
    case 'drop':
    case 'return': {
      if (fresh) {
        const connected = ev.type === 'return';
        for (const m of st.members || []) if (m.name === ev.name || (ev.seat !== undefined && m.seat === ev.seat && m.role === 'player')) m.connected = connected;
        const p = ev.seat !== undefined ? player(ev.seat) : null;
        if (p) p.connected = connected;
      }
      log(ev, ev.type === 'return' ? `${ev.name} is back` : `${ev.name} lost the connection; the seat is kept`, { cls: 'member' });
      break;
    }
    case 'chat':
      if (fresh) chat.add(ev); // a stale one came with the state (chat.sync)
      return;
    default:
      log(ev, `${ev.type}`, {});
  }
  render();
}

function onReset(state) {
  const prev = st;
  st = state || {};
  if (prev && prev.end_reason && !st.end_reason) st.end_reason = prev.end_reason;
  if (typeof st.deadline_s === 'number' || typeof st.timeout_s === 'number') setDeadline(st);
  else if (st.status !== 'playing') deadline = null;
  chat.sync(st.chat);
  if (!prev && st.last) board.highlight([...(st.last.path || [st.last.to])]);
  render();
}

// ---- joining ------------------------------------------------------------------------------

async function enter(s, name) {
  if (feed) feed.close();
  const thisFeed = feed = new RoomFeed(s, ROOM, {
    onReset,
    onEvent,
    onWhisper: (ev) => chat.add(ev, { whisper: 'in' }),
  });
  notice = '';
  try {
    await feed.subscribe();
    let ans;
    const saved = store.seat(ROOM);
    if (WANT_SPECTATOR) {
      ans = await joinWithName(s, ROOM, { as: 'spectator', name });
    } else {
      try {
        ans = await joinWithName(s, ROOM, { as: 'player', name: (saved && saved.name) || name, token: saved && saved.token });
      } catch (err) {
        if (!isError(err, 'full') && !isError(err, 'game_over')) throw err;
        if (saved) store.clearSeat(ROOM);
        ans = await joinWithName(s, ROOM, { as: 'spectator', name });
        notice = ans.state && ans.state.status === 'finished' ? 'this game is over: you are looking at the result'
          : 'this game has started without you: you are watching';
      }
    }
    if (thisFeed !== feed) return;
    const kind = ans.state && ans.state.kind;
    if (kind && kind !== 'goose') {
      feed.close();
      s.call('moonbar.room.leave', [ROOM]).catch(() => {});
      showFatal(`${ROOM} is a ${kind} room, not a goose game.`);
      return;
    }
    me = { role: ans.role, seat: ans.seat ?? null, name: ans.name };
    showMe($('me'), ans.name);
    document.body.dataset.role = ans.role || '';
    document.body.dataset.seat = ans.seat === undefined || ans.seat === null ? '' : String(ans.seat);
    if (ans.role === 'player') store.setSeat(ROOM, { token: ans.token, name: ans.name, seat: ans.seat });
    const first = !st;
    st = null;
    feed.start(ans);
    if (first) {
      log({ type: 'info' }, ans.role === 'player' ? `You sit at seat ${ans.seat} as ${ans.name}` : `You are watching as ${ans.name}`, { cls: 'member' });
    } else {
      log({ type: 'info' }, 'Reconnected', { cls: 'member' });
    }
    chat.enable(true);
    showError('');
    render();
  } catch (err) {
    if (isError(err, 'no_such_room')) {
      store.clearSeat(ROOM);
      showFatal('This room does not exist (any more).');
    } else {
      showError(`could not join ${ROOM}: ${describeError(err)}`);
    }
  }
}

function showError(text) {
  $('game-error').textContent = text || '';
  $('game-error').hidden = !text;
}

function showFatal(text) {
  $('turn').textContent = text;
  $('turn-sub').replaceChildren(el('a', { href: '/games/' }, 'back to the lobby'));
  $('roll').hidden = true;
  $('start').hidden = true;
}

async function doAct(action) {
  if (!session || pending) return;
  pending = true;
  renderButtons();
  try {
    await act(session, ROOM, action);
    showError('');
  } catch (err) {
    showError(describeError(err));
    if (isError(err, 'not_your_turn') || isError(err, 'game_over')) feed && feed.resync();
  } finally {
    pending = false;
    renderButtons();
  }
}

$('roll').addEventListener('click', () => doAct('roll'));
$('start').addEventListener('click', () => doAct('start'));

async function main() {
  $('room-id').textContent = ROOM;
  $('topic').textContent = ROOM ? roomTopic(ROOM) : '';
  document.title = `Goose ${ROOM} · moonbar games`;
  if (!/^[a-z0-9_]+$/.test(ROOM)) {
    showFatal('No room given: open a game from the lobby.');
    status('failed', 'no room');
    return;
  }
  const saved = store.seat(ROOM);
  let name = saved && !WANT_SPECTATOR ? saved.name : '';
  if (!name) name = await askName();
  showMe($('me'), name); // a seat keeps the name it was taken with
  me.name = name;
  renderDice(null);
  connect({
    status,
    onopen: (s) => {
      session = s;
      enter(s, store.name() || name);
    },
    onclose: () => {
      session = null;
      if (feed) feed.close(false);
      feed = null;
      chat.enable(false);
      renderButtons();
    },
  });
}

main();
