// The grant form. Whom: a doctor chosen from the directory (institution → department →
// doctor, views/doctorpick.js), a doctor's QR code (camera or picture, views/qrpick.js), an
// address typed by hand (advanced), or a group (institution, department, role) turned into a
// canonical attribute policy; one record or all; purpose; expiry. "Review" builds the typed data and shows what will be signed; "Sign and grant" signs
// that exact message and has the API relay it to ConsentManager.
import { isAddress } from 'ethers';
import { clear, h } from '../dom.js';
import { busy } from '../errors.js';
import { DAY, dateTime, nowSeconds, short } from '../format.js';
import { t } from '../i18n.js';
import { conjunction, policyHash } from '../policy.js';
import { directoryCache, personName } from '../directory.js';
import { doctorPicker } from './doctorpick.js';
import { qrPicker } from './qrpick.js';
import { buildConsent, consentJson, freshNonce, signTyped, typedData } from '../eip712.js';

const GRANTABLE = ['treatment', 'referral', 'consultation', 'research'];

export function grantForm(app, records, done) {
  const dir = app.session.directory?.institutions ?? [];
  const kind = h(
    'select',
    { id: 'grant-kind', 'aria-label': t('grant.who') },
    h('option', { value: 'directory' }, t('grant.fromDirectory')),
    h('option', { value: 'qr' }, t('grant.byQr')),
    h('option', { value: 'group' }, t('grant.group')),
    h('option', { value: 'doctor' }, t('grant.typedAddress')),
  );
  const picker = doctorPicker(app, dir);
  const qr = qrPicker(app);
  const address = h('input', { id: 'grant-address', placeholder: '0x…', autocomplete: 'off', 'aria-label': t('grant.doctorAddress') });
  const institution = h('select', { id: 'grant-institution', 'aria-label': t('grant.institution') }, dir.filter((i) => i.active).map((i) => h('option', { value: i.code }, `${i.name} (${i.code})`)));
  const dept = h('select', { id: 'grant-dept', 'aria-label': t('grant.department') });
  const role = h('select', { id: 'grant-role', 'aria-label': t('grant.role') });
  const fillGroup = () => {
    const inst = dir.find((i) => i.code === institution.value);
    clear(dept, h('option', { value: '' }, t('grant.anyDepartment')), (inst?.attributes?.dept ?? []).map((d) => h('option', { value: d }, d)));
    clear(role, h('option', { value: '' }, t('grant.anyRole')), (inst?.roles ?? []).map((r) => h('option', { value: r }, t(`role.${r}`))));
  };
  fillGroup();
  institution.addEventListener('change', fillGroup);
  const doctorFields = h('div', { class: 'fields', hidden: true }, h('label', {}, t('grant.doctorAddress'), address));
  const groupFields = h('div', { class: 'fields', hidden: true }, h('label', {}, t('grant.institution'), institution), h('label', {}, t('grant.department'), dept), h('label', {}, t('grant.role'), role));
  kind.addEventListener('change', () => {
    picker.element.hidden = kind.value !== 'directory';
    qr.element.hidden = kind.value !== 'qr';
    doctorFields.hidden = kind.value !== 'doctor';
    groupFields.hidden = kind.value !== 'group';
    if (kind.value !== 'qr') qr.stop();
  });
  const scope = h(
    'select',
    { id: 'grant-scope', 'aria-label': t('grant.scope') },
    h('option', { value: '' }, t('grant.allRecords')),
    records.map((r) => h('option', { value: r.record_id, selected: r.record_id === app.params.recordId }, `${r.record_type || '—'} · ${short(r.record_id)}`)),
  );
  const purpose = h('select', { id: 'grant-purpose', 'aria-label': t('grant.purpose') }, GRANTABLE.map((p) => h('option', { value: p }, t(`purpose.${p}`))));
  const days = h('input', { id: 'grant-days', type: 'number', min: '1', max: '3650', value: '30', 'aria-label': t('grant.days') });
  const review = h('div', { class: 'review', id: 'grant-review' });
  const form = h(
    'form',
    { class: 'card', id: 'grant-form' },
    h('h2', {}, t('grant.title')),
    h('label', {}, t('grant.who'), kind),
    picker.element,
    qr.element,
    doctorFields,
    groupFields,
    h('label', {}, t('grant.scope'), scope),
    h('label', {}, t('grant.purpose'), purpose),
    h('label', {}, t('grant.days'), days),
    h('button', { type: 'submit', id: 'grant-review-button' }, t('grant.review')),
    review,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(form.querySelector('#grant-review-button'), form, async () => {
      const choice = readChoice({ kind, address, institution, dept, role, scope, purpose, days, picker, qr });
      if (choice.grantee) {
        // the name the patient will read in the summary comes from the directory (cached)
        const people = await directoryCache(app.session).resolve([choice.grantee]);
        choice.person = personName(people.get(choice.grantee.toLowerCase()));
      }
      const consent = buildConsent({
        patient: app.session.address,
        grantee: choice.grantee,
        granteePolicyHash: choice.policy ? policyHash(choice.policy) : null,
        recordId: choice.recordId,
        purpose: choice.purpose,
        expiresAt: nowSeconds() + choice.days * DAY,
        nonce: freshNonce(),
      });
      showReview(review, app, consent, choice, done);
    });
  });
  return form;
}

