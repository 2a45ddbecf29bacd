// The chess parts of the lobby (/games/), wired in by lobby.js: the "New chess game" form's
// clock choice (1+0, 5+0, 10+5 or none), where a chess room opens (chess.html, as a player or a
// spectator), and the latest finished games (chess.archive.latest, docs/games.md) with a PGN
// view. Names come from the network: they go in as text only.

import { asList, describeError } from './net.js';
import { el, $ } from './ui.js';

export const CLOCKS = {
  '1+0': { initial_s: 60, increment_s: 0 },
  '5+0': { initial_s: 300, increment_s: 0 },
  '10+5': { initial_s: 600, increment_s: 5 },
  none: false,
};

const REASONS = {
  checkmate: 'checkmate', stalemate: 'stalemate', threefold: 'threefold repetition', fifty_moves: 'fifty-move rule',
  insufficient_material: 'insufficient material', resignation: 'resignation', agreement: 'agreement',
  timeout: 'time', abandoned: 'abandoned',
};

/** The create kwargs of the form: {clock}. */
export function chessParams() {
  const v = $('chess-clock') ? $('chess-clock').value : '5+0';
  return { clock: v in CLOCKS ? CLOCKS[v] : CLOCKS['5+0'] };
}

export function chessUrl(room, as) {
  return `/games/chess.html?room=${encodeURIComponent(room)}${as === 'spectator' ? '&as=spectator' : ''}`;
}

function ago(ended) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - Number(ended)));
  if (!Number.isFinite(s)) return '';
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(Number(ended) * 1000).toLocaleDateString();
}

function showPgn(game) {
  const dialog = $('chess-pgn-dialog');
  if (!dialog) return;
  $('chess-pgn-title').textContent = `${game.white ?? '?'} – ${game.black ?? '?'} · ${game.result ?? ''}`;
  $('chess-pgn-text').textContent = String(game.pgn ?? '');
  if (!dialog.open) dialog.showModal();
}

function gameRow(g) {
  const result = String(g.result ?? '*');
  const winner = result === '1-0' ? 'white' : result === '0-1' ? 'black' : null;
  const player = (side) => el('span', { class: `gplayer ${winner === side ? 'won' : ''}`.trim() },
    el('span', { class: `gdot ${side}`, 'aria-hidden': 'true' }), String(g[side] ?? '?'));
  const button = el('button', { type: 'button', class: 'ghost small-btn', dataset: { action: 'pgn' } }, 'PGN');
  button.addEventListener('click', () => showPgn(g));
  return el('li', { class: 'archived', dataset: { room: String(g.room ?? ''), result, reason: String(g.reason ?? '') } },
    el('div', { class: 'gmain' },
      el('div', { class: 'gplayers' }, player('white'), el('span', { class: 'muted' }, '–'), player('black')),
      el('div', { class: 'muted small' },
        `${REASONS[g.reason] || String(g.reason ?? '')}` +
        (typeof g.moves === 'number' ? ` · ${Math.ceil(g.moves / 2)} ${Math.ceil(g.moves / 2) === 1 ? 'move' : 'moves'}` : '') +
        (g.ended ? ` · ${ago(g.ended)}` : ''))),
    el('span', { class: 'gresult' }, result === '1/2-1/2' ? '½–½' : result),
    button);
}

/** Reloads the latest finished games; hides the card when the router has no chess. */
export async function refreshArchive(session) {
  const card = $('chess-archive-card');
  if (!card || !session) return;
  try {
    const games = asList(await session.call('chess.archive.latest', [10])).filter((g) => g && typeof g === 'object');
    $('chess-archive').replaceChildren(...games.map(gameRow));
    $('chess-archive-empty').hidden = games.length > 0;
    $('chess-archive-error').hidden = true;
    card.hidden = false;
  } catch (err) {
    if (err && err.error === 'wamp.error.no_such_procedure') {
      card.hidden = true;
      return;
    }
    $('chess-archive-error').textContent = `latest games: ${describeError(err)}`;
    $('chess-archive-error').hidden = false;
  }
}

if ($('chess-pgn-close')) $('chess-pgn-close').addEventListener('click', () => $('chess-pgn-dialog').close());
if ($('chess-pgn-copy')) {
  $('chess-pgn-copy').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText($('chess-pgn-text').textContent); } catch { /* not allowed here */ }
  });
}
