// events.test.mjs - the events API and traces end to end (spec A2-A4): events posted over
// HTTP are stored and counted like gateway calls (same /v1/usage totals and cost), checked
// all or nothing with per-item errors, stored once per id; gateway calls made with the
// official openai client and trace headers (W3C traceparent, x-tollgate-*) rebuild the
// right tree with events of the application; a key sees only its organization's traces;
// SIGKILL of analytics while batches are posted loses and duplicates nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MASTER_KEY, alive, http, startMock, startTollgate, uniq, waitFor } from './harness.mjs';

let mock;
let tg;
let client;
const since = Math.floor(Date.now() / 1000) - 3600;
const master = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };

before(async () => {
  mock = await startMock();
  // A QUERY lost in a killed analytics is answered 504 after 3 s: the client then retries.
  tg = await startTollgate({ mock, config: 'http:\n  timeout_ms: 3000\n' });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 30000 });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

const api = (p) => `${tg.base}/api/v1${p}`;

function post(p, body, headers = master) {
  return http(api(p), { method: 'POST', headers, body: JSON.stringify(body), timeout: 20000 });
}

async function usage(groupBy = 'provider,model') {
  const res = await http(`${tg.baseURL}/usage?start=${since}&group_by=${groupBy}`, {
    headers: master,
  });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

const group = (u, provider, model) =>
  u.data.find((g) => g.provider === provider && g.model === model) || {
    requests: 0,
    tokens_in: 0,
    tokens_out: 0,
    cost_usd: 0,
  };

describe('events API', () => {
  test('events over HTTP count like gateway calls: same requests, tokens and cost', async () => {
    // Gateway calls to gpt-4o through the mock provider.
    const calls = [];
    for (let i = 0; i < 5; i++) {
      const r = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `same totals ${i} ${'word '.repeat(i * 3)}` }],
      });
      calls.push(r.usage);
    }
    const want = calls.reduce((s, u) => s + u.prompt_tokens, 0);
    const gw = await waitFor(
      async () => {
        const g = group(await usage(), 'openai', 'gpt-4o');
        return g.requests === 5 && g.tokens_in === want ? g : null;
      },
      { timeout: 20000, what: 'the 5 gateway calls in /v1/usage' },
    );
    // The same calls as application events: the gpt-4o group exactly doubles.
    const events = calls.map((u, i) => ({
      id: uniq('same'),
      type: 'llm_call',
      model: 'gpt-4o',
      provider: 'openai',
      input_tokens: u.prompt_tokens,
      output_tokens: u.completion_tokens,
      latency_ms: 12.5 + i,
      status: 'success',
    }));
    const res = await post('/events/batch', { events });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.stored, 5);
    assert.deepEqual(
      res.json.data.map((d) => d.id),
      events.map((e) => e.id),
    );
    const both = group(await usage(), 'openai', 'gpt-4o');
    assert.equal(both.requests, 2 * gw.requests);
    assert.equal(both.tokens_in, 2 * gw.tokens_in);
    assert.equal(both.tokens_out, 2 * gw.tokens_out);
    assert.equal(Math.round(both.cost_usd * 1e6), 2 * Math.round(gw.cost_usd * 1e6));
  });

  test('one event; an id posted again is a duplicate, stored once; given costs are kept', async () => {
    const id = uniq('one');
    const ev = { id, model: 'my-own-model', provider: 'acme', input_tokens: 10, cost_usd: 0.25 };
    const before = group(await usage(), 'acme', 'my-own-model');
    const first = await post('/events', ev);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json, { id, status: 'stored' });
    const again = await post('/events', ev);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, { id, status: 'duplicate' });
    // Twice in one batch: the second is the duplicate.
    const id2 = uniq('twice');
    const b = await post('/events/batch', [
      { id: id2, model: 'my-own-model', provider: 'acme', cost_usd: 1 },
      { id: id2, model: 'my-own-model', provider: 'acme', cost_usd: 1 },
    ]);
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(
      b.json.data.map((d) => d.status),
      ['stored', 'duplicate'],
    );
    const g = group(await usage(), 'acme', 'my-own-model');
    assert.equal(g.requests - before.requests, 2);
    assert.equal(Math.round((g.cost_usd - before.cost_usd) * 1e6), 1250000);
    // Without an id, one is generated and returned.
    const gen = await post('/events', { type: 'tool_call', properties: { tool: 'search' } });
    assert.equal(gen.status, 200, gen.text);
    assert.match(gen.json.id, /^evt_[0-9a-f]{24}$/);
  });

  test('validation is all or nothing, each bad item and field named', async () => {
    const before = (await usage()).totals.requests;
    const res = await post('/events/batch', {
      events: [
        { id: uniq('ok'), model: 'gpt-4o' },
        { id: 'bad id with spaces', input_tokens: -1 },
        { model: 7, properties: [1, 2], status: 'maybe', colour: 'blue' },
        { timestamp: 'yesterday', cached_tokens: 5, input_tokens: 2 },
      ],
    });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.equal(res.json.error.code, 'invalid_events');
    const got = res.json.error.errors.map((e) => `${e.index}:${e.field}`).sort();
    assert.deepEqual(
      got,
      [
        '1:id',
        '1:input_tokens',
        '2:colour',
        '2:model',
        '2:properties',
        '2:status',
        '3:cached_tokens',
        '3:timestamp',
      ].sort(),
    );
    assert.equal((await usage()).totals.requests, before, 'nothing was stored');
    const big = await post('/events/batch', { events: Array.from({ length: 101 }, () => ({})) });
    assert.equal(big.status, 400);
    assert.match(big.json.error.message, /1 to 100/);
    const notJson = await http(api('/events'), { method: 'POST', headers: master, body: '{' });
    assert.equal(notJson.status, 400);
    const get = await http(api('/events'), { headers: master });
    assert.equal(get.status, 405);
    const noKey = await http(api('/events'), { method: 'POST', body: '{}' });
    assert.equal(noKey.status, 401);
  });
});

