"""Connect to any EVM JSON-RPC endpoint over HTTP and talk to it with standard methods only.

The API must run unchanged against anvil, Hyperledger Besu (QBFT) or geth, so nothing here uses
``anvil_*``/``evm_*`` methods. The relayer's hot path goes through :func:`rpc` and
:func:`rpc_batch`, which use web3's provider (its per-thread keep-alive HTTP session) without the
middleware stack: a raw transaction costs one POST on an open connection, and many receipts can
be fetched in one batched POST.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests
from web3 import Web3
from web3.exceptions import Web3Exception

from ledger_api.chain.errors import (
    ChainConnectionError,
    ChainIdMismatchError,
    ContractNotDeployedError,
    RpcError,
)

DEFAULT_TIMEOUT = 30.0


def connect(
    url: str, *, expected_chain_id: int | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Web3:
    """A Web3 bound to ``url``; verifies the node answers and, if given, runs ``expected_chain_id``.

    Checking the chain id up front is what stops a deployment file written for one chain from
    being used against another, where the same addresses would hold nothing (or something else).
    """
    if not url.startswith(("http://", "https://")):
        raise ChainConnectionError(f"only HTTP(S) JSON-RPC URLs are supported, got {url!r}")
    # No silent retries: a resent raw transaction is harmless, but a down node must be reported
    # at once, not after seconds of back-off.
    provider = Web3.HTTPProvider(
        url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
    )
    w3 = Web3(provider)
    actual = chain_id(w3)
    if expected_chain_id is not None and actual != expected_chain_id:
        raise ChainIdMismatchError(expected=expected_chain_id, actual=actual)
    return w3


def chain_id(w3: Web3) -> int:
    return int(rpc(w3, "eth_chainId", []), 16)


def block_number(w3: Web3) -> int:
    return int(rpc(w3, "eth_blockNumber", []), 16)


def rpc(w3: Web3, method: str, params: Sequence[Any]) -> Any:
    """One JSON-RPC call; an error object becomes :class:`RpcError` carrying code and data."""
    try:
        response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise ChainConnectionError(f"{method} to {_endpoint(w3)} failed: {exc}") from exc
    return _unwrap(method, response)


def rpc_batch(w3: Web3, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
    """Several calls in one HTTP request; each slot holds a result or an :class:`RpcError`.

    Errors are returned, not raised, so one rejected item does not hide the others' results.
    """
    if not calls:
        return []
    try:
        responses = w3.provider.make_batch_request(  # type: ignore[attr-defined]
            [(method, list(params)) for method, params in calls]
        )
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise ChainConnectionError(f"batch request to {_endpoint(w3)} failed: {exc}") from exc
    if not isinstance(responses, list):  # the node refused the whole batch
        _unwrap(calls[0][0], responses)
        raise ChainConnectionError(f"{_endpoint(w3)} answered a batch with {responses!r}")
    results: list[Any] = []
    for (method, _params), response in zip(calls, responses, strict=True):
        try:
            results.append(_unwrap(method, response))
        except RpcError as exc:
            results.append(exc)
    return results


def has_code(w3: Web3, address: str) -> bool:
    return rpc(w3, "eth_getCode", [address, "latest"]) not in ("0x", "0x0", None)


def require_code(w3: Web3, addresses: Mapping[str, str]) -> None:
    """Raise :class:`ContractNotDeployedError` for the first named address without code."""
    for name, address in addresses.items():
        if not has_code(w3, address):
            raise ContractNotDeployedError(name=name, address=address)


def _unwrap(method: str, response: Any) -> Any:
    if not isinstance(response, Mapping):
        raise ChainConnectionError(f"{method}: malformed JSON-RPC response {response!r}")
    error = response.get("error")
    if error is not None:
        if isinstance(error, Mapping):
            raise RpcError(
                method=method,
                code=error.get("code"),
                message=str(error.get("message", "")),
                data=error.get("data"),
            )
        raise RpcError(method=method, code=None, message=str(error))
    return response.get("result")


def _endpoint(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", w3.provider))
