"""The emergency key's public part (as the chain stores it) and an authority's share file."""

from __future__ import annotations

import pytest

from crypto.errors import GroupElementError, ThresholdFormatError, WrongPassphraseError
from crypto.groups_native import OFF_SUBGROUP_G1
from crypto.threshold.keys import EmergencyPublicKey, SecretShare
from tests.crypto.threshold.support import dealt_key


def test_public_key_round_trips_and_checks_points() -> None:
    key, _, _ = dealt_key(2, 4, key_round=3)
    again = EmergencyPublicKey.from_parts(
        key_round=3, t=2, h=key.h_bytes(), verification_keys=key.verification_keys_bytes()
    )
    assert again == key
    assert EmergencyPublicKey.from_bytes(key.to_bytes()) == key
    with pytest.raises(GroupElementError):
        EmergencyPublicKey.from_parts(
            key_round=3, t=2, h=OFF_SUBGROUP_G1, verification_keys=key.verification_keys_bytes()
        )
    with pytest.raises(ThresholdFormatError):
        EmergencyPublicKey.from_parts(
            key_round=3, t=2, h=key.h_bytes(), verification_keys=key.verification_keys_bytes()[:-1]
        )
    with pytest.raises(ThresholdFormatError):  # t above n
        EmergencyPublicKey.from_parts(
            key_round=3, t=5, h=key.h_bytes(), verification_keys=key.verification_keys_bytes()
        )
    with pytest.raises(ThresholdFormatError):
        EmergencyPublicKey.from_bytes(b"\xa0")


def test_share_file_opens_only_with_its_passphrase_and_matches_its_key() -> None:
    key, shares, _ = dealt_key(2, 3)
    blob = shares[1].encrypt("pass phrase")
    opened = SecretShare.decrypt(blob, "pass phrase")
    assert opened == shares[1]
    assert opened.matches(key)
    assert not SecretShare(key_round=1, index=3, x=shares[1].x).matches(key)
    assert not SecretShare(key_round=2, index=2, x=shares[1].x).matches(key)
    with pytest.raises(WrongPassphraseError):
        SecretShare.decrypt(blob, "wrong")