describe('traces', () => {
  test('gateway calls with traceparent and x-tollgate-* headers, and app events, form one tree', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e' + Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0');
    const appSpan = '00f067aa0ba902b7';
    const user = uniq('user');
    // 1: a call under the application's span (W3C), 2: a call under call 1, 3: a tool event
    // of the application under call 2, 4: a call whose parent is the tool event.
    const r1 = await client.chat.completions
      .create(
        { model: 'gpt-4o', messages: [{ role: 'user', content: 'plan the trip' }], user },
        {
          headers: {
            traceparent: `00-${trace}-${appSpan}-01`,
            'x-tollgate-environment': 'staging',
          },
        },
      )
      .withResponse();
    const span1 = r1.response.headers.get('x-request-id');
    assert.ok(span1, 'the call tells its span id in x-request-id');
    const r2 = await client.chat.completions
      .create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'step two' }] },
        {
          headers: {
            'x-tollgate-trace-id': trace,
            'x-tollgate-parent-id': span1,
            'x-tollgate-user-id': user,
          },
        },
      )
      .withResponse();
    const span2 = r2.response.headers.get('x-request-id');
    const tool = await post('/events', {
      id: uniq('tool'),
      span_id: 'tool-span-1',
      type: 'tool_call',
      trace_id: trace,
      parent_event_id: span2,
      user_id: user,
      latency_ms: 40,
      properties: { tool: 'weather', ok: true },
    });
    assert.equal(tool.status, 200, tool.text);
    const r4 = await client.chat.completions
      .create(
        { model: 'gpt-4o', messages: [{ role: 'user', content: 'answer' }], user },
        { headers: { 'x-tollgate-trace-id': trace, 'x-tollgate-parent-id': 'tool-span-1' } },
      )
      .withResponse();
    const span4 = r4.response.headers.get('x-request-id');
    // A malformed user or environment header is refused; a malformed trace header is not.
    const badUser = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { ...master, 'x-tollgate-user-id': 'tab\there' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(badUser.status, 400);
    assert.equal(badUser.json.error.param, 'x-tollgate-user-id');
    const badEnv = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { ...master, 'x-tollgate-environment': 'two words' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(badEnv.status, 400);
    assert.equal(badEnv.json.error.param, 'x-tollgate-environment');
    // A malformed traceparent is ignored: the call works and is in no trace.
    const bad = await client.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'no trace' }] },
      { headers: { traceparent: `00-${'0'.repeat(32)}-${appSpan}-01` } },
    );
    assert.equal(bad.choices[0].finish_reason, 'stop');

    const t = await waitFor(
      async () => {
        const res = await http(api(`/traces/${trace}`), { headers: master });
        return res.status === 200 && res.json.span_count === 4 ? res.json : null;
      },
      { timeout: 20000, what: 'the trace with its 4 spans' },
    );
    // The application's span is not an event: a virtual root named by it.
    assert.equal(t.root_missing, true);
    assert.equal(t.root_span_id, appSpan);
    const shape = t.spans.map((s) => [s.span_id, s.depth]);
    assert.deepEqual(shape, [
      [appSpan, 0],
      [span1, 1],
      [span2, 2],
      ['tool-span-1', 3],
      [span4, 4],
    ]);
    const s1 = t.spans[1];
    assert.equal(s1.model, 'gpt-4o');
    assert.equal(s1.user_id, user, "the body's user");
    assert.equal(s1.environment, 'staging');
    assert.equal(t.spans[2].user_id, user, 'x-tollgate-user-id');
    assert.equal(t.spans[2].environment, 'production', 'events.default_environment');
    assert.deepEqual(t.spans[3].properties, { tool: 'weather', ok: true });
    assert.equal(t.spans[3].type, 'tool_call');
    const tokens = [r1, r2, r4].reduce(
      (s, r) => s + r.data.usage.prompt_tokens + r.data.usage.completion_tokens,
      0,
    );
    assert.equal(t.total_tokens, tokens);
    assert.ok(t.cost_usd > 0);
    assert.equal(t.status, 'ok');

    // The list finds it by user and model, with the same summary.
    const list = await http(api(`/traces?user=${user}&model=gpt-4o-mini&limit=5`), {
      headers: master,
    });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.data.length, 1);
    assert.equal(list.json.data[0].trace_id, trace);
    assert.equal(list.json.data[0].span_count, 4);
    assert.equal(list.json.data[0].total_tokens, tokens);
    const errors = await http(api(`/traces?user=${user}&status=error`), { headers: master });
    assert.equal(errors.json.data.length, 0);
    const badArg = await http(api('/traces?limit=0'), { headers: master });
    assert.equal(badArg.status, 400);
    const missing = await http(api('/traces/no-such-trace'), { headers: master });
    assert.equal(missing.status, 404);
  });

  test('a cache hit served by ingest carries the trace, user and environment too', async () => {
    const trace = uniq('hit');
    const body = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user', content: `cached for tracing ${trace}` }],
    };
    const headers = {
      'x-tollgate-trace-id': trace,
      'x-tollgate-parent-id': 'app-root',
      'x-tollgate-user-id': 'hit-user',
      'x-tollgate-environment': 'qa',
    };
    let calls = 0;
    // The first call fills the cache (through the router, asynchronously): call until a hit.
    await waitFor(
      async () => {
        calls++;
        const r = await client.chat.completions.create(body, { headers }).withResponse();
        return r.response.headers.get('x-cache') === 'hit';
      },
      { timeout: 20000, interval: 50, what: 'a cache hit' },
    );
    const t = await waitFor(
      async () => {
        const res = await http(api(`/traces/${trace}`), { headers: master });
        return res.status === 200 && res.json.span_count === calls ? res.json : null;
      },
      { timeout: 20000, what: `the trace with its ${calls} spans` },
    );
    const hit = t.spans.find((sp) => sp.cache === 'hit');
    assert.ok(hit, `a hit span in ${JSON.stringify(t.spans)}`);
    assert.equal(hit.user_id, 'hit-user');
    assert.equal(hit.environment, 'qa');
    assert.equal(hit.parent_event_id, 'app-root');
    assert.equal(hit.cost_usd, 0, 'a hit costs nothing upstream');
    assert.equal(t.root_span_id, 'app-root');
  });

  test('a cache hit answered by the router (a rate-limited key) carries them too', async () => {
    const made = await http(`${tg.baseURL}/keys`, {
      method: 'POST',
      headers: master,
      body: JSON.stringify({
        name: 'limited',
        organization: 'limited-org',
        limits: { requests_per_minute: 1000 },
      }),
    });
    assert.equal(made.status, 200, made.text);
    const limited = new OpenAI({ baseURL: tg.baseURL, apiKey: made.json.key, maxRetries: 0 });
    const trace = uniq('rhit');
    const body = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user', content: `router hit ${trace}` }],
    };
    const headers = { 'x-tollgate-trace-id': trace, 'x-tollgate-user-id': 'router-hit-user' };
    let calls = 0;
    await waitFor(
      async () => {
        calls++;
        const r = await limited.chat.completions.create(body, { headers }).withResponse();
        assert.ok(r.response.headers.get('x-ratelimit-limit-requests'), 'the router answered');
        return r.response.headers.get('x-cache') === 'hit';
      },
      { timeout: 20000, interval: 50, what: 'a cache hit' },
    );
    const limitedAuth = { authorization: `Bearer ${made.json.key}` };
    const t = await waitFor(
      async () => {
        const res = await http(api(`/traces/${trace}`), { headers: limitedAuth });
        return res.status === 200 && res.json.span_count === calls ? res.json : null;
      },
      { timeout: 20000, what: `the trace with its ${calls} spans` },
    );
    const hit = t.spans.find((sp) => sp.cache === 'hit');
    assert.ok(hit, `a hit span in ${JSON.stringify(t.spans)}`);
    assert.equal(hit.user_id, 'router-hit-user');
    assert.equal(hit.environment, 'production');
  });

  test('orphans and cycles from posted events: attached to the root, with notes', async () => {
    const trace = uniq('cyc');
    const res = await post('/events/batch', [
      { span_id: 'root', trace_id: trace, timestamp: 1764000000 },
      { span_id: 'a', parent_event_id: 'b', trace_id: trace, timestamp: 1764000001 },
      { span_id: 'b', parent_event_id: 'a', trace_id: trace, timestamp: 1764000002 },
      { span_id: 'o', parent_event_id: 'gone', trace_id: trace, timestamp: 1764000003 },
    ]);
    assert.equal(res.status, 200, res.text);
    const t = await http(api(`/traces/${trace}`), { headers: master });
    assert.equal(t.status, 200, t.text);
    assert.equal(t.json.root_span_id, 'root');
    assert.equal(t.json.cycles_broken, 1);
    assert.deepEqual(
      t.json.spans.map((s) => [s.span_id, s.depth]),
      [
        ['root', 0],
        ['a', 1],
        ['b', 2],
        ['o', 1],
      ],
    );
    assert.deepEqual(t.json.spans[1].flags, ['cycle_broken']);
    assert.deepEqual(t.json.spans[3].flags, ['orphan']);
    assert.equal(t.json.notes.length, 2);
  });

  test("a key sees only its organization's events and traces", async () => {
    const made = await http(`${tg.baseURL}/keys`, {
      method: 'POST',
      headers: master,
      body: JSON.stringify({ name: 'events-org', organization: 'acme' }),
    });
    assert.equal(made.status, 200, made.text);
    const acme = { authorization: `Bearer ${made.json.key}`, 'content-type': 'application/json' };
    const trace = uniq('shared');
    const mine = await post('/events', { span_id: 'acme-span', trace_id: trace }, acme);
    assert.equal(mine.status, 200, mine.text);
    const theirs = await post('/events', { span_id: 'other-span', trace_id: trace, org: 'other' });
    assert.equal(theirs.status, 200, theirs.text);
    const spoof = await post('/events', { trace_id: trace, org: 'other' }, acme);
    assert.equal(spoof.status, 400, 'a key cannot post for another organization');
    const seen = await http(api(`/traces/${trace}`), { headers: acme });
    assert.equal(seen.status, 200, seen.text);
    assert.deepEqual(
      seen.json.spans.map((s) => s.span_id),
      ['acme-span'],
    );
    const all = await http(api(`/traces/${trace}`), { headers: master });
    assert.equal(all.json.span_count, 2, 'the master key sees every organization');
    const list = await http(api('/traces?limit=500'), { headers: acme });
    assert.ok(list.json.data.every((t) => t.trace_id === trace), 'only acme traces listed');
  });

  test('roles: events:write to post, metrics:read for traces (403 naming the role)', async () => {
    const key = async (name, roles) => {
      const made = await http(`${tg.baseURL}/keys`, {
        method: 'POST',
        headers: master,
        body: JSON.stringify({ name, organization: 'acme', roles }),
      });
      assert.equal(made.status, 200, made.text);
      assert.deepEqual(made.json.roles, roles);
      return { authorization: `Bearer ${made.json.key}`, 'content-type': 'application/json' };
    };
    const reader = await key('reader', ['metrics:read']);
    const writer = await key('writer', ['events:write']);
    const trace = uniq('roles');
    const denied = await post('/events', { trace_id: trace }, reader);
    assert.equal(denied.status, 403, denied.text);
    assert.match(denied.json.error.message, /events:write/);
    const batchDenied = await post('/events/batch', { events: [{ trace_id: trace }] }, reader);
    assert.equal(batchDenied.status, 403, batchDenied.text);
    const ok = await post('/events', { span_id: 'w-1', trace_id: trace }, writer);
    assert.equal(ok.status, 200, ok.text);
    const hidden = await http(api(`/traces/${trace}`), { headers: writer });
    assert.equal(hidden.status, 403, hidden.text);
    assert.match(hidden.json.error.message, /metrics:read/);
    const shown = await http(api(`/traces/${trace}`), { headers: reader });
    assert.equal(shown.status, 200, shown.text);
    assert.deepEqual(shown.json.spans.map((s) => s.span_id), ['w-1']);
  });
});

