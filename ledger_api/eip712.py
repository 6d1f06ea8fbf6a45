"""The EIP-712 type sets a wallet signs, published from :mod:`crypto.signing` as it stands.

A wallet written outside the project could find the ``Consent`` and ``Revocation`` types only
in the Solidity source. They are published here, in ``GET /chain`` (with each domain's chain id
and verifying contract) and in the OpenAPI description, *generated* from ``crypto.signing``:
every module-level ``<PREFIX>TYPES`` mapping of struct name → fields is one set, signed in the
domain named by ``<PREFIX>DOMAIN_NAME`` (``DOMAIN_NAME`` for ``EIP712_TYPES``) and version
``<PREFIX>DOMAIN_VERSION`` (else ``DOMAIN_VERSION``). A type set added there appears here
without an edit; the verifying contract is the deployed contract the domain name ends with
(``MedLedger ConsentManager`` → ``ConsentManager``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from crypto import signing

__all__ = ["TypeSet", "type_sets", "with_deployment"]

Fields = list[dict[str, str]]


@dataclass(frozen=True)
class TypeSet:
    """One EIP-712 domain and the struct types signed in it."""

    name: str  # the Python constant, e.g. EIP712_TYPES
    domain_name: str
    domain_version: str
    types: dict[str, Fields]

    @property
    def contract(self) -> str:
        """The contract whose address is the verifying contract (the domain name's last word)."""
        return self.domain_name.split()[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": {"name": self.domain_name, "version": self.domain_version},
            "contract": self.contract,
            "primary_types": sorted(self.types),
            "types": {"EIP712Domain": list(signing.EIP712_DOMAIN_TYPE), **self.types},
        }


def _is_type_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(k, str)
            and isinstance(fields, list)
            and all(isinstance(f, dict) and {"name", "type"} <= set(f) for f in fields)
            for k, fields in value.items()
        )
    )


def type_sets(module: ModuleType = signing) -> list[TypeSet]:
    """Every type set of ``module`` that names its domain (see the module docstring)."""
    found: list[TypeSet] = []
    for attr in sorted(vars(module)):
        value = getattr(module, attr)
        if not attr.endswith("TYPES") or not _is_type_map(value):
            continue
        prefix = attr.removesuffix("TYPES")
        domain_name = getattr(module, f"{prefix}DOMAIN_NAME", None)
        if domain_name is None and prefix == "EIP712_":
            domain_name = getattr(module, "DOMAIN_NAME", None)
        if not isinstance(domain_name, str):
            continue  # a set without a domain is not something a wallet signs on its own
        version = getattr(module, f"{prefix}DOMAIN_VERSION", module.DOMAIN_VERSION)
        found.append(TypeSet(attr, domain_name, str(version), dict(value)))
    return found


def with_deployment(chain_id: int, contracts: dict[str, str]) -> list[dict[str, Any]]:
    """The type sets with their full domains for one deployment (``GET /chain``)."""
    out = []
    for found in type_sets():
        entry = found.as_dict()
        entry["domain"] = {
            **entry["domain"],
            "chainId": chain_id,
            "verifyingContract": contracts.get(found.contract),
        }
        out.append(entry)
    return out
