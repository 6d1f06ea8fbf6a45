"""``medledger patient sign-consent``: the patient's consent for a referral or consultation,
signed on the patient's machine and handed to the doctor as a file.

A referral or consultation is created by a doctor, but it carries the patient's EIP-712
consents (purpose ``referral`` or ``consultation``) naming the audience policy — the receiving
department, or the invited institutions. The patient signs them here with their own wallet
and writes them to a JSON file; the doctor passes the file to ``referral create`` or
``consult create``. The file holds signatures, never the patient's key.

:func:`load_consent_file` and :func:`check_consent_file` are what the doctor's commands use to
refuse a file that does not fit the workflow (another patient, purpose, policy, chain, or
records it does not cover) before anything is sent.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer

from clients.cli import checks as check
from clients.cli.common import (
    EXIT_NOT_FOUND,
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    ensure_parent,
    plain,
    plural,
    unlock,
)
from clients.cli.ids import resolve
from clients.sdk import MedLedgerClient
from clients.sdk.errors import ClientError
from clients.sdk.workflow_models import WorkflowConsents
from clients.sdk.workflows import consultation_audience, referral_audience
from crypto.errors import SigningError
from crypto.signing import Domain, recover

WORKFLOW_PURPOSES = ("referral", "consultation")


def audience_for(
    purpose: str, *, policy: str | None, orgs: list[str], dept: str | None, invited: str | None
) -> str:
    """The audience policy from the options: ``--policy`` as given, else built from
    ``--org``/``--dept`` (referral) or ``--org``…/``--invited-policy`` (consultation)."""
    if policy is not None:
        if orgs or dept or invited:
            raise CliError("give --policy alone, or build it with --org/--dept/--invited-policy")
        check.policy(policy)
        return policy
    if purpose == "referral":
        if invited is not None:
            raise CliError("--invited-policy is for consultations; a referral names --dept")
        if len(orgs) != 1 or not dept:
            raise CliError("a referral consent names one --org CODE and its --dept DEPARTMENT")
        return referral_audience(orgs[0], dept)
    if dept is not None:
        raise CliError("--dept is for referrals; a consultation names --invited-policy")
    return consultation_audience(orgs, invited)


@cli_errors
def sign_consent(
    purpose: str = typer.Option(..., "--purpose", help="referral or consultation."),
    output: Path = typer.Option(..., "--output", "-o", help="Write the signed consents here."),  # noqa: B008
    org: list[str] = typer.Option(  # noqa: B008
        [], "--org", help="Receiving (referral) or invited (consultation) institution code."
    ),
    dept: str | None = typer.Option(None, "--dept", help="Receiving department (referral)."),
    invited_policy: str | None = typer.Option(
        None, "--invited-policy", help="Policy of the invited specialists (consultation)."
    ),
    policy: str | None = typer.Option(
        None, "--policy", help="The audience policy itself, instead of --org/--dept."
    ),
    record: list[str] = typer.Option(  # noqa: B008
        [], "--record", help="A record the workflow carries (repeat for each)."
    ),
    whole_chart: bool = typer.Option(
        False, "--whole-chart", help="Consent for my whole chart instead of --record ids."
    ),
    days: int = typer.Option(30, "--days", min=1, max=365, help="Valid for this many days."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Sign my consent for a referral or consultation and write it to a file for the doctor.

    The consent names the receiving department (referral: --org and --dept) or the invited
    institutions and specialists (consultation: --org … and/or --invited-policy), and the
    records the doctor sends along. Only signatures go into the file, never my key. The API
    is asked for the chain's signing domain only; nothing is sent.

    Example: medledger patient sign-consent --purpose referral --org cd3h --dept cardiology
    --record 0x3f…a1 -o consent.json
    """
    wanted = check.purpose(purpose)
    if wanted not in WORKFLOW_PURPOSES:
        raise CliError(f"--purpose must be referral or consultation, got {purpose!r}")
    audience = audience_for(wanted, policy=policy, orgs=org, dept=dept, invited=invited_policy)
    if whole_chart == bool(record):
        raise CliError("name the records with --record ID (repeat), or give --whole-chart")
    ids = [resolve(r, "record id", kind="record", data_dir=data_dir) for r in record]
    if output.exists() and not force:
        raise CliError(f"{output} exists; use --force to overwrite it")
    ensure_parent(output)
    _, account, _ = unlock(data_dir, wallet)
    with MedLedgerClient(api, account=account) as client:
        signed = client.sign_workflow_consents(
            purpose=wanted, audience_policy=audience, record_ids=ids, expires_in=days * 86_400
        )
    _write_json(output, signed)
    what = "my whole chart" if signed.whole_chart else plural(len(ids), "record")
    out = plain()
    out.print(f"signed {plural(len(signed.consents), 'consent')} of {signed.patient}")
    out.print(f"for {wanted} by {signed.audience_policy!r}, covering {what}, {days} days")
    out.print(f"wrote {output}: give it to the doctor (it holds signatures, not your key)")


def _write_json(path: Path, signed: WorkflowConsents) -> None:
    """Write the file whole or not at all (temp file in the same directory, then rename)."""
    text = json.dumps(signed.to_json(), indent=2) + "\n"
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_consent_file(path: Path) -> WorkflowConsents:
    """Read and parse a file written by ``patient sign-consent`` (one-line errors)."""
    if not path.is_file():
        raise CliError(f"no such consent file: {path}", exit_code=EXIT_NOT_FOUND)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    try:
        return WorkflowConsents.from_json(data)
    except ClientError as exc:
        raise CliError(f"{path}: {exc}") from None


def check_consent_file(
    signed: WorkflowConsents,
    *,
    path: Path,
    purpose: str,
    patient: str,
    audience: str | None,
    record_ids: list[str],
    hint: str,
) -> None:
    """Refuse a consent file that does not fit the workflow about to be created.

    ``audience`` is None when it cannot be known here (an institution given by id); the API
    then checks it. ``hint`` is the ``sign-consent`` options the patient should use."""
    if signed.purpose.name.lower() != purpose:
        raise CliError(f"{path} is a {signed.purpose.name.lower()} consent, not a {purpose} one")
    if signed.patient.lower() != patient.lower():
        raise CliError(f"{path} is signed for patient {signed.patient}, not {patient}")
    if audience is not None and signed.audience_policy != audience:
        raise CliError(
            f"{path} consents to {signed.audience_policy!r}, but this {purpose} needs "
            f"{audience!r}: ask the patient to sign again "
            f"(medledger patient sign-consent --purpose {purpose} {hint})"
        )
    missing = signed.covers(record_ids)
    if missing:
        raise CliError(f"{path} does not cover record {missing[0]}: ask the patient to add it")


def check_signatures(signed: WorkflowConsents, *, path: Path, domain: Domain) -> None:
    """Each consent is signed by the patient in this API's chain domain."""
    if (signed.chain_id, signed.verifying_contract.lower()) != (
        domain.chain_id,
        domain.verifying_contract.lower(),
    ):
        raise CliError(
            f"{path} was signed for chain {signed.chain_id} / {signed.verifying_contract}, "
            f"not this API's chain {domain.chain_id} / {domain.verifying_contract}"
        )
    for consent, signature in signed.signed():
        try:
            signer = recover(domain, consent, signature)
        except SigningError as exc:
            raise CliError(f"{path}: {exc}") from None
        if signer.lower() != signed.patient.lower():
            raise CliError(f"{path}: a consent is not signed by the patient {signed.patient}")
