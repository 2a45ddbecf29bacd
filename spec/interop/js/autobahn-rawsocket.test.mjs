// autobahn-js 22.11.1 against moonbar over RawSocket (node's net, JSON serializer),
// and mixed with WebSocket peers on the same realm.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, withTimeout, ms } from './lib/moonbar.mjs';
import { autobahn, autobahnConnect, rsTransport, wsTransport, Inbox, isWampId } from './lib/clients.mjs';
import { FIDELITY_ARGS, FIDELITY_KWARGS } from './lib/payloads.mjs';

const T = { timeout: ms(10000) };

describe('autobahn-js over RawSocket', () => {
  let router;
  const open = [];
  let stopChecked = false;

  async function connect(transport = rsTransport(router), opts = {}) {
    const c = await autobahnConnect({ transport, ...opts });
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

  it('join: WELCOME over RawSocket has authrole anonymous and an integer session id', T, async () => {
    const { session, details } = await connect();
    assert.ok(isWampId(session.id), `session id ${session.id} is an integer in [1, 2^53]`);
    assert.equal(details.realm, 'realm1');
    assert.equal(details.authrole, 'anonymous');
    assert.equal(details.authmethod, 'anonymous');
    assert.equal(details.transport.type, 'rawsocket');
    assert.equal(details.roles.broker.features.publisher_exclusion, true);
  });

  it('pub/sub with acknowledge between two RawSocket sessions, publisher excluded by default', T, async () => {
    const sub = await connect();
    const pub = await connect();
    const inSub = new Inbox();
    const inPub = new Inbox();
    await sub.session.subscribe('com.example.rs.topic', (args, kwargs, details) =>
      inSub.push({ args, kwargs, details }));
    await pub.session.subscribe('com.example.rs.topic', (args) => inPub.push(args[0]));

    const publication = await pub.session.publish('com.example.rs.topic', ['hi', 1], { from: 'rs' },
      { acknowledge: true });
    assert.ok(isWampId(publication.id));
    const ev = await inSub.next(3000, 'EVENT over RawSocket');
    assert.deepEqual(ev.args, ['hi', 1]);
    assert.deepEqual(ev.kwargs, { from: 'rs' });
    assert.equal(ev.details.publication, publication.id);

    await pub.session.publish('com.example.rs.topic', ['mine'], {}, { acknowledge: true, exclude_me: false });
    assert.equal(await inPub.next(3000, 'exclude_me:false event at the publisher'), 'mine');
    assert.equal(inPub.size, 0);
  });

  it('args/kwargs fidelity over RawSocket: publish → EVENT and CALL → RESULT', T, async () => {
    const a = await connect();
    const b = await connect();
    const inbox = new Inbox();
    await a.session.subscribe('com.example.rs.fidelity', (args, kwargs) => inbox.push({ args, kwargs }));
    await a.session.register('com.example.rs.echo', (args, kwargs) => new autobahn.Result(args, kwargs));
    await b.session.publish('com.example.rs.fidelity', FIDELITY_ARGS, FIDELITY_KWARGS, { acknowledge: true });
    const ev = await inbox.next(3000, 'fidelity EVENT');
    assert.deepEqual(ev.args, FIDELITY_ARGS);
    assert.deepEqual(ev.kwargs, FIDELITY_KWARGS);
    const res = await b.session.call('com.example.rs.echo', FIDELITY_ARGS, FIDELITY_KWARGS);
    assert.deepEqual(res.args, FIDELITY_ARGS);
    assert.deepEqual(res.kwargs, FIDELITY_KWARGS);
  });

  it('register/call/result between two RawSocket sessions', T, async () => {
    const callee = await connect();
    const caller = await connect();
    await callee.session.register('com.example.rs.mul', (args) => args[0] * args[1]);
    assert.equal(await caller.session.call('com.example.rs.mul', [6, 7]), 42);
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => caller.session.call('com.example.rs.mul', [i, i])));
    assert.deepEqual(results, [1, 4, 9, 16, 25]);
  });

  it('callee error over RawSocket: autobahn.Error uri/args/kwargs reach the caller', T, async () => {
    const callee = await connect();
    const caller = await connect();
    await callee.session.register('com.example.rs.fails', () => {
      throw new autobahn.Error('com.example.oops', [1, 2], { x: 3 });
    });
    await assert.rejects(caller.session.call('com.example.rs.fails'), (err) => {
      assert.ok(err instanceof autobahn.Error, `got ${err}`);
      assert.equal(err.error, 'com.example.oops');
      assert.deepEqual(err.args, [1, 2]);
      assert.deepEqual(err.kwargs, { x: 3 });
      return true;
    });
  });

  it('no_such_procedure and procedure_already_exists over RawSocket', T, async () => {
    const a = await connect();
    const b = await connect();
    await assert.rejects(a.session.call('com.example.rs.nobody'), (err) => {
      assert.equal(err.error, 'wamp.error.no_such_procedure');
      return true;
    });
    await a.session.register('com.example.rs.taken', () => 'a');
    await assert.rejects(b.session.register('com.example.rs.taken', () => 'b'), (err) => {
      assert.equal(err.error, 'wamp.error.procedure_already_exists');
      return true;
    });
  });

  it('RawSocket and WebSocket sessions share the realm: calls and events cross transports', T, async () => {
    const rs = await connect();
    const ws = await connect(wsTransport(router));
    const inRs = new Inbox();
    const inWs = new Inbox();
    await rs.session.register('com.example.mixed_transport.rs_proc', (args) => `rs:${args[0]}`);
    await ws.session.register('com.example.mixed_transport.ws_proc', (args) => `ws:${args[0]}`);
    await rs.session.subscribe('com.example.mixed_transport.topic', (args) => inRs.push(args[0]));
    await ws.session.subscribe('com.example.mixed_transport.topic', (args) => inWs.push(args[0]));

    assert.equal(await ws.session.call('com.example.mixed_transport.rs_proc', ['x']), 'rs:x');
    assert.equal(await rs.session.call('com.example.mixed_transport.ws_proc', ['y']), 'ws:y');
    await ws.session.publish('com.example.mixed_transport.topic', ['from-ws'], {}, { acknowledge: true });
    await rs.session.publish('com.example.mixed_transport.topic', ['from-rs'], {}, { acknowledge: true });
    assert.equal(await inRs.next(3000, 'WebSocket → RawSocket event'), 'from-ws');
    assert.equal(await inWs.next(3000, 'RawSocket → WebSocket event'), 'from-rs');
  });

  it('unknown realm over RawSocket: the connection fails with wamp.error.no_such_realm', T, async () => {
    await assert.rejects(autobahnConnect({ transport: rsTransport(router), realm: 'no.such.realm' }), (err) => {
      assert.equal(err.details.reason, 'wamp.error.no_such_realm');
      return true;
    });
  });

  it('leave over RawSocket: GOODBYE is answered with wamp.close.goodbye_and_out', T, async () => {
    const c = await autobahnConnect({ transport: rsTransport(router) });
    c.connection.close();
    const { details } = await withTimeout(c.closed, 3000, 'RawSocket connection to close after leave');
    assert.equal(details.reason, 'wamp.close.goodbye_and_out');
  });

  it('shutdown: SIGTERM sends every joined RawSocket session GOODBYE wamp.close.system_shutdown; moonbar exits 0 within a second, no sanitizer report', T, async () => {
    const c = await connect();
    stopChecked = true;
    const { stopMs } = await router.stop();
    const { details } = await withTimeout(c.closed, 3000, 'the session to close after SIGTERM');
    assert.equal(details.reason, 'wamp.close.system_shutdown');
    for (const other of open) await withTimeout(other.closed, 3000, 'every session to be closed');
    assert.ok(stopMs < ms(1000), `moonbar took ${stopMs} ms to exit after SIGTERM`);
  });
});
