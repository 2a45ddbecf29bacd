// Advanced Profile RPC with autobahn-js 22.11.1 (docs/behaviour.md "Advanced Profile"): progressive call results
// (caller receive_progress, callee details.progress), disclose_me, call timeouts, canceling.
// autobahn-js callees do not announce call_canceling: a CANCEL to them is skip.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, withTimeout, ms, sleep, deferred } from './lib/moonbar.mjs';
import { autobahn, autobahnConnect, wsTransport, rsTransport, Inbox } from './lib/clients.mjs';

const T = { timeout: ms(10000) };
let n = 0;
const proc = (name) => `com.advjs.${name}_${process.pid}_${++n}`;

describe('autobahn-js: Advanced Profile RPC', () => {
  let router;
  const open = [];

  async function connect(transport = wsTransport) {
    const c = await autobahnConnect({ transport: transport(router) });
    open.push(c);
    return c;
  }

  before(async () => {
    router = await startMoonbar();
  });

  after(async () => {
    for (const c of open) {
      if (c.session.isOpen) await c.close().catch(() => {});
    }
    if (router) await router.stop();
  });

  for (const [name, transport] of [['websocket', wsTransport], ['rawsocket', rsTransport]]) {
    it(`progressive results (${name}): each one reaches the caller before the final result`, T, async () => {
      const p = proc('count');
      const callee = await connect(transport);
      const caller = await connect(transport);
      await callee.session.register(p, (args, kwargs, details) => {
        assert.equal(typeof details.progress, 'function', 'INVOCATION carried receive_progress');
        for (let i = 0; i < args[0]; i++) details.progress([i], { sq: i * i });
        return 'done';
      });
      const seen = [];
      const result = await withTimeout(
        caller.session.call(p, [3], {}, { receive_progress: true }).then(
          (r) => r, null, (prog) => seen.push(prog)),
        3000, 'the progressive call');
      assert.equal(result, 'done');
      assert.deepEqual(seen.map((r) => [r.args, r.kwargs]),
        [[[0], { sq: 0 }], [[1], { sq: 1 }], [[2], { sq: 4 }]]);
      // without receive_progress the callee gets no progress function
      const plain = proc('plain');
      await callee.session.register(plain, (args, kwargs, details) => typeof details.progress);
      assert.notEqual(await caller.session.call(plain), 'function');
    });
  }

  it('disclose_me: the callee sees caller, caller_authid and caller_authrole', T, async () => {
    const p = proc('who');
    const callee = await connect();
    const caller = await autobahnConnect({ transport: wsTransport(router), authid: 'carol' });
    open.push(caller);
    await callee.session.register(p, (args, kwargs, details) =>
      [details.caller ?? null, details.caller_authid ?? null, details.caller_authrole ?? null]);
    assert.deepEqual(await caller.session.call(p, [], {}, { disclose_me: true }),
      [caller.session.id, 'carol', 'anonymous']);
    assert.deepEqual(await caller.session.call(p), [null, null, null]);
  });

  it('timeout: a call without an answer ends with wamp.error.timeout', T, async () => {
    const p = proc('never');
    const callee = await connect();
    const caller = await connect();
    await callee.session.register(p, () => new Promise(() => {}));
    const start = Date.now();
    await assert.rejects(caller.session.call(p, [], {}, { timeout: 200 }),
      (e) => e.error === 'wamp.error.timeout');
    assert.ok(Date.now() - start < ms(2000));
  });

  it('timeout: restarts at each progressive result', T, async () => {
    const p = proc('ticks');
    const callee = await connect();
    const caller = await connect();
    await callee.session.register(p, async (args, kwargs, details) => {
      for (let i = 0; i < 4; i++) {
        await sleep(150);
        details.progress([i]);
      }
      await sleep(150);
      return 'ticked';
    });
    const seen = [];
    const r = await caller.session.call(p, [], {}, { receive_progress: true, timeout: 400 })
      .then((x) => x, null, (prog) => seen.push(prog));   // one positional value: the value itself
    assert.equal(r, 'ticked');
    assert.deepEqual(seen, [0, 1, 2, 3]);
  });

  it('cancel (mode kill, what autobahn-js waits an answer for): wamp.error.canceled once, late result dropped', T, async () => {
    const p = proc('held');
    const callee = await connect();
    const caller = await connect();
    const release = deferred();
    const started = new Inbox();
    await callee.session.register(p, () => { started.push(1); return release.promise; });
    const call = caller.session.call(p);
    await started.next(3000, 'the invocation');
    call.cancel({ mode: 'kill' });   // the callee has no call_canceling: skip, answered at once
    await assert.rejects(withTimeout(call, 3000, 'the canceled call'),
      (e) => e.error === 'wamp.error.canceled');
    release.resolve('late');
    await sleep(200);
    assert.ok(caller.session.isOpen, 'the caller got no second answer (autobahn-js would fail on one)');
    const echo = proc('echo');
    await callee.session.register(echo, (args) => args[0]);
    assert.equal(await caller.session.call(echo, ['still here']), 'still here');
  });
});
