"""An institution's key authority: its key file (:mod:`ledger_api.authority.keyfile`),
service and server."""
