"""Turn our settings into the ``eventsourcing`` persistence environment.

The library stores events in memory unless told otherwise, so the embedded
default names SQLite explicitly; a ``postgresql://`` URL selects PostgreSQL.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from services.settings import Settings


def persistence_env(settings: Settings) -> dict[str, str]:
    return {**_store_env(settings), **_cache_env(settings)}


def _cache_env(settings: Settings) -> dict[str, str]:
    """Plans recently used stay in memory and are brought up to date with the events
    stored since (from any process): a command then decodes the few new events, not
    the plan's whole history. A batch of commands takes the cached plan out of the
    cache until its events are stored (services.group_commit); a read or a command
    run alone works on a deep copy."""
    if not settings.plan_cache_size:
        return {}
    return {"AGGREGATE_CACHE_MAXSIZE": str(settings.plan_cache_size)}


def _store_env(settings: Settings) -> dict[str, str]:
    if settings.database_url:
        return with_table_creation(postgres_env(settings.database_url), settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        # Each event is stored with its link of the plan's hash chain (services.chain).
        "APPLICATION_RECORDER_TOPIC": "services.chain.recorders:SQLiteChainedRecorder",
        "SQLITE_DBNAME": str(settings.sqlite_path),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def postgres_env(url: str) -> dict[str, str]:
    """Map postgresql://user:pass@host:port/db?schema=s onto the library's keys."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        msg = f"CAREPLAN_DATABASE_URL must start with postgresql://, got {parts.scheme}://"
        raise ValueError(msg)
    query = parse_qs(parts.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "services.chain.recorders:PostgresChainedRecorder",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": query.get("pool_size", ["10"])[0],
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "5",
        # Kept off on purpose: with DB functions on, tracking rows can be lost.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env


def with_table_creation(env: dict[str, str], settings: Settings) -> dict[str, str]:
    """A role that may only append to the event tables cannot (re)declare them."""
    if not settings.create_event_tables:
        env["CREATE_TABLE"] = "no"
    return env
