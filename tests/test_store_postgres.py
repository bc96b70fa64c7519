"""What only the PostgreSQL store has: racing migrations, its search index, URL selection and redaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from digestbot.cli import main
from digestbot.errors import StoreError, UnavailableError
from digestbot.records import Paper
from digestbot.store import PostgresStore, Store, check_target, open_store, redact_url
from digestbot.store.migrations import LATEST
from digestbot.store.postgres import search as pg_search
from digestbot.store.postgres.search import Route, _route, postings, route, share
from digestbot.store.search import candidates
from tests.conftest import SEED


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.replace("postgres@", f"postgres:{password}@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def test_racing_openers_migrate_once(pg_url: str) -> None:
    # Eight connections open a fresh database at once; the advisory lock lets one migrate.
    stores = await asyncio.gather(*(PostgresStore.open(pg_url) for _ in range(8)))
    try:
        assert {await s.schema_version() for s in stores} == {LATEST}
        rows = await stores[0].fetchall("SELECT version FROM schema_version")
        assert rows == [(LATEST,)]
    finally:
        for s in stores:
            await s.close()


async def test_refuses_a_newer_schema(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store, store.transaction() as conn:
        await conn.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(StoreError, match="newer than this digestbot"):
        await PostgresStore.open(pg_url)


async def test_search_index_follows_updates_and_bulk_load_recounts_the_vocabulary(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store:
        await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Old words")])
        await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Brand new")])
        assert await candidates(store, "lookup_fts", '"old"', limit=10) == []
        assert len(await candidates(store, "lookup_fts", '"brand"', limit=10)) == 1
        papers = [
            Paper(arxiv_id="2410.00002", title="Kernel tricks", authors=("Ada Lovelace",), abstract="sparse attention"),
            Paper(arxiv_id="2410.00003", title="양자화 모델", sections=(("What's New", "재훈련 없이"),)),
        ]
        await store.bulk_load(papers, batch=1)
        assert await candidates(store, "lookup_fts", '"lovelace"', limit=10) == [2]
        assert await candidates(store, "lookup_fts", '"훈련"', limit=10) == [3]  # a piece of a summary word
        assert await candidates(store, "body_fts", '"sparse"', limit=10) == [2]
        assert await candidates(store, "lookup_fts", '"sparse"', limit=10) == []  # abstracts are not title words
        assert await candidates(store, "lookup_fts", '("kernel" OR "brand") AND "tricks"', limit=10) == [2]
        docs = await store.fetchall("SELECT term, docs FROM lookup_terms WHERE term IN ('kernel', 'brand', 'old')")
        assert sorted(docs) == [("brand", 1), ("kernel", 1)]  # recounted from the index: "old" has left


async def _gin_indexes(store: PostgresStore) -> list[tuple[str, str]]:
    sql = "SELECT tablename, indexname FROM pg_indexes WHERE indexdef LIKE '%% USING gin %%' ORDER BY 1, 2"
    return [(str(r[0]), str(r[1])) for r in await store.fetchall(sql)]


async def test_bulk_load_builds_the_search_indexes_again_and_a_failed_one_leaves_the_old_state(pg_url: str) -> None:
    """The bulk path drops the GIN indexes while COPY runs: they are back after, and after a failure too."""
    async with await PostgresStore.open(pg_url) as store:
        indexes = await _gin_indexes(store)
        assert indexes == [
            ("lookup_segments", "lookup_segments_vec"),
            ("lookup_segments_0", "lookup_segments_0_lookup_vec_idx"),  # a partition's own, made with the parent's
            ("lookup_segments_1", "lookup_segments_1_lookup_vec_idx"),  # one segment ahead
            ("lookup_terms", "lookup_terms_trgm"),
            ("papers", "papers_search"),
        ]
        await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Kernel tricks")])

        papers = [Paper(arxiv_id=f"2410.{i:05d}", title=f"Sparse kernels {i}") for i in range(2, 30)]

        def broken() -> Iterator[Paper]:
            yield from papers
            raise RuntimeError("the source broke")

        with pytest.raises(RuntimeError, match="the source broke"):
            await store.bulk_load(broken(), batch=10)  # two chunks were copied in before the failure
        assert await store.count_papers() == 1
        assert await _gin_indexes(store) == indexes
        assert await candidates(store, "lookup_fts", '"kernel"', limit=10) == [1]
        assert await store.terms_starting("sparse", min_len=1, max_len=99, limit=9) == []

        result = await store.bulk_load(papers, batch=10)
        assert result.added == 28
        assert await _gin_indexes(store) == indexes
        assert len(await candidates(store, "lookup_fts", '"sparse"', limit=100)) == 28
        assert await store.terms_starting("sparse", min_len=1, max_len=99, limit=9) == [("sparse", 28)]
        async with store.transaction() as conn:  # 29 rows: the planner would rather read them all
            await conn.execute("SET enable_seqscan = off")
        for table, column, index, query in (
            ("lookup_segments", "lookup_vec", "lookup_segments_0_lookup_vec_idx", "'sparse'"),
            ("papers", "search_vec", "papers_search", "'x':D"),
        ):
            plan = await store.fetchall(f"EXPLAIN SELECT rowid FROM {table} WHERE {column} @@ %s::tsquery", (query,))
            assert index in " ".join(str(r[0]) for r in plan)  # the index is there and usable


def test_match_share_is_estimated_from_the_vocabulary_counts() -> None:
    docs = {"a": 10, "b": 20, "c": 50}
    assert share('("a" OR "b") AND "c"', docs, 100) == pytest.approx(0.15)
    assert share('"a" OR "b" AND "c"', docs, 100) == pytest.approx(0.2)  # AND binds first, as in FTS5
    assert share('"c" AND "unknown"', docs, 100) == 0.0  # grams and unknown words count as rare
    assert share('"a" OR "b" OR "c" OR "c"', docs, 100) == 1.0


def test_route_takes_the_cheapest_way_for_the_share_of_matches() -> None:
    n, limit = 1_000_000, 300
    # In most titles: 508 newest papers tested, where the newest segment's index would read ~10,000 postings.
    assert route('"learning"', {"learning": 590_700}, n, limit).walk > 0
    # In 1.7%: a walk tests 17,000 papers and the index fetches 17,000 rows; a window of 34,779
    # reads one segment's postings (the newest, 16,960 rows at a million) and fetches ~600.
    assert route('"shot"', {"shot": 17_252}, n, limit) == Route(window=34_779)
    # Rare: every match is fetched from the index (a window would hold them all anyway).
    assert route('"rare"', {"rare": 500}, n, limit) == Route()
    assert route('"unknown"', {}, n, limit) == Route()  # no count at all (no statistics yet): the index
    # An AND is driven by its rarest word (GIN's fast scan); an OR reads every branch.
    docs = {"learning": 590_700, "gentle": 2_000, "a": 10, "b": 20}
    assert postings('"learning" AND "gentle"', docs) == (pytest.approx(1_200), 2)
    assert postings('("a" OR "b") AND "learning"', docs) == (pytest.approx(18), 3)


async def test_common_words_walk_the_newest_papers_and_a_wrong_estimate_falls_back_to_the_index(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store:
        await store.upsert_papers([Paper(arxiv_id=f"2410.{i:05d}", title=f"Sparse kernels {i}") for i in range(1, 41)])
        await store.upsert_papers([Paper(arxiv_id="2410.09999", title="Dense rare words")])
        assert (await _route(store, '"sparse"', 5))[0].walk > 0  # 40 of 41 papers: a walk finds 5 at once
        assert await candidates(store, "lookup_fts", '"sparse"', limit=5) == [40, 39, 38, 37, 36]
        assert await candidates(store, "lookup_fts", '"rare" AND "dense"', limit=5) == [41]
        # Upserts never take words off the vocabulary: it still counts 40 "sparse" papers, there are 2.
        await store.upsert_papers([Paper(arxiv_id=f"2410.{i:05d}", title=f"Plain kernels {i}") for i in range(3, 41)])
        assert (await _route(store, '"sparse"', 5))[0].walk > 0
        assert await candidates(store, "lookup_fts", '"sparse"', limit=5) == [2, 1]


async def test_a_window_of_the_newest_papers_widens_until_it_holds_the_newest_matches(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await PostgresStore.open(pg_url) as store:
        # "sparse" in every third paper of 200: papers 3, 6, … 198.
        await store.upsert_papers(
            [
                Paper(arxiv_id=f"2410.{i:05d}", title=f"{'Sparse' if i % 3 == 0 else 'Dense'} kernels {i}")
                for i in range(1, 201)
            ]
        )
        newest = [198 - 3 * k for k in range(30)]
        asked: list[int] = []
        window = pg_search._window

        async def recorded(store: PostgresStore, query: str, after: int, limit: int) -> list[int]:
            asked.append(after)
            return await window(store, query, after, limit)

        monkeypatch.setattr(pg_search, "_window", recorded)
        # Far too small, too small (by the estimate), larger than needed: the windows asked for
        # (as "rowid > after") grow by the density each showed, and the answer is the same.
        for first, windows in ((2, [2]), (30, [30, 180]), (150, [150])):
            asked.clear()
            monkeypatch.setattr(pg_search, "route", lambda *_: Route(window=first))  # noqa: B023
            assert await candidates(store, "lookup_fts", '"sparse"', limit=30) == newest
            # 2 papers held none: the whole index next; 30 held 10 of 30: 2 x 3 x 30 = 180.
            assert asked == [200 - w for w in windows]
        monkeypatch.setattr(pg_search, "route", lambda *_: Route(window=10))
        asked.clear()
        assert await candidates(store, "lookup_fts", '"sparse"', limit=100) == newest + [108 - 3 * k for k in range(36)]
        assert asked == [190]  # 10 papers held 3 of 100: 667 would be past all 200, so the whole index


async def test_schedule_memory_and_operator_counts(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as store:
        when = datetime(2024, 10, 11, 0, 0, tzinfo=UTC)
        await store.set_schedule_last_seen([("slack", "C1", when)])
        assert await store.schedule_last_seen() == {("slack", "C1"): when}
        assert await store.delivery_counts() == {}
        assert await store.last_channel_posts() == {}
        assert await store.recent_failures() == []


def test_targets_are_paths_or_postgres_urls(tmp_path: Path) -> None:
    assert check_target("postgresql://u:p@db.example/digest") == "postgresql://u:p@db.example/digest"
    assert check_target("postgres://db.example/digest") == "postgres://db.example/digest"
    assert check_target(tmp_path / "a.sqlite3") == tmp_path / "a.sqlite3"
    with pytest.raises(StoreError, match="unsupported database URL scheme 'mysql'") as bad:
        check_target("mysql://u:hunter2@db/x")
    assert "hunter2" not in str(bad.value)
    with pytest.raises(StoreError, match="does not exist"):
        check_target(tmp_path / "missing" / "a.sqlite3")


def test_redact_url_hides_passwords() -> None:
    assert redact_url("postgresql://bot:hunter2@db:5432/digest") == "postgresql://bot:***@db:5432/digest"
    assert redact_url("postgresql://db/digest?password=hunter2&sslmode=require") == (
        "postgresql://db/digest?password=***&sslmode=require"
    )
    assert redact_url("postgresql://bot@db/digest") == "postgresql://bot@db/digest"


async def test_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://bot:hunter2@/digest?host={tmp_path}&connect_timeout=2"
    with pytest.raises(UnavailableError) as failed:
        await open_store(url)
    assert "hunter2" not in str(failed.value) and "\n" not in str(failed.value)
    assert str(failed.value).startswith("postgresql://bot:***@/digest")
    assert "\t" not in str(failed.value) and "No such file" in str(failed.value)  # libpq's reason, not only its hint


def test_cli_on_postgres_ingest_lookup_status_and_redaction(
    pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_CONFIG", "")
    url = with_password(pg_url, "hunter2")  # trust auth ignores it; it must never be shown
    assert main(["--db", url, "ingest", str(SEED)]) == 0
    assert main(["--db", url, "lookup", "prefix quant", "--json"]) == 0
    assert main(["--db", url, "status"]) == 0
    out, err = capsys.readouterr()
    assert "2410.05265" in out and "25 papers" in out
    assert "hunter2" not in out + err and "postgres:***@" in out


def test_cli_refuses_bad_targets_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for target in ("mysql://u:hunter2@db/x", str(tmp_path / "nope" / "x.sqlite3")):
        assert main(["--db", target, "lookup", "diffusion"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "hunter2" not in err, err
    assert not (tmp_path / "nope").exists() and not Path("mysql:").exists()


def test_post_works_on_postgres_once_per_channel(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGESTBOT_CONFIG", raising=False)
    url = with_password(pg_url, "hunter2")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"database: {url}\nchannels:\n  - {{platform: console, id: general, top: 3}}\n", encoding="utf-8")
    assert main(["--config", str(cfg), "ingest", str(SEED)]) == 0
    assert main(["--config", str(cfg), "post", "--date", "2024-10-11"]) == 0
    assert main(["--config", str(cfg), "post", "--date", "2024-10-11"]) == 0
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("posted ")]
    assert lines == ["posted 1, already posted 0, failed 0", "posted 0, already posted 1, failed 0"], out
    assert "hunter2" not in out + err
    transcript = tmp_path / (urlsplit(pg_url).path.strip("/") + ".console.jsonl")
    assert len(transcript.read_text(encoding="utf-8").splitlines()) == 1  # next to where it runs, no password
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall() == [("sent", 1)]


async def test_digest_dates_and_missing_arxiv_data(pg_url: str) -> None:
    async with await open_store(pg_url) as store:
        day = date(2024, 10, 11)
        await store.upsert_papers(
            [
                Paper(arxiv_id="2410.00001", title="A", abstract="x", extra={"categories": ["cs.CL"]}),
                Paper(arxiv_id="2410.00002", title="B", extra={"withdrawnAt": "2024-10-12"}),
            ],
            digest_date=day,
        )
        assert await store.digest_dates() == [day]
        assert [p.arxiv_id for p in await store.papers_missing_arxiv_data()] == ["2410.00002"]
        digest = await store.digest(day)
        assert digest is not None and [p.arxiv_id for p in digest.papers] == ["2410.00001"]  # withdrawn left out


def test_store_type_is_the_contract(pg_url: str) -> None:
    # Until the Store protocol lands, open_store types PostgresStore as the Store it mirrors: same public methods.
    public = {n for n in dir(Store) if not n.startswith("_") and n not in {"db", "path"}}
    missing = public - set(dir(PostgresStore))
    assert not missing, missing
    assert psycopg.__version__


def test_a_connection_lost_mid_command_is_retry_later_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store turns a dropped connection into StoreBusyError: one line, exit 75, password hidden."""
    import digestbot.cli as cli
    from digestbot.store.postgres.errors import translating

    @translating
    class Dropped:
        path = redact_url("postgresql://bot:hunter2@db.example/digest")

        async def count_papers(self) -> int:
            raise psycopg.OperationalError("server closed the connection unexpectedly\n\tThis probably means ...")

    async def lost(*_: object) -> int:
        return await Dropped().count_papers()

    monkeypatch.setattr(cli, "cmd_lookup", lost)
    assert main(["--db", "postgresql://bot:hunter2@db.example/digest", "lookup", "x"]) == 75
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hunter2" not in err and "connection lost" in err and "bot:***@" in err


async def test_an_upper_case_scheme_connects(pg_url: str) -> None:
    scheme, rest = pg_url.split("://", 1)
    async with await open_store(f"{scheme.upper()}://{rest}") as store:
        assert await store.schema_version() > 0
