// The pure parts of the console and the lock reasons: what the log filter sends and keeps,
// the CSV (formula injection refused), the chart series, the verify problems, and why a
// record is locked.
import { describe, expect, it } from 'vitest';
import { lockOf, reasonName } from '../src/access.js';
import { accessesPerDay, breakGlassPerDay, denialsByReason, eventQuery, filterEvents, issuancesPerAuthority, toCsv, verifyProblems } from '../src/audit.js';
import { composition, escapeXml, referralSummary } from '../src/fhir/compose.js';
import { narrativeText } from '../src/fhir/render.js';

const GP = '0x1111111111111111111111111111111111111111';
const CARDIO = '0x2222222222222222222222222222222222222222';
const DAY1 = 1_796_000_000; // 2026-11-30
const events = [
  { record_id: '0xaa', patient: '0xp', accessor: GP, purpose: 'treatment', granted: false, reason_code: 10, block_time: DAY1, block_number: 5, tx_hash: '0xt1', repeats: 3 },
  { record_id: '0xaa', patient: '0xp', accessor: CARDIO, purpose: 'treatment', granted: true, reason_code: 1, block_time: DAY1 + 60, block_number: 6, tx_hash: '0xt2', repeats: 1 },
  { record_id: '0xbb', patient: '0xp', accessor: CARDIO, purpose: 'emergency', granted: false, reason_code: 13, block_time: DAY1 + 86_400, block_number: 9, tx_hash: '0xt3', repeats: 1 },
];
const inst = { [GP]: 2, [CARDIO]: 1 };
const names = { 1: '成都市第三人民医院', 2: '青羊区社区卫生服务中心' };
const nameOf = (a) => names[inst[a]];

describe('access log', () => {
  it('sends what the API filters, keeps what it cannot', () => {
    expect(eventQuery({ patient: ' 0xp ', record: '', granted: 'denied', since: '2026-11-30T00:00:00Z' })).toEqual({ patient: '0xp', granted: false, since: '2026-11-30T00:00:00Z' });
    expect(eventQuery({ granted: 'granted' })).toEqual({ granted: true });
    expect(filterEvents(events, { institution: 2 }, (a) => inst[a]).map((e) => e.tx_hash)).toEqual(['0xt1']);
    expect(filterEvents(events, { reason: 13 }, (a) => inst[a]).map((e) => e.tx_hash)).toEqual(['0xt3']);
    expect(filterEvents(events, { institution: '', reason: '' }, (a) => inst[a])).toHaveLength(3);
  });
  it('exports RFC 4180 CSV with a BOM, formulas neutralised', () => {
    const csv = toCsv([...events, { ...events[0], patient: '=HYPERLINK("http://x")', tx_hash: '0x"q"' }], nameOf);
    expect(csv.startsWith('\ufeffblock_time,record_id')).toBe(true);
    const lines = csv.trim().split('\r\n');
    expect(lines).toHaveLength(5);
    expect(lines[1]).toContain(',青羊区社区卫生服务中心,treatment,false,10,no_consent,3,5,0xt1');
    expect(lines[4]).toContain(`"'=HYPERLINK(""http://x"")"`);
    expect(lines[4]).toContain('"0x""q"""');
  });
  it('chart series', () => {
    expect(accessesPerDay(events, nameOf)).toEqual({
      days: ['2026-11-30', '2026-12-01'],
      series: [{ name: '成都市第三人民医院', data: [1, 1] }, { name: '青羊区社区卫生服务中心', data: [3, 0] }],
    });
    expect(denialsByReason(events)).toEqual([{ reason: 'no_consent', count: 3 }, { reason: 'break_glass_expired', count: 1 }]);
    expect(breakGlassPerDay([{ opened_at: DAY1, reviewed: true }, { opened_at: DAY1 + 10, reviewed: false }])).toEqual({ days: ['2026-11-30'], opened: [2], reviewed: [1] });
    expect(issuancesPerAuthority([{ issuer: '0xa', count: 2 }, { issuer: '0xb', count: 5 }], (i) => ({ '0xb': 'cd3h 密钥中心' })[i])).toEqual([{ authority: 'cd3h 密钥中心', count: 5 }, { authority: '0xa', count: 2 }]);
  });
  it('verify problems carry their transaction', () => {
    const tx = `0x${'ab'.repeat(32)}`;
    const problems = verifyProblems({
      index_vs_chain: [{ kind: 'access_event', key: [tx, 0], problem: 'field_mismatch', field: 'granted' }],
      bodies: [{ record_id: '0x01', problem: 'body_hash_mismatch', cid: 'bafy' }],
      read_signatures: [{ tx_hash: tx, problem: 'bad_signature' }],
      justifications: [],
    });
    expect(problems.map((p) => [p.section, p.tx])).toEqual([['index_vs_chain', tx], ['bodies', null], ['read_signatures', tx]]);
  });
});

