"""Several processes writing the same new papers to one PostgreSQL database at once."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from digestbot.sources.files import load_file
from digestbot.store.migrations import LATEST
from digestbot.store.postgres.store import MIGRATION_LOCK, PostgresStore
from tests.conftest import SEED


async def test_a_second_writer_of_the_same_new_papers_waits_and_merges(pg_url: str) -> None:
    # Two `run`s fetch the same day's list: both find the papers new. The first writer's
    # transaction is still open when the second one writes; the second must neither fail on the
    # unique id nor add the papers twice.
    papers = load_file(SEED).papers
    vocabulary = "SELECT term, docs FROM lookup_terms ORDER BY term"
    first, second = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        async with first.transaction() as conn:
            result = await first._write_chunk(conn, list(papers), None, count_terms=True)
            assert result.added == len(papers)
            counted = await (await conn.execute(vocabulary)).fetchall()
            racing = asyncio.create_task(second.upsert_papers(papers))
            await asyncio.sleep(0.5)
            assert not racing.done()  # waiting for the first writer, not failing
        merged = await racing
        assert (merged.added, merged.updated + merged.unchanged) == (0, len(papers))
        assert await second.count_papers() == len(papers)
        assert await second.fetchall(vocabulary) == counted  # each paper's words counted once
    finally:
        await first.close()
        await second.close()


async def test_a_process_waiting_for_another_ones_migration_says_so(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A migration can take minutes (schema step 11 moved a million papers' vectors in two): the
    # processes started meanwhile wait for it, and say so instead of hanging silently.
    holder = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    try:
        await holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        opening = asyncio.create_task(PostgresStore.open(pg_url))
        await asyncio.sleep(0.5)
        assert not opening.done()
        assert "another process is migrating this database; waiting for it to finish" in caplog.text
        await holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        store = await opening
        assert await store.schema_version() == LATEST
        await store.close()
    finally:
        await holder.close()
