// pricing.test.mjs - spec A1 end to end: a per-deployment price from the config
// (`pricing.models`) replaces the catalogue's, a model the catalogue does not know is billed
// at the default price, flagged and counted in /metrics, and every cost is exact to the
// micro-dollar.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MASTER_KEY, http, startMock, startTollgate, waitFor } from './harness.mjs';

const AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
const since = Math.floor(Date.now() / 1000) - 3600;
let mock;
let tg;

before(async () => {
  mock = await startMock();
  tg = await startTollgate({
    mock,
    config: 'pricing:\n  models:\n    gpt-4o-mini:\n      input: 1.5\n      output: 4\n',
  });
});

after(async () => {
  if (tg) await tg.stop();
  if (mock) await mock.stop();
});

async function chat(model, content) {
  const res = await http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
  assert.equal(res.status, 200, res.text);
  return res.json.usage;
}

// Micro-dollars of one call: tokens × $ per 1M, rounded half up once per call.
const micro = (input, inPrice, output, outPrice) => Math.round(input * inPrice + output * outPrice);

describe('pricing', () => {
  test('config override, unknown model at the default price, flagged and counted', async () => {
    const known = [await chat('gpt-4o-mini', 'one'), await chat('gpt-4o-mini', 'two words')];
    const unknown = await chat('gpt-house-1', 'a model no catalogue lists');
    const usage = await waitFor(
      async () => {
        const res = await http(`${tg.baseURL}/usage?start=${since}`, { headers: AUTH });
        return res.status === 200 && res.json.totals.requests === 3 ? res.json : null;
      },
      { timeout: 20000, what: 'three requests in /v1/usage' },
    );
    const group = (model) => usage.data.find((g) => g.model === model);
    const mini = group('gpt-4o-mini');
    assert.ok(mini, JSON.stringify(usage.data));
    assert.equal(mini.unknown_pricing, false);
    // The config's $1.50 / $4 replaced the catalogue's $0.15 / $0.60, to the micro-dollar.
    const want = known.reduce((s, u) => s + micro(u.prompt_tokens, 1.5, u.completion_tokens, 4), 0);
    assert.equal(Math.round(mini.cost_usd * 1e6), want);
    const house = group('gpt-house-1');
    assert.ok(house, JSON.stringify(usage.data));
    assert.equal(house.unknown_pricing, true, 'flagged');
    // The default price of common/pricing.json: $2.50 in, $10 out; never $0.
    const dflt = micro(unknown.prompt_tokens, 2.5, unknown.completion_tokens, 10);
    assert.ok(dflt > 0);
    assert.equal(Math.round(house.cost_usd * 1e6), dflt);
    // Counted where operators look.
    await waitFor(
      async () => {
        const text = (await http(`${tg.base}/metrics`)).text;
        return /^tollgate_pricing_unknown_total\{model="gpt-house-1"\} 1$/m.test(text);
      },
      { timeout: 10000, what: 'tollgate_pricing_unknown_total{model="gpt-house-1"} 1' },
    );
  });
});
