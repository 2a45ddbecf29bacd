// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) against the chess page,
// /games/chess.html, served by a real moonbar running the games app (lua/apps/games): two
// players (two browser contexts) play fool's mate by clicking squares, a third context
// watches; the black player's board is flipped, the legal targets light up, the clocks run,
// a player reloads mid-game and keeps the seat, the chat shows HTML as text, the spectator
// sees every move and `0-1 checkmate`. Then games from a FEN: a pawn promotes through the
// chooser (knight, queen), a draw offer is declined then accepted, a player resigns. Last, the
// lobby (/games/): the ratings and the latest games (with their PGN) of those three games, a
// new chess game created there, joined and watched from the room list. A node client
// subscribed to the rooms' topics is the witness the pages are checked against.
//
// Needs: build/moonbar (or $MOONBAR_BIN), Debian package `chromium` (or $CHROMIUM_BIN),
// `npm ci` in lua/www (autobahn-browser), in spec/browser (playwright-core) and in
// spec/interop/js (autobahn-js for the witness).
// Screenshot mid-game: $MOONBAR_CHESS_SCREENSHOT (default /tmp/moonbar-chess.png; docs/chess.png was made
// with MOONBAR_CHESS_SCREENSHOT=../../docs/chess.png); of the lobby with
// the chess games: $MOONBAR_CHESS_LOBBY_SCREENSHOT (default none).
// The games app: $MOONBAR_GAMES_APP (default lua/apps/games).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startMoonbar, REPO_ROOT, ms, sleep } from '../interop/js/lib/moonbar.mjs';
import { autobahnConnect, wsTransport } from '../interop/js/lib/clients.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'lua', 'www');
const GAMES_APP = process.env.MOONBAR_GAMES_APP || path.join(REPO_ROOT, 'lua', 'apps', 'games');
const SCREENSHOT = process.env.MOONBAR_CHESS_SCREENSHOT || '/tmp/moonbar-chess.png';
const LOBBY_SCREENSHOT = process.env.MOONBAR_CHESS_LOBBY_SCREENSHOT || null;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const T = { timeout: ms(30000) };

const ALICE = 'Alice';
const BOB = '<b>Bob</b>';   // a name that looks like HTML: it must show as these characters
const CAROL = 'Carol';
const XSS = '<img src=x onerror=alert(1)>';

