"""Shared by the referral and consultation CLI tests: wallets, invocation, output checks."""

from __future__ import annotations

from pathlib import Path

from clients.sdk import MedLedgerClient
from tests.clients import support
from tests.clients.conftest import LiveStack
from tests.clients.support import RECORD_ID, found, ok, one_error_line

__all__ = ["Cli", "found", "ok", "one_error_line"]


class Cli(support.Cli):
    """The CLI of :mod:`tests.clients.support` for the workflow stories: the patient and two
    doctors, sharing records as the story needs them. The patient's own key is registered on
    chain first (``patient register-key``): a doctor's share for them carries its slot."""

    def __init__(self, live: LiveStack, data_dir: Path) -> None:
        super().__init__(live, data_dir, people=("patient", "cardiologist", "gp"))
        ok(self("patient", "register-key", wallet="patient"))

    def share(self, path: Path, policy: str, *, wallet: str = "gp") -> str:
        """A record of the stack's patient shared by ``wallet``; its id."""
        patient = self.live.stack.patient.address
        out = ok(self("patient", "share", str(path), "--patient", patient, "--policy", policy,
                      wallet=wallet))  # fmt: skip
        return found(RECORD_ID, out)

    def patient_records(self) -> int:
        stack = self.live.stack
        with MedLedgerClient(self.live.url, account=stack.patient) as client:
            return len(list(client.iter_records(stack.patient.address)))
