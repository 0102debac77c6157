// harness.mjs - starts the real tollgate binaries for the integration tests.
//
// startMock() runs tg-mock (the test's own provider, so tests can script faults and read
// /_mock/stats); startTollgate() runs `tollgate up` in a fresh temp dir on a free port, waits
// for /readyz 200 by polling, and stop() sends SIGTERM and reports how it exited.
// The binaries come from $TG_BIN_DIR (ctest sets it), else build-debug/bin.
// Logs go to files in each temp dir; a failed run keeps the dirs and prints the log tails.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BIN_DIR = process.env.TG_BIN_DIR || path.join(ROOT, 'build-debug', 'bin');
export const MASTER_KEY = 'tg-integration-master-key-0123456789';
export const OPENAI_KEY = 'sk-test-openai-upstream';
export const ANTHROPIC_KEY = 'sk-ant-test-upstream';

// Generous limits: the Debug build runs every process under ASan/UBSan on 2 cores.
const READY_TIMEOUT_MS = Number(process.env.TG_READY_TIMEOUT_MS || 60000);
const STOP_TIMEOUT_MS = 30000;

const tempDirs = [];
const logFiles = [];
const liveProcs = new Set();

// A failed run keeps its temp dirs and shows what the processes logged; a passing one cleans up.
process.on('exit', (code) => {
  for (const p of liveProcs) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  const failed = code !== 0 || (process.exitCode ?? 0) !== 0;
  if (failed || process.env.TG_KEEP_TMP) {
    for (const file of logFiles) {
      process.stderr.write(`\n----- tail of ${file}\n${tail(file, 60)}\n`);
    }
    process.stderr.write(`\nkept: ${tempDirs.join(' ')}\n`);
    return;
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function makeTempDir(prefix = 'tg-it-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function binary(name) {
  const file = path.join(BIN_DIR, name);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: build first (scripts/test.sh builds build-debug/)`);
  }
  return file;
}

// A TCP port that was free a moment ago (the kernel picks it).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() every `interval` ms until it returns a truthy value, which is returned.
// Throws (naming `what` and the last value or error) when `timeout` ms pass first.
export async function waitFor(fn, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await delay(interval);
  }
}

// GET/POST helper on fetch that never throws for an HTTP status; `null` status when nothing
// answered. Returns { status, headers, text, json }.
export async function http(url, { method = 'GET', headers = {}, body, timeout = 5000 } = {}) {
  try {
    const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeout) });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  } catch (err) {
    return { status: null, error: err, text: '', json: undefined };
  }
}

// Resolves when the process exits: { code, signal }.
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

// Runs a process with stdout collected in memory and stderr in `log`.
function launch(file, args, { cwd, env, log }) {
  const fd = fs.openSync(log, 'a');
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', fd] });
  fs.closeSync(fd);
  logFiles.push(log);
  liveProcs.add(child);
  child.once('exit', () => liveProcs.delete(child));
  const out = { text: '' };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    out.text += d;
  });
  return { child, out };
}

// ------------------------------------------------------------------ tg-mock

export async function startMock() {
  const dir = makeTempDir('tg-mock-');
  const log = path.join(dir, 'mock.log');
  const { child, out } = launch(binary('tg-mock'), ['--host', '127.0.0.1', '--port', '0'], {
    cwd: dir,
    env: { ...process.env, TOLLGATE_LOG_LEVEL: process.env.TG_LOG_LEVEL || 'warn' },
    log,
  });
  const port = Number(
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`tg-mock exited: ${tail(log)}`);
        return out.text.match(/ready port=(\d+)/)?.[1];
      },
      { timeout: 15000, interval: 20, what: 'tg-mock ready line' },
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  const control = async (method, p, body) => {
    const res = await http(`${url}/_mock/${p}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status !== 200) throw new Error(`mock ${p}: ${res.status} ${res.text}`);
    return res.json;
  };
  return {
    port,
    url,
    openaiBase: `${url}/v1`,
    anthropicBase: url,
    log,
    stats: () => control('GET', 'stats'),
    reset: () => control('POST', 'reset'),
    script: (steps) => control('POST', 'script', steps),
    async stop() {
      child.kill('SIGTERM');
      return exited(child);
    },
  };
}

// ------------------------------------------------------------------ tollgate up

const PROVIDER_VARS = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_BASE_URL',
  'OPENROUTER_API_KEY',
  'OPENROUTER_BASE_URL',
];

// The environment `tollgate up` runs in: the caller's, minus anything that would make the
// run depend on the machine (provider keys, TOLLGATE_* settings).
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('TOLLGATE_') || PROVIDER_VARS.includes(k)) delete env[k];
  }
  return env;
}

