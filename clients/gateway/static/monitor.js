// The gateway's monitoring page: counters per flow, topic and source from /monitor/state,
// refreshed every two seconds, in Chinese (default) or English, and each flow drawn from its
// YAML (nodes and edges, read-only: columns by depth from the source).
'use strict';

const TEXT = {
  'zh-CN': {
    title: '网关监控', digest: '配置摘要', shared: '已共享', pending: '待共享', held: '待关联钱包',
    awaitingKey: '待患者注册密钥',
    dead: '死信', flows: '流程', flow: '流程', source: '来源', consumed: '消费', produced: '生产',
    failed: '失败', deadLettered: '进入死信', sharedCol: '共享', sources: '数据源延迟',
    sourceName: '数据源', lag: '源延迟 (毫秒)', topics: '主题', topic: '主题', consumerLag: '消费积压',
    graphs: '流程图 (只读，由 YAML 生成)', updated: '更新于', none: '暂无', switchTo: 'English',
    error: '无法读取状态', kinds: { capture: '数据库变更', mllp: 'HL7 MLLP', api: 'API', topic: '主题' },
  },
  en: {
    title: 'Gateway monitor', digest: 'config digest', shared: 'Shared', pending: 'Pending', held: 'Held (no wallet)',
    awaitingKey: "Awaiting the patient's key",
    dead: 'Dead letters', flows: 'Flows', flow: 'Flow', source: 'Source', consumed: 'Consumed', produced: 'Produced',
    failed: 'Failed', deadLettered: 'Dead-lettered', sharedCol: 'Shared', sources: 'Source lag',
    sourceName: 'Source', lag: 'Lag (ms)', topics: 'Topics', topic: 'Topic', consumerLag: 'Consumer lag',
    graphs: 'Flow graphs (read-only, drawn from the YAML)', updated: 'updated', none: 'none', switchTo: '中文',
    error: 'cannot read the state', kinds: { capture: 'database changes', mllp: 'HL7 MLLP', api: 'API', topic: 'topic' },
  },
};
const params = new URLSearchParams(location.search);
let lang = params.get('lang') || localStorage.getItem('gateway.lang') || (navigator.language.startsWith('zh') ? 'zh-CN' : 'en');
if (!TEXT[lang]) lang = 'zh-CN';
let last = null;

function t(key) { return TEXT[lang][key]; }
function num(value) { return Number.isFinite(value) ? Math.round(value).toLocaleString(lang) : '0'; }
function el(tag, attrs = {}, text = '') {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.textContent = text;
  return node;
}
function svg(tag, attrs = {}, text = '') {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = `${t('title')} · MedLedger`;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  document.getElementById('lang').textContent = t('switchTo');
  if (last) render(last);
}

function rows(tbody, items) {
  tbody.replaceChildren();
  if (!items.length) {
    const tr = el('tr');
    tr.appendChild(el('td', { colspan: '7' }, t('none')));
    tbody.appendChild(tr);
  }
  for (const cells of items) {
    const tr = el('tr');
    for (const [value, isNum] of cells) tr.appendChild(el('td', isNum ? { class: 'num' } : {}, isNum ? num(value) : value));
    tbody.appendChild(tr);
  }
}

