// Two different WAMP client libraries on one realm: autobahn-js and wampy talk through moonbar.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, ms, withTimeout } from './lib/moonbar.mjs';
import { autobahn, autobahnConnect, wampyConnect, wsTransport, rsTransport, Inbox } from './lib/clients.mjs';
import { Errors } from 'wampy';
import { FIDELITY_ARGS, FIDELITY_KWARGS } from './lib/payloads.mjs';

const T = { timeout: ms(10000) };

describe('autobahn-js and wampy on the same realm', () => {
  let router;
  let ab;   // autobahn-js over WebSocket
  let abRs; // autobahn-js over RawSocket
  let wy;   // wampy over WebSocket
  let stopChecked = false;

  before(async () => {
    router = await startMoonbar();
    ab = await autobahnConnect({ transport: wsTransport(router) });
    abRs = await autobahnConnect({ transport: rsTransport(router) });
    wy = await wampyConnect({ url: router.wsUrl });
  });

  after(async () => {
    for (const c of [ab, abRs]) if (c && c.session.isOpen) await c.close().catch(() => {});
    if (wy) await wy.close().catch(() => {});
    // The last test stops the router and checks the exit; if it never ran, check here.
    if (router) await (stopChecked ? router.stop().catch(() => {}) : router.stop());
  });

  it('an autobahn-js callee is called from wampy: args/kwargs in, Result args/kwargs out', T, async () => {
    await ab.session.register('com.example.mixed.add', (args, kwargs) =>
      new autobahn.Result([args[0] + args[1]], { by: 'autobahn', echo: kwargs }));
    const res = await wy.wampy.call('com.example.mixed.add', { argsList: [2, 3], argsDict: { note: 'ünï' } });
    assert.deepEqual(res.argsList, [5]);
    assert.deepEqual(res.argsDict, { by: 'autobahn', echo: { note: 'ünï' } });
  });

  it('an autobahn-js callee error reaches the wampy caller with its URI, args and kwargs', T, async () => {
    await ab.session.register('com.example.mixed.fails', () => {
      throw new autobahn.Error('com.example.oops', [1, 2], { x: 3 });
    });
    await assert.rejects(wy.wampy.call('com.example.mixed.fails'), (err) => {
      assert.ok(err instanceof Errors.CallError, `got ${err}`);
      assert.equal(err.errorUri, 'com.example.oops');
      assert.deepEqual(err.argsList, [1, 2]);
      assert.deepEqual(err.argsDict, { x: 3 });
      return true;
    });
  });

  it('a wampy subscriber receives an autobahn-js publication (WebSocket and RawSocket publishers)', T, async () => {
    const inbox = new Inbox();
    await wy.wampy.subscribe('com.example.mixed.topic', (ev) => inbox.push(ev));
    const pubWs = await ab.session.publish('com.example.mixed.topic', ['from', 'autobahn'], { n: 1 },
      { acknowledge: true });
    let ev = await inbox.next(3000, 'wampy to receive the autobahn-js (WebSocket) event');
    assert.deepEqual(ev.argsList, ['from', 'autobahn']);
    assert.deepEqual(ev.argsDict, { n: 1 });
    assert.equal(ev.details.publication ?? pubWs.id, pubWs.id);

    await abRs.session.publish('com.example.mixed.topic', FIDELITY_ARGS, FIDELITY_KWARGS, { acknowledge: true });
    ev = await inbox.next(3000, 'wampy to receive the autobahn-js (RawSocket) event');
    assert.deepEqual(ev.argsList, FIDELITY_ARGS);
    assert.deepEqual(ev.argsDict, FIDELITY_KWARGS);
  });

  it('an autobahn-js subscriber receives a wampy publication; a wampy callee is called from autobahn-js', T, async () => {
    const inbox = new Inbox();
    await abRs.session.subscribe('com.example.mixed.reverse', (args, kwargs) => inbox.push({ args, kwargs }));
    await wy.wampy.publish('com.example.mixed.reverse', { argsList: ['from wampy'], argsDict: { ok: true } });
    const ev = await inbox.next(3000, 'autobahn-js to receive the wampy event');
    assert.deepEqual(ev.args, ['from wampy']);
    assert.deepEqual(ev.kwargs, { ok: true });

    await wy.wampy.register('com.example.mixed.upper', ({ argsList }) => ({ argsList: [argsList[0].toUpperCase()] }));
    assert.equal(await ab.session.call('com.example.mixed.upper', ['moon']), 'MOON');
    assert.equal(await abRs.session.call('com.example.mixed.upper', ['bar']), 'BAR');
  });

  it('shutdown: with autobahn-js (WebSocket, RawSocket) and wampy joined, SIGTERM says GOODBYE system_shutdown to all; exit 0', T, async () => {
    stopChecked = true;
    await router.stop();
    for (const c of [ab, abRs]) {
      const { details } = await withTimeout(c.closed, 3000, 'autobahn-js to see GOODBYE');
      assert.equal(details.reason, 'wamp.close.system_shutdown');
    }
    await withTimeout(wy.closed, 3000, 'wampy to see the connection close');
    const goodbye = wy.wire.messages.find((m) => Array.isArray(m) && m[0] === 6);
    assert.deepEqual(goodbye && goodbye[2], 'wamp.close.system_shutdown');
  });
});
