// The browser half of tests/wallet/test_browser_people.py: "people, not hex" on a phone screen
// (390×844). PHASE=grant: the patient imports their wallet, grants the cardiologist by choosing
// institution → department → doctor from the directory, then grants the GP by loading a picture
// of the GP's QR code (made here with the `qrcode` package, as the workstation shows it:
// ethereum:0x…); a tampered QR (checksum broken) is refused first. PHASE=history: the access
// history names the doctors who read. Prints "STEP name {json}" or "FAIL <why>"; screenshots
// (people-*.png) go to $ARTIFACTS.
// env: WALLET_URL, ARTIFACTS, CHROMIUM, PATIENT_KEY, PHASE, RECORD_ID, CARDIOLOGIST, GP
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { chromium } from 'playwright-core';

const { WALLET_URL, ARTIFACTS, PATIENT_KEY, PHASE, RECORD_ID, CARDIOLOGIST, GP } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery';
const problems = [];

function step(name, data) {
  process.stdout.write(`STEP ${name} ${JSON.stringify(data)}\n`);
}

async function shot(page, name) {
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\b(?:wallets|grant|consents|records|history|account|purpose|person|qr|dept)\.[a-zA-Z]+/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(ARTIFACTS, `people-${name}.png`), fullPage: false });
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

async function signIn(page) {
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
  await page.locator('#tab-consents').waitFor();
}

async function review(page) {
  await page.selectOption('#grant-scope', RECORD_ID);
  await page.click('#grant-review-button');
  return page.locator('#grant-summary').innerText();
}

async function signed(page, grantee) {
  await page.click('#grant-sign');
  const item = page.locator(`#active-consents li.consent:has(details.person[data-address="${grantee}"])`);
  await item.waitFor();
  return item.innerText();
}

async function grant(page) {
  // (a) institution → department → doctor
  await page.click('#tab-consents');
  await page.locator('#grant-form').waitFor();
  await page.selectOption('#grant-kind', 'directory');
  const institutions = await page.locator('#grant-doc-institution option').allInnerTexts();
  await page.selectOption('#grant-doc-institution', 'cd3h');
  await page.locator('#grant-doc-dept option[value="cardiology"]').waitFor({ state: 'attached' });
  await page.selectOption('#grant-doc-dept', 'cardiology');
  const doctors = await page.locator('#grant-doctor option').allInnerTexts();
  await page.selectOption('#grant-doctor', CARDIOLOGIST);
  await checkPage(page, 'directory');
  await shot(page, 'directory-choose');
  const directorySummary = await review(page);
  await page.locator('#grant-summary').scrollIntoViewIfNeeded();
  await shot(page, 'directory-review');
  const directoryConsent = await signed(page, CARDIOLOGIST);
  await shot(page, 'directory-granted');

  // (b) a QR picture: a tampered one is refused, the real one names the GP
  await page.locator('#grant-form').waitFor();
  await page.selectOption('#grant-kind', 'qr');
  const good = join(ARTIFACTS, 'people-qr-gp.png');
  const tampered = join(ARTIFACTS, 'people-qr-tampered.png');
  const flip = (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());
  const index = [...GP].findIndex((c, i) => i > 1 && /[a-fA-F]/.test(c));
  await QRCode.toFile(good, `ethereum:${GP}`, { margin: 2, width: 240 });
  await QRCode.toFile(tampered, GP.slice(0, index) + flip(GP[index]) + GP.slice(index + 1), { margin: 2, width: 240 });
  await page.setInputFiles('#grant-qr-file', tampered);
  const refused = await page.locator('#grant-qr-result .error').innerText();
  await page.setInputFiles('#grant-qr-file', good);
  await page.locator(`#grant-qr-result details.person[data-address="${GP}"]`).waitFor();
  const found = await page.locator('#grant-qr-result').innerText();
  await checkPage(page, 'qr');
  await shot(page, 'qr-found');
  const qrSummary = await review(page);
  const qrConsent = await signed(page, GP);
  await shot(page, 'qr-granted');
  if (problems.length) throw new Error(problems.join('; '));
  step('grant', { institutions, doctors, directorySummary, directoryConsent, refused, found, qrSummary, qrConsent });
}

async function history(page) {
  await page.click('#tab-history');
  const event = page.locator(`li.event[data-accessor="${CARDIOLOGIST}"]`).first();
  await event.waitFor();
  const who = await event.locator('details.person summary').innerText();
  await event.locator('details.person summary').click(); // the address, one click away
  const address = await event.locator('details.person code.address').innerText();
  await checkPage(page, 'history');
  await shot(page, 'history');
  const all = await page.locator('li.event .who details.person > summary').allInnerTexts();
  if (problems.length) throw new Error(problems.join('; '));
  step('history', { who, address, all });
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN', deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.setDefaultTimeout(30000);
    await signIn(page);
    if (PHASE === 'grant') await grant(page);
    else await history(page);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stdout.write(`FAIL ${String(err?.message ?? err).replace(/\n/g, ' ')}\n`);
  process.exit(1);
});
