// The auditor's console, the pure part: filtering the access log, CSV export, and the series
// the charts draw (accesses per day by institution, denials by reason, break-glass openings
// over time, key issuances per authority). test/audit.test.js.
import { reasonName } from './access.js';

/** UTC day (YYYY-MM-DD) of unix seconds. */
export function day(seconds) {
  return new Date(Number(seconds) * 1000).toISOString().slice(0, 10);
}

/**
 * Filter access events on what the API cannot filter itself (institution, reason); the rest
 * (patient, record, accessor, granted, time) goes to GET /audit/access-events as query.
 * @param {Array<object>} events
 * @param {{institution?: number|null, reason?: number|null}} f
 * @param {(address: string) => number|null} institutionOf accessor → institution id
 */
export function filterEvents(events, f, institutionOf) {
  return events.filter((e) => {
    if (f.institution != null && f.institution !== '' && institutionOf(e.accessor) !== Number(f.institution)) return false;
    if (f.reason != null && f.reason !== '' && Number(e.reason_code) !== Number(f.reason)) return false;
    return true;
  });
}

/** The API query for the filters it knows (empty values left out). */
export function eventQuery(f) {
  const q = {};
  for (const key of ['patient', 'record', 'accessor']) if (f[key]) q[key] = String(f[key]).trim();
  if (f.granted === 'granted') q.granted = true;
  if (f.granted === 'denied') q.granted = false;
  if (f.since) q.since = f.since;
  if (f.until) q.until = f.until;
  return q;
}

function csvCell(value) {
  const text = value == null ? '' : String(value);
  // a cell starting with = + - @ would be a formula in a spreadsheet: quote it as text
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) || safe !== text ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export const CSV_COLUMNS = ['block_time', 'record_id', 'patient', 'accessor', 'institution', 'purpose', 'granted', 'reason_code', 'reason', 'repeats', 'block_number', 'tx_hash'];

/** RFC 4180 CSV of access events (UTF-8 with BOM so spreadsheet tools read the Chinese). */
export function toCsv(events, institutionName = () => '') {
  const rows = [CSV_COLUMNS.join(',')];
  for (const e of events) {
    rows.push([
      new Date(Number(e.block_time) * 1000).toISOString(), e.record_id, e.patient, e.accessor,
      institutionName(e.accessor), e.purpose, e.granted, e.reason_code, reasonName(e.reason_code),
      e.repeats ?? 1, e.block_number, e.tx_hash,
    ].map(csvCell).join(','));
  }
  return `\ufeff${rows.join('\r\n')}\r\n`;
}

/** {days: [...], series: [{name, data: [count per day]}]}: accesses per day by institution. */
export function accessesPerDay(events, institutionName) {
  const days = [...new Set(events.map((e) => day(e.block_time)))].sort();
  const byInst = new Map();
  for (const e of events) {
    const name = institutionName(e.accessor) || '—';
    if (!byInst.has(name)) byInst.set(name, new Map());
    const m = byInst.get(name);
    m.set(day(e.block_time), (m.get(day(e.block_time)) ?? 0) + Number(e.repeats ?? 1));
  }
  const series = [...byInst.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([name, m]) => ({ name, data: days.map((d) => m.get(d) ?? 0) }));
  return { days, series };
}

/** [{reason, count}] of denied events, most frequent first. */
export function denialsByReason(events) {
  const counts = new Map();
  for (const e of events) {
    if (e.granted) continue;
    const name = reasonName(e.reason_code);
    counts.set(name, (counts.get(name) ?? 0) + Number(e.repeats ?? 1));
  }
  return [...counts.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

/** {days, opened, reviewed}: break-glass openings per day, and how many of them are reviewed. */
export function breakGlassPerDay(openings) {
  const days = [...new Set(openings.map((o) => day(o.opened_at)))].sort();
  const count = (pred) => days.map((d) => openings.filter((o) => day(o.opened_at) === d && pred(o)).length);
  return { days, opened: count(() => true), reviewed: count((o) => o.reviewed) };
}

/** [{authority, count}] from GET /audit/key-issuances' by_issuer, named by institution. */
export function issuancesPerAuthority(byIssuer, authorityName) {
  return byIssuer.map((r) => ({ authority: authorityName(r.issuer) || r.issuer, count: Number(r.count) }))
    .sort((a, b) => b.count - a.count || a.authority.localeCompare(b.authority));
}

/** The verify report's problems, flattened for one table: [{section, kind, tx_hash, ...}]. */
export function verifyProblems(report) {
  const out = [];
  for (const section of ['index_vs_chain', 'bodies', 'read_signatures', 'justifications']) {
    for (const p of report?.[section] ?? []) {
      const key = Array.isArray(p.key) ? p.key[0] : p.key;
      const keyTx = typeof key === 'string' && /^0x[0-9a-fA-F]{64}$/.test(key) ? key : null;
      out.push({ section, ...p, tx: p.tx_hash ?? p.access_tx ?? keyTx ?? null });
    }
  }
  return out;
}
