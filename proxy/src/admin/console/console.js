// The Gatehouse admin console: one page, no build step, no outside resources. Every data call
// sends the admin token (kept in sessionStorage) as `Authorization: Bearer TOKEN`. The Usage and
// Deployments pages are in usage.js and deployments.js, which use this file's helpers.
'use strict';

const TOKEN_KEY = 'gatehouse-admin-token';
const POLL_MS = 3000;
const KEEP_SAMPLES = 60;
const PAGES = ['apis', 'metrics', 'keys', 'plugins', 'usage', 'reloads', 'deployments', 'invoke'];
const READ_ONLY_NOTE = 'Read-only token: creating keys, reloading, rollbacks and test invokes are off.';

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  access: null,
  config: null,
  samples: [],
  timer: null,
};

const $ = (id) => document.getElementById(id);

// Builds an element; strings become text nodes (data never goes through innerHTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function table(caption, head, rows) {
  return el('div', { class: 'scroll' },
    el('table', {},
      caption ? el('caption', {}, caption) : null,
      el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => c instanceof Node && c.tagName === 'TD' ? c : el('td', {}, c)))))));
}

function say(message, info) {
  const s = $('status');
  s.textContent = message || '';
  s.className = info ? 'status info' : 'status';
}

async function call(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) {
    logout('The admin token was refused.');
    throw new Error('unauthorized');
  }
  const text = await r.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: /metrics */ }
  if (!r.ok) {
    const e = new Error((data && data.message) || ('HTTP ' + r.status));
    e.data = data;
    throw e;
  }
  return data;
}

// ---- login --------------------------------------------------------------------------------

async function start() {
  try {
    const s = await call('GET', '/console/api/session');
    state.access = s.access;
  } catch (e) {
    if (e.message !== 'unauthorized') say('Cannot reach the admin API: ' + e.message);
    return;
  }
  $('login-page').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  const badge = $('access');
  badge.textContent = state.access === 'read-only' ? 'read-only' : 'full access';
  badge.className = 'badge ' + state.access;
  for (const b of document.querySelectorAll('.needs-write')) b.disabled = state.access === 'read-only';
  if (state.access === 'read-only') say(READ_ONLY_NOTE, true);
  else say('');
  await loadConfig();
  poll();
  if (!location.hash || !PAGES.includes(location.hash.slice(1))) location.hash = '#apis';
  else show();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.access = null;
  clearTimeout(state.timer);
  state.timer = null;
  for (const p of PAGES) $('page-' + p).hidden = true;
  $('nav').hidden = true;
  $('who').hidden = true;
  $('login-page').hidden = false;
  say(message || '');
  $('token').value = '';
  $('token').focus();
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = $('token').value;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  start();
});
$('logout').addEventListener('click', () => logout('Logged out.'));

// ---- navigation ---------------------------------------------------------------------------

function show() {
  if ($('nav').hidden) return;
  const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'apis';
  for (const p of PAGES) $('page-' + p).hidden = p !== page;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#' + page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = $(page + '-title').textContent + ' · Gatehouse console';
  say(state.access === 'read-only' ? READ_ONLY_NOTE : '', true);
  ({ apis: renderApis, metrics: renderMetrics, keys: renderKeys, plugins: renderPlugins,
    usage: renderUsage, reloads: renderReloads, deployments: renderDeployments,
    invoke: renderInvoke })[page]();
  $('main').focus({ preventScroll: true });
}
window.addEventListener('hashchange', show);

async function loadConfig() {
  try {
    state.config = await call('GET', '/console/api/config');
  } catch (e) {
    say('Cannot read the config: ' + e.message);
  }
}

// ---- APIs ---------------------------------------------------------------------------------

const dash = '—';
function throttleText(t) { return t ? `${t.rate}/s, burst ${t.burst}` : dash; }

// A stage's canary share, on the stage that has one; its canary's entry names it.
function canaryText(s) {
  if (s.canaryPercent != null) return `${fmt(s.canaryPercent, 4)} % of requests to ${s.name}/Canary`;
  return s.name.endsWith('/Canary') ? 'serves the canary share' : dash;
}

