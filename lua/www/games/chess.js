// /games/chess.html?room=<id>[&as=spectator]: one chess room (kind `chess`, docs/games.md).
// The router is the referee: this page never decides what is legal. It draws the position
// from the FEN it is given, asks the room for the legal moves (action `moves`, UCI) when it is
// its turn, plays a click (or a drag) with action `move`, runs the clocks locally between the
// router's readings, and follows the room's events (move, draw_offer, draw_declined, start,
// end, join/leave/drop/return, chat). The seat token is kept in localStorage per room, so a
// reload or a lost connection gets the same seat back. Names and chat go in as text only.

import {
  connect, asList, describeError, isError, act, joinWithName, RoomFeed, store, roomTopic,
} from './net.js';
import { el, $, statusPill, askName, ChatBox, showMe } from './ui.js';

const params = new URLSearchParams(location.search);
const ROOM = (params.get('room') || '').trim();
const WANT_SPECTATOR = params.get('as') === 'spectator';
const FILES = 'abcdefgh';
const SIDES = ['white', 'black'];
const OTHER = { white: 'black', black: 'white' };
const SIDE_NAME = { white: 'White', black: 'Black' };
const RESULT_WINNER = { '1-0': 'white', '0-1': 'black' };
const REASONS = {
  checkmate: 'by checkmate',
  stalemate: 'by stalemate',
  threefold: 'by threefold repetition',
  fifty_moves: 'by the fifty-move rule',
  insufficient_material: 'by insufficient material',
  resignation: 'by resignation',
  agreement: 'by agreement',
  timeout: 'on time',
  abandoned: 'the opponent left',
};
const PIECE_NAMES = { p: 'pawn', n: 'knight', b: 'bishop', r: 'rook', q: 'queen', k: 'king' };
const VALUES = { p: 1, n: 3, b: 3, r: 5, q: 9, k: 0 };
const LOW_TIME_MS = 20000;
const ANIM_MS = 160;

// ---- the pieces: inline SVG, drawn in a 100x100 box ------------------------------------------
// .b body (fill/stroke from the piece's colour), .d detail lines, .e the eye.

