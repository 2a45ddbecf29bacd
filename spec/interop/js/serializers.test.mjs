// The serializer matrix in JavaScript: autobahn-js (wamp.2.json, wamp.2.msgpack, wamp.2.cbor over
// WebSocket; JSON over RawSocket) and wampy (json, msgpack, cbor) publish to and call each other
// through moonbar, every ordered pair of them, with a payload set that every one of the libraries
// can carry (ints to +-(2^53 - 1), floats, unicode, binary, empty list vs empty dict, nesting,
// null), checked deep-equal at the far end.
//
// Binary: a Buffer (autobahn-js) or Uint8Array (wampy) from a MessagePack or CBOR client; a JSON
// client sends and receives the spec's convention, a string of "\0" + base64, which the router
// turns into MessagePack bin / CBOR byte strings and back. What the libraries themselves cannot
// carry is left out, each named where the payloads are made (see clientLimits).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMoonbar, ms, withTimeout } from './lib/moonbar.mjs';
import { autobahn, autobahnConnect, wampyConnect, wsTransport, rsTransport, Inbox } from './lib/clients.mjs';
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js';
import { CborSerializer } from 'wampy/CborSerializer.js';
import { JsonSerializer } from 'wampy/JsonSerializer.js';

const T = { timeout: ms(20000) };
const MAX = Number.MAX_SAFE_INTEGER;

// ------------------------------------------------------------------ payloads

class Bin {
  constructor(bytes) { this.bytes = Uint8Array.from(bytes); }
  get hex() { return Buffer.from(this.bytes).toString('hex'); }
  get b64() { return Buffer.from(this.bytes).toString('base64'); }
}
const bin = (...bytes) => new Bin(bytes);
const deep = (n) => {
  let v = 'bottom';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { [`k${i}`]: v };
  return v;
};

// name -> [Arguments, ArgumentsKw]
const PAYLOADS = {
  ints: [[0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32 + 1, MAX, -MAX, 2 ** 40, -(2 ** 40)],
    { max: MAX, min: -MAX, zero: 0, p32: 2 ** 32 }],
  floats: [[0.1, -2.5, 1.5, 1e-300, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 123456.789, -2.5e-8],
    { pi: Math.PI, tiny: 1e-300 }],
  unicode: [['😀', '中文字符', '日本語', '\u2028\u2029', '', 'a"b\\c\n\t\r', '𝄞 music', '\u0001\u001f\u007f', 'ß é ñ ü'],
    { emoji: '🎉🚀', 'ключ': 'значение', 'key with spaces': 'v', sep: '\u2028' }],
  binary: [[bin(0, 1, 2, 0xfe, 0xff), bin(), bin(0), bin(...Array.from({ length: 256 }, (_, i) => i))],
    { blob: bin(0xde, 0xad, 0xbe, 0xef), nested: { list: [bin(1), [bin(0xff, 0)]] } }],
  empty_list_vs_empty_dict: [[[], {}, [[]], [{}], { l: [], d: {} }], { l: [], d: {}, ld: [{}], dl: { x: [] } }],
  nested: [[deep(30), { a: [1, { b: [null, true, false, { c: {} }] }] }, [[[[[]]]]]], { deep: deep(20) }],
  null_and_bools: [[null, true, false, [null], { n: null }], { none: null, yes: true, no: false }],
  kwargs_only: [[], { only: 'kwargs', n: 1 }],
};

/**
 * What a client library cannot carry, whatever the router does (found with the libraries alone):
 * - -0: msgpack5 (autobahn-js), msgpackr and cbor-x (wampy) write it as the integer 0, and
 *   JSON.stringify as "0": no -0 in the set.
 * - cbor-x (wampy's CBOR) with wampy's options reads negative 64-bit integers wrong
 *   (decode(0x3b001ffffffffffffe) is 1, not -(2^53 - 1)): no integer below -2^32 to a wampy CBOR
 *   client.
 * - msgpackr (wampy's MessagePack) reads every 64-bit integer as a BigInt, and msgpack5
 *   (autobahn-js) writes integers from -2^31 down in the 64-bit form (which a MessagePack to
 *   MessagePack hop passes through as it is): BigInts in the safe range are compared as Numbers
 *   (norm()).
 */
