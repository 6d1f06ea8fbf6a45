"""What the ``admin`` commands share: the Consortium contract bound to a node and a signer.

Membership is not the API's business: the consortium admin (institutions) and each
institution's admin (its doctors, nurses, auditors) sign their own transactions to the
``Consortium`` contract, with their own key — a wallet keystore, or for the dev chain a key in
an environment variable (``--key-env``; never an argument). A refusal says who may do it,
read from the chain, so the person at the keyboard knows whose key to use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import typer

from clients.cli import checks as check
from clients.cli.common import EXIT_NOT_FOUND, CliError, resolve_data_dir, unlock
from ledger_api.chain.connection import connect
from ledger_api.chain.consortium import Consortium, Role
from ledger_api.chain.contract import Mined, PendingTx
from ledger_api.chain.deploy import Deployment
from ledger_api.chain.errors import DeploymentError, TransactionRevertedError
from ledger_api.chain.relayer import Relayer

KeyEnvOption = typer.Option(
    None,
    "--key-env",
    help="Sign with the private key held in this environment variable (dev chain) "
    "instead of a wallet.",
)

ROLES = {
    "doctor": Role.DOCTOR,
    "nurse": Role.NURSE,
    "auditor": Role.AUDITOR,
    "key_authority": Role.KEY_AUTHORITY,
    "relayer": Role.RELAYER,
}
INSTITUTION_ADMIN = "institution_admin"

# Custom errors of Consortium → what to tell the person at the keyboard.
EXPLAIN = {
    "ConsortiumUnauthorized": "your key may not do this",
    "ConsortiumDuplicateInstitutionCode": "an institution with this code already exists",
    "ConsortiumUnknownInstitution": "no such institution",
    "ConsortiumInstitutionSuspended": "the institution is suspended",
    "ConsortiumInstitutionActive": "the institution is not suspended",
    "ConsortiumAlreadyMember": "the account is already a member",
    "ConsortiumNotMember": "the account is not a member",
    "ConsortiumMemberSuspended": "the member is already suspended",
    "ConsortiumMemberActive": "the member is not suspended",
    "ConsortiumInvalidRole": "this role cannot be given at that institution",
}


class Chain:
    """The Consortium contract bound to a node, optionally with a signer."""

    def __init__(self, consortium: Consortium, deployment: Deployment) -> None:
        self.consortium = consortium
        self.deployment = deployment

    @property
    def signer(self) -> str:
        assert self.consortium.sender is not None  # open_chain(signing=True)
        return self.consortium.sender.address

    def send(self, make: Callable[[], PendingTx], *, institution_id: int | None = None) -> Mined:
        """Send (a revert may be found at gas estimation) and wait until mined.

        ``institution_id``: the institution whose admin may also do this, named in a refusal.
        """
        try:
            return make().wait()
        except TransactionRevertedError as exc:
            raise CliError(self._explain(exc, institution_id)) from None

    def _explain(self, exc: TransactionRevertedError, institution_id: int | None) -> str:
        reason = EXPLAIN.get(exc.error_name)
        if exc.error_name == "ConsortiumUnauthorized":
            admins = f"the consortium admin is {self.consortium.admin()}"
            if institution_id:
                info = self.consortium.institution(institution_id)
                admins += (
                    f", the admin of institution {info.institution_id} {info.code} is {info.admin}"
                )
            return (
                f"your key may not do this ({self.signer} signed): {admins} (read from the "
                "chain); "
                "sign with theirs (--wallet NAME or --key-env VAR) — "
                f"{exc}"
            )
        return f"{reason} — {exc}" if reason else str(exc)


def deployment_path(deployment: str | None, data_dir: str | None) -> Path:
    if deployment:
        return Path(deployment).expanduser()
    return resolve_data_dir(data_dir) / "deployment.json"


def signing_key(data_dir: str | None, wallet: str | None, key_env: str | None) -> bytes | str:
    if key_env is not None:
        value = os.environ.get(key_env)
        if not value:
            raise CliError(f"environment variable {key_env} is unset or empty")
        return value.strip()
    _, account, _ = unlock(data_dir, wallet)
    return bytes(account.key)


def open_chain(
    *,
    rpc: str,
    deployment: str | None,
    data_dir: str | None,
    wallet: str | None = None,
    key_env: str | None = None,
    signing: bool = True,
) -> Chain:
    """Deployment file → node (chain id checked) → Consortium, with a sender if ``signing``."""
    path = deployment_path(deployment, data_dir)
    try:
        loaded = Deployment.load(path)
    except DeploymentError as exc:
        if path.exists():
            raise
        raise CliError(
            f"{exc}: start the dev chain with `medledger node up` (it deploys the contracts "
            "and writes this file), or give your network's file with --deployment",
            exit_code=EXIT_NOT_FOUND,
        ) from None
    key = signing_key(data_dir, wallet, key_env) if signing else None
    w3 = connect(rpc, expected_chain_id=loaded.chain_id)
    sender = Relayer(w3, key) if key is not None else None
    return Chain(Consortium(w3, loaded.address("Consortium"), sender=sender), loaded)


def institution_id(consortium: Consortium, value: str) -> int:
    """An institution given by id (``2``) or by code (``cd3h``); must exist."""
    if value.isdigit():
        number = int(value)
        if not 1 <= number <= consortium.institution_count():
            raise CliError(f"no institution with id {number}", exit_code=EXIT_NOT_FOUND)
        return number
    number = consortium.institution_id_by_code(value)
    if number == 0:
        raise CliError(
            f"no institution with code {value!r} (see `medledger admin institutions`)",
            exit_code=EXIT_NOT_FOUND,
        )
    return number


def account(value: str, data_dir: str | None, what: str = "ADDRESS") -> str:
    """An address, or the address of a wallet of that name in the data directory."""
    return check.address_or_wallet(value, what, data_dir)


def check_attributes(attributes: list[str]) -> None:
    for value in attributes:
        if ":" not in value or not all(part.strip() for part in value.split(":", 1)):
            raise CliError(f"attribute {value!r} must look like namespace:value (dept:cardiology)")
