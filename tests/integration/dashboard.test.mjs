// dashboard.test.mjs - the dashboard in a real browser (Debian's chromium, driven by
// puppeteer-core): after real mock traffic (calls, a cache hit, a stream, errors, a W3C-traced
// call with an application event under it, an alert rule that fires), it logs in with the
// admin key (kept in sessionStorage only), draws every panel from live data, the trace's
// tree included, logs no console error, and leaves a screenshot in build-debug/artifacts/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { MASTER_KEY, http, startMock, startTollgate, waitFor } from './harness.mjs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const ALERT_RULE = {
  name: 'any call',
  event: 'request',
  condition: 'count',
  comparator: '>=',
  threshold: 1,
  window_s: 3600,
  severity: 'warning',
  channels: [{ type: 'stream' }],
};
let mock;
let tg;
let browser;

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock });
  // Real traffic: calls (one twice: a cache hit), a stream, an upstream error.
  const chat = (content, extra = {}) =>
    http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra }),
    });
  for (let i = 0; i < 5; i++) await chat(`dashboard ${i}`);
  await chat('cached one', { temperature: 0 });
  await waitFor(async () => (await http(`${tg.baseURL}/cache/stats`, { headers: AUTH })).json.fills > 0, {
    what: 'a cache fill',
  });
  await chat('cached one', { temperature: 0 });
  await chat('streamed', { stream: true });
  await chat('[[mock:status=400]] failing');
  // A trace: a call sent with a W3C traceparent, and an application event under it.
  const traced = await http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, traceparent: `00-${TRACE}-00f067aa0ba902b7-01` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'traced' }] }),
  });
  assert.equal(traced.status, 200, traced.text);
  const ev = await http(`${tg.base}/api/v1/events`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({
      type: 'tool_call',
      trace_id: TRACE,
      span_id: 'tool-1',
      parent_event_id: traced.headers.get('x-request-id'),
      latency_ms: 12,
    }),
  });
  assert.equal(ev.status, 200, ev.text);
  // An alert: a rule that fires on the first error event.
  const rule = await http(`${tg.baseURL}/alerts/rules`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify(ALERT_RULE),
  });
  assert.equal(rule.status, 201, rule.text);
  await chat('after the rule');
  await waitFor(
    async () => (await http(`${tg.baseURL}/usage`, { headers: AUTH })).json.totals.requests >= 9,
    { what: 'usage of the calls' },
  );
  await waitFor(
    async () => (await http(`${tg.base}/api/v1/traces/${TRACE}`, { headers: AUTH })).json?.span_count >= 2,
    { what: 'the trace' },
  );
  await waitFor(
    async () => (await http(`${tg.baseURL}/costs/alerts`, { headers: AUTH })).json?.data?.length > 0,
    { what: 'the rule alert' },
  );
});

after(async () => {
  if (browser) await browser.close();
  if (tg) await tg.stop();
  if (mock) await mock.stop();
});

test('the dashboard draws live data in chromium, with no console error', { skip: !CHROMIUM && 'no chromium' }, async () => {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage();
  const problems = [];
  // A 404 from an API this gateway does not serve yet is how the page learns it; the browser
  // logs it as a console error, which is expected for those paths only.
  const optional = ['/v1/costs/history', '/v1/costs/prediction', '/v1/providers', '/api/v1/traces'];
  page.on('console', (m) => {
    const url = m.location()?.url || '';
    const expected404 =
      /status of 404/.test(m.text()) && optional.some((p) => new URL(url, tg.base).pathname === p);
    if (m.type() === 'error' && !expected404) problems.push(`console: ${m.text()} (${url})`);
  });
  page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));

  await page.goto(`${tg.base}/dashboard`, { waitUntil: 'load' });
  assert.ok(await page.$('#login:not([hidden])'), 'asks for the key first');
  await page.type('#key', MASTER_KEY);
  await page.click('#login button[type=submit]');
  await page.waitForFunction(
    () => [...document.querySelectorAll('.panel')].every((p) => p.dataset.state !== 'loading'),
    { timeout: 15000 },
  );
  const states = await page.$$eval('.panel', (ps) =>
    Object.fromEntries(ps.map((p) => [p.id, [p.dataset.state, p.querySelector('.note').textContent]])),
  );
  // Every panel's API exists now: each one drew live data.
  for (const [id, [state, note]] of Object.entries(states))
    assert.equal(state, 'drawn', `${id}: ${state} ${note}`);
  const spans = await page.$$eval('#trace .tree li', (lis) => lis.map((li) => li.textContent));
  // The tree: the caller's span (W3C parent, not recorded), the gateway call, the tool under it.
  assert.equal(spans.length, 3, JSON.stringify(spans));
  assert.match(spans[0], /^00f067aa0ba902b7 \(caller\)/);
  assert.match(spans[1], /^req_\S+ gateway_call gpt-4o-mini/);
  assert.match(spans[2], /^tool-1 tool_call 12\.0 ms/);
  assert.ok(
    (await page.$$eval('#alerts table td', (tds) => tds.map((td) => td.textContent))).includes('warning'),
    'the rule alert is listed',
  );
  // Every chart drew points from the API's numbers.
  const charts = await page.evaluate(() =>
    Object.values(Chart.instances).map((c) => ({
      id: c.canvas.closest('.panel').id,
      points: c.data.datasets.reduce((n, d) => n + d.data.filter((v) => v > 0).length, 0),
    })),
  );
  for (const id of ['spend', 'calls', 'latency', 'cache'])
    assert.ok(charts.find((c) => c.id === id && c.points > 0), `${id} chart: ${JSON.stringify(charts)}`);
  const calls = await page.evaluate(() =>
    Chart.instances ? Object.values(Chart.instances).find((c) => c.canvas.closest('.panel').id === 'calls').data : null,
  );
  assert.ok(calls.labels.includes('openai/gpt-4o-mini'), JSON.stringify(calls.labels));
  // A screenshot of the drawn page, kept as a test artifact (build-debug/artifacts/).
  const shots = process.env.TG_ARTIFACT_DIR || path.join(os.tmpdir(), 'tollgate-artifacts');
  fs.mkdirSync(shots, { recursive: true });
  const shot = path.join(shots, 'dashboard.png');
  await page.setViewport({ width: 1400, height: 900 });
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(fs.statSync(shot).size > 10000, `screenshot ${shot}`);
  console.log(`dashboard screenshot: ${shot}`);
  // The key lives in sessionStorage only.
  const storage = await page.evaluate(() => ({
    session: Object.keys(sessionStorage),
    local: Object.keys(localStorage),
    cookie: document.cookie,
  }));
  assert.deepEqual(storage, { session: ['tollgate.key'], local: [], cookie: '' });
  assert.deepEqual(problems, []);
});
