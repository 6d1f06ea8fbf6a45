// The browser half of tests/wallet/test_browser_read.py: a patient imports their wallet (the
// private key the test made), signs in, and opens their own record from the Records tab — the
// page derives the patient key from a wallet signature, fetches header and body with signed
// reads, checks them against the registration and decrypts with the patient slot. Prints
// "STEP opened {json}" (what the page shows) or "FAIL <why>"; screenshots go to $ARTIFACTS.
// env: WALLET_URL, ARTIFACTS, CHROMIUM, PATIENT_KEY (0x…), RECORD_ID, LOCALE (zh-CN | en)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { WALLET_URL, ARTIFACTS, PATIENT_KEY, RECORD_ID } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const LOCALE = process.env.LOCALE || 'zh-CN';
const PASSWORD = 'correct horse battery';
const problems = [];

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `read-${name}.png`), fullPage: true });
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: LOCALE, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.setDefaultTimeout(60000);
    await page.goto(WALLET_URL);
    const form = page.locator('#import-wallet');
    await form.waitFor();
    await form.locator('input').first().fill('patient');
    await form.locator('select').selectOption('key');
    await form.locator('input[type=password]').first().fill(PATIENT_KEY);
    await form.locator('input[autocomplete=new-password]').fill(PASSWORD);
    await form.locator('button[type=submit]').click();
    const row = page.locator('form.wallet-row').first();
    await row.waitFor();
    await row.locator('input[type=password]').fill(PASSWORD);
    await row.locator('button').click();
    const item = page.locator(`li.record[data-record="${RECORD_ID}"]`);
    await item.waitFor();
    await shot(page, 'timeline');
    const started = Date.now();
    await item.locator('button.open-record').click();
    const content = item.locator('.record-content');
    await Promise.race([
      content.waitFor(),
      item.locator('.error').waitFor().then(async () => {
        throw new Error(`the page refused: ${await item.locator('.error').innerText()}`);
      }),
    ]);
    const ms = Date.now() - started;
    await shot(page, 'opened');
    const opened = {
      text: await content.innerText(),
      types: await content.locator('.fhir-resource').evaluateAll((els) => els.map((e) => e.dataset.resourceType)),
      button: await item.locator('button.open-record').innerText(),
      ms,
    };
    if (problems.length) throw new Error(problems.join('; '));
    process.stdout.write(`STEP opened ${JSON.stringify(opened)}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stdout.write(`FAIL ${String(err?.message ?? err).replace(/\n/g, ' ')}\n`);
  process.exit(1);
});
