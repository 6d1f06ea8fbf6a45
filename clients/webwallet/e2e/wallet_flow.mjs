// The browser half of tests/wallet/test_browser.py: drives Debian's chromium (headless, via
// playwright-core) through the patient's story while the pytest side plays the hospital and
// the doctor. The two halves talk over stdio: this script prints "STEP <name> <json>" and
// waits for a line "go" on stdin before the next step; any failure prints "FAIL <why>" and
// exits 1. A screenshot of every step goes to $ARTIFACTS.
//
// env: WALLET_URL (…/wallet/), ARTIFACTS (dir), DOCTOR (address to grant), CHROMIUM (binary)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const { WALLET_URL, ARTIFACTS, DOCTOR } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery';
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function step(name, data = {}) {
  process.stdout.write(`STEP ${name} ${JSON.stringify(data)}\n`);
}

async function proceed() {
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'go') throw new Error(`the test side said ${JSON.stringify(value)}`);
}

let shot = 0;
let current = null; // the page, for a screenshot of a failure
const problems = [];
let unauthorized = 0;
async function screenshot(page, name) {
  shot += 1;
  // a view that printed a missing value or an untranslated key
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\b(?:wallets|grant|consents|records|history|account|purpose|person|qr|dept)\.[a-zA-Z]+/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 412, height: 900 }, locale: 'zh-CN', deviceScaleFactor: 1 });
    const page = await context.newPage();
    current = page;
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      // the browser logs every 401 answer; one is expected: the session the test ended
      if (/status of 401/.test(msg.text())) unauthorized += 1;
      else problems.push(`console: ${msg.text()}`);
    });
    page.setDefaultTimeout(20000);

    // 1. create a wallet (key generated in the page, stored encrypted in localStorage)
    await page.goto(WALLET_URL);
    await page.locator('#create-wallet').waitFor();
    if ((await page.locator('html').getAttribute('lang')) !== 'zh-CN') throw new Error('the app does not start in Chinese');
    await screenshot(page, 'start');
    await page.fill('#create-name', 'zhang-san');
    await page.fill('#create-password', PASSWORD);
    await page.fill('#create-password2', PASSWORD);
    await page.click('#create-wallet button[type=submit]');
    const row = page.locator('form.wallet-row').first();
    await row.waitFor();
    const address = await row.getAttribute('data-address');
    const stored = await page.evaluate(() => localStorage.getItem('medledger.wallets.v1'));
    await screenshot(page, 'wallet-created');

    // 2. sign in with Ethereum (wrong password first: one clear line, nothing signed)
    await row.locator('input[type=password]').fill('not the password');
    await row.locator('button').click();
    await row.locator('.error').waitFor();
    const wrong = await row.locator('.error').innerText();
    await row.locator('input[type=password]').fill(PASSWORD);
    await row.locator('button').click();
    await page.locator('#tab-records').waitFor();
    await page.locator('#records').waitFor({ state: 'attached' });
    await screenshot(page, 'signed-in');
    step('signed-in', { address, wrongPasswordMessage: wrong, stored });
    await proceed(); // the test shares a record for this patient

    // 3. the shared record is in the timeline, with its institution
    await page.click('#tab-consents');
    await page.click('#tab-records');
    const record = page.locator('li.record').first();
    await record.waitFor();
    const recordId = await record.getAttribute('data-record');
    const recordText = await record.innerText();
    await screenshot(page, 'records');

    // 4. grant the doctor: review the summary, then sign the EIP-712 consent
    await page.click('#tab-consents');
    await page.locator('#grant-form').waitFor();
    await page.selectOption('#grant-kind', 'doctor'); // by address (the advanced choice)
    await page.fill('#grant-address', DOCTOR);
    await page.selectOption('#grant-scope', recordId);
    await page.fill('#grant-days', '30');
    await page.click('#grant-review-button');
    const summary = await page.locator('#grant-summary').innerText();
    await screenshot(page, 'grant-review');
    await page.click('#grant-sign');
    const consent = page.locator('#active-consents li.consent').first();
    await consent.waitFor();
    await page.locator('#notice').waitFor();
    const consentId = await consent.getAttribute('data-consent');
    await screenshot(page, 'granted');
    step('granted', { recordId, recordText, summary, consentId, consentText: await consent.innerText() });
    await proceed(); // the test checks ConsentManager on chain and reads as the doctor

    // 5. revoke with one tap
    await consent.locator('button.revoke').click();
    // the view re-renders: wait for the consent to be listed as ended, not merely gone
    await page.locator(`#ended-consents li[data-consent="${consentId}"]`).waitFor({ state: 'attached' });
    await page.locator('#ended-consents').evaluate((el) => { el.closest('details').open = true; });
    const ended = await page.locator('#ended-consents li').count();
    const active = await page.locator('#active-consents li').count();
    const notice = await page.locator('#notice').innerText();
    await screenshot(page, 'revoked');
    step('revoked', { ended, active, notice });
    await proceed(); // the doctor tries again (refused), also as an emergency

    // 6. the history shows the refused reads, the emergency one highlighted
    await page.click('#tab-history');
    await page.locator(`li.event.denied[data-accessor="${DOCTOR}"]`).first().waitFor();
    const events = await page.locator('li.event').evaluateAll((els) =>
      els.map((el) => ({
        accessor: el.dataset.accessor,
        granted: el.dataset.granted === 'true',
        purpose: el.dataset.purpose,
        breakglass: el.classList.contains('breakglass'),
      })),
    );
    await screenshot(page, 'history');
    step('history', { events });
    await proceed();

    // 7. grant a group chosen from the directory: cd3h's cardiologists, for consultations
    await page.click('#tab-consents');
    await page.locator('#grant-form').waitFor();
    await page.selectOption('#grant-kind', 'group');
    await page.selectOption('#grant-institution', 'cd3h');
    await page.selectOption('#grant-dept', 'cardiology');
    await page.selectOption('#grant-role', 'doctor');
    await page.selectOption('#grant-purpose', 'consultation');
    await page.fill('#grant-days', '3'); // under a week: listed as expiring soon
    await page.click('#grant-review-button');
    const groupSummary = await page.locator('#grant-summary').innerText();
    await screenshot(page, 'group-review');
    await page.click('#grant-sign');
    const group = page.locator('#active-consents li.consent').first();
    await group.waitFor();
    const groupId = await group.getAttribute('data-consent');
    await screenshot(page, 'group-granted');
    step('group-granted', { groupSummary, groupId, groupText: await group.innerText() });
    await proceed();

    // 8. English, and the keystore export
    await page.click('#tab-history');
    await page.locator('li.event').first().waitFor();
    await page.click('#lang');
    await page.locator('text=Access history').waitFor();
    const englishTitle = await page.locator('main h2').first().innerText();
    await screenshot(page, 'history-en');
    await page.click('#tab-account');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const exported = join(ARTIFACTS, 'exported-keystore.json');
    await download.saveAs(exported);
    await screenshot(page, 'account-en');
    step('done', { englishTitle, exported, problems, unauthorized, password: PASSWORD });
  } catch (err) {
    await current?.screenshot({ path: join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stdout.write(`FAIL ${String(err?.stack ?? err).replace(/\n/g, ' | ')}\n`);
    process.exit(1);
  },
);
