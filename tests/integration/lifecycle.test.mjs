// lifecycle.test.mjs - `tollgate up` as a user runs it: readiness, supervision of crashed and
// stalled children, `status` / `down`, the built-in mock when no provider key is set, the
// generated admin key, and a clean stop of the whole set on SIGTERM and Ctrl-C.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import {
  MASTER_KEY,
  alive,
  binary,
  http,
  startMock,
  startTollgate,
  tollgateCommand,
  waitFor,
} from './harness.mjs';

const CHILDREN = ['router', 'analytics', 'alert', 'worker-1', 'ingest-1'];

function childPids(tg, names = CHILDREN) {
  const pids = {};
  for (const name of names) pids[name] = tg.pidOf(name);
  return pids;
}

describe('the command line', () => {
  test('help and version answer; an unknown command is a usage error', () => {
    const run = (...args) => spawnSync(binary('tollgate'), args, { encoding: 'utf8' });
    const help = run('help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage: tollgate/);
    const version = run('version');
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^tollgate \d+\.\d+\.\d+/);
    const bad = run('frobnicate');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command 'frobnicate'/);
    assert.match(bad.stderr, /usage: tollgate/);
    assert.equal(run('up', '--workers', 'zero').status, 2);
  });
});

describe('tollgate up with a provider, 2 workers and 2 ingest', () => {
  const ALL = [...CHILDREN, 'worker-2', 'ingest-2'];
  let mock;
  let tg;

  before(async () => {
    mock = await startMock();
    tg = await startTollgate({ mock, args: ['--workers', '2', '--ingest', '2'] });
  });

  after(async () => {
    if (tg && tg.child.exitCode === null) await tg.stop();
    if (mock) await mock.stop();
  });

  test('readyz goes from 503 (or no answer) to 200; healthz is 200; it says where it listens', async () => {
    assert.equal(tg.readyStatuses.at(-1), 200);
    for (const s of tg.readyStatuses) assert.ok([null, 503, 200].includes(s), `status ${s}`);
    const ok = tg.readyStatuses.indexOf(200);
    assert.ok(tg.readyStatuses.slice(ok).every((s) => s === 200), 'no relapse once ready');
    assert.equal((await http(`${tg.base}/healthz`)).status, 200);
    await waitFor(() => tg.stdout.includes('tollgate ready:'), { what: 'the ready line' });
    assert.match(tg.stdout, new RegExp(`tollgate ready: http://127\\.0\\.0\\.1:${tg.port}/v1`));
    assert.match(tg.stdout, /alert stream: ipc:\/\/.*alert_stream/);
    assert.doesNotMatch(tg.stdout, /mock provider/, 'a provider is configured: no built-in mock');
    for (const [name, pid] of Object.entries(childPids(tg, ALL))) {
      assert.ok(pid && alive(pid), `${name} runs (pid ${pid})`);
    }
  });

  test('with every worker stalled readyz turns 503, and 200 again when they resume', async () => {
    const workers = [tg.pidOf('worker-1'), tg.pidOf('worker-2')];
    workers.forEach((pid) => process.kill(pid, 'SIGSTOP'));
    try {
      await waitFor(async () => (await tg.ready()).status === 503, {
        timeout: 20000,
        what: '/readyz 503 with no worker reporting',
      });
      assert.equal((await http(`${tg.base}/healthz`)).status, 200, 'healthz: ingest still runs');
    } finally {
      workers.forEach((pid) => process.kill(pid, 'SIGCONT'));
    }
    await waitFor(async () => (await tg.ready()).status === 200, {
      timeout: 20000,
      what: '/readyz 200 after the workers resumed',
    });
  });

  test('a call held by a worker that dies is answered 502 worker_lost, not left to time out', async () => {
    const client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0 });
    const started = Date.now();
    const pending = client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: '[[mock:hang]] held' }] })
      .then(
        () => null,
        (err) => err,
      );
    await waitFor(async () => (await mock.stats()).in_flight >= 1, {
      timeout: 10000,
      what: 'the call to reach the mock',
    });
    //  Either worker may hold it: both go.
    for (const name of ['worker-1', 'worker-2']) process.kill(tg.pidOf(name), 'SIGKILL');
    const err = await pending;
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 502);
    assert.equal(err.code, 'worker_lost');
    assert.ok(Date.now() - started < 20000, 'answered long before http.timeout_ms');
    await waitFor(async () => (await tg.ready()).status === 200, {
      timeout: 30000,
      what: '/readyz 200 once the supervisor restarted the workers',
    });
  });

  test('a crashed worker is logged, restarted and serves again', async () => {
    const old = tg.pidOf('worker-1');
    process.kill(old, 'SIGKILL');
    const pid = await waitFor(
      () => {
        const p = tg.pidOf('worker-1');
        return p && p !== old && alive(p) ? p : null;
      },
      { timeout: 20000, what: 'worker-1 to be restarted' },
    );
    assert.ok(!alive(old));
    const logged = new RegExp(`worker-1 pid=${old} killed by signal 9 .*restarting in \\d+ ms`);
    assert.ok(logged.test(fs.readFileSync(tg.log, 'utf8')), 'the supervisor logged the crash');
    await waitFor(async () => (await tg.ready()).status === 200, { timeout: 30000, what: 'ready' });
    const client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0 });
    for (let i = 0; i < 8; i++) {
      const r = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `after the crash ${i}` }],
      });
      assert.equal(r.choices[0].finish_reason, 'stop');
    }
    assert.ok(alive(pid));
  });

  test('`tollgate status` prints readyz; a second `up` on the same run dir refuses', () => {
    const status = tollgateCommand(tg, ['status']);
    assert.equal(status.code, 0, status.stderr);
    // From the run dir alone: without the port in the environment it still finds the gateway.
    const env = { ...tg.env };
    delete env.TOLLGATE_HTTP_PORT;
    const bare = spawnSync(binary('tollgate'), ['status'], { cwd: tg.dir, env, encoding: 'utf8' });
    assert.equal(bare.status, 0, bare.stdout + bare.stderr);
    assert.doesNotThrow(() => JSON.parse(status.stdout), status.stdout);
    const second = tollgateCommand(tg, ['up']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already running/);
  });

  test('another gateway cannot take the port, and says so; readyz names this gateway', async () => {
    const ready = await http(`${tg.base}/readyz`);
    const gw = fs.readFileSync(path.join(tg.runDir, 'gateway'), 'utf8');
    const id = gw.match(/^id=(.*)$/m)[1];
    assert.match(gw, new RegExp(`^http=${tg.base}$`, 'm'));
    assert.match(id, /^gw_[0-9a-f]+$/);
    assert.equal(ready.json.gateway, id);
    const other = fs.mkdtempSync(path.join(tg.dir, 'other-'));
    const res = spawnSync(binary('tollgate'), ['up'], {
      env: { ...tg.env, TOLLGATE_RUN_DIR: path.join(other, 'run'), TOLLGATE_DATA_DIR: path.join(other, 'data') },
      encoding: 'utf8',
      timeout: 20000,
    });
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, /cannot listen on .*Address already in use/);
    assert.doesNotMatch(res.stdout, /tollgate ready/);
    // The first gateway serves every call as before (no port sharing with the other one).
    for (let i = 0; i < 8; i++) {
      const r = await http(`${tg.base}/v1/models`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.equal(r.status, 200);
    }
  });

  test('`tollgate down` stops the whole set cleanly', async () => {
    const pids = childPids(tg, ALL);
    const down = tollgateCommand(tg, ['down']);
    assert.equal(down.code, 0, down.stderr);
    const res = await tg.exited();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0');
    for (const [name, pid] of Object.entries(pids)) assert.ok(!alive(pid), `${name} is gone`);
    assert.ok(!fs.existsSync(path.join(tg.runDir, 'tollgate.pid')), 'pid file removed');
    assert.deepEqual(fs.readdirSync(path.join(tg.runDir, 'pids')), [], 'no child pid files left');
    assert.match(tg.stdout, /tollgate stopped/);
    assert.equal(tollgateCommand(tg, ['status']).code, 3, 'status: not reachable any more');
  });
});

