"""Threshold emergency key: TDH2 encryption of a record's data key to a consortium key whose
secret is shared ``t``-of-``n`` among the institutions' authorities by a GJKR DKG.

- :mod:`crypto.threshold.tdh2`: Shoup–Gennaro TDH2 (J. Cryptology 2002; DDH, ROM);
- :mod:`crypto.threshold.dkg`: Gennaro–Jarecki–Krawczyk–Rabin DKG (J. Cryptology 2007; DL);
- :mod:`crypto.threshold.keys`: the public key (on chain) and an authority's secret share;
- :mod:`crypto.threshold.ceremony`: the DKG's steps run in order over one board (in memory,
  or over ``EmergencyKeys`` events).
"""

from crypto.threshold.keys import EmergencyPublicKey, SecretShare
from crypto.threshold.tdh2 import (
    Ciphertext,
    DecryptionShare,
    combine,
    decrypt_share,
    emergency_label,
    encrypt,
    verify_ciphertext,
    verify_share,
)

__all__ = [
    "Ciphertext",
    "DecryptionShare",
    "EmergencyPublicKey",
    "SecretShare",
    "combine",
    "decrypt_share",
    "emergency_label",
    "encrypt",
    "verify_ciphertext",
    "verify_share",
]
