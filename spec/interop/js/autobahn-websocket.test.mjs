// autobahn-js 22.11.1 against moonbar over WebSocket (wamp.2.json).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, withTimeout, ms } from './lib/moonbar.mjs';
import { autobahn, autobahnConnect, wsTransport, Inbox, unlessClosed, isWampId } from './lib/clients.mjs';
import { FIDELITY_ARGS, FIDELITY_KWARGS } from './lib/payloads.mjs';

// Every test gets its own time limit: a lost reply must fail that test, not hang the file.
const T = { timeout: ms(10000) };

describe('autobahn-js over WebSocket', () => {
  let router;
  const open = [];
  let stopChecked = false;

  async function connect(opts = {}) {
    const c = await autobahnConnect({ transport: wsTransport(router), ...opts });
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
    // The last test stops the router and checks the exit; if it never ran, check here.
    if (router) await (stopChecked ? router.stop().catch(() => {}) : router.stop());
  });

  it('join: WELCOME has authrole anonymous, an integer session id and the broker/dealer roles', T, async () => {
    const { session, details } = await connect();
    assert.equal(typeof session.id, 'number');
    assert.ok(isWampId(session.id), `session id ${session.id} is an integer in [1, 2^53]`);
    assert.equal(details.realm, 'realm1');
    assert.equal(details.authrole, 'anonymous');
    assert.equal(details.authmethod, 'anonymous');
    assert.equal(details.authprovider, 'static');
    assert.equal(typeof details.authid, 'string');
    assert.ok(details.authid.length > 0, 'authid is a non-empty string');
    assert.equal(details.roles.broker.features.publisher_exclusion, true);
    assert.ok(details.roles.dealer, 'WELCOME announces the dealer role');
    assert.equal(session.realm, 'realm1');
    assert.equal(details.transport.protocol, 'wamp.2.json');
  });

  it('join: two sessions get different ids; HELLO authid is echoed in WELCOME', T, async () => {
    const a = await connect({ authid: 'alice' });
    const b = await connect();
    assert.equal(a.details.authid, 'alice');
    assert.notEqual(a.session.id, b.session.id);
    assert.notEqual(b.details.authid, 'alice');
  });

  it('subscribe/publish with acknowledge: the subscriber gets args and kwargs, PUBLISHED and EVENT share the publication id', T, async () => {
    const sub = await connect();
    const pub = await connect();
    const inbox = new Inbox();
    const subscription = await sub.session.subscribe('com.example.ws.topic1',
      (args, kwargs, details) => inbox.push({ args, kwargs, details }));
    assert.ok(isWampId(subscription.id));

    const publication = await pub.session.publish('com.example.ws.topic1', ['hello', 42], { k: 'v' },
      { acknowledge: true });
    assert.ok(isWampId(publication.id), 'PUBLISHED carries an integer publication id');

    const ev = await inbox.next(3000, 'EVENT for com.example.ws.topic1');
    assert.deepEqual(ev.args, ['hello', 42]);
    assert.deepEqual(ev.kwargs, { k: 'v' });
    assert.equal(ev.details.publication, publication.id);
    assert.equal(ev.details.topic, 'com.example.ws.topic1');
  });

  it('subscribe: every subscriber of a topic gets the same subscription id, and each gets the event', T, async () => {
    const s1 = await connect();
    const s2 = await connect();
    const pub = await connect();
    const in1 = new Inbox();
    const in2 = new Inbox();
    const sub1 = await s1.session.subscribe('com.example.ws.shared', (args) => in1.push(args));
    const sub2 = await s2.session.subscribe('com.example.ws.shared', (args) => in2.push(args));
    assert.equal(sub1.id, sub2.id, 'one subscription id per topic');
    await pub.session.publish('com.example.ws.shared', ['x'], {}, { acknowledge: true });
    assert.deepEqual(await in1.next(3000, 'event at subscriber 1'), ['x']);
    assert.deepEqual(await in2.next(3000, 'event at subscriber 2'), ['x']);
  });

  it('publisher exclusion: the publisher does not get its own event, unless exclude_me is false', T, async () => {
    const a = await connect();
    const b = await connect();
    const inA = new Inbox();
    const inB = new Inbox();
    await a.session.subscribe('com.example.ws.excl', (args) => inA.push(args[0]));
    await b.session.subscribe('com.example.ws.excl', (args) => inB.push(args[0]));

    await a.session.publish('com.example.ws.excl', ['default'], {}, { acknowledge: true });
    await a.session.publish('com.example.ws.excl', ['include-me'], {}, { acknowledge: true, exclude_me: false });

    assert.equal(await inB.next(3000, 'first event at B'), 'default');
    assert.equal(await inB.next(3000, 'second event at B'), 'include-me');
    // Messages to A arrive in order, so if A had received 'default' it would come first.
    assert.equal(await inA.next(3000, 'exclude_me:false event at A'), 'include-me',
      'the publisher got its own event although exclude_me was not false');
    assert.equal(inA.size, 0);
  });

  it('args/kwargs fidelity: max safe integers, unicode, nesting, [] vs {} survive publish → EVENT', T, async () => {
    const sub = await connect();
    const pub = await connect();
    const inbox = new Inbox();
    await sub.session.subscribe('com.example.ws.fidelity', (args, kwargs) => inbox.push({ args, kwargs }));
    await pub.session.publish('com.example.ws.fidelity', FIDELITY_ARGS, FIDELITY_KWARGS, { acknowledge: true });
    const ev = await inbox.next(3000, 'fidelity EVENT');
    assert.deepEqual(ev.args, FIDELITY_ARGS);
    assert.deepEqual(ev.kwargs, FIDELITY_KWARGS);
  });

  it('args/kwargs fidelity: the same values survive CALL → INVOCATION and YIELD → RESULT', T, async () => {
    const callee = await connect();
    const caller = await connect();
    let seen;
    await callee.session.register('com.example.ws.echo_fidelity', (args, kwargs) => {
      seen = { args, kwargs };
      return new autobahn.Result(args, kwargs);
    });
    const res = await caller.session.call('com.example.ws.echo_fidelity', FIDELITY_ARGS, FIDELITY_KWARGS);
    assert.deepEqual(seen.args, FIDELITY_ARGS, 'INVOCATION args');
    assert.deepEqual(seen.kwargs, FIDELITY_KWARGS, 'INVOCATION kwargs');
    assert.ok(res instanceof autobahn.Result);
    assert.deepEqual(res.args, FIDELITY_ARGS, 'RESULT args');
    assert.deepEqual(res.kwargs, FIDELITY_KWARGS, 'RESULT kwargs');
  });

  it('args fidelity: a string value containing U+0000 survives publish → EVENT and CALL → RESULT', T, async () => {
    const a = await connect();
    const b = await connect();
    const inbox = new Inbox();
    const value = ['nul:\u0000:end', { key: '\u0000' }];
    await a.session.subscribe('com.example.ws.nul', (args) => inbox.push(args));
    await a.session.register('com.example.ws.nul_echo', (args) => new autobahn.Result(args));
    await b.session.publish('com.example.ws.nul', value, {}, { acknowledge: true });
    assert.deepEqual(await inbox.next(3000, 'EVENT with U+0000'), value);
    const res = await b.session.call('com.example.ws.nul_echo', value);
    assert.deepEqual(res.args, value);
  });

  // Valid JSON, but jansson (moonbar's JSON library) cannot hold U+0000 in an object key:
  // moonbar answers ABORT protocol_violation. Kept visible as a known limitation.
  it('args fidelity: a dict key containing U+0000 survives publish → EVENT', {
    ...T, todo: 'jansson rejects NUL in object keys (moonbar ABORTs with protocol_violation)',
  }, async () => {
    const a = await connect();
    const b = await connect();
    const inbox = new Inbox();
    const kwargs = { 'k\u0000ey': 1 };
    await a.session.subscribe('com.example.ws.nul_key', (args, kw) => inbox.push(kw));
    await unlessClosed(b, b.session.publish('com.example.ws.nul_key', [], kwargs, { acknowledge: true }));
    assert.deepEqual(await inbox.next(3000, 'EVENT with U+0000 in a key'), kwargs);
  });

  it('register/call/result: a single result, a Result with args and kwargs, and no result', T, async () => {
    const callee = await connect();
    const caller = await connect();
    const reg = await callee.session.register('com.example.ws.add2', (args) => args[0] + args[1]);
    assert.ok(isWampId(reg.id));
    await callee.session.register('com.example.ws.split', (args, kwargs) =>
      new autobahn.Result([kwargs.s.length, kwargs.s.toUpperCase()], { words: kwargs.s.split(' ') }));
    await callee.session.register('com.example.ws.nothing', () => null);

    assert.equal(await caller.session.call('com.example.ws.add2', [2, 3]), 5);
    const r = await caller.session.call('com.example.ws.split', [], { s: 'to the moon' });
    assert.deepEqual(r.args, [11, 'TO THE MOON']);
    assert.deepEqual(r.kwargs, { words: ['to', 'the', 'moon'] });
    assert.equal(await caller.session.call('com.example.ws.nothing'), null);
  });

  it('register/call: many concurrent calls each get their own result', T, async () => {
    const callee = await connect();
    const caller = await connect();
    await callee.session.register('com.example.ws.square', async (args) => {
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      return args[0] * args[0];
    });
    const n = 200;
    const results = await withTimeout(
      Promise.all(Array.from({ length: n }, (_, i) => caller.session.call('com.example.ws.square', [i]))),
      10000, `${n} concurrent calls`);
    assert.deepEqual(results, Array.from({ length: n }, (_, i) => i * i));
  });

  it('callee error: autobahn.Error(uri, args, kwargs) reaches the caller with the same uri, args and kwargs', T, async () => {
    const callee = await connect();
    const caller = await connect();
    await callee.session.register('com.example.ws.fails', () => {
      throw new autobahn.Error('com.example.oops', [1, 2], { x: 3 });
    });
    await assert.rejects(caller.session.call('com.example.ws.fails', ['arg']), (err) => {
      assert.ok(err instanceof autobahn.Error, `got ${err}`);
      assert.equal(err.error, 'com.example.oops');
      assert.deepEqual(err.args, [1, 2]);
      assert.deepEqual(err.kwargs, { x: 3 });
      return true;
    });
  });

  it('no_such_procedure: calling an unregistered procedure fails with wamp.error.no_such_procedure', T, async () => {
    const caller = await connect();
    await assert.rejects(caller.session.call('com.example.ws.nobody_home', [1]), (err) => {
      assert.equal(err.error, 'wamp.error.no_such_procedure');
      return true;
    });
  });

  it('procedure_already_exists: a second session registering the same procedure is refused', T, async () => {
    const first = await connect();
    const second = await connect();
    await first.session.register('com.example.ws.taken', () => 'first');
    await assert.rejects(second.session.register('com.example.ws.taken', () => 'second'), (err) => {
      assert.equal(err.error, 'wamp.error.procedure_already_exists');
      return true;
    });
    assert.equal(await second.session.call('com.example.ws.taken'), 'first');
  });

  it('unregister/unsubscribe: after unregistering a procedure calls fail with no_such_procedure', T, async () => {
    const callee = await connect();
    const caller = await connect();
    const reg = await callee.session.register('com.example.ws.temp', () => 1);
    assert.equal(await caller.session.call('com.example.ws.temp'), 1);
    await callee.session.unregister(reg);
    await assert.rejects(caller.session.call('com.example.ws.temp'), (err) => {
      assert.equal(err.error, 'wamp.error.no_such_procedure');
      return true;
    });
    // The procedure is free again for another session.
    await caller.session.register('com.example.ws.temp', () => 2);
    assert.equal(await callee.session.call('com.example.ws.temp'), 2);

    const inbox = new Inbox();
    const sub = await callee.session.subscribe('com.example.ws.temp_topic', (args) => inbox.push(args[0]));
    await caller.session.publish('com.example.ws.temp_topic', ['before'], {}, { acknowledge: true });
    assert.equal(await inbox.next(3000, 'event before unsubscribe'), 'before');
    await callee.session.unsubscribe(sub);
    await caller.session.publish('com.example.ws.temp_topic', ['after'], {}, { acknowledge: true });
    // A round trip through the router after the publication: any EVENT would have come first.
    await callee.session.call('com.example.ws.temp');
    assert.equal(inbox.size, 0, 'no event after unsubscribe');
  });

  it('invalid_uri: subscribe, publish (acknowledged), register and reserved wamp. URIs are refused with wamp.error.invalid_uri', T, async () => {
    const { session } = await connect();
    const expectInvalid = (p, what) => assert.rejects(p, (err) => {
      assert.equal(err.error, 'wamp.error.invalid_uri', `${what}: got ${err.error}`);
      return true;
    }, what);
    await expectInvalid(session.subscribe('com..empty_component', () => {}), 'subscribe com..empty_component');
    await expectInvalid(session.subscribe('com.with space', () => {}), 'subscribe "com.with space"');
    await expectInvalid(session.publish('com.bad#hash', [], {}, { acknowledge: true }), 'publish com.bad#hash');
    await expectInvalid(session.publish('wamp.reserved.topic', [], {}, { acknowledge: true }), 'publish wamp.reserved.topic');
    await expectInvalid(session.register('.leading.dot', () => {}), 'register .leading.dot');
    await expectInvalid(session.register('wamp.reserved.proc', () => {}), 'register wamp.reserved.proc');
    // Subscribing to a wamp. topic is allowed.
    const sub = await session.subscribe('wamp.session.on_join', () => {});
    assert.ok(isWampId(sub.id));
    // The session is still usable.
    await session.register('com.example.ws.after_invalid', () => 'ok');
    assert.equal(await session.call('com.example.ws.after_invalid'), 'ok');
  });

  it('invalid_uri: calling a syntactically invalid procedure URI fails with wamp.error.invalid_uri', T, async () => {
    const { session } = await connect();
    await assert.rejects(session.call('com..bad.call'), (err) => {
      assert.equal(err.error, 'wamp.error.invalid_uri');
      return true;
    });
  });

  it('unknown realm: the connection fails with wamp.error.no_such_realm in onclose details', T, async () => {
    await assert.rejects(
      autobahnConnect({ transport: wsTransport(router), realm: 'no.such.realm' }),
      (err) => {
        assert.equal(err.details.reason, 'wamp.error.no_such_realm');
        assert.equal(typeof err.details.message, 'string');
        assert.ok(err.details.message.length > 0, 'ABORT carries a message');
        assert.equal(err.details.will_retry, false);
        return true;
      });
  });

  it('leave: GOODBYE is answered with wamp.close.goodbye_and_out and the connection closes', T, async () => {
    const c = await autobahnConnect({ transport: wsTransport(router) });
    c.connection.close('wamp.close.normal', 'test leaving');
    const { details } = await withTimeout(c.closed, 3000, 'connection to close after leave');
    assert.equal(details.reason, 'wamp.close.goodbye_and_out');
    assert.equal(c.session.isOpen, false);
  });

  it('leave: the procedures of a session that left are gone', T, async () => {
    const leaving = await autobahnConnect({ transport: wsTransport(router) });
    const other = await connect();
    await leaving.session.register('com.example.ws.left_proc', () => 'here');
    assert.equal(await other.session.call('com.example.ws.left_proc'), 'here');
    await leaving.close();
    await assert.rejects(other.session.call('com.example.ws.left_proc'), (err) => {
      assert.equal(err.error, 'wamp.error.no_such_procedure');
      return true;
    });
    // ... and free for another session to register.
    await other.session.register('com.example.ws.left_proc', () => 'mine now');
    assert.equal(await other.session.call('com.example.ws.left_proc'), 'mine now');
  });

  it('shutdown: SIGTERM sends every joined session GOODBYE wamp.close.system_shutdown; moonbar exits 0 within a second, no sanitizer report', T, async () => {
    const c = await connect();
    stopChecked = true;
    const { stopMs } = await router.stop();
    const { details } = await withTimeout(c.closed, 3000, 'the session to close after SIGTERM');
    assert.equal(details.reason, 'wamp.close.system_shutdown');
    for (const other of open) await withTimeout(other.closed, 3000, 'every session to be closed');
    assert.ok(stopMs < ms(1000), `moonbar took ${stopMs} ms to exit after SIGTERM`);
  });
});
