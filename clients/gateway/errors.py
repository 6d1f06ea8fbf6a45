"""The gateway's errors: one base, :class:`GatewayError`, and a subclass per kind of failure.

Every message is one line a hospital's integration engineer can act on: it names the file,
line and field of a bad declaration, the setting a database lacks, or the step that failed.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error raised by ``clients.gateway``."""


class ConfigError(GatewayError):
    """A declaration (YAML) that does not load: names the file, the line and the field."""

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ConnectorError(GatewayError):
    """A connection to a hospital system failed or was refused."""


class UnboundParameterError(ConnectorError):
    """A query would run with a value that is not a bound parameter."""


class CaptureError(GatewayError):
    """Change capture cannot run (a database setting, a lost position, a broken stream)."""


class CaptureSettingError(CaptureError):
    """The database lacks a setting log-based capture needs; the message names it."""


class MappingError(GatewayError):
    """A row or message could not be mapped (expression error or wrong shape)."""


class FhirInvalidError(MappingError):
    """The mapped resource is not valid FHIR R4 (the validator's message is kept)."""


class Hl7Error(GatewayError):
    """A malformed HL7 v2 message or MLLP frame."""


class UpstreamError(GatewayError):
    """A third-party HTTP or SOAP service failed after retries."""


class CircuitOpenError(UpstreamError):
    """The circuit breaker of a third-party service is open: calls fail fast."""


class TopicError(GatewayError):
    """Publishing to or consuming from a topic failed."""


class FlowError(GatewayError):
    """A flow run failed at a step (the step id is in the message)."""


class StepTimeoutError(FlowError):
    """A flow step ran past its timeout."""


class SinkError(GatewayError):
    """Sharing into MedLedger failed (the row stays pending and is retried)."""


class PatientNotLinkedError(SinkError):
    """The hospital patient has no wallet address in the master patient index yet."""


class StateError(GatewayError):
    """The gateway's local state store is unusable."""


class AccessKeyError(GatewayError):
    """An atomic or flow API was called without a valid access key."""
