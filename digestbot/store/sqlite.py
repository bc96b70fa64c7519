"""The aiosqlite store: papers (+ FTS5 index), digests, subscriptions, channels, summaries, the outbox.

One file, WAL mode (readers never block the writer), ``synchronous=FULL`` (a committed delivery
record survives power loss), a busy timeout (several processes may share the file) and explicit
``BEGIN IMMEDIATE`` transactions, so every write either fully lands or not at all. All SQL is
parameterised. :class:`SqliteStore` implements :class:`~digestbot.store.protocol.StoreProtocol`;
its public methods raise store errors, never ``sqlite3`` ones (:mod:`digestbot.store.sqlite_errors`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, cast

import aiosqlite

from digestbot.errors import StoreBusyError, StoreDamagedError, StoreError, StoreFailedError, TopicLimitError
from digestbot.records import Digest, Paper
from digestbot.search_text import lookup_words, unspaced_grams
from digestbot.store import sqlite_search, sqlite_summaries
from digestbot.store.chunks import CHUNK as _CHUNK
from digestbot.store.chunks import id_chunks
from digestbot.store.installations import InstallationRecords
from digestbot.store.migrations import GRAMS_VERSION, LATEST, MIGRATIONS
from digestbot.store.outbox import BUSY_TIMEOUT_MS, SqliteOutbox, switch_to_wal
from digestbot.store.protocol import SettingsCheck
from digestbot.store.records import (
    Index,
    SearchRow,
    Sections,
    SubscriptionChange,
    SubscriptionRow,
    SummaryKey,
    UpsertResult,
)
from digestbot.store.sqlite_errors import translate, translated, translating

log = logging.getLogger(__name__)

_PAPER_COLUMNS = (
    "arxiv_id, title, authors, abstract, sections, ai_summary, keywords, votes, thumbnail, github_url,"
    " digest_date, source, extra"
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SqliteStore",
    "Store",
    "SubscriptionChange",
    "SubscriptionRow",
    "UpsertResult",
    "id_chunks",
]

_INSERT = (
    f"INSERT INTO papers ({_PAPER_COLUMNS}, authors_text, summary_text, keywords_text, grams_text, updated_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_UPDATE = (
    "UPDATE papers SET title=?, authors=?, abstract=?, sections=?, ai_summary=?, keywords=?, votes=?, thumbnail=?,"
    " github_url=?, digest_date=?, source=?, extra=?, authors_text=?, summary_text=?, keywords_text=?, grams_text=?,"
    " updated_at=?"
    " WHERE arxiv_id=?"
)

_ENTRY = (
    "INSERT INTO digest_entries(digest_date, arxiv_id, votes) VALUES (?,?,?)"
    " ON CONFLICT(digest_date, arxiv_id) DO UPDATE SET votes = coalesce(excluded.votes, votes)"
)


def _statements(script: str) -> list[str]:
    """Split a migration script into single statements (trigger bodies kept whole)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out


def _last_wins(chunk: list[Paper]) -> list[Paper]:
    """Fold repeats of one id inside a chunk into one paper (later enriches earlier), keeping order."""
    merged: dict[str, Paper] = {}
    for paper in chunk:
        old = merged.get(paper.arxiv_id)
        merged[paper.arxiv_id] = paper if old is None else old.merged_with(paper)
    return list(merged.values())


_lookup_words = lookup_words
"""The words ``lookup_terms`` counts for one paper (the PostgreSQL store imports it under this name)."""


async def _recount_terms(db: aiosqlite.Connection) -> None:
    """Rebuild ``lookup_terms`` from every stored paper, counting exactly the words upserts count.

    Not from the FTS vocabulary: the index also holds the unspaced-script grams, whose fragments
    of mixed words ("gsm8k에" → "sm8k…") would become words that typos are "corrected" to.
    """
    counts: dict[str, int] = {}
    async with db.execute("SELECT title, authors_text, keywords_text FROM papers") as cur:
        while rows := await cur.fetchmany(10_000):
            for title, authors_text, keywords_text in rows:
                for word in _lookup_words(title, authors_text, keywords_text):
                    counts[word] = counts.get(word, 0) + 1
    await db.execute("DELETE FROM lookup_terms")
    await db.executemany("INSERT INTO lookup_terms(term, docs) VALUES (?, ?)", sorted(counts.items()))


async def _count_terms(
    db: aiosqlite.Connection, inserts: list[tuple[Any, ...]], updates: list[tuple[Any, ...]], known: dict[str, Paper]
) -> None:
    """Keep ``lookup_terms`` (the vocabulary typo correction draws on) in step with new and changed papers.

    Counts only grow: a word that leaves a changed title keeps its count, which only makes it a
    slightly likelier correction; :meth:`SqliteStore.bulk_load` recounts exactly.
    """
    counts: dict[str, int] = {}
    for values in inserts:  # _row_values order: title 1, authors_text 13, keywords_text 15
        for word in _lookup_words(values[1], values[13], values[15]):
            counts[word] = counts.get(word, 0) + 1
    for values in updates:  # the same shifted by one (arxiv_id moved to the end)
        old = known[values[-1]]
        before = _lookup_words(old.title, ", ".join(old.authors), ", ".join(old.keywords))
        for word in _lookup_words(values[0], values[12], values[14]) - before:
            counts[word] = counts.get(word, 0) + 1
    await db.executemany(
        "INSERT INTO lookup_terms(term, docs) VALUES (?, ?)"
        " ON CONFLICT(term) DO UPDATE SET docs = docs + excluded.docs",
        list(counts.items()),
    )


