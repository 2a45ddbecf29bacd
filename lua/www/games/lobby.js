// /games/: the lobby (room `lobby`, kind chat: presence and chat), the room list, creating
// and joining games, the leaderboards. Follows docs/games.md.

import {
  connect, asDict, asList, describeError, act, joinWithName, RoomFeed, store,
} from './net.js';
import { el, $, statusPill, askName, ChatBox, showMe } from './ui.js';
import { TicTacToe } from './tictactoe.js';
import { chessParams, chessUrl, refreshArchive } from './chess-lobby.js';

const LOBBY = 'lobby';
const ROOMS_EVERY_MS = 5000;
const BOARDS_EVERY_MS = 20000;
const KIND_TITLES = { goose: 'Goose', tictactoe: 'Tic-tac-toe', chess: 'Chess' };

let session = null;
let feed = null;
let myName = '';
let members = new Map(); // name -> {seat, name, role, connected}
let ttt = null;

const chat = new ChatBox({
  list: $('chat'), form: $('chat-form'), input: $('chat-input'), error: $('chat-error'), empty: $('chat-empty'),
  max: 100,
  me: () => myName,
  send: (text) => act(session, LOBBY, 'chat', text),
  whisper: (to, text) => act(session, LOBBY, 'whisper', to, text),
});
chat.members = () => [...members.values()];

// ---- presence -----------------------------------------------------------------------------

function renderPresence() {
  const list = [...members.values()].sort((a, b) =>
    (b.connected !== false) - (a.connected !== false) || String(a.name).localeCompare(String(b.name)));
  $('presence').replaceChildren(...list.map((m) => {
    const you = m.name === myName;
    const li = el('li', {
      class: ['member', m.connected === false ? 'offline' : 'online', you ? 'you' : ''].join(' '),
      dataset: { name: String(m.name), connected: String(m.connected !== false) },
      title: you ? 'you' : m.connected === false ? 'connection lost' : 'click to whisper',
    }, el('span', { class: 'dot', 'aria-hidden': 'true' }), el('span', { class: 'name' }, String(m.name)),
    you ? el('span', { class: 'badge' }, 'you') : null,
    m.role === 'spectator' ? el('span', { class: 'tag' }, 'watching') : null);
    if (!you) li.addEventListener('click', () => chat.whisperTo(String(m.name)));
    return li;
  }));
  const online = list.filter((m) => m.connected !== false).length;
  $('presence-count').textContent = list.length ? `${online} online` : '';
}

function onLobbyReset(state) {
  members = new Map();
  for (const m of state.members || []) members.set(m.name, m);
  renderPresence();
  chat.sync(state.chat);
}

function onLobbyEvent(ev, stale) {
  if (stale) return; // a re-read (onLobbyReset) showed it already
  switch (ev.type) {
    case 'join':
      members.set(ev.name, { seat: ev.seat, name: ev.name, role: ev.role, connected: true });
      break;
    case 'leave':
      members.delete(ev.name);
      break;
    case 'drop':
      if (members.has(ev.name)) members.get(ev.name).connected = false;
      else members.set(ev.name, { seat: ev.seat, name: ev.name, connected: false });
      break;
    case 'return':
      if (members.has(ev.name)) members.get(ev.name).connected = true;
      else members.set(ev.name, { seat: ev.seat, name: ev.name, connected: true });
      break;
    case 'chat':
      chat.add(ev);
      return;
    default:
      return;
  }
  renderPresence();
}

async function joinLobby(s) {
  const saved = store.lobby();
  feed = new RoomFeed(s, LOBBY, {
    onReset: onLobbyReset,
    onEvent: onLobbyEvent,
    onWhisper: (ev) => chat.add(ev, { whisper: 'in' }),
  });
  const thisFeed = feed;
  try {
    await feed.subscribe();
    const ans = await joinWithName(s, LOBBY, {
      as: 'player', name: myName, token: saved && saved.name === myName ? saved.token : undefined,
    });
    if (thisFeed !== feed) return;
    if (ans.name !== myName) {
      chat.showError(`"${myName}" is taken in the lobby right now: you are "${ans.name}" here.`);
    }
    myName = ans.name;
    store.setLobby({ token: ans.token, name: ans.name, seat: ans.seat });
    feed.start(ans);
    chat.enable(true);
  } catch (err) {
    chat.showError(`could not join the lobby: ${describeError(err)}`);
  }
}

