"""Each applied configuration's digest is on chain, sent by the institution's gateway account
(issue 18: an auditor can see which mapping produced which record)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from clients.gateway.cli import gateway_app
from clients.gateway.config.apply import apply
from clients.gateway.config.project import load_project
from clients.gateway.errors import GatewayError
from clients.gateway.sample.project import SampleOptions, write_sample
from clients.gateway.sink.chain_digest import ChainRecorder
from ledger_api.chain.consortium import Consortium, Role
from tests.clients.conftest import LiveStack


def _applied(stack: object, consortium: str) -> list[dict[str, object]]:
    contract = Consortium(stack.w3, consortium).contract  # type: ignore[attr-defined]
    return [dict(e["args"]) for e in contract.events.GatewayConfigApplied.get_logs(from_block=0)]


def test_apply_records_each_version_on_chain_as_the_gateway(
    live_stack: LiveStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = live_stack.stack
    gateway = Account.create()
    stack.admin_consortium.enrol_member(
        account=gateway.address, institution_id=stack.qyqchc, role=Role.GATEWAY
    ).wait()
    root = write_sample(tmp_path / "gw", SampleOptions(medledger_url=live_stack.url))
    monkeypatch.setenv("MEDLEDGER_GATEWAY_KEY", gateway.key.hex())
    runner = CliRunner()
    first = runner.invoke(gateway_app, ["apply", str(root)])
    assert first.exit_code == 0, first.output
    assert "on chain in 0x" in first.output
    consortium = stack.deployment.address("Consortium")
    (event,) = _applied(stack, consortium)
    assert event["gateway"] == gateway.address
    assert event["institutionId"] == stack.qyqchc
    assert event["version"] == 1
    assert "0x" + bytes(event["digest"]).hex() == load_project(root).digest  # type: ignore[arg-type]

    mapping = root / "mappings" / "condition.yaml"
    mapping.write_text(mapping.read_text().replace('"active"', '"recurrence"'))
    recorder = ChainRecorder.from_api(live_stack.url, account_key=gateway.key.hex())
    second = apply(root, recorder=recorder)
    assert second.recorded is not None
    assert second.recorded.startswith("0x")
    assert [e["version"] for e in _applied(stack, consortium)] == [1, 2]


def test_an_account_that_is_not_the_gateway_records_nothing(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    root = write_sample(tmp_path / "gw", SampleOptions(medledger_url=live_stack.url))
    stranger = ChainRecorder.from_api(live_stack.url, account_key=Account.create().key.hex())
    with pytest.raises(GatewayError, match="enrolled gateway account"):
        apply(root, recorder=stranger)
    assert _applied(live_stack.stack, live_stack.stack.deployment.address("Consortium")) == []
