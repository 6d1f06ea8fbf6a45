"""MedLedger clients: the Python SDK and the ``medledger`` command line."""