BULK_CACHE_KIB = 32 * 1024
"""SQLite page cache while :meth:`Store.bulk_load` runs (the default is 2 MiB)."""

BULK_FTS_HASH = 8 * 2**20
"""FTS5 pending-postings size while :meth:`Store.bulk_load` rebuilds an index (FTS5's default is 1 MiB)."""

BUILDING = 0x0B17D
"""``PRAGMA user_version`` while :mod:`~digestbot.store.sqlite_bulk` builds a new archive without a journal.

Set durably before the first unjournaled write and cleared once the finished file is synced: a
file still marked was left half-written by a crash, and :meth:`SqliteStore.open` refuses it.
"""

FTS_HASH = 2**20
"""FTS5's own default 'hashsize', restored after a bulk load: row-by-row writes flush at every commit anyway."""


def _since(started: float) -> float:
    """Return the seconds since ``started`` (a ``time.perf_counter()`` reading), for progress logs."""
    return time.perf_counter() - started


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def paper_from_row(row: Sequence[Any]) -> Paper:
    """Build a Paper from a row selected with ``_PAPER_COLUMNS``."""
    return Paper(
        arxiv_id=row[0],
        title=row[1],
        authors=tuple(json.loads(row[2])),
        abstract=row[3],
        sections=tuple((label, text) for label, text in json.loads(row[4])),
        ai_summary=row[5],
        keywords=tuple(json.loads(row[6])),
        votes=row[7],
        thumbnail=row[8],
        github_url=row[9],
        digest_date=date.fromisoformat(row[10]) if row[10] else None,
        source=row[11],
        extra=json.loads(row[12]),
    )


_JSON = json.JSONEncoder(ensure_ascii=False).encode
_JSON_STR = encode_basestring


def _json_strings(values: Sequence[str]) -> str:
    """Return ``_JSON(values)`` for strings, twice as fast: a bulk load encodes authors and keywords a million times."""
    try:
        return "[" + ", ".join(map(_JSON_STR, values)) + "]"
    except TypeError:  # not all strings: the encoder says how it wants them
        return _JSON(values)


def _json_sections(sections: Sequence[tuple[str, str]]) -> str:
    """Return ``_JSON(sections)`` for (label, text) string pairs, as :func:`_json_strings` does."""
    try:
        return "[" + ", ".join([f"[{_JSON_STR(label)}, {_JSON_STR(text)}]" for label, text in sections]) + "]"
    except (TypeError, ValueError):
        return _JSON(sections)


_JSON_EXTRA = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _row_values(p: Paper, stamp: str | None = None) -> tuple[Any, ...]:
    """Return the column values for ``p``, including the FTS helper columns; ``stamp`` is its ``updated_at``.

    A bulk load calls this a million times: empty lists skip the JSON encoder, and one stamp
    serves a whole batch.
    """
    summary = "\n".join([text for _, text in p.sections] + [p.ai_summary]).strip()
    return (
        p.arxiv_id,
        p.title,
        _json_strings(p.authors),
        p.abstract,
        _json_sections(p.sections),
        p.ai_summary,
        _json_strings(p.keywords),
        p.votes,
        p.thumbnail,
        p.github_url,
        p.digest_date.isoformat() if p.digest_date else None,
        p.source,
        _JSON_EXTRA(dict(p.extra)) if p.extra else "{}",
        ", ".join(p.authors),
        summary,
        ", ".join(p.keywords),
        unspaced_grams(p.title, summary) if summary or (p.title and not p.title.isascii()) else "",
        stamp or _now(),
    )


