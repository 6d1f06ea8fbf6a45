"""Measure the assistant on the shipped test sets (the numbers behind the transparency page).

:func:`measure` returns the figures ``data/metrics.json`` records; ``scripts/bench_assistant.py``
prints and writes them, and a test checks the file still matches what the code measures.
Nothing here changes a model: the test sets are read, never used to fit or tune.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clients.assistant.coding.ranker import Coder, default_coder, load_test
from clients.assistant.intake.engine import Intake, Patient
from clients.assistant.loader import data_dir, load_yaml


def coding_accuracy(coder: Coder | None = None) -> dict[str, Any]:
    """Top-1 and top-5 on the held-out test phrases, overall and per kind of phrase."""
    coder = coder or default_coder()
    rows = load_test(coder.table)
    top1 = top5 = 0
    kinds: dict[str, Counter[str]] = {}
    for phrase, code, kind in rows:
        codes = [s.code for s in coder.suggest(phrase).suggestions]
        hit1, hit5 = codes[:1] == [code], code in codes
        top1 += hit1
        top5 += hit5
        counter = kinds.setdefault(kind, Counter())
        counter.update(n=1, top1=int(hit1), top5=int(hit5))
    return {
        "codes": len(coder.table),
        "chapters": len(coder.table.chapters()),
        "terms": len(coder.table.terms),
        "train_phrases": coder.training_size,
        "test_phrases": len(rows),
        "top1": round(top1 / len(rows), 4),
        "top5": round(top5 / len(rows), 4),
        "by_kind": {
            k: {
                "n": c["n"],
                "top1": round(c["top1"] / c["n"], 4),
                "top5": round(c["top5"] / c["n"], 4),
            }
            for k, c in sorted(kinds.items())
        },
    }


def intake_accuracy(engine: Intake | None = None) -> dict[str, Any]:
    """Differential top-1/top-3 on the vignettes; red-flag must-fire and near-miss cases."""
    engine = engine or Intake()
    cases, _ = load_yaml(data_dir() / "intake" / "differential_cases.yaml", "differential_cases")
    top1 = top3 = 0
    for case in cases["cases"]:
        ranked = engine.assess(
            case["complaint"],
            patient=Patient(case["age"], case["sex"]),
            present=case["present"],
            absent=case.get("absent", []),
        ).differential
        ids = [r.id for r in ranked]
        top1 += ids[:1] == [case["expected"]]
        top3 += case["expected"] in ids[:3]
    passed = sum(1 for ok in redflag_case_results(engine).values() if ok)
    n = len(cases["cases"])
    k = engine.knowledge
    return {
        "complaints": len(k.complaints),
        "rules": len(k.rules),
        "conditions": len(k.conditions),
        "cases": n,
        "top1": round(top1 / n, 4),
        "top3": round(top3 / n, 4),
        "redflag_cases_passed": passed,
    }


def redflag_case_results(engine: Intake | None = None) -> dict[tuple[str, str], bool]:
    """For each rule and case kind (``fire``, ``near_miss``): whether the rule behaved."""
    engine = engine or Intake()
    data, _ = load_yaml(data_dir() / "intake" / "redflag_cases.yaml", "redflag_cases")
    out = {}
    for rule_id, pair in data["cases"].items():
        for kind in ("fire", "near_miss"):
            case = pair[kind]
            findings = {
                **Patient(case["age"], case["sex"]).findings(),
                **dict.fromkeys(case["present"], True),
            }
            fired = {r.id for r in engine.red_flags(findings)}
            out[(rule_id, kind)] = (rule_id in fired) == (kind == "fire")
    return out


def measure() -> dict[str, Any]:
    """Every figure of ``metrics.json`` (the measurement date is today's, in UTC)."""
    return {
        "measured": datetime.now(UTC).date().isoformat(),
        "coding": coding_accuracy(),
        "intake": intake_accuracy(),
    }


def write_metrics(path: Path | None = None) -> dict[str, Any]:
    """Measure and write ``metrics.json``."""
    figures = measure()
    target = path or data_dir() / "metrics.json"
    target.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return figures
