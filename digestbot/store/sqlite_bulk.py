"""Build a new SQLite archive fast: no journal, and the full-text indexes built by two more processes.

:meth:`SqliteStore.bulk_load <digestbot.store.sqlite.SqliteStore.bulk_load>` takes this path when
the file holds no data yet (a first ingest, the benches). Most of a big build's CPU is FTS5
indexing, and SQLite lets only one process write a file: so ``lookup_fts`` and ``body_fts`` are
each built by a worker (:mod:`digestbot.store.fts_build`) into a side file of its own, fed with
the indexed columns as this process writes the papers, and their shadow tables are copied into
the archive at the end. On two cores the papers, the lookup index (+ the vocabulary count) and
the body index are built at the same time instead of one after the other.

Without a journal a crash leaves a half-written file, so the build marks the file first
(``PRAGMA user_version`` = :data:`~digestbot.store.sqlite.BUILDING`, committed durably while the
file is still in WAL mode) and clears the mark only after the finished file is synced:
:meth:`SqliteStore.open <digestbot.store.sqlite.SqliteStore.open>` refuses a marked file in one
line. What is lost on a crash is an archive that held nothing but its schema.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import pickle
import sys
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import aiosqlite

import digestbot
from digestbot.errors import StoreError, StoreFailedError
from digestbot.records import Paper
from digestbot.store import fts_build
from digestbot.store.chunks import id_chunks
from digestbot.store.records import UpsertResult
from digestbot.store.sqlite import (
    _ENTRY,
    _PAPER_COLUMNS,
    BUILDING,
    _last_wins,
    _now,
    _row_values,
    paper_from_row,
)

log = logging.getLogger(__name__)

ROW_AT = {"title": 1, "abstract": 3, "authors_text": 13, "summary_text": 14, "keywords_text": 15, "grams_text": 16}
"""Where each indexed column is in a :func:`~digestbot.store.sqlite._row_values` tuple."""

STEP = 1_000
"""Papers handled per step (rows written, frames sent to the workers), whatever ``batch`` the caller asks.

