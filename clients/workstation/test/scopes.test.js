// SMART scopes in plain language: v1 and v2 data scopes, contexts, launch and identity
// scopes, queries, and unknown scopes reported as unknown (never explained away).
import { describe, expect, it } from 'vitest';
import { explainScope, explainScopes, permissions } from '../src/scopes.js';

const zh = (s) => explainScope(s, 'zh-CN').text;
const en = (s) => explainScope(s, 'en').text;

describe('data scopes', () => {
  it('v2 read and search of the current patient', () => {
    expect(zh('patient/Observation.rs')).toBe('读取、搜索当前患者的观察结果（检验结果、生命体征）');
    expect(en('patient/Observation.rs')).toBe('Read and search the current patient\'s observations (lab results, vital signs)');
  });
  it('user and system contexts, every resource type', () => {
    expect(zh('user/*.r')).toBe('读取您有权查看的所有患者的所有类型的健康记录');
    expect(en('user/*.r')).toBe('Read any patient\'s, as far as you yourself may see them, health records of every kind');
    expect(en('system/Patient.rs')).toContain('without a signed-in user');
  });
  it('v1 spellings', () => {
    expect(permissions('read')).toBe('rs');
    expect(permissions('write')).toBe('cud');
    expect(permissions('*')).toBe('cruds');
    expect(en('patient/Condition.read')).toBe('Read and search the current patient\'s diagnoses and health problems');
    expect(en('patient/MedicationRequest.write')).toBe('Create, update and delete the current patient\'s prescriptions and medication orders');
  });
  it('writes are flagged, reads are not', () => {
    expect(explainScope('patient/Observation.cruds').writes).toBe(true);
    expect(explainScope('patient/Observation.rs').writes).toBe(false);
    expect(explainScope('patient/Observation.cruds', 'zh-CN').text).toBe('创建、读取、修改、删除、搜索当前患者的观察结果（检验结果、生命体征）');
  });
  it('a v2 query narrows the scope', () => {
    expect(zh('patient/Observation.rs?category=laboratory')).toBe('读取、搜索当前患者的观察结果（检验结果、生命体征），仅限 category=laboratory');
    expect(en('patient/Observation.rs?category=vital-signs&status=final')).toMatch(/, only where category=vital-signs and status=final$/);
  });
  it('a resource with no plain name keeps its FHIR name', () => {
    expect(en('patient/Goal.r')).toBe('Read the current patient\'s Goal records');
    expect(zh('patient/Goal.r')).toBe('读取当前患者的Goal 类记录');
  });
});

describe('launch, identity and refresh scopes', () => {
  it('each has a sentence and a kind', () => {
    expect(explainScope('launch/patient').kind).toBe('launch');
    expect(en('launch/patient')).toMatch(/which patient is selected/);
    expect(zh('launch')).toMatch(/就诊上下文/);
    expect(explainScope('openid').kind).toBe('identity');
    expect(explainScope('fhirUser', 'en').text).toMatch(/who you are/);
    expect(explainScope('offline_access').kind).toBe('refresh');
    expect(zh('offline_access')).toMatch(/退出后/);
    expect(en('online_access')).toMatch(/while you are signed in/);
  });
  it('a space-separated request, duplicates dropped, order kept', () => {
    const rows = explainScopes('openid fhirUser  launch/patient openid', 'en');
    expect(rows.map((r) => r.scope)).toEqual(['openid', 'fhirUser', 'launch/patient']);
    expect(rows.every((r) => r.valid)).toBe(true);
    expect(explainScopes(['user/*.r', ''], 'zh-CN')).toHaveLength(1);
  });
});

describe('unknown scopes', () => {
  for (const bad of ['patient/Observation.sr', 'patient/Observation.rr', 'patient/Observation.x', 'clinician/Observation.r',
    'patient/observation.r', 'patient/Observation', 'patient/Observation.read?category=laboratory', 'launch/doctor', 'admin', 'patient/*.read write', '']) {
    it(JSON.stringify(bad), () => {
      const e = explainScope(bad, 'en');
      expect(e.valid).toBe(false);
      expect(e.kind).toBe('unknown');
      expect(e.text).toMatch(/Unknown permission/);
      expect(explainScope(bad, 'zh-CN').text).toMatch(/未知权限/);
    });
  }
});
