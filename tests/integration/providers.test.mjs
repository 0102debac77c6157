// providers.test.mjs - targets, circuit breakers, strategies, fallbacks and the provider view
// (issue 11, spec P3, P4, P6). Several mocks play different targets; upstream calls are
// counted by each mock (/_mock/stats), so "an open breaker sends none" is checked where the
// calls would land. Breaker state is read from GET /v1/providers (polled, never slept on).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MASTER_KEY, binary, http, makeTempDir, pool, startMock, startTollgate, waitFor } from './harness.mjs';

const N = 1000; // calls per strategy distribution
const CONC = 32; // concurrent calls while measuring a distribution
let mocks = {}; // name -> mock
let tg;
let sub; // `tollgate breakers`: the BREAKER frames on the bus, { child, lines, err }

const prov = (name, extra = '') =>
  `  - name: ${name}\n    kind: openai\n    base_url: ${mocks[name].openaiBase}\n` +
  `    api_key_env: PROV_KEY\n    max_retries: 0\n${extra}`;
const breaker =
  '    breaker_failure_threshold: 3\n    breaker_success_threshold: 2\n' +
  '    breaker_timeout_ms: 800\n    breaker_half_open_max_attempts: 2\n';
const target = (p, m, w) => `      - {provider: ${p}, model: ${m}${w ? `, weight: ${w}` : ''}}\n`;

function config() {
  return (
    'upstream:\n  max_retries: 0\n' +
    'providers:\n' +
    prov('pa', breaker) +
    prov('pb', breaker) +
    prov('pc', breaker) +
    prov('pd', breaker) +
    prov('pe', '    breaker: local\n    gzip: true\n') +
    prov(
      'pf',
      '    health_check_ms: 150\n    breaker_failure_threshold: 2\n' +
        '    breaker_success_threshold: 1\n    breaker_half_open_max_attempts: 1\n' +
        '    breaker_timeout_ms: 500\n',
    ) +
    'models:\n' +
    '  rr:\n    strategy: round-robin\n    targets:\n' +
    target('pa', 'm-a') + target('pb', 'm-b') + target('pc', 'm-c') +
    '  wt:\n    strategy: weighted\n    targets:\n' +
    target('pa', 'm-a', 3) + target('pb', 'm-b', 1) +
    '  lb:\n    strategy: least-busy\n    targets:\n' +
    target('pa', 'm-a') + target('pb', 'm-b') +
    '  ll:\n    strategy: lowest-latency\n    targets:\n' +
    target('pa', 'm-a') + target('pb', 'm-b') +
    '  ch:\n    strategy: cheapest\n    targets:\n' +
    target('pa', 'gpt-4o') + target('pb', 'gpt-4o-mini') + target('pc', 'gpt-4.1') +
    '  fb1:\n    targets:\n' + target('pa', 'first') +
    '    fallbacks: [fb2, pc/third]\n' +
    '  fb2:\n    targets:\n' + target('pb', 'second') +
    '  br:\n    targets:\n' + target('pd', 'only') +
    '  two:\n    targets:\n' + target('pa', 'two-a') + target('pb', 'two-b') +
    '  loc:\n    targets:\n' + target('pe', 'local-model') +
    '  duo:\n    targets:\n' + target('pa', 'duo-a') + target('pb', 'duo-b') +
    '  hc:\n    targets:\n' + target('pf', 'hc-model') +
    '  xk:\n    targets:\n' + target('pa', 'x-first') +
    '    fallbacks: [claude-3-5-haiku-20241022]\n'
  );
}

function chat(model, text = 'hi', extra = {}) {
  return http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: text }], max_tokens: 2, ...extra }),
    timeout: 20000,
  });
}