const BASE = '<rect class="b" x="23" y="79" width="54" height="10" rx="3"/>';
const SHAPES = {
  p: '<path class="b" d="M31 80C31 67 38 59 43 54H57C62 59 69 67 69 80Z"/><ellipse class="b" cx="50" cy="52" rx="14" ry="4.5"/><circle class="b" cx="50" cy="34" r="12"/>',
  r: '<path class="b" d="M32 80L35 46H65L68 80Z"/><path class="b" d="M28 46V20H38V28H45V20H55V28H62V20H72V46Z"/><path class="d" d="M35 46H65M33.5 68H66.5"/>',
  b: '<path class="b" d="M33 80C33 69 40 63 43 59H57C60 63 67 69 67 80Z"/><ellipse class="b" cx="50" cy="58" rx="14" ry="4.5"/><path class="b" d="M50 18C37 29 32 41 36 50C39 56 61 56 64 50C68 41 63 29 50 18Z"/><circle class="b" cx="50" cy="14" r="5"/><path class="d" d="M57 30L47 41"/>',
  q: '<path class="b" d="M30 80L36 56H64L70 80Z"/><path class="b" d="M29 58L20 31L35 45L37 22L45.5 41L50 17L54.5 41L63 22L65 45L80 31L71 58Z"/><ellipse class="b" cx="50" cy="58" rx="21" ry="5"/><circle class="b" cx="20" cy="30" r="4.5"/><circle class="b" cx="37" cy="21" r="4.5"/><circle class="b" cx="50" cy="15" r="4.5"/><circle class="b" cx="63" cy="21" r="4.5"/><circle class="b" cx="80" cy="30" r="4.5"/>',
  k: '<path class="b" d="M46 6H54V14H62V22H54V40H46V22H38V14H46Z"/><path class="b" d="M30 80L36 58H64L70 80Z"/><path class="b" d="M29 60C19 47 23 33 35 34C42 35 46 40 50 47C54 40 58 35 65 34C77 33 81 47 71 60Z"/><ellipse class="b" cx="50" cy="60" rx="21" ry="5"/>',
  n: '<path class="b" d="M33 80H71C73 62 73 42 62 27L60 13L52 21L46 14L43 24C33 30 25 38 21 47C19 53 22 58 28 58C34 57 39 55 45 51C40 60 33 68 33 80Z"/><circle class="e" cx="41" cy="34" r="3.2"/><path class="d" d="M62 29C67 40 68 56 66 76"/>',
};
const TEMPLATES = {};
for (const [t, body] of Object.entries(SHAPES)) {
  // constant markup of this file (never network data)
  const doc = new DOMParser().parseFromString(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">${BASE}${body}</svg>`, 'image/svg+xml');
  TEMPLATES[t] = doc.documentElement;
}

/** An <svg> of the piece `code` ("wq", "bn", ...). */
function pieceSvg(code) {
  const node = document.importNode(TEMPLATES[code[1]], true);
  node.setAttribute('class', `piece ${code[0] === 'w' ? 'white' : 'black'}`);
  node.setAttribute('aria-hidden', 'true');
  node.dataset.piece = code;
  return node;
}

// ---- FEN and squares ---------------------------------------------------------------------

/** {board: Map square -> "wp".., turn, fullmove} of a FEN (the router's: trusted shape). */
function parseFen(fen) {
  const board = new Map();
  const [placement = '', turn = 'w', , , , full = '1'] = String(fen || '').split(/\s+/);
  const rows = placement.split('/');
  for (let r = 0; r < 8 && r < rows.length; r++) {
    let f = 0;
    for (const ch of rows[r]) {
      if (/\d/.test(ch)) f += Number(ch);
      else {
        if (f < 8) board.set(FILES[f] + (8 - r), (ch === ch.toUpperCase() ? 'w' : 'b') + ch.toLowerCase());
        f += 1;
      }
    }
  }
  return { board, turn: turn === 'b' ? 'black' : 'white', fullmove: Math.max(1, Number(full) || 1) };
}

const fileOf = (sq) => FILES.indexOf(sq[0]);
const rankOf = (sq) => Number(sq[1]) - 1;

// ---- page state --------------------------------------------------------------------------

let session = null;
let feed = null;
let st = null;              // the room's state as this page knows it
let me = { role: null, seat: null, name: '' };
let position = parseFen('8/8/8/8/8/8/8/8 w - - 0 1');
let clockAt = performance.now(); // when st.clocks were read
let legal = { fen: null, list: [], loading: null };
let selected = null;        // square of the selected piece
let pending = false;        // a move or another action in flight
let optimistic = null;      // the UCI of our own move shown before its event
let manualFlip = false;
let resultDismissed = false;
let notice = '';            // a passing remark under the turn line (who left, who declined)
let noticeUntil = 0;
let resignArmed = 0;
let drag = null;

const status = statusPill($('status'));
const squares = new Map(); // square -> element

const chat = new ChatBox({
  list: $('chat'), form: $('chat-form'), input: $('chat-input'), error: $('chat-error'), empty: $('chat-empty'),
  max: 100,
  me: () => me.name,
  send: (text) => act(session, ROOM, 'chat', text),
  whisper: (to, text) => act(session, ROOM, 'whisper', to, text),
});
chat.members = () => (st && st.members) || [];

const mySide = () => (me.role === 'player' && SIDES.includes(me.seat) ? me.seat : null);
const online = () => !!(session && feed && feed.ready);
const playing = () => !!(st && st.status === 'playing');
const myTurn = () => !!(playing() && mySide() && st.turn === mySide());
const flipped = () => (mySide() === 'black') !== manualFlip;

function playerName(side) {
  const p = st && st.players && st.players[side];
  if (p && p.name) return String(p.name);
  const m = ((st && st.members) || []).find((x) => x.role === 'player' && x.seat === side);
  return m ? String(m.name) : null;
}

function playerConnected(side) {
  const p = st && st.players && st.players[side];
  return p ? p.connected !== false : false;
}

// ---- the board ---------------------------------------------------------------------------

function buildBoard() {
  const board = $('board');
  for (let r = 7; r >= 0; r--) {
    for (let f = 0; f < 8; f++) {
      const sq = FILES[f] + (r + 1);
      const node = el('div', {
        class: `sq ${(f + r) % 2 ? 'light' : 'dark'}`, role: 'gridcell', dataset: { square: sq },
      });
      squares.set(sq, node);
      board.append(node);
    }
  }
  board.addEventListener('pointerdown', onPointerDown);
  board.addEventListener('contextmenu', (e) => e.preventDefault());
  window.addEventListener('pointermove', onPointerMove);
  window.addEventListener('pointerup', onPointerUp);
  window.addEventListener('pointercancel', () => endDrag(null));
}

let orientedAs = null;

function orient() {
  const flip = flipped();
  if (orientedAs === flip) return;
  orientedAs = flip;
  $('board').dataset.orientation = flip ? 'black' : 'white';
  for (const [sq, node] of squares) {
    const f = fileOf(sq);
    const r = rankOf(sq);
    node.style.gridColumn = String((flip ? 7 - f : f) + 1);
    node.style.gridRow = String((flip ? r : 7 - r) + 1);
    for (const c of node.querySelectorAll('.coord')) c.remove();
    const bottom = flip ? r === 7 : r === 0;
    const left = flip ? f === 7 : f === 0;
    if (left) node.prepend(el('span', { class: 'coord rank' }, String(r + 1)));
    if (bottom) node.prepend(el('span', { class: 'coord file' }, sq[0]));
  }
  // the side at the bottom is the viewer's
  $('bar-white').style.order = flip ? '0' : '2';
  $('bar-black').style.order = flip ? '2' : '0';
  $('bar-white').classList.toggle('top', flip);
  $('bar-black').classList.toggle('top', !flip);
}

function lastMove() {
  const moves = (st && Array.isArray(st.moves)) ? st.moves : [];
  const uci = moves.length ? String(moves[moves.length - 1]) : null;
  return uci && uci.length >= 4 ? { from: uci.slice(0, 2), to: uci.slice(2, 4) } : null;
}

function kingSquare(side) {
  const code = side === 'white' ? 'wk' : 'bk';
  for (const [sq, p] of position.board) if (p === code) return sq;
  return null;
}

function targetsOf(from) {
  if (!from || legal.fen !== (st && st.fen)) return [];
  return [...new Set(legal.list.filter((m) => m.startsWith(from)).map((m) => m.slice(2, 4)))];
}

function renderBoard() {
  const last = lastMove();
  const checked = st && st.check ? kingSquare(st.turn) : null;
  const targets = new Set(targetsOf(selected));
  const mine = mySide() ? mySide()[0] : null;
  for (const [sq, node] of squares) {
    const code = position.board.get(sq) || '';
    const cur = node.querySelector('svg.piece');
    if ((cur ? cur.dataset.piece : '') !== code) {
      if (cur) cur.remove();
      if (code) node.append(pieceSvg(code));
    }
    node.dataset.piece = code;
    node.classList.toggle('last', !!last && (sq === last.from || sq === last.to));
    node.classList.toggle('check', sq === checked);
    node.classList.toggle('selected', sq === selected);
    node.classList.toggle('target', targets.has(sq));
    node.classList.toggle('capture', targets.has(sq) && !!code);
    node.classList.toggle('movable', myTurn() && !!code && code[0] === mine);
    const label = code ? `${sq}, ${code[0] === 'w' ? 'white' : 'black'} ${PIECE_NAMES[code[1]]}` : sq;
    node.setAttribute('aria-label', label);
  }
  $('board').classList.toggle('interactive', myTurn());
  $('board').dataset.fen = (st && st.fen) || '';
}

/** Slides the piece now on `to` from `from`. */
function animate(from, to) {
  const node = squares.get(to);
  const piece = node && node.querySelector('svg.piece');
  if (!piece || !squares.get(from)) return;
  const step = (flipped() ? -100 : 100) / 0.92; // a square, in % of the piece (92% of a square)
  const dx = (fileOf(from) - fileOf(to)) * step;
  const dy = (rankOf(to) - rankOf(from)) * step;
  piece.style.transition = 'none';
  piece.style.transform = `translate(${dx}%, ${dy}%)`;
  piece.getBoundingClientRect();
  piece.style.transition = `transform ${ANIM_MS}ms ease-out`;
  piece.style.transform = '';
}

// ---- legal moves -------------------------------------------------------------------------

function loadMoves() {
  if (!st || !session || !myTurn()) return Promise.resolve();
  const fen = st.fen;
  if (legal.fen === fen) return Promise.resolve();
  if (legal.loading && legal.loadingFen === fen) return legal.loading;
  const s = session;
  const loading = act(s, ROOM, 'moves').then((res) => {
    if (legal.loading !== loading) return;
    legal = { fen, list: asList(res).map(String), loading: null };
    renderBoard();
  }, (err) => {
    if (legal.loading === loading) legal = { fen: null, list: [], loading: null };
    showError(`legal moves: ${describeError(err)}`);
  });
  legal = { fen: legal.fen, list: legal.list, loading, loadingFen: fen };
  return loading;
}

// ---- clicks and drags --------------------------------------------------------------------

function squareAt(x, y) {
  const hit = document.elementFromPoint(x, y);
  const node = hit && hit.closest && hit.closest('.sq');
  return node && $('board').contains(node) ? node.dataset.square : null;
}

function ownPieceOn(sq) {
  const code = position.board.get(sq);
  return !!code && !!mySide() && code[0] === mySide()[0];
}

async function onPointerDown(e) {
  if (e.button !== undefined && e.button !== 0) return;
  const node = e.target.closest('.sq');
  if (!node) return;
  const sq = node.dataset.square;
  if (!myTurn() || pending || !$('promotion').hidden) return;
  e.preventDefault();
  if (selected && selected !== sq && targetsOf(selected).includes(sq)) {
    const from = selected;
    selected = null;
    tryMove(from, sq);
    return;
  }
  if (ownPieceOn(sq)) {
    const again = selected === sq;
    selected = sq;
    drag = { from: sq, x: e.clientX, y: e.clientY, again, ghost: null, pointer: e.pointerId };
    renderBoard();
    await loadMoves();
    return;
  }
  selected = null;
  renderBoard();
}

function onPointerMove(e) {
  if (!drag || (drag.pointer !== undefined && e.pointerId !== drag.pointer)) return;
  if (!drag.ghost) {
    if (Math.hypot(e.clientX - drag.x, e.clientY - drag.y) < 6) return;
    const src = squares.get(drag.from).querySelector('svg.piece');
    if (!src) return;
    const size = squares.get(drag.from).getBoundingClientRect().width;
    drag.ghost = src.cloneNode(true);
    drag.ghost.classList.add('ghost-piece');
    drag.ghost.style.width = drag.ghost.style.height = `${size}px`;
    document.body.append(drag.ghost);
    src.classList.add('lifted');
    drag.size = size;
  }
  drag.ghost.style.left = `${e.clientX - drag.size / 2}px`;
  drag.ghost.style.top = `${e.clientY - drag.size / 2}px`;
  const over = squareAt(e.clientX, e.clientY);
  for (const [sq, node] of squares) node.classList.toggle('hover', sq === over && node.classList.contains('target'));
}

function onPointerUp(e) {
  if (!drag) return;
  endDrag(e);
}

function endDrag(e) {
  const d = drag;
  drag = null;
  if (!d) return;
  for (const node of squares.values()) node.classList.remove('hover');
  const src = squares.get(d.from) && squares.get(d.from).querySelector('svg.piece');
  if (src) src.classList.remove('lifted');
  if (d.ghost) {
    d.ghost.remove();
    const to = e ? squareAt(e.clientX, e.clientY) : null;
    if (to && to !== d.from && targetsOf(d.from).includes(to)) {
      selected = null;
      tryMove(d.from, to, { dragged: true });
      return;
    }
    if (to !== d.from) selected = null;
  } else if (d.again) {
    selected = null; // a second click on the selected piece puts it down
  }
  renderBoard();
}

async function tryMove(from, to, { dragged = false } = {}) {
  const options = legal.list.filter((m) => m.slice(0, 4) === from + to);
  if (!options.length) {
    renderBoard();
    return;
  }
  let uci = options[0];
  if (options.some((m) => m.length === 5)) {
    const promo = await choosePromotion(from, to);
    if (!promo) {
      renderBoard();
      return;
    }
    uci = from + to + promo;
  }
  playMove(uci, { dragged });
}

/** The promotion chooser over the target file: resolves "q" | "r" | "b" | "n" or null. */
function choosePromotion(from, to) {
  return new Promise((resolve) => {
    const box = $('promotion');
    const choices = $('promotion-choices');
    const color = mySide() === 'black' ? 'b' : 'w';
    const flip = flipped();
    const col = flip ? 7 - fileOf(to) : fileOf(to);
    const fromTop = (flip ? rankOf(to) : 7 - rankOf(to)) === 0;
    choices.style.left = `${col * 12.5}%`;
    choices.style.top = fromTop ? '0' : '50%';
    choices.classList.toggle('up', !fromTop);
    const done = (p) => {
      box.hidden = true;
      choices.replaceChildren();
      document.removeEventListener('keydown', onKey);
      resolve(p);
    };
    const onKey = (e) => { if (e.key === 'Escape') done(null); };
    const order = fromTop ? ['q', 'n', 'r', 'b'] : ['b', 'r', 'n', 'q'];
    choices.replaceChildren(...order.map((p) => {
      const b = el('button', {
        type: 'button', class: 'promo', dataset: { promo: p }, title: PIECE_NAMES[p], 'aria-label': `promote to ${PIECE_NAMES[p]}`,
      }, pieceSvg(color + p));
      b.addEventListener('click', (e) => { e.stopPropagation(); done(p); });
      return b;
    }));
    box.querySelector('.promo-backdrop').onclick = () => done(null);
    document.addEventListener('keydown', onKey);
    box.hidden = false;
    box.dataset.from = from;
    box.dataset.to = to;
    choices.querySelector('[data-promo="q"]').focus();
  });
}

/** Shows our move at once (undone by a re-read if the router refuses it), then plays it. */
async function playMove(uci, { dragged = false } = {}) {
  if (!session || pending) return;
  pending = true;
  optimistic = uci;
  applyLocally(uci);
  if (!dragged) animate(uci.slice(0, 2), uci.slice(2, 4));
  renderControls();
  try {
    await act(session, ROOM, 'move', uci);
    showError('');
  } catch (err) {
    optimistic = null;
    showError(describeError(err));
    if (feed) feed.resync();
  } finally {
    pending = false;
    render();
  }
}

/** Our own move on the board before the router's event: the FEN of the event replaces it. */
function applyLocally(uci) {
  const from = uci.slice(0, 2);
  const to = uci.slice(2, 4);
  const b = position.board;
  const code = b.get(from);
  if (!code) return;
  if (code[1] === 'k' && Math.abs(fileOf(to) - fileOf(from)) === 2) {
    const rank = from[1];
    const [rf, rt] = fileOf(to) > fileOf(from) ? ['h', 'f'] : ['a', 'd'];
    const rook = b.get(rf + rank);
    b.delete(rf + rank);
    if (rook) b.set(rt + rank, rook);
  }
  if (code[1] === 'p' && from[0] !== to[0] && !b.get(to)) b.delete(to[0] + from[1]); // en passant
  b.delete(from);
  b.set(to, uci.length === 5 ? code[0] + uci[4] : code);
  renderBoard();
  squares.get(to).classList.add('last');
  squares.get(from).classList.add('last');
}

// ---- clocks ------------------------------------------------------------------------------

function clockLeft(side) {
  const c = st && st.clocks;
  if (!c || typeof c[`${side}_ms`] !== 'number') return null;
  let left = c[`${side}_ms`];
  if (playing() && st.turn === side) left -= performance.now() - clockAt;
  return Math.max(0, left);
}

function formatClock(msLeft) {
  if (msLeft === null) return '∞';
  const total = Math.floor(msLeft / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h) return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  if (msLeft < 10000) return `0:${String(s).padStart(2, '0')}.${Math.floor((msLeft % 1000) / 100)}`;
  return `${m}:${String(s).padStart(2, '0')}`;
}

function renderClocks() {
  for (const side of SIDES) {
    const node = $(`clock-${side}`);
    const left = clockLeft(side);
    const text = formatClock(left);
    if (node.textContent !== text) node.textContent = text;
    node.classList.toggle('running', playing() && st.turn === side && left !== null);
    node.classList.toggle('low', left !== null && left < LOW_TIME_MS);
    node.classList.toggle('none', left === null);
    node.dataset.ms = left === null ? '' : String(Math.round(left));
  }
}

function tick() {
  if (st) renderClocks();
  requestAnimationFrame(tick);
}

function setClocks(clocks) {
  st.clocks = clocks && typeof clocks === 'object' ? clocks : null;
  clockAt = performance.now();
}

function clockKind() {
  const c = st && st.clock;
  if (!c || typeof c !== 'object') return 'no clock';
  const min = c.initial_s / 60;
  const initial = c.initial_s < 60 ? `${c.initial_s}s` : Number.isInteger(min) ? String(min) : min.toFixed(1);
  return `${initial}+${c.increment_s || 0}`;
}

// ---- the rest of the page ----------------------------------------------------------------

function render() {
  if (!st) return;
  orient();
  renderBoard();
  renderPlayers();
  renderClocks();
  renderTurn();
  renderMoves();
  renderControls();
  renderResult();
  if (myTurn()) loadMoves();
  document.title = `${myTurn() ? '● Your move · ' : ''}Chess ${ROOM} · moonbar games`;
}

function material() {
  const count = { w: {}, b: {} };
  for (const t of Object.keys(VALUES)) { count.w[t] = 0; count.b[t] = 0; }
  for (const p of position.board.values()) count[p[0]][p[1]] += 1;
  const out = { white: [], black: [], diff: 0 };
  for (const t of ['q', 'r', 'b', 'n', 'p']) {
    const d = count.w[t] - count.b[t];
    out.diff += d * VALUES[t];
    // what a side has more of: the pieces it has taken from the other, in effect
    for (let i = 0; i < Math.abs(d); i++) out[d > 0 ? 'white' : 'black'].push((d > 0 ? 'b' : 'w') + t);
  }
  return out;
}

function renderPlayers() {
  const mat = material();
  for (const side of SIDES) {
    const bar = $(`bar-${side}`);
    const name = playerName(side);
    $(`name-${side}`).textContent = name || (st.status === 'waiting' ? 'waiting for a player…' : SIDE_NAME[side]);
    $(`name-${side}`).classList.toggle('empty-seat', !name);
    const tags = [];
    if (mySide() === side) tags.push(el('span', { class: 'badge' }, 'you'));
    if (name && !playerConnected(side) && st.players && st.players[side]) tags.push(el('span', { class: 'tag offline' }, 'offline'));
    if (playing() && st.turn === side) tags.push(el('span', { class: 'tag tomove' }, 'to move'));
    if (st.draw_offer === side && playing()) tags.push(el('span', { class: 'tag draw' }, 'offers a draw'));
    bar.querySelector('.ptags').replaceChildren(...tags);
    bar.classList.toggle('current', playing() && st.turn === side);
    bar.classList.toggle('winner', st.status === 'finished' && RESULT_WINNER[st.result] === side);
    const cap = $(`captured-${side}`);
    const diff = side === 'white' ? mat.diff : -mat.diff;
    cap.replaceChildren(...mat[side].map((code) => pieceSvg(code)));
    if (diff > 0) cap.append(el('span', { class: 'adv' }, `+${diff}`));
  }
  const watchers = ((st && st.members) || []).filter((m) => m.role === 'spectator');
  $('watchers').textContent = watchers.length
    ? `watching: ${watchers.map((w) => String(w.name) + (w.name === me.name && me.role === 'spectator' ? ' (you)' : '')).join(', ')}` : '';
  $('clock-kind').textContent = `${clockKind()}${st.rated === false ? ' · casual' : ' · rated'}`;
}

function renderTurn() {
  const turn = $('turn');
  const sub = $('turn-sub');
  let text;
  let subText = '';
  $('share').hidden = true;
  if (st.status === 'waiting') {
    text = 'Waiting for an opponent';
    subText = mySide() ? `you play ${mySide()}; the game starts when the other seat is taken` : 'the game starts when both seats are taken';
    $('share').hidden = !mySide();
    $('share-url').value = `${location.origin}/games/chess.html?room=${ROOM}`;
  } else if (playing()) {
    const who = myTurn() ? 'Your move' : mySide() ? `${playerName(st.turn) || SIDE_NAME[st.turn]} is thinking…`
      : `${SIDE_NAME[st.turn]} to move`;
    text = who + (st.check ? ' — check!' : '');
    if (me.role === 'spectator') subText = 'you are watching';
  } else if (st.status === 'finished') {
    text = `Game over · ${st.result || ''}`;
    subText = resultSentence();
  } else {
    text = st.status || '…';
  }
  if (notice && Date.now() < noticeUntil) subText = notice + (subText ? ' · ' + subText : '');
  turn.textContent = text;
  turn.classList.toggle('mine', myTurn());
  turn.classList.toggle('check', !!(playing() && st.check));
  sub.textContent = subText;
}

const displayResult = (r) => (r === '1/2-1/2' ? '½–½' : String(r));

function resultSentence() {
  const winner = RESULT_WINNER[st.result];
  const reason = REASONS[st.reason] || (st.reason ? String(st.reason).replace(/_/g, ' ') : '');
  if (winner) {
    const name = playerName(winner);
    return `${SIDE_NAME[winner]}${name ? ` (${name})` : ''} wins ${reason}`.trim();
  }
  if (st.result === '1/2-1/2') return `Draw ${reason}`.trim();
  return reason;
}

function renderMoves() {
  const san = Array.isArray(st.san) ? st.san : [];
  // the ply number of the first move, from the FEN now and the number of moves made since
  const now = (position.fullmove - 1) * 2 + (position.turn === 'black' ? 1 : 0);
  const first = Math.max(0, now - san.length);
  const rows = [];
  let row = null;
  san.forEach((m, i) => {
    const ply = first + i;
    const white = ply % 2 === 0;
    if (!row || white) {
      row = el('li', { class: 'move-row' }, el('span', { class: 'no' }, `${Math.floor(ply / 2) + 1}.`));
      if (!white) row.append(el('span', { class: 'san placeholder' }, '…'));
      rows.push(row);
    }
    row.append(el('span', {
      class: `san ${white ? 'w' : 'b'}${i === san.length - 1 ? ' current' : ''}`,
      dataset: { ply: String(i + 1) },
    }, String(m)));
  });
  if (st.status === 'finished' && st.result) rows.push(el('li', { class: 'move-row result-row' }, el('span', { class: 'final' }, displayResult(st.result))));
  const list = $('moves');
  list.replaceChildren(...rows);
  list.scrollTop = list.scrollHeight;
  list.hidden = rows.length === 0;
  $('moves-empty').hidden = rows.length > 0;
}

function renderControls() {
  const side = mySide();
  const isPlaying = playing() && !!side;
  $('actions').hidden = !side || st.status === 'finished';
  const offer = st.draw_offer;
  $('offer-draw').disabled = !(isPlaying && online() && !pending && offer !== side);
  $('offer-draw').textContent = offer === side && isPlaying ? '½ Draw offered' : '½ Offer draw';
  $('resign').disabled = !(isPlaying && online() && !pending);
  $('resign').textContent = resignArmed > Date.now() ? '⚑ Really resign?' : '⚑ Resign';
  $('resign').classList.toggle('armed', resignArmed > Date.now());
  const incoming = playing() && offer && offer !== side;
  $('draw-banner').hidden = !incoming;
  if (incoming) {
    const name = playerName(offer);
    $('draw-text').textContent = side ? `${name || SIDE_NAME[offer]} offers a draw` : `${SIDE_NAME[offer]} offers a draw`;
    $('accept-draw').hidden = !side;
    $('decline-draw').hidden = !side;
    $('accept-draw').disabled = $('decline-draw').disabled = !online() || pending;
  }
}

function renderResult() {
  const box = $('result');
  const over = st.status === 'finished' && !!st.result;
  box.hidden = !over || resultDismissed;
  box.dataset.result = over ? String(st.result) : '';
  box.dataset.reason = over ? String(st.reason || '') : '';
  if (!over) return;
  const winner = RESULT_WINNER[st.result];
  $('result-score').textContent = displayResult(st.result);
  if (winner && mySide()) $('result-text').textContent = winner === mySide() ? 'You win!' : 'You lose';
  else if (winner) $('result-text').textContent = `${playerName(winner) || SIDE_NAME[winner]} wins`;
  else $('result-text').textContent = 'Draw';
  box.dataset.outcome = winner ? (mySide() ? (winner === mySide() ? 'win' : 'loss') : 'win') : 'draw';
  const reason = REASONS[st.reason] || String(st.reason || '');
  $('result-reason').textContent = winner ? `${SIDE_NAME[winner]} wins ${reason}` : `${reason}`.replace(/^by /, 'by ');
}

// ---- events ------------------------------------------------------------------------------

/** Shows `text` under the turn line for `forMs`. */
function say(text, forMs = 8000) {
  notice = text;
  noticeUntil = Date.now() + forMs;
  if (text) setTimeout(() => { if (st && Date.now() >= noticeUntil) renderTurn(); }, forMs + 50);
}

function onEvent(ev, stale = false) {
  if (!st) return;
  if (stale) {
    // held while the state was re-read, and already in it: only the chat line is news
    if (ev.type === 'chat') chat.add(ev);
    return;
  }
  switch (ev.type) {
    case 'move': {
      const mine = optimistic && ev.uci === optimistic;
      optimistic = null;
      st.moves = [...(Array.isArray(st.moves) ? st.moves : []), ev.uci];
      st.san = [...(Array.isArray(st.san) ? st.san : []), ev.san];
      st.fen = ev.fen;
      st.turn = OTHER[ev.side] || st.turn;
      st.check = !!ev.check;
      if (st.draw_offer && st.draw_offer !== ev.side) st.draw_offer = null; // the offer lapses
      setClocks(ev.clocks);
      position = parseFen(st.fen);
      selected = null;
      render();
      if (!mine && ev.uci) animate(ev.uci.slice(0, 2), ev.uci.slice(2, 4));
      return;
    }
    case 'start':
      st.status = 'playing';
      if (ev.fen) { st.fen = ev.fen; position = parseFen(ev.fen); }
      if (ev.turn) st.turn = ev.turn;
      setClocks(ev.clocks);
      say('');
      feed.resync(); // the players' names
      break;
    case 'end':
      st.status = 'finished';
      st.result = ev.result ?? st.result;
      st.reason = ev.reason ?? st.reason;
      if (ev.fen) { st.fen = ev.fen; position = parseFen(ev.fen); }
      setClocks(ev.clocks);
      st.draw_offer = null;
      selected = null;
      resultDismissed = false;
      break;
    case 'draw_offer':
      st.draw_offer = ev.side;
      say('');
      break;
    case 'draw_declined':
      st.draw_offer = null;
      say(`${playerName(ev.side) || SIDE_NAME[ev.side] || 'the other side'} declined the draw`);
      break;
    case 'join':
    case 'leave':
      if (ev.role === 'player' && ev.type === 'leave' && playing()) say(`${ev.name} left the game`);
      feed.resync();
      return;
    case 'drop':
    case 'return': {
      const connected = ev.type === 'return';
      for (const m of st.members || []) if (m.name === ev.name) m.connected = connected;
      const p = st.players && SIDES.includes(ev.seat) ? st.players[ev.seat] : null;
      if (p) p.connected = connected;
      say(connected ? `${ev.name} is back` : `${ev.name} lost the connection; the seat is kept`, connected ? 6000 : 60000);
      break;
    }
    case 'chat':
      chat.add(ev);
      return;
    default:
      return;
  }
  render();
}

function onReset(state) {
  const first = !st;
  st = state || {};
  if (!Array.isArray(st.moves)) st.moves = [];
  if (!Array.isArray(st.san)) st.san = [];
  if (st.result === undefined) st.result = null;
  clockAt = performance.now();
  position = parseFen(st.fen);
  optimistic = null;
  if (selected && !ownPieceOn(selected)) selected = null;
  if (first) {
    chat.clear();
    for (const msg of (Array.isArray(st.chat) ? st.chat : []).slice(-50)) chat.add(msg);
  }
  render();
}

// ---- joining -----------------------------------------------------------------------------

async function enter(s, name) {
  if (feed) feed.close();
  const thisFeed = feed = new RoomFeed(s, ROOM, {
    onReset,
    onEvent,
    onWhisper: (ev) => chat.add(ev, { whisper: 'in' }),
  });
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
        say('both seats are taken: you are watching', 3600000);
      }
    }
    if (thisFeed !== feed) return;
    const kind = ans.state && ans.state.kind;
    if (kind && kind !== 'chess') {
      feed.close();
      s.call('moonbar.room.leave', [ROOM]).catch(() => {});
      showFatal(`${ROOM} is a ${kind} room, not a chess game.`);
      return;
    }
    me = { role: ans.role, seat: ans.seat ?? null, name: ans.name };
    showMe($('me'), ans.name);
    document.body.dataset.role = ans.role || '';
    document.body.dataset.side = mySide() || '';
    if (ans.role === 'player') store.setSeat(ROOM, { token: ans.token, name: ans.name, seat: ans.seat });
    st = null;
    legal = { fen: null, list: [], loading: null };
    feed.start(ans);
    chat.enable(true);
    showError('');
    render();
  } catch (err) {
    if (isError(err, 'no_such_room')) {
      store.clearSeat(ROOM);
      showFatal('This room does not exist (any more).');
    }
    else showError(`could not join ${ROOM}: ${describeError(err)}`);
  }
}

