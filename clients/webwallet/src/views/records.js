// The patient's timeline (GET /patients/{me}/timeline): every record across institutions,
// newest first by clinical date, with referral and consultation events interleaved. A record
// shows its type, date, institution and who can open it (the patient, plus each consent in
// force that covers it). Records are FAME-encrypted: "Add a record" encrypts a file on this
// page and uploads it (views/addrecord.js); decryption stays with the command line, so each
// record shows the CLI command that opens it.
import { add, h } from '../dom.js';
import { dateTime, short } from '../format.js';
import { t } from '../i18n.js';
import { addRecordCard } from './addrecord.js';
import { granteeLabel } from './consents.js';

export async function renderRecords(main, app) {
  const me = app.session.address;
  const [items, consents] = await Promise.all([
    app.session.all(`/patients/${me}/timeline`),
    app.session.all('/consents', { patient: me }),
  ]);
  const active = consents.filter((c) => c.active);
  const records = items.filter((i) => i.kind === 'record');
  add(
    main,
    h('h2', {}, t('records.title', { count: records.length })),
    items.length === 0 ? h('p', { class: 'empty' }, t('records.none')) : null,
    h('ol', { class: 'timeline', id: 'records' }, items.map((i) => (i.kind === 'record' ? recordItem(i, active, app) : workflowItem(i)))),
    addRecordCard(app),
  );
}

/** A clinical date as the hospital gave it; otherwise the local time of the registration. */
function shownDate(item) {
  return item.date_source === 'clinical' ? item.date : dateTime(item.time);
}

function institution(ref) {
  if (!ref) return t('records.byPatient');
  return ref.name ? `${ref.name}${ref.code ? ` (${ref.code})` : ''}` : `#${ref.id}`;
}

function recordItem(record, active, app) {
  const readers = active.filter((c) => c.record_id == null || c.record_id === record.record_id);
  return h(
    'li',
    { class: 'record', 'data-record': record.record_id },
    h(
      'div',
      { class: 'record-head' },
      h('strong', { class: 'type' }, record.record_type || t('records.untyped')),
      h('time', { title: t(`records.dateSource.${record.date_source}`) }, shownDate(record)),
    ),
    h('div', { class: 'meta' }, t('records.institution'), ' ', institution(record.institution)),
    h('div', { class: 'meta' }, t('records.id'), ' ', h('code', { title: record.record_id }, short(record.record_id))),
    h(
      'div',
      { class: 'readers' },
      h('span', {}, t('records.whoCanOpen')),
      h('span', { class: 'chip self' }, t('records.you')),
      readers.map((c) => h('span', { class: `chip purpose-${c.purpose}` }, granteeLabel(c), ' · ', t(`purpose.${c.purpose}`))),
    ),
    h(
      'details',
      { class: 'cli-help' },
      h('summary', {}, t('records.openWithCli')),
      h('pre', { class: 'cli' }, `medledger patient get ${record.record_id} -o record-${record.record_id.slice(2, 10)}.bin`),
    ),
    h('button', { class: 'small', onclick: () => app.go('consents', { recordId: record.record_id }) }, t('records.grantThis')),
  );
}

function workflowItem(item) {
  const route =
    item.kind === 'referral'
      ? `${institution(item.from_institution)} → ${institution(item.to_institution)}${item.department ? ` · ${item.department}` : ''}`
      : (item.invited_institutions ?? []).map(institution).join('、');
  return h(
    'li',
    { class: `workflow ${item.kind}`, 'data-workflow': item.workflow_id },
    h('div', { class: 'record-head' }, h('strong', {}, t(`records.${item.kind}`), ' · ', item.state ?? item.event), h('time', {}, shownDate(item))),
    route ? h('div', { class: 'meta' }, route) : null,
    h('div', { class: 'meta' }, t('records.event'), ' ', item.event),
  );
}
