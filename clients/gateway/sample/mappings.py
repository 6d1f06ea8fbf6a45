"""The sample hospital's mappings (JSONata) from HIS rows and HL7 v2 messages to FHIR R4.

Written as YAML text so that ``gateway init`` puts them in a new gateway folder as files a
hospital's engineer edits and keeps in Git. LOINC codes and UCUM units come from the rows;
ICD-10 codes from the diagnosis table; the local patient id stays in ``subject`` (the MPI
maps it to the patient's wallet when sharing).
"""

from __future__ import annotations

OBSERVATION = """\
kind: Mapping
version: 1
name: lab-observation
resource: Observation
description: 检验结果 → Observation (LOINC, UCUM)
patient: patient_id
key: id
expression: |
  {
    "resourceType": "Observation",
    "id": "lab-" & $string(id),
    "status": status,
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                              "code": "laboratory", "display": "Laboratory"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": item_name}],
             "text": item_name},
    "subject": {"reference": "Patient/" & patient_id},
    "encounter": encounter_id ? {"reference": "Encounter/" & encounter_id} : undefined,
    "effectiveDateTime": collected_at,
    "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                      "code": unit},
    "referenceRange": [{"low": {"value": ref_low, "unit": unit,
                                "system": "http://unitsofmeasure.org", "code": unit},
                        "high": {"value": ref_high, "unit": unit,
                                 "system": "http://unitsofmeasure.org", "code": unit}}],
    "interpretation": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "code": value < ref_low ? "L" : value > ref_high ? "H" : "N"}]}]
  }
"""

PATIENT = """\
kind: Mapping
version: 1
name: patient
resource: Patient
patient: id
key: id
expression: |
  {
    "resourceType": "Patient",
    "id": id,
    "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": id_card}],
    "name": [{"text": name, "family": $substring(name, 0, 1), "given": [$substring(name, 1)]}],
    "gender": sex = "M" ? "male" : sex = "F" ? "female" : "unknown",
    "birthDate": birth_date,
    "telecom": phone ? [{"system": "phone", "value": phone}] : undefined
  }
"""

ENCOUNTER = """\
kind: Mapping
version: 1
name: encounter
resource: Encounter
key: id
expression: |
  {
    "resourceType": "Encounter",
    "id": id,
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
              "code": kind = "住院" ? "IMP" : "AMB", "display": kind},
    "serviceType": {"text": department},
    "subject": {"reference": "Patient/" & patient_id},
    "period": {"start": started_at}
  }
"""

CONDITION = """\
kind: Mapping
version: 1
name: condition
resource: Condition
key: id
expression: |
  {
    "resourceType": "Condition",
    "id": "dx-" & $string(id),
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                   "code": "active"}]},
    "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                       "code": "confirmed"}]},
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": icd10,
                         "display": name}],
             "text": name},
    "subject": {"reference": "Patient/" & patient_id},
    "encounter": encounter_id ? {"reference": "Encounter/" & encounter_id} : undefined,
    "recordedDate": diagnosed_at
  }
"""

MEDICATION_REQUEST = """\
kind: Mapping
version: 1
name: medication-request
resource: MedicationRequest
key: id
expression: |
  {
    "resourceType": "MedicationRequest",
    "id": "rx-" & $string(id),
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": "urn:oid:2.16.156.10011.2.3.1",
                                              "code": drug_code, "display": drug_name}],
                                  "text": drug_name},
    "subject": {"reference": "Patient/" & patient_id},
    "authoredOn": prescribed_at,
    "dosageInstruction": [{"text": $string(dose) & dose_unit & " " & frequency,
                           "doseAndRate": [{"doseQuantity": {"value": dose, "unit": dose_unit,
                             "system": "http://unitsofmeasure.org", "code": dose_unit}}]}]
  }
"""

COMPOSITION = """\
kind: Mapping
version: 1
name: visit-summary
resource: Composition
key: id
description: 就诊小结 (a summary document per encounter)
expression: |
  {
    "resourceType": "Composition",
    "id": "summary-" & id,
    "status": "final",
    "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3",
                         "display": "Progress note"}]},
    "subject": {"reference": "Patient/" & patient_id},
    "encounter": {"reference": "Encounter/" & id},
    "date": started_at,
    "author": [{"display": department}],
    "title": department & kind & "就诊小结",
    "section": [{"title": "就诊信息", "text": {"status": "generated",
      "div": "<div xmlns=\\"http://www.w3.org/1999/xhtml\\">" & kind & " " & department
             & "</div>"}}]
  }
"""

HL7_OBSERVATION = """\
kind: Mapping
version: 1
name: hl7-observation
resource: Observation
description: ORU^R01 OBX → Observation (one per OBX; the item carries its PID and OBR)
patient: pid.f3[0]
key: msh.f10 & "-" & obx.f1
expression: |
  {
    "resourceType": "Observation",
    "status": obx.f11 = "F" ? "final" : obx.f11 = "C" ? "corrected" : "preliminary",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                              "code": "laboratory"}]}],
    "code": {"coding": [{"system": obx.f3[2] = "LN" ? "http://loinc.org" : obx.f3[2],
                         "code": obx.f3[0], "display": obx.f3[1]}]},
    "subject": {"reference": "Patient/" & pid.f3[0]},
    "effectiveDateTime": $hl7time(obx.f14 ? obx.f14 : obr.f7),
    "valueQuantity": obx.f2 = "NM" ? {"value": $number(obx.f5), "unit": obx.f6[0],
                      "system": "http://unitsofmeasure.org", "code": obx.f6[0]} : undefined,
    "valueString": obx.f2 != "NM" ? obx.f5 : undefined
  }
"""

DIAGNOSTIC_REPORT = """\
kind: Mapping
version: 1
name: hl7-report
resource: DiagnosticReport
description: ORU^R01 OBR → DiagnosticReport
patient: PID[0].f3[0]
key: MSH[0].f10
expression: |
  {
    "resourceType": "DiagnosticReport",
    "status": "final",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                              "code": "LAB"}]}],
    "code": {"coding": [{"system": OBR[0].f4[2] = "LN" ? "http://loinc.org" : OBR[0].f4[2],
                         "code": OBR[0].f4[0], "display": OBR[0].f4[1]}]},
    "subject": {"reference": "Patient/" & PID[0].f3[0]},
    "effectiveDateTime": $hl7time(OBR[0].f7),
    "conclusion": $join(OBX.(f3[1] & " " & f5 & " " & f6[0]), "; ")
  }
"""

ALL = {
    "lab-observation": OBSERVATION,
    "patient": PATIENT,
    "encounter": ENCOUNTER,
    "condition": CONDITION,
    "medication-request": MEDICATION_REQUEST,
    "visit-summary": COMPOSITION,
    "hl7-observation": HL7_OBSERVATION,
    "hl7-report": DIAGNOSTIC_REPORT,
}
