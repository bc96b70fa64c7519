from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from digestbot.errors import StoreError, TopicLimitError
from digestbot.lookup import lookup
from digestbot.records import Paper
from digestbot.store import Store
from digestbot.store.migrations import LATEST, MIGRATIONS
from tests.raw_sqlite import raw_connection

DAY = date(2024, 10, 11)


async def test_upsert_enriches_and_counts(any_store: Store) -> None:
    first = Paper(arxiv_id="2410.00001", title="T", abstract="abstract", votes=3, digest_date=DAY)
    assert (await any_store.upsert_papers([first])).added == 1
    later = Paper(arxiv_id="2410.00001", title="T", ai_summary="ai", votes=7, keywords=("k",))
    result = await any_store.upsert_papers([later])
    assert (result.added, result.updated, result.unchanged) == (0, 1, 0)
    stored = await any_store.get_paper("2410.00001")
    assert stored is not None
    assert stored.abstract == "abstract" and stored.ai_summary == "ai" and stored.votes == 7
    assert stored.digest_date == DAY
    assert (await any_store.upsert_papers([later])).unchanged == 1


async def test_digest_ranked_by_votes(any_seeded_store: Store) -> None:
    digest = await any_seeded_store.digest(DAY)
    assert digest is not None and len(digest.papers) == 25
    votes = [p.votes or 0 for p in digest.papers]
    assert votes == sorted(votes, reverse=True)
    assert digest.papers[0].arxiv_id == "2410.08196"
    assert await any_seeded_store.digest(date(2024, 10, 12)) is None
    assert await any_seeded_store.latest_digest_date() == DAY
    assert await any_seeded_store.latest_digest_date(on_or_before=date(2024, 10, 10)) is None


async def test_failed_transaction_leaves_nothing(any_store: Store) -> None:
    papers = [Paper(arxiv_id="2410.00001", title="A"), Paper(arxiv_id="2410.00002", title=None)]  # type: ignore[arg-type]
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        await any_store.upsert_papers(papers)
    assert await any_store.count_papers() == 0


async def test_fts_follows_updates(store: Store) -> None:
    await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Old words")])
    await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Brand new")])
    async with raw_connection(store).execute("SELECT rowid FROM lookup_fts WHERE lookup_fts MATCH 'old'") as cur:
        assert await cur.fetchall() == []
    async with raw_connection(store).execute("SELECT rowid FROM lookup_fts WHERE lookup_fts MATCH 'brand'") as cur:
        assert len(await cur.fetchall()) == 1


async def test_wal_and_schema_version(store: Store) -> None:
    async with raw_connection(store).execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"
    assert await store.schema_version() == LATEST


async def test_upgrade_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);" + MIGRATIONS[0]
    )
    con.execute("INSERT INTO papers(arxiv_id, title, updated_at) VALUES ('2410.00001', 'Kept', 'x')")
    con.commit()
    con.close()
    store = await Store.open(path)
    try:
        assert await store.schema_version() == LATEST
        paper = await store.get_paper("2410.00001")
        assert paper is not None and paper.title == "Kept"
        assert await store.add_subscription(platform="slack", workspace="T", user="U", topic="llm", max_topics=5)
    finally:
        await store.close()


async def test_refuses_newer_schema_and_garbage(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    con = sqlite3.connect(newer)
    con.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (999);"
    )
    con.close()
    with pytest.raises(StoreError, match="newer than this digestbot"):
        await Store.open(newer)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable digestbot database"):
        await Store.open(garbage)


async def test_subscriptions(any_store: Store) -> None:
    key = {"platform": "discord", "workspace": "G", "user": "U"}
    assert await any_store.add_subscription(**key, topic="llm", max_topics=2)
    assert not await any_store.add_subscription(**key, topic="llm", max_topics=2)
    assert await any_store.add_subscription(**key, topic="diffusion", max_topics=2)
    with pytest.raises(TopicLimitError, match="limit is 2"):
        await any_store.add_subscription(**key, topic="rl", max_topics=2)
    assert await any_store.list_subscriptions(**key) == ["llm", "diffusion"]
    assert await any_store.remove_subscription(**key, topic="llm")
    assert not await any_store.remove_subscription(**key, topic="llm")
    assert await any_store.all_subscriptions() == [("discord", "G", "U", "diffusion")]