async function providers() {
  const res = await http(`${tg.baseURL}/providers`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function targetView(provider, model) {
  const view = await providers();
  const p = view.data.find((x) => x.name === provider);
  return p?.targets.find((t) => t.model === model);
}

const waitState = (provider, model, state) =>
  waitFor(async () => (await targetView(provider, model))?.breaker.state === state, {
    timeout: 10000,
    interval: 25,
    what: `${provider}/${model} breaker ${state}`,
  });

async function resetAll() {
  await Promise.all(Object.values(mocks).map((m) => m.reset()));
}

// Runs n calls to `model`, CONC at a time; returns the count per answering provider.
async function distribution(model, n = N) {
  const res = await pool(n, CONC, () => chat(model));
  const by = {};
  for (const r of res) {
    assert.equal(r.status, 200, r.text);
    const p = r.headers.get('x-tollgate-provider');
    by[p] = (by[p] || 0) + 1;
  }
  return by;
}

before(async () => {
  for (const name of ['pa', 'pb', 'pc', 'pd', 'pe', 'pf']) mocks[name] = await startMock();
  // pc also plays the built-in openai and anthropic providers (fallbacks by model name).
  tg = await startTollgate({ mock: mocks.pc, config: config(), env: { PROV_KEY: 'sk-prov' } });
  const child = spawn(binary('tollgate'), ['breakers'], { cwd: tg.dir, env: tg.env });
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
  child.stderr.on('data', (d) => (sub.err += d));
  await waitFor(() => /listening for breaker/.test(sub.err), { what: 'the bus subscriber to start' });
});

after(async () => {
  if (sub && sub.child.exitCode === null) {
    const done = new Promise((resolve) => sub.child.once('exit', (code) => resolve(code)));
    sub.child.kill('SIGINT');
    assert.equal(await done, 0, '`tollgate breakers` exits 0 on Ctrl-C');
  }
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  for (const m of Object.values(mocks)) await m.stop();
});

describe('targets and fallbacks', () => {
  test('a declared model answers from its target; headers name provider and upstream model', async () => {
    await resetAll();
    const r = await chat('fb2');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-provider'), 'pb');
    assert.equal(r.headers.get('x-tollgate-model'), 'second');
    assert.equal((await mocks.pb.stats()).last_request.body.model, 'second');
  });

  test('fallback order: own target, then the fallback model, then the next fallback', async () => {
    await resetAll();
    await mocks.pa.script([{ status: 500 }]);
    let r = await chat('fb1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-provider'), 'pb');
    assert.equal(r.headers.get('x-tollgate-model'), 'second');
    assert.deepEqual(
      [(await mocks.pa.stats()).requests, (await mocks.pb.stats()).requests, (await mocks.pc.stats()).requests],
      [1, 1, 0],
    );
    await mocks.pa.script([{ status: 503 }]);
    await mocks.pb.script([{ status: 429 }]);
    r = await chat('fb1', 'hi', { stream: true });
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /data: \[DONE\]/);
    assert.equal(r.headers.get('x-tollgate-provider'), 'pc');
    assert.equal(r.headers.get('x-tollgate-model'), 'third');
    assert.deepEqual(
      [(await mocks.pa.stats()).requests, (await mocks.pb.stats()).requests, (await mocks.pc.stats()).requests],
      [2, 2, 1],
    );
  });

  test('a fallback to another provider kind: OpenAI-format target -> Anthropic', async () => {
    await resetAll();
    await mocks.pa.script([{ status: 503 }]);
    const r = await chat('xk', 'translate me');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-provider'), 'anthropic');
    assert.equal(r.headers.get('x-tollgate-model'), 'claude-3-5-haiku-20241022');
    assert.equal(r.json.object, 'chat.completion');
    const last = (await mocks.pc.stats()).last_request;
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.body.model, 'claude-3-5-haiku-20241022');
  });

  test('a request error (400) is not failed over', async () => {
    await resetAll();
    await mocks.pa.script([{ status: 400 }]);
    const r = await chat('fb1');
    assert.equal(r.status, 400, r.text);
    assert.equal((await mocks.pb.stats()).requests, 0);
  });

  test('every target failing: the last error reaches the client', async () => {
    await resetAll();
    await mocks.pa.script([{ status: 500 }]);
    await mocks.pb.script([{ status: 500 }]);
    await mocks.pc.script([{ status: 502 }]);
    const r = await chat('fb1');
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.error.type, 'server_error');
  });

  test('the usage event names the answering target', async () => {
    await resetAll();
    await mocks.pa.script([{ status: 500 }]);
    const r = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', 'x-agent-id': 'hop-agent' },
      body: JSON.stringify({ model: 'fb1', messages: [{ role: 'user', content: 'usage hop' }], max_tokens: 2 }),
    });
    assert.equal(r.status, 200, r.text);
    const row = await waitFor(
      async () => {
        const u = await http(`${tg.baseURL}/usage?group_by=agent,provider,model`, {
          headers: { authorization: `Bearer ${MASTER_KEY}` },
        });
        return u.json?.data?.find((d) => d.agent === 'hop-agent');
      },
      { timeout: 10000, interval: 100, what: 'the usage event of the fallback call' },
    );
    assert.equal(row.provider, 'pb');
    assert.equal(row.model, 'second');
    assert.equal(row.requests, 1);
  });
});