describe('tollgate up with no provider key', () => {
  let tg;
  let printedKey;

  after(async () => {
    if (tg && tg.child.exitCode === null) await tg.stop();
  });

  test('starts the built-in mock, says so, generates an admin key, and answers', async () => {
    tg = await startTollgate({ mock: null, masterKey: null, verbose: false });
    const m = tg.stdout.match(/generated admin key (tg-[0-9a-f]+) \(stored in (.*master\.key)\)/);
    // The terminal gets a few lines; the services' logs go to the file the output names.
    await waitFor(() => /logs: /.test(tg.stdout), { what: 'the logs line' });
    const lines = tg.stdout.trim().split('\n');
    assert.ok(lines.length <= 6, tg.stdout);
    const logPath = path.join(tg.runDir, 'tollgate.log');
    assert.match(tg.stdout, new RegExp(`logs: ${logPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    await waitFor(() => /ingest I ready http=/.test(fs.readFileSync(logPath, 'utf8')), {
      what: 'service log lines in run/tollgate.log',
    });
    assert.ok(m, tg.stdout);
    printedKey = m[1];
    assert.equal(fs.readFileSync(path.join(tg.dataDir, 'master.key'), 'utf8').trim(), printedKey);
    assert.match(
      tg.stdout,
      /no provider key set: using the built-in mock provider at http:\/\/127\.0\.0\.1:\d+ .*OPENAI_API_KEY/,
    );
    assert.ok(alive(tg.pidOf('mock')), 'the mock is one of the supervised children');
    const client = new OpenAI({ baseURL: tg.baseURL, apiKey: printedKey, maxRetries: 0 });
    const r = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hello built-in mock' }],
    });
    assert.match(r.choices[0].message.content, /hello built-in mock/);
    const c = await client.chat.completions.create({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: 'hello claude mock' }],
    });
    assert.match(c.choices[0].message.content, /hello claude mock/);
    assert.equal(c.choices[0].finish_reason, 'stop');
  });

  test('Ctrl-C (SIGINT) stops everything, the mock included, with exit code 0', async () => {
    const pids = childPids(tg, [...CHILDREN, 'mock']);
    const res = await tg.stop('SIGINT');
    assert.deepEqual([res.code, res.signal], [0, null]);
    for (const [name, pid] of Object.entries(pids)) assert.ok(!alive(pid), `${name} is gone`);
  });

  test('a restart keeps the stored admin key and prints it no more', async () => {
    tg = await startTollgate({ mock: null, masterKey: null, dir: tg.dir });
    assert.doesNotMatch(tg.stdout, /generated admin key/);
    assert.equal(tg.key, printedKey);
    const res = await http(`${tg.baseURL}/models`, {
      headers: { authorization: `Bearer ${printedKey}` },
    });
    assert.equal(res.status, 200);
    assert.ok(res.json.data.some((m) => m.id === 'gpt-4o'));
    const stop = await tg.stop();
    assert.deepEqual([stop.code, stop.signal], [0, null]);
  });
});