function integrationText(i, stage) {
  switch (i.type) {
    case 'http_proxy':
    case 'http': {
      const uri = i.uris[stage] || Object.values(i.uris)[0] || '';
      return `${i.type} ${i.method || '(same method)'} ${uri}`;
    }
    case 'lambda': return 'lambda ' + (i.uris[stage] || '');
    case 'mock': return i.mapped ? 'mock (mapped)' : `mock ${i.status}`;
    case 'plugin': return 'plugin ' + i.plugin;
    default: return i.type;
  }
}

function renderApis() {
  const body = $('apis-body');
  body.replaceChildren();
  const c = state.config;
  if (!c) return;
  if (c.apis.length === 0) body.append(el('p', {}, 'No APIs are configured.'));
  for (const api of c.apis) {
    const first = api.stages[0] ? api.stages[0].name : '';
    const canary = api.stages.some((s) => s.canaryPercent != null);
    const stages = table('Stages', ['Stage', 'Served at', 'Throttle', 'Cache', 'Variables', canary ? 'Canary' : null].filter(Boolean),
      api.stages.map((s) => [
        s.name,
        el('code', {}, (s.host || '') + (s.basePath || '/')),
        throttleText(s.throttle),
        s.cache ? `TTL ${s.cache.ttlSeconds}s` : 'off',
        Object.entries(s.variables).map(([k, v]) => `${k}=${v}`).join(', ') || dash,
        canary ? canaryText(s) : null,
      ].filter((c) => c !== null)));
    const rows = [];
    for (const r of api.resources) {
      for (const m of r.methods) {
        const auth = [m.authorizer ? `${m.authorizer.name} (${m.authorizer.type})` : null,
          m.iam ? 'AWS_IAM' : null].filter(Boolean).join(', ') || 'none';
        rows.push([
          el('code', {}, r.path), m.method, integrationText(m.integration, first), auth,
          m.apiKeyRequired ? 'required' : 'no',
          m.cache ? `on${m.cache.ttlSeconds != null ? ', TTL ' + m.cache.ttlSeconds + 's' : ''}` : dash,
          m.throttle ? throttleText(m.throttle[0]) : dash,
          [m.validation ? 'validated' : null, m.requestMapper ? 'mapper ' + m.requestMapper : null,
            m.responseMapper ? 'mapper ' + m.responseMapper : null].filter(Boolean).join(', ') || dash,
        ]);
      }
    }
    const parts = [
      el('h3', {}, api.name, el('span', { class: 'tag' }, api.protocol),
        api.cors ? el('span', { class: 'tag' }, 'CORS') : null,
        api.resourcePolicy ? el('span', { class: 'tag' }, 'resource policy') : null),
      stages,
    ];
    if (api.protocol === 'websocket') {
      parts.push(el('p', {}, 'Routes: ', api.routes.map((k) => el('code', {}, k + ' '))));
    } else {
      parts.push(table('Resources and methods',
        ['Resource', 'Method', 'Integration' + (first ? ` (${first})` : ''), 'Authorizer', 'API key', 'Cache', 'Throttle', 'Other'],
        rows));
    }
    body.append(el('article', { class: 'api', 'aria-label': 'API ' + api.name }, parts));
  }
  const l = c.limits;
  body.append(el('p', { class: 'hint' },
    `Account throttle ${throttleText(l.accountThrottle)}; request timeout ${l.requestTimeoutMs} ms; largest body ${l.maxBodyBytes} bytes.`));
}

// ---- metrics ------------------------------------------------------------------------------

// Sums every series of the Prometheus text by name; histogram buckets by their `le`.
function parseMetrics(text) {
  const sums = {};
  const buckets = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    if (m[1].endsWith('_bucket')) {
      const le = /(?:^|,)le="([^"]*)"/.exec(m[2] || '');
      if (!le) continue;
      const name = m[1].slice(0, -'_bucket'.length);
      const b = (buckets[name] = buckets[name] || {});
      b[le[1]] = (b[le[1]] || 0) + value;
    } else {
      sums[m[1]] = (sums[m[1]] || 0) + value;
    }
  }
  return { sums, buckets };
}

