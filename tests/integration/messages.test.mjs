// messages.test.mjs - Anthropic ingress: the official @anthropic-ai/sdk pointed at tollgate
// (baseURL = tollgate, apiKey = the master key) works unchanged, whether the model behind is a
// Claude model (the request and answer pass through) or an OpenAI model (translated both ways):
// create, stream()/finalMessage(), tool use, system prompt, typed errors, usage, cancellation.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  ANTHROPIC_KEY,
  MASTER_KEY,
  OPENAI_KEY,
  http,
  startMock,
  startTollgate,
  uniq,
  waitFor,
} from './harness.mjs';

let mock;
let tg;
let client; // Anthropic SDK through tollgate
let claude; // Anthropic SDK straight to the mock
let openai; // OpenAI SDK straight to the mock
let failing; // Anthropic SDK through tollgate, for the calls that fail (their own agent)
const AGENT = uniq('msg-agent');

before(async () => {
  mock = await startMock();
  // Error cases fail the same targets on purpose: no breaker (providers.test.mjs tests them).
  tg = await startTollgate({
    mock,
    config: 'providers:\n  - name: openai\n    breaker: off\n  - name: anthropic\n    breaker: off\n',
  });
  client = new Anthropic({
    baseURL: tg.base,
    apiKey: MASTER_KEY,
    maxRetries: 0,
    timeout: 30000,
    defaultHeaders: { 'x-agent-id': AGENT },
  });
  failing = new Anthropic({
    baseURL: tg.base,
    apiKey: MASTER_KEY,
    maxRetries: 0,
    timeout: 30000,
    defaultHeaders: { 'x-agent-id': uniq('msg-failing') },
  });
  claude = new Anthropic({ baseURL: mock.anthropicBase, apiKey: 'direct', maxRetries: 0 });
  openai = new OpenAI({ baseURL: mock.openaiBase, apiKey: 'direct', maxRetries: 0 });
});

after(async () => {
  if (tg) {
    const res = await tg.stop();
    assert.deepEqual([res.code, res.signal], [0, null], 'tollgate up exits 0 after SIGTERM');
  }
  if (mock) await mock.stop();
});

const SYSTEM = 'You are terse.';
const CLAUDE = 'claude-haiku-4-5';
const GPT = 'gpt-4o';

const ask = (model, text, extra = {}) => ({
  model,
  system: SYSTEM,
  max_tokens: 1024,
  messages: [{ role: 'user', content: text }],
  ...extra,
});

const textOf = (msg) =>
  msg.content
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join('');

// Tokens the calls of this file used, as their clients saw them (for GET /v1/usage).
const seen = { requests: 0, in: 0, out: 0 };
function count(usage) {
  seen.requests++;
  seen.in += usage.input_tokens + (usage.cache_read_input_tokens ?? 0);
  seen.in += usage.cache_creation_input_tokens ?? 0;
  seen.out += usage.output_tokens;
}

