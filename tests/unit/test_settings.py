"""Configuration: the embedded default, PostgreSQL URLs, and refusing weak secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.settings import Settings
from services.store import persistence_env, postgres_env


def test_the_embedded_default_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    env = persistence_env(Settings(data_dir=tmp_path, database_url=None))
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "careplan.db")


def test_a_postgres_url_maps_onto_the_library_keys() -> None:
    env = postgres_env("postgresql://care:s%40cret@db.local:6543/careplan?schema=clinic")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db.local", "6543")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("care", "s@cret")
    assert env["POSTGRES_DBNAME"] == "careplan"
    assert env["POSTGRES_SCHEMA"] == "clinic"
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == "no"


def test_another_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        postgres_env("mysql://root@localhost/careplan")


def test_production_refuses_a_missing_or_short_secret() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production", jwt_secret="short")
    assert Settings(environment="production", jwt_secret="x" * 32).jwt_secret


def test_development_generates_a_secret_once_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret=None)
    first = settings.resolved_jwt_secret()
    assert len(first) >= 32
    assert settings.resolved_jwt_secret() == first
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_kafka_servers_come_from_the_standard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    assert Settings().kafka_bootstrap_servers == "broker-1:9092,broker-2:9092"


def test_a_jwks_needs_an_issuer_and_an_audience(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CAREPLAN_JWT_ISSUER"):
        Settings(data_dir=tmp_path, jwt_jwks="https://idp.example/jwks.json")


def test_production_with_a_jwks_needs_no_shared_secret(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        environment="production",
        jwt_jwks="https://idp.example/jwks.json",
        jwt_issuer="https://idp.example",
        jwt_audience="careplan-api",
    )
    assert settings.jwt_secret is None
