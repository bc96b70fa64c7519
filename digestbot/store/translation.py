"""One way for every backend to turn its driver's failures into digestbot's store errors.

Each backend knows which of its driver's exceptions mean "the machine or the user" (a lock, a
full disk, a dropped connection) and words them; that knowledge is its ``translate`` function.
How the translation is applied — around every public coroutine of a store class, or around one
block — is the same for all of them, so it lives here once and a third backend gets it for free.
A ``translate`` returning None marks the exception as our own bug: it passes through unchanged,
with its traceback.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from digestbot.errors import StoreError

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)
E = TypeVar("E", bound=BaseException)

Translate = Callable[[str, E], StoreError | None]


@contextmanager
def translated_by(caught: type[E], translate: Translate[E], where: object) -> Iterator[None]:
    """Raise ``translate``'s store error for any ``caught`` failure in the block; bugs pass through."""
    try:
        yield
    except caught as exc:
        error = translate(str(where), exc)
        if error is None:
            raise
        raise error from exc


def translating_by(caught: type[E], translate: Translate[E]) -> Callable[[C], C]:
    """Make every public ``async def`` of the decorated class raise store errors, not ``caught``.

    One place instead of a try/except in each of forty methods (and none forgotten in the next
    one). The instance's ``path`` attribute names the database in the message.
    """

    def wrap(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with translated_by(caught, translate, getattr(args[0], "path", "database")):
                return await method(*args, **kwargs)

        return wrapper

    def decorate(cls: C) -> C:
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.iscoroutinefunction(member):
                setattr(cls, name, wrap(member))
        return cls

    return decorate