describe('a Claude model: Anthropic format end to end', () => {
  test('messages.create: the request passes through, the answer equals the provider\'s', async () => {
    const want = await claude.messages.create(ask(CLAUDE, 'hello claude through tollgate'));
    const { data: got, response } = await client.messages
      .create(ask(CLAUDE, 'hello claude through tollgate'))
      .withResponse();
    count(got.usage);
    assert.equal(got.type, 'message');
    assert.equal(got.role, 'assistant');
    assert.equal(textOf(got), textOf(want));
    assert.equal(got.stop_reason, 'end_turn');
    assert.deepEqual(got.usage, want.usage);
    assert.equal(response.headers.get('x-tollgate-provider'), 'anthropic');
    assert.equal(response.headers.get('x-cache'), 'bypass');
    const last = (await mock.stats()).last_request;
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.headers['x-api-key'], ANTHROPIC_KEY, 'the upstream key, not the client\'s');
    assert.equal(last.body.system, SYSTEM);
    assert.equal(last.body.max_tokens, 1024);
    assert.deepEqual(last.body.messages, [{ role: 'user', content: 'hello claude through tollgate' }]);
  });

  test('stream() and finalMessage(): the provider\'s events, usage included', async () => {
    const want = await claude.messages.create(ask(CLAUDE, 'stream me please'));
    const stream = client.messages.stream(ask(CLAUDE, 'stream me please'));
    const types = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const got = await stream.finalMessage();
    count(got.usage);
    assert.equal(textOf(got), textOf(want));
    assert.equal(got.stop_reason, 'end_turn');
    assert.equal(got.usage.input_tokens, want.usage.input_tokens);
    assert.equal(got.usage.output_tokens, want.usage.output_tokens);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.equal((await mock.stats()).last_request.body.stream, true);
  });

  test('tool use passes through both ways', async () => {
    const toolMsg = {
      id: 'msg_tool_1',
      type: 'message',
      role: 'assistant',
      model: CLAUDE,
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 20, output_tokens: 9 },
    };
    await mock.script([{ body: JSON.stringify(toolMsg) }]);
    const tools = [
      {
        name: 'get_weather',
        description: 'Weather of a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } } },
      },
    ];
    const got = await client.messages.create(ask(CLAUDE, 'weather in Paris?', { tools }));
    count(got.usage);
    assert.deepEqual(got.content, toolMsg.content);
    assert.equal(got.stop_reason, 'tool_use');
    assert.deepEqual((await mock.stats()).last_request.body.tools, tools);
    const second = await client.messages.create({
      model: CLAUDE,
      max_tokens: 100,
      tools,
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: toolMsg.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny, 21 C' }],
        },
      ],
    });
    count(second.usage);
    assert.equal(second.type, 'message');
    const body = (await mock.stats()).last_request.body;
    assert.deepEqual(body.messages[2].content[0], {
      type: 'tool_result',
      tool_use_id: 'toolu_1',
      content: 'sunny, 21 C',
    });
  });
});

