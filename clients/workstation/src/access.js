// Why a record is locked to this clinician, from the API's own decision: the reason code the
// access log records (ledger_api/services/access.py Reason) and, for "no consent", the
// consents naming the clinician — a consent for this record (or the whole chart) that was
// revoked or has expired says which. Pure: test/access.test.js.

export const REASONS = Object.freeze({
  0: 'self', 1: 'consent', 2: 'policy_consent', 3: 'workflow', 4: 'break_glass', 5: 'custodian_rekey',
  10: 'no_consent', 11: 'record_withdrawn', 12: 'no_break_glass', 13: 'break_glass_expired', 14: 'member_left',
});
export const GRANTED_REASONS = Object.freeze([0, 1, 2, 3, 4, 5]);
export const DENIED_REASONS = Object.freeze([10, 11, 12, 13, 14]);

export function reasonName(code) {
  return REASONS[Number(code)] ?? `reason_${code}`;
}

/**
 * The lock of one record: null when the decision granted it, else {why, reason, consent}.
 * `why` is one of no_consent, expired, revoked, record_withdrawn, no_break_glass,
 * break_glass_expired, member_left (an i18n key under `lock.`).
 * @param {{granted: boolean, reason: number}} decision the API's decision (403 details or
 *   the timeline's may_open)
 * @param {string} recordId
 * @param {Array<object>} consents GET /consents?grantee=<me> items for this patient
 * @param {number} nowSeconds
 */
export function lockOf(decision, recordId, consents = [], nowSeconds = Math.floor(Date.now() / 1000)) {
  if (decision.granted) return null;
  const name = reasonName(decision.reason);
  if (name !== 'no_consent') return { why: name, reason: Number(decision.reason), consent: null };
  const id = String(recordId).toLowerCase();
  const relevant = consents
    .filter((c) => c.record_id == null || String(c.record_id).toLowerCase() === id)
    .sort((a, b) => Number(b.granted_at ?? 0) - Number(a.granted_at ?? 0));
  const revoked = relevant.find((c) => c.revoked);
  if (revoked) return { why: 'revoked', reason: 10, consent: revoked };
  const expired = relevant.find((c) => c.expired || Number(c.expires_at) <= nowSeconds);
  if (expired) return { why: 'expired', reason: 10, consent: expired };
  return { why: 'no_consent', reason: 10, consent: null };
}
