"""Service settings, read from ``MEDLEDGER_*`` environment variables (pydantic-settings).

One object holds every knob so that a deployment is described by its environment alone
(twelve-factor); tests build a :class:`Settings` directly instead of touching ``os.environ``.
Secrets are :class:`~pydantic.SecretStr` so they never show up in logs or ``repr``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger_api.rates import parse_rate

MIB = 1024 * 1024
GIB = 1024 * MIB
# where `make wallet` (vite build) writes the patient wallet web app; a path, not an import:
# the API never imports `clients`, it only serves the built static files
DEFAULT_WALLET_DIR = Path(__file__).resolve().parent.parent / "clients" / "webwallet" / "dist"
# where `make workstation` writes the clinicians' and auditors' web app
DEFAULT_WORKSTATION_DIR = (
    Path(__file__).resolve().parent.parent / "clients" / "workstation" / "dist"
)
# the reference SMART apps the demo lists in the marketplace (static files, no build step)
DEFAULT_SMART_APPS_DIR = Path(__file__).resolve().parent.parent / "clients" / "smartapps"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDLEDGER_", extra="ignore")

    rpc_url: str = "http://127.0.0.1:8545"
    # the chain node GET /chain tells clients to check records against (default: rpc_url);
    # a deployment names one the API's operator does not control
    public_rpc_url: str | None = None
    # the same default as `medledger node up`, so a dev API finds the dev chain's deployment
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".medledger")
    deployment_file: Path | None = None  # default: <data_dir>/deployment.json
    block_store: Literal["local", "kubo"] = "local"
    block_store_path: Path | None = None  # default: <data_dir>/blocks
    kubo_url: str = "http://127.0.0.1:5001"
    database_url: str | None = None  # default: SQLite at <data_dir>/index.db
    # no key setting: the API holds no key at all (docs/key-authorities.md); each institution
    # runs its own authority (`medledger authority serve`)
    # this process's relayer: one key, or a file of keys (one 0x-hex key per line) of which
    # worker ``worker_index`` takes its own, so N API processes never share a nonce sequence
    # (docs/deployment.md); every key must be enrolled in Consortium as a relayer
    relayer_key: SecretStr | None = None
    relayer_keys_file: Path | None = None
    worker_index: int = Field(default=0, ge=0)
    # several API processes on one database: one indexer at a time, the others take over
    # within this many seconds of its holder dying (ledger_api.services.leader)
    leader_lease_seconds: float = Field(default=6.0, gt=0, le=60)
    # the healer settles a pending record or re-sends a relayed call only once it is this old:
    # until then the request that made it is still waiting for its own receipt
    heal_after_seconds: float = Field(default=15.0, gt=0, le=3_600)
    # how long mined relayed calls stay in the journal the healer re-sends from: a rollback
    # deeper than this (a chain restored from an older backup) is healed only for records
    journal_keep_seconds: float = Field(default=7 * 86_400.0, ge=60)
    max_upload_bytes: int = Field(default=256 * MIB, gt=0)
    max_header_bytes: int = Field(default=1 * MIB, gt=0)
    # every request body but the two multipart uploads, refused (413) before it is parsed
    max_json_bytes: int = Field(default=1 * MIB, gt=0)
    session_ttl_seconds: int = Field(default=900, gt=0)
    nonce_ttl_seconds: int = Field(default=300, gt=0)
    siwe_domain: str = "localhost"
    siwe_uri: str = "http://localhost"
    # sign-in messages may list resources of siwe_uri's origin, and those starting with these
    siwe_allowed_resources: list[str] = Field(default_factory=list)
    indexer_enabled: bool = True
    indexer_poll_interval: float = Field(default=0.5, gt=0)
    confirmations: int = Field(default=0, ge=0)
    log_json: bool = True
    # how long a Consortium lookup for a session may be reused (seconds; 0 = every request)
    principal_cache_seconds: float = Field(default=2.0, ge=0)
    # break-glass (docs/break-glass.md): openings per clinician per UTC day before a second
    # doctor's co-signature is required, and how long the API serves an opening's ciphertexts.
    # The cap is EmergencyAccess.dailyCap on chain, which the consortium admin sets: the dev
    # node, the tests and the demo set it from this value (enrol_demo_consortium); the API
    # itself reads the contract's.
    break_glass_daily_cap: int = Field(default=3, ge=0, le=2**32 - 1)
    break_glass_window_seconds: int = Field(default=4 * 3600, ge=60, le=24 * 3600)
    # rate limits (ledger_api.services.rate_limits): "N/period" or "unlimited"; the demo, the
    # tests and the benchmarks set their own
    rate_sign_in_per_address: str = "10/minute"
    rate_sign_in_per_ip: str = "60/minute"
    rate_denied_reads_per_address: str = "20/minute"
    rate_denied_reads_per_ip: str = "120/minute"
    rate_key_issuance_per_member: str = "20/hour"
    rate_key_issuance_per_ip: str = "200/hour"
    rate_uploads_per_address: str = "600/hour"
    rate_uploads_per_ip: str = "3000/hour"
    # enrolled system accounts (relayers, gateways): their per-address rate for every action
    rate_system_accounts: str = "6000/minute"
    # records a patient uploads to their own chart (author = patient), header + body bytes
    quota_self_authored_bytes: int = Field(default=2 * GIB, ge=0)
    # repeated identical denials (reader, record, reason) within this many seconds are one
    # access-log entry on chain with a count in the index
    denial_coalesce_seconds: int = Field(default=600, ge=0, le=86_400)
    # blocks a re-key replaced stay pinned this long for the audit (7 years), never served
    superseded_retention_seconds: int = Field(default=7 * 365 * 86_400, ge=0)
    # one GET /audit/verify call stops at a chunk boundary after this long; the report names
    # the last block checked and the client continues from the next (docs/audit.md)
    audit_verify_seconds: float = Field(default=20.0, gt=0, le=600)
    # the built patient wallet web app, served at /wallet/ (a clear 503 page when not built)
    wallet_dir: Path = DEFAULT_WALLET_DIR
    # the built clinicians' workstation and auditors' console, served at /workstation/
    workstation_dir: Path = DEFAULT_WORKSTATION_DIR
    # the reference SMART apps served at /apps/<name>/ (clients/smartapps): a vendor's apps
    # live on the vendor's own origin; these are the demo's and the tests'
    smart_apps_dir: Path = DEFAULT_SMART_APPS_DIR
    # CSP frame-src of the workstation and the wallet: where the SMART apps they launch may be
    # loaded from ('self' for the authorisation step, which runs in the app's frame)
    smart_frame_src: str = Field(
        default="'self' https: http://localhost:* http://127.0.0.1:*",
        max_length=400,
        pattern=r"^[A-Za-z0-9'*:/._ -]+$",
    )
    # the GP assistant service (clients/assistant) the workstation's pages call, if any
    assistant_url: str | None = Field(default=None, max_length=200)
    # this hospital's gateway (clients/gateway), whose patient index the workstation's "find a
    # patient" asks (GET /patient-index/{id}, with the gateway's index key), if any
    gateway_url: str | None = Field(default=None, max_length=200)

    @field_validator("*", mode="after")
    @classmethod
    def _rates_parse(cls, value: object, info: ValidationInfo) -> object:
        if info.field_name and info.field_name.startswith("rate_") and isinstance(value, str):
            parse_rate(value)  # a ValueError names the bad rate
        return value

    @model_validator(mode="after")
    def _defaults_under_data_dir(self) -> Settings:
        if self.relayer_key is None and self.relayer_keys_file is None:
            raise ValueError(
                "relayer_key or relayer_keys_file is required (MEDLEDGER_RELAYER_KEY or "
                "MEDLEDGER_RELAYER_KEYS_FILE)"
            )
        self.data_dir = self.data_dir.expanduser()
        if self.deployment_file is None:
            self.deployment_file = self.data_dir / "deployment.json"
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'index.db'}"
        if self.block_store_path is None:
            self.block_store_path = self.data_dir / "blocks"
        return self

    def relayer_secret(self) -> str:
        """This process's relayer key: ``relayer_keys_file``'s line ``worker_index`` (blank
        lines and ``#`` comments skipped), else ``relayer_key``. A worker index beyond the
        file is refused: two processes sharing a key would race for its nonces."""
        if self.relayer_keys_file is None:
            assert self.relayer_key is not None  # the validator required one of them
            return self.relayer_key.get_secret_value()
        try:
            lines = self.relayer_keys_file.read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read relayer_keys_file: {exc.strerror}") from None
        keys = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if self.worker_index >= len(keys):
            raise ValueError(
                f"relayer_keys_file has {len(keys)} keys; worker {self.worker_index} has none "
                "(one enrolled relayer key per API process)"
            )
        return keys[self.worker_index]

    @property
    def blocks_path(self) -> Path:
        assert self.block_store_path is not None
        return self.block_store_path