describe('circuit breaker', () => {
  test('closed -> open after failure_threshold failures; open sends nothing; 503 + Retry-After', async () => {
    await resetAll();
    await mocks.pd.script([{ status: 500 }, { status: 500 }, { status: 500 }]);
    for (let i = 0; i < 3; i++) assert.equal((await chat('br')).status, 500);
    await waitState('pd', 'only', 'open');
    for (let i = 0; i < 5; i++) {
      const r = await chat('br');
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.error.code, 'breaker_open');
      const ra = Number(r.headers.get('retry-after'));
      assert.ok(ra >= 1 && ra <= 1, `Retry-After ${ra}`); // timeout 800 ms -> 1 s
    }
    assert.equal((await mocks.pd.stats()).requests, 3, 'an open breaker sends no upstream call');
    const t = await targetView('pd', 'only');
    assert.equal(t.health, 'unhealthy');
    assert.equal(t.breaker.opens, 1);
  });

  test('open -> half-open after the timeout; a failed probe reopens', async () => {
    await waitState('pd', 'only', 'half_open');
    await mocks.pd.script([{ status: 500 }]);
    assert.equal((await chat('br')).status, 500);
    await waitState('pd', 'only', 'open');
    assert.equal((await mocks.pd.stats()).requests, 4);
    assert.equal((await targetView('pd', 'only')).breaker.opens, 2);
  });

  test('half-open lets half_open_max_attempts probes through, closes after success_threshold', async () => {
    await waitState('pd', 'only', 'half_open');
    await mocks.pd.script([{ latency_ms: 400 }, { latency_ms: 400 }]);
    const calls = [chat('br'), chat('br'), chat('br')];
    const res = await Promise.all(calls);
    const statuses = res.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 503], 'two probes go, the third is refused');
    assert.equal((await mocks.pd.stats()).requests, 6);
    await waitState('pd', 'only', 'closed');
    const t = await targetView('pd', 'only');
    assert.equal(t.breaker.closes, 1);
    assert.equal((await chat('br')).status, 200);
  });

  test('each transition is published on the bus (topic breaker)', async () => {
    const want = ['closed>open', 'open>half_open', 'half_open>open', 'open>half_open', 'half_open>closed'];
    const seen = () =>
      sub.lines.filter((l) => l.provider === 'pd' && l.model === 'only').map((l) => `${l.from}>${l.to}`);
    await waitFor(() => seen().length >= want.length, { timeout: 5000, interval: 20, what: 'pd transitions' });
    assert.deepEqual(seen(), want);
    const open = sub.lines.find((l) => l.provider === 'pd' && l.to === 'open');
    assert.equal(open.failures, 3);
    assert.ok(Date.parse(open.half_open_at) > Date.parse(open.ts));
  });

  test("a call's own deadline cutting attempts does not open the breaker", async () => {
    await resetAll();
    await mocks.pd.script(Array.from({ length: 4 }, () => ({ latency_ms: 600 })));
    for (let i = 0; i < 4; i++) {
      const r = await http(`${tg.baseURL}/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${MASTER_KEY}`,
          'content-type': 'application/json',
          'x-tollgate-deadline-ms': '150',
        },
        body: JSON.stringify({ model: 'br', messages: [{ role: 'user', content: 'hurry' }] }),
      });
      assert.equal(r.status, 504, r.text);
      assert.equal(r.json.error.code, 'deadline_exceeded');
    }
    await waitFor(async () => (await targetView('pd', 'only')).stats.client_errors >= 4, {
      timeout: 5000,
      interval: 20,
      what: 'the four outcomes',
    });
    assert.equal((await targetView('pd', 'only')).breaker.state, 'closed');
  });

  test('an open target is skipped: its model is served by the other one', async () => {
    await resetAll();
    await mocks.pa.script([{ status: 500 }, { status: 500 }, { status: 500 }]);
    for (let i = 0; i < 3; i++) {
      const r = await chat('two', `skip-${i}`);
      // Round-robin puts pa first on some calls; its failures fall back to pb.
      assert.equal(r.status, 200, r.text);
    }
    // Three calls did not necessarily all start at pa: push failures until it opens.
    await waitFor(
      async () => {
        const t = await targetView('pa', 'two-a');
        if (t.breaker.state === 'open') return true;
        await mocks.pa.script([{ status: 500 }]);
        await chat('two');
        return false;
      },
      { timeout: 10000, interval: 10, what: 'pa/two-a open' },
    );
    const before = (await mocks.pa.stats()).requests;
    const res = await pool(20, 4, () => chat('two'));
    assert.ok(res.every((r) => r.status === 200 && r.headers.get('x-tollgate-provider') === 'pb'));
    assert.equal((await mocks.pa.stats()).requests, before, 'pa gets no call while open');
  });

  test('all targets open: 503 with Retry-After of the earliest half-open', async () => {
    await resetAll();
    await mocks.pa.script([{ status: 500 }, { status: 500 }, { status: 500 }]);
    await mocks.pb.script([{ status: 500 }, { status: 500 }, { status: 500 }]);
    // Each call tries duo-a and duo-b (the other is its fallback): three calls open both.
    for (let i = 0; i < 3; i++) assert.equal((await chat('duo')).status, 500);
    await waitState('pa', 'duo-a', 'open');
    await waitState('pb', 'duo-b', 'open');
    const r = await chat('duo');
    assert.equal(r.status, 503, r.text);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match(r.json.error.message, /circuit breaker open/);
    assert.equal((await mocks.pa.stats()).requests, 3);
    assert.equal((await mocks.pb.stats()).requests, 3);
  });

  test('a local server (breaker: local) never opens', async () => {
    await resetAll();
    await mocks.pe.script(Array.from({ length: 8 }, () => ({ status: 500 })));
    for (let i = 0; i < 8; i++) assert.equal((await chat('loc')).status, 500);
    assert.equal((await chat('loc')).status, 200);
    assert.equal((await mocks.pe.stats()).requests, 9);
    const t = await targetView('pe', 'local-model');
    assert.equal(t.breaker.state, 'closed');
    assert.equal(t.breaker.opens, 0);
  });
});

