"""Compiled MedLedger contracts (``contracts/build/*.json``) and a loader for them."""
