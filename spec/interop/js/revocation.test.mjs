// Registration and subscription revocation with autobahn-js 22.11.1 (which announces
// callee.registration_revocation and subscriber.subscription_revocation): another session
// calls wamp.registration.remove_callee / wamp.subscription.remove_subscriber, the removed
// peer's Registration.on_unregister / Subscription.on_unsubscribe resolves with the reason,
// its session stays open, and it gets no more invocations or events.
//
// Spec: wamp-proto rfc/text/advanced/ap_rpc_registration_revocation.md,
// ap_pubsub_subscription_revocation.md; moonbar: docs/behaviour.md "Advanced Profile".

import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, withTimeout, ms, sleep } from './lib/moonbar.mjs';
import { autobahnConnect, wsTransport, rsTransport, Inbox } from './lib/clients.mjs';

const T = { timeout: ms(15000) };

describe('autobahn-js and revocation', () => {
  let router;
  const open = [];

  async function connect(rawsocket = false) {
    const c = await autobahnConnect({ transport: rawsocket ? rsTransport(router) : wsTransport(router) });
    open.push(c);
    return c;
  }

  before(async () => {
    router = await startMoonbar();
  });

  afterEach(async () => {
    for (const c of open.splice(0)) if (c.session.isOpen) await c.close().catch(() => {});
  });

  after(async () => {
    if (router) await router.stop();
  });

  it('WELCOME announces subscription_revocation and registration_revocation', T, async () => {
    const c = await connect();
    assert.equal(c.details.roles.broker.features.subscription_revocation, true);
    assert.equal(c.details.roles.dealer.features.registration_revocation, true);
  });

  for (const rawsocket of [false, true]) {
    const over = rawsocket ? 'RawSocket' : 'WebSocket';

    it(`a removed subscriber hears it with the reason and gets no more events (${over})`, T, async () => {
      const gone = await connect(rawsocket);
      const admin = await connect();
      const events = new Inbox();
      const sub = await gone.session.subscribe('com.rvjs.t', (args) => events.push(args));
      await admin.session.call('wamp.subscription.remove_subscriber', [sub.id, gone.session.id],
        { reason: 'com.example.moderated' });
      const reason = await withTimeout(sub.on_unsubscribe, ms(3000), 'on_unsubscribe');
      assert.equal(reason, 'com.example.moderated');
      assert.equal(sub.active, false);
      await admin.session.publish('com.rvjs.t', ['after'], {}, { acknowledge: true });
      await sleep(ms(100));
      assert.equal(events.size, 0, 'a removed subscriber still got events');
      assert.equal(gone.session.isOpen, true);
      // it may subscribe again (a new subscription: the removed one had no other subscriber)
      await gone.session.subscribe('com.rvjs.t', (args) => events.push(args));
      await admin.session.publish('com.rvjs.t', ['back'], {}, { acknowledge: true });
      assert.deepEqual(await events.next(ms(3000)), ['back']);
    });

    it(`a removed callee hears it and the next calls fail or go elsewhere (${over})`, T, async () => {
      const gone = await connect(rawsocket);
      const admin = await connect();
      const reg = await gone.session.register('com.rvjs.p', () => 'gone');
      await admin.session.call('wamp.registration.remove_callee', [reg.id, gone.session.id],
        { reason: 'com.example.moved' });
      assert.equal(await withTimeout(reg.on_unregister, ms(3000), 'on_unregister'), 'com.example.moved');
      await assert.rejects(admin.session.call('com.rvjs.p'), (err) => err.error === 'wamp.error.no_such_procedure');
      assert.equal(gone.session.isOpen, true);
    });
  }
});
