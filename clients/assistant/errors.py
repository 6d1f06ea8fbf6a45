"""Errors of the GP assistant: one base class, one subclass per kind of refusal.

Each message is one line that names what is wrong and where (a data file's path, line and
field; a form's field and rule), so that the person fixing it does not have to search.
"""

from __future__ import annotations

from dataclasses import dataclass


class AssistantError(Exception):
    """Base of every error raised by ``clients.assistant``."""


class DataFileError(AssistantError):
    """A shipped data file (table, tree, rule set, case file) is malformed.

    ``file`` is the path relative to the data directory, ``line`` the 1-based line of the
    offending value (0 when the file could not be parsed at all), ``field`` a dotted path to it.
    """

    def __init__(self, file: str, line: int, field: str, message: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        super().__init__(f"{file}:{line}: {field or '(top level)'}: {message}")


class CodingInputError(AssistantError):
    """The text given to the coder cannot be coded (empty, too long, not text)."""


class IntakeError(AssistantError):
    """An intake request names an unknown complaint, question or answer."""


@dataclass(frozen=True)
class Refusal:
    """One reason a record form is refused: the field, a stable rule id, and the message."""

    field: str
    rule: str
    message: str


class RecordFormError(AssistantError):
    """The record form is incomplete or inconsistent; ``refusals`` lists every reason."""

    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = list(refusals)
        first = refusals[0] if refusals else Refusal("", "", "refused")
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        super().__init__(f"{first.field}: {first.message} [{first.rule}]{more}")


class FeedbackError(AssistantError):
    """A CDS Hooks feedback request names an unknown card or is malformed."""


class CdsRequestError(AssistantError):
    """A CDS Hooks request is malformed or names a hook the service does not serve."""


class UnknownCardError(FeedbackError):
    """Feedback names a card this service never issued (or issued by another service)."""
