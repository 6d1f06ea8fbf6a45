"""Errors of the chain layer; every one derives from :class:`ChainError`.

Callers (the API routes, the CLI) catch the specific subclasses to turn them into stable error
codes; :class:`TransactionRevertedError` carries the contract's custom error decoded from the
ABIs so that a duplicate record id or a bad consent signature reaches the user by name, not as
hex.
"""

from __future__ import annotations

from typing import Any

from ledger_api.errors import LedgerApiError


class ChainError(LedgerApiError):
    """Base class for failures talking to the chain."""


class NodeError(ChainError):
    """The local node (anvil) cannot be found, started or reached."""


class ChainConnectionError(ChainError):
    """The JSON-RPC endpoint does not answer (wrong URL, node down, not an EVM node)."""


class RpcError(ChainError):
    """The node answered a JSON-RPC request with an error object."""

    def __init__(self, *, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class ChainIdMismatchError(ChainError):
    """The node runs another chain than the deployment file was written for."""

    def __init__(self, *, expected: int, actual: int) -> None:
        super().__init__(f"chain id mismatch: the deployment is for {expected}, node has {actual}")
        self.expected = expected
        self.actual = actual


class DeploymentError(ChainError):
    """A deployment file is missing or malformed, or its contracts are not on this chain."""


class ContractNotDeployedError(DeploymentError):
    """No code at an address the deployment names (fresh chain, wrong node, lost state)."""

    def __init__(self, *, name: str, address: str) -> None:
        super().__init__(f"no contract code for {name} at {address} on this chain")
        self.name = name
        self.address = address


class InvalidChainInputError(ChainError, ValueError):
    """An argument for a contract call is malformed (wrong length, negative, too large)."""


class TransactionRejectedError(ChainError):
    """The node refused to accept a transaction (nothing was mined)."""

    def __init__(self, message: str, *, rpc_error: Any = None) -> None:
        super().__init__(message)
        self.rpc_error = rpc_error


class NonceTooLowError(TransactionRejectedError):
    """The relayer's nonce was already used (someone else sent from the same account)."""


class TransactionRevertedError(ChainError):
    """A call or transaction reverted; ``error_name`` / ``error_args`` come from the ABIs.

    ``tx_hash`` is set when a mined transaction failed, and is None when the revert was found
    before sending (gas estimation or a view call), in which case nothing reached the chain.
    """

    def __init__(
        self,
        *,
        error_name: str,
        error_args: dict[str, Any] | None = None,
        data: bytes = b"",
        tx_hash: str | None = None,
    ) -> None:
        self.error_name = error_name
        self.error_args = dict(error_args or {})
        self.data = data
        self.tx_hash = tx_hash
        shown = ", ".join(f"{key}={_show(value)}" for key, value in self.error_args.items())
        where = f" in transaction {tx_hash}" if tx_hash else ""
        super().__init__(f"reverted{where}: {error_name}({shown})")


class ReceiptTimeoutError(ChainError):
    """A sent transaction was not mined in time; it may still be mined later."""

    def __init__(self, *, tx_hash: str, timeout: float, detail: str = "") -> None:
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"transaction {tx_hash} not mined within {timeout:.1f} s{suffix}")
        self.tx_hash = tx_hash
        self.timeout = timeout


def _show(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return repr(value)
