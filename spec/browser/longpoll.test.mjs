// Headless Chromium (Debian's /usr/bin/chromium via playwright-core) running autobahn-browser's
// long-poll transport — autobahn-js over the browser's XMLHttpRequest — against moonbar's
// http.paths long-poll transport, beside an autobahn-js WebSocket peer in node: the page joins,
// calls, subscribes and registers, stays joined across receives that time out empty, is seen by
// the meta API as a "longpoll" session, and leaves. A second page on another origin goes through
// CORS (a preflight, credentials) on a path with cors = "*", and cannot open a path without it.
//
// Needs: build/moonbar (or $MOONBAR_BIN), Debian package `chromium` (or $CHROMIUM_BIN),
// `npm ci` in lua/www (autobahn-browser), in spec/browser (playwright-core) and in
// spec/interop/js (autobahn-js for the node peer).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startMoonbar, REPO_ROOT, ms, sleep } from '../interop/js/lib/moonbar.mjs';
import { autobahnConnect, wsTransport } from '../interop/js/lib/clients.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'lua', 'www');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const T = { timeout: ms(60000) };

/** The test page: autobahn-browser from moonbar's web root, and lpJoin(url) to open a session. */
const pageHtml = (routerUrl) => `<!doctype html><meta charset="utf-8"><title>long-poll test</title>
<script src="${routerUrl}node_modules/autobahn-browser/autobahn.min.js"></script>
<script>
window.events = [];
window.lpJoin = (url) => new Promise((resolve, reject) => {
  const conn = new autobahn.Connection({
    transports: [{ type: 'longpoll', url }], realm: 'realm1', max_retries: 0, retry_if_unreachable: false,
  });
  conn.onopen = (session) => {
    window.conn = conn;
    window.session = session;
    resolve({ id: session.id, type: conn.transport.info.type, url: conn.transport.info.url });
  };
  conn.onclose = (reason, details) => {
    window.closed = { reason, details };
    reject(new Error('closed before joining: ' + reason + ' ' + JSON.stringify(details)));
    return true;
  };
  conn.open();
});
</script>`;

