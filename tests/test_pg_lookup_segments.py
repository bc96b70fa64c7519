"""PostgreSQL's lookup vectors in rowid segments: kept by triggers, created ahead, pruned by a window, migrated.

The segments are what keeps ``/paper`` at a million papers bounded (digestbot.store.postgres.search):
these tests pin the parts a latency bench would only show as slowness: a paper lands in its
segment whatever path wrote it, a window reads only the segments it reaches into, racing writers
create a segment once, and an archive of schema version 10 keeps every paper findable.
"""

from __future__ import annotations

import asyncio
import re

import psycopg
import pytest

from digestbot.records import Paper
from digestbot.store import PostgresStore
from digestbot.store.migrations import LATEST
from digestbot.store.postgres import search as pg_search
from digestbot.store.postgres.migrations import PG_MIGRATIONS
from digestbot.store.postgres.search import SEGMENT, Route, segment_share
from digestbot.store.search import candidates
from digestbot.store.sqlite import _row_values


async def _segments(store: PostgresStore) -> list[str]:
    sql = (
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'lookup_segments'::regclass ORDER BY c.relname"
    )
    return [str(r[0]) for r in await store.fetchall(sql)]


async def _skip_rowids_to(store: PostgresStore, rowid: int) -> None:
    """Let the next paper get ``rowid``: an archive that has grown past a segment or two."""
    async with store.transaction() as conn:
        await conn.execute(f"ALTER TABLE papers ALTER COLUMN rowid RESTART WITH {int(rowid)}")


def test_a_window_reads_the_segments_it_reaches_into_whole() -> None:
    newest = 10 * SEGMENT + 100  # the eleventh segment holds 100 papers so far
    assert segment_share(50, newest) == pytest.approx(100 / newest)  # only the newest, partly filled
    assert segment_share(101, newest) == pytest.approx((SEGMENT + 100) / newest)  # one rowid into the tenth
    assert segment_share(newest, newest) == 1.0
    assert segment_share(5, 0) == 1.0


