"""The outpatient record form (门诊病历), following the structure of 病历书写基本规范.

The sections are those the regulation lists for an outpatient record: 主诉 (chief complaint),
现病史 (present illness), 既往史 (past history), 体格检查 (examination), 辅助检查 (tests),
初步诊断 (provisional diagnoses, each with an ICD-10 code) and 处理意见 (plan). The model only
checks types and sizes; what makes a record acceptable (a complaint naming a symptom and a
duration, a code for every diagnosis…) is :mod:`clients.assistant.records.checks`, so that each
refusal has its own rule id and message instead of a generic validation error.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from clients.assistant.errors import RecordFormError, Refusal

MAX_TEXT = 20_000  # a hard cap per field; the configurable section limit is lower

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("chief_complaint", "主诉", "Chief complaint"),
    ("present_illness", "现病史", "History of present illness"),
    ("past_history", "既往史", "Past history"),
    ("physical_exam", "体格检查", "Physical examination"),
    ("auxiliary_exam", "辅助检查", "Investigations"),
    ("diagnoses", "初步诊断", "Provisional diagnoses"),
    ("plan", "处理意见", "Plan"),
)


class Diagnosis(BaseModel):
    """One provisional diagnosis: the text as the GP wrote it and its ICD-10 code."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=10)
    uncertain: bool = False


class OutpatientRecord(BaseModel):
    """An outpatient visit as the GP fills it in; see :func:`parse_form`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    patient_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    patient_name: str | None = Field(default=None, max_length=64)
    sex: Literal["male", "female"] | None = None
    birth_date: date | None = None
    visit_time: AwareDatetime
    department: str = Field(default="全科", min_length=1, max_length=64)
    author_name: str = Field(min_length=1, max_length=64)
    author_id: str | None = Field(default=None, max_length=128)
    organization: str | None = Field(default=None, max_length=128)
    chief_complaint: str = Field(default="", max_length=MAX_TEXT)
    present_illness: str = Field(default="", max_length=MAX_TEXT)
    past_history: str = Field(default="", max_length=MAX_TEXT)
    physical_exam: str = Field(default="", max_length=MAX_TEXT)
    auxiliary_exam: str = Field(default="", max_length=MAX_TEXT)
    diagnoses: list[Diagnosis] = Field(default_factory=list, max_length=50)
    plan: str = Field(default="", max_length=MAX_TEXT)


def parse_form(data: Any) -> OutpatientRecord:
    """The form from JSON-like data; malformed input is a :class:`RecordFormError` naming each
    field (rule ``malformed``), never a half-built record."""
    if isinstance(data, OutpatientRecord):
        return data
    if not isinstance(data, dict):
        raise RecordFormError([Refusal("(form)", "malformed", "the form must be a JSON object")])
    try:
        return OutpatientRecord.model_validate(data)
    except ValidationError as exc:
        refusals = [
            Refusal(
                ".".join(str(p) for p in error.get("loc", ())) or "(form)",
                "malformed",
                error.get("msg", "invalid"),
            )
            for error in exc.errors(include_url=False)
        ]
        raise RecordFormError(refusals) from None
