// policy.test.mjs - the worker's call policy against the mock provider (issue 11, spec P2/P5):
// which upstream answers are retried and how often, Retry-After in both forms, the call's
// deadline (header and config default), the per-provider retry budget under a provider that
// keeps failing, each timeout kind, cancellation with partial usage, and gzip request bodies.
// Upstream calls are counted by the mock (/_mock/stats). Timing asserts are loose minimums
// and orderings only (the Debug build runs under ASan on a shared machine).

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { MASTER_KEY, http, startMock, startTollgate, uniq, waitFor } from './harness.mjs';

let mock;
let tg;
let blackhole; // a listening socket that never accepts: connects to it hang
const since = Math.floor(Date.now() / 1000) - 5;

// A TCP port whose accept queue is full, so that new connections are never established.
async function startBlackhole() {
  const child = spawn('python3', [
    '-c',
    'import socket,sys,time\n' +
      's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)\n' +
      'print(s.getsockname()[1], flush=True)\n' +
      'sys.stdin.read()\n',
  ]);
  child.on('error', () => {});
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const port = await waitFor(() => Number(out.trim()) || null, {
    timeout: 5000,
    interval: 20,
    what: 'the blackhole port',
  }).catch(() => null);
  if (!port) return null;
  const fillers = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  return {
    port,
    stop() {
      fillers.forEach((s) => s.destroy());
      child.stdin.end();
      child.kill();
    },
  };
}

before(async () => {
  mock = await startMock();
  blackhole = await startBlackhole();
  const other = (name, extra) =>
    `  - name: ${name}\n    kind: openai\n    base_url: ${mock.openaiBase}\n` +
    `    api_key_env: POLICY_KEY\n    breaker: off\n${extra}`;
  const config =
    `upstream:\n  max_retries: 2\n  retry_base_ms: 20\n  retry_after_max_ms: 5000\n` +
    `  retry_budget_percent: 20\n  retry_budget_min_per_s: 3\n  deadline_ms: 6000\n` +
    `  gzip_min_bytes: 1024\n` +
    // Breakers off: these tests measure the retry policy alone against providers that keep
    // failing (providers.test.mjs tests the breakers).
    `providers:\n  - name: openai\n    breaker: off\n` +
    other('gz', '    gzip: true\n') +
    other('one', '    max_retries: 0\n') +
    other('down', '') +
    other(
      'tmo',
      '    max_retries: 0\n    first_byte_timeout_ms: 700\n    idle_timeout_ms: 700\n' +
        '    total_timeout_ms: 2500\n',
    ) +
    `  - name: nocon\n    kind: openai\n` +
    `    base_url: http://127.0.0.1:${blackhole ? blackhole.port : 9}/v1\n` +
    `    api_key_env: POLICY_KEY\n    max_retries: 0\n    connect_timeout_ms: 300\n` +
    `    breaker: off\n`;
  tg = await startTollgate({ mock, config, env: { POLICY_KEY: 'sk-policy' } });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
  if (blackhole) blackhole.stop();
});

beforeEach(async () => {
  if (mock) await mock.reset();
});

const calls = async () => (await mock.stats()).by_path?.['/v1/chat/completions'] ?? 0;

// One chat call over fetch: { status, headers, json, text, ms }.
async function chat(text, { model = 'gpt-4o', headers = {}, stream = false, timeout = 30000 } = {}) {
  const t0 = Date.now();
  const res = await http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: text }] }),
    timeout,
  });
  return { ...res, ms: Date.now() - t0 };
}

async function metrics() {
  const res = await http(`${tg.base}/metrics`);
  assert.equal(res.status, 200);
  return res.text;
}

// The value of one series in the /metrics text (0 when absent).
function series(text, name, labels) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const have = inner.split(',');
    if (want.every((w) => have.includes(w))) return Number(line.slice(line.indexOf('}') + 1));
  }
  return 0;
}

