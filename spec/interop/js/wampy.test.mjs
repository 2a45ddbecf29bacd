// wampy 8.0.2 (JSON over WebSocket with the `ws` package) against moonbar.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, ms, withTimeout } from './lib/moonbar.mjs';
import { wampyConnect, Inbox, isWampId } from './lib/clients.mjs';
import { Errors } from 'wampy';
import { FIDELITY_ARGS, FIDELITY_KWARGS } from './lib/payloads.mjs';

const T = { timeout: ms(10000) };

describe('wampy over WebSocket', () => {
  let router;
  const open = [];
  let stopChecked = false;

  async function connect(opts = {}) {
    const c = await wampyConnect({ url: router.wsUrl, ...opts });
    open.push(c);
    return c;
  }

  before(async () => {
    router = await startMoonbar({ rawsocket: false });
  });

  after(async () => {
    for (const c of open) await c.close().catch(() => {});
    // The last test stops the router and checks the exit; if it never ran, check here.
    if (router) await (stopChecked ? router.stop().catch(() => {}) : router.stop());
  });

  it('join realm1: WELCOME details have authrole anonymous and the session id is an integer', T, async () => {
    const { wampy, details } = await connect();
    const id = wampy.getSessionId();
    assert.ok(isWampId(id), `session id ${id} is an integer in [1, 2^53]`);
    assert.equal(details.realm, 'realm1');
    assert.equal(details.authrole, 'anonymous');
    assert.equal(details.roles.broker.features.publisher_exclusion, true);
    assert.ok(details.roles.dealer);
  });

  it('subscribe/publish (wampy always asks for acknowledge): PUBLISHED, and the event reaches the other session only', T, async () => {
    const sub = await connect();
    const pub = await connect();
    const inSub = new Inbox();
    const inPub = new Inbox();
    const s = await sub.wampy.subscribe('com.example.wampy.topic', (ev) => inSub.push(ev));
    assert.ok(isWampId(s.subscriptionId));
    await pub.wampy.subscribe('com.example.wampy.topic', (ev) => inPub.push(ev));

    const published = await pub.wampy.publish('com.example.wampy.topic',
      { argsList: ['hello', 7], argsDict: { lang: 'js' } });
    assert.ok(isWampId(published.publicationId), 'PUBLISHED carries a publication id');

    const ev = await inSub.next(3000, 'EVENT at the wampy subscriber');
    assert.deepEqual(ev.argsList, ['hello', 7]);
    assert.deepEqual(ev.argsDict, { lang: 'js' });
    // wampy sends no exclude_me, so the publisher is excluded. A round trip through the
    // router after the publication guarantees that an EVENT to the publisher would be here.
    await pub.wampy.publish('com.example.wampy.other_topic', ['flush']);
    assert.equal(inPub.size, 0, 'the publisher got its own event');
  });

  it('publish payload fidelity: args/kwargs with max safe integers, unicode and empty containers', T, async () => {
    const sub = await connect();
    const pub = await connect();
    const inbox = new Inbox();
    await sub.wampy.subscribe('com.example.wampy.fidelity', (ev) => inbox.push(ev));
    await pub.wampy.publish('com.example.wampy.fidelity', { argsList: FIDELITY_ARGS, argsDict: FIDELITY_KWARGS });
    const ev = await inbox.next(3000, 'fidelity EVENT');
    assert.deepEqual(ev.argsList, FIDELITY_ARGS);
    assert.deepEqual(ev.argsDict, FIDELITY_KWARGS);
  });

  it('register/call: argsList and argsDict round-trip through a wampy callee', T, async () => {
    const callee = await connect();
    const caller = await connect();
    let seen;
    const reg = await callee.wampy.register('com.example.wampy.echo', ({ argsList, argsDict }) => {
      seen = { argsList, argsDict };
      return { argsList: [...argsList, 'echoed'], argsDict: { ...argsDict, echoed: true } };
    });
    assert.ok(isWampId(reg.registrationId));
    const res = await caller.wampy.call('com.example.wampy.echo', { argsList: [1, 'two', [3]], argsDict: { four: 4 } });
    assert.deepEqual(seen, { argsList: [1, 'two', [3]], argsDict: { four: 4 } });
    assert.deepEqual(res.argsList, [1, 'two', [3], 'echoed']);
    assert.deepEqual(res.argsDict, { four: 4, echoed: true });
  });

  it('register/call: fidelity payload survives CALL → INVOCATION → YIELD → RESULT', T, async () => {
    const callee = await connect();
    const caller = await connect();
    await callee.wampy.register('com.example.wampy.echo_fidelity',
      ({ argsList, argsDict }) => ({ argsList, argsDict }));
    const res = await caller.wampy.call('com.example.wampy.echo_fidelity',
      { argsList: FIDELITY_ARGS, argsDict: FIDELITY_KWARGS });
    assert.deepEqual(res.argsList, FIDELITY_ARGS);
    assert.deepEqual(res.argsDict, FIDELITY_KWARGS);
  });

  it('callee error: a wampy callee throwing {error, argsList, argsDict} reaches the caller with its URI', T, async () => {
    const callee = await connect();
    const caller = await connect();
    await callee.wampy.register('com.example.wampy.fails', () => {
      throw { error: 'com.example.wampy_oops', argsList: ['bad input'], argsDict: { code: 7 } };
    });
    await assert.rejects(caller.wampy.call('com.example.wampy.fails', ['x']), (err) => {
      assert.ok(err instanceof Errors.CallError, `got ${err}`);
      assert.equal(err.errorUri, 'com.example.wampy_oops');
      assert.deepEqual(err.argsList, ['bad input']);
      assert.deepEqual(err.argsDict, { code: 7 });
      return true;
    });
  });

  it('no_such_procedure and procedure_already_exists reach wampy with their URIs', T, async () => {
    const a = await connect();
    const b = await connect();
    await assert.rejects(a.wampy.call('com.example.wampy.nobody'), (err) => {
      assert.ok(err instanceof Errors.CallError, `got ${err}`);
      assert.equal(err.errorUri, 'wamp.error.no_such_procedure');
      return true;
    });
    await a.wampy.register('com.example.wampy.taken', () => ({ argsList: ['a'] }));
    await assert.rejects(b.wampy.register('com.example.wampy.taken', () => ({ argsList: ['b'] })), (err) => {
      assert.ok(err instanceof Errors.RegisterError, `got ${err}`);
      assert.equal(err.errorUri, 'wamp.error.procedure_already_exists');
      return true;
    });
  });

  it('unknown realm: wampy.connect() is rejected with ABORT wamp.error.no_such_realm', T, async () => {
    await assert.rejects(wampyConnect({ url: router.wsUrl, realm: 'no.such.realm' }), (err) => {
      assert.ok(err instanceof Errors.AbortError, `got ${err}`);
      assert.equal(err.errorUri, 'wamp.error.no_such_realm');
      return true;
    });
  });

  it('shutdown: SIGTERM sends wampy GOODBYE wamp.close.system_shutdown, the WebSocket closes cleanly; moonbar exits 0, no sanitizer report', T, async () => {
    const c = await connect();
    stopChecked = true;
    const { stopMs } = await router.stop();
    const close = await withTimeout(c.closed, 3000, 'wampy to see the connection close');
    const goodbye = c.wire.messages.find((m) => Array.isArray(m) && m[0] === 6);
    assert.ok(goodbye, `no GOODBYE received; got ${JSON.stringify(c.wire.messages)}`);
    assert.equal(goodbye[2], 'wamp.close.system_shutdown');
    assert.equal(typeof goodbye[1], 'object');
    // moonbar closes with 1001 once the peer answered GOODBYE; wampy may close first right
    // after its answer (1000, or 1005 when its close frame carries no code)
    assert.ok([1000, 1001, 1005].includes(close.code), `close frame code ${close.code} (${close.reason})`);
    assert.ok(stopMs < ms(1000), `moonbar took ${stopMs} ms to exit after SIGTERM`);
  });
});
