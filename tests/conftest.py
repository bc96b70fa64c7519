"""Shared fixtures: the seed digest, a temporary store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings

from digestbot.sources.files import load_file
from digestbot.store import Store

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
