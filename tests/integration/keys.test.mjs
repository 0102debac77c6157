// keys.test.mjs - virtual keys (spec K1), rate limits exact across ingest processes (K3) and
// tiers (K4), end to end against the mock provider: the admin API, the key lifecycle, 401 /
// 403, allowed models, the x-ratelimit headers, 429 with Retry-After, limits with 2 and 4
// ingest processes, tier inheritance and the monthly quota; budgets (K2) with 200 calls in
// flight against a budget that fits 50.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MASTER_KEY, http, startMock, startTollgate, waitFor } from './harness.mjs';

// Tiers for the tests: the default tier has no limit, so only the limits a test sets apply.
const CONFIG = `
keys:
  default_tier: enterprise
tiers:
  pro:
    requests_per_minute: 3
    tokens_per_minute: 100000
  free:
    requests_per_minute: 1000
    requests_per_month: 2
  gold:
    requests_per_minute: 4
`;

const admin = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };

function bearer(key) {
  return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
}

function keysApi(inst, method, p = '', body) {
  return http(`${inst.baseURL}/keys${p}`, {
    method,
    headers: admin,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function createKey(inst, body = {}) {
  const res = await keysApi(inst, 'POST', '', body);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

function chat(inst, key, { model = 'gpt-4o-mini', content = 'Hello!', extra = {} } = {}) {
  return http(`${inst.baseURL}/chat/completions`, {
    method: 'POST',
    headers: bearer(key),
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra }),
    timeout: 30000,
  });
}

// Fires n calls at once and counts the answers by status.
async function burst(inst, key, n) {
  const all = await Promise.all(Array.from({ length: n }, (_, i) => chat(inst, key, { content: `burst ${i}` })));
  const by = {};
  for (const r of all) by[r.status] = (by[r.status] || 0) + 1;
  return { by, all };
}

let mock;
let tg;

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock, config: CONFIG });
});

after(async () => {
  if (tg) assert.equal((await tg.stop()).code, 0);
  if (mock) await mock.stop();
});

