"""The SQLite store's search queries for ``/paper``: bounded FTS5 candidate lists, rows to score, the vocabulary.

Every query here has a LIMIT or reads one index range, so its cost does not grow with the archive:
FTS5 walks postings in rowid order and stops at the LIMIT (``ORDER BY bm25`` would read every
posting of every word, seconds for a common word at a million papers); the caller ranks the few
candidates itself (:mod:`digestbot.lookup`). :class:`~digestbot.store.sqlite.SqliteStore` exposes
them as methods of the store protocol.
"""

from __future__ import annotations

import aiosqlite

from digestbot.store.records import Index, SearchRow


async def candidates(db: aiosqlite.Connection, index: Index, match: str, *, limit: int) -> list[int]:
    """Return the rowids of the newest ``limit`` papers matching the FTS5 expression ``match`` in ``index``."""
    sql = f"SELECT rowid FROM {index} WHERE {index} MATCH ? ORDER BY rowid DESC LIMIT ?"
    async with db.execute(sql, (match, limit)) as cur:
        return [row[0] for row in await cur.fetchall()]


async def search_rows(db: aiosqlite.Connection, rowids: list[int]) -> list[SearchRow]:
    """Return the scoring fields of ``rowids`` (any order)."""
    if not rowids:
        return []
    marks = ",".join("?" * len(rowids))
    sql = (
        "SELECT rowid, arxiv_id, title, authors_text, keywords_text, grams_text, coalesce(votes, 0)"
        f" FROM papers WHERE rowid IN ({marks})"
    )
    async with db.execute(sql, rowids) as cur:
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
            for r in await cur.fetchall()
        ]


async def term_docs(db: aiosqlite.Connection, terms: list[str]) -> dict[str, int]:
    """Return how many papers have each of ``terms`` in a title, author name or keyword (absent: left out)."""
    if not terms:
        return {}
    marks = ",".join("?" * len(terms))
    async with db.execute(f"SELECT term, docs FROM lookup_terms WHERE term IN ({marks})", terms) as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def terms_starting(
    db: aiosqlite.Connection, prefix: str, *, min_len: int, max_len: int, limit: int
) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words starting with ``prefix`` whose length is in [min_len, max_len].

    One range of the primary key; ``limit`` bounds it for very short prefixes in a huge vocabulary.
    """
    sql = (
        "SELECT term, docs FROM lookup_terms WHERE term >= ? AND term < ? AND length(term) BETWEEN ? AND ?"
        " ORDER BY docs DESC LIMIT ?"
    )
    async with db.execute(sql, (prefix, prefix + "\U0010ffff", min_len, max_len, limit)) as cur:
        return [(r[0], r[1]) for r in await cur.fetchall()]


async def near_terms(db: aiosqlite.Connection, word: str, *, edits: int, limit: int) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words that may be ``word`` with a typo, most frequent first.

    One range of the primary key (the same first letter: people rarely mistype it) filtered inside
    SQLite to words that keep either the first three or the last two letters, which every
    one-edit typo past the first letter does, and to lengths within ``edits``. The caller then
    checks the few survivors' edit distance.
    """
    sql = (
        "SELECT term, docs FROM lookup_terms WHERE term >= ? AND term < ? AND length(term) BETWEEN ? AND ?"
        " AND (substr(term, 1, 3) = ? OR substr(term, -2) = ?) ORDER BY docs DESC LIMIT ?"
    )
    args = (word[0], word[0] + "\U0010ffff", len(word) - edits, len(word) + edits, word[:3], word[-2:], limit)
    async with db.execute(sql, args) as cur:
        return [(r[0], r[1]) for r in await cur.fetchall()]


async def popular_topics(db: aiosqlite.Connection, *, limit: int) -> list[str]:
    """Return the topics people follow, most followed first (ties by name)."""
    sql = "SELECT topic, count(*) AS n FROM subscriptions GROUP BY topic ORDER BY n DESC, topic LIMIT ?"
    async with db.execute(sql, (limit,)) as cur:
        return [r[0] for r in await cur.fetchall()]


async def keyword_vocabulary(db: aiosqlite.Connection, *, limit: int) -> list[str]:
    """Return distinct lower-cased paper keywords, the newest papers' first."""
    sql = (
        "SELECT DISTINCT lower(j.value) FROM papers, json_each(papers.keywords) AS j"
        " WHERE j.type = 'text' ORDER BY papers.rowid DESC LIMIT ?"
    )
    async with db.execute(sql, (limit,)) as cur:
        return [r[0] for r in await cur.fetchall()]
