"""Command groups whose commands are imported only when they are run (or their help is read).

``medledger --help`` must start in a fraction of a second, and ``medledger wallet list`` must
not pay for web3, SQLAlchemy or the pairing library. Typer builds the whole click tree from
imported functions, so every group here names some of its commands by ``"module:attribute"``
instead: :class:`LazyGroup` imports that module when the command is resolved. While a group
lists its commands for its own help page it shows a stub with the short help given beside the
name (the root's groups), or imports the command (inside a group, where the help page is
allowed to cost what the group costs).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A command or group given by where it lives; ``help`` is its one-line summary, shown in
    the parent's listing without importing it (``None``: import it to list it)."""

    target: str  # "package.module:attribute", a typer.Typer or a command function
    help: str | None = None


class LazyGroup(TyperGroup):
    """A :class:`TyperGroup` with more commands in :attr:`lazy`, imported on first use."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}
    _listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        names = list(self.commands)
        return names + [name for name in self.lazy if name not in self.commands]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        command = self.commands.get(cmd_name)
        if command is not None or cmd_name not in self.lazy:
            return command
        entry = self.lazy[cmd_name]
        if self._listing and entry.help is not None:
            return TyperCommand(cmd_name, help=entry.help, short_help=entry.help)
        command = load(entry, cmd_name)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        # typer suggests close names from self.commands: offer the lazy ones too
        try:
            return super().resolve_command(ctx, args)
        except _click.exceptions.UsageError as exc:
            if args and "Did you mean" not in exc.message:
                from difflib import get_close_matches

                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    names = ", ".join(repr(m) for m in matches)
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {names}?"
            raise


def lazy_group(entries: Mapping[str, Lazy]) -> type[LazyGroup]:
    """A :class:`LazyGroup` subclass holding ``entries`` (pass it as ``typer.Typer(cls=…)``)."""
    return type("LazyGroup", (LazyGroup,), {"lazy": dict(entries)})


def load(entry: Lazy, name: str) -> _click.Command:
    """Import ``entry.target`` and turn it into a click command named ``name``."""
    module_name, _, attribute = entry.target.partition(":")
    target: Any = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        if entry.help and not group.help:
            group.help = entry.help
        return group
    single = typer.Typer(add_completion=False)
    single.command(name)(target)
    command = typer.main.get_command(single)
    command.name = name
    return command
