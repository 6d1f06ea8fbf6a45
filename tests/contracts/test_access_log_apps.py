"""AccessLog app entries (issue 21): a read an app asks through the launching user, signed by
the user as an ``AppReadRequest`` and logged as the usual ``AccessLogged`` immediately
followed by ``AppAccessLogged`` (app listing id, hashed OAuth client id). An auditor recovers
the reader from chain data alone, and a relayer that names another app, or pairs an entry
with another entry's app, is caught."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from eth_utils import keccak

from crypto.signing import AppReadRequest, Purpose, ReadPart, client_id_hash, recover
from ledger_api.chain.access_log import (
    AppAccessEntry,
    app_events,
    read_request_of,
    verify_app_read_signature,
    verify_read_signature,
)
from ledger_api.chain.client import ChainClient
from ledger_api.chain.contract import Event
from ledger_api.chain.errors import InvalidChainInputError
from ledger_api.chain.relayer import Relayer
from tests.contracts.helpers import Chain, args, rid, same
from tests.contracts.test_access_log import NOT_RELAYER, entry

APP_ID = keccak(text="app:bp-chart")
OTHER_APP_ID = keccak(text="app:gp-assistant")


def log(chain: Chain):
    return chain.c["AccessLog"].functions


def app_entry(
    chain: Chain,
    reader: str,
    label: str,
    *,
    app_id: bytes = APP_ID,
    client_id: str = "bp-chart",
    granted: bool = True,
    nonce: int = 1,
    reason_code: int = 0,
) -> AppAccessEntry:
    request = AppReadRequest(
        record_id=rid(label),
        part=ReadPart.BODY,
        purpose=Purpose.TREATMENT,
        issued_at=chain.now(),
        nonce=nonce,
        app_id=app_id,
        client_id=client_id_hash(client_id),
    )
    return AppAccessEntry.for_request(
        request,
        chain.sig(reader, request),
        accessor=chain.addr(reader),
        granted=granted,
        reason_code=reason_code,
        justification=keccak(text="consent:" + label) if granted else bytes(32),
    )


@pytest.fixture
def client(chain: Chain) -> ChainClient:
    relayer = Relayer(chain.w3, chain.accounts["relayer"].key)
    return ChainClient.bind(chain.w3, deployment=chain.deployment, relayer=relayer)


def test_log_app_access_emits_the_pair(chain: Chain) -> None:
    e = app_entry(chain, "doctor_a", "a1", nonce=2**64 - 1, reason_code=7)
    receipt = chain.send("relayer", log(chain).logAppAccess(e.as_tuple()))
    access = chain.one_event("AccessLog", "AccessLogged", receipt)
    app = chain.one_event("AccessLog", "AppAccessLogged", receipt)
    assert [log_["logIndex"] for log_ in receipt["logs"]] == [0, 1]
    sig_r, sig_vs = e.entry.as_tuple()[4:]
    assert (access["sigR"], access["sigVs"], access["nonce"]) == (sig_r, sig_vs, 2**64 - 1)
    assert access["reasonCode"] == 7
    assert app == {
        "recordId": rid("a1"),
        "accessor": chain.addr("doctor_a"),
        "appId": APP_ID,
        "clientId": client_id_hash("bp-chart"),
        "nonce": 2**64 - 1,
    }
    # the reader, recovered from chain data alone: the AppReadRequest the user signed
    request = AppReadRequest(
        record_id=access["recordId"],
        part=ReadPart(access["part"]),
        purpose=access["purpose"],
        issued_at=access["issuedAt"],
        nonce=access["nonce"],
        app_id=app["appId"],
        client_id=app["clientId"],
    )
    signature = e.entry.signature
    assert recover(chain.domain("AccessLog"), request, signature) == chain.addr("doctor_a")
    assert log(chain).hashAppReadRequest(args(request)).call() == request.struct_hash()
    assert log(chain).APP_READ_REQUEST_TYPEHASH().call() == AppReadRequest.type_hash()
    # nothing stored: the only slot is still the epoch
    address = chain.c["AccessLog"].address
    assert int.from_bytes(chain.w3.eth.get_storage_at(address, 0), "big") == 1


def test_batch_keeps_each_pair_in_order(chain: Chain, client: ChainClient) -> None:
    readers = ["doctor_a", "doctor_b", "patient"]
    entries = [
        app_entry(
            chain,
            readers[i % 3],
            f"b{i}",
            app_id=APP_ID if i % 2 else OTHER_APP_ID,
            client_id=f"client-{i % 2}",
            granted=i % 4 != 0,
            nonce=100 + i,
        )
        for i in range(7)
    ]
    mined = client.access_log.log_app_access_batch(entries).wait()
    names = [event.name for event in mined.events]
    assert names == ["AccessLogged", "AppAccessLogged"] * 7
    pairs = app_events(mined.events)
    assert len(pairs) == 7
    chain_id = chain.w3.eth.chain_id
    for (access, app), e in zip(pairs, entries, strict=True):
        assert app is not None
        assert app.log_index == access.log_index + 1
        assert bytes(app.args["appId"]) == e.app_id
        assert bytes(app.args["clientId"]) == e.client_id
        assert same(access.args["accessor"], e.entry.accessor)
        request, _ = read_request_of(access, app_event=app)
        assert request == e.request()
        assert verify_app_read_signature(access, app, chain_id=chain_id)
        assert verify_read_signature(access, chain_id=chain_id, app_event=app)
        # read as a plain ReadRequest, an app's signature recovers nobody it names
        assert not verify_read_signature(access, chain_id=chain_id)
    # an entry paired with another entry's app event does not verify, nor does read_request_of
    (first, _), (_, second_app) = pairs[0], pairs[1]
    assert second_app is not None
    assert not verify_app_read_signature(first, second_app, chain_id=chain_id)
    with pytest.raises(InvalidChainInputError, match="does not follow"):
        read_request_of(first, app_event=second_app)


def test_plain_and_app_entries_side_by_side(chain: Chain, client: ChainClient) -> None:
    """app_events pairs only app reads; a plain entry has no partner."""
    plain = client.access_log.log_access(entry(chain, "doctor_b", "p")).wait()
    app = client.access_log.log_app_access(app_entry(chain, "doctor_a", "q")).wait()
    pairs = app_events([*plain.events, *app.events])
    assert [(a.name, b.name if b else None) for a, b in pairs] == [
        ("AccessLogged", None),
        ("AccessLogged", "AppAccessLogged"),
    ]
    chain_id = chain.w3.eth.chain_id
    assert verify_read_signature(pairs[0][0], chain_id=chain_id)
    assert verify_app_read_signature(*pairs[1], chain_id=chain_id)  # type: ignore[arg-type]


def test_a_relayer_naming_another_app_is_caught(chain: Chain, client: ChainClient) -> None:
    """The contract does not verify (gas); the auditor does: the user signed for one app."""
    e = app_entry(chain, "doctor_a", "swap")
    swapped = dataclasses.replace(e, app_id=OTHER_APP_ID)
    mined = client.access_log.log_app_access(swapped).wait()
    ((access, app),) = app_events(mined.events)
    assert app is not None
    assert not verify_app_read_signature(access, app, chain_id=chain.w3.eth.chain_id)
    other_client = dataclasses.replace(e, client_id=client_id_hash("evil"))
    mined = client.access_log.log_app_access(other_client).wait()
    ((access, app),) = app_events(mined.events)
    assert not verify_app_read_signature(access, app, chain_id=chain.w3.eth.chain_id)  # type: ignore[arg-type]


def test_app_batch_bounds(chain: Chain) -> None:
    chain.reverts(
        "relayer", log(chain).logAppAccessBatch([]), "AccessLogInvalidBatch", length=0, max=64
    )
    one = app_entry(chain, "doctor_b", "x").as_tuple()
    chain.reverts(
        "relayer", log(chain).logAppAccessBatch([one] * 65), "AccessLogInvalidBatch", length=65
    )
    receipt = chain.send("relayer", log(chain).logAppAccessBatch([one] * 64))
    assert len(chain.events("AccessLog", "AppAccessLogged", receipt)) == 64


def _spoil_entry(
    index: int, spoil: Callable[[Any], Any]
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Spoils field ``index`` of the packed AccessEntry inside an app entry's tuple."""

    def apply(t: tuple[Any, ...]) -> tuple[Any, ...]:
        inner = list(t[0])
        inner[index] = spoil(inner[index])
        return (tuple(inner), t[1], t[2])

    return apply


