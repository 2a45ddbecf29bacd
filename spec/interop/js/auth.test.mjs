// Authentication and static roles from the config (realms[i].auth / roles, M10) with
// autobahn-js 22.11.1 over WebSocket and RawSocket and wampy 8.0.2 over WebSocket: anonymous,
// ticket, WAMP-CRA (plain and salted) and WAMP-Cryptosign; every refusal with its ABORT reason
// and a message; requests outside the session's role refused with wamp.error.not_authorized.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sign as wampyCraSign } from 'wampy/wampcra.js';
import { sign as wampyCryptosignSign } from 'wampy/cryptosign.js';
import { Errors } from 'wampy';
import { startMoonbar, ms, withTimeout } from './lib/moonbar.mjs';
import {
  autobahn, autobahnConnect, wampyConnect, rsTransport, wsTransport, Inbox, isWampId,
} from './lib/clients.mjs';

const T = { timeout: ms(10000) };

// tweetnacl as autobahn-js exports it: package.json does not list tweetnacl itself
const nacl = autobahn.nacl;
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const CAROL = nacl.sign.keyPair();
const ERIN = nacl.sign.keyPair(); // a key nobody configured
const DAVE_KEY = autobahn.auth_cra.derive_key('dave-password', 'salt1', 1000, 32);
const FRANK_KEY = autobahn.auth_cra.derive_key('frank-password', 'frank-salt', 10, 16);

const AUTH = {
  anonymous: { role: 'guest' },
  ticket: { users: { alice: { ticket: 'alice-ticket', role: 'admin' },
                     zoe: { ticket: 'zoe-ticket', role: 'user' } } },
  wampcra: { users: {
    bob: { secret: 'bob-secret', role: 'user' },
    dave: { secret: DAVE_KEY, salt: 'salt1', iterations: 1000, keylen: 32, role: 'user' },
    frank: { secret: FRANK_KEY, salt: 'frank-salt', iterations: 10, keylen: 16, role: 'admin' },
  } },
  cryptosign: { users: { carol: { pubkeys: [hex(CAROL.publicKey)], role: 'user' } } },
};
const ROLES = {
  admin: [{ uri: '', match: 'prefix', allow: '*' }],
  user: [{ uri: 'com.', match: 'prefix', allow: ['call', 'register', 'publish', 'subscribe'] }],
  // no register: the rules are per action
  guest: [{ uri: 'com.public.', match: 'prefix', allow: ['call', 'publish', 'subscribe'] }],
};
// What each role reaches: the helper (alice, admin) registers <prefix>echo and subscribes to
// <prefix>news for each. admin's prefix is outside com., so only admin reaches it.
const PREFIX = { guest: 'com.public.', user: 'com.example.', admin: 'org.example.' };

// the first argument of onchallenge is the session: these take (method, extra)
const ticket = (t) => (_session, method) => {
  assert.equal(method, 'ticket');
  return t;
};
const wampcra = (password) => (_session, method, extra) => {
  assert.equal(method, 'wampcra');
  const key = extra.salt
    ? autobahn.auth_cra.derive_key(password, extra.salt, extra.iterations, extra.keylen)
    : password;
  return autobahn.auth_cra.sign(key, extra.challenge);
};
const cryptosign = (keyPair) => (_session, method, extra) => {
  assert.equal(method, 'cryptosign');
  return autobahn.auth_cryptosign.sign_challenge(keyPair, extra);
};

