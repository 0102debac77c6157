// usage.test.mjs - accounting end to end: GET /v1/usage after real calls, analytics killed
// with SIGKILL in the middle of a burst, twice (no event lost, none counted twice, whether
// the worker's batches were on the wire, committed or not yet acknowledged), and /metrics
// aggregated over the processes and valid for promtool.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import {
  MASTER_KEY,
  alive,
  delay,
  http,
  pool,
  startMock,
  startTollgate,
  waitFor,
} from './harness.mjs';

const RESEND_MS = 300;
// Small batches, so a burst fills some (sent at once) and leaves others to the 5 ms timer.
const BATCH_MAX = 4;
let mock;
let tg;
let client;
const since = Math.floor(Date.now() / 1000) - 3600;

before(async () => {
  mock = await startMock();
  // Unacknowledged usage events are resent quickly, so a duplicate would show up quickly too.
  tg = await startTollgate({
    mock,
    config: `usage:\n  resend_ms: ${RESEND_MS}\n  batch_max: ${BATCH_MAX}\n  batch_ms: 5\n`,
  });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 30000 });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

async function usage() {
  const res = await http(`${tg.baseURL}/usage?start=${since}`, {
    headers: { authorization: `Bearer ${MASTER_KEY}` },
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.object, 'usage');
  return res.json;
}

const gpt4o = (u) => u.data.find((g) => g.provider === 'openai' && g.model === 'gpt-4o');

// Waits until analytics reports `requests` in total, then checks that the count holds while
// several resend periods pass (a duplicate would push it past).
async function settled(requests, what) {
  const u = await waitFor(
    async () => {
      const cur = await usage();
      assert.ok(cur.totals.requests <= requests, `over-counted: ${cur.totals.requests} > ${requests}`);
      return cur.totals.requests === requests ? cur : null;
    },
    { timeout: 60000, interval: 200, what },
  );
  const until = Date.now() + 10 * RESEND_MS;
  while (Date.now() < until) {
    await delay(RESEND_MS / 2);
    const cur = await usage();
    assert.equal(cur.totals.requests, requests, 'the count stays exact');
  }
  return u;
}

const tokens = { in: 0, out: 0, calls: 0 };

function count(completionUsage) {
  tokens.in += completionUsage.prompt_tokens;
  tokens.out += completionUsage.completion_tokens;
  tokens.calls++;
}

describe('usage', () => {
  test('GET /v1/usage counts every call with its tokens and a gpt-4o cost', async () => {
    for (let i = 0; i < 8; i++) {
      const r = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `count me ${i} ${'word '.repeat(i * 5)}` }],
      });
      count(r.usage);
    }
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `streamed count ${i}` }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let last;
      for await (const chunk of stream) if (chunk.usage) last = chunk.usage;
      count(last);
    }
    const u = await settled(tokens.calls, `/v1/usage to report ${tokens.calls} requests`);
    assert.equal(u.totals.tokens_in, tokens.in);
    assert.equal(u.totals.tokens_out, tokens.out);
    assert.equal(u.totals.errors, 0);
    const g = gpt4o(u);
    assert.ok(g, `an openai/gpt-4o group in ${JSON.stringify(u.data)}`);
    assert.equal(g.requests, tokens.calls);
    // gpt-4o: $2.50 in, $10 out per 1M tokens; each event is priced to the micro-dollar.
    const want = (tokens.in * 2.5 + tokens.out * 10) / 1e6;
    assert.ok(g.cost_usd > 0, 'non-zero cost');
    assert.ok(Math.abs(g.cost_usd - want) <= tokens.calls * 1e-6, `${g.cost_usd} ~ ${want}`);
    assert.equal(g.unknown_pricing, false);
  });
});

