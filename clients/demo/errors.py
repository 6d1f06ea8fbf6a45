"""The demo's one error type: the local stack could not be found, started or stopped.

A subclass of :class:`~clients.sdk.errors.ClientError` so that the command line reports it like
every other client failure: one line, no traceback, a non-zero exit.
"""

from __future__ import annotations

from clients.sdk.errors import ClientError


class DemoError(ClientError):
    """The demo cannot run: a port is taken, the chain or the API would not start, …"""
