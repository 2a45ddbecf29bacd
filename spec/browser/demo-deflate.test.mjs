// The demo page in headless Chromium against a websocket listener with compression = true:
// Chromium offers permessage-deflate, moonbar accepts it (no context takeover), and the page
// still joins and chats (WELCOME, meta events and a long chat message all go compressed).
//
// Needs what demo.test.mjs needs.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startMoonbar, REPO_ROOT, ms } from '../interop/js/lib/moonbar.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'lua', 'www');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const T = { timeout: ms(30000) };

describe('demo page in headless Chromium with permessage-deflate', () => {
  let router;
  let browser;
  let page;
  const consoleLines = [];
  const handshakes = []; // response headers of the page's WebSocket upgrades

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium (or set CHROMIUM_BIN)`);
    router = await startMoonbar({ websocket: { web_root: WEB_ROOT }, rawsocket: false, compression: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      timeout: ms(30000) });
    const context = await browser.newContext();
    page = await context.newPage();
    page.setDefaultTimeout(ms(10000));
    page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => handshakes.push(e.response.headers));
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (router) await router.stop();
  });

  it('the page joins over a compressed WebSocket and its chat works', T, async () => {
    assert.equal((await page.goto(router.httpUrl)).status(), 200);
    await page.waitForFunction(() => document.getElementById('status')?.textContent.includes('joined'),
      null, { timeout: ms(10000) }).catch((err) => {
      throw new Error(`#status never said joined: ${err.message}\n${consoleLines.join('\n')}`);
    });
    assert.ok(handshakes.length >= 1, 'the WebSocket handshake was seen');
    const headers = Object.fromEntries(Object.entries(handshakes[0]).map(([k, v]) => [k.toLowerCase(), v]));
    assert.match(headers['sec-websocket-extensions'] || '', /^permessage-deflate/,
      `moonbar accepted Chromium's deflate offer: ${JSON.stringify(headers)}`);
    assert.equal(headers['sec-websocket-protocol'], 'wamp.2.json');

    // long enough to be compressed both ways, within the input's maxlength of 500
    const text = `compressed hello from chromium ${'✓ moonbar '.repeat(40)}${Date.now()}`;
    await page.waitForFunction(() => !document.getElementById('chat-send').disabled);
    await page.fill('#chat-input', text);
    await page.click('#chat-send');
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('#messages li .text')].some((el) => el.textContent === t),
      text, { timeout: ms(10000) }).catch(async (err) => {
      const error = await page.textContent('#chat-error').catch(() => '?');
      throw new Error(`the message never appeared (chat error: "${error}"): ${err.message}\n${consoleLines.join('\n')}`);
    });
    const errors = consoleLines.filter((l) => l.startsWith('pageerror') || l.startsWith('error'));
    assert.deepEqual(errors, [], 'no errors in the browser console');
  });
});
