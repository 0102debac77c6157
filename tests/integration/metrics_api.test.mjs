// metrics_api.test.mjs - the metrics query API (spec A5) and organization isolation (A7)
// over real gateway traffic through the mock: GET /api/v1/metrics, POST
// /api/v1/metrics/query and GET /api/v1/metrics/summary agree with a brute-force sum of
// what the clients saw and with /v1/usage; the 60 s cache drops an answer when new events
// land in its range; keys see only their organization; roles give 403s naming the role;
// bad queries give 400s naming the field.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MASTER_KEY, http, startMock, startTollgate, waitFor } from './harness.mjs';

let mock;
let tg;
let root;
const HOUR = 3600 * 1000;
// A range on hour boundaries that holds every call of this file.
const start = new Date(Math.floor((Date.now() - HOUR) / HOUR) * HOUR).toISOString();
const end = new Date(Math.ceil((Date.now() + 2 * HOUR) / HOUR) * HOUR).toISOString();

const bearer = (key) => ({ authorization: `Bearer ${key}` });

async function api(key, path, { method = 'GET', body } = {}) {
  return http(`${root}${path}`, {
    method,
    headers: { ...bearer(key), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeout: 30000,
  });
}

async function createKey(body) {
  const res = await api(MASTER_KEY, '/v1/keys', { method: 'POST', body });
  assert.equal(res.status, 200, res.text);
  return res.json.key;
}

// What the clients saw, per model.
const seen = {};
let calls = 0;

async function traffic(key, model, n) {
  const client = new OpenAI({ baseURL: tg.baseURL, apiKey: key, maxRetries: 0, timeout: 30000 });
  for (let i = 0; i < n; i++) {
    const r = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: `metrics ${model} ${i} ${'x '.repeat(i * 3)}` }],
    });
    const s = (seen[model] ||= { requests: 0, in: 0, out: 0 });
    s.requests++;
    s.in += r.usage.prompt_tokens;
    s.out += r.usage.completion_tokens;
    calls++;
  }
}

async function usageGroups() {
  const res = await api(
    MASTER_KEY,
    `/v1/usage?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}&group_by=provider,model`,
  );
  assert.equal(res.status, 200, res.text);
  return res.json;
}

let keyDefault; // a virtual key of the "default" organization (made without one)
let keyAcme; // organization acme: no traffic of its own
let keyReadOnly; // metrics:read only
let keyQuery; // metrics:query only
let keyNone; // no role

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock });
  root = tg.baseURL.replace(/\/v1$/, '');
  keyDefault = await createKey({ name: 'default-org', roles: ['metrics:read', 'metrics:query'] });
  keyAcme = await createKey({ name: 'acme', organization: 'acme', roles: ['admin'] });
  keyReadOnly = await createKey({ name: 'ro', organization: 'acme', roles: ['metrics:read'] });
  keyQuery = await createKey({ name: 'q', organization: 'acme', roles: ['metrics:query'] });
  keyNone = await createKey({ name: 'none', organization: 'acme', roles: [] });
  // The fixture: three models, two callers (the master key and a default-org virtual key).
  await traffic(MASTER_KEY, 'gpt-4o', 6);
  await traffic(keyDefault, 'gpt-4o-mini', 4);
  await traffic(MASTER_KEY, 'gpt-4o-mini', 3);
  await traffic(keyDefault, 'gpt-4.1', 2);
  await waitFor(async () => (await usageGroups()).totals.requests === calls || null, {
    timeout: 60000,
    interval: 200,
    what: `/v1/usage to count ${calls} calls`,
  });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

function sumRows(rows, field) {
  return rows.reduce((a, r) => a + r[field], 0);
}

