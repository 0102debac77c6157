// openai_sdk.test.mjs - the official `openai` SDK against tollgate: chat, streams, the stream()
// helper, embeddings, models, typed errors, body limits and x-request-id.
// Every answer is compared with what the same request gets from the mock directly.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { MASTER_KEY, http as fetchHttp, startMock, startTollgate, uniq } from './harness.mjs';

let mock;
let tg;
let client; // through tollgate
let direct; // straight to the mock

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 30000 });
  direct = new OpenAI({ baseURL: mock.openaiBase, apiKey: 'direct', maxRetries: 0 });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

const ask = (text, extra = {}) => ({
  model: 'gpt-4o',
  messages: [
    { role: 'system', content: 'You are a test.' },
    { role: 'user', content: text },
  ],
  ...extra,
});

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const contentOf = (chunks) => chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');

describe('chat completions', () => {
  test('non-stream: content and usage equal what the provider computed', async () => {
    const req = ask('hello tollgate, how are you today?');
    const want = await direct.chat.completions.create(req);
    const got = await client.chat.completions.create(req);
    assert.equal(got.object, 'chat.completion');
    assert.equal(got.choices[0].message.role, 'assistant');
    assert.equal(got.choices[0].message.content, want.choices[0].message.content);
    assert.match(got.choices[0].message.content, /hello tollgate/);
    assert.equal(got.choices[0].finish_reason, 'stop');
    assert.equal(got.usage.prompt_tokens, want.usage.prompt_tokens);
    assert.equal(got.usage.completion_tokens, want.usage.completion_tokens);
    assert.equal(got.usage.total_tokens, want.usage.prompt_tokens + want.usage.completion_tokens);
    assert.ok(got.usage.prompt_tokens > 0 && got.usage.completion_tokens > 0);
  });

  test('stream without include_usage: deltas, finish_reason, no usage chunk', async () => {
    const req = ask('stream me five words please', { stream: true });
    const want = await collect(await direct.chat.completions.create(req));
    const got = await collect(await client.chat.completions.create(req));
    assert.ok(got.length >= 3, `got ${got.length} chunks`);
    assert.equal(contentOf(got), contentOf(want));
    for (const c of got) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.ok(c.usage === undefined || c.usage === null, 'no usage without include_usage');
    }
    const finishes = got.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finishes.length, 1);
    assert.equal(finishes[0].choices[0].finish_reason, 'stop');
  });

  test('stream with include_usage: exactly one usage chunk, last, with the right numbers', async () => {
    const text = 'stream me some words with usage';
    const plain = await direct.chat.completions.create(ask(text));
    const req = ask(text, { stream: true, stream_options: { include_usage: true } });
    const got = await collect(await client.chat.completions.create(req));
    const withUsage = got.filter((c) => c.usage);
    assert.equal(withUsage.length, 1, 'one usage chunk');
    const last = got[got.length - 1];
    assert.equal(withUsage[0], last, 'the usage chunk is the last one');
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(last.usage.completion_tokens, plain.usage.completion_tokens);
    assert.equal(last.usage.total_tokens, plain.usage.total_tokens);
    assert.equal(contentOf(got), plain.choices[0].message.content);
  });

  test('the SDK stream() helper assembles the final completion', async () => {
    const text = 'use the stream helper';
    const want = await direct.chat.completions.create(ask(text));
    const stream = client.chat.completions.stream(ask(text));
    let deltas = 0;
    stream.on('content', () => {
      deltas++;
    });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].message.content, want.choices[0].message.content);
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.ok(deltas >= 2, `${deltas} content events`);
  });
});

describe('embeddings', () => {
  const input = 'embed this sentence';

  test('float: vectors and usage equal the provider', async () => {
    const req = { model: 'text-embedding-3-small', input, encoding_format: 'float' };
    const want = await direct.embeddings.create(req);
    const got = await client.embeddings.create(req);
    assert.equal(got.object, 'list');
    assert.equal(got.data.length, 1);
    assert.ok(Array.isArray(got.data[0].embedding));
    assert.ok(got.data[0].embedding.length > 0);
    assert.deepEqual(got.data[0].embedding, want.data[0].embedding);
    assert.deepEqual(got.usage, want.usage);
  });

  test('base64: the string decodes to the float vector', async () => {
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'float',
    });
    const b64 = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'base64',
    });
    assert.equal(typeof b64.data[0].embedding, 'string');
    const buf = Buffer.from(b64.data[0].embedding, 'base64');
    const vec = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
    assert.equal(vec.length, floats.data[0].embedding.length);
    vec.forEach((v, i) => assert.ok(Math.abs(v - floats.data[0].embedding[i]) < 1e-6));
    // The SDK's default asks for base64 and decodes it itself.
    const auto = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    assert.equal(auto.data[0].embedding.length, vec.length);
  });

  test('dimensions and several inputs', async () => {
    const got = await client.embeddings.create({
      model: 'text-embedding-3-large',
      input: ['one', 'two', 'three'],
      dimensions: 256,
      encoding_format: 'float',
    });
    assert.equal(got.data.length, 3);
    assert.deepEqual(
      got.data.map((d) => d.index),
      [0, 1, 2],
    );
    for (const d of got.data) assert.equal(d.embedding.length, 256);
  });
});

