"""One FastAPI router per area; routes stay thin and call :mod:`ledger_api.services`."""
