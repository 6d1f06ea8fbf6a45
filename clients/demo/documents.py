"""The documents the demo's referrals and consultation carry, as FHIR R4 resources.

A two-way referral (双向转诊) moves paper in both directions: a referral letter
(``ServiceRequest``) goes with the patient, a discharge summary or a follow-up note
(``Composition``) comes back; a remote consultation (远程会诊) has a question
(``ServiceRequest``), the invited specialists' consult notes and the requester's conclusion
(``Composition``). Each is validated like any other FHIR record before it is encrypted, so a
document the receiving hospital's system could not parse never leaves the demo.

The clinical thread continues the story of :mod:`clients.demo.cast`: NT-proBNP 1850 pg/mL and
LVEF 38 % at the community centre, a cardiology work-up at the tertiary hospital, then
follow-up care back in the community with a remote consultation on titrating the medication.
"""

from __future__ import annotations

from typing import Any

from clients.demo.cast import PATIENT_NAME

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
XHTML = "http://www.w3.org/1999/xhtml"


def _subject(patient: str) -> dict[str, Any]:
    return {
        "identifier": {"system": "urn:medledger:patient-address", "value": patient},
        "display": PATIENT_NAME,
    }


def _request(
    patient: str,
    *,
    ident: str,
    code: dict[str, Any],
    requester: str,
    performer: str,
    reason: str,
    note: str,
    priority: str,
    referral: bool,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": ident,
        "status": "active",
        "intent": "order",
        "priority": priority,
        "code": code,
        "subject": _subject(patient),
        "authoredOn": "2026-11-21T09:00:00+08:00",
        "requester": {"display": requester},
        "performer": [{"display": performer}],
        "reasonCode": [{"text": reason}],
        "note": [{"text": note}],
    }
    if referral:
        resource["category"] = [
            {"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}
        ]
    return resource


def _note(
    patient: str,
    *,
    ident: str,
    loinc: str,
    display: str,
    title: str,
    author: str,
    text: str,
) -> dict[str, Any]:
    return {
        "resourceType": "Composition",
        "id": ident,
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
        "subject": _subject(patient),
        "date": "2026-11-25T16:00:00+08:00",
        "author": [{"display": author}],
        "title": title,
        "section": [
            {
                "title": title,
                "text": {"status": "generated", "div": f'<div xmlns="{XHTML}">{text}</div>'},
            }
        ],
    }


def referral_letter_up(patient: str) -> dict[str, Any]:
    """The GP's referral to cardiology: the reason record of the referral up."""
    return _request(
        patient,
        ident="referral-up-20261121",
        code={
            "coding": [
                {"system": SNOMED, "code": "183519002", "display": "Referral to cardiology service"}
            ],
            "text": "转诊 心内科 Referral to cardiology",
        },
        requester="王芳 全科 青羊区社区卫生服务中心",
        performer="成都市第三人民医院 心内科",
        reason="NT-proBNP 1850 pg/mL, LVEF 38%: suspected heart failure with reduced EF",
        note="Exertional dyspnoea for 3 weeks, ankle oedema. Please assess and start GDMT.",
        priority="urgent",
        referral=True,
    )


def discharge_summary(patient: str) -> dict[str, Any]:
    """What cd3h sends back when the referral up completes."""
    return _note(
        patient,
        ident="discharge-20261125",
        loinc="18842-5",
        display="Discharge summary",
        title="出院小结 Discharge summary",
        author="李明 心内科 成都市第三人民医院",
        text="HFrEF (LVEF 38%), NYHA II. Started sacubitril/valsartan 24/26 mg bid, "
        "bisoprolol 2.5 mg qd, dapagliflozin 10 mg qd. Stable at discharge.",
    )


def follow_up_plan(patient: str) -> dict[str, Any]:
    """cd3h's referral back down to the community centre: follow-up care."""
    return _request(
        patient,
        ident="referral-down-20261125",
        code={"text": "下转 社区随访 Follow-up care in the community"},
        requester="李明 心内科 成都市第三人民医院",
        performer="青羊区社区卫生服务中心 全科",
        reason="HFrEF, stable after initiation of guideline-directed therapy",
        note="Weekly weight and blood pressure; potassium and creatinine in 2 weeks; "
        "titrate beta-blocker if heart rate > 70.",
        priority="routine",
        referral=True,
    )


def follow_up_note(patient: str) -> dict[str, Any]:
    """The community centre's note when the referral down completes."""
    return _note(
        patient,
        ident="followup-20261209",
        loinc="11506-3",
        display="Progress note",
        title="社区随访记录 Follow-up note",
        author="王芳 全科 青羊区社区卫生服务中心",
        text="BP 118/72, HR 76, weight stable, K 4.6 mmol/L, creatinine 96 µmol/L.",
    )


def consultation_question(patient: str) -> dict[str, Any]:
    """The GP's question to the invited cardiologists."""
    return _request(
        patient,
        ident="consult-20261209",
        code={"text": "远程会诊 Remote consultation: titration of heart-failure therapy"},
        requester="王芳 全科 青羊区社区卫生服务中心",
        performer="成都市第三人民医院 心内科; 蒲江县人民医院 心内科",
        reason="HFrEF on sacubitril/valsartan, bisoprolol, dapagliflozin; HR 76 at rest",
        note="May bisoprolol be raised to 5 mg and sacubitril/valsartan to 49/51 mg now?",
        priority="routine",
        referral=False,
    )


def opinion(patient: str, *, ident: str, author: str, text: str) -> dict[str, Any]:
    """An invited specialist's consult note."""
    return _note(
        patient,
        ident=ident,
        loinc="11488-4",
        display="Consult note",
        title="会诊意见 Consult note",
        author=author,
        text=text,
    )


def conclusion(patient: str) -> dict[str, Any]:
    """The requester's conclusion that closes the consultation."""
    return _note(
        patient,
        ident="consult-conclusion-20261210",
        loinc="18776-5",
        display="Plan of care note",
        title="会诊结论 Consultation conclusion",
        author="王芳 全科 青羊区社区卫生服务中心",
        text="Bisoprolol 5 mg qd now; sacubitril/valsartan 49/51 mg bid after the next "
        "potassium and creatinine check.",
    )


def excerpt(resource: dict[str, Any]) -> str:
    """One line of a workflow document: the request's code and reason, or the note's text."""
    kind = resource.get("resourceType", "?")
    if kind == "ServiceRequest":
        reason = (resource.get("reasonCode") or [{}])[0].get("text", "")
        return f"{kind} {resource.get('code', {}).get('text', '')}: {reason}"
    if kind == "Composition":
        section = (resource.get("section") or [{}])[0]
        div = str(section.get("text", {}).get("div", ""))
        text = div.split(">", 1)[-1].rsplit("<", 1)[0]
        return f"{kind} {resource.get('title', '')}: {text}"
    return kind
