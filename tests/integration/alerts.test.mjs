// alerts.test.mjs - budget alerts end to end: real calls are priced by analytics, the spend
// goes over the bus to alert, each threshold fires once per period, GET /v1/costs/alerts
// lists them (newest first), and an outside subscriber (`tollgate alerts`, a ZeroMQ SUB on
// the alert stream) receives each one as it fires.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http_ from 'node:http';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { MASTER_KEY, binary, delay, http, startMock, startTollgate, waitFor } from './harness.mjs';

// gpt-4o output is $10 per 1M tokens: an 80-word answer costs just over $0.0008.
const DAILY = 0.001;
const MONTHLY = 0.002;
let mock;
let tg;
let client;
let sub; // `tollgate alerts`: { child, lines }
let hook; // alert.webhook_url receiver: { server, got: [{ headers, body }] }
const SECRET = 'whsec_budget';

before(async () => {
  mock = await startMock();
  hook = { got: [] };
  hook.server = http_.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      hook.got.push({ headers: req.headers, body });
      res.end('ok');
    });
  });
  await new Promise((resolve) => hook.server.listen(0, '127.0.0.1', resolve));
  tg = await startTollgate({
    mock,
    config:
      `budget:\n  daily_usd: ${DAILY}\n  monthly_usd: ${MONTHLY}\n` +
      `alert:\n  webhook_url: "http://127.0.0.1:${hook.server.address().port}/budget"\n` +
      `  webhook_secret: "${SECRET}"\n` +
      // Not the default address: `tollgate alerts` below is not given this config, and finds
      // the stream from the run dir (what `tollgate up` wrote there).
      `endpoints:\n  alert_stream: "ipc://${path.join(os.tmpdir(), `tg-as-${process.pid}.ipc`)}"\n`,
  });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 30000 });
  const child = spawn(binary('tollgate'), ['alerts'], { cwd: tg.dir, env: tg.env });
  sub = { child, lines: [], err: '' };
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      sub.lines.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    sub.err += d;
  });
  await waitFor(() => /listening for alert\./.test(sub.err), { what: 'the subscriber to start' });
});

after(async () => {
  if (sub && sub.child.exitCode === null) {
    const done = new Promise((resolve) => sub.child.once('exit', (code) => resolve(code)));
    sub.child.kill('SIGINT');
    assert.equal(await done, 0, '`tollgate alerts` exits 0 on Ctrl-C');
  }
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
  if (hook) hook.server.close();
});

async function alerts() {
  const res = await http(`${tg.baseURL}/costs/alerts`, {
    headers: { authorization: `Bearer ${MASTER_KEY}` },
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.object, 'list');
  return res.json.data.filter((a) => a.kind === 'budget');
}

// "daily 0.75" style keys: which budget (by the period's shape) and which threshold.
const key = (a) => `${a.period.length === 10 ? 'daily' : 'monthly'} ${Number(a.threshold)}`;

const spend = (text) =>
  client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: `${text} [[mock:words=80]]` }],
  });

test('budget thresholds fire once each, with the severities of spec L1', async () => {
  await spend('first');  // ~80 % of the daily budget, ~40 % of the monthly one
  let seen = await waitFor(
    async () => {
      const list = await alerts();
      return list.some((a) => key(a) === 'daily 0.75') ? list : null;
    },
    { timeout: 20000, what: 'the daily 75 % alert' },
  );
  assert.deepEqual(seen.map(key), ['daily 0.75'], 'nothing else crossed yet');
  assert.equal(seen[0].severity, 'info');
  assert.ok(Number(seen[0].value) >= 0.75 * DAILY);
  assert.equal(Number(seen[0].limit), DAILY);

  await spend('second');  // daily > 100 %, monthly > 75 %
  const want = ['daily 0.75', 'daily 0.9', 'daily 1', 'monthly 0.5', 'monthly 0.75'];
  seen = await waitFor(
    async () => {
      const list = await alerts();
      return want.every((k) => list.some((a) => key(a) === k)) ? list : null;
    },
    { timeout: 20000, what: 'the daily 90/100 % and monthly 50/75 % alerts' },
  );
  const severity = Object.fromEntries(seen.map((a) => [key(a), a.severity]));
  assert.equal(severity['daily 0.9'], 'warning');
  assert.equal(severity['daily 1'], 'critical');
  assert.equal(severity['monthly 0.5'], 'info');
  assert.equal(severity['monthly 0.75'], 'info');
  assert.ok(seen[0].created >= seen[seen.length - 1].created, 'newest first');

  // More spend: only the monthly 90 % and 100 % are new; nothing fires twice.
  await spend('third');
  await spend('fourth');
  seen = await waitFor(
    async () => {
      const list = await alerts();
      return list.some((a) => key(a) === 'monthly 1') ? list : null;
    },
    { timeout: 20000, what: 'the monthly 100 % alert' },
  );
  await delay(1500);  // a few more SPEND rounds: a duplicate would show up now
  const keys = (await alerts()).map(key).sort();
  assert.deepEqual(keys, [...want, 'monthly 0.9', 'monthly 1'].sort());

  // The outside subscriber got the same alerts from the stream, topic = alert.<severity>.<org>.
  const streamed = await waitFor(
    () => {
      const got = sub.lines.filter((a) => a.kind === 'budget');
      return got.length >= keys.length ? got : null;
    },
    { timeout: 10000, what: 'the alert stream to deliver every alert' },
  );
  assert.deepEqual(streamed.map(key).sort(), keys);
  assert.ok(streamed.every((a) => a.topic === `${a.severity}.global` && a.message.length > 0));

  // alert.webhook_url got each budget alert once, signed with alert.webhook_secret.
  const hooked = await waitFor(
    () => {
      const got = hook.got.map((g) => ({ ...g, alert: JSON.parse(g.body) }));
      const budget = got.filter((g) => g.alert.kind === 'budget');
      return budget.length >= keys.length ? budget : null;
    },
    { timeout: 10000, what: 'the budget alerts at alert.webhook_url' },
  );
  assert.deepEqual(hooked.map((g) => key(g.alert)).sort(), keys);
  for (const g of hooked) {
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(g.headers['x-tollgate-signature']);
    const want = crypto.createHmac('sha256', SECRET).update(`${t}.${g.body}`).digest('hex');
    assert.equal(v1, want);
  }
});
