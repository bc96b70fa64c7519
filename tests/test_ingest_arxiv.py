"""arXiv as a source: `ingest --from arxiv` category digests, `enrich`, and enrichment before a post.

The CLI runs as a subprocess against the loopback :class:`SourcesServer` (its ``/api/query`` answers
the entries of ``tests/fixtures/arxiv/id_list_4.xml``: 2410.08196, 2410.03437, hep-th/9711200,
2410.03450). ``sources.arxiv.min_interval: 0`` (accepted for a loopback base_url only) keeps the
tests from waiting arXiv's 3 seconds; the spacing itself is tested in ``tests/sources/test_arxiv.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digestbot import ingest
from digestbot.channels import load_channels
from digestbot.clock import FakeClock
from digestbot.config import (
    ArxivConfig,
    ChannelConfig,
    Config,
    HuggingFaceConfig,
    SourcesConfig,
    load_config,
)
from digestbot.delivery import DeliveryEngine
from digestbot.enrich import fill_from_arxiv
from digestbot.errors import ConfigError
from digestbot.records import Paper
from digestbot.store import Store
from tests.delivery_fakes import FakeAdapter
from tests.fakes.sources_server import Reply, SourcesServer, fixture_text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"
IN_FEED = ["2410.08196", "2410.03437", "hep-th/9711200", "2410.03450"]
FRIDAY = date(2024, 10, 11)


def write_config(tmp_path: Path, base_url: str, *, categories: str = "[cs.CL, cs.LG]") -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'db.sqlite3'}\n"
        "sources:\n"
        f"  huggingface:\n    base_url: {base_url}\n"
        f"  arxiv:\n    base_url: {base_url}\n    min_interval: 0\n    categories: {categories}\n"
    )
    return config


async def run_cli(
    tmp_path: Path, base_url: str, *args: str, categories: str = "[cs.CL, cs.LG]"
) -> tuple[int, str, str]:
    config = write_config(tmp_path, base_url, categories=categories)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "digestbot",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def stored(tmp_path: Path, *ids: str) -> dict[str, Paper]:
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        return await store.get_papers(ids)


def id_lists(server: SourcesServer) -> list[list[str]]:
    return [r.query["id_list"].split(",") for r in server.seen("/api/query") if "id_list" in r.query]


# -- the fill rule ------------------------------------------------------------------------------


def test_fill_from_arxiv_fills_gaps_and_overwrites_nothing() -> None:
    known = Paper(
        arxiv_id="2410.03450",
        title="MLLM as Retriever (the digest's title)",
        authors=("Junpeng Yue", "Börje F. Karlsson"),  # the digest's order, not arXiv's
        sections=(("What's New", "요약"),),
        votes=12,
        digest_date=FRIDAY,
        source="markdown",
        extra={"published": "2024-10-05", "thumbnail": "/t.png"},
    )
    fetched = Paper(
        arxiv_id="2410.03450",
        title="MLLM as Retriever: Interactively Learning Multimodal Retrieval",
        authors=("Börje F. Karlsson", "Junpeng Yue", "Xinru Xu"),
        abstract="We propose...",
        digest_date=date(2024, 10, 4),
        source="arxiv",
        extra={"categories": ["cs.AI", "cs.CL"], "published": "2024-10-04T14:10:39Z", "pdf_url": "p"},
    )
    merged = known.merged_with(fill_from_arxiv(known, fetched))
    assert merged.title == known.title and merged.authors == known.authors
    assert (merged.votes, merged.sections, merged.digest_date, merged.source) == (
        12,
        known.sections,
        FRIDAY,
        "markdown",
    )
    assert merged.abstract == "We propose..."
    assert merged.extra == {
        "published": "2024-10-05",
        "thumbnail": "/t.png",
        "categories": ["cs.AI", "cs.CL"],
        "pdf_url": "p",
    }

    bare = Paper(arxiv_id="2410.03450", title="MLLM as Retriever", abstract="HF's abstract")
    filled = bare.merged_with(fill_from_arxiv(bare, fetched))
    assert filled.authors == fetched.authors  # no authors known: arXiv's fill the gap
    assert filled.abstract == "HF's abstract"  # a known abstract is kept
    assert filled.title == "MLLM as Retriever"
    patch = fill_from_arxiv(known, fetched)
    assert patch.digest_date is None and patch.votes is None  # storing it files the paper under no new day


# -- ingest --from arxiv ------------------------------------------------------------------------


async def test_category_digest_ranks_unvoted_last_and_keeps_hf_titles(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        status, _, err = await run_cli(
            tmp_path, server.base_url, "ingest", "--from", "huggingface", "--date", "2024-10-11"
        )
        assert status == 0, err
        hf = await stored(tmp_path, *IN_FEED)
        status, out, err = await run_cli(tmp_path, server.base_url, "ingest", "--from", "arxiv", "--date", "2024-10-11")
        assert status == 0, err
        assert out == "arxiv: 1 day: 1 fetched (4 papers: 1 added, 3 updated), 0 already stored, 0 empty (0 weekend)\n"
        (query,) = [r.query for r in server.seen("/api/query")]
        assert query["search_query"] == "(cat:cs.CL OR cat:cs.LG) AND submittedDate:[202410110000 TO 202410112359]"
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        digest = await store.digest(FRIDAY)
    assert digest is not None and len(digest.papers) == 8  # HF's 7 + the one arXiv-only paper
    assert digest.papers[-1].arxiv_id == "hep-th/9711200" and digest.papers[-1].votes is None
    assert all(p.votes is not None for p in digest.papers[:-1])
    by_id = {p.arxiv_id: p for p in digest.papers}
    for arxiv_id, before in hf.items():
        after = by_id[arxiv_id]
        assert (after.title, after.authors, after.votes, after.source) == (
            before.title,
            before.authors,
            before.votes,
            "huggingface",
        )
        assert after.extra["categories"] and after.extra["published"]
    assert by_id["hep-th/9711200"].source == "arxiv" and by_id["hep-th/9711200"].abstract


async def test_backfill_uses_the_same_resumable_loop(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        args = ("ingest", "--from", "arxiv", "--since", "2024-10-10", "--until", "2024-10-12")
        status, out, err = await run_cli(tmp_path, server.base_url, *args)
        assert status == 0, err
        assert out.startswith("arxiv: 3 days: 3 fetched (12 papers: 4 added, 0 updated)")
        stamps = [r.query["search_query"].split("submittedDate:[")[1][:8] for r in server.seen("/api/query")]
        assert stamps == ["20241010", "20241011", "20241012"]
        status, out, _ = await run_cli(tmp_path, server.base_url, *args)
        assert status == 0 and "3 already stored" in out
        assert len(server.seen("/api/query")) == 3  # resumed: nothing asked again
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        assert await store.digest_dates() == [date(2024, 10, 12), date(2024, 10, 11), date(2024, 10, 10)]


async def test_no_categories_is_a_clear_error_before_any_request(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        status, out, err = await run_cli(tmp_path, server.base_url, "ingest", "--from", "arxiv", categories="[]")
        assert server.requests == []
    assert status == 2 and out == ""
    assert (
        err == "digestbot: error: no arXiv categories configured: set sources.arxiv.categories, e.g. [cs.CL, cs.LG]\n"
    )


async def test_arxiv_error_answer_stores_nothing(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        server.script(
            "/api/query", Reply(body=fixture_text("arxiv/error_incorrect_id.xml"), content_type="application/atom+xml")
        )
        status, _, err = await run_cli(tmp_path, server.base_url, "ingest", "--from", "arxiv", "--date", "2024-10-11")
    assert status == 2 and err.count("\n") == 1 and "arXiv error: incorrect id format" in err
    assert await stored(tmp_path, *IN_FEED) == {}


# -- enrich -------------------------------------------------------------------------------------


async def test_enrich_fills_abstracts_without_touching_the_digest(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        status, _, err = await run_cli(tmp_path, server.base_url, "ingest", str(SAMPLE))
        assert status == 0, err
        before = await stored(tmp_path, *IN_FEED)
        assert len(before) == 3 and not any(p.abstract for p in before.values())
        status, out, err = await run_cli(tmp_path, server.base_url, "enrich")
        assert status == 0, err
        assert out == "arxiv: 25 papers missing an abstract or categories: 3 filled, 22 not found on arXiv\n"
        (asked,) = id_lists(server)
        assert len(asked) == 25 and set(before) <= set(asked)
        after = await stored(tmp_path, *IN_FEED)
        for arxiv_id, old in before.items():
            new = after[arxiv_id]
            assert (new.title, new.authors, new.votes, new.sections, new.thumbnail, new.source) == (
                old.title,
                old.authors,
                old.votes,
                old.sections,
                old.thumbnail,
                old.source,
            )
            assert new.abstract and new.extra["categories"] and new.extra["published"]
        assert after["2410.08196"].abstract.startswith("Code has been shown to be effective")
        status, out, _ = await run_cli(tmp_path, server.base_url, "enrich")
        assert out.startswith("arxiv: 22 papers missing")  # the filled ones are not asked again
        assert set(id_lists(server)[1]).isdisjoint(before)


async def test_enrich_batches_100_ids_newest_first_and_honours_limit_and_date(tmp_path: Path) -> None:
    older = [{"arxiv_id": f"2409.{n:05d}", "title": f"Older paper {n}"} for n in range(1, 121)]
    newer = [{"arxiv_id": f"2410.{n:05d}", "title": f"Newer paper {n}"} for n in range(1, 91)]
    (tmp_path / "old.json").write_text(json.dumps({"date": "2024-09-30", "papers": older}))
    (tmp_path / "new.json").write_text(json.dumps({"date": "2024-10-01", "papers": newer}))
    async with SourcesServer() as server:
        status, _, err = await run_cli(tmp_path, server.base_url, "ingest", "old.json", "new.json")
        assert status == 0, err
        status, out, err = await run_cli(tmp_path, server.base_url, "enrich", "--limit", "205")
        assert status == 0, err
        assert out == "arxiv: 205 papers missing an abstract or categories: 0 filled, 205 not found on arXiv\n"
        lists = id_lists(server)
        assert [len(ids) for ids in lists] == [100, 100, 5]
        flat = [i for ids in lists for i in ids]
        assert set(flat[:90]) == {p["arxiv_id"] for p in newer}  # the newest day first
        status, out, _ = await run_cli(tmp_path, server.base_url, "enrich", "--date", "2024-09-30")
        assert out.startswith("arxiv: 120 papers missing")
        assert [len(ids) for ids in id_lists(server)[3:]] == [100, 20]
        assert all(i.startswith("2409.") for ids in id_lists(server)[3:] for i in ids)
        status, _, err = await run_cli(tmp_path, server.base_url, "enrich", "--limit", "0")
        assert status == 2 and "--limit must be at least 1" in err


# -- before a post ------------------------------------------------------------------------------


def post_config(base_url: str, *, arxiv_enabled: bool = True) -> Config:
    return Config(
        channels=(ChannelConfig(platform="discord", id="c1"),),
        sources=SourcesConfig(
            huggingface=HuggingFaceConfig(base_url=base_url),
            arxiv=ArxivConfig(enabled=arxiv_enabled, base_url=base_url, min_interval=0),
        ),
    )


async def post_friday(store: Store, config: Config) -> FakeAdapter:
    clock = FakeClock(datetime(2024, 10, 12, 9, 0, tzinfo=UTC))  # Sat 09:00 UTC: Friday's list is due
    adapter = FakeAdapter("discord", clock=clock)
    engine = DeliveryEngine(
        store, {"discord": adapter}, config, clock, before_post=ingest.before_post_hook(store, config)
    )
    try:
        await engine.scheduled_post(await load_channels(store, config), clock.now(), final=True)
    finally:
        await engine.close()
    return adapter


@pytest.fixture
async def store(tmp_path: Path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        yield s


async def test_before_post_fetches_hf_then_enriches_the_day(store: Store) -> None:
    async with SourcesServer() as server:
        adapter = await post_friday(store, post_config(server.base_url))
        assert [r.query.get("date") for r in server.seen("/api/daily_papers")] == ["2024-10-11"]
        (asked,) = id_lists(server)  # HF's 7 papers lack categories: one request for all
        assert len(asked) == 7
    assert adapter.keys() == ["digest:2024-10-11"]
    digest = await store.digest(FRIDAY)
    assert digest is not None
    enriched = {p.arxiv_id for p in digest.papers if "categories" in p.extra}
    assert enriched == {"2410.08196", "2410.03437", "2410.03450"}
    assert all(p.source == "huggingface" and p.votes is not None for p in digest.papers)


async def test_before_post_enrichment_failure_is_logged_and_the_post_goes_on(store: Store, caplog) -> None:
    async with SourcesServer() as server:
        server.script("/api/query", Reply(status=400, body="bad request", content_type="text/plain"))
        with caplog.at_level(logging.WARNING, logger="digestbot.ingest"):
            adapter = await post_friday(store, post_config(server.base_url))
    assert adapter.keys() == ["digest:2024-10-11"]
    assert "enriching 2024-10-11 from arXiv failed, posting without it" in caplog.text
    digest = await store.digest(FRIDAY)
    assert digest is not None and not any("categories" in p.extra for p in digest.papers)


async def test_before_post_leaves_arxiv_alone_when_disabled(store: Store) -> None:
    async with SourcesServer() as server:
        adapter = await post_friday(store, post_config(server.base_url, arxiv_enabled=False))
        assert server.seen("/api/query") == []
    assert adapter.keys() == ["digest:2024-10-11"]


# -- config -------------------------------------------------------------------------------------


def test_the_3_second_rule_is_the_default_and_only_loopback_may_go_faster(tmp_path: Path) -> None:
    assert ingest.arxiv_client(Config()).min_interval == 3.0
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n  arxiv:\n    min_interval: 1\n")
    with pytest.raises(ConfigError, match=r"sources\.arxiv\.min_interval: arXiv allows one request every 3 s"):
        load_config(path)
    path.write_text("sources:\n  arxiv:\n    base_url: http://127.0.0.1:8080\n    min_interval: 0\n")
    assert ingest.arxiv_client(load_config(path)).min_interval == 0
    path.write_text("sources:\n  arxiv:\n    categories: [cs.CL, 'cs.LG OR all:x']\n")
    with pytest.raises(ConfigError, match=r"sources\.arxiv\.categories\[1\]: not an arXiv category"):
        load_config(path)
