// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) against the game pages
// in lua/www/games, served by a real moonbar running the games app (lua/apps/games):
// two players (two browser contexts) meet in the lobby, chat and whisper there, one creates a
// goose room on the page, the other joins it from the room list, a third context watches;
// they chat in the room (HTML stays text), play the game to its end by clicking Roll, one of
// them reloads its page mid-game and keeps its seat; the spectator sees every roll and the end;
// back on /games/ both are in the lobby and on the leaderboards. A node client subscribed to
// the room's topic is the witness the pages are checked against.
//
// Needs: build/moonbar (or $MOONBAR_BIN), Debian package `chromium` (or $CHROMIUM_BIN),
// `npm ci` in lua/www (autobahn-browser), in spec/browser (playwright-core) and in
// spec/interop/js (autobahn-js for the witness).
// Screenshots: the board mid-game, $MOONBAR_GOOSE_SCREENSHOT (default /tmp/moonbar-goose.png;
// docs/goose.png is made with MOONBAR_GOOSE_SCREENSHOT=../../docs/goose.png), and /games/ after
// the game, $MOONBAR_GAMES_LOBBY_SCREENSHOT (default /tmp/moonbar-games-lobby.png).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startMoonbar, REPO_ROOT, ms, sleep } from '../interop/js/lib/moonbar.mjs';
import { autobahnConnect, wsTransport } from '../interop/js/lib/clients.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'lua', 'www');
const GAMES_APP = path.join(REPO_ROOT, 'lua', 'apps', 'games');
const SCREENSHOT = process.env.MOONBAR_GOOSE_SCREENSHOT || '/tmp/moonbar-goose.png';
const LOBBY_SCREENSHOT = process.env.MOONBAR_GAMES_LOBBY_SCREENSHOT || '/tmp/moonbar-games-lobby.png';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const T = { timeout: ms(30000) };
const GAME_LIMIT_MS = 90000; // the whole game, clicks included (a long one has ~150 rolls)

const ALICE = 'Alice';
const BOB = 'Bob';
const CAROL = '<i>Carol</i>'; // a name that looks like HTML: it must show as these characters
const XSS = '<img src=x onerror=alert(1)>';