// The q-quantile of cumulative buckets {le: count}, interpolated inside the bucket.
function quantile(q, cum) {
  const les = Object.keys(cum).map((k) => [k === '+Inf' ? Infinity : Number(k), cum[k]])
    .sort((a, b) => a[0] - b[0]);
  if (les.length === 0) return null;
  const total = les[les.length - 1][1];
  if (!(total > 0)) return null;
  const target = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of les) {
    if (count >= target) {
      if (le === Infinity) return prevLe;
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevLe + (le - prevLe) * ((target - prevCount) / inBucket) : le;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function diffBuckets(a, b) {
  const out = {};
  for (const k of Object.keys(b || {})) out[k] = b[k] - ((a || {})[k] || 0);
  return out;
}

async function poll() {
  clearTimeout(state.timer);
  try {
    const [text, live] = await Promise.all([
      call('GET', '/metrics'), call('GET', '/console/api/live'),
    ]);
    const p = parseMetrics(text);
    // The gauge when the gateway exports it; else what this node's hub counts.
    const open = p.sums.gatehouse_websocket_OpenConnections;
    state.samples.push({ t: Date.now(), ...p, ws: open !== undefined ? open : live.websocketSessions });
    if (state.samples.length > KEEP_SAMPLES) state.samples.shift();
    if (!$('page-metrics').hidden) renderMetrics();
  } catch (e) {
    if (e.message === 'unauthorized') return;
    say('Cannot read the metrics: ' + e.message);
  }
  if (state.access) state.timer = setTimeout(poll, POLL_MS);
}

const COLORS = ['#0b5cad', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c'];

// One point per interval between samples.
function series() {
  const s = state.samples;
  const out = [];
  for (let i = 1; i < s.length; i++) {
    const a = s[i - 1];
    const b = s[i];
    const dt = (b.t - a.t) / 1000;
    const d = (name) => Math.max(0, (b.sums[name] || 0) - (a.sums[name] || 0));
    const lat = diffBuckets(a.buckets.gatehouse_Latency, b.buckets.gatehouse_Latency);
    const hits = d('gatehouse_CacheHitCount');
    const misses = d('gatehouse_CacheMissCount');
    out.push({
      requests: d('gatehouse_Count') / dt,
      p50: quantile(0.5, lat), p90: quantile(0.9, lat), p99: quantile(0.99, lat),
      c4: d('gatehouse_4XXError') / dt, c5: d('gatehouse_5XXError') / dt,
      hitRatio: hits + misses > 0 ? (100 * hits) / (hits + misses) : null,
      throttled: d('gatehouse_ThrottledCount') / dt,
      ws: b.ws,
    });
  }
  return out;
}

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return dash;
  return Number(v).toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 1 : digits });
}

function renderMetrics() {
  const last = state.samples[state.samples.length - 1];
  const totals = $('totals');
  totals.replaceChildren();
  if (!last) {
    totals.append(el('div', {}, el('dt', {}, 'Metrics'), el('dd', {}, 'waiting…')));
    return;
  }
  const sum = (n) => last.sums[n] || 0;
  const lat = last.buckets.gatehouse_Latency || {};
  const hits = sum('gatehouse_CacheHitCount');
  const misses = sum('gatehouse_CacheMissCount');
  const tiles = [
    ['Requests', fmt(sum('gatehouse_Count'), 0), 'total-requests'],
    ['4XX errors', fmt(sum('gatehouse_4XXError'), 0)],
    ['5XX errors', fmt(sum('gatehouse_5XXError'), 0)],
    ['Latency p50 (ms)', fmt(quantile(0.5, lat))],
    ['Latency p99 (ms)', fmt(quantile(0.99, lat))],
    ['Cache hit ratio', hits + misses > 0 ? fmt((100 * hits) / (hits + misses)) + ' %' : dash],
    ['Throttled', 'gatehouse_ThrottledCount' in last.sums ? fmt(sum('gatehouse_ThrottledCount'), 0) : 'not reported'],
    ['WebSocket connections', fmt(last.ws, 0)],
  ];
  for (const [name, value, id] of tiles) {
    totals.append(el('div', {}, el('dt', {}, name), el('dd', { id: id || null }, value)));
  }
  const s = series();
  const charts = [
    ['Requests per second', [['requests', 'requests/s']]],
    ['Latency percentiles (ms)', [['p50', 'p50'], ['p90', 'p90'], ['p99', 'p99']]],
    ['Errors per second', [['c4', '4XX/s'], ['c5', '5XX/s']]],
    ['Cache hit ratio (%)', [['hitRatio', 'hits %']], 100],
    ['Throttled per second', [['throttled', 'throttled/s']]],
    ['WebSocket connections', [['ws', 'open']]],
  ];
  const box = $('charts');
  box.replaceChildren();
  for (const [title, lines, top] of charts) box.append(chart(title, lines, s, top));
  box.dataset.points = String(s.length);
}