describe('autobahn-js long-poll transport in headless Chromium', () => {
  let router;
  let browser;
  let peer;
  let otherOrigin; // a second HTTP server on loopback: pages there are cross-origin to moonbar
  const consoleLines = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (or set CHROMIUM_BIN)`);
    assert.ok(existsSync(path.join(WEB_ROOT, 'node_modules', 'autobahn-browser', 'autobahn.min.js')),
      'lua/www/node_modules/autobahn-browser is missing: run npm ci in lua/www');
    router = await startMoonbar({
      websocket: { web_root: WEB_ROOT },
      rawsocket: false,
      http: {
        paths: {
          '/lp': { type: 'longpoll', options: { request_timeout: 1 } },
          '/lpx': { type: 'longpoll', options: { request_timeout: 1, cors: '*' } },
        },
      },
    });
    peer = await autobahnConnect({ transport: wsTransport(router) });
    await peer.session.register('com.lp.add', (args) => args[0] + args[1]);
    otherOrigin = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(pageHtml(router.httpUrl));
    });
    await new Promise((resolve) => otherOrigin.listen(0, '127.0.0.1', resolve));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: ms(30000) });
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (peer) await peer.close().catch(() => {});
    if (otherOrigin) otherOrigin.close();
    if (router) await router.stop();
  });

  const diagnostics = () => `\nbrowser console:\n${consoleLines.join('\n')}\nmoonbar:\n${router.stderr().slice(-3000)}`;

  /** A page at pageUrl with the test page's script: moonbar's origin (the page intercepted, so
   * moonbar needs no such file), or the other server's. */
  async function openPage(pageUrl, requests) {
    const page = await browser.newPage();
    page.setDefaultTimeout(ms(15000));
    page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
    page.on('request', (req) => requests?.push({ method: req.method(), url: req.url() }));
    page.on('response', (res) => requests?.push({ status: res.status(), url: res.url() }));
    if (pageUrl.startsWith(router.httpUrl)) {
      await page.route(pageUrl, (route) => route.fulfill({ contentType: 'text/html', body: pageHtml(router.httpUrl) }));
    }
    await page.goto(pageUrl);
    await page.waitForFunction(() => typeof window.autobahn === 'object').catch((e) => {
      throw new Error(`${e.message}: autobahn-browser did not load; requests ${JSON.stringify(requests)}${diagnostics()}`);
    });
    return page;
  }

  async function sessionGone(id) {
    const deadline = Date.now() + ms(5000);
    while ((await peer.session.call('wamp.session.list')).includes(id)) {
      assert.ok(Date.now() < deadline, `session ${id} still listed${diagnostics()}`);
      await sleep(50);
    }
  }

  it('joins over long-poll from its own origin, calls, subscribes, registers, outlives empty receives and leaves', T, async () => {
    const requests = [];
    const page = await openPage(`${router.httpUrl}lp-test.html`, requests);
    const joined = await page.evaluate((url) => window.lpJoin(url), `${router.httpUrl}lp`);
    assert.equal(joined.type, 'longpoll');
    assert.match(joined.url, /\/lp\/[0-9a-f]{32}$/);
    const id = joined.id;

    // the meta API sees a session like any other, on the longpoll transport
    const details = await peer.session.call('wamp.session.get', [id]);
    assert.equal(details.transport.type, 'longpoll', JSON.stringify(details));
    assert.match(details.transport.peer, /^127\.0\.0\.1:\d+$/);

    // the page calls the node peer, subscribes and registers
    const sum = await page.evaluate(async () => {
      await window.session.subscribe('com.lp.browser', (args) => window.events.push(args));
      await window.session.register('com.lp.browser.upper', (args) => args[0].toUpperCase());
      return window.session.call('com.lp.add', [2, 3]);
    });
    assert.equal(sum, 5);
    assert.equal(await peer.session.call('com.lp.browser.upper', ['abc']), 'ABC');
    await peer.session.publish('com.lp.browser', ['hi'], {}, { acknowledge: true });
    await page.waitForFunction(() => window.events.length === 1);
    assert.deepEqual(await page.evaluate(() => window.events), [['hi']]);

    // longer than request_timeout with nothing to say: receives come back empty (204) and
    // autobahn-js polls again, still joined
    await sleep(ms(2500));
    const empty = requests.filter((r) => r.status === 204 && r.url.endsWith('/receive'));
    assert.ok(empty.length >= 1, `no empty receive answer seen: ${JSON.stringify(requests.slice(-10))}`);
    assert.equal(await page.evaluate(() => window.session.call('com.lp.add', [20, 22])), 42);
    await peer.session.publish('com.lp.browser', ['again'], {}, { acknowledge: true });
    await page.waitForFunction(() => window.events.length === 2);

    // leave: GOODBYE both ways, then POST /close
    const reason = await page.evaluate(() => new Promise((resolve) => {
      window.conn.onclose = (r) => { resolve(r); return true; };
      window.conn.close();
    }));
    assert.equal(reason, 'closed');
    await sessionGone(id);
    assert.ok(requests.some((r) => r.status === 204 && r.url.endsWith('/close')), 'no /close answered 204');
    assert.ok(!requests.some((r) => r.status >= 400), `failed requests: ${JSON.stringify(requests.filter((r) => r.status >= 400))}`);
    await page.close();
  });

  it('from another origin joins through CORS on a path with cors = "*", and cannot open one without', T, async () => {
    const requests = [];
    // another port is another origin: every XHR is cross-origin (both on loopback, so
    // Chromium's private network rules do not step in)
    const page = await openPage(`http://127.0.0.1:${otherOrigin.address().port}/other-origin.html`, requests);
    const joined = await page.evaluate((url) => window.lpJoin(url), `http://127.0.0.1:${router.wsPort}/lpx`);
    // autobahn-js posts application/json with credentials: each POST was preflighted (Chromium
    // does not show preflights as page requests) and needed the echoed origin to be read
    assert.ok(requests.some((r) => r.status === 200 && r.url.endsWith('/lpx/open')), JSON.stringify(requests));
    assert.equal(await page.evaluate(() => window.session.call('com.lp.add', [1, 2])), 3);
    const details = await peer.session.call('wamp.session.get', [joined.id]);
    assert.equal(details.transport.type, 'longpoll');
    await page.evaluate(() => new Promise((resolve) => {
      window.conn.onclose = (r) => { resolve(r); return true; };
      window.conn.close();
    }));
    await sessionGone(joined.id);

    // /lp has no cors: the browser refuses the preflight, autobahn-js finds the router unreachable
    const failure = await page.evaluate((url) => window.lpJoin(url).then(() => 'joined', (e) => e.message),
      `http://127.0.0.1:${router.wsPort}/lp`);
    assert.match(failure, /closed before joining: unreachable/, failure + diagnostics());
    await page.close();
  });
});
