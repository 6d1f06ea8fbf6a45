"""JSONata expressions: compiled once at load, evaluated with a time and depth budget.

Why JSONata and not Liquid: a mapping's output must be a FHIR *JSON object*. JSONata is a
JSON-to-JSON language — its result is data, so a missing value drops the field instead of
leaving a dangling comma, and a number stays a number. Liquid renders *text* that then has to
parse as JSON; the Azure FHIR Converter's Liquid templates show the cost (output that is not
valid JSON or not valid FHIR, microsoft/FHIR-Converter#402, #459). JSONata is also what Node-RED
users already write, and ``jsonata-python`` is a pure-Python port (no Node at run time).

Every evaluation gets fresh bindings (a new frame), so one compiled expression is safe to
share between threads. (``jsonata.Timebox`` does not work with this port, 0.7: a runaway
expression is bounded by Python's recursion limit and by the flow step's timeout.)
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import jsonata

from clients.gateway.config.yamlload import Located, Path_
from clients.gateway.errors import MappingError

_HL7_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_OFFSET = "+08:00"  # China Standard Time, when an HL7 timestamp names no offset


def hl7_time(value: Any) -> str | None:
    """An HL7 v2 TS/DTM (``YYYYMMDD[HHMM[SS]][+ZZZZ]``) as a FHIR date or dateTime."""
    if value in (None, ""):
        return None
    match = _HL7_TS.match(str(value).strip())
    if not match:
        raise MappingError(f"not an HL7 timestamp: {value!r}")
    y, mo, d, h, mi, sec, zone = match.groups()
    if h is None:
        return "-".join(p for p in (y, mo, d) if p)
    offset = f"{zone[:3]}:{zone[3:]}" if zone else DEFAULT_OFFSET
    return f"{y}-{mo}-{d}T{h}:{mi or '00'}:{sec or '00'}{offset}"


class _Hl7Time(jsonata.Jsonata.JFunctionCallable):
    def call(self, input: Any, args: Any) -> Any:
        return hl7_time(args[0] if args else None)


class Expression:
    """One compiled JSONata expression (with ``$hl7time`` registered)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._compiled = jsonata.Jsonata(text)
        self._compiled.register_function("hl7time", jsonata.Jsonata.JFunction(_Hl7Time(), "<x-:s>"))
        # inputs are always JSON data the gateway built itself (rows, HL7 dicts): the port's
        # recursive input check costs ~10 % of an evaluation and finds nothing
        self._compiled.set_validate_input(False)
        self._field = text.strip() if _FIELD.match(text.strip()) else None

    def evaluate(self, data: Any, **bindings: Any) -> Any:
        """The result; :class:`MappingError` with JSONata's code and message on failure."""
        if self._field is not None and isinstance(data, dict) and not bindings:
            return data.get(self._field)  # a bare field name: what JSONata would give
        try:
            return self._compiled.evaluate(data, {"_": None, **bindings})
        except jsonata.JException as exc:
            raise MappingError(f"expression failed: {exc}") from None
        except MappingError:
            raise
        except RecursionError:
            raise MappingError("expression recursed too deeply") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise MappingError(f"expression failed: {type(exc).__name__}: {exc}") from None

    def truthy(self, data: Any) -> bool:
        value = self.evaluate(data)
        return bool(value) and value != [] and value != {}


@lru_cache(maxsize=4096)
def expression(text: str) -> Expression:
    """A compiled expression, cached by its text (declarations are loaded more than once)."""
    try:
        return Expression(text)
    except jsonata.JException as exc:
        raise MappingError(f"not a JSONata expression: {exc}") from None


def compile_expression(text: str, doc: Located, path: Path_) -> Expression:
    """Compile at load; a syntax error becomes a :class:`ConfigError` naming file and line."""
    try:
        return expression(text)
    except MappingError as exc:
        raise doc.error(path, str(exc)) from None