describe('metrics API', () => {
  test('GET /api/v1/metrics: per model, the same as the clients saw and as /v1/usage', async () => {
    const usage = await usageGroups();
    const q = new URLSearchParams({
      metrics: 'request_count,input_tokens,output_tokens,total_cost,duration,error_rate',
      interval: '1hour',
      start_time: start,
      end_time: end,
      group_by: 'provider,model',
      include_percentiles: 'true',
    });
    const res = await api(MASTER_KEY, `/api/v1/metrics?${q}`);
    assert.equal(res.status, 200, res.text);
    const m = res.json.metadata;
    assert.equal(m.interval, '1hour');
    assert.deepEqual(m.group_by, ['provider', 'model']);
    assert.equal(m.data_source, 'rollups_1hour');
    assert.equal(m.total_points, res.json.data.length);
    for (const [model, s] of Object.entries(seen)) {
      const rows = res.json.data.filter((r) => r.model === model);
      assert.ok(rows.length >= 1, `rows of ${model}`);
      assert.equal(sumRows(rows, 'request_count'), s.requests, model);
      assert.equal(sumRows(rows, 'input_tokens'), s.in, model);
      assert.equal(sumRows(rows, 'output_tokens'), s.out, model);
      const g = usage.data.find((u) => u.model === model);
      assert.ok(Math.abs(sumRows(rows, 'total_cost') - g.cost_usd) < 1e-5 * rows.length, model);
      for (const r of rows) {
        assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:00:00(\.000)?Z$/);
        assert.equal(r.error_rate, 0);
        assert.ok(r.duration > 0);
        assert.ok(r.duration_p50 <= r.duration_p99 * 1.0001, JSON.stringify(r));
      }
    }
    assert.equal(sumRows(res.json.data, 'request_count'), calls);
  });

  test('POST /api/v1/metrics/query: aliases, in filter, having, sort_by, limit', async () => {
    const body = {
      metrics: [
        { metric: 'request_count', aggregation: 'sum', alias: 'total_requests' },
        { metric: 'duration', aggregation: 'avg', alias: 'avg_duration' },
        { metric: 'total_tokens', aggregation: 'sum' },
      ],
      interval: '1day',
      start_time: start,
      end_time: end,
      group_by: ['model'],
      filters: [{ dimension: 'model', operator: 'in', value: ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1'] }],
      having: [{ metric: 'request_count', aggregation: 'sum', operator: 'gte', value: 3 }],
      sort_by: { field: 'request_count', descending: true },
      limit: 100,
    };
    const res = await api(keyDefault, '/api/v1/metrics/query', { method: 'POST', body });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.metadata.filters_applied, 1);
    assert.equal(res.json.metadata.having_conditions, 1);
    // Brute force: the same query without having holds every (day, model) row, summing to
    // what the clients saw; having keeps exactly those rows with >= 3 requests.
    const all = await api(keyDefault, '/api/v1/metrics/query', {
      method: 'POST',
      body: { ...body, having: [] },
    });
    assert.equal(all.status, 200, all.text);
    const perModel = {};
    for (const r of all.json.data) perModel[r.model] = (perModel[r.model] || 0) + r.total_requests;
    for (const [model, s] of Object.entries(seen)) assert.equal(perModel[model], s.requests, model);
    const key = (r) => `${r.timestamp} ${r.model}`;
    const want = all.json.data.filter((r) => r.total_requests >= 3).map(key).sort();
    assert.deepEqual(res.json.data.map(key).sort(), want);
    assert.equal(res.json.metadata.total_rows, want.length);
    assert.ok(all.json.data.some((r) => r.total_requests < 3), 'the having condition drops a row');
    const counts = res.json.data.map((r) => r.total_requests);
    assert.deepEqual(counts, [...counts].sort((a, b) => b - a), 'sorted by requests, descending');
    const tokens = res.json.data.map((r) => r.total_tokens);
    assert.ok(tokens.every((t) => Number.isInteger(t) && t > 0));
    // limit 1: the busiest model only
    const one = await api(keyDefault, '/api/v1/metrics/query', { method: 'POST', body: { ...body, limit: 1 } });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.data.length, 1);
    assert.equal(one.json.data[0].model, res.json.data[0].model);
  });

  test('GET /api/v1/metrics/summary: totals, top items, quality', async () => {
    const q = new URLSearchParams({ start_time: start, end_time: end });
    const res = await api(MASTER_KEY, `/api/v1/metrics/summary?${q}`);
    assert.equal(res.status, 200, res.text);
    const s = res.json;
    assert.equal(s.current_period.total_requests, calls);
    const tokens = Object.values(seen).reduce((a, x) => a + x.in + x.out, 0);
    assert.equal(s.current_period.total_tokens, tokens);
    assert.equal(s.current_period.error_rate, 0);
    assert.equal(s.current_period.success_rate, 1);
    assert.ok(s.current_period.p95_duration_ms > 0);
    assert.equal(s.previous_period.total_requests, 0);
    assert.equal(s.changes.requests_change_pct, null, 'no previous period to compare with');
    const busiest = Object.entries(seen).sort((a, b) => b[1].requests - a[1].requests)[0];
    assert.equal(s.top_items.by_requests[0].model, busiest[0]);
    assert.equal(s.top_items.by_requests[0].value, busiest[1].requests);
    assert.equal(s.top_items.by_cost.length, Object.keys(seen).length);
    assert.deepEqual(s.top_items.by_errors, []);
    assert.equal(s.quality.error_count, 0);
    assert.equal(s.quality.success_count, calls);
    assert.deepEqual(s.quality.most_common_errors, []);
  });

  test('the cache drops an answer as soon as new events land in its range', async () => {
    const q = `/api/v1/metrics?metrics=request_count&interval=1day&start_time=${encodeURIComponent(start)}&end_time=${encodeURIComponent(end)}`;
    const first = await api(MASTER_KEY, q);
    assert.equal(first.status, 200, first.text);
    const again = await api(MASTER_KEY, q);
    assert.equal(again.text, first.text, 'the same answer (from the cache)');
    const before = sumRows(first.json.data, 'request_count');
    await traffic(MASTER_KEY, 'gpt-4o', 1);
    await waitFor(async () => (await usageGroups()).totals.requests === calls || null, {
      timeout: 30000,
      interval: 100,
      what: 'the new call in /v1/usage',
    });
    const after = await api(MASTER_KEY, q);
    assert.equal(sumRows(after.json.data, 'request_count'), before + 1, 'not the stale cached answer');
  });

  test('isolation: a key sees only its organization; /v1/usage is the master key\'s', async () => {
    const q = `/api/v1/metrics?metrics=request_count&interval=1day&start_time=${encodeURIComponent(start)}&end_time=${encodeURIComponent(end)}`;
    const acme = await api(keyAcme, q);
    assert.equal(acme.status, 200, acme.text);
    assert.equal(acme.json.metadata.organization, 'acme');
    assert.deepEqual(acme.json.data, [], 'acme sent nothing');
    const def = await api(keyDefault, q);
    assert.equal(def.status, 200, def.text);
    assert.equal(def.json.metadata.organization, 'default');
    assert.equal(sumRows(def.json.data, 'request_count'), calls, 'the gateway traffic is the default org\'s');
    const master = await api(MASTER_KEY, q);
    assert.equal(master.json.metadata.organization, null);
    assert.equal(sumRows(master.json.data, 'request_count'), calls);
    const byOrg = await api(MASTER_KEY, `${q}&group_by=org`);
    assert.deepEqual(byOrg.json.data.map((r) => r.org), byOrg.json.data.map(() => 'default'));
    const sum = await api(keyAcme, '/api/v1/metrics/summary');
    assert.equal(sum.status, 200, sum.text);
    assert.equal(sum.json.current_period.total_requests, 0);
    for (const path of ['/v1/usage', '/v1/costs']) {
      const res = await api(keyAcme, path);
      assert.equal(res.status, 403, `${path}: ${res.text}`);
      assert.match(res.json.error.message, /master key/);
    }
  });

  test('roles: 403 naming the missing role', async () => {
    const body = { metrics: [{ metric: 'request_count' }] };
    let res = await api(keyReadOnly, '/api/v1/metrics/query', { method: 'POST', body });
    assert.equal(res.status, 403, res.text);
    assert.match(res.json.error.message, /metrics:query/);
    res = await api(keyReadOnly, '/api/v1/metrics?metrics=request_count');
    assert.equal(res.status, 200, res.text);
    res = await api(keyQuery, '/api/v1/metrics/query', { method: 'POST', body });
    assert.equal(res.status, 200, res.text);
    res = await api(keyQuery, '/api/v1/metrics/summary');
    assert.equal(res.status, 403, res.text);
    assert.match(res.json.error.message, /metrics:read/);
    res = await api(keyNone, '/api/v1/metrics?metrics=request_count');
    assert.equal(res.status, 403, res.text);
    // the key API shows the roles
    const list = await api(MASTER_KEY, '/v1/keys');
    const ro = list.json.data.find((k) => k.name === 'ro');
    assert.deepEqual(ro.roles, ['metrics:read']);
    const none = list.json.data.find((k) => k.name === 'none');
    assert.deepEqual(none.roles, []);
  });

  test('environment and user_id of gateway calls: x-tollgate-environment, the body\'s user, x-tollgate-user-id', async () => {
    const staged = new OpenAI({
      baseURL: tg.baseURL,
      apiKey: MASTER_KEY,
      maxRetries: 0,
      timeout: 30000,
      defaultHeaders: { 'x-tollgate-environment': 'staging' },
    });
    const want = { 'u-1': 0, 'u-2': 0 };
    for (let i = 0; i < 5; i++) {
      const user = i < 3 ? 'u-1' : 'u-2';
      const r = await staged.chat.completions.create(
        {
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `staged ${i}` }],
          ...(user === 'u-1' ? { user } : {}),
        },
        user === 'u-2' ? { headers: { 'x-tollgate-user-id': user } } : {},
      );
      const s = (seen['gpt-4o-mini'] ||= { requests: 0, in: 0, out: 0 });
      s.requests++;
      s.in += r.usage.prompt_tokens;
      s.out += r.usage.completion_tokens;
      calls++;
      want[user]++;
    }
    await waitFor(async () => (await usageGroups()).totals.requests === calls || null, {
      timeout: 60000,
      interval: 200,
      what: `/v1/usage to count ${calls} calls`,
    });
    const q = `/api/v1/metrics?metrics=request_count&start_time=${encodeURIComponent(start)}&end_time=${encodeURIComponent(end)}`;
    const byUser = await api(MASTER_KEY, `${q}&group_by=environment,user_id&environment=staging`);
    assert.equal(byUser.status, 200, byUser.text);
    assert.equal(byUser.json.metadata.interval, '1day');
    const got = {};
    for (const r of byUser.json.data) {
      assert.equal(r.environment, 'staging');
      got[r.user_id] = (got[r.user_id] || 0) + r.request_count;
    }
    assert.deepEqual(got, want);
    const byEnv = await api(MASTER_KEY, `${q}&interval=1hour&group_by=environment`);
    assert.equal(byEnv.status, 200, byEnv.text);
    const envs = {};
    for (const r of byEnv.json.data) envs[r.environment] = (envs[r.environment] || 0) + r.request_count;
    assert.equal(envs.staging, 5, JSON.stringify(envs));
    assert.equal(envs.production, calls - 5, 'the rest: the default environment');
  });

  test('bad queries: 400 naming the field, with the limits spelled out', async () => {
    const cases = [
      ['/api/v1/metrics?metrics=bogus', 'metrics', /unknown metric/],
      ['/api/v1/metrics?metrics=request_count&interval=2min', 'interval', /1min, 5min, 1hour or 1day/],
      ['/api/v1/metrics?metrics=request_count&start_time=2026-01-01&end_time=2026-06-01', 'start_time', /90 days/],
      ['/api/v1/metrics?metrics=request_count&group_by=provider,model,key,agent,org,environment', 'group_by', /at most 5/],
      ['/api/v1/metrics?metrics=total_cost&aggregation=max', 'aggregation', /does not apply/],
    ];
    for (const [path, param, msg] of cases) {
      const res = await api(MASTER_KEY, path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.json.error.param, param, path);
      assert.match(res.json.error.message, msg, path);
    }
    const many = { metrics: Array.from({ length: 21 }, () => ({ metric: 'request_count' })) };
    const res = await api(MASTER_KEY, '/api/v1/metrics/query', { method: 'POST', body: many });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.param, 'metrics');
    assert.match(res.json.error.message, /at most 20/);
    const notJson = await http(`${root}/api/v1/metrics/query`, {
      method: 'POST',
      headers: { ...bearer(MASTER_KEY), 'content-type': 'application/json' },
      body: '{"metrics":',
    });
    assert.equal(notJson.status, 400, notJson.text);
  });
});
