// alert_rules.test.mjs - alert rules (spec L2) and their delivery (L3) end to end: rule CRUD
// with a 400 naming each bad field; a rule fed by real gateway traffic (mock provider)
// fires once per window; signed webhooks checked by receiving servers here; retries, dead
// letters and re-send when a receiver answers 500 or hangs, while other deliveries go on;
// the SSE stream read by a client; `tollgate alerts --endpoint` following the stream.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http_ from 'node:http';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import fs from 'node:fs';
import net from 'node:net';
import {
  MASTER_KEY,
  binary,
  delay,
  http,
  pool,
  startMock,
  startTollgate,
  waitFor,
} from './harness.mjs';

const SECRET = 'whsec_integration_0123';
const TIMEOUT_MS = 700; // alert.webhook_timeout_ms
const TRIES = 3; // alert.webhook_max_tries

let mock;
let tg;
let client;
const receivers = {}; // name -> receiver
let sse; // { lines, events, abort }

// A webhook receiver: records each request; `mode` is 'ok', 'fail' (500) or 'hang'.
async function receiver(mode) {
  const r = { mode, got: [], open: 0, server: null, url: '' };
  r.server = http_.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      r.got.push({ headers: req.headers, body, at: Date.now() });
      if (r.mode === 'hang') {
        r.open++;
        res.on('close', () => r.open--);
        return; // never answers: the gateway's timeout ends it
      }
      res.writeHead(r.mode === 'ok' ? 200 : 500, { 'content-type': 'text/plain' });
      res.end(r.mode === 'ok' ? 'ok' : 'boom');
    });
  });
  await new Promise((resolve) => r.server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${r.server.address().port}/hook`;
  return r;
}

// Checks X-Tollgate-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>.
function verify(delivery, secret = SECRET) {
  const sig = delivery.headers['x-tollgate-signature'];
  assert.ok(sig, 'the delivery is signed');
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
  assert.ok(m, `signature header shape: ${sig}`);
  const want = crypto.createHmac('sha256', secret).update(`${m[1]}.${delivery.body}`).digest('hex');
  assert.equal(m[2], want, 'HMAC-SHA256 over "<t>.<body>" with the shared secret');
  assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 120, 'timestamp is now');
}

const admin = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
const api = (method, p, body) =>
  http(`${tg.baseURL}${p}`, {
    method,
    headers: admin,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });

before(async () => {
  mock = await startMock();
  for (const mode of ['ok', 'fail', 'hang']) receivers[mode] = await receiver(mode);
  receivers.mail = await receiver('ok'); // the email relay
  tg = await startTollgate({
    mock,
    config:
      `alert:\n  webhook_secret: "${SECRET}"\n  webhook_timeout_ms: ${TIMEOUT_MS}\n` +
      `  webhook_max_tries: ${TRIES}\n  webhook_backoff_ms: 100\n` +
      `  email_relay_url: "${receivers.mail.url}"\n` +
      `ingest:\n  sse_buffer_bytes: 4096\n`,
  });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 30000 });
});

after(async () => {
  if (sse) sse.abort.abort();
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
  for (const r of Object.values(receivers)) r.server.closeAllConnections?.(), r.server.close();
});

const good = {
  name: 'busy',
  event: 'request',
  condition: 'count',
  comparator: '>=',
  threshold: 3,
  window_s: 3600,
  severity: 'warning',
  org: 'acme',
};

test('rule CRUD: bad fields get a 400 naming the field; create, read, update, disable, delete', async () => {
  const bad = [
    [{ ...good, condition: 'median' }, 'condition'],
    [{ ...good, comparator: '=>' }, 'comparator'],
    [{ ...good, threshold: 'ten' }, 'threshold'],
    [{ ...good, window_s: 0 }, 'window_s'],
    [{ ...good, severity: 'fatal' }, 'severity'],
    [{ ...good, condition: 'avg' }, 'metric'],
    [{ ...good, condition: 'avg', metric: 'speed' }, 'metric'],
    [{ ...good, condition: 'percentile', metric: 'latency_ms', percentile: 101 }, 'percentile'],
    [{ ...good, event: 'boom' }, 'event'],
    [{ ...good, channels: [{ type: 'webhook', url: 'ftp://x' }] }, 'channels'],
    [{ ...good, enabled: 'yes' }, 'enabled'],
    [{ ...good, filter: { colour: 'red' } }, 'filter'],
    [{ ...good, colour: 'red' }, 'colour'],
  ];
  for (const [body, param] of bad) {
    const res = await api('POST', '/alerts/rules', body);
    assert.equal(res.status, 400, `${param}: ${res.text}`);
    assert.equal(res.json.error.param, param, res.text);
    assert.ok(res.json.error.message.length > 0);
  }
  const notJson = await api('POST', '/alerts/rules', '{nope');
  assert.equal(notJson.status, 400);
  // Nothing was stored by the refusals.
  assert.deepEqual((await api('GET', '/alerts/rules')).json.data, []);
  // Admin only.
  const anon = await http(`${tg.baseURL}/alerts/rules`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(anon.status, 401);

  const made = await api('POST', '/alerts/rules', {
    ...good,
    name: 'crud',
    channels: [{ type: 'webhook', url: 'https://example.invalid/h', secret: 'per-channel' }],
  });
  assert.equal(made.status, 201, made.text);
  const id = made.json.id;
  assert.match(id, /^rule_/);
  assert.equal(made.json.enabled, true);
  assert.ok(!made.text.includes('per-channel'), 'a channel secret is never shown');
  assert.equal(made.json.channels[0].secret_set, true);
  assert.equal((await api('GET', `/alerts/rules/${id}`)).json.name, 'crud');
  const upd = await api('PUT', `/alerts/rules/${id}`, { threshold: 7, severity: 'critical' });
  assert.equal(upd.status, 200, upd.text);
  assert.equal(upd.json.threshold, 7);
  assert.equal(upd.json.severity, 'critical');
  assert.equal(upd.json.window_s, 3600, 'fields not named are kept');
  const badUpd = await api('PUT', `/alerts/rules/${id}`, { window_s: -5 });
  assert.equal(badUpd.status, 400);
  assert.equal(badUpd.json.error.param, 'window_s');
  assert.equal((await api('POST', `/alerts/rules/${id}/disable`)).json.enabled, false);
  assert.equal((await api('GET', `/alerts/rules/${id}`)).json.enabled, false);
  assert.equal((await api('POST', `/alerts/rules/${id}/enable`)).json.enabled, true);
  const list = await api('GET', '/alerts/rules');
  assert.deepEqual(list.json.data.map((r) => r.id), [id]);
  assert.equal((await api('DELETE', `/alerts/rules/${id}`)).status, 200);
  assert.equal((await api('GET', `/alerts/rules/${id}`)).status, 404);
  assert.deepEqual((await api('GET', '/alerts/rules')).json.data, []);
});

// Reads GET /v1/alerts/stream with fetch: every `data:` line of an `alert` event.
async function openSse(query = '') {
  const abort = new AbortController();
  const res = await fetch(`${tg.baseURL}/alerts/stream${query}`, {
    headers: { authorization: `Bearer ${MASTER_KEY}` },
    signal: abort.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const s = { events: [], raw: '', abort };
  (async () => {
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        s.raw += dec.decode(chunk, { stream: true });
        let end;
        while ((end = s.raw.indexOf('\n\n')) >= 0) {
          const block = s.raw.slice(0, end);
          s.raw = s.raw.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (/^event: alert$/m.test(block) && data) s.events.push(JSON.parse(data.slice(6)));
        }
      }
    } catch {
      // aborted at the end of the test
    }
  })();
  return s;
}

const call = (text) =>
  client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: `${text} [[mock:words=5]]` }],
  });

async function usageCount() {
  const res = await http(`${tg.baseURL}/usage`, { headers: admin });
  assert.equal(res.status, 200, res.text);
  const d = res.json.data ?? [];
  return d.reduce((n, g) => n + Number(g.requests ?? 0), 0);
}

test('a rule fires once per window on real traffic, signed, to every channel; the SSE stream carries it', async () => {
  const unauth = await http(`${tg.baseURL}/alerts/stream`, { timeout: 2000 });
  assert.equal(unauth.status, 401);
  sse = await openSse('?org=acme');
  const other = await openSse('?org=someone-else');
  // `tollgate alerts --endpoint`: follows the stream of this gateway as a remote one would.
  const child = spawn(
    binary('tollgate'),
    ['alerts', '--endpoint', tg.env.TOLLGATE_ALERT_STREAM_ENDPOINT || `ipc://${tg.runDir}/alert_stream.ipc`],
    { cwd: '/', env: { PATH: process.env.PATH } },
  );
  const follower = { lines: [], err: '' };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    for (const l of d.split('\n').filter(Boolean)) follower.lines.push(JSON.parse(l));
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    follower.err += d;
  });
  await waitFor(() => /listening for alert\./.test(follower.err), { what: 'the follower' });

  const made = await api('POST', '/alerts/rules', {
    ...good,
    channels: [
      { type: 'webhook', url: receivers.ok.url },
      { type: 'webhook', url: receivers.fail.url },
      { type: 'webhook', url: receivers.hang.url },
      { type: 'email', to: 'ops@example.com' },
      { type: 'stream' },
    ],
  });
  assert.equal(made.status, 201, made.text);
  const id = made.json.id;
  // A rule over analytics state: today's spend (from SPEND), max over the window.
  const spendRule = await api('POST', '/alerts/rules', {
    event: 'spend',
    metric: 'day_usd',
    condition: 'percentile',
    percentile: 100,
    comparator: '>',
    threshold: 0,
    window_s: 3600,
    severity: 'info',
    org: 'finance',
  });
  assert.equal(spendRule.status, 201, spendRule.text);
  const before = await usageCount();

  for (let i = 0; i < 3; i++) await call(`first ${i}`);
  // The good receiver gets the alert while the hanging one still holds its request: a
  // hanging webhook blocks no other delivery.
  await waitFor(() => receivers.ok.got.length >= 1 && receivers.hang.open >= 1, {
    timeout: 15000,
    interval: 20,
    what: 'the good webhook delivered while the hanging one is still open',
  });
  const d = receivers.ok.got[0];
  verify(d);
  const alert = JSON.parse(d.body);
  assert.equal(alert.kind, 'rule');
  assert.equal(alert.rule, id);
  assert.equal(alert.severity, 'warning');
  assert.equal(alert.scope, 'acme');
  assert.ok(Number(alert.value) >= 3);
  assert.equal(d.headers['content-type'], 'application/json');
  assert.match(d.headers['x-tollgate-delivery'], /^dlv_/);

  // Email: one signed POST to the relay with the address, a subject and the alert.
  await waitFor(() => receivers.mail.got.length >= 1, { what: 'the email relay' });
  verify(receivers.mail.got[0]);
  const mail = JSON.parse(receivers.mail.got[0].body);
  assert.equal(mail.to, 'ops@example.com');
  assert.equal(mail.subject, '[tollgate warning] rule alert');
  assert.equal(mail.text, alert.message);
  assert.equal(mail.alert.id, alert.id);

  // SSE (org filter acme) and the follower got it; the other org's stream did not.
  await waitFor(() => sse.events.some((e) => e.rule === id), { what: 'the SSE alert' });
  const ev = sse.events.find((e) => e.rule === id);
  assert.equal(ev.topic, 'warning.acme');
  assert.equal(ev.id, alert.id);
  await waitFor(() => follower.lines.some((e) => e.rule === id), { what: 'the follower line' });

  // More traffic in the same window: analytics has the calls, the rule stays quiet.
  for (let i = 0; i < 4; i++) await call(`second ${i}`);
  await waitFor(async () => (await usageCount()) >= before + 7, { what: 'usage of 7 calls' });
  await delay(1500); // two evaluation ticks: a second firing would show now
  const hist = await http(`${tg.baseURL}/costs/alerts`, { headers: admin });
  const fired = hist.json.data.filter((a) => a.rule === id);
  assert.equal(fired.length, 1, 'once per window');
  const spent = hist.json.data.filter((a) => a.rule === spendRule.json.id);
  assert.equal(spent.length, 1, 'the spend rule fired once');
  assert.ok(Number(spent[0].value) > 0);
  assert.equal(spent[0].scope, 'finance');
  assert.equal(receivers.ok.got.length, 1);
  assert.equal(sse.events.filter((e) => e.rule === id).length, 1);
  assert.equal(other.events.length, 0, 'org filter');
  other.abort.abort();
  child.kill('SIGINT');

  // Failing and hanging receivers: TRIES attempts each, then a dead letter each.
  const dead = await waitFor(
    async () => {
      const res = await api('GET', '/alerts/dead_letters');
      assert.equal(res.status, 200, res.text);
      return res.json.data.length >= 2 ? res.json.data : null;
    },
    { timeout: 20000, what: 'two dead letters' },
  );
  assert.equal(receivers.fail.got.length, TRIES);
  assert.deepEqual(
    receivers.fail.got.map((g) => g.headers['x-tollgate-attempt']),
    ['1', '2', '3'],
  );
  for (const g of receivers.fail.got) verify(g);
  assert.equal(receivers.hang.got.length, TRIES);
  const failDead = dead.find((x) => x.url === receivers.fail.url);
  const hangDead = dead.find((x) => x.url === receivers.hang.url);
  assert.ok(failDead && hangDead, JSON.stringify(dead));
  assert.equal(failDead.tries, TRIES);
  assert.equal(failDead.last_error, 'HTTP 500');
  assert.match(hangDead.last_error, /timeout|timed out/i);
  assert.equal(failDead.alert_id, alert.id);
  assert.equal(failDead.secret, undefined, 'no key is shown');

  // Re-send once the receiver is fixed: delivered, signed, and gone from the dead letters.
  receivers.fail.mode = 'ok';
  const resend = await api('POST', `/alerts/dead_letters/${failDead.id}/resend`);
  assert.equal(resend.status, 202, resend.text);
  await waitFor(() => receivers.fail.got.length === TRIES + 1, { what: 'the re-sent delivery' });
  const again = receivers.fail.got[TRIES];
  verify(again);
  assert.equal(JSON.parse(again.body).id, alert.id);
  await waitFor(
    async () => {
      const res = await api('GET', '/alerts/dead_letters');
      return res.json.data.every((x) => x.id !== failDead.id);
    },
    { what: 'the dead letter to go' },
  );
  assert.equal((await api('POST', '/alerts/dead_letters/dlv_nope/resend')).status, 404);
});

