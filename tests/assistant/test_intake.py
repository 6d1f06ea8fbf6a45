"""Assisted consultation: red-flag cases per rule, the differential's vignettes, the trees,
and refusals of malformed answers and data files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clients.assistant.coding.table import default_table
from clients.assistant.errors import DataFileError, IntakeError
from clients.assistant.evaluation import intake_accuracy, redflag_case_results
from clients.assistant.intake.engine import Intake, Patient
from clients.assistant.intake.knowledge import default_knowledge, load_knowledge
from clients.assistant.loader import data_dir, load_yaml

RULES = [rule.id for rule in default_knowledge().rules]
RESULTS = redflag_case_results()


def test_the_knowledge_is_large_enough_and_every_rule_cites_a_source() -> None:
    knowledge = default_knowledge()
    assert len(knowledge.complaints) >= 12
    assert {"chest_pain", "fever", "cough", "headache", "abdominal_pain", "dizziness"} <= set(
        knowledge.complaints
    )
    assert len({c.code for c in knowledge.conditions}) >= 50
    table = default_table()
    assert all(c.code in table.entries for c in knowledge.conditions)
    assert all(len(rule.source) > 10 for rule in knowledge.rules)


@pytest.mark.parametrize("rule", RULES)
def test_each_red_flag_fires_on_its_case_and_not_on_its_near_miss(rule: str) -> None:
    assert RESULTS[(rule, "fire")], f"{rule} did not fire on its must-fire case"
    assert RESULTS[(rule, "near_miss")], f"{rule} fired on its near miss"


def test_every_rule_has_its_pair_of_cases() -> None:
    cases, _ = load_yaml(data_dir() / "intake" / "redflag_cases.yaml", "redflag_cases")
    assert set(cases["cases"]) == set(RULES)


def test_a_fired_rule_names_the_findings_that_fired_it() -> None:
    engine = Intake()
    result = engine.assess(
        "chest_pain",
        patient=Patient(age=62, sex="male"),
        answers={"character": "pressing", "rest20": True, "sweating": True, "palpation": False},
    )
    acs = next(r for r in result.red_flags if r.id == "RF-CP-ACS")
    assert acs.indicator == "critical"
    assert set(acs.fired_by) == {
        "chest_pain",
        "pain_pressing",
        "pain_at_rest_over_20min",
        "sweating",
    }
    assert result.differential[0].id == "acs"
    assert "pain_pressing" in result.differential[0].findings_for


def test_the_differential_puts_the_expected_diagnosis_in_the_top_three() -> None:
    figures = intake_accuracy()
    assert figures["cases"] >= 50
    assert figures["top3"] >= 0.80, figures


def test_questions_branch_on_earlier_answers() -> None:
    engine = Intake()
    complaint = engine.complaint("chest_pain")
    asked = {q.id for q in complaint.questions if q.ask_if}
    assert "hemoptysis" in asked
    findings = {"chest_pain": True}
    answers = {q.id: False for q in complaint.questions if q.type == "yesno" and not q.ask_if}
    result = engine.assess("chest_pain", answers=answers)
    assert "hemoptysis" not in {q.id for q in result.next_questions}
    answers["pleuritic"] = True
    result = engine.assess("chest_pain", answers=answers)
    assert "hemoptysis" in {q.id for q in result.next_questions}
    assert findings  # the complaint's own finding is always present
    assert result.findings["chest_pain"] is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"answers": {"nope": True}}, "no question 'nope'"),
        ({"answers": {"character": "dull"}}, "must be one of"),
        ({"answers": {"onset": "maybe"}}, "yes or no"),
        ({"answers": {"sbp": 400}}, "between 40 and 300"),
        ({"answers": {"sbp": True}}, "must be a number"),
        ({"answers": {"sbp": float("nan")}}, "must be a number"),
        ({"present": ["unicorn"]}, "unknown finding 'unicorn'"),
        ({"present": ["fever"], "absent": ["fever"]}, "both present and absent"),
        ({"patient": None, "answers": {f"q{i}": True for i in range(101)}}, "more than 100"),
    ],
)
def test_malformed_answers_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(IntakeError, match=message):
        Intake().assess("chest_pain", **kwargs)


def test_unknown_complaint_and_impossible_patients_are_refused() -> None:
    with pytest.raises(IntakeError, match="unknown complaint 'toothache'"):
        Intake().assess("toothache")
    with pytest.raises(IntakeError, match="age"):
        Patient(age=-1)
    with pytest.raises(IntakeError, match="sex"):
        Patient(sex="x")


def test_a_rule_naming_an_unknown_finding_is_refused_with_its_line(tmp_path: Path) -> None:
    directory = tmp_path / "intake"
    shutil.copytree(data_dir() / "intake", directory)
    path = directory / "redflags.yaml"
    text = path.read_text(encoding="utf-8")
    old = "all: [chest_pain]\n    any: [pain_at_rest_over_20min"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, old.replace("chest_pain", "chest_pian"), 1), encoding="utf-8")
    with pytest.raises(DataFileError) as refused:
        load_knowledge(directory)
    assert refused.value.file.endswith("redflags.yaml")
    assert refused.value.line == line
    assert refused.value.field == "rules[0].all[0]"
    assert "unknown finding 'chest_pian'" in str(refused.value)
