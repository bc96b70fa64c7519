"""The store's search calls for ``/paper``, as :mod:`digestbot.lookup` makes them.

Thin functions over :class:`~digestbot.store.protocol.StoreProtocol`'s search methods, so the
ranking code names one module whatever the backend; the SQLite queries (and why each is bounded)
are in :mod:`digestbot.store.sqlite_search`.
"""

from __future__ import annotations

from digestbot.store.protocol import StoreProtocol
from digestbot.store.records import Index, SearchRow

__all__ = ["Index", "SearchRow", "candidates", "near_terms", "search_rows", "term_docs", "terms_starting"]


async def candidates(store: StoreProtocol, index: Index, match: str, *, limit: int) -> list[int]:
    """Return the rowids of the newest ``limit`` papers matching the FTS5 expression ``match`` in ``index``."""
    return await store.search_candidates(index, match, limit=limit)


async def search_rows(store: StoreProtocol, rowids: list[int]) -> list[SearchRow]:
    """Return the scoring fields of ``rowids`` (any order)."""
    return await store.search_rows(rowids)


async def term_docs(store: StoreProtocol, terms: list[str]) -> dict[str, int]:
    """Return how many papers have each of ``terms`` in a title, author name or keyword (absent: left out)."""
    return await store.term_docs(terms)


async def terms_starting(
    store: StoreProtocol, prefix: str, *, min_len: int, max_len: int, limit: int
) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words starting with ``prefix`` whose length is in [min_len, max_len]."""
    return await store.terms_starting(prefix, min_len=min_len, max_len=max_len, limit=limit)


async def near_terms(store: StoreProtocol, word: str, *, edits: int, limit: int) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words that may be ``word`` with a typo, most frequent first."""
    return await store.near_terms(word, edits=edits, limit=limit)
