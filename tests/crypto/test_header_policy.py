"""``header_policy``: the policy of a stored header without decoding its group elements."""

from __future__ import annotations

import cbor2
import pytest

from crypto import envelope, fame
from crypto.envelope.header import header_policy
from crypto.errors import EnvelopeFormatError


def test_policy_of_a_real_header_and_refusals() -> None:
    mpk, _ = fame.setup()
    record, _ = envelope.encrypt_bytes(b"x", mpk=mpk, policy="dept:cardiology or uid:0xab")
    assert header_policy(record.header_bytes) == envelope.parse_header(record.header_bytes).policy
    with pytest.raises(EnvelopeFormatError, match="not valid CBOR"):
        header_policy(b"\xff\x00")
    with pytest.raises(EnvelopeFormatError, match="no policy"):
        header_policy(cbor2.dumps({"v": 1}))
    with pytest.raises(EnvelopeFormatError, match="no policy"):
        header_policy(cbor2.dumps([1, 2]))