MALFORMED_APP = {
    "zero_app_id": lambda t: (t[0], bytes(32), t[2]),
    "zero_client_id": lambda t: (t[0], t[1], bytes(32)),
    "zero_accessor": _spoil_entry(2, lambda access: access & ~(2**160 - 1)),
    "part_3": _spoil_entry(2, lambda access: access & ~(0xFF << 160) | 3 << 160),
    "high_request_bits": _spoil_entry(3, lambda request: request | 1 << 128),
    "granted_unsigned": _spoil_entry(4, lambda sig_r: bytes(32)),
}


@pytest.mark.parametrize("change", sorted(MALFORMED_APP))
def test_malformed_app_entries_are_refused(chain: Chain, change: str) -> None:
    good = app_entry(chain, "doctor_b", "m").as_tuple()
    bad = MALFORMED_APP[change](good)
    chain.reverts("relayer", log(chain).logAppAccess(bad), "AccessLogMalformedEntry", index=0)
    chain.reverts(
        "relayer",
        log(chain).logAppAccessBatch([good, good, bad]),
        "AccessLogMalformedEntry",
        index=2,
    )


def test_the_binding_refuses_zero_ids_first(chain: Chain) -> None:
    e = app_entry(chain, "doctor_b", "z")
    for change in ({"app_id": bytes(32)}, {"client_id": bytes(32)}):
        with pytest.raises(InvalidChainInputError, match="non-zero app_id and client_id"):
            dataclasses.replace(e, **change).as_tuple()
    with pytest.raises(InvalidChainInputError, match="app_id must be 32 bytes"):
        dataclasses.replace(e, app_id=b"short").as_tuple()