describe('admin API and key lifecycle', () => {
  test('create shows the key once; list and get never show it; the store holds no key', async () => {
    const made = await createKey(tg, {
      name: 'ci bot',
      owner: 'alice',
      organization: 'acme',
      project: 'search',
      agent: 'ci-bot',
      tier: 'pro',
      models: ['gpt-4o-mini'],
    });
    assert.match(made.key, /^sk-tg-[0-9a-f]{64}$/);
    assert.match(made.id, /^key_[0-9a-f]{24}$/);
    assert.equal(made.organization, 'acme');
    assert.equal(made.tier, 'pro');
    assert.equal(made.key_hint, `sk-tg-...${made.key.slice(-4)}`);
    assert.equal(made.hash, undefined);

    const one = await keysApi(tg, 'GET', `/${made.id}`);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.key, undefined);
    assert.equal(one.json.owner, 'alice');
    const list = await keysApi(tg, 'GET');
    assert.equal(list.status, 200);
    assert.ok(list.json.data.some((k) => k.id === made.id));
    assert.ok(!list.text.includes(made.key));
    const mine = await keysApi(tg, 'GET', '?organization=acme&owner=alice&revoked=false');
    assert.deepEqual(mine.json.data.map((k) => k.id), [made.id]);
    const none = await keysApi(tg, 'GET', '?organization=acme&revoked=true');
    assert.deepEqual(none.json.data, []);
    const badFilter = await keysApi(tg, 'GET', '?colour=red');
    assert.equal(badFilter.status, 400);
    assert.equal(badFilter.json.error.param, 'colour');

    // Neither the LMDB file nor any log holds the key.
    const store = fs.readFileSync(path.join(tg.dataDir, 'keys', 'data.mdb'));
    assert.ok(!store.includes(Buffer.from(made.key)));
    for (const f of fs.readdirSync(tg.dir).filter((n) => n.endsWith('.log'))) {
      assert.ok(!fs.readFileSync(path.join(tg.dir, f), 'utf8').includes(made.key), f);
    }
  });

  test('create -> use -> rotate -> old key 401 -> revoke -> 401 at once', async () => {
    const made = await createKey(tg, { name: 'life' });
    let res = await chat(tg, made.key);
    assert.equal(res.status, 200, res.text);

    const rot = await keysApi(tg, 'POST', `/${made.id}/rotate`);
    assert.equal(rot.status, 200, rot.text);
    assert.equal(rot.json.id, made.id);
    assert.notEqual(rot.json.key, made.key);
    res = await chat(tg, made.key);
    assert.equal(res.status, 401);
    assert.equal(res.json.error.code, 'invalid_api_key');
    assert.ok(!res.text.includes(made.key.slice(6, 60)), 'the key is not echoed');
    res = await chat(tg, rot.json.key);
    assert.equal(res.status, 200, res.text);

    const t0 = Date.now();
    const rev = await keysApi(tg, 'DELETE', `/${made.id}`);
    assert.equal(rev.status, 200, rev.text);
    assert.equal(rev.json.revoked, true);
    res = await chat(tg, rot.json.key);
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.error.message, /revoked/);
    assert.ok(Date.now() - t0 < 1000, 'revocation seen within 1 s');
    // A revoked key cannot be rotated back to life.
    const again = await keysApi(tg, 'POST', `/${made.id}/rotate`);
    assert.equal(again.status, 400);
  });

  test('an expired key is 401; update can extend it', async () => {
    const made = await createKey(tg, { expires_at: Math.floor(Date.now() / 1000) - 10 });
    let res = await chat(tg, made.key);
    assert.equal(res.status, 401);
    assert.match(res.json.error.message, /expired/);
    const upd = await keysApi(tg, 'PATCH', `/${made.id}`, { expires_at: null, project: 'p2' });
    assert.equal(upd.status, 200, upd.text);
    assert.equal(upd.json.project, 'p2');
    res = await chat(tg, made.key);
    assert.equal(res.status, 200, res.text);
  });

  test('a virtual key gets 403 on every admin route', async () => {
    const made = await createKey(tg);
    for (const [method, p] of [
      ['GET', ''],
      ['POST', ''],
      ['GET', `/${made.id}`],
      ['POST', `/${made.id}/rotate`],
      ['DELETE', `/${made.id}`],
    ]) {
      const res = await http(`${tg.baseURL}/keys${p}`, {
        method,
        headers: bearer(made.key),
        body: method === 'POST' ? '{}' : undefined,
      });
      assert.equal(res.status, 403, `${method} ${p}: ${res.text}`);
      assert.equal(res.json.error.code, 'admin_key_required');
    }
    // Other routes work with it.
    const models = await http(`${tg.baseURL}/models`, { headers: bearer(made.key) });
    assert.equal(models.status, 200);
  });

  test('allowed models are enforced', async () => {
    const made = await createKey(tg, { models: ['gpt-4o-mini'] });
    const ok = await chat(tg, made.key, { model: 'gpt-4o-mini' });
    assert.equal(ok.status, 200, ok.text);
    const no = await chat(tg, made.key, { model: 'gpt-4o' });
    assert.equal(no.status, 403, no.text);
    assert.equal(no.json.error.param, 'model');
    assert.equal(no.json.error.code, 'model_not_allowed');
  });

  test('bad fields get 400 naming the field, and nothing is stored', async () => {
    const before = (await keysApi(tg, 'GET')).json.data.length;
    const cases = [
      [{ tier: 'platinum' }, 'tier'],
      [{ models: 'gpt-4o' }, 'models'],
      [{ models: [1] }, 'models'],
      [{ owner: '' }, 'owner'],
      [{ organization: 7 }, 'organization'],
      [{ expires_at: 'tomorrow' }, 'expires_at'],
      [{ limits: { requests_per_minute: -1 } }, 'limits.requests_per_minute'],
      [{ limits: { requests_per_hour: 5 } }, 'limits.requests_per_hour'],
      [{ limits: 5 }, 'limits'],
      [{ colour: 'red' }, 'colour'],
    ];
    for (const [body, param] of cases) {
      const res = await keysApi(tg, 'POST', '', { name: 'bad', ...body });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.json.error.param, param, JSON.stringify(body));
    }
    const notJson = await http(`${tg.baseURL}/keys`, { method: 'POST', headers: admin, body: '[1' });
    assert.equal(notJson.status, 400);
    assert.equal((await keysApi(tg, 'GET')).json.data.length, before);
    // A bad update changes nothing either.
    const made = await createKey(tg, { owner: 'bob' });
    const upd = await keysApi(tg, 'PATCH', `/${made.id}`, { owner: 'carol', tier: 'platinum' });
    assert.equal(upd.status, 400);
    assert.equal((await keysApi(tg, 'GET', `/${made.id}`)).json.owner, 'bob');
    assert.equal((await keysApi(tg, 'GET', '/key_000000000000000000000000')).status, 404);
  });

  test('usage events carry the key id, never the key; a key bound to an agent labels its calls', async () => {
    const made = await createKey(tg, { agent: 'report-bot' });
    const res = await chat(tg, made.key);
    assert.equal(res.status, 200, res.text);
    const row = await waitFor(
      async () => {
        const u = await http(`${tg.baseURL}/usage?group_by=key,agent`, { headers: admin });
        return u.json?.data?.find((r) => r.key === made.id);
      },
      { timeout: 10000, what: 'a usage row for the key id' },
    );
    assert.equal(row.requests, 1);
    assert.equal(row.agent, 'report-bot');
  });
});

