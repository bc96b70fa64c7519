"""The PostgreSQL side of ``bench.lookup --db postgresql://…`` (or ``--backend postgresql``): where the archive lives.

Given a URL, the archive is built in that database when it is empty and reused when it holds
exactly the asked number of papers (any other database is refused, never emptied). Without a
URL the bench starts a server of its own through the tests' helper (:class:`tests.pg_server.PgServer`:
``initdb`` + ``pg_ctl``, Unix socket, trust auth, as ``postgres`` when root) with
:data:`BENCH_SETTINGS`, its data directory kept under ``bench/.cache/pg-server`` so a million
papers are built once; ``--rebuild`` drops and re-creates the bench's database there. The papers
come from the same cache file as SQLite's build (no second generation). A million papers take
about 10 GiB of disk there: the free space is checked first.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg

from digestbot.records import Paper
from digestbot.search_text import words
from digestbot.store import PostgresStore
from tests.pg_server import TEST_SETTINGS, PgServer

GIB_PER_MILLION = 12.0
"""Disk a million realistic papers take on PostgreSQL (table, TOAST, GIN and btree indexes), with room to spare."""


BENCH_SETTINGS = {
    **TEST_SETTINGS,
    # The bulk load's index builds: a GIN build that fits in memory sorts its postings once; with
    # less it flushes part-built trees into the index again and again (the 1M build of the last
    # session ran ~40 min at 512MB under load). The store raises its session to at least 512MB itself.
    "maintenance_work_mem": "1GB",
    # Nothing replicates from a throwaway server: an index created in the load's transaction is
    # then written without WAL (wal_level=minimal), and the COPY's WAL never forces a checkpoint.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "1h",
    # Lookups: the hot part of a 1M archive (vectors' index pages, the vocabulary) stays in the
    # server's own cache, and small queries never pay for JIT compilation (tens of ms a plan).
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "jit": "off",
}
"""Settings of the bench's own server: :data:`tests.pg_server.TEST_SETTINGS` plus bulk-load and lookup ones.

Throwaway-server settings (no WAL for replication, no durability): never production advice.
"""


def check_space(where: Path, papers: int) -> None:
    """Raise SystemExit (one line) when ``where``'s disk lacks room for ``papers`` papers' database."""
    need = GIB_PER_MILLION * papers / 1_000_000
    free = shutil.disk_usage(where).free / 2**30
    if free < need:
        raise SystemExit(
            f"bench.lookup: {where}: {free:.1f} GiB free, a {papers:,}-paper archive needs ~{need:.0f} GiB"
        )


def database_url(admin_url: str, name: str, *, recreate: bool) -> str:
    """Return the URL of database ``name`` on the admin URL's server, creating it (anew when ``recreate``)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if recreate:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return admin_url.replace("/postgres?", f"/{name}?", 1)


def _server_cpu(pid: int) -> float | None:
    """Return the CPU seconds a local server process has used (None when it is not on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(papers: Iterable[Paper], spent: list[float]) -> Iterable[Paper]:
    it = iter(papers)
    while True:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            paper = next(it)
        except StopIteration:
            return
        spent[0] += time.perf_counter() - wall
        spent[1] += time.process_time() - cpu
        yield paper


async def build(url: str, papers: Iterable[Paper], *, batch: int) -> dict[str, float]:
    """Bulk-load ``papers`` into ``url``; return wall/CPU seconds (reading the papers excluded, ``read_s``).

    ``server_cpu_s`` is the server backend's CPU (COPY, index builds), read from /proc when the
    server runs here; ``cpu_s`` is this process's (tokenizing, the search vectors, the COPY stream).
    """
    spent = [0.0, 0.0]
    wall, cpu = time.perf_counter(), time.process_time()
    store = await PostgresStore.open(url)
    try:
        pid = int((await store.fetchall("SELECT pg_backend_pid()"))[0][0])
        server_before = _server_cpu(pid)
        await store.bulk_load(_timed(papers, spent), batch=batch)
        server_after = _server_cpu(pid)
    finally:
        await store.close()
    server = server_after - server_before if server_before is not None and server_after is not None else -1.0
    return {
        "wall_s": time.perf_counter() - wall - spent[0],
        "cpu_s": time.process_time() - cpu - spent[1],
        "server_cpu_s": server,
        "read_s": spent[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def prepare(
    url: str | None,
    papers: int,
    *,
    rebuild: bool,
    batch: int,
    cache: Path,
    source: Callable[[], Iterable[Paper]],
) -> tuple[str, Any, Any]:
    """Return (database URL, build timings or None, the started server or None) for the archive of ``papers``.

    ``source`` gives the papers when the archive has to be built (the bench's cache file).
    """
    server: PgServer | None = None
    if url is None:
        check_space(cache, papers)
        server = PgServer(cache / "pg-server", settings=BENCH_SETTINGS, keep=True)
        url = database_url(server.start(), f"bench_realistic_{papers}", recreate=rebuild)
        print(f"PostgreSQL server of the bench's own at {server.root} (--db URL to use another)")
    try:
        store = await PostgresStore.open(url)
        try:
            held = await store.count_papers()
        finally:
            await store.close()
        if held == papers:
            print(f"using the archive already in {store.path} (--rebuild rebuilds the bench server's)")
            return url, None, server
        if held:
            raise SystemExit(
                f"bench.lookup: {store.path} holds {held:,} papers, not {papers:,}: give an empty database"
            )
        print(f"building archive of {papers:,} papers in {store.path} (PostgresStore.bulk_load)")
        built = await build(url, source(), batch=batch)
        print(
            f"  build: {built['wall_s']:.1f} s wall, {built['cpu_s']:.1f} s CPU here + {built['server_cpu_s']:.1f} s"
            f" CPU in the server (+{built['read_s']:.1f} s reading the papers); peak RSS {built['peak_rss_mb']:.0f} MiB"
        )
        return url, built, server
    except BaseException:
        if server is not None:
            server.stop()
        raise


async def size_mb(store: Any) -> float:
    """Return the database's size on disk in MiB."""
    rows = await store.fetchall("SELECT pg_database_size(current_database())")
    return float(rows[0][0]) / 2**20


async def naive(store: Any, query: str) -> list[str]:
    """The baseline on PostgreSQL: LIKE over every row, most voted first (as the SQLite one)."""
    terms = words(query)
    where = " AND ".join("(title LIKE %s OR authors_text LIKE %s OR abstract LIKE %s)" for _ in terms)
    sql = f"SELECT arxiv_id FROM papers WHERE {where} ORDER BY votes DESC NULLS LAST LIMIT 3"
    rows = await store.fetchall(sql, tuple(f"%{t}%" for t in terms for _ in range(3)))
    return [str(r[0]) for r in rows]


def build_line(papers: int, built: dict[str, float], size: float) -> str:
    """Return the key=value line of a PostgreSQL build, as the SQLite one plus the server's CPU."""
    return (
        f"bench.lookup build: papers={papers} wall_s={built['wall_s']:.1f} cpu_s={built['cpu_s']:.1f}"
        f" server_cpu_s={built['server_cpu_s']:.1f} peak_rss_mb={built['peak_rss_mb']:.0f} db_mb={size / 2**20:.0f}"
        " backend=postgresql"
    )


def stop(server: PgServer | None) -> None:
    """Stop the bench's own server, if it started one."""
    if server is not None:
        with suppress(RuntimeError):
            server.stop()
