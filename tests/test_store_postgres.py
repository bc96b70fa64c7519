"""What only the PostgreSQL store has: racing migrations, its search index, URL selection and redaction."""

from __future__ import annotations

import asyncio
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
