// cache.test.mjs - the response cache (spec C1, C2, C4) end to end, counting upstream calls
// at the mock: hits and misses by prompt, model and scope, bypass rules, TTL, stream replay
// with the official SDK, feedback and invalidation, a full map, a restart, two ingests.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';
import {
  MASTER_KEY,
  delay,
  http,
  pool,
  startMock,
  startTollgate,
  uniq,
  waitFor,
} from './harness.mjs';

let mock;
let tg;
let client;

const auth = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };

async function upstreamCalls() {
  return (await mock.stats()).requests;
}

async function stats(inst = tg) {
  const res = await http(`${inst.baseURL}/cache/stats`, { headers: auth });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// Waits until the router has stored `n` more fills than `before`.
async function filled(before, n = 1, inst = tg) {
  await waitFor(async () => (await stats(inst)).fills >= before + n, {
    timeout: 5000,
    what: `${n} cache fill(s)`,
  });
}

function chat(content, extra = {}, headers = {}, inst = tg) {
  const body = { model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] };
  return http(`${inst.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { ...auth, ...headers },
    body: JSON.stringify({ ...body, ...extra }),
  });
}

// One call that misses, then waits for its fill: returns the miss.
async function prime(content, extra = {}, headers = {}, inst = tg) {
  const before = (await stats(inst)).fills;
  const res = await chat(content, extra, headers, inst);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('x-cache'), 'miss');
  await filled(before, 1, inst);
  return res;
}

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock, config: 'cache:\n  ttl_s: 600\n' });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0 });
});

after(async () => {
  if (tg) await tg.stop();
  if (mock) await mock.stop();
});

describe('exact cache', () => {
  test('the same request is answered from the cache without an upstream call', async () => {
    const prompt = `hello ${uniq()}`;
    const miss = await prime(prompt);
    const n = await upstreamCalls();
    const hit = await chat(prompt);
    assert.equal(hit.status, 200, hit.text);
    assert.equal(hit.headers.get('x-cache'), 'hit');
    assert.equal(hit.headers.get('x-tollgate-provider'), 'openai');
    assert.equal(await upstreamCalls(), n, 'no upstream call for a hit');
    assert.deepEqual(hit.json, miss.json, 'the stored answer, id included');
    // Key order and whitespace of the request do not matter; stream_options and user do not.
    const same = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: auth,
      body: `{ "messages": [ {"content": ${JSON.stringify(prompt)}, "role": "user"} ],
               "temperature": 0.0, "user": "someone", "model": "gpt-4o-mini" }`,
    });
    assert.equal(same.headers.get('x-cache'), 'hit', same.text);
    assert.equal(await upstreamCalls(), n);
  });

  test('another prompt, model, parameter or agent scope misses', async () => {
    const prompt = `scoped ${uniq()}`;
    await prime(prompt);
    const n = await upstreamCalls();
    const other = [
      await chat(`${prompt}!`),
      await chat(prompt, { model: 'gpt-4o' }),
      await chat(prompt, { max_tokens: 7 }),
      await chat(prompt, {}, { 'x-agent-id': 'agent-a' }),
    ];
    for (const r of other) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-cache'), 'miss');
    }
    assert.equal(await upstreamCalls(), n + other.length);
  });

  test('sampled calls and no-store bypass; no-cache refreshes the entry', async () => {
    const prompt = `bypass ${uniq()}`;
    const n = await upstreamCalls();
    const sampled = await chat(prompt, { temperature: undefined });
    const sampled2 = await chat(prompt, { temperature: 0.7 });
    assert.equal(sampled.headers.get('x-cache'), 'bypass');
    assert.equal(sampled2.headers.get('x-cache'), 'bypass');
    await prime(prompt);
    const nostore = await chat(prompt, {}, { 'x-tollgate-cache': 'no-store' });
    assert.equal(nostore.headers.get('x-cache'), 'bypass');
    const before = (await stats()).fills;
    const fresh = await chat(prompt, {}, { 'x-tollgate-cache': 'no-cache' });
    assert.equal(fresh.headers.get('x-cache'), 'miss', 'no-cache goes upstream');
    await filled(before);
    assert.equal(await upstreamCalls(), n + 5);
    const hit = await chat(prompt);
    assert.equal(hit.headers.get('x-cache'), 'hit');
    assert.equal(hit.json.id, fresh.json.id, 'no-cache stored the fresh answer');
  });

  test('bad cache headers are a 400 naming the header', async () => {
    const a = await chat('x', {}, { 'x-tollgate-cache': 'maybe' });
    assert.equal(a.status, 400);
    assert.equal(a.json.error.param, 'x-tollgate-cache');
    for (const v of ['0', '-3', 'soon', '999999999999']) {
      const b = await chat('x', {}, { 'x-tollgate-cache-ttl': v });
      assert.equal(b.status, 400, v);
      assert.equal(b.json.error.param, 'x-tollgate-cache-ttl');
    }
  });

  test('an entry expires after its TTL (x-tollgate-cache-ttl)', async () => {
    const prompt = `ttl ${uniq()}`;
    await prime(prompt, {}, { 'x-tollgate-cache-ttl': '1' });
    assert.equal((await chat(prompt)).headers.get('x-cache'), 'hit');
    await delay(1200);
    const n = await upstreamCalls();
    const late = await chat(prompt);
    assert.equal(late.headers.get('x-cache'), 'miss');
    assert.equal(await upstreamCalls(), n + 1);
  });

  test('embeddings are cached too', async () => {
    const input = `embed ${uniq()}`;
    const body = JSON.stringify({ model: 'text-embedding-3-small', input });
    const url = `${tg.baseURL}/embeddings`;
    const before = (await stats()).fills;
    const a = await http(url, { method: 'POST', headers: auth, body });
    assert.equal(a.headers.get('x-cache'), 'miss');
    await filled(before);
    const b = await http(url, { method: 'POST', headers: auth, body });
    assert.equal(b.headers.get('x-cache'), 'hit');
    assert.deepEqual(b.json, a.json);
  });
});

describe('streams', () => {
  async function sdkStream(content, includeUsage) {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user', content }],
      stream: true,
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
    });
    let text = '';
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    return { text, usage, chunks };
  }

  test('a streamed answer is stored as chunks and replayed as SSE', async () => {
    const prompt = `stream ${uniq()} [[mock:words=30]]`;
    const before = (await stats()).fills;
    const first = await sdkStream(prompt, false);
    await filled(before);
    const n = await upstreamCalls();
    const again = await sdkStream(prompt, false);
    assert.equal(await upstreamCalls(), n, 'replayed, not fetched');
    assert.equal(again.text, first.text);
    assert.equal(again.usage, null, 'no usage chunk unless asked');
    const withUsage = await sdkStream(prompt, true);
    assert.equal(withUsage.text, first.text);
    assert.equal(withUsage.usage?.completion_tokens, 30, 'usage chunk when asked');
    // The SDK's stream helper over a hit.
    const runner = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user', content: prompt }],
    });
    const done = await runner.finalChatCompletion();
    assert.equal(done.choices[0].message.content, first.text);
    assert.equal(await upstreamCalls(), n);
  });

  test('a stored stream answers a non-stream call and the reverse', async () => {
    const prompt = `forms ${uniq()} [[mock:words=12]]`;
    const before = (await stats()).fills;
    const streamed = await sdkStream(prompt, true);
    await filled(before);
    const n = await upstreamCalls();
    const whole = await chat(prompt);
    assert.equal(whole.headers.get('x-cache'), 'hit');
    assert.equal(whole.json.object, 'chat.completion');
    assert.equal(whole.json.choices[0].message.content, streamed.text);
    assert.equal(whole.json.usage.completion_tokens, 12);

    const prompt2 = `forms2 ${uniq()} [[mock:words=9]]`;
    const miss = await prime(prompt2);
    const replay = await sdkStream(prompt2, true);
    assert.equal(replay.text, miss.json.choices[0].message.content);
    assert.equal(replay.usage.completion_tokens, 9);
    assert.equal(await upstreamCalls(), n + 1);
  });
});

describe('coalescing (C3)', () => {
  async function rawStream(content, includeUsage, headers = {}) {
    const res = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { ...auth, ...headers },
      timeout: 15000,
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        temperature: 0,
        stream: true,
        messages: [{ role: 'user', content }],
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      }),
    });
    let text = '';
    let done = false;
    for (const ev of res.text.split('\n\n')) {
      const data = ev.replace(/^data: /, '');
      if (data === '[DONE]') done = true;
      else if (data.startsWith('{')) text += JSON.parse(data).choices[0]?.delta?.content ?? '';
    }
    return { res, text, done };
  }

  test('5 identical concurrent requests make 1 upstream call', async () => {
    const prompt = `together ${uniq()} [[mock:latency_ms=400]]`;
    const n = await upstreamCalls();
    const res = await Promise.all(Array.from({ length: 5 }, () => chat(prompt)));
    for (const r of res) assert.equal(r.status, 200, r.text);
    assert.equal(await upstreamCalls(), n + 1, 'one upstream call for five clients');
    const statuses = res.map((r) => r.headers.get('x-cache')).sort();
    assert.deepEqual(statuses, ['coalesced', 'coalesced', 'coalesced', 'coalesced', 'miss']);
    for (const r of res) assert.equal(r.json.choices[0].message.content, res[0].json.choices[0].message.content);
  });

  test('streams and whole answers share one call; a late joiner gets the chunks so far', async () => {
    const prompt = `together-stream ${uniq()} [[mock:words=40,chunk_delay_ms=20]]`;
    const n = await upstreamCalls();
    const first = rawStream(prompt, false);
    await delay(300); // the leader is streaming: about 15 of 42 events are out
    const [a, b, c, d] = await Promise.all([first, rawStream(prompt, true), chat(prompt), rawStream(prompt, false)]);
    assert.equal(await upstreamCalls(), n + 1);
    assert.equal(a.res.headers.get('x-cache'), 'miss');
    for (const s of [b, d]) {
      assert.equal(s.res.headers.get('x-cache'), 'coalesced');
      assert.equal(s.text, a.text, 'the whole text, early chunks included');
      assert.ok(s.done);
    }
    assert.equal(c.headers.get('x-cache'), 'coalesced');
    assert.equal(c.json.choices[0].message.content, a.text);
    assert.equal(c.json.usage.completion_tokens, 40);
  });

  test('when the shared call fails, every waiter gets its error', async () => {
    const prompt = `together-fail ${uniq()} [[mock:latency_ms=300,status=400]]`;
    const res = await Promise.all(Array.from({ length: 3 }, () => chat(prompt)));
    for (const r of res) {
      assert.equal(r.status, 400, r.text);
      assert.ok(r.json.error, r.text);
    }
  });
});

describe('feedback and invalidation', () => {
  async function post(path, body) {
    return http(`${tg.baseURL}/cache/${path}`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(body),
    });
  }

  test('down votes push an entry below the quality bar; up votes count', async () => {
    const prompt = `votes ${uniq()}`;
    const miss = await prime(prompt);
    const id = miss.json.id;
    assert.equal((await post('feedback', { response_id: id, vote: 'up' })).status, 200);
    assert.equal((await chat(prompt)).headers.get('x-cache'), 'hit');
    for (let i = 0; i < 3; i++) {
      const r = await post('feedback', { response_id: id, vote: 'down' });
      assert.equal(r.status, 200, r.text);
    }
    // quality (1 + 1) / (4 + 2) = 0.33 >= 0.3: still served; one more down: 0.29.
    assert.equal((await chat(prompt)).headers.get('x-cache'), 'hit');
    await post('feedback', { response_id: id, vote: 'down' });
    const after = await chat(prompt);
    assert.equal(after.headers.get('x-cache'), 'miss');
    const unknown = await post('feedback', { response_id: 'chatcmpl-nope', vote: 'up' });
    assert.equal(unknown.status, 404);
    const bad = await post('feedback', { response_id: id, vote: 'sideways' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'vote');
  });

  test('invalidation by response id, by model and by age', async () => {
    const a = `inv-a ${uniq()}`;
    const b = `inv-b ${uniq()}`;
    const c = `inv-c ${uniq()}`;
    const ma = await prime(a);
    await prime(b, { model: 'gpt-4o' });
    await prime(c);
    let r = await post('invalidate', { response_id: ma.json.id, reason: 'wrong answer' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.invalidated, 1);
    assert.equal((await chat(a)).headers.get('x-cache'), 'miss');
    r = await post('invalidate', { model: 'gpt-4o' });
    assert.ok(r.json.invalidated >= 1);
    assert.equal((await chat(b, { model: 'gpt-4o' })).headers.get('x-cache'), 'miss');
    assert.equal((await chat(c)).headers.get('x-cache'), 'hit', 'other models untouched');
    await delay(1100);
    r = await post('invalidate', { older_than_s: 1 });
    assert.ok(r.json.invalidated >= 1);
    assert.equal((await chat(c)).headers.get('x-cache'), 'miss');
    const bad = await post('invalidate', {});
    assert.equal(bad.status, 400);
    const badAge = await post('invalidate', { older_than_s: 'yesterday' });
    assert.equal(badAge.status, 400);
  });

  test('stats count entries, hits and misses', async () => {
    const s = await stats();
    assert.equal(s.object, 'cache.stats');
    assert.equal(s.enabled, true);
    assert.ok(s.entries > 0 && s.hits > 0 && s.misses > 0, JSON.stringify(s));
    assert.ok(s.bytes > 0 && s.map_bytes >= s.bytes);
    // Analytics got the hits' usage events (batched, at least once): counted, cost 0, and
    // what they would have cost recorded as saved.
    await waitFor(
      async () => {
        const u = await http(`${tg.baseURL}/usage?start=${Math.floor(Date.now() / 1000) - 3600}`, {
          headers: auth,
        });
        const t = u.json?.totals ?? u.json;
        return t && t.cache_hits > 0 && Number(t.cache_saved_usd) > 0;
      },
      { timeout: 5000, what: 'cache hits and savings in /v1/usage' },
    );
    const m = await http(`${tg.base}/metrics`);
    assert.match(m.text, /llm_cache_hits_total\{agent_id="none"\} \d+/);
    assert.match(m.text, /llm_requests_total\{[^}]*cache_status="hit"[^}]*\} \d+/);
    assert.match(m.text, /llm_cache_hit_rate\{agent_id="none"\} 0\.\d+/);
  });
});

describe('bounded map and restarts', () => {
  test('a full map evicts and never fails a call; a restart keeps entries', async () => {
    const m2 = await startMock();
    let inst = await startTollgate({
      mock: m2,
      config: 'cache:\n  map_size_mb: 1\n  high_water: 0.6\n  low_water: 0.4\n',
    });
    try {
      // ~20 KB answers: 1 MiB holds a few dozen.
      const results = await pool(120, 8, (i) =>
        chat(`fill ${i} ${uniq()} [[mock:words=3000]]`, {}, {}, inst),
      );
      for (const r of results) assert.equal(r.status, 200, r.text);
      await waitFor(async () => (await stats(inst)).evictions > 0, {
        timeout: 8000,
        what: 'evictions',
      });
      const s = await stats(inst);
      assert.ok(s.bytes <= s.map_bytes, JSON.stringify(s));
      // The newest entry survives eviction and a restart.
      const keep = `keep ${uniq()}`;
      await prime(keep, {}, {}, inst);
      const dir = inst.dir;
      await inst.stop();
      inst = await startTollgate({
        mock: m2,
        dir,
        config: 'cache:\n  map_size_mb: 1\n  high_water: 0.6\n  low_water: 0.4\n',
      });
      const n = (await m2.stats()).requests;
      const hit = await chat(keep, {}, {}, inst);
      assert.equal(hit.headers.get('x-cache'), 'hit', 'kept across the restart');
      assert.equal((await m2.stats()).requests, n);
    } finally {
      await inst.stop();
      await m2.stop();
    }
  });

  test('an ingest without the map: the router answers the hits, json and stream', async () => {
    const m4 = await startMock();
    const inst = await startTollgate({ mock: m4, config: 'cache:\n  ingest_reads: false\n' });
    try {
      const prompt = `router-hit ${uniq()} [[mock:words=20]]`;
      const miss = await prime(prompt, {}, {}, inst);
      const n = (await m4.stats()).requests;
      const hit = await chat(prompt, {}, {}, inst);
      assert.equal(hit.headers.get('x-cache'), 'hit');
      assert.deepEqual(hit.json, miss.json);
      const s = await http(`${inst.baseURL}/chat/completions`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          temperature: 0,
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: 'user', content: prompt }],
        }),
      });
      assert.equal(s.headers.get('x-cache'), 'hit');
      assert.match(s.text, /"completion_tokens":20/);
      assert.match(s.text, /data: \[DONE\]/);
      assert.equal((await m4.stats()).requests, n, 'no upstream call');
      const r = await http(`${inst.baseURL}/router/metrics`, { headers: auth });
      assert.equal(r.json.cache_hits, 2);
    } finally {
      await inst.stop();
      await m4.stop();
    }
  });

  test('two ingest processes serve each other\'s fills', async () => {
    const m3 = await startMock();
    const inst = await startTollgate({ mock: m3, args: ['--ingest', '2'] });
    try {
      const prompt = `shared ${uniq()}`;
      await prime(prompt, {}, {}, inst);
      const n = (await m3.stats()).requests;
      // New connections spread over both ingests (SO_REUSEPORT); every one is a hit.
      const res = await pool(24, 4, () => chat(prompt, {}, { connection: 'close' }, inst));
      for (const r of res) assert.equal(r.headers.get('x-cache'), 'hit');
      assert.equal((await m3.stats()).requests, n);
      // Both ingests read the router's map (each says so once in the log).
      const opened = fs.readFileSync(inst.log, 'utf8').match(/cache map open read-only/g) || [];
      assert.equal(opened.length, 2);
    } finally {
      await inst.stop();
      await m3.stop();
    }
  });
});
