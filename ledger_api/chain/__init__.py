"""Chain layer: the local node, deployment, typed contract wrappers and the relayer.

Entry points: :class:`ledger_api.chain.client.ChainClient` (connect with a deployment and the
relayer key; ``.consortium``, ``.records``, ``.consents``, ``.access_log``, ``.workflow``),
:class:`ledger_api.chain.relayer.Relayer` (nonces, fees, sends, receipts) and
:mod:`ledger_api.chain.devnode` (the dev chain behind ``medledger node``). Errors all derive
from :class:`ledger_api.chain.errors.ChainError`.
"""