describe('chess page in headless Chromium', () => {
  let router;
  let browser;
  let witness;              // node client subscribed to the rooms' topics
  const seen = {};          // room -> the events the witness received
  const problems = [];      // console errors, page errors, dialogs, failed requests
  const pages = {};         // alice, bob, carol

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (or set CHROMIUM_BIN)`);
    assert.ok(existsSync(path.join(WEB_ROOT, 'node_modules', 'autobahn-browser', 'autobahn.min.js')),
      'lua/www/node_modules/autobahn-browser is missing: run npm ci in lua/www');
    router = await startMoonbar({
      websocket: { web_root: WEB_ROOT },
      rawsocket: false,
      realms: [{ name: 'realm1', apps: [GAMES_APP] }],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: ms(30000) });
    for (const who of ['alice', 'bob', 'carol']) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(ms(10000));
      page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`${who} console: ${msg.text()}`); });
      page.on('pageerror', (err) => problems.push(`${who} pageerror: ${err.message}`));
      page.on('dialog', (d) => { problems.push(`${who} dialog: ${d.type()} ${d.message()}`); d.dismiss().catch(() => {}); });
      page.on('requestfailed', (req) => {
        const why = req.failure()?.errorText || '';
        if (!/ERR_ABORTED/.test(why)) problems.push(`${who} request failed: ${req.url()} ${why}`);
      });
      pages[who] = page;
    }
    witness = await autobahnConnect({ transport: wsTransport(router) });
  });

  after(async () => {
    if (witness) await witness.close().catch(() => {});
    if (browser) await browser.close().catch(() => {});
    if (router) await router.stop();
  });

  const diagnostics = () => `\nproblems so far:\n${problems.join('\n')}\nmoonbar stderr (tail):\n${router.stderr().split('\n').slice(-30).join('\n')}`;

  async function until(what, fn, timeoutMs = 10000) {
    const deadline = Date.now() + ms(timeoutMs);
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`never: ${what} (within ${ms(timeoutMs)} ms)${diagnostics()}`);
      await sleep(30);
    }
  }

  /** A chess room made by the witness, whose events it records. */
  async function createRoom(kwargs = {}) {
    let res;
    try {
      res = await witness.session.call('moonbar.room.create', ['chess'], kwargs);
    } catch (err) {
      throw new Error(`moonbar.room.create("chess", ${JSON.stringify(kwargs)}) failed: ${err.error} ${JSON.stringify(err.args)}` +
        ' (is chess required by the games app\'s init.lua?)');
    }
    const room = res.kwargs ? res.kwargs.room : res.room;
    assert.match(room, /^[a-z0-9_]+$/);
    seen[room] = [];
    await witness.session.subscribe(`moonbar.room.${room}`, ([ev]) => seen[room].push(ev));
    return room;
  }

  const events = (room, type) => seen[room].filter((e) => e.type === type);

  /** The name prompt: shown once per browser, then the name stays in localStorage. */
  async function giveName(page, name) {
    await page.waitForSelector('#name-input');
    await page.fill('#name-input', name);
    await page.click('#name-ok');
    await page.waitForSelector('#name-form', { state: 'detached' });
  }

  async function open(page, room, { spectator = false, name = null } = {}) {
    await page.goto(`${router.httpUrl}games/chess.html?room=${room}${spectator ? '&as=spectator' : ''}`);
    if (name) await giveName(page, name);
    await page.waitForSelector(`body[data-role="${spectator ? 'spectator' : 'player'}"]`);
  }

  const sq = (s) => `#board .sq[data-square="${s}"]`;
  const targets = (page) => page.$$eval('#board .sq.target', (n) => n.map((x) => x.dataset.square).sort());
  const sanList = (page) => page.$$eval('#moves .san:not(.placeholder)', (n) => n.map((x) => x.textContent));
  const pieceOn = (page, s) => page.getAttribute(sq(s), 'data-piece');
  const clockMs = async (page, side) => Number(await page.getAttribute(`#clock-${side}`, 'data-ms'));
  const chatTexts = (page) => page.$$eval('#chat li .text', (els) => els.map((e) => e.textContent));

  /** Clicks `from`, checks its targets light up (and include `to`), clicks `to`. */
  async function play(page, room, from, to, { expectTargets, watchers = [] } = {}) {
    const before = events(room, 'move').length;
    if (!(await page.$(`${sq(from)}.selected`))) await page.click(sq(from));
    await page.waitForSelector(`${sq(from)}.selected`);
    await page.waitForSelector(`${sq(to)}.target`);
    if (expectTargets) assert.deepEqual(await targets(page), [...expectTargets].sort(), `targets of ${from}`);
    await page.click(sq(to));
    await until(`the move ${from}${to} at the witness`, () => events(room, 'move').length > before);
    const ev = events(room, 'move').at(-1);
    const piece = await pieceOn(page, to);
    for (const w of watchers) {
      await until(`the move ${from}${to} on the other pages`, async () =>
        await pieceOn(w, to) === piece && await pieceOn(w, from) === '' &&
        (await sanList(w)).at(-1) === ev.san);
    }
    return ev;
  }

  /** Waits until the page shows these SAN moves, in order. */
  async function showsMoves(page, want, what) {
    await until(`${what} shows ${want.join(' ')}`, async () => JSON.stringify(await sanList(page)) === JSON.stringify(want));
  }

  it('moonbar serves the chess page, its module and stylesheet with the right content types', T, async () => {
    for (const [p, type] of [
      ['games/chess.html?room=x', 'text/html'], ['games/chess.js', 'application/javascript'],
      ['games/chess.css', 'text/css'],
    ]) {
      const res = await fetch(router.httpUrl + p);
      assert.equal(res.status, 200, `GET /${p}`);
      assert.match(res.headers.get('content-type') || '', new RegExp(`^${type}`), `content type of /${p}`);
      await res.arrayBuffer();
    }
  });

  it('fool\'s mate by clicking: flipped board for black, legal targets, live clocks, a reload keeps the seat, chat as text, the spectator sees it all', { timeout: ms(60000) }, async () => {
    const { alice, bob, carol } = pages;
    const room = await createRoom({ clock: { initial_s: 300, increment_s: 0 } });

    await open(alice, room, { name: ALICE });
    await alice.waitForSelector('body[data-side="white"]');
    assert.match(await alice.textContent('#turn'), /Waiting for an opponent/);
    assert.equal(await alice.inputValue('#share-url'), `${router.httpUrl}games/chess.html?room=${room}`);
    await open(bob, room, { name: BOB });
    await bob.waitForSelector('body[data-side="black"]');
    await open(carol, room, { spectator: true, name: CAROL });

    // both seats taken: the game starts; names are text; the boards face their players
    for (const page of [alice, bob, carol]) {
      await until('the game started with both names', async () =>
        await page.textContent('#name-white') === ALICE && await page.textContent('#name-black') === BOB);
      assert.equal(await page.$$eval('#board b, .player-bar b, #chat b', (b) => b.length), 0, 'a name is never HTML');
      assert.equal(await pieceOn(page, 'e1'), 'wk');
      assert.equal(await pieceOn(page, 'd8'), 'bq');
    }
    assert.equal(await alice.getAttribute('#board', 'data-orientation'), 'white');
    assert.equal(await carol.getAttribute('#board', 'data-orientation'), 'white');
    assert.equal(await bob.getAttribute('#board', 'data-orientation'), 'black');
    const y = async (page, s) => (await page.locator(sq(s)).boundingBox()).y;
    assert.ok(await y(alice, 'a1') > await y(alice, 'a8'), 'white: rank 1 at the bottom');
    assert.ok(await y(bob, 'a1') < await y(bob, 'a8'), 'black: rank 8 at the bottom');
    const barY = async (page, side) => (await page.locator(`#bar-${side}`).boundingBox()).y;
    assert.ok(await barY(bob, 'black') > await barY(bob, 'white'), 'black\'s own bar below the board');
    assert.match(await alice.textContent('#turn'), /Your move/);
    assert.match(await bob.textContent('#turn'), /thinking/);
    assert.match(await carol.textContent('#turn'), /White to move/);
    assert.equal(await carol.isHidden('#actions'), true, 'a spectator has no Resign / Offer draw');

    // the clocks: white's runs, black's stands at 5:00
    await until('white\'s clock running', async () => (await alice.getAttribute('#clock-white', 'class')).includes('running'));
    const w0 = await clockMs(alice, 'white');
    await sleep(400);
    assert.ok(await clockMs(alice, 'white') < w0 - 250, 'white\'s clock counts down');
    assert.equal(await bob.textContent('#clock-black'), '5:00');
    assert.equal(await clockMs(bob, 'black'), 300000);

    // not your turn, or not your piece: nothing to select; a spectator cannot touch the board
    await bob.click(sq('e7'));
    await carol.click(sq('e2'));
    await alice.click(sq('e7'));
    for (const page of [alice, bob, carol]) assert.equal(await page.$$eval('#board .sq.selected', (n) => n.length), 0);

    // 1. f3: f2's targets light up; a click elsewhere puts the piece down again
    await alice.click(sq('f2'));
    await alice.waitForSelector(`${sq('f3')}.target`);
    assert.deepEqual(await targets(alice), ['f3', 'f4']);
    await alice.click(sq('a5'));
    assert.deepEqual(await targets(alice), [], 'deselected');
    await alice.click(sq('g1'));
    await alice.waitForSelector(`${sq('h3')}.target`);
    assert.deepEqual(await targets(alice), ['f3', 'h3'], 'a knight\'s targets');
    let ev = await play(alice, room, 'f2', 'f3', { expectTargets: ['f3', 'f4'], watchers: [bob, carol] });
    assert.deepEqual([ev.uci, ev.san, ev.side], ['f2f3', 'f3', 'white']);
    await bob.waitForSelector(`${sq('f3')}.last`);
    assert.equal(await pieceOn(bob, 'f3'), 'wp');
    assert.equal(await pieceOn(bob, 'f2'), '');
    await until('black\'s clock running at bob', async () => (await bob.getAttribute('#clock-black', 'class')).includes('running'));
    assert.doesNotMatch(await bob.getAttribute('#clock-white', 'class'), /running/);

    // chat, with HTML in it: shown as text everywhere
    await bob.fill('#chat-input', XSS);
    await bob.press('#chat-input', 'Enter');
    await carol.fill('#chat-input', 'good luck both');
    await carol.click('#chat-send');
    for (const page of [alice, bob, carol]) {
      await until('both messages', async () => {
        const texts = await chatTexts(page);
        return texts.includes(XSS) && texts.includes('good luck both');
      });
      assert.equal(await page.$$eval('img', (i) => i.length), 0, 'no img element was made');
      const from = await page.$$eval('#chat li .from', (els) => els.map((e) => e.textContent));
      assert.ok(from.some((f) => f.startsWith(BOB)), `bob's name shown as text: ${from}`);
    }

    // black drags its pawn instead of clicking
    const before = events(room, 'move').length;
    await bob.dragAndDrop(sq('e7'), sq('e5'));
    await until('the dragged move at the witness', () => events(room, 'move').length > before);
    ev = events(room, 'move').at(-1);
    assert.deepEqual([ev.uci, ev.san, ev.side], ['e7e5', 'e5', 'black']);
    assert.equal(await bob.$$eval('.ghost-piece', (n) => n.length), 0, 'the dragged piece is gone');
    await until('e5 on the spectator\'s board', async () => await pieceOn(carol, 'e5') === 'bp' && (await sanList(carol)).at(-1) === 'e5');
    await showsMoves(alice, ['f3', 'e5'], 'alice');

    // alice reloads mid-game: the same seat (no name asked), the moves, the chat, the clocks
    await alice.reload();
    await alice.waitForSelector('body[data-role="player"][data-side="white"]');
    assert.equal(await alice.$('#name-form'), null, 'no name prompt after the reload');
    await showsMoves(alice, ['f3', 'e5'], 'alice after the reload');
    await until('the chat history after the reload', async () => (await chatTexts(alice)).includes(XSS));
    assert.match(await alice.textContent('#turn'), /Your move/);
    assert.ok(await clockMs(alice, 'white') < 300000 && await clockMs(alice, 'white') > 200000);
    await until('alice is back (return)', () => events(room, 'return').length + events(room, 'join').length >= 3);

    ev = await play(alice, room, 'g2', 'g4', { watchers: [bob, carol] });
    assert.equal(ev.san, 'g4');

    // mid-game: black to mate; its queen's targets on the screenshot
    await bob.click(sq('d8'));
    await bob.waitForSelector(`${sq('h4')}.target`);
    assert.deepEqual(await targets(bob), ['e7', 'f6', 'g5', 'h4']);
    await sleep(250);
    await bob.screenshot({ path: SCREENSHOT, animations: 'disabled' });

    ev = await play(bob, room, 'd8', 'h4', { watchers: [alice, carol] });
    assert.deepEqual([ev.san, ev.check], ['Qh4#', true]);
    await until('the end event', () => events(room, 'end').length === 1);
    const end = events(room, 'end')[0];
    assert.deepEqual([end.result, end.reason], ['0-1', 'checkmate']);

    // every page: the four moves, the mate, the result
    const want = ['f3', 'e5', 'g4', 'Qh4#'];
    for (const [page, text] of [[alice, 'You lose'], [bob, 'You win!'], [carol, `${BOB} wins`]]) {
      await showsMoves(page, want, 'every page');
      await page.waitForSelector('#result:not([hidden])');
      assert.equal(await page.getAttribute('#result', 'data-result'), '0-1');
      assert.equal(await page.getAttribute('#result', 'data-reason'), 'checkmate');
      assert.equal(await page.textContent('#result-score'), '0-1');
      assert.equal(await page.textContent('#result-text'), text);
      assert.match(await page.textContent('#result-reason'), /checkmate/);
      assert.match(await page.textContent('#turn'), /Game over · 0-1/);
      assert.match(await page.textContent('#turn-sub'), /Black .* wins by checkmate/);
      await page.waitForSelector(`${sq('e1')}.check`);
      assert.match(await page.getAttribute(sq('h4'), 'class'), /last/);
      assert.match(await page.getAttribute(sq('d8'), 'class'), /last/);
      assert.equal(await pieceOn(page, 'h4'), 'bq');
      assert.equal(await page.$$eval('#clock-white.running, #clock-black.running', (n) => n.length), 0, 'the clocks stop');
      assert.equal(await page.$$eval('img', (i) => i.length), 0);
    }
    assert.equal(await alice.isHidden('#actions'), true, 'no Resign / Offer draw after the end');
    // the spectator saw each move as it came: its SAN matches the witness's events
    assert.deepEqual(events(room, 'move').map((e) => e.san), want);
  });

  it('promotion from a FEN: the chooser appears, Escape cancels, a knight gives a8=N; a draw offer declined, then accepted', T, async () => {
    const { alice, bob, carol } = pages;
    const room = await createRoom({ fen: '8/P7/8/8/8/8/p7/k6K w - - 0 1', clock: { initial_s: 600, increment_s: 5 } });
    await open(alice, room);
    await alice.waitForSelector('body[data-side="white"]');
    await open(bob, room);
    await open(carol, room, { spectator: true });
    await until('started', async () => /Your move/.test(await alice.textContent('#turn')));
    assert.match(await carol.textContent('#clock-kind'), /10\+5/);
    assert.equal(await pieceOn(carol, 'a7'), 'wp');

    await alice.click(sq('a7'));
    await alice.waitForSelector(`${sq('a8')}.target`);
    await alice.click(sq('a8'));
    await alice.waitForSelector('#promotion:not([hidden])');
    assert.deepEqual(await alice.$$eval('#promotion button', (b) => b.map((x) => x.dataset.promo).sort()), ['b', 'n', 'q', 'r']);
    assert.deepEqual(await alice.$$eval('#promotion svg.piece', (s) => s.map((x) => x.dataset.piece).sort()), ['wb', 'wn', 'wq', 'wr']);
    await alice.keyboard.press('Escape');
    await alice.waitForSelector('#promotion', { state: 'hidden' });
    assert.equal(await pieceOn(alice, 'a7'), 'wp', 'nothing moved');
    assert.equal(events(room, 'move').length, 0);

    await alice.click(sq('a7'));
    await alice.waitForSelector(`${sq('a8')}.target`);
    await alice.click(sq('a8'));
    await alice.click('#promotion button[data-promo="n"]');
    await until('the promotion at the witness', () => events(room, 'move').length === 1);
    const ev = events(room, 'move')[0];
    assert.deepEqual([ev.uci, ev.san], ['a7a8n', 'a8=N']);
    for (const page of [alice, bob, carol]) {
      await showsMoves(page, ['a8=N'], 'the promotion');
      await until('a knight on a8', async () => await pieceOn(page, 'a8') === 'wn');
      assert.equal(await pieceOn(page, 'a7'), '');
    }
    // the increment: white's clock got 5 s on top
    assert.ok(ev.clocks.white_ms > 600000 && ev.clocks.white_ms <= 605000, `white_ms ${ev.clocks.white_ms}`);

    // bob offers a draw: alice sees it with accept / decline; she declines
    await bob.click('#offer-draw');
    await until('the draw_offer event', () => events(room, 'draw_offer').length === 1);
    await alice.waitForSelector('#draw-banner:not([hidden])');
    assert.equal(await alice.textContent('#draw-text'), `${BOB} offers a draw`);
    await carol.waitForSelector('#draw-banner:not([hidden])');
    assert.equal(await carol.isHidden('#accept-draw'), true, 'a spectator cannot answer');
    assert.equal(await bob.isHidden('#draw-banner'), true);
    assert.match(await bob.textContent('#offer-draw'), /Draw offered/);
    await alice.click('#decline-draw');
    await until('the draw_declined event', () => events(room, 'draw_declined').length === 1);
    await bob.waitForSelector('#draw-banner', { state: 'hidden' });
    await until('bob told', async () => /declined the draw/.test(await bob.textContent('#turn-sub')));

    // again, and accepted
    await bob.click('#offer-draw');
    await alice.waitForSelector('#draw-banner:not([hidden])');
    await alice.click('#accept-draw');
    await until('the end event', () => events(room, 'end').length === 1);
    assert.deepEqual([events(room, 'end')[0].result, events(room, 'end')[0].reason], ['1/2-1/2', 'agreement']);
    for (const page of [alice, bob, carol]) {
      await page.waitForSelector('#result[data-result="1/2-1/2"][data-reason="agreement"]:not([hidden])');
      assert.equal(await page.textContent('#result-text'), 'Draw');
      assert.equal(await page.textContent('#result-score'), '½–½');
    }
  });

  it('promotion to a queen with check gives a8=Q+; resigning takes two clicks and ends 1-0', T, async () => {
    const { alice, bob } = pages;
    const room = await createRoom({ fen: '7k/P7/8/8/8/8/8/K7 w - - 0 1', clock: false });
    await open(alice, room);
    await open(bob, room);
    await until('started', async () => /Your move/.test(await alice.textContent('#turn')));
    assert.equal(await alice.textContent('#clock-white'), '∞', 'no clock');
    assert.match(await alice.textContent('#clock-kind'), /no clock/);

    await alice.click(sq('a7'));
    await alice.waitForSelector(`${sq('a8')}.target`);
    await alice.click(sq('a8'));
    await alice.click('#promotion button[data-promo="q"]');
    await until('the promotion at the witness', () => events(room, 'move').length === 1);
    assert.deepEqual([events(room, 'move')[0].san, events(room, 'move')[0].check], ['a8=Q+', true]);
    await showsMoves(bob, ['a8=Q+'], 'bob');
    await bob.waitForSelector(`${sq('h8')}.check`);
    assert.match(await bob.textContent('#turn'), /Your move — check!/);

    await bob.click('#resign');
    assert.match(await bob.textContent('#resign'), /Really resign/);
    assert.equal(events(room, 'end').length, 0, 'one click does not resign');
    await bob.click('#resign');
    await until('the end event', () => events(room, 'end').length === 1);
    assert.deepEqual([events(room, 'end')[0].result, events(room, 'end')[0].reason], ['1-0', 'resignation']);
    await alice.waitForSelector('#result[data-result="1-0"]:not([hidden])');
    assert.equal(await alice.textContent('#result-text'), 'You win!');
    assert.match(await alice.textContent('#result-reason'), /resignation/);

    // the PGN of the game, from the page
    await alice.click('#result-close');
    await alice.click('#show-pgn');
    await until('the PGN', async () => /a8=Q\+/.test(await alice.textContent('#pgn-text')));
    const pgn = await alice.textContent('#pgn-text');
    assert.match(pgn, /\[Result "1-0"\]/);
    assert.match(pgn, /\[FEN "7k\/P7\/8\/8\/8\/8\/8\/K7 w - - 0 1"\]/);
    await alice.click('#pgn-close');
  });

  it('the lobby: a new chess game with a clock choice, chess rooms listed (join / watch), the ratings, the latest games with their PGN', T, async () => {
    const { alice, bob, carol } = pages;
    for (const page of [alice, bob, carol]) await page.goto(router.httpUrl + 'games/');

    // the ratings and the archive agree with the router
    const top = (await witness.session.call('moonbar.leaderboard.top', ['chess.rating', 10])).args;
    assert.equal(top.length, 2);
    await until('the chess ratings', async () => {
      const rows = await alice.$$eval('#lb-chess-rating li', (l) => l.map((li) => [li.dataset.owner, li.dataset.score]));
      return JSON.stringify(rows) === JSON.stringify(top.map((r) => [r.owner, String(r.score)]));
    });
    assert.equal(await alice.isVisible('#lb-chess'), true);
    const latest = (await witness.session.call('chess.archive.latest', [10])).args;
    assert.equal(latest.length, 3, 'three finished games');
    assert.deepEqual(latest.map((g) => g.reason).sort(), ['agreement', 'checkmate', 'resignation']);
    await until('the latest games', async () => {
      const rows = await alice.$$eval('#chess-archive li', (l) => l.map((li) => [li.dataset.room, li.dataset.result, li.dataset.reason]));
      return JSON.stringify(rows) === JSON.stringify(latest.map((g) => [g.room, g.result, g.reason]));
    });
    const mate = latest.find((g) => g.reason === 'checkmate');
    const row = `#chess-archive li[data-room="${mate.room}"]`;
    assert.deepEqual(await alice.$$eval(`${row} .gplayer`, (n) => n.map((x) => x.textContent)), [ALICE, BOB]);
    assert.equal(await alice.textContent(`${row} .gresult`), '0-1');
    assert.match(await alice.textContent(row), /checkmate/);
    assert.equal(await alice.$$eval('#chess-archive b', (b) => b.length), 0, 'names are text');
    await alice.click(`${row} button[data-action="pgn"]`);
    await alice.waitForSelector('#chess-pgn-dialog[open]');
    const pgn = await alice.textContent('#chess-pgn-text');
    assert.match(pgn, /1\. f3 e5 2\. g4 Qh4# 0-1/);
    assert.match(pgn, /\[White "Alice"\]/);
    await alice.click('#chess-pgn-close');
    if (LOBBY_SCREENSHOT) {
      await alice.locator('#chess-archive-card').scrollIntoViewIfNeeded();
      await alice.screenshot({ path: LOBBY_SCREENSHOT, fullPage: true, animations: 'disabled' });
    }

    // a new game, 10+5, from the lobby: alice plays white in it
    await alice.selectOption('#chess-clock', '10+5');
    await alice.click('#create-chess');
    await alice.waitForURL(/\/games\/chess\.html\?room=chess_[a-z0-9_]+$/);
    const room = new URL(alice.url()).searchParams.get('room');
    await alice.waitForSelector('body[data-role="player"][data-side="white"]');
    assert.match(await alice.textContent('#clock-kind'), /10\+5/);
    assert.equal(await alice.textContent('#clock-white'), '10:00');

    // bob joins it from the room list, carol watches it
    for (const [page, action] of [[bob, 'join'], [carol, 'watch']]) {
      await page.click('#refresh-rooms');
      const li = `li.room[data-room="${room}"]`;
      await page.waitForSelector(`${li} button[data-action="${action}"]`);
      assert.match(await page.textContent(`.room-group[data-kind="chess"]`), /Chess/);
      await page.click(`${li} button[data-action="${action}"]`);
      await page.waitForURL(new RegExp(`chess\\.html\\?room=${room}${action === 'watch' ? '&as=spectator' : ''}$`));
    }
    await bob.waitForSelector('body[data-role="player"][data-side="black"]');
    await carol.waitForSelector('body[data-role="spectator"]');
    await until('the game started', async () => /Your move/.test(await alice.textContent('#turn')));
    assert.match(await carol.textContent('#turn'), /White to move/);

    assert.deepEqual(problems, [], 'no errors in the browsers, no dialogs');
  });
});
