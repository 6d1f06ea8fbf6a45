"""Chain time for the services: consent windows and audit ranges are judged by block time.

The contracts compare against ``block.timestamp``, not the API host's clock; deciding
"expired" on wall time would let the API refuse what the chain accepts (or send what it will
revert) whenever the two drift, as they do on a dev chain whose time was moved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger_api.context import AppContext


def latest_block_time(ctx: AppContext) -> int:
    """Timestamp of the newest block: what the next transaction's checks are closest to."""
    return int(ctx.chain.w3.eth.get_block("latest")["timestamp"])


def block_time(ctx: AppContext, block_number: int) -> int:
    return int(ctx.chain.w3.eth.get_block(block_number)["timestamp"])
