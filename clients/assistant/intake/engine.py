"""Assisted consultation (辅助问诊): answers → findings → red flags and a ranked differential.

A finding is present (True), recorded absent (False) or unknown (missing). Answers come from
the complaint's question tree and are checked against it: an unknown question, a choice that
is not offered or a number out of range is an :class:`IntakeError`, never a guess. Age and sex
add context findings (infant, child, over 50, woman of childbearing age…).

Red-flag rules fire on present findings only (:class:`FiredRule` lists the findings that fired
it). The differential scores each condition considered for the presenting complaints:
prior + weights of its findings present − half the weight of those recorded absent − weights
of findings against it that are present; the answer lists the findings for and against, and
the discriminating questions not yet asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from clients.assistant.errors import IntakeError
from clients.assistant.intake.knowledge import Complaint, Knowledge, Question, default_knowledge

MAX_ANSWERS = 100


@dataclass(frozen=True)
class Patient:
    """What the intake needs to know about the patient: age in years and sex, if known."""

    age: float | None = None
    sex: str | None = None

    def __post_init__(self) -> None:
        if self.age is not None and (
            isinstance(self.age, bool) or not math.isfinite(self.age) or not 0 <= self.age <= 130
        ):
            raise IntakeError("age must be between 0 and 130 years")
        if self.sex not in (None, "male", "female"):
            raise IntakeError("sex must be 'male' or 'female'")

    def findings(self) -> dict[str, bool]:
        out: dict[str, bool] = {}
        if self.age is not None:
            out["infant_under_3m"] = self.age < 0.25
            out["child"] = self.age < 14
            out["age_over_40"] = self.age >= 40
            out["age_over_50"] = self.age >= 50
            out["age_over_65"] = self.age >= 65
        if self.sex is not None:
            out["female"] = self.sex == "female"
            out["male"] = self.sex == "male"
            if self.age is not None:
                out["childbearing_age"] = self.sex == "female" and 12 <= self.age <= 50
        return out


@dataclass(frozen=True)
class FiredRule:
    id: str
    zh: str
    en: str
    indicator: str
    action_zh: str
    action_en: str
    source: str
    fired_by: tuple[str, ...]


@dataclass(frozen=True)
class Ranked:
    """One condition of the differential: a suggestion, with the findings behind its score."""

    rank: int
    id: str
    code: str
    zh: str
    en: str
    score: float
    findings_for: tuple[str, ...]
    findings_absent: tuple[str, ...]
    findings_against: tuple[str, ...]
    to_ask: tuple[str, ...]


@dataclass
class Assessment:
    complaint: Complaint
    findings: dict[str, bool]
    red_flags: list[FiredRule]
    differential: list[Ranked]
    next_questions: list[Question] = field(default_factory=list)


class Intake:
    """The consultation engine over a :class:`Knowledge`."""

    def __init__(self, knowledge: Knowledge | None = None) -> None:
        self.knowledge = knowledge or default_knowledge()

    def complaint(self, complaint_id: str) -> Complaint:
        complaint = self.knowledge.complaints.get(complaint_id)
        if complaint is None:
            known = ", ".join(sorted(self.knowledge.complaints))
            raise IntakeError(f"unknown complaint {complaint_id!r} (known: {known})")
        return complaint

    def answers_to_findings(self, complaint: Complaint, answers: dict[str, Any]) -> dict[str, bool]:
        """Findings from answers to the complaint's questions; refuses what the tree lacks."""
        if len(answers) > MAX_ANSWERS:
            raise IntakeError(f"more than {MAX_ANSWERS} answers")
        findings: dict[str, bool] = {}
        for question_id, value in answers.items():
            question = complaint.question(question_id)
            if question is None:
                raise IntakeError(f"{complaint.id} has no question {question_id!r}")
            findings.update(_answer(question, value))
        return findings

    def _check_findings(self, names: list[str], what: str) -> None:
        for name in names:
            if name not in self.knowledge.findings:
                raise IntakeError(f"unknown finding {name!r} in {what}")

    def assess(
        self,
        complaint_id: str,
        *,
        answers: dict[str, Any] | None = None,
        patient: Patient | None = None,
        present: list[str] | None = None,
        absent: list[str] | None = None,
        limit: int = 5,
    ) -> Assessment:
        """Findings, red flags, differential and the next questions for one complaint."""
        complaint = self.complaint(complaint_id)
        present, absent = list(present or ()), list(absent or ())
        self._check_findings(present, "present")
        self._check_findings(absent, "absent")
        if set(present) & set(absent):
            raise IntakeError("a finding cannot be both present and absent")
        findings: dict[str, bool] = {complaint.finding: True}
        findings.update((patient or Patient()).findings())
        findings.update(self.answers_to_findings(complaint, answers or {}))
        findings.update({name: False for name in absent})
        findings.update({name: True for name in present})
        ranked = self.differential(complaint, findings, limit=limit)
        return Assessment(
            complaint=complaint,
            findings=findings,
            red_flags=self.red_flags(findings),
            differential=ranked,
            next_questions=self.next_questions(complaint, answers or {}, findings),
        )

    def red_flags(self, findings: dict[str, bool]) -> list[FiredRule]:
        """Every rule whose conditions hold, with the findings that made it fire."""
        fired = []
        for rule in self.knowledge.rules:
            if not all(findings.get(f) is True for f in rule.all):
                continue
            matched_any = [f for f in rule.any if findings.get(f) is True]
            if rule.any and len(matched_any) < rule.min_any:
                continue
            fired.append(
                FiredRule(
                    rule.id,
                    rule.zh,
                    rule.en,
                    rule.indicator,
                    rule.action_zh,
                    rule.action_en,
                    rule.source,
                    (*rule.all, *matched_any),
                )
            )
        return sorted(fired, key=lambda r: (r.indicator != "critical", r.id))

    def differential(
        self, complaint: Complaint, findings: dict[str, bool], *, limit: int = 5
    ) -> list[Ranked]:
        """Conditions considered for the complaint(s) present, best first."""
        complaints = {complaint.id, complaint.finding} | {
            c.finding for c in self.knowledge.complaints.values() if findings.get(c.finding)
        }
        scored = []
        for condition in self.knowledge.conditions:
            if not complaints & set(condition.complaints):
                continue
            score = condition.prior
            for_, absent, against = [], [], []
            for finding, weight in condition.for_.items():
                if findings.get(finding) is True:
                    score += weight
                    for_.append(finding)
                elif findings.get(finding) is False:
                    score -= weight / 2
                    absent.append(finding)
            for finding, weight in condition.against.items():
                if findings.get(finding) is True:
                    score -= weight
                    against.append(finding)
            to_ask = [
                f
                for f, _ in sorted(condition.for_.items(), key=lambda i: -i[1])
                if f not in findings
            ][:3]
            scored.append((score, condition, for_, absent, against, to_ask))
        scored.sort(key=lambda s: (-s[0], s[1].id))
        return [
            Ranked(
                rank,
                c.id,
                c.code,
                c.zh,
                c.en,
                round(score, 2),
                tuple(f),
                tuple(a),
                tuple(g),
                tuple(t),
            )
            for rank, (score, c, f, a, g, t) in enumerate(scored[:limit], 1)
        ]

    def next_questions(
        self,
        complaint: Complaint,
        answers: dict[str, Any],
        findings: dict[str, bool],
        limit: int = 3,
    ) -> list[Question]:
        """The next unanswered questions whose ``ask_if`` holds, in the tree's order."""
        out = []
        for question in complaint.questions:
            if question.id in answers:
                continue
            if all(findings.get(f) is not None for f in question.findings()):
                continue  # already known from elsewhere
            if question.ask_if and not any(findings.get(f) is True for f in question.ask_if):
                continue
            out.append(question)
            if len(out) == limit:
                break
        return out


def _answer(question: Question, value: Any) -> dict[str, bool]:
    if question.type == "yesno":
        if value in (True, "yes", "是"):
            return {question.finding: True}  # type: ignore[dict-item]
        if value in (False, "no", "否"):
            return {question.finding: False}  # type: ignore[dict-item]
        raise IntakeError(f"answer to {question.id!r} must be yes or no")
    if question.type == "choice":
        values = {o.value: o.finding for o in question.options}
        if not isinstance(value, str) or value not in values:
            raise IntakeError(f"answer to {question.id!r} must be one of {', '.join(values)}")
        return {finding: option == value for option, finding in values.items()}
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IntakeError(f"answer to {question.id!r} must be a number")
    if not question.min <= value <= question.max:  # type: ignore[operator]
        raise IntakeError(
            f"answer to {question.id!r} must be between {question.min} and {question.max}"
        )
    return {t.finding: t.holds(float(value)) for t in question.thresholds}
