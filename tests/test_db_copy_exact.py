"""``db copy`` copies exactly what is there: no digest it did not have, and a NUL never stops it (nor an ingest)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from digestbot.cli import main
from digestbot.records import Paper, storable
from digestbot.sources.huggingface import parse_daily_papers
from digestbot.sources.records_file import parse_records

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
