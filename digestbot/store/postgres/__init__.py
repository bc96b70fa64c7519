"""The PostgreSQL store, for several bot processes sharing one database (see :mod:`.store`)."""

from digestbot.store.postgres.store import PostgresStore
from digestbot.store.postgres.url import is_postgres_url, redact_url

__all__ = ["PostgresStore", "is_postgres_url", "redact_url"]
