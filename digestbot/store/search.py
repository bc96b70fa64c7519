"""The store's search queries for ``/paper``: bounded FTS5 candidate lists, rows to score, the vocabulary.

Every query here has a LIMIT or reads one index range, so its cost does not grow with the archive:
FTS5 walks postings in rowid order and stops at the LIMIT (``ORDER BY bm25`` would read every
posting of every word, seconds for a common word at a million papers); the caller ranks the few
candidates itself (:mod:`digestbot.lookup`). On PostgreSQL each function hands over to
:mod:`digestbot.store.postgres.search`, which answers the same questions from a weighted ``tsvector``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from digestbot.store.postgres import PostgresStore
from digestbot.store.postgres import search as pg
from digestbot.store.sqlite import Store

Index = Literal["lookup_fts", "body_fts"]
"""``lookup_fts``: title, authors, keywords, unspaced-script grams; ``body_fts``: abstracts and summaries."""


@dataclass(frozen=True, kw_only=True)
class SearchRow:
    """The fields a candidate is scored on (short ones; the abstract is only matched by the index)."""

    rowid: int
    arxiv_id: str
    title: str
    authors_text: str
    keywords_text: str
    grams_text: str
    votes: int


async def candidates(store: Store, index: Index, match: str, *, limit: int) -> list[int]:
    """Return the rowids of the newest ``limit`` papers matching the FTS5 expression ``match`` in ``index``."""
    if isinstance(store, PostgresStore):
        return await pg.candidates(store, index, match, limit=limit)
    sql = f"SELECT rowid FROM {index} WHERE {index} MATCH ? ORDER BY rowid DESC LIMIT ?"
    async with store.db.execute(sql, (match, limit)) as cur:
        return [row[0] for row in await cur.fetchall()]


async def search_rows(store: Store, rowids: list[int]) -> list[SearchRow]:
    """Return the scoring fields of ``rowids`` (any order)."""
    if not rowids:
        return []
    if isinstance(store, PostgresStore):
        rows = await pg.search_rows(store, rowids)
    else:
        marks = ",".join("?" * len(rowids))
        sql = (
            "SELECT rowid, arxiv_id, title, authors_text, keywords_text, grams_text, coalesce(votes, 0)"
            f" FROM papers WHERE rowid IN ({marks})"
        )
        async with store.db.execute(sql, rowids) as cur:
            rows = list(await cur.fetchall())
    return [
        SearchRow(
            rowid=r[0],
            arxiv_id=r[1],
            title=r[2],
            authors_text=r[3],
            keywords_text=r[4],
            grams_text=r[5],
            votes=r[6],
        )
        for r in rows
    ]


async def term_docs(store: Store, terms: list[str]) -> dict[str, int]:
    """Return how many papers have each of ``terms`` in a title, author name or keyword (absent: left out)."""
    if not terms:
        return {}
    if isinstance(store, PostgresStore):
        return await pg.term_docs(store, terms)
    marks = ",".join("?" * len(terms))
    async with store.db.execute(f"SELECT term, docs FROM lookup_terms WHERE term IN ({marks})", terms) as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def terms_starting(store: Store, prefix: str, *, min_len: int, max_len: int, limit: int) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words starting with ``prefix`` whose length is in [min_len, max_len].

    One range of the primary key; ``limit`` bounds it for very short prefixes in a huge vocabulary.
    """
    if isinstance(store, PostgresStore):
        return await pg.terms_starting(store, prefix, min_len=min_len, max_len=max_len, limit=limit)
    sql = (
        "SELECT term, docs FROM lookup_terms WHERE term >= ? AND term < ? AND length(term) BETWEEN ? AND ?"
        " ORDER BY docs DESC LIMIT ?"
    )
    async with store.db.execute(sql, (prefix, prefix + "\U0010ffff", min_len, max_len, limit)) as cur:
        return [(r[0], r[1]) for r in await cur.fetchall()]


async def near_terms(store: Store, word: str, *, edits: int, limit: int) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words that may be ``word`` with a typo, most frequent first.

    One range of the primary key (the same first letter: people rarely mistype it) filtered inside
    SQLite to words that keep either the first three or the last two letters, which every
    one-edit typo past the first letter does, and to lengths within ``edits``. The caller then
    checks the few survivors' edit distance.
    """
    if isinstance(store, PostgresStore):
        return await pg.near_terms(store, word, edits=edits, limit=limit)
    sql = (
        "SELECT term, docs FROM lookup_terms WHERE term >= ? AND term < ? AND length(term) BETWEEN ? AND ?"
        " AND (substr(term, 1, 3) = ? OR substr(term, -2) = ?) ORDER BY docs DESC LIMIT ?"
    )
    args = (word[0], word[0] + "\U0010ffff", len(word) - edits, len(word) + edits, word[:3], word[-2:], limit)
    async with store.db.execute(sql, args) as cur:
        return [(r[0], r[1]) for r in await cur.fetchall()]