// Starts `tollgate up` and waits for /readyz 200.
//   mock:      a startMock() result to use as OpenAI and Anthropic upstream; null = no
//              provider variables at all (tollgate then starts its built-in mock)
//   masterKey: TOLLGATE_MASTER_KEY (default MASTER_KEY); null = let tollgate generate one
//   config:    YAML text passed with -c; args: extra `tollgate up` arguments; env: extra vars
//   dir:       reuse a temp dir (run/ and data/ inside it) from an earlier instance
//   verbose:   `up -v` (default): service logs in `log`; false: in run/tollgate.log
export async function startTollgate({
  mock = null,
  masterKey = MASTER_KEY,
  config = null,
  args = [],
  env = {},
  dir = null,
  verbose = true,
} = {}) {
  dir = dir || makeTempDir();
  const port = await freePort();
  const runDir = path.join(dir, 'run');
  const dataDir = path.join(dir, 'data');
  const childEnv = {
    ...cleanEnv(),
    TOLLGATE_HTTP_PORT: String(port),
    TOLLGATE_HTTP_HOST: '127.0.0.1',
    TOLLGATE_RUN_DIR: runDir,
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_LOG_LEVEL: process.env.TG_LOG_LEVEL || 'info',
    ...env,
  };
  if (masterKey) childEnv.TOLLGATE_MASTER_KEY = masterKey;
  if (mock) {
    Object.assign(childEnv, {
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: mock.openaiBase,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_BASE_URL: mock.anthropicBase,
    });
  }
  // -v: the services log to stderr, which goes to `log` (tests read their lines there);
  // verbose false: they log to <run_dir>/tollgate.log, as for a user.
  const upArgs = ['up', ...(verbose ? ['-v'] : []), ...args];
  if (config !== null) {
    const file = path.join(dir, 'tollgate.yaml');
    fs.writeFileSync(file, config);
    upArgs.push('-c', file);
  }
  const log = path.join(dir, `tollgate-${port}.log`);
  const { child, out } = launch(binary('tollgate'), upArgs, { cwd: dir, env: childEnv, log });
  const base = `http://127.0.0.1:${port}`;
  const tg = {
    dir,
    port,
    base,
    baseURL: `${base}/v1`,
    runDir,
    dataDir,
    log,
    env: childEnv,
    child,
    readyStatuses: [], // every /readyz status seen while starting (null = no answer)
    get stdout() {
      return out.text;
    },
    get key() {
      return masterKey || fs.readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim();
    },
    // The pid the CLI recorded for child `name` (router, analytics, alert, worker-1,
    // ingest-1, mock), or null.
    pidOf(name) {
      try {
        return Number(fs.readFileSync(path.join(runDir, 'pids', `${name}.pid`), 'utf8')) || null;
      } catch {
        return null;
      }
    },
    ready: () => http(`${base}/readyz`, { timeout: 2000 }),
    exited: () => exited(child),
    // SIGTERM, then waits for the exit: { code, signal, ms }. SIGKILL and throw on timeout.
    async stop(signal = 'SIGTERM') {
      const t0 = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      });
      const res = await Promise.race([exited(child), timeout]);
      clearTimeout(timer);
      if (!res) {
        child.kill('SIGKILL');
        throw new Error(`tollgate did not exit within ${STOP_TIMEOUT_MS} ms of ${signal}`);
      }
      return { ...res, ms: Date.now() - t0 };
    },
  };
  await waitFor(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `tollgate up exited (${child.exitCode ?? child.signalCode}) before ready:\n${tail(log)}`,
        );
      }
      const res = await tg.ready();
      tg.readyStatuses.push(res.status);
      return res.status === 200;
    },
    { timeout: READY_TIMEOUT_MS, interval: 50, what: `/readyz 200 on ${base}` },
  ).catch((err) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n----- ${log}\n${tail(log)}`);
  });
  return tg;
}

// Runs `tollgate <args>` to completion with the environment of instance `tg`.
export function tollgateCommand(tg, args) {
  const res = spawnSync(binary('tollgate'), args, {
    cwd: tg.dir,
    env: tg.env,
    encoding: 'utf8',
    timeout: STOP_TIMEOUT_MS + 15000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

// True while process `pid` exists.
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// Runs `n` async jobs with at most `limit` in flight; returns their results in order.
export async function pool(n, limit, job) {
  const results = new Array(n);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) {
      const i = next++;
      results[i] = await job(i);
    }
  });
  await Promise.all(runners);
  return results;
}

// A unique tag for fault keys and request ids.
export function uniq(prefix = 'it') {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
