"""The app marketplace's off-chain part: manifest validation and SMART scope syntax.

On-chain listings are :mod:`ledger_api.chain.marketplace`; the index is
:mod:`ledger_api.indexer.marketplace`; the routes are :mod:`ledger_api.routes.marketplace`.
"""
