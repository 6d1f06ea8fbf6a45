// The FHIR renderers against the resources the workstation will show: the demo's documents
// and the gateway's sample mappings (test/fixtures/fhir.json, scripts/export_workstation.py),
// plus R4 resources written after HL7's published examples for what those lack.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ageOn,
  dosageText,
  narrativeText,
  observationFlag,
  renderBytes,
  renderComposition,
  renderCondition,
  renderDiagnosticReport,
  renderFhir,
  renderMedicationRequest,
  renderObservation,
  renderPatient,
} from '../src/fhir/render.js';

const { resources } = JSON.parse(readFileSync(new URL('./fixtures/fhir.json', import.meta.url), 'utf8'));
const of = (type) => resources.filter((r) => r.resource.resourceType === type).map((r) => r.resource);

describe('every exported resource renders without losing its title', () => {
  for (const { source, resource } of resources) {
    it(`${source} ${resource.id}`, () => {
      const [view] = renderFhir(resource);
      expect(view.kind).toBe(resource.resourceType);
      expect(view.title).toBeTruthy();
      expect(JSON.stringify(view)).not.toMatch(/undefined|NaN|<div/);
    });
  }
});

describe('Observation', () => {
  it('gateway lab results: value with unit, range, the laboratory’s flag', () => {
    const obs = of('Observation');
    expect(obs.length).toBeGreaterThanOrEqual(3);
    for (const o of obs) {
      const v = renderObservation(o);
      const unit = o.valueQuantity.unit;
      expect(v.value).toBe(`${o.valueQuantity.value} ${unit}`);
      expect(v.range).toBe(`${o.referenceRange[0].low.value}–${o.referenceRange[0].high.value} ${unit}`);
      expect(v.code).toBe(`LOINC ${o.code.coding[0].code}`);
      const code = o.interpretation[0].coding[0].code;
      expect(v.flag).toEqual({ code, level: { H: 'high', L: 'low', N: 'normal' }[code], computed: false });
      expect(v.abnormal).toBe(code !== 'N');
    }
  });
  it('a flag computed from the range when the source gives none, never across units', () => {
    const glucose = {
      resourceType: 'Observation', status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '15074-8', display: 'Glucose' }], text: '空腹血糖' },
      valueQuantity: { value: 7.8, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
      referenceRange: [{ low: { value: 3.9, unit: 'mmol/L' }, high: { value: 6.1, unit: 'mmol/L' } }],
    };
    expect(observationFlag(glucose)).toEqual({ code: 'H', level: 'high', computed: true });
    expect(renderObservation(glucose).title).toBe('空腹血糖');
    const mgdl = { ...glucose, referenceRange: [{ low: { value: 70, unit: 'mg/dL' }, high: { value: 110, unit: 'mg/dL' } }] };
    expect(observationFlag(mgdl)).toBeNull();
    expect(observationFlag({ ...glucose, valueQuantity: { value: 5, unit: 'mmol/L' } }).level).toBe('normal');
  });
  it('blood pressure components (HL7 example blood-pressure) with critical flags', () => {
    const bp = {
      resourceType: 'Observation', status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }] },
      effectiveDateTime: '2026-11-20T09:30:00+08:00',
      component: [
        { code: { coding: [{ code: '8480-6', display: 'Systolic blood pressure' }] }, valueQuantity: { value: 182, unit: 'mmHg' },
          interpretation: [{ coding: [{ code: 'HH' }] }] },
        { code: { coding: [{ code: '8462-4', display: 'Diastolic blood pressure' }] }, valueQuantity: { value: 96, unit: 'mmHg' },
          referenceRange: [{ high: { value: 90, unit: 'mmHg' } }] },
      ],
    };
    const v = renderObservation(bp);
    expect(v.components.map((c) => [c.value, c.flag?.level])).toEqual([['182 mmHg', 'critical-high'], ['96 mmHg', 'high']]);
    expect(v.components[1].range).toBe('≤90 mmHg');
  });
  it('comparators and coded values', () => {
    expect(renderObservation({ resourceType: 'Observation', code: { text: 'cTnI' }, valueQuantity: { value: 0.01, comparator: '<', unit: 'ng/mL' } }).value).toBe('<0.01 ng/mL');
    expect(renderObservation({ resourceType: 'Observation', code: { text: 'HBsAg' }, valueCodeableConcept: { text: '阴性' }, interpretation: [{ coding: [{ code: 'NEG' }] }] }).abnormal).toBe(false);
  });
});