describe('analytics restart', () => {
  test('SIGKILL of analytics while batches are posted: every event stored once', async () => {
    const before = await usage();
    const n = 40;
    const batches = Array.from({ length: n }, (_, b) =>
      Array.from({ length: 100 }, (_, i) => ({
        id: uniq(`k${b}-${i}`),
        model: 'kill-model',
        provider: 'killtest',
        input_tokens: 1 + i,
        output_tokens: 2,
      })),
    );
    const oldPid = tg.pidOf('analytics');
    assert.ok(oldPid && alive(oldPid));
    let retries = 0;
    // The client's rule: anything but a 200 (or no answer) is sent again, with the same ids.
    const send = async (b) => {
      for (;;) {
        let res;
        try {
          res = await post('/events/batch', { events: batches[b] });
        } catch {
          res = null;
        }
        if (res && res.status === 200) return res.json;
        if (res && res.status === 400) throw new Error(res.text);
        retries++;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const answers = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < n) {
          const b = next++;
          if (b === 10) process.kill(oldPid, 'SIGKILL');
          answers.push(await send(b));
        }
      }),
    );
    assert.ok(!alive(oldPid));
    assert.equal(answers.length, n);
    const want = n * 100;
    const g = await waitFor(
      async () => {
        const cur = group(await usage(), 'killtest', 'kill-model');
        return cur.requests >= want ? cur : null;
      },
      { timeout: 30000, what: `${want} events stored` },
    );
    assert.equal(g.requests, want, 'none counted twice');
    assert.equal(g.tokens_in, n * ((100 * 101) / 2));
    assert.equal(g.tokens_out, n * 200);
    assert.equal((await usage()).totals.requests - before.totals.requests, want);
    // Retries after the kill may report duplicates (stored before the answer was lost).
    const dups = answers.reduce((s, a) => s + a.duplicates, 0);
    assert.ok(dups <= want);
    console.log(`# ${retries} retries; ${dups} duplicates reported`);
  });
});
