"""Who is in the demo, and what the patient shares: the consortium of DESIGN.md, in small.

A tertiary hospital in Chengdu, two community health centres of its 医联体 and a county
hospital (the Pujiang model of county–city cooperation); a cardiologist (心内科) at the
hospital, a general practitioner (全科) at a community centre, an auditor (医务科), and a
county cardiologist whom the GP invites to a remote consultation beside the city's. The two
records are FHIR R4 resources a heart-failure work-up produces: an NT-proBNP laboratory
Observation (LOINC 33762-6) and an echocardiography DiagnosticReport (LOINC 34552-0).

The clinicians keep one wallet each across runs (they are enrolled once on the chain); the
patient is new every run, so that a re-run on the same data directory tells the whole story
again. DEV ONLY: the wallet password below is published; the demo wallets hold no value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger_api.chain.consortium import Role

# DEV ONLY: the password of the demo's wallets (printed, so the CLI can open them afterwards).
DEMO_WALLET_PASSWORD = "medledger-demo"
# the policy of the shared records; every client ORs in uid:<patient> itself
RECORD_POLICY = "role:doctor and dept:cardiology"
PATIENT_NAME = "张伟"
PATIENT_LABEL = f"患者 patient {PATIENT_NAME}"


@dataclass(frozen=True)
class Institution:
    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class Clinician:
    """A consortium member the demo enrols; ``wallet`` names their keystore in the data dir."""

    key: str  # how the story refers to them: cardiologist, gp, auditor, county_cardiologist
    wallet: str
    name: str
    title: str
    institution: str  # institution code
    role: Role
    attributes: tuple[str, ...]
    short: str  # their name in the summary table, where columns are narrow

    @property
    def label(self) -> str:
        return f"{self.name} ({self.title})"


INSTITUTIONS: tuple[Institution, ...] = (
    Institution("cd3h", "成都市第三人民医院", "tertiary hospital"),
    Institution("qyqchc", "青羊区社区卫生服务中心", "community health centre"),
    Institution("chqchc", "成华区社区卫生服务中心", "community health centre"),
    Institution("pjxrmyy", "蒲江县人民医院", "county hospital"),
)

CLINICIANS: tuple[Clinician, ...] = (
    Clinician(
        key="cardiologist",
        wallet="demo-cardiologist",
        name="李明",
        title="心内科 cardiologist",
        institution="cd3h",
        role=Role.DOCTOR,
        attributes=("dept:cardiology",),
        short="cardiologist",
    ),
    Clinician(
        key="gp",
        wallet="demo-gp",
        name="王芳",
        title="全科 GP",
        institution="qyqchc",
        role=Role.DOCTOR,
        attributes=("dept:general_practice",),
        short="GP",
    ),
    Clinician(
        key="auditor",
        wallet="demo-auditor",
        name="陈静",
        title="医务科 auditor",
        institution="cd3h",
        role=Role.AUDITOR,
        attributes=(),
        short="auditor",
    ),
    Clinician(
        key="county_gateway",
        wallet="demo-county-gateway",
        name="蒲江县人民医院前置机",
        title="接口平台网关 gateway",
        institution="pjxrmyy",
        role=Role.GATEWAY,
        attributes=(),
        short="county gateway",
    ),
    Clinician(
        key="county_cardiologist",
        wallet="demo-county-cardiologist",
        name="赵强",
        title="县医院心内科 county cardiologist",
        institution="pjxrmyy",
        role=Role.DOCTOR,
        attributes=("dept:cardiology",),
        short="county cardiologist",
    ),
)


def clinician(key: str) -> Clinician:
    return next(c for c in CLINICIANS if c.key == key)


def institution_name(code: str) -> str:
    return next(i.name for i in INSTITUTIONS if i.code == code)


def _subject(patient: str) -> dict[str, Any]:
    """The patient as FHIR ``Reference``: by wallet address, which is their identity here."""
    return {
        "identifier": {"system": "urn:medledger:patient-address", "value": patient},
        "display": PATIENT_NAME,
    }


def observation(patient: str) -> dict[str, Any]:
    """NT-proBNP, high: the laboratory result that sends a GP's patient to cardiology."""
    return {
        "resourceType": "Observation",
        "id": "ntprobnp-20261120",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                        "display": "Laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "33762-6",
                    "display": "Natriuretic peptide.B prohormone N-Terminal "
                    "[Mass/volume] in Serum or Plasma",
                }
            ],
            "text": "NT-proBNP",
        },
        "subject": _subject(patient),
        "effectiveDateTime": "2026-11-20T09:30:00+08:00",
        "performer": [{"display": "成都市第三人民医院 检验科"}],
        "valueQuantity": {
            "value": 1850,
            "unit": "pg/mL",
            "system": "http://unitsofmeasure.org",
            "code": "pg/mL",
        },
        "interpretation": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "H",
                        "display": "High",
                    }
                ]
            }
        ],
        "referenceRange": [{"high": {"value": 125, "unit": "pg/mL"}}],
    }


def diagnostic_report(patient: str) -> dict[str, Any]:
    """The echocardiography report: reduced ejection fraction, the cardiologist's concern."""
    return {
        "resourceType": "DiagnosticReport",
        "id": "echo-20261120",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "CUS",
                        "display": "Cardiac Ultrasound",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "34552-0",
                    "display": "2D echocardiogram panel",
                }
            ],
            "text": "超声心动图 Echocardiography",
        },
        "subject": _subject(patient),
        "effectiveDateTime": "2026-11-20T10:15:00+08:00",
        "issued": "2026-11-20T11:00:00+08:00",
        "performer": [{"display": "成都市第三人民医院 心内科"}],
        "result": [{"reference": "Observation/ntprobnp-20261120", "display": "NT-proBNP"}],
        "conclusion": "LVEF 38%, dilated left ventricle, moderate mitral regurgitation: "
        "heart failure with reduced ejection fraction.",
        "conclusionCode": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "703272007",
                        "display": "Heart failure with reduced ejection fraction",
                    }
                ]
            }
        ],
    }


def excerpt(resource: dict[str, Any]) -> str:
    """One line a clinician would read first: what was measured or concluded."""
    kind = resource.get("resourceType", "?")
    code = resource.get("code", {})
    coding = (code.get("coding") or [{}])[0]
    label = f"{kind} {code.get('text', '')} (LOINC {coding.get('code', '?')})".strip()
    if "valueQuantity" in resource:
        quantity = resource["valueQuantity"]
        flag = (resource.get("interpretation") or [{}])[0].get("coding", [{}])[0].get("code", "")
        return f"{label}: {quantity.get('value')} {quantity.get('unit', '')} {flag}".strip()
    if "conclusion" in resource:
        return f"{label}: {resource['conclusion']}"
    return label
