"""SQLAlchemy 2.0 models of the relational index (schema created only by migrations).

See :mod:`storage.models.types` for how addresses, hashes and times are stored.
"""

from storage.models.auth import ApiSession, SiweNonce
from storage.models.base import NAMING_CONVENTION, Base
from storage.models.cluster import RELAYED_STATES, IndexedBlock, Lease, RelayedCall, Unhealed
from storage.models.cursor import IndexerCursor
from storage.models.emergency import BreakGlassEvent
from storage.models.identity import ROLES, Institution, KeyIssuance, Member, MemberAttribute
from storage.models.limits import RateLimitHit
from storage.models.marketplace import (
    VERSION_STATUSES,
    MarketplaceAdministrator,
    MarketplaceApp,
    MarketplaceInstall,
    MarketplaceManifest,
    MarketplaceRating,
    MarketplaceStatusEvent,
    MarketplaceVendor,
    MarketplaceVersion,
    MarketplaceVote,
)
from storage.models.records import (
    RECORD_STATES,
    RECORD_STATUSES,
    AccessEvent,
    Consent,
    ReadRequest,
    Record,
    RetainedBlock,
)
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
    CONSULTATION_STATES,
    REFERRAL_STATES,
    WORKFLOW_KINDS,
    Consultation,
    ConsultationInvitation,
    ConsultationOpinion,
    Referral,
    WorkflowTransition,
)

__all__ = [
    "CONSULTATION_STATES",
    "INT64_MAX",
    "NAMING_CONVENTION",
    "RECORD_STATES",
    "RECORD_STATUSES",
    "REFERRAL_STATES",
    "RELAYED_STATES",
    "ROLES",
    "VERSION_STATUSES",
    "WORKFLOW_KINDS",
    "ZERO_ADDRESS",
    "ZERO_BYTES32",
    "AccessEvent",
    "ApiSession",
    "Base",
    "BreakGlassEvent",
    "Consent",
    "Consultation",
    "ConsultationInvitation",
    "ConsultationOpinion",
    "IndexedBlock",
    "IndexerCursor",
    "Institution",
    "KeyIssuance",
    "Lease",
    "MarketplaceAdministrator",
    "MarketplaceApp",
    "MarketplaceInstall",
    "MarketplaceManifest",
    "MarketplaceRating",
    "MarketplaceStatusEvent",
    "MarketplaceVendor",
    "MarketplaceVersion",
    "MarketplaceVote",
    "Member",
    "MemberAttribute",
    "RateLimitHit",
    "ReadRequest",
    "Record",
    "Referral",
    "RelayedCall",
    "RetainedBlock",
    "SiweNonce",
    "Unhealed",
    "WorkflowTransition",
    "clamp_uint64",
    "to_address",
    "to_bytes32",
    "to_uint256_text",
]
