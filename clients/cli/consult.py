"""``medledger consult …``: remote consultation (远程会诊) across consortium institutions.

The requesting doctor opens a consultation on a question record with the patient's consent
file (``patient sign-consent --purpose consultation``), inviting institutions and/or the
specialists matching a policy, until a deadline. Invited specialists read the question
(``doctor get … --purpose consultation``) and give one opinion each — a FILE shared here for
the requester and the patient, or a record already shared; the requester reads the opinions
and closes with a conclusion, or cancels. Refusals (not invited, closed, past the deadline)
are the API's, printed as one line.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import typer

from clients.cli import checks as check
from clients.cli.common import (
    ApiOption,
    CliError,
    DataDirOption,
    JsonLinesOption,
    JsonOption,
    WalletOption,
    cli_errors,
    plain,
    plural,
    short,
    signed_in,
    when,
)
from clients.cli.consent_file import check_consent_file, check_signatures, load_consent_file
from clients.cli.ids import remember, resolve, workflow_id
from clients.cli.output import Column, fit_table
from clients.cli.views import fields_table
from clients.cli.workflow_common import (
    AnswerTypeOption,
    FhirAnswerOption,
    answer_from,
    history_table,
    listed,
    print_json_lines,
    step_with_answer,
)
from clients.sdk.workflow_models import ConsultationInfo, latest_step
from clients.sdk.workflows import consultation_audience

consult_app = typer.Typer(
    help="Remote consultations: create, list, show, give an opinion, close, cancel.",
    no_args_is_help=True,
)

ConsultationArg = typer.Argument(..., help="The consultation id, or a unique prefix of it.")
ROLES = ("invited", "requested", "patient", "all")
STATES = ("open", "closed", "cancelled")


def _id(value: str, data_dir: str | None) -> str:
    return workflow_id(value, "consultation", data_dir)


@consult_app.command("create")
@cli_errors
def create(
    patient: str = typer.Option(..., "--patient", help="The patient's address."),
    question: str = typer.Option(
        ..., "--question", help="The question: a record of the patient already shared."
    ),
    record: list[str] = typer.Option(  # noqa: B008
        [], "--record", help="A further record to share (repeat for each)."
    ),
    invite: list[str] = typer.Option(  # noqa: B008
        [], "--invite", help="An invited institution's code (or id); repeat for each."
    ),
    invited_policy: str | None = typer.Option(
        None, "--invited-policy", help='Invite specialists by policy, e.g. "dept:cardiology".'
    ),
    consent: Path = typer.Option(  # noqa: B008
        ..., "--consent", help="The patient's consent file (`patient sign-consent`)."
    ),
    deadline: str | None = typer.Option(
        None, "--deadline", help="When opinions close: ISO 8601 or unix seconds [--hours]."
    ),
    hours: int = typer.Option(72, "--hours", min=1, max=24 * 90, help="Open this many hours."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonOption,
) -> None:
    """Ask invited institutions or specialists for an opinion on a patient's question.

    The consent file must be the patient's, for purpose consultation, naming the audience
    (org:<code> of each invited institution, ORed with the invited policy) and covering the
    question and every --record; it is checked here before anything is sent.

    Example: medledger consult create --patient 0xPatient… --question 0x3f…a1 --invite cd3h
    --consent consent.json --hours 48
    """
    owner = check.address_or_wallet(patient, "--patient", data_dir)
    if not invite and not invited_policy:
        raise CliError(
            "invite institutions (--invite CODE), specialists (--invited-policy), or both"
        )
    if invited_policy is not None:
        check.policy(invited_policy)
    asked = resolve(question, "record id", kind="record", data_dir=data_dir)
    extra = [resolve(r, "record id", kind="record", data_dir=data_dir) for r in record]
    closes = _deadline(deadline, hours)
    by_code = not any(i.isdigit() for i in invite)
    audience = consultation_audience(invite, invited_policy) if by_code else None
    signed = load_consent_file(consent)
    hint = " ".join(f"--org {i}" for i in invite)
    if invited_policy:
        hint += f" --invited-policy {invited_policy!r}"
    check_consent_file(
        signed,
        path=consent,
        purpose="consultation",
        patient=owner,
        audience=audience,
        record_ids=[asked, *extra],
        hint=hint.strip(),
    )
    with signed_in(api, data_dir, wallet) as (client, _, _):
        check_signatures(signed, path=consent, domain=client.chain_info().domain)
        made = client.create_consultation(
            patient=owner,
            question_record_id=asked,
            record_ids=extra,
            invited_institutions=[int(i) if i.isdigit() else i for i in invite],
            invited_policy=invited_policy,
            deadline=closes,
            consents=signed,
        )
    if as_json:
        typer.echo(json.dumps(made.raw))
        return
    _said(made, f"consultation {made.consultation_id} opened", made.tx_hash, made.block_number)


@consult_app.command("list")
@cli_errors
def list_consultations(
    role: str | None = typer.Option(
        None, "--role", help=f"{', '.join(ROLES)} [invited for clinicians]."
    ),
    state: str | None = typer.Option(None, "--state", help=f"One of: {', '.join(STATES)}."),
    limit: int = typer.Option(50, "--limit", min=1, max=200, help="At most this many."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Consultations inviting me (default), the ones I requested, or a patient's own.

    Example: medledger consult list --state open
    """
    if role is not None:
        check.one_of(role, ROLES, "--role")
    if state is not None:
        check.one_of(state, STATES, "--state")
    with signed_in(api, data_dir, wallet) as (client, _, _):
        page = client.consultations(role=role, state=state, limit=limit)
    remember(data_dir, "consultation", [item.consultation_id for item in page.items])
    if as_json:
        print_json_lines(page.items)
        return
    columns = (
        Column("consultation id", kind="id", wrap=False),
        Column("state", wrap=False),
        Column("requester", kind="address", drop=2, wrap=False),
        Column("invited"),
        Column("deadline", wrap=False, drop=3),
        Column("opinions", drop=4, justify="right"),
    )
    rows = [
        [
            item.consultation_id,
            item.state,
            item.requester,
            _invited(item),
            when(item.deadline),
            str(item.opinion_count),
        ]
        for item in page.items
    ]
    title = f"consultations ({len(page.items)} of {page.total})"
    plain().print(fit_table(columns, rows, title=title))


