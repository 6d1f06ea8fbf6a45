// FHIR R4 resources as a clinician reads them: pure functions from a parsed resource to a
// plain view model (strings and flags, no HTML), rendered by components/FhirView.vue and
// tested in test/render.test.js against the demo's and the gateway's own resources.
//
// No HTML from a record ever reaches the page as HTML: narrative XHTML (Composition
// sections, `text.div`) is reduced to its text here, because a record comes from another
// institution and the page holds a clinician's keys.

const ICD10 = new Set(['http://hl7.org/fhir/sid/icd-10', 'http://hl7.org/fhir/sid/icd-10-cn', 'urn:oid:2.16.156.10011.2.3.3.11']);
const INTERPRETATION = {
  // v3 ObservationInterpretation → the level shown
  H: 'high', HH: 'critical-high', HU: 'critical-high', L: 'low', LL: 'critical-low', LU: 'critical-low',
  A: 'abnormal', AA: 'critical', N: 'normal', POS: 'abnormal', NEG: 'normal', IND: 'abnormal',
};

/** The first non-empty of a CodeableConcept's text, a coding's display, a coding's code. */
export function conceptText(concept) {
  if (!concept || typeof concept !== 'object') return '';
  if (typeof concept.text === 'string' && concept.text.trim()) return concept.text.trim();
  for (const c of concept.coding ?? []) if (c?.display) return String(c.display);
  for (const c of concept.coding ?? []) if (c?.code) return String(c.code);
  return '';
}

/** Narrative XHTML as plain text (tags dropped, block ends as line breaks, entities decoded). */
export function narrativeText(div) {
  if (typeof div !== 'string') return '';
  const text = div
    .replace(/<(br|\/p|\/div|\/li|\/tr|\/h[1-6])\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, ' ').replace(/&amp;/g, '&');
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join('\n');
}

function number(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '';
  return String(value);
}

/** A Quantity as "6.8 mmol/L" (comparator kept: "<0.01 ng/mL"). */
export function quantityText(q) {
  if (!q || typeof q !== 'object') return '';
  const v = number(q.value);
  if (!v) return '';
  const unit = q.unit ?? q.code ?? '';
  return `${q.comparator ?? ''}${v}${unit ? ` ${unit}` : ''}`;
}

/** A reference range as "3.5–9.5 10*9/L", "<5.2 mmol/L", "≥60", or its text. */
export function rangeText(range) {
  if (!range || typeof range !== 'object') return '';
  const low = number(range.low?.value);
  const high = number(range.high?.value);
  const unit = range.high?.unit ?? range.low?.unit ?? '';
  const suffix = unit ? ` ${unit}` : '';
  if (low && high) return `${low}–${high}${suffix}`;
  if (high) return `≤${high}${suffix}`;
  if (low) return `≥${low}${suffix}`;
  return typeof range.text === 'string' ? range.text : '';
}

function valueOf(holder) {
  if (!holder) return '';
  if (holder.valueQuantity) return quantityText(holder.valueQuantity);
  if (holder.valueCodeableConcept) return conceptText(holder.valueCodeableConcept);
  if (typeof holder.valueString === 'string') return holder.valueString;
  if (typeof holder.valueBoolean === 'boolean') return holder.valueBoolean ? 'true' : 'false';
  if (typeof holder.valueInteger === 'number') return String(holder.valueInteger);
  if (holder.valueRange) return rangeText(holder.valueRange);
  if (holder.valueRatio) {
    return `${quantityText(holder.valueRatio.numerator)}/${quantityText(holder.valueRatio.denominator)}`;
  }
  if (typeof holder.valueDateTime === 'string') return holder.valueDateTime;
  return '';
}

/**
 * The abnormal flag: the interpretation the source gave, else computed from the value and
 * the first reference range (same unit) — `computed` says which, since only the source's
 * laboratory may know the patient-specific range.
 */
export function observationFlag(obs) {
  for (const concept of obs.interpretation ?? []) {
    for (const c of concept?.coding ?? []) {
      const level = INTERPRETATION[String(c?.code ?? '').toUpperCase()];
      if (level) return { code: String(c.code).toUpperCase(), level, computed: false };
    }
  }
  const value = obs.valueQuantity?.value;
  const range = (obs.referenceRange ?? [])[0];
  if (typeof value !== 'number' || !range) return null;
  const unit = obs.valueQuantity.unit ?? obs.valueQuantity.code;
  const sameUnit = (q) => !q || q.unit == null || q.unit === unit || q.code === unit;
  if (!sameUnit(range.low) || !sameUnit(range.high)) return null;
  if (typeof range.low?.value === 'number' && value < range.low.value) return { code: 'L', level: 'low', computed: true };
  if (typeof range.high?.value === 'number' && value > range.high.value) return { code: 'H', level: 'high', computed: true };
  return { code: 'N', level: 'normal', computed: true };
}

