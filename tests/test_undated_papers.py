"""Papers stored without a date belong to no digest day: ingest says so, and preview does not send the user round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digestbot.cli import main

NOTE = "give the file a date ('{date: YYYY-MM-DD, papers: [...]}', or a 'date' per paper) and ingest it again"


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_ingest_of_undated_records_says_they_are_in_no_digest_and_preview_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, esc = tmp_path / "e.sqlite3", _write(tmp_path / "esc.json", [{"arxiv_id": "2410.00001", "title": "x"}])
    assert main(["--db", str(db), "ingest", str(esc)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == f"{esc}: note: 1 paper has no date, so no digest lists it; {NOTE}"
    assert main(["--db", str(db), "preview"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "digestbot: error: the archive holds 1 paper but no digest day (stored without a date); give their file"
        " a date ('{date: YYYY-MM-DD, papers: [...]}') and ingest it again\n"
    )
    assert "run 'digestbot ingest FILE' first" not in err


def test_partly_dated_records_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [
        {"arxiv_id": "2410.00001", "title": "x", "date": "2024-10-11"},
        {"arxiv_id": "2410.00002", "title": "y"},
        {"arxiv_id": "2410.00003", "title": "z"},
    ]
    path = _write(tmp_path / "some.json", records)
    assert main(["--db", str(tmp_path / "s.sqlite3"), "ingest", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        f"{path}: note: 2 of 3 papers have no date, so no digest lists them; {NOTE}"
    )


def test_dated_files_get_no_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "d.json", {"date": "2024-10-11", "papers": [{"arxiv_id": "2410.00001", "title": "x"}]})
    assert main(["--db", str(tmp_path / "d.sqlite3"), "ingest", str(path)]) == 0
    assert "note:" not in capsys.readouterr().out
