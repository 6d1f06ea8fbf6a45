// A large upload in the wallet page (Chromium): the patient imports their wallet (the key the
// test made), picks a file over 32 MiB (by path: the browser reads it from disk), chooses cd3h
// cardiology and uploads; the page encrypts it in the upload worker into the Origin Private
// File System and sends it from there. Meanwhile this script samples the resident memory of
// every process of this Chromium (the descendants of this node process, from /proc) every
// 100 ms and reports the peak growth over the level before the upload. The profile is on disk
// (a persistent context), as a patient's browser is.
// Prints "STEP uploaded {json}" ({ recordId, tx, policy, baselineMib, peakMib, growthMib, ms })
// or "FAIL <why>". env: WALLET_URL, ARTIFACTS, CHROMIUM, PATIENT_KEY, FILE (path)
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { WALLET_URL, ARTIFACTS, PATIENT_KEY, FILE } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery';
const problems = [];

const perProcess = new Map(); // pid → { first, peak, name } for the report

/** Sum of VmRSS (KiB) over every descendant process of this one. */
function descendantsRssKib() {
  const parent = new Map();
  const rss = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      parent.set(Number(name), Number(/PPid:\s+(\d+)/.exec(status)?.[1] ?? 0));
      rss.set(Number(name), Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  for (const pid of parent.keys()) {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops += 1) {
      if (p === process.pid && pid !== process.pid) {
        const kib = rss.get(pid) ?? 0;
        total += kib;
        const seen = perProcess.get(pid) ?? { first: kib, peak: kib };
        seen.peak = Math.max(seen.peak, kib);
        perProcess.set(pid, seen);
        break;
      }
    }
  }
  return total;
}

function processType(pid) {
  try {
    return /--type=([a-z-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '))?.[1] ?? 'browser';
  } catch {
    return 'gone';
  }
}

async function main() {
  // a profile on disk, as a patient's browser has: an incognito context keeps the Origin
  // Private File System in memory, which would count the whole body against the browser
  const profile = mkdtempSync(join(tmpdir(), 'wallet-profile-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox'],
    viewport: { width: 1280, height: 800 },
    locale: 'en',
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
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
    await page.locator('#add-record').waitFor();
    await page.setInputFiles('#record-file', FILE);
    await page.locator('#record-file-info').filter({ hasText: 'MiB' }).waitFor();
    await page.fill('#record-type', 'imaging-study');
    const options = await page.locator('#record-policy-pick option').allInnerTexts();
    const choice = options.findIndex((o) => o.includes('(cd3h)') && o.includes('cardiology'));
    if (choice < 1) throw new Error(`no cd3h cardiology choice in ${JSON.stringify(options)}`);
    await page.selectOption('#record-policy-pick', String(choice - 1));
    await new Promise((ok) => setTimeout(ok, 1000));
    const baseline = descendantsRssKib();
    let peak = baseline;
    let atUpload = null; // the total when the page starts sending (encryption done)
    const sampler = setInterval(async () => {
      const now = descendantsRssKib();
      peak = Math.max(peak, now);
      if (atUpload === null) {
        const stage = await page.locator('#record-status').innerText().catch(() => '');
        if (/Uploading|上传/.test(stage)) atUpload = { totalMib: Math.round(now / 1024), peakSoFarMib: Math.round(peak / 1024) };
      }
    }, 100);
    const started = Date.now();
    await page.click('#record-upload');
    const outcome = await Promise.race([
      page.locator('#record-new-id').waitFor({ timeout: 600000 }).then(() => 'ok'),
      page.locator('#add-record > .error').waitFor({ timeout: 600000 }).then(() => 'error'),
    ]);
    clearInterval(sampler);
    const ms = Date.now() - started;
    await page.screenshot({ path: join(ARTIFACTS, 'upload-large.png'), fullPage: true });
    if (outcome === 'error') throw new Error(`upload failed: ${await page.locator('#add-record > .error').innerText()}`);
    const left = await page.evaluate(async () => {
      const names = [];
      for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
      return names;
    });
    if (problems.length) throw new Error(problems.join('; '));
    const mib = (kib) => Math.round((kib / 1024) * 10) / 10;
    process.stdout.write(
      `STEP uploaded ${JSON.stringify({
        recordId: await page.locator('#record-new-id').innerText(),
        tx: await page.locator('#record-new-tx').innerText(),
        baselineMib: mib(baseline),
        peakMib: mib(peak),
        growthMib: mib(peak - baseline),
        ms,
        opfsLeft: left,
        atUpload,
        processes: [...perProcess.entries()]
          .map(([pid, v]) => ({ pid, type: processType(pid), firstMib: mib(v.first), growthMib: mib(v.peak - v.first) }))
          .filter((p) => p.growthMib > 1),
      })}\n`,
    );
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stdout.write(`FAIL ${String(err?.message ?? err).replace(/\n/g, ' ')}\n`);
  process.exit(1);
});