describe('retry rules', () => {
  for (const status of [408, 409, 429, 500, 502, 503, 504]) {
    test(`${status} is retried`, async () => {
      const key = uniq(`r${status}`);
      const r = await chat(`[[mock:status=${status},fail_times=1,retry_after=0,key=${key}]] again`);
      assert.equal(r.status, 200, r.text);
      assert.match(r.json.choices[0].message.content, /again/);
      assert.equal(await calls(), 2, 'one failed call and one retry');
    });
  }

  for (const status of [400, 401, 404]) {
    test(`${status} is not retried`, async () => {
      const r = await chat(`[[mock:status=${status}]] no`);
      assert.equal(r.status, status);
      assert.equal(typeof r.json.error.message, 'string');
      assert.equal(await calls(), 1);
    });
  }

  test('a connection reset before any answer is retried', async () => {
    const key = uniq('reset');
    const r = await chat(`[[mock:reset_after=0,fail_times=1,key=${key}]] reset`);
    assert.equal(r.status, 200, r.text);
    assert.equal(await calls(), 2);
  });

  test('max attempts: upstream.max_retries (2) then the error; a provider override of 0', async () => {
    const r = await chat('[[mock:status=500]] always broken');
    assert.equal(r.status, 500);
    assert.equal(typeof r.json.error.message, 'string');
    assert.equal(await calls(), 3, 'first attempt + 2 retries');
    await mock.reset();
    const one = await chat('[[mock:status=500]] always broken', { model: 'one/gpt-4o' });
    assert.equal(one.status, 500);
    assert.equal(await calls(), 1, 'max_retries: 0 in the provider block');
  });

  test('a stream that already reached the client is not retried', async () => {
    const key = uniq('midstream');
    const r = await chat(`[[mock:reset_after=3,words=30,fail_times=1,key=${key}]] cut`, {
      stream: true,
    });
    assert.equal(r.status, 200);
    assert.match(r.text, /"error"/, 'the stream ends with an error event');
    assert.equal(await calls(), 1);
  });
});

describe('Retry-After', () => {
  test('in seconds: the retry waits for it', async () => {
    const key = uniq('ra');
    const r = await chat(`[[mock:status=429,retry_after=1,fail_times=1,key=${key}]] wait`);
    assert.equal(r.status, 200, r.text);
    assert.equal(await calls(), 2);
    assert.ok(r.ms >= 900, `answered after ${r.ms} ms, Retry-After was 1 s`);
  });

  test('as an HTTP date: the retry waits until then', async () => {
    const when = new Date(Date.now() + 2500).toUTCString();
    await mock.script([{ status: 503, headers: { 'retry-after': when } }]);
    const r = await chat('dated retry');
    assert.equal(r.status, 200, r.text);
    assert.equal(await calls(), 2);
    assert.ok(r.ms >= 900, `answered after ${r.ms} ms, Retry-After was ${when}`);
  });

  test('beyond upstream.retry_after_max_ms: no retry, the client gets the header', async () => {
    const r = await chat('[[mock:status=429,retry_after=60]] much later');
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '60');
    assert.equal(await calls(), 1);
    assert.ok(r.ms < 5000, `answered at once (${r.ms} ms)`);
  });
});

