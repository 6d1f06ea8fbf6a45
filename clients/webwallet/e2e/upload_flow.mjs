// The browser half of tests/wallet/test_browser_encrypt.py's chromium test: a patient creates a
// wallet, signs in, and adds a FHIR Observation from the Records tab — encrypted in the page
// (FAME + AES-GCM), uploaded with the session token. Prints "STEP uploaded {json}" (the record
// id and tx the page shows, and the wallet's keystore so the test can act as this patient)
// and exits; any failure prints "FAIL <why>" and exits 1. Screenshots go to $ARTIFACTS.
// Before that it prints "STEP wallet <address>", saves the form the page hands to fetch for
// POST /records (Chromium does not report multipart bodies with blobs, so an init script
// records the FormData: $REQUEST_DIR/metadata.json, header.cbor, body.bin) so the test can
// check the signed registration in it, and prints "STEP answer {status, body}" (the reply).
//
// env: WALLET_URL (…/wallet/), ARTIFACTS (dir), CHROMIUM (binary), RECORD (the file's text),
//      REQUEST_DIR (dir)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { WALLET_URL, ARTIFACTS, RECORD, REQUEST_DIR } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery';
const problems = [];
let current = null;

async function screenshot(page, name) {
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\brecords\.[a-zA-Z.]+/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(ARTIFACTS, `upload-${name}.png`), fullPage: true });
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 412, height: 900 }, locale: 'zh-CN', deviceScaleFactor: 1 });
    await context.addInitScript(() => {
      const send = window.fetch;
      window.__uploads = [];
      window.fetch = async function recorded(input, init) {
        if (init?.body instanceof FormData) {
          const parts = {};
          for (const [name, value] of init.body.entries()) {
            const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : new Uint8Array(await value.arrayBuffer());
            parts[name] = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));
          }
          window.__uploads.push(parts);
        }
        return send.call(this, input, init);
      };
    });
    const page = await context.newPage();
    current = page;
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.setDefaultTimeout(30000);

    await page.goto(WALLET_URL);
    await page.locator('#create-wallet').waitFor();
    await page.fill('#create-name', 'li-si');
    await page.fill('#create-password', PASSWORD);
    await page.fill('#create-password2', PASSWORD);
    await page.click('#create-wallet button[type=submit]');
    const row = page.locator('form.wallet-row').first();
    await row.waitFor();
    const address = await row.getAttribute('data-address');
    process.stdout.write(`STEP wallet ${address}\n`);
    await row.locator('input[type=password]').fill(PASSWORD);
    await row.locator('button').click();
    await page.locator('#add-record').waitFor();

    // pick the FHIR file: the page reads its type and clinical date
    await page.setInputFiles('#record-file', { name: 'observation.json', mimeType: 'application/json', buffer: Buffer.from(RECORD) });
    await page.locator('#record-file-info').filter({ hasText: 'Observation' }).waitFor();
    const fileInfo = await page.locator('#record-file-info').innerText();
    const recordType = await page.inputValue('#record-type');
    // a group from the directory: cd3h's cardiology department
    const options = await page.locator('#record-policy-pick option').allInnerTexts();
    const choice = options.findIndex((o) => o.includes('(cd3h)') && o.includes('cardiology'));
    if (choice < 1) throw new Error(`no cd3h cardiology choice in ${JSON.stringify(options)}`);
    await page.selectOption('#record-policy-pick', String(choice - 1));
    const policy = await page.inputValue('#record-policy');
    await screenshot(page, 'form');

    const upload = (r) => r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/records');
    const answered = page.waitForResponse((r) => upload(r.request()) && r.status() !== 401, { timeout: 120000 });
    await page.click('#record-upload');
    const response = await answered;
    const forms = await page.evaluate(() => window.__uploads);
    if (forms.length !== 1) throw new Error(`expected one upload form, saw ${forms.length}`);
    const files = { metadata: 'metadata.json', header: 'header.cbor', body: 'body.bin' };
    for (const [name, file] of Object.entries(files)) {
      if (!(name in forms[0])) throw new Error(`the upload form has no ${name} part`);
      writeFileSync(join(REQUEST_DIR, file), Buffer.from(forms[0][name], 'base64'));
    }
    const reply = { status: response.status(), body: await response.json().catch(() => null) };
    process.stdout.write(`STEP answer ${JSON.stringify(reply)}\n`);
    const outcome = await Promise.race([
      page.locator('#record-new-id').waitFor().then(() => 'ok'),
      page.locator('#add-record > .error').waitFor().then(() => 'error'),
    ]);
    if (outcome === 'error') throw new Error(`upload failed: ${await page.locator('#add-record > .error').innerText()}`);
    const recordId = await page.locator('#record-new-id').innerText();
    const tx = await page.locator('#record-new-tx').innerText();
    const status = await page.locator('#record-status').innerText();
    await screenshot(page, 'uploaded');

    // the timeline shows it after a refresh of the tab
    await page.click('#tab-consents');
    await page.click('#tab-records');
    await page.locator(`li.record[data-record="${recordId}"]`).waitFor();
    const recordText = await page.locator(`li.record[data-record="${recordId}"]`).innerText();
    await screenshot(page, 'timeline');

    const stored = await page.evaluate(() => localStorage.getItem('medledger.wallets.v1'));
    if (problems.length) throw new Error(problems.join('; '));
    process.stdout.write(
      `STEP uploaded ${JSON.stringify({ address, recordId, tx, status, fileInfo, recordType, policy, recordText, stored, password: PASSWORD })}\n`,
    );
  } finally {
    await browser.close();
  }
}

main().catch(async (err) => {
  if (current) await current.screenshot({ path: join(ARTIFACTS, 'upload-failure.png'), fullPage: true }).catch(() => {});
  process.stdout.write(`FAIL ${String(err?.message ?? err).replace(/\n/g, ' ')}\n`);
  process.exit(1);
});
