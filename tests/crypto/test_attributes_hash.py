"""``attributes_hash``: the digest ``KeyIssued`` carries on chain, one definition for the
authorities that log it and the audit that recomputes it from the index's attribute list."""

from __future__ import annotations

from crypto.policy import attributes_hash
from ledger_api.authority import service


def test_attributes_hash_ignores_order_and_case_only() -> None:
    assert attributes_hash(["dept:Cardiology", "uid:0xab"]) == attributes_hash(
        ["uid:0xab", "dept:cardiology"]
    )
    assert attributes_hash(["dept:cardiology"]) != attributes_hash(["dept:cardiology", "x:y"])
    assert attributes_hash(("a:b", "c:d")) == attributes_hash(iter(["c:d", "a:b"]))


def test_the_authority_logs_the_same_digest() -> None:
    assert service.attributes_hash is attributes_hash
