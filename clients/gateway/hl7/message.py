"""HL7 v2 messages: parse (python-hl7), turn into JSON data for mappings, build ACK/NAK.

A parsed message becomes ``{"MSH": [seg], "PID": [seg], "OBR": [...], "OBX": [...]}`` where a
segment is ``{"f1": ..., "f2": ...}`` numbered as the standard numbers fields (``MSH.f9`` is
the message type, ``PID.f3`` the patient identifier list, ``OBX.f5`` the value). A field with
components is a list of them (``OBX.f3 = ["2345-7", "Glucose", "LN"]``); of repeated fields
the first repetition is kept. Escape sequences are undone.

Acknowledgements follow HL7 v2.5 original mode: ``MSA-1`` is ``AA`` (accepted), ``AE``
(error, with an ``ERR`` segment saying what) or ``AR`` (rejected: unreadable or unsupported);
``MSA-2`` echoes the sender's control id; the ACK's ``MSH`` swaps sending and receiving
application and facility.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import hl7

from clients.gateway.errors import Hl7Error

_counter = itertools.count(1)


class Hl7RejectError(Hl7Error):
    """A message that cannot be accepted; ``code`` is AE or AR, ``hl7_error`` HL7 table 0357."""

    def __init__(self, code: str, hl7_error: str, text: str) -> None:
        self.code, self.hl7_error, self.text = code, hl7_error, text
        super().__init__(text)


def parse(text: str) -> tuple[hl7.Message, dict[str, list[dict[str, Any]]]]:
    """The python-hl7 message and its JSON form; :class:`Hl7RejectError` if malformed."""
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7RejectError("AR", "100", "the message does not start with an MSH segment")
    try:
        message = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises ParseException and plain errors
        raise Hl7RejectError("AR", "100", f"unreadable HL7: {exc}") from None
    data: dict[str, list[dict[str, Any]]] = {}
    for segment in message:
        name = str(segment[0])
        if not name.isalnum() or len(name) != 3:
            raise Hl7RejectError("AR", "100", f"bad segment id {name[:10]!r}")
        fields: dict[str, Any] = {}
        for i in range(1, len(segment)):
            fields[f"f{i}"] = (
                _field(message, segment[i]) if not (name == "MSH" and i <= 2) else str(segment[i])
            )
        data.setdefault(name, []).append(fields)
    msh = data["MSH"][0]
    if not msh.get("f9"):
        raise Hl7RejectError("AR", "101", "MSH-9 (message type) is required")
    if not msh.get("f10"):
        raise Hl7RejectError("AR", "101", "MSH-10 (message control id) is required")
    return message, data


def _field(message: hl7.Message, field: Any) -> Any:
    text = str(field)
    first = text.split(message.separators[2])[0] if len(message.separators) > 2 else text
    comp_sep = message.separators[3] if len(message.separators) > 3 else "^"
    parts = [message.unescape(p) for p in first.split(comp_sep)]
    if len(parts) == 1:
        return parts[0]
    return parts


def message_type(data: dict[str, Any]) -> str:
    kind = data["MSH"][0]["f9"]
    if isinstance(kind, list):
        return "^".join(kind[:2])
    return str(kind)


def ack(
    data: dict[str, Any] | None,
    code: str = "AA",
    *,
    error: str | None = None,
    hl7_error: str = "207",
    facility: str = "MEDLEDGER",
    app: str = "GATEWAY",
) -> str:
    """An ACK (or NAK) for ``data`` (None when the message was unreadable)."""
    msh = (data or {}).get("MSH", [{}])[0]

    def text(key: str, default: str = "") -> str:
        value = msh.get(key, default)
        return "^".join(value) if isinstance(value, list) else str(value or default)

    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    trigger = msh.get("f9")[1] if isinstance(msh.get("f9"), list) and len(msh["f9"]) > 1 else ""
    control = f"ACK{now[:14]}{next(_counter):06d}"
    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                text("f5", app),
                text("f6", facility),
                text("f3"),
                text("f4"),
                now,
                "",
                f"ACK^{trigger}^ACK" if trigger else "ACK",
                control,
                text("f11", "P"),
                text("f12", "2.5"),
            ]
        ),
        "|".join(["MSA", code, text("f10")] + ([_escape(error)] if error and code != "AA" else [])),
    ]
    if error and code != "AA":
        segments.append(f"ERR|||{hl7_error}^{_escape(error)}^HL70357|E")
    return "\r".join(segments) + "\r"


def _escape(text: str) -> str:
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    return (
        out.replace("~", "\\R\\").replace("&", "\\T\\").replace("\r", " ").replace("\n", " ")[:400]
    )
