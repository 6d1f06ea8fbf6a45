"""Apply a declared mapping: row or message in, validated FHIR resource out.

A :class:`Mapper` evaluates the mapping's JSONata ``expression`` to a resource, checks that
its ``resourceType`` is the one the mapping declares, validates it
(:func:`~clients.gateway.fhir.validate.validate_fhir`), and extracts the hospital's patient
id (the ``patient`` expression, default ``patient_id``) and the source key (``key``, default
``id``) that the sink needs for the master patient index and the idempotent record id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.gateway.config.model import Mapping
from clients.gateway.errors import FhirInvalidError, MappingError
from clients.gateway.fhir.expressions import expression
from clients.gateway.fhir.validate import validate_fhir


@dataclass(frozen=True)
class Mapped:
    """A resource ready to move, and who and what it is about."""

    resource: dict[str, Any]
    resource_type: str
    patient_id: str
    key: str
    mapping: str


class Mapper:
    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self._expr = expression(mapping.expression)
        self._patient = expression(mapping.patient or "patient_id")
        self._key = expression(mapping.key or "id")

    def apply(self, data: Any) -> Mapped:
        resource = self._expr.evaluate(data)
        if not isinstance(resource, dict):
            raise MappingError(
                f"mapping {self.mapping.name!r} gave {type(resource).__name__}, not an object"
            )
        if resource.get("resourceType") != self.mapping.resource:
            raise FhirInvalidError(
                f"mapping {self.mapping.name!r} declares {self.mapping.resource} "
                f"but gave {resource.get('resourceType')!r}"
            )
        validate_fhir(resource)
        patient = self._patient.evaluate(data)
        key = self._key.evaluate(data)
        if patient in (None, "", []) or isinstance(patient, dict | list):
            raise MappingError(f"mapping {self.mapping.name!r}: no patient id in the input")
        if key in (None, "", []) or isinstance(key, dict | list):
            raise MappingError(f"mapping {self.mapping.name!r}: no source key in the input")
        return Mapped(
            resource, self.mapping.resource, _text(patient), _text(key), self.mapping.name
        )


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
