"""Policy edge cases shared with the wallet: both parsers must agree on every one of them.

The table (``clients/webwallet/test/fixtures/policy_edge_cases.json``) is hand-written and
read by the vitest suite too (``test/policy.test.js``), so a case added there is checked on
both sides: repeated threshold children, look-alike letters that Unicode case mapping turns
into ASCII (the Kelvin sign U+212A lower-cases to ``k``, the long s U+017F case-folds to
``s``), and the whitespace the two parsers accept between tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crypto import fame
from crypto.errors import PolicyError
from crypto.policy import normalize, normalize_attribute, normalize_attributes, satisfies

TABLE = (
    Path(__file__).resolve().parents[2] / "clients/webwallet/test/fixtures/policy_edge_cases.json"
)
CASES: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
KELVIN, LONG_S = "\u212a", "\u017f"


@pytest.mark.parametrize("case", CASES["policies"], ids=lambda c: ascii(c["text"])[:40])
def test_policy_table(case: dict[str, Any]) -> None:
    if "normalized" in case:
        assert normalize(case["text"]) == case["normalized"]
        return
    with pytest.raises(PolicyError) as info:
        normalize(case["text"])
    assert str(info.value).startswith(case["error"])
    assert info.value.position == case["position"]


@pytest.mark.parametrize("case", CASES["attributes"], ids=lambda c: ascii(c["attribute"]))
def test_attribute_table(case: dict[str, Any]) -> None:
    if case["folded"] is not None:
        assert normalize_attribute(case["attribute"]) == case["folded"]
        return
    with pytest.raises(PolicyError, match="invalid attribute"):
        normalize_attribute(case["attribute"])


def test_the_table_covers_the_look_alikes() -> None:
    texts = [c["text"] for c in CASES["policies"]] + [c["attribute"] for c in CASES["attributes"]]
    assert f"DEPT:{KELVIN}idney" in texts
    assert any(LONG_S in t for t in texts)
    assert f"DEPT:{KELVIN}idney".lower() == "dept:kidney"  # what folding first would accept
    assert f"dept:{LONG_S}urgery".casefold() == "dept:surgery"


def test_look_alikes_are_refused_everywhere_a_policy_or_attribute_enters() -> None:
    kelvin, long_s = f"DEPT:{KELVIN}idney", f"dept:{LONG_S}urgery"
    for bad in (kelvin, long_s):
        with pytest.raises(PolicyError, match="invalid attribute"):
            normalize_attributes([bad, "role:doctor"])
        with pytest.raises(PolicyError, match="invalid attribute"):
            satisfies("dept:kidney or dept:surgery", [bad])
        with pytest.raises(PolicyError, match="unknown token"):
            satisfies(f"role:doctor and {bad}", ["role:doctor"])
    mpk, msk = fame.setup()
    with pytest.raises(PolicyError, match="invalid attribute"):
        fame.keygen(msk, [kelvin])
    with pytest.raises(PolicyError, match="unknown token") as info:
        fame.encrypt(mpk, f"role:doctor and {kelvin}")
    assert info.value.position == 16
