"""PostgreSQL's errors in digestbot's words, as :mod:`digestbot.store.sqlite_errors` does for SQLite.

Nothing outside ``digestbot/store/`` may catch driver exceptions, so a connection the server
dropped mid-command (restart, failover, network) becomes a :class:`~digestbot.errors.StoreBusyError`
— nothing was half-written, run it again (exit 75) — whose one line names the database with its
password hidden. Our own mistakes (bad SQL) stay psycopg exceptions, shown as bugs.
"""

from __future__ import annotations

import psycopg

from digestbot.errors import StoreBusyError, StoreError
from digestbot.store.translation import translating_by


def translate(where: str, exc: psycopg.OperationalError) -> StoreError:
    """Word a lost connection as worth retrying later: nothing was half-written (one transaction)."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StoreBusyError(f"{where}: database connection lost: {detail} (try again later)", reason=detail)


translating = translating_by(psycopg.OperationalError, translate)
"""Class decorator: every public ``async def`` raises store errors for a lost connection."""
