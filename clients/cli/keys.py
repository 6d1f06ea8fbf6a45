"""The key a command reads or re-keys records with: per institution, never a central one.

No single key escrow (``docs/key-authorities.md``): a member's FAME key comes from their own
institution's authority and opens only that institution's slots of a record (so it travels
with the institution's number, :class:`~clients.sdk.authorities.MemberKey`); a patient opens
their own records with the X25519 key derived from their wallet, no authority involved.

``doctor key`` keeps the member's key beside the wallet (the wallet store keeps the bare FAME
key); :func:`reading_key` gives it back with its institution, which it finds from the key's
own ``org:<code>`` attribute (an authority only issues its own institution's code) and the
on-chain directory, so a saved key never needs the authority again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clients.cli.common import CliError, wallet_store
from clients.sdk.authorities import MemberKey
from clients.sdk.errors import WalletError, WrongPasswordError

if TYPE_CHECKING:
    from clients.sdk import MedLedgerClient
    from clients.sdk.wallet import Wallet
    from crypto.fame_types import UserKey
    from crypto.patient_key import PatientKey


def as_member_key(client: MedLedgerClient, key: UserKey) -> MemberKey | None:
    """``key`` with the institution whose authority issued it (its ``org:`` attribute),
    or None when no institution of the directory matches."""
    codes = {a.split(":", 1)[1] for a in key.attributes if a.startswith("org:")}
    for entry in client.authority_directory():
        if entry.code in codes and entry.registered:
            return MemberKey(
                institution=entry.institution,
                key=key,
                attributes=tuple(sorted(key.attributes)),
                tx_hash="",
            )
    return None


def reading_key(
    client: MedLedgerClient, chosen: Wallet, secret: str, data_dir: str | None
) -> tuple[MemberKey | PatientKey, bool]:
    """The member key saved by ``doctor key`` (and True), else the key this account reads
    with, fetched for this run from its own institution's authority, or for a patient their
    own derived key (and False)."""
    try:
        saved = wallet_store(data_dir).load_user_key(chosen.name, secret)
    except WrongPasswordError:
        raise
    except WalletError:
        saved = None
    if saved is not None:
        member = as_member_key(client, saved)
        if member is not None:
            return member, True
    return own_key(client), False


def own_key(client: MedLedgerClient) -> MemberKey | PatientKey:
    """A member's key from their own institution's authority; a patient's own key."""
    key = client.reader_key()
    if isinstance(key, MemberKey):
        return key
    from crypto.patient_key import PatientKey

    if isinstance(key, PatientKey):
        return key
    raise CliError(
        "no institution runs its own key authority yet: every institution registers one "
        "(`medledger authority init|register|serve`, docs/key-authorities.md)"
    )


__all__ = ["as_member_key", "own_key", "reading_key"]
