// Workers on other hosts: tcp:// endpoints with CURVE (issue 15).
//
// The gateway (`tollgate up`, one local worker) binds its router, jobs, bus_in, analytics and
// ingest inbox endpoints on tcp with curve.dir set. A "remote" worker, with only the
// certificates a remote host needs, joins over tcp+CURVE and serves calls against its own
// mock provider (so the mock's counter proves which worker answered). A "rogue" worker with a
// certificate that is not in allowed/ is refused: both sides log it and no call reaches its
// mock. As root, the two workers run in a network namespace of their own, joined to this host
// by a veth pair (10.213.<n>.1 here, 10.213.<n>.2 there), and the gateway binds the veth
// address; without root (or with TG_CURVE_NETNS=0) they run on loopback, and the test says so. Last, a tcp endpoint
// outside loopback without certificates refuses to start, with the reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  MASTER_KEY,
  binary,
  http,
  makeTempDir,
  startMock,
  startTollgate,
  tail,
  waitFor,
} from './harness.mjs';

const AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
// TG_CURVE_NETNS=0 runs the loopback variant even as root.
const ROOT =
  process.env.TG_CURVE_NETNS !== '0' &&
  process.getuid?.() === 0 &&
  spawnSync('ip', ['-V']).status === 0;
const N = process.pid % 250;
const NS = `tgcurve${process.pid}`;
const VETH = `tgc${process.pid % 100000}`;
const HOST_IP = ROOT ? `10.213.${N}.1` : '127.0.0.1';
const REMOTE_IP = ROOT ? `10.213.${N}.2` : '127.0.0.1';
const BASE_PORT = 28000 + (process.pid % 90) * 10; // 10 ports of 28000-28899

const procs = [];

function sh(args) {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.status}`);
}

function netnsUp() {
  sh(['ip', 'netns', 'add', NS]);
  sh(['ip', 'link', 'add', `${VETH}a`, 'type', 'veth', 'peer', 'name', `${VETH}b`]);
  sh(['ip', 'link', 'set', `${VETH}b`, 'netns', NS]);
  sh(['ip', 'addr', 'add', `${HOST_IP}/30`, 'dev', `${VETH}a`]);
  sh(['ip', 'link', 'set', `${VETH}a`, 'up']);
  sh(['ip', 'netns', 'exec', NS, 'ip', 'addr', 'add', `${REMOTE_IP}/30`, 'dev', `${VETH}b`]);
  sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', `${VETH}b`, 'up']);
  sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
}

function netnsDown() {
  if (!ROOT) return;
  // Deleting the namespace deletes the veth pair with it.
  spawnSync('ip', ['link', 'del', `${VETH}a`]);
  spawnSync('ip', ['netns', 'del', NS]);
}

process.on('exit', () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  netnsDown();
});

// Runs `bin args` on the "remote" side (in the namespace when root), stderr to `log`.
function remote(bin, args, env, log) {
  const fd = fs.openSync(log, 'a');
  const argv = ROOT ? ['ip', ['netns', 'exec', NS, bin, ...args]] : [bin, args];
  const child = spawn(argv[0], argv[1], { env, stdio: ['ignore', 'pipe', fd] });
  fs.closeSync(fd);
  procs.push(child);
  const out = { text: '' };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (out.text += d));
  return { child, out, log };
}

async function remoteMock(dir, name) {
  const m = remote(
    binary('tg-mock'),
    ['--host', REMOTE_IP, '--port', '0'],
    { ...process.env, TOLLGATE_LOG_LEVEL: 'warn' },
    path.join(dir, `${name}.log`),
  );
  const port = await waitFor(() => m.out.text.match(/ready port=(\d+)/)?.[1], {
    timeout: 15000,
    what: `${name} ready`,
  });
  const url = `http://${REMOTE_IP}:${port}`;
  return { ...m, url, stats: async () => (await http(`${url}/_mock/stats`)).json };
}

