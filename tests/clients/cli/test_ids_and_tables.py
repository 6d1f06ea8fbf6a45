"""The pieces behind friction 1, without a stack: id prefixes, table fitting, policy words.

What a person types (or pastes from a table) is resolved to exactly one id or refused with a
precise message; what a fuzzer types is refused before anything is looked up. Tables shrink
in the documented order and never drop the id or the decision.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from rich.console import Console

from clients.cli.common import EXIT_NOT_FOUND, CliError
from clients.cli.ids import KEEP, full_or_abbreviated, remember, resolve, seen
from clients.cli.output import Column, fit_table
from clients.cli.people import unknown_attributes

DIRECTORY = {
    "institutions": [
        {"code": "cd3h", "roles": ["doctor"], "attributes": {"dept": ["cardiology"]}},
        {"code": "qyqchc", "roles": ["doctor", "nurse"], "attributes": {"dept": ["gp"]}},
    ]
}


def _id() -> str:
    return "0x" + secrets.token_hex(32)


def test_prefixes_resolve_to_one_id(tmp_path: Path) -> None:
    target, other = _id(), _id()
    candidates = [target, other, target.upper().replace("0X", "0x")]
    for typed in (target[:8], target[2:10], target[:10] + "…" + target[-4:],
                  target[:10] + "..." + target[-4:], "0X" + target[2:].upper()):  # fmt: skip
        assert resolve(typed, "record id", kind="record", data_dir=tmp_path,
                       candidates=lambda: candidates) == target  # fmt: skip
    with pytest.raises(CliError) as missing:
        resolve("0x" + "f" * 8 if not target.startswith("0xffff") else "0x0000", "record id",
                kind="record", data_dir=tmp_path, candidates=lambda: candidates)  # fmt: skip
    assert missing.value.exit_code == EXIT_NOT_FOUND


def test_an_ambiguous_prefix_lists_its_candidates(tmp_path: Path) -> None:
    first, second = "0x" + "ab12" + "0" * 60, "0x" + "ab12" + "1" * 60
    remember(tmp_path, "consent", [first, second])
    with pytest.raises(CliError) as ambiguous:
        resolve("0xab12", "consent id", kind="consent", data_dir=tmp_path)
    assert ambiguous.value.exit_code == 1
    assert first in str(ambiguous.value)
    assert second in str(ambiguous.value)
    # the kinds are apart: a consent id does not answer for a record
    with pytest.raises(CliError):
        resolve("0xab12", "record id", kind="record", data_dir=tmp_path)
    assert resolve("0xab121", "consent id", kind="consent", data_dir=tmp_path) == second


@pytest.mark.parametrize(
    "typed",
    ["", "0x", "0x12", "0x12zz", "zz" * 32, "0x" + "a" * 65, "0x" + "a" * 90, "0xabcd…zz",
     "0xab cd", "../../etc/passwd", "0xabcd\n0x1234", "1 or 1=1"],
)  # fmt: skip
def test_malformed_ids_are_refused_before_any_lookup(typed: str) -> None:
    with pytest.raises(CliError) as refused:
        full_or_abbreviated(typed, "a record id")
    assert "0x followed by 64 hex digits" in str(refused.value)


def test_the_seen_ids_are_bounded_and_survive_a_broken_file(tmp_path: Path) -> None:
    remember(tmp_path, "record", [_id() for _ in range(KEEP + 50)])
    assert len(seen(tmp_path, "record")) == KEEP
    (tmp_path / "cli" / "ids.json").write_text("{not json")
    assert seen(tmp_path, "record") == []
    remember(tmp_path, "record", ["not an id", None, _id()])
    assert len(seen(tmp_path, "record")) == 1


COLUMNS = (
    Column("id", kind="id", wrap=False),
    Column("who", kind="address", drop=2, wrap=False),
    Column("purpose", drop=5),
    Column("decision", wrap=False),
    Column("tx", kind="hex", drop=6, wrap=False),
)


def _render(width: int, *, full_ids: bool = False) -> str:
    console = Console(width=width, record=True, highlight=False, color_system=None)
    row = [_id(), "0x" + "Ab" * 20, "treatment", "granted", _id()]
    console.print(fit_table(COLUMNS, [row], title="t", full_ids=full_ids, console=console))
    return console.export_text()


def test_tables_shrink_in_order_and_keep_id_and_decision() -> None:
    wide = _render(240)
    assert "…" not in wide  # everything fits whole
    medium = _render(160)  # the tx hash is shortened first, the id kept whole
    assert medium.count("…") == 1
    assert "purpose" in medium
    narrow = _render(60)
    assert "granted" in narrow
    (row,) = [line for line in narrow.splitlines() if "granted" in line]
    assert "…" in row  # the id, shortened
    assert "tx" not in narrow
    assert "purpose" not in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 60
    folded = _render(60, full_ids=True)
    assert "granted" in folded
    assert max(len(line) for line in folded.splitlines()) <= 60


def test_unknown_policy_attributes() -> None:
    assert unknown_attributes("dept:cardiology and org:cd3h", DIRECTORY) == []
    assert unknown_attributes("dept:Cardiolgy or role:nurse", DIRECTORY) == ["dept:cardiolgy"]
    assert unknown_attributes("2 of (org:cd3h, org:nowhere, title:chief)", DIRECTORY) == [
        "org:nowhere",
        "title:chief",
    ]
    # attributes the protocol derives are never in the directory, and not questioned
    assert unknown_attributes("uid:0xabc or (epoch:3 and custodian:cd3h)", DIRECTORY) == []
