"""Who is calling: the session's address plus what ``Consortium`` says about it right now.

Roles and attributes are read from the chain (not from the session) so that suspending a
member takes effect within the principal cache window, not at the next login. A suspended
member keeps their address but loses their role: they are treated like a patient, with no
member rights (they can still see their own chart, as any patient can).
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.addresses import to_checksum_address
from crypto.attributes import check_member_attribute
from crypto.errors import CryptoError

ROLES = ("patient", "doctor", "nurse", "auditor", "key_authority", "relayer", "gateway")
CLINICAL_ROLES = ("doctor", "nurse")


@dataclass(frozen=True, kw_only=True)
class Principal:
    address: str  # checksummed
    role: str  # one of ROLES; "patient" for anyone without an active Consortium role
    institution_id: int = 0
    institution_code: str | None = None
    attributes: tuple[str, ...] = ()
    active: bool = False
    is_consortium_admin: bool = False
    is_institution_admin: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        object.__setattr__(self, "address", to_checksum_address(self.address))

    @property
    def is_member(self) -> bool:
        """An active member of the consortium with a role (suspended members are not)."""
        return self.active and self.role != "patient"

    @property
    def is_clinician(self) -> bool:
        return self.is_member and self.role in CLINICAL_ROLES

    def refused_attributes(self) -> list[str]:
        """Admin-set attributes the protocol refuses (a reserved namespace such as ``org:`` or
        ``epoch:``, upper case, non-ASCII): ``Consortium`` refuses them on enrolment, so any
        found here predates that rule or was forged; the API refuses them again."""
        refused = []
        for attribute in self.attributes:
            try:
                check_member_attribute(attribute)
            except CryptoError:
                refused.append(attribute)
        return refused

    def abe_attributes(self) -> tuple[str, ...]:
        """The attributes of this caller's FAME key (the policy universe).

        Members get Consortium's attributes plus ``role:`` and ``org:``; everyone gets
        ``uid:<address>``, which every record policy ORs in for its patient. An admin-set
        attribute the protocol refuses (:meth:`refused_attributes`) counts for nothing: never
        folded into another, never a second ``org:`` or ``epoch:``.
        """
        attrs: list[str] = []
        if self.is_member:
            refused = set(self.refused_attributes())
            attrs += [a for a in self.attributes if a not in refused]
            attrs.append(f"role:{self.role}")
            if self.institution_code:
                attrs.append(f"org:{self.institution_code.casefold()}")
        attrs.append(f"uid:{self.address.lower()}")
        seen: dict[str, None] = dict.fromkeys(attrs)
        return tuple(seen)