describe('game pages in headless Chromium', () => {
  let router;
  let browser;
  let witness;              // node client subscribed to the room's topic
  const seen = [];          // the room's events as the witness received them
  const seenWaiters = new Set();
  const problems = [];      // console errors, page errors, dialogs, failed requests
  const pages = {};         // alice, bob, carol
  let room = null;
  // Bob's WebSocket goes through a route that can lose one chat EVENT on the way (a seq gap)
  // and counts the moonbar.room.state calls his page makes.
  // cut() drops his connection as a network failure would (both ends closed, no GOODBYE).
  const bobWire = { lose: null, lost: 0, stateCalls: 0, cut: null };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (or set CHROMIUM_BIN)`);
    assert.ok(existsSync(path.join(WEB_ROOT, 'node_modules', 'autobahn-browser', 'autobahn.min.js')),
      'lua/www/node_modules/autobahn-browser is missing: run npm ci in lua/www');
    assert.ok(existsSync(path.join(GAMES_APP, 'init.lua')), `${GAMES_APP}/init.lua missing`);
    router = await startMoonbar({
      websocket: { web_root: WEB_ROOT },
      rawsocket: false,
      realms: [{ name: 'realm1', apps: [GAMES_APP] }],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: ms(30000) });
    for (const who of ['alice', 'bob', 'carol']) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 940 } });
      const page = await context.newPage();
      page.setDefaultTimeout(ms(10000));
      page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`${who} console: ${msg.text()}`); });
      page.on('pageerror', (err) => problems.push(`${who} pageerror: ${err.message} ${err.stack}`));
      page.on('dialog', (d) => { problems.push(`${who} dialog: ${d.type()} ${d.message()}`); d.dismiss().catch(() => {}); });
      page.on('requestfailed', (req) => {
        const why = req.failure()?.errorText || '';
        if (!/ERR_ABORTED/.test(why)) problems.push(`${who} request failed: ${req.url()} ${why}`);
      });
      pages[who] = page;
    }
    await pages.bob.routeWebSocket(/\/ws$/, (ws) => {
      const server = ws.connectToServer();
      bobWire.cut = () => {
        server.close({ code: 1001 }).catch(() => {});
        ws.close({ code: 4000, reason: 'cut by the test' }).catch(() => {});
      };
      ws.onMessage((m) => {
        if (String(m).includes('"moonbar.room.state"')) bobWire.stateCalls++;
        server.send(m);
      });
      server.onMessage((m) => {
        let msg = null;
        try { msg = JSON.parse(String(m)); } catch { /* not JSON: pass it on */ }
        const ev = msg && msg[0] === 36 && msg[4] && msg[4][0];
        if (bobWire.lose && ev && ev.type === 'chat' && ev.text === bobWire.lose) {
          bobWire.lose = null;
          bobWire.lost++;
          return;
        }
        ws.send(m);
      });
    });
    witness = await autobahnConnect({ transport: wsTransport(router) });
  });

  after(async () => {
    if (witness) await witness.close().catch(() => {});
    if (browser) await browser.close().catch(() => {});
    if (router) await router.stop();
  });

  const diagnostics = () => `\nproblems so far:\n${problems.join('\n')}\nmoonbar stderr (tail):\n${router.stderr().split('\n').slice(-30).join('\n')}`;

  /** Polls fn until it answers truthy; fails naming `what` and what show() says. */
  async function until(what, fn, timeoutMs = 10000, show = null) {
    const deadline = Date.now() + ms(timeoutMs);
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > deadline) {
        const shown = show ? `\nit shows: ${JSON.stringify(await show())}` : '';
        throw new Error(`never: ${what} (within ${ms(timeoutMs)} ms)${shown}${diagnostics()}`);
      }
      await sleep(40);
    }
  }

  /** Resolves the first event the witness has seen that matches pred (waiting for it). */
  function witnessed(what, pred, timeoutMs = 10000) {
    const found = seen.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(async () => {
        seenWaiters.delete(wake);
        const errors = await Promise.all([pages.alice, pages.bob].map((p) => p.textContent('#game-error').catch(() => '?')));
        reject(new Error(`the witness never saw ${what} within ${ms(timeoutMs)} ms; game errors: ${JSON.stringify(errors)}; ` +
          `last events: ${JSON.stringify(seen.slice(-5))}${diagnostics()}`));
      }, ms(timeoutMs));
      const wake = () => {
        const ev = seen.find(pred);
        if (!ev) return;
        clearTimeout(timer);
        seenWaiters.delete(wake);
        resolve(ev);
      };
      seenWaiters.add(wake);
    });
  }

  /** The name prompt: shown once per browser, then the name stays in localStorage. */
  async function giveName(page, name) {
    await page.waitForSelector('#name-input');
    await page.fill('#name-input', name);
    await page.click('#name-ok');
    await page.waitForSelector('#name-form', { state: 'detached' });
  }

  const presence = (page) => page.$$eval('#presence .member', (lis) =>
    lis.map((li) => ({ name: li.querySelector('.name').textContent, connected: li.dataset.connected === 'true' })));

  const chatTexts = (page) => page.$$eval('#chat li .text', (els) => els.map((e) => e.textContent));

  const rollSeqs = (page) => page.$$eval('#log li', (lis) => lis
    .filter((li) => li.dataset.type === 'roll' || li.dataset.type === 'auto_roll')
    .map((li) => Number(li.dataset.seq)).sort((a, b) => a - b));

  it('moonbar serves the game pages, their modules and stylesheet with the right content types', T, async () => {
    for (const [p, type] of [
      ['games/', 'text/html'], ['games/index.html', 'text/html'], ['games/goose.html?room=x', 'text/html'],
      ['games/games.css', 'text/css'], ['games/lobby.js', 'application/javascript'],
      ['games/goose.js', 'application/javascript'], ['games/board.js', 'application/javascript'],
      ['games/net.js', 'application/javascript'], ['games/ui.js', 'application/javascript'],
      ['games/tictactoe.js', 'application/javascript'],
    ]) {
      const res = await fetch(router.httpUrl + p);
      assert.equal(res.status, 200, `GET /${p}`);
      assert.match(res.headers.get('content-type') || '', new RegExp(`^${type}`), `content type of /${p}`);
      await res.arrayBuffer();
    }
  });

  it('lobby: a name is asked once; both players are listed present; chat and a whisper', T, async () => {
    const { alice, bob } = pages;
    await alice.goto(router.httpUrl + 'games/');
    await giveName(alice, ALICE);
    await bob.goto(router.httpUrl + 'games/');
    await giveName(bob, BOB);
    for (const page of [alice, bob]) {
      await until('both players in the presence list', async () => {
        const list = await presence(page);
        return list.some((m) => m.name === ALICE && m.connected) && list.some((m) => m.name === BOB && m.connected);
      });
      await page.waitForSelector('#chat-input:not([disabled])');
      assert.match(await page.textContent('#status'), /connected/);
    }
    assert.equal(await bob.textContent('#my-name'), BOB);

    // chat: both see it
    await alice.fill('#chat-input', 'hello lobby');
    await alice.press('#chat-input', 'Enter');
    for (const page of [alice, bob]) await until('the lobby message', async () => (await chatTexts(page)).includes('hello lobby'));

    // a whisper: a click on a name fills in /w <name>, only the target gets it
    await alice.click(`#presence .member[data-name="${BOB}"]`);
    assert.equal(await alice.inputValue('#chat-input'), `/w ${BOB} `);
    await alice.type('#chat-input', 'psst');
    await alice.press('#chat-input', 'Enter');
    await until('the whisper at bob', async () => bob.$eval('#chat', (ul) =>
      [...ul.querySelectorAll('li.whisper')].some((li) => li.querySelector('.text').textContent === 'psst' &&
        li.querySelector('.from').textContent === 'Alice → you')));
    await until('the whisper shown at alice', async () => alice.$eval('#chat', (ul, to) =>
      [...ul.querySelectorAll('li.whisper')].some((li) => li.querySelector('.from').textContent === `you → ${to}`), BOB));

    // a chat event lost on the way: the next one shows a gap in seq, the page re-reads the
    // room's state and shows both
    const calls = bobWire.stateCalls;
    const lost = 'this one is lost on the way';
    bobWire.lose = lost;
    await alice.fill('#chat-input', lost);
    await alice.press('#chat-input', 'Enter');
    await until('alice shows her message', async () => (await chatTexts(alice)).includes(lost), 5000,
      async () => ({ texts: await chatTexts(alice), error: await alice.textContent('#chat-error'), input: await alice.inputValue('#chat-input') }));
    assert.equal(bobWire.lost, 1, 'the route lost the event');
    assert.ok(!(await chatTexts(bob)).includes(lost));
    await alice.fill('#chat-input', 'and this one shows the gap');
    await alice.press('#chat-input', 'Enter');
    await until('bob re-read the lobby and shows both', async () =>
      JSON.stringify((await chatTexts(bob)).slice(-2)) === JSON.stringify([lost, 'and this one shows the gap']),
    5000, () => chatTexts(bob));
    assert.equal(bobWire.stateCalls, calls + 1, 'one moonbar.room.state call after the gap');
    assert.equal((await chatTexts(bob)).filter((t) => t === 'and this one shows the gap').length, 1, 'shown once');

    // the name is not asked again after a reload, and the last messages come with the join
    await bob.reload();
    await until('bob back with the chat history', async () => (await chatTexts(bob)).includes('hello lobby'));
    assert.equal(await bob.$('#name-form'), null, 'no name prompt the second time');
    assert.equal(await bob.textContent('#my-name'), BOB);
  });

  it('a goose room created on the lobby page, joined from the room list, watched by a spectator', T, async () => {
    const { alice, bob, carol } = pages;
    await alice.selectOption('#goose-max', '2');
    await alice.selectOption('#goose-timeout', '30');
    await alice.click('#create-goose');
    await alice.waitForURL(/\/games\/goose\.html\?room=goose_[a-z0-9_]+$/);
    room = new URL(alice.url()).searchParams.get('room');
    await alice.waitForSelector('body[data-role="player"][data-seat="1"]');
    await witness.session.subscribe(`moonbar.room.${room}`, ([ev]) => {
      seen.push(ev);
      for (const wake of [...seenWaiters]) wake();
    });

    // bob finds it in the room list
    await bob.click('#refresh-rooms');
    const row = `li.room[data-room="${room}"]`;
    await bob.waitForSelector(`${row} button[data-action="join"]`);
    assert.match(await bob.textContent(row), /Alice/);
    assert.match(await bob.textContent(row), /1\/2 players/);
    await bob.click(`${row} button[data-action="join"]`);
    await bob.waitForURL(new RegExp(`goose\\.html\\?room=${room}$`));
    await bob.waitForSelector('body[data-role="player"][data-seat="2"]');

    // two of two seated: it starts by itself, seat 1 first
    await alice.waitForSelector('#roll:not([disabled])');
    assert.equal(await bob.isDisabled('#roll'), true, 'not bob\'s turn');
    assert.match(await alice.textContent('#turn'), /Your turn/);
    assert.match(await bob.textContent('#turn'), /Alice’s turn/);
    assert.match(await alice.textContent('#turn-sub'), /\d+ s left/, 'the countdown from the turn event');

    await carol.goto(`${router.httpUrl}games/goose.html?room=${room}&as=spectator`);
    await giveName(carol, CAROL);
    await carol.waitForSelector('body[data-role="spectator"]');
    assert.equal(await carol.isHidden('#roll'), true, 'a spectator has no Roll button');
    assert.equal(await carol.isHidden('#start'), true);
    assert.deepEqual(await carol.$$eval('#players .pname', (e) => e.map((x) => x.textContent)), [ALICE, BOB]);
    assert.equal(await carol.$$eval('#board .pawn', (p) => p.length), 2, 'two pawns on the board');
    await until('alice sees the spectator', async () => (await alice.textContent('#watchers')) === `watching: ${CAROL}`);
    assert.equal(await alice.$$eval('#watchers i', (i) => i.length), 0, 'a name is never HTML');
    assert.equal(await carol.textContent('#my-name'), CAROL);
  });

  it('room chat: what players type is shown as text, never run as HTML', T, async () => {
    const { alice, bob, carol } = pages;
    await alice.fill('#chat-input', XSS);
    await alice.press('#chat-input', 'Enter');
    await until('alice\'s message at bob', async () => (await chatTexts(bob)).includes(XSS));
    await bob.fill('#chat-input', 'hi Alice, good luck');
    await bob.click('#chat-send');
    await until('bob\'s message at carol', async () => (await chatTexts(carol)).includes('hi Alice, good luck'));
    await carol.fill('#chat-input', 'may the best one win'); // spectators may chat
    await carol.press('#chat-input', 'Enter');
    const want = [XSS, 'hi Alice, good luck', 'may the best one win'];
    for (const page of [alice, bob, carol]) {
      await until('the three messages', async () => JSON.stringify(await chatTexts(page)) === JSON.stringify(want),
        5000, () => chatTexts(page));
      assert.equal(await page.$$eval('img', (i) => i.length), 0, 'no img element was made');
      const from = await page.$$eval('#chat li .from', (els) => els.map((e) => e.textContent));
      assert.ok(from.some((f) => f.startsWith(CAROL)), `carol's name shown as text: ${from}`);
      assert.equal(await page.$$eval('#chat i, #watchers i', (i) => i.length), 0, 'a name is never HTML');
    }
    await sleep(100); // an onerror handler would have fired by now
    assert.deepEqual(problems.filter((p) => /dialog/.test(p)), [], 'no dialog');
  });

  it('the game is played to its end by clicking Roll; a reload mid-game keeps the seat; the spectator sees it all', { timeout: ms(GAME_LIMIT_MS + 15000) }, async (t) => {
    const { alice, bob, carol } = pages;
    const started = Date.now();
    const deadline = Date.now() + ms(GAME_LIMIT_MS);
    let clicks = 0;
    let reloaded = false;
    let cut = false;
    let shot = false;
    let after = 0; // seq of the last roll
    for (;;) {
      // whose turn it is, as the router says
      const next = await witnessed(`a turn or the end after seq ${after}`,
        (e) => e.seq > after && (e.type === 'turn' || e.type === 'end'), 35000);
      if (next.type === 'end') break;
      if (Date.now() > deadline) throw new Error(`the game did not end within ${ms(GAME_LIMIT_MS)} ms (${clicks} rolls)${diagnostics()}`);
      const page = next.seat === 1 ? alice : bob;
      if (next.seat === 2 && !reloaded) {
        // bob's first turn: he reloads the page, keeps his seat and can still roll...
        reloaded = true;
        await bob.reload();
        await bob.waitForSelector('body[data-role="player"][data-seat="2"]');
        await bob.waitForSelector('#roll:not([disabled])');
        assert.equal(await bob.$('#name-form'), null, 'no name prompt after the reload');
        assert.doesNotMatch(await bob.textContent('#turn-sub'), /watching/);
        assert.match(await bob.textContent('#turn'), /Your turn/);
        // ...then his connection breaks: the page reconnects and rejoins with the token by itself
        cut = true;
        bobWire.cut();
        await bob.waitForSelector('#status[data-state="closed"]');
        assert.equal(await bob.isDisabled('#roll'), true, 'no Roll while offline');
        await bob.waitForSelector('#status[data-state="joined"]');
        await bob.waitForSelector('body[data-role="player"][data-seat="2"]');
      }
      await page.click('#roll'); // waits until the page enables it
      clicks++;
      const roll = await witnessed(`roll ${clicks}`, (e) => e.seq > next.seq && (e.type === 'roll' || e.type === 'auto_roll'));
      assert.equal(roll.seat, next.seat);
      after = roll.seq;
      if (!shot && clicks === 8) {
        shot = true;
        await sleep(1500); // the pawns finish their walk (at most 1.3 s)
        await alice.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' });
      }
    }
    t.diagnostic(`${clicks} rolls in ${Date.now() - started} ms`);
    if (!shot) await alice.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' }); // a short game
    assert.ok(reloaded && cut, 'bob reloaded and lost his connection mid-game');
    const rolls = seen.filter((e) => e.type === 'roll' || e.type === 'auto_roll');
    assert.equal(rolls.filter((e) => e.type === 'roll').length, clicks, 'every click is one roll (and no others)');
    for (const page of [alice, bob]) assert.equal(await page.isHidden('#game-error'), true, await page.textContent('#game-error'));
    const end = seen.find((e) => e.type === 'end');
    assert.equal(end.reason, 'finish');
    const away = seen.filter((x) => x.type === 'drop' || x.type === 'return');
    for (const e of away) assert.equal(e.seat, 2, 'only bob was away');
    assert.ok(away.filter((e) => e.type === 'drop').length >= 1 && away.at(-1).type === 'return', 'bob dropped and came back');
    assert.ok(rolls.some((e) => e.seat === 2 && e.type === 'roll' && e.seq > away.at(-1).seq), 'bob rolled after he came back');

    // the spectator saw every roll (the log entries carry the events' seq) and the end
    const want = rolls.map((e) => e.seq).sort((a, b) => a - b);
    await until('the spectator logged every roll', async () => JSON.stringify(await rollSeqs(carol)) === JSON.stringify(want),
      5000, async () => ({ want, carol: await rollSeqs(carol), seen: seen.map((e) => `${e.seq}:${e.type}`) }));
    assert.deepEqual(await rollSeqs(alice), want, 'alice logged every roll too');
    const winnerName = end.name;
    assert.ok([ALICE, BOB].includes(winnerName), `the winner ${winnerName}`);
    for (const [page, mine] of [[alice, winnerName === ALICE], [bob, winnerName === BOB], [carol, false]]) {
      await page.waitForSelector('#result:not([hidden])');
      assert.equal(await page.textContent('#result-text'), mine ? 'You win!' : `${winnerName} wins!`);
      assert.match(await page.textContent('#result-sub'), /first to reach square 63/);
      assert.equal(await page.isHidden('#roll'), true, 'no Roll once the game is over');
      assert.equal(await page.isVisible('#to-lobby'), true);
    }
    const winnerSeat = String(end.winner);
    const squares = await carol.$$eval('#players li', (lis) => lis.map((li) => [li.dataset.seat, li.querySelector('.square').textContent]));
    assert.deepEqual(squares.find(([s]) => s === winnerSeat), [winnerSeat, '63'], 'the winner stands on 63');
    await until('the winner\'s pawn walks to 63', async () =>
      await carol.getAttribute(`#board .pawn[data-seat="${winnerSeat}"]`, 'data-square') === '63');
    const log = await carol.textContent('#log');
    assert.match(log, /rolled \d \+ \d/);
    assert.match(log, /wins the game/);
  });

  it('/games/ after the game: both players in the lobby, the scores on the leaderboards', T, async () => {
    const { alice, bob } = pages;
    const end = seen.find((e) => e.type === 'end');
    for (const page of [alice, bob]) await page.goto(router.httpUrl + 'games/');
    for (const page of [alice, bob]) {
      await until('both players present in the lobby', async () => {
        const list = await presence(page);
        return list.some((m) => m.name === ALICE && m.connected) && list.some((m) => m.name === BOB && m.connected);
      });
      await until('the leaderboards', async () => {
        const wins = await page.$$eval('#lb-goose-wins li', (l) => l.map((li) => [li.dataset.owner, li.dataset.score]));
        const played = await page.$$eval('#lb-goose-played li', (l) => l.map((li) => [li.dataset.owner, li.dataset.score]).sort());
        return JSON.stringify(wins) === JSON.stringify([[end.name, '1']]) &&
          JSON.stringify(played) === JSON.stringify([[ALICE, '1'], [BOB, '1']].sort());
      });
      assert.match(await page.textContent('#lb-goose-wins'), new RegExp(end.name.replace(/[<>/]/g, '.')));
    }
    // a tic-tac-toe table on the same page: alice (X, seat 1) makes the room, bob joins it
    await alice.click('#create-ttt');
    await alice.waitForSelector('#ttt-card:not([hidden])');
    await until('alice waits at the table', async () => /Waiting for a second player/.test(await alice.textContent('#ttt-status')));
    const ttt = await alice.textContent('#ttt-room');
    await bob.click('#refresh-rooms');
    await bob.click(`li.room[data-room="${ttt}"] button[data-action="join"]`);
    await bob.waitForSelector('#ttt-card:not([hidden])');
    const cell = (n) => `#ttt-board .cell[data-cell="${n}"]`;
    for (const [page, n] of [[alice, 1], [bob, 4], [alice, 2], [bob, 5], [alice, 3]]) {
      await page.click(cell(n)); // waits until it is enabled: this player's turn
      await until(`cell ${n} marked on both pages`, async () =>
        (await alice.textContent(cell(n))) !== '' && (await bob.textContent(cell(n))) !== '');
    }
    for (const page of [alice, bob]) {
      await until('the tic-tac-toe result', async () => (await page.textContent('#ttt-status')) === 'Alice (X) wins');
      assert.deepEqual(await page.$$eval('#ttt-board .cell.win', (c) => c.map((x) => x.dataset.cell)), ['1', '2', '3']);
      assert.deepEqual(await page.$$eval('#ttt-board .cell', (c) => c.map((x) => x.textContent).join('')), 'XXXOO');
    }

    // the finished room is still listed, with its result one click away
    await alice.click('#refresh-rooms');
    await alice.waitForSelector(`li.room[data-room="${room}"][data-status="finished"] button[data-action="watch"]`);
    await alice.screenshot({ path: LOBBY_SCREENSHOT, fullPage: true, animations: 'disabled' });
    assert.equal(await alice.$$eval('img', (i) => i.length), 0);
    assert.deepEqual(problems, [], 'no errors in the browsers, no dialogs');
  });

  it('Start: with seats left, a seated player starts the game once two are seated', T, async () => {
    const { alice, bob } = pages;
    const created = await witness.session.call('moonbar.room.create', ['goose'],
      { max_players: 3, turn_timeout_s: 600, reconnect_s: 600 });
    const id = created.kwargs.room;
    await alice.goto(`${router.httpUrl}games/goose.html?room=${id}`);
    await alice.waitForSelector('body[data-role="player"][data-seat="1"]');
    await alice.waitForSelector('#start:not([hidden])');
    assert.equal(await alice.isDisabled('#start'), true, 'one seated: no start yet');
    assert.equal(await alice.isDisabled('#roll'), true);
    assert.match(await alice.textContent('#turn'), /Waiting for players \(1\/3\)/);
    await bob.goto(`${router.httpUrl}games/goose.html?room=${id}`);
    await bob.waitForSelector('body[data-role="player"][data-seat="2"]');
    await alice.waitForSelector('#start:not([disabled])');
    await bob.click('#start');
    await alice.waitForSelector('#roll:not([disabled])');
    for (const page of [alice, bob]) {
      await page.waitForSelector('#start', { state: 'hidden' });
      await until('the start in the log', async () => /The game starts/.test(await page.textContent('#log')));
    }
    assert.equal(await bob.isDisabled('#roll'), true, 'seat 1 first');
    assert.deepEqual(problems, [], 'no errors in the browsers, no dialogs');
  });
});
