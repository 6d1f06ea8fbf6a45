"""Flow runs: branch and join route and combine values, a step past its timeout fails the run
(nothing staged, one dead letter), and every step is traced with its input and output."""

from __future__ import annotations

import time
from pathlib import Path

from clients.gateway.capture.base import Batch, Change
from clients.gateway.config.project import load_project
from clients.gateway.connectors.atomic import AtomicApis
from clients.gateway.flows.engine import FlowRunner
from clients.gateway.sample.project import write_sample
from tests.gateway.support import staging_gateway
from tests.gateway.test_services import Upstream

TRIAGE = """kind: Flow
version: 1
name: triage
source: {api: {}}
steps:
  - {id: each, type: foreach, input: source, items: results}
  - id: level
    type: branch
    input: each
    cases:
      - {name: critical, when: 'value > high * 10'}
      - {name: abnormal, when: 'value > high or value < low'}
    otherwise: normal
  - {id: alert, type: map, input: level.critical, expression: '{"alert": name, "value": value}'}
  - {id: note, type: map, input: level.abnormal, expression: '{"note": name}'}
  - id: summary
    type: join
    inputs: [alert, note, level.normal]
    expression: '{"alerts": $count(alert), "notes": $count(note), "normal": $count(level_normal)}'
"""

SLOW = """kind: Flow
version: 1
name: slow
source: {{api: {{}}}}
steps:
  - {{id: lookup, type: api, input: source, api: eligibility, timeout_s: 0.2,
     params: '{{"id_card": id_card}}'}}
"""


def test_branch_and_join(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "gw")
    (root / "flows" / "triage.yaml").write_text(TRIAGE)
    project = load_project(root)
    runner = FlowRunner(project, project.flows["triage"])
    message = {
        "results": [
            {"name": "肌钙蛋白I", "value": 0.52, "low": 0, "high": 0.04},
            {"name": "葡萄糖", "value": 7.2, "low": 3.9, "high": 6.1},
            {"name": "钾", "value": 4.1, "low": 3.5, "high": 5.3},
            {"name": "钠", "value": 140, "low": 137, "high": 147},
        ]
    }
    result = runner.run(message)
    assert result.ok, result.error
    assert result.outputs["alert"] == [{"alert": "肌钙蛋白I", "value": 0.52}]
    assert result.outputs["note"] == [{"note": "葡萄糖"}]
    assert result.outputs["summary"] == [{"alerts": 1, "notes": 1, "normal": 2}]
    steps = {s["step"]: s for s in result.steps}
    assert steps["each"]["output"] == message["results"]
    assert steps["each"]["input"] == [[message]]  # the source's message is traced once
    assert "input" not in steps["level"]  # its input is the traced output of "each"


def test_step_timeout_fails_the_run_and_dead_letters_it(tmp_path: Path) -> None:
    upstream = Upstream()
    try:
        root = write_sample(tmp_path / "gw")
        (root / "connections" / "insurance.yaml").write_text(
            f"kind: Connection\nversion: 1\nname: insurance\ntype: http\nurl: {upstream.url}\n"
            "timeout_s: 5\nretries: 0\n"
        )
        (root / "apis" / "eligibility.yaml").write_text(
            "kind: Api\nversion: 1\nname: eligibility\nconnection: insurance\n"
            "request: {method: GET, path: /eligibility}\n"
        )
        (root / "flows" / "slow.yaml").write_text(SLOW.format())
        project = load_project(root)
        gateway = staging_gateway(project)
        apis = AtomicApis(project)
        gateway.runners["slow"] = FlowRunner(project, project.flows["slow"], call_api=apis.rows)
        ok = gateway.runners["slow"].run({"id_card": "510131196901190743"})
        assert ok.ok
        assert ok.outputs["lookup"][0][0]["insured"] is True
        upstream.mode = "hang"
        started = time.monotonic()
        [result] = gateway.process(
            "slow", Batch([Change("api.slow", "k1", {"id_card": "x"})], None), source="api.slow"
        )
        assert time.monotonic() - started < 0.9
        assert not result.ok
        assert result.failed_step == "lookup"
        assert "timeout of 0.2 s" in (result.error or "")
        [letter] = gateway.store.dead_letters()
        assert letter["stage"] == "lookup"
        assert letter["payload"]["message"] == {"id_card": "x"}
        [run] = gateway.store.runs("slow")
        assert run["status"] == "failed"
    finally:
        upstream.close()
