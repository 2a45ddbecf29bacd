// The WAMP side of the game pages: the connection to realm1 on ws(s)://<this host>/ws, the
// shapes of the room service's answers, the per-room event feed (seq numbering, gap -> re-read)
// and what the pages keep in the browser's storage. Plain ES module; autobahn-browser is the
// global `autobahn` (a classic <script> loaded before the modules).

export const REALM = 'realm1';
const RESTART_DELAY_S = 3;

export function wsUrl() {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
}

/**
 * Opens the connection and keeps it open: autobahn retries lost connections by itself; after a
 * GOODBYE from a router that shuts down it is reopened here. status(state, text) is told
 * "connecting" / "joined" / "closed" / "failed"; onopen(session) runs on every (re)join, onclose()
 * when the session is gone.
 */
export function connect({ onopen, onclose, status }) {
  const ab = window.autobahn;
  if (!ab) {
    status('failed', 'autobahn-browser not loaded (run npm ci in lua/www)');
    return null;
  }
  const connection = new ab.Connection({
    url: wsUrl(),
    realm: REALM,
    max_retries: -1,
    initial_retry_delay: 0.5,
    max_retry_delay: 5,
    retry_delay_growth: 1.5,
  });
  connection.onopen = (session) => {
    status('joined', 'connected');
    try {
      onopen(session);
    } catch (err) {
      console.error(err);
    }
  };
  connection.onclose = (reason, details) => {
    if (onclose) onclose(reason, details);
    let text = 'offline';
    if (details && details.will_retry) {
      text = `offline: reconnecting in ${Math.max(1, Math.round(details.retry_delay))} s`;
    } else if (details && details.reason === 'wamp.close.system_shutdown') {
      text = `router restarting: reconnecting in ${RESTART_DELAY_S} s`;
      setTimeout(() => {
        try { connection.open(); } catch { /* already reopening */ }
      }, RESTART_DELAY_S * 1000);
    } else if (reason === 'unreachable' || reason === 'lost') {
      text = 'offline';
    }
    status('closed', text);
    return false; // let autobahn go on retrying
  };
  status('connecting', 'connecting…');
  connection.open();
  return connection;
}

function isResult(res) {
  return !!res && typeof res === 'object' && window.autobahn && res instanceof window.autobahn.Result;
}

/** An answer that is a dict (sent as the RESULT's kwargs). */
export function asDict(res) {
  if (isResult(res)) {
    if (res.kwargs && Object.keys(res.kwargs).length) return res.kwargs;
    if (res.args && res.args.length && res.args[0] && typeof res.args[0] === 'object') return res.args[0];
    return {};
  }
  return res && typeof res === 'object' ? res : {};
}

/** An answer that is a list: as the RESULT's args, or as its one argument. */
export function asList(res) {
  if (res === null || res === undefined) return [];
  if (isResult(res)) {
    const args = res.args || [];
    return args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  }
  if (Array.isArray(res)) return res;
  return [res]; // a one-element list spread as the args comes back as that element
}

/** "uri: message" of a WAMP error (or any thrown value). */
export function describeError(err) {
  if (!err) return 'unknown error';
  if (err.error) {
    const message = err.args && err.args.length && typeof err.args[0] === 'string' ? err.args[0] : '';
    return message ? `${message} (${err.error})` : err.error;
  }
  return err.message || String(err);
}

export function errorUri(err) {
  return (err && err.error) || '';
}

export const isError = (err, name) => errorUri(err) === `moonbar.error.room.${name}`;

export const roomTopic = (room) => `moonbar.room.${room}`;

export async function join(session, room, kwargs) {
  return asDict(await session.call('moonbar.room.join', [room], kwargs));
}

export function act(session, room, action, ...args) {
  return session.call('moonbar.room.act', [room, action, ...args]);
}

/**
 * Joins a room as a player with `name` (and `token` to reclaim a seat), trying again without
 * the token when it is refused, and with "name (2)", "name (3)" when the name is taken by
 * another member. Answers the join answer plus `name`, the name it was taken with.
 */
export async function joinWithName(session, room, { as = 'player', name, token, seat }) {
  let tryName = name;
  let tryToken = token;
  for (let attempt = 2; ; attempt++) {
    const kwargs = { as, name: tryName };
    if (tryToken) kwargs.token = tryToken;
    if (seat !== undefined && seat !== null && !tryToken) kwargs.seat = seat;
    try {
      const ans = await join(session, room, kwargs);
      return { ...ans, name: tryName };
    } catch (err) {
      if (tryToken && !isError(err, 'no_such_room')) {
        tryToken = null; // the seat is gone: join afresh
        continue;
      }
      if (isError(err, 'invalid_argument') && attempt <= 6 && /name/i.test(describeError(err))) {
        tryName = `${name.slice(0, 27)} (${attempt})`;
        continue;
      }
      throw err;
    }
  }
}

/**
 * The events of one room, in seq order. subscribe() first, then start(joinPromise): events that
 * arrive before the join answers are held and replayed on top of its state. An event with a seq
 * already seen is dropped; a gap re-reads the room with moonbar.room.state and replaces the copy
 * (onReset). Whispers carry the current seq without taking one and go to onWhisper.
 * onEvent(ev, stale): stale is true for an event that a re-read state already holds.
 */
