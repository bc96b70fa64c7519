"""PostgreSQL's bulk load: new papers go in by COPY, the GIN indexes are built once after, the vocabulary recounted.

Row by row, every inserted paper updates the GIN index of ``search_vec`` (a few hundred postings
each): 20k papers took 144 s. Here, in ONE transaction, the GIN indexes of ``papers`` and of
``lookup_segments`` (which ``papers``' triggers fill, one statement per COPY) are dropped
(their definitions read from the catalog first), new papers are streamed in with ``COPY``, papers
already stored are merged as :meth:`~digestbot.store.postgres.store.PostgresStore.upsert_papers`
merges them, and then each index is created again from the table (one sort, far cheaper than
maintaining it) and ``lookup_terms`` recounted with the upsert's rule. A failed load rolls it all
back, the dropped indexes included: DDL is transactional in PostgreSQL.

The price: dropping an index takes an ACCESS EXCLUSIVE lock on ``papers`` until COMMIT, so
other processes' reads of papers wait for the load. It is meant for a new archive or a backfill
(``ingest`` takes this path only for inputs large next to the archive, see
:func:`digestbot.ingest.store_papers`).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any

import psycopg

from digestbot.records import Paper
from digestbot.store.postgres.search import search_vector
from digestbot.store.records import UpsertResult
from digestbot.store.sqlite import _last_wins, _lookup_words, _row_values

log = logging.getLogger(__name__)


Row = tuple[Any, ...]


def paper_rows(paper: Paper, old: Paper | None) -> tuple[Paper, Row | None, Row | None]:
    """Return ``paper`` merged with its stored version ``old``, and the row that stores it.

    One rule for upserts and bulk loads alike: a new paper is an insert row (its
    ``_row_values`` and search vector), a changed one an update row (the values without the
    id, the vector, then the id: the order of the store's UPDATE), an unchanged one neither.
    """
    if old is None:
        values = _row_values(paper)
        return paper, (*values, search_vector(values)), None
    merged = old.merged_with(paper)
    if merged == old:
        return merged, None, None
    values = _row_values(merged)
    return merged, None, (*values[1:], search_vector(values), values[0])


Known = Callable[[psycopg.AsyncConnection[Any], list[str]], Awaitable[dict[str, Paper]]]
"""Read the stored papers among some ids (the store's ``_known``), for the merge."""

MAINTENANCE_MEMORY = "512MB"
"""The least ``maintenance_work_mem`` the indexes are built with: a GIN build that fits in memory sorts once.

A server configured with more (the bench's own runs with 1GB) keeps its own setting.
"""

_COPY_PAPERS = (
    "COPY papers (arxiv_id, title, authors, abstract, sections, ai_summary, keywords, votes, thumbnail, github_url,"
    " digest_date, source, extra, authors_text, summary_text, keywords_text, grams_text, updated_at, search_vec)"
    " FROM STDIN"
)
_ENTRIES = (
    "INSERT INTO digest_entries(digest_date, arxiv_id, votes)"
    " SELECT * FROM unnest(%s::date[], %s::text[], %s::integer[])"
    " ON CONFLICT (digest_date, arxiv_id) DO UPDATE SET votes = coalesce(excluded.votes, digest_entries.votes)"
)
_GIN_INDEXES = (
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    " AND tablename = %s AND indexdef LIKE '%% USING gin %%' ORDER BY indexname"
)


async def bulk_load(
    conn: psycopg.AsyncConnection[Any],
    papers: Iterable[Paper],
    *,
    batch: int,
    digest_date: date | None,
    known: Known,
    update_sql: str,
) -> UpsertResult:
    """Store ``papers`` inside the caller's transaction; return how many were added, updated, unchanged.

    ``update_sql`` is the store's UPDATE of one paper (its ``_row_values`` without the id, the
    search vector, then the id), so a merged paper is written exactly as an upsert writes it.
    """
    added = updated = unchanged = 0
    await _raise_maintenance_memory(conn)
    indexes = await _drop_gin_indexes(conn, "papers") + await _drop_gin_indexes(conn, "lookup_segments")
    started = time.perf_counter()
    iterator = iter(papers)
    while chunk := list(itertools.islice(iterator, batch)):
        result = await _write_chunk(conn, chunk, digest_date, known, update_sql)
        added += result.added
        updated += result.updated
        unchanged += result.unchanged
    log.info("bulk load: %d papers written in %.1f s", added + updated + unchanged, time.perf_counter() - started)
    await _create_indexes(conn, indexes)
    await recount_terms(conn)
    await conn.execute("ANALYZE papers")
    await conn.execute("ANALYZE lookup_segments")
    await conn.execute("ANALYZE digest_entries")
    return UpsertResult(added=added, updated=updated, unchanged=unchanged)


async def _raise_maintenance_memory(conn: psycopg.AsyncConnection[Any]) -> None:
    """Give this transaction at least :data:`MAINTENANCE_MEMORY` for index builds (never less than the server's)."""
    cur = await conn.execute(
        "SELECT pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes(%s)", (MAINTENANCE_MEMORY,)
    )
    row = await cur.fetchone()
    if row is not None and row[0]:
        await conn.execute(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_MEMORY}'")


async def _write_chunk(
    conn: psycopg.AsyncConnection[Any],
    chunk: list[Paper],
    digest_date: date | None,
    known: Known,
    update_sql: str,
) -> UpsertResult:
    """Write one chunk: new papers by COPY, known ones merged by UPDATE, the day's entries in one statement."""
    chunk = _last_wins(chunk)
    stored = await known(conn, [p.arxiv_id for p in chunk])
    updates: list[tuple[Any, ...]] = []
    days: list[str] = []
    ids: list[str] = []
    votes: list[int | None] = []
    added = unchanged = 0
    async with conn.cursor() as cur:
        async with cur.copy(_COPY_PAPERS) as copy:
            for paper in chunk:
                merged, insert, update = paper_rows(paper, stored.get(paper.arxiv_id))
                if insert is not None:
                    await copy.write_row(insert)
                    added += 1
                elif update is not None:
                    updates.append(update)
                else:
                    unchanged += 1
                day = digest_date or paper.digest_date
                if day is not None:
                    days.append(day.isoformat())
                    ids.append(paper.arxiv_id)
                    votes.append(merged.votes)
        if updates:
            await cur.executemany(update_sql, updates)
        if ids:
            await cur.execute(_ENTRIES, (days, ids, votes))
    return UpsertResult(added=added, updated=len(updates), unchanged=unchanged)


async def _drop_gin_indexes(conn: psycopg.AsyncConnection[Any], table: str) -> list[tuple[str, str]]:
    """Drop ``table``'s GIN indexes; return (name, definition) of each, to create it again after the load."""
    cur = await conn.execute(_GIN_INDEXES, (table,))
    indexes = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
    for name, _ in indexes:
        await conn.execute(f'DROP INDEX "{name}"')
    return indexes


async def _create_indexes(conn: psycopg.AsyncConnection[Any], indexes: list[tuple[str, str]]) -> None:
    """Create the dropped indexes again from their catalog definitions, timing each.

    A partitioned table's index is defined ``ON ONLY`` the parent (the partitions' indexes are
    attached one by one after); created plainly ``ON`` it, each partition gets its index.
    """
    for name, definition in indexes:
        started = time.perf_counter()
        definition = definition.replace(" ON ONLY ", " ON ", 1)
        await conn.execute(definition.encode())  # the catalog's own text: no parameters
        log.info("bulk load: built index %s in %.1f s", name, time.perf_counter() - started)


async def recount_terms(conn: psycopg.AsyncConnection[Any]) -> None:
    """Rebuild ``lookup_terms`` from every stored paper, counting exactly the words upserts count (as SQLite's).

    The rows stream out by ``COPY … TO STDOUT`` (the archive is never read into memory) and the
    counts go back by ``COPY``, with the vocabulary's trigram index dropped meanwhile and built once.
    """
    started = time.perf_counter()
    counts: dict[str, int] = {}
    async with conn.cursor() as cur:
        async with cur.copy("COPY (SELECT title, authors_text, keywords_text FROM papers) TO STDOUT") as copy:
            async for title, authors_text, keywords_text in copy.rows():
                for word in _lookup_words(title, authors_text, keywords_text):
                    counts[word] = counts.get(word, 0) + 1
        indexes = await _drop_gin_indexes(conn, "lookup_terms")
        await cur.execute("DELETE FROM lookup_terms")
        async with cur.copy("COPY lookup_terms (term, docs) FROM STDIN") as copy:
            for item in sorted(counts.items()):
                await copy.write_row(item)
    await _create_indexes(conn, indexes)
    await conn.execute("ANALYZE lookup_terms")
    log.info("bulk load: %d vocabulary words recounted in %.1f s", len(counts), time.perf_counter() - started)
