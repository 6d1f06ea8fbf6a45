"""How the demo looks: one line per step as it happens, tables where they help, a summary.

Every step states what was expected and what was observed; the summary table repeats them
with ✓ or ✗ and the command's exit status follows from it. The reporter only prints and
collects: deciding what counts as success is the story's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

OK = "[bold green]✓[/]"
FAILED = "[bold red]✗[/]"


@dataclass
class StepResult:
    """One step of the story: who did what, what should happen and what did."""

    number: int
    actor: str
    action: str
    expected: str
    observed: str
    ok: bool
    tx_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def short(value: str | None, keep: int = 6) -> str:
    """``0x12ab34…cdef`` for hashes and addresses in a line of text."""
    if not value:
        return "-"
    if len(value) <= 2 * keep + 4:
        return value
    return f"{value[: keep + 2]}…{value[-4:]}"


class Reporter:
    """Prints the story to ``console`` and keeps every :class:`StepResult` for the summary."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.steps: list[StepResult] = []
        self.aliases: dict[str, str] = {}  # actor as printed → short name for the summary

    def alias(self, actor: str, short_name: str) -> None:
        """Name ``actor`` by ``short_name`` in the summary, where columns are narrow."""
        self.aliases[actor] = short_name

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def heading(self, text: str) -> None:
        self.console.rule(f"[bold]{escape(text)}[/]")

    def note(self, text: str) -> None:
        self.console.print(f"    [dim]{escape(text)}[/]")

    def step(
        self,
        actor: str,
        action: str,
        *,
        expected: str,
        observed: str,
        ok: bool,
        tx_hash: str | None = None,
    ) -> StepResult:
        """Record a step and print it at once (so a slow chain shows progress)."""
        result = StepResult(
            number=len(self.steps) + 1,
            actor=actor,
            action=action,
            expected=expected,
            observed=observed,
            ok=ok,
            tx_hash=tx_hash,
        )
        self.steps.append(result)
        mark = OK if ok else FAILED
        tx = f"  [dim]tx {short(tx_hash)}[/]" if tx_hash else ""
        self.console.print(
            f"{mark} [bold]{result.number:>2}[/] [cyan]{escape(actor)}[/] {escape(action)}"
            f" → {escape(observed)}{tx}"
        )
        return result

    def excerpt(self, text: str) -> None:
        """A short piece of decrypted content, set off from the step lines."""
        self.console.print(f"       [green]│[/] {escape(text)}")

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        self.console.print(table)

    def summary(self) -> None:
        table = Table(title="Summary", title_justify="left", show_lines=False)
        table.add_column("#", justify="right")
        table.add_column("step")
        table.add_column("expected")
        table.add_column("observed")
        table.add_column("", justify="center")
        for step in self.steps:
            table.add_row(
                str(step.number),
                escape(f"{self.aliases.get(step.actor, step.actor)}: {step.action}"),
                escape(step.expected),
                escape(step.observed),
                OK if step.ok else FAILED,
            )
        self.console.print(table)
        failed = [step for step in self.steps if not step.ok]
        if not self.steps:
            self.console.print(f"{FAILED} no step ran")
        elif failed:
            numbers = ", ".join(str(step.number) for step in failed)
            self.console.print(f"{FAILED} {len(failed)} of {len(self.steps)} failed: {numbers}")
        else:
            self.console.print(f"{OK} all {len(self.steps)} steps as expected")
