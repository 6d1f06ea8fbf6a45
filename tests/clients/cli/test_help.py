"""Every ``medledger`` command explains itself with an example."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from clients.cli import app

GROUPS = (
    "node", "authority", "wallet", "admin", "patient", "doctor", "auditor", "referral", "consult",
)  # fmt: skip
runner = CliRunner()


def _leaves(command: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if hasattr(command, "commands"):  # a group (typer vendors its own click classes)
        ctx = command.make_context(path[-1], [], resilient_parsing=True)
        return [  # list_commands/get_command: the groups load their commands on use
            leaf
            for name in sorted(command.list_commands(ctx))
            for leaf in _leaves(command.get_command(ctx, name), (*path, name))
        ]
    return [path]


def _commands() -> list[tuple[str, ...]]:
    root: Any = typer.main.get_command(app)
    ctx = root.make_context("medledger", [], resilient_parsing=True)
    leaves = [("serve",), ("demo",)]
    for group in GROUPS:
        leaves.extend(_leaves(root.get_command(ctx, group), (group,)))
    return leaves


def test_the_command_tree_is_complete() -> None:
    names = {" ".join(c) for c in _commands()}
    assert names >= {
        "serve", "demo",
        "node up", "node down", "node status", "authority init", "authority show",
        "authority register", "authority serve", "patient register-key",
        "wallet new", "wallet import", "wallet list", "wallet export",
        "admin institutions", "admin institution add", "admin member enrol",
        "admin member suspend", "admin member show",
        "patient share", "patient records", "patient grant", "patient consents",
        "patient revoke", "patient access", "patient sign-consent",
        "doctor login", "doctor key", "doctor records", "doctor get",
        "auditor events", "auditor verify",
        "referral create", "referral accept", "referral reject", "referral arrive",
        "referral complete", "referral cancel", "referral list", "referral show",
        "consult create", "consult list", "consult show", "consult opinion", "consult close",
        "consult cancel",
    }  # fmt: skip


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_help_has_an_example(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Example: medledger {' '.join(command)}" in result.stdout
