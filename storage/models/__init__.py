"""SQLAlchemy 2.0 models of the relational index (schema created only by migrations).

See :mod:`storage.models.types` for how addresses, hashes and times are stored.
"""

from storage.models.auth import ApiSession, SiweNonce
from storage.models.base import NAMING_CONVENTION, Base
from storage.models.cursor import IndexerCursor
from storage.models.identity import Institution, KeyIssuance, Member, MemberAttribute
from storage.models.records import RECORD_STATES, AccessEvent, Consent, Record
from storage.models.types import (
    INT64_MAX,
    ZERO_ADDRESS,
    ZERO_BYTES32,
    clamp_uint64,
    to_address,
    to_bytes32,
    to_uint256_text,
)
from storage.models.workflow import (
    WORKFLOW_KINDS,
    Consultation,
    ConsultationOpinion,
    ConsultationParticipant,
    Referral,
    WorkflowTransition,
)

__all__ = [
    "INT64_MAX",
    "NAMING_CONVENTION",
    "RECORD_STATES",
    "WORKFLOW_KINDS",
    "ZERO_ADDRESS",
    "ZERO_BYTES32",
    "AccessEvent",
    "ApiSession",
    "Base",
    "Consent",
    "Consultation",
    "ConsultationOpinion",
    "ConsultationParticipant",
    "IndexerCursor",
    "Institution",
    "KeyIssuance",
    "Member",
    "MemberAttribute",
    "Record",
    "Referral",
    "SiweNonce",
    "WorkflowTransition",
    "clamp_uint64",
    "to_address",
    "to_bytes32",
    "to_uint256_text",
]