function showError(text) {
  $('game-error').textContent = text || '';
  $('game-error').hidden = !text;
}

function showFatal(text) {
  $('turn').textContent = text;
  $('turn-sub').replaceChildren(el('a', { href: '/games/' }, 'back to the lobby'));
  $('actions').hidden = true;
}

async function doAct(action) {
  if (!session || pending) return;
  pending = true;
  renderControls();
  try {
    await act(session, ROOM, action);
    showError('');
  } catch (err) {
    showError(describeError(err));
    if (feed) feed.resync();
  } finally {
    pending = false;
    if (st) render();
  }
}

$('offer-draw').addEventListener('click', () => doAct('offer_draw'));
$('accept-draw').addEventListener('click', () => doAct('accept_draw'));
$('decline-draw').addEventListener('click', () => doAct('decline_draw'));
$('resign').addEventListener('click', () => {
  if (resignArmed > Date.now()) {
    resignArmed = 0;
    doAct('resign');
    return;
  }
  resignArmed = Date.now() + 3000;
  renderControls();
  setTimeout(() => { if (st) renderControls(); }, 3100);
});
$('flip').addEventListener('click', () => {
  manualFlip = !manualFlip;
  if (st) render();
});
$('result-close').addEventListener('click', () => {
  resultDismissed = true;
  if (st) renderResult();
});
$('share-copy').addEventListener('click', async () => {
  $('share-url').select();
  try { await navigator.clipboard.writeText($('share-url').value); } catch { document.execCommand('copy'); }
  $('share-copy').textContent = 'Copied';
  setTimeout(() => { $('share-copy').textContent = 'Copy link'; }, 1500);
});
$('show-pgn').addEventListener('click', async () => {
  const dialog = $('pgn-dialog');
  $('pgn-text').textContent = 'loading…';
  if (!dialog.open) dialog.showModal();
  try {
    const res = await act(session, ROOM, 'pgn');
    $('pgn-text').textContent = typeof res === 'string' ? res : asList(res).join('\n');
  } catch (err) {
    $('pgn-text').textContent = describeError(err);
  }
});
$('pgn-close').addEventListener('click', () => $('pgn-dialog').close());
$('pgn-copy').addEventListener('click', async () => {
  try { await navigator.clipboard.writeText($('pgn-text').textContent); } catch { /* not allowed here */ }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && selected) {
    selected = null;
    if (st) renderBoard();
  }
});

async function main() {
  $('room-id').textContent = ROOM;
  $('topic').textContent = ROOM ? roomTopic(ROOM) : '';
  document.title = `Chess ${ROOM} · moonbar games`;
  buildBoard();
  for (const side of SIDES) $(`bar-${side}`).querySelector('.side-icon').append(pieceSvg(side === 'white' ? 'wk' : 'bk'));
  position = parseFen('rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1');
  orient();
  renderBoard();
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
  requestAnimationFrame(tick);
  connect({
    status,
    onopen: (s) => {
      session = s;
      legal = { fen: null, list: [], loading: null };
      enter(s, store.name() || name);
    },
    onclose: () => {
      session = null;
      if (feed) feed.close(false);
      feed = null;
      chat.enable(false);
      if (st) renderControls();
    },
  });
}

main();
