"""Rank ICD-10 codes for a free-text diagnosis, and say why each ranks where it does.

Every candidate code collects evidence from the matchers (dictionary, fuzzy, pinyin initials)
and from the classifier, and its score is a weighted sum of the strongest evidence of each kind
(:data:`WEIGHTS`). The weights were chosen by 5-fold cross-validation on the training phrases
only (``scripts/bench_assistant.py --tune`` reruns it); the held-out test set was not used to
choose them. Each suggestion carries its evidence and a sentence, in Chinese and English, that
names the matched terms and the contribution of each kind: the clinician can check it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from clients.assistant.coding.classifier import NgramClassifier
from clients.assistant.coding.matchers import Hit, Matchers
from clients.assistant.coding.normalize import is_pinyin_query, normalize
from clients.assistant.coding.table import KIND_LABEL_ZH, IcdTable, default_table
from clients.assistant.errors import CodingInputError
from clients.assistant.loader import data_dir, load_yaml, read_csv

MAX_QUERY_CHARS = 200
WEIGHTS: dict[str, float] = {
    "exact": 1.0,
    "contains": 0.4,
    "fuzzy": 0.4,
    "fuzzy-pinyin": 0.4,
    "initials": 0.8,
    "classifier": 0.8,
}
SOURCE_ZH = {
    "exact": "完全匹配",
    "contains": "包含词条",
    "fuzzy": "字形相近",
    "fuzzy-pinyin": "读音相近",
    "initials": "拼音首字母",
    "classifier": "分类器",
}


@dataclass(frozen=True)
class Evidence:
    """One reason for a code: how it matched, the term or example, the score and its weight."""

    how: str
    term: str
    term_kind: str
    score: float
    contribution: float

    def to_json(self) -> dict[str, Any]:
        return {
            "how": self.how,
            "term": self.term,
            "termKind": self.term_kind,
            "score": round(self.score, 3),
            "contribution": round(self.contribution, 3),
        }


@dataclass(frozen=True)
class Suggestion:
    """A suggested code (never a decision): the clinician confirms or overrides it."""

    rank: int
    code: str
    zh: str
    en: str
    chapter: str
    name_source: str
    score: float
    evidence: tuple[Evidence, ...]
    reason_zh: str
    reason_en: str

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "suggestion",
            "rank": self.rank,
            "code": self.code,
            "system": "http://hl7.org/fhir/sid/icd-10",
            "display": self.zh,
            "displayEn": self.en,
            "chapter": self.chapter,
            "nameSource": self.name_source,
            "score": round(self.score, 3),
            "matchedTerms": sorted({e.term for e in self.evidence if e.how != "classifier"}),
            "evidence": [e.to_json() for e in self.evidence],
            "why": self.reason_zh,
            "whyEn": self.reason_en,
        }


@dataclass(frozen=True)
class CodingResult:
    """The ranked suggestions for one query, with the normalised query and its markers."""

    query: str
    normalized: str
    uncertain: bool
    suggestions: tuple[Suggestion, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "normalized": self.normalized,
            "uncertain": self.uncertain,
            "note": "建议仅供参考，须由医生确认 (suggestions only; the clinician confirms)",
            "suggestions": [s.to_json() for s in self.suggestions],
        }


class Coder:
    """Ranks codes for queries; build once (about a second), then call :meth:`suggest`."""

    def __init__(
        self,
        table: IcdTable,
        training: list[tuple[str, str]],
        *,
        uncertain: tuple[str, ...] = (),
        noise: tuple[str, ...] = (),
        weights: dict[str, float] | None = None,
    ) -> None:
        self.table = table
        self.weights = dict(WEIGHTS if weights is None else weights)
        self.uncertain_markers = tuple(normalize(m) or m for m in uncertain)
        self.noise = tuple(sorted((normalize(n) for n in noise), key=len, reverse=True))
        self.matchers = Matchers(table)
        examples = [(t.norm, t.code) for t in table.terms] + list(training)
        self.classifier = NgramClassifier().fit([e[0] for e in examples], [e[1] for e in examples])
        self.training_size = len(training)

    def _clean(self, text: str) -> tuple[str, bool]:
        normalized = normalize(text)
        uncertain = "?" in text or "？" in text
        cleaned = normalized
        for marker in (*self.uncertain_markers, *self.noise):
            if marker and marker in cleaned and cleaned.replace(marker, ""):
                uncertain = uncertain or marker in self.uncertain_markers
                cleaned = cleaned.replace(marker, "")
        return cleaned, uncertain

    def suggest(self, text: str, limit: int = 5) -> CodingResult:
        """The ``limit`` best codes for ``text`` (a diagnosis or complaint, ≤ 200 characters)."""
        if not isinstance(text, str):
            raise CodingInputError("the text to code must be a string")
        if len(text) > MAX_QUERY_CHARS:
            raise CodingInputError(f"the text to code is longer than {MAX_QUERY_CHARS} characters")
        if not 1 <= limit <= 20:
            raise CodingInputError("limit must be between 1 and 20")
        query, uncertain = self._clean(text)
        if not query:
            raise CodingInputError("the text to code is empty once spaces and punctuation go")
        normalized = normalize(text)
        hits: list[Hit] = []
        if normalized in self.table.by_norm:
            hits.append(
                Hit(
                    self.table.by_norm[normalized].code,
                    self.table.by_norm[normalized],
                    "exact",
                    1.0,
                )
            )
        hits += self.matchers.dictionary(query)
        hits += self.matchers.fuzzy(query)
        if is_pinyin_query(query):
            hits += self.matchers.initials(query)
        evidence: dict[str, dict[str, Evidence]] = defaultdict(dict)
        for hit in hits:
            how = hit.how
            contribution = self.weights[how] * hit.score
            known = evidence[hit.code].get(how)
            if known is None or contribution > known.contribution:
                evidence[hit.code][how] = Evidence(
                    how, hit.term.text, hit.term.kind, hit.score, contribution
                )
        for prediction in self.classifier.predict(query, limit=max(limit, 5)):
            contribution = self.weights["classifier"] * prediction.similarity
            evidence[prediction.code]["classifier"] = Evidence(
                "classifier", prediction.nearest, "example", prediction.similarity, contribution
            )
        ranked = sorted(
            evidence.items(),
            key=lambda item: (-sum(e.contribution for e in item[1].values()), item[0]),
        )[:limit]
        suggestions = tuple(
            self._suggestion(rank, code, tuple(found.values()))
            for rank, (code, found) in enumerate(ranked, 1)
        )
        return CodingResult(
            query=text, normalized=query, uncertain=uncertain, suggestions=suggestions
        )

    def _suggestion(self, rank: int, code: str, evidence: tuple[Evidence, ...]) -> Suggestion:
        entry = self.table.entries[code]
        ordered = tuple(sorted(evidence, key=lambda e: -e.contribution))
        score = sum(e.contribution for e in ordered)
        parts_zh = []
        parts_en = []
        for e in ordered:
            if e.how == "classifier":
                parts_zh.append(
                    f"分类器：最相近的训练短语“{e.term}”（相似度{e.score:.2f}，+{e.contribution:.2f}）"
                )
                parts_en.append(
                    f"classifier: nearest training phrase '{e.term}' "
                    f"(similarity {e.score:.2f}, +{e.contribution:.2f})"
                )
            else:
                label = KIND_LABEL_ZH.get(e.term_kind, e.term_kind)
                parts_zh.append(
                    f"{SOURCE_ZH[e.how]}：{label}“{e.term}”（{e.score:.2f}，+{e.contribution:.2f}）"
                )
                parts_en.append(
                    f"{e.how}: {e.term_kind} '{e.term}' ({e.score:.2f}, +{e.contribution:.2f})"
                )
        return Suggestion(
            rank=rank,
            code=code,
            zh=entry.zh,
            en=entry.en,
            chapter=entry.chapter,
            name_source=entry.source,
            score=score,
            evidence=ordered,
            reason_zh=f"第{rank}位，总分{score:.2f}：" + "；".join(parts_zh),
            reason_en=f"rank {rank}, score {score:.2f}: " + "; ".join(parts_en),
        )


def load_training(table: IcdTable | None = None) -> list[tuple[str, str]]:
    """The shipped training phrases, normalised, each checked to name a code of the table."""
    table = table or default_table()
    rows = read_csv(data_dir() / "coding" / "train.csv", ("phrase", "code"))
    return [
        (normalize(row["phrase"]), _known(table, row["code"], "train.csv", n)) for n, row in rows
    ]


def load_test(table: IcdTable | None = None) -> list[tuple[str, str, str]]:
    """The shipped held-out test phrases (raw text, code, kind)."""
    table = table or default_table()
    rows = read_csv(data_dir() / "coding" / "test.csv", ("phrase", "code", "kind"))
    return [
        (row["phrase"], _known(table, row["code"], "test.csv", n), row["kind"]) for n, row in rows
    ]


def _known(table: IcdTable, code: str, file: str, line: int) -> str:
    from clients.assistant.errors import DataFileError

    if code not in table.entries:
        raise DataFileError(f"coding/{file}", line, "code", f"{code} is not in the ICD-10 table")
    return code


def load_config() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The uncertain markers and noise words of ``coding/config.yaml``."""
    config, _ = load_yaml(data_dir() / "coding" / "config.yaml", "coding_config")
    return tuple(config["uncertain"]), tuple(config["noise"])


@cache
def default_coder() -> Coder:
    """The coder over the shipped table and training phrases, built once per process."""
    table = default_table()
    uncertain, noise = load_config()
    return Coder(table, load_training(table), uncertain=uncertain, noise=noise)
