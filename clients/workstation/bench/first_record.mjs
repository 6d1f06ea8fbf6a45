// scripts/bench_web_chart.py's browser half: sign-in to the first decrypted record of a chart
// in Debian's Chromium (headless, playwright-core), 1280×800, a fresh browser context per run
// (no cached wallet session, key or WebAssembly module). The keystore file is imported first
// (not timed: a one-off); the clock starts at the click on "sign in" — the wallet unlocked
// (its scrypt), SIWE, the profile — and runs through the patient's timeline to the first
// record's FHIR view: both reads signed and logged on chain, the attribute key fetched from the
// clinician's own authority, the bytes checked against the chain and decrypted in the page.
// Prints one line {"runs": [{signed_in_ms, timeline_ms, first_record_ms, records, stages}], ...}.
//
// Each timed wait is checked by the page itself on every animation frame (waitForFunction,
// polling 'raf'), not by playwright's locator.waitFor: that one polls the page at 0, 20, 50,
// 100, 100 ms and then every 500 ms, so a step that takes over a quarter of a second was seen
// up to half a second late, and that lag (three waits) was counted as the page's time. The
// events timed are unchanged: the same elements, visible (checkVisibility, as playwright's
// "visible": laid out, not hidden). `stages`: the page's own performance marks (SignIn.vue,
// state.js, Profile.vue, Patient.vue, reads.js), in ms from the click's mark, for where the
// time went.
//
// env: WS_URL, CHROMIUM, PASSWORD, PATIENT, KEYSTORE, RUNS, ARTIFACTS (optional: a screenshot)
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;

/** Resolves once `selector` (inside the first `within` when given) is visible, checked every frame. */
function visible(page, selector, within = null) {
  return page.waitForFunction(([sel, scope]) => {
    const root = scope ? document.querySelector(scope) : document;
    return root?.querySelector(sel)?.checkVisibility() === true;
  }, [selector, within], { polling: 'raf', timeout: 60000 });
}

async function once(browser, index) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(env.WS_URL);
  await page.setInputFiles('#import-file', env.KEYSTORE);
  await page.fill('#import-name', 'bench');
  await page.fill('#import-password', env.PASSWORD);
  await page.click('#import-button');
  await page.locator('#signin-button:not([disabled])').waitFor();

  const t0 = Date.now();
  await page.click('#signin-button');
  await visible(page, '#profile');
  const signedIn = Date.now();
  await page.click('#nav-patient');
  await page.fill('#patient-address', env.PATIENT);
  await page.click('#patient-load');
  const FIRST = '.record[data-locked="false"]';
  const first = page.locator(FIRST).first();
  await visible(page, FIRST);
  const timeline = Date.now();
  await first.locator('.open-record').click();
  await visible(page, '.opened .fhir-view, .opened .decrypt-error, .opened .denied', FIRST);
  const done = Date.now();
  const views = await first.locator('.opened .fhir-view').count();
  if (!views) throw new Error(`the first record was not decrypted: ${await first.locator('.opened').innerText()}`);
  const records = await page.locator('.record').count();
  // the page's own marks (SignIn.vue, Patient.vue): where the time went
  const marks = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime])));
  const since = (name) => (marks[name] == null ? null : Math.round(marks[name] - marks['ws:sign-in']));
  const stages = Object.fromEntries(Object.keys(marks).filter((name) => name.startsWith('ws:')).map((name) => [name.slice(3), since(name)]).sort((a, b) => a[1] - b[1]));
  if (env.ARTIFACTS && index === 0) await page.screenshot({ path: join(env.ARTIFACTS, 'bench-first-record.png') });
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  await context.close();
  return {
    signed_in_ms: signedIn - t0, timeline_ms: timeline - t0, first_record_ms: done - t0, records,
    unlock_ms: since('ws:unlocked'), siwe_done_ms: since('ws:signed-in'), timeline_answer_ms: since('ws:timeline'), decrypted_ms: since('ws:decrypted'),
    stages,
  };
}

async function main() {
  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const runs = [];
    for (let i = 0; i < Number(env.RUNS || 3); i += 1) runs.push(await once(browser, i));
    process.stdout.write(`${JSON.stringify({ runs, browser: browser.version() })}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stdout.write(`FAIL ${String(err?.stack ?? err).replace(/\n/g, ' | ')}\n`);
  process.exit(1);
});