// A line chart on a canvas, with a legend and the latest values as text for screen readers.
function chart(title, lines, points, top) {
  const canvas = el('canvas', { role: 'img' });
  const latest = lines.map(([k, label]) => `${label} ${fmt(points.length ? points[points.length - 1][k] : null)}`).join(', ');
  canvas.setAttribute('aria-label', `${title}: ${latest || 'no data yet'}`);
  const legend = el('div', { class: 'legend' }, lines.map(([, label], i) => {
    const sw = el('span', { class: 'swatch' });
    sw.style.background = COLORS[i];
    return el('span', {}, sw, label);
  }));
  const fig = el('figure', { class: 'chart' }, el('h3', {}, title), canvas, legend,
    el('p', { class: 'hint' }, 'Latest: ' + (points.length ? latest : 'waiting for two samples')));
  requestAnimationFrame(() => draw(canvas, lines, points, top));
  return fig;
}

function draw(canvas, lines, points, top) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300;
  const h = canvas.clientHeight || 160;
  canvas.width = w * ratio;
  canvas.height = h * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  const left = 44;
  const bottom = h - 18;
  let max = 0;
  for (const p of points) for (const [k] of lines) if (p[k] != null) max = Math.max(max, p[k]);
  max = top || (max > 0 ? max * 1.15 : 1);
  g.strokeStyle = '#d0d7de';
  g.fillStyle = '#57606a';
  g.font = '11px system-ui, sans-serif';
  for (let i = 0; i <= 4; i++) {
    const y = 6 + ((bottom - 6) * i) / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(w - 4, y); g.stroke();
    g.fillText(fmt(max - (max * i) / 4, max < 10 ? 2 : 0), 2, y + 4);
  }
  g.fillText(`last ${Math.round((KEEP_SAMPLES * POLL_MS) / 60000)} min`, left, h - 4);
  const x = (i) => left + ((w - 4 - left) * i) / Math.max(1, KEEP_SAMPLES - 2);
  const y = (v) => bottom - ((bottom - 6) * v) / max;
  lines.forEach(([k], li) => {
    g.strokeStyle = COLORS[li];
    g.lineWidth = 2;
    g.beginPath();
    let drawing = false;
    const offset = KEEP_SAMPLES - 1 - points.length;
    points.forEach((p, i) => {
      if (p[k] == null) { drawing = false; return; }
      const px = x(i + offset);
      const py = y(p[k]);
      if (drawing) g.lineTo(px, py); else g.moveTo(px, py);
      drawing = true;
    });
    g.stroke();
    // A dot on each point, so that a single interval shows too.
    g.fillStyle = COLORS[li];
    points.forEach((p, i) => {
      if (p[k] == null) return;
      g.beginPath();
      g.arc(x(i + offset), y(p[k]), 2.5, 0, 2 * Math.PI);
      g.fill();
    });
  });
}

// ---- API keys -----------------------------------------------------------------------------

async function renderKeys() {
  const c = state.config || { usagePlans: [] };
  const plans = $('key-plans');
  plans.replaceChildren(el('legend', {}, 'Usage plans'));
  for (const p of c.usagePlans) {
    const id = 'plan-' + p.name;
    plans.append(el('label', { for: id }, el('input', { type: 'checkbox', id, name: 'plan', value: p.name }), p.name));
  }
  const ro = state.access === 'read-only';
  for (const e of $('create-key').elements) e.disabled = ro;
  $('plans-body').replaceChildren(table(null, ['Plan', 'Stages', 'Throttle', 'Quota'],
    c.usagePlans.map((p) => [p.name, p.stages.join(', '), throttleText(p.throttle),
      p.quota ? `${p.quota.limit} per ${p.quota.period.toLowerCase()}` : dash])));
  await loadKeys();
}