// ---- rooms --------------------------------------------------------------------------------

let roomsTimer = null;

function playerChips(players) {
  if (!players || !players.length) return [el('span', { class: 'muted' }, 'no players yet')];
  return players.map((p) => el('span', {
    class: `chip ${p.connected === false ? 'offline' : ''}`, title: p.connected === false ? 'connection lost' : `seat ${p.seat}`,
  }, String(p.name ?? `player ${p.seat}`)));
}

function roomRow(r) {
  const players = r.players || [];
  const seat = store.seat(r.room);
  const open = r.status === 'waiting' && (r.max_players === undefined || players.length < r.max_players);
  const actions = el('div', { class: 'actions' });
  if (seat && r.status !== 'finished') {
    actions.append(el('button', { type: 'button', class: 'join', dataset: { action: 'resume' }, onclick: () => openRoom(r, 'player') }, 'Resume'));
  } else if (open) {
    actions.append(el('button', { type: 'button', class: 'join', dataset: { action: 'join' }, onclick: () => openRoom(r, 'player') }, 'Join'));
  }
  actions.append(el('button', { type: 'button', class: 'ghost watch', dataset: { action: 'watch' }, onclick: () => openRoom(r, 'spectator') },
    r.status === 'finished' ? 'See result' : 'Watch'));
  return el('li', { class: `room status-${r.status}`, dataset: { room: r.room, kind: r.kind, status: r.status } },
    el('div', { class: 'room-main' },
      el('div', { class: 'room-title' },
        el('span', { class: 'room-id' }, r.room),
        el('span', { class: `pill ${r.status}` }, r.status),
        el('span', { class: 'muted small' }, `${players.length}${r.max_players ? '/' + r.max_players : ''} players` +
          (r.spectators ? ` · ${r.spectators} watching` : ''))),
      el('div', { class: 'chips' }, playerChips(players))),
    actions);
}

function renderRooms(rooms) {
  const byKind = new Map();
  for (const r of rooms) {
    if (!r || r.kind === 'chat' || r.room === LOBBY) continue;
    if (!byKind.has(r.kind)) byKind.set(r.kind, []);
    byKind.get(r.kind).push(r);
  }
  const order = { waiting: 0, playing: 1, finished: 2 };
  const groups = [...byKind.keys()].sort().map((kind) => {
    const list = byKind.get(kind).sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3) || String(a.room).localeCompare(String(b.room)));
    return el('div', { class: 'room-group', dataset: { kind } },
      el('h4', {}, KIND_TITLES[kind] || kind),
      el('ul', { class: 'room-list' }, list.map(roomRow)));
  });
  $('rooms').replaceChildren(...groups);
  const n = groups.reduce((sum, g) => sum + g.querySelectorAll('li.room').length, 0);
  $('rooms-count').textContent = n ? String(n) : '';
  $('rooms-empty').hidden = n > 0;
}

async function refreshRooms() {
  if (!session) return;
  const s = session;
  try {
    const rooms = asList(await s.call('moonbar.room.list', []));
    if (s !== session) return;
    store.pruneSeats(rooms.map((r) => r && r.room));
    renderRooms(rooms);
    showRoomsError('');
  } catch (err) {
    showRoomsError(`room list: ${describeError(err)}`);
  }
}

function showRoomsError(text) {
  $('rooms-error').textContent = text;
  $('rooms-error').hidden = !text;
}

function openRoom(r, as) {
  if (r.kind === 'goose') {
    location.href = `/games/goose.html?room=${encodeURIComponent(r.room)}${as === 'spectator' ? '&as=spectator' : ''}`;
  } else if (r.kind === 'tictactoe') {
    ttt.open(r.room, as);
  } else if (r.kind === 'chess') {
    location.href = chessUrl(r.room, as);
  } else {
    showRoomsError(`no page for ${r.kind} rooms here yet`);
  }
}

