"""The throwaway server helper the tests and benches share, and the bulk load's index-build memory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest

from bench.pg_archive import BENCH_SETTINGS
from digestbot.store import PostgresStore
from digestbot.store.postgres import bulk
from tests.pg_server import TEST_SETTINGS, PgServer


def test_a_kept_server_is_reused_with_its_settings() -> None:
    """bench.lookup's server keeps its cluster between runs and starts with the settings given."""
    root = Path(tempfile.mkdtemp(prefix="digestbot-pg-kept-"))  # not tmp_path: the server's user must reach it
    server = PgServer(root, settings={**TEST_SETTINGS, "jit": "off", "work_mem": "7MB"}, keep=True)
    try:
        url = server.start()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE kept TEMPLATE template0")
            assert conn.execute("SHOW jit").fetchone() == ("off",)
            assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
        server.stop()
        assert (root / "data" / "PG_VERSION").exists()  # kept, not removed
        again = PgServer(root, settings=TEST_SETTINGS, keep=True)
        with psycopg.connect(again.start(), autocommit=True) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'kept'").fetchone() == (1,)
            assert conn.execute("SHOW work_mem").fetchone() == ("4MB",)  # this start's settings, not the last's
        again.stop()
    finally:
        PgServer(root, keep=False).stop()
    assert not root.exists()


def test_bench_settings_are_the_test_settings_plus_its_own() -> None:
    """The bench's server is the tests' one (one helper, not a copy) with bulk-load and lookup settings added."""
    assert TEST_SETTINGS.items() <= BENCH_SETTINGS.items()
    assert BENCH_SETTINGS["jit"] == "off"
    assert BENCH_SETTINGS["wal_level"] == "minimal"


@pytest.mark.parametrize(("server", "inside"), [("64MB", "512MB"), ("1GB", "1GB")])
async def test_index_builds_get_at_least_512mb_and_never_less_than_the_server_gives(
    pg_url: str, server: str, inside: str
) -> None:
    """The bulk load raises maintenance_work_mem for its transaction only, and never lowers a larger setting."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(f"SET maintenance_work_mem = '{server}'")
        async with conn.transaction():
            await bulk._raise_maintenance_memory(conn)
            cur = await conn.execute("SHOW maintenance_work_mem")
            assert await cur.fetchone() == (inside,)
        cur = await conn.execute("SHOW maintenance_work_mem")
        assert await cur.fetchone() == (server,)


async def test_store_sessions_never_jit_compile(pg_url: str, pg_admin_url: str) -> None:
    """A store's lookups run without JIT, whatever the server's default (PostgreSQL's is on)."""
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        assert conn.execute("SHOW jit").fetchone() == ("on",)  # the test server keeps the default
    store = await PostgresStore.open(pg_url)
    try:
        assert await store.fetchall("SHOW jit") == [("off",)]
        assert await store.fetchall("SHOW TimeZone") == [("UTC",)]
    finally:
        await store.close()
