// The browser half of tests/workstation/test_browser_marketplace.py: the app marketplace
// (应用超市) in the workstation, one browser context per person (Debian's chromium, headless,
// playwright-core, 1280×800, zh-CN):
//
// 1. the vendor submits an app: the empty form is refused field by field, then the filled
//    manifest is uploaded, the AppSubmission signed in the page; the app's page says In Review;
// 2. the three administrators approve it in the review queue, each signing an AppVote: after
//    two it is still In Review (the page says so), the third one's rejection needs a reason
//    (the button stays disabled without one), she approves instead and it is Live;
// 3. the institution's admin finds it in the marketplace, installs it (AppInstallation) and
//    rates it 4 (AppRating);
// 4. a clinician of that institution sees it among the institution's apps, and the app page
//    in English.
// Prints "RESULT <json>" or "FAIL <why>"; a screenshot of every step goes to $ARTIFACTS.
//
// env: WS_URL, ARTIFACTS, CHROMIUM, PASSWORD, VENDOR_KEYSTORE, PROVIDER_KEYSTORE,
//      REGULATOR_KEYSTORE, AUTHORITY_KEYSTORE, INSTADMIN_KEYSTORE, CLINICIAN_KEYSTORE
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const problems = [];
const result = {};
let shot = 0;
let current = null;

async function screenshot(page, name) {
  shot += 1;
  const text = await page.locator('body').innerText();
  const bad = text.match(/\b(null|undefined|NaN)\b|\{[a-z]+\}|\bmkt\.[a-zA-Z.]+\b|\bnav\.[a-zA-Z]+\b/);
  if (bad) problems.push(`${name}: the page shows ${JSON.stringify(bad[0])}`);
  // nothing wider than the window: no horizontal scrolling at 1280×800
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) problems.push(`${name}: ${overflow}px wider than the window`);
  await page.screenshot({ path: join(env.ARTIFACTS, `mkt-${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function person(browser, who, keystore) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN', deviceScaleFactor: 1 });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(30000);
  page.on('pageerror', (err) => problems.push(`${who}: page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) problems.push(`${who}: console: ${msg.text()}`);
  });
  await page.goto(env.WS_URL);
  await page.locator('#sign-in').waitFor();
  await page.setInputFiles('#import-file', keystore);
  await page.fill('#import-name', who);
  await page.fill('#import-password', env.PASSWORD);
  await page.click('#import-button');
  await page.locator('#signin-button:not([disabled])').waitFor();
  await page.click('#signin-button');
  await page.locator('#nav-market').waitFor();
  return { page, context };
}

async function unlabelled(page) {
  // every visible form control has an accessible name (label, aria-label or aria-labelledby)
  return page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select, [role=combobox]')]
    .filter((el) => el.offsetParent !== null)
    .filter((el) => {
      const id = el.id;
      const labelled = (id && document.querySelector(`label[for="${id}"]`)) || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      return !labelled;
    })
    .map((el) => el.id || el.outerHTML.slice(0, 80)));
}

async function vote(browser, who, keystore, appId, name) {
  const { page, context } = await person(browser, who, keystore);
  await page.click('#nav-marketReview');
  const item = page.locator(`.queue-item[data-app="${appId}"]`);
  await item.waitFor();
  result[`${name}Role`] = await page.locator('#my-admin-role').innerText();
  await screenshot(page, `${name}-queue`);
  return { page, context, item };
}

