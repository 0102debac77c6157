// auto.test.mjs - model "auto" (spec G5) end to end: a simple and a complex prompt go to
// different models (the x-tollgate-model header and the model the mock provider received),
// the headers come on streams too, an agent whose default model is "auto", and GET /v1/usage
// shows the calls by class and the savings against the baseline model.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MASTER_KEY, http, startMock, startTollgate, waitFor } from './harness.mjs';

let mock;
let tg;
let client;
const since = Math.floor(Date.now() / 1000) - 3600;

const SIMPLE = 'What is the capital of France?';
const COMPLEX =
  'Design a microservices architecture for an online store that handles 10,000 orders per ' +
  'minute. First describe the service boundaries, then explain how you would implement ' +
  'checkout as a distributed transaction, compare the trade-offs of sagas and two-phase ' +
  'commit, and finally give a migration strategy from the current monolith, step by step.';

// Per 1M tokens (common/pricing.json).
const PRICES = {
  'gpt-4o-mini': [0.15, 0.6],
  'gpt-4.1': [2.0, 8.0],
  'claude-3-opus-20240229': [15.0, 75.0],
};
const cost = (model, u) =>
  (u.prompt_tokens * PRICES[model][0] + u.completion_tokens * PRICES[model][1]) / 1e6;

const calls = []; // { model, cls, usage }

before(async () => {
  mock = await startMock();
  tg = await startTollgate({
    mock,
    config: 'agents:\n  helper:\n    default_model: auto\n',
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

async function chat(body, headers = {}) {
  const res = await http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${MASTER_KEY}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify(body),
    timeout: 30000,
  });
  return res;
}

async function upstreamModel() {
  const st = await mock.stats();
  return st.last_request?.body?.model;
}

describe('model auto', () => {
  test('a simple prompt goes to the cheap model, a complex one to the capable model', async () => {
    const s = await chat({ model: 'auto', messages: [{ role: 'user', content: SIMPLE }] });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.headers.get('x-tollgate-auto-class'), 'simple');
    assert.equal(s.headers.get('x-tollgate-model'), 'gpt-4o-mini');
    assert.equal(await upstreamModel(), 'gpt-4o-mini', 'the upstream got the chosen model');
    calls.push({ model: 'gpt-4o-mini', cls: 'simple', usage: s.json.usage });

    const c = await chat({
      model: 'auto',
      messages: [
        { role: 'system', content: 'You are a senior engineer.' },
        { role: 'user', content: COMPLEX },
      ],
    });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.headers.get('x-tollgate-auto-class'), 'complex');
    assert.equal(c.headers.get('x-tollgate-model'), 'gpt-4.1');
    assert.equal(await upstreamModel(), 'gpt-4.1');
    calls.push({ model: 'gpt-4.1', cls: 'complex', usage: c.json.usage });

    // The official SDK sees the same headers; a named model gets x-tollgate-model only.
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: SIMPLE }] })
      .withResponse();
    assert.equal(response.headers.get('x-tollgate-model'), 'gpt-4o-mini');
    assert.equal(response.headers.get('x-tollgate-auto-class'), null);
    calls.push({ model: 'gpt-4o-mini', cls: null, usage: data.usage });
  });

  test('stream answers carry the headers', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'auto',
        messages: [{ role: 'user', content: COMPLEX }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    assert.match(response.headers.get('content-type'), /text\/event-stream/);
    assert.equal(response.headers.get('x-tollgate-auto-class'), 'complex');
    assert.equal(response.headers.get('x-tollgate-model'), 'gpt-4.1');
    let usage;
    let text = '';
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.match(text, /^Mock reply to: Design a microservices/);
    assert.ok(usage, 'the usage chunk arrives');
    assert.equal(await upstreamModel(), 'gpt-4.1');
    calls.push({ model: 'gpt-4.1', cls: 'complex', usage });
  });

  test('an agent whose default model is auto', async () => {
    const r = await chat(
      { messages: [{ role: 'user', content: 'hi, who wrote Hamlet?' }] },
      { 'x-agent-id': 'helper' },
    );
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-auto-class'), 'simple');
    assert.equal(r.headers.get('x-tollgate-model'), 'gpt-4o-mini');
    assert.equal(await upstreamModel(), 'gpt-4o-mini');
    calls.push({ model: 'gpt-4o-mini', cls: 'simple', usage: r.json.usage });
    // The model in the request wins over the agent's default.
    const n = await chat(
      { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] },
      { 'x-agent-id': 'helper' },
    );
    assert.equal(n.status, 200, n.text);
    assert.equal(n.headers.get('x-tollgate-auto-class'), null);
    assert.equal(n.headers.get('x-tollgate-model'), 'gpt-4.1');
    calls.push({ model: 'gpt-4.1', cls: null, usage: n.json.usage });
  });

  test('embeddings cannot be auto', async () => {
    const r = await http(`${tg.baseURL}/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', input: 'hello' }),
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.param, 'model');
  });

  test('GET /v1/usage: auto calls by class and savings against claude-3-opus', async () => {
    const u = await waitFor(
      async () => {
        const res = await http(`${tg.baseURL}/usage?start=${since}&group_by=model`, {
          headers: { authorization: `Bearer ${MASTER_KEY}` },
        });
        assert.equal(res.status, 200, res.text);
        return res.json.totals.requests >= calls.length ? res.json : null;
      },
      { timeout: 30000, interval: 200, what: `/v1/usage to count ${calls.length} requests` },
    );
    assert.equal(u.totals.requests, calls.length);
    const by = (cls) => calls.filter((c) => c.cls === cls).length;
    assert.deepEqual(u.totals.auto, { simple: by('simple'), medium: 0, complex: by('complex') });
    // Savings = the same tokens at the baseline's price minus the actual cost, every call.
    let want = 0;
    for (const c of calls) want += cost('claude-3-opus-20240229', c.usage) - cost(c.model, c.usage);
    assert.ok(u.totals.savings_usd > 0, 'auto saves money');
    assert.ok(
      Math.abs(u.totals.savings_usd - want) <= calls.length * 2e-6,
      `savings ${u.totals.savings_usd} ~ ${want}`,
    );
    const mini = u.data.find((g) => g.model === 'gpt-4o-mini');
    assert.ok(mini, JSON.stringify(u.data));
    assert.equal(mini.auto.simple, by('simple'));
    assert.equal(mini.auto.complex, 0);
    assert.ok(mini.savings_usd > 0);
    const big = u.data.find((g) => g.model === 'gpt-4.1');
    assert.equal(big.auto.complex, by('complex'));
  });
});