describe('DiagnosticReport', () => {
  it('the conclusion and its codes (after HL7 example diagnosticreport-example-ghp)', () => {
    const v = renderDiagnosticReport({
      resourceType: 'DiagnosticReport', status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '24356-8', display: 'Urinalysis complete panel' }], text: '尿常规' },
      effectiveDateTime: '2026-11-20T10:00:00+08:00',
      result: [{ reference: 'Observation/u1' }, { reference: 'Observation/u2' }],
      conclusion: '尿蛋白 2+，建议复查 24 小时尿蛋白定量',
      conclusionCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'R80', display: '孤立性蛋白尿' }] }],
    });
    expect(v.title).toBe('尿常规');
    expect(v.conclusion).toMatch(/尿蛋白 2\+/);
    expect(v.conclusionCodes).toEqual([{ code: 'ICD-10 R80', text: '孤立性蛋白尿' }]);
    expect(v.results).toBe(2);
  });
});

describe('Composition', () => {
  it('the demo discharge summary: sections as text, never markup', () => {
    const c = of('Composition').find((r) => r.id === 'discharge-20261125');
    const v = renderComposition(c);
    expect(v.title).toBe('出院小结 Discharge summary');
    expect(v.author).toBe('李明 心内科 成都市第三人民医院');
    expect(v.sections[0].text).toMatch(/^HFrEF \(LVEF 38%\)/);
    expect(v.sections[0].text).not.toMatch(/</);
  });
  it('narrative markup cannot inject: script and attributes are dropped, entities decoded', () => {
    expect(narrativeText('<div><p>a &lt;b&gt; &amp; c</p><script>alert(1)</script><img src=x onerror=alert(1)>d</div>')).toBe('a <b> & c\nalert(1)d');
  });
  it('gateway visit summaries', () => {
    for (const c of of('Composition').filter((r) => r.id.startsWith('summary-'))) {
      const v = renderComposition(c);
      expect(v.sections.length).toBeGreaterThan(0);
      expect(v.sections[0].title).toBe('就诊信息');
    }
  });
});

describe('Condition', () => {
  it('ICD-10 code with its Chinese text (gateway diagnoses)', () => {
    for (const c of of('Condition')) {
      const v = renderCondition(c);
      expect(v.icd10.code).toMatch(/^[A-Z]\d{2}(\.\d+)?$/);
      expect(v.icd10.text).toBe(c.code.coding[0].display);
      expect(v.code).toBe(`ICD-10 ${c.code.coding[0].code}`);
      expect(v.clinicalStatus).toBe('active');
    }
  });
  it('the ICD-10 coding wins over another system listed first', () => {
    const v = renderCondition({
      resourceType: 'Condition',
      code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }, { system: 'http://hl7.org/fhir/sid/icd-10', code: 'I10', display: '特发性（原发性）高血压' }] },
    });
    expect(v.icd10).toEqual({ code: 'I10', text: '特发性（原发性）高血压' });
  });
});

describe('MedicationRequest', () => {
  it('the prescriber’s dosage text (gateway prescription)', () => {
    const [rx] = of('MedicationRequest');
    const v = renderMedicationRequest(rx);
    expect(v.title).toBe(rx.medicationCodeableConcept.text);
    expect(v.dosage).toEqual([rx.dosageInstruction[0].text]);
  });
  it('a structured dosage composed (HL7 example medicationrequest0302 style)', () => {
    expect(dosageText({
      doseAndRate: [{ doseQuantity: { value: 2.5, unit: 'mg' } }],
      timing: { code: { coding: [{ code: 'QD' }] } },
      route: { text: '口服' },
    })).toBe('2.5 mg qd 口服');
    expect(dosageText({ doseAndRate: [{ doseQuantity: { value: 10, unit: 'mg' } }], timing: { repeat: { frequency: 3, period: 1, periodUnit: 'd' } }, asNeededBoolean: true })).toBe('10 mg 3/1d prn');
  });
});

describe('Patient', () => {
  it('gateway patients: name, sex, age on a given day', () => {
    for (const p of of('Patient')) {
      const v = renderPatient(p, '2026-12-07');
      expect(v.title).toBe(p.name[0].text);
      expect(v.age).toBe(ageOn(p.birthDate, '2026-12-07'));
      expect(v.identifiers).toEqual([p.identifier[0].value]);
    }
    expect(ageOn('1945-04-20', '2026-04-19')).toBe(80);
    expect(ageOn('1945-04-20', '2026-04-20')).toBe(81);
    expect(ageOn('not a date', '2026-04-20')).toBeNull();
  });
});

describe('bundles and bytes', () => {
  it('a Bundle renders each entry; junk is refused or shown as text', () => {
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: resources.slice(0, 3).map((r) => ({ resource: r.resource })) };
    expect(renderFhir(bundle)).toHaveLength(3);
    expect(() => renderFhir({ hello: 1 })).toThrow(/resourceType/);
    expect(renderBytes(new TextEncoder().encode('ECG: sinus rhythm'), 'text/plain')).toEqual([{ kind: 'text', title: 'text/plain', text: 'ECG: sinus rhythm' }]);
    expect(renderBytes(new TextEncoder().encode(JSON.stringify(of('Condition')[0])), 'application/fhir+json')[0].kind).toBe('Condition');
  });
});
