// The browser half of tests/workstation/test_browser.py: Debian's chromium (headless, via
// playwright-core) at 1280×800, one browser context per person, each signing in with the
// keystore file `medledger wallet` wrote for them. The pytest side prepared the chain (the
// GP's records and referral, the patient's consents) and checks it afterwards; this script
// prints one line "RESULT <json>" with what the pages showed, or "FAIL <why>" and exits 1.
// A screenshot of every step goes to $ARTIFACTS.
//
// env: WS_URL (…/workstation/), ARTIFACTS, CHROMIUM, PASSWORD, PATIENT, REFERRAL, DENIED_RECORD,
//      GP, CARDIO_KEYSTORE, GP_KEYSTORE, AUDITOR_KEYSTORE (paths)
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const CHROMIUM = env.CHROMIUM || '/usr/bin/chromium';
const problems = [];
const result = {};
let shot = 0;
let current = null; // the page in use, for a screenshot of a failure

async function screenshot(page, name) {
  shot += 1;
  const text = await page.locator('body').innerText();
  // a view that printed a missing value or an untranslated key
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\b(?:nav|audit|patient|referrals|review|assistant|lock|profile|signIn)\.[a-zA-Z]+\b/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  await page.screenshot({ path: join(ARTIFACTS_DIR, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: false });
}
const ARTIFACTS_DIR = env.ARTIFACTS;

async function person(browser, who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN', deviceScaleFactor: 1 });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(30000);
  page.on('pageerror', (err) => problems.push(`${who}: page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) problems.push(`${who}: console: ${msg.text()}`);
  });
  return page;
}

/** Every visible form control has an accessible name (label, aria-label or aria-labelledby). */
async function unlabelled(page) {
  return page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
      if (!el.offsetParent && el.type !== 'file') continue;
      const id = el.id;
      const labelled = (id && document.querySelector(`label[for="${CSS.escape(id)}"]`)) || el.closest('label')
        || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!labelled) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
}

async function signIn(page, name, keystore, view) {
  await page.goto(env.WS_URL);
  await page.locator('#sign-in').waitFor();
  if ((await page.locator('html').getAttribute('lang')) !== 'zh-CN') throw new Error('the app does not start in Chinese');
  const missing = await unlabelled(page);
  if (missing.length) problems.push(`${name} sign-in: unlabelled controls ${JSON.stringify(missing)}`);
  await page.setInputFiles('#import-file', keystore);
  await page.fill('#import-name', name);
  await page.fill('#import-password', env.PASSWORD);
  await page.click('#import-button');
  await page.locator('#signin-button:not([disabled])').waitFor();
  await screenshot(page, `${name}-sign-in`);
  await page.click('#signin-button');
  await page.locator(view).waitFor();
}

async function check(page, name) {
  const missing = await unlabelled(page);
  if (missing.length) problems.push(`${name}: unlabelled controls ${JSON.stringify(missing)}`);
  await screenshot(page, name);
}

async function cardiologist(browser) {
  const page = await person(browser, 'cardiologist');
  await signIn(page, 'li-ming', env.CARDIO_KEYSTORE, '#profile');
  await page.click('#fetch-key');
  await page.locator('#key-facts').waitFor();
  result.keyFacts = await page.locator('#key-facts').innerText();
  result.qr = await page.locator('#address-qr').getAttribute('src');
  await check(page, 'cardiologist-profile');

  // the patient's timeline: records with their lock state; opening one reaches the decryption
  await page.click('#nav-patient');
  await page.fill('#patient-address', env.PATIENT);
  await page.click('#patient-load');
  await page.locator('.record').first().waitFor();
  result.timeline = await page.locator('#timeline').innerText();
  result.records = await page.locator('.record[data-locked="false"]').count();
  result.revokedLock = await page.locator(`.record[data-record="${env.REVOKED_RECORD}"] .lock-reason`).innerText();
  await check(page, 'cardiologist-timeline');
  // the observation, decrypted in this page with the key from cd3h's own authority
  const readable = page.locator(`.record[data-record="${env.OBSERVATION}"]`);
  await readable.locator('.open-record').click();
  await readable.locator('.opened .fhir-view, .opened .decrypt-error, .opened .denied').first().waitFor({ timeout: 90000 });
  result.openedText = await readable.locator('.opened').innerText();
  result.openedViews = await readable.locator('.opened .fhir-view').count();
  await readable.locator('.opened').scrollIntoViewIfNeeded();
  await screenshot(page, 'cardiologist-record-decrypted');

  // referrals: accept, then complete with a summary written in the page
  await page.click('#nav-referrals');
  const actions = page.locator(`.referral-actions[data-referral="${env.REFERRAL}"]`);
  await actions.locator('.accept').waitFor();
  await check(page, 'referral-incoming');
  await actions.locator('.accept').click();
  await actions.locator('.complete').waitFor();
  await screenshot(page, 'referral-accepted');
  await actions.locator('.complete').click();
  await page.fill('#summary-diagnosis', '射血分数降低的心力衰竭 (HFrEF)，NYHA II 级');
  await page.fill('#summary-findings', 'NT-proBNP 1850 pg/mL，LVEF 38%');
  await page.fill('#summary-treatment', '沙库巴曲缬沙坦 24/26 mg bid，比索洛尔 2.5 mg qd');
  await page.fill('#summary-followup', '社区随访，两周后复查肾功能和血钾');
  await check(page, 'referral-summary-form');
  await page.click('#summary-submit');
  await page.locator('#summary-form').waitFor({ state: 'detached', timeout: 60000 }).catch(() => {});
  await page.locator(`.referral-actions[data-referral="${env.REFERRAL}"] .complete`).waitFor({ state: 'detached', timeout: 60000 });
  result.referralsText = await page.locator('#incoming').innerText();
  const summaryError = await page.locator('#summary-error').count();
  if (summaryError) result.summaryError = await page.locator('#summary-error').innerText();
  await screenshot(page, 'referral-completed');

  // a consultation I am invited to: read the question, post an opinion signed in the page
  await page.click('#nav-consultations');
  const consult = page.locator(`.consultation[data-consultation="${env.CONSULTATION}"]`);
  await consult.locator('.read-question').click();
  await consult.locator('.fhir-view, .locked').first().waitFor({ timeout: 90000 });
  result.questionText = await consult.innerText();
  result.questionViews = await consult.locator('.fhir-view').count();
  await check(page, 'consultation-question');
  await consult.locator('.write-opinion').click();
  await page.fill('#opinion-text', '考虑心力衰竭加重，建议加用利尿剂并复查 NT-proBNP');
  await page.fill('#opinion-advice', '一周后心内科门诊复诊');
  await check(page, 'consultation-opinion-form');
  await page.click('#opinion-submit');
  await page.locator('.el-alert', { hasText: '会诊意见已上链' }).waitFor({ timeout: 60000 });
  await screenshot(page, 'consultation-opinion-posted');

  // break-glass: open the chart with a reason; the banner stays while the opening lasts
  await page.click('#nav-patient');
  await page.fill('#patient-address', env.PATIENT);
  await page.click('#patient-load');
  await page.fill('#bg-reason', '患者昏迷送入急诊，需立即查看既往病史与过敏史');
  await page.click('#bg-open');
  await page.locator('.break-glass-banner').waitFor();
  result.banner = await page.locator('.break-glass-banner').innerText();
  await screenshot(page, 'break-glass-banner');
  await page.context().close();
}

async function gp(browser) {
  const page = await person(browser, 'gp');
  await signIn(page, 'wang-fang', env.GP_KEYSTORE, '#profile');
  await page.click('#nav-patient');
  await page.fill('#patient-address', env.PATIENT);
  await page.click('#patient-load');
  // the API lists only what the GP may open: the record id comes from elsewhere
  await page.locator('.record').first().waitFor(); // the referral summary shared back
  await page.fill('#record-id', env.DENIED_RECORD);
  await page.click('#record-open');
  const record = page.locator(`.record[data-record="${env.DENIED_RECORD}"]`);
  await record.locator('.denied').waitFor();
  result.gpDenied = await record.locator('.denied').innerText();
  await check(page, 'gp-refused');

  // the GP assistant: a code suggested while typing, confirmed by the clinician
  await page.click('#nav-assistant');
  await page.locator('#diagnosis-input').waitFor();
  await page.locator('#diagnosis-input').pressSequentially('高血压', { delay: 120 });
  const suggestion = page.locator('.suggestion[data-code="I10"]');
  await suggestion.waitFor();
  result.suggestions = await page.locator('#suggestions').innerText();
  await page.locator('#suggestions').scrollIntoViewIfNeeded();
  await check(page, 'assistant-suggestion');
  await suggestion.locator('.confirm-code').click();
  await page.locator('.diagnosis').first().waitFor();
  result.diagnosisTag = await page.locator('.diagnosis').first().innerText();
  await page.click('#intake-complaint');
  await page.locator('.el-select-dropdown__item').filter({ hasText: '胸痛' }).first().click();
  await page.locator('#intake-assess').click();
  await page.locator('#intake-result').waitFor();
  result.intake = await page.locator('#intake-result').innerText();
  await check(page, 'assistant-intake');
  await page.click('#switch-language');
  result.englishNav = await page.locator('#nav-assistant').innerText();
  await screenshot(page, 'assistant-english');
  await page.context().close();
}

async function auditor(browser) {
  const page = await person(browser, 'auditor');
  await signIn(page, 'auditor', env.AUDITOR_KEYSTORE, '#audit-log');
  await page.fill('#f-accessor', env.GP);
  await page.click('#f-apply');
  await page.locator(`#access-events .accessor[data-accessor="${env.GP}"]`).first().waitFor();
  result.auditRows = await page.locator('#access-events .el-table__body').innerText();
  result.deniedRows = await page.locator('#access-events .row-denied').count();
  await check(page, 'auditor-log-filtered');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csvPath = join(ARTIFACTS_DIR, 'access-log.csv');
  await download.saveAs(csvPath);
  result.csv = readFileSync(csvPath, 'utf8');

  await page.click('#nav-charts');
  await page.locator('#chart-denials canvas').waitFor();
  await page.waitForTimeout(800); // the charts' entry animation
  await check(page, 'auditor-charts');

  await page.click('#nav-review');
  const review = page.locator('#review-queue .review').first();
  await review.waitFor();
  result.openingReviewed = await review.getAttribute('data-opening');
  await screenshot(page, 'auditor-review-queue');
  await review.click();
  await page.fill('#review-note', '复核：急诊抢救，理由充分');
  await check(page, 'auditor-review-form');
  await page.click('#review-submit');
  await page.locator('#reviewed .el-table__row').first().waitFor();
  result.reviewed = await page.locator('#reviewed').innerText();
  await screenshot(page, 'auditor-reviewed');
  await page.context().close();
}

async function main() {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    await cardiologist(browser);
    await gp(browser);
    await auditor(browser);
  } catch (err) {
    if (current) {
      result.failurePage = await current.locator('body').innerText().catch(() => '');
      await current.screenshot({ path: join(ARTIFACTS_DIR, 'failure.png') }).catch(() => {});
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
