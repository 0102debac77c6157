// faults.test.mjs - upstream faults scripted in the mock with [[mock:...]] directives: retries,
// no retry on 4xx, garbage, a reset mid-stream, a hang that the client abandons, and an error
// that must not touch concurrent requests.

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MASTER_KEY, http, startMock, startTollgate, uniq, waitFor } from './harness.mjs';

let mock;
let tg;
let client;

before(async () => {
  mock = await startMock();
  // These tests fail the upstream on purpose, back to back: no breaker (providers.test.mjs
  // tests the breakers).
  tg = await startTollgate({ mock, config: 'providers:\n  - name: openai\n    breaker: off\n' });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 30000 });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

beforeEach(async () => {
  if (mock) await mock.reset();
});

const ask = (text, extra = {}) => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: text }],
  ...extra,
});

// Model requests the mock received on /v1/chat/completions since the last reset.
const upstreamCalls = async () => (await mock.stats()).by_path?.['/v1/chat/completions'] ?? 0;

describe('retries', () => {
  test('a 503 on the first try is retried once: the client gets 200', async () => {
    const key = uniq('retry');
    const got = await client.chat.completions.create(
      ask(`[[mock:fail_times=1]][[mock:status=503]][[mock:key=${key}]] retry me`),
    );
    assert.equal(got.choices[0].finish_reason, 'stop');
    assert.match(got.choices[0].message.content, /retry me/);
    assert.equal(await upstreamCalls(), 2, 'one failed call and one retry');
  });

  test('a 429 on the first try is retried once too', async () => {
    const key = uniq('retry429');
    const got = await client.chat.completions.create(
      ask(`[[mock:fail_times=1]][[mock:status=429]][[mock:key=${key}]] slow down`),
    );
    assert.equal(got.choices[0].finish_reason, 'stop');
    assert.equal(await upstreamCalls(), 2);
  });

  test('a 400 is not retried', async () => {
    await assert.rejects(client.chat.completions.create(ask('[[mock:status=400]] no')), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, err.constructor.name);
      assert.equal(err.status, 400);
      return true;
    });
    assert.equal(await upstreamCalls(), 1);
  });

  test('a 500 that persists: one retry, then an upstream error (5xx) to the client', async () => {
    await assert.rejects(client.chat.completions.create(ask('[[mock:status=500]] broken')), (err) => {
      assert.ok(err instanceof OpenAI.APIError, err.constructor.name);
      assert.ok(err.status >= 500 && err.status <= 504, `status ${err.status}`);
      assert.equal(typeof err.error?.message, 'string');
      return true;
    });
    assert.equal(await upstreamCalls(), 2);
  });
});

describe('broken upstream answers', () => {
  test('a 200 whose body is an error object is a 502, not a 200', async () => {
    await mock.script([
      { chunks: ['{"error":{"message":"quota exhausted","type":"insufficient_quota"}}'], content_type: 'application/json' },
    ]);
    const r = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'quota?' }] }),
    });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.error.code, 'upstream_error');
    assert.match(r.json.error.message, /error object instead of an answer/);
  });

  test('garbage instead of JSON is a 502', async () => {
    await assert.rejects(client.chat.completions.create(ask('[[mock:garbage]] junk')), (err) => {
      assert.equal(err.status, 502);
      assert.equal(typeof err.error?.message, 'string');
      return true;
    });
  });

  test('a connection reset mid-stream ends the stream with an error; the next call works', async () => {
    const stream = await client.chat.completions.create(
      ask('[[mock:reset_after=3]][[mock:words=40]] reset me', { stream: true }),
    );
    let content = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) content++;
      })(),
      (err) => {
        assert.ok(err instanceof OpenAI.APIError || err instanceof Error, String(err));
        return true;
      },
    );
    assert.ok(content >= 1 && content < 40, `${content} content chunks before the error`);
    const next = await client.chat.completions.create(ask('after the reset'));
    assert.equal(next.choices[0].finish_reason, 'stop');
  });
});

describe('client hang-ups', () => {
  test('abort while the upstream hangs: the upstream call is aborted', async () => {
    const ctl = new AbortController();
    const pending = client.chat.completions
      .create(ask('[[mock:hang]] wait forever'), { signal: ctl.signal })
      .catch((err) => err);
    await waitFor(async () => (await mock.stats()).in_flight >= 1, {
      timeout: 10000,
      what: 'the request to reach the mock',
    });
    ctl.abort();
    const err = await pending;
    assert.ok(err instanceof Error, 'the client call was aborted');
    const stats = await waitFor(
      async () => {
        const s = await mock.stats();
        return s.aborted >= 1 && s.in_flight === 0 ? s : null;
      },
      { timeout: 10000, what: 'the mock to see the upstream connection go' },
    );
    assert.equal(stats.aborted, 1);
  });

  test('abort mid-stream: the upstream stream is aborted', async () => {
    const ctl = new AbortController();
    const stream = await client.chat.completions.create(
      ask('[[mock:chunk_delay_ms=500]][[mock:words=200]] slow stream', { stream: true }),
      { signal: ctl.signal },
    );
    let got = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content && ++got === 2) ctl.abort();
      }
    } catch {
      // the abort ends the iteration
    }
    assert.equal(got, 2);
    await waitFor(
      async () => {
        const s = await mock.stats();
        return s.aborted >= 1 && s.in_flight === 0;
      },
      { timeout: 10000, what: 'the mock to see the stream aborted' },
    );
  });
});

describe('isolation', () => {
  test('an upstream 500 on one request does not affect concurrent good requests', async () => {
    const good = Array.from({ length: 20 }, (_, i) =>
      client.chat.completions.create(ask(`[[mock:latency_ms=200]] good request ${i}`)),
    );
    const bad = client.chat.completions
      .create(ask('[[mock:latency_ms=100]][[mock:status=500]] bad request'))
      .then(
        () => null,
        (err) => err,
      );
    const results = await Promise.all(good);
    results.forEach((r, i) => {
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.match(r.choices[0].message.content, new RegExp(`good request ${i}`));
    });
    const err = await bad;
    assert.ok(err && err.status >= 500, `bad request failed: ${err?.status}`);
  });
});

describe('concurrency', () => {
  test('1,000 calls in flight at once through one worker all reach the upstream together', async () => {
    const N = 1000;
    const body = JSON.stringify(ask('[[mock:latency_ms=3000]] held together'));
    const headers = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
    const calls = Array.from({ length: N }, () =>
      fetch(`${tg.baseURL}/chat/completions`, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(60000),
      }).then(async (res) => ({ status: res.status, json: await res.json() })),
    );
    //  The upstream sees all of them in flight at the same moment (one worker, one curl multi).
    await waitFor(async () => (await mock.stats()).in_flight >= N, {
      timeout: 30000,
      interval: 50,
      what: `${N} upstream calls in flight at once`,
    });
    const results = await Promise.all(calls);
    assert.equal(results.filter((r) => r.status === 200).length, N);
    assert.ok(results.every((r) => r.json.choices[0].finish_reason === 'stop'));
  });
});
