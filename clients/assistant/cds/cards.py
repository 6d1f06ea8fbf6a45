"""Cards for the three services, as CDS Hooks 2.0 defines them.

Every card has a ``summary`` under 140 characters, an ``indicator``, a ``source`` (the service,
linked to the transparency page, with a topic) and, where the clinician can act, ``suggestions``
with ``selectionBehavior`` and a list of ``overrideReasons``. Each summary says 建议 (suggestion):
the clinician confirms, nothing is applied on its own (no ``systemActions``).
"""

from __future__ import annotations

import uuid
from typing import Any

from clients.assistant.coding.ranker import CodingResult
from clients.assistant.errors import Refusal
from clients.assistant.intake.engine import Assessment

OVERRIDE_SYSTEM = "urn:medledger:assistant:override-reason"
OVERRIDE_REASONS: dict[str, list[tuple[str, str]]] = {
    "icd10-coding": [
        ("wrong-code", "编码不正确 / wrong code"),
        ("more-specific", "需要更具体的编码 / a more specific code applies"),
        ("not-a-diagnosis", "不是诊断 / not a diagnosis"),
        ("other", "其他 / other"),
    ],
    "gp-intake": [
        ("already-managed", "已处理 / already managed"),
        ("not-applicable", "与患者情况不符 / does not fit this patient"),
        ("patient-declined", "患者拒绝转诊 / patient declined referral"),
        ("other", "其他 / other"),
    ],
    "gp-record": [
        ("will-complete-later", "稍后补充 / will complete later"),
        ("check-wrong", "检查规则不适用 / the check does not apply"),
        ("other", "其他 / other"),
    ],
}
MAX_SUMMARY = 139


def summary(text: str) -> str:
    """``text`` cut to under 140 characters (an ellipsis marks the cut)."""
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def _source(service: str, label: str, base_url: str, topic: tuple[str, str]) -> dict[str, Any]:
    return {
        "label": label,
        "url": f"{base_url}/transparency#{service}",
        "topic": {"system": "urn:medledger:assistant:topic", "code": topic[0], "display": topic[1]},
    }


def _overrides(service: str) -> list[dict[str, str]]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS[service]
    ]


def _condition(code: str, display: str, text: str, patient_id: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": status,
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10", "code": code, "display": display}
            ],
            "text": text,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def coding_card(result: CodingResult, patient_id: str, base_url: str) -> dict[str, Any] | None:
    """One card with up to five code suggestions, the best recommended; None when nothing."""
    if not result.suggestions:
        return None
    best = result.suggestions[0]
    lines = [f"**建议，须医生确认**（suggestions — the clinician confirms）：“{result.query}”"]
    if result.uncertain:
        lines.append("诊断标为待查/可能：请确认诊断或改编症状码。")
    for s in result.suggestions:
        lines.append(f"{s.rank}. `{s.code}` {s.zh} — {s.reason_zh}")
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary(
            f"ICD-10建议：{best.code} {best.zh}（共{len(result.suggestions)}项，需确认）"
        ),
        "detail": "\n\n".join(lines),
        "indicator": "info",
        "source": _source(
            "icd10-coding",
            "MedLedger全科助手·疾病分类",
            base_url,
            ("icd10-coding", "ICD-10编码建议"),
        ),
        "suggestions": [
            {
                "label": summary(f"{s.code} {s.zh}"),
                "uuid": str(uuid.uuid4()),
                "isRecommended": s.rank == 1,
                "actions": [
                    {
                        "type": "create",
                        "description": summary(f"记录诊断 {s.code} {s.zh}（{s.en}）"),
                        "resource": _condition(
                            s.code,
                            s.zh,
                            result.query,
                            patient_id,
                            "unconfirmed" if result.uncertain else "provisional",
                        ),
                    }
                ],
            }
            for s in result.suggestions
        ],
        "selectionBehavior": "at-most-one",
        "overrideReasons": _overrides("icd10-coding"),
    }


