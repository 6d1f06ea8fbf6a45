"""Configuration as versioned files (diff, apply with the digest recorder, history, rollback)
and the command line (init, check, keys, dead-letters, link/held), through typer's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clients.gateway.cli import gateway_app
from clients.gateway.config.apply import apply, diff, history, rollback
from clients.gateway.config.project import load_project
from clients.gateway.errors import ConfigError
from clients.gateway.sample.project import SampleOptions, write_sample
from clients.gateway.sink.digest import CallableRecorder

runner = CliRunner()


def test_apply_records_each_new_digest_once(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "gw")
    sent: list[tuple[str, str, str]] = []
    recorder = CallableRecorder(
        lambda name, version, digest: sent.append((name, version, digest)) or "0xtx1"
    )
    assert diff(root)  # nothing applied yet: every file is new
    first = apply(root, recorder=recorder)
    assert first.changed
    assert first.recorded == "0xtx1"
    assert sent == [("pujiang-county", first.version, load_project(root).digest)]
    assert diff(root) == []
    assert not apply(root, recorder=recorder).changed
    assert len(sent) == 1
    mapping = root / "mappings" / "condition.yaml"
    mapping.write_text(mapping.read_text().replace('"active"', '"recurrence"'))
    lines = diff(root)
    assert any(line.startswith("-") and '"active"' in line for line in lines)
    assert any(line.startswith("+") and '"recurrence"' in line for line in lines)
    second = apply(root, recorder=recorder)
    assert second.seq == first.seq + 1
    assert second.digest != first.digest
    assert len(sent) == 2
    back = rollback(root, first.seq, recorder=recorder)
    assert back.digest == first.digest
    assert back.seq == second.seq + 1
    assert [h["digest"] for h in history(root)] == [first.digest, second.digest, first.digest]
    assert '"active"' in mapping.read_text()


def test_apply_refuses_an_invalid_folder_and_records_nothing(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "gw")
    (root / "flows" / "bad.yaml").write_text("kind: Flow\nversion: 1\nname: bad\n")
    sent: list[object] = []
    recorder = CallableRecorder(lambda *a: sent.append(a) or None)
    result = runner.invoke(gateway_app, ["apply", str(root)])
    assert result.exit_code == 1
    assert "flows/bad.yaml:1" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(ConfigError, match="source"):
        apply(root, recorder=recorder)
    assert sent == []


def test_cli_init_check_keys_and_dead_letters(tmp_path: Path) -> None:
    folder = tmp_path / "gw"
    his = f"sqlite:///{tmp_path / 'his.db'}"
    result = runner.invoke(gateway_app, ["init", str(folder), "--his-url", his, "--create-sample"])
    assert result.exit_code == 0, result.output
    assert "flow lab-results: watermark (no log-based capture for sqlite)" in result.output
    again = runner.invoke(gateway_app, ["init", str(folder)])
    assert again.exit_code == 1
    assert "already has a gateway.yaml" in again.output
    key = runner.invoke(gateway_app, ["keys", "create", str(folder), "lis-app"])
    assert key.exit_code == 0
    assert key.output.startswith("lis-app.")
    assert runner.invoke(gateway_app, ["keys", "create", str(folder), "bad id!"]).exit_code == 1
    unkeyed = runner.invoke(gateway_app, ["apply", str(folder)], env={"MEDLEDGER_GATEWAY_KEY": ""})
    assert unkeyed.exit_code == 1  # on chain by default: it needs the gateway account
    assert "MEDLEDGER_GATEWAY_KEY" in unkeyed.output
    applied = runner.invoke(gateway_app, ["apply", str(folder), "--no-chain"])
    assert applied.exit_code == 0
    assert "not recorded on chain" in applied.output
    assert "no change" in runner.invoke(gateway_app, ["diff", str(folder)]).output
    listed = runner.invoke(gateway_app, ["dead-letters", "list", str(folder)])
    assert listed.exit_code == 0
    assert "0 dead letter(s)" in listed.output
    held = runner.invoke(gateway_app, ["held", str(folder)])
    assert held.exit_code == 0
    assert "none held" in held.output
    linked = runner.invoke(gateway_app, ["link", str(folder), "P000001", "0x" + "ab" * 20])
    assert linked.exit_code == 0
    assert "0 held record(s)" in linked.output
    bad = runner.invoke(gateway_app, ["link", str(folder), "P000001", "not-an-address"])
    assert bad.exit_code == 1
    assert "not a wallet address" in bad.output
    schema = runner.invoke(gateway_app, ["schema", "Flow"])
    assert schema.exit_code == 0
    assert '"const": "Flow"' in schema.output


def test_check_names_the_setting_for_declared_log_mode(tmp_path: Path) -> None:
    root = write_sample(
        tmp_path / "gw",
        SampleOptions(his_url="mysql+pymysql://root@127.0.0.1:3306/test", capture_mode="log"),
    )
    result = runner.invoke(gateway_app, ["check", str(root)])
    assert result.exit_code == 1
    assert "log_bin = ON" in result.output
    assert "capture.mode: watermark" in result.output
