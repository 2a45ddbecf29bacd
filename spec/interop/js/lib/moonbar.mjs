// Starts the real moonbar router for the JavaScript interop tests.
//
// Environment:
//   MOONBAR_BIN            router binary (default <repo>/build/moonbar)
//   MOONBAR_WRAPPER        words put in front of the binary, e.g. "valgrind --error-exitcode=99"
//   MOONBAR_TIMEOUT_SCALE  multiplies every timeout (default 1; use ~10 under valgrind)
//   MOONBAR_LOG_LEVEL      log_level written to the config (default "info")
//   MOONBAR_ECHO_STDERR    when set, the router's stderr is copied to ours as it arrives
//
// No dependencies beyond node itself, so spec/browser can import it too.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export const TIMEOUT_SCALE = (() => {
  const v = Number(process.env.MOONBAR_TIMEOUT_SCALE || '1');
  return Number.isFinite(v) && v > 0 ? v : 1;
})();

/** Scales a duration in milliseconds by $MOONBAR_TIMEOUT_SCALE. */
export function ms(n) {
  return Math.ceil(n * TIMEOUT_SCALE);
}

/** Resolves/rejects like `promise`, or rejects after `timeoutMs` (scaled) naming `what`. */
export function withTimeout(promise, timeoutMs, what) {
  let timer;
  const limit = ms(timeoutMs);
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${limit} ms: ${what}`)), limit);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (n) => new Promise((resolve) => setTimeout(resolve, n));

/** A promise plus its resolve/reject functions. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const LUA_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Serialises a plain JS value (object, array, string, number, boolean) as a Lua expression. */
export function toLua(value, indent = '') {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} to Lua`);
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value); // JSON escapes are valid Lua escapes here
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '{}';
    return '{\n' + value.map((v) => inner + toLua(v, inner) + ',\n').join('') + indent + '}';
  }
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (keys.length === 0) return '{}';
  return '{\n' + keys.map((k) => {
    const key = LUA_IDENT.test(k) ? k : `[${JSON.stringify(k)}]`;
    return `${inner}${key} = ${toLua(value[k], inner)},\n`;
  }).join('') + indent + '}';
}

const LISTEN_RE = /listening (websocket|rawsocket) on 127\.0\.0\.1:(\d+)/;
const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error:/;

/**
 * Writes a temporary config and starts moonbar with it.
 *
 * options:
 *   websocket  false to disable, or fields merged into the default
 *   compression  true: the websocket endpoint offers permessage-deflate (listeners key)
 *              {host: '127.0.0.1', port: 0, path: '/ws', web_root: false}
 *   rawsocket  false to disable, or fields merged into {host: '127.0.0.1', port: 0}
 *   realms     default [{name: 'realm1'}]
 *   limits     optional limits table
 *   bruteForce optional brute_force table, e.g. {free_failures: 1000000, lockout_after: 0}
 *   http       optional http table (paths, subscribers, callees)
 *   logLevel   default $MOONBAR_LOG_LEVEL or "info"
 *
 * Returns an object with wsPort, rsPort, wsUrl, httpUrl, stderr(), stop().
 */