@pytest.mark.parametrize("who", NOT_RELAYER)
def test_only_relayers_log_app_access(chain: Chain, who: str) -> None:
    """A stolen user signature is useless without an enrolled relayer's standing."""
    caller = chain.addr(who)
    one = app_entry(chain, "doctor_b", "x").as_tuple()
    chain.reverts(who, log(chain).logAppAccess(one), "AccessLogUnauthorized", caller=caller)
    chain.reverts(who, log(chain).logAppAccessBatch([one]), "AccessLogUnauthorized", caller=caller)


def test_a_suspended_relayer_cannot_log_app_reads(chain: Chain) -> None:
    one = app_entry(chain, "doctor_b", "s").as_tuple()
    chain.send("admin", chain.c["Consortium"].functions.suspendMember(chain.addr("relayer")))
    chain.reverts("relayer", log(chain).logAppAccess(one), "AccessLogUnauthorized")
    chain.reverts("relayer", log(chain).logAppAccessBatch([one]), "AccessLogUnauthorized")


def test_verify_handles_a_non_pair(chain: Chain, client: ChainClient) -> None:
    mined = client.access_log.log_app_access(app_entry(chain, "doctor_a", "n")).wait()
    access, app = mined.events
    wrong: Event = dataclasses.replace(app, log_index=app.log_index + 5)
    assert not verify_app_read_signature(access, wrong, chain_id=chain.w3.eth.chain_id)


def test_the_indexer_decodes_the_new_events(chain: Chain, client: ChainClient) -> None:
    """The indexer's decoder is built from the committed ABIs: the pair decodes (its storage
    is the indexer's business, not this contract's)."""
    from ledger_api.indexer.decode import EventDecoder
    from ledger_api.indexer.runner import load_abis

    mined = client.access_log.log_app_access(app_entry(chain, "doctor_a", "ix")).wait()
    address = chain.c["AccessLog"].address
    decoder = EventDecoder({address: ("AccessLog", load_abis(["AccessLog"])["AccessLog"])})
    assert ("AccessLog", "AppAccessLogged") in decoder.event_names()
    block = hex(mined.receipt.block_number)
    raw = chain.w3.provider.make_request(
        "eth_getLogs", [{"address": address, "fromBlock": block, "toBlock": block}]
    )["result"]
    decoded = [decoder.decode(item) for item in raw]
    assert [d.name for d in decoded if d] == ["AccessLogged", "AppAccessLogged"]
    app = decoded[1]
    assert app is not None
    assert app.args["appId"] == "0x" + APP_ID.hex()
    assert app.args["clientId"] == "0x" + client_id_hash("bp-chart").hex()