async def test_papers_land_in_their_segment_and_the_next_one_is_made_ahead(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store:
        assert await _segments(store) == ["lookup_segments_0", "lookup_segments_1"]  # one ahead of an empty archive
        await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Sparse kernels")])
        await _skip_rowids_to(store, 2 * SEGMENT + 7)
        await store.upsert_papers([Paper(arxiv_id="2410.00002", title="Sparse attention")])  # segment 2
        await store.bulk_load([Paper(arxiv_id="2410.00003", title="Dense sparse kernels")], batch=10)  # by COPY
        assert await _segments(store) == [f"lookup_segments_{n}" for n in range(4)]
        rows = await store.fetchall("SELECT tableoid::regclass::text, rowid FROM lookup_segments ORDER BY rowid")
        assert rows == [
            ("lookup_segments_0", 1),
            ("lookup_segments_2", 2 * SEGMENT + 7),
            ("lookup_segments_2", 2 * SEGMENT + 8),
        ]
        assert await candidates(store, "lookup_fts", '"sparse"', limit=10) == [2 * SEGMENT + 8, 2 * SEGMENT + 7, 1]
        # An update rewrites the paper's vector in its segment: "attention" is gone, "tokens" found.
        await store.upsert_papers([Paper(arxiv_id="2410.00002", title="Sparse tokens")])
        assert await candidates(store, "lookup_fts", '"attention"', limit=10) == []
        assert await candidates(store, "lookup_fts", '"tokens"', limit=10) == [2 * SEGMENT + 7]


async def test_a_window_prunes_the_older_segments(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store:
        await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Sparse kernels")])
        await _skip_rowids_to(store, 3 * SEGMENT + 1)
        await store.upsert_papers([Paper(arxiv_id="2410.00002", title="Sparse attention")])
        query = pg_search.tsquery('"sparse"', "lookup_fts")
        assert await pg_search._window(store, query, 3 * SEGMENT, 10) == [3 * SEGMENT + 1]  # not paper 1
        async with store.transaction() as conn:
            cur = await conn.execute(
                "EXPLAIN SELECT rowid FROM lookup_segments WHERE lookup_vec @@ %s::tsquery AND rowid > %s",
                (query, 3 * SEGMENT),
            )
            plan = " ".join(str(r[0]) for r in await cur.fetchall())
        # Segment 3 holds the paper, 4 is the one made ahead; 0-2 are pruned, never read.
        assert set(re.findall(r"Heap Scan on (lookup_segments_\d+)", plan)) == {
            "lookup_segments_3",
            "lookup_segments_4",
        }


async def test_writers_racing_into_a_new_segment_create_it_once(pg_url: str) -> None:
    stores = [await PostgresStore.open(pg_url) for _ in range(4)]
    try:
        await _skip_rowids_to(stores[0], 5 * SEGMENT - 2)  # the next papers need segment 5 and, ahead, 6
        await asyncio.gather(
            *(
                s.upsert_papers([Paper(arxiv_id=f"2410.{10 * k + i:05d}", title=f"Race {k}") for i in range(3)])
                for k, s in enumerate(stores)
            )
        )
        assert (await _segments(stores[0]))[-2:] == ["lookup_segments_5", "lookup_segments_6"]
        assert len(await candidates(stores[0], "lookup_fts", '"race"', limit=50)) == 12
    finally:
        for s in stores:
            await s.close()


async def test_an_archive_of_schema_10_moves_its_vectors_into_segments(pg_url: str) -> None:
    paper = Paper(arxiv_id="2410.00001", title="Kernel tricks", authors=("Ada Lovelace",))
    values = _row_values(paper)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the schema as digestbot 10 left it
        for step in PG_MIGRATIONS[:10]:
            if step.strip():
                conn.execute(step.encode())
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (10)")
        conn.execute(
            "INSERT INTO papers (arxiv_id, title, authors_text, updated_at, search_vec)"
            " VALUES (%s, %s, %s, now(), %s::tsvector)",
            (paper.arxiv_id, paper.title, values[13], pg_search.search_vector(values)),
        )
    async with await PostgresStore.open(pg_url) as store:
        assert await store.schema_version() == LATEST
        assert await candidates(store, "lookup_fts", '"lovelace" AND "tricks"', limit=10) == [1]
        columns = await store.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'papers' AND column_name LIKE 'lookup%%'"
        )
        assert columns == []  # the old column and its index are gone


async def test_a_word_the_vocabulary_does_not_count_is_estimated_from_the_planners_statistics(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store:
        papers = [Paper(arxiv_id=f"2410.{i:05d}", title=f"Sparse kernels {i}") for i in range(1, 41)]
        await store.upsert_papers([*papers, Paper(arxiv_id="2410.09999", title="Dense rare words")])
        async with store.transaction() as conn:  # as a gram of Korean text is: in the index, not counted
            await conn.execute("DELETE FROM lookup_terms WHERE term IN ('sparse', 'dense')")
        assert (await pg_search._route(store, '"sparse"', 5))[0] == Route()  # no statistics yet: the index
        async with store.transaction() as conn:
            await conn.execute("ANALYZE lookup_segments")
    async with await PostgresStore.open(pg_url) as store:  # statistics are read once per connection
        shares, rest = await pg_search.lexeme_shares(store)
        assert shares["sparse"] == pytest.approx(40 / 41) and shares["kernels"] == pytest.approx(40 / 41)
        assert rest == pytest.approx(min(shares.values()) / 2)  # a word not among them: half the least
        # 40 of 41 papers: a walk finds 5 at once, as it would with the vocabulary's count.
        assert (await pg_search._route(store, '"sparse"', 5))[0].walk > 0
        assert await candidates(store, "lookup_fts", '"sparse"', limit=5) == [40, 39, 38, 37, 36]
        assert await candidates(store, "lookup_fts", '"dense"', limit=5) == [41]


async def test_a_writer_crossing_into_a_new_segment_never_waits_for_its_creator(pg_url: str) -> None:
    # T1 has written a paper (it holds lookup_segments open) when T2 starts the next segment, which
    # waits for T1 to finish. T1's next paper also reaches for that segment: it must leave it to T2
    # rather than wait for T2's lock (a deadlock, one of them aborted after deadlock_timeout).
    async with await PostgresStore.open(pg_url):
        pass  # migrated: segments 0 and 1
    insert = "INSERT INTO papers (rowid, arxiv_id, title, updated_at) VALUES (%s, %s, 'Race', now())"
    async with (
        await psycopg.AsyncConnection.connect(pg_url) as t1,
        await psycopg.AsyncConnection.connect(pg_url) as t2,
    ):
        await t1.execute(insert, (SEGMENT - 100, "2410.00001"))  # segment 0; 1 is there: no lock
        await t2.execute("SET lock_timeout = '20s'")
        creating = asyncio.create_task(t2.execute(insert, (SEGMENT + 5, "2410.00002")))  # makes segment 2
        await asyncio.sleep(0.5)
        assert not creating.done()  # waiting for T1, the advisory lock held
        await t1.execute(insert, (SEGMENT + 10, "2410.00003"))  # segment 1 exists: segment 2 is T2's to make
        await t1.commit()
        await asyncio.wait_for(creating, 20)
        await t2.commit()
    async with await PostgresStore.open(pg_url) as store:
        assert await _segments(store) == [f"lookup_segments_{n}" for n in range(3)]
        rows = await store.fetchall("SELECT rowid FROM lookup_segments ORDER BY rowid")
        assert rows == [(SEGMENT - 100,), (SEGMENT + 5,), (SEGMENT + 10,)]
