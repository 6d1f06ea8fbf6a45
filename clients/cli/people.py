"""Who is who, from the consortium's directory: names beside addresses, checks before signing.

A consent or a policy is on the chain for good, so the command line checks what a person typed
against what the consortium knows before the wallet signs: a grantee address that is not a
member, a policy attribute no member holds (``dept:cardiolgy``), a file that is not a FHIR
resource. Each is a question (``--yes`` answers it for scripts; without a terminal and without
``--yes`` the command stops, with nothing sent). Listings show who an address is
(``doctor · dept:cardiology · cd3h 成都市第三人民医院``) from ``GET /directory/members``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer

from clients.cli.common import CliError, info

if TYPE_CHECKING:
    from clients.sdk import MedLedgerClient

YesOption = typer.Option(
    False, "--yes", "-y", help="Answer yes to the checks' questions (for scripts)."
)

# attributes the protocol derives for every key (crypto/; never in the directory's lists)
DERIVED = ("uid", "custodian", "epoch", "bg", "patient")


def confirm(question: str, *, yes: bool) -> None:
    """Ask ``question``; stop (nothing sent) unless the answer is yes.

    On a terminal the question is a prompt on stderr. Otherwise one line is read from
    standard input without a prompt (``yes | medledger …`` answers it; no input is a no), so
    that a script's stderr holds only the one ``error:`` line when the answer is no.
    """
    if yes:
        info(f"{question} yes (--yes)")
        return
    if sys.stdin.isatty():
        try:
            answer = typer.confirm(question, default=False, err=True)
        except typer.Abort:
            answer = False
    else:
        line = sys.stdin.readline()
        answer = line.strip().lower() in ("y", "yes")
        if answer:
            info(f"{question} yes (from standard input)")
    if not answer:
        raise CliError(f"{question.rstrip('?')}: not confirmed, nothing sent (--yes to go on)")


def label(member: dict[str, Any] | None) -> str:
    """``doctor · dept:cardiology · cd3h 成都市第三人民医院`` (or ``not a member``)."""
    if not member:
        return "not a member"
    parts = [str(member.get("role") or "?")]
    parts += [a for a in member.get("attributes") or [] if not a.startswith("org:")]
    institution = member.get("institution")
    if institution:
        parts.append(f"{institution.get('code')} {institution.get('name')}")
    if member.get("removed"):
        parts.append("removed")
    elif not member.get("active", True):
        parts.append("suspended")
    return " · ".join(parts)


def names(client: MedLedgerClient, addresses: Iterable[str | None]) -> dict[str, str]:
    """Lower-cased address → :func:`label` for every address given."""
    wanted = [a for a in dict.fromkeys(a for a in addresses if a)]
    if not wanted:
        return {}
    found = client.members(wanted)
    return {a.lower(): label(found.get(a.lower())) for a in wanted}


def check_grantee(client: MedLedgerClient, grantee: str, *, yes: bool) -> str:
    """The grantee's label; a question first when the consortium does not know the address."""
    member = client.members([grantee]).get(grantee.lower())
    if member is None:
        confirm(
            f"{grantee} is not a member of any institution of the consortium; grant anyway?",
            yes=yes,
        )
    elif member.get("removed") or not member.get("active", True):
        confirm(f"{grantee} is {label(member)}; grant anyway?", yes=yes)
    return label(member)


def known_attributes(directory: dict[str, Any]) -> dict[str, set[str]]:
    """Namespace → values the directory knows: ``org`` codes, ``role``s, ``dept`` …"""
    known: dict[str, set[str]] = {"org": set(), "role": set()}
    for institution in directory.get("institutions") or []:
        known["org"].add(str(institution.get("code", "")).casefold())
        known["role"].update(str(r).casefold() for r in institution.get("roles") or [])
        for namespace, values in (institution.get("attributes") or {}).items():
            known.setdefault(namespace.casefold(), set()).update(v.casefold() for v in values)
    return known


def policy_attributes(policy: str) -> list[str]:
    """The attributes a policy names, in order, each once (normalised as the parser does)."""
    from crypto.policy import Attribute, parse

    found: list[str] = []
    stack: list[Any] = [parse(policy)]
    while stack:
        node = stack.pop()
        if isinstance(node, Attribute):
            found.append(node.name)
        else:
            stack.extend(reversed(node.children))
    return list(dict.fromkeys(found))


def unknown_attributes(policy: str, directory: dict[str, Any]) -> list[str]:
    """Attributes of ``policy`` that no institution or active clinician of the directory has."""
    known = known_attributes(directory)
    unknown = []
    for attribute in policy_attributes(policy):
        namespace, _, value = attribute.partition(":")
        if namespace in DERIVED:
            continue
        if value.casefold() not in known.get(namespace, set()):
            unknown.append(attribute)
    return unknown


def check_policy(client: MedLedgerClient, policy: str, *, yes: bool) -> None:
    """A question when the policy names an attribute the directory does not know."""
    unknown = unknown_attributes(policy, client.directory())
    if unknown:
        confirm(
            f"no member of the consortium holds {', '.join(unknown)} (a typo? see "
            "`medledger patient directory`); use this policy anyway?",
            yes=yes,
        )
