// The browser half of tests/workstation/test_browser_smart_app.py: a SMART app launched from
// the patient chart (Debian's chromium, headless, playwright-core, 1280×800, zh-CN).
//
// The cardiologist signs in, opens the patient's chart, opens Apps (应用) and launches the
// blood-pressure app her institution installed. The app — served from http://localhost:<port>,
// another origin than the workstation's http://127.0.0.1:<port> — registers, goes to the
// authorisation page, which hands the request to the workstation: the consent dialog shows the
// scopes in plain language, she approves (the AppAuthorization signed in the page). The app
// exchanges its code and asks the page for the patient's Observations: the page introspects,
// reads and decrypts for it, and the app draws the chart with the values. Then the script
// prints "WAITING revoke" and waits for a line on stdin: the test has the patient revoke the
// app on chain meanwhile. The app reads again and shows the refusal.
// Prints "RESULT <json>" or "FAIL <why>"; a screenshot of every step goes to $ARTIFACTS.
//
// Last, the patient's wallet lists the app under Connected apps (已连接应用), revoked, with who
// authorised it and the transaction.
// env: WS_URL, WALLET_URL, ARTIFACTS, CHROMIUM, PASSWORD, CARDIO_KEYSTORE, PATIENT_KEYSTORE,
//      PATIENT, APP_ID
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const env = process.env;
const problems = [];
const result = {};
let shot = 0;
let page = null;

async function screenshot(name) {
  shot += 1;
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\bsmart\.[a-zA-Z.]+\b/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(env.ARTIFACTS, `smart-${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function unlabelled() {
  // every visible control has an accessible name (label, aria-label or text of a button)
  return page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select, button')]
    .filter((el) => el.offsetParent !== null)
    .filter((el) => {
      const id = el.id;
      const labelled = (id && document.querySelector(`label[for="${id}"]`)) || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      return !labelled && !(el.tagName === 'BUTTON' && el.innerText.trim());
    })
    .map((el) => el.id || el.outerHTML.slice(0, 80)));
}

function nextLine() {
  const rl = createInterface({ input: process.stdin });
  return new Promise((resolve) => rl.once('line', (line) => { rl.close(); resolve(line); }));
}

async function main() {
  mkdirSync(env.ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN', deviceScaleFactor: 1 });
    page = await context.newPage();
    page.setDefaultTimeout(60000);
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    await page.goto(env.WS_URL);
    await page.locator('#sign-in').waitFor();
    await page.setInputFiles('#import-file', env.CARDIO_KEYSTORE);
    await page.fill('#import-name', 'li-ming');
    await page.fill('#import-password', env.PASSWORD);
    await page.click('#import-button');
    await page.locator('#signin-button:not([disabled])').waitFor();
    await page.click('#signin-button');
    await page.locator('#nav-patient').waitFor();

    // the chart, then Apps
    await page.click('#nav-patient');
    await page.fill('#patient-address', env.PATIENT);
    await page.click('#patient-load');
    await page.locator('#timeline .record').first().waitFor();
    result.records = await page.locator('#timeline .record').count();
    await screenshot('chart');
    await page.click('#smart-apps-open');
    const launch = page.locator(`.smart-launch[data-app="${env.APP_ID}"]`);
    await launch.waitFor();
    result.appList = await page.locator('#smart-app-list').innerText();
    result.listUnlabelled = await unlabelled();
    await screenshot('apps-list');
    await launch.click();

    // the consent dialog (the authorisation page handed the request to this page)
    await page.locator('#smart-approve:not([disabled])').waitFor();
    result.consentTitle = await page.locator('#smart-consent .el-dialog__title, #smart-consent header').first().innerText();
    result.consentScopes = await page.locator('.smart-scope').allInnerTexts();
    result.consentPatient = await page.locator('#smart-consent-patient').innerText();
    result.consentUnlabelled = await unlabelled();
    await screenshot('consent');
    await page.click('#smart-approve');
    await page.locator('#smart-notice').waitFor();
    result.notice = await page.locator('#smart-notice').innerText();

    // the app draws the chart from what the page decrypted for it
    const app = page.frameLocator('#smart-frame');
    await app.locator('body[data-state="ready"]').waitFor({ timeout: 120000 });
    result.frameUrl = page.frames().find((f) => f.url().includes('/apps/bp_chart/'))?.url() ?? '';
    result.pageOrigin = await page.evaluate(() => window.location.origin);
    result.rows = await app.locator('#bp-table tr.reading').allInnerTexts();
    result.points = await app.locator('#bp-svg circle').count();
    result.appTitle = await app.locator('h1').innerText();
    result.reads = await page.locator('#smart-reads').innerText();
    // the app cannot reach the page: another origin, even with allow-same-origin
    result.appReachesParent = await page.frames().find((f) => f.url().includes('/apps/bp_chart/'))
      ?.evaluate(() => { try { return Boolean(window.parent.document); } catch { return false; } });
    await screenshot('app-chart');

    // the patient revokes the app on chain (the test does it), then the app reads again
    console.log('WAITING revoke');
    const line = await nextLine();
    if (line.trim() !== 'revoked') throw new Error(`the test answered ${line}`);
    await app.locator('#refresh').click();
    await app.locator('body[data-state="refused"]').waitFor({ timeout: 120000 });
    result.refusal = await app.locator('#error').innerText();
    result.rowsAfter = await app.locator('#bp-table tr.reading').count();
    await page.locator('#smart-refused').waitFor();
    result.pageRefused = await page.locator('#smart-refused').innerText();
    await screenshot('app-refused');
    await page.click('#smart-close');
    await context.close();

    // the patient's wallet: Connected apps (已连接应用) shows the app, who authorised it, revoked
    const wallet = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN', deviceScaleFactor: 1 });
    page = await wallet.newPage();
    page.setDefaultTimeout(60000);
    page.on('pageerror', (err) => problems.push(`wallet page error: ${err.message}`));
    await page.goto(env.WALLET_URL);
    const form = page.locator('#import-wallet');
    await form.waitFor();
    await form.locator('input').first().fill('patient');
    await form.locator('input[type=file]').setInputFiles(env.PATIENT_KEYSTORE);
    await form.locator('input[type=password]').last().fill(env.PASSWORD);
    await form.locator('button[type=submit]').click();
    const row = page.locator('form.wallet-row').first();
    await row.waitFor();
    await row.locator('input[type=password]').fill(env.PASSWORD);
    await row.locator('button').click();
    await page.locator('#tab-apps').waitFor();
    await page.click('#tab-apps');
    const item = page.locator(`.app-connection[data-app="${env.APP_ID}"]`);
    await item.waitFor();
    result.walletApp = await item.innerText();
    result.walletRevoked = await item.getAttribute('data-revoked');
    result.walletRevokeButtons = await item.locator('.revoke-app').count();
    await screenshot('wallet-connected-apps');
    await wallet.close();
    console.log(`RESULT ${JSON.stringify({ ...result, problems })}`);
  } catch (err) {
    if (page) await page.screenshot({ path: join(env.ARTIFACTS, `smart-${String(shot + 1).padStart(2, '0')}-failure.png`) }).catch(() => {});
    console.log(`FAIL ${err.stack ?? err} ${JSON.stringify({ result, problems })}`);
  } finally {
    await browser.close();
  }
}

await main();
