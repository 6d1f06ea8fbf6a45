"""What ``medledger referral …`` and ``medledger consult …`` share: answers and tables.

An answer (a referral's summary, a consultation's opinion or conclusion) is either a record
already shared (``--record ID``) or a FILE shared here under a policy that admits the doctor
who must read it. Before a FILE is encrypted the step is tried with a record id that cannot
exist (:func:`dry_run`): the API decides who may take the step and from which state before it
looks at the record, so a refusal is the API's own 403 or 409 and nothing has been shared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table

from clients.cli import checks as check
from clients.cli.common import (
    EXIT_NOT_FOUND,
    CliError,
    plain,
    short,
    transfer_progress,
    when,
)
from clients.cli.ids import resolve
from clients.cli.output import Column, fit_table
from clients.sdk import MedLedgerClient
from clients.sdk.errors import ApiError
from clients.sdk.fhir import FHIR_CONTENT_TYPE, is_fhir_file, validate_resource
from clients.sdk.workflow_models import Transition

T = TypeVar("T")

FhirAnswerOption = typer.Option(
    None, "--fhir/--raw", help="Share FILE as FHIR R4 JSON or raw bytes [auto]."
)
AnswerTypeOption = typer.Option(None, "--type", help="Record type of a raw FILE.")

# No record has the zero id (the SDK and the API refuse it), so a step naming it is refused:
# for its party or state first (403/409), else for the record (422 unknown_record).
_NO_RECORD = "0x" + "00" * 32


@dataclass(frozen=True)
class Answer:
    """A checked ``FILE`` / ``--record`` choice (no wallet opened yet)."""

    record_id: str | None
    source: bytes | Path | None
    record_type: str
    content_type: str
    policy: str | None
    name: str


def answer_from(
    file: Path | None,
    record: str | None,
    *,
    policy: str | None,
    fhir: bool | None,
    record_type: str | None,
    what: str,
    data_dir: str | None = None,
) -> Answer:
    """Exactly one of FILE or ``--record``; a FILE is read and (FHIR) validated now."""
    if (file is None) == (record is None):
        raise CliError(f"give the {what} as a FILE to share, or --record ID (one of them)")
    if record is not None:
        if policy is not None or record_type is not None or fhir is not None:
            raise CliError("--policy, --type and --fhir/--raw describe a FILE, not --record")
        rid = resolve(record, "record id", kind="record", data_dir=data_dir)
        return Answer(rid, None, "", "", None, rid)
    assert file is not None
    if not file.is_file():
        raise CliError(f"no such file: {file}", exit_code=EXIT_NOT_FOUND)
    if policy is not None:
        check.policy(policy)
    if is_fhir_file(file, fhir):
        document = validate_resource(file)
        if record_type and record_type != document.resource_type:
            raise CliError(
                f"--type {record_type} contradicts the resourceType {document.resource_type}"
            )
        return Answer(
            None, document.data, document.resource_type, FHIR_CONTENT_TYPE, policy, file.name
        )
    return Answer(
        None, file, record_type or "Document", "application/octet-stream", policy, file.name
    )


def dry_run(step: Callable[[str], Any]) -> None:
    """Try ``step`` with a record id that cannot exist: raise the API's refusal of the party
    or state; return when only the record was refused (the step itself is allowed)."""
    try:
        step(_NO_RECORD)
    except ApiError as exc:
        if exc.status == 422 and exc.code == "unknown_record":
            return
        raise
    raise CliError("the API accepted a step naming no record; nothing more was done")


def shared_answer(
    client: MedLedgerClient, answer: Answer, *, patient: str, reader: str
) -> tuple[str, str | None]:
    """The answer's record id, sharing the FILE first if one was given: (id, its tx)."""
    if answer.record_id is not None:
        return answer.record_id, None
    assert answer.source is not None
    with transfer_progress(f"sharing {answer.name}") as progress:
        info = client.share_answer(
            answer.source,
            patient=patient,
            reader=reader,
            policy=answer.policy,
            record_type=answer.record_type,
            content_type=answer.content_type,
            progress=progress,
        )
    return info.record_id, info.tx_hash


def step_with_answer(
    client: MedLedgerClient,
    answer: Answer,
    step: Callable[[str], T],
    *,
    patient: str,
    reader: str,
) -> tuple[T, str]:
    """Take ``step`` with the answer's record: ``(its result, the record id)``.

    A FILE is shared (for ``reader`` and the patient) only once :func:`dry_run` showed the
    step is allowed, so a refused step shares nothing; the record a FILE became is printed."""
    if answer.record_id is None:
        dry_run(step)
    record_id, tx = shared_answer(client, answer, patient=patient, reader=reader)
    done = step(record_id)
    if tx:
        plain().print(f"shared {answer.name} as record {record_id} (tx {tx})")
    return done, record_id


def print_json_lines(items: Iterable[Any]) -> None:
    """One line of the API's JSON per item (each has ``raw``), for ``--json`` lists."""
    for item in items:
        typer.echo(json.dumps(item.raw))


def history_table(history: list[Transition], *, title: str) -> Table:
    """Each on-chain step with its actor, reason and transaction hash (in full if it fits)."""
    columns = (
        Column("time", wrap=False),
        Column("state", wrap=False),
        Column("actor", kind="address", wrap=False),
        Column("reason"),
        Column("block", drop=3, wrap=False, justify="right"),
        Column("tx", kind="hex", wrap=False),
    )
    rows = [
        [
            when(step.block_time),
            step.state,
            step.actor,
            short(step.reason) if _is_digest(step.reason) else step.reason or "-",
            str(step.block_number),
            step.tx_hash,
        ]
        for step in history
    ]
    return fit_table(columns, rows, title=title)


def _is_digest(reason: str | None) -> bool:
    """A reason that is a 32-byte digest (a referral's manifest), not a readable code."""
    return reason is not None and len(reason) == 66 and reason.startswith("0x")


def listed(values: list[str]) -> str:
    return ", ".join(values) if values else "-"
