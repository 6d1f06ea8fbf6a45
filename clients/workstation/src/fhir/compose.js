// Forms → FHIR R4 resources the clinician signs and shares: a referral's completion summary
// and a consultation opinion, as Compositions (LOINC document types), the text of each
// section kept as escaped narrative. Pure: test/compose.test.js.

const LOINC = 'http://loinc.org';

export function escapeXml(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function narrative(text) {
  const lines = String(text).split('\n').map(escapeXml).join('<br/>');
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${lines}</div>` };
}

function section(title, text) {
  return { title, text: narrative(text) };
}

/**
 * A Composition from titled sections (empty ones left out; at least one required).
 * @param {{patient: string, author: string, type: {code: string, display: string},
 *   title: string, sections: Array<[string, string]>, date?: string}} f
 */
export function composition({ patient, author, type, title, sections, date = new Date().toISOString() }) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(patient)) throw new Error(`not a patient address: ${patient}`);
  const kept = sections.filter(([, text]) => String(text ?? '').trim());
  if (!kept.length) throw new Error('write at least one section');
  return {
    resourceType: 'Composition',
    status: 'final',
    type: { coding: [{ system: LOINC, code: type.code, display: type.display }] },
    subject: { identifier: { system: 'urn:medledger:patient-address', value: patient } },
    date,
    author: [{ display: author }],
    title,
    section: kept.map(([t, text]) => section(t, String(text).trim())),
  };
}

/** The summary that completes a referral (LOINC 18842-5 discharge summary / 34133-9). */
export function referralSummary({ patient, author, labels, form, date }) {
  return composition({
    patient,
    author,
    date,
    type: { code: '34133-9', display: 'Summary of episode note' },
    title: labels.title,
    sections: [
      [labels.diagnosis, form.diagnosis],
      [labels.findings, form.findings],
      [labels.treatment, form.treatment],
      [labels.followUp, form.followUp],
    ],
  });
}

/** A consultation opinion (LOINC 11488-4 consult note). */
export function consultationOpinion({ patient, author, labels, form, date }) {
  return composition({
    patient,
    author,
    date,
    type: { code: '11488-4', display: 'Consult note' },
    title: labels.title,
    sections: [[labels.opinion, form.opinion], [labels.advice, form.advice]],
  });
}