describe('an OpenAI model behind the Messages API: translated both ways', () => {
  test('messages.create: system prompt, max_tokens, content, usage, stop_reason', async () => {
    const want = await openai.chat.completions.create({
      model: GPT,
      max_tokens: 1024,
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'hello gpt via anthropic' },
      ],
    });
    const { data: got, response } = await client.messages
      .create(ask(GPT, 'hello gpt via anthropic', { stop_sequences: ['STOP'], temperature: 0 }))
      .withResponse();
    count(got.usage);
    assert.equal(got.type, 'message');
    assert.equal(got.role, 'assistant');
    assert.match(got.id, /^msg_/);
    assert.equal(got.model, GPT);
    assert.equal(textOf(got), want.choices[0].message.content);
    assert.equal(got.stop_reason, 'end_turn');
    assert.equal(got.stop_sequence, null);
    assert.equal(got.usage.input_tokens, want.usage.prompt_tokens);
    assert.equal(got.usage.output_tokens, want.usage.completion_tokens);
    assert.equal(response.headers.get('x-tollgate-provider'), 'openai');
    const last = (await mock.stats()).last_request;
    assert.equal(last.path, '/v1/chat/completions');
    assert.equal(last.headers.authorization, `Bearer ${OPENAI_KEY}`);
    assert.deepEqual(last.body.messages, [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: 'hello gpt via anthropic' },
    ]);
    assert.equal(last.body.max_tokens, 1024);
    assert.deepEqual(last.body.stop, ['STOP']);
    assert.equal(last.body.temperature, 0);
  });

  test('max_tokens reached: stop_reason max_tokens', async () => {
    const got = await client.messages.create(
      ask(GPT, '[[mock:words=20]] long answer', { max_tokens: 5 }),
    );
    count(got.usage);
    assert.equal(got.stop_reason, 'max_tokens');
    assert.equal(got.usage.output_tokens, 5);
  });

  test('stream() and finalMessage(): chunks become Messages events', async () => {
    const want = await client.messages.create(ask(GPT, 'stream the gpt answer'));
    count(want.usage);
    const stream = client.messages.stream(ask(GPT, 'stream the gpt answer'));
    const types = [];
    let text = '';
    stream.on('streamEvent', (e) => types.push(e.type));
    stream.on('text', (t) => {
      text += t;
    });
    const got = await stream.finalMessage();
    count(got.usage);
    assert.equal(textOf(got), textOf(want));
    assert.equal(text, textOf(want));
    assert.equal(got.stop_reason, 'end_turn');
    assert.equal(got.usage.input_tokens, want.usage.input_tokens);
    assert.equal(got.usage.output_tokens, want.usage.output_tokens);
    assert.equal(types[0], 'message_start');
    assert.equal(types[1], 'content_block_start');
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    const last = (await mock.stats()).last_request.body;
    assert.equal(last.stream, true);
    assert.deepEqual(last.stream_options, { include_usage: true });
  });

  const tools = [
    {
      name: 'get_weather',
      description: 'Weather of a city',
      input_schema: { type: 'object', properties: { city: { type: 'string' } } },
    },
  ];
  const completion = (message, finish) => ({
    id: 'chatcmpl-tool',
    object: 'chat.completion',
    created: 1764000000,
    model: GPT,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 },
  });

  test('tool use round trip: tools and tool_choice out, tool_use in, tool_result back', async () => {
    await mock.script([
      {
        body: JSON.stringify(
          completion(
            {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: 'call_1',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
                },
              ],
            },
            'tool_calls',
          ),
        ),
      },
    ]);
    const got = await client.messages.create(
      ask(GPT, 'weather in Paris?', { tools, tool_choice: { type: 'any' } }),
    );
    count(got.usage);
    assert.equal(got.stop_reason, 'tool_use');
    assert.deepEqual(got.content, [
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    let body = (await mock.stats()).last_request.body;
    assert.deepEqual(body.tools, [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather of a city',
          parameters: tools[0].input_schema,
        },
      },
    ]);
    assert.equal(body.tool_choice, 'required');

    const second = await client.messages.create({
      model: GPT,
      max_tokens: 200,
      tools,
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: got.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny, 21 C' },
            { type: 'text', text: 'and tomorrow?' },
          ],
        },
      ],
    });
    count(second.usage);
    assert.match(textOf(second), /and tomorrow/);
    body = (await mock.stats()).last_request.body;
    assert.deepEqual(body.messages, [
      { role: 'user', content: 'weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21 C' },
      { role: 'user', content: [{ type: 'text', text: 'and tomorrow?' }] },
    ]);
  });

  test('a streamed tool call becomes a tool_use block with its input', async () => {
    const chunk = (delta, finish = null, usage) =>
      `data: ${JSON.stringify({
        id: 'chatcmpl-s',
        object: 'chat.completion.chunk',
        created: 1764000000,
        model: GPT,
        choices: usage ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...(usage ? { usage } : {}),
      })}\n\n`;
    const call = (args, head) => ({
      tool_calls: [
        head
          ? { index: 0, id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: args } }
          : { index: 0, function: { arguments: args } },
      ],
    });
    await mock.script([
      {
        chunks: [
          chunk({ role: 'assistant', content: '' }),
          chunk({ content: 'Checking.' }),
          chunk(call('', true)),
          chunk(call('{"city":')),
          chunk(call('"Oslo"}')),
          chunk({}, 'tool_calls'),
          chunk(null, null, { prompt_tokens: 25, completion_tokens: 7, total_tokens: 32 }),
          'data: [DONE]\n\n',
        ],
      },
    ]);
    const got = await client.messages.stream(ask(GPT, 'weather in Oslo?', { tools })).finalMessage();
    count(got.usage);
    assert.equal(got.stop_reason, 'tool_use');
    assert.deepEqual(got.content, [
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'call_9', name: 'get_weather', input: { city: 'Oslo' } },
    ]);
    assert.equal(got.usage.input_tokens, 25);
    assert.equal(got.usage.output_tokens, 7);
  });

  test('model auto: the prompt is scored and the cheapest model of its class answers', async () => {
    const { data: got, response } = await client.messages
      .create(ask('auto', 'What is 2 + 2?'))
      .withResponse();
    count(got.usage);
    assert.equal(response.headers.get('x-tollgate-auto-class'), 'simple');
    assert.ok(response.headers.get('x-tollgate-model'), 'the model that answered');
    assert.equal(got.type, 'message');
    assert.match(textOf(got), /2 \+ 2/);
  });

  test('the key may come as Authorization: Bearer (authToken)', async () => {
    const bearer = new Anthropic({
      baseURL: tg.base,
      apiKey: null,
      authToken: MASTER_KEY,
      maxRetries: 0,
      defaultHeaders: { 'x-agent-id': AGENT },
    });
    const got = await bearer.messages.create(ask(GPT, 'bearer auth'));
    count(got.usage);
    assert.match(textOf(got), /bearer auth/);
  });
});

