// The console's Usage page: `GET /usage` for a range of days (UTC), a table per stage with a row
// per day and the totals, and a table per usage plan with each key's requests per day, the
// plan's quota and what each key has left. Uses console.js's helpers (el, call, say, fmt).
'use strict';

const USAGE_DAYS = 7;

// YYYY-MM-DD of a Date, in UTC (as the gateway counts days).
function isoDay(d) { return d.toISOString().slice(0, 10); }

function todayUtc() { return isoDay(new Date()); }

// The range the form starts with: the last USAGE_DAYS days, today included.
function defaultRange() {
  const end = new Date();
  const start = new Date(end.getTime() - (USAGE_DAYS - 1) * 86400000);
  return [isoDay(start), isoDay(end)];
}

// A table of numbers: the first column names the row, the rest are right-aligned; `foot`
// (optional) is the totals row.
function numberTable(caption, head, rows, foot) {
  const cell = (c) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', { class: 'num' }, c));
  const row = (r, tag) => el('tr', {}, el(tag, { scope: 'row' }, r[0]), r.slice(1).map(cell));
  return el('div', { class: 'scroll' },
    el('table', { class: 'usage' },
      el('caption', {}, el('span', { class: 'pin' }, caption)),
      el('thead', {}, el('tr', {}, head.map((h, i) => el('th', { scope: 'col', class: i ? 'num' : null }, h)))),
      el('tbody', {}, rows.map((r) => row(r, 'th'))),
      foot ? el('tfoot', {}, row(foot, 'th')) : null));
}

// Which of the stage report's dimensions the API has: WebSocket APIs count connection minutes
// and messages, REST APIs requests, bytes and cache lookups.
const REST_DIMENSIONS = [['requests', 'Requests'], ['bytes_in', 'Bytes in'], ['bytes_out', 'Bytes out'],
  ['cache_hits', 'Cache hits'], ['cache_misses', 'Cache misses']];
const WS_DIMENSIONS = [['websocket_connection_minutes', 'Connection minutes'], ['websocket_messages', 'Messages']];

function dimensionsOf(apiName) {
  const api = ((state.config || { apis: [] }).apis).find((a) => a.name === apiName);
  if (!api) return REST_DIMENSIONS.concat(WS_DIMENSIONS);
  return api.protocol === 'websocket' ? WS_DIMENSIONS : REST_DIMENSIONS;
}

function stageTable(s) {
  const dims = dimensionsOf(s.api);
  const totals = dims.map(([k]) => s.days.reduce((sum, d) => sum + (d[k] || 0), 0));
  return numberTable(`${s.api} / ${s.stage}`, ['Day'].concat(dims.map(([, label]) => label)),
    s.days.map((d) => [d.date].concat(dims.map(([k]) => fmt(d[k], 0)))),
    ['Total'].concat(totals.map((t) => fmt(t, 0))));
}

function quotaText(q) {
  if (!q) return 'no quota';
  return `quota ${fmt(q.limit, 0)} per ${q.period.toLowerCase()}`;
}

// Keys as rows, days as columns; then each key's total and what its quota leaves on the
// range's last day (today, unless the range ends earlier). Cells carry data-cell="KEY/DATE",
// "KEY/total" and "KEY/left" within the plan's table (data-plan) for those who read the page.
function planTable(p) {
  const days = p.keys.length ? p.keys[0].days.map((d) => d.date) : [];
  const last = days[days.length - 1] || p.endDate;
  const leftHead = last === todayUtc() ? 'Left today' : `Left on ${last}`;
  const head = ['Key'].concat(days.map((d) => el('abbr', { title: d }, d.slice(5))), ['Total', leftHead]);
  const rows = p.keys.map((k) => {
    const total = k.days.reduce((sum, d) => sum + d.requests, 0);
    const lastDay = k.days[k.days.length - 1];
    const left = !p.quota ? dash : (lastDay && lastDay.quota_remaining != null ? fmt(lastDay.quota_remaining, 0) : dash);
    const td = (col, text) => el('td', { class: 'num', 'data-cell': `${k.name}/${col}` }, text);
    return [k.name].concat(k.days.map((d) => td(d.date, fmt(d.requests, 0))), [td('total', fmt(total, 0)), td('left', left)]);
  });
  const box = numberTable(`${p.usagePlanId}: ${quotaText(p.quota)}`, head, rows);
  box.firstChild.setAttribute('data-plan', p.usagePlanId);
  if (p.keys.length === 0) box.append(el('p', { class: 'hint' }, 'No key is in this plan.'));
  return box;
}

async function renderUsage() {
  const form = $('usage-range');
  if (!form.elements.start.value || !form.elements.end.value) {
    const [start, end] = defaultRange();
    form.elements.start.value = start;
    form.elements.end.value = end;
  }
  await loadUsage();
}

async function loadUsage() {
  const form = $('usage-range');
  const q = new URLSearchParams({ start: form.elements.start.value, end: form.elements.end.value });
  const stages = $('usage-stages');
  const plans = $('usage-plans');
  let r;
  try {
    r = await call('GET', '/usage?' + q);
  } catch (e) {
    stages.replaceChildren(el('p', {}, 'Cannot read the usage report: ' + e.message));
    plans.replaceChildren();
    return;
  }
  stages.replaceChildren(...(r.stages.length ? r.stages.map(stageTable) : [el('p', {}, 'No stage is configured.')]));
  plans.replaceChildren(...(r.plans.length ? r.plans.map(planTable) : [el('p', {}, 'No usage plan is configured.')]));
  stages.dataset.range = `${r.start}/${r.end}`;
  showLatestDays();
}

// A plan's table wider than the window scrolls sideways: show its right end (the latest days,
// the totals and what is left), as the stage tables show the latest day last.
function showLatestDays() {
  for (const box of $('usage-plans').querySelectorAll('.scroll')) box.scrollLeft = box.scrollWidth;
}
window.addEventListener('resize', () => { if (!$('page-usage').hidden) showLatestDays(); });

$('usage-range').addEventListener('submit', (ev) => {
  ev.preventDefault();
  loadUsage();
});
