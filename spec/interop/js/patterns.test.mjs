// autobahn-js 22.11.1 against moonbar: pattern-based subscriptions/registrations and shared
// registrations (docs/behaviour.md, M2 sections).
//
// autobahn-js fills EVENT details.topic / INVOCATION details.procedure with the pattern
// itself when the router leaves them out, so comparing them with the concrete URI (which
// differs from the pattern) shows that moonbar sent them.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startMoonbar, ms } from './lib/moonbar.mjs';
import { autobahnConnect, wsTransport, rsTransport, Inbox } from './lib/clients.mjs';

const T = { timeout: ms(10000) };
const uid = () => 'u' + randomBytes(5).toString('hex');

describe('autobahn-js: pattern-based subscriptions, registrations and shared registrations', () => {
  let router;
  const open = [];

  async function connect(transport = 'websocket') {
    const c = await autobahnConnect({
      transport: transport === 'websocket' ? wsTransport(router) : rsTransport(router),
    });
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
    if (router) await router.stop(); // exit 0, no sanitizer report
  });

  /** Subscribes `pattern` with `match`, publishes `topics` then a marker; returns what arrived. */
  async function delivered(pattern, match, topics) {
    const sub = await connect();
    const pub = await connect();
    const inbox = new Inbox();
    const marker = new Inbox();
    const markerTopic = `com.jspat.marker.${uid()}`;
    const subscription = await sub.session.subscribe(pattern,
      (args, kwargs, details, sub) => inbox.push({ arg: args[0], details, subId: sub.id }), { match });
    await sub.session.subscribe(markerTopic, () => marker.push(true));
    for (const t of topics) await pub.session.publish(t, [t], {}, { acknowledge: true });
    await pub.session.publish(markerTopic, [], {}, { acknowledge: true });
    await marker.next(3000, 'marker event');
    return { subscription, got: inbox.items };
  }

  it('WELCOME announces pattern_based_subscription, pattern_based_registration, shared_registration and publisher_exclusion', T, async () => {
    const { details } = await connect();
    assert.equal(details.roles.broker.features.pattern_based_subscription, true);
    assert.equal(details.roles.broker.features.publisher_exclusion, true);
    assert.equal(details.roles.dealer.features.pattern_based_registration, true);
    assert.equal(details.roles.dealer.features.shared_registration, true);
  });

  it('prefix subscription: gets the topic itself and every longer topic, details.topic is the published topic', T, async () => {
    const b = `debut.du.nom.du.topic.${uid()}`;
    const { subscription, got } = await delivered(b, 'prefix',
      [`${b}.genial`, b, `${b}-x`, b.slice(0, -1), `autre.${b}`]);
    assert.deepEqual(got.map((e) => e.arg), [`${b}.genial`, b, `${b}-x`]);
    for (const e of got) {
      assert.equal(e.details.topic, e.arg, 'EVENT details.topic is the concrete topic');
      assert.equal(e.subId, subscription.id);
    }
  });

  it('prefix subscription with a trailing dot: a chess log gets every game\'s moves, not chess.gamex', T, async () => {
    const z = uid();
    const { got } = await delivered(`chess.${z}.game.`, 'prefix',
      [`chess.${z}.game.1.move`, `chess.${z}.game.42.move`, `chess.${z}.gamex`, `chess.${z}.game`]);
    assert.deepEqual(got.map((e) => [e.arg, e.details.topic]),
      [[`chess.${z}.game.1.move`, `chess.${z}.game.1.move`],
        [`chess.${z}.game.42.move`, `chess.${z}.game.42.move`]]);
  });

  it('wildcard subscription: one component per empty component, details.topic is the published topic', T, async () => {
    const z = uid();
    const { got } = await delivered(`nom.${z}.topic..general`, 'wildcard', [
      `nom.${z}.topic.moins.general`,
      `nom.${z}.topic.general`,
      `nom.${z}.topic.a.b.general`,
      `nom.${z}.topic.plus.general`,
    ]);
    assert.deepEqual(got.map((e) => [e.arg, e.details.topic]),
      [[`nom.${z}.topic.moins.general`, `nom.${z}.topic.moins.general`],
        [`nom.${z}.topic.plus.general`, `nom.${z}.topic.plus.general`]]);
  });

  it('leading, trailing and consecutive wildcards', T, async () => {
    const z = uid();
    const cases = [
      [`..${z}`, [`a.b.${z}`], [`a.${z}`, `a.b.c.${z}`]],
      [`${z}..`, [`${z}.b.c`], [`${z}.b`, `${z}.b.c.d`]],
      [`${z}...d`, [`${z}.b.c.d`], [`${z}.b.d`, `${z}.b.c.e.d`]],
    ];
    for (const [pattern, yes, no] of cases) {
      const { got } = await delivered(pattern, 'wildcard', [...yes, ...no]);
      assert.deepEqual(got.map((e) => e.arg), yes, `pattern ${pattern}`);
    }
  });

  it('one session with matching exact, prefix and wildcard subscriptions gets 3 events, one publication', T, async () => {
    const b = `com.jspat.three.${uid()}`;
    const sub = await connect();
    const pub = await connect();
    const inbox = new Inbox();
    // autobahn-js passes the Subscription as the handler's 4th argument
    const push = (args, kwargs, details, sub) => inbox.push({ publication: details.publication, subId: sub.id });
    const subs = [
      await sub.session.subscribe(`${b}.x.y`, push),
      await sub.session.subscribe(`${b}.x`, push, { match: 'prefix' }),
      await sub.session.subscribe(`${b}..y`, push, { match: 'wildcard' }),
    ];
    assert.equal(new Set(subs.map((s) => s.id)).size, 3, 'three distinct subscriptions');
    const publication = await pub.session.publish(`${b}.x.y`, [], {}, { acknowledge: true });
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await inbox.next(3000, `event ${i + 1} of 3`));
    assert.deepEqual(got.map((d) => d.subId).sort(), subs.map((s) => s.id).sort());
    for (const d of got) assert.equal(d.publication, publication.id);
  });

  it('pattern registrations: details.procedure is the called URI; exact beats prefix beats wildcard', T, async () => {
    const b = `com.jspat.reg.${uid()}`;
    const callee = await connect('rawsocket');
    const caller = await connect();
    const report = (name) => (args, kwargs, details) => [name, details.procedure];
    await callee.session.register(`${b}.a.b`, report('exact'));
    const prefix = await callee.session.register(`${b}.`, report('prefix'), { match: 'prefix' });
    await callee.session.register(`${b}..b`, report('wildcard'), { match: 'wildcard' });
    assert.deepEqual(await caller.session.call(`${b}.a.b`), ['exact', `${b}.a.b`]);
    assert.deepEqual(await caller.session.call(`${b}.c.b`), ['prefix', `${b}.c.b`]);
    assert.deepEqual(await caller.session.call(`${b}.c.d.e`), ['prefix', `${b}.c.d.e`]);
    await prefix.unregister();
    assert.deepEqual(await caller.session.call(`${b}.c.b`), ['wildcard', `${b}.c.b`]);
    await assert.rejects(caller.session.call(`${b}.c.d.e`), (err) => {
      assert.equal(err.error, 'wamp.error.no_such_procedure');
      return true;
    });
  });

  it('roundrobin across two autobahn-js callees: calls alternate, one shared registration ID', T, async () => {
    const p = `com.jspat.rr.${uid()}`;
    const a = await connect();
    const b = await connect('rawsocket');
    const caller = await connect();
    const ra = await a.session.register(p, () => 'a', { invoke: 'roundrobin' });
    const rb = await b.session.register(p, () => 'b', { invoke: 'roundrobin' });
    assert.equal(ra.id, rb.id, 'callees of a shared registration share its ID');
    const seq = [];
    for (let i = 0; i < 10; i++) seq.push(await caller.session.call(p));
    assert.equal(seq.filter((x) => x === 'a').length, 5, seq.join(','));
    for (let i = 1; i < seq.length; i++) assert.notEqual(seq[i], seq[i - 1], `roundrobin: ${seq.join(',')}`);
    // a policy other than roundrobin is refused
    const c = await connect();
    await assert.rejects(c.session.register(p, () => 'c', { invoke: 'first' }), (err) => {
      assert.equal(err.error, 'wamp.error.procedure_exists_with_different_invocation_policy');
      return true;
    });
  });

  it('zero-downtime upgrade with invoke "last": v2 takes over, and when v2 leaves calls go back to v1', T, async () => {
    const p = `com.jspat.upgrade.${uid()}`;
    const caller = await connect();
    const v1 = await connect();
    await v1.session.register(p, () => 'v1', { invoke: 'last' });
    assert.equal(await caller.session.call(p), 'v1');
    const v2 = await connect('rawsocket');
    await v2.session.register(p, () => 'v2', { invoke: 'last' });
    for (let i = 0; i < 3; i++) assert.equal(await caller.session.call(p), 'v2');
    await v2.close();
    for (let i = 0; i < 3; i++) assert.equal(await caller.session.call(p), 'v1');
  });

  it('upgrade with invoke "first": v1 keeps the calls until it leaves, then v2 answers', T, async () => {
    const p = `com.jspat.upgradefirst.${uid()}`;
    const caller = await connect();
    const v1 = await connect();
    await v1.session.register(p, () => 'v1', { invoke: 'first' });
    const v2 = await connect();
    await v2.session.register(p, () => 'v2', { invoke: 'first' });
    assert.equal(await caller.session.call(p), 'v1');
    await v1.close();
    assert.equal(await caller.session.call(p), 'v2');
  });
});
