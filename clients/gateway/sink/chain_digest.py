"""Recording an applied configuration's digest on chain, as the gateway's own account.

An auditor must be able to see which mapping produced which record (issue 18): each applied
version of a gateway folder is logged by ``Consortium.recordGatewayConfig(gateway, name,
version, digest)``, sent by the institution's gateway account itself (an enrolled system
account with the ``GATEWAY`` role; the contract refuses anyone else but the institution's
admin). Records the gateway shares name it as their author, so the configuration in force when
a record was registered is the last ``GatewayConfigApplied`` of its author before that block.

The chain's version number counts this gateway's recorded applies of ``name`` (read from the
chain's own ``GatewayConfigApplied`` logs), so a re-installed front-end box continues the
sequence instead of restarting it. This module, like the command line's admin group, talks to
the chain through ``ledger_api.chain``: it is an account acting on chain, not an API client.
"""

from __future__ import annotations

from typing import Any

import httpx
from eth_account import Account
from eth_utils import keccak

from clients.gateway.errors import GatewayError
from ledger_api.chain.connection import connect
from ledger_api.chain.consortium import Consortium, pack_text32
from ledger_api.chain.errors import ChainError
from ledger_api.chain.relayer import Relayer

__all__ = ["ChainRecorder"]

_EVENT = "GatewayConfigApplied(uint32,address,bytes32,uint32,bytes32)"


class ChainRecorder:
    """A :class:`~clients.gateway.sink.digest.DigestRecorder` that sends the digest on chain."""

    def __init__(self, *, rpc_url: str, consortium: str, account_key: str) -> None:
        self.rpc_url = rpc_url
        self.consortium_address = consortium
        self._key = account_key
        self.account = Account.from_key(account_key)

    @classmethod
    def from_api(cls, medledger_url: str, *, account_key: str) -> ChainRecorder:
        """Where to send, as the MedLedger API's ``GET /chain`` names it."""
        try:
            info: dict[str, Any] = httpx.get(
                f"{medledger_url.rstrip('/')}/chain", timeout=30
            ).json()
            return cls(
                rpc_url=str(info["rpc_url"]),
                consortium=str(info["contracts"]["Consortium"]),
                account_key=account_key,
            )
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise GatewayError(
                f"cannot read the chain's addresses from {medledger_url}: {exc}"
            ) from exc

    def record(self, name: str, version: str, digest: str) -> str | None:
        """Send ``recordGatewayConfig`` for this gateway; the transaction hash."""
        try:
            w3 = connect(self.rpc_url)
            consortium = Consortium(w3, self.consortium_address, sender=Relayer(w3, self._key))
            number = self._recorded(w3, name) + 1
            mined = consortium.record_gateway_config(
                gateway=self.account.address,
                name=name,
                version=number,
                digest=bytes.fromhex(digest.removeprefix("0x")),
            ).wait()
        except (ChainError, ValueError) as exc:
            raise GatewayError(
                f"the chain refused to record the configuration digest as {self.account.address}"
                f" (is it the institution's enrolled gateway account?): {exc}"
            ) from exc
        return str(mined.tx_hash)

    def _recorded(self, w3: Any, name: str) -> int:
        """How many applies of ``name`` this gateway has recorded on chain."""
        logs = w3.eth.get_logs(
            {
                "address": self.consortium_address,
                "fromBlock": 0,
                "topics": [
                    "0x" + keccak(text=_EVENT).hex(),
                    None,
                    "0x" + bytes(12).hex() + self.account.address[2:].lower(),
                ],
            }
        )
        wanted = pack_text32(name, "name")
        return sum(1 for log in logs if bytes(log["data"])[:32] == wanted)
