// autobahn-js 22.11.1 against moonbar: the Advanced Profile's pub/sub (docs/behaviour.md "Advanced Profile"):
// black/whitelisting by session and authrole combined with exclude_me, publisher
// identification (disclose_me), event retention (retain / get_retained) and event history
// (wamp.subscription.get_events).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startMoonbar, ms } from './lib/moonbar.mjs';
import { autobahnConnect, wsTransport, rsTransport, Inbox } from './lib/clients.mjs';

const T = { timeout: ms(10000) };
const uid = () => 'u' + randomBytes(5).toString('hex');
const ACK = { acknowledge: true };

describe('autobahn-js: advanced publish and subscribe', () => {
  let router;
  const open = [];

  async function connect(transport = 'websocket') {
    const c = await autobahnConnect({
      transport: transport === 'websocket' ? wsTransport(router) : rsTransport(router),
    });
    open.push(c);
    return c;
  }

  /** A subscriber of topic; returns { c, inbox } (inbox items: { arg, details }). */
  async function subscriber(topic, options = {}, transport = 'websocket') {
    const c = await connect(transport);
    const inbox = new Inbox();
    await c.session.subscribe(topic, (args, kwargs, details) => inbox.push({ arg: args[0], kwargs, details }),
      options);
    return { c, inbox };
  }

  /** Publishes a marker and returns the args each inbox got before it. */
  async function untilMarker(pub, topic, inboxes) {
    await pub.session.publish(topic, ['--marker--'], {}, { acknowledge: true, exclude_me: false });
    const out = [];
    for (const inbox of inboxes) {
      const got = [];
      for (;;) {
        const e = await inbox.next(3000, 'events up to the marker');
        if (e.arg === '--marker--') break;
        got.push(e.arg);
      }
      out.push(got);
    }
    return out;
  }

  before(async () => {
    router = await startMoonbar({
      realms: [{ name: 'realm1', history: [{ uri: 'com.jsadv.hist.', match: 'prefix', limit: 5 }] }],
      limits: { max_retained_topics: 100 },
    });
  });

  after(async () => {
    for (const c of open) {
      if (c.session.isOpen) await c.close().catch(() => {});
    }
    if (router) await router.stop(); // exit 0, no sanitizer report
  });

  it('eligible, exclude and authrole lists combine with exclude_me: a receiver passes every filter', T, async () => {
    const topic = `com.jsadv.lists.${uid()}`;
    const a = await subscriber(topic);
    const b = await subscriber(topic, {}, 'rawsocket');
    const c = await subscriber(topic);
    const pub = await connect();
    await pub.session.subscribe(topic, () => {});
    const [ida, idb, idc] = [a.c.session.id, b.c.session.id, c.c.session.id];
    await pub.session.publish(topic, ['a+c'], {}, { ...ACK, eligible: [ida, idb, idc], exclude: [idb] });
    await pub.session.publish(topic, ['none'], {}, { ...ACK, eligible: [ida], exclude_authrole: ['anonymous'] });
    await pub.session.publish(topic, ['all anonymous'], {}, { ...ACK, eligible_authrole: ['anonymous'] });
    await pub.session.publish(topic, ['b'], {}, { ...ACK, eligible: [idb, pub.session.id], eligible_authrole: ['anonymous'] });
    const [ga, gb, gc] = await untilMarker(pub, topic, [a.inbox, b.inbox, c.inbox]);
    assert.deepEqual(ga, ['a+c', 'all anonymous']);
    assert.deepEqual(gb, ['all anonymous', 'b']);
    assert.deepEqual(gc, ['a+c', 'all anonymous']);
  });

  it('a bad authid list is refused with wamp.error.invalid_argument and a message', T, async () => {
    const pub = await connect();
    await assert.rejects(pub.session.publish(`com.jsadv.bad.${uid()}`, [1], {}, { ...ACK, eligible_authid: 'x' }),
      (err) => err.error === 'wamp.error.invalid_argument' &&
        err.args[0] === 'Options.eligible_authid must be a list of authids (strings)');
  });

  it('disclose_me: details carry publisher, publisher_authid and publisher_authrole', T, async () => {
    const topic = `com.jsadv.disclose.${uid()}`;
    const s = await subscriber(topic);
    const pub = await connect();
    await pub.session.publish(topic, ['who'], {}, { ...ACK, disclose_me: true });
    await pub.session.publish(topic, ['anon'], {}, ACK);
    const e1 = await s.inbox.next(3000, 'disclosed event');
    const e2 = await s.inbox.next(3000, 'plain event');
    assert.equal(e1.details.publisher, pub.session.id);
    assert.equal(e1.details.publisher_authid, pub.details.authid);
    assert.equal(e1.details.publisher_authrole, 'anonymous');
    assert.equal(e2.details.publisher, undefined);
  });

  it('retain / get_retained: the last retained event comes right after subscribing, marked retained', T, async () => {
    const topic = `com.jsadv.ret.${uid()}`;
    const pub = await connect();
    await pub.session.publish(topic, ['old'], {}, { ...ACK, retain: true });
    await pub.session.publish(topic, ['kept'], { n: 1 }, { ...ACK, retain: true });
    await pub.session.publish(topic, ['not retained'], {}, ACK);
    const s = await subscriber(topic, { get_retained: true }, 'rawsocket');
    const e = await s.inbox.next(3000, 'retained event');
    assert.equal(e.arg, 'kept');
    assert.deepEqual(e.kwargs, { n: 1 });
    assert.equal(e.details.retained, true);
    const p = await subscriber(`com.jsadv.ret.`, { match: 'prefix', get_retained: true });
    const ep = await p.inbox.next(3000, 'retained event on a prefix subscription');
    assert.equal(ep.details.retained, true);
    assert.equal(ep.details.topic.startsWith('com.jsadv.ret.'), true);
    const [live] = await untilMarker(pub, topic, [s.inbox]);
    assert.deepEqual(live, []);
  });

  it('a retained event with an eligible list is not sent to a subscriber outside it', T, async () => {
    const topic = `com.jsadv.reteli.${uid()}`;
    const pub = await connect();
    await pub.session.publish(topic, ['secret'], {}, { ...ACK, retain: true, eligible: [pub.session.id] });
    const s = await subscriber(topic, { get_retained: true });
    const [got] = await untilMarker(pub, topic, [s.inbox]);
    assert.deepEqual(got, []);
  });

  it('wamp.subscription.get_events returns the history with the spec record schema', T, async () => {
    const topic = `com.jsadv.hist.${uid()}`;
    const pub = await connect();
    for (let i = 0; i < 7; i++) await pub.session.publish(topic, [i], {}, ACK);
    await pub.session.publish(topic, ['session list'], {}, { ...ACK, exclude: [pub.session.id] }); // not stored
    const c = await connect();
    const sub = await c.session.subscribe(topic, () => {});
    const all = await c.session.call('wamp.subscription.get_events', [sub.id]);
    assert.deepEqual(all.map((e) => e.args[0]), [2, 3, 4, 5, 6]); // the ring keeps 5
    assert.deepEqual(Object.keys(all[0]).sort(), ['args', 'details', 'kwargs', 'publication', 'subscription', 'timestamp', 'topic']);
    assert.equal(all[0].subscription, sub.id);
    assert.deepEqual(all[0].kwargs, {}); // autobahn-js sent an empty ArgumentsKw
    assert.match(all[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // the Crossbar form (subscription, limit): newest first, as Crossbar users read history[0]
    const last = await c.session.call('wamp.subscription.get_events', [sub.id, 2]);
    assert.deepEqual(last.map((e) => e.args[0]), [6, 5]);
    const none = await c.session.subscribe(`com.jsadv.nohist.${uid()}`, () => {});
    await assert.rejects(c.session.call('wamp.subscription.get_events', [none.id]),
      (err) => err.error === 'wamp.error.history_unavailable');
  });
});