describe('/metrics', () => {
  const families = [
    'llm_requests_total',
    'llm_request_duration_seconds',
    'llm_tokens_total',
    'llm_cost_usd',
    'llm_provider_errors_total',
    // OpenTelemetry GenAI client metrics (histograms)
    'gen_ai_client_token_usage',
    'gen_ai_client_operation_duration_seconds',
  ];

  test('aggregated metrics name the traffic and count every call', async () => {
    // Every process publishes its counters about once a second: poll until they add up.
    const sum = (text) =>
      [...text.matchAll(/^llm_requests_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm)].reduce(
        (s, m) => s + Number(m[1]),
        0,
      );
    let seen = '';
    const text = await waitFor(
      async () => {
        const res = await http(`${tg.base}/metrics`);
        seen = res.text;
        // analytics publishes the GenAI histograms after its commit: wait for them too.
        const genaiCalls = [
          ...res.text.matchAll(/^gen_ai_client_operation_duration_seconds_count\{[^}]*\} (\d+)$/gm),
        ].reduce((s, m) => s + Number(m[1]), 0);
        return res.status === 200 && sum(res.text) === tokens.calls && genaiCalls === tokens.calls
          ? res.text
          : null;
      },
      { timeout: 15000, what: `llm_requests_total to sum to ${tokens.calls}` },
    ).catch((err) => {
      throw new Error(`${err.message}; last /metrics:\n${seen.slice(0, 4000)}`);
    });
    assert.ok(/llm_requests_total\{[^}]*model="gpt-4o"/.test(text), 'gpt-4o requests');
    // A counter may be exposed with the `_total` suffix (llm_cost_usd -> llm_cost_usd_total).
    for (const f of families) {
      assert.ok(new RegExp(`^# TYPE ${f}(_total)? `, 'm').test(text), `${f} in /metrics`);
    }
    // The worker sent its usage events in batches: the sequential calls above each went
    // alone, on the batch timer.
    assert.ok(/^tollgate_usage_batches_total\{reason="timer"\} [1-9]/m.test(text), 'timer batches');
    const genai = /^gen_ai_client_token_usage_count\{([^}]*)\} (\d+)$/gm;
    const types = new Set();
    for (const m of text.matchAll(genai)) {
      assert.match(m[1], /gen_ai_operation_name="chat"/);
      assert.match(m[1], /gen_ai_system="openai"/);
      assert.match(m[1], /gen_ai_request_model="gpt-4o"/);
      assert.match(m[1], /gen_ai_response_model="gpt-4o"/);
      types.add(/gen_ai_token_type="(\w+)"/.exec(m[1])[1]);
    }
    assert.deepEqual([...types].sort(), ['input', 'output'], 'token usage by type');
    for (const le of ['0.1', '0.5', '1', '2', '5', '10', '30', '60', '\\+Inf']) {
      const bucket = new RegExp(`llm_request_duration_seconds_bucket\\{[^}]*le="${le}"`);
      assert.ok(bucket.test(text), `duration bucket le=${le}`);
    }
  });

  test('promtool check metrics passes without lint warnings', async (t) => {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      t.skip('promtool not installed (scripts/deps.sh installs the prometheus package)');
      return;
    }
    const res = await http(`${tg.base}/metrics`);
    assert.equal(res.status, 200);
    const file = path.join(tg.dir, 'metrics.txt');
    fs.writeFileSync(file, res.text);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
    const output = `${check.stdout}${check.stderr}`.trim();
    assert.equal(check.status, 0, output);
    assert.equal(output, '', `promtool printed: ${output} (metrics in ${file})`);
  });
});

// One call: every third is streamed (its usage comes in the last chunk). Returns the
// completion's usage after checking the answer is complete.
async function call(i, tag) {
  const messages = [{ role: 'user', content: `${tag} request ${i} ${'word '.repeat(i % 7)}` }];
  if (i % 3 === 2) {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let last;
    let finish;
    for await (const chunk of stream) {
      if (chunk.usage) last = chunk.usage;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    }
    assert.equal(finish, 'stop');
    assert.ok(last, 'a streamed call ends with its usage');
    return last;
  }
  const r = await client.chat.completions.create({ model: 'gpt-4o', messages });
  assert.equal(r.choices[0].finish_reason, 'stop');
  return r.usage;
}

// Runs `n` calls, 10 at a time, and SIGKILLs analytics when call `killAt` starts; waits for
// the supervisor to start a new one and for /v1/usage to settle on exactly base + n.
async function burstWithKill(n, killAt, tag) {
  const base = (await usage()).totals.requests;
  const oldPid = tg.pidOf('analytics');
  assert.ok(oldPid && alive(oldPid), 'analytics runs and its pid is recorded');
  const results = await pool(n, 10, async (i) => {
    if (i === killAt) process.kill(oldPid, 'SIGKILL');
    return call(i, tag);
  });
  assert.equal(results.length, n);
  for (const r of results) count(r);
  await waitFor(
    () => {
      const pid = tg.pidOf('analytics');
      return pid && pid !== oldPid && alive(pid);
    },
    { timeout: 30000, what: 'the supervisor to restart analytics' },
  );
  assert.ok(!alive(oldPid), 'the old analytics is gone');
  await waitFor(async () => (await tg.ready()).status === 200, {
    timeout: 30000,
    what: '/readyz 200 after the restart',
  });
  const u = await settled(base + n, `/v1/usage to report ${base + n} requests`);
  assert.equal(u.totals.tokens_in, tokens.in);
  assert.equal(u.totals.tokens_out, tokens.out);
  assert.equal(gpt4o(u).requests, tokens.calls);
}

describe('analytics restart', () => {
  test('SIGKILL of analytics during a burst of 200: no event lost, none counted twice', async () => {
    await burstWithKill(200, 60, 'burst');
    const log = fs.readFileSync(tg.log, 'utf8');
    assert.ok(/analytics pid=\d+ killed by signal 9/.test(log), 'the supervisor logged the kill');
  });

  test('a second SIGKILL, of the restarted analytics: the count stays exact', async () => {
    await burstWithKill(120, 30, 'second');
    const log = fs.readFileSync(tg.log, 'utf8');
    const kills = log.match(/analytics pid=\d+ killed by signal 9/g) || [];
    assert.equal(kills.length, 2, 'two kills logged');
  });
});
