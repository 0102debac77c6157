// anthropic.test.mjs - Claude models through tollgate's OpenAI API: the request becomes an
// Anthropic Messages call (system, max_tokens), the answer and the stream come back in OpenAI
// form. The official @anthropic-ai/sdk, pointed at the mock directly, gives the expected answers.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ANTHROPIC_KEY, MASTER_KEY, http, startMock, startTollgate } from './harness.mjs';

let mock;
let tg;
let client; // OpenAI SDK through tollgate
let claude; // Anthropic SDK straight to the mock

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock });
  client = new OpenAI({ baseURL: tg.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 30000 });
  claude = new Anthropic({ baseURL: mock.anthropicBase, apiKey: 'direct', maxRetries: 0 });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

const SYSTEM = 'You are terse.';

// What the Anthropic API itself answers for the same conversation.
async function expected(text, maxTokens = 1024) {
  const msg = await claude.messages.create({
    model: 'claude-haiku-4-5',
    system: SYSTEM,
    max_tokens: maxTokens,
    messages: [{ role: 'user', content: text }],
  });
  return {
    text: msg.content.map((b) => b.text).join(''),
    usage: msg.usage,
    stop: msg.stop_reason,
  };
}

const ask = (text, extra = {}) => ({
  model: 'claude-haiku-4-5',
  messages: [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: text },
  ],
  ...extra,
});

function systemText(system) {
  if (typeof system === 'string') return system;
  if (Array.isArray(system)) return system.map((b) => b.text).join('');
  return '';
}

describe('the mock speaks Anthropic (official SDK, no gateway)', () => {
  test('messages.create and messages.stream parse', async () => {
    const want = await expected('sanity check');
    assert.equal(want.stop, 'end_turn');
    assert.ok(want.text.length > 0 && want.usage.input_tokens > 0);
    const stream = claude.messages.stream({
      model: 'claude-haiku-4-5',
      system: SYSTEM,
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'sanity check' }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.content[0].text, want.text);
  });
});

describe('claude-haiku-4-5 through the OpenAI API', () => {
  test('non-stream: translated request, translated answer, usage', async () => {
    const text = 'hello claude from tollgate';
    const want = await expected(text);
    await mock.reset();
    const got = await client.chat.completions.create(ask(text));
    const stats = await mock.stats();
    assert.equal(stats.last_request.path, '/v1/messages');
    const body = stats.last_request.body;
    assert.equal(systemText(body.system), SYSTEM, 'system message moved to `system`');
    assert.ok(Number.isInteger(body.max_tokens) && body.max_tokens > 0, 'max_tokens defaulted');
    assert.ok(body.messages.every((m) => m.role !== 'system'));
    assert.equal(stats.last_request.headers['x-api-key'], ANTHROPIC_KEY);
    assert.ok(stats.last_request.headers['anthropic-version'], 'anthropic-version header');
    assert.equal(body.model, 'claude-haiku-4-5');

    assert.equal(got.object, 'chat.completion');
    assert.equal(got.choices[0].message.role, 'assistant');
    assert.equal(got.choices[0].message.content, want.text);
    assert.equal(got.choices[0].finish_reason, 'stop');
    assert.equal(got.usage.prompt_tokens, want.usage.input_tokens);
    assert.equal(got.usage.completion_tokens, want.usage.output_tokens);
    assert.equal(got.usage.total_tokens, want.usage.input_tokens + want.usage.output_tokens);
  });

  test('max_tokens: the cut answer ends with finish_reason length', async () => {
    const text = 'please write a long answer about gateways';
    const want = await expected(text, 3);
    assert.equal(want.stop, 'max_tokens');
    const got = await client.chat.completions.create(ask(text, { max_tokens: 3 }));
    const stats = await mock.stats();
    assert.equal(stats.last_request.body.max_tokens, 3);
    assert.equal(got.choices[0].finish_reason, 'length');
    assert.equal(got.choices[0].message.content, want.text);
    assert.equal(got.usage.completion_tokens, 3);
  });

  test('stream: Anthropic events become OpenAI chunks with finish_reason and usage', async () => {
    const text = 'stream from claude please';
    const want = await expected(text);
    const stream = await client.chat.completions.create(
      ask(text, { stream: true, stream_options: { include_usage: true } }),
    );
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    const content = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, want.text);
    const finishes = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finishes.length, 1);
    assert.equal(finishes[0].choices[0].finish_reason, 'stop');
    const usage = chunks.filter((c) => c.usage);
    assert.equal(usage.length, 1);
    assert.equal(usage[0].usage.prompt_tokens, want.usage.input_tokens);
    assert.equal(usage[0].usage.completion_tokens, want.usage.output_tokens);
    const stats = await mock.stats();
    assert.equal(stats.last_request.body.stream, true);
  });

  test('stream helper on a Claude model', async () => {
    const text = 'claude via the helper';
    const want = await expected(text);
    const final = await client.chat.completions.stream(ask(text)).finalChatCompletion();
    assert.equal(final.choices[0].message.content, want.text);
    assert.equal(final.choices[0].finish_reason, 'stop');
  });

  test('an Anthropic error comes back as an OpenAI error object', async () => {
    await assert.rejects(
      client.chat.completions.create(ask('[[mock:status=400]] refuse this')),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, err.constructor.name);
        assert.equal(err.status, 400);
        assert.equal(typeof err.error?.message, 'string');
        assert.equal(typeof err.error?.type, 'string');
        return true;
      },
    );
    const res = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(ask('[[mock:status=400]] refuse this too')),
    });
    assert.equal(res.status, 400);
    assert.ok(res.json?.error && !('type' in res.json && res.json.type === 'error'), res.text);
  });
});