async function loadKeys() {
  const body = $('keys-body');
  let list;
  try {
    list = (await call('GET', '/apikeys')).items;
  } catch (e) {
    body.replaceChildren(el('p', {}, 'Cannot list keys: ' + e.message));
    return;
  }
  const ro = state.access === 'read-only';
  list.sort((a, b) => a.name.localeCompare(b.name));
  body.replaceChildren(table(null, ['Name', 'Id', 'State', 'Plans', 'Created', 'Source', ''],
    list.map((k) => [
      k.name, el('code', {}, k.id),
      el('span', { class: k.enabled ? 'yes' : 'no' }, k.enabled ? 'enabled' : 'disabled'),
      k.plans.join(', ') || dash,
      new Date(k.created_at * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC',
      k.from_config ? 'config file' : 'admin API',
      el('button', {
        type: 'button', class: 'secondary', disabled: ro,
        'aria-label': `${k.enabled ? 'Disable' : 'Enable'} key ${k.name}`,
        onclick: () => setEnabled(k, !k.enabled),
      }, k.enabled ? 'Disable' : 'Enable'),
    ])));
}

async function setEnabled(key, enabled) {
  try {
    await call('PATCH', '/apikeys/' + encodeURIComponent(key.id), { enabled });
    say(`Key ${key.name} ${enabled ? 'enabled' : 'disabled'}.`, true);
  } catch (e) {
    say('Cannot change the key: ' + e.message);
  }
  await loadKeys();
}

$('create-key').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const plans = [...form.querySelectorAll('input[name=plan]:checked')].map((i) => i.value);
  try {
    const k = await call('POST', '/apikeys', { name: form.elements.name.value, plans });
    const out = $('created');
    out.replaceChildren('Created key ', el('strong', {}, k.name), ' (', el('code', {}, k.id),
      '). Its value, shown only now: ', el('code', { id: 'created-value' }, k.value));
    out.hidden = false;
    form.elements.name.value = '';
    say('');
  } catch (e) {
    say('Cannot create the key: ' + e.message);
  }
  await loadKeys();
});

// ---- plugins ------------------------------------------------------------------------------

async function renderPlugins() {
  const body = $('plugins-body');
  let items;
  let reloads = [];
  try {
    [items, reloads] = await Promise.all([
      call('GET', '/console/api/plugins').then((r) => r.items),
      call('GET', '/console/api/reloads').then((r) => r.items),
    ]);
  } catch (e) {
    body.replaceChildren(el('p', {}, 'Cannot list plugins: ' + e.message));
    return;
  }
  const loads = reloads.filter((r) => r.errors.length === 0).length;
  body.replaceChildren(
    items.length === 0 ? el('p', {}, 'The served config loads no plugin.') :
      table(null, ['Plugin', 'World', 'Digest', 'Calls', 'Failures', 'Instances', 'Limits', 'Used by'], items.map((p) => [
        p.name, p.world, el('code', {}, p.digest), String(p.calls), String(p.failures),
        p.instances.policy === 'fresh' ? 'fresh per call' :
          `reused${p.instances.maxCalls ? `, ${p.instances.maxCalls} calls each` : ''}, idle ${p.instances.maxIdleMs / 1000}s`,
        [`${p.timeoutMs ? p.timeoutMs + ' ms' : 'world default deadline'}`,
          `${Math.round(p.memoryBytes / 1048576)} MiB`, p.fuel ? `fuel ${p.fuel}` : null,
          p.outboundHttp ? 'outbound HTTP' : null].filter(Boolean).join(', '),
        el('ul', {}, p.usedBy.map((u) => el('li', {}, u))),
      ])),
    el('p', { class: 'hint' },
      `Plugins are loaded again on every config load: ${loads} successful load${loads === 1 ? '' : 's'} since start (see Reloads). ` +
      'Calls and failures (a trap, the deadline, the memory cap, fuel) count since the plugin was last loaded.'));
}

// ---- reloads ------------------------------------------------------------------------------

async function renderReloads() {
  const body = $('reloads-body');
  let items;
  try {
    items = (await call('GET', '/console/api/reloads')).items;
  } catch (e) {
    body.replaceChildren(el('p', {}, 'Cannot list reloads: ' + e.message));
    return;
  }
  body.replaceChildren(table('Recent loads, newest first', ['Time', 'Kind', 'Result', 'Errors'],
    items.slice().reverse().map((r) => [
      new Date(r.at_ms).toISOString().replace('T', ' ').slice(0, 23) + ' UTC', r.kind,
      el('span', { class: r.errors.length ? 'no' : 'yes' }, r.errors.length ? 'refused' : 'serving'),
      r.errors.length ? el('pre', {}, r.errors.join('\n')) : dash,
    ])));
}

