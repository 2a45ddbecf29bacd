// WAMP meta API with autobahn-js 22.11.1 (WebSocket and RawSocket): wamp.session.on_join /
// on_leave, wamp.session.count/list/get/kill, wamp.registration.list/get/match and
// wamp.subscription.match, checked against the sessions, registrations and subscriptions the
// tests create. The router runs with limits ping_interval = 1, ping_timeout = 1, so every
// client here also has to answer moonbar's liveness pings (WebSocket ping, RawSocket PING).
//
// Spec: wamp-proto rfc/text/advanced/ap_session_meta_api.md, ap_rpc_registration_meta_api.md,
// ap_pubsub_subscription_meta_api.md; moonbar: docs/behaviour.md "Meta API", "Liveness".

import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, withTimeout, ms, sleep } from './lib/moonbar.mjs';
import { autobahn, autobahnConnect, wsTransport, rsTransport, Inbox, isWampId } from './lib/clients.mjs';

const T = { timeout: ms(15000) };
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The WAMP error URI a promise rejects with; fails if it resolves. */
async function errorOf(promise) {
  try {
    const r = await promise;
    assert.fail(`expected a WAMP error, got ${JSON.stringify(r)}`);
  } catch (err) {
    if (!(err instanceof autobahn.Error)) throw err;
    return err.error;
  }
}

const sorted = (ids) => [...ids].sort((a, b) => a - b);