function clientLimits(receiver, name, [args, kwargs]) {
  if (receiver.lib === 'wampy' && receiver.ser === 'cbor' && name === 'ints') {
    const keep = (v) => !(typeof v === 'number' && v < -(2 ** 32));
    return [args.filter(keep), Object.fromEntries(Object.entries(kwargs).filter(([, v]) => keep(v)))];
  }
  return [args, kwargs];
}

function mapValue(v, onBin) {
  if (v instanceof Bin) return onBin(v);
  if (Array.isArray(v)) return v.map((x) => mapValue(x, onBin));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapValue(x, onBin)]));
  return v;
}

/** The value as `end` sends it. */
function toWire(end, v) {
  return mapValue(v, (b) => {
    if (end.ser === 'json') return '\u0000' + b.b64;
    return end.lib === 'wampy' ? Uint8Array.from(b.bytes) : Buffer.from(b.bytes);
  });
}

/** The value as `end` must receive it, after norm(). */
function expectedAt(end, v) {
  return mapValue(v, (b) => (end.ser === 'json' ? '\u0000' + b.b64 : { $bin: b.hex }));
}

/** Received values, comparable: binary as {$bin: hex}, msgpackr's BigInts in the safe range as Numbers. */
function norm(v) {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v).toString('hex') };
  if (typeof v === 'bigint') return v <= BigInt(MAX) && v >= -BigInt(MAX) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

// ------------------------------------------------------------------ clients as ends

/** A client operation, bounded: a dead connection fails the test in seconds, not at its timeout. */
const op = (what, promise) => withTimeout(promise, 3000, what).catch((err) => {
  // the same error (callers read its URI and payload), its message saying what failed and why
  const uri = err.errorUri ?? err.error ?? '';
  const args = err.argsList ?? err.args;
  const message = `${what} failed: ${err.name ?? ''} ${uri} ${args ? JSON.stringify(args) : ''} ${err.message ?? ''}`;
  if (err instanceof Error) {
    Object.defineProperty(err, 'message', { value: message, configurable: true, writable: true });
    throw err;
  }
  throw Object.assign(new Error(message), err);
});

let unique = 0;
const nextName = (what) => `com.jsmatrix.${what}.${++unique}`;

async function autobahnEnd(router, ser, transportKind = 'websocket') {
  const serializers = {
    json: () => new autobahn.serializer.JSONSerializer(),
    msgpack: () => new autobahn.serializer.MsgpackSerializer(),
    cbor: () => new autobahn.serializer.CBORSerializer(),
  };
  const transport = transportKind === 'websocket' ? wsTransport(router) : rsTransport(router);
  const c = await autobahnConnect({
    transport, serializers: transportKind === 'websocket' ? [serializers[ser]()] : undefined,
  });
  const s = c.session;
  return {
    lib: 'autobahn', ser, name: `autobahn-${transportKind === 'websocket' ? 'ws' : 'rs'}-${ser}`,
    protocol: c.connection.transport?.info?.protocol,
    async subscribe(topic, inbox) {
      const sub = await op(`${this.name} subscribe`, s.subscribe(topic, (args, kwargs) => inbox.push([args ?? [], kwargs ?? {}])));
      return () => op(`${this.name} unsubscribe`, s.unsubscribe(sub));
    },
    async publish(topic, args, kwargs) {
      await op(`${this.name} publish`, s.publish(topic, args, kwargs, { acknowledge: true }));
    },
    async register(proc, inbox) {
      const reg = await op(`${this.name} register`, s.register(proc, (args, kwargs) => {
        inbox.push([args ?? [], kwargs ?? {}]);
        return new autobahn.Result(args ?? [], kwargs ?? {});
      }));
      return () => op(`${this.name} unregister`, s.unregister(reg));
    },
    async registerError(proc, uri, args, kwargs) {
      const reg = await op(`${this.name} register`, s.register(proc, () => { throw new autobahn.Error(uri, args, kwargs); }));
      return () => op(`${this.name} unregister`, s.unregister(reg));
    },
    async call(proc, args, kwargs) {
      const r = await op(`${this.name} call`, s.call(proc, args, kwargs));
      if (r instanceof autobahn.Result) return [r.args ?? [], r.kwargs ?? {}];
      return r === undefined || r === null ? [[], {}] : [[r], {}];
    },
    close: () => c.close(),
  };
}

