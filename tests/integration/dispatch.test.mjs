// dispatch.test.mjs - the router addresses workers itself: least-busy spread, cancels to the
// worker holding the call, a worker's SIGTERM drain, a worker's SIGKILL with calls queued and
// in flight, and the router's SIGKILL under load. Every call gets an answer, fast.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { MASTER_KEY, alive, delay, http, startMock, startTollgate, waitFor } from './harness.mjs';

const AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };

// One chat call; resolves { status, ms, json, headers } and never throws.
async function chat(tg, content, { timeout = 30000, stream = false } = {}) {
  const t0 = Date.now();
  const res = await http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content }] }),
    timeout,
  });
  return { ...res, ms: Date.now() - t0, done: Date.now() };
}

async function routerMetrics(tg) {
  const res = await http(`${tg.baseURL}/router/metrics`, { headers: AUTH });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// The router's view of worker `name` (worker-1 ...), found by the host name and pid in its
// instance id (worker-<host name>-<pid>-<random>).
function workerOf(metrics, tg, name) {
  const pid = tg.pidOf(name);
  return metrics.workers.find((w) => w.id.startsWith(`worker-${os.hostname()}-${pid}-`));
}

async function bothWorkersKnown(tg) {
  await waitFor(
    async () => {
      const m = await routerMetrics(tg);
      return workerOf(m, tg, 'worker-1') && workerOf(m, tg, 'worker-2') ? m : null;
    },
    { timeout: 20000, what: 'the router to know both workers' },
  );
}

// A mock and `tollgate up --workers 2` for one describe block, started before its tests and
// stopped after them; the returned object's mock and tg are set once started.
function twoWorkers() {
  const env = { mock: null, tg: null };
  before(async () => {
    env.mock = await startMock();
    env.tg = await startTollgate({ mock: env.mock, args: ['--workers', '2'] });
    await bothWorkersKnown(env.tg);
  });
  after(async () => {
    if (env.tg && env.tg.child.exitCode === null) await env.tg.stop();
    if (env.mock) await env.mock.stop();
  });
  return env;
}

describe('dispatch with two workers', () => {
  const env = twoWorkers();

  test('least busy: while one worker holds a slow call, the others go to the free one', async () => {
    const { tg } = env;
    const slow = chat(tg, '[[mock:latency_ms=4000]] slow one');
    let holder;
    await waitFor(
      async () => {
        const m = await routerMetrics(tg);
        holder = m.workers.find((w) => w.busy === 1);
        return holder;
      },
      { timeout: 5000, interval: 20, what: 'a worker to hold the slow call' },
    );
    const before = await routerMetrics(tg);
    const free = before.workers.find((w) => w.id !== holder.id);
    for (let i = 0; i < 12; i++) {
      const r = await chat(tg, `quick ${i}`);
      assert.equal(r.status, 200, r.text);
      // Workers report finished calls in batches (at most 10 ms late): wait until the router
      // has this one back, so that only the slow call counts as busy.
      await waitFor(async () => (await routerMetrics(tg)).at_workers === 1, {
        timeout: 5000,
        interval: 5,
        what: 'the quick call reported done',
      });
    }
    const afterM = await routerMetrics(tg);
    const get = (m, id) => m.workers.find((w) => w.id === id);
    assert.equal(get(afterM, holder.id).dispatched, get(before, holder.id).dispatched,
      'the busy worker got none of the quick calls');
    assert.equal(get(afterM, free.id).dispatched - get(before, free.id).dispatched, 12);
    assert.equal((await slow).status, 200);
    // Concurrent slow calls spread evenly: each goes to the least busy worker.
    const b2 = await waitFor(
      async () => {
        const m = await routerMetrics(tg);
        return m.at_workers === 0 ? m : null;
      },
      { what: 'no call at workers' },
    );
    const batch = Array.from({ length: 8 }, (_, i) => chat(tg, `[[mock:latency_ms=800]] p${i}`));
    const a2 = await waitFor(
      async () => {
        const m = await routerMetrics(tg);
        return m.at_workers === 8 ? m : null;
      },
      { timeout: 5000, interval: 20, what: '8 calls at workers' },
    );
    for (const w of a2.workers) {
      assert.equal(w.dispatched - get(b2, w.id).dispatched, 4, `worker ${w.id} took half`);
    }
    for (const r of await Promise.all(batch)) assert.equal(r.status, 200);
  });

  test('a client that hangs up: the worker holding the call aborts the upstream transfer', async () => {
    const { tg, mock } = env;
    await mock.reset();
    const ac = new AbortController();
    const pending = fetch(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: '[[mock:hang]] cancel me' }],
      }),
      signal: ac.signal,
    }).catch(() => null);
    await waitFor(async () => (await mock.stats()).in_flight === 1, {
      what: 'the call to reach the mock',
    });
    ac.abort();
    await pending;
    await waitFor(async () => (await mock.stats()).in_flight === 0, {
      timeout: 5000,
      what: 'the upstream transfer to be aborted',
    });
    await waitFor(async () => (await routerMetrics(tg)).at_workers === 0, {
      timeout: 5000,
      what: 'the router to see the call done',
    });
  });

  test('SIGTERM drains a worker: its calls finish, new ones go elsewhere, it leaves', async () => {
    const { tg } = env;
    await bothWorkersKnown(tg);
    const calls = Array.from({ length: 6 }, (_, i) => chat(tg, `[[mock:latency_ms=1500]] d${i}`));
    await waitFor(async () => (await routerMetrics(tg)).at_workers === 6, {
      timeout: 5000,
      interval: 20,
      what: '6 calls at workers',
    });
    const pid = tg.pidOf('worker-1');
    const m0 = await routerMetrics(tg);
    const drainingId = workerOf(m0, tg, 'worker-1').id;
    assert.ok(workerOf(m0, tg, 'worker-1').busy > 0, 'worker-1 holds some of the calls');
    process.kill(pid, 'SIGTERM');
    await waitFor(
      async () => (await routerMetrics(tg)).workers.find((w) => w.id === drainingId)?.draining,
      { timeout: 3000, interval: 20, what: 'the router to see worker-1 draining' },
    );
    const during = [];
    for (let i = 0; i < 5; i++) during.push(await chat(tg, `during drain ${i}`));
    for (const r of during) assert.equal(r.status, 200);
    for (const r of await Promise.all(calls)) assert.equal(r.status, 200, r.text);
    await waitFor(() => !alive(pid), { timeout: 10000, what: 'worker-1 to exit' });
    const log = fs.readFileSync(tg.log, 'utf8');
    assert.match(log, /worker I drained: no call in flight/);
    assert.match(log, new RegExp(`worker left worker=${drainingId}`));
    assert.doesNotMatch(log, new RegExp(`worker lost worker=${drainingId}`));
    await bothWorkersKnown(tg); // the supervisor started a new worker-1
  });

  test('SIGKILL a worker with calls queued and in flight: each is answered within 3 s', async () => {
    const { tg } = env;
    await bothWorkersKnown(tg);
    const inFlight = Array.from({ length: 4 }, (_, i) => chat(tg, `[[mock:latency_ms=2500]] f${i}`));
    await waitFor(async () => (await routerMetrics(tg)).at_workers === 4, {
      timeout: 5000,
      interval: 20,
      what: '4 calls at workers',
    });
    const pid = tg.pidOf('worker-1');
    process.kill(pid, 'SIGSTOP'); // what reaches it now waits in its socket
    const queued = Array.from({ length: 4 }, (_, i) => chat(tg, `[[mock:latency_ms=100]] q${i}`));
    await waitFor(async () => (await routerMetrics(tg)).at_workers === 8, {
      timeout: 5000,
      interval: 10,
      what: 'the 4 new calls dispatched too',
    });
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    const all = await Promise.all([...inFlight, ...queued]);
    let lost = 0;
    for (const r of all) {
      assert.ok(r.status === 200 || r.status === 502, `status ${r.status} ${r.text}`);
      assert.ok(r.done - killedAt < 3000, `answered ${r.done - killedAt} ms after the kill`);
      if (r.status === 502) {
        assert.equal(r.json.error.code, 'worker_lost');
        lost++;
      }
    }
    assert.ok(lost >= 3, `the killed worker's calls, queued and in flight, got 502 (${lost})`);
    await bothWorkersKnown(tg);
  });
});

