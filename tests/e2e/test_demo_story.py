"""The demo's story in-process against a live API: a workflow that fails ends only itself.

``test_demo.py`` runs the command as a user would; this module plays the same
:class:`~clients.demo.story.Story` against the ``live_stack`` (real anvil, contracts, API over
HTTP) to check what a failure in the middle of a workflow does: the consortium admin suspends
the county hospital just before the consultation, so the GP's request is refused by the API.
That step fails, the rest of the consultation is skipped (no opinion is asked of anyone), and
the story goes on: the auditor still reads the workflows from the chain and reports the
missing consultation, and the run is not ok.

The API here runs escrow-free (no central key): the story starts one key authority process per
institution of the demo consortium, each with its own key file; the cardiologist's key comes
from cd3h's own authority (``KeyIssued``), and the break-glass at the end is opened with the
shares of two distinct authorities, although the county hospital (one of the four) is
suspended.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

import contracts
from clients.demo import consultation
from clients.demo.processes import is_authority_serve
from clients.demo.report import Reporter
from clients.demo.stack import LocalStack
from clients.demo.story import Story, story_steps
from tests.api.conftest import ADMIN_KEY
from tests.clients.conftest import (  # noqa: F401  (fixtures used by live_stack)
    LiveStack,
    api_stack,
    live_stack,
    stack_hooks,
    stack_settings,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: this is about the demo's story, the backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def test_a_refused_consultation_skips_its_acts_and_the_story_goes_on(
    live_stack: LiveStack,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDLEDGER_ADMIN_KEY", ADMIN_KEY)  # the test chain's consortium admin
    stack = live_stack.stack
    data_dir = tmp_path / "demo"
    data_dir.mkdir()
    local = LocalStack(
        data_dir=data_dir,
        rpc_url=stack.settings.rpc_url,
        api_url=live_stack.url,
        deployment=stack.deployment,
        node_pid=None,
        api_pid=None,
    )
    console = Console(record=True, width=240)
    story = Story(local, Reporter(console))

    def suspend_county_hospital(story: Story) -> None:
        county = story.outcome.institutions["pjxrmyy"]
        stack.admin_consortium.suspend_institution(institution_id=county).wait()

    steps = story_steps()
    steps.insert(steps.index(consultation.consultation), suspend_county_hospital)
    try:
        outcome = story.run(steps)
        pids = [a["pid"] for a in outcome.authorities]
        assert len(set(pids)) == 4
        assert all(is_authority_serve(pid) for pid in pids)
    finally:
        local.stop()
    assert not any(is_authority_serve(pid) for pid in pids)
    report = story.report

    assert not report.ok
    failed = [s for s in report.steps if not s.ok]
    assert [s.actor for s in failed] == [
        "王芳 (全科 GP)",
        "陈静 (医务科 auditor)",
        # a suspended hospital's gateway shares nothing
        "蒲江县人民医院前置机 (接口平台网关 gateway)",
    ]
    assert "remote consultation" in failed[0].action
    assert "suspended" in failed[0].observed
    assert "no consultation made" in failed[1].observed
    # the consultation's acts after the refusal did not happen ...
    actions = [s.action for s in report.steps]
    assert any(a.startswith("writes the consultation question") for a in actions)
    assert not any("reads the consultation question" in a for a in actions)
    assert not any("opinion" in a for a in actions)
    assert "the rest of this workflow is skipped" in console.export_text()
    # ... but the story went on past the workflows (their last step passed)
    (compared,) = [
        s for s in report.steps if s.action == "compares the API's workflow history with the chain"
    ]
    assert compared.ok
    # the referrals before it are complete; no consultation reached the chain
    assert [r["state"] for r in outcome.referrals] == ["completed", "completed"]
    assert "consultation_id" not in outcome.consultation
    workflow = stack.w3.eth.contract(
        address=stack.deployment.address("Workflow"), abi=contracts.load("Workflow")["abi"]
    )
    requested = workflow.events.ConsultationRequested.get_logs(
        from_block=0, argument_filters={"patient": outcome.patient}
    )
    assert requested == []

    # no central key: four authorities with distinct key files, the cardiologist's key issued
    # by cd3h's own authority, the break-glass opened with shares of two distinct authorities
    assert len({a["key_file"] for a in outcome.authorities}) == 4
    assert not (stack.settings.data_dir / "authority").exists()
    cd3h = outcome.institutions["cd3h"]
    issued = outcome.key_issued["cardiologist"]
    assert issued["institution"] == cd3h
    assert issued["holder"] == outcome.clinicians["cardiologist"]
    assert issued["issuer"] == stack.admin_consortium.authority_of(cd3h).signer
    released = {e["institution"] for e in outcome.emergency["released_by"]}
    assert len(released) >= 2
    assert outcome.institutions["pjxrmyy"] not in released  # suspended; t answered first
    assert {r["record_id"] for r in outcome.records} <= set(outcome.emergency["records_opened"])
