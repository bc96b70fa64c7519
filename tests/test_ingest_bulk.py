"""A big input file goes through Store.bulk_load and ends up stored exactly as an upsert would store it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from digestbot import ingest
from digestbot.cli import ingest_files
from digestbot.lookup import lookup
from digestbot.records import Paper
from digestbot.sources.files import load_file
from digestbot.store import Store
from tests.conftest import SEED


async def _snapshot(store: Store, ids: list[str]) -> tuple[object, ...]:
    """What a reader sees: the digest days, every paper, and searches through both full-text indexes."""
    days = await store.digest_dates()
    papers = await store.get_papers(ids)
    assert len(papers) == len(ids)
    found = [(await lookup(store, query)).best for query in ("diffusion", "language model", "양자화", "Lee")]
    assert any(found)
    return days, sorted(papers.items()), found


async def test_a_big_file_takes_the_bulk_path_and_stores_what_an_upsert_stores(
    tmp_path: Path, seed_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stores = {}
    for name, limit in (("bulk", 10), ("upsert", 10_000)):
        monkeypatch.setattr(ingest, "BULK_LOAD_MIN", limit)
        store = await Store.open(tmp_path / f"{name}.sqlite3")
        with caplog.at_level(logging.INFO, logger="digestbot.ingest"):
            caplog.clear()
            assert await ingest_files(store, [str(seed_path)], "auto") == 0
        assert ("bulk path" in caplog.text) == (name == "bulk")
        stores[name] = store
    try:
        assert await stores["bulk"].count_papers() == 25
        ids = [p.arxiv_id for p in load_file(seed_path).papers]
        assert await _snapshot(stores["bulk"], ids) == await _snapshot(stores["upsert"], ids)
        assert await stores["bulk"].digest_dates()  # the file's day is a digest
    finally:
        for store in stores.values():
            await store.close()


async def test_a_small_input_next_to_a_big_archive_is_upserted(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ingest, "BULK_LOAD_MIN", 2)
    await store.upsert_papers([Paper(arxiv_id=f"2410.{i:05d}", title=f"Paper {i}") for i in range(1, 21)])
    with caplog.at_level(logging.INFO, logger="digestbot.ingest"):
        result = await ingest.store_papers(
            store, [Paper(arxiv_id="2410.09999", title="New"), Paper(arxiv_id="2410.00001", title="Paper 1", votes=5)]
        )
    assert "bulk path" not in caplog.text  # 2 papers next to 20: rebuilding the indexes would read all 20
    assert (result.added, result.updated) == (1, 1)



async def test_bulk_load_counts_the_vocabulary_an_upsert_counts(any_store: Store) -> None:
    """Typo correction and half-typed words draw on ``lookup_terms``: the bulk path must count the same words.

    It used to recount from the full-text index, whose unspaced-script grams of mixed words
    ("gsm8k에") left fragments such as "ataset" that half-typed words completed to.
    """
    loaded = load_file(SEED)
    await any_store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
    counted = sorted(await any_store.terms_starting("", min_len=1, max_len=200, limit=10**6))
    await any_store.bulk_load([])  # recounts the vocabulary from every stored paper
    assert sorted(await any_store.terms_starting("", min_len=1, max_len=200, limit=10**6)) == counted
    assert len(counted) > 100