describe('rate limits and tiers', () => {
  test('x-ratelimit headers as OpenAI sends them, on json and stream answers', async () => {
    // 10 a minute refill one every 6 s: the two calls below see 9 then 8.
    const made = await createKey(tg, {
      limits: { requests_per_minute: 10, tokens_per_minute: 600000 },
    });
    const a = await chat(tg, made.key, { content: 'x'.repeat(400) });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers.get('x-ratelimit-limit-requests'), '10');
    assert.equal(a.headers.get('x-ratelimit-remaining-requests'), '9');
    assert.match(a.headers.get('x-ratelimit-reset-requests'), /^\d+(ms|s)$/);
    assert.equal(a.headers.get('x-ratelimit-limit-tokens'), '600000');
    assert.equal(a.headers.get('x-ratelimit-remaining-tokens'), '599900'); // 400 chars / 4
    assert.match(a.headers.get('x-ratelimit-reset-tokens'), /^\d+(ms|s)$/);
    const b = await chat(tg, made.key, { extra: { stream: true } });
    assert.equal(b.status, 200, b.text);
    assert.equal(b.headers.get('content-type'), 'text/event-stream');
    assert.equal(b.headers.get('x-ratelimit-remaining-requests'), '8');
    const left = Number(b.headers.get('x-ratelimit-remaining-tokens'));
    assert.ok(left > 590000 && left <= 600000, `remaining tokens ${left}`);
    // A call that joins an identical one in flight (C3) gets the headers too.
    const same = {
      model: 'gpt-4o-mini',
      content: `[[mock:latency_ms=400]] join me ${made.id}`,
      extra: { temperature: 0 },
    };
    const pair = await Promise.all([chat(tg, made.key, same), chat(tg, made.key, same)]);
    assert.deepEqual(pair.map((r) => r.headers.get('x-cache')).sort(), ['coalesced', 'miss']);
    for (const r of pair) assert.equal(r.headers.get('x-ratelimit-limit-requests'), '10');
    // No limits, no headers: the master key.
    const m = await chat(tg, MASTER_KEY);
    assert.equal(m.status, 200);
    assert.equal(m.headers.get('x-ratelimit-limit-requests'), null);
  });

  test('over the requests limit: 429 with Retry-After and an error naming the limit', async () => {
    const made = await createKey(tg, { limits: { requests_per_minute: 2 } });
    assert.equal((await chat(tg, made.key)).status, 200);
    assert.equal((await chat(tg, made.key)).status, 200);
    const res = await chat(tg, made.key);
    assert.equal(res.status, 429, res.text);
    assert.equal(res.json.error.code, 'rate_limit_exceeded');
    assert.equal(res.json.error.type, 'requests');
    assert.match(res.json.error.message, /requests per minute \(RPM\): Limit 2, Used 2/);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '0');
  });

  test('cache hits of a key with limits count, and carry the headers', async () => {
    const made = await createKey(tg, { limits: { requests_per_minute: 3 } });
    const same = { content: `cached for ${made.id}`, extra: { temperature: 0 } };
    const fills = async () =>
      (await http(`${tg.baseURL}/cache/stats`, { headers: admin })).json.fills;
    const before = await fills();
    const first = await chat(tg, made.key, same);
    assert.equal(first.headers.get('x-cache'), 'miss');
    await waitFor(async () => (await fills()) > before, { timeout: 5000, what: 'the fill' });
    for (const left of ['1', '0']) {
      const hit = await chat(tg, made.key, same);
      assert.equal(hit.status, 200, hit.text);
      assert.equal(hit.headers.get('x-cache'), 'hit');
      assert.equal(hit.headers.get('x-ratelimit-remaining-requests'), left);
    }
    // The hits counted: the fourth call of the minute is refused.
    const last = await chat(tg, made.key, same);
    assert.equal(last.status, 429, last.text);
  });

  test('over the tokens limit: 429 naming tokens per minute; too large a prompt says so', async () => {
    const made = await createKey(tg, { limits: { tokens_per_minute: 60 } });
    const first = await chat(tg, made.key, { content: 'y'.repeat(160) }); // 40 tokens
    assert.equal(first.status, 200, first.text);
    const second = await chat(tg, made.key, { content: 'z'.repeat(160) });
    assert.equal(second.status, 429, second.text);
    assert.match(second.json.error.message, /tokens per minute \(TPM\)/);
    assert.equal(second.json.error.type, 'tokens');
    assert.ok(Number(second.headers.get('retry-after')) >= 1);
    const huge = await chat(tg, made.key, { content: 'w'.repeat(400) });
    assert.equal(huge.status, 429);
    assert.match(huge.json.error.message, /Request too large/);
  });

  test('a key inherits its tier limits unless it overrides them', async () => {
    const pro = await createKey(tg, { tier: 'pro' });
    const a = await chat(tg, pro.key);
    assert.equal(a.headers.get('x-ratelimit-limit-requests'), '3');
    assert.equal(a.headers.get('x-ratelimit-limit-tokens'), '100000');
    const over = await createKey(tg, { tier: 'pro', limits: { requests_per_minute: 5 } });
    const b = await chat(tg, over.key);
    assert.equal(b.headers.get('x-ratelimit-limit-requests'), '5');
    assert.equal(b.headers.get('x-ratelimit-limit-tokens'), '100000');
    const { by } = await burst(tg, pro.key, 4);
    assert.deepEqual(by, { 200: 2, 429: 2 });
    // Moving the key to another tier applies that tier's limits to the next call.
    const upd = await keysApi(tg, 'PATCH', `/${pro.id}`, { tier: 'enterprise' });
    assert.equal(upd.status, 200, upd.text);
    const c = await chat(tg, pro.key);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.headers.get('x-ratelimit-limit-requests'), null);
    // A tier the config adds, with only the limits it names.
    const gold = await createKey(tg, { tier: 'gold' });
    const g = await chat(tg, gold.key);
    assert.equal(g.headers.get('x-ratelimit-limit-requests'), '4');
    assert.equal(g.headers.get('x-ratelimit-limit-tokens'), null);
    const bad = await keysApi(tg, 'POST', '', { tier: 'platinum' });
    assert.equal(bad.json.error.message, "'tier' must be one of free, pro, enterprise, gold.");
  });

  test('the monthly quota of a tier', async () => {
    const free = await createKey(tg, { tier: 'free' });
    assert.equal((await chat(tg, free.key)).status, 200);
    assert.equal((await chat(tg, free.key)).status, 200);
    const res = await chat(tg, free.key);
    assert.equal(res.status, 429, res.text);
    assert.match(res.json.error.message, /requests per month: Limit 2, Used 2/);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
  });
});

