// What the wallet reads out of a file before encrypting it: for FHIR JSON the resourceType
// (the record type) and the clinical date, exactly as clients/fhir_index.py's clinical_date
// picks it (the only clinical field that leaves the device in clear); and the composed record
// policy of clients/sdk/policies.py's record_policy for a patient's own record.
import { normalizePolicy } from './policytree.js';

export const MAX_BROWSER_BYTES = 32 * 1024 * 1024;
export const FHIR_CONTENT_TYPE = 'application/fhir+json';
// the chain packs it into a bytes32 with a trailing zero (ledger_api/services/uploads.py)
export const MAX_RECORD_TYPE_BYTES = 31;
const FHIR_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const DATE_PATHS = {
  Observation: ['effectiveDateTime', 'effectiveInstant', 'effectivePeriod.start', 'effectiveTiming.event', 'issued'],
  DiagnosticReport: ['effectiveDateTime', 'effectivePeriod.start', 'issued'],
  Encounter: ['period.start'],
  Condition: ['onsetDateTime', 'onsetPeriod.start', 'recordedDate'],
  Procedure: ['performedDateTime', 'performedPeriod.start'],
  MedicationRequest: ['authoredOn'],
  MedicationStatement: ['effectiveDateTime', 'effectivePeriod.start', 'dateAsserted'],
  MedicationAdministration: ['effectiveDateTime', 'effectivePeriod.start'],
  Immunization: ['occurrenceDateTime', 'recorded'],
  AllergyIntolerance: ['onsetDateTime', 'recordedDate'],
  ServiceRequest: ['occurrenceDateTime', 'occurrencePeriod.start', 'authoredOn'],
  DocumentReference: ['date'],
  Composition: ['date'],
  ImagingStudy: ['started'],
  CarePlan: ['period.start', 'created'],
};
const FALLBACK_PATHS = ['effectiveDateTime', 'effectivePeriod.start', 'occurrenceDateTime', 'period.start', 'issued', 'date', 'authoredOn', 'recordedDate'];

/** Unix milliseconds of the start of the period a FHIR date names, or null if it is not one. */
export function fhirDateMillis(text) {
  if (typeof text !== 'string' || text.length > 40) return null;
  const m = FHIR_DATE.exec(text);
  if (!m) return null;
  const [, y, mo = '01', d = '01', time, zone = 'Z'] = m;
  const iso = time ? `${y}-${mo}-${d}T${time}${zone}` : `${y}-${mo}-${d}T00:00:00Z`;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return null;
  // Date.parse rolls 02-30 over to March: refuse what Python's datetime refuses
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) return null;
  return ms;
}

function checked(value) {
  const v = Array.isArray(value) ? (value.length ? value[0] : null) : value;
  return typeof v === 'string' && fhirDateMillis(v) != null ? v : null;
}

function get(resource, path) {
  let value = resource;
  for (const part of path.split('.')) {
    if (value == null || typeof value !== 'object' || Array.isArray(value)) return null;
    value = value[part];
  }
  return value ?? null;
}

/** The resource's clinical date as given in it, or null (clients.fhir_index.clinical_date). */
export function clinicalDate(resource) {
  const kind = resource?.resourceType;
  if (kind === 'Bundle') {
    let found = checked(resource.timestamp);
    if (found == null) {
      const entries = Array.isArray(resource.entry) ? resource.entry.filter((e) => e && typeof e === 'object' && !Array.isArray(e)) : [];
      for (const e of entries) {
        const d = clinicalDate(e.resource ?? {});
        if (d && (found == null || fhirDateMillis(d) > fhirDateMillis(found))) found = d;
      }
    }
    return found ?? checked(get(resource, 'meta.lastUpdated'));
  }
  for (const path of DATE_PATHS[String(kind)] ?? FALLBACK_PATHS) {
    const found = checked(get(resource, path));
    if (found != null) return found;
  }
  return checked(get(resource, 'meta.lastUpdated'));
}

/** Read a FHIR JSON file: { recordType, recordDate, contentType }; throws on a non-resource. */
export function fhirMeta(bytes) {
  let resource;
  try {
    resource = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new Error(`not JSON: ${err.message}`);
  }
  const kind = resource?.resourceType;
  if (typeof kind !== 'string' || !/^[A-Z][A-Za-z]{1,63}$/.test(kind)) {
    throw new Error('not a FHIR resource: no resourceType');
  }
  return { recordType: kind, recordDate: clinicalDate(resource), contentType: FHIR_CONTENT_TYPE };
}

export function checkRecordType(recordType) {
  const size = new TextEncoder().encode(recordType).length;
  if (size < 1 || size > MAX_RECORD_TYPE_BYTES) throw new Error(`record type must be 1 to ${MAX_RECORD_TYPE_BYTES} bytes`);
  return recordType;
}

/**
 * The record policy of an envelope v3 the patient writes (clients/sdk/policies.py's
 * record_policy_v3): the user's policy as it is — no uid clause (the patient slot replaces it),
 * no epoch (each institution's slot carries its own), no break-glass clause (emergency access
 * is its own mechanism). It must reach at least one institution.
 */
export function recordPolicyV3(userPolicy) {
  const user = (userPolicy ?? '').trim();
  if (!user) throw Object.assign(new Error('a record needs a policy that reaches at least one institution'), { code: 'policy_needed' });
  return normalizePolicy(user);
}