function drawFlow(flow) {
  const depth = { source: 0 };
  const incoming = {};
  for (const e of flow.edges) (incoming[e.to] ||= []).push(e.from.split('.')[0]);
  const order = flow.nodes.map((n) => n.id);
  for (let pass = 0; pass < order.length; pass += 1) {
    for (const id of order) {
      if (id === 'source') continue;
      const parents = incoming[id] || ['source'];
      depth[id] = Math.max(...parents.map((p) => (depth[p] ?? 0) + 1));
    }
  }
  const columns = {};
  for (const id of order) (columns[depth[id] || 0] ||= []).push(id);
  const W = 150, H = 56, GX = 40, GY = 18;
  const pos = {};
  let height = 0;
  for (const [col, ids] of Object.entries(columns)) {
    ids.forEach((id, i) => { pos[id] = { x: 10 + col * (W + GX), y: 10 + i * (H + GY) }; });
    height = Math.max(height, ids.length * (H + GY));
  }
  const width = 20 + Object.keys(columns).length * (W + GX);
  const root = svg('svg', { width, height: height + 20, role: 'img', 'aria-label': flow.name });
  const defs = svg('defs');
  const marker = svg('marker', { id: `arrow-${flow.name}`, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' });
  marker.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#5b6b7b' }));
  defs.appendChild(marker);
  root.appendChild(defs);
  for (const e of flow.edges) {
    const a = pos[e.from.split('.')[0]], b = pos[e.to];
    if (!a || !b) continue;
    root.appendChild(svg('line', { x1: a.x + W, y1: a.y + H / 2, x2: b.x, y2: b.y + H / 2, stroke: '#5b6b7b', 'marker-end': `url(#arrow-${flow.name})`, class: 'edge' }));
    if (e.from.includes('.')) root.appendChild(svg('text', { x: (a.x + W + b.x) / 2 - 10, y: (a.y + b.y) / 2 + H / 2 - 4, fill: '#5b6b7b' }, e.from.split('.')[1]));
  }
  for (const n of flow.nodes) {
    const p = pos[n.id];
    const g = svg('g', { class: 'node', 'data-id': n.id });
    g.appendChild(svg('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6, fill: n.id === 'source' ? '#dbeafe' : '#f1f5f9', stroke: '#0b5394' }));
    g.appendChild(svg('text', { x: p.x + 8, y: p.y + 22, 'font-weight': 600 }, n.id === 'source' ? (t('kinds')[n.type] || n.type) : n.id));
    g.appendChild(svg('text', { x: p.x + 8, y: p.y + 42, fill: '#5b6b7b' }, n.type));
    root.appendChild(g);
  }
  return root;
}

function render(state) {
  last = state;
  document.getElementById('gateway').textContent = `${state.gateway} (${state.institution})`;
  document.getElementById('digest').textContent = state.digest.slice(0, 18);
  const sink = state.sink || {};
  document.getElementById('c-shared').textContent = num(sink.shared || 0);
  document.getElementById('c-pending').textContent = num(sink.pending || 0);
  document.getElementById('c-held').textContent = num(sink.held || 0);
  document.getElementById('c-awaiting-key').textContent = num(sink.awaiting_key || 0);
  document.getElementById('c-dead').textContent = num(state.dead_letters_open || 0);
  rows(document.querySelector('#flows tbody'), state.flows.map((f) => [
    [f.name], [t('kinds')[f.source] || f.source], [f.counters.consumed || 0, true], [f.counters.produced || 0, true],
    [f.counters.failed || 0, true], [f.counters.dead_lettered || 0, true], [f.counters.shared || 0, true],
  ]));
  rows(document.querySelector('#sources tbody'), Object.entries(state.sources).map(([name, s]) => [[name], [s.lag_ms || 0, true]]));
  rows(document.querySelector('#topics tbody'), Object.entries(state.topics).map(([name, s]) => [
    [name], [s.produced || 0, true], [s.consumed || 0, true], [s.consumer_lag || 0, true],
  ]));
  const graphs = document.getElementById('graphs');
  graphs.replaceChildren();
  for (const flow of state.flows) {
    const box = el('div', { class: 'graph', 'data-flow': flow.name });
    box.appendChild(el('h3', {}, `${flow.name} · v${flow.version}${flow.description ? ' · ' + flow.description : ''}`));
    box.appendChild(drawFlow(flow));
    graphs.appendChild(box);
  }
  document.getElementById('status').textContent = `${t('updated')} ${new Date().toLocaleTimeString(lang)}`;
}

async function refresh() {
  try {
    const response = await fetch('/monitor/state', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(String(response.status));
    render(await response.json());
  } catch (err) {
    document.getElementById('status').textContent = `${t('error')}: ${err.message}`;
  }
}

document.getElementById('lang').addEventListener('click', () => {
  lang = lang === 'en' ? 'zh-CN' : 'en';
  localStorage.setItem('gateway.lang', lang);
  applyLanguage();
});
applyLanguage();
refresh();
setInterval(refresh, 2000);
