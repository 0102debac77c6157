// hostile.test.mjs - slow and hostile clients (issue 16): slowloris headers, slow bodies,
// thousands of idle connections, a 100 KB header, pipelined requests, invalid UTF-8 in JSON.
// Each gets a bounded answer or a close, ingest's memory stays bounded, and good clients
// keep being served meanwhile.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import nodeHttp from 'node:http';
import net from 'node:net';
import { MASTER_KEY, delay, http, startMock, startTollgate } from './harness.mjs';

const AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
let mock;
let tg;

before(async () => {
  mock = await startMock();
  tg = await startTollgate({ mock });
});

after(async () => {
  if (tg) await tg.stop();
  if (mock) await mock.stop();
});

// Opens a raw TCP connection to ingest.
function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect(tg.port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

// Writes `data` on a new connection and collects what comes back until the server closes or
// `ms` pass: { text, closed }.
async function exchange(data, ms = 3000) {
  const s = await connect();
  let text = '';
  let closed = false;
  s.on('data', (d) => (text += d.toString('latin1')));
  s.on('error', () => {});
  const done = new Promise((resolve) => s.once('close', () => ((closed = true), resolve())));
  s.write(data);
  await Promise.race([done, delay(ms)]);
  s.destroy();
  return { text, closed };
}

// Good clients: every call must be answered 200 while the hostile ones are at it.
async function goodCalls(n) {
  for (let i = 0; i < n; i++) {
    const r = await http(`${tg.baseURL}/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `good ${i}` }] }),
    });
    assert.equal(r.status, 200, `good call ${i}: ${r.status} ${r.text}`);
  }
}

function ingestRssMb() {
  const pid = tg.pidOf('ingest-1');
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) / 1024;
}

test('a 100 KB header gets a bounded answer or a close', async () => {
  const big = 'x'.repeat(100 * 1024);
  const r = await exchange(`GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\n\r\n`);
  assert.ok(r.closed || /^HTTP\/1\.1 4\d\d/.test(r.text), r.text.slice(0, 200));
  await goodCalls(3);
});

test('a 10 MB body sent by the Node http client reads its 413, no EPIPE', async () => {
  const body = Buffer.alloc(10 * 1024 * 1024, 'a');
  const res = await new Promise((resolve) => {
    const req = nodeHttp.request(
      {
        host: '127.0.0.1',
        port: tg.port,
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { ...AUTH, 'content-length': body.length },
      },
      (r) => {
        let text = '';
        r.on('data', (d) => (text += d));
        r.on('end', () => resolve({ status: r.statusCode, text }));
      },
    );
    req.on('error', (err) => resolve({ error: err.code }));
    req.end(body);
  });
  assert.equal(res.status, 413, JSON.stringify(res));
  assert.equal(JSON.parse(res.text).error.code, 'request_too_large');
});

test('pipelined requests are answered in order', async () => {
  const one = 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n';
  const r = await exchange(one + one + 'GET /nope HTTP/1.1\r\nHost: a\r\n\r\n', 1500);
  const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ['200', '200', '404']);
});

test('invalid UTF-8 in a JSON string is a 400 OpenAI error', async () => {
  const body = Buffer.concat([
    Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"bad '),
    Buffer.from([0xc3, 0x28, 0xff]),
    Buffer.from('"}]}'),
  ]);
  const res = await fetch(`${tg.baseURL}/chat/completions`, { method: 'POST', headers: AUTH, body });
  assert.equal(res.status, 400);
  const j = await res.json();
  assert.equal(j.error.type, 'invalid_request_error');
});

test('slowloris headers and slow bodies do not stop good clients', async () => {
  const socks = [];
  for (let i = 0; i < 300; i++) {
    const s = await connect();
    s.on('error', () => {});
    s.write(i % 2 ? 'POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n' : 'GET /healthz HTTP/1.1\r\n');
    if (i % 2)
      s.write(`Authorization: Bearer ${MASTER_KEY}\r\nContent-Length: 100000\r\n\r\n{"model":`);
    socks.push(s);
  }
  const trickle = setInterval(() => {
    for (const [i, s] of socks.entries()) if (!s.destroyed) s.write(i % 2 ? ' ' : 'X-A: b\r\n');
  }, 200);
  try {
    await goodCalls(20);
  } finally {
    clearInterval(trickle);
    for (const s of socks) s.destroy();
  }
});

test('thousands of idle connections: good clients served, memory bounded', async () => {
  const rss0 = ingestRssMb();
  // 10,000, or what this process's descriptor limit leaves room for.
  const limit = Number(execSync('ulimit -n', { shell: '/bin/bash' }).toString().trim()) || 1024;
  const n = Math.min(10000, limit - 1000);
  const socks = [];
  for (let i = 0; i < n; i++) {
    const s = await connect();
    s.on('error', () => {});
    socks.push(s);
  }
  try {
    await delay(500);
    await goodCalls(10);
    const rss = ingestRssMb();
    assert.ok(rss - rss0 < 128, `ingest RSS grew ${(rss - rss0).toFixed(1)} MB for ${n} idle connections`);
    console.log(`idle: ${n} connections, ingest RSS ${rss0.toFixed(1)} -> ${rss.toFixed(1)} MB`);
  } finally {
    for (const s of socks) s.destroy();
  }
  await delay(300);
  await goodCalls(3);
});

test('out of descriptors: ingest pauses accepting instead of spinning, and recovers', async () => {
  const pid = tg.pidOf('ingest-1');
  const cpu = () => {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks
  };
  const soft = execSync(`prlimit --pid ${pid} --nofile --raw --noheadings --output=SOFT`)
    .toString()
    .trim();
  execSync(`prlimit --pid ${pid} --nofile=256:`); // the soft limit only: it can go back up
  const socks = [];
  try {
    // 300: past the 256 descriptors, and the rest fits the kernel's accept queue (somaxconn
    // may be 128) so that every connect completes at once.
    for (let i = 0; i < 300; i++) {
      const s = await connect();
      s.on('error', () => {});
      socks.push(s);
    }
    await delay(300);
    const c0 = cpu();
    await delay(1000);
    const ticks = cpu() - c0;
    assert.ok(ticks < 30, `ingest used ${ticks} ticks of CPU in 1 s while out of descriptors`);
  } finally {
    for (const s of socks) s.destroy();
    execSync(`prlimit --pid ${pid} --nofile=${soft}:`);
  }
  await delay(300);
  await goodCalls(3);
});
