// The browser half of tests/wallet/test_browser_connected_apps.py, on a phone screen
// (390×844): the patient opens 应用 (connected apps), sees the app the cardiologist connected
// to their chart (scopes in plain language, who authorised it, the transaction, the reads),
// opens the revocation in a second tab too, then revokes it in the first (confirmation, signed
// AppRevocation in the page); the card shows it revoked with the revocation's transaction.
// The second tab's stale Revoke is refused as already revoked (409) with a clear message.
// Prints "STEP apps {json}" or "FAIL <why>"; screenshots (apps-*.png) go to $ARTIFACTS.
// env: WALLET_URL, ARTIFACTS, CHROMIUM, PATIENT_KEY, APP_ID
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { WALLET_URL, ARTIFACTS, PATIENT_KEY, APP_ID } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery';
const problems = [];

function step(name, data) {
  process.stdout.write(`STEP ${name} ${JSON.stringify(data)}\n`);
}

async function shot(page, name) {
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\b(?:apps|tab|history|records|person|dept)\.[a-zA-Z]+/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(ARTIFACTS, `apps-${name}.png`), fullPage: true });
}

/** Every visible form control has an accessible name; nothing is wider than the screen. */
async function checkPage(page, name) {
  const report = await page.evaluate(() => {
    const unlabelled = [];
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden' || el.closest('[hidden]') || el.offsetParent === null) continue;
      const named = el.getAttribute('aria-label') || el.labels?.length || (el.tagName === 'BUTTON' && el.textContent.trim());
      if (!named) unlabelled.push(el.outerHTML.slice(0, 80));
    }
    return { unlabelled, scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth };
  });
  if (report.unlabelled.length) problems.push(`${name}: unlabelled ${report.unlabelled.join(' | ')}`);
  if (report.scrollWidth > report.width) problems.push(`${name}: page is ${report.scrollWidth}px wide on a ${report.width}px screen`);
}

async function importWallet(page) {
  await page.goto(WALLET_URL);
  const form = page.locator('#import-wallet');
  await form.waitFor();
  await form.locator('input').first().fill('patient');
  await form.locator('select').selectOption('key');
  await form.locator('input[type=password]').first().fill(PATIENT_KEY);
  await form.locator('input[autocomplete=new-password]').fill(PASSWORD);
  await form.locator('button[type=submit]').click();
}

/** Unlock the wallet stored in this browser and open the connected apps. */
async function openApps(page) {
  const row = page.locator('form.wallet-row').first();
  await row.waitFor();
  await row.locator('input[type=password]').fill(PASSWORD);
  await row.locator('button').click();
  await page.locator('#tab-apps').click();
  const card = page.locator(`li.app-connection[data-app="${APP_ID}"]`);
  await card.waitFor();
  return card;
}

function watch(page, label) {
  page.on('pageerror', (err) => problems.push(`${label} page error: ${err.message}`));
  page.on('console', (msg) => {
    // the refused stale revocation is an expected 409 in the console
    if (msg.type() === 'error' && !/status of 409/.test(msg.text())) problems.push(`${label} console: ${msg.text()}`);
  });
  page.setDefaultTimeout(60000);
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN', deviceScaleFactor: 1 });
    const page = await context.newPage();
    watch(page, 'first tab');
    await importWallet(page);
    const card = await openApps(page);
    const before = {
      state: await card.getAttribute('data-state'),
      name: await card.locator('.app-name').innerText(),
      scopes: await card.locator('ul.app-scopes li').allInnerTexts(),
      authorizedBy: await card.locator('ul.app-authorizations li').allInnerTexts(),
      authorizationTxs: await card.locator('ul.app-authorizations li').evaluateAll((els) => els.map((e) => e.dataset.tx)),
      reads: await card.locator('.app-reads').innerText(),
      title: await page.locator('#view h2').first().innerText(),
      revokeLabel: await card.locator('button.revoke-app').getAttribute('aria-label'),
    };
    await checkPage(page, 'list');
    await shot(page, 'list');

    // a second tab opens the same revocation and waits
    const stale = await context.newPage();
    watch(stale, 'second tab');
    await stale.goto(WALLET_URL);
    const staleCard = await openApps(stale);
    await staleCard.locator('button.revoke-app').click();

    // the first tab: Revoke → confirmation (Cancel folds it away) → sign and revoke
    await card.locator('button.revoke-app').click();
    await card.locator('.confirm-box').waitFor();
    const confirmText = await card.locator('.confirm-box .summary').innerText();
    await checkPage(page, 'confirm');
    await shot(page, 'confirm');
    await card.locator('button.cancel-revoke').click();
    const cancelled = await card.locator('.confirm-box').isHidden();
    await card.locator('button.revoke-app').click();
    await card.locator('button.confirm-revoke').click();
    const notice = await page.locator('#notice').innerText();
    const revoked = page.locator(`li.app-connection[data-app="${APP_ID}"]`);
    await revoked.locator('.revocation-tx').waitFor();
    const after = {
      state: await revoked.getAttribute('data-state'),
      stateLabel: await revoked.locator('.app-state').innerText(),
      revokedAt: await revoked.locator('.revoked-at').innerText(),
      revocationTx: await revoked.locator('.revocation-tx code').getAttribute('title'),
      revokeButtons: await revoked.locator('button.revoke-app').count(),
    };
    await checkPage(page, 'revoked');
    await shot(page, 'revoked');

    // the stale tab's confirmation: refused on chain as already revoked, said plainly
    await staleCard.locator('button.confirm-revoke').click();
    const problem = await stale.locator('#apps-problem').innerText();
    const staleState = await stale.locator(`li.app-connection[data-app="${APP_ID}"]`).getAttribute('data-state');
    await shot(stale, 'already-revoked');

    // English too
    await page.locator('#lang').click();
    await page.locator('#tab-apps').click();
    await page.locator(`li.app-connection[data-app="${APP_ID}"]`).waitFor();
    const english = await page.locator('#view').innerText();
    await checkPage(page, 'english');
    await shot(page, 'revoked-en');
    if (problems.length) throw new Error(problems.join('; '));
    step('apps', { before, confirmText, cancelled, notice, after, problem, staleState, english });
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stdout.write(`FAIL ${String(err?.message ?? err).replace(/\n/g, ' ')}\n`);
  process.exit(1);
});
