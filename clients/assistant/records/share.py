"""Share a checked record through the SDK, like any other record.

The document goes through :meth:`clients.sdk.MedLedgerClient.share_fhir`: validated again on
the client, encrypted under the policy (with the patient's own clause), stored as blocks and
registered on chain. Nothing here talks to the API directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clients.assistant.records.document import build_document
from clients.assistant.records.form import OutpatientRecord, parse_form

if TYPE_CHECKING:  # the SDK's public names (stable across the clients/ restructure)
    from clients.sdk import MedLedgerClient, RecordInfo


def share_record(
    client: MedLedgerClient,
    form: OutpatientRecord | dict[str, Any],
    *,
    patient: str,
    policy: str,
) -> RecordInfo:
    """Check the form, build its FHIR document and share it for ``patient`` under ``policy``.

    A refused form raises :class:`~clients.assistant.errors.RecordFormError` before anything is
    encrypted or sent; errors of the share itself are the SDK's."""
    document = build_document(parse_form(form))
    return client.share_fhir(document, patient=patient, policy=policy)
