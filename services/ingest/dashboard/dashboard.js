// dashboard.js - tollgate's dashboard: reads the gateway's JSON APIs (and /metrics) with the
// admin key kept in this tab's sessionStorage, and draws each panel with Chart.js. A panel
// whose API this gateway does not serve says so and draws nothing: no made-up data.
'use strict';

const KEY = 'tollgate.key';
const REFRESH_MS = 10000;
const charts = {};

function $(sel, root = document) {
  return root.querySelector(sel);
}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ok: res.ok, status: res.status, json, text };
}

function panel(id, state, note) {
  const p = document.getElementById(id);
  p.dataset.state = state;
  $('.note', p).textContent = note || '';
  return p;
}

function unavailable(id, path) {
  panel(id, 'unavailable', `Not available: this gateway does not serve ${path} yet.`);
}

// Draws (or updates) the chart of panel `id`.
function draw(id, config) {
  const canvas = $(`#${id} canvas`);
  if (charts[id]) {
    charts[id].data = config.data;
    charts[id].update('none');
  } else {
    config.options = Object.assign({ animation: false, responsive: true }, config.options);
    charts[id] = new Chart(canvas, config);
  }
}

const usd = (n) => `$${Number(n || 0).toFixed(6)}`;

function monthStart() {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)).toISOString();
}

async function spend() {
  const r = await api(`/v1/usage?start=${encodeURIComponent(monthStart())}&group_by=model`);
  if (!r.ok) return panel('spend', 'error', `GET /v1/usage: ${r.status}`);
  const t = r.json.totals;
  $('#spend .figures').textContent =
    `${usd(t.cost_usd)} spent, ${t.requests} calls; saved ${usd(t.cache_saved_usd)} by the cache, ` +
    `${usd(t.savings_usd)} against the baseline model`;
  const rows = r.json.data.filter((g) => g.requests > 0);
  draw('spend', {
    type: 'bar',
    data: {
      labels: rows.map((g) => g.model || '(none)'),
      datasets: [{ label: 'cost (USD)', data: rows.map((g) => Number(g.cost_usd)) }],
    },
  });
  panel('spend', rows.length ? 'drawn' : 'empty', rows.length ? '' : 'No calls this month yet.');
}

// Finds the first array of objects in a JSON answer (the points of a series).
function points(json) {
  if (Array.isArray(json)) return json;
  for (const v of Object.values(json || {})) if (Array.isArray(v) && v.length && typeof v[0] === 'object') return v;
  return [];
}
const timeOf = (p) => p.ts ?? p.time ?? p.t ?? p.minute ?? p.start;
const costOf = (p) => Number(p.cost_usd ?? p.usd ?? p.value ?? p.spend_usd ?? NaN);

async function history() {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const h = await api(`/v1/costs/history?since=${encodeURIComponent(since)}`);
  if (h.status === 404) return unavailable('history', '/v1/costs/history');
  if (!h.ok) return panel('history', 'error', `GET /v1/costs/history: ${h.status}`);
  const pts = points(h.json).filter((p) => timeOf(p) !== undefined && !Number.isNaN(costOf(p)));
  const pr = await api('/v1/costs/prediction');
  const note = pr.ok
    ? `Month-end prediction ${usd(pr.json.predicted_usd)} (${usd(pr.json.current_usd)} so far, ` +
      `confidence ${Number(pr.json.confidence || 0).toFixed(2)})`
    : 'Prediction: not available from this gateway yet.';
  draw('history', {
    type: 'line',
    data: {
      labels: pts.map((p) => String(timeOf(p)).slice(11, 16) || String(timeOf(p))),
      datasets: [{ label: 'spend (USD)', data: pts.map(costOf) }],
    },
  });
  panel('history', pts.length ? 'drawn' : 'empty', pts.length ? note : `No spend in the last 24 h. ${note}`);
}

