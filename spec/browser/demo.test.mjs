// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) against moonbar's demo
// page in lua/www: the page is served by moonbar itself, joins realm1 over /ws, and its chat
// publishes to com.example.chat and shows what it receives.
//
// Needs: build/moonbar (or $MOONBAR_BIN), Debian package `chromium` (or $CHROMIUM_BIN),
// `npm ci` in lua/www (autobahn-browser) and in spec/browser (playwright-core).
// Screenshot: $MOONBAR_DEMO_SCREENSHOT (default /tmp/moonbar-demo.png).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startMoonbar, REPO_ROOT, ms } from '../interop/js/lib/moonbar.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'lua', 'www');
const SCREENSHOT = process.env.MOONBAR_DEMO_SCREENSHOT || '/tmp/moonbar-demo.png';
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
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (router) await (stopChecked ? router.stop().catch(() => {}) : router.stop());
  });

  const diagnostics = () =>
    `\nbrowser console:\n${consoleLines.join('\n')}\nfailed requests:\n${failedRequests.join('\n')}`;

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

  it('shutdown: on SIGTERM the page shows the close reason; moonbar exits 0 with no sanitizer report', T, async () => {
    stopChecked = true;
    await router.stop();
    await page.waitForFunction(() => document.getElementById('status').dataset.state === 'closed',
      null, { timeout: ms(5000) });
    const status = await page.textContent('#status');
    assert.match(status, /closed — wamp\.close\.system_shutdown/);
    assert.equal(await page.isDisabled('#chat-send'), true, 'send is disabled while not joined');
  });
});
