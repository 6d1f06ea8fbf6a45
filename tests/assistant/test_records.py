"""The outpatient record form: one test per refusal rule, and a valid form round-tripping to a
FHIR R4 document (validated with the R4B models, as the SDK does)."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.composition import Composition
from fhir.resources.R4B.condition import Condition

from clients.assistant.errors import RecordFormError
from clients.assistant.records import checks
from clients.assistant.records.checks import check_form
from clients.assistant.records.document import build_document
from clients.assistant.records.form import parse_form


def valid_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "patient_id": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "patient_name": "张三",
        "sex": "male",
        "birth_date": "1958-04-12",
        "visit_time": "2026-11-26T09:30:00+08:00",
        "department": "全科",
        "author_name": "李医生",
        "author_id": "0x1111111111111111111111111111111111111111",
        "organization": "青羊区社区卫生服务中心",
        "chief_complaint": "反复头晕3天",
        "present_illness": "3天前无明显诱因出现头晕，无视物旋转，无肢体无力。",
        "past_history": "高血压病史5年，规律服用氨氯地平。",
        "physical_exam": "BP 165/96mmHg，神清，心肺听诊无异常，四肢肌力正常。",
        "auxiliary_exam": "心电图：窦性心律，大致正常。",
        "diagnoses": [{"text": "高血压病2级", "code": "I10"}, {"text": "头晕", "code": "R42"}],
        "plan": "调整降压方案，监测血压，两周后复诊；如出现肢体无力立即就诊。",
    }
    form.update(changes)
    return form


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("section-missing", {"physical_exam": "   "}, "physical_exam"),
    ("section-too-long", {"present_illness": "头晕" * 2600}, "present_illness"),
    (
        "cc-too-long",
        {"chief_complaint": "反复头晕伴恶心呕吐、视物模糊及双下肢乏力3天"},
        "chief_complaint",
    ),
    ("cc-no-symptom", {"chief_complaint": "来院复查3天"}, "chief_complaint"),
    ("cc-no-duration", {"chief_complaint": "反复头晕"}, "chief_complaint"),
    ("dx-missing", {"diagnoses": []}, "diagnoses"),
    (
        "dx-too-many",
        {
            "diagnoses": [
                {"text": f"诊断{i}", "code": c}
                for i, c in enumerate(
                    [
                        "I10",
                        "R42",
                        "E11.9",
                        "E78.5",
                        "K29.5",
                        "J30.4",
                        "M17.9",
                        "N40",
                        "K76.0",
                        "E79.0",
                        "G47.0",
                    ]
                )
            ]
        },
        "diagnoses",
    ),
    ("dx-no-code", {"diagnoses": [{"text": "高血压病2级"}]}, "diagnoses[0].code"),
    (
        "dx-unknown-code",
        {"diagnoses": [{"text": "高血压病2级", "code": "X99.9"}]},
        "diagnoses[0].code",
    ),
    (
        "dx-duplicate",
        {"diagnoses": [{"text": "高血压", "code": "I10"}, {"text": "高血压病", "code": "I10"}]},
        "diagnoses[1].code",
    ),
    ("dx-sex-mismatch", {"diagnoses": [{"text": "痛经", "code": "N94.6"}]}, "diagnoses[0].code"),
    (
        "visit-in-future",
        {"visit_time": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        "visit_time",
    ),
    ("birth-after-visit", {"birth_date": "2027-01-01"}, "birth_date"),
]


@pytest.mark.parametrize(("rule", "changes", "field"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal(rule: str, changes: dict[str, Any], field: str) -> None:
    form = parse_form(valid_form(**changes))
    result = check_form(form)
    assert [(r.rule, r.field) for r in result.refusals] == [(rule, field)]
    with pytest.raises(RecordFormError) as refused:
        build_document(form)
    assert refused.value.refusals[0].rule == rule
    assert "(" in refused.value.refusals[0].message  # Chinese, then English in brackets


def test_every_rule_of_the_checks_has_a_refusal_test() -> None:
    source = inspect.getsource(checks)
    rules = set(re.findall(r'_refuse\([^,]+,\s*"([a-z-]+)"', source))
    rules.discard("dx-code-unlike-text")  # a warning, tested below
    assert rules == {r[0] for r in REFUSALS}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("not a form", "(form)"),
        (valid_form(visit_time="2026-11-26T09:30:00"), "visit_time"),  # no time zone
        (valid_form(sex="unknown"), "sex"),
        (valid_form(colour="red"), "colour"),
        (valid_form(patient_id="0x12 34"), "patient_id"),
        (valid_form(diagnoses=[{"text": "", "code": "I10"}]), "diagnoses.0.text"),
        (valid_form(chief_complaint=["头晕"]), "chief_complaint"),
    ],
)
def test_malformed_forms_are_refused_field_by_field(data: Any, field: str) -> None:
    with pytest.raises(RecordFormError) as refused:
        parse_form(data)
    assert refused.value.refusals[0].rule == "malformed"
    assert refused.value.refusals[0].field == field


def test_durations_and_symptoms_in_the_forms_gps_write() -> None:
    for complaint in [
        "咳嗽咳痰1周",
        "发热2天",
        "腹痛半天",
        "胸闷气短两月余",
        "腰痛10余年",
        "头痛3小时",
        "右踝扭伤后肿痛1h",
        "血糖高5年",
    ]:
        result = check_form(parse_form(valid_form(chief_complaint=complaint)))
        assert result.ok, (complaint, result.refusals)


def test_a_code_unlike_its_text_is_a_warning_not_a_refusal() -> None:
    result = check_form(
        parse_form(valid_form(diagnoses=[{"text": "高血压病2级", "code": "K29.5"}]))
    )
    assert result.ok
    assert [w.rule for w in result.warnings] == ["dx-code-unlike-text"]


def test_a_valid_form_round_trips_to_a_fhir_r4_document() -> None:
    form = parse_form(
        valid_form(
            plan="<script>alert(1)</script>\n两周后复诊",
            diagnoses=[
                {"text": "高血压病2级", "code": "i10"},
                {"text": "头晕待查", "code": "R42", "uncertain": True},
            ],
        )
    )
    bundle = build_document(form)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "document"
    assert parsed.identifier
    assert parsed.timestamp
    resources = [e.resource for e in parsed.entry]
    composition = resources[0]
    assert isinstance(composition, Composition)
    Composition.model_validate(bundle["entry"][0]["resource"])
    assert composition.type.coding[0].code == "34108-1"
    titles = [s.title for s in composition.section]
    assert titles == ["主诉", "现病史", "既往史", "体格检查", "辅助检查", "初步诊断", "处理意见"]
    sections = {s.title: s for s in composition.section}
    assert "反复头晕3天" in sections["主诉"].text.div
    assert "&lt;script&gt;" in sections["处理意见"].text.div
    assert "<script>" not in sections["处理意见"].text.div
    conditions = [r for r in resources if isinstance(r, Condition)]
    assert [c.code.coding[0].code for c in conditions] == ["I10", "R42"]
    assert all(c.code.coding[0].system == "http://hl7.org/fhir/sid/icd-10" for c in conditions)
    assert conditions[0].code.coding[0].display == "特发性（原发性）高血压"
    assert conditions[1].verificationStatus.coding[0].code == "unconfirmed"
    full_urls = {e.fullUrl for e in parsed.entry}
    references = [e.reference for e in sections["初步诊断"].entry]
    assert set(references) <= full_urls, "every reference resolves inside the document"
    assert composition.subject.reference in full_urls