// Rejects with the SDK's typed error; returns it.
async function fails(promise, Type, status) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    assert.ok(err instanceof Type, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.status, status);
    assert.equal(err.error?.type, 'error', JSON.stringify(err.error));
    assert.equal(typeof err.error?.error?.message, 'string');
    return true;
  });
  return caught;
}

describe('errors are Anthropic error objects, typed by the SDK', () => {
  test('400: max_tokens missing, validated at the gateway', async () => {
    const before = (await mock.stats()).requests;
    const err = await fails(
      failing.messages.create({ model: GPT, messages: [{ role: 'user', content: 'x' }] }),
      Anthropic.BadRequestError,
      400,
    );
    assert.equal(err.error.error.type, 'invalid_request_error');
    assert.equal(err.error.error.message, 'max_tokens: Field required');
    assert.equal((await mock.stats()).requests, before, 'no upstream call');
  });

  test('400: a bad role names the field', async () => {
    const err = await fails(
      failing.messages.create({ model: CLAUDE, max_tokens: 10, messages: [{ role: 'system', content: 'x' }] }),
      Anthropic.BadRequestError,
      400,
    );
    assert.match(err.error.error.message, /^messages\.0\.role: /);
  });

  test('401: a wrong key', async () => {
    const bad = new Anthropic({ baseURL: tg.base, apiKey: 'not-the-key', maxRetries: 0 });
    const err = await fails(bad.messages.create(ask(GPT, 'x')), Anthropic.AuthenticationError, 401);
    assert.equal(err.error.error.type, 'authentication_error');
  });

  test('404: a model no enabled provider serves', async () => {
    const err = await fails(
      failing.messages.create(ask('meta-llama/llama-3.1-70b-instruct', 'x')),
      Anthropic.NotFoundError,
      404,
    );
    assert.equal(err.error.error.type, 'not_found_error');
  });

  for (const model of [CLAUDE, GPT]) {
    test(`${model}: upstream 429 -> RateLimitError, 500 -> InternalServerError`, async () => {
      let err = await fails(
        failing.messages.create(ask(model, '[[mock:status=429]] too fast')),
        Anthropic.RateLimitError,
        429,
      );
      assert.equal(err.error.error.type, 'rate_limit_error');
      err = await fails(
        failing.messages.create(ask(model, '[[mock:status=500]] broken')),
        Anthropic.InternalServerError,
        500,
      );
      assert.equal(err.error.error.type, 'api_error');
    });
  }

  test('claude: upstream 529 overloaded passes through as overloaded_error', async () => {
    const err = await fails(
      failing.messages.create(ask(CLAUDE, '[[mock:status=529]] busy')),
      Anthropic.APIError,
      529,
    );
    assert.equal(err.error.error.type, 'overloaded_error');
  });

  test('a stream cut mid-way ends with an error event the SDK raises', async () => {
    const stream = failing.messages.stream(ask(GPT, '[[mock:words=50,reset_after=3]] cut me'));
    await assert.rejects(stream.finalMessage(), (err) => {
      assert.ok(err instanceof Anthropic.APIError, `${err.constructor.name}: ${err.message}`);
      return true;
    });
  });

  test('a streamed call that fails before its first byte is a typed error too', async () => {
    await fails(
      failing.messages.stream(ask(GPT, '[[mock:status=429]] stream too fast')).finalMessage(),
      Anthropic.RateLimitError,
      429,
    );
  });
});

