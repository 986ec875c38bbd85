"""All configuration in one typed place, read from ``CAREPLAN_*`` variables.

The defaults are the embedded shape (SQLite under ``./var``, projections in
process, no Kafka), so ``make run`` needs nothing set; pointing
``CAREPLAN_DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` at real servers gives the
production shape with no code change.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.event_json import DEFAULT_SCHEMA_BASE_URI

MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    # Errors name the setting, never its value: a secret must not reach a log or a terminal.
    model_config = SettingsConfigDict(
        env_prefix="CAREPLAN_", extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="postgresql://user:password@host:port/dbname; unset = SQLite"
    )
    formulary: Path | None = Field(
        default=None, description="An organisation's own formulary file; unset = the bundled one"
    )
    regulations: Path | None = Field(
        default=None, description="Controlled-substance rules with their dates; unset = bundled"
    )
    #: Never shown: not in errors, not in reprs (a rejected secret's tail was printed).
    jwt_secret: SecretStr | None = None
    jwt_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    #: Keys the hash chain and the snapshots (HMAC): kept outside the database, so that
    #: write access to it alone cannot forge a chain. Required in production.
    chain_key: SecretStr | None = None
    jwt_jwks: str | None = Field(
        default=None,
        description="An identity provider's JWKS (file path or https URL): RS256/ES256 tokens.",
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    create_event_tables: bool = Field(
        default=True,
        description="Off when running as a role that may only append (infra/postgres).",
    )
    plan_cache_size: int = Field(
        default=1000, ge=0, description="Plans kept in memory between commands (0: none)."
    )
    snapshot_interval: int = Field(
        default=100,
        ge=0,
        description="Events between snapshots of a plan, the cache of replay (0: none).",
    )
    projections: Literal["inprocess", "external"] = "inprocess"
    projection_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often followers poll the log (on PostgreSQL NOTIFY wakes them sooner).",
    )
    projection_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Events a follower applies per transaction."
    )
    read_your_writes_timeout_seconds: float = Field(default=5.0, ge=0)
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins allowed to call the API, as JSON: ["https://app.example"].',
    )
    idempotency_ttl_hours: float = Field(
        default=24.0, ge=24.0, description="How long an Idempotency-Key's answer is kept."
    )
    ready_max_lag_events: int = Field(
        default=1000, ge=0, description="GET /ready answers 503 when a view is further behind."
    )
    ready_max_lag_seconds: float = Field(
        default=60.0, ge=0, description="… or when its oldest unprocessed event is older."
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "CAREPLAN_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    kafka_topic: str = "careplan.events.v1"
    kafka_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    event_source: str = "urn:careplan"
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_seconds: float = Field(
        default=0.1, gt=0, description="Idle wait between reads of the log: bounds the latency."
    )
    relay_send_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long the relay waits for a batch's acknowledgements."
    )
    schema_base_uri: str = Field(
        default=DEFAULT_SCHEMA_BASE_URI,
        pattern=r"^[a-z][a-z0-9+.-]*://",
        description="Where the event schemas are published: ce_dataschema and each $id",
    )
    consumer_group: str = "careplan.current-medications"
    consumer_session_timeout_ms: int = Field(
        default=45_000, ge=1000, description="Kafka session timeout of `careplan consume`"
    )
    api_docs: bool | None = Field(
        default=None,
        description="Serve /docs and /openapi.json (default: in development only).",
    )
    log_format: Literal["console", "json"] | None = None
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_weak_secret_in_production(self) -> Settings:
        if self.jwt_jwks and not (self.jwt_issuer and self.jwt_audience):
            msg = "CAREPLAN_JWT_JWKS needs CAREPLAN_JWT_ISSUER and CAREPLAN_JWT_AUDIENCE"
            raise ValueError(msg)
        if (
            self.environment == "production"
            and not self.jwt_jwks
            and (not self.jwt_secret or len(self.jwt_secret.get_secret_value()) < MIN_SECRET_LENGTH)
        ):
            msg = (
                f"CAREPLAN_JWT_SECRET must be set to at least {MIN_SECRET_LENGTH} characters "
                "in production"
            )
            raise ValueError(msg)
        return self

    @property
    def docs_served(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "careplan.db"

    def resolved_jwt_secret(self) -> str:
        """The signing secret; in development one is generated once into the data dir."""
        if self.jwt_secret:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def resolved_chain_key(self) -> bytes:
        """The chain key; in development one is generated once into the data dir (the
        database never holds it). Production refuses to run without one given."""
        if self.chain_key:
            value = self.chain_key.get_secret_value()
            if len(value) < MIN_SECRET_LENGTH:
                msg = f"CAREPLAN_CHAIN_KEY must be at least {MIN_SECRET_LENGTH} characters"
                raise ValueError(msg)
            return value.encode()
        if self.environment == "production":
            msg = (
                f"CAREPLAN_CHAIN_KEY must be set (at least {MIN_SECRET_LENGTH} characters, kept "
                "outside the database) in production: it keys the hash chain"
            )
            raise ValueError(msg)
        path = self.data_dir / "chain-key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.environment == "production" else "console"
