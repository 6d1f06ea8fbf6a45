"""The cached EIP-55 checksum gives eth-utils' answers and errors, for every input form."""

from __future__ import annotations

import os

import pytest
from eth_utils import is_address as reference_is_address
from eth_utils import to_checksum_address as reference

from crypto.addresses import is_address, to_checksum_address


@pytest.mark.parametrize("seed", range(400))
def test_same_checksum_as_eth_utils_in_every_form(seed: int) -> None:
    raw = os.urandom(20) if seed else b"\x00" * 20
    for form in ("0x" + raw.hex(), raw.hex(), "0x" + raw.hex().upper(), reference(raw), raw):
        assert to_checksum_address(form) == reference(form)
        assert is_address(form) == reference_is_address(form)
    wrong = reference(raw)
    wrong = wrong[:2] + wrong[2:].swapcase()
    assert is_address(wrong) == reference_is_address(wrong)


@pytest.mark.parametrize("junk", ["0x12", "", "0x" + "g" * 40, "0x" + "a" * 41, "x" * 42])
def test_bad_input_raises_like_eth_utils(junk: str) -> None:
    with pytest.raises(ValueError, match=r"format|address|hex") as expected:
        reference(junk)
    with pytest.raises(ValueError, match=r"format|address|hex") as got:
        to_checksum_address(junk)
    assert str(got.value) == str(expected.value)
    assert is_address(junk) is False
