"""A key authority: its key files (:mod:`ledger_api.authority.keystore`)."""