// The certificates a remote worker host gets: every server's public certificate, the inbox
// server's secret (it binds an inbox), its own client certificate, and the allow-list of who
// may connect to its inbox (analytics, for usage ACKs).
function remoteCerts(all, dir, client) {
  for (const sub of ['server', 'clients', 'allowed']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const copy = (rel) => fs.copyFileSync(path.join(all, rel), path.join(dir, rel));
  for (const role of ['inbox', 'router', 'analytics', 'alert']) copy(`server/${role}.cert`);
  copy('server/inbox.cert_secret');
  copy(`clients/${client}.cert`);
  copy(`clients/${client}.cert_secret`);
  copy('allowed/analytics.cert');
}

function startWorker(dir, name, certs, mockUrl) {
  fs.mkdirSync(path.join(dir, name), { recursive: true });
  const env = {
    PATH: process.env.PATH,
    TOLLGATE_RUN_DIR: path.join(dir, name, 'run'),
    TOLLGATE_DATA_DIR: path.join(dir, name, 'data'),
    TOLLGATE_LOG_LEVEL: 'info',
    TOLLGATE_CURVE_DIR: certs,
    TOLLGATE_CURVE_CLIENT: name,
    TOLLGATE_ROUTER_ENDPOINT: `tcp://${HOST_IP}:${BASE_PORT}`,
    TOLLGATE_JOBS_ENDPOINT: `tcp://${HOST_IP}:${BASE_PORT + 1}`,
    TOLLGATE_BUS_IN_ENDPOINT: `tcp://${HOST_IP}:${BASE_PORT + 2}`,
    TOLLGATE_ANALYTICS_ENDPOINT: `tcp://${HOST_IP}:${BASE_PORT + 3}`,
    // An ephemeral port on every address; others are told the public host.
    TOLLGATE_WORKER_ENDPOINT: ROOT ? 'tcp://*:*' : 'tcp://127.0.0.1:*',
    ...(ROOT ? { TOLLGATE_PUBLIC_HOST: REMOTE_IP } : {}),
    OPENAI_API_KEY: 'sk-test-remote',
    OPENAI_BASE_URL: `${mockUrl}/v1`,
  };
  return remote(binary('tg-worker'), [], env, path.join(dir, `${name}.log`));
}

async function chat(tg, content) {
  return http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
    timeout: 15000,
  });
}

// True when router worker id `id` is the instance of process `pid` ("worker-<pid>-<rnd>", or
// "worker-<host>-<pid>-<rnd>").
const isWorker = (id, pid) => new RegExp(`^worker-(.+-)?${pid}-[^-]+$`).test(id);

async function routerWorkers(tg) {
  const res = await http(`${tg.baseURL}/router/metrics`, { headers: AUTH });
  assert.equal(res.status, 200, res.text);
  return res.json.workers.map((w) => w.id);
}

