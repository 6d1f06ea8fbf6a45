"""Decoding revert data: custom errors by name with typed arguments, built-ins, unknowns."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_api.chain.revert import error_decoder, revert_data_from_rpc_error


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


@settings(max_examples=50, deadline=None)
@given(
    address=st.binary(min_size=20, max_size=20),
    admin=st.binary(min_size=20, max_size=20),
    institution=st.integers(0, 2**32 - 1),
)
def test_custom_error_arguments_round_trip(address: bytes, admin: bytes, institution: int) -> None:
    data = _selector("ConsortiumUnauthorized(address,address)") + encode(
        ["address", "address"], [address, admin]
    )
    decoded = error_decoder().decode(data)
    assert decoded.name == "ConsortiumUnauthorized"
    assert decoded.args == {
        "caller": to_checksum_address(address),
        "admin": to_checksum_address(admin),
    }

    data = _selector("ConsortiumUnknownInstitution(uint32)") + encode(["uint32"], [institution])
    assert error_decoder().decode(data).args == {"institutionId": institution}


@settings(max_examples=50, deadline=None)
@given(length=st.integers(0, 2**256 - 1), maximum=st.integers(0, 2**256 - 1))
def test_batch_error_with_two_arguments(length: int, maximum: int) -> None:
    data = _selector("RecordRegistryInvalidBatch(uint256,uint256)") + encode(
        ["uint256", "uint256"], [length, maximum]
    )
    decoded = error_decoder().decode(data)
    assert (decoded.name, decoded.args) == (
        "RecordRegistryInvalidBatch",
        {"length": length, "max": maximum},
    )
    exc = decoded.exception(tx_hash="0xabc")
    assert exc.error_name == "RecordRegistryInvalidBatch"
    assert f"length={length!r}" in str(exc)
    assert "0xabc" in str(exc)


def test_builtin_error_and_panic() -> None:
    message = error_decoder().decode(_selector("Error(string)") + encode(["string"], ["no"]))
    assert (message.name, message.args) == ("Error", {"message": "no"})
    panic = error_decoder().decode(_selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert panic.name == "Panic"
    assert panic.args == {"code": 0x11, "reason": "arithmetic overflow or underflow"}


def test_unknown_selector_and_garbage_are_not_guessed() -> None:
    assert error_decoder().decode(bytes.fromhex("deadbeef")).name == "UnknownError_0xdeadbeef"
    truncated = _selector("ConsortiumUnauthorized(address)") + b"\x00" * 5
    assert error_decoder().decode(truncated).name.startswith("UnknownError_0x")
    assert error_decoder().decode(b"").name == "EmptyRevert"


def test_every_contract_error_is_known() -> None:
    known = set(error_decoder().known())
    assert {
        "RecordRegistryDuplicateId",
        "ConsentManagerInvalidSignature",
        "AccessLogUnauthorized",
        "WorkflowInvalidTransition",
        "ConsortiumNotMember",
    } <= known


def test_revert_data_is_found_in_rpc_errors() -> None:
    assert revert_data_from_rpc_error({"code": 3, "message": "x", "data": "0x01ab"}) == b"\x01\xab"
    nested = {"code": -32000, "message": "x", "data": {"data": "0xff"}}
    assert revert_data_from_rpc_error(nested) == b"\xff"
    assert revert_data_from_rpc_error({"code": -32000, "message": "execution reverted"}) == b""
    assert revert_data_from_rpc_error({"code": -32601, "message": "method not found"}) is None
