"""The fast legacy signer must produce exactly eth-account's bytes (property test)."""

from __future__ import annotations

from eth_account import Account
from eth_keys import keys
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_api.chain.txsign import sign_legacy
from tests.conftest import ANVIL_KEYS

KEY = ANVIL_KEYS[7]
ACCOUNT = Account.from_key(KEY)


@settings(max_examples=60, deadline=None)
@given(
    nonce=st.integers(0, 2**64 - 1),
    gas_price=st.integers(0, 2**80),
    gas=st.integers(21_000, 30_000_000),
    to=st.binary(min_size=20, max_size=20),
    value=st.integers(0, 2**128),
    data=st.binary(max_size=700),
    chain_id=st.sampled_from([1, 1337, 31337, 2**32 - 1]),
)
def test_fast_signer_matches_eth_account(
    nonce: int, gas_price: int, gas: int, to: bytes, value: int, data: bytes, chain_id: int
) -> None:
    address = "0x" + to.hex()
    raw, tx_hash = sign_legacy(
        keys.PrivateKey(bytes(ACCOUNT.key)),
        nonce=nonce,
        gas_price=gas_price,
        gas=gas,
        to=address,
        value=value,
        data=data,
        chain_id=chain_id,
    )
    expected = ACCOUNT.sign_transaction(
        {
            "nonce": nonce,
            "gasPrice": gas_price,
            "gas": gas,
            "to": to_checksum_address(address),
            "value": value,
            "data": data,
            "chainId": chain_id,
        }
    )
    assert raw == "0x" + bytes(expected.raw_transaction).hex()
    assert tx_hash == "0x" + bytes(expected.hash).hex()
    assert Account.recover_transaction(raw) == ACCOUNT.address
