"""MedLedger client-side cryptography: policies, FAME CP-ABE, record envelopes, keys, signing."""

from __future__ import annotations

import importlib.util
import os

# keccak-256 everywhere (EIP-712 hashes, addresses, transactions) through eth-hash's C
# backend when safe-pysha3 is installed: eth-hash otherwise picks pycryptodome, whose
# per-hash object cost 12 µs against 2.4 µs and was 8% of the API's CPU per share (issue 17).
# eth-hash reads this variable on its first hash; an explicit setting wins.
if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