The whole build is one transaction anyway; a step only bounds the memory held for it. Two steps
are alive at once (one being written while the next is prepared), and the workers hold one frame
each: at 1,000 papers with 150–250-word abstracts that is a few MiB, where 5,000 held tens.
"""

CACHE_KIB = 8 * 1024
"""This process's page cache while building: the papers table and its id index are appended to in
rowid order, so a few MiB keep their right edges in memory (the journaled path uses 32 MiB)."""

_INSERT_AT = (
    f"INSERT INTO papers (rowid, {_PAPER_COLUMNS}, authors_text, summary_text, keywords_text, grams_text, updated_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_UPDATE_AT = (
    "UPDATE papers SET title=?, authors=?, abstract=?, sections=?, ai_summary=?, keywords=?, votes=?, thumbnail=?,"
    " github_url=?, digest_date=?, source=?, extra=?, authors_text=?, summary_text=?, keywords_text=?, grams_text=?,"
    " updated_at=? WHERE rowid=?"
)


async def _rows(db: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[Any]:
    async with db.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def is_fresh(db: aiosqlite.Connection) -> bool:
    """Tell whether the file holds no data at all (only its schema): the one case built without a journal."""
    tables = await _rows(db, "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
    virtual = [name for name, sql in tables if sql.startswith("CREATE VIRTUAL TABLE")]
    for name, sql in tables:
        shadow = any(name.startswith(f"{v}_") for v in virtual)
        if name == "schema_version" or shadow or sql.startswith("CREATE VIRTUAL TABLE"):
            continue
        if await _rows(db, f'SELECT 1 FROM "{name}" LIMIT 1'):
            return False
    return True


class _Worker:
    """One :mod:`digestbot.store.fts_build` process and the side file it fills."""

    def __init__(self, index: str, columns: list[str], side: Path, proc: asyncio.subprocess.Process) -> None:
        self.index, self.columns, self.side, self.proc = index, columns, side, proc
        self.at = [ROW_AT[c] for c in columns]
        self.stats: dict[str, Any] = {}

    @classmethod
    async def start(cls, db: aiosqlite.Connection, path: Path, index: str, create_sql: str) -> _Worker:
        """Create ``index`` in a new side file next to ``path`` and start the process that fills it."""
        columns = [r[1] for r in await _rows(db, f'PRAGMA table_info("{index}")')]
        side = Path(f"{path}.{index}.building")
        await asyncio.to_thread(_remove, side)
        await db.execute("ATTACH DATABASE ? AS bulk_side", (str(side),))
        try:
            await db.execute(
                create_sql.replace(f"CREATE VIRTUAL TABLE {index} ", f"CREATE VIRTUAL TABLE bulk_side.{index} ", 1)
            )
            await db.execute(
                "CREATE TABLE bulk_side.terms (term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID"
            )
        finally:
            await db.execute("DETACH DATABASE bulk_side")
        words = ["--count-words"] if {"title", "authors_text", "keywords_text"} <= set(columns) else []
        env = dict(os.environ)  # the worker imports digestbot from wherever this process did
        env["PYTHONPATH"] = os.pathsep.join([str(Path(digestbot.__file__).parents[1]), env.get("PYTHONPATH", "")])
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-P", fts_build.__file__, str(side), index, ",".join(columns), *words,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        return cls(index, columns, side, proc)

    def op(self, op: str, rowid: int, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """Return the frame row that (un)indexes this worker's columns of a ``_row_values`` tuple."""
        return (op, rowid, *(values[i] for i in self.at))

    async def send(self, rows: list[tuple[Any, ...]]) -> None:
        """Write one frame; waits while the worker is behind, so memory stays bounded."""
        if not rows:
            return
        stdin = self.proc.stdin
        assert stdin is not None
        payload = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.write(len(payload).to_bytes(fts_build.FRAME_HEADER, "little") + payload)
        try:
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await self.finish()  # raises with the worker's own reason
            raise

    async def finish(self) -> None:
        """Close the input and wait for the worker; raise StoreFailedError with its last words if it failed."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()  # communicate() closes stdin only when it is given input
        out, err = await self.proc.communicate()
        if self.proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines() or [f"exit status {self.proc.returncode}"]
            raise StoreFailedError(f"building {self.index} failed: {lines[-1]}")
        self.stats = json.loads(out.decode().strip().splitlines()[-1])

    def kill(self) -> None:
        """Stop the worker if it still runs (the build failed elsewhere)."""
        if self.proc.returncode is None:
            self.proc.kill()


async def _scalar(db: aiosqlite.Connection, sql: str) -> Any:
    rows = await _rows(db, sql)
    return rows[0][0] if rows else None


async def build_fresh(
    db: aiosqlite.Connection, path: Path, papers: Iterable[Paper], *, batch: int, digest_date: date | None
) -> UpsertResult | None:
    """Load ``papers`` into the fresh archive at ``path``; None when the file cannot leave WAL mode now.

    SQLite can only leave WAL mode when no other connection uses the file: then the caller takes
    the journaled path instead.
    """
    await db.execute(f"PRAGMA user_version={BUILDING}")  # committed durably: WAL, synchronous=FULL
    if str(await _scalar(db, "PRAGMA journal_mode=OFF")).lower() != "off":
        await db.execute("PRAGMA user_version=0")
        return None
    log.info("bulk load: a new archive, built without a journal and with two index workers")
    cache_size = await _scalar(db, "PRAGMA cache_size")
    await db.execute("PRAGMA synchronous=OFF")
    await db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    workers: list[_Worker] = []
    try:
        indexes = await _rows(
            db,
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5(%'"
            " AND sql LIKE '%content=''papers''%'",
        )
        for index, sql in indexes:
            workers.append(await _Worker.start(db, path, index, sql))
        result = await _load(db, papers, workers, batch=min(batch, STEP), digest_date=digest_date)
        started = time.perf_counter()
        for worker in workers:
            await worker.finish()
            waited = time.perf_counter() - started
            log.info("bulk load: %s worker done %.1f s after the papers: %s", worker.index, waited, worker.stats)
        await _merge(db, workers)
    except Exception as exc:
        for worker in workers:
            worker.kill()
        reason = exc.reason if isinstance(exc, StoreError) else (str(exc) or type(exc).__name__)
        raise StoreFailedError(
            f"{path}: the bulk load failed ({reason}), so this new archive is incomplete: delete it and load again"
        ) from exc
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    finally:
        for worker in workers:
            await asyncio.to_thread(_remove, worker.side, Path(f"{worker.side}-journal"))
    # Durable again before the mark goes: the pages were written without syncs, so sync the file,
    # then clear the mark in a synced WAL commit.
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")
    await db.execute(f"PRAGMA cache_size={cache_size}")
    await asyncio.to_thread(_fsync, path)
    await db.execute("PRAGMA user_version=0")
    return result


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _load(
    db: aiosqlite.Connection, papers: Iterable[Paper], workers: list[_Worker], *, batch: int, digest_date: date | None
) -> UpsertResult:
    """Write every paper in one transaction (no FTS triggers) and feed the workers; the same merge as an upsert."""
    added = updated = unchanged = 0
    iterator = iter(papers)
    await db.execute("BEGIN IMMEDIATE")
    triggers = await _rows(
        db,
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'papers'"
        " AND sql LIKE '%\\_fts%' ESCAPE '\\'",
    )
    for name, _ in triggers:
        await db.execute(f'DROP TRIGGER "{name}"')
    next_rowid = int(await _scalar(db, "SELECT coalesce(max(rowid), 0) FROM papers")) + 1
    pending: list[asyncio.Future[Any]] = []
    started = time.perf_counter()
    while chunk := _last_wins(list(itertools.islice(iterator, batch))):
        stamp = _now()
        fresh = {p.arxiv_id: _row_values(p, stamp) for p in chunk}  # while the last chunk is written
        await asyncio.gather(*pending)
        known: dict[str, Paper] = {}
        for ids in id_chunks(fresh):
            known.update(await _known(db, ids))
        stored = await _stored_fts(db, list(known)) if known else {}
        inserts, updates, entries = [], [], []
        ops: list[list[tuple[Any, ...]]] = [[] for _ in workers]
        for paper in chunk:
            old = known.get(paper.arxiv_id)
            merged = paper if old is None else old.merged_with(paper)
            if old is None:
                values = fresh[paper.arxiv_id]
                inserts.append((next_rowid, *values))
                for w, out in zip(workers, ops, strict=True):
                    out.append(w.op("i", next_rowid, values))
                next_rowid += 1
            elif merged != old:
                rowid, before = stored[paper.arxiv_id]
                values = _row_values(merged, stamp)
                updates.append((*values[1:], rowid))
                for w, out in zip(workers, ops, strict=True):
                    out.append(w.op("d", rowid, before))
                    out.append(w.op("i", rowid, values))
            else:
                unchanged += 1
            day = digest_date or paper.digest_date
            if day is not None:
                entries.append((day.isoformat(), paper.arxiv_id, merged.votes))
        added += len(inserts)
        updated += len(updates)
        pending = [asyncio.ensure_future(_write(db, inserts, updates, entries))]
        pending += [asyncio.ensure_future(w.send(out)) for w, out in zip(workers, ops, strict=True)]
    await asyncio.gather(*pending)
    log.info("bulk load: %d papers written in %.1f s", added + updated + unchanged, time.perf_counter() - started)
    for _, sql in triggers:
        await db.execute(sql)
    await db.execute("COMMIT")  # ATTACH (to copy the indexes in) cannot run inside a transaction
    return UpsertResult(added=added, updated=updated, unchanged=unchanged)


async def _write(db: aiosqlite.Connection, inserts: list[Any], updates: list[Any], entries: list[Any]) -> None:
    await db.executemany(_INSERT_AT, inserts)
    await db.executemany(_UPDATE_AT, updates)
    await db.executemany(_ENTRY, entries)


async def _known(db: aiosqlite.Connection, ids: list[str]) -> dict[str, Paper]:
    marks = ",".join("?" * len(ids))
    rows = await _rows(db, f"SELECT {_PAPER_COLUMNS} FROM papers WHERE arxiv_id IN ({marks})", ids)
    return {row[0]: paper_from_row(row) for row in rows}


async def _stored_fts(db: aiosqlite.Connection, ids: list[str]) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """Return, per stored id, its rowid and its indexed columns as stored (what the workers must unindex)."""
    columns = sorted(ROW_AT, key=ROW_AT.__getitem__)
    found: dict[str, tuple[int, tuple[Any, ...]]] = {}
    for chunk in id_chunks(ids):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT rowid, arxiv_id, {', '.join(columns)} FROM papers WHERE arxiv_id IN ({marks})"
        for row in await _rows(db, sql, chunk):
            values: list[Any] = [None] * (max(ROW_AT.values()) + 1)
            for name, value in zip(columns, row[2:], strict=True):
                values[ROW_AT[name]] = value
            found[row[1]] = (row[0], tuple(values))
    return found


async def _merge(db: aiosqlite.Connection, workers: list[_Worker]) -> None:
    """Copy each worker's finished index (and the vocabulary it counted) into the archive, one commit each."""
    started = time.perf_counter()
    for worker in workers:
        await db.execute("ATTACH DATABASE ? AS bulk_side", (str(worker.side),))
        try:
            await db.execute("BEGIN IMMEDIATE")
            sql = "SELECT name FROM bulk_side.sqlite_master WHERE type = 'table' AND name LIKE ?"
            for (table,) in await _rows(db, sql, (f"{worker.index}_%",)):
                if table.endswith("_config"):
                    continue  # the archive keeps its own settings
                await db.execute(f'DELETE FROM main."{table}"')
                await db.execute(f'INSERT INTO main."{table}" SELECT * FROM bulk_side."{table}"')
            await db.execute("INSERT INTO lookup_terms(term, docs) SELECT term, docs FROM bulk_side.terms")
            await db.execute("COMMIT")
        finally:
            await db.execute("DETACH DATABASE bulk_side")
    log.info("bulk load: indexes copied into the archive in %.1f s", time.perf_counter() - started)