describe('autobahn-js and the meta API', () => {
  let router;
  const open = [];
  let stopChecked = false;

  async function connect(opts = {}) {
    const { rawsocket, ...rest } = opts;
    const c = await autobahnConnect({ transport: rawsocket ? rsTransport(router) : wsTransport(router), ...rest });
    open.push(c);
    return c;
  }

  async function closeAll() {
    for (const c of open.splice(0)) {
      if (c.session.isOpen) await c.close().catch(() => {});
    }
  }

  before(async () => {
    router = await startMoonbar({ limits: { ping_interval: 1, ping_timeout: 1 } });
  });

  afterEach(closeAll); // a failed test must not leave sessions behind for the next one

  after(async () => {
    await closeAll();
    if (router) await (stopChecked ? router.stop().catch(() => {}) : router.stop());
  });

  it('WELCOME announces the session, registration, subscription and testament meta features', T, async () => {
    const { details } = await connect();
    const broker = details.roles.broker.features;
    const dealer = details.roles.dealer.features;
    assert.equal(broker.session_meta_api, true);
    assert.equal(broker.subscription_meta_api, true);
    assert.equal(dealer.session_meta_api, true);
    assert.equal(dealer.registration_meta_api, true);
    assert.equal(dealer.testament_meta_api, true);
    await closeAll();
  });

  it('on_join carries session.get\'s details; on_leave [session, authid, authrole] follows GOODBYE and a lost connection', T, async () => {
    const w = await connect();
    const joins = new Inbox();
    const leaves = new Inbox();
    await w.session.subscribe('wamp.session.on_join', (args, kwargs) => joins.push({ args, kwargs }));
    await w.session.subscribe('wamp.session.on_leave', (args, kwargs) => leaves.push({ args, kwargs }));

    const a = await connect({ authid: 'js-alice' });
    const b = await connect({ authid: 'js-bob', rawsocket: true });
    const ja = await joins.next(3000, 'on_join of a');
    const jb = await joins.next(3000, 'on_join of b');
    assert.equal(ja.args.length, 1);
    assert.deepEqual(ja.kwargs, {});
    assert.deepEqual(ja.args[0], await w.session.call('wamp.session.get', [a.session.id]));
    assert.deepEqual(jb.args[0], await w.session.call('wamp.session.get', [b.session.id]));
    assert.equal(ja.args[0].session, a.session.id);
    assert.equal(ja.args[0].authid, 'js-alice');
    assert.equal(ja.args[0].authrole, 'anonymous');
    assert.equal(ja.args[0].authmethod, 'anonymous');
    assert.equal(ja.args[0].authprovider, 'static');
    assert.equal(ja.args[0].transport.type, 'websocket');
    assert.equal(jb.args[0].transport.type, 'rawsocket');
    assert.match(jb.args[0].transport.peer, /^127\.0\.0\.1:\d+$/);

    const [aId, bId] = [a.session.id, b.session.id]; // autobahn-js forgets them on close
    await a.close();
    const la = await leaves.next(3000, 'on_leave of a');
    assert.deepEqual(la.args, [aId, 'js-alice', 'anonymous']);
    b.connection._transport.close(); // no GOODBYE
    const lb = await leaves.next(3000, 'on_leave of b');
    assert.deepEqual(lb.args, [bId, 'js-bob', 'anonymous']);
    await sleep(ms(100));
    assert.equal(joins.size, 0);
    assert.equal(leaves.size, 0);
    await closeAll();
  });

  it('session.count / list / get follow joins and leaves; unknown ids are no_such_session', T, async () => {
    const a = await connect();
    assert.equal(await a.session.call('wamp.session.count'), 1);
    assert.deepEqual(await a.session.call('wamp.session.list'), [a.session.id]);
    const b = await connect({ rawsocket: true });
    const c = await connect({ authid: 'js-carol' });
    assert.equal(await a.session.call('wamp.session.count'), 3);
    assert.equal(await a.session.call('wamp.session.count', [['anonymous']]), 3);
    assert.equal(await a.session.call('wamp.session.count', [['trusted']]), 0);
    assert.deepEqual(sorted(await a.session.call('wamp.session.list')),
      sorted([a.session.id, b.session.id, c.session.id]));
    const d = await a.session.call('wamp.session.get', [c.session.id]);
    assert.deepEqual(Object.keys(d).sort(), ['authid', 'authmethod', 'authprovider', 'authrole', 'session', 'transport']);
    assert.equal(d.session, c.session.id);
    assert.equal(d.authid, 'js-carol');
    assert.equal(d.authid, c.details.authid);
    const bId = b.session.id;
    await b.close();
    assert.deepEqual(sorted(await a.session.call('wamp.session.list')), sorted([a.session.id, c.session.id]));
    assert.equal(await errorOf(a.session.call('wamp.session.get', [bId])), 'wamp.error.no_such_session');
    await closeAll();
  });

  it('registration.list groups ids by match policy; get describes them; match names the registration a call reaches', T, async () => {
    const callee = await connect({ rawsocket: true });
    const caller = await connect();
    const named = (name) => () => name;
    const regs = {};
    for (const [uri, options] of [['com.js.m.a.b', {}], ['com.js.m.a', { match: 'prefix' }],
      ['com.js.m.', { match: 'prefix', invoke: 'roundrobin' }], ['org.js..c', { match: 'wildcard' }]]) {
      regs[uri] = (await callee.session.register(uri, named(uri), options)).id;
    }
    const byId = Object.fromEntries(Object.entries(regs).map(([k, v]) => [v, k]));
    const list = await caller.session.call('wamp.registration.list');
    assert.deepEqual(Object.keys(list).sort(), ['exact', 'prefix', 'wildcard']);
    assert.deepEqual(list.exact, [regs['com.js.m.a.b']]);
    assert.deepEqual(sorted(list.prefix), sorted([regs['com.js.m.a'], regs['com.js.m.']]));
    assert.deepEqual(list.wildcard, [regs['org.js..c']]);

    const g = await caller.session.call('wamp.registration.get', [regs['com.js.m.']]);
    assert.equal(g.id, regs['com.js.m.']);
    assert.equal(g.uri, 'com.js.m.');
    assert.equal(g.match, 'prefix');
    assert.equal(g.invoke, 'roundrobin');
    assert.match(g.created, ISO_MS);
    assert.ok(Math.abs(Date.parse(g.created) - Date.now()) < 60000, g.created);
    assert.equal(await errorOf(caller.session.call('wamp.registration.get', [1])), 'wamp.error.no_such_registration');

    for (const uri of ['com.js.m.a.b', 'com.js.m.a.x', 'com.js.m.b', 'org.js.x.c']) {
      const id = await caller.session.call('wamp.registration.match', [uri]);
      assert.ok(isWampId(id), `${uri}: ${id}`);
      assert.equal(byId[id], await caller.session.call(uri), uri);
    }
    assert.equal(await caller.session.call('wamp.registration.match', ['org.js.c']), null);
    assert.equal(await errorOf(caller.session.call('org.js.c')), 'wamp.error.no_such_procedure');
    assert.equal(await caller.session.call('wamp.registration.lookup', ['com.js.m.a', { match: 'prefix' }]),
      regs['com.js.m.a']);
    await callee.close();
    assert.deepEqual(await caller.session.call('wamp.registration.list'), { exact: [], prefix: [], wildcard: [] });
    await closeAll();
  });

  it('subscription.match lists every subscription a publication reaches, or null', T, async () => {
    const sub = await connect({ rawsocket: true });
    const pub = await connect();
    const inboxes = {};
    for (const [uri, options] of [['com.js.s.a', {}], ['com.js.s.', { match: 'prefix' }],
      ['com.js..a', { match: 'wildcard' }], ['com.js.s.a', { match: 'prefix' }]]) {
      const inbox = new Inbox();
      const s = await sub.session.subscribe(uri, (args) => inbox.push(args), options);
      inboxes[s.id] = inbox;
    }
    for (const topic of ['com.js.s.a', 'com.js.s.b', 'com.js.x.a', 'com.js.s.a.b', 'org.none']) {
      await pub.session.publish(topic, [topic], {}, { acknowledge: true });
      await sub.session.call('wamp.session.count'); // events to sub come before this answer
      const reached = sorted(Object.entries(inboxes).filter(([, v]) => v.size > 0).map(([k]) => Number(k)));
      for (const inbox of Object.values(inboxes)) while (inbox.size) await inbox.next();
      const ids = await pub.session.call('wamp.subscription.match', [topic]);
      if (reached.length === 0) assert.equal(ids, null, topic);
      else assert.deepEqual(sorted(ids), reached, topic);
    }
    await closeAll();
  });

  it('session.kill: the victim gets GOODBYE with reason and message and closes; the others remain', T, async () => {
    const killer = await connect();
    const victim = await connect({ rawsocket: true });
    const bystander = await connect();
    const leaves = new Inbox();
    await bystander.session.subscribe('wamp.session.on_leave', (args) => leaves.push(args));
    await bystander.session.register('com.js.kill.alive', () => 'alive');

    const victimId = victim.session.id;
    assert.equal(await killer.session.call('wamp.session.kill', [victimId],
      { reason: 'com.example.js.kicked', message: 'bye from js' }), null);
    const closed = await withTimeout(victim.closed, 5000, 'the killed connection to close');
    assert.equal(closed.reason, 'closed');
    assert.equal(closed.details.reason, 'com.example.js.kicked');
    assert.equal(closed.details.message, 'bye from js');
    assert.deepEqual(await leaves.next(3000, 'on_leave of the victim'),
      [victimId, victim.details.authid, 'anonymous']);
    assert.deepEqual(sorted(await killer.session.call('wamp.session.list')),
      sorted([killer.session.id, bystander.session.id]));
    assert.equal(await killer.session.call('com.js.kill.alive'), 'alive');

    // own session, unknown session, bad reason
    assert.equal(await errorOf(killer.session.call('wamp.session.kill', [killer.session.id])), 'wamp.error.no_such_session');
    assert.equal(await errorOf(killer.session.call('wamp.session.kill', [victimId])), 'wamp.error.no_such_session');
    assert.equal(await errorOf(killer.session.call('wamp.session.kill', [bystander.session.id], { reason: 'not a uri' })),
      'wamp.error.invalid_uri');
    assert.ok(bystander.session.isOpen);

    // no kwargs: wamp.close.normal and no message
    await killer.session.call('wamp.session.kill', [bystander.session.id]);
    const c2 = await withTimeout(bystander.closed, 5000, 'the second killed connection to close');
    assert.equal(c2.details.reason, 'wamp.close.normal');
    assert.equal(c2.details.message, '');
    assert.ok(killer.session.isOpen);
    await closeAll();
  });

  it('idle autobahn-js clients answer liveness pings over WebSocket and RawSocket and stay joined', T, async () => {
    const ws = await connect();
    const rs = await connect({ rawsocket: true });
    await sleep(2600); // more than ping_interval + ping_timeout without WAMP traffic
    assert.ok(ws.session.isOpen && rs.session.isOpen);
    assert.deepEqual(sorted(await ws.session.call('wamp.session.list')), sorted([ws.session.id, rs.session.id]));
    assert.doesNotMatch(router.stderr(), /no answer to a ping/);
    await closeAll();
  });

  it('SIGTERM: moonbar exits 0 without sanitizer findings', T, async () => {
    stopChecked = true;
    const { code } = await router.stop();
    assert.equal(code, 0);
  });
});
