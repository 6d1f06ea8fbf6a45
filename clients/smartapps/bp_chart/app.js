// index.html (the redirect URI): code → token (PKCE), then `fhir.search` Observation of the
// patient in context, asked of the framing page, drawn as an inline SVG with a table. A
// refusal (an OperationOutcome) is shown as such; "read again" asks again with the same
// token — after the patient revoked the app, the page refuses it.
// document.body.dataset.state: loading | ready | refused | error (the browser test waits on it).
import { geometry, readings } from './chart.js';
import { locale, t } from './i18n.js';
import { ask, exchange, takeFlow } from './smart.js';

const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
let token = null;
let origin = '';

function show(state, key, extra = '') {
  document.body.dataset.state = state;
  $('status').textContent = state === 'loading' ? t(key) : '';
  const box = $('error');
  box.hidden = state !== 'refused' && state !== 'error';
  box.textContent = box.hidden ? '' : t(key) + extra;
}

function el(name, attrs = {}, text = null, ns = SVG) {
  const node = document.createElementNS(ns, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

function fmtDate(date) {
  const d = new Date(date);
  return Number.isNaN(d.getTime()) ? String(date ?? '') : d.toLocaleDateString(locale);
}

function drawChart(list) {
  const g = geometry(list);
  const svg = el('svg', { viewBox: `0 0 ${g.width} ${g.height}`, width: g.width, height: g.height, role: 'img', 'aria-label': t('chartLabel'), id: 'bp-svg' });
  svg.append(el('title', {}, t('chartLabel')));
  for (const tick of g.ticks) {
    svg.append(el('line', { x1: g.pad, x2: g.width - g.pad, y1: tick.y, y2: tick.y, stroke: '#e5e7eb' }));
    svg.append(el('text', { x: g.pad - 6, y: tick.y + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#6b7280' }, String(tick.value)));
  }
  for (const [key, colour] of [['systolic', '#dc2626'], ['diastolic', '#2563eb']]) {
    const points = g[key];
    if (points.length > 1) svg.append(el('polyline', { points: points.map((p) => `${p.x},${p.y}`).join(' '), fill: 'none', stroke: colour, 'stroke-width': 2, class: `line-${key}` }));
    for (const p of points) svg.append(el('circle', { cx: p.x, cy: p.y, r: 4, fill: colour, class: `point-${key}` }, null));
  }
  list.forEach((r, i) => {
    const p = g.systolic[i] ?? g.diastolic[i];
    if (p) svg.append(el('text', { x: p.x, y: g.height - g.pad + 16, 'text-anchor': 'middle', 'font-size': 11, fill: '#6b7280' }, fmtDate(r.date)));
  });
  return svg;
}

function drawTable(list) {
  const H = 'http://www.w3.org/1999/xhtml';
  const table = el('table', { id: 'bp-table', 'aria-label': t('tableLabel') }, null, H);
  const head = el('tr', {}, null, H);
  for (const key of ['date', 'systolic', 'diastolic', 'unit']) head.append(el('th', { scope: 'col' }, t(key), H));
  table.append(head);
  for (const r of list) {
    const row = el('tr', { class: 'reading' }, null, H);
    const unit = r.systolic?.unit || r.diastolic?.unit || '';
    row.append(el('td', {}, fmtDate(r.date), H), el('td', { class: 'sys' }, r.systolic?.value ?? '–', H), el('td', { class: 'dia' }, r.diastolic?.value ?? '–', H), el('td', {}, unit, H));
    table.append(row);
  }
  return table;
}

function render(bundle) {
  const list = readings(bundle);
  const box = $('chart');
  box.replaceChildren();
  if (!list.length) {
    box.append(Object.assign(document.createElement('p'), { textContent: t('none'), id: 'bp-none' }));
  } else {
    const legend = Object.assign(document.createElement('p'), { className: 'legend' });
    legend.innerHTML = '<span class="sys">●</span><span class="dia">●</span>';
    legend.children[0].append(` ${t('systolic')}`);
    legend.children[1].append(` ${t('diastolic')}`);
    legend.append(t('count', { n: list.length }));
    box.append(legend, drawChart(list), drawTable(list));
  }
  show('ready');
}

async function load() {
  show('loading', 'loading');
  try {
    const payload = await ask(window.parent, origin, token.access_token, 'fhir.search', { resourceType: 'Observation', params: { patient: token.patient } });
    if (payload?.resourceType === 'OperationOutcome') {
      $('chart').replaceChildren();
      const why = (payload.issue ?? []).map((i) => i.diagnostics || i.code).filter(Boolean).join('; ');
      show('refused', 'refused', why);
      return;
    }
    render(payload);
  } catch (err) {
    show('error', err.message === 'timeout' ? 'timeout' : 'failed', err.message === 'timeout' ? '' : err.message);
  }
}

async function main() {
  document.getElementById('title').textContent = t('title');
  document.title = t('title');
  const refresh = $('refresh');
  refresh.textContent = t('refresh');
  refresh.setAttribute('aria-label', t('refreshLabel'));
  refresh.addEventListener('click', load);
  const query = new URLSearchParams(location.search);
  const flow = takeFlow(query.get('state'));
  if (query.get('error')) { show('refused', 'denied', query.get('error_description') ? ` (${query.get('error_description')})` : ''); return; }
  if (!flow) { show('error', 'badState'); return; }
  if (window.parent === window) { show('error', 'noParent'); return; }
  show('loading', 'exchanging');
  token = await exchange(flow, query.get('code'));
  history.replaceState(null, '', location.pathname); // the code is spent: not kept in the URL
  origin = new URL(flow.iss).origin;
  $('patient').textContent = `${t('patient')}: ${token.patient ?? ''}`;
  refresh.hidden = false;
  await load();
}

main().catch((err) => show('error', 'failed', err.message));
