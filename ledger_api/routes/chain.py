"""``/chain``: where the deployment lives, for clients that sign for it (public, read-only).

A wallet signing an EIP-712 consent must use exactly the domain ``ConsentManager`` checks
(name, version, chain id, verifying contract), or the relayed signature is refused. Clients
get that domain, the chain id and the contract addresses here rather than from a config file
that could drift from the deployment the API actually uses. Nothing here is secret.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from crypto.signing import DOMAIN_NAME, DOMAIN_VERSION
from ledger_api.deps import ContextDep
from ledger_api.eip712 import with_deployment

router = APIRouter(tags=["chain"])


class Eip712DomainOut(BaseModel):
    name: str
    version: str
    chainId: int  # noqa: N815 - the EIP-712 field names, as wallets expect them
    verifyingContract: str  # noqa: N815


class Eip712SetOut(BaseModel):
    """One EIP-712 domain and the struct types signed in it (from ``crypto.signing``)."""

    domain: dict[str, Any] = Field(
        description="name, version, chainId, verifyingContract: exactly what the contract checks."
    )
    contract: str = Field(description="The contract that verifies these signatures.")
    primary_types: list[str]
    types: dict[str, list[dict[str, str]]] = Field(
        description="EIP712Domain and every struct type, field by field, in signing order."
    )


class ChainOut(BaseModel):
    chain_id: int
    contracts: dict[str, str] = Field(description="Contract name → checksummed address.")
    deployment_block: int = Field(description="The block of the first deployment transaction.")
    relayer: str = Field(description="The API's relayer account (sends every transaction).")
    rpc_url: str = Field(
        description="A chain JSON-RPC node clients may read registrations from, to check every "
        "record the API serves against the chain (clients may use a node of their own)."
    )
    eip712_domain: Eip712DomainOut = Field(
        description="The EIP-712 domain of ConsentManager: sign consents and revocations in it."
    )
    break_glass_window_seconds: int = Field(
        description="The break-glass window this API grants (and the longest it accepts): the "
        "`window` a doctor's signed BreakGlassOpen carries by default."
    )
    eip712: list[Eip712SetOut] = Field(
        description="Every EIP-712 type set a wallet signs here (consents and revocations, "
        "break-glass co-signatures, …) with its full domain."
    )


@router.get("/chain", summary="Chain id, contract addresses and the consent signing domain")
def chain(ctx: ContextDep) -> ChainOut:
    deployment = ctx.deployment
    return ChainOut(
        chain_id=deployment.chain_id,
        contracts=deployment.addresses(),
        deployment_block=deployment.block_number,
        relayer=deployment.relayer,
        rpc_url=ctx.settings.public_rpc_url or ctx.settings.rpc_url,
        eip712_domain=Eip712DomainOut(
            name=DOMAIN_NAME,
            version=DOMAIN_VERSION,
            chainId=deployment.chain_id,
            verifyingContract=deployment.address("ConsentManager"),
        ),
        break_glass_window_seconds=ctx.settings.break_glass_window_seconds,
        eip712=[
            Eip712SetOut(**entry)
            for entry in with_deployment(deployment.chain_id, deployment.addresses())
        ],
    )