describe('models', () => {
  test('models.list() has the OpenAI and Anthropic catalogue', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    for (const id of [
      'gpt-4o',
      'gpt-4o-mini',
      'text-embedding-3-small',
      'text-embedding-3-large',
      'claude-haiku-4-5',
      'claude-sonnet-4-5',
      'claude-opus-4-1',
      'claude-3-5-haiku',
    ]) {
      assert.ok(ids.includes(id), `${id} listed (got ${ids.length} models)`);
    }
  });
});

describe('typed errors', () => {
  test('a bad key is an AuthenticationError (401)', async () => {
    const bad = new OpenAI({ baseURL: tg.baseURL, apiKey: 'tg-wrong-key', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create(ask('hi')), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, err.constructor.name);
      assert.equal(err.status, 401);
      assert.equal(typeof err.error?.message, 'string');
      return true;
    });
    const none = await fetchHttp(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ask('hi')),
    });
    assert.equal(none.status, 401);
    assert.equal(typeof none.json?.error?.message, 'string');
  });

  test('an unknown model is a NotFoundError (404) naming the model', async () => {
    const model = 'mistral-large-unknown-xyz';
    await assert.rejects(client.chat.completions.create({ ...ask('hi'), model }), (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, err.constructor.name);
      assert.equal(err.status, 404);
      assert.match(err.message, new RegExp(model));
      return true;
    });
  });

  test('missing messages is a BadRequestError (400)', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o' }), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, err.constructor.name);
      assert.equal(err.status, 400);
      assert.equal(err.error?.type, 'invalid_request_error');
      return true;
    });
  });

  test('malformed JSON and wrong types are 400 with an OpenAI error object', async () => {
    for (const body of ['{"model": "gpt-4o", "messages": [', '[1,2,3]', '{"model": 5, "messages": []}']) {
      const res = await fetchHttp(`${tg.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
        body,
      });
      assert.equal(res.status, 400, body);
      assert.equal(res.json?.error?.type, 'invalid_request_error', body);
      assert.equal(typeof res.json.error.message, 'string');
      assert.ok('param' in res.json.error && 'code' in res.json.error, 'full error object');
    }
  });

  test('a 10 MB body is refused with 413', async () => {
    const filler = 'x'.repeat(10 * 1024 * 1024);
    const body = JSON.stringify(ask(filler));
    const res = await postRaw(`${tg.baseURL}/chat/completions`, body);
    assert.equal(res.status, 413);
    const json = JSON.parse(res.text);
    assert.equal(typeof json.error?.message, 'string');
    // The gateway is still fine afterwards.
    const ok = await client.chat.completions.create(ask('after the big one'));
    assert.equal(ok.choices[0].finish_reason, 'stop');
  });

  test('an unknown route is a 404 OpenAI error', async () => {
    const res = await fetchHttp(`${tg.baseURL}/no/such/route`, {
      headers: { authorization: `Bearer ${MASTER_KEY}` },
    });
    assert.equal(res.status, 404);
    assert.equal(typeof res.json?.error?.message, 'string');
    assert.ok(res.headers.get('x-request-id'));
  });
});

describe('x-request-id', () => {
  test('echoed on success, generated when absent', async () => {
    const id = uniq('rid');
    const got = await client.chat.completions.create(ask('id please'), {
      headers: { 'x-request-id': id },
    });
    assert.equal(got._request_id, id);
    const a = await client.chat.completions.create(ask('no id'));
    const b = await client.chat.completions.create(ask('no id'));
    assert.ok(a._request_id && b._request_id, 'generated');
    assert.notEqual(a._request_id, b._request_id);
  });

  test('echoed on errors', async () => {
    const id = uniq('rid-err');
    await assert.rejects(
      client.chat.completions.create(
        { ...ask('hi'), model: 'no-such-model-anywhere' },
        { headers: { 'x-request-id': id } },
      ),
      (err) => {
        assert.equal(err.status, 404);
        assert.equal(err.requestID, id);
        return true;
      },
    );
    const bad = await fetchHttp(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER_KEY}`, 'x-request-id': id },
      body: '{',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('x-request-id'), id);
    const generated = await fetchHttp(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong' },
      body: '{}',
    });
    assert.equal(generated.status, 401);
    assert.ok(generated.headers.get('x-request-id'));
  });

  test('echoed on streams', async () => {
    const id = uniq('rid-stream');
    const { data: stream, response } = await client.chat.completions
      .create(ask('stream with id', { stream: true }), { headers: { 'x-request-id': id } })
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), id);
    assert.match(response.headers.get('content-type'), /text\/event-stream/);
    const chunks = await collect(stream);
    assert.ok(chunks.length > 0);
    const generated = await client.chat.completions
      .create(ask('stream without id', { stream: true }))
      .withResponse();
    assert.ok(generated.response.headers.get('x-request-id'), 'generated for a stream');
    await collect(generated.data);
  });
});

// POST with node:http, keeping the response even when the server answers before it has read
// the whole body (which it should do for a body over the limit).
function postRaw(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${MASTER_KEY}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      // A write error after the answer arrived does not matter.
      if (!req.res) reject(err);
    });
    req.end(body);
  });
}
