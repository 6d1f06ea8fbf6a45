"""``GET /audit/key-issuances``: attribute keys issued per authority and per day (the charts of
the auditors' console), from the index of ``KeyIssued``, checked against the chain; who may ask,
and malformed windows."""

from __future__ import annotations

import base64

from eth_account.signers.local import LocalAccount

from crypto.keys import generate_x25519_keypair
from tests.api.conftest import Stack


def issue(s: Stack, account: LocalAccount) -> dict:
    key = base64.b64encode(generate_x25519_keypair().public_key).decode()
    answer = s.client.post("/keys/issue", json={"x25519_public_key": key}, headers=s.login(account))
    assert answer.status_code == 200, answer.text
    return answer.json()


def stats(s: Stack, query: str = "", account: LocalAccount | None = None) -> dict:
    answer = s.client.get(f"/audit/key-issuances{query}", headers=s.login(account or s.auditor))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_key_issuances_per_authority_and_day(api_stack: Stack) -> None:
    s = api_stack
    assert stats(s) == {"total": 0, "by_issuer": [], "by_day": []}
    issued = [issue(s, s.cardiologist), issue(s, s.cardiologist), issue(s, s.gp)]
    s.wait_indexed()
    got = stats(s)
    assert got["total"] == 3
    (row,) = got["by_issuer"]  # the demo consortium has one authority
    assert row["count"] == 3
    assert row["holders"] == 2
    newest = max(issued, key=lambda i: i["block_number"])
    assert row["last_block"] == newest["block_number"]
    assert row["last_tx_hash"] == newest["tx_hash"]
    receipt = s.w3.eth.get_transaction_receipt(row["last_tx_hash"])
    assert receipt["status"] == 1
    assert receipt["logs"]  # the KeyIssued is on chain
    assert row["issuer"].startswith("0x")
    assert row["issuer"] != row["issuer"].lower()  # checksummed
    assert sum(d["count"] for d in got["by_day"]) == 3
    assert {d["issuer"] for d in got["by_day"]} == {row["issuer"]}

    block = s.w3.eth.get_block(newest["block_number"])
    assert stats(s, f"?since={block['timestamp'] + 1}")["total"] == 0
    assert stats(s, f"?until={block['timestamp'] + 1}")["total"] == 3
    assert stats(s, account=s.admin)["total"] == 3  # the consortium admin audits too


def test_key_issuances_are_for_auditors_only(api_stack: Stack) -> None:
    s = api_stack
    for who in (s.cardiologist, s.gp, s.patient):
        assert s.client.get("/audit/key-issuances", headers=s.login(who)).status_code == 403
    assert s.client.get("/audit/key-issuances").status_code == 401
    for bad in ("since=yesterday", "until=" + "9" * 50, "since=2026-01-01T00:00:00"):
        answer = s.client.get(f"/audit/key-issuances?{bad}", headers=s.login(s.auditor))
        assert answer.status_code == 422, (bad, answer.text)
