// Consents: who may access what (in force, expiring soon, ended), grant a new one and revoke
// one with a tap. A grant is built as EIP-712 typed data, shown as a human-readable summary
// (and the raw typed data), and signed only when the patient confirms; the API relays it.
import { add, h } from '../dom.js';
import { busy } from '../errors.js';
import { DAY, date, nowSeconds, short } from '../format.js';
import { t } from '../i18n.js';
import { grantForm } from './grant.js';
import { directoryCache } from '../directory.js';
import { personView } from './person.js';
import { buildRevocation, consentFromListing, consentId, consentJson, freshNonce, signTyped } from '../eip712.js';

const SOON = 7 * DAY;
const WORKFLOW_PURPOSES = ['referral', 'consultation'];
const REVOCATION_TTL = 3600;

export function granteeLabel(c) {
  if (c.grantee) return short(c.grantee);
  return c.grantee_policy ?? short(c.grantee_policy_hash);
}

/** A grantee as people read it: the doctor's name line (address one click away) or the group. */
export function granteeView(c, people) {
  if (c.grantee) return personView(c.grantee, people?.get(c.grantee.toLowerCase()));
  return granteeLabel(c);
}

export async function renderConsents(main, app) {
  const me = app.session.address;
  // the directory is read again each time: institutions and departments change on chain
  const [consents, records, directory] = await Promise.all([
    app.session.all('/consents', { patient: me }),
    app.session.all(`/patients/${me}/records`),
    app.session.api.get('/directory'),
  ]);
  app.session.directory = directory;
  const people = await directoryCache(app.session).resolve(consents.map((c) => c.grantee).filter(Boolean));
  consents.sort((a, b) => b.granted_at - a.granted_at);
  const active = consents.filter((c) => c.active);
  const ended = consents.filter((c) => !c.active);
  const list = h('section', { class: 'card' }, h('h2', {}, t('consents.active', { count: active.length })));
  if (active.length === 0) list.append(h('p', { class: 'empty' }, t('consents.noneActive')));
  // referral and consultation grants (the audience of a workflow) apart from the others
  const workflow = active.filter((c) => WORKFLOW_PURPOSES.includes(c.purpose));
  const direct = active.filter((c) => !WORKFLOW_PURPOSES.includes(c.purpose));
  add(
    list,
    h(
      'div',
      { id: 'active-consents' },
      direct.length ? h('ul', { class: 'consents' }, direct.map((c) => consentItem(c, app, true, people))) : null,
      workflow.length ? [h('h3', {}, t('consents.workflowGrants')), h('ul', { class: 'consents' }, workflow.map((c) => consentItem(c, app, true, people)))] : null,
    ),
  );
  add(main,
    app.params.notice ? h('p', { class: 'notice', id: 'notice', role: 'status' }, app.params.notice) : null,
    list,
    ended.length
      ? h('details', { class: 'card' }, h('summary', {}, t('consents.ended', { count: ended.length })), h('ul', { class: 'consents', id: 'ended-consents' }, ended.map((c) => consentItem(c, app, false, people))))
      : null,
    grantForm(app, records, (receipt) => app.go('consents', { notice: t('grant.done', { tx: short(receipt.tx_hash) }) })),
  );
}

function consentItem(c, app, active, people) {
  const soon = active && c.expires_at - nowSeconds() < SOON;
  const li = h(
    'li',
    { class: `consent${soon ? ' soon' : ''}`, 'data-consent': c.consent_id },
    h('div', { class: 'record-head' }, h('strong', { class: 'grantee' }, granteeView(c, people)), h('span', { class: `chip purpose-${c.purpose}` }, t(`purpose.${c.purpose}`))),
    h('div', { class: 'meta' }, c.record_id ? t('consents.oneRecord', { id: short(c.record_id) }) : t('consents.allRecords')),
    h('div', { class: 'meta' }, t('consents.until', { date: date(c.expires_at) }), soon ? h('span', { class: 'chip warn' }, t('consents.expiringSoon')) : null),
    !active ? h('div', { class: 'meta' }, c.revoked ? t('consents.revoked') : c.superseded ? t('consents.superseded') : t('consents.expired')) : null,
  );
  if (active) {
    const button = h('button', { class: 'danger revoke' }, t('consents.revoke'));
    button.addEventListener('click', () =>
      busy(button, li, async () => {
        await revoke(app, c);
        app.go('consents', { notice: t('consents.revokedNotice') });
      }),
    );
    li.append(button);
  }
  return li;
}

/** Sign a Revocation of exactly the listed consent (its id checked first) and relay it. */
export async function revoke(app, item) {
  const consent = consentFromListing(item);
  if (consentId(consent).toLowerCase() !== item.consent_id.toLowerCase()) {
    throw new Error(t('consents.idMismatch'));
  }
  const revocation = buildRevocation({
    patient: app.session.address,
    consentId: item.consent_id,
    nonce: freshNonce(consent.nonce),
    deadline: nowSeconds() + REVOCATION_TTL,
  });
  const signature = await signTyped(app.session.wallet, app.session.domain, 'Revocation', revocation);
  return app.session.api.post('/consents/revocations', {
    consent: consentJson(consent),
    nonce: revocation.nonce.toString(),
    deadline: revocation.deadline,
    signature,
  });
}