test('a client that stops reading the SSE stream is cut off; a reading one gets every alert', async () => {
  // Many rules firing on each call make bursts of alerts big enough to fill the kernel's
  // socket buffers of a client that does not read.
  const N = 900;
  const name = 'n'.repeat(250);
  const ids = await pool(N, 16, async () => {
    const res = await api('POST', '/alerts/rules', {
      name,
      condition: 'count',
      comparator: '>=',
      threshold: 1,
      window_s: 1,
      severity: 'info',
      org: 'bulk',
    });
    assert.equal(res.status, 201, res.text);
    return res.json.id;
  });
  assert.equal(ids.length, N);
  const fast = await openSse('?org=bulk');
  const slow = { got: 0, ended: false };
  const sock = net.connect(tg.port, '127.0.0.1', () =>
    sock.write(
      `GET /v1/alerts/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${MASTER_KEY}\r\n\r\n`,
    ),
  );
  sock.once('data', () => sock.pause()); // reads the head, then never again
  sock.on('data', (d) => {
    slow.got += d.length;
  });
  sock.on('end', () => {
    slow.ended = true;
  });
  sock.on('error', () => {
    slow.ended = true;
  });
  const dropped = () => /alert stream client too slow: dropped/.test(fs.readFileSync(tg.log, 'utf8'));
  let bursts = 0;
  while (!dropped() && bursts < 40) {
    await call(`burst ${bursts}`);
    bursts++;
    await delay(1100); // the rules' 1 s window: each fires again on the next call
  }
  assert.ok(dropped(), `the silent client was cut off (after ${bursts} bursts)`);
  // The reader kept up and keeps getting alerts after the drop.
  const before = fast.events.length;
  await call('after the drop');
  await waitFor(() => fast.events.length >= before + N, {
    timeout: 20000,
    what: 'a full burst on the reading client after the drop',
  });
  assert.ok(fast.events.length >= (bursts - 1) * N, `reader got ${fast.events.length}`);
  sock.resume(); // what the gateway had sent, then the end
  await waitFor(() => slow.ended, { what: 'the slow client to see its connection end' });
  fast.abort.abort();
});