$('reload-now').addEventListener('click', async () => {
  try {
    await call('POST', '/reload');
    say('Config reloaded.', true);
    await loadConfig();
  } catch (e) {
    say('Reload refused: ' + e.message);
  }
  renderReloads();
});

// ---- test invoke --------------------------------------------------------------------------

function renderInvoke() {
  const pick = $('invoke-pick');
  const keep = pick.value;
  pick.replaceChildren(el('option', { value: '' }, 'Choose a method…'));
  for (const api of (state.config || { apis: [] }).apis) {
    if (api.protocol !== 'rest') continue;
    for (const s of api.stages) {
      for (const r of api.resources) {
        for (const m of r.methods) {
          const method = m.method === 'ANY' ? 'GET' : m.method;
          const path = (s.basePath === '/' ? '' : s.basePath) + r.path;
          pick.append(el('option', { value: JSON.stringify([method, path, s.host || '']) },
            `${api.name} / ${s.name}: ${m.method} ${r.path}`));
        }
      }
    }
  }
  pick.value = keep;
  $('invoke').querySelector('button').disabled = state.access === 'read-only';
}

$('invoke-pick').addEventListener('change', (ev) => {
  if (!ev.target.value) return;
  const [method, path, host] = JSON.parse(ev.target.value);
  $('invoke-method').value = method;
  $('invoke-path').value = path;
  $('invoke-host').value = host;
});

$('invoke').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const headers = {};
  for (const line of $('invoke-headers').value.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const out = $('invoke-result');
  out.replaceChildren(el('p', {}, 'Sending…'));
  let r;
  try {
    r = await call('POST', '/console/api/test-invoke', {
      method: $('invoke-method').value, path: $('invoke-path').value,
      host: $('invoke-host').value, headers, body: $('invoke-body').value,
    });
  } catch (e) {
    out.replaceChildren(el('p', { class: 'no' }, 'The test invoke failed: ' + e.message));
    return;
  }
  const hdrs = (list) => list.map(([k, v]) => `${k}: ${v}`).join('\n');
  const ir = r.integrationRequest;
  out.replaceChildren(
    el('h3', {}, 'Response status ', el('span', { id: 'invoke-status', class: r.response.status < 400 ? 'yes' : 'no' }, String(r.response.status)),
      ` in ${fmt(r.latencyMs)} ms`),
    el('p', { class: 'hint' }, 'Request id ', el('code', {}, r.requestId)),
    el('h3', {}, 'Request'),
    el('pre', {}, `${r.request.method} ${r.request.path}\n${hdrs(r.request.headers)}${r.request.body ? '\n\n' + r.request.body : ''}`),
    el('h3', {}, 'Stages'),
    el('div', { class: 'scroll decisions' }, el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Stage'), el('th', { scope: 'col' }, 'Decision'))),
      el('tbody', {}, r.decisions.map((d) => el('tr', {}, el('td', {}, d.stage), el('td', {}, d.decision)))))),
    el('h3', {}, 'Integration request'),
    el('pre', {}, ir ? [ir.type, ir.method, ir.uri || ir.plugin].filter(Boolean).join(' ') : 'none: no method matched'),
    el('h3', {}, 'Response'),
    el('pre', {}, `${r.response.status}\n${hdrs(r.response.headers)}\n\n${r.response.body}${r.response.bodyTruncated ? '\n… (cut at 64 KiB)' : ''}`));
  const heading = out.querySelector('h3');
  heading.tabIndex = -1;
  heading.focus();
});

// ---- start --------------------------------------------------------------------------------

// After every deferred script has run, so that the other pages' code is there.
document.addEventListener('DOMContentLoaded', () => {
  if (state.token !== null) {
    start();
  } else {
    // Without a stored token, see whether the admin listener needs one at all.
    fetch('/console/api/session', { cache: 'no-store' }).then((r) => {
      if (r.ok) { state.token = ''; start(); } else logout('');
    }, () => logout('Cannot reach the admin API.'));
  }
});