describe('budgets', () => {
  // gpt-4o: $2.50 / $10 per 1M tokens. The worst cost of a call is reserved: prompt tokens
  // estimated as characters / 4, plus max_tokens.
  const price = { in: 2.5e-6, out: 10e-6 };
  const reserve = (content, maxTokens) => Math.ceil(content.length / 4) * price.in + maxTokens * price.out;

  function call(inst, key, content, maxTokens) {
    return chat(inst, key, { model: 'gpt-4o', content, extra: { max_tokens: maxTokens } });
  }

  test('200 concurrent calls against a budget that fits 50: 50 pass, no overspend', async () => {
    // The mock answers after 3 s, so every call is reserved before any is settled.
    const content = '[[mock:latency_ms=3000]] a call against a budget';
    const budget = 50.5 * reserve(content, 1000);
    const made = await createKey(tg, { budgets: { monthly_usd: budget } });
    const all = await Promise.all(
      Array.from({ length: 200 }, () => call(tg, made.key, content, 1000)),
    );
    const by = {};
    for (const r of all) by[r.status] = (by[r.status] || 0) + 1;
    assert.deepEqual(by, { 200: 50, 429: 150 });
    const refused = all.find((r) => r.status === 429);
    assert.equal(refused.json.error.code, 'budget_exceeded');
    assert.match(refused.json.error.message, /the monthly budget of key 'key_[0-9a-f]+' is \$/);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    // Every call settled: nothing reserved, and the spend is within the budget.
    const view = await waitFor(
      async () => {
        const v = await http(`${tg.baseURL}/budgets/key/${made.id}`, { headers: admin });
        return v.json?.month_reserved_usd === 0 ? v.json : null;
      },
      { timeout: 10000, what: 'every reservation settled' },
    );
    assert.ok(view.month_spent_usd > 0 && view.month_spent_usd <= budget, JSON.stringify(view));
    // Analytics, which prices each usage event itself, agrees.
    const usage = await waitFor(
      async () => {
        const u = await http(`${tg.baseURL}/usage?group_by=key`, { headers: admin });
        const row = u.json?.data?.find((r) => r.key === made.id);
        return row?.requests === 50 ? row : null;
      },
      { timeout: 10000, what: '50 usage events' },
    );
    assert.ok(usage.cost_usd <= budget, `${usage.cost_usd} <= ${budget}`);
  });

  test('project and organization budgets, set through /v1/budgets', async () => {
    const put = await http(`${tg.baseURL}/budgets/project/atlas`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ daily_usd: 0.5 * reserve('Hello!', 1000) }),
    });
    assert.equal(put.status, 200, put.text);
    const made = await createKey(tg, { project: 'atlas', organization: 'acme' });
    assert.equal((await call(tg, made.key, 'Hello!', 10)).status, 200);
    // 1000 tokens could cost twice the project's day.
    const res = await call(tg, made.key, 'Hello!', 1000);
    assert.equal(res.status, 429, res.text);
    assert.match(res.json.error.message, /the daily budget of project 'atlas'/);
    // A smaller call still fits what is left of the day.
    assert.equal((await call(tg, made.key, 'Hello!', 10)).status, 200);
    // The organization's budget applies to every key in it.
    const org = await http(`${tg.baseURL}/budgets/org/acme`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ monthly_usd: 0.000001 }),
    });
    assert.equal(org.status, 200, org.text);
    const other = await createKey(tg, { organization: 'acme' });
    const refused = await call(tg, other.key, 'Hello!', 10);
    assert.equal(refused.status, 429);
    assert.match(refused.json.error.message, /the monthly budget of org 'acme'/);
    const list = await http(`${tg.baseURL}/budgets`, { headers: admin });
    assert.equal(list.status, 200);
    assert.ok(list.json.data.some((b) => b.scope === 'project' && b.name === 'atlas'));
    // Bad fields: 400 naming the field, nothing stored; a virtual key cannot see budgets.
    const bad = await http(`${tg.baseURL}/budgets/org/acme`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ monthly_usd: 'lots' }),
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'monthly_usd');
    const badKey = await keysApi(tg, 'POST', '', { budgets: { weekly_usd: 3 } });
    assert.equal(badKey.status, 400);
    assert.equal(badKey.json.error.param, 'budgets.weekly_usd');
    const forbidden = await http(`${tg.baseURL}/budgets`, { headers: bearer(made.key) });
    assert.equal(forbidden.status, 403);
    const del = await http(`${tg.baseURL}/budgets/org/acme`, { method: 'DELETE', headers: admin });
    assert.equal(del.status, 200);
    assert.equal((await call(tg, other.key, 'Hello!', 10)).status, 200);
  });
});

