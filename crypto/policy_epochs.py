"""Membership-epoch attributes in record policies: ``epoch:<n>``.

An epoch is a policy concern: every record policy a client composes is ANDed with
``epoch:<E>``, and a clinician's key carries the epochs it may open. The client writes these
attributes and the API's key authority and epoch watcher read them, so the one definition
lives here, below both, and the SDK never needs the server to compose a policy.
"""

from __future__ import annotations

import re

__all__ = ["EPOCH_PREFIX", "epoch_attribute", "policy_epochs"]

EPOCH_PREFIX = "epoch:"
_EPOCH_ATTRIBUTE = re.compile(r"\bepoch:(\d+)\b", re.IGNORECASE)


def policy_epochs(policy: str) -> set[int]:
    """Every ``epoch:<n>`` attribute a policy names."""
    return {int(n) for n in _EPOCH_ATTRIBUTE.findall(policy)}


def epoch_attribute(epoch: int) -> str:
    """The attribute a key needs to open records written in ``epoch``."""
    return f"{EPOCH_PREFIX}{epoch}"
