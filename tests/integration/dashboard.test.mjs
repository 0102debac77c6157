// dashboard.test.mjs - the dashboard in a real browser (Debian's chromium, driven by
// puppeteer-core): after real mock traffic, it logs in with the admin key (kept in
// sessionStorage only), draws every panel whose API exists from live data, says so for the
// others, and logs no console error.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import puppeteer from 'puppeteer-core';
import { MASTER_KEY, http, startMock, startTollgate, waitFor } from './harness.mjs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };

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
  await waitFor(
    async () => (await http(`${tg.baseURL}/usage`, { headers: AUTH })).json.totals.requests >= 9,
    { what: 'usage of the calls' },
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
  // Panels over APIs this gateway serves draw live data; the others say they are missing.
  for (const id of ['spend', 'calls', 'latency', 'cache'])
    assert.equal(states[id][0], 'drawn', `${id}: ${JSON.stringify(states[id])}`);
  for (const [id, [state, note]] of Object.entries(states)) {
    assert.ok(['drawn', 'empty', 'unavailable'].includes(state), `${id}: ${state} ${note}`);
    if (state === 'unavailable') assert.match(note, /does not serve/);
  }
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
  // The key lives in sessionStorage only.
  const storage = await page.evaluate(() => ({
    session: Object.keys(sessionStorage),
    local: Object.keys(localStorage),
    cookie: document.cookie,
  }));
  assert.deepEqual(storage, { session: ['tollgate.key'], local: [], cookie: '' });
  assert.deepEqual(problems, []);
});
