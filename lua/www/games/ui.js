// DOM helpers shared by the game pages. Every text that comes from the network (names, chat)
// goes into the page as textContent, never as HTML.

import { store, describeError } from './net.js';

/** el('li', {class: 'x', dataset: {seat: 1}}, child, 'text', ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'text') node.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
}

export const $ = (id) => document.getElementById(id);

/** The connection pill: data-state drives its colour. */
export function statusPill(node) {
  return (state, text) => {
    node.dataset.state = state;
    node.textContent = text;
  };
}

const PALETTE = ['#e5484d', '#3e8ed0', '#30a46c', '#f5a524', '#8e4ec6', '#12a594'];

/** A CSS colour for a player: the one the game gave when the browser knows it, else by seat. */
export function playerColor(color, seat) {
  if (typeof color === 'string' && color && CSS.supports('color', color)) return color;
  const n = Number(seat) || 1;
  return PALETTE[(n - 1) % PALETTE.length];
}

export function clock(ts) {
  let t = Number(ts);
  if (!Number.isFinite(t) || t <= 0) t = Date.now();
  else if (t < 1e12) t *= 1000; // seconds
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * Asks for the player's name once (kept in localStorage). Resolves the name; `force` asks
 * again (to change it), with the current one filled in.
 */
export function askName({ force = false } = {}) {
  const known = store.name();
  if (known && !force) return Promise.resolve(known);
  return new Promise((resolve) => {
    const input = el('input', {
      id: 'name-input', type: 'text', maxlength: '32', required: true, autocomplete: 'nickname',
      placeholder: 'e.g. Ada', 'aria-label': 'Your name',
    });
    input.value = known;
    const form = el('form', { id: 'name-form', class: 'name-form' },
      el('h2', {}, 'Who is playing?'),
      el('p', { class: 'hint' }, 'Your name is shown to the other players. It stays in this browser.'),
      el('div', { class: 'row' }, input, el('button', { type: 'submit', id: 'name-ok' }, 'Play')));
    const overlay = el('div', { class: 'overlay', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'name-title' }, form);
    form.querySelector('h2').id = 'name-title';
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = input.value.trim().slice(0, 32);
      if (!name) return;
      store.setName(name);
      overlay.remove();
      resolve(name);
    });
    document.body.append(overlay);
    input.focus();
  });
}

/**
 * A room's chat: the list of messages and the form. send(text) / whisper(name, text) are
 * async (a WAMP call). "/w name text" whispers; names with spaces can be quoted: /w "Ada L" hi.
 * Messages shown newest at the bottom; at most `max` kept.
 */
export class ChatBox {
  constructor({ list, form, input, error, empty, max = 100, send, whisper, me }) {
    Object.assign(this, { list, form, input, error, empty, max, send, whisper });
    this.me = me || (() => '');
    this.members = () => [];
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  enable(on) {
    this.input.disabled = !on;
    this.form.querySelector('button').disabled = !on;
  }

  showError(text) {
    this.error.textContent = text || '';
    this.error.hidden = !text;
  }

  /** Parses "/w name text": the longest member name the line starts with wins. */
  parseWhisper(line) {
    const m = /^\/(?:w|whisper|msg)\s+(.*)$/s.exec(line);
    if (!m) return null;
    const rest = m[1];
    const quoted = /^"([^"]+)"\s+(.+)$/s.exec(rest);
    if (quoted) return { to: quoted[1], text: quoted[2] };
    const names = this.members().map((x) => x.name).filter(Boolean).sort((a, b) => b.length - a.length);
    for (const name of names) {
      if (rest.startsWith(name + ' ') && rest.length > name.length + 1) {
        return { to: name, text: rest.slice(name.length + 1).trim() };
      }
    }
    const sp = /^(\S+)\s+(.+)$/s.exec(rest);
    return sp ? { to: sp[1], text: sp[2] } : { to: rest, text: '' };
  }

  async submit() {
    const line = this.input.value.trim();
    if (!line) return;
    const button = this.form.querySelector('button');
    button.disabled = true;
    try {
      const w = this.parseWhisper(line);
      if (w) {
        if (!w.text) throw new Error('to whisper: /w name text');
        await this.whisper(w.to, w.text);
        this.add({ from: this.me(), to: w.to, text: w.text, ts: Date.now() }, { whisper: 'out' });
      } else {
        await this.send(line);
      }
      this.input.value = '';
      this.showError('');
    } catch (err) {
      this.showError(describeError(err));
    } finally {
      button.disabled = this.input.disabled;
      this.input.focus();
    }
  }

  /** Prefills a whisper to `name`. */
  whisperTo(name) {
    this.input.value = /\s/.test(name) ? `/w "${name}" ` : `/w ${name} `;
    this.input.focus();
  }

  clear() {
    this.list.replaceChildren();
    this.empty.hidden = false;
  }

  /**
   * Adds the messages of `messages` (a room's last ones, oldest first) that are not shown yet:
   * after a re-read of the state, those missed in a gap. A message is {from, ts, text}; the
   * same message twice (same sender, second and text) is shown twice if the room has it twice.
   */
  sync(messages) {
    const key = (m) => `${m.from}\u0000${m.ts}\u0000${m.text}`;
    const shown = new Map();
    for (const li of this.list.children) {
      if (li.dataset.key) shown.set(li.dataset.key, (shown.get(li.dataset.key) || 0) + 1);
    }
    for (const m of messages || []) {
      const k = key(m);
      const n = shown.get(k) || 0;
      if (n > 0) shown.set(k, n - 1);
      else this.add(m);
    }
  }

  /** msg: {from, text, ts} (a whisper also has `to`); opts.whisper: 'in' | 'out'. */
  add(msg, opts = {}) {
    const mine = msg.from === this.me() && opts.whisper !== 'in';
    const from = el('span', { class: 'from' });
    if (opts.whisper === 'out') from.textContent = `you → ${msg.to}`;
    else if (opts.whisper === 'in') from.textContent = `${msg.from} → you`;
    else from.textContent = mine ? `${msg.from} (you)` : String(msg.from ?? '?');
    if (!opts.whisper && msg.from) {
      from.classList.add('clickable');
      from.title = 'whisper';
      from.addEventListener('click', () => this.whisperTo(String(msg.from)));
    }
    const li = el('li', {
      class: [mine ? 'mine' : '', opts.whisper ? 'whisper' : ''].join(' ').trim() || null,
      dataset: opts.whisper ? {} : { key: `${msg.from}\u0000${msg.ts}\u0000${msg.text}` },
    },
      el('div', { class: 'head' }, from, el('time', {}, clock(msg.ts))),
      el('div', { class: 'text' }, String(msg.text ?? '')));
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(li);
    while (this.list.children.length > this.max) this.list.firstChild.remove();
    this.empty.hidden = true;
    if (atBottom || mine || opts.whisper === 'out') this.list.scrollTop = this.list.scrollHeight;
  }
}

/** A "you: <name> · change" widget (without "change" when there is no onChange). */
export function showMe(node, name, onChange) {
  node.replaceChildren(el('span', { class: 'muted' }, 'you: '), el('strong', { id: 'my-name' }, name));
  if (onChange) {
    const change = el('button', { type: 'button', class: 'link', id: 'change-name' }, 'change');
    change.addEventListener('click', onChange);
    node.append(' ', change);
  }
}