function readChoice({ kind, address, institution, dept, role, scope, purpose, days, picker, qr }) {
  const n = Number(days.value);
  if (!Number.isInteger(n) || n < 1 || n > 3650) throw new Error(t('grant.badDays'));
  const base = { recordId: scope.value || null, purpose: purpose.value, days: n };
  if (kind.value === 'directory') {
    const chosen = picker.value();
    if (!chosen) throw new Error(t('grant.noDoctor'));
    return { ...base, grantee: chosen, policy: null };
  }
  if (kind.value === 'qr') {
    const scanned = qr.value();
    if (!scanned) throw new Error(t('grant.qrNone'));
    return { ...base, grantee: scanned, policy: null };
  }
  if (kind.value === 'doctor') {
    if (!isAddress(address.value.trim())) throw new Error(t('grant.badAddress'));
    return { ...base, grantee: address.value.trim(), policy: null };
  }
  if (!institution.value) throw new Error(t('grant.noInstitution'));
  const attrs = [`org:${institution.value}`];
  if (dept.value) attrs.push(`dept:${dept.value}`);
  if (role.value) attrs.push(`role:${role.value}`);
  const name = institution.selectedOptions[0]?.textContent ?? institution.value;
  const group = [name, dept.value || t('grant.anyDepartment'), role.value ? t(`role.${role.value}`) : t('grant.anyRole')].join(' · ');
  return { ...base, grantee: null, policy: conjunction(attrs), group };
}

/** The human-readable summary of exactly the message that will be signed. */
export function summary(consent, choice) {
  const who = choice.policy
    ? t('grant.summaryGroup', { group: choice.group, policy: choice.policy })
    : choice.person
      ? t('grant.summaryPerson', { who: choice.person.line, address: consent.grantee })
      : `${t('grant.summaryDoctor', { address: consent.grantee })} ${t('person.unknown')}`;
  const what = consent.recordId === '0x' + '0'.repeat(64) ? t('grant.allRecords') : t('consents.oneRecord', { id: short(consent.recordId) });
  return t('grant.summary', { who, what, purpose: t(`purpose.${choice.purpose}`), until: dateTime(consent.expiresAt) });
}

function showReview(review, app, consent, choice, done) {
  const payload = typedData(app.session.domain, 'Consent', { ...consent, nonce: consent.nonce.toString() });
  const sign = h('button', { type: 'button', class: 'primary', id: 'grant-sign' }, t('grant.sign'));
  const cancel = h('button', { type: 'button', class: 'link' }, t('grant.cancel'));
  review.replaceChildren(
    h('h3', {}, t('grant.confirmTitle')),
    h('p', { class: 'summary', id: 'grant-summary' }, summary(consent, choice)),
    h('details', {}, h('summary', {}, t('grant.typedData')), h('pre', { class: 'json' }, JSON.stringify(payload, null, 2))),
    h('div', { class: 'actions' }, sign, cancel),
  );
  cancel.addEventListener('click', () => review.replaceChildren());
  sign.addEventListener('click', () =>
    busy(sign, review, async () => {
      const signature = await signTyped(app.session.wallet, app.session.domain, 'Consent', consent);
      const receipt = await app.session.api.post('/consents', {
        consent: consentJson(consent),
        signature,
        grantee_policy: choice.policy,
      });
      done?.(receipt);
    }),
  );
}
