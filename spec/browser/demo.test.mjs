// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) against moonbar's demo
// page in lua/www: the page is served by moonbar itself, joins realm1 over /ws, its chat
// publishes to com.example.chat and shows what it receives, and its "Live router" tables follow
// the router's sessions, registrations and subscriptions through the WAMP meta API while a
// second client (autobahn-js in node) comes and goes.
//
// Needs: build/moonbar (or $MOONBAR_BIN), Debian package `chromium` (or $CHROMIUM_BIN),
// `npm ci` in lua/www (autobahn-browser), in spec/browser (playwright-core) and in
// spec/interop/js (autobahn-js for the second client).
// Screenshots: $MOONBAR_DEMO_SCREENSHOT (default /tmp/moonbar-demo.png) after the chat test,
// $MOONBAR_DASHBOARD_SCREENSHOT (default /tmp/moonbar-dashboard.png) with the second client on.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startMoonbar, REPO_ROOT, ms, sleep } from '../interop/js/lib/moonbar.mjs';
import { autobahnConnect, wsTransport } from '../interop/js/lib/clients.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'lua', 'www');
const SCREENSHOT = process.env.MOONBAR_DEMO_SCREENSHOT || '/tmp/moonbar-demo.png';
const DASHBOARD_SCREENSHOT = process.env.MOONBAR_DASHBOARD_SCREENSHOT || '/tmp/moonbar-dashboard.png';
const WAMP_CALL = 48;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const T = { timeout: ms(30000) };

