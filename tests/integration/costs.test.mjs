// costs.test.mjs - cost analytics end to end: real calls through tollgate to the mock, then
// GET /v1/costs agrees with /v1/usage and with the tokens the mock reported, the 1-minute
// history holds the calls, the end-of-month prediction has its shape and bounds, and a bad
// `since` is a 400 naming the field.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MASTER_KEY, http, startMock, startTollgate, waitFor } from './harness.mjs';

const AGENT = 'costs-bot';
let mock;
let tg;
let client;
const auth = { authorization: `Bearer ${MASTER_KEY}` };
const tokens = { in: 0, out: 0, calls: 0 };
const started = new Date(Date.now() - 60000).toISOString();

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock });
  client = new OpenAI({
    baseURL: tg.baseURL,
    apiKey: MASTER_KEY,
    maxRetries: 0,
    timeout: 30000,
    defaultHeaders: { 'x-agent-id': AGENT },
  });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

async function get(path) {
  const res = await http(`${tg.baseURL}${path}`, { headers: auth });
  return res;
}

async function ok(path) {
  const res = await get(path);
  assert.equal(res.status, 200, `${path}: ${res.text}`);
  return res.json;
}

const near = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-6, `${what}: ${a} vs ${b}`);

describe('costs', () => {
  test('calls through the gateway are costed: /v1/costs = /v1/usage = the mock', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `cost me ${i} ${'word '.repeat(i * 7)}` }],
      });
      tokens.in += r.usage.prompt_tokens;
      tokens.out += r.usage.completion_tokens;
      tokens.calls++;
    }
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'streamed cost' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let last;
    for await (const chunk of stream) if (chunk.usage) last = chunk.usage;
    tokens.in += last.prompt_tokens;
    tokens.out += last.completion_tokens;
    tokens.calls++;

    const usage = await waitFor(
      async () => {
        const u = await ok('/usage');
        return u.totals.requests === tokens.calls ? u : null;
      },
      { timeout: 30000, interval: 100, what: `/v1/usage to count ${tokens.calls} calls` },
    );
    // latency percentiles per group, from the rollups
    for (const row of [usage.totals, ...usage.data]) {
      const l = row.latency_ms;
      assert.ok(l && l.p50 > 0 && l.p50 <= l.p95 && l.p95 <= l.p99, JSON.stringify(row));
    }
    const c = await ok('/costs');
    assert.equal(c.object, 'costs');
    assert.equal(c.currency, 'USD');
    assert.match(c.today.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.match(c.month_to_date.month, /^\d{4}-\d{2}$/);
    for (const period of [c.today, c.month_to_date]) {
      assert.equal(period.requests, tokens.calls);
      assert.equal(period.tokens_in, tokens.in);
      assert.equal(period.tokens_out, tokens.out);
      assert.equal(period.tokens_total, tokens.in + tokens.out);
      near(period.cost_usd, usage.totals.cost_usd, 'cost = /v1/usage');
      // gpt-4o: $2.50 in, $10 out per 1M tokens, each event priced to the micro-dollar
      const want = (tokens.in * 2.5 + tokens.out * 10) / 1e6;
      assert.ok(Math.abs(period.cost_usd - want) <= tokens.calls * 1e-6, `${period.cost_usd} ~ ${want}`);
      const p = period.by_provider.find((g) => g.provider === 'openai');
      const m = period.by_model.find((g) => g.model === 'gpt-4o');
      const a = period.by_agent.find((g) => g.agent === AGENT);
      for (const g of [p, m, a]) {
        assert.ok(g, `groups of ${JSON.stringify(period)}`);
        assert.equal(g.requests, tokens.calls);
        near(g.cost_usd, period.cost_usd, 'group cost');
      }
    }
    // six decimals on the wire
    const raw = await get('/costs');
    assert.match(raw.text, /"cost_usd":\d+\.\d{6}[,}]/);
  });

  test('/v1/costs/history has the calls as 1-minute points', async () => {
    const h = await ok(`/costs/history?since=${encodeURIComponent(started)}`);
    assert.equal(h.object, 'cost_history');
    assert.equal(h.interval, '1m');
    assert.ok(h.data.length >= 1 && h.data.length <= 3, `points: ${JSON.stringify(h.data)}`);
    assert.equal(h.points, h.data.length);
    const requests = h.data.reduce((s, p) => s + p.requests, 0);
    assert.equal(requests, tokens.calls);
    assert.equal(h.data.reduce((s, p) => s + p.tokens_in, 0), tokens.in);
    const c = await ok('/costs');
    near(h.total_usd, c.today.cost_usd, 'history total = today');
    let prev = '';
    for (const p of h.data) {
      assert.match(p.ts, /:00\.000Z$/, 'points start on the minute');
      assert.ok(p.ts > prev, 'in time order');
      prev = p.ts;
    }
    near(h.data[h.data.length - 1].cumulative_usd, h.total_usd, 'cumulative');
    // the default window is the last hour
    const d = await ok('/costs/history');
    assert.equal(d.data.reduce((s, p) => s + p.requests, 0), tokens.calls);
  });

  test('/v1/costs/prediction: current + daily_avg x days_remaining, confidence in 0..1', async () => {
    const p = await ok('/costs/prediction');
    const c = await ok('/costs');
    assert.equal(p.object, 'cost_prediction');
    assert.equal(p.month, c.month_to_date.month);
    near(p.current_usd, c.month_to_date.cost_usd, 'current = month to date');
    assert.ok(p.days_elapsed > 0 && p.days_elapsed <= 31);
    assert.ok(p.days_remaining > 0 && p.days_remaining <= 31);
    const avg = p.current_usd / Math.max(p.days_elapsed, 1);
    assert.ok(Math.abs(p.daily_avg_usd - avg) <= 2e-6, `${p.daily_avg_usd} ~ ${avg}`);
    const want = p.current_usd + p.daily_avg_usd * p.days_remaining;
    assert.ok(Math.abs(p.predicted_usd - want) <= 1e-4, `${p.predicted_usd} ~ ${want}`);
    assert.ok(p.predicted_usd >= p.current_usd);
    assert.ok(p.confidence >= 0 && p.confidence <= 1, `confidence ${p.confidence}`);
    // a fresh store: no complete day of data yet, so no confidence
    assert.equal(p.days_of_data, 0);
    assert.equal(p.confidence, 0);
    assert.equal(typeof p.method, 'string');
  });

  test('a bad since is a 400 naming the field; the routes need the key', async () => {
    for (const since of ['yesterday', '2026-02-30', '2001-01-01T00:00:00Z']) {
      const res = await get(`/costs/history?since=${encodeURIComponent(since)}`);
      assert.equal(res.status, 400, `${since}: ${res.text}`);
      assert.equal(res.json.error.param, 'since');
      assert.match(res.json.error.message, /since/);
    }
    for (const path of ['/costs', '/costs/history', '/costs/prediction']) {
      const res = await http(`${tg.baseURL}${path}`);
      assert.equal(res.status, 401, `${path} without a key`);
    }
  });
});
