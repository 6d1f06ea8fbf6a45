"""What the demo's acts share: the scene of one run of the story, and its outcome.

The acts (:mod:`~clients.demo.clinicians`, :mod:`~clients.demo.audit`,
:mod:`~clients.demo.referrals`, …) take a :class:`Scene` and the story's driver
(:mod:`~clients.demo.story`) runs them in order; the type lives here, below both, so the acts
never import the story that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from clients.demo import cast
from clients.demo.report import Reporter
from clients.demo.stack import LocalStack
from clients.sdk.authorities import MemberKey
from clients.sdk.client import MedLedgerClient
from clients.sdk.wallet import WalletStore
from ledger_api.chain.connection import connect

ADMIN = "联盟管理员 consortium admin"
PATIENT = cast.PATIENT_LABEL


class StoryAbortedError(Exception):
    """A step failed in a way that leaves nothing for the next steps to work on."""


@dataclass
class Outcome:
    """What the story did, for ``--json`` and the e2e test (which re-checks it on chain)."""

    patient: str = ""
    patient_wallet: str = ""
    clinicians: dict[str, str] = field(default_factory=dict)
    institutions: dict[str, int] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    consent: dict[str, Any] = field(default_factory=dict)
    revocation: dict[str, Any] = field(default_factory=dict)
    denied_reads: dict[str, Any] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)
    referrals: list[dict[str, Any]] = field(default_factory=list)
    consultation: dict[str, Any] = field(default_factory=dict)
    gateway_record: str | None = None  # the county gateway's lab result
    authorities: list[dict[str, Any]] = field(default_factory=list)  # one per institution
    emergency_key: dict[str, Any] = field(default_factory=dict)  # the DKG round
    patient_key: dict[str, Any] = field(default_factory=dict)
    key_issued: dict[str, Any] = field(default_factory=dict)  # who → their KeyIssued event
    emergency: dict[str, Any] = field(default_factory=dict)  # the break-glass opening


class Scene:
    """The state a run of the story shares with its acts: the stack, the reporter, who is
    who, and what was shared so far. :class:`~clients.demo.story.Story` adds the driver."""

    def __init__(self, stack: LocalStack, reporter: Reporter, *, timeout: float = 60.0) -> None:
        self.stack = stack
        self.report = reporter
        self.timeout = timeout
        self.outcome = Outcome()
        self.w3: Web3 = connect(stack.rpc_url, expected_chain_id=stack.deployment.chain_id)
        self.wallets = WalletStore(stack.data_dir)
        self.accounts: dict[str, LocalAccount] = {}
        self.plaintexts: dict[str, bytes] = {}  # record id → what the patient shared
        self.documents: dict[str, bytes] = {}  # record id → a workflow document's bytes
        self.keys: dict[str, MemberKey] = {}  # keys from the members' own authorities
        self.first_block = 0
        reporter.alias(ADMIN, "admin")
        reporter.alias(PATIENT, "patient")
        for person in cast.CLINICIANS:
            reporter.alias(person.label, person.short)

    def client_for(self, who: str) -> MedLedgerClient:
        return MedLedgerClient(self.stack.api_url, account=self.accounts[who], timeout=self.timeout)

    def fail(self, actor: str, action: str, expected: str, exc: BaseException) -> StoryAbortedError:
        """Record ``exc`` as this step's observation; the story cannot go on without it."""
        message = " ".join(str(exc).split()) or type(exc).__name__
        self.report.step(actor, action, expected=expected, observed=f"error: {message}", ok=False)
        return StoryAbortedError(message)
