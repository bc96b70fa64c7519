"""PostgreSQL's errors in digestbot's words, as :mod:`digestbot.store.sqlite_errors` does for SQLite.

Nothing outside ``digestbot/store/`` may catch driver exceptions, so a connection the server
dropped mid-command (restart, failover, network) becomes a :class:`~digestbot.errors.StoreBusyError`
— nothing was half-written, run it again (exit 75) — whose one line names the database with its
password hidden. Our own mistakes (bad SQL) stay psycopg exceptions, shown as bugs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import psycopg

from digestbot.errors import StoreBusyError

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)


def _wrap(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except psycopg.OperationalError as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            where = getattr(args[0], "path", "database")
            raise StoreBusyError(
                f"{where}: database connection lost: {detail} (try again later)", reason=detail
            ) from None

    return wrapper


def translating(cls: C) -> C:
    """Class decorator: every public ``async def`` of ``cls`` raises store errors for a lost connection."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, _wrap(member))
    return cls
