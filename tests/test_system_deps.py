"""``make test`` gets the Debian packages its browser tests need, or says how, at once.

``scripts/system_deps.sh`` runs first in ``make test``. It is driven here with stub commands
on ``PATH`` (``id``, ``chromium``, ``fc-list``, ``apt-get``) so each case is real shell run
against a machine of a known state: everything present, missing as a user, missing as root.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "system_deps.sh"
BASH = "/bin/bash"


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


def _run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def test_nothing_to_do_when_everything_is_there(bin_dir: Path) -> None:
    _stub(bin_dir, "chromium", "exit 0")
    _stub(bin_dir, "fc-list", 'echo "/usr/share/fonts/wqy-microhei.ttc: WenQuanYi Micro Hei"')
    _stub(bin_dir, "id", "echo 1000")
    done = _run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_user_is_told_the_one_command_to_run(bin_dir: Path) -> None:
    _stub(bin_dir, "id", "echo 1000")
    _stub(bin_dir, "apt-get", "echo should-not-run >&2; exit 9")
    done = _run(bin_dir)
    assert done.returncode == 1
    assert "sudo apt-get install -y --no-install-recommends chromium fonts-wqy-microhei" in (
        done.stderr
    )
    assert "should-not-run" not in done.stderr


def test_root_installs_what_is_missing(bin_dir: Path, tmp_path: Path) -> None:
    calls = tmp_path / "apt-calls"
    _stub(bin_dir, "id", "echo 0")
    _stub(bin_dir, "chromium", "exit 0")  # only the font is missing
    _stub(bin_dir, "fc-list", "exit 0")
    _stub(bin_dir, "apt-get", f'echo "$*" >> {calls}')
    done = _run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == [
        "update",
        "install -y --no-install-recommends fonts-wqy-microhei",
    ]


def test_make_test_runs_it_first() -> None:
    makefile = (SCRIPT.parent.parent / "Makefile").read_text()
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert test_rule.split(":", 1)[1].split()[0] == "system-deps"
    assert "scripts/system_deps.sh" in makefile
