// router_metrics.test.mjs - GET /v1/router/metrics stays exact under 500 concurrent requests
// (spec O2): every call is counted once, as a cache hit or as a cloud call, and
// hits + cloud = total; the hits are the answers that said `x-cache: hit` and the cloud calls
// are the calls the mock upstream received. /metrics counts the same calls.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MASTER_KEY, http, startMock, startTollgate, uniq, waitFor } from './harness.mjs';

const AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
const CONCURRENT = 500;

let mock;
let tg;

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock, config: 'cache:\n  ttl_s: 600\n' });
});

after(async () => {
  if (tg) await tg.stop();
  if (mock) await mock.stop();
});

function chat(content) {
  return http(`${tg.baseURL}/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] }),
    timeout: 60000,
  });
}

async function routerMetrics() {
  const res = await http(`${tg.baseURL}/router/metrics`, { headers: AUTH });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// The sum of llm_requests_total over its series whose labels match `want`.
function requestsTotal(text, want) {
  let sum = 0;
  for (const m of text.matchAll(/^llm_requests_total\{([^}]*)\} (\S+)$/gm)) {
    if (m[1].includes(want)) sum += Number(m[2]);
  }
  return sum;
}

describe('/v1/router/metrics under 500 concurrent requests', () => {
  test('hits + cloud = total, each matching what the clients and the upstream saw', async () => {
    const tag = uniq('o2');
    // Ten prompts answered once, so that their repeats below can be hits.
    const primed = Array.from({ length: 10 }, (_, i) => `${tag} primed ${i}`);
    const early = []; // every call before the 500, for /metrics below
    for (const p of primed) early.push(await chat(p));
    await waitFor(
      async () => {
        const res = await chat(primed[primed.length - 1]);
        early.push(res);
        return res.headers.get('x-cache') === 'hit';
      },
      { timeout: 10000, what: 'the primed answers in the cache' },
    );
    // The router counts hits from ingest's HITS frames, a few ms after the answer.
    const m0 = await waitFor(
      async () => {
        const m = await routerMetrics();
        return m.total_calls === early.length ? m : null;
      },
      { timeout: 10000, what: `the router to count the ${early.length} early calls` },
    );
    const up0 = (await mock.stats()).requests;
    // Half repeats of the primed prompts, half new prompts, all at once.
    const prompts = Array.from({ length: CONCURRENT }, (_, i) =>
      i % 2 ? primed[i % primed.length] : `${tag} fresh ${i}`,
    );
    const answers = await Promise.all(prompts.map((p) => chat(p)));
    const statuses = answers.map((r) => r.status);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      `every call answered 200 (${answers.find((r) => r.status !== 200)?.text})`,
    );
    const hits = answers.filter((r) => r.headers.get('x-cache') === 'hit').length;
    const misses = answers.filter((r) => r.headers.get('x-cache') === 'miss').length;
    assert.equal(hits + misses, CONCURRENT, 'each answer is a hit or a miss');
    assert.ok(hits >= CONCURRENT / 2, `the repeats are hits (${hits})`);
    const upstream = (await mock.stats()).requests - up0;
    assert.equal(upstream, misses, 'one upstream call per miss');
    // Hits served at ingest reach the router in HITS frames a few ms later: wait for them.
    let m1;
    await waitFor(
      async () => {
        m1 = await routerMetrics();
        return m1.total_calls - m0.total_calls >= CONCURRENT;
      },
      { timeout: 10000, what: `${CONCURRENT} calls counted by the router` },
    ).catch((err) => {
      throw new Error(`${err.message}; before ${JSON.stringify(m0)} after ${JSON.stringify(m1)}`);
    });
    const d = {
      total: m1.total_calls - m0.total_calls,
      hits: m1.cache_hits - m0.cache_hits,
      cloud: m1.cloud_calls - m0.cloud_calls,
    };
    assert.deepEqual(d, { total: CONCURRENT, hits, cloud: upstream });
    assert.equal(m1.cache_hits + m1.cloud_calls, m1.total_calls);
    // /metrics, aggregated over the processes, counts the same calls by cache status.
    for (const r of early) assert.equal(r.status, 200, r.text);
    const earlyHits = early.filter((r) => r.headers.get('x-cache') === 'hit').length;
    const want = { all: CONCURRENT + early.length, hit: hits + earlyHits };
    want.miss = want.all - want.hit;
    let seen;
    await waitFor(
      async () => {
        const text = (await http(`${tg.base}/metrics`)).text;
        seen = {
          all: requestsTotal(text, ''),
          hit: requestsTotal(text, 'cache_status="hit"'),
          miss: requestsTotal(text, 'cache_status="miss"'),
        };
        return JSON.stringify(seen) === JSON.stringify(want);
      },
      { timeout: 15000, what: `llm_requests_total by cache status ${JSON.stringify(want)}` },
    ).catch((err) => {
      throw new Error(`${err.message}; /metrics had ${JSON.stringify(seen)}`);
    });
  });
});
