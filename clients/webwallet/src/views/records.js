// The patient's timeline (GET /patients/{me}/timeline): every record across institutions,
// newest first by clinical date, with referral and consultation events interleaved. A record
// shows its type, date, institution and who can open it (the patient, plus each consent in
// force that covers it). Records are encrypted: "Add a record" encrypts a file on this page
// and uploads it (views/addrecord.js); "Open" decrypts one on this page with the patient's own
// slot (readrecord.js: checked against the chain's registration first) and shows it plainly.
import { add, clear, h } from '../dom.js';
import { busy } from '../errors.js';
import { recordContentView } from '../fhirview.js';
import { openOwnRecord } from '../readrecord.js';
import { dateTime, short } from '../format.js';
import { t } from '../i18n.js';
import { addRecordCard } from './addrecord.js';
import { granteeView } from './consents.js';
import { directoryCache } from '../directory.js';

export async function renderRecords(main, app) {
  const me = app.session.address;
  const [items, consents] = await Promise.all([
    app.session.all(`/patients/${me}/timeline`),
    app.session.all('/consents', { patient: me }),
  ]);
  const active = consents.filter((c) => c.active);
  const people = await directoryCache(app.session).resolve(active.map((c) => c.grantee).filter(Boolean));
  const records = items.filter((i) => i.kind === 'record');
  add(
    main,
    h('h2', {}, t('records.title', { count: records.length })),
    items.length === 0 ? h('p', { class: 'empty' }, t('records.none')) : null,
    h('ol', { class: 'timeline', id: 'records' }, items.map((i) => (i.kind === 'record' ? recordItem(i, active, app, people) : workflowItem(i)))),
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

function recordItem(record, active, app, people) {
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
      readers.map((c) => h('span', { class: `chip purpose-${c.purpose}` }, granteeView(c, people), ' · ', t(`purpose.${c.purpose}`))),
    ),
    openButton(record, app),
    h('button', { class: 'small', onclick: () => app.go('consents', { recordId: record.record_id }) }, t('records.grantThis')),
  );
}

/** "Open": decrypt in the page and show the content under the record (again: hide it). */
function openButton(record, app) {
  const shown = h('div', { class: 'opened', 'aria-live': 'polite' });
  const button = h('button', { class: 'small open-record', 'aria-expanded': 'false' }, t('records.open'));
  button.addEventListener('click', () =>
    busy(button, shown, async () => {
      if (button.getAttribute('aria-expanded') === 'true') {
        clear(shown);
        button.setAttribute('aria-expanded', 'false');
        button.textContent = t('records.open');
        return;
      }
      clear(shown, h('p', { class: 'meta' }, t('records.decrypting')));
      const opened = await openOwnRecord(app.session, record.record_id).catch((err) => {
        clear(shown);
        throw err;
      });
      clear(shown, recordContentView(opened));
      button.setAttribute('aria-expanded', 'true');
      button.textContent = t('records.hide');
    }),
  );
  return [button, shown];
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