@consult_app.command("show")
@cli_errors
def show(
    consultation_id: str = ConsultationArg,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonOption,
) -> None:
    """One consultation: question, records, opinions (with their records) and history.

    Example: medledger consult show 0x7d…e4
    """
    cid = _id(consultation_id, data_dir)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        item = client.consultation(cid)
    remember(data_dir, "consultation", [item.consultation_id])
    remember(
        data_dir,
        "record",
        [
            item.question_record_id,
            *item.record_ids,
            item.conclusion_record_id,
            *(o.record_id for o in item.opinions),
        ],
    )
    if as_json:
        typer.echo(json.dumps(item.raw))
        return
    rows = [
        ("consultation", item.consultation_id),
        ("state", item.state),
        ("patient", item.patient),
        ("requester", f"{item.requester} (institution {item.requester_institution})"),
        ("invited", _invited(item)),
        ("audience", item.audience_policy or "-"),
        ("deadline", when(item.deadline)),
        ("question", item.question_record_id or "-"),
        ("records", listed(item.record_ids)),
        ("conclusion", item.conclusion_record_id or "-"),
        ("closing reason", item.closing_reason or "-"),
    ]
    out = plain()
    out.print(fields_table(rows, title=f"consultation {short(item.consultation_id)}"))
    columns = (
        Column("time", wrap=False),
        Column("author", kind="address", wrap=False),
        Column("institution", drop=3),
        Column("record", kind="id", wrap=False),
        Column("tx", kind="hex", drop=4, wrap=False),
    )
    rows = [
        [
            when(opinion.block_time),
            opinion.author,
            str(opinion.institution_id),
            opinion.record_id or "-",
            opinion.tx_hash,
        ]
        for opinion in item.opinions
    ]
    out.print(fit_table(columns, rows, title=f"opinions ({len(item.opinions)})"))
    out.print(history_table(item.history, title="history"))


