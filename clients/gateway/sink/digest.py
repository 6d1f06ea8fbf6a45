"""Recording an applied configuration's digest: the interface, and what runs today.

``gateway apply`` calls a :class:`DigestRecorder` with the gateway's name, the version label
and the SHA-256 digest of the folder (:func:`clients.gateway.config.project.digest_of`). The
command line uses :class:`~clients.gateway.sink.chain_digest.ChainRecorder`
(``Consortium.recordGatewayConfig``, sent by the gateway account that holds the ``GATEWAY``
role); :class:`LocalRecorder` keeps the history in the state file only (``--no-chain``). A
recorder returns a reference (a transaction hash) that ``apply`` stores beside the digest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class DigestRecorder(Protocol):
    def record(self, name: str, version: str, digest: str) -> str | None:
        """Record ``digest`` for gateway ``name`` at ``version``; a reference or None."""
        ...


class LocalRecorder:
    """Records nothing outside the state file (``gateway apply --no-chain``)."""

    def record(self, name: str, version: str, digest: str) -> str | None:
        return None


class CallableRecorder:
    """Adapts a plain function (e.g. one that sends ``recordGatewayConfig``) to the interface."""

    def __init__(self, send: Callable[[str, str, str], str | None]) -> None:
        self._send = send

    def record(self, name: str, version: str, digest: str) -> str | None:
        return self._send(name, version, digest)
