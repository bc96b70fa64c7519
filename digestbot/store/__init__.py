"""The store seam (:class:`~digestbot.store.protocol.StoreProtocol`) and its two implementations.

One SQLite file (WAL) is the default; a shared PostgreSQL database serves several processes on
several machines; :func:`open_store` picks by the target's form. :class:`Store` is the SQLite
store under the name tools and tests open it by (``Store.open(path)``); code that only uses a
store types against ``StoreProtocol``.
"""

from __future__ import annotations

import re
from pathlib import Path

from digestbot.errors import StoreError
from digestbot.redact import redact_loose
from digestbot.store.postgres import PostgresStore, is_postgres_url, redact_url
from digestbot.store.protocol import OutboxStorage, StoreProtocol
from digestbot.store.records import UpsertResult
from digestbot.store.sqlite import SqliteStore, Store

__all__ = [
    "OutboxStorage",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "StoreProtocol",
    "UpsertResult",
    "check_target",
    "open_store",
    "redact_url",
]


_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:(/|[^/]*@)")
"""``scheme:/…`` or ``scheme:…@``: a mistyped URL (``postgresql:/bot:pw@h/db``), never meant as a file name."""


_KEY_VALUE = re.compile(r"(?i)(?:^|\s)(?:host|hostaddr|dbname|user|password|port|sslmode)\s*=")
"""A libpq connection string (``host=… dbname=… password=…``): would become a file name, password and all."""


def check_target(target: str | Path) -> str | Path:
    """Return ``target`` as a PostgreSQL URL (str) or a database file path; raise StoreError for anything else.

    A path's folder must exist (a mistyped ``--db`` must not create folders); a URL must be
    ``postgresql://`` or ``postgres://`` (``mysql://…`` or ``sqlite://…`` would otherwise become a
    folder named after the scheme). Spaces around a URL are dropped (a pasted ``" postgresql://…"``
    is still that URL). Passwords never appear in the message, nor in a mistyped URL taken for a path.
    """
    text = str(target).strip()
    if is_postgres_url(text):
        return text
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(
            f"{redact_url(text)}: unsupported database URL scheme {scheme!r}:"
            " give a file path (SQLite) or a postgresql:// URL"
        )
    if _KEY_VALUE.search(text):
        raise StoreError(
            f"{redact_loose(text)}: a libpq key=value string is not a database here:"
            " write postgresql://user:password@host/dbname (percent-encoding what the password holds)"
        )
    if _URL_LIKE.match(text):
        raise StoreError(
            f"{redact_loose(text)}: not a database URL: write postgresql://user:password@host/dbname"
            " (two slashes), or give a file path"
        )
    path = Path(target)
    if not path.parent.is_dir():
        raise StoreError(
            f"{redact_loose(str(path))}: cannot open database: folder {redact_loose(str(path.parent))}"
            " does not exist (give a file path in an existing folder, or a postgresql:// URL)"
        )
    if path.is_dir():
        raise StoreError(f"{path}: is a folder: give a database file path, such as {path / 'digestbot.sqlite3'}")
    return path


async def open_store(target: str | Path, *, create: bool = True) -> StoreProtocol:
    """Open the store ``target`` names: a ``postgresql://`` URL opens PostgreSQL, a file path SQLite.

    ``create=False`` is for commands that only read: a PostgreSQL database without digestbot's
    schema is refused, not given one (an SQLite file's absence is checked before, by the CLI).
    """
    checked = check_target(target)
    if isinstance(checked, str):
        return await PostgresStore.open(checked, create=create)
    return await Store.open(checked)