function showCreateError(text) {
  $('create-error').textContent = text;
  $('create-error').hidden = !text;
}

async function create(kind, params) {
  showCreateError('');
  try {
    const ans = asDict(await session.call('moonbar.room.create', [kind], params));
    if (!ans.room) throw new Error('moonbar.room.create answered no room');
    openRoom({ room: ans.room, kind: ans.kind || kind }, 'player');
    refreshRooms();
  } catch (err) {
    showCreateError(`could not create the room: ${describeError(err)}`);
  }
}

$('create-goose-form').addEventListener('submit', (e) => {
  e.preventDefault();
  create('goose', { max_players: Number($('goose-max').value), turn_timeout_s: Number($('goose-timeout').value) });
});
$('create-ttt-form').addEventListener('submit', (e) => {
  e.preventDefault();
  create('tictactoe', {});
});
$('create-chess-form').addEventListener('submit', (e) => {
  e.preventDefault();
  create('chess', chessParams());
});
$('refresh-rooms').addEventListener('click', refreshRooms);

// ---- leaderboards -------------------------------------------------------------------------

async function loadBoard(board, listId, { optional = false } = {}) {
  const list = $(listId);
  try {
    const rows = asList(await session.call('moonbar.leaderboard.top', [board, 10]));
    list.replaceChildren(...rows.map((r, i) => el('li', { dataset: { owner: String(r.owner), score: String(r.score) } },
      el('span', { class: 'rank' }, String(r.rank ?? i + 1)),
      el('span', { class: 'owner' }, String(r.owner)),
      el('span', { class: 'score' }, String(r.score)))));
    if (!rows.length) list.append(el('li', { class: 'placeholder' }, 'no scores yet'));
    return rows.length;
  } catch (err) {
    if (!optional) list.replaceChildren(el('li', { class: 'placeholder' }, describeError(err)));
    return false;
  }
}

async function refreshBoards() {
  if (!session) return;
  await Promise.all([
    loadBoard('goose.wins', 'lb-goose-wins'),
    loadBoard('goose.played', 'lb-goose-played'),
    // chess.rating: shown when the router answers it with scores
    loadBoard('chess.rating', 'lb-chess-rating', { optional: true }).then((n) => { $('lb-chess').hidden = !n; }),
    refreshArchive(session),
  ]);
}
$('refresh-boards').addEventListener('click', refreshBoards);

// ---- connection ---------------------------------------------------------------------------

function setOnline(on) {
  for (const id of ['create-goose', 'create-ttt', 'create-chess', 'refresh-rooms', 'refresh-boards']) $(id).disabled = !on;
  chat.enable(on && !!feed && feed.ready);
}

async function start() {
  myName = await askName();
  const changeName = async () => {
    const name = await askName({ force: true });
    if (name === myName) return;
    myName = name;
    showMe($('me'), myName, changeName);
    if (session && feed) {
      feed.close();
      feed = null;
      chat.enable(false);
      try { await session.call('moonbar.room.leave', [LOBBY]); } catch { /* not a member */ }
      store.setLobby(null);
      joinLobby(session);
    }
  };
  showMe($('me'), myName, changeName);

  ttt = new TicTacToe({ me: () => myName, session: () => session, onChange: refreshRooms });

  connect({
    status: statusPill($('status')),
    onopen: (s) => {
      session = s;
      setOnline(true);
      joinLobby(s);
      refreshRooms();
      refreshBoards();
      ttt.reconnect(s);
      clearInterval(roomsTimer);
      roomsTimer = setInterval(refreshRooms, ROOMS_EVERY_MS);
    },
    onclose: () => {
      session = null;
      if (feed) feed.close(false);
      feed = null;
      setOnline(false);
      ttt.disconnected();
      for (const m of members.values()) if (m.name === myName) m.connected = false;
      renderPresence();
    },
  });
  setInterval(refreshBoards, BOARDS_EVERY_MS);
}

start();
