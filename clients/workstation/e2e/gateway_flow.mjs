// The browser half of tests/workstation/test_browser_gateway.py: the GP finds a patient by
// hospital patient id through the hospital gateway's index (Debian's chromium, headless,
// playwright-core, 1280×800). Prints "RESULT <json>" or "FAIL <why>"; screenshots to $ARTIFACTS.
//
// env: WS_URL, ARTIFACTS, CHROMIUM, PASSWORD, KEYSTORE, MRN, GATEWAY_KEY, RECORD
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const problems = [];
const result = {};
let shot = 0;
let page = null;

async function screenshot(name) {
  shot += 1;
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\b(?:gateway|patient)\.[a-zA-Z_]+\b/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(env.ARTIFACTS, `gw-${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function find(id, key) {
  await page.fill('#patient-mrn', id);
  await page.fill('#gateway-key', key);
  await page.click('#mrn-find');
}

async function main() {
  mkdirSync(env.ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN', deviceScaleFactor: 1 });
    page = await context.newPage();
    page.setDefaultTimeout(30000);
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // the refused lookups (404, 403) are expected
      if (msg.type() === 'error' && !/status of 40[134]/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    await page.goto(env.WS_URL);
    await page.setInputFiles('#import-file', env.KEYSTORE);
    await page.fill('#import-name', 'wang-fang');
    await page.fill('#import-password', env.PASSWORD);
    await page.click('#import-button');
    await page.locator('#signin-button:not([disabled])').waitFor();
    await page.click('#signin-button');
    await page.locator('#profile').waitFor();
    await page.click('#nav-patient');
    await page.locator('#mrn-form').waitFor();

    await find('ZY-NOT-LINKED', env.GATEWAY_KEY);
    await page.locator('#patient-error', { hasText: '尚未' }).waitFor();
    result.notLinked = await page.locator('#patient-error').innerText();
    await screenshot('not-linked');
    await find(env.MRN, 'workstation.not-the-secret');
    await page.locator('#patient-error', { hasText: '密钥' }).waitFor();
    result.badKey = await page.locator('#patient-error').innerText();
    await screenshot('bad-key');
    await find(env.MRN, env.GATEWAY_KEY);
    await page.locator(`.record[data-record="${env.RECORD}"]`).waitFor();
    result.address = await page.locator('#patient-address').inputValue();
    result.listed = await page.locator('.record').count();
    await screenshot('found');
  } catch (err) {
    if (page) await page.screenshot({ path: join(env.ARTIFACTS, 'gw-failure.png') }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
  result.problems = problems;
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stdout.write(`FAIL ${String(err?.stack ?? err).replace(/\n/g, ' | ')} ${JSON.stringify({ result, problems })}\n`);
  process.exit(1);
});