def _switch_file_to_wal(path: str | Path) -> None:
    """Put the file at ``path`` in WAL mode on a short-lived connection (with the busy timeout)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        switch_to_wal(conn)
    finally:
        conn.close()


@translating
class SqliteStore:
    """Async access to the SQLite file; open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # One connection, so one transaction at a time: concurrent tasks queue here instead of
        # failing with "cannot start a transaction within a transaction".
        self._tx_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        """Open (creating the file if needed, never its folder) and migrate the database at ``path``.

        A missing folder is a mistyped ``--db`` far more often than a wish for new folders.
        """
        path = Path(path)
        if not path.parent.is_dir():
            raise StoreError(f"{path}: cannot open database: folder {path.parent} does not exist")
        if path.is_dir():
            raise StoreError(f"{path}: is a folder: give a database file path, such as {path / 'digestbot.sqlite3'}")
        connecting = aiosqlite.connect(path, isolation_level=None)
        try:
            db = await connecting
        except (OSError, sqlite3.Error) as exc:
            # aiosqlite's thread is still closing the failed connection and will report to this
            # event loop: wait for it, or it fails later on a closed loop, with a traceback.
            await asyncio.to_thread(connecting._thread.join, 5)
            raise StoreError(f"{path}: cannot open database: {exc}") from None
        store = cls(db, path)
        try:
            await store._refuse_interrupted_build()
            await store._configure()
            await store._migrate()
        except StoreDamagedError:
            await db.close()
            raise
        except (sqlite3.DatabaseError, StoreBusyError, StoreFailedError) as exc:
            await db.close()
            reason = exc.reason if isinstance(exc, StoreError) else str(exc)
            if isinstance(exc, sqlite3.DatabaseError) and "malformed" in reason:
                # A damaged archive is a failure (exit 1); a file that is no database at all is a wrong --db.
                raise cast(StoreDamagedError, translate(path, exc)) from None
            if "readonly" in reason or "read-only" in reason:
                raise StoreError(
                    f"{path}: the file or its folder is read-only, and digestbot writes to its archive (its"
                    " journal, schema updates): make both writable, or work on a copy"
                ) from None
            raise StoreError(f"{path}: not a usable digestbot database: {reason}") from None
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        await self._db.close()

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _refuse_interrupted_build(self) -> None:
        """Raise StoreError if a build without a journal stopped half-way through this file (see BUILDING)."""
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        if row and row[0] == BUILDING:
            raise StoreError(
                f"{self.path}: a bulk load into this new archive was interrupted, so it is incomplete:"
                " delete it and load again"
            )

    async def _configure(self) -> None:
        # The busy timeout first: switching a fresh file to WAL takes a lock other openers may hold.
        await self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # On a connection of its own, in a thread: the switch may have to wait and try again (see
        # switch_to_wal), and the file stays in WAL, so this connection's switch below finds it done.
        await asyncio.to_thread(_switch_file_to_wal, self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        for pragma in ("synchronous=FULL", "foreign_keys=ON"):
            await self._db.execute(f"PRAGMA {pragma}")

    async def schema_version(self) -> int:
        """Return the file's schema version (0 for a new file)."""
        try:
            async with self._db.execute("SELECT version FROM schema_version") as cur:
                row = await cur.fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return 0
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        """Bring the file to :data:`LATEST` in one transaction, safe against other processes doing the same.

        The version is read again *inside* a ``BEGIN IMMEDIATE`` transaction, so of several
        processes opening a fresh file at once exactly one migrates; the others wait on the
        write lock (busy timeout), then find the file up to date. (``executescript`` cannot be
        used: it commits any open transaction first, which would let the race back in.)
        """
        if await self.schema_version() == LATEST:
            return  # the usual case: no write lock needed
        async with self.transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = await self.schema_version()
            if current > LATEST:
                raise StoreError(
                    f"{self.path}: schema version {current} is newer than this digestbot ({LATEST}); upgrade"
                )
            for version in range(current + 1, LATEST + 1):
                log.info("migrating %s to schema version %d", self.path, version)
                for statement in _statements(MIGRATIONS[version - 1]):
                    await db.execute(statement)
            if current < LATEST:
                await db.execute("DELETE FROM schema_version")
                await db.execute("INSERT INTO schema_version(version) VALUES (?)", (LATEST,))
        if current < GRAMS_VERSION <= LATEST:
            await self._backfill_grams()  # papers stored before the search indexes get their grams

    async def _backfill_grams(self) -> None:
        """Fill ``grams_text`` of papers stored before it existed (Python computes it; SQL cannot)."""
        sql = "SELECT rowid, title, summary_text FROM papers WHERE summary_text != '' OR title GLOB '*[^ -~]*'"
        async with self._db.execute(sql) as cur:
            rows = [(unspaced_grams(r[1], r[2]), r[0]) for r in await cur.fetchall()]
        async with self.transaction() as db:
            await db.executemany("UPDATE papers SET grams_text = ? WHERE rowid = ?", [r for r in rows if r[0]])

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run a block in one ``BEGIN IMMEDIATE`` transaction: it commits whole or rolls back whole."""
        async with self._tx_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # SQLite has already rolled back after some errors (SQLITE_FULL): a second ROLLBACK
                # would fail and hide the real error ("database or disk is full") behind its own.
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    # -- papers ---------------------------------------------------------------------------------

    async def upsert_papers(
        self, papers: Iterable[Paper], *, digest_date: date | None = None, file_digest: bool = True
    ) -> UpsertResult:
        """Store ``papers`` in one transaction; a paper already known is enriched, never wiped.

        ``digest_date`` (else each paper's own) records the paper as part of that day's digest;
        ``file_digest=False`` records it in none.
        Works in chunks with ``executemany`` so a large ingest costs a few round trips per chunk,
        not several per paper.
        """
        batch = list(papers)
        async with self.transaction() as db:
            return await self._write_chunk(db, batch, digest_date, count_terms=True, file_digest=file_digest)

    async def _write_chunk(
        self,
        db: aiosqlite.Connection,
        batch: list[Paper],
        digest_date: date | None,
        *,
        count_terms: bool,
        file_digest: bool = True,
    ) -> UpsertResult:
        """Insert or merge ``batch`` inside the caller's transaction, _CHUNK ids per round trip."""
        added = updated = unchanged = 0
        for start in range(0, len(batch), _CHUNK):
            chunk = _last_wins(batch[start : start + _CHUNK])
            known = await self._known(db, [p.arxiv_id for p in chunk])
            inserts, updates, entries = [], [], []
            for paper in chunk:
                old = known.get(paper.arxiv_id)
                merged = paper if old is None else old.merged_with(paper)
                if old is None:
                    inserts.append(_row_values(paper))
                elif merged != old:
                    values = _row_values(merged)
                    updates.append((*values[1:], values[0]))
                else:
                    unchanged += 1
                day = (digest_date or paper.digest_date) if file_digest else None
                if day is not None:
                    entries.append((day.isoformat(), paper.arxiv_id, merged.votes))
            await db.executemany(_INSERT, inserts)
            await db.executemany(_UPDATE, updates)
            await db.executemany(_ENTRY, entries)
            if count_terms:
                await _count_terms(db, inserts, updates, known)
            added += len(inserts)
            updated += len(updates)
        return UpsertResult(added=added, updated=updated, unchanged=unchanged)

    async def bulk_load(
        self, papers: Iterable[Paper], *, batch: int = 5_000, digest_date: date | None = None
    ) -> UpsertResult:
        """Store many papers at once (a backfill, a new archive): the same merge as upsert_papers, built faster.

        For loads that are large next to the archive. One transaction: the full-text triggers are
        set aside, rows go in by the ``batch``, then each FTS index is rebuilt once from the table
        and the vocabulary recounted once from the table (row by row, FTS5 would re-sort its pending
        postings thousands of times). ``synchronous=OFF`` while loading, with automatic checkpoints
        off so no page reaches the database file unsynced; after COMMIT, ``synchronous=FULL`` again
        and one checkpoint. A crash rolls everything back, the triggers included. ``digest_date``
        files every paper in that day's digest, as in :meth:`upsert_papers`.

        Into a file that holds no data yet, :func:`digestbot.store.sqlite_bulk.build_fresh` builds
        instead: no journal, the two indexes built by worker processes, the file marked until done.
        """
        # Imported here: sqlite_bulk builds on this module's row helpers.
        from digestbot.store import sqlite_bulk

        if await sqlite_bulk.is_fresh(self._db):
            async with self._tx_lock:
                fresh = await sqlite_bulk.build_fresh(self._db, self.path, papers, batch=batch, digest_date=digest_date)
            if fresh is not None:
                return fresh
        added = updated = unchanged = 0
        iterator = iter(papers)
        async with self._db.execute("PRAGMA wal_autocheckpoint") as cur:
            row = await cur.fetchone()
        autocheckpoint = int(row[0]) if row else 1000
        async with self._db.execute("PRAGMA cache_size") as cur:
            row = await cur.fetchone()
        cache_size = int(row[0]) if row else -2000
        await self._db.execute("PRAGMA wal_autocheckpoint=0")
        await self._db.execute("PRAGMA synchronous=OFF")
        # A bigger page cache keeps the arxiv_id index and the FTS segments being merged in memory.
        await self._db.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
        try:
            async with self.transaction() as db:
                async with db.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'papers'"
                    " AND sql LIKE '%\\_fts%' ESCAPE '\\'"
                ) as cur:
                    triggers = [(r[0], r[1]) for r in await cur.fetchall()]
                for name, _ in triggers:
                    await db.execute(f'DROP TRIGGER "{name}"')
                started = time.perf_counter()
                while chunk := list(itertools.islice(iterator, batch)):
                    result = await self._write_chunk(db, chunk, digest_date, count_terms=False)
                    added += result.added
                    updated += result.updated
                    unchanged += result.unchanged
                async with db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5(%'"
                    " AND sql LIKE '%content=''papers''%'"
                ) as cur:
                    indexes = [r[0] for r in await cur.fetchall()]
                log.info("bulk load: %d papers written in %.1f s", added + updated + unchanged, _since(started))
                for index in indexes:
                    started = time.perf_counter()
                    # FTS5 flushes its pending postings as a new segment each time they pass
                    # 'hashsize' (1 MiB by default), and merges segments as they pile up: a bigger
                    # hash while rebuilding writes fewer, larger segments and merges less.
                    configure = f'INSERT INTO "{index}"("{index}", rank) VALUES (\'hashsize\', ?)'
                    await db.execute(configure, (BULK_FTS_HASH,))
                    await db.execute(f'INSERT INTO "{index}"("{index}") VALUES (\'rebuild\')')
                    await db.execute(configure, (FTS_HASH,))
                    log.info("bulk load: rebuilt %s in %.1f s", index, _since(started))
                for _, sql in triggers:
                    await db.execute(sql)
                started = time.perf_counter()
                await _recount_terms(db)
                log.info("bulk load: vocabulary recounted in %.1f s", _since(started))
        finally:
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._db.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
            await self._db.execute(f"PRAGMA cache_size={cache_size}")
        started = time.perf_counter()
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log.info("bulk load: checkpointed in %.1f s", _since(started))
        return UpsertResult(added=added, updated=updated, unchanged=unchanged)

    @staticmethod
    async def _known(db: aiosqlite.Connection, ids: list[str]) -> dict[str, Paper]:
        marks = ",".join("?" * len(ids))
        async with db.execute(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE arxiv_id IN ({marks})", ids) as cur:
            return {row[0]: paper_from_row(row) for row in await cur.fetchall()}

    async def get_paper(self, arxiv_id: str) -> Paper | None:
        """Return the stored paper with this (normalised) arXiv id, or None."""
        async with self._db.execute(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE arxiv_id = ?", (arxiv_id,)) as cur:
            row = await cur.fetchone()
        return paper_from_row(row) if row else None

    async def get_papers(self, arxiv_ids: Sequence[str]) -> dict[str, Paper]:
        """Return the stored papers among ``arxiv_ids``, by id; unknown ids are left out."""
        found: dict[str, Paper] = {}
        for chunk in id_chunks(arxiv_ids):
            found.update(await self._known(self._db, chunk))
        return found

    async def papers_missing_arxiv_data(self, *, day: date | None = None, limit: int = 500) -> list[Paper]:
        """Return papers with no abstract or no arXiv categories, newest first: what enrichment fills.

        ``day`` limits the search to that day's digest.
        """
        columns = ", ".join("p." + c.strip() for c in _PAPER_COLUMNS.split(","))
        where = "(p.abstract = '' OR json_extract(p.extra, '$.categories') IS NULL)"
        params: tuple[Any, ...] = (limit,)
        join = ""
        if day is not None:
            join = " JOIN digest_entries e ON e.arxiv_id = p.arxiv_id AND e.digest_date = ?"
            params = (day.isoformat(), limit)
        sql = (
            f"SELECT {columns} FROM papers p{join} WHERE {where}"
            " ORDER BY p.digest_date IS NULL, p.digest_date DESC, p.rowid DESC LIMIT ?"
        )
        async with self._db.execute(sql, params) as cur:
            return [paper_from_row(row) for row in await cur.fetchall()]

    async def get_papers_by_rowid(self, rowids: Sequence[int]) -> list[Paper]:
        """Return papers for FTS rowids, in the given order (missing ones skipped)."""
        if not rowids:
            return []
        marks = ",".join("?" * len(rowids))
        sql = f"SELECT rowid, {_PAPER_COLUMNS} FROM papers WHERE rowid IN ({marks})"
        async with self._db.execute(sql, tuple(rowids)) as cur:
            rows = {row[0]: paper_from_row(row[1:]) for row in await cur.fetchall()}
        return [rows[r] for r in rowids if r in rows]

    async def count_papers(self) -> int:
        """Return how many papers the archive holds."""
        async with self._db.execute("SELECT count(*) FROM papers") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def digest(self, day: date) -> Digest | None:
        """Return the digest of ``day`` ranked by votes (most first, then by id), or None if empty.

        Withdrawn papers (``extra["withdrawnAt"]``) are left out.
        """
        sql = (
            f"SELECT {', '.join('p.' + c.strip() for c in _PAPER_COLUMNS.split(','))}, e.votes FROM digest_entries e"
            " JOIN papers p ON p.arxiv_id = e.arxiv_id WHERE e.digest_date = ?"
            # Hugging Face marks a paper its authors withdrew with withdrawnAt: no digest shows it.
            " AND json_extract(p.extra, '$.withdrawnAt') IS NULL"
            " ORDER BY coalesce(e.votes, p.votes, 0) DESC, p.arxiv_id"
        )
        async with self._db.execute(sql, (day.isoformat(),)) as cur:
            rows = await cur.fetchall()
        if not rows:
            return None
        return Digest(date=day, papers=tuple(paper_from_row(r[:-1]) for r in rows))

    async def digest_dates(self, *, limit: int = 30, since: date = date.min, until: date = date.max) -> list[date]:
        """Return the newest dates that have a digest (optionally within [since, until]), newest first."""
        sql = (
            "SELECT DISTINCT digest_date FROM digest_entries WHERE digest_date BETWEEN ? AND ?"
            " ORDER BY digest_date DESC LIMIT ?"
        )
        async with self._db.execute(sql, (since.isoformat(), until.isoformat(), limit)) as cur:
            return [date.fromisoformat(r[0]) for r in await cur.fetchall()]

    async def latest_digest_date(self, *, on_or_before: date | None = None) -> date | None:
        """Return the newest digest date (optionally not after ``on_or_before``)."""
        sql = "SELECT max(digest_date) FROM digest_entries WHERE digest_date <= ?"
        async with self._db.execute(sql, ((on_or_before or date.max).isoformat(),)) as cur:
            row = await cur.fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    # -- subscriptions --------------------------------------------------------------------------

    async def add_subscription(
        self, *, platform: str, workspace: str, user: str, topic: str, max_topics: int, display: str = ""
    ) -> bool:
        """Subscribe ``user`` to ``topic`` (shown as ``display``); False if already subscribed.

        Raises TopicLimitError past ``max_topics``. The limit counts the user's topics in every workspace
        of the platform (a Discord user's DM topics and each server's): they all feed the same daily DM.
        """
        async with self.transaction() as db:
            key = (platform, workspace, user)
            sql = "SELECT workspace, topic FROM subscriptions WHERE platform=? AND user_id=?"
            async with db.execute(sql, (platform, user)) as cur:
                rows = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
            if (workspace, topic) in rows:
                return False
            if len(rows) >= max_topics:
                raise TopicLimitError(count=len(rows), limit=max_topics)
            await db.execute(
                "INSERT INTO subscriptions(platform, workspace, user_id, topic, created_at, display)"
                " VALUES (?,?,?,?,?,?)",
                (*key, topic, _now(), display),
            )
        return True

    async def remove_subscription(self, *, platform: str, workspace: str, user: str, topic: str) -> bool:
        """Unsubscribe ``user`` from ``topic``; False if they were not subscribed."""
        async with self.transaction() as db:
            cur = await db.execute(
                "DELETE FROM subscriptions WHERE platform=? AND workspace=? AND user_id=? AND topic=?",
                (platform, workspace, user, topic),
            )
            return (cur.rowcount or 0) > 0

    async def list_subscriptions(self, *, platform: str, workspace: str, user: str) -> list[str]:
        """Return ``user``'s topics, oldest first."""
        sql = (
            "SELECT topic FROM subscriptions WHERE platform=? AND workspace=? AND user_id=? ORDER BY created_at, topic"
        )
        async with self._db.execute(sql, (platform, workspace, user)) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def shown_subscriptions(self, *, platform: str, workspace: str, user: str) -> list[tuple[str, str]]:
        """Return ``user``'s topics as (canonical key, text to show: as typed, else the key), oldest first."""
        sql = (
            "SELECT topic, display FROM subscriptions WHERE platform=? AND workspace=? AND user_id=?"
            " ORDER BY created_at, topic"
        )
        async with self._db.execute(sql, (platform, workspace, user)) as cur:
            return [(r[0], r[1] or r[0]) for r in await cur.fetchall()]

    async def topic_displays(
        self, *, platform: str, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, str]]:
        """Return how each (workspace, user)'s topics were typed, by canonical topic (only those that differ)."""
        by_workspace: dict[str, list[str]] = {}
        for workspace, user in dict.fromkeys(users):
            by_workspace.setdefault(workspace, []).append(user)
        out: dict[tuple[str, str], dict[str, str]] = {}
        for workspace, ids in by_workspace.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                sql = (
                    "SELECT user_id, topic, display FROM subscriptions WHERE platform=? AND workspace=?"
                    f" AND user_id IN ({','.join('?' * len(chunk))}) AND display != ''"
                )
                async with self._db.execute(sql, (platform, workspace, *chunk)) as cur:
                    for user, topic, display in await cur.fetchall():
                        out.setdefault((workspace, user), {})[topic] = display
        return out

    async def all_subscriptions(self, *, platform: str | None = None) -> list[tuple[str, str, str, str]]:
        """Return every (platform, workspace, user, topic), optionally for one platform."""
        sql = "SELECT platform, workspace, user_id, topic FROM subscriptions"
        args: tuple[str, ...] = ()
        if platform:
            sql += " WHERE platform = ?"
            args = (platform,)
        async with self._db.execute(sql + " ORDER BY platform, workspace, user_id, created_at", args) as cur:
            return [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]

    # -- operator views (digestbot status) --------------------------------------------------------

    async def last_channel_posts(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Return each channel's newest post slot: its day, kind, parts by state, last update and error."""
        sql = (
            "SELECT platform, target_id, digest_date, kind, group_concat(state), max(updated_at), max(error)"
            " FROM deliveries AS d WHERE target_kind='channel' AND slot='post' AND digest_date = ("
            "  SELECT max(digest_date) FROM deliveries WHERE platform=d.platform AND target_kind='channel'"
            "  AND target_id=d.target_id AND slot='post')"
            " GROUP BY platform, target_id"
        )
        async with self._db.execute(sql) as cur:
            rows = await cur.fetchall()
        return {
            (r[0], r[1]): {
                "day": date.fromisoformat(r[2]),
                "kind": r[3],
                "states": sorted(str(r[4]).split(",")),
                "updated_at": r[5],
                "error": r[6],
            }
            for r in rows
        }

    async def delivery_counts(self) -> dict[str, int]:
        """Return how many outbox rows are in each state (pending, claimed, sent, failed)."""
        async with self._db.execute("SELECT state, count(*) FROM deliveries GROUP BY state") as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    async def recent_failures(self, limit: int = 5) -> list[tuple[str, str, str, str]]:
        """Return the newest failed outbox rows as (target, key, error, when), newest first."""
        sql = (
            "SELECT platform || ':' || target_kind || ':' || target_id, key, coalesce(error, ''), updated_at"
            " FROM deliveries WHERE state='failed' ORDER BY updated_at DESC LIMIT ?"
        )
        async with self._db.execute(sql, (limit,)) as cur:
            return [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Return how many outbox rows are not sent yet (pending or claimed) and when the oldest was planned."""
        sql = "SELECT count(*), min(created_at) FROM deliveries WHERE state IN ('pending', 'claimed')"
        async with self._db.execute(sql) as cur:
            row = await cur.fetchone()
        count, oldest = (row[0], row[1]) if row else (0, None)
        return int(count), datetime.fromisoformat(oldest) if oldest else None

    async def ping(self) -> None:
        """Raise StoreError unless the database still answers (the ops port's ``/healthz``).

        An open SQLite connection keeps working on a file deleted under it (its volume gone, a
        wrong clean-up), and then every write lands nowhere: so the file itself must exist too.
        """
        if not self.path.exists():
            raise StoreError(f"{self.path}: the database file is gone")
        try:
            async with self._db.execute("SELECT version FROM schema_version") as cur:
                await cur.fetchone()
        except (sqlite3.Error, ValueError) as exc:  # ValueError: the connection was closed
            raise StoreError(f"{self.path}: the database does not answer: {exc}") from None

    def read_subscriptions(
        self,
        topics: Callable[[Iterator[str]], None],
        rows: Callable[[Iterator[SubscriptionRow]], None],
        *,
        keep_changes: int,
    ) -> int:
        """Stream the distinct topics, then every subscription, from one snapshot; return its change-log position.

        Blocking, on a connection of its own: call it from a worker thread (see
        :mod:`digestbot.subscription_index`), so a million rows never hold up the event loop or
        the store's connection. Changes after the returned position (:meth:`subscription_changes`)
        are not in the rows. Afterwards the log is pruned to its newest ``keep_changes`` entries, a
        few thousand rows per transaction so that no writer waits long.
        """
        with translated(self.path):
            return self._read_subscriptions(topics, rows, keep_changes=keep_changes)

    def _read_subscriptions(
        self,
        topics: Callable[[Iterator[str]], None],
        rows: Callable[[Iterator[SubscriptionRow]], None],
        *,
        keep_changes: int,
    ) -> int:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("BEGIN")  # one read snapshot (WAL): the rows and the position agree
            (position,) = db.execute("SELECT coalesce(max(id), 0) FROM subscription_changes").fetchone()
            topics(row[0] for row in db.execute("SELECT DISTINCT topic FROM subscriptions"))
            rows(iter(db.execute("SELECT platform, workspace, user_id, topic FROM subscriptions")))
            db.execute("COMMIT")
            while True:
                cur = db.execute(
                    "DELETE FROM subscription_changes WHERE id IN (SELECT id FROM subscription_changes"
                    " WHERE id <= ? ORDER BY id LIMIT 5000)",
                    (position - keep_changes,),
                )
                if cur.rowcount < 5000:
                    break
        finally:
            db.close()
        return int(position)

    async def subscription_changes(self, after: int, *, limit: int) -> tuple[bool, list[SubscriptionChange]]:
        """Return whether the log still reaches back to ``after``, and up to ``limit`` changes made since.

        A change is ``(position, op, platform, workspace, user, topic)`` with ``op`` ``+`` or ``-``.
        When the log was pruned past ``after`` the caller must read every subscription again.
        """
        async with self._db.execute("SELECT min(id) FROM subscription_changes") as cur:
            row = await cur.fetchone()
        oldest = row[0] if row else None
        if oldest is not None and oldest > after + 1:
            return False, []
        sql = (
            "SELECT id, op, platform, workspace, user_id, topic FROM subscription_changes"
            " WHERE id > ? ORDER BY id LIMIT ?"
        )
        async with self._db.execute(sql, (after, limit)) as cur:
            return True, [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in await cur.fetchall()]

    async def prune_subscription_changes(self, *, keep: int) -> None:
        """Drop all but the newest ``keep`` logged changes (a process further behind reloads everything)."""
        async with self.transaction() as db:
            await db.execute(
                "DELETE FROM subscription_changes WHERE id <= (SELECT max(id) FROM subscription_changes) - ?", (keep,)
            )

    # -- channels (chat-configured) -------------------------------------------------------------

    async def channel_rows(self) -> list[dict[str, Any]]:
        """Return every row of the ``channels`` table as a dict (see :mod:`digestbot.channels`)."""
        sql = "SELECT platform, channel_id, workspace, settings, enabled, disabled_reason, updated_at FROM channels"
        async with self._db.execute(sql) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def set_channel_settings(
        self,
        *,
        platform: str,
        channel_id: str,
        workspace: str = "",
        settings: dict[str, Any],
        enable: bool = True,
        check: SettingsCheck | None = None,
    ) -> dict[str, Any]:
        """Merge ``settings`` into a channel's chat overrides (creating it); return the stored overrides.

        Keys are those of :data:`digestbot.channels.SETTING_KEYS`, already checked by the caller
        (:func:`digestbot.channels.save_settings`); a value of None removes that override.
        ``check`` sees the merged overrides inside the transaction: whatever it raises stores
        nothing. ``enable`` (default) also re-enables a disabled channel: setting it up in chat
        turns it on. The store keeps no rules of its own about the values.
        """
        changes = dict(settings)
        async with self.transaction() as db:
            async with db.execute(
                "SELECT settings, enabled FROM channels WHERE platform=? AND channel_id=?", (platform, channel_id)
            ) as cur:
                row = await cur.fetchone()
            current: dict[str, Any] = json.loads(row[0]) if row else {}
            current.update(changes)
            current = {k: v for k, v in current.items() if v is not None}
            if check is not None:
                check(current)
            enabled = 1 if enable or row is None else int(row[1])
            await db.execute(
                "INSERT INTO channels(platform, channel_id, workspace, settings, enabled, disabled_reason, updated_at)"
                " VALUES (?,?,?,?,?,NULL,?) ON CONFLICT(platform, channel_id) DO UPDATE SET"
                " workspace=excluded.workspace, settings=excluded.settings, enabled=excluded.enabled,"
                " disabled_reason=CASE WHEN excluded.enabled THEN NULL ELSE disabled_reason END,"
                " updated_at=excluded.updated_at",
                (platform, channel_id, workspace, json.dumps(current, sort_keys=True), enabled, _now()),
            )
        return current

    async def disable_channel(self, *, platform: str, channel_id: str, reason: str, workspace: str = "") -> bool:
        """Stop posting to a channel (chat command or permanent delivery failure); False if already off."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT enabled FROM channels WHERE platform=? AND channel_id=?", (platform, channel_id)
            ) as cur:
                row = await cur.fetchone()
            await db.execute(
                "INSERT INTO channels(platform, channel_id, workspace, enabled, disabled_reason, updated_at)"
                " VALUES (?,?,?,0,?,?) ON CONFLICT(platform, channel_id) DO UPDATE SET enabled=0,"
                " disabled_reason=excluded.disabled_reason, updated_at=excluded.updated_at",
                (platform, channel_id, workspace, reason, _now()),
            )
        return row is None or bool(row[0])

    async def enable_channel(self, *, platform: str, channel_id: str, workspace: str = "") -> None:
        """Turn a channel (back) on, keeping its chat settings."""
        await self.set_channel_settings(platform=platform, channel_id=channel_id, workspace=workspace, settings={})

    # -- scheduler memory -----------------------------------------------------------------------

    async def schedule_last_seen(self) -> dict[tuple[str, str], datetime]:
        """Return, per (platform, channel id), the newest occurrence the scheduler has handled."""
        async with self._db.execute("SELECT platform, channel_id, last_seen FROM schedule_state") as cur:
            return {(r[0], r[1]): datetime.fromisoformat(r[2]) for r in await cur.fetchall()}

    async def set_schedule_last_seen(self, items: Iterable[tuple[str, str, datetime]]) -> None:
        """Record that the scheduler handled each channel's occurrences up to the given instant."""
        async with self.transaction() as db:
            await db.executemany(
                "INSERT INTO schedule_state(platform, channel_id, last_seen) VALUES (?,?,?)"
                " ON CONFLICT(platform, channel_id) DO UPDATE SET last_seen=excluded.last_seen",
                [(p, c, when.astimezone(UTC).isoformat()) for p, c, when in items],
            )

    # -- search (/paper, autocomplete): the queries are in sqlite_search ---------------------------

    async def search_candidates(self, index: Index, match: str, *, limit: int) -> list[int]:
        """Return the rowids of the newest ``limit`` papers matching the FTS5 expression ``match`` in ``index``."""
        return await sqlite_search.candidates(self._db, index, match, limit=limit)

    async def search_rows(self, rowids: list[int]) -> list[SearchRow]:
        """Return the scoring fields of ``rowids`` (any order)."""
        return await sqlite_search.search_rows(self._db, rowids)

    async def term_docs(self, terms: list[str]) -> dict[str, int]:
        """Return how many papers have each of ``terms`` in a title, author name or keyword (absent: left out)."""
        return await sqlite_search.term_docs(self._db, terms)

    async def terms_starting(self, prefix: str, *, min_len: int, max_len: int, limit: int) -> list[tuple[str, int]]:
        """Return (term, docs) of vocabulary words starting with ``prefix`` whose length is in [min_len, max_len]."""
        return await sqlite_search.terms_starting(self._db, prefix, min_len=min_len, max_len=max_len, limit=limit)

    async def near_terms(self, word: str, *, edits: int, limit: int) -> list[tuple[str, int]]:
        """Return (term, docs) of vocabulary words that may be ``word`` with a typo, most frequent first."""
        return await sqlite_search.near_terms(self._db, word, edits=edits, limit=limit)

    async def popular_topics(self, *, limit: int) -> list[str]:
        """Return the topics people follow, most followed first."""
        return await sqlite_search.popular_topics(self._db, limit=limit)

    async def keyword_vocabulary(self, *, limit: int) -> list[str]:
        """Return distinct lower-cased paper keywords, the newest papers' first."""
        return await sqlite_search.keyword_vocabulary(self._db, limit=limit)

    # -- summaries cache: the queries are in sqlite_summaries -----------------------------------

    async def cached_summaries(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return the summaries made under exactly ``key``, by arXiv id."""
        return await sqlite_summaries.cached(self._db, arxiv_ids, key)

    async def shown_summaries(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return per paper ``key``'s summary, else the newest other one in ``key.language``."""
        return await sqlite_summaries.shown(self._db, arxiv_ids, key)

    async def save_summary(
        self, arxiv_id: str, key: SummaryKey, sections: Sections, *, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        """Store (or replace) one paper's summary under ``key``."""
        async with self.transaction() as db:
            await sqlite_summaries.save(
                db, arxiv_id, key, sections, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )

    # -- the outbox -----------------------------------------------------------------------------

    def outbox_storage(self) -> SqliteOutbox:
        """Return a new outbox writer for one run: its own connection, group commit and run lock."""
        return SqliteOutbox(self.path)

    def installations(self) -> InstallationRecords:
        """Return the Slack installations and OAuth states kept in this database (migration 9)."""
        return InstallationRecords(self)


Store = SqliteStore
"""The SQLite store under its first name: ``Store.open(path)`` keeps working for tests, benches and tools."""
