"""``medledger referral …``: two-way referral (双向转诊) between consortium institutions.

The sending doctor creates the referral with the patient's consent file (``patient
sign-consent``); the receiving department reads the records sent along at once (``doctor get
… --purpose referral``), accepts or rejects, marks the arrival and completes with a summary
shared back to the sender; the sender may cancel before acceptance. Every step is a
transaction the API sends after checking, on chain, who may take it from which state; its
refusals (403, 409) are printed as one line. ``referral show`` prints the history with the
transaction of each step.
"""

from __future__ import annotations

import json
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
from clients.sdk.workflow_models import ReferralInfo, latest_step
from clients.sdk.workflows import URGENCIES, referral_audience

referral_app = typer.Typer(
    help="Two-way referrals: create, accept, reject, arrive, complete, cancel, list, show.",
    no_args_is_help=True,
)

ReferralArg = typer.Argument(..., help="The referral id, or a unique prefix of it.")
STATES = ("requested", "accepted", "arrived", "completed", "rejected", "cancelled", "open")


def _id(value: str, data_dir: str | None) -> str:
    return workflow_id(value, "referral", data_dir)


@referral_app.command("create")
@cli_errors
def create(
    patient: str = typer.Option(..., "--patient", help="The patient's address."),
    to: str = typer.Option(..., "--to", help="Receiving institution: its code (or id)."),
    dept: str = typer.Option(..., "--dept", help="Receiving department, e.g. cardiology."),
    reason: str = typer.Option(
        ..., "--reason", help="The referral letter: a record of the patient already shared."
    ),
    record: list[str] = typer.Option(  # noqa: B008
        [], "--record", help="A further record to send along (repeat for each)."
    ),
    consent: Path = typer.Option(  # noqa: B008
        ..., "--consent", help="The patient's consent file (`patient sign-consent`)."
    ),
    urgency: str = typer.Option("routine", "--urgency", help="routine, urgent or emergency."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonOption,
) -> None:
    """Refer a patient to a department of another institution, sending records along.

    The consent file must be the patient's, for purpose referral, naming the receiving
    department's policy (org:<code> and dept:<department>) and covering the letter and every
    --record; it is checked here before anything is sent.

    Example: medledger referral create --patient 0xPatient… --to cd3h --dept cardiology
    --reason 0x3f…a1 --consent consent.json --urgency urgent
    """
    owner = check.address_or_wallet(patient, "--patient", data_dir)
    check.one_of(urgency, URGENCIES, "--urgency")
    letter = resolve(reason, "record id", kind="record", data_dir=data_dir)
    extra = [resolve(r, "record id", kind="record", data_dir=data_dir) for r in record]
    audience = None if to.isdigit() else referral_audience(to, dept)
    signed = load_consent_file(consent)
    check_consent_file(
        signed,
        path=consent,
        purpose="referral",
        patient=owner,
        audience=audience,
        record_ids=[letter, *extra],
        hint=f"--org {to} --dept {dept}",
    )
    with signed_in(api, data_dir, wallet) as (client, _, _):
        check_signatures(signed, path=consent, domain=client.chain_info().domain)
        made = client.create_referral(
            patient=owner,
            to_institution=int(to) if to.isdigit() else to,
            department=dept,
            reason_record_id=letter,
            record_ids=extra,
            consents=signed,
            urgency=urgency,
        )
    if as_json:
        typer.echo(json.dumps(made.raw))
        return
    _said(made, f"referral {made.referral_id} requested", made.tx_hash, made.block_number)


@referral_app.command("accept")
@cli_errors
def accept(
    referral_id: str = ReferralArg,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Accept a referral to my department (a doctor of the receiving institution).

    Example: medledger referral accept 0x5b…c0 --wallet cardiologist
    """
    rid = _id(referral_id, data_dir)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        _stepped(client.accept_referral(rid), "accepted")


@referral_app.command("reject")
@cli_errors
def reject(
    referral_id: str = ReferralArg,
    reason: str = typer.Option(..., "--reason", help="A short reason code, e.g. no_capacity."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Reject a referral with a reason code (a doctor of the receiving institution).

    Example: medledger referral reject 0x5b…c0 --reason no_capacity
    """
    rid = _id(referral_id, data_dir)
    check.reason_code(reason)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        _stepped(client.reject_referral(rid, reason), "rejected")


@referral_app.command("arrive")
@cli_errors
def arrive(
    referral_id: str = ReferralArg,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Mark that the patient checked in (a doctor or nurse of the receiving institution).

    Example: medledger referral arrive 0x5b…c0
    """
    rid = _id(referral_id, data_dir)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        _stepped(client.arrive(rid), "marked arrived")


@referral_app.command("complete")
@cli_errors
def complete(
    referral_id: str = ReferralArg,
    file: Path | None = typer.Argument(  # noqa: B008
        None, help="The summary to share back (FHIR JSON, PDF, …)."
    ),
    record: str | None = typer.Option(
        None, "--record", help="A summary record already shared (instead of FILE)."
    ),
    policy: str | None = typer.Option(
        None, "--policy", help="Who else may read the summary [the sending doctor only]."
    ),
    fhir: bool | None = FhirAnswerOption,
    record_type: str | None = AnswerTypeOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Complete a referral with a summary shared back to the sending doctor.

    FILE is encrypted for the sending doctor (uid:<sender>, plus --policy) and the patient,
    registered, and attached; the step is checked with the API first, so a referral that
    cannot be completed shares nothing.

    Example: medledger referral complete 0x5b…c0 discharge.json
    """
    rid = _id(referral_id, data_dir)
    answer = answer_from(
        file,
        record,
        policy=policy,
        fhir=fhir,
        record_type=record_type,
        what="summary",
        data_dir=data_dir,
    )
    with signed_in(api, data_dir, wallet) as (client, _, _):
        referral = client.referral(rid)
        done, _ = step_with_answer(
            client,
            answer,
            lambda record_id: client.complete_referral(rid, record_id),
            patient=referral.patient,
            reader=referral.requester,
        )
    _stepped(done, "completed")


@referral_app.command("cancel")
@cli_errors
def cancel(
    referral_id: str = ReferralArg,
    reason: str | None = typer.Option(None, "--reason", help="A short reason code."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Cancel a referral I sent, before it is accepted.

    Example: medledger referral cancel 0x5b…c0 --reason patient_declined
    """
    rid = _id(referral_id, data_dir)
    if reason is not None:
        check.reason_code(reason)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        _stepped(client.cancel_referral(rid, reason), "cancelled")


@referral_app.command("list")
@cli_errors
def list_referrals(
    direction: str = typer.Option(
        "both", "--direction", help="incoming, outgoing or both (for my institution)."
    ),
    state: str | None = typer.Option(None, "--state", help=f"One of: {', '.join(STATES)}."),
    institution: str | None = typer.Option(
        None, "--institution", help="Institution code or id [mine]."
    ),
    patient: str | None = typer.Option(None, "--patient", help="Only this patient's."),
    limit: int = typer.Option(50, "--limit", min=1, max=200, help="At most this many."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """The work list: referrals to and from my institution (a patient sees their own).

    Example: medledger referral list --direction incoming --state open
    """
    if direction not in ("incoming", "outgoing", "both"):
        raise CliError(f"--direction must be incoming, outgoing or both, got {direction!r}")
    if state is not None:
        check.one_of(state, STATES, "--state")
    owner = check.address_or_wallet(patient, "--patient", data_dir) if patient else None
    with signed_in(api, data_dir, wallet) as (client, _, _):
        page = client.referrals(
            institution=institution, direction=direction, state=state, patient=owner, limit=limit
        )
    remember(data_dir, "referral", [item.referral_id for item in page.items])
    if as_json:
        print_json_lines(page.items)
        return
    columns = (
        Column("referral id", kind="id", wrap=False),
        Column("state", wrap=False),
        Column("from", wrap=False),
        Column("to", wrap=False),
        Column("dept"),
        Column("urgency", drop=4),
        Column("patient", kind="address", drop=3, wrap=False),
        Column("records", drop=5, justify="right"),
    )
    rows = [
        [
            item.referral_id,
            item.state,
            str(item.from_institution),
            str(item.to_institution),
            item.department or "-",
            item.urgency or "-",
            item.patient,
            str(len(item.record_ids)),
        ]
        for item in page.items
    ]
    title = f"referrals ({len(page.items)} of {page.total})"
    plain().print(fit_table(columns, rows, title=title))


@referral_app.command("show")
@cli_errors
def show(
    referral_id: str = ReferralArg,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonOption,
) -> None:
    """One referral: its parties, records, state and history (each step with its tx hash).

    Example: medledger referral show 0x5b…c0
    """
    rid = _id(referral_id, data_dir)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        item = client.referral(rid)
    remember(data_dir, "referral", [item.referral_id])
    remember(data_dir, "record", [item.reason_record_id, *item.record_ids, item.summary_record_id])
    if as_json:
        typer.echo(json.dumps(item.raw))
        return
    rows = [
        ("referral", item.referral_id),
        ("state", item.state),
        ("patient", item.patient),
        ("requester", item.requester),
        ("from → to", f"institution {item.from_institution} → {item.to_institution}"),
        ("department", item.department or "-"),
        ("urgency", item.urgency or "-"),
        ("audience", item.audience_policy or "-"),
        ("letter", item.reason_record_id or "-"),
        ("records", listed(item.record_ids)),
        ("consents", listed(item.consent_ids)),
        ("summary", item.summary_record_id or "-"),
        ("closing reason", item.closing_reason or "-"),
    ]
    out = plain()
    out.print(fields_table(rows, title=f"referral {short(item.referral_id)}"))
    out.print(history_table(item.history, title="history"))


# ----------------------------------------------------------------------------- output


def _stepped(item: ReferralInfo, verb: str) -> None:
    tx, block = latest_step(item)
    _said(item, f"referral {item.referral_id} {verb}", tx, block)


def _said(item: ReferralInfo, headline: str, tx: str, block: int) -> None:
    out = plain()
    out.print(headline)
    out.print(
        f"state {item.state}; institution {item.from_institution} → {item.to_institution}, "
        f"{item.department or '?'}, {item.urgency or '?'}; "
        f"{plural(len(item.record_ids), 'record')} of {item.patient}"
    )
    if item.summary_record_id:
        out.print(f"summary {item.summary_record_id}")
    out.print(f"tx {tx} (block {block})")
