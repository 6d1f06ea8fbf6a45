// Enforcing a SMART token's scopes in the page, before it reads anything for an app. The
// API checks the token again at each read (X-Read-App-Token); the page checks first so a
// request outside the scopes costs no signed read and no chain entry.
//
// `patient/Observation.rs` allows read (r) and search (s) of Observations of the token's
// patient only; `patient/*.rs` any type of that patient; `user/…` any patient the user may
// read (the API's consent checks decide at the read). A scope with a query
// (`patient/Observation.rs?category=vital-signs`) narrows what is answered: the page keeps
// only the resources that match it once decrypted (matchesQuery); a query parameter it
// cannot check (anything but category and code) admits nothing. The SMART v1 suffixes are
// read with src/scopes.js's `permissions` (`.read` → `rs`).
import { permissions } from '../scopes.js';

const DATA_SCOPE = /^(patient|user)\/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(\S+))?$/;
const CHECKABLE = new Set(['category', 'code']);

/** The data scopes of a space-separated scope string: [{context, resource, letters, query}]. */
export function dataScopes(scopeText) {
  const out = [];
  for (const text of String(scopeText ?? '').split(/\s+/).filter(Boolean)) {
    const m = DATA_SCOPE.exec(text);
    const letters = m ? permissions(m[3]) : null;
    if (!m || !letters) continue; // launch, openid, fhirUser … carry no data
    const query = m[4] ? [...new URLSearchParams(m[4])] : [];
    out.push({ text, context: m[1], resource: m[2], letters, query });
  }
  return out;
}

const LETTER = { read: 'r', search: 's' };

/**
 * Whether the token's scopes allow `interaction` ('read' | 'search') of `resourceType` for
 * `patient` (the token's own patient is `tokenPatient`). Returns {allowed, scopes: the
 * matching scopes, reason}. The patient context needs the same patient (case-insensitive
 * addresses); the user context takes any.
 */
export function allows(scopeText, { interaction, resourceType, patient, tokenPatient }) {
  const letter = LETTER[interaction];
  if (!letter) return { allowed: false, scopes: [], reason: `unknown interaction ${interaction}` };
  const same = Boolean(patient) && Boolean(tokenPatient) && String(patient).toLowerCase() === String(tokenPatient).toLowerCase();
  const matching = dataScopes(scopeText).filter((s) => (s.resource === '*' || s.resource === resourceType)
    && s.letters.includes(letter)
    && (s.context === 'user' || same));
  if (matching.length) return { allowed: true, scopes: matching, reason: '' };
  const forType = dataScopes(scopeText).some((s) => (s.resource === '*' || s.resource === resourceType) && s.letters.includes(letter));
  const reason = forType
    ? `the token's patient scopes cover patient ${tokenPatient ?? '(none)'} only`
    : `no scope of the token allows ${interaction} of ${resourceType}`;
  return { allowed: false, scopes: [], reason };
}

function codesOf(concepts) {
  const list = Array.isArray(concepts) ? concepts : [concepts];
  return list.flatMap((c) => (c?.coding ?? []).flatMap((x) => [x.code, x.system && x.code ? `${x.system}|${x.code}` : null])).filter(Boolean);
}

/** Whether a decrypted resource meets one scope's query (a scope without one: always). */
export function matchesQuery(resource, scope) {
  return scope.query.every(([name, value]) => {
    if (!CHECKABLE.has(name)) return false; // what the page cannot check, it does not hand out
    const wanted = value.split(',');
    const have = codesOf(name === 'category' ? resource.category : resource.code);
    return wanted.some((w) => have.includes(w));
  });
}

/** Whether any of the matching scopes admits the resource. */
export function admitted(resource, scopes) {
  return scopes.some((s) => matchesQuery(resource, s));
}