export class RoomFeed {
  constructor(session, room, { onReset, onEvent, onWhisper }) {
    this.session = session;
    this.room = room;
    this.onReset = onReset;
    this.onEvent = onEvent;
    this.onWhisper = onWhisper || (() => {});
    this.seq = null;
    this.held = [];
    this.ready = false;
    this.loading = null;
    this.closed = false;
    this.subscription = null;
  }

  async subscribe() {
    this.subscription = await this.session.subscribe(roomTopic(this.room), (args) => this.receive(args && args[0]));
  }

  /** ans: a join answer or a state answer ({state, seq}). */
  start(ans) {
    this.reset(ans);
  }

  reset(ans) {
    if (this.closed) return;
    const before = this.seq;
    this.seq = typeof ans.seq === 'number' ? ans.seq : null;
    const state = ans.state || {};
    if (ans.status && !state.status) state.status = ans.status;
    this.ready = true;
    this.onReset(state, this.seq);
    // Events held while the state was read that it already holds: after a re-read they are
    // still news to this page (a log line, a chat message, a turn clock), flagged stale so
    // that they are not applied to the state twice. At the first join they are history.
    if (before !== null && this.seq !== null) {
      this.held.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
      for (const ev of this.held) {
        if (typeof ev.seq === 'number' && ev.seq > before && ev.seq <= this.seq) this.deliver(ev, true);
      }
    }
    this.flush();
  }

  receive(ev) {
    if (this.closed || !ev || typeof ev !== 'object') return;
    if (ev.type === 'whisper') {
      this.onWhisper(ev);
      return;
    }
    this.held.push(ev);
    if (this.ready) this.flush();
  }

  flush() {
    this.held.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    while (this.held.length && this.ready && !this.closed) {
      const ev = this.held[0];
      if (typeof ev.seq !== 'number' || this.seq === null) {
        this.held.shift();
        this.deliver(ev);
      } else if (ev.seq <= this.seq) {
        this.held.shift(); // already in the state we hold
      } else if (ev.seq === this.seq + 1) {
        this.held.shift();
        this.seq = ev.seq;
        this.deliver(ev);
      } else {
        this.resync(); // a gap: events were lost
        return;
      }
    }
  }

  deliver(ev, stale = false) {
    try {
      this.onEvent(ev, stale);
    } catch (err) {
      console.error('room event', ev, err);
    }
  }

  /** Re-reads the room's state and replaces the copy; events meanwhile are held. */
  resync() {
    if (this.loading) return this.loading;
    this.ready = false;
    this.loading = this.session.call('moonbar.room.state', [this.room]).then((res) => {
      this.loading = null;
      this.reset(asDict(res));
    }, (err) => {
      this.loading = null;
      this.ready = true;
      console.error(`moonbar.room.state ${this.room}: ${describeError(err)}`);
    });
    return this.loading;
  }

  /** Stops the feed; `unsubscribe` false when the connection is gone anyway. */
  close(unsubscribe = true) {
    this.closed = true;
    const sub = this.subscription;
    this.subscription = null;
    if (unsubscribe && sub && sub.active && this.session.isOpen) this.session.unsubscribe(sub).catch(() => {});
  }
}

// ---- What the browser keeps ---------------------------------------------------------------

const NAME_KEY = 'moonbar.games.name';
const seatKey = (room) => `moonbar.games.seat.${room}`;

function readJson(storage, key) {
  try {
    const v = JSON.parse(storage.getItem(key));
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

export const store = {
  name() {
    try { return (localStorage.getItem(NAME_KEY) || '').trim(); } catch { return ''; }
  },
  setName(name) {
    try { localStorage.setItem(NAME_KEY, name); } catch { /* private mode */ }
  },
  /** {token, name, seat} of this browser's seat in `room`, or null. */
  seat(room) {
    return readJson(localStorage, seatKey(room));
  },
  setSeat(room, seat) {
    try { localStorage.setItem(seatKey(room), JSON.stringify(seat)); } catch { /* private mode */ }
  },
  clearSeat(room) {
    try { localStorage.removeItem(seatKey(room)); } catch { /* private mode */ }
  },
  /** Forgets the seats of rooms that are gone: `rooms`, the IDs of every room there is. */
  pruneSeats(rooms) {
    try {
      const keep = new Set(rooms);
      const prefix = seatKey('');
      for (let i = localStorage.length - 1; i >= 0; i--) {
        const key = localStorage.key(i);
        if (key && key.startsWith(prefix) && !keep.has(key.slice(prefix.length))) localStorage.removeItem(key);
      }
    } catch { /* private mode */ }
  },
  /** The lobby membership of this tab (per tab: two tabs are two members). */
  lobby() {
    return readJson(sessionStorage, 'moonbar.games.lobby');
  },
  setLobby(v) {
    try { sessionStorage.setItem('moonbar.games.lobby', JSON.stringify(v)); } catch { /* private mode */ }
  },
};