async function calls() {
  const day = new Date().toISOString().slice(0, 10);
  const r = await api(`/v1/usage?start=${day}&group_by=provider,model`);
  if (!r.ok) return panel('calls', 'error', `GET /v1/usage: ${r.status}`);
  const rows = r.json.data.filter((g) => g.requests > 0);
  draw('calls', {
    type: 'bar',
    data: {
      labels: rows.map((g) => `${g.provider || '-'}/${g.model || '-'}`),
      datasets: [
        { label: 'calls', data: rows.map((g) => g.requests) },
        { label: 'errors', data: rows.map((g) => g.errors) },
      ],
    },
  });
  panel('calls', rows.length ? 'drawn' : 'empty', rows.length ? '' : 'No calls today yet.');
}

// Histogram quantiles from Prometheus text: buckets summed over every label set of `name`.
function quantiles(text, name, qs) {
  const buckets = new Map();
  const re = new RegExp(`^${name}_bucket\\{([^}]*)\\} ([0-9.eE+-]+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const le = /le="([^"]+)"/.exec(m[1]);
    if (!le) continue;
    const bound = le[1] === '+Inf' ? Infinity : Number(le[1]);
    buckets.set(bound, (buckets.get(bound) || 0) + Number(m[2]));
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.length ? sorted[sorted.length - 1][1] : 0;
  if (!total) return null;
  return qs.map((q) => {
    let prevBound = 0;
    let prevCount = 0;
    for (const [bound, count] of sorted) {
      if (count >= q * total) {
        if (bound === Infinity) return prevBound;
        const frac = count > prevCount ? (q * total - prevCount) / (count - prevCount) : 0;
        return prevBound + (bound - prevBound) * frac; // linear within the bucket
      }
      prevBound = bound;
      prevCount = count;
    }
    return prevBound;
  });
}

async function latency() {
  const res = await fetch('/metrics');
  if (!res.ok) return panel('latency', 'error', `GET /metrics: ${res.status}`);
  const text = await res.text();
  const qs = [0.5, 0.9, 0.99];
  const lat = quantiles(text, 'llm_request_duration_seconds', qs);
  const ttft = quantiles(text, 'llm_time_to_first_token_seconds', qs);
  if (!lat && !ttft) return panel('latency', 'empty', 'No provider call measured yet.');
  const ms = (v) => (v ? Math.round(v * 1000 * 10) / 10 : 0);
  draw('latency', {
    type: 'bar',
    data: {
      labels: ['p50', 'p90', 'p99'],
      datasets: [
        { label: 'call duration (ms)', data: (lat || [0, 0, 0]).map(ms) },
        { label: 'time to first token (ms)', data: (ttft || [0, 0, 0]).map(ms) },
      ],
    },
  });
  panel('latency', 'drawn', 'From the histograms in /metrics (interpolated within buckets).');
}

async function cache() {
  const s = await api('/v1/cache/stats');
  if (s.status === 404) return unavailable('cache', '/v1/cache/stats');
  if (!s.ok) return panel('cache', 'error', `GET /v1/cache/stats: ${s.status}`);
  const u = await api(`/v1/usage?start=${encodeURIComponent(monthStart())}&group_by=model`);
  const saved = u.ok ? u.json.totals.cache_saved_usd : 0;
  const c = s.json;
  $('#cache .figures').textContent =
    `hit rate ${(100 * (c.hit_rate || 0)).toFixed(1)} %, ${c.entries} entries, ` +
    `${(c.bytes / 1048576).toFixed(1)} of ${(c.map_bytes / 1048576).toFixed(0)} MB; saved ${usd(saved)} this month`;
  draw('cache', {
    type: 'doughnut',
    data: { labels: ['hits', 'misses'], datasets: [{ data: [c.hits, c.misses] }] },
  });
  panel('cache', c.hits + c.misses ? 'drawn' : 'empty', c.hits + c.misses ? '' : 'No cacheable call yet.');
}

function table(el, header, rows) {
  el.innerHTML = '';
  const tr = el.insertRow();
  for (const h of header) {
    const th = document.createElement('th');
    th.textContent = h;
    tr.appendChild(th);
  }
  for (const r of rows) {
    const row = el.insertRow();
    for (const v of r) row.insertCell().textContent = v ?? '';
  }
}

async function breakers() {
  const r = await api('/v1/providers');
  if (r.status === 404) return unavailable('breakers', '/v1/providers');
  if (!r.ok) return panel('breakers', 'error', `GET /v1/providers: ${r.status}`);
  const rows = [];
  for (const p of points(r.json)) {
    const targets = Array.isArray(p.targets) && p.targets.length ? p.targets : [p];
    for (const t of targets) {
      const b = t.breaker;
      const state = b?.state ?? (b?.enabled === false ? 'off' : t.health ?? (p.enabled ? '' : 'disabled'));
      rows.push([p.name ?? p.provider ?? p.id, t === p ? '(no call yet)' : t.model ?? '', state]);
    }
  }
  table($('#breakers table'), ['provider', 'target', 'breaker'], rows);
  panel('breakers', rows.length ? 'drawn' : 'empty', rows.length ? '' : 'No provider configured.');
}

async function alerts() {
  const r = await api('/v1/costs/alerts?limit=10');
  if (r.status === 404) return unavailable('alerts', '/v1/costs/alerts');
  if (!r.ok) return panel('alerts', 'error', `GET /v1/costs/alerts: ${r.status}`);
  const rows = r.json.data.map((a) => [a.ts, a.severity, a.message]);
  table($('#alerts table'), ['when', 'severity', 'message'], rows);
  panel('alerts', rows.length ? 'drawn' : 'empty', rows.length ? '' : 'No alert has fired.');
}

// The spans of GET /api/v1/traces/{id} come depth-first with their depth: an indented list.
function spanList(spans) {
  const ol = document.createElement('ol');
  for (const s of spans) {
    const li = document.createElement('li');
    li.style.paddingLeft = `${(s.depth ?? 0) * 1.2}em`;
    const what = s.virtual ? '(caller)' : [s.type, s.model].filter(Boolean).join(' ');
    const ms = s.latency_ms == null ? '' : ` ${Number(s.latency_ms).toFixed(1)} ms`;
    const cost = s.cost_usd ? ` $${s.cost_usd}` : '';
    li.textContent = `${s.span_id} ${what}${ms}${cost}`;
    if (s.error) li.classList.add('error');
    ol.appendChild(li);
  }
  return ol;
}

async function trace() {
  const list = await api('/api/v1/traces?limit=1');
  if (list.status === 404) return unavailable('trace', '/api/v1/traces');
  if (!list.ok) return panel('trace', 'error', `GET /api/v1/traces: ${list.status}`);
  const first = points(list.json)[0];
  if (!first) return panel('trace', 'empty', 'No trace recorded yet.');
  const one = await api(`/api/v1/traces/${encodeURIComponent(first.trace_id)}`);
  if (!one.ok) return panel('trace', 'error', `GET /api/v1/traces/{id}: ${one.status}`);
  const box = $('#trace .tree');
  box.innerHTML = '';
  const head = document.createElement('p');
  head.textContent = `${one.json.trace_id}: ${one.json.span_count} spans, ${one.json.duration_ms} ms, $${one.json.cost_usd}`;
  box.appendChild(head);
  box.appendChild(spanList(one.json.spans ?? []));
  panel('trace', 'drawn', '');
}

const PANELS = { spend, history, calls, latency, cache, breakers, alerts, trace };

async function refresh() {
  await Promise.all(
    Object.entries(PANELS).map(([id, fn]) =>
      fn().catch((err) => panel(id, 'error', `failed: ${err.message}`)),
    ),
  );
  $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function open() {
  const probe = await api('/v1/cache/stats');
  if (probe.status === 401) {
    sessionStorage.removeItem(KEY);
    $('#login-error').textContent = 'That key was refused.';
    return showLogin();
  }
  $('#login').hidden = true;
  $('#panels').hidden = false;
  $('#logout').hidden = false;
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

function showLogin() {
  $('#login').hidden = false;
  $('#panels').hidden = true;
  $('#logout').hidden = true;
}

$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $('#key').value.trim());
  $('#key').value = '';
  open();
});
$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  location.reload();
});
if (sessionStorage.getItem(KEY)) open();
else showLogin();
