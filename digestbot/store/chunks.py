"""Id lists cut to the size of one ``IN (...)`` query."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

CHUNK = 500
"""Ids per ``IN (...)`` lookup: well under SQLite's 999-parameter floor."""


def id_chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    """Yield ``ids`` without repeats, :data:`CHUNK` at a time: one ``IN (...)`` query each."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNK):
        yield unique[start : start + CHUNK]