describe('why a record is locked', () => {
  const now = 1_800_000_000;
  const consent = (over) => ({ record_id: '0xAA', revoked: false, expired: false, expires_at: now + 100, granted_at: 1, ...over });
  it('granted: no lock', () => {
    expect(lockOf({ granted: true, reason: 1 }, '0xaa', [], now)).toBeNull();
  });
  it('no consent, revoked, expired, from the consents naming me', () => {
    expect(lockOf({ granted: false, reason: 10 }, '0xaa', [], now).why).toBe('no_consent');
    expect(lockOf({ granted: false, reason: 10 }, '0xaa', [consent({ revoked: true })], now).why).toBe('revoked');
    expect(lockOf({ granted: false, reason: 10 }, '0xaa', [consent({ expires_at: now - 1 })], now).why).toBe('expired');
    expect(lockOf({ granted: false, reason: 10 }, '0xaa', [consent({ record_id: null, expired: true })], now).why).toBe('expired');
    // a consent for another record says nothing about this one
    expect(lockOf({ granted: false, reason: 10 }, '0xaa', [consent({ record_id: '0xbb', revoked: true })], now).why).toBe('no_consent');
  });
  it('the other denial reasons as the API gave them', () => {
    expect(lockOf({ granted: false, reason: 13 }, '0xaa', [], now).why).toBe('break_glass_expired');
    expect(lockOf({ granted: false, reason: 14 }, '0xaa', [], now).why).toBe('member_left');
    expect(reasonName(99)).toBe('reason_99');
  });
});

describe('forms become Compositions', () => {
  const patient = '0x3333333333333333333333333333333333333333';
  it('a referral summary: sections kept as escaped narrative, empty ones left out', () => {
    const c = referralSummary({
      patient, author: 'Li Ming cd3h cardiology', date: '2026-12-07T10:00:00+08:00',
      labels: { title: '转诊诊疗小结', diagnosis: '诊断', findings: '主要检查结果', treatment: '诊疗经过', followUp: '随访建议' },
      form: { diagnosis: 'HFrEF <NYHA II>', findings: '', treatment: 'ARNI & β-blocker\n两周复查', followUp: '社区随访' },
    });
    expect(c.resourceType).toBe('Composition');
    expect(c.status).toBe('final');
    expect(c.type.coding[0]).toEqual({ system: 'http://loinc.org', code: '34133-9', display: 'Summary of episode note' });
    expect(c.subject.identifier.value).toBe(patient);
    expect(c.section.map((s) => s.title)).toEqual(['诊断', '诊疗经过', '随访建议']);
    expect(c.section[0].text.div).toBe('<div xmlns="http://www.w3.org/1999/xhtml">HFrEF &lt;NYHA II&gt;</div>');
    expect(narrativeText(c.section[1].text.div)).toBe('ARNI & β-blocker\n两周复查');
  });
  it('refuses an empty form or a bad patient', () => {
    expect(() => composition({ patient, author: 'x', type: { code: '1', display: 'x' }, title: 't', sections: [['a', '  ']] })).toThrow(/at least one/);
    expect(() => composition({ patient: '0x12', author: 'x', type: { code: '1', display: 'x' }, title: 't', sections: [['a', 'b']] })).toThrow(/patient/);
    expect(escapeXml('<script>"&')).toBe('&lt;script&gt;&quot;&amp;');
  });
});