describe('the router killed under load', () => {
  const env = twoWorkers();

  test('every call is answered within 3 s; 503s carry Retry-After; the new router serves', async () => {
    const { tg } = env;
    let killedAt = 0;
    let stop = false;
    const results = [];
    const client = async (n) => {
      while (!stop) {
        const r = await chat(tg, `[[mock:latency_ms=150]] load ${n}`, { timeout: 20000 });
        results.push(r);
      }
    };
    const clients = Array.from({ length: 16 }, (_, i) => client(i));
    await delay(1500);
    const old = tg.pidOf('router');
    process.kill(old, 'SIGKILL');
    killedAt = Date.now();
    await delay(2500);
    stop = true;
    await Promise.all(clients);
    const statuses = {};
    for (const r of results) {
      statuses[r.status] = (statuses[r.status] || 0) + 1;
      assert.ok(r.status === 200 || r.status === 503, `status ${r.status} ${r.text}`);
      if (r.status === 503) {
        assert.equal(r.headers.get('retry-after'), '1');
        assert.equal(r.json.error.code, 'router_unavailable');
      }
      if (r.done > killedAt) {
        const started = r.done - r.ms;
        assert.ok(r.done - Math.max(started, killedAt) < 3000,
          `a call answered ${r.done - killedAt} ms after the kill (${r.status})`);
      }
    }
    assert.ok(statuses[200] > 50, JSON.stringify(statuses));
    await waitFor(
      () => {
        const p = tg.pidOf('router');
        return p && p !== old && alive(p);
      },
      { timeout: 10000, what: 'the router to be restarted' },
    );
    await waitFor(async () => (await chat(tg, 'after the router came back')).status === 200, {
      timeout: 10000,
      what: 'a call to succeed through the new router',
    });
  });
});