describe('tcp + CURVE: a worker on another host', { timeout: 240000 }, () => {
  let dir, certs, mock, tg, mockB, mockC, good, rogue;

  before(async () => {
    if (ROOT) netnsUp();
    dir = makeTempDir('tg-curve-');
    certs = path.join(dir, 'certs');
    const made = spawnSync(
      binary('tollgate'),
      ['certs', '--dir', certs, '--client', 'remote-1', '--client', 'rogue', '--revoke', 'rogue'],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    assert.match(made.stdout, /revoked .*allowed\/rogue\.cert/);
    // Secrets are readable by their owner only.
    assert.equal(fs.statSync(path.join(certs, 'server', 'inbox.cert_secret')).mode & 0o077, 0);
    mock = await startMock();
    tg = await startTollgate({
      mock,
      config: [
        'curve:',
        `  dir: ${certs}`,
        'endpoints:',
        `  router: tcp://${HOST_IP}:${BASE_PORT}`,
        `  jobs: tcp://${HOST_IP}:${BASE_PORT + 1}`,
        `  bus_in: tcp://${HOST_IP}:${BASE_PORT + 2}`,
        `  analytics: tcp://${HOST_IP}:${BASE_PORT + 3}`,
        `  ingest: 'tcp://${HOST_IP}:*'`,
        "  worker: 'tcp://127.0.0.1:*'",
        '',
      ].join('\n'),
    });
  });

  after(async () => {
    for (const p of [good, rogue]) if (p) p.child.kill('SIGTERM');
    for (const m of [mockB, mockC]) if (m) m.child.kill('SIGTERM');
    if (tg) await tg.stop();
    if (mock) await mock.stop();
    netnsDown();
  });

  test('the gateway advertises concrete tcp addresses, not wildcards', () => {
    const log = fs.readFileSync(tg.log, 'utf8');
    const ingest = log.match(/ingest I inbox bound=(\S+) advertised=(\S+)/);
    assert.ok(ingest, tail(tg.log));
    assert.match(ingest[2], new RegExp(`^tcp://${HOST_IP.replaceAll('.', '\\.')}:\\d+$`));
    // Every inbox on this host has an address of its own (ephemeral binds).
    const bound = [...log.matchAll(/I inbox bound=(tcp:\/\/\S+)/g)].map((m) => m[1]);
    assert.equal(bound.length, 3, bound.join(' ')); // router, worker, ingest
    assert.equal(new Set(bound).size, bound.length, bound.join(' '));
  });

  test('a remote worker joins over tcp+CURVE and serves calls', async (t) => {
    t.diagnostic(ROOT ? `remote side: netns ${NS} at ${REMOTE_IP}` : 'no netns (not root, or TG_CURVE_NETNS=0): remote side on loopback');
    mockB = await remoteMock(dir, 'mock-remote');
    const rcerts = path.join(dir, 'remote-certs');
    remoteCerts(certs, rcerts, 'remote-1');
    good = startWorker(dir, 'remote-1', rcerts, mockB.url);
    await waitFor(async () => (await routerWorkers(tg)).some((w) => isWorker(w, good.child.pid)), {
      timeout: 20000,
      what: 'the router to know the remote worker',
    });
    if (ROOT) {
      // Its inbox was advertised with the public host, from a wildcard bind.
      const wlog = fs.readFileSync(good.log, 'utf8');
      assert.match(wlog, new RegExp(`inbox bound=tcp://0\\.0\\.0\\.0:\\d+ advertised=tcp://${REMOTE_IP.replaceAll('.', '\\.')}:\\d+`));
    }
    // The router spreads calls over the two workers; go until the remote one has served some.
    let n = 0;
    await waitFor(
      async () => {
        const res = await chat(tg, `remote ${n++}`);
        assert.equal(res.status, 200, res.text);
        assert.match(res.json.choices[0].message.content, /Mock reply to: remote/);
        return (await mockB.stats()).requests >= 3;
      },
      { timeout: 30000, interval: 1, what: 'calls served by the remote worker' },
    );
    // No handshake of the remote worker failed (jobs, bus, analytics, ingest inboxes).
    assert.ok(!/curve: /.test(fs.readFileSync(good.log, 'utf8')), tail(good.log));
  });

  test('a worker with an unknown certificate is refused, logged on both sides', async () => {
    mockC = await remoteMock(dir, 'mock-rogue');
    const rcerts = path.join(dir, 'rogue-certs');
    remoteCerts(certs, rcerts, 'rogue');
    rogue = startWorker(dir, 'rogue', rcerts, mockC.url);
    await waitFor(
      () =>
        /curve: tcp:\/\/\S+ refused this process's certificate/.test(fs.readFileSync(rogue.log, 'utf8')),
      { timeout: 15000, what: 'the rogue worker to log its refusal' },
    );
    await waitFor(
      () =>
        new RegExp(`router W curve: refused a client on tcp://${HOST_IP.replaceAll('.', '\\.')}:${BASE_PORT + 1}`).test(
          fs.readFileSync(tg.log, 'utf8'),
        ),
      { timeout: 15000, what: 'the router to log the refusal' },
    );
    for (let i = 0; i < 12; i++) {
      const res = await chat(tg, `after rogue ${i}`);
      assert.equal(res.status, 200, res.text);
    }
    assert.ok(!(await routerWorkers(tg)).some((w) => isWorker(w, rogue.child.pid)));
    assert.equal((await mockC.stats()).requests, 0);
    // Rate-limited: one line per socket and 10 s, not one per reconnect attempt.
    const lines = fs.readFileSync(tg.log, 'utf8').match(/router W curve: refused a client/g);
    assert.ok(lines.length <= 3, `${lines.length} refusal lines`);
  });

  test('a client allowed while the gateway runs joins without a restart', async () => {
    // zauth reads allowed/ again when it changes (the rotation docs rely on this).
    const made = spawnSync(binary('tollgate'), ['certs', '--dir', certs, '--client', 'late-1'], {
      encoding: 'utf8',
    });
    assert.equal(made.status, 0, made.stderr);
    assert.match(made.stdout, /allowed .*allowed\/late-1\.cert/);
    const rcerts = path.join(dir, 'late-certs');
    remoteCerts(certs, rcerts, 'late-1');
    const late = startWorker(dir, 'late-1', rcerts, mockB.url);
    await waitFor(async () => (await routerWorkers(tg)).some((w) => isWorker(w, late.child.pid)), {
      timeout: 20000,
      what: 'the router to know the worker allowed late',
    });
    late.child.kill('SIGTERM');
  });

  test('a tcp endpoint outside loopback without certificates refuses to start', () => {
    const env = {
      PATH: process.env.PATH,
      TOLLGATE_RUN_DIR: path.join(dir, 'nocerts', 'run'),
      TOLLGATE_DATA_DIR: path.join(dir, 'nocerts', 'data'),
      TOLLGATE_JOBS_ENDPOINT: `tcp://*:${BASE_PORT + 9}`,
    };
    for (const bin of [binary('tollgate'), binary('tg-worker')]) {
      const args = bin.endsWith('tollgate') ? ['up'] : [];
      const r = spawnSync(bin, args, { env, encoding: 'utf8', timeout: 20000 });
      assert.equal(r.status, 2, `${bin}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        /endpoints\.jobs=tcp:\/\/\*:\d+ is reachable from other hosts and curve\.dir is not set/,
      );
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
