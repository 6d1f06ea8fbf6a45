// The browser half of tests/workstation/test_browser_break_glass.py: break-glass past the
// daily cap, with the co-signature exchanged between two workstations (Debian's chromium,
// headless, playwright-core, 1280×800, one browser context per doctor):
//
// 1. the cardiologist (cap already reached today) asks to open the patient's chart with a
//    reason: the chain's cap refuses it, the page says so and shows the co-signature request;
// 2. a second doctor (the GP, in her own browser) pastes that request, signs the co-signature
//    in her page and hands it back;
// 3. the cardiologist pastes it and opens the chart: the banner shows for the opening, the
//    timeline lists the chart's records for `emergency`, and a record the patient never
//    consented to is read (signed, logged as a break-glass read) and decrypted in the page;
//    one whose policy does not admit the cardiologist's key is decrypted with its threshold
//    emergency slot (two institutions' shares, combined in the page); one without that slot
//    stays locked, with why.
// Prints "RESULT <json>" or "FAIL <why>"; a screenshot of every step goes to $ARTIFACTS.
//
// env: WS_URL, ARTIFACTS, CHROMIUM, PASSWORD, PATIENT, EMERGENCY_RECORD, SEALED_RECORD,
//      SLOTLESS_RECORD, CARDIO_KEYSTORE, GP_KEYSTORE
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const problems = [];
const result = {};
let shot = 0;
const pages = [];

