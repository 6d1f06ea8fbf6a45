// "Add a record" on the Records tab: pick a file (FHIR JSON is recognised: its resourceType is
// the record type and its clinical date is sent), type a policy or pick one from the
// directory, and the page encrypts and uploads it (upload.js). Files over 32 MiB are
// encrypted in a Web Worker with bounded memory and uploaded from disk (upload_worker.js).
import { h } from '../dom.js';
import { busy } from '../errors.js';
import { t } from '../i18n.js';
import { conjunction } from '../policy.js';
import { fhirMeta, MAX_BROWSER_BYTES } from '../recordmeta.js';
import { shareLargeRecord, shareRecord } from '../upload.js';

function policyChoices(app) {
  const choices = [];
  for (const inst of (app.session.directory?.institutions ?? []).filter((i) => i.active)) {
    choices.push({ label: `${inst.name} (${inst.code})`, policy: conjunction([`org:${inst.code}`]) });
    for (const d of inst.attributes?.dept ?? []) {
      choices.push({ label: `${inst.name} (${inst.code}) · ${d}`, policy: conjunction([`org:${inst.code}`, `dept:${d}`]) });
    }
  }
  return choices;
}

export function addRecordCard(app, { onDone } = {}) {
  const file = h('input', { type: 'file', id: 'record-file', 'aria-label': t('records.file') });
  const type = h('input', { id: 'record-type', placeholder: t('records.typePlaceholder'), 'aria-label': t('records.type') });
  const policy = h('input', { id: 'record-policy', placeholder: 'org:cd3h and dept:cardiology', 'aria-label': t('records.policy') });
  const choices = policyChoices(app);
  const pick = h(
    'select',
    { id: 'record-policy-pick', 'aria-label': t('records.pickPolicy') },
    h('option', { value: '' }, t('records.pickPolicy')),
    choices.map((c, i) => h('option', { value: String(i) }, c.label)),
  );
  pick.addEventListener('change', () => {
    if (pick.value !== '') policy.value = choices[Number(pick.value)].policy;
  });
  const info = h('p', { class: 'hint', id: 'record-file-info' });
  const status = h('p', { class: 'hint', id: 'record-status', 'aria-live': 'polite' });
  const result = h('div', { id: 'record-result' });
  const button = h('button', { type: 'submit', class: 'primary', id: 'record-upload' }, t('records.encryptUpload'));
  let chosen = null; // { bytes, recordType, recordDate, contentType } or { file, … } when large

  file.addEventListener('change', async () => {
    chosen = null;
    info.textContent = '';
    const f = file.files?.[0];
    if (!f) return;
    if (f.size > MAX_BROWSER_BYTES) {
      // never read into memory: the worker streams it (no FHIR sniffing of a file this size)
      const contentType = /^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(f.type) && f.type ? f.type : 'application/octet-stream';
      chosen = { file: f, recordType: '', recordDate: null, contentType };
      info.textContent = t('records.largeFile', { mib: Math.round(f.size / 1048576) });
      return;
    }
    const bytes = new Uint8Array(await f.arrayBuffer());
    let meta = { recordType: '', recordDate: null, contentType: f.type || 'application/octet-stream' };
    if (f.name.toLowerCase().endsWith('.json')) {
      try {
        meta = fhirMeta(bytes);
      } catch (err) {
        info.textContent = t('records.notFhir', { why: err.message });
      }
    }
    if (!/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(meta.contentType)) meta.contentType = 'application/octet-stream';
    chosen = { bytes, ...meta };
    if (meta.recordType) type.value = meta.recordType;
    if (meta.contentType === 'application/fhir+json') {
      info.textContent = t('records.fhirFound', { type: meta.recordType, date: meta.recordDate ?? '—' });
    }
  });

  const form = h(
    'form',
    { class: 'card', id: 'add-record' },
    h('h2', {}, t('records.uploadTitle')),
    h('p', {}, t('records.uploadHint')),
    h('label', {}, t('records.file'), file),
    info,
    h('label', {}, t('records.type'), type),
    h('label', {}, t('records.policy'), policy, pick),
    h('p', { class: 'hint' }, t('records.policyHint')),
    h('div', { class: 'actions' }, button),
    status,
    result,
    h('details', { class: 'cli-help' }, h('summary', {}, t('records.largeFiles')), h('pre', { class: 'cli' }, `medledger patient share report.pdf --policy "org:cd3h and dept:cardiology" --type lab-report\nmedledger patient share observation.json --fhir --policy "org:cd3h"`)),
    h('p', { class: 'hint' }, t('records.uploadPatient', { address: app.session.address })),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(button, form, async () => {
      result.replaceChildren();
      if (!chosen) throw new Error(t('records.noFile'));
      const recordType = type.value.trim();
      if (!recordType) throw new Error(t('records.noType'));
      if (!policy.value.trim()) throw new Error(t('records.policyNeeded'));
      const share = chosen.file ? shareLargeRecord : shareRecord;
      const { answer, policy: full } = await share(app.session, {
        bytes: chosen.bytes,
        file: chosen.file,
        onProgress: (done, total) => {
          status.textContent = t('records.stage.progress', { percent: Math.floor((100 * done) / total) });
        },
        policy: policy.value,
        recordType,
        contentType: chosen.contentType,
        recordDate: chosen.recordDate,
        onStage: (stage) => {
          status.textContent = t(`records.stage.${stage}`);
        },
      });
      status.textContent = t('records.stage.done');
      result.replaceChildren(
        h('p', { class: 'ok' }, t('records.uploaded')),
        h('div', { class: 'meta' }, t('records.id'), ' ', h('code', { id: 'record-new-id' }, answer.record_id)),
        h('div', { class: 'meta' }, t('records.tx'), ' ', h('code', { id: 'record-new-tx' }, answer.tx_hash ?? '—')),
        h('div', { class: 'meta' }, t('records.fullPolicy'), ' ', h('code', {}, full)),
      );
      onDone?.(answer);
    }).finally(() => {
      if (!result.childElementCount) status.textContent = '';
    });
  });
  return form;
}