async function wampyEnd(router, ser) {
  const serializer = { json: () => new JsonSerializer(), msgpack: () => new MsgpackSerializer(), cbor: () => new CborSerializer() }[ser]();
  const c = await wampyConnect({ url: router.wsUrl, serializer });
  const w = c.wampy;
  return {
    lib: 'wampy', ser, name: `wampy-${ser}`,
    protocol: w._ws?.protocol,
    async subscribe(topic, inbox) {
      const { subscriptionKey } = await op(`${this.name} subscribe`,
        w.subscribe(topic, (ev) => inbox.push([ev.argsList ?? [], ev.argsDict ?? {}])));
      return () => op(`${this.name} unsubscribe`, w.unsubscribe(subscriptionKey));
    },
    async publish(topic, args, kwargs) {
      await op(`${this.name} publish`, w.publish(topic, { argsList: args, argsDict: kwargs }));
    },
    async register(proc, inbox) {
      await op(`${this.name} register`, w.register(proc, ({ argsList, argsDict }) => {
        inbox.push([argsList ?? [], argsDict ?? {}]);
        return { argsList: argsList ?? [], argsDict: argsDict ?? {} };
      }));
      return () => op(`${this.name} unregister`, w.unregister(proc));
    },
    async call(proc, args, kwargs) {
      const r = await op(`${this.name} call`, w.call(proc, { argsList: args, argsDict: kwargs }));
      return [r.argsList ?? [], r.argsDict ?? {}];
    },
    async callError(proc, args, kwargs) {
      try {
        await op(`${this.name} call`, w.call(proc, { argsList: args, argsDict: kwargs }));
      } catch (err) {
        return [err.errorUri ?? err.error, err.argsList ?? [], err.argsDict ?? {}];
      }
      throw new Error('the call succeeded');
    },
    close: () => c.close(),
  };
}

const END_SPECS = [
  ['autobahn', 'json'], ['autobahn', 'msgpack'], ['autobahn', 'cbor'], ['autobahn-rs', 'json'],
  ['wampy', 'json'], ['wampy', 'msgpack'], ['wampy', 'cbor'],
];
const specName = ([lib, ser]) => `${lib === 'autobahn' ? 'autobahn-ws' : lib === 'autobahn-rs' ? 'autobahn-rs' : lib}-${ser}`;
const PAIRS = END_SPECS.flatMap((a) => END_SPECS.filter((b) => b !== a).map((b) => [a, b]));

function compare(what, receiver, got) {
  const errors = [];
  for (const [name, g, want] of got) {
    try {
      assert.deepStrictEqual(norm(g), expectedAt(receiver, want));
    } catch (err) {
      errors.push(`${name}: ${err.message.split('\n').slice(0, 30).join('\n')}`);
    }
  }
  assert.equal(errors.length, 0, `${what}:\n${errors.join('\n')}`);
}