def intake_cards(
    assessment: Assessment, patient_id: str, base_url: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """A card per red flag (critical or warning), then the differential (info)."""
    cards = []
    for rule in assessment.red_flags:
        fired = "、".join(labels.get(f, f) for f in rule.fired_by)
        cards.append(
            {
                "uuid": str(uuid.uuid4()),
                "summary": summary(f"红旗征：{rule.zh}。{rule.action_zh}"),
                "detail": (
                    f"**{rule.zh}** ({rule.en}) — 规则 `{rule.id}`\n\n"
                    f"触发依据（findings）：{fired}\n\n处理建议：{rule.action_zh}\n\n"
                    f"{rule.action_en}\n\n来源：{rule.source}"
                ),
                "indicator": rule.indicator,
                "source": _source(
                    "gp-intake", f"红旗规则 {rule.id}", base_url, ("red-flag", "红旗征/紧急转诊")
                ),
                "overrideReasons": _overrides("gp-intake"),
            }
        )
    if assessment.differential:
        top = "；".join(f"{r.rank}.{r.zh}" for r in assessment.differential[:3])
        lines = ["**鉴别诊断建议，须医生判断**（a ranked differential — suggestions only）"]
        for r in assessment.differential:
            pro = "、".join(labels.get(f, f) for f in r.findings_for) or "无"
            con = "、".join(labels.get(f, f) for f in (*r.findings_against, *r.findings_absent))
            ask = "、".join(labels.get(f, f) for f in r.to_ask)
            lines.append(
                f"{r.rank}. {r.zh}（`{r.code}`，得分{r.score}）支持：{pro}"
                + (f"；不支持：{con}" if con else "")
                + (f"；可追问：{ask}" if ask else "")
            )
        if assessment.next_questions:
            lines.append("下一步问题：" + "；".join(q.zh for q in assessment.next_questions))
        cards.append(
            {
                "uuid": str(uuid.uuid4()),
                "summary": summary(f"{assessment.complaint.zh}鉴别诊断（建议）：{top}"),
                "detail": "\n\n".join(lines),
                "indicator": "info",
                "source": _source(
                    "gp-intake",
                    "MedLedger全科助手·辅助问诊",
                    base_url,
                    ("differential", "鉴别诊断"),
                ),
                "suggestions": [
                    {
                        "label": summary(f"{r.code} {r.zh}"),
                        "uuid": str(uuid.uuid4()),
                        "isRecommended": r.rank == 1,
                        "actions": [
                            {
                                "type": "create",
                                "description": summary(f"记录待确认诊断 {r.code} {r.zh}"),
                                "resource": _condition(
                                    r.code, r.zh, r.zh, patient_id, "differential"
                                ),
                            }
                        ],
                    }
                    for r in assessment.differential
                ],
                "selectionBehavior": "any",
                "overrideReasons": _overrides("gp-intake"),
            }
        )
    return cards


def record_card(
    refusals: tuple[Refusal, ...],
    warnings: tuple[Refusal, ...],
    document: dict[str, Any] | None,
    base_url: str,
) -> dict[str, Any]:
    """Refused: a warning card listing every refusal. Accepted: the document as a suggestion."""
    source = _source(
        "gp-record", "MedLedger全科助手·病历书写", base_url, ("record-check", "病历质控")
    )
    notes = [f"- `{w.rule}` {w.field}: {w.message}" for w in warnings]
    if refusals:
        lines = [f"- `{r.rule}` {r.field}: {r.message}" for r in refusals]
        return {
            "uuid": str(uuid.uuid4()),
            "summary": summary(f"病历未通过检查：{len(refusals)}项需修改（{refusals[0].message}）"),
            "detail": "\n".join(["**需修改（the record is refused）**", *lines, *notes]),
            "indicator": "warning",
            "source": source,
            "overrideReasons": _overrides("gp-record"),
        }
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary("病历检查通过，可生成FHIR病历文档（建议，签名前请核对）"),
        "detail": "\n".join(["病历符合《病历书写基本规范》门诊病历结构。", *notes]),
        "indicator": "info",
        "source": source,
        "overrideReasons": _overrides("gp-record"),
    }
    if document is not None:
        card["suggestions"] = [
            {
                "label": "生成门诊病历文档（Composition + Condition）",
                "uuid": str(uuid.uuid4()),
                "isRecommended": True,
                "actions": [
                    {
                        "type": "create",
                        "description": "FHIR R4 document Bundle",
                        "resource": document,
                    }
                ],
            }
        ]
        card["selectionBehavior"] = "at-most-one"
    return card
