"""The consultation knowledge: findings, question trees, red-flag rules and the differential.

All of it is data (``data/intake``), each file validated against its schema. Loading then
checks what schemas cannot: every finding a question, rule or condition names is defined in
``findings.yaml``; question ids are unique within a tree; every condition's code is in the
ICD-10 table and every complaint it names has a tree. A broken reference raises
:class:`DataFileError` with the file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from clients.assistant.coding.table import IcdTable, default_table
from clients.assistant.errors import DataFileError
from clients.assistant.loader import data_dir, line_of, load_yaml, relative_name


@dataclass(frozen=True)
class Option:
    value: str
    zh: str
    en: str
    finding: str


@dataclass(frozen=True)
class Threshold:
    finding: str
    min: float | None = None
    below: float | None = None

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the threshold (``min`` inclusive, ``below`` exclusive)."""
        if self.min is not None and value < self.min:
            return False
        return not (self.below is not None and value >= self.below)


@dataclass(frozen=True)
class Question:
    id: str
    zh: str
    en: str
    type: str
    finding: str | None = None
    ask_if: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    min: float | None = None
    max: float | None = None

    def findings(self) -> list[str]:
        """Every finding this question can set."""
        if self.finding:
            return [self.finding]
        return [o.finding for o in self.options] + [t.finding for t in self.thresholds]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "zh": self.zh, "en": self.en, "type": self.type}
        if self.options:
            out["options"] = [{"value": o.value, "zh": o.zh, "en": o.en} for o in self.options]
        if self.type == "number":
            out["min"], out["max"] = self.min, self.max
        return out


@dataclass(frozen=True)
class Complaint:
    id: str
    zh: str
    en: str
    finding: str
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


@dataclass(frozen=True)
class Rule:
    id: str
    zh: str
    en: str
    indicator: str
    action_zh: str
    action_en: str
    source: str
    all: tuple[str, ...]
    any: tuple[str, ...] = ()
    min_any: int = 1


@dataclass(frozen=True)
class Condition:
    id: str
    code: str
    zh: str
    en: str
    complaints: tuple[str, ...]
    prior: float
    for_: dict[str, float]
    against: dict[str, float]


@dataclass
class Knowledge:
    findings: dict[str, tuple[str, str]] = field(default_factory=dict)
    complaints: dict[str, Complaint] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)

    def label(self, finding: str) -> dict[str, str]:
        zh, en = self.findings[finding]
        return {"id": finding, "zh": zh, "en": en}


def _check_finding(
    known: dict[str, Any], finding: str, name: str, node: yaml.Node, *path: Any
) -> None:
    if finding not in known:
        raise DataFileError(
            name, line_of(node, *path), _dotted(path), f"unknown finding {finding!r}"
        )


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (("." if text else "") + str(part))
    return text


def _load_complaint(path: Path, findings: dict[str, Any]) -> Complaint:
    data, node = load_yaml(path, "complaint")
    name = relative_name(path)
    _check_finding(findings, data["finding"], name, node, "finding")
    questions = []
    seen: set[str] = set()
    for i, q in enumerate(data["questions"]):
        if q["id"] in seen:
            raise DataFileError(
                name,
                line_of(node, "questions", i, "id"),
                f"questions[{i}].id",
                f"duplicate question id {q['id']!r}",
            )
        seen.add(q["id"])
        question = Question(
            id=q["id"],
            zh=q["zh"],
            en=q["en"],
            type=q["type"],
            finding=q.get("finding"),
            ask_if=tuple(q.get("ask_if", ())),
            options=tuple(Option(**o) for o in q.get("options", ())),
            thresholds=tuple(Threshold(**t) for t in q.get("thresholds", ())),
            min=q.get("min"),
            max=q.get("max"),
        )
        if question.type == "number" and not question.min < question.max:  # type: ignore[operator]
            raise DataFileError(
                name,
                line_of(node, "questions", i, "min"),
                f"questions[{i}].min",
                "min must be below max",
            )
        if question.finding:
            _check_finding(findings, question.finding, name, node, "questions", i, "finding")
        for j, option in enumerate(question.options):
            _check_finding(
                findings, option.finding, name, node, "questions", i, "options", j, "finding"
            )
        for j, threshold in enumerate(question.thresholds):
            _check_finding(
                findings, threshold.finding, name, node, "questions", i, "thresholds", j, "finding"
            )
        for j, finding in enumerate(question.ask_if):
            _check_finding(findings, finding, name, node, "questions", i, "ask_if", j)
        questions.append(question)
    return Complaint(data["complaint"], data["zh"], data["en"], data["finding"], tuple(questions))


