// Both locales have the same keys, no empty text, the same {placeholders}; and every key the
// source uses (t('…'), and each value of the keys it builds as t(`prefix.${…}`)) exists.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import en from '../src/locales/en.js';
import zhCN from '../src/locales/zh-CN.js';
import { REASONS } from '../src/access.js';
import { LOOKUP_ERRORS } from '../src/gateway.js';
import { ADMIN_ROLES, APP_TYPES, CLIENT_TYPES, STATUSES } from '../src/marketplace.js';

const SRC = new URL('../src', import.meta.url).pathname;
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.(js|vue)$/.test(name) ? [path] : [];
  });
}
const source = files(SRC).filter((p) => !p.includes('/locales/')).map((p) => readFileSync(p, 'utf8')).join('\n');
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

// the keys the source builds from data: every value each may take
const DYNAMIC = {
  role: ['doctor', 'nurse', 'auditor', 'patient', 'unknown'],
  nav: ['profile', 'patient', 'referrals', 'consultations', 'assistant', 'transparency', 'audit', 'charts', 'review', 'verify', 'market', 'marketInstalled', 'marketSubmit', 'marketReview'],
  lock: ['no_consent', 'expired', 'revoked', 'record_withdrawn', 'no_break_glass', 'break_glass_expired', 'member_left'],
  purpose: ['treatment', 'referral', 'consultation', 'emergency', 'research'],
  kind: ['referral', 'consultation', 'record'],
  state: ['requested', 'accepted', 'arrived', 'completed', 'rejected', 'cancelled'],
  urgency: ['routine', 'urgent', 'emergency'],
  'referrals.action': ['accept', 'reject', 'arrive', 'complete', 'cancel'],
  rejectReason: ['no_capacity', 'not_indicated', 'wrong_department', 'patient_declined'],
  'consultations.state': ['open', 'closed', 'cancelled'],
  reason: Object.values(REASONS),
  gateway: LOOKUP_ERRORS,
  'fhir.flag': ['high', 'low', 'critical-high', 'critical-low', 'critical', 'abnormal', 'normal'],
  record: ['chief_complaint', 'present_illness', 'past_history', 'physical_exam', 'auxiliary_exam', 'diagnoses', 'plan'],
  overrideReason: ['wrong-code', 'more-specific', 'not-a-diagnosis', 'other'],
  preset: ['requester', 'myDepartment', 'myInstitution'],
  'mkt.appType': APP_TYPES,
  'mkt.status': [...STATUSES, 'none', 'all'],
  'mkt.client': CLIENT_TYPES,
  'mkt.role': [...Object.values(ADMIN_ROLES), 'unknown'],
  'mkt.done': ['submit', 'approve', 'reject', 'install', 'rate'],
  'mkt.problem': ['required', 'too_long', 'format', 'url', 'unknown_scope', 'duplicate'],
  'wallet.error': ['address_taken', 'invalid_key', 'invalid_keystore', 'name_required', 'name_taken', 'not_found', 'weak_password', 'wrong_password'],
};

describe('locales', () => {
  it('have the same keys', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(zhCN).sort());
  });
  it('have no empty text and the same placeholders', () => {
    for (const key of Object.keys(zhCN)) {
      expect(zhCN[key].trim(), key).not.toBe('');
      expect(en[key].trim(), key).not.toBe('');
      expect(placeholders(en[key]), key).toEqual(placeholders(zhCN[key]));
    }
  });
  it('cover every static key the source uses', () => {
    const used = [...source.matchAll(/\bt\('([a-zA-Z0-9_.-]+)'/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(100);
    for (const key of used) expect(zhCN, key).toHaveProperty([key]);
  });
  it('cover every value of each key built from data', () => {
    const prefixes = [...source.matchAll(/\bt\(`([a-zA-Z.]+)\.\$\{/g)].map((m) => m[1]);
    for (const prefix of new Set(prefixes)) {
      expect(DYNAMIC, `a dynamic prefix ${prefix} with no list of values in this test`).toHaveProperty([prefix]);
      for (const value of DYNAMIC[prefix]) expect(zhCN, `${prefix}.${value}`).toHaveProperty([`${prefix}.${value}`]);
    }
  });
});
