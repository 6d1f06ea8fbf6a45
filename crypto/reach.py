"""Which institutions a record policy reaches, and the FAME policy of each institution's slot.

No single key escrow (``docs/key-authorities.md``): every institution runs its own FAME key
authority (Agrawal & Chase, "FAME: Fast Attribute-based Message Encryption", ACM CCS 2017,
IACR eprint 2017/807; assumption k-Lin with k = 2, i.e. DLIN, in the random-oracle model), with
its own master key pair. A key issued by institution X's authority carries X's members'
attributes and opens only ciphertexts made under X's public key. A record whose policy may be
satisfied by members of several institutions therefore carries one FAME header per
institution it reaches (envelope v3, :mod:`crypto.envelope.header`): FAME's adaptive
security and its constant six-pairing decryption are kept; the header grows with the number of
institutions reached.

**Per-institution simplification.** The attributes an authority issues are institution
bound: ``org:<code>`` and ``custodian:<code>`` only ever name the issuing institution's own
code (the protocol derives them; ``Consortium`` refuses an admin writing them). So in
institution X's slot, every literal ``org:Y`` or ``custodian:Y`` with Y ≠ X is *false*, and the
policy is partially evaluated (:func:`simplify`): an ``and`` with a false child is false, an
``or`` drops its false children, ``k of (…)`` with fewer than k children left is false and
otherwise keeps the remaining ones. X is reached when the result is not false. A branch that
names no institution-specific literal (``role:doctor and dept:cardiology``) reaches every
institution of the on-chain directory; ``org:cd3h or org:pjxrmyy`` reaches exactly those two.

**Epochs** are per institution (``Consortium.authorityOf``): institution X's slot policy is
``(<simplified policy>) and epoch:<E_X>`` (:func:`slot_policy`), in canonical form, with
``E_X`` the epoch of X's authority when the record is written. The header's ``policy`` field
keeps the record policy without any epoch; a parser recomputes each slot's policy from it and
the slot's ``org`` code and ``epoch`` and refuses a slot whose FAME ciphertext names another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crypto.errors import PolicyReachError
from crypto.policy import And, Attribute, Node, Or, Threshold, normalize, parse
from crypto.policy_tree import canonical

__all__ = [
    "INSTITUTION_NAMESPACES",
    "Institution",
    "Reach",
    "reach",
    "simplify",
    "slot_policy",
]

#: Namespaces whose value names one institution (its code): false in every other slot.
INSTITUTION_NAMESPACES = frozenset({"org", "custodian"})


@dataclass(frozen=True, order=True)
class Institution:
    """One institution of the on-chain directory with its authority's current epoch."""

    id: int
    code: str
    epoch: int = 1


@dataclass(frozen=True)
class Reach:
    """One slot to write: the institution and the canonical FAME policy of its slot."""

    institution: Institution
    policy: str


def simplify(policy: str | Node, code: str) -> Node | None:
    """``policy`` as seen by institution ``code``'s keys (None when they can never satisfy it).

    Literals ``org:Y`` / ``custodian:Y`` with ``Y != code`` are false; the rest is kept."""
    node = parse(policy) if isinstance(policy, str) else policy
    own = code.lower()
    return _simplify(node, own)


def _simplify(node: Node, code: str) -> Node | None:
    if isinstance(node, Attribute):
        namespace, _, value = node.name.partition(":")
        if namespace in INSTITUTION_NAMESPACES and value != code:
            return None
        return node
    kept = [c for c in (_simplify(child, code) for child in node.children) if c is not None]
    if isinstance(node, And):
        if len(kept) != len(node.children):
            return None
        return kept[0] if len(kept) == 1 else And(tuple(kept))
    if isinstance(node, Or):
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Or(tuple(kept))
    assert isinstance(node, Threshold)
    if len(kept) < node.k:
        return None
    if len(kept) == node.k:
        return kept[0] if node.k == 1 else And(tuple(kept))
    if node.k == 1:
        return Or(tuple(kept))
    return Threshold(node.k, tuple(kept))


def slot_policy(policy: str | Node, code: str, epoch: int) -> str | None:
    """The canonical FAME policy of institution ``code``'s slot at ``epoch`` (None: not reached)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise PolicyReachError(f"an epoch is a positive integer, got {epoch!r}")
    simplified = simplify(policy, code)
    if simplified is None:
        return None
    text = canonical(simplified).text()
    if isinstance(simplified, And | Or):
        text = f"({text})"
    return normalize(f"{text} and epoch:{epoch}")


def reach(policy: str, directory: Iterable[Institution] | Mapping[int, Institution]) -> list[Reach]:
    """The slots a record under ``policy`` needs, one per reached institution, by id.

    Raises PolicyReachError when no institution of the directory is reached
    (a record nobody but the patient could read is refused: the caller should say so)."""
    institutions = directory.values() if isinstance(directory, Mapping) else directory
    node = parse(policy)
    slots = []
    for inst in sorted(institutions):
        text = slot_policy(node, inst.code, inst.epoch)
        if text is not None:
            slots.append(Reach(institution=inst, policy=text))
    if not slots:
        raise PolicyReachError(
            f"the policy {normalize(policy)!r} reaches no institution of the directory "
            f"({', '.join(i.code for i in sorted(institutions)) or 'empty'})"
        )
    return slots
