// Who sees which state button on an app's page, the message each signs (AppStatusChange,
// the reason kept only for a suspension), and that every label exists in both languages.
import { TypedDataEncoder } from 'ethers';
import { describe, expect, it } from 'vitest';
import { STATUS_RULES, canSign, statusActions, statusMessage } from '../src/market-status.js';
import { appStatusChange } from '../src/marketplace.js';
import marketEn from '../src/locales/market.en.js';
import marketZh from '../src/locales/market.zh-CN.js';
import definitions from '../../webwallet/src/generated/eip712.json';

const VENDOR = '0x1111111111111111111111111111111111111111';
const APP = { app_id: `0x${'ab'.repeat(32)}`, vendor: VENDOR };
const v = (status) => ({ version: 2, status });
const admin = { address: '0x2222222222222222222222222222222222222222', admin_role: 'regulator', is_vendor: false, is_consortium_admin: false };
const consortium = { address: '0x3333333333333333333333333333333333333333', admin_role: null, is_vendor: false, is_consortium_admin: true };
const vendor = { address: VENDOR.toUpperCase().replace('0X', '0x'), admin_role: null, is_vendor: true, is_consortium_admin: false };
const otherVendor = { address: '0x4444444444444444444444444444444444444444', admin_role: null, is_vendor: true, is_consortium_admin: false };
const clinician = { address: '0x5555555555555555555555555555555555555555', admin_role: null, is_vendor: false, is_consortium_admin: false };

describe('status buttons', () => {
  it('administrators and the consortium admin suspend Live and reinstate Suspended versions', () => {
    for (const me of [admin, consortium]) {
      expect(statusActions(APP, v('live'), me)).toEqual(['suspend']);
      expect(statusActions(APP, v('suspended'), me)).toEqual(['reinstate']);
      for (const s of ['in_review', 'rejected', 'retired']) expect(statusActions(APP, v(s), me)).toEqual([]);
    }
  });

  it('only the app\'s own vendor retires, from In review, Live or Suspended', () => {
    expect(statusActions(APP, v('in_review'), vendor)).toEqual(['retire']);
    expect(statusActions(APP, v('live'), vendor)).toEqual(['retire']);
    expect(statusActions(APP, v('suspended'), vendor)).toEqual(['retire']);
    expect(statusActions(APP, v('retired'), vendor)).toEqual([]);
    expect(statusActions(APP, v('rejected'), vendor)).toEqual([]);
    expect(statusActions(APP, v('live'), otherVendor)).toEqual([]);
    expect(statusActions(APP, v('live'), { ...vendor, is_vendor: false })).toEqual([]); // unenrolled since
  });

  it('an administrator who is also the vendor sees both', () => {
    expect(statusActions(APP, v('live'), { ...vendor, admin_role: 'regulator' })).toEqual(['suspend', 'retire']);
  });

  it('shows nothing to anyone else or without roles', () => {
    expect(statusActions(APP, v('live'), clinician)).toEqual([]);
    expect(statusActions(APP, v('live'), null)).toEqual([]);
    expect(statusActions(null, v('live'), admin)).toEqual([]);
  });
});

describe('the signed AppStatusChange', () => {
  const base = { appId: APP.app_id, version: 2, deadline: 1_800_000_000, nonce: '42' };

  it('needs a reason to suspend, not to reinstate or retire', () => {
    expect(canSign('suspend', '  ')).toBe(false);
    expect(canSign('suspend', 'data leak reported')).toBe(true);
    expect(canSign('reinstate', '')).toBe(true);
    expect(canSign('retire', '')).toBe(true);
    expect(canSign('', 'x')).toBe(false);
    expect(() => statusMessage({ ...base, action: 'suspend', reason: ' ' })).toThrow(/reason/);
  });

  it('is marketplace.js\'s message: action codes 1, 2, 3; the reason only for a suspension', () => {
    expect(statusMessage({ ...base, action: 'suspend', reason: ' data leak ' })).toEqual(appStatusChange({ ...base, action: 'suspend', reason: 'data leak' }));
    expect(statusMessage({ ...base, action: 'suspend', reason: 'x' }).action).toBe(1);
    expect(statusMessage({ ...base, action: 'reinstate', reason: 'typed anyway' })).toMatchObject({ action: 2, reason: '' });
    expect(statusMessage({ ...base, action: 'retire' })).toMatchObject({ action: 3, reason: '', nonce: '42', deadline: 1_800_000_000 });
    const types = { AppStatusChange: definitions.domains.Marketplace.types.AppStatusChange };
    expect(() => TypedDataEncoder.hashStruct('AppStatusChange', types, statusMessage({ ...base, action: 'retire' }))).not.toThrow();
  });

  it('has every label in both languages', () => {
    for (const rule of Object.values(STATUS_RULES)) {
      for (const key of Object.values(rule.labels)) {
        expect(marketZh, key).toHaveProperty([key]);
        expect(marketEn, key).toHaveProperty([key]);
      }
    }
  });
});