describe('serializers: autobahn-js and wampy in json, msgpack and cbor through moonbar', () => {
  let router;
  const ends = {};

  before(async () => {
    router = await startMoonbar();
    for (const spec of END_SPECS) {
      const [lib, ser] = spec;
      ends[specName(spec)] = lib === 'wampy' ? await wampyEnd(router, ser)
        : await autobahnEnd(router, ser, lib === 'autobahn' ? 'websocket' : 'rawsocket');
    }
  });

  after(async () => {
    for (const e of Object.values(ends)) await e.close().catch(() => {});
    if (router) await router.stop();
  });

  it('each WebSocket client speaks the serializer it asked for', T, async () => {
    for (const [name, e] of Object.entries(ends)) {
      if (name.startsWith('autobahn-rs')) continue;
      assert.equal(e.protocol, `wamp.2.${e.ser}`, name);
    }
  });

  it("autobahn-js's default offer (json, msgpack) gets json, the first of it; [msgpack, json] gets msgpack", T, async () => {
    const dflt = await autobahnConnect({ transport: wsTransport(router) });
    const mp = await autobahnConnect({
      transport: wsTransport(router),
      serializers: [new autobahn.serializer.MsgpackSerializer(), new autobahn.serializer.JSONSerializer()],
    });
    try {
      assert.equal(dflt.connection.transport.info.protocol, 'wamp.2.json');
      assert.equal(mp.connection.transport.info.protocol, 'wamp.2.msgpack');
    } finally {
      await dflt.close();
      await mp.close();
    }
  });

  for (const [a, b] of PAIRS) {
    it(`events ${specName(a)} -> ${specName(b)} keep every value`, T, async () => {
      const sender = ends[specName(a)];
      const receiver = ends[specName(b)];
      const topic = nextName('topic');
      const inbox = new Inbox();
      const unsubscribe = await receiver.subscribe(topic, inbox);
      const got = [];
      try {
        for (const [name, p] of Object.entries(PAYLOADS)) {
          const [args, kwargs] = clientLimits(receiver, name, p);
          await sender.publish(topic, toWire(sender, args), toWire(sender, kwargs));
          const ev = await inbox.next(ms(3000), `${receiver.name} to receive ${name}`);
          got.push([name, ev, [args, kwargs]]);
        }
      } finally {
        await unsubscribe();
      }
      compare(`events ${sender.name} -> ${receiver.name}`, receiver, got);
    });

    it(`calls ${specName(a)} -> ${specName(b)} keep every value (invocation and result)`, T, async () => {
      const caller = ends[specName(a)];
      const callee = ends[specName(b)];
      const proc = nextName('echo');
      const invocations = new Inbox();
      const unregister = await callee.register(proc, invocations);
      const atCallee = [];
      const atCaller = [];
      try {
        for (const [name, p] of Object.entries(PAYLOADS)) {
          // limits of both ends: the value goes to the callee and back
          const [args, kwargs] = clientLimits(caller, name, clientLimits(callee, name, p));
          const res = await caller.call(proc, toWire(caller, args), toWire(caller, kwargs));
          atCallee.push([name, await invocations.next(ms(3000), `${callee.name} invocation ${name}`), [args, kwargs]]);
          atCaller.push([name, res, [args, kwargs]]);
        }
      } finally {
        await unregister();
      }
      compare(`invocations ${caller.name} -> ${callee.name}`, callee, atCallee);
      compare(`results ${callee.name} -> ${caller.name}`, caller, atCaller);
    });
  }

  for (const calleeSpec of END_SPECS.filter(([lib]) => lib === 'autobahn')) {
    for (const callerSpec of END_SPECS.filter(([lib]) => lib === 'wampy')) {
      it(`an error of ${specName(calleeSpec)} reaches ${specName(callerSpec)} with its payload`, T, async () => {
        const callee = ends[specName(calleeSpec)];
        const caller = ends[specName(callerSpec)];
        const proc = nextName('fails');
        const got = [];
        for (const name of ['binary', 'unicode', 'empty_list_vs_empty_dict']) {
          const [args, kwargs] = PAYLOADS[name];
          const unregister = await callee.registerError(proc + name, 'com.jsmatrix.error',
            toWire(callee, args), toWire(callee, kwargs));
          try {
            const [uri, eargs, ekwargs] = await withTimeout(caller.callError(proc + name, [], {}), 5000, `error ${name}`);
            assert.equal(uri, 'com.jsmatrix.error');
            got.push([name, [eargs, ekwargs], [args, kwargs]]);
          } finally {
            await unregister();
          }
        }
        compare(`errors ${callee.name} -> ${caller.name}`, caller, got);
      });
    }
  }
});