def load_knowledge(directory: Path | None = None, table: IcdTable | None = None) -> Knowledge:
    """Load and cross-check every consultation file."""
    directory = directory or data_dir() / "intake"
    table = table or default_table()
    knowledge = Knowledge()
    data, _ = load_yaml(directory / "findings.yaml", "findings")
    knowledge.findings = {k: (v[0], v[1]) for k, v in data["findings"].items()}
    for path in sorted((directory / "complaints").glob("*.yaml")):
        complaint = _load_complaint(path, knowledge.findings)
        if complaint.id in knowledge.complaints:
            raise DataFileError(
                relative_name(path), 1, "complaint", f"complaint {complaint.id!r} is defined twice"
            )
        knowledge.complaints[complaint.id] = complaint
    path = directory / "redflags.yaml"
    data, node = load_yaml(path, "redflags")
    name = relative_name(path)
    ids: set[str] = set()
    for i, r in enumerate(data["rules"]):
        if r["id"] in ids:
            raise DataFileError(
                name,
                line_of(node, "rules", i, "id"),
                f"rules[{i}].id",
                f"duplicate rule id {r['id']}",
            )
        ids.add(r["id"])
        for key in ("all", "any"):
            for j, finding in enumerate(r.get(key, ())):
                _check_finding(knowledge.findings, finding, name, node, "rules", i, key, j)
        if r.get("min_any", 1) > len(r.get("any", ())) and "any" in r:
            raise DataFileError(
                name,
                line_of(node, "rules", i, "min_any"),
                f"rules[{i}].min_any",
                "min_any exceeds the number of any",
            )
        knowledge.rules.append(
            Rule(
                r["id"],
                r["zh"],
                r["en"],
                r["indicator"],
                r["action_zh"],
                r["action_en"],
                r["source"],
                tuple(r["all"]),
                tuple(r.get("any", ())),
                r.get("min_any", 1),
            )
        )
    path = directory / "conditions.yaml"
    data, node = load_yaml(path, "conditions")
    name = relative_name(path)
    ids = set()
    for i, c in enumerate(data["conditions"]):
        if c["id"] in ids:
            raise DataFileError(
                name,
                line_of(node, "conditions", i, "id"),
                f"conditions[{i}].id",
                f"duplicate condition id {c['id']}",
            )
        ids.add(c["id"])
        if c["code"] not in table.entries:
            raise DataFileError(
                name,
                line_of(node, "conditions", i, "code"),
                f"conditions[{i}].code",
                f"{c['code']} is not in the ICD-10 table",
            )
        for j, complaint in enumerate(c["complaints"]):
            if complaint not in {k.finding for k in knowledge.complaints.values()} | set(
                knowledge.complaints
            ):
                raise DataFileError(
                    name,
                    line_of(node, "conditions", i, "complaints", j),
                    f"conditions[{i}].complaints[{j}]",
                    f"no question tree for complaint {complaint!r}",
                )
        for key in ("for", "against"):
            for finding in c.get(key, {}):
                _check_finding(
                    knowledge.findings, finding, name, node, "conditions", i, key, finding
                )
        knowledge.conditions.append(
            Condition(
                c["id"],
                c["code"],
                c["zh"],
                c["en"],
                tuple(c["complaints"]),
                float(c["prior"]),
                dict(c["for"]),
                dict(c.get("against", {})),
            )
        )
    return knowledge


@cache
def default_knowledge() -> Knowledge:
    """The shipped knowledge, loaded once per process."""
    return load_knowledge()
