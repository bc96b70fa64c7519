"""A new archive built without a journal by index workers: the same data as upserts, and never silently half-built."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from digestbot.errors import StoreError, StoreFailedError
from digestbot.records import Paper
from digestbot.sources.files import load_file
from digestbot.store import Store
from digestbot.store.sqlite import BUILDING
from tests.conftest import SEED
from tests.raw_sqlite import raw_connection


def _papers() -> list[Paper]:
    """The seed digest twice over, the second time enriched (votes, a summary): later batches update earlier rows."""
    loaded = load_file(SEED)
    papers = list(loaded.papers)
    again = [dataclasses.replace(p, votes=(p.votes or 0) + 7, ai_summary=f"{p.title} 요약") for p in papers[::3]]
    return [*papers, Paper(arxiv_id="2410.99999", title="Börje's kernel tricks"), *again]


async def _state(store: Store) -> tuple[object, ...]:
    """Everything a reader sees: rows (without their timestamps), digest entries, vocabulary, index answers."""
    db = raw_connection(store)
    async with db.execute("SELECT * FROM papers ORDER BY rowid") as cur:
        papers = [row[:-2] + row[-1:] for row in await cur.fetchall()]  # updated_at is second to last
    async with db.execute("SELECT * FROM digest_entries ORDER BY 1, 2") as cur:
        entries = await cur.fetchall()
    async with db.execute("SELECT * FROM lookup_terms ORDER BY term") as cur:
        terms = await cur.fetchall()
    answers = []
    for index, words in (
        ("lookup_fts", ["kernel", "양자", "borje", "lee"]),
        ("body_fts", ["model", "요약", "training"]),
    ):
        for word in words:
            async with db.execute(
                f"SELECT rowid FROM {index} WHERE {index} MATCH ? ORDER BY rowid", (f'"{word}"',)
            ) as cur:
                answers.append((index, word, [r[0] for r in await cur.fetchall()]))
    return papers, entries, terms, answers


async def test_a_new_archive_built_by_workers_holds_what_upserts_give(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    papers = _papers()
    upserted = await Store.open(tmp_path / "upsert.sqlite3")
    for paper in papers:
        await upserted.upsert_papers([paper])
    built = await Store.open(tmp_path / "bulk.sqlite3")
    try:
        with caplog.at_level(logging.INFO, logger="digestbot.store.sqlite_bulk"):
            result = await built.bulk_load(papers, batch=10)
        assert "two index workers" in caplog.text
        assert (result.added, result.updated) == (26, 9)
        assert await _state(built) == await _state(upserted)
        db = raw_connection(built)
        for index in ("lookup_fts", "body_fts"):  # the copied index agrees with the table, posting by posting
            await db.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")
        for pragma, value in (("journal_mode", "wal"), ("synchronous", 2), ("user_version", 0), ("cache_size", -2000)):
            async with db.execute(f"PRAGMA {pragma}") as cur:
                assert (await cur.fetchone())[0] == value, pragma
        assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.building*")))  # the side files are gone
        # The triggers are back: an upsert after the build keeps the indexes in step.
        count = "SELECT count(*) FROM lookup_fts WHERE lookup_fts MATCH 'kernel'"
        async with db.execute(count) as cur:
            before = (await cur.fetchone())[0]
        await built.upsert_papers([Paper(arxiv_id="2410.88888", title="Kernel methods")])
        async with db.execute(count) as cur:
            assert (await cur.fetchone())[0] == before + 1
    finally:
        await built.close()
        await upserted.close()


async def test_an_archive_with_data_takes_the_journaled_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        await store.add_subscription(platform="discord", workspace="", user="u1", topic="kernel", max_topics=5)
        with caplog.at_level(logging.INFO, logger="digestbot.store.sqlite_bulk"):
            await store.bulk_load(_papers())
        assert "two index workers" not in caplog.text  # a crash must not cost the subscriptions
        assert await store.count_papers() == 26


async def test_a_failed_build_says_so_and_the_file_is_refused_afterwards(tmp_path: Path) -> None:
    def papers() -> Iterator[Paper]:
        yield from _papers()[:20]
        raise OSError("input file truncated")

    path = tmp_path / "db.sqlite3"
    store = await Store.open(path)
    with pytest.raises(StoreFailedError, match=r"input file truncated.*delete it and load again") as failed:
        await store.bulk_load(papers(), batch=5)
    assert "\n" not in str(failed.value)
    await store.close()
    with pytest.raises(StoreError, match="interrupted, so it is incomplete: delete it"):
        await Store.open(path)


KILLED_MID_BUILD = """
import asyncio, os, signal, sys
from pathlib import Path
from digestbot.records import Paper
from digestbot.store import Store

def papers():
    for i in range(3000):
        if i == 2500:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash while pages are being written without a journal
        yield Paper(arxiv_id=f"2410.{i:05d}", title=f"Paper number {i} on kernels", abstract="word " * 200)

async def main():
    store = await Store.open(Path(sys.argv[1]))
    await store.bulk_load(papers(), batch=500)

asyncio.run(main())
"""


async def test_a_crash_mid_build_leaves_a_file_that_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_MID_BUILD,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(run.communicate(), timeout=120)
    assert run.returncode == -9, err.decode()
    with pytest.raises(StoreError) as refused:
        await Store.open(path)
    assert str(refused.value) == (
        f"{path}: a bulk load into this new archive was interrupted, so it is incomplete: delete it and load again"
    )
    assert BUILDING != 0