async function main() {
  mkdirSync(env.ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    // 1. the vendor submits
    const vendor = await person(browser, 'vendor', env.VENDOR_KEYSTORE);
    const v = vendor.page;
    await v.locator('#marketplace').waitFor();
    await screenshot(v, 'vendor-marketplace-empty');
    await v.click('#nav-marketSubmit');
    await v.locator('#market-submit').waitFor();
    await v.click('#submit-app');
    await v.locator('#submit-problems').waitFor();
    result.emptyFormProblems = await v.locator('#submit-problems').innerText();
    // the messages under the fields come in with a transition: wait for them before counting
    await v.locator('.el-form-item__error').nth(4).waitFor();
    result.fieldErrors = await v.locator('.el-form-item__error').count();
    await screenshot(v, 'vendor-form-refused');
    await v.fill('#submit-name', '血压趋势图');
    await v.fill('#submit-vendor', '蓉城医疗软件有限公司');
    await v.fill('#submit-description', '读取当前患者的血压观察结果，绘制近三个月的趋势图，并标出超出目标范围的读数。');
    await v.fill('#submit-launch', 'https://bp.example.cn/launch');
    await v.fill('#submit-redirects', 'https://bp.example.cn/callback');
    await v.fill('#submit-package', `sha256:${'0f'.repeat(32)}`);
    await v.fill('#scope-why-0', '知道要为哪位患者绘图');
    await v.click('#scope-add');
    await v.fill('#scope-1', 'patient/Observation.rs?category=vital-signs');
    await v.fill('#scope-why-1', '读取血压读数');
    await v.click('#scope-add');
    await v.fill('#scope-2', 'system/Patient.rs'); // an app acts for a person: refused
    await v.fill('#scope-why-2', '—');
    await v.click('#submit-app');
    await v.locator('#submit-problems').waitFor();
    // the message under the scope (a leaving message of the same field may still be fading out)
    result.systemScopeError = await v.locator('.scope-row').nth(2).locator('.el-form-item__error', { hasText: 'SMART' }).first().innerText();
    await v.fill('#scope-2', 'openid');
    await v.fill('#scope-why-2', '确认医生身份');
    await v.click('#scope-add');
    await v.fill('#scope-3', 'fhirUser');
    await v.fill('#scope-why-3', '知道是哪位医生');
    result.previews = await v.locator('.scope-preview').allInnerTexts();
    result.submitUnlabelled = await unlabelled(v);
    await screenshot(v, 'vendor-form-filled');
    await v.click('#submit-app');
    await v.locator('#market-app[data-status="in_review"]').waitFor({ timeout: 60000 });
    result.appId = await v.locator('#market-app').getAttribute('data-app');
    result.vendorStatus = await v.locator('#app-status').innerText();
    result.vendorScopes = await v.locator('#app-scopes').innerText();
    // its own vendor may retire it; nobody else sees a state button (below)
    result.vendorStatusButtons = await v.locator('.version-card .status-actions button').allInnerTexts();
    await screenshot(v, 'vendor-app-in-review');
    await vendor.context.close();

    // 2. the three administrators
    const names = [['provider', env.PROVIDER_KEYSTORE], ['regulator', env.REGULATOR_KEYSTORE]];
    for (const [name, keystore] of names) {
      const admin = await vote(browser, name, keystore, result.appId, name);
      await admin.item.locator('.approve-app').click();
      await admin.item.locator('.queue-approvals').filter({ hasText: name === 'provider' ? '1/3' : '2/3' }).waitFor();
      result[`${name}Disabled`] = await admin.item.locator('.approve-app').isDisabled();
      await screenshot(admin.page, `${name}-approved`);
      if (name === 'regulator') {
        await admin.item.locator('.open-app').click();
        await admin.page.locator('#market-app').waitFor();
        await admin.page.locator('.version-card .votes .el-table__row').nth(1).waitFor();
        result.afterTwo = await admin.page.locator('#market-app').getAttribute('data-status');
        result.afterTwoVotes = await admin.page.locator('.version-card .votes').innerText();
        await screenshot(admin.page, 'app-after-two-approvals');
      }
      await admin.context.close();
    }
    const third = await vote(browser, 'authority', env.AUTHORITY_KEYSTORE, result.appId, 'authority');
    await third.item.locator('.reject-app').click();
    await third.page.locator('#reject-reason').waitFor();
    result.rejectWithoutReasonDisabled = await third.page.locator('#reject-submit').isDisabled();
    await screenshot(third.page, 'authority-reject-needs-reason');
    await third.page.keyboard.press('Escape');
    await third.page.locator('#reject-reason').waitFor({ state: 'hidden' });
    await third.item.locator('.approve-app').click();
    await third.page.locator('#market-review .el-empty').waitFor({ timeout: 60000 });
    await screenshot(third.page, 'authority-queue-empty');
    await third.page.click('#nav-market');
    const card = third.page.locator(`.app-card[data-app="${result.appId}"]`);
    await card.waitFor();
    result.liveCard = await card.innerText();
    await screenshot(third.page, 'marketplace-live');
    // she suspends the Live version (a reason required, signed in the page), then reinstates it
    const t3 = third.page;
    await card.locator('.open-app').click();
    await t3.locator('#market-app[data-status="live"] .version-card .status-suspend').waitFor();
    result.authorityStatusButtons = await t3.locator('.version-card .status-actions button').allInnerTexts();
    await t3.locator('.version-card .status-suspend').click();
    await t3.locator('#status-reason').waitFor();
    result.suspendWithoutReasonDisabled = await t3.locator('#status-submit').isDisabled();
    await t3.fill('#status-reason', '收到数据安全问题报告，核查期间暂停');
    result.statusUnlabelled = await unlabelled(t3);
    await screenshot(t3, 'authority-suspend-reason');
    await t3.click('#status-submit');
    await t3.locator('#market-app[data-status="suspended"] .version-card .status-reinstate').waitFor({ timeout: 60000 });
    result.suspendedVersion = await t3.locator('.version-card .version-head').first().innerText();
    await screenshot(t3, 'authority-suspended');
    await t3.locator('.version-card .status-reinstate').click();
    await t3.locator('#status-submit').click();
    await t3.locator('#market-app[data-status="live"] .version-card .status-suspend').waitFor({ timeout: 60000 });
    await third.context.close();

    // 3. the institution's admin installs and rates
    const inst = await person(browser, 'inst-admin', env.INSTADMIN_KEYSTORE);
    const p = inst.page;
    await p.click('#nav-market');
    await p.fill('#market-q', '血压');
    await p.click('#market-search');
    await p.locator(`.app-card[data-app="${result.appId}"] .open-app`).click();
    await p.locator('#market-app[data-status="live"]').waitFor();
    result.votesShown = await p.locator('.version-card .votes .el-table__row').count();
    result.instAdminStatusButtons = await p.locator('.status-actions button').count();
    result.txShown = await p.locator('.version-card .tx-hash').count();
    await screenshot(p, 'inst-admin-app-page');
    await p.locator('.install-app').click();
    await p.locator('.uninstall-app').waitFor({ timeout: 60000 });
    result.installs = await p.locator('#app-installs').innerText();
    await p.locator('.rate-input .el-rate__item').nth(3).click();
    await p.locator('.rate-app').click();
    await p.locator('#app-rating-count').filter({ hasText: '1' }).waitFor({ timeout: 60000 });
    result.ratingCount = await p.locator('#app-rating-count').innerText();
    result.appUnlabelled = await unlabelled(p);
    await screenshot(p, 'inst-admin-installed-rated');
    await p.click('#nav-marketInstalled');
    await p.locator(`#installed-apps .installed-app[data-app="${result.appId}"]`).waitFor();
    result.installedAdmin = await p.locator('#installed-apps').innerText();
    await screenshot(p, 'inst-admin-installed-list');
    await inst.context.close();

    // 4. a clinician of the institution
    const doc = await person(browser, 'clinician', env.CLINICIAN_KEYSTORE);
    const d = doc.page;
    await d.click('#nav-marketInstalled');
    await d.locator(`#installed-apps .installed-app[data-app="${result.appId}"]`).waitFor();
    result.installedClinician = await d.locator('#installed-apps').innerText();
    result.clinicianActions = await d.locator('.institution-actions').count();
    await screenshot(d, 'clinician-installed');
    await d.locator(`.installed-app[data-app="${result.appId}"]`).click();
    await d.locator('#app-installed-here').waitFor();
    result.clinicianStatusButtons = await d.locator('.status-actions button').count();
    await d.click('#switch-language');
    await d.locator('#app-scopes', { hasText: 'Read and search' }).waitFor();
    result.englishScopes = await d.locator('#app-scopes').innerText();
    await screenshot(d, 'clinician-app-page-en');
    await doc.context.close();
    console.log(`RESULT ${JSON.stringify({ ...result, problems })}`);
  } catch (err) {
    if (current) await current.screenshot({ path: join(env.ARTIFACTS, `mkt-${String(shot + 1).padStart(2, '0')}-failure.png`) }).catch(() => {});
    console.log(`FAIL ${err.stack ?? err} ${JSON.stringify(problems)}`);
  } finally {
    await browser.close();
  }
}

await main();