describe('router restart', () => {
  test('monthly counts and budget spend survive a router restart; keys too', async () => {
    const free = await createKey(tg, { tier: 'free', budgets: { daily_usd: 5 } }); // 2 a month
    assert.equal((await chat(tg, free.key)).status, 200);
    const spent = async () =>
      (await http(`${tg.baseURL}/budgets/key/${free.id}`, { headers: admin })).json;
    const before = await waitFor(async () => {
      const v = await spent();
      return v?.day_reserved_usd === 0 ? v : null;
    }, { what: 'the call settled' });
    assert.ok(before.day_spent_usd > 0);
    const old = tg.pidOf('router');
    process.kill(old, 'SIGTERM');
    await waitFor(
      async () => {
        const p = tg.pidOf('router');
        if (!p || p === old) return false;
        return (await chat(tg, MASTER_KEY)).status === 200;
      },
      { timeout: 20000, what: 'the restarted router to answer' },
    );
    const after = await spent();
    assert.equal(after.day_spent_usd, before.day_spent_usd);
    // One call of the month was used before the restart: one more passes, then 429.
    const second = await chat(tg, free.key);
    assert.equal(second.status, 200, second.text);
    const third = await chat(tg, free.key);
    assert.equal(third.status, 429, third.text);
    assert.match(third.json.error.message, /requests per month: Limit 2, Used 2/);
  });
});