describe('authentication and roles from the config', () => {
  let router;
  let helper; // alice (admin): the callee and subscriber every role is checked against
  const news = new Inbox();
  const open = [];
  let stopChecked = false;

  async function connect(transport, opts = {}) {
    const c = await autobahnConnect({ transport, ...opts });
    open.push(c);
    return c;
  }

  /** Expects the join to end in ABORT `reason` with a non-empty message; returns the message. */
  async function joinFails(transport, opts, reason) {
    let err = null;
    try {
      const c = await autobahnConnect({ transport, ...opts });
      open.push(c);
    } catch (e) {
      err = e;
    }
    assert.ok(err, `joined as ${opts.authid}; want ABORT ${reason}`);
    assert.ok(err.details, `no close details: ${err.message}`);
    assert.equal(err.details.reason, reason, `ABORT reason; message: ${err.details.message}`);
    assert.equal(typeof err.details.message, 'string');
    assert.ok(err.details.message.length > 0, 'ABORT details.message is empty');
    return err.details.message;
  }

  const notAuthorized = (err) => {
    assert.ok(err instanceof autobahn.Error, `got ${err}`);
    assert.equal(err.error, 'wamp.error.not_authorized');
    return true;
  };

  /** WELCOME as configured, then a call and a publication within the role reach alice. */
  async function joinsAs(c, authid, authrole, authmethod) {
    const d = c.details;
    assert.deepEqual([d.authid, d.authrole, d.authmethod, d.authprovider],
      [authid, authrole, authmethod, 'static']);
    assert.ok(isWampId(c.session.id));
    const p = PREFIX[authrole];
    assert.deepEqual(await c.session.call(`${p}echo`, [authid, 1]), [p, authid, 1]);
    const pub = await c.session.publish(`${p}news`, [authid], {}, { acknowledge: true });
    assert.ok(isWampId(pub.id));
    const ev = await news.next(3000, `alice to get ${authid}'s event on ${p}news`);
    assert.deepEqual(ev, { topic: `${p}news`, args: [authid] });
  }

  before(async () => {
    router = await startMoonbar({
      realms: [
        { name: 'realm1', auth: AUTH, roles: ROLES },
        { name: 'closed', auth: { anonymous: false, ticket: { users: { alice: { ticket: 't', role: 'r' } } } },
          roles: { r: [{ uri: '', match: 'prefix', allow: '*' }] } },
      ],
      // every test here fails on purpose from 127.0.0.1: switch the guard off
      bruteForce: { free_failures: 1000000, lockout_after: 0 },
    });
    helper = await connect(wsTransport(router),
      { authid: 'alice', authmethods: ['ticket'], onchallenge: ticket('alice-ticket') });
    for (const p of Object.values(PREFIX)) {
      await helper.session.register(`${p}echo`, (args) => [p, ...args]);
      await helper.session.subscribe(`${p}news`, (args, _kw, details) =>
        news.push({ topic: details.topic ?? `${p}news`, args }));
    }
  });

  after(async () => {
    for (const c of open) {
      if (c.session?.isOpen) await c.close().catch(() => {});
    }
    // The last test stops the router and checks the exit; if it never ran, check here.
    if (router) await (stopChecked ? router.stop().catch(() => {}) : router.stop());
  });

  for (const kind of ['websocket', 'rawsocket']) {
    const tr = () => (kind === 'websocket' ? wsTransport(router) : rsTransport(router));

    describe(`autobahn-js over ${kind}`, () => {
      it('anonymous: joins with the role from the config (guest) and a generated authid', T, async () => {
        const c = await connect(tr());
        const d = c.details;
        assert.deepEqual([d.authrole, d.authmethod, d.authprovider], ['guest', 'anonymous', 'static']);
        assert.equal(typeof d.authid, 'string');
        assert.ok(d.authid.length > 0, 'empty anonymous authid');
        await joinsAs(c, d.authid, 'guest', 'anonymous');
      });

      it('ticket: alice joins as admin, zoe as user', T, async () => {
        await joinsAs(await connect(tr(),
          { authid: 'alice', authmethods: ['ticket'], onchallenge: ticket('alice-ticket') }), 'alice', 'admin', 'ticket');
        await joinsAs(await connect(tr(),
          { authid: 'zoe', authmethods: ['ticket'], onchallenge: ticket('zoe-ticket') }), 'zoe', 'user', 'ticket');
      });

      it('wampcra with a plain secret: bob joins as user; the challenge has no salt', T, async () => {
        const extras = [];
        const sign = wampcra('bob-secret');
        const c = await connect(tr(), { authid: 'bob', authmethods: ['wampcra'],
          onchallenge: (s, m, extra) => { extras.push(extra); return sign(s, m, extra); } });
        await joinsAs(c, 'bob', 'user', 'wampcra');
        assert.equal(extras.length, 1);
        assert.equal(extras[0].salt, undefined);
        const fields = JSON.parse(extras[0].challenge);
        assert.equal(fields.authid, 'bob');
        assert.equal(fields.session, c.session.id, 'the challenge announces the session id');
      });

      it('wampcra with a salted secret: dave (1000 iterations, 32 bytes) and frank (10, 16) join; the challenge carries salt, iterations, keylen', T, async () => {
        for (const [user, password, salt, iterations, keylen, role] of [
          ['dave', 'dave-password', 'salt1', 1000, 32, 'user'],
          ['frank', 'frank-password', 'frank-salt', 10, 16, 'admin']]) {
          const extras = [];
          const sign = wampcra(password);
          const c = await connect(tr(), { authid: user, authmethods: ['wampcra'],
            onchallenge: (s, m, extra) => { extras.push(extra); return sign(s, m, extra); } });
          await joinsAs(c, user, role, 'wampcra');
          assert.deepEqual([extras[0].salt, extras[0].iterations, extras[0].keylen], [salt, iterations, keylen]);
        }
      });

      it('cryptosign: carol joins as user with her key (authextra.pubkey), signed by auth_cryptosign.sign_challenge', T, async () => {
        const extras = [];
        const sign = cryptosign(CAROL);
        const c = await connect(tr(), { authid: 'carol', authmethods: ['cryptosign'],
          authextra: { pubkey: hex(CAROL.publicKey) },
          onchallenge: (s, m, extra) => { extras.push(extra); return sign(s, m, extra); } });
        await joinsAs(c, 'carol', 'user', 'cryptosign');
        assert.match(extras[0].challenge, /^[0-9a-f]{64}$/);
      });

      it('wrong ticket → ABORT wamp.error.authentication_failed', T, async () => {
        for (const t of ['wrong', 'zoe-ticket', 'alice-ticke', '']) {
          await joinFails(tr(), { authid: 'alice', authmethods: ['ticket'], onchallenge: ticket(t) },
            'wamp.error.authentication_failed');
        }
      });

      it('wrong wampcra secret → ABORT wamp.error.authentication_failed (plain, salted, and the derived key given as the password)', T, async () => {
        for (const [user, secret] of [['bob', 'not-bobs'], ['dave', 'wrong-password'], ['dave', DAVE_KEY]]) {
          await joinFails(tr(), { authid: user, authmethods: ['wampcra'], onchallenge: wampcra(secret) },
            'wamp.error.authentication_failed');
        }
      });

      it('cryptosign: a signature by another key, or a key that is not the user\'s → ABORT wamp.error.authentication_failed', T, async () => {
        // announces carol's key, signs with erin's
        await joinFails(tr(), { authid: 'carol', authmethods: ['cryptosign'],
          authextra: { pubkey: hex(CAROL.publicKey) }, onchallenge: cryptosign(ERIN) },
        'wamp.error.authentication_failed');
        // erin's key, honestly signed, claiming to be carol
        await joinFails(tr(), { authid: 'carol', authmethods: ['cryptosign'],
          authextra: { pubkey: hex(ERIN.publicKey) }, onchallenge: cryptosign(ERIN) },
        'wamp.error.authentication_failed');
      });

      it('unknown user → ABORT wamp.error.no_such_principal (ticket, wampcra, cryptosign)', T, async () => {
        await joinFails(tr(), { authid: 'mallory', authmethods: ['ticket'], onchallenge: ticket('x') },
          'wamp.error.no_such_principal');
        await joinFails(tr(), { authid: 'mallory', authmethods: ['wampcra'], onchallenge: wampcra('x') },
          'wamp.error.no_such_principal');
        await joinFails(tr(), { authid: 'mallory', authmethods: ['cryptosign'],
          authextra: { pubkey: hex(ERIN.publicKey) }, onchallenge: cryptosign(ERIN) },
        'wamp.error.no_such_principal');
      });

      it('no accepted method → ABORT wamp.error.no_matching_auth_method', T, async () => {
        // realm "closed" takes tickets only; autobahn offers no authmethods, i.e. anonymous
        await joinFails(tr(), { realm: 'closed' }, 'wamp.error.no_matching_auth_method');
        await joinFails(tr(), { realm: 'closed', authid: 'alice', authmethods: ['wampcra', 'cryptosign'],
          onchallenge: wampcra('t') }, 'wamp.error.no_matching_auth_method');
      });

      it('authorization: requests outside the role → ERROR wamp.error.not_authorized, allowed ones work', T, async () => {
        const guest = await connect(tr());
        const bob = await connect(tr(), { authid: 'bob', authmethods: ['wampcra'], onchallenge: wampcra('bob-secret') });

        // guest: com.public. for call, publish, subscribe — not register, nothing else
        assert.deepEqual(await guest.session.call('com.public.echo', ['g']), ['com.public.', 'g']);
        await assert.rejects(guest.session.call('com.example.echo', ['g']), notAuthorized);
        await assert.rejects(guest.session.call('org.example.echo', ['g']), notAuthorized);
        await assert.rejects(guest.session.publish('com.example.news', ['g'], {}, { acknowledge: true }), notAuthorized);
        await assert.rejects(guest.session.subscribe('org.example.news', () => {}), notAuthorized);
        await assert.rejects(guest.session.register('com.public.guest_proc', () => 1), notAuthorized);
        await guest.session.subscribe('com.public.news', () => {});

        // bob (user): com. for every action; alice's org.example.echo exists but is not his
        await assert.rejects(bob.session.call('org.example.echo', ['b']), notAuthorized);
        await assert.rejects(bob.session.publish('org.example.news', ['b'], {}, { acknowledge: true }), notAuthorized);
        await assert.rejects(bob.session.subscribe('org.example.news', () => {}), notAuthorized);
        await assert.rejects(bob.session.register('org.example.bob_proc', () => 1), notAuthorized);
        assert.deepEqual(await bob.session.call('com.example.echo', ['b']), ['com.example.', 'b']);
        await bob.session.register(`com.example.bob_proc_${kind}`, () => 'from bob');
        assert.equal(await helper.session.call(`com.example.bob_proc_${kind}`), 'from bob');

        // the refused publications reached nobody: the next event alice gets is this one
        await bob.session.publish('com.example.news', ['after'], {}, { acknowledge: true });
        assert.deepEqual(await news.next(3000, 'bob\'s allowed event'), { topic: 'com.example.news', args: ['after'] });
        assert.equal(news.size, 0);
      });
    });
  }

  describe('wampy over WebSocket', () => {
    const wampyOpen = [];
    after(async () => {
      for (const c of wampyOpen) await c.close().catch(() => {});
    });
    const wconnect = async (auth) => {
      const c = await wampyConnect({ url: router.wsUrl, auth });
      wampyOpen.push(c);
      return c;
    };
    const welcome = (d) => [d.authid, d.authrole, d.authmethod, d.authprovider];

    it('wampy: ticket, wampcra (plain and salted, wampy/wampcra.js) and cryptosign (wampy/cryptosign.js) join; calls within the role work, outside it not_authorized', T, async () => {
      const alice = await wconnect({ authid: 'alice', authmethods: ['ticket'], onChallenge: () => 'alice-ticket' });
      assert.deepEqual(welcome(alice.details), ['alice', 'admin', 'ticket', 'static']);
      const bob = await wconnect({ authid: 'bob', authmethods: ['wampcra'], onChallenge: wampyCraSign('bob-secret') });
      assert.deepEqual(welcome(bob.details), ['bob', 'user', 'wampcra', 'static']);
      const dave = await wconnect({ authid: 'dave', authmethods: ['wampcra'], onChallenge: wampyCraSign('dave-password') });
      assert.deepEqual(welcome(dave.details), ['dave', 'user', 'wampcra', 'static']);
      const carol = await wconnect({ authid: 'carol', authmethods: ['cryptosign'],
        authextra: { pubkey: hex(CAROL.publicKey) }, onChallenge: wampyCryptosignSign(hex(CAROL.secretKey)) });
      assert.deepEqual(welcome(carol.details), ['carol', 'user', 'cryptosign', 'static']);

      // the autobahn-js helper returns an array: that is one argument, the array
      const res = await alice.wampy.call('org.example.echo', { argsList: ['w'] });
      assert.deepEqual(res.argsList, [['org.example.', 'w']]);
      for (const c of [bob, dave, carol]) {
        assert.deepEqual((await c.wampy.call('com.example.echo', ['w'])).argsList, [['com.example.', 'w']]);
        await assert.rejects(c.wampy.call('org.example.echo', ['w']), (err) => {
          assert.ok(err instanceof Errors.CallError, `got ${err}`);
          assert.equal(err.errorUri, 'wamp.error.not_authorized');
          return true;
        });
      }
      await bob.wampy.publish('com.example.news', ['from wampy']);
      assert.deepEqual(await news.next(3000, 'wampy bob\'s event'), { topic: 'com.example.news', args: ['from wampy'] });
    });

    it('wampy: a wrong ticket, a wrong wampcra secret and an unknown user are refused with their ABORT reason and a message', T, async () => {
      for (const [auth, reason] of [
        [{ authid: 'alice', authmethods: ['ticket'], onChallenge: () => 'wrong' }, 'wamp.error.authentication_failed'],
        [{ authid: 'dave', authmethods: ['wampcra'], onChallenge: wampyCraSign('wrong') }, 'wamp.error.authentication_failed'],
        [{ authid: 'mallory', authmethods: ['ticket'], onChallenge: () => 'x' }, 'wamp.error.no_such_principal'],
      ]) {
        await assert.rejects(wampyConnect({ url: router.wsUrl, auth }), (err) => {
          assert.ok(err instanceof Errors.AbortError, `got ${err}`);
          assert.equal(err.errorUri, reason);
          assert.ok(typeof err.details?.message === 'string' && err.details.message.length > 0,
            `ABORT without a message: ${JSON.stringify(err.details)}`);
          return true;
        });
      }
    });
  });

  it('shutdown: moonbar exits 0 after SIGTERM, no sanitizer report', T, async () => {
    stopChecked = true;
    const { stopMs } = await router.stop();
    for (const c of open) await withTimeout(c.closed, 3000, 'every session to be closed');
    assert.ok(stopMs < ms(1000), `moonbar took ${stopMs} ms to exit after SIGTERM`);
  });
});
