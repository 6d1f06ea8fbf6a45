"""The auditor's part of the demo: the access log from the chain, the index, ``verify``.

The auditor reads ``AccessLogged`` straight from the chain (:mod:`clients.demo.chain_view`),
checks the story's expectations on it (who was granted, who was denied, and that the
cardiologist's refusal comes after the revocation), then checks that the API's index holds
exactly those events and that ``/audit/verify`` finds index, chain and stored bodies agree.
"""

from __future__ import annotations

import time

from clients.demo import cast
from clients.demo.chain_view import AccessEvent, access_events_since, revocation_position
from clients.demo.report import short
from clients.demo.scene import Scene
from clients.sdk.errors import ClientError

INDEX_WAIT_SECONDS = 20.0


def audit_log(story: Scene) -> None:
    person = cast.clinician("auditor")
    names = {address.lower(): key for key, address in story.outcome.clinicians.items()}
    record_ids = {r["record_id"].lower() for r in story.outcome.records}
    events = access_events_since(story.w3, story.stack.deployment, story.first_block, record_ids)
    rows = [
        (
            str(e.block_number),
            short(e.record_id),
            names.get(e.accessor.lower(), e.accessor),
            e.purpose,
            "granted" if e.granted else "DENIED",
            short(e.tx_hash),
        )
        for e in events
    ]
    story.report.table(
        "Access log, read from the chain (AccessLogged)",
        ("block", "record", "accessor", "purpose", "decision", "tx"),
        rows,
    )
    expected = (
        "cardiologist granted on both records; GP denied; cardiologist denied after revocation"
    )
    problems = _check_log(story, events)
    observed = (
        f"{sum(e.granted for e in events)} granted, {sum(not e.granted for e in events)} denied"
        + (f"; {'; '.join(problems)}" if problems else ", as expected")
    )
    story.report.step(
        person.label,
        "reads the access log from the chain",
        expected=expected,
        observed=observed,
        ok=not problems,
    )
    _compare_index(story, person, events)


def _check_log(story: Scene, events: list[AccessEvent]) -> list[str]:
    cardiologist = story.outcome.clinicians.get("cardiologist", "").lower()
    gp = story.outcome.clinicians.get("gp", "").lower()
    problems = []
    granted = {
        e.record_id.lower() for e in events if e.granted and e.accessor.lower() == cardiologist
    }
    missing = {r["record_id"].lower() for r in story.outcome.records} - granted
    if missing:
        problems.append(f"no granted read of {', '.join(short(m) for m in sorted(missing))}")
    if any(e.granted and e.accessor.lower() != cardiologist for e in events):
        problems.append("someone else was granted")
    if not any(not e.granted and e.accessor.lower() == gp for e in events):
        problems.append("no denied read by the GP")
    revoked_at = revocation_position(
        story.w3,
        story.stack.deployment,
        story.outcome.consent.get("consent_id", ""),
        story.first_block,
    )
    if revoked_at is None:
        problems.append("no ConsentRevoked event")
        return problems
    after = [
        e
        for e in events
        if e.accessor.lower() == cardiologist and (e.block_number, e.log_index) > revoked_at
    ]
    if not any(not e.granted for e in after):
        problems.append("no denied read by the cardiologist after the revocation")
    if any(e.granted for e in after):
        problems.append("the cardiologist was granted after the revocation")
    return problems


def _compare_index(story: Scene, person: cast.Clinician, events: list[AccessEvent]) -> None:
    """The API's index (``/audit/access-events``) must hold exactly the chain's events."""
    action = "compares the API's index with the chain"
    expected = "the same access events"
    chain = {(e.tx_hash.lower(), e.log_index) for e in events}
    indexed: set[tuple[str, int]] = set()
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    try:
        with story.client_for("auditor") as client:
            client.login()
            while True:
                indexed = set()
                for record in story.outcome.records:
                    page = client.access_events(record=record["record_id"], limit=200)
                    indexed |= {
                        (str(i["tx_hash"]).lower(), int(i["log_index"])) for i in page.items
                    }
                if indexed == chain or time.monotonic() > deadline:
                    break
                time.sleep(0.3)  # the indexer follows the chain a moment behind
    except ClientError as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    ok = indexed == chain
    observed = f"{len(indexed)} indexed, {len(chain)} on chain" + ("" if ok else ", MISMATCH")
    story.report.step(person.label, action, expected=expected, observed=observed, ok=ok)


def audit_verify(story: Scene) -> None:
    person = cast.clinician("auditor")
    action = "verifies index vs chain and re-hashes stored bodies"
    expected = "ok, every event of the story compared, no mismatch"
    to_block = story.w3.eth.block_number
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    try:
        with story.client_for("auditor") as client:
            client.login()
            while True:  # events past the indexer's cursor are not compared: wait for it
                report = client.verify(from_block=story.first_block, to_block=to_block)
                if not report.get("not_yet_indexed") or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
    except ClientError as exc:
        story.report.step(
            person.label, action, expected=expected, observed=f"error: {exc}", ok=False
        )
        return
    story.outcome.verify = report
    checked = ", ".join(f"{v} {k}" for k, v in dict(report.get("checked", {})).items())
    pending = int(report.get("not_yet_indexed") or 0)
    ok = bool(report.get("ok")) and pending == 0
    observed = ("ok" if report.get("ok") else "MISMATCH") + (f": {checked}" if checked else "")
    if pending:
        observed += f"; {pending} events not yet indexed"
    if not report.get("ok"):
        problems = list(report.get("index_vs_chain", [])) + list(report.get("bodies", []))
        observed += f" ({len(problems)} problems)"
    story.report.step(person.label, action, expected=expected, observed=observed, ok=ok)