for (const n of [2, 4]) {
  describe(`limits are exact with ${n} ingest processes`, () => {
    let inst;
    before(async () => {
      inst = await startTollgate({ mock, config: CONFIG, args: ['--ingest', String(n)] });
    });
    after(async () => {
      if (inst) assert.equal((await inst.stop()).code, 0);
    });

    test(`6 requests per minute, 15 concurrent calls: exactly 6 pass`, async () => {
      const made = await createKey(inst, { limits: { requests_per_minute: 6 } });
      const { by, all } = await burst(inst, made.key, 15);
      assert.deepEqual(by, { 200: 6, 429: 9 });
      for (const r of all.filter((x) => x.status === 429)) {
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
      }
    });

    test('60 concurrent calls against a budget that fits 20: exactly 20 pass', async () => {
      const content = '[[mock:latency_ms=2000]] budget across ingests';
      const est = Math.ceil(content.length / 4) * 2.5e-6 + 500 * 10e-6;
      const made = await createKey(inst, { budgets: { daily_usd: 20.5 * est } });
      const all = await Promise.all(
        Array.from({ length: 60 }, () =>
          chat(inst, made.key, { model: 'gpt-4o', content, extra: { max_tokens: 500 } }),
        ),
      );
      const by = {};
      for (const r of all) by[r.status] = (by[r.status] || 0) + 1;
      assert.deepEqual(by, { 200: 20, 429: 40 });
    });
  });
}