describe('deadline', () => {
  test('x-tollgate-deadline-ms: a slow upstream gives 504 deadline_exceeded', async () => {
    const r = await chat('[[mock:latency_ms=5000]] slow', {
      headers: { 'x-tollgate-deadline-ms': '400' },
    });
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.error.code, 'deadline_exceeded');
    assert.ok(r.ms >= 300 && r.ms < 4000, `answered after ${r.ms} ms`);
  });

  test('a deadline passing mid-stream ends the stream with an SSE error event', async () => {
    const r = await chat('[[mock:chunk_delay_ms=200,words=50]] streaming', {
      stream: true,
      headers: { 'x-tollgate-deadline-ms': '1200' },
    });
    assert.equal(r.status, 200);
    assert.match(r.text, /"content":/, 'some chunks came first');
    assert.match(r.text, /"code":"deadline_exceeded"/);
    assert.doesNotMatch(r.text, /\[DONE\]/);
  });

  test('no retry that cannot finish before the deadline', async () => {
    const r = await chat('[[mock:status=503,retry_after=2]] no time', {
      headers: { 'x-tollgate-deadline-ms': '1000' },
    });
    assert.equal(r.status, 503, r.text);
    assert.equal(await calls(), 1);
    assert.ok(r.ms < 1500, `answered at once (${r.ms} ms)`);
  });

  test('the config default (upstream.deadline_ms: 6000) applies without the header', async () => {
    const r = await chat('[[mock:hang]] forever', { timeout: 30000 });
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.error.code, 'deadline_exceeded');
    assert.ok(r.ms >= 5000 && r.ms < 20000, `answered after ${r.ms} ms`);
  });

  for (const bad of ['abc', '0', '-5', '1.5', '99999999999']) {
    test(`a bad header (${bad}) is a 400`, async () => {
      const r = await chat('hello', { headers: { 'x-tollgate-deadline-ms': bad } });
      assert.equal(r.status, 400);
      assert.equal(r.json.error.param, 'x-tollgate-deadline-ms');
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.equal(await calls(), 0);
    });
  }
});

describe('retry budget', () => {
  test('a provider that keeps failing gets a bounded number of calls', async (t) => {
    // 60 client calls, max_retries 2: without a budget 180 upstream calls. The budget allows
    // max(3/s x 10 s, 20 % of 60) = 30 retries in the window: at most 90.
    const N = 60;
    const results = [];
    for (let i = 0; i < N; i += 10) {
      const batch = Array.from({ length: 10 }, () =>
        chat('[[mock:status=503]] down', { model: 'down/gpt-4o' }),
      );
      results.push(...(await Promise.all(batch)));
    }
    assert.ok(results.every((r) => r.status === 503));
    const n = await calls();
    t.diagnostic(`${n} upstream calls for ${N} client calls (unbounded: ${N * 3})`);
    assert.ok(n > N, `some retries were made (${n} calls)`);
    assert.ok(n <= N + 30 + 3, `${n} upstream calls for ${N} client calls`);
    await waitFor(
      async () =>
        series(await metrics(), 'tollgate_provider_retry_budget_exhausted_total', {
          provider: 'down',
        }) > 0,
      { timeout: 10000, what: 'the budget metric' },
    );
  });
});

describe('timeouts', () => {
  test('first byte: 504 upstream_first_byte_timeout', async () => {
    const r = await chat('[[mock:latency_ms=5000]] late', { model: 'tmo/gpt-4o' });
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.error.code, 'upstream_first_byte_timeout');
    assert.ok(r.ms >= 600, `after ${r.ms} ms`);
  });

  test('idle mid-stream: an SSE error event upstream_idle_timeout, then the end', async () => {
    const r = await chat('[[mock:chunk_delay_ms=2000,words=5]] gappy', {
      model: 'tmo/gpt-4o',
      stream: true,
    });
    assert.equal(r.status, 200);
    assert.match(r.text, /"code":"upstream_idle_timeout"/);
    assert.doesNotMatch(r.text, /\[DONE\]/);
  });

  test('total: a steady but long stream is cut with upstream_timeout', async () => {
    const r = await chat('[[mock:chunk_delay_ms=300,words=40]] long', {
      model: 'tmo/gpt-4o',
      stream: true,
    });
    assert.equal(r.status, 200);
    assert.match(r.text, /"code":"upstream_timeout"/);
    assert.ok(r.ms >= 2000, `after ${r.ms} ms`);
  });

  test('connect: 504 upstream_connect_timeout', async (t) => {
    if (!blackhole) {
      t.skip('python3 is needed for a port that never accepts');
      return;
    }
    const r = await chat('nobody home', { model: 'nocon/gpt-4o' });
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.error.code, 'upstream_connect_timeout');
  });

  test('each kind is counted in /metrics', async () => {
    const kinds = ['first_byte', 'idle', 'total'].concat(blackhole ? ['connect'] : []);
    await waitFor(
      async () => {
        const text = await metrics();
        return (
          kinds.every((kind) => series(text, 'tollgate_provider_timeouts_total', { kind }) > 0) &&
          series(text, 'tollgate_provider_timeouts_total', { kind: 'deadline' }) > 0
        );
      },
      { timeout: 10000, what: 'tollgate_provider_timeouts_total for every kind' },
    );
  });
});

