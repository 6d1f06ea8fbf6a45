// The browser half of tests/gateway/test_monitor_browser.py: Debian's chromium (headless, via
// playwright-core, as tests/wallet does) opens the gateway's monitoring page, checks the
// counters and the flow graph drawn from the YAML in Chinese, switches to English, and checks
// again. Prints "OK <json>" or "FAIL <why>"; screenshots go to $ARTIFACTS.
//
// env: MONITOR_URL, ARTIFACTS, CHROMIUM, EXPECT (JSON: {held, dead, consumed})
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { MONITOR_URL, ARTIFACTS } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const EXPECT = JSON.parse(process.env.EXPECT || '{}');
const problems = [];

function check(cond, what) { if (!cond) problems.push(what); }

async function readView(page) {
  return page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.querySelector('#title').textContent,
    held: document.querySelector('#c-held').textContent,
    dead: document.querySelector('#c-dead').textContent,
    flows: [...document.querySelectorAll('#flows tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
    nodes: [...document.querySelectorAll('.graph[data-flow="lab-results"] g.node')].map((g) => g.dataset.id),
    edges: document.querySelectorAll('.graph[data-flow="lab-results"] line.edge').length,
    hl7Nodes: [...document.querySelectorAll('.graph[data-flow="hl7-lab"] g.node')].map((g) => g.dataset.id),
    body: document.body.innerText,
  }));
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 1400 }, locale: 'zh-CN' });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
    page.setDefaultTimeout(20000);
    await page.goto(MONITOR_URL);
    await page.waitForFunction(() => document.querySelectorAll('.graph').length > 0);
    const zh = await readView(page);
    await page.screenshot({ path: join(ARTIFACTS, '01-monitor-zh.png'), fullPage: true });
    check(zh.lang === 'zh-CN', `starts in ${zh.lang}, not zh-CN`);
    check(zh.title === '网关监控', `Chinese title is ${zh.title}`);
    check(zh.held === String(EXPECT.held), `held card shows ${zh.held}, expected ${EXPECT.held}`);
    check(zh.dead === String(EXPECT.dead), `dead-letter card shows ${zh.dead}, expected ${EXPECT.dead}`);
    const lab = zh.flows.find((r) => r[0] === 'lab-results');
    check(lab && lab[1] === '数据库变更' && lab[2] === String(EXPECT.consumed), `lab-results row is ${JSON.stringify(lab)}`);
    check(JSON.stringify(zh.nodes) === JSON.stringify(['source', 'observation', 'share']), `lab graph nodes ${zh.nodes}`);
    check(zh.edges === 2, `lab graph has ${zh.edges} edges`);
    check(zh.hl7Nodes.length === 5, `hl7 graph nodes ${zh.hl7Nodes}`);
    await page.click('#lang');
    const en = await readView(page);
    await page.screenshot({ path: join(ARTIFACTS, '02-monitor-en.png'), fullPage: true });
    check(en.lang === 'en' && en.title === 'Gateway monitor', `English view: ${en.lang} ${en.title}`);
    check(en.body.includes('Dead letters') && en.body.includes('database changes'), 'English labels missing');
    await page.reload();
    const again = await readView(page);
    check(again.lang === 'en', 'the language choice is not kept on reload');
    for (const view of [zh, en]) {
      const bad = view.body.match(/\b(null|undefined|NaN)\b/);
      if (bad) problems.push(`the page shows ${bad[0]}`);
    }
    if (problems.length) throw new Error(problems.join('; '));
    process.stdout.write(`OK ${JSON.stringify({ zh: zh.title, en: en.title })}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => { process.stdout.write(`FAIL ${err.message}\n`); process.exit(1); });
