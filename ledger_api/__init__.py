"""MedLedger ledger API: chain bindings and relayer, event indexer, key authority, HTTP service."""