describe('cancellation', () => {
  test('the client leaving aborts the upstream quickly; the streamed tokens are recorded', async (t) => {
    const agent = uniq('cancel');
    const ctl = new AbortController();
    const res = await fetch(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${MASTER_KEY}`,
        'content-type': 'application/json',
        'x-agent-id': agent,
      },
      body: JSON.stringify({
        model: 'gpt-4o',
        stream: true,
        messages: [{ role: 'user', content: '[[mock:chunk_delay_ms=200,words=200]] go on' }],
      }),
      signal: ctl.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    while ((text.match(/"content":"[^"]+"/g) || []).length < 6) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
    }
    const t0 = Date.now();
    ctl.abort();
    await waitFor(
      async () => {
        const s = await mock.stats();
        return s.aborted >= 1 && s.in_flight === 0;
      },
      { timeout: 10000, interval: 10, what: 'the upstream transfer to be aborted' },
    );
    const took = Date.now() - t0;
    t.diagnostic(`upstream aborted ${took} ms after the client left`);
    // The worker aborts within 100 ms of the CANCEL; the margin is for ASan and polling.
    assert.ok(took < 1000, `upstream aborted ${took} ms after the client left`);
    const row = await waitFor(
      async () => {
        const u = await http(`${tg.baseURL}/usage?start=${since}&group_by=agent`, {
          headers: { authorization: `Bearer ${MASTER_KEY}` },
        });
        return u.json?.data?.find((d) => d.agent === agent);
      },
      { timeout: 10000, what: 'the usage event of the cancelled call' },
    );
    assert.equal(row.requests, 1);
    assert.equal(row.errors, 1, 'a client cancel is an error event (499)');
    assert.ok(row.tokens_out >= 3, `completion tokens estimated: ${row.tokens_out}`);
  });
});

describe('gzip request bodies', () => {
  const big = 'lorem ipsum dolor sit amet '.repeat(120); // ~3 KB, compresses well

  test('a provider marked gzip gets large bodies compressed; counted on both sides', async () => {
    const before = series(await metrics(), 'tollgate_provider_gzip_bytes_in_total', {
      provider: 'gz',
    });
    const r = await chat(`zip me ${big}`, { model: 'gz/gpt-4o' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.choices[0].message.content, /zip me/);
    const s = await mock.stats();
    assert.equal(s.gzip.requests, 1);
    assert.ok(s.gzip.bytes_in < s.gzip.bytes_out / 3, JSON.stringify(s.gzip));
    assert.equal(s.last_request.headers['content-encoding'], 'gzip');
    await waitFor(
      async () => {
        const text = await metrics();
        const bin = series(text, 'tollgate_provider_gzip_bytes_in_total', { provider: 'gz' });
        const bout = series(text, 'tollgate_provider_gzip_bytes_out_total', { provider: 'gz' });
        return bin - before === s.gzip.bytes_out && bout > 0 && bout < bin;
      },
      { timeout: 10000, what: 'gzip byte counters in /metrics' },
    );
  });

  test('a small body to the same provider goes plain', async () => {
    const r = await chat('short', { model: 'gz/gpt-4o' });
    assert.equal(r.status, 200);
    const s = await mock.stats();
    assert.equal(s.gzip.requests, 0);
    assert.equal(s.last_request.headers['content-encoding'], undefined);
  });

  test('a provider without gzip gets large bodies plain', async () => {
    const r = await chat(`plain ${big}`);
    assert.equal(r.status, 200);
    assert.equal((await mock.stats()).gzip.requests, 0);
  });
});
