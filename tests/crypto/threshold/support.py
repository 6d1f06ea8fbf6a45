"""A trusted dealer for the TDH2 tests (the DKG tests make keys without one)."""

from __future__ import annotations

from pymcl import Fr

from crypto.threshold.group import G, eval_poly, random_poly
from crypto.threshold.keys import EmergencyPublicKey, SecretShare

RECORD = bytes(range(32))
PATIENT = "0x" + "ab" * 20
OTHER_PATIENT = "0x" + "cd" * 20


def dealt_key(
    t: int, n: int, key_round: int = 1
) -> tuple[EmergencyPublicKey, list[SecretShare], Fr]:
    """``(public key, [x_1 … x_n], x)`` from one polynomial of degree ``t − 1``."""
    f = random_poly(t - 1)
    shares = [SecretShare(key_round=key_round, index=i, x=eval_poly(f, i)) for i in range(1, n + 1)]
    key = EmergencyPublicKey(
        key_round=key_round,
        t=t,
        n=n,
        h=G * f[0],
        verification_keys=tuple(G * s.x for s in shares),
    )
    return key, shares, f[0]
