"""The MedLedger Python SDK: what a hospital's programs import to share and read records.

``from clients.sdk import MedLedgerClient`` is the entry point: one client per account and
API, with records, consents, workflows, the timeline, re-keying, epochs and break-glass as its
methods. The other public names are the values it returns and the errors it raises, plus the
wallet store, FHIR validation and lab-CSV conversion a hospital's import scripts use.

Names are loaded on first use (PEP 562), so that a program importing one error class or the
wallet store does not pay for the whole client (eth-account, the pairing library, httpx): the
command line's start-up time depends on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients.sdk.client import SIWE_STATEMENT, MedLedgerClient
    from clients.sdk.emergency import BreakGlassOpening
    from clients.sdk.errors import (
        ApiError,
        ApiUnavailableError,
        ClientError,
        DecryptionError,
        FhirValidationError,
        IntegrityError,
        NotAllowedError,
        NotFoundError,
        PatientKeyNotRegisteredError,
        UnauthorizedError,
        WalletError,
        WalletNotFoundError,
        WrongPasswordError,
    )
    from clients.sdk.fhir import FhirDocument, validate_resource
    from clients.sdk.lab_csv import convert_file
    from clients.sdk.models import ChainInfo, ConsentReceipt, FetchResult, Page, RecordInfo
    from clients.sdk.outbox import Outbox, OutboxEntry, OutboxError
    from clients.sdk.policies import record_policy_v3
    from clients.sdk.timeline import OpenedRecord, TimelineItem
    from clients.sdk.wallet import Wallet, WalletStore
    from clients.sdk.workflow_models import ConsultationInfo, ReferralInfo

__all__ = [
    "SIWE_STATEMENT",
    "ApiError",
    "ApiUnavailableError",
    "BreakGlassOpening",
    "ChainInfo",
    "ClientError",
    "ConsentReceipt",
    "ConsultationInfo",
    "DecryptionError",
    "FetchResult",
    "FhirDocument",
    "FhirValidationError",
    "IntegrityError",
    "MedLedgerClient",
    "NotAllowedError",
    "NotFoundError",
    "OpenedRecord",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "Page",
    "PatientKeyNotRegisteredError",
    "RecordInfo",
    "ReferralInfo",
    "TimelineItem",
    "UnauthorizedError",
    "Wallet",
    "WalletError",
    "WalletNotFoundError",
    "WalletStore",
    "WrongPasswordError",
    "convert_file",
    "record_policy_v3",
    "validate_resource",
]

_ERRORS = {
    "ApiError",
    "ApiUnavailableError",
    "ClientError",
    "DecryptionError",
    "FhirValidationError",
    "IntegrityError",
    "NotAllowedError",
    "NotFoundError",
    "PatientKeyNotRegisteredError",
    "UnauthorizedError",
    "WalletError",
    "WalletNotFoundError",
    "WrongPasswordError",
}


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` when it is first asked for."""
    if name in _ERRORS:
        from clients.sdk import errors as module
    elif name in {"MedLedgerClient", "SIWE_STATEMENT"}:
        from clients.sdk import client as module
    elif name in {"ChainInfo", "ConsentReceipt", "FetchResult", "Page", "RecordInfo"}:
        from clients.sdk import models as module
    elif name in {"Wallet", "WalletStore"}:
        from clients.sdk import wallet as module
    elif name in {"FhirDocument", "validate_resource"}:
        from clients.sdk import fhir as module
    elif name in {"OpenedRecord", "TimelineItem"}:
        from clients.sdk import timeline as module
    elif name in {"ConsultationInfo", "ReferralInfo"}:
        from clients.sdk import workflow_models as module
    elif name in {"Outbox", "OutboxEntry", "OutboxError"}:
        from clients.sdk import outbox as module
    elif name == "BreakGlassOpening":
        from clients.sdk import emergency as module
    elif name == "convert_file":
        from clients.sdk import lab_csv as module
    elif name == "record_policy_v3":
        from clients.sdk import policies as module
    else:
        raise AttributeError(f"module 'clients.sdk' has no attribute {name!r}")
    return getattr(module, name)
