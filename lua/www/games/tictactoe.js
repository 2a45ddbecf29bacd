// The tic-tac-toe table of /games/: a small panel that joins a `tictactoe` room as a player or
// a spectator, shows the board and plays action `move(cell)` (cells 1..9, row-major).

import { describeError, act, joinWithName, RoomFeed, store, isError } from './net.js';
import { el, $ } from './ui.js';

export class TicTacToe {
  constructor({ me, session, onChange }) {
    this.me = me;
    this.session = session;
    this.onChange = onChange || (() => {});
    this.room = null;
    this.as = 'player';
    this.feed = null;
    this.state = null;
    this.seat = null;
    this.role = null;
    this.cells = [];
    const board = $('ttt-board');
    for (let i = 1; i <= 9; i++) {
      const b = el('button', { type: 'button', class: 'cell', dataset: { cell: String(i) }, 'aria-label': `cell ${i}` });
      b.addEventListener('click', () => this.move(i));
      this.cells.push(b);
      board.append(b);
    }
    $('ttt-leave').addEventListener('click', () => this.close());
  }

  open(room, as) {
    if (this.feed) this.feed.close();
    this.room = room;
    this.as = as;
    this.state = null;
    $('ttt-card').hidden = false;
    $('ttt-room').textContent = room;
    this.render();
    const s = this.session();
    if (s) this.reconnect(s);
    $('ttt-card').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  async close() {
    const s = this.session();
    const room = this.room;
    if (this.feed) this.feed.close();
    this.feed = null;
    this.room = null;
    $('ttt-card').hidden = true;
    if (s && room) {
      try { await s.call('moonbar.room.leave', [room]); } catch { /* gone already */ }
      if (this.role === 'player') store.clearSeat(room);
    }
    this.onChange();
  }

  disconnected() {
    if (this.feed) this.feed.close(false);
    this.feed = null;
    this.render();
  }

  async reconnect(s) {
    if (!this.room) return;
    const room = this.room;
    const feed = new RoomFeed(s, room, {
      onReset: (state) => { this.state = state; this.render(); },
      onEvent: (ev) => this.onEvent(ev),
    });
    this.feed = feed;
    this.showError('');
    try {
      await feed.subscribe();
      const saved = store.seat(room);
      let ans;
      try {
        ans = await joinWithName(s, room, this.as === 'spectator'
          ? { as: 'spectator', name: this.me() }
          : { as: 'player', name: (saved && saved.name) || this.me(), token: saved && saved.token });
      } catch (err) {
        if (this.as !== 'player' || !isError(err, 'full')) throw err;
        this.as = 'spectator';
        ans = await joinWithName(s, room, { as: 'spectator', name: this.me() });
      }
      if (feed !== this.feed) return;
      this.seat = ans.seat ?? null;
      this.role = ans.role;
      if (ans.role === 'player') store.setSeat(room, { token: ans.token, name: ans.name, seat: ans.seat });
      feed.start(ans);
      this.onChange();
    } catch (err) {
      this.showError(describeError(err));
    }
  }

  onEvent(ev) {
    const st = this.state;
    if (!st) return;
    const g = this.game();
    if (ev.type === 'move') {
      if (Array.isArray(g.board) && ev.cell >= 1 && ev.cell <= 9) g.board[ev.cell - 1] = ev.mark;
      g.turn = ev.next ? this.markOf(ev.next) : undefined;
      if (ev.winner) g.winner = ev.winner;
      if (ev.line) g.line = ev.line;
      if (ev.draw) g.draw = true;
      this.render();
    } else if (['join', 'leave', 'start', 'end'].includes(ev.type)) {
      this.feed.resync();
    } else if (ev.type === 'drop' || ev.type === 'return') {
      for (const m of st.members || []) if (m.name === ev.name) m.connected = ev.type === 'return';
      this.render();
    }
  }

  /** The rules' game: state.game (or the state itself). */
  game() {
    const st = this.state || {};
    return st.game && typeof st.game === 'object' ? st.game : st;
  }

  /** The mark of a seat: state.marks (a list by seat, or a dict), else X for 1 and O for 2. */
  markOf(seat) {
    const marks = (this.state || {}).marks;
    if (Array.isArray(marks) && marks[seat - 1]) return marks[seat - 1];
    if (marks && typeof marks === 'object' && marks[String(seat)]) return marks[String(seat)];
    return seat === 1 ? 'X' : seat === 2 ? 'O' : null;
  }

  myMark() {
    return this.seat === null || this.seat === undefined ? null : this.markOf(this.seat);
  }

  nameOf(mark) {
    const st = this.state || {};
    const seat = mark === this.markOf(1) ? 1 : 2;
    const m = (st.members || []).find((x) => x.role === 'player' && x.seat === seat);
    return m ? m.name : mark;
  }

  render() {
    const st = this.state;
    const g = this.game();
    const board = Array.isArray(g.board) ? g.board : Array(9).fill('');
    const line = new Set(g.line || []);
    const mine = this.myMark();
    const canMove = !!(st && this.feed && this.feed.ready && st.status === 'playing' && g.turn && g.turn === mine);
    this.cells.forEach((b, i) => {
      b.textContent = board[i] || '';
      b.dataset.mark = board[i] || '';
      b.classList.toggle('win', line.has(i + 1));
      b.disabled = !canMove || !!board[i];
    });
    let text = 'joining…';
    if (st) {
      if (st.status === 'waiting') text = 'Waiting for a second player…';
      else if (g.winner) text = `${this.nameOf(g.winner)} (${g.winner}) wins`;
      else if (g.draw) text = 'Draw';
      else if (st.status === 'finished') text = 'Game over';
      else if (canMove) text = `Your move (${mine})`;
      else if (g.turn) text = `${this.nameOf(g.turn)} (${g.turn}) to move`;
    }
    if (this.role === 'spectator') text += ' · watching';
    $('ttt-status').textContent = text;
    const members = ((st && st.members) || []).filter((m) => m.role === 'player');
    $('ttt-players').textContent = members.map((m) => `${this.markOf(m.seat)}: ${m.name}${m.connected === false ? ' (offline)' : ''}`).join(' · ');
  }

  async move(cell) {
    const s = this.session();
    if (!s || !this.room) return;
    try {
      await act(s, this.room, 'move', cell);
      this.showError('');
    } catch (err) {
      this.showError(describeError(err));
    }
  }

  showError(text) {
    $('ttt-error').textContent = text;
    $('ttt-error').hidden = !text;
  }
}
