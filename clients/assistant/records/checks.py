"""Completeness and consistency checks of the outpatient record (病历书写基本规范).

Each refusal has a stable rule id (tests and the workstation branch on it) and a Chinese and
English message; warnings do not block the record. The rules:

- ``section-missing``: every section of the outpatient record is filled in (辅助检查 may say 无);
- ``section-too-long``: no section exceeds the configured length;
- ``cc-too-long``: 主诉 is at most 20 characters (the regulation's "简明扼要");
- ``cc-no-symptom``: 主诉 names a symptom or sign;
- ``cc-no-duration``: 主诉 names a duration (3天, 两周余, 半年…);
- ``dx-missing`` / ``dx-too-many``: at least one and at most the configured number of diagnoses;
- ``dx-no-code``: every 初步诊断 has an ICD-10 code; ``dx-unknown-code``: the code is in the table;
- ``dx-duplicate``: no code twice;
- ``dx-sex-mismatch``: no sex-specific code (pregnancy, prostate…) for a patient of the other sex;
- ``visit-in-future`` / ``birth-after-visit``: dates that cannot be.

A warning (``dx-code-unlike-text``) says when a diagnosis text does not suggest its code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from clients.assistant.coding.normalize import normalize
from clients.assistant.coding.ranker import Coder, default_coder
from clients.assistant.errors import CodingInputError, RecordFormError, Refusal
from clients.assistant.intake.knowledge import default_knowledge
from clients.assistant.loader import data_dir, load_yaml
from clients.assistant.records.form import SECTIONS, OutpatientRecord

_NUMBER = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百半数几]+)"
DURATION = re.compile(
    _NUMBER
    + r"\s*(?:余|多)?\s*(?:个)?\s*(?:分钟|min|小时|h|天|日|d|周|星期|个月|月|年)(?:余|多|半)?",
    re.IGNORECASE,
)
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class RecordRules:
    """The configuration of ``data/records.yaml`` with the symptom vocabulary expanded."""

    source: str
    chief_complaint_max_chars: int
    section_max_chars: int
    max_diagnoses: int
    symptoms: tuple[str, ...]
    female_only: tuple[str, ...]
    male_only: tuple[str, ...]


@cache
def default_rules() -> RecordRules:
    config, _ = load_yaml(data_dir() / "records.yaml", "records")
    coder = default_coder()
    words = set(config["symptoms"])
    for term in coder.table.terms:  # chapter XVIII: symptoms, signs and abnormal findings
        if term.code.startswith("R") and term.kind != "pinyin" and len(term.norm) <= 8:
            words.add(term.norm)
    for complaint in default_knowledge().complaints.values():
        words.add(complaint.zh)
    return RecordRules(
        source=config["source"],
        chief_complaint_max_chars=config["chief_complaint_max_chars"],
        section_max_chars=config["section_max_chars"],
        max_diagnoses=config["max_diagnoses"],
        symptoms=tuple(sorted(words, key=len, reverse=True)),
        female_only=tuple(config["female_only"]),
        male_only=tuple(config["male_only"]),
    )


@dataclass(frozen=True)
class CheckResult:
    refusals: tuple[Refusal, ...]
    warnings: tuple[Refusal, ...]

    @property
    def ok(self) -> bool:
        return not self.refusals


def _refuse(field: str, rule: str, zh: str, en: str) -> Refusal:
    return Refusal(field, rule, f"{zh} ({en})")


def check_form(
    form: OutpatientRecord,
    *,
    now: datetime | None = None,
    rules: RecordRules | None = None,
    coder: Coder | None = None,
) -> CheckResult:
    """Every refusal and warning for ``form`` (an empty refusal list means it may be signed)."""
    rules = rules or default_rules()
    coder = coder or default_coder()
    now = now or datetime.now(UTC)
    refusals: list[Refusal] = []
    warnings: list[Refusal] = []
    for field, zh, en in SECTIONS:
        if field == "diagnoses":
            continue
        value = getattr(form, field)
        if not value.strip():
            refusals.append(_refuse(field, "section-missing", f"{zh}未填写", f"{en} is empty"))
        elif len(value) > rules.section_max_chars:
            refusals.append(
                _refuse(
                    field,
                    "section-too-long",
                    f"{zh}超过{rules.section_max_chars}字",
                    f"{en} is longer than {rules.section_max_chars} characters",
                )
            )
    complaint = form.chief_complaint.strip()
    if complaint:
        if len(complaint) > rules.chief_complaint_max_chars:
            refusals.append(
                _refuse(
                    "chief_complaint",
                    "cc-too-long",
                    f"主诉应简明扼要，不超过{rules.chief_complaint_max_chars}字",
                    f"the chief complaint exceeds {rules.chief_complaint_max_chars} characters",
                )
            )
        folded = normalize(complaint)
        if not any(word in folded for word in rules.symptoms):
            refusals.append(
                _refuse(
                    "chief_complaint",
                    "cc-no-symptom",
                    "主诉应写明主要症状或体征",
                    "the chief complaint names no symptom or sign",
                )
            )
        if not DURATION.search(complaint):
            refusals.append(
                _refuse(
                    "chief_complaint",
                    "cc-no-duration",
                    "主诉应写明持续时间（如“3天”）",
                    "the chief complaint gives no duration (e.g. 3天)",
                )
            )
    _check_diagnoses(form, rules, coder, refusals, warnings)
    if form.visit_time > now + CLOCK_SKEW:
        refusals.append(
            _refuse(
                "visit_time",
                "visit-in-future",
                "就诊时间晚于当前时间",
                "the visit time is in the future",
            )
        )
    if form.birth_date is not None and form.birth_date > form.visit_time.date():
        refusals.append(
            _refuse(
                "birth_date",
                "birth-after-visit",
                "出生日期晚于就诊日期",
                "the birth date is after the visit",
            )
        )
    return CheckResult(tuple(refusals), tuple(warnings))


def _check_diagnoses(
    form: OutpatientRecord,
    rules: RecordRules,
    coder: Coder,
    refusals: list[Refusal],
    warnings: list[Refusal],
) -> None:
    if not form.diagnoses:
        refusals.append(
            _refuse("diagnoses", "dx-missing", "初步诊断未填写", "no provisional diagnosis")
        )
        return
    if len(form.diagnoses) > rules.max_diagnoses:
        refusals.append(
            _refuse(
                "diagnoses",
                "dx-too-many",
                f"初步诊断超过{rules.max_diagnoses}条",
                f"more than {rules.max_diagnoses} diagnoses",
            )
        )
    seen: set[str] = set()
    for index, diagnosis in enumerate(form.diagnoses):
        where = f"diagnoses[{index}].code"
        code = (diagnosis.code or "").strip().upper()
        if not code:
            refusals.append(
                _refuse(
                    where,
                    "dx-no-code",
                    f"诊断“{diagnosis.text}”缺少ICD-10编码",
                    f"diagnosis '{diagnosis.text}' has no ICD-10 code",
                )
            )
            continue
        if code not in coder.table.entries:
            refusals.append(
                _refuse(
                    where,
                    "dx-unknown-code",
                    f"编码{code}不在基层ICD-10编码表中",
                    f"{code} is not in the primary-care ICD-10 table",
                )
            )
            continue
        if code in seen:
            refusals.append(
                _refuse(where, "dx-duplicate", f"编码{code}重复", f"{code} is listed twice")
            )
        seen.add(code)
        if form.sex is not None:
            other = rules.male_only if form.sex == "female" else rules.female_only
            if any(code.startswith(prefix) for prefix in other):
                refusals.append(
                    _refuse(
                        where,
                        "dx-sex-mismatch",
                        f"编码{code}与患者性别不符",
                        f"{code} does not fit a {form.sex} patient",
                    )
                )
        try:
            suggested = {s.code for s in coder.suggest(diagnosis.text, limit=10).suggestions}
        except CodingInputError:
            suggested = set()
        if code not in suggested:
            warnings.append(
                _refuse(
                    where,
                    "dx-code-unlike-text",
                    f"诊断文字“{diagnosis.text}”与编码{code}不太一致，请核对",
                    f"the text '{diagnosis.text}' does not suggest {code}; please check",
                )
            )


def require_valid(form: OutpatientRecord, **kwargs: object) -> CheckResult:
    """:func:`check_form`, raising :class:`RecordFormError` with every refusal if any."""
    result = check_form(form, **kwargs)  # type: ignore[arg-type]
    if result.refusals:
        raise RecordFormError(list(result.refusals))
    return result