describe('active health checks (health_check_ms)', () => {
  test('checks open and close a breaker with no client call, and record no usage', async () => {
    // No client ever calls `hc`: every request pf sees is a health check.
    await mocks.pf.reset(); // other tests reset every mock: count from here
    await waitFor(async () => (await mocks.pf.stats()).requests >= 2, {
      timeout: 10000,
      interval: 50,
      what: 'two health checks',
    });
    assert.ok((await targetView('pf', 'hc-model')).stats.health_checks >= 2);
    const st = await mocks.pf.stats();
    assert.equal(st.last_request.body.model, 'hc-model');
    assert.equal(st.last_request.body.max_tokens, 1);
    await mocks.pf.script([{ status: 500 }, { status: 500 }]);
    await waitState('pf', 'hc-model', 'open');
    const opened = (await mocks.pf.stats()).requests;
    assert.equal((await chat('hc')).status, 503); // callers are kept off it meanwhile
    await waitState('pf', 'hc-model', 'closed'); // timeout -> half-open -> a check succeeds
    const t = await targetView('pf', 'hc-model');
    assert.equal(t.breaker.opens, 1);
    assert.equal(t.breaker.closes, 1);
    assert.ok((await mocks.pf.stats()).requests > opened);
    assert.equal((await chat('hc')).status, 200);
    const u = await http(`${tg.baseURL}/usage?group_by=provider`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
    const row = u.json.data.find((d) => d.provider === 'pf');
    assert.ok(!row || row.requests <= 1, `health checks have no usage event: ${JSON.stringify(row)}`);
  });
});

describe('strategies (1,000 calls each)', () => {
  test('round-robin: each of 3 targets gets 1/3 (+-2 %)', async () => {
    await resetAll();
    const by = await distribution('rr');
    for (const p of ['pa', 'pb', 'pc']) assert.ok(Math.abs(by[p] / N - 1 / 3) <= 0.02, JSON.stringify(by));
  });

  test('weighted 3:1: 75 % / 25 % (+-2 %)', async () => {
    await resetAll();
    const by = await distribution('wt');
    assert.ok(Math.abs(by.pa / N - 0.75) <= 0.02, JSON.stringify(by));
    assert.ok(Math.abs(by.pb / N - 0.25) <= 0.02, JSON.stringify(by));
  });

  test('least-busy: a target 40 ms slower gets under 35 % of concurrent calls', async () => {
    await resetAll();
    await mocks.pa.script(Array.from({ length: N }, () => ({ latency_ms: 40 })));
    const by = await distribution('lb');
    assert.ok((by.pa || 0) / N < 0.35, JSON.stringify(by));
    assert.ok((by.pb || 0) / N > 0.65, JSON.stringify(by));
  });

  test('lowest-latency (EWMA): the faster target gets over 90 %', async () => {
    await resetAll();
    await mocks.pa.script(Array.from({ length: N }, () => ({ latency_ms: 40 })));
    const by = await distribution('ll');
    assert.ok((by.pb || 0) / N > 0.9, JSON.stringify(by));
  });

  test('cheapest: every call goes to the cheapest model (gpt-4o-mini)', async () => {
    await resetAll();
    const by = await distribution('ch', 300);
    assert.deepEqual(by, { pb: 300 });
  });
});

describe('provider view', () => {
  test('GET /v1/providers: providers, targets, models, prices, health, breaker, stats', async () => {
    const v = await providers();
    assert.equal(v.object, 'providers');
    const pa = v.data.find((p) => p.name === 'pa');
    assert.equal(pa.kind, 'openai');
    assert.equal(pa.enabled, true);
    assert.deepEqual(pa.breaker, {
      profile: 'default', failure_threshold: 3, success_threshold: 2, half_open_max_attempts: 2, timeout_ms: 800,
    });
    const t = pa.targets.find((x) => x.model === 'm-a');
    assert.ok(t.stats.calls > 0 && t.stats.successes > 0);
    assert.ok(t.latency.samples > 0 && t.latency.p50_ms <= t.latency.p99_ms);
    assert.ok(['healthy', 'recovering', 'unhealthy'].includes(t.health));
    const cheap = v.data.find((p) => p.name === 'pb').targets.find((x) => x.model === 'gpt-4o-mini');
    assert.equal(cheap.price.input_per_1m, 0.15);
    assert.ok(cheap.stats.tokens > 0);
    const openai = v.data.find((p) => p.name === 'openai');
    assert.equal(openai.breaker.profile, 'openai');
    const pe = v.data.find((p) => p.name === 'pe');
    assert.deepEqual(pe.breaker, { profile: 'local', enabled: false });
    const wt = v.models.find((m) => m.name === 'wt');
    assert.equal(wt.strategy, 'weighted');
    assert.deepEqual(wt.targets[0], { provider: 'pa', model: 'm-a', weight: 3 });
    assert.deepEqual(v.models.find((m) => m.name === 'fb1').fallbacks, ['fb2', 'pc/third']);
  });

  test('compression bytes per target (a provider with gzip: true)', async () => {
    const r = await chat('loc', 'compress me '.repeat(300));
    assert.equal(r.status, 200, r.text);
    const t = await waitFor(
      async () => {
        const v = await targetView('pe', 'local-model');
        return v.gzip.bytes_in > 0 ? v : null;
      },
      { timeout: 5000, interval: 20, what: 'gzip bytes of pe' },
    );
    assert.ok(t.gzip.bytes_out > 0 && t.gzip.bytes_out < t.gzip.bytes_in, JSON.stringify(t.gzip));
    assert.equal((await mocks.pe.stats()).gzip.requests, 1);
  });

  test('/metrics: breaker state gauge and per-target counters', async () => {
    const text = await waitFor(
      async () => {
        const r = await http(`${tg.base}/metrics`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
        return /tollgate_breaker_state\{model="only",provider="pd"\}/.test(r.text) ? r.text : null;
      },
      { timeout: 10000, interval: 200, what: 'breaker gauges in /metrics' },
    );
    assert.match(text, /tollgate_breaker_opens_total\{model="only",provider="pd"\} 2/);
    assert.match(text, /tollgate_breaker_closes_total\{model="only",provider="pd"\} 1/);
    assert.match(text, /tollgate_target_calls_total\{model="m-a",outcome="success",provider="pa"\} \d+/);
    assert.match(text, /tollgate_target_latency_seconds_bucket\{/);
  });

  test('/v1/models lists declared models', async () => {
    const r = await http(`${tg.baseURL}/models`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
    const ids = r.json.data.map((m) => m.id);
    for (const m of ['rr', 'wt', 'fb1', 'br']) assert.ok(ids.includes(m), m);
  });
});

describe('bad configs are refused with a message naming the key', () => {
  const cases = [
    ['models:\n  x:\n    strategy: fastest\n    targets:\n      - {provider: openai}\n', /models\.x\.strategy must be round-robin, weighted, least-busy, lowest-latency or cheapest, not 'fastest'/],
    ['models:\n  x:\n    strategy: weighted\n    targets: []\n', /models\.x\.targets is empty/],
    ['models:\n  x:\n    strategy: weighted\n', /models\.x\.targets is empty/],
    ['models:\n  x:\n    targets:\n      - {provider: nosuch, model: m}\n', /models\.x\.targets\[0\]\.provider 'nosuch' is not a provider/],
    ['models:\n  x:\n    targets:\n      - {provider: openai, weight: 0}\n', /models\.x\.targets\[0\]\.weight must be an integer/],
    ['providers:\n  - name: v\n    base_url: http://127.0.0.1:1/v1\n    breaker: flaky\n', /providers: v\.breaker must be default, openai, mistral, azure, local or off, not 'flaky'/],
  ];
  for (const [yaml, re] of cases) {
    test(re.source.slice(0, 60), () => {
      const dir = makeTempDir('tg-badcfg-');
      const file = path.join(dir, 'bad.yaml');
      fs.writeFileSync(file, yaml);
      const res = spawnSync(binary('tg-router'), ['-c', file], {
        encoding: 'utf8',
        timeout: 10000,
        env: { ...process.env, TOLLGATE_RUN_DIR: path.join(dir, 'run'), TOLLGATE_DATA_DIR: path.join(dir, 'data') },
      });
      assert.notEqual(res.status, 0);
      assert.match(res.stderr, re);
    });
  }
});
