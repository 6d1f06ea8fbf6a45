// The patient's timeline: every record across institutions, newest first, with who can open it
// (the patient, plus each consent in force that covers it). Records are FAME-encrypted; this
// app does not decrypt or encrypt them, so each record shows the CLI command that does.
import { add, h } from '../dom.js';
import { dateTime, short } from '../format.js';
import { t } from '../i18n.js';
import { granteeLabel } from './consents.js';

export async function renderRecords(main, app) {
  const me = app.session.address;
  const [records, consents] = await Promise.all([
    app.session.all(`/patients/${me}/records`),
    app.session.all('/consents', { patient: me }),
  ]);
  const active = consents.filter((c) => c.active);
  records.sort((a, b) => (b.block_number ?? 0) - (a.block_number ?? 0));
  add(main,
    h('h2', {}, t('records.title', { count: records.length })),
    records.length === 0 ? h('p', { class: 'empty' }, t('records.none')) : null,
    h('ol', { class: 'timeline', id: 'records' }, records.map((r) => recordItem(r, active, app))),
    uploadHelp(me),
  );
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
      h('time', {}, dateTime(record.registered_at)),
    ),
    h('div', { class: 'meta' }, t('records.institution'), ' ', app.session.institutionName(record.author_institution)),
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

function uploadHelp(me) {
  return h(
    'section',
    { class: 'card' },
    h('h2', {}, t('records.uploadTitle')),
    h('p', {}, t('records.uploadHint')),
    h('pre', { class: 'cli' }, `medledger patient share report.pdf --policy "org:cd3h and dept:cardiology" --type lab-report\nmedledger patient share observation.json --fhir --policy "org:cd3h"`),
    h('p', { class: 'hint' }, t('records.uploadPatient', { address: me })),
  );
}
