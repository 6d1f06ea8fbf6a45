// A plain, readable view of a decrypted record for the patient: a FHIR resource (or each
// entry of a Bundle) as its type and its fields in words — codes by their text or display,
// quantities with their unit, references by display — and any other content as text or as a
// download. The clinicians' workstation has the rich renderers; this one only has to be
// legible, and it never puts record text into the page as HTML.
import { h } from './dom.js';
import { t } from './i18n.js';

const SKIP = new Set(['resourceType', 'id', 'meta', 'text', 'contained', 'extension', 'modifierExtension']);

/** One FHIR value in words (strings, codings, quantities, periods, references, lists). */
export function describe(value) {
  if (value == null) return '';
  if (typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.map(describe).filter(Boolean).join('; ');
  if (value.text) return String(value.text);
  if (value.display) return String(value.display);
  if (value.value !== undefined && (value.unit || value.code)) return `${value.value} ${value.unit ?? value.code}`;
  if (value.coding) return describe(value.coding);
  if (value.code && value.system) return String(value.code);
  if (value.start || value.end) return `${value.start ?? ''} – ${value.end ?? ''}`;
  if (value.reference) return String(value.reference);
  if (value.low || value.high) return `${describe(value.low)} – ${describe(value.high)}`;
  if (value.family || value.given) return [...(value.given ?? []), value.family].filter(Boolean).join(' ');
  return Object.entries(value)
    .map(([k, v]) => `${k}: ${describe(v)}`)
    .join(', ');
}

const label = (key) => key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());

function resourceView(resource) {
  const rows = Object.entries(resource).filter(([k]) => !SKIP.has(k));
  return h(
    'section',
    { class: 'fhir-resource', 'data-resource-type': resource.resourceType ?? '' },
    h('h4', {}, resource.resourceType ?? t('records.content')),
    h(
      'dl',
      {},
      rows.flatMap(([k, v]) => [h('dt', {}, label(k)), h('dd', {}, describe(v))]),
    ),
  );
}

/** The view of a decrypted record: { plaintext, contentType, author } from crypto/record.js. */
export function recordContentView({ plaintext, contentType, author }) {
  const by = h('p', { class: 'meta' }, t('records.sealedBy'), ' ', h('code', {}, author));
  if (/json/.test(contentType)) {
    let doc = null;
    try {
      doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
    } catch {
      doc = null;
    }
    if (doc && typeof doc === 'object') {
      const resources = doc.resourceType === 'Bundle' ? (doc.entry ?? []).map((e) => e.resource).filter(Boolean) : [doc];
      return h('div', { class: 'record-content' }, resources.map(resourceView), by);
    }
  }
  if (/^text\//.test(contentType)) {
    return h('div', { class: 'record-content' }, h('pre', {}, new TextDecoder().decode(plaintext)), by);
  }
  const url = URL.createObjectURL(new Blob([plaintext], { type: contentType }));
  return h('div', { class: 'record-content' }, h('a', { href: url, download: 'record.bin' }, t('records.download', { size: plaintext.length })), by);
}