@consult_app.command("opinion")
@cli_errors
def opinion(
    consultation_id: str = ConsultationArg,
    file: Path | None = typer.Argument(None, help="My opinion to share (FHIR JSON, PDF, …)."),  # noqa: B008
    record: str | None = typer.Option(
        None, "--record", help="An opinion record I already shared (instead of FILE)."
    ),
    policy: str | None = typer.Option(
        None, "--policy", help="Who else may read it [the requester and the patient]."
    ),
    fhir: bool | None = FhirAnswerOption,
    record_type: str | None = AnswerTypeOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Give my opinion on a consultation I am invited to (once, before deadline and close).

    FILE is encrypted for the requesting doctor (uid:<requester>, plus --policy) and the
    patient, registered and posted; the step is checked with the API first, so a closed or
    expired consultation shares nothing.

    Example: medledger consult opinion 0x7d…e4 opinion.json --wallet cardiologist
    """
    cid = _id(consultation_id, data_dir)
    answer = answer_from(
        file,
        record,
        policy=policy,
        fhir=fhir,
        record_type=record_type,
        what="opinion",
        data_dir=data_dir,
    )
    with signed_in(api, data_dir, wallet) as (client, _, _):
        item = client.consultation(cid)
        done, rid = step_with_answer(
            client,
            answer,
            lambda record_id: client.submit_opinion(cid, record_id),
            patient=item.patient,
            reader=item.requester,
        )
    mine = [o for o in done.opinions if o.record_id == rid]
    given = mine[-1] if mine else None
    _said(
        done,
        f"opinion {rid} given on consultation {done.consultation_id}",
        given.tx_hash if given else done.tx_hash,
        given.block_number if given else done.block_number,
    )


@consult_app.command("close")
@cli_errors
def close(
    consultation_id: str = ConsultationArg,
    file: Path | None = typer.Argument(None, help="The conclusion to share (FHIR JSON, …)."),  # noqa: B008
    record: str | None = typer.Option(
        None, "--record", help="A conclusion record already shared (instead of FILE)."
    ),
    policy: str | None = typer.Option(
        None, "--policy", help="Who else may read the conclusion [me and the patient]."
    ),
    fhir: bool | None = FhirAnswerOption,
    record_type: str | None = AnswerTypeOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Close a consultation I requested with a conclusion record (no opinions after that).

    Example: medledger consult close 0x7d…e4 conclusion.json
    """
    cid = _id(consultation_id, data_dir)
    answer = answer_from(
        file,
        record,
        policy=policy,
        fhir=fhir,
        record_type=record_type,
        what="conclusion",
        data_dir=data_dir,
    )
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        item = client.consultation(cid)
        done, _ = step_with_answer(
            client,
            answer,
            lambda record_id: client.close_consultation(cid, record_id),
            patient=item.patient,
            reader=chosen.address,
        )
    _stepped(done, "closed")


@consult_app.command("cancel")
@cli_errors
def cancel(
    consultation_id: str = ConsultationArg,
    reason: str | None = typer.Option(None, "--reason", help="A short reason code."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Cancel an open consultation I requested; its records stop being served.

    Example: medledger consult cancel 0x7d…e4 --reason resolved
    """
    cid = _id(consultation_id, data_dir)
    if reason is not None:
        check.reason_code(reason)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        _stepped(client.cancel_consultation(cid, reason), "cancelled")


# ----------------------------------------------------------------------------- helpers


def _deadline(value: str | None, hours: int) -> int:
    if value is None:
        return int(time.time()) + hours * 3600
    text = check.timestamp(value, "--deadline")
    assert text is not None
    closes = int(text) if text.isdigit() else int(datetime.fromisoformat(text).timestamp())
    if closes <= time.time():
        raise CliError(f"--deadline is in the past: {value}")
    return closes


def _invited(item: ConsultationInfo) -> str:
    parts = [f"institution {i}" for i in item.invited_institutions]
    if item.invited_policy:
        parts.append(f"policy {item.invited_policy!r}")
    return ", ".join(parts) or "-"


def _stepped(item: ConsultationInfo, verb: str) -> None:
    tx, block = latest_step(item)
    _said(item, f"{verb} consultation {item.consultation_id}", tx, block)


def _said(item: ConsultationInfo, headline: str, tx: str, block: int) -> None:
    out = plain()
    out.print(headline)
    out.print(
        f"state {item.state}; invited {_invited(item)}; closes {when(item.deadline)}; "
        f"{plural(item.opinion_count, 'opinion')}; "
        f"{plural(len(item.record_ids), 'record')} of {item.patient}"
    )
    if item.conclusion_record_id:
        out.print(f"conclusion {item.conclusion_record_id}")
    out.print(f"tx {tx} (block {block})")
