// The wallet's scope explainer is the workstation's, plus the patient's point of view: the
// two agree on every scope (so neither drifts), and `viewer: 'patient'` only changes
// "the current patient's" into "your".
import { describe, expect, it } from 'vitest';
import { explainScope, explainScopes } from '../src/scopes.js';
import * as workstation from '../../workstation/src/scopes.js';

const SCOPES = [
  'patient/Observation.rs',
  'patient/*.cruds',
  'user/*.r',
  'system/Patient.rs',
  'patient/Condition.read',
  'patient/MedicationRequest.write',
  'patient/Observation.rs?category=vital-signs&code=85354-9',
  'patient/Observation.read?category=x',
  'patient/Observation.sr',
  'patient/foo.rs',
  'launch',
  'launch/patient',
  'openid',
  'fhirUser',
  'profile',
  'offline_access',
  'online_access',
  'nonsense',
];

describe('scopes in plain language (shared with the workstation)', () => {
  it('agrees with the workstation for every scope and both languages', () => {
    for (const locale of ['zh-CN', 'en']) {
      for (const scope of SCOPES) expect(explainScope(scope, locale), `${locale} ${scope}`).toEqual(workstation.explainScope(scope, locale));
      expect(explainScopes(SCOPES.join(' '), locale)).toEqual(workstation.explainScopes(SCOPES.join(' '), locale));
    }
  });

  it('speaks to the patient about their own chart', () => {
    expect(explainScope('patient/Observation.rs', 'zh-CN', { viewer: 'patient' }).text).toBe('读取、搜索您的观察结果（检验结果、生命体征）');
    expect(explainScope('patient/*.cruds', 'en', { viewer: 'patient' })).toMatchObject({ text: 'Create, read, update, delete and search your health records of every kind', writes: true });
    // user/ scopes and the rest read the same for a patient
    for (const scope of ['user/*.r', 'openid', 'nonsense']) {
      expect(explainScope(scope, 'en', { viewer: 'patient' })).toEqual(explainScope(scope, 'en'));
    }
  });
});