function effectiveDate(r) {
  return r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.effectiveInstant ?? r.issued ?? null;
}

function codeLabel(concept) {
  const c = (concept?.coding ?? []).find((x) => x?.code);
  if (!c) return '';
  const system = String(c.system ?? '');
  const name = system.includes('loinc') ? 'LOINC' : ICD10.has(system) ? 'ICD-10' : system.includes('snomed') ? 'SNOMED CT' : '';
  return name ? `${name} ${c.code}` : String(c.code);
}

export function renderObservation(obs) {
  const flag = observationFlag(obs);
  return {
    kind: 'Observation',
    title: conceptText(obs.code) || 'Observation',
    code: codeLabel(obs.code),
    status: obs.status ?? '',
    date: effectiveDate(obs),
    value: valueOf(obs),
    range: rangeText((obs.referenceRange ?? [])[0]),
    flag,
    abnormal: Boolean(flag && flag.level !== 'normal'),
    components: (obs.component ?? []).map((c) => {
      const f = observationFlag(c);
      return {
        title: conceptText(c.code),
        value: valueOf(c),
        range: rangeText((c.referenceRange ?? [])[0]),
        flag: f,
        abnormal: Boolean(f && f.level !== 'normal'),
      };
    }),
    note: (obs.note ?? []).map((n) => n?.text).filter(Boolean).join('\n'),
  };
}

export function renderDiagnosticReport(report) {
  return {
    kind: 'DiagnosticReport',
    title: conceptText(report.code) || 'DiagnosticReport',
    code: codeLabel(report.code),
    status: report.status ?? '',
    date: effectiveDate(report),
    conclusion: typeof report.conclusion === 'string' ? report.conclusion : '',
    conclusionCodes: (report.conclusionCode ?? []).map((c) => ({ code: codeLabel(c), text: conceptText(c) })),
    results: (report.result ?? []).length,
    performer: (report.performer ?? []).map((p) => p?.display).filter(Boolean).join(', '),
  };
}

function sectionView(section) {
  return {
    title: section.title ?? conceptText(section.code),
    text: narrativeText(section.text?.div),
    entries: (section.entry ?? []).length,
    sections: (section.section ?? []).map(sectionView),
  };
}

export function renderComposition(comp) {
  return {
    kind: 'Composition',
    title: comp.title ?? conceptText(comp.type) ?? 'Composition',
    code: codeLabel(comp.type),
    status: comp.status ?? '',
    date: comp.date ?? null,
    author: (comp.author ?? []).map((a) => a?.display ?? a?.reference).filter(Boolean).join(', '),
    sections: (comp.section ?? []).map(sectionView),
  };
}

/** A Condition's ICD-10 code and text: the ICD-10 coding first, whatever order it came in. */
export function renderCondition(cond) {
  const codings = cond.code?.coding ?? [];
  const icd = codings.find((c) => ICD10.has(String(c?.system ?? ''))) ?? null;
  return {
    kind: 'Condition',
    title: conceptText(cond.code) || 'Condition',
    icd10: icd ? { code: String(icd.code), text: icd.display ?? conceptText(cond.code) } : null,
    code: icd ? `ICD-10 ${icd.code}` : codeLabel(cond.code),
    clinicalStatus: conceptText(cond.clinicalStatus),
    verificationStatus: conceptText(cond.verificationStatus),
    date: cond.onsetDateTime ?? cond.onsetPeriod?.start ?? cond.recordedDate ?? null,
  };
}

const TIMING_CODES = { QD: 'qd', BID: 'bid', TID: 'tid', QID: 'qid', QOD: 'qod', QHS: 'qn', Q4H: 'q4h', Q6H: 'q6h', Q8H: 'q8h', AM: 'qm', PM: 'qn' };

