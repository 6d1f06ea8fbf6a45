// The reference SMART app's pure parts (clients/smartapps/bp_chart): blood pressures out of
// FHIR Observations (panels with components, lone systolic / diastolic), the chart's
// geometry, and its language choice.
import { describe, expect, it } from 'vitest';
import { geometry, readings } from '../../smartapps/bp_chart/chart.js';
import { LOCALES, pickLocale, t } from '../../smartapps/bp_chart/i18n.js';
import { base64url, fill, nameStore, pkce, takeFlow, usable } from '../../smartapps/bp_chart/smart.js';

const q = (value, unit = 'mmHg') => ({ value, unit });
const panel = (id, date, sys, dia) => ({
  resourceType: 'Observation', id, effectiveDateTime: date,
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
  component: [
    { code: { coding: [{ code: '8480-6' }] }, valueQuantity: q(sys) },
    { code: { coding: [{ code: '8462-4' }] }, valueQuantity: q(dia) },
  ],
});

describe('readings', () => {
  it('reads panels and lone values, oldest first, and skips the rest', () => {
    const bundle = {
      resourceType: 'Bundle',
      entry: [
        { resource: panel('b', '2026-11-02', 150, 95) },
        { resource: panel('a', '2026-10-01', 142, 91) },
        { resource: { resourceType: 'Observation', id: 'c', effectiveDateTime: '2026-12-01', code: { coding: [{ code: '8480-6' }] }, valueQuantity: q(138, 'mm[Hg]') } },
        { resource: { resourceType: 'Observation', id: 'hb', code: { coding: [{ code: '718-7' }] }, valueQuantity: q(130, 'g/L') } },
        { resource: { resourceType: 'Condition', id: 'x' } },
      ],
    };
    const list = readings(bundle);
    expect(list.map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(list[1]).toMatchObject({ systolic: { value: 150, unit: 'mmHg' }, diastolic: { value: 95 } });
    expect(list[2]).toMatchObject({ systolic: { value: 138, unit: 'mm[Hg]' }, diastolic: null });
  });
  it('draws inside the box, higher values higher', () => {
    const list = readings([panel('a', '2026-10-01', 142, 91), panel('b', '2026-11-02', 150, 95)]);
    const g = geometry(list, { width: 600, height: 300, pad: 40 });
    for (const p of [...g.systolic, ...g.diastolic]) {
      expect(p.x).toBeGreaterThanOrEqual(40);
      expect(p.x).toBeLessThanOrEqual(560);
      expect(p.y).toBeGreaterThanOrEqual(40);
      expect(p.y).toBeLessThanOrEqual(260);
    }
    expect(g.systolic[1].y).toBeLessThan(g.diastolic[1].y);
    expect(g.lo).toBeLessThanOrEqual(91);
    expect(g.hi).toBeGreaterThanOrEqual(150);
    expect(geometry(list.slice(0, 1)).systolic[0].x).toBe(320); // one reading: centred
  });
});

describe('language', () => {
  it('?lang= first, then what was chosen, then the browser', () => {
    expect(pickLocale('?lang=en', 'zh-CN', null)).toBe('en');
    expect(pickLocale('', 'zh-TW', null)).toBe('zh-CN');
    expect(pickLocale('', 'en-GB', null)).toBe('en');
    expect(pickLocale('', 'en-GB', 'zh-CN')).toBe('zh-CN');
  });
  it('both languages have the same keys and placeholders', () => {
    expect(Object.keys(LOCALES.en).sort()).toEqual(Object.keys(LOCALES['zh-CN']).sort());
    expect(t('count', { n: 3 }, 'en')).toBe('3 readings');
    expect(t('count', { n: 3 }, 'zh-CN')).toBe('共 3 次测量');
  });
});

describe('the launch', () => {
  it('PKCE S256: the challenge is the SHA-256 of the verifier, base64url', async () => {
    const { verifier, challenge } = await pkce();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    expect(challenge).toBe(base64url(hash));
  });
  it('fills the manifest for where it is served', () => {
    expect(fill('{base}/index.html', 'http://localhost:8000/apps/bp_chart/')).toBe('http://localhost:8000/apps/bp_chart/index.html');
  });
  it('keeps the flow in window.name when storage is blocked, and uses it once', () => {
    expect(usable('sessionStorage')).toBeNull(); // none in node: as in a third-party frame that blocks it
    globalThis.name = '';
    nameStore.setItem('bp-chart.flow.s1', JSON.stringify({ verifier: 'v' }));
    expect(takeFlow('s1', nameStore)).toEqual({ verifier: 'v' });
    expect(takeFlow('s1', nameStore)).toBeNull();
    expect(globalThis.name).toBe('');
    globalThis.name = 'not json';
    expect(nameStore.getItem('x')).toBeNull();
  });
});
