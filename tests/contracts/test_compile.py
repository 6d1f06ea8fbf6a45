"""Compilation: the committed artifacts are exactly what the pinned compiler makes of the
committed sources (solcjs through the wrapper, driven by py-solc-x), and errors are clear."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import contracts

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compile_contracts", ROOT / "scripts" / "compile_contracts.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compile_contracts = _script()


def test_committed_artifacts_are_not_stale() -> None:
    """Recompiles everything (~10 s with solcjs) and demands byte-identical artifacts."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compile_contracts.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(contracts.NAMES)} artifacts up to date" in result.stdout


@pytest.mark.parametrize("name", contracts.NAMES)
def test_artifact_contents(name: str) -> None:
    artifact = contracts.load(name)
    source = (ROOT / "contracts" / "src" / f"{name}.sol").read_bytes()
    assert artifact["contractName"] == name
    assert artifact["sourceSha256"] == hashlib.sha256(source).hexdigest()
    assert artifact["compiler"]["version"] == "0.8.37"
    assert artifact["compiler"]["settings"]["optimizer"] == {"enabled": True, "runs": 20_000}
    # creation code starts by setting the free memory pointer: PUSH1 0x80, or PUSH2 when
    # the constructor keeps immutables in memory past 0xff (the EIP-712 domain caches)
    assert artifact["bytecode"][:4] in ("0x60", "0x61")
    assert len(artifact["deployedBytecode"]) > 1000
    # no metadata tail: the deployed code must not end with the CBOR length marker of solc
    assert not artifact["deployedBytecode"].endswith("0033")
    assert any(item["type"] == "event" for item in artifact["abi"]) or name == "AccessLog"
    errors = [item["name"] for item in artifact["abi"] if item["type"] == "error"]
    assert errors
    assert all(e.startswith(name) for e in errors), errors
    # deployed size stays under the EIP-170 limit
    assert (len(artifact["deployedBytecode"]) - 2) // 2 < 24_576


def test_stale_detects_a_changed_artifact(tmp_path: Path) -> None:
    build = ROOT / "contracts" / "build"
    artifacts = {name: json.loads((build / f"{name}.json").read_text()) for name in contracts.NAMES}
    for name in contracts.NAMES:
        shutil.copy(build / f"{name}.json", tmp_path / f"{name}.json")
    assert compile_contracts.stale(artifacts, tmp_path) == []
    tampered = json.loads((tmp_path / "AccessLog.json").read_text())
    tampered["bytecode"] = tampered["bytecode"][:-2] + "00"
    (tmp_path / "AccessLog.json").write_text(compile_contracts.render(tampered))
    (tmp_path / "Workflow.json").unlink()
    assert compile_contracts.stale(artifacts, tmp_path) == ["AccessLog", "Workflow"]


def test_write_round_trips(tmp_path: Path) -> None:
    artifacts = {"AccessLog": contracts.load("AccessLog")}
    [path] = compile_contracts.write(artifacts, tmp_path)
    assert json.loads(path.read_text()) == artifacts["AccessLog"]
    assert compile_contracts.stale(artifacts, tmp_path) == []


def test_compile_error_is_reported_with_location(tmp_path: Path) -> None:
    (tmp_path / "Broken.sol").write_text(
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.24;\n"
        "contract Broken { function f() external { undefinedThing(); } }\n"
    )
    with pytest.raises(compile_contracts.CompileError, match=r"Broken\.sol") as info:
        compile_contracts.compile_all(tmp_path)
    assert "undefinedThing" in str(info.value)
    assert "> stdout" not in str(info.value)  # the compiler's full JSON is not dumped


def test_no_sources(tmp_path: Path) -> None:
    with pytest.raises(compile_contracts.CompileError, match="no Solidity sources"):
        compile_contracts.compile_all(tmp_path)


def test_wrapper_speaks_solc_cli() -> None:
    wrapper = ROOT / "scripts" / "solcjs-wrapper"
    version = subprocess.run(
        [str(wrapper), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.startswith("0.8.37+commit.")
    standard = {
        "language": "Solidity",
        "sources": {"A.sol": {"content": "// SPDX-License-Identifier: MIT\ncontract A {}"}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    out = subprocess.run(
        [str(wrapper), "--standard-json"],
        input=json.dumps(standard),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # only JSON on stdout (solcjs's ">>>" notice is removed)
    assert json.loads(out.stdout)["contracts"]["A.sol"]["A"]["abi"] == []


def test_loader_rejects_unknown_names_and_returns_copies() -> None:
    with pytest.raises(contracts.UnknownContractError, match="Nope"):
        contracts.load("Nope")
    with pytest.raises(LookupError):
        contracts.load("IConsortium")
    first = contracts.load("Consortium")
    first["abi"].clear()
    assert contracts.load("Consortium")["abi"]
