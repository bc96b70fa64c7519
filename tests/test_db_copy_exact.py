"""``db copy`` copies exactly what is there: no digest it did not have, and a NUL never stops it (nor an ingest)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import date
from pathlib import Path

import psycopg
import pytest

from digestbot.cli import main
from digestbot.records import Paper, storable
from digestbot.sources.huggingface import parse_daily_papers
from digestbot.sources.records_file import parse_records
from digestbot.store import PostgresStore, Store

NUL_RECORD = {"arxiv_id": "2401.00001", "title": "A\u0000 title", "extra_field": "e\u0000", "deep": [{"k\u0000": "v"}]}


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_CONFIG", "")


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _pg_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_storable_removes_nul_from_every_string_and_keeps_a_clean_paper_as_is() -> None:
    paper = Paper(arxiv_id="2401.00001", title="t\u0000", sections=(("a\u0000", "b"),), extra={"k\u0000": ["v\u0000"]})
    cleaned = storable(paper)
    assert cleaned.title == "t" and cleaned.sections == (("a", "b"),) and dict(cleaned.extra) == {"k": ["v"]}
    clean = Paper(arxiv_id="2401.00001", title="t", extra={"n": [1, {"x": None}]})
    assert storable(clean) is clean


def test_a_record_file_loses_nul_in_extra_too() -> None:
    _, papers = parse_records([NUL_RECORD])
    assert dict(papers[0].extra) == {"extra_field": "e", "deep": [{"k": "v"}]}


def test_a_hugging_face_answer_loses_nul_in_extra_too() -> None:
    entry = {"paper": {"id": "2401.00001", "title": "T", "submittedOnDailyAt": "2024-03-01T00:00:00.000Z"}}
    entry["paper"]["note\u0000"] = "v\u0000"
    (paper,) = parse_daily_papers([entry], origin="api")
    assert dict(paper.extra) == {"submittedOnDailyAt": "2024-03-01T00:00:00.000Z", "note": "v"}


def test_ingest_of_a_nul_record_into_postgres_works(tmp_path: Path, pg_url: str) -> None:
    source = _write(tmp_path / "nul.json", [NUL_RECORD])
    assert main(["--db", pg_url, "ingest", str(source)]) == 0
    assert _pg_rows(pg_url, "SELECT title, extra->>'extra_field' FROM papers") == [("A title", "e")]


def _old_archive_with_nuls(path: Path) -> None:
    """An archive written before NULs were removed on input: SQLite holds them in every text column."""
    source = _write(path.with_suffix(".json"), [{"arxiv_id": "2401.00001", "title": "T", "date": "2024-03-01"}])
    assert main(["--db", str(path), "ingest", str(source)]) == 0
    assert main(["--db", str(path), "subscriptions", "--platform", "slack", "--user", "U1", "add", "diffusion"]) == 0
    con = sqlite3.connect(path)
    con.execute("UPDATE papers SET extra = ?", (json.dumps({"extra_field": "e\u0000", "k\u0000": ["\u0000"]}),))
    con.execute("UPDATE subscriptions SET display = ?", ("diff\u0000usion",))
    con.execute(
        "INSERT INTO summaries(arxiv_id, language, model, prompt_version, sections, created_at)"
        " VALUES ('2401.00001', 'en', 'm', 1, ?, '2024-03-01T00:00:00+00:00')",
        (json.dumps([["What\u0000", "new\u0000"]]),),
    )
    con.commit()
    assert con.execute("SELECT instr(extra, '\\u0000') > 0 FROM papers").fetchone() == (1,)
    con.close()


def test_copy_of_an_archive_holding_nul_copies_every_table(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "old.sqlite3"
    _old_archive_with_nuls(archive)
    capsys.readouterr()
    assert main(["db", "copy", "--from", str(archive), "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "1 papers" in out and "1 subscriptions" in out and "1 summaries" in out
    assert out.rstrip().endswith("db copy finished")
    assert _pg_rows(pg_url, "SELECT extra::text FROM papers") == [('{"k": [""], "extra_field": "e"}',)]
    assert _pg_rows(pg_url, "SELECT display FROM subscriptions") == [("diffusion",)]
    assert _pg_rows(pg_url, "SELECT sections::text FROM summaries") == [('[["What", "new"]]',)]


def test_copy_adds_no_digest_and_keeps_each_as_the_source_has_it(tmp_path: Path, pg_url: str) -> None:
    """A file's papers are that file's digest, whatever their own dates; the copy must not file them again."""
    papers = [
        {"arxiv_id": f"2403.0000{i}", "title": f"P{i}", "votes": i, "date": f"2024-03-0{i + 1}"} for i in (1, 2, 3)
    ]
    source = _write(tmp_path / "day.json", {"date": "2024-03-01", "papers": papers})
    archive = tmp_path / "old.sqlite3"
    assert main(["--db", str(archive), "ingest", str(source)]) == 0
    assert main(["db", "copy", "--from", str(archive), "--to", pg_url]) == 0
    assert main(["db", "copy", "--from", str(archive), "--to", pg_url]) == 0  # again: still nothing added

    async def compare() -> None:
        async with await Store.open(archive) as old, await PostgresStore.open(pg_url) as new:
            assert await new.digest_dates() == await old.digest_dates() == [date(2024, 3, 1)]
            assert await new.digest(date(2024, 3, 1)) == await old.digest(date(2024, 3, 1))
            assert await new.digest(date(2024, 3, 3)) is None
            assert [p.digest_date for p in (await new.get_papers(["2403.00002"])).values()] == [date(2024, 3, 3)]

    asyncio.run(compare())
    assert _pg_rows(pg_url, "SELECT count(*) FROM digest_entries") == [(3,)]


def test_copy_keeps_the_destinations_own_digest_entries(tmp_path: Path, pg_url: str) -> None:
    """A paper the destination already lists on another day keeps that entry, and its votes."""
    archive = tmp_path / "old.sqlite3"
    one = {"arxiv_id": "2403.00001", "title": "P", "votes": 1}
    assert (
        main(
            ["--db", str(archive), "ingest", str(_write(tmp_path / "a.json", {"date": "2024-03-01", "papers": [one]}))]
        )
        == 0
    )
    there = {**one, "votes": 9}
    assert (
        main(["--db", pg_url, "ingest", str(_write(tmp_path / "b.json", {"date": "2024-03-05", "papers": [there]}))])
        == 0
    )
    assert main(["db", "copy", "--from", str(archive), "--to", pg_url]) == 0
    rows = _pg_rows(pg_url, "SELECT digest_date::text, votes FROM digest_entries ORDER BY 1")
    assert rows == [("2024-03-01", 1), ("2024-03-05", 9)]


def test_db_check_refuses_from_and_to_and_copy_names_an_empty_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small.sqlite3"
    assert main(["--db", str(small), "ingest", str(_write(tmp_path / "r.json", [NUL_RECORD]))]) == 0
    capsys.readouterr()
    for flag in ("--from", "--to"):
        assert main(["db", "check", flag, str(small)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"db check {flag}" in err and "--db" in err
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    assert main(["db", "copy", "--from", str(empty), "--to", "postgresql://db/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty" in err and str(empty) in err
    assert empty.stat().st_size == 0


def test_db_help_says_check_reads_db(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["db", "--help"])
    assert "check the --db database" in " ".join(capsys.readouterr().out.split())


async def test_papers_stored_with_file_digest_off_are_in_no_digest(any_store: Store) -> None:
    # What db copy writes through: the papers and their words, and no digest of their own dates.
    dated = [Paper(arxiv_id="2403.00001", title="Dated paper", digest_date=date(2024, 3, 2))]
    result = await any_store.upsert_papers(dated, file_digest=False)
    assert result.added == 1 and await any_store.get_paper("2403.00001") is not None
    assert await any_store.digest_dates() == []
    await any_store.upsert_papers(dated)
    assert await any_store.digest_dates() == [date(2024, 3, 2)]