describe('cancellation and usage', () => {
  test('a client that leaves aborts the upstream call', async () => {
    const before = (await mock.stats()).aborted;
    const ac = new AbortController();
    const p = failing.messages.create(ask(GPT, '[[mock:latency_ms=20000]] slow'), { signal: ac.signal });
    await waitFor(async () => (await mock.stats()).in_flight > 0, { what: 'the upstream call' });
    ac.abort();
    await assert.rejects(p);
    await waitFor(async () => (await mock.stats()).aborted > before, {
      timeout: 5000,
      what: 'mock sees the upstream call aborted',
    });
  });

  for (const model of [CLAUDE, GPT]) {
    test(`${model}: a client that leaves mid-stream aborts the upstream; the partial usage is recorded`, async () => {
      const agent = uniq('msg-cut');
      const leaver = new Anthropic({
        baseURL: tg.base,
        apiKey: MASTER_KEY,
        maxRetries: 0,
        defaultHeaders: { 'x-agent-id': agent },
      });
      const before = (await mock.stats()).aborted;
      const stream = leaver.messages.stream(
        ask(model, '[[mock:words=2000,chunk_delay_ms=20]] a long story'),
      );
      const ended = stream.done().catch((err) => err); // the abort rejects it
      stream.on('error', () => {});
      let text = '';
      await new Promise((resolve) => {
        stream.on('text', (t) => {
          text += t;
          if (text.split(' ').length > 5) resolve();
        });
      });
      stream.abort();
      assert.ok((await ended) instanceof Anthropic.APIUserAbortError);
      await waitFor(async () => (await mock.stats()).aborted > before, {
        timeout: 5000,
        what: 'mock sees the upstream stream aborted',
      });
      const g = await waitFor(
        async () => {
          const res = await http(`${tg.baseURL}/usage?group_by=agent`, {
            headers: { authorization: `Bearer ${MASTER_KEY}` },
          });
          return res.json?.data?.find((x) => x.agent === agent);
        },
        { timeout: 30000, interval: 200, what: `the usage event of agent ${agent}` },
      );
      assert.equal(g.requests, 1);
      assert.ok(g.tokens_out > 0, `tokens streamed so far are counted: ${JSON.stringify(g)}`);
    });
  }

  test('GET /v1/usage counts these calls with their tokens (route messages)', async () => {
    const get = async () => {
      const res = await http(`${tg.baseURL}/usage?group_by=agent`, {
        headers: { authorization: `Bearer ${MASTER_KEY}` },
      });
      assert.equal(res.status, 200, res.text);
      return res.json.data.find((g) => g.agent === AGENT);
    };
    const ok = await waitFor(
      async () => {
        const g = await get();
        return g && g.tokens_in === seen.in && g.tokens_out === seen.out ? g : null;
      },
      { timeout: 30000, interval: 200, what: `usage of agent ${AGENT} to reach ${JSON.stringify(seen)}` },
    ).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await get())}`);
    });
    assert.equal(ok.requests, seen.requests);
    assert.equal(ok.errors, 0);
    const metrics = await http(`${tg.base}/metrics`);
    assert.match(metrics.text, /tollgate_router_requests_total\{[^}]*route="messages"[^}]*\}/);
  });
});
