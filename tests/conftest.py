"""Shared fixtures: the seed digest, a temporary store."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from hypothesis import settings

from digestbot.sources.files import load_file
from digestbot.store import Store, open_store
from tests.pg_server import PgServer

# No wall-clock deadline in any property test: on a loaded 2-core machine a slow example is not a bug.
# Registered here, before any test module is imported, so every @settings(...) inherits it.
settings.register_profile("digestbot", deadline=None)
settings.load_profile("digestbot")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"


@pytest.fixture
def seed_path() -> Path:
    return SEED


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "test.sqlite3")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def seeded_store(store: Store) -> Store:
    loaded = load_file(SEED)
    await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
    return store


# -- PostgreSQL: one throwaway server per test session, a fresh database per test ---------------------

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Return a superuser URL of a PostgreSQL server: DIGESTBOT_TEST_PG, else a throwaway one started here.

    Never skipped: a machine without PostgreSQL fails here, so CI cannot pass without testing it.
    """
    if given := os.environ.get("DIGESTBOT_TEST_PG"):
        yield given
        return
    server = PgServer()
    try:
        url = server.start()
    except BaseException:
        server.stop()
        raise
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_admin_url: str) -> str:
    """Return the URL of a new, empty database on the test server (dropped with the server)."""
    name = f"digestbot_test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    parts = urlsplit(pg_admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Return where a store of each backend lives: a temp SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "test.sqlite3"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def any_store(store_target: str | Path) -> AsyncIterator[Store]:
    """A store on each backend in turn (SQLite and PostgreSQL): for tests of the store's public contract."""
    s = await open_store(store_target)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def any_seeded_store(any_store: Store) -> Store:
    loaded = load_file(SEED)
    await any_store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
    return any_store
