"""SQL text checks: every value a query uses is a bound parameter, nothing is interpolated.

Declared queries name their parameters ``:name`` (SQLAlchemy's ``text()`` style, which every
dialect binds natively). At load we refuse any placeholder that is not declared under
``params`` and any formatting syntax (``%s``, ``%(x)s``, ``{x}``, ``${x}``, ``?``, ``$1``)
that could tempt someone to paste a value into the text. String literals and comments are
skipped so a ``':'`` inside quotes is not taken for a parameter; ``::`` casts are allowed.
"""

from __future__ import annotations

import re

from clients.gateway.errors import UnboundParameterError

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_FORMATTING = re.compile(r"%\(|%s|\{[^}]*\}|\$\{|\?|\$[0-9]")


def strip_literals(sql: str) -> str:
    """The SQL with quoted strings, quoted identifiers and comments blanked out."""
    out = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote
                        j += 2
                        continue
                    break
                if sql[j] == "\\" and ch == "'":
                    j += 2
                    continue
                j += 1
            out.append(" " * (min(j, n - 1) - i + 1))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(" " * (j - i))
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def placeholders(sql: str) -> list[str]:
    """The ``:name`` parameters the query uses, in order of first use."""
    seen: list[str] = []
    for match in _PLACEHOLDER.finditer(strip_literals(sql).replace("::", "  ")):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def check_bound(sql: str, declared: set[str], reserved: frozenset[str] = frozenset()) -> list[str]:
    """Refuse formatting syntax and undeclared placeholders; returns the placeholders.

    ``reserved`` names (``_limit``, ``_offset`` for paging) are bound by the gateway."""
    bare = strip_literals(sql)
    bad = _FORMATTING.search(bare)
    if bad:
        raise UnboundParameterError(
            f"{bad.group(0)!r} at character {bad.start()} is not a bound parameter: "
            "write :name and declare name under params"
        )
    used = placeholders(sql)
    for name in used:
        if name not in declared and name not in reserved:
            raise UnboundParameterError(
                f"parameter :{name} is not bound: declare it under params.properties"
            )
    return used
