"""A big input file goes through Store.bulk_load and ends up stored exactly as an upsert would store it."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bench.synthetic import realistic_papers
from digestbot import ingest
from digestbot.cli import ingest_files
from digestbot.lookup import lookup
from digestbot.records import Paper
from digestbot.sources.files import load_file
from digestbot.store import Store, open_store
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


def _papers_with_repeats() -> list[Paper]:
    """Realistic papers, some seen twice: later in the same chunk, and in a later chunk with more to merge."""
    papers = list(realistic_papers(240, seed=11))
    first, second = papers[3], papers[100]
    return [
        *papers[:10],
        replace(first, votes=(first.votes or 0) + 7),  # the same chunk (of 50): folded before writing
        *papers[10:200],
        replace(second, authors=(*second.authors, "Ada Lovelace"), abstract=""),  # a later chunk: merged
        *papers[200:],
    ]


async def _second_target(store_target: str | Path, tmp_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """Return a second, empty store of the same backend as ``store_target``."""
    if isinstance(store_target, Path):
        return tmp_path / "upserted.sqlite3"
    admin: str = request.getfixturevalue("pg_admin_url")
    parts = urlsplit(store_target)
    name = parts.path.lstrip("/") + "_upserted"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _stored(store: Store, ids: list[str]) -> tuple[object, ...]:
    """What a reader sees: every paper, each day's digest, the vocabulary, and what lookups answer."""
    papers = await store.get_papers(ids)
    days = await store.digest_dates(limit=10_000)
    digests = [await store.digest(day) for day in days]
    vocabulary = sorted(await store.terms_starting("", min_len=1, max_len=200, limit=10**6))
    answers = []
    for query in ("diffusion", "language model", "양자화", "Lee", "lovelace", "kernal", "transformer"):
        result = await lookup(store, query)
        answers.append([p.arxiv_id for p in (result.best, *result.others, *result.closest) if p is not None])
    return sorted(papers.items()), days, digests, vocabulary, answers


async def test_bulk_load_stores_what_upserts_store_on_both_backends(
    store_target: str | Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The bulk path (COPY and indexes built after, on PostgreSQL) ends where the same upserts end."""
    seed = load_file(SEED)
    papers = _papers_with_repeats()
    ids = list(dict.fromkeys([p.arxiv_id for p in seed.papers] + [p.arxiv_id for p in papers]))
    bulk = await open_store(store_target)
    upserted = await open_store(await _second_target(store_target, tmp_path, request))
    try:
        for store in (bulk, upserted):
            await store.upsert_papers(seed.papers, digest_date=seed.digest_date)
        result = await bulk.bulk_load(papers, batch=50)
        assert (result.added, result.updated, result.unchanged) == (240, 1, 0)
        again = await bulk.bulk_load(papers[:5], batch=50, digest_date=seed.digest_date)  # files them on that day
        assert again.added == 0
        await upserted.upsert_papers(papers)  # one chunk of 500 here: the later repeat is folded, not merged
        await upserted.upsert_papers(papers[:5], digest_date=seed.digest_date)
        assert await _stored(bulk, ids) == await _stored(upserted, ids)
    finally:
        await bulk.close()
        await upserted.close()
