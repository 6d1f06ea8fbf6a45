#!/usr/bin/env python3
"""Compile ``contracts/src/*.sol`` into ``contracts/build/<Name>.json``.

py-solc-x drives the compiler through Solidity's standard-JSON interface. The compiler is a
native ``solc`` on PATH when it is exactly the pinned version, otherwise the npm ``solc``
package's solcjs behind ``scripts/solcjs-wrapper`` (the native download is not reachable here).
Both produce the same bytecode for the same version and settings.

The output is deterministic so that a test can recompile and demand byte-for-byte equality:
the metadata hash is not appended (``appendCBOR: false``), sources are fed in sorted order,
and the JSON is written with sorted keys. ``--check`` compiles and exits 1 if any committed
artifact differs (stale), writing nothing.

Usage: ``python scripts/compile_contracts.py [--check]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError
from solcx.wrapper import get_solc_version

ROOT = Path(__file__).resolve().parents[1]
SRC_DIR = ROOT / "contracts" / "src"
BUILD_DIR = ROOT / "contracts" / "build"
WRAPPER = ROOT / "scripts" / "solcjs-wrapper"

SOLC_VERSION = "0.8.37"
CONTRACTS = (
    "Consortium",
    "RecordRegistry",
    "ConsentManager",
    "AccessLog",
    "Workflow",
    "EmergencyAccess",
    "EmergencyKeys",
    "Marketplace",
)

# High runs: deployment is a one-off, the registration / consent / log calls run constantly.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 20_000},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]},
    },
}


class CompileError(Exception):
    """The compiler is missing, or refused the sources."""


def find_compiler() -> Path:
    """A native ``solc`` of the pinned version if on PATH, else the solcjs wrapper."""
    native = shutil.which("solc")
    if native:
        try:
            out = subprocess.run(
                [native, "--version"], capture_output=True, text=True, check=True, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        if f"Version: {SOLC_VERSION}+" in out:
            return Path(native)
    if not (ROOT / "node_modules" / "solc" / "solc.js").exists():
        raise CompileError("solcjs not found: run `make install` (npm ci) first")
    return WRAPPER


def sources(src_dir: Path = SRC_DIR) -> dict[str, str]:
    files = sorted(src_dir.glob("*.sol"))
    if not files:
        raise CompileError(f"no Solidity sources in {src_dir}")
    return {f.name: f.read_text(encoding="utf-8") for f in files}


def compile_all(src_dir: Path = SRC_DIR, compiler: Path | None = None) -> dict[str, dict[str, Any]]:
    """Compile every source; return the artifact of each deployable contract by name."""
    srcs = sources(src_dir)
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in srcs.items()},
        "settings": SETTINGS,
    }
    binary = compiler or find_compiler()
    try:
        output = solcx.compile_standard(standard_input, solc_binary=binary)
        version = str(get_solc_version(binary, with_commit_hash=True))
    except SolcError as exc:
        # py-solc-x appends the whole compiler stdout; the diagnostics come before it.
        raise CompileError(str(exc).split("\n> command")[0].strip()) from exc
    if not version.startswith(SOLC_VERSION):
        raise CompileError(f"compiler {binary} is {version}, expected {SOLC_VERSION}")
    source_hashes = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in srcs.items()}
    artifacts: dict[str, dict[str, Any]] = {}
    for name in CONTRACTS:
        unit = f"{name}.sol"
        try:
            out = output["contracts"][unit][name]
        except KeyError as exc:
            raise CompileError(f"{unit} did not produce contract {name}") from exc
        artifacts[name] = {
            "contractName": name,
            "sourceName": unit,
            "abi": out["abi"],
            "bytecode": "0x" + out["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
            "compiler": {"version": version.split("+")[0], "settings": SETTINGS},
            "sourceSha256": source_hashes[unit],
            "sources": source_hashes,
        }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def stale(artifacts: dict[str, dict[str, Any]], build_dir: Path = BUILD_DIR) -> list[str]:
    """Names whose committed artifact differs from a fresh compilation (or is missing)."""
    out = []
    for name, artifact in artifacts.items():
        path = build_dir / f"{name}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(artifact):
            out.append(name)
    return out


def write(artifacts: dict[str, dict[str, Any]], build_dir: Path = BUILD_DIR) -> list[Path]:
    """Write each artifact atomically (temp file + rename)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, artifact in artifacts.items():
        path = build_dir / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(render(artifact), encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if committed artifacts are stale"
    )
    args = parser.parse_args(argv)
    try:
        artifacts = compile_all()
    except CompileError as exc:
        print(f"compile failed: {exc}", file=sys.stderr)
        return 2
    if args.check:
        names = stale(artifacts)
        if names:
            print(f"stale artifacts: {', '.join(names)} (run `make compile`)", file=sys.stderr)
            return 1
        print(f"{len(artifacts)} artifacts up to date")
        return 0
    for path in write(artifacts):
        size = (len(artifacts[path.stem]["deployedBytecode"]) - 2) // 2
        print(f"{path.relative_to(ROOT)}  ({size} bytes deployed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
