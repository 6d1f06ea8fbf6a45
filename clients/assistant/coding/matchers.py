"""The three ways a query finds candidate codes: dictionary, fuzzy and pinyin.

- **Dictionary** (Aho-Corasick over every normalised term): every term found inside the query,
  scored by how much of the query it covers, so ``冠心病 稳定型心绞痛`` prefers the longer
  稳定型心绞痛 (I20.8) to 冠心病 (I25.1) or 心绞痛 (I20.9).
- **Fuzzy** (``rapidfuzz``): the closest terms by edit similarity on the characters and on the
  toneless pinyin; the pinyin form turns a homophone typo (糖尿并, 肾结实) into an exact match.
- **Pinyin initials**: a query of ASCII letters (``gxy``) is looked up among the initials of
  the names and synonyms.

Each returns :class:`Hit` objects: the code, the term that matched, how, and a score in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import ahocorasick
from rapidfuzz import fuzz, process

from clients.assistant.coding.normalize import syllables
from clients.assistant.coding.table import IcdTable, Term

HitKind = Literal["exact", "contains", "fuzzy", "fuzzy-pinyin", "initials"]


@dataclass(frozen=True)
class Hit:
    """One piece of evidence for a code: the term, the way it matched and its strength."""

    code: str
    term: Term
    how: HitKind
    score: float


class Matchers:
    """Dictionary, fuzzy and initials matchers built once over a table's terms."""

    def __init__(self, table: IcdTable) -> None:
        self.table = table
        self._automaton = ahocorasick.Automaton()
        for term in table.terms:
            self._automaton.add_word(term.norm, term)
        self._automaton.make_automaton()
        self._norms = [term.norm for term in table.terms]
        self._pinyin = [table.syllables[term.norm] for term in table.terms]

    def dictionary(self, query: str) -> list[Hit]:
        """Every term found in ``query``; score = the share of the query it covers.

        A term inside a longer matched term (心绞痛 inside 稳定型心绞痛) is dropped: the longer
        one says more, and the shorter would only add noise to the ranking."""
        found: list[tuple[int, int, Term]] = []
        for end, term in self._automaton.iter(query):
            found.append((end - len(term.norm) + 1, end, term))
        kept = [
            (start, end, term)
            for start, end, term in found
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in found)
        ]
        hits = []
        for _start, _end, term in kept:
            if term.norm == query:
                hits.append(Hit(term.code, term, "exact", 1.0))
            else:
                hits.append(Hit(term.code, term, "contains", len(term.norm) / len(query)))
        return hits

    def fuzzy(self, query: str, limit: int = 8) -> list[Hit]:
        """The closest terms by character similarity and by pinyin similarity."""
        hits: list[Hit] = []
        for _, score, index in process.extract(
            query, self._norms, scorer=fuzz.ratio, limit=limit, score_cutoff=50
        ):
            term = self.table.terms[index]
            hits.append(Hit(term.code, term, "fuzzy", score / 100))
        query_pinyin = syllables(query)
        for _, score, index in process.extract(
            query_pinyin, self._pinyin, scorer=fuzz.ratio, limit=limit, score_cutoff=60
        ):
            term = self.table.terms[index]
            hits.append(Hit(term.code, term, "fuzzy-pinyin", score / 100))
        return hits

    def initials(self, query: str) -> list[Hit]:
        """Codes whose name or synonym has ``query`` as pinyin initials."""
        return [Hit(t.code, t, "initials", 1.0) for t in self.table.by_initials.get(query, [])]
