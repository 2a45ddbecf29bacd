// Thin promise wrappers around autobahn-js and wampy for the interop tests.

import './quiet.mjs'; // before autobahn: see quiet.mjs
import autobahn from 'autobahn';
import { Wampy } from 'wampy';
import WebSocket from 'ws';
import { deferred, withTimeout } from './moonbar.mjs';

export { autobahn, Wampy, WebSocket };

// Errors that a test provokes on purpose (a callee throwing autobahn.Error) are not printed.
function onUserError(err, message) {
  if (err instanceof autobahn.Error) return;
  console.error(message || 'autobahn user error:', err);
}

/**
 * Opens an autobahn-js connection and waits for the session to join.
 *
 *   transport: {type: 'websocket', url} | {type: 'rawsocket', host, port}
 *   serializers: autobahn serializer objects offered in that order (WebSocket), e.g.
 *                [new autobahn.serializer.MsgpackSerializer()]; default autobahn's (json, msgpack)
 *   authid, authmethods, authextra: HELLO details (autobahn sends none of them by default)
 *   onchallenge: (session, method, extra) => signature, or a promise of one
 *
 * Resolves {connection, session, details, closed, close()}; `closed` resolves with
 * {reason, details} from Connection.onclose. Rejects with an Error carrying .reason and
 * .details when the connection closes before the session joins.
 */
export async function autobahnConnect({
  transport, realm = 'realm1', authid, authmethods, authextra, onchallenge, serializers, timeoutMs = 5000,
}) {
  const connection = new autobahn.Connection({
    transports: [serializers ? { ...transport, serializers } : transport],
    realm,
    authid,
    authmethods,
    authextra,
    onchallenge,
    max_retries: 0,
    retry_if_unreachable: false,
    on_user_error: onUserError,
    // autobahn-js reports its own protocol violations here (with an undefined error object:
    // session.js shadows the global Error). The test then fails on the closed connection.
    on_internal_error: (err, message) => console.error('autobahn-js internal error:', message || '', err ?? ''),
  });
  const opened = deferred();
  const closed = deferred();
  opened.promise.catch(() => {}); // the caller may only look at `closed`
  connection.onopen = (session, details) => opened.resolve({ session, details });
  connection.onclose = (reason, details) => {
    const info = { reason, details };
    const err = new Error(`connection closed before joining: ${reason} ${JSON.stringify(details)}`);
    opened.reject(Object.assign(err, info));
    closed.resolve(info);
    return true; // never reconnect
  };
  connection.open();
  const { session, details } = await withTimeout(opened.promise, timeoutMs,
    `autobahn-js (${transport.type}) to join ${realm}`);
  return {
    connection,
    session,
    details,
    closed: closed.promise,
    /** Leaves (GOODBYE) and waits until the transport is closed. */
    async close() {
      if (session.isOpen) {
        connection.close();
      } else if (connection._transport) {
        connection._transport.close();
      }
      return withTimeout(closed.promise, 5000, 'autobahn-js connection to close');
    },
  };
}

/** Like `promise`, but rejects at once if connection `c` closes first (with its close details). */
export function unlessClosed(c, promise) {
  const closed = c.closed.then((info) => {
    throw new Error(`connection closed: ${info.reason} ${JSON.stringify(info.details)}`);
  });
  closed.catch(() => {});
  return Promise.race([promise, closed]);
}

export const wsTransport = (router) => ({ type: 'websocket', url: router.wsUrl });
export const rsTransport = (router) => ({ type: 'rawsocket', host: '127.0.0.1', port: router.rsPort });

/**
 * Connects wampy (over WebSocket, no auto-reconnect; JSON unless `serializer` is another of
 * wampy's, e.g. new MsgpackSerializer() from 'wampy/MsgpackSerializer.js') and joins the realm.
 * `auth` is merged into wampy's options: {authid, authmethods, authextra, onChallenge} (wampy
 * refuses to connect with only some of authid, authmethods and onChallenge/authPlugins).
 * Resolves {wampy, details, wire, closed, close()}. `wire` records what the router sent:
 * wire.messages (parsed WAMP messages) and wire.close ({code, reason} of the close frame).
 * `closed` resolves with wire.close once wampy reports the connection closed.
 */
export async function wampyConnect({ url, realm = 'realm1', serializer, auth, timeoutMs = 5000 }) {
  const closed = deferred();
  const wire = { messages: [], close: null };
  class RecordingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      this.on('message', (data, isBinary) => {
        try {
          wire.messages.push(isBinary && serializer?.isBinary ? serializer.decode(data) : JSON.parse(data.toString()));
        } catch { wire.messages.push(String(data)); }
      });
      this.on('close', (code, reason) => { wire.close = { code, reason: reason.toString() }; });
    }
  }
  const wampy = new Wampy(url, {
    ws: RecordingWebSocket,
    realm,
    ...(serializer ? { serializer } : {}),
    autoReconnect: false,
    uriValidation: 'loose',
    onClose: () => closed.resolve(wire.close),
    onError: () => {},
    ...(auth || {}),
  });
  const details = await withTimeout(wampy.connect(), timeoutMs, `wampy to join ${realm}`);
  return {
    wampy,
    details,
    wire,
    closed: closed.promise,
    async close() {
      if (wampy.getSessionId()) await withTimeout(wampy.disconnect(), 5000, 'wampy to disconnect');
    },
  };
}

/** Collects values pushed by an event handler; next() waits for the next one. */
export class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
  }

  push(item) {
    const w = this.waiters.shift();
    if (w) w.resolve(item);
    else this.items.push(item);
  }

  next(timeoutMs = 3000, what = 'an event') {
    if (this.items.length) return Promise.resolve(this.items.shift());
    const d = deferred();
    this.waiters.push(d);
    return withTimeout(d.promise, timeoutMs, what).catch((err) => {
      const i = this.waiters.indexOf(d);
      if (i >= 0) this.waiters.splice(i, 1);
      throw err;
    });
  }

  get size() {
    return this.items.length;
  }
}

/** WAMP IDs are integers in [1, 2^53] (2^53 itself is not a "safe" integer but is valid). */
export function isWampId(x) {
  return Number.isInteger(x) && x >= 1 && x <= 2 ** 53;
}