def _open_and_close(path: str, start_at: float = 0.0) -> str:
    """Open (and so migrate) ``path`` in a fresh process at ``start_at`` (epoch seconds); return "" or the error."""

    while time.time() < start_at:  # every process opens at the same moment: the race is the point
        pass

    async def go() -> None:
        store = await Store.open(path)
        await store.close()

    try:
        asyncio.run(go())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def test_ten_processes_opening_one_fresh_file_at_once_all_succeed(tmp_path: Path) -> None:
    # Each process migrates under the write lock and reads the version inside that transaction. They
    # also switch the fresh file to WAL at the same moment: SQLite answers all but one of them
    # "database is locked" at once there (a lock deadlock, no busy wait), so the switch is retried.
    context = multiprocessing.get_context("spawn")
    with context.Pool(10) as pool:
        assert pool.map(_noop, range(10), chunksize=1) == list(range(10))  # all started: the opens overlap
        for attempt in range(3):
            path = str(tmp_path / f"fresh{attempt}.sqlite3")
            start_at = time.time() + 0.3
            errors = pool.starmap(_open_and_close, [(path, start_at)] * 10, chunksize=1)
            assert errors == [""] * 10
            con = sqlite3.connect(path)
            assert con.execute("SELECT version FROM schema_version").fetchall() == [(LATEST,)]
            con.close()


async def test_opening_a_file_while_another_connection_writes_it_waits_for_the_write(tmp_path: Path) -> None:
    """Switching a file to WAL while another connection holds its write lock is "database is locked" at once.

    SQLite does not wait out the busy timeout there (it would be a lock deadlock); that is how
    processes opening one fresh file together failed now and then. Opening tries again instead.
    """
    path = tmp_path / "db.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("CREATE TABLE t(x)")  # a file not yet in WAL, with another process's write under way
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (1)")
        asyncio.get_running_loop().call_later(0.5, other.execute, "COMMIT")
        store = await Store.open(path)
        try:
            assert await store.schema_version() == LATEST
        finally:
            await store.close()
    finally:
        other.close()


def _noop(i: int) -> int:
    return i


async def test_bulk_load_indexes_like_upsert_and_restores_durability(store: Store) -> None:
    papers = [
        Paper(arxiv_id="2410.00001", title="Kernel tricks", authors=("Ada Lovelace",), abstract="sparse attention"),
        Paper(arxiv_id="2410.00002", title="양자화 모델", sections=(("What's New", "재훈련 없이"),)),
    ]
    result = await store.bulk_load(papers, batch=1)
    assert (result.added, result.updated) == (2, 0)
    assert (await store.bulk_load([Paper(arxiv_id="2410.00001", title="Kernel tricks", votes=3)])).updated == 1
    for match, expected in [("kernel", 1), ("lovelace", 1), ("훈련", 2)]:
        async with raw_connection(store).execute(
            "SELECT rowid FROM lookup_fts WHERE lookup_fts MATCH ?", (f'"{match}"',)
        ) as cur:
            assert [r[0] for r in await cur.fetchall()] == [expected], match
    async with raw_connection(store).execute("SELECT rowid FROM body_fts WHERE body_fts MATCH 'sparse'") as cur:
        assert len(await cur.fetchall()) == 1
    async with raw_connection(store).execute("SELECT docs FROM lookup_terms WHERE term = 'kernel'") as cur:
        assert (await cur.fetchone())[0] == 1
    async with raw_connection(store).execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 2  # FULL again
    async with raw_connection(store).execute("PRAGMA wal_autocheckpoint") as cur:
        assert (await cur.fetchone())[0] == 1000
    async with raw_connection(store).execute("PRAGMA cache_size") as cur:
        assert (await cur.fetchone())[0] == -2000  # SQLite's default page cache again
    for index in ("lookup_fts", "body_fts"):  # FTS5's default pending-postings size again
        async with raw_connection(store).execute(f"SELECT v FROM {index}_config WHERE k = 'hashsize'") as cur:
            assert (await cur.fetchone())[0] == 2**20
    # The triggers are back: a normal upsert keeps the indexes and the vocabulary in step.
    await store.upsert_papers([Paper(arxiv_id="2410.00003", title="Kernel methods")])
    async with raw_connection(store).execute("SELECT count(*) FROM lookup_fts WHERE lookup_fts MATCH 'kernel'") as cur:
        assert (await cur.fetchone())[0] == 2
    async with raw_connection(store).execute("SELECT docs FROM lookup_terms WHERE term = 'kernel'") as cur:
        assert (await cur.fetchone())[0] == 2


async def test_upgrade_to_search_indexes_fills_grams_of_old_papers(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        old.executescript(script)
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (4)")
    old.execute(
        "INSERT INTO papers(arxiv_id, title, authors_text, summary_text, updated_at)"
        " VALUES ('2410.05265', 'PrefixQuant', 'Jiahao Wang', '토큰별 동적 양자화를 사용', 'x')"
    )
    old.commit()
    old.close()
    async with await Store.open(path) as store:
        assert await store.schema_version() == LATEST
        for query in ("양자", "자화", "jiahao wang", "prefixquant"):
            result = await lookup(store, query)
            assert result.best is not None and result.best.arxiv_id == "2410.05265", query
