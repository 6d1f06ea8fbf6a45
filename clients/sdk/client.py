"""The MedLedger Python SDK: one synchronous client for every flow of the API.

``MedLedgerClient`` signs in with Sign-In with Ethereum using the caller's account, and keeps
the cryptography on the client as the design requires: records are validated (FHIR) and
encrypted before upload, decrypted after download, consents are signed locally in the
ConsentManager's EIP-712 domain, and a member's attribute key comes from their own
institution's key authority sealed to a one-time X25519 key the client draws for the request
(a patient opens their records with their own key). The API never sees a plaintext, a data
key or a private key, and holds none that opens a record.

Example::

    with MedLedgerClient("http://127.0.0.1:8000", account=patient) as client:
        info = client.share_fhir(observation, patient=patient.address,
                                 policy="dept:cardiology")
        client.grant(grantee=cardiologist_address, record_id=info.record_id)

Large records stream in both directions with constant memory (:mod:`clients.sdk.transfer`).
Everything returns plain data (:mod:`clients.sdk.models`); every failure is a
:class:`~clients.sdk.errors.ClientError` whose text is one line for a person to read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from clients.sdk.authorities import AuthoritiesMixin
from clients.sdk.consents import ConsentsMixin
from clients.sdk.consultations import ConsultationsMixin
from clients.sdk.emergency import EmergencyMixin
from clients.sdk.emergency_threshold import EmergencyThresholdMixin
from clients.sdk.epochs import EpochsMixin
from clients.sdk.errors import ClientError, UnauthorizedError
from clients.sdk.models import ChainInfo, ConsentReceipt, FetchResult, Page, RecordInfo
from clients.sdk.outbox import Outbox
from clients.sdk.records import RecordsMixin
from clients.sdk.registry import ChainRecords
from clients.sdk.rekey import RekeyMixin
from clients.sdk.smart import SmartMixin
from clients.sdk.timeline import TimelineMixin
from clients.sdk.transport import Transport
from clients.sdk.workflows import WorkflowsMixin
from crypto import signing, siwe
from crypto.signing import Consent, Domain, TypedMessage

__all__ = [
    "ChainInfo",
    "ConsentReceipt",
    "FetchResult",
    "MedLedgerClient",
    "Page",
    "RecordInfo",
]

SIWE_STATEMENT = "Sign in to MedLedger"


class MedLedgerClient(
    AuthoritiesMixin,
    RecordsMixin,
    ConsentsMixin,
    WorkflowsMixin,
    ConsultationsMixin,
    TimelineMixin,
    RekeyMixin,
    EpochsMixin,
    EmergencyMixin,
    EmergencyThresholdMixin,
    SmartMixin,
):
    """A session with one MedLedger API as one account (or anonymous, for public routes).

    Records (share, list, fetch) come from :class:`RecordsMixin`, consents and audit from
    :class:`ConsentsMixin`; this class holds the session, the chain and the keys. One client
    holds one session: use one per thread (they are cheap) rather than sharing one."""

    def __init__(
        self,
        base_url: str,
        *,
        account: LocalAccount | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
        chain_rpc_url: str | None = None,
        registry_address: str | None = None,
        outbox: Outbox | str | Path | None = None,
    ) -> None:
        """``chain_rpc_url`` and ``registry_address`` name the chain node and the
        ``RecordRegistry`` the client checks every record it reads against (default: what
        ``GET /chain`` names); pin them to read through a node the API does not control."""
        self.account = account
        # shares are kept here until acknowledged, so a retry sends the same bytes
        # (clients.sdk.outbox); a path is an outbox directory
        self._outbox = outbox if isinstance(outbox, Outbox) or outbox is None else Outbox(outbox)
        self._timeout = timeout
        self._chain_rpc_url = chain_rpc_url
        self._registry_address = registry_address
        self._chain_records: ChainRecords | None = None
        self.base_url = base_url.rstrip("/")
        self._http = Transport(
            self.base_url, timeout=timeout, http=http, login=self.login if account else None
        )
        self._chain: ChainInfo | None = None
        self._granted: dict[str, Consent] = {}  # consent id → Consent relayed by this client

    def __enter__(self) -> MedLedgerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        if self._chain_records is not None:
            self._chain_records.close()

    # ------------------------------------------------------------------ session

    def _require_account(self) -> LocalAccount:
        if self.account is None:
            raise ClientError("this needs a signed-in account: open a wallet first")
        return self.account

    @property
    def token(self) -> str | None:
        """The session token (None before :meth:`login`); the CLI keeps it between runs."""
        return self._http.token

    @token.setter
    def token(self, value: str | None) -> None:
        self._http.token = value

    def login(self) -> None:
        """Sign in with EIP-4361 (nonce, sign locally, exchange for a session token)."""
        account = self._require_account()
        grant = self._http.json(
            "POST", "/auth/nonce", auth=False, json={"address": account.address}
        )
        message = siwe.SiweMessage(
            domain=grant["domain"],
            address=account.address,
            uri=grant["uri"],
            chain_id=int(grant["chain_id"]),
            nonce=grant["nonce"],
            issued_at=datetime.fromisoformat(grant["issued_at"]),
            expiration_time=datetime.fromisoformat(grant["expiration_time"]),
            statement=SIWE_STATEMENT,
        )
        signature = siwe.sign(message, account.key)
        answer = self._http.json(
            "POST",
            "/auth/login",
            auth=False,
            json={"message": message.text(), "signature": "0x" + signature.hex()},
        )
        self._http.token = answer["token"]

    def logout(self) -> None:
        """End the session on the server (idempotent on the client)."""
        token, self._http.token = self._http.token, None
        if token is None:
            return
        # this session only (a 401 must not sign in again just to sign out); a session that
        # already expired or was revoked is the outcome the caller wanted
        with contextlib.suppress(UnauthorizedError):
            self._http.send(
                "POST", "/auth/logout", auth=False, headers={"Authorization": f"Bearer {token}"}
            )

    def me(self) -> dict[str, Any]:
        return self._http.json("GET", "/auth/me")

    def ready(self) -> dict[str, Any]:
        """``/readyz``: chain, store, database, indexer (raises :class:`ApiError` if not ready)."""
        return self._http.json("GET", "/readyz", auth=False)

    def directory(self) -> dict[str, Any]:
        """``GET /directory``: the institutions, and the roles and attribute values their
        active clinicians hold (what a policy can name)."""
        return self._http.json("GET", "/directory", auth=False)

    def members(self, addresses: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Who these addresses are (``GET /directory/members``): lower-cased address → member
        (institution, role, attributes); an address the consortium does not know is absent."""
        wanted = list(dict.fromkeys(a.lower() for a in addresses if a))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):
            chunk = wanted[start : start + 100]
            raw = self._http.json(
                "GET", "/directory/members", params=[("address", a) for a in chunk]
            )
            found.update({m["address"].lower(): m for m in raw["members"]})
        return found

    def chain_info(self) -> ChainInfo:
        """Chain id, contract addresses and the consent signing domain (cached)."""
        if self._chain is None:
            raw = self._http.json("GET", "/chain", auth=False)
            domain = raw["eip712_domain"]
            self._chain = ChainInfo(
                chain_id=int(raw["chain_id"]),
                addresses=dict(raw["contracts"]),
                rpc_url=raw.get("rpc_url"),
                break_glass_window=raw.get("break_glass_window_seconds"),
                domain=Domain(
                    chain_id=int(domain["chainId"]),
                    verifying_contract=domain["verifyingContract"],
                    name=domain["name"],
                    version=domain["version"],
                ),
            )
        return self._chain

    # ------------------------------------------------------------------ signing

    def sign_action(self, message: TypedMessage) -> bytes:
        """Sign ``message`` as this account, in the EIP-712 domain of the contract that
        verifies it (chain id and address from ``GET /chain``; DESIGN "Trust": the chain
        trusts the actor's signature, not the relayer). The key never leaves this process."""
        account = self._require_account()
        info = self.chain_info()
        address = info.addresses.get(message.CONTRACT)
        if address is None:
            raise ClientError(f"the API names no {message.CONTRACT} contract to sign for")
        domain = message.domain(chain_id=info.chain_id, verifying_contract=address)
        return signing.sign(domain, message, account.key)

    def chain_records(self) -> ChainRecords:
        """The chain reader every fetch checks the served header and body against."""
        if self._chain_records is None:
            rpc_url = self._chain_rpc_url
            registry = self._registry_address
            if rpc_url is None or registry is None:
                info = self.chain_info()
                rpc_url = rpc_url or info.rpc_url
                registry = registry or info.addresses.get("RecordRegistry")
            if not rpc_url or not registry:
                raise ClientError(
                    "no chain node to check records against: pass chain_rpc_url= and "
                    "registry_address= (the API's GET /chain names none)"
                )
            self._chain_records = ChainRecords(rpc_url, registry, timeout=self._timeout)
        return self._chain_records
