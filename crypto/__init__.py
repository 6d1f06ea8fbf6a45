"""MedLedger client-side cryptography: policies, FAME CP-ABE, record envelopes, keys, signing."""
