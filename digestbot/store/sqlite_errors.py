"""SQLite's errors in digestbot's words: the :class:`~digestbot.errors.StoreError` tree every backend raises.

Nothing outside ``digestbot/store/`` may catch ``sqlite3`` exceptions (a second backend would
have to fake them), so the SQLite store translates each failure the user or the machine can
cause (a lock held too long, a full disk, a damaged file) into a store error whose text is the
one line the CLI shows. Our own mistakes (bad SQL, a broken constraint) stay ``sqlite3``
exceptions, so they surface as bugs with their traceback.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

from digestbot.errors import StoreBusyError, StoreDamagedError, StoreError, StoreFailedError
from digestbot.store.translation import translated_by, translating_by

_BUGS = (sqlite3.ProgrammingError, sqlite3.IntegrityError, sqlite3.NotSupportedError, sqlite3.InterfaceError)


def translate(path: Path | str, exc: sqlite3.Error) -> StoreError | None:
    """Return the store error for ``exc`` on the file ``path``, or None when it is a bug of ours.

    The text decides before the class: a trigger's ``RAISE(ABORT, 'database or disk is full')``
    (how tests fake a full disk) is an IntegrityError that must read as the full disk it says.
    """
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return StoreBusyError(f"{path}: {text}: another process holds it; run the command again later", reason=text)
    if "full" in text:
        return StoreFailedError(
            f"{path}: {text}: free some disk space and run the command again (nothing was half-written)", reason=text
        )
    if "malformed" in text or "not a database" in text:
        return StoreDamagedError(
            f"{path}: the database file is damaged ({text}): restore a backup, or try 'sqlite3 FILE .recover'",
            reason=text,
        )
    if isinstance(exc, _BUGS):
        return None
    return StoreFailedError(f"{path}: database error: {text}", reason=text)


def translated(path: Path | str) -> AbstractContextManager[None]:
    """Raise the store error for any SQLite failure in the block (bugs pass through unchanged)."""
    return translated_by(sqlite3.Error, translate, path)


translating = translating_by(sqlite3.Error, translate)
"""Class decorator: every public ``async def`` raises store errors, not ``sqlite3`` ones."""