async function screenshot(page, name) {
  shot += 1;
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\b(?:breakGlass|patient|lock|purpose)\.[a-zA-Z]+\b/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(env.ARTIFACTS, `bg-${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function person(browser, who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN', deviceScaleFactor: 1 });
  const page = await context.newPage();
  pages.push(page);
  page.setDefaultTimeout(30000);
  page.on('pageerror', (err) => problems.push(`${who}: page error: ${err.message}`));
  page.on('console', (msg) => {
    // the refused first opening (429) is expected; anything else is a problem
    if (msg.type() === 'error' && !/status of (40[13]|429)/.test(msg.text())) problems.push(`${who}: console: ${msg.text()}`);
  });
  return page;
}

async function signIn(page, name, keystore) {
  await page.goto(env.WS_URL);
  await page.locator('#sign-in').waitFor();
  await page.setInputFiles('#import-file', keystore);
  await page.fill('#import-name', name);
  await page.fill('#import-password', env.PASSWORD);
  await page.click('#import-button');
  await page.locator('#signin-button:not([disabled])').waitFor();
  await page.click('#signin-button');
  await page.locator('#profile').waitFor();
  await page.click('#nav-patient');
}

async function main() {
  mkdirSync(env.ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    // 1. the cardiologist: over the cap, the co-signature request
    const cardio = await person(browser, 'cardiologist');
    await signIn(cardio, 'li-ming', env.CARDIO_KEYSTORE);
    await cardio.fill('#patient-address', env.PATIENT);
    await cardio.click('#patient-load');
    await cardio.locator('#patient-error, .record, .el-empty').first().waitFor();
    result.before = await cardio.locator(`.record[data-record="${env.EMERGENCY_RECORD}"]`).count();
    await cardio.fill('#bg-reason', '患者昏迷送入急诊，需立即查看既往病史与用药史');
    await screenshot(cardio, 'cardiologist-reason');
    await cardio.click('#bg-open');
    await cardio.locator('#bg-error').waitFor();
    result.capError = await cardio.locator('#bg-error').innerText();
    await cardio.locator('#bg-request').waitFor();
    result.request = await cardio.locator('#bg-request').inputValue();
    result.bannersBefore = await cardio.locator('.break-glass-banner').count();
    await screenshot(cardio, 'cardiologist-over-cap');
    // one's own request cannot be co-signed: the page says so and offers no signature
    await cardio.fill('#cosign-request', result.request);
    await cardio.locator('#cosign-bad').waitFor();
    result.ownRequest = await cardio.locator('#cosign-bad').innerText();
    result.ownSignDisabled = await cardio.locator('#cosign-sign').isDisabled();
    await cardio.fill('#cosign-request', '');

    // 2. the GP co-signs in her own workstation
    const gp = await person(browser, 'gp');
    await signIn(gp, 'wang-fang', env.GP_KEYSTORE);
    await gp.fill('#cosign-request', '{"openingId": "0x12"}');
    await gp.locator('#cosign-bad').waitFor();
    result.badRequest = await gp.locator('#cosign-bad').innerText();
    await gp.fill('#cosign-request', result.request);
    await gp.locator('#cosign-summary').waitFor();
    await gp.locator('#cosign-summary', { hasText: 'cardiology' }).waitFor(); // the directory's name
    result.summary = await gp.locator('#cosign-summary').innerText();
    await screenshot(gp, 'gp-cosign-request');
    await gp.click('#cosign-sign');
    await gp.locator('#cosign-output').waitFor();
    result.cosignature = await gp.locator('#cosign-output').inputValue();
    await screenshot(gp, 'gp-cosigned');

    // 3. the cardiologist opens the chart with it
    await cardio.fill('#bg-cosignature', result.cosignature);
    await screenshot(cardio, 'cardiologist-cosignature-pasted');
    await cardio.click('#bg-open');
    await cardio.locator('.break-glass-banner').waitFor();
    result.banner = await cardio.locator('.break-glass-banner').innerText();
    const record = cardio.locator(`.record[data-record="${env.EMERGENCY_RECORD}"]`);
    await record.waitFor();
    result.listed = await record.innerText();
    await screenshot(cardio, 'break-glass-open');
    await record.locator('.open-record').click();
    await record.locator('.opened .fhir-view, .opened .decrypt-error, .opened .denied').first().waitFor({ timeout: 90000 });
    result.openedText = await record.locator('.opened').innerText();
    result.openedViews = await record.locator('.opened .fhir-view').count();
    await record.locator('.opened').scrollIntoViewIfNeeded();
    await screenshot(cardio, 'emergency-record-decrypted');
    // a record whose policy does not admit the cardiologist: read (logged), then opened with its
    // threshold emergency slot (both institutions' decryption shares, through the API's relay)
    const sealed = cardio.locator(`.record[data-record="${env.SEALED_RECORD}"]`);
    await sealed.locator('.open-record').click();
    await sealed.locator('.opened .fhir-view, .opened .decrypt-error, .opened .denied').first().waitFor({ timeout: 120000 });
    result.sealedText = await sealed.locator('.opened').innerText();
    result.sealedViews = await sealed.locator('.opened .fhir-view').count();
    result.sealedLocked = await sealed.locator('.opened .decrypt-error').count();
    result.sealedThreshold = await sealed.locator('.opened .threshold-opened').count();
    await sealed.locator('.opened').scrollIntoViewIfNeeded();
    await screenshot(cardio, 'emergency-record-by-threshold');
    // the same, written without an emergency slot: locked, and why
    const slotless = cardio.locator(`.record[data-record="${env.SLOTLESS_RECORD}"]`);
    await slotless.locator('.open-record').click();
    await slotless.locator('.opened .fhir-view, .opened .decrypt-error, .opened .denied').first().waitFor({ timeout: 90000 });
    result.slotlessText = await slotless.locator('.opened').innerText();
    result.slotlessViews = await slotless.locator('.opened .fhir-view').count();
    result.slotlessLocked = await slotless.locator('.opened .decrypt-error').count();
    await slotless.locator('.opened').scrollIntoViewIfNeeded();
    await screenshot(cardio, 'emergency-record-no-slot');
  } catch (err) {
    for (const [i, page] of pages.entries()) {
      await page.screenshot({ path: join(env.ARTIFACTS, `bg-failure-${i}.png`) }).catch(() => {});
    }
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
