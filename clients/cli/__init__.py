"""The ``medledger`` command line: one sub-app per audience, each in its own module.

``main`` is the console script. The command tree is built in :mod:`clients.cli.root`, which
loads each group's module only when that group is run (``medledger --help`` must start in a
fraction of a second, without the SDK, the chain client or the server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``medledger`` console script."""
    from clients.cli.root import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from clients.cli.root import app

        return app
    raise AttributeError(f"module 'clients.cli' has no attribute {name!r}")


if TYPE_CHECKING:
    app: typer.Typer