/** One dosage as "500 mg bid 口服": the prescriber's text when given, else composed. */
export function dosageText(d) {
  if (!d || typeof d !== 'object') return '';
  if (typeof d.text === 'string' && d.text.trim()) return d.text.trim();
  const parts = [];
  const dose = (d.doseAndRate ?? [])[0];
  if (dose?.doseQuantity) parts.push(quantityText(dose.doseQuantity));
  else if (dose?.doseRange) parts.push(rangeText(dose.doseRange));
  const timing = d.timing;
  const code = timing?.code?.coding?.[0]?.code;
  if (code && TIMING_CODES[String(code).toUpperCase()]) parts.push(TIMING_CODES[String(code).toUpperCase()]);
  else if (timing?.repeat?.frequency && timing.repeat.period) {
    parts.push(`${timing.repeat.frequency}/${timing.repeat.period}${timing.repeat.periodUnit ?? ''}`);
  }
  if (d.route) parts.push(conceptText(d.route));
  if (d.asNeededBoolean) parts.push('prn');
  return parts.filter(Boolean).join(' ');
}

export function renderMedicationRequest(rx) {
  return {
    kind: 'MedicationRequest',
    title: conceptText(rx.medicationCodeableConcept) || rx.medicationReference?.display || 'MedicationRequest',
    status: rx.status ?? '',
    intent: rx.intent ?? '',
    date: rx.authoredOn ?? null,
    dosage: (rx.dosageInstruction ?? []).map(dosageText).filter(Boolean),
    requester: rx.requester?.display ?? '',
  };
}

/** Age in whole years on `today` (YYYY-MM-DD) from a FHIR birthDate; null if unknown. */
export function ageOn(birthDate, today) {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(String(birthDate ?? ''));
  const t = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(today ?? ''));
  if (!m || !t) return null;
  let age = Number(t[1]) - Number(m[1]);
  const before = Number(t[2]) < Number(m[2] ?? 1) || (Number(t[2]) === Number(m[2] ?? 1) && Number(t[3]) < Number(m[3] ?? 1));
  if (before) age -= 1;
  return age >= 0 ? age : null;
}

export function renderPatient(p, today = new Date().toISOString().slice(0, 10)) {
  const name = (p.name ?? [])[0];
  const text = name?.text ?? [name?.family, ...(name?.given ?? [])].filter(Boolean).join('');
  return {
    kind: 'Patient',
    title: text || 'Patient',
    gender: p.gender ?? '',
    birthDate: p.birthDate ?? null,
    age: ageOn(p.birthDate, today),
    identifiers: (p.identifier ?? []).map((i) => i?.value).filter(Boolean),
    phone: (p.telecom ?? []).find((t) => t?.system === 'phone')?.value ?? '',
  };
}

export function renderServiceRequest(sr) {
  return {
    kind: 'ServiceRequest',
    title: conceptText(sr.code) || 'ServiceRequest',
    status: sr.status ?? '',
    priority: sr.priority ?? '',
    date: sr.authoredOn ?? sr.occurrenceDateTime ?? null,
    reason: (sr.reasonCode ?? []).map(conceptText).filter(Boolean).join('; '),
    requester: sr.requester?.display ?? '',
    performer: (sr.performer ?? []).map((x) => x?.display).filter(Boolean).join(', '),
    note: (sr.note ?? []).map((n) => n?.text).filter(Boolean).join('\n'),
  };
}

const RENDERERS = {
  Observation: renderObservation,
  DiagnosticReport: renderDiagnosticReport,
  Composition: renderComposition,
  Condition: renderCondition,
  MedicationRequest: renderMedicationRequest,
  Patient: renderPatient,
  ServiceRequest: renderServiceRequest,
};

/**
 * Any resource or Bundle: a list of views (a Bundle gives one per entry). A resource of a
 * kind without a renderer gives a `generic` view with its narrative text, never nothing.
 */
export function renderFhir(resource) {
  if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
    throw new Error('not a FHIR resource (no resourceType)');
  }
  if (resource.resourceType === 'Bundle') {
    return (resource.entry ?? []).filter((e) => e?.resource).flatMap((e) => renderFhir(e.resource));
  }
  const render = RENDERERS[resource.resourceType];
  if (render) return [render(resource)];
  return [{ kind: 'generic', resourceType: resource.resourceType, title: resource.resourceType, text: narrativeText(resource.text?.div) }];
}

/** Parse decrypted bytes (FHIR JSON) and render them; a non-JSON record is shown as text. */
export function renderBytes(bytes, contentType = '') {
  const text = new TextDecoder().decode(bytes);
  if (/json/.test(contentType) || text.trimStart().startsWith('{')) {
    try {
      return renderFhir(JSON.parse(text));
    } catch {
      // fall through: shown as text
    }
  }
  return [{ kind: 'text', title: contentType || 'text', text }];
}
