"""The store: one SQLite file (WAL) by default, or a shared PostgreSQL database; :func:`open_store` picks.

:class:`~digestbot.store.sqlite.Store` is the embedded SQLite store;
:class:`~digestbot.store.postgres.PostgresStore` implements the same public methods on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from digestbot.errors import StoreError
from digestbot.store.postgres import PostgresStore, is_postgres_url, redact_url
from digestbot.store.sqlite import Store, UpsertResult

__all__ = ["PostgresStore", "Store", "UpsertResult", "check_target", "open_store", "redact_url"]


def check_target(target: str | Path) -> str | Path:
    """Return ``target`` as a PostgreSQL URL (str) or a database file path; raise StoreError for anything else.

    A path's folder must exist (a mistyped ``--db`` must not create folders); a URL must be
    ``postgresql://`` or ``postgres://`` (``mysql://…`` or ``sqlite://…`` would otherwise become a
    folder named after the scheme). Passwords never appear in the message.
    """
    text = str(target)
    if is_postgres_url(text):
        return text
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(
            f"{redact_url(text)}: unsupported database URL scheme {scheme!r}:"
            " give a file path (SQLite) or a postgresql:// URL"
        )
    path = Path(target)
    if not path.parent.is_dir():
        raise StoreError(
            f"{path}: cannot open database: folder {path.parent} does not exist"
            " (give a file path in an existing folder, or a postgresql:// URL)"
        )
    return path


async def open_store(target: str | Path) -> Store:
    """Open the store ``target`` names: a ``postgresql://`` URL opens PostgreSQL, a file path SQLite.

    The PostgreSQL store has the SQLite store's public methods; until the store protocol lands
    it is typed as :class:`Store`, the contract it mirrors.
    """
    checked = check_target(target)
    if isinstance(checked, str):
        return cast(Store, await PostgresStore.open(checked))
    return await Store.open(checked)