describe('demo page in headless Chromium', () => {
  let router;
  let browser;
  let page;
  let stopChecked = false;
  const consoleLines = [];
  const failedRequests = [];
  const sentByPage = []; // WAMP messages the first page sent over its WebSocket

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (or set CHROMIUM_BIN)`);
    assert.ok(existsSync(path.join(WEB_ROOT, 'node_modules', 'autobahn-browser', 'autobahn.min.js')),
      'lua/www/node_modules/autobahn-browser is missing: run npm ci in lua/www');
    router = await startMoonbar({ websocket: { web_root: WEB_ROOT }, rawsocket: false });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: ms(30000),
    });
    const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
    page = await context.newPage();
    page.setDefaultTimeout(ms(10000));
    page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
    page.on('requestfailed', (req) => failedRequests.push(`${req.url()} ${req.failure()?.errorText}`));
    page.on('websocket', (ws) => ws.on('framesent', (frame) => {
      try { sentByPage.push(JSON.parse(frame.payload)); } catch { sentByPage.push(String(frame.payload)); }
    }));
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (router) await (stopChecked ? router.stop().catch(() => {}) : router.stop());
  });

  const diagnostics = () =>
    `\nbrowser console:\n${consoleLines.join('\n')}\nfailed requests:\n${failedRequests.join('\n')}`;

  /** The rows of the three live tables: {id, mine, cells: [text without badges], peer}. */
  const liveTables = () => page.evaluate(() => {
    const text = (td) => [...td.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent).join('');
    const rows = (tbody) => [...document.querySelectorAll(`#${tbody} tr[data-id]`)].map((tr) => ({
      id: tr.dataset.id,
      mine: tr.classList.contains('mine'),
      cells: [...tr.cells].map(text),
      peer: tr.querySelector('.peer')?.textContent,
    }));
    return {
      sessions: rows('live-sessions'),
      registrations: rows('live-registrations'),
      subscriptions: rows('live-subscriptions'),
    };
  });

  /** Polls the live tables until predicate(tables) holds; fails naming `what`, with the tables. */
  async function waitForLive(what, predicate, timeoutMs = 5000) {
    const deadline = Date.now() + ms(timeoutMs);
    for (;;) {
      const tables = await liveTables();
      if (predicate(tables)) return tables;
      if (Date.now() > deadline) {
        throw new Error(`the live tables never showed ${what} within ${ms(timeoutMs)} ms; they show:\n` +
          `${JSON.stringify(tables, null, 1)}${diagnostics()}`);
      }
      await sleep(50);
    }
  }

  const ownSessionId = async () => /joined — session (\d+)/.exec(await page.textContent('#status'))[1];
  const byUri = (rows, uri) => rows.find((r) => r.cells[0] === uri);

  it('moonbar serves the page, its stylesheet, script and autobahn-browser with the right content types', T, async () => {
    const checks = [
      ['', 'text/html'],
      ['index.html', 'text/html'],
      ['style.css', 'text/css'],
      ['app.js', 'application/javascript'],
      ['node_modules/autobahn-browser/autobahn.min.js', 'application/javascript'],
    ];
    for (const [p, type] of checks) {
      const res = await fetch(router.httpUrl + p);
      assert.equal(res.status, 200, `GET /${p}`);
      assert.match(res.headers.get('content-type') || '', new RegExp(`^${type}`), `content type of /${p}`);
      await res.arrayBuffer();
    }
    const missing = await fetch(router.httpUrl + 'no-such-file.html');
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });

  it('the page joins realm1: #status shows "joined — session <id>"', T, async () => {
    const response = await page.goto(router.httpUrl);
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'moonbar');
    try {
      await page.waitForFunction(
        () => document.getElementById('status')?.textContent.includes('joined'), null, { timeout: ms(10000) });
    } catch (err) {
      const status = await page.textContent('#status').catch(() => '?');
      throw new Error(`#status never said joined (it says "${status}")${diagnostics()}`);
    }
    const status = await page.textContent('#status');
    const m = /joined — session (\d+)/.exec(status);
    assert.ok(m, `#status is "${status}"`);
    const id = Number(m[1]);
    assert.ok(Number.isInteger(id) && id >= 1 && id <= 2 ** 53, `session id ${m[1]}`);
    assert.match(router.stderr(), new RegExp(`session ${m[1]} joined`), 'moonbar logged the page\'s session');
  });

  it('live router: the sessions table lists the page\'s own session, marked; its subscriptions too', T, async () => {
    const own = await ownSessionId();
    const tables = await waitForLive(`session ${own}`, (t) => t.sessions.some((r) => r.id === own));
    const row = tables.sessions.find((r) => r.id === own);
    assert.equal(row.mine, true, 'own session row is marked');
    assert.match(await page.textContent(`#live-sessions tr[data-id="${own}"]`), /you/);
    assert.deepEqual(row.cells.slice(0, 1), [own]);
    assert.match(row.cells[1], /\S/, 'authid shown');
    assert.equal(row.cells[2], 'anonymous');
    assert.equal(row.cells[3], 'websocket');
    assert.match(row.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(tables.sessions.length, 1, 'nothing else is connected');
    assert.equal(await page.textContent('#sessions-count'), '1');

    // The page's own subscriptions: the chat topic and its prefix subscription to the meta events.
    assert.deepEqual(tables.subscriptions.map((r) => [...r.cells, r.mine]).sort(), [
      ['com.example.chat', 'exact', '1', true],
      ['wamp.', 'prefix', '1', true],
    ]);
    assert.deepEqual(tables.registrations, []);
    assert.equal(await page.textContent('#live-registrations'), 'no registrations');
  });

  it('chat: a message typed and sent in the UI comes back and is listed, and a second page gets it too', T, async () => {
    const text = `hello from chromium ${Date.now()} ✓`;
    const other = await page.context().newPage();
    other.on('pageerror', (err) => consoleLines.push(`pageerror (second page): ${err.message}`));
    await other.goto(router.httpUrl);
    await other.waitForFunction(() => !document.getElementById('chat-send').disabled, null, { timeout: ms(10000) });
    await page.waitForFunction(() => !document.getElementById('chat-send').disabled);
    await page.fill('#chat-input', text);
    await page.click('#chat-send');
    try {
      await page.waitForFunction(
        (t) => [...document.querySelectorAll('#messages li .text')].some((el) => el.textContent === t),
        text, { timeout: ms(10000) });
    } catch (err) {
      const error = await page.textContent('#chat-error').catch(() => '?');
      throw new Error(`the message never appeared in #messages (chat error: "${error}")${diagnostics()}`);
    }
    // The input is cleared once the broker acknowledged the publication.
    await page.waitForFunction(() => document.getElementById('chat-input').value === '');
    const items = await page.$$eval('#messages li', (lis) => lis.map((li) => li.className));
    assert.equal(items.length, 1, 'exactly one message listed (no duplicate)');
    assert.equal(items[0], 'mine');

    // The second page lists it as someone else's message, naming the sender's session.
    const sender = /session (\d+)/.exec(await page.textContent('#status'))[1];
    await other.waitForFunction((t) => document.querySelector('#messages li .text')?.textContent === t, text);
    assert.ok(!(await other.getAttribute('#messages li', 'class')), 'not marked as mine on the other page');
    assert.match(await other.textContent('#messages li .meta'), new RegExp(`^session ${sender} · `));
    await other.close();

    // A second message goes on top.
    await page.fill('#chat-input', 'second message');
    await page.press('#chat-input', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 2);
    assert.equal(await page.textContent('#messages li:first-child .text'), 'second message');

    await page.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' });
    const pageErrors = consoleLines.filter((l) => l.startsWith('pageerror') || l.startsWith('error'));
    assert.deepEqual(pageErrors, [], 'no errors in the browser console');
  });

  it('live router: a second client\'s session, registrations and subscriptions come and go with it', T, async () => {
    const own = await ownSessionId();
    const callsBefore = sentByPage.filter((m) => m[0] === WAMP_CALL).length;
    const other = await autobahnConnect({ transport: wsTransport(router) });
    let closed = false;
    try {
      const sid = String(other.session.id);
      await other.session.register('com.example.dashboard.echo', (args) => args);
      await other.session.register('com.example.dashboard.', (args) => args, { match: 'prefix', invoke: 'roundrobin' });
      await other.session.subscribe('com.example.dashboard.news', () => {});
      const chat = await other.session.subscribe('com.example.chat', () => {});

      const tables = await waitForLive('the second client with its registrations and subscriptions', (t) =>
        t.sessions.some((r) => r.id === sid) &&
        byUri(t.registrations, 'com.example.dashboard.')?.cells[3] === '1' &&
        byUri(t.registrations, 'com.example.dashboard.echo')?.cells[3] === '1' &&
        byUri(t.subscriptions, 'com.example.dashboard.news')?.cells[2] === '1' &&
        byUri(t.subscriptions, 'com.example.chat')?.cells[2] === '2');
      const row = tables.sessions.find((r) => r.id === sid);
      assert.deepEqual(row.cells, [sid, other.details.authid, other.details.authrole, 'websocket']);
      assert.match(row.peer, /^127\.0\.0\.1:\d+$/);
      assert.equal(row.mine, false);
      assert.deepEqual(tables.sessions.filter((r) => r.mine).map((r) => r.id), [own], 'only the own row is marked');
      assert.deepEqual(tables.registrations.map((r) => [...r.cells, r.mine]), [
        ['com.example.dashboard.', 'prefix', 'roundrobin', '1', false],
        ['com.example.dashboard.echo', 'exact', 'single', '1', false],
      ]);
      assert.deepEqual(byUri(tables.subscriptions, 'com.example.dashboard.news').cells,
        ['com.example.dashboard.news', 'exact', '1']);
      assert.equal(byUri(tables.subscriptions, 'com.example.chat').mine, true, 'the page is a chat subscriber');
      assert.equal(await page.textContent('#sessions-count'), '2');
      assert.equal(await page.textContent('#registrations-count'), '2');

      await page.locator('#live').scrollIntoViewIfNeeded();
      await page.screenshot({ path: DASHBOARD_SCREENSHOT, fullPage: true, animations: 'disabled' });

      // on_unsubscribe: the chat subscription stays (the page is on it), one subscriber fewer.
      await other.session.unsubscribe(chat);
      await waitForLive('com.example.chat back to 1 subscriber',
        (t) => byUri(t.subscriptions, 'com.example.chat')?.cells[2] === '1');

      closed = true;
      await other.close();
      const after = await waitForLive(`session ${sid} and its rows gone`, (t) =>
        !t.sessions.some((r) => r.id === sid) && t.registrations.length === 0 &&
        !byUri(t.subscriptions, 'com.example.dashboard.news'));
      assert.deepEqual(after.sessions.map((r) => r.id), [own]);
      assert.deepEqual(after.subscriptions.map((r) => r.cells[0]).sort(), ['com.example.chat', 'wamp.']);
      assert.equal(await page.textContent('#live-registrations'), 'no registrations');
    } finally {
      if (!closed) await other.close().catch(() => {});
    }

    // Only meta events changed the tables: the page made no calls meanwhile.
    const calls = sentByPage.filter((m) => m[0] === WAMP_CALL);
    assert.equal(calls.length, callsBefore, `the page called ${JSON.stringify(calls.slice(callsBefore))}`);
    const pageErrors = consoleLines.filter((l) => l.startsWith('pageerror') || l.startsWith('error'));
    assert.deepEqual(pageErrors, [], 'no errors in the browser console');
  });

  it('live router: after a reload amid churn by other clients, the tables agree with the router', T, async () => {
    // The snapshot at join races with meta events; the page queues those and replays them on
    // top. Churn during the reload, then compare with what a node client reads from the meta API.
    const observer = await autobahnConnect({ transport: wsTransport(router) });
    const churners = await Promise.all([1, 2, 3, 4].map(() => autobahnConnect({ transport: wsTransport(router) })));
    let stop = false;
    let churnError = null;
    const churn = async (step) => {
      try {
        for (let i = 0; !stop; i++) await step(i);
      } catch (err) {
        churnError ??= err;
        stop = true;
      }
    };
    const loops = churners.flatMap(({ session }, k) => [
      churn(async (i) => { // registrations: created, more callees on a shared one, deleted
        const reg = await session.register(`com.example.churn.p${(i + k) % 3}`, () => null, { invoke: 'roundrobin' });
        await session.unregister(reg);
      }),
      churn(async (i) => { // subscriptions on a topic the observer keeps, and ones that come and go
        const topic = i % 2 ? 'com.example.churn.kept' : `com.example.churn.t${(i + k) % 4}`;
        const sub = await session.subscribe(topic, () => {});
        await session.unsubscribe(sub);
      }),
      churn(async () => { // sessions
        const c = await autobahnConnect({ transport: wsTransport(router) });
        await c.session.subscribe('com.example.churn.kept', () => {});
        await c.close();
      }),
    ]);
    try {
      await observer.session.subscribe('com.example.churn.kept', () => {});
      await observer.session.register('com.example.churn.p0', () => null, { invoke: 'roundrobin' });
      await sleep(200);
      await page.reload();
      await page.waitForFunction(() => document.getElementById('status')?.textContent.includes('joined'));
      await waitForLive('the reloaded page\'s session', (t) => t.sessions.length > 0);
      await sleep(300);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    if (churnError) throw churnError;

    // What the router says, in the shape of the page's rows.
    const call = (procedure, ...args) => observer.session.call(procedure, args);
    const truth = { sessions: [], registrations: [], subscriptions: [] };
    for (const id of await call('wamp.session.list')) {
      const d = await call('wamp.session.get', id);
      truth.sessions.push([String(d.session), d.authid, d.authrole, d.transport.type]);
    }
    for (const [kind, members] of [['registration', 'list_callees'], ['subscription', 'list_subscribers']]) {
      const byMatch = await call(`wamp.${kind}.list`);
      for (const id of [...byMatch.exact, ...byMatch.prefix, ...byMatch.wildcard]) {
        const d = await call(`wamp.${kind}.get`, id);
        const n = String((await call(`wamp.${kind}.${members}`, id)).length);
        truth[`${kind}s`].push(kind === 'registration' ? [d.uri, d.match, d.invoke, n] : [d.uri, d.match, n]);
      }
    }
    const sorted = (rows) => rows.map((r) => JSON.stringify(r)).sort();
    const expected = {};
    for (const table in truth) expected[table] = sorted(truth[table]);
    let shown;
    try {
      await waitForLive('what the router reports', (t) => {
        shown = {};
        for (const table in t) shown[table] = sorted(t[table].map((r) => r.cells));
        return JSON.stringify(shown) === JSON.stringify(expected);
      });
    } catch (err) {
      assert.deepEqual(shown, expected, 'live tables vs. the router\'s meta API');
    }
    assert.deepEqual(truth.registrations, [['com.example.churn.p0', 'exact', 'roundrobin', '1']],
      'the churn left nothing behind');

    await Promise.all(churners.map((c) => c.close()));
    await observer.close();
    await waitForLive('only the page left', (t) => t.sessions.length === 1 && t.registrations.length === 0 &&
      t.subscriptions.length === 2);
    const pageErrors = consoleLines.filter((l) => l.startsWith('pageerror') || l.startsWith('error'));
    assert.deepEqual(pageErrors, [], 'no errors in the browser console');
  });

  it('shutdown: on SIGTERM the page shows the close reason; moonbar exits 0 with no sanitizer report', T, async () => {
    stopChecked = true;
    await router.stop();
    await page.waitForFunction(() => document.getElementById('status').dataset.state === 'closed',
      null, { timeout: ms(5000) });
    const status = await page.textContent('#status');
    assert.match(status, /closed — wamp\.close\.system_shutdown/);
    assert.equal(await page.isDisabled('#chat-send'), true, 'send is disabled while not joined');
    assert.deepEqual(await liveTables(), { sessions: [], registrations: [], subscriptions: [] },
      'the live tables are emptied while not joined');
    assert.equal(await page.textContent('#live-sessions'), 'not connected');
  });
});
