"""The chaos script, shortened (one kill of each kind, ≤ 3 minutes): two API nodes on
PostgreSQL under sustained shares while an API node (``kill -9``), the chain node (restarted
from its state file, losing its last second) and PostgreSQL's backends are killed. Nothing
acknowledged may be lost, dangle, be duplicated or leave a gap in the index."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import chaos

pytestmark = pytest.mark.skipif(
    not os.environ.get("MEDLEDGER_TEST_POSTGRES_URL"),
    reason="needs MEDLEDGER_TEST_POSTGRES_URL (the cluster shares one PostgreSQL)",
)


def test_short_chaos_run_loses_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code = chaos.main(
        ["--rounds", "3", "--round-seconds", "3", "--settle", "60", "--seed", "7", "--json"]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rounds"] == 3
    assert (summary["kills_api"], summary["kills_chain"], summary["kills_postgres"]) == (1, 1, 1)
    assert summary["acknowledged"] > 0
    assert summary["lost"] == 0
    assert summary["wrong_digest"] == summary["dangling"] == summary["duplicates"] == 0
    assert summary["gaps"] == 0
    assert code == 0