export async function startMoonbar(options = {}) {
  const bin = process.env.MOONBAR_BIN || path.join(REPO_ROOT, 'build', 'moonbar');
  if (!existsSync(bin)) {
    throw new Error(`moonbar binary not found at ${bin} (run make, or set MOONBAR_BIN)`);
  }
  const wrapper = (process.env.MOONBAR_WRAPPER || '').split(/\s+/).filter(Boolean);

  const config = {
    log_level: options.logLevel || process.env.MOONBAR_LOG_LEVEL || 'info',
    websocket: options.websocket === false ? false
      : { host: '127.0.0.1', port: 0, path: '/ws', web_root: false, ...(options.websocket || {}) },
    rawsocket: options.rawsocket === false ? false
      : { host: '127.0.0.1', port: 0, ...(options.rawsocket || {}) },
    realms: options.realms || [{ name: 'realm1' }],
  };
  if (options.limits) config.limits = options.limits;
  if (options.bruteForce) config.brute_force = options.bruteForce;
  if (options.http) config.http = options.http;
  // compression (permessage-deflate) is a key of the listeners form only: the websocket
  // endpoint is written there instead
  const wsConfig = config.websocket;
  if (options.compression && wsConfig) {
    config.listeners = [{ type: 'websocket', ...wsConfig, compression: true }];
    if (config.rawsocket) config.listeners.push({ type: 'rawsocket', ...config.rawsocket });
    config.websocket = false;
    config.rawsocket = false;
  }

  const dir = mkdtempSync(path.join(tmpdir(), 'moonbar-js-'));
  const configFile = path.join(dir, 'moonbar.lua');
  writeFileSync(configFile, `-- written by spec/interop/js/lib/moonbar.mjs\nreturn ${toLua(config)}\n`);

  const argv = [...wrapper, bin, '--config', configFile];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });

  let stderr = '';
  let stdout = '';
  const ports = {};
  const wantWs = wsConfig !== false;
  const wantRs = options.rawsocket !== false;
  const ready = deferred();
  const exited = deferred();
  let exitInfo = null;

  const checkReady = () => {
    if ((!wantWs || ports.websocket) && (!wantRs || ports.rawsocket)) ready.resolve();
  };
  let lineBuf = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (process.env.MOONBAR_ECHO_STDERR) process.stderr.write(chunk);
    lineBuf += chunk;
    let nl;
    while ((nl = lineBuf.indexOf('\n')) >= 0) {
      const line = lineBuf.slice(0, nl);
      lineBuf = lineBuf.slice(nl + 1);
      const m = LISTEN_RE.exec(line);
      if (m) {
        ports[m[1]] = Number(m[2]);
        checkReady();
      }
    }
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => { stdout += chunk; });
  child.on('error', (err) => {
    ready.reject(new Error(`could not start ${argv.join(' ')}: ${err.message}`));
    exitInfo = { code: null, signal: null, error: err };
    exited.resolve(exitInfo);
  });
  // 'close' (not 'exit'): all of stderr has been read by then.
  child.on('close', (code, signal) => {
    exitInfo = { code, signal };
    exited.resolve(exitInfo);
    ready.reject(new Error(
      `moonbar exited (code ${code}, signal ${signal}) before listening; stderr:\n${stderr}`));
  });

  const cleanupDir = () => rmSync(dir, { recursive: true, force: true });

  try {
    await withTimeout(ready.promise, 10000, `moonbar to log its listening ports; stderr so far:\n${stderr}`);
  } catch (err) {
    if (!exitInfo) {
      child.kill('SIGKILL');
      await exited.promise;
    }
    cleanupDir();
    throw err;
  }

  let stopped = null;
  const router = {
    pid: child.pid,
    configFile,
    wsPort: ports.websocket,
    rsPort: ports.rawsocket,
    wsUrl: wantWs ? `ws://127.0.0.1:${ports.websocket}${wsConfig.path}` : null,
    httpUrl: wantWs ? `http://127.0.0.1:${ports.websocket}/` : null,
    stderr: () => stderr,
    stdout: () => stdout,
    exited: exited.promise,

    /**
     * SIGTERM, then checks: exit status 0, no sanitizer report on stderr.
     * Resolves {code, signal, stopMs}; throws an Error (with the stderr tail) when a check
     * fails. Idempotent: later calls return the first call's promise.
     */
    stop() {
      if (!stopped) stopped = doStop();
      return stopped;
    },
  };

  async function doStop() {
    try {
      const t0 = Date.now();
      if (!exitInfo) child.kill('SIGTERM');
      let info;
      try {
        info = await withTimeout(exited.promise, 5000, 'moonbar to exit after SIGTERM');
      } catch (err) {
        child.kill('SIGKILL');
        await exited.promise;
        throw new Error(`${err.message}\n--- moonbar stderr ---\n${tail(stderr)}`);
      }
      const problems = [];
      if (info.code !== 0) problems.push(`exit code ${info.code}, signal ${info.signal} (want exit code 0)`);
      const san = SANITIZER_RE.exec(stderr);
      if (san) problems.push(`stderr contains "${san[0]}"`);
      if (problems.length) {
        const shown = san ? stderr.slice(Math.max(0, san.index - 2000)) : tail(stderr);
        throw new Error(`moonbar stop: ${problems.join('; ')}\n--- moonbar stderr ---\n${shown}`);
      }
      return { ...info, stopMs: Date.now() - t0 };
    } finally {
      cleanupDir();
    }
  }

  return router;
}

function tail(text, lines = 60) {
  const all = text.split('\n');
  return all.length > lines ? `[... ${all.length - lines} lines]\n` + all.slice(-lines).join('\n') : text;
}
