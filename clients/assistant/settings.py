"""Settings of the assistant service, from ``MEDLEDGER_ASSISTANT_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AssistantSettings(BaseSettings):
    """Where feedback is kept, which browser origins may call, and the request size limit.

    ``cors_origins`` lists the origins allowed to call from a browser (the MedLedger API's
    origin, which serves the workstation); empty allows none. ``public_url`` is the base URL
    cards link to (the transparency page); by default the URL the request came in on."""

    model_config = SettingsConfigDict(env_prefix="MEDLEDGER_ASSISTANT_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path("~/.medledger/assistant").expanduser())
    cors_origins: list[str] = Field(default_factory=list)
    public_url: str | None = None
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ValueError(
                    f"CORS origin {origin!r} must be an http(s) origin, not a wildcard"
                )
        return value
