"""``GET /audit/key-issuances``: attribute keys issued per authority and per day (the charts of
the auditors' console), from the index of ``Consortium.KeyIssued`` (each institution's own
authority logs its issuances from its signer account; the API issues none), checked against
the chain; who may ask, and malformed windows."""

from __future__ import annotations

from pathlib import Path

from eth_account.signers.local import LocalAccount

from ledger_api.authority.keyfile import init_key_file
from tests.api.conftest import Stack
from tests.authority.inthread import PASSPHRASE, SCRYPT_LOG2_N, ThreadAuthority, start_authority
from tests.authority.support import request_key


def serve(s: Stack, institution: int, tmp_path: Path) -> ThreadAuthority:
    """Institution ``institution``'s own authority, in a thread, registered on chain."""
    key_file = tmp_path / f"authority-{institution}.key"
    init_key_file(key_file, PASSPHRASE, institution_id=institution, log2_n=SCRYPT_LOG2_N)
    assert s.settings.deployment_file is not None
    return start_authority(
        key_file=key_file,
        rpc_url=s.settings.rpc_url,
        deployment_file=s.settings.deployment_file,
        admin=s.admin_consortium,
    )


def issue(s: Stack, authority: ThreadAuthority, account: LocalAccount) -> dict:
    answer, _, _ = request_key(
        authority.url,
        account,
        institution=authority.institution,
        chain_id=s.deployment.chain_id,
        consortium=s.deployment.address("Consortium"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def stats(s: Stack, query: str = "", account: LocalAccount | None = None) -> dict:
    answer = s.client.get(f"/audit/key-issuances{query}", headers=s.login(account or s.auditor))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_key_issuances_per_authority_and_day(api_stack: Stack, tmp_path: Path) -> None:
    s = api_stack
    assert stats(s) == {"total": 0, "by_issuer": [], "by_day": []}
    cd3h, qyqchc = serve(s, s.cd3h, tmp_path), serve(s, s.qyqchc, tmp_path)
    try:
        issued = [issue(s, cd3h, s.cardiologist), issue(s, cd3h, s.auditor)]
        other = issue(s, qyqchc, s.gp)
    finally:
        cd3h.stop()
        qyqchc.stop()
    s.wait_indexed()
    got = stats(s)
    assert got["total"] == 3
    by_issuer = {row["count"]: row for row in got["by_issuer"]}
    assert sorted(by_issuer) == [1, 2]  # one row per institution's authority
    row = by_issuer[2]
    assert row["holders"] == 2
    newest = max(issued, key=lambda i: i["blockNumber"])
    assert row["last_block"] == newest["blockNumber"]
    assert row["last_tx_hash"] == newest["txHash"]
    assert by_issuer[1]["last_tx_hash"] == other["txHash"]
    receipt = s.w3.eth.get_transaction_receipt(row["last_tx_hash"])
    assert receipt["status"] == 1
    assert receipt["logs"]  # the KeyIssued is on chain
    assert row["issuer"] != row["issuer"].lower()  # checksummed
    assert row["issuer"] != by_issuer[1]["issuer"]  # each authority signs with its own account
    assert sum(d["count"] for d in got["by_day"]) == 3

    last = max([*issued, other], key=lambda i: i["blockNumber"])  # the window's edge
    block = s.w3.eth.get_block(last["blockNumber"])
    assert stats(s, f"?since={block['timestamp'] + 1}")["total"] == 0
    assert stats(s, f"?until={block['timestamp'] + 1}")["total"] == 3
    assert stats(s, account=s.admin)["total"] == 3  # the consortium admin audits too
    report = s.client.get("/audit/verify", headers=s.login(s.auditor)).json()
    assert report["ok"] is True, report  # the index of the issuances matches the chain


def test_key_issuances_are_for_auditors_only(api_stack: Stack) -> None:
    s = api_stack
    for who in (s.cardiologist, s.gp, s.patient):
        assert s.client.get("/audit/key-issuances", headers=s.login(who)).status_code == 403
    assert s.client.get("/audit/key-issuances").status_code == 401
    for bad in ("since=yesterday", "until=" + "9" * 50, "since=2026-01-01T00:00:00"):
        answer = s.client.get(f"/audit/key-issuances?{bad}", headers=s.login(s.auditor))
        assert answer.status_code == 422, (bad, answer.text)
