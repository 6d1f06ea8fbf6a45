"""Break-glass by threshold in the client: the emergency slot written on share, and a chart
opened with ``t`` institutions' decryption shares (``docs/break-glass.md``).

- :meth:`EmergencyThresholdMixin.emergency_wrapper` fills an envelope v3's ``emergency`` field
  with the TDH2 slot of the record's data key under the consortium emergency key read from
  the chain (``EmergencyKeys``); no key yet, no slot;
- :meth:`EmergencyThresholdMixin.emergency_open_chart`: under an opening this clinician made,
  read every header of the patient's chart with ``purpose=emergency`` (each read logged on
  chain by the API), ask ``t`` authorities for their shares of all slots at once
  (:func:`clients.sdk.emergency_shares.open_emergency_slots`: every share checked, each
  release logged on chain by its authority), then stream and decrypt each body with its data
  key, checked against the chain and the author's seal like any read.

``via_api_relay=True`` sends the share requests through the API's same-origin relay
(``POST /keys/authorities/{institution}/emergency/shares``) instead of to the URLs the
institutions registered, for a client that can reach the API but not the authorities (the
workstation's page always does). The key, ``t``, every ``h_i`` and the signers are still read
from the chain, so the relay can only drop a request, never make a forged share pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from clients.sdk.consent_messages import checked_address
from clients.sdk.emergency_shares import (
    EmergencyDirectory,
    EmergencySlot,
    open_emergency_slots,
    read_directory,
)
from clients.sdk.errors import ChainReadError, ClientError
from clients.sdk.models import FetchResult, RecordInfo
from crypto.envelope import HeaderV3, RecordBinding
from crypto.threshold import slot as emergency_slot

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from clients.sdk.models import ChainInfo
    from clients.sdk.registry import Registration
    from clients.sdk.transport import Transport

RELEASED_EVENT = "EmergencyShareReleased(bytes32,bytes32,address,address,uint32,uint64,uint8)"
DIRECTORY_TTL = 60.0
"""Seconds a read of the emergency key is reused when sharing (a new key needs a DKG)."""


class EmergencyThresholdMixin:
    """emergency_directory / emergency_wrapper / emergency_open_chart."""

    _http: Transport

    if TYPE_CHECKING:

        def chain_info(self) -> ChainInfo: ...

        def _require_account(self) -> LocalAccount: ...

        def iter_records(self, patient: str, *, purpose: str = ...) -> Any: ...

        def _header(self, record_id: str, *, purpose: str, user_key: Any) -> Any: ...

        def _body(
            self,
            record_id: str,
            header: Any,
            registration: Any,
            user_key: Any,
            dest: Any,
            **kw: Any,
        ) -> Any: ...

    def emergency_directory(
        self, *, max_age: float = 0.0, via_api_relay: bool = False
    ) -> EmergencyDirectory | None:
        """The chain's current emergency key and its authorities (None: no key yet); a read
        younger than ``max_age`` seconds is reused. With ``via_api_relay`` each authority's
        URL is the API's relay to it rather than the URL its institution registered."""
        cached = self.__dict__.get("_emergency_directory")
        if cached is not None and time.monotonic() - cached[0] < max_age:
            directory = cached[1]
        else:
            directory = self._read_emergency_directory()
            self.__dict__["_emergency_directory"] = (time.monotonic(), directory)
        if directory is None or not via_api_relay:
            return directory
        relayed = tuple(
            replace(a, url=self._http.url(f"/keys/authorities/{a.institution_id}"))
            for a in directory.authorities
        )
        return replace(directory, authorities=relayed)

    def _read_emergency_directory(self) -> EmergencyDirectory | None:
        info = self.chain_info()
        address = info.addresses.get("EmergencyKeys")
        if not info.rpc_url or not address:
            return None
        try:
            return read_directory(info.rpc_url, address)
        except ClientError as exc:
            if "no emergency key" in str(exc):
                return None
            raise

    def emergency_wrapper(self) -> Callable[[bytes, RecordBinding], bytes] | None:
        """The envelope hook that writes a record's emergency slot (None: no key on chain)."""
        directory = self.emergency_directory(max_age=DIRECTORY_TTL)
        return None if directory is None else emergency_slot.emergency_wrapper(directory.key)

    def emergency_releases(self, patient: str) -> list[dict[str, Any]]:
        """Every emergency decryption share released for ``patient``'s records, as the chain
        logged it (``EmergencyShareReleased``): which institution's authority, for which
        record, under which opening, in which transaction. The patient sees the openings in
        their timeline as before, and with this, which institutions opened what."""
        info = self.chain_info()
        address = info.addresses.get("EmergencyKeys")
        if not info.rpc_url or not address:
            return []
        topic = "0x" + keccak(text=RELEASED_EVENT).hex()
        who = "0x" + bytes.fromhex(checked_address(patient, "patient")[2:]).rjust(32, b"\0").hex()
        query = {"address": address, "fromBlock": "0x0", "topics": [topic, None, None, who]}
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}
        try:
            answer = httpx.post(info.rpc_url, json=body, timeout=30).json()
            logs = answer["result"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise ChainReadError(f"cannot read emergency releases: {exc}") from None
        out = []
        for log in logs:
            authority, institution, key_round, index = decode(
                ["address", "uint32", "uint64", "uint8"], bytes.fromhex(log["data"][2:])
            )
            out.append(
                {
                    "opening_id": log["topics"][1],
                    "record_id": log["topics"][2],
                    "authority": to_checksum_address(authority),
                    "institution_id": int(institution),
                    "round": int(key_round),
                    "index": int(index),
                    "tx_hash": log["transactionHash"],
                    "block_number": int(log["blockNumber"], 16),
                }
            )
        return out

    def emergency_open_chart(
        self,
        patient: str,
        folder: Path,
        *,
        opening_id: str,
        on_record: Callable[[RecordInfo], None] | None = None,
        via_api_relay: bool = False,
    ) -> list[FetchResult]:
        """Decrypt every record of ``patient`` that has an emergency slot into ``folder``;
        ``via_api_relay`` asks the authorities through the API (see the module docstring)."""
        directory = self.emergency_directory(via_api_relay=via_api_relay)
        if directory is None:
            raise ClientError("the consortium has no emergency key on chain yet")
        folder.mkdir(parents=True, exist_ok=True)
        opened: list[tuple[RecordInfo, HeaderV3, Registration]] = []
        for record in list(self.iter_records(patient, purpose="emergency")):
            if on_record is not None:
                on_record(record)
            header, registration = self._header(
                record.record_id, purpose="emergency", user_key=None
            )
            if isinstance(header, HeaderV3) and header.emergency is not None:
                opened.append((record, header, registration))
        if not opened:
            return []
        slots = [
            EmergencySlot(
                record_id=bytes.fromhex(record.record_id[2:]),
                patient=registration.patient,
                slot=header.emergency,  # type: ignore[arg-type]
            )
            for record, header, registration in opened
        ]
        keys = open_emergency_slots(
            directory=directory,
            opening_id=bytes.fromhex(opening_id.removeprefix("0x")),
            slots=slots,
            clinician=self._require_account(),
        )
        results = []
        for (record, header, registration), item in zip(opened, slots, strict=True):
            stem = f"{record.record_id[2:14]}-{record.record_type or 'record'}".replace("/", "_")
            path = folder / f"{stem}.part"
            written, access_tx = self._body(
                record.record_id,
                header,
                registration,
                None,
                path,
                purpose="emergency",
                data_key=keys[item.record_id],
            )
            final = path.with_suffix(".json" if "json" in header.content_type else ".bin")
            path.replace(final)
            results.append(
                FetchResult(
                    record_id=record.record_id,
                    path=final,
                    bytes_written=written,
                    content_type=header.content_type,
                    access_tx=access_tx,
                )
            )
        return results


__all__ = ["EmergencyThresholdMixin"]
