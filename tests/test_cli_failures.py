"""Failures of what the CLI stands on (a full disk, a damaged database file): one line naming the place, exit 1."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from digestbot.cli import main
from digestbot.store import Store
from tests.conftest import SEED


def _papers_json(path: Path, count: int) -> Path:
    records = [
        {"arxiv_id": f"2411.{i:05d}", "title": f"Paper {i}", "abstract": f"words {i} " * 300} for i in range(count)
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM papers").fetchone()[0])


@pytest.fixture
def seeded_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    db = tmp_path / "db.sqlite3"
    assert main(["--db", str(db), "ingest", str(SEED)]) == 0
    capsys.readouterr()
    return db


def test_disk_full_during_ingest_is_one_line_exit_1_nothing_stored(
    seeded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    big = _papers_json(tmp_path / "big.json", 400)
    with sqlite3.connect(seeded_db) as conn:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    configure: Callable[[Store], object] = Store._configure

    async def tiny_disk(self: Store) -> None:
        await configure(self)  # type: ignore[misc]
        # The file may grow by a few pages only: SQLite then answers SQLITE_FULL, as on a full disk.
        await self._db.execute(f"PRAGMA max_page_count = {pages + 4}")

    monkeypatch.setattr(Store, "_configure", tiny_disk)
    assert main(["--db", str(seeded_db), "ingest", str(big)]) == 1
    err = _one_line(capsys)
    assert err.startswith(f"digestbot: error: {seeded_db}: database or disk is full: free some disk space"), err
    monkeypatch.undo()
    assert _count(seeded_db) == 25  # the file was one transaction: none of its 400 papers is stored


def _damage(db: Path) -> None:
    """Overwrite the pages of the papers table and the digest index with garbage (the schema stays readable)."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        roots = [
            int(r[0])
            for r in conn.execute(
                "SELECT rootpage FROM sqlite_master WHERE name IN ('papers', 'digest_entries', 'sqlite_autoindex_papers_1')"
            )
        ]
    with db.open("r+b") as f:
        for page in roots:
            f.seek((page - 1) * size)
            f.write(b"\xa5" * size)


@pytest.mark.parametrize(
    "command",
    [["preview"], ["lookup", "2410.05265"], ["lookup", "prefix quant"], ["ingest", str(SEED)]],
    ids=["preview", "lookup-id", "lookup-words", "ingest"],
)
def test_damaged_database_is_one_line_exit_1(
    seeded_db: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _damage(seeded_db)
    assert main(["--db", str(seeded_db), *command]) == 1
    err = _one_line(capsys)
    assert err.startswith(
        f"digestbot: error: {seeded_db}: the database file is damaged (database disk image is malformed)"
    )


def test_a_locked_database_says_retry_later(
    seeded_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from digestbot.errors import StoreBusyError
    from digestbot.store.sqlite_errors import translate

    error = translate(Path("db.sqlite3"), sqlite3.OperationalError("database is locked"))
    assert isinstance(error, StoreBusyError)
    assert str(error) == "db.sqlite3: database is locked: another process holds it; run the command again later"
    assert error.reason == "database is locked"

    async def locked(self: Store, day: object) -> None:
        raise sqlite3.OperationalError("database is locked")  # what SQLite says after the busy timeout

    monkeypatch.setattr(Store, "digest", translating_method(locked))
    assert main(["--db", str(seeded_db), "preview"]) == 75
    err = _one_line(capsys)
    assert (
        err
        == f"digestbot: error: {seeded_db}: database is locked: another process holds it; run the command again later\n"
    )


def translating_method(method: Callable[..., object]) -> Callable[..., object]:
    """Wrap a stand-in store method the way the SQLite store wraps its own (sqlite3 errors become store errors)."""
    from digestbot.store.sqlite_errors import translating

    class One:
        async def m(self, *args: object) -> object:
            return await method(self, *args)  # type: ignore[misc]

    return translating(One).m  # type: ignore[return-value]


def test_db_check_reads_the_whole_file_and_a_damaged_one_is_exit_1(
    seeded_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(seeded_db) as conn:  # damage an index page only: counting rows still works
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        page = int(
            conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_papers_1'").fetchone()[0]
        )
    with seeded_db.open("r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xa5" * size)
    assert main(["--db", str(seeded_db), "db", "check"]) == 1
    err = _one_line(capsys)
    assert err.startswith(f"digestbot: error: {seeded_db}: the database file is damaged ("), err


def test_a_truncated_file_is_damaged_exit_1_not_a_wrong_db(
    seeded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(seeded_db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cut = tmp_path / "cut.sqlite3"
    cut.write_bytes(seeded_db.read_bytes()[:8192])
    assert main(["--db", str(cut), "status"]) == 1
    assert _one_line(capsys).startswith(f"digestbot: error: {cut}: the database file is damaged (")


def test_a_folder_as_db_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["status"], ["ingest", str(SEED)]):
        assert main(["--db", str(tmp_path), *command]) == 2
        err = _one_line(capsys)
        assert (
            err
            == f"digestbot: error: {tmp_path}: is a folder: give a database file path, such as {tmp_path}/digestbot.sqlite3\n"
        )


def test_a_read_only_archive_says_so(
    seeded_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def read_only(
        self: Store,
    ) -> None:  # what SQLite answers on a read-only file or folder (root is never refused)
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Store, "_configure", read_only)
    assert main(["--db", str(seeded_db), "lookup", "prefix"]) == 2
    assert _one_line(capsys) == (
        f"digestbot: error: {seeded_db}: the file or its folder is read-only, and digestbot writes to its archive"
        " (its journal, schema updates): make both writable, or work on a copy\n"
    )


def test_a_dry_run_creates_no_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "new.sqlite3"
    assert main(["--db", str(db), "post", "--dry-run"]) == 2
    assert _one_line(capsys).startswith(f"digestbot: error: no archive at {db}: run 'digestbot ingest FILE' first")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["db", "check"],
        ["subscriptions", "list", "--platform", "console", "--user", "u"],
        ["lookup", "x"],
        ["preview"],
        ["post", "--dry-run"],
    ],
)
def test_a_read_only_command_leaves_an_empty_file_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch()  # what `touch` or a failed copy leaves: not an archive yet, and reading must not make it one
    assert main(["--db", str(empty), *command]) == 2
    assert _one_line(capsys) == (
        f"digestbot: error: {empty} is an empty file, not a digestbot archive yet: run 'digestbot ingest FILE'"
        " first, or fix --db (the demo's archive is --db digestbot-demo.sqlite3)\n"
    )
    assert empty.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite3"]


def test_ingest_makes_an_empty_file_an_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    assert main(["--db", str(empty), "ingest", str(SEED)]) == 0  # a command that writes may start the archive there
    assert _count(empty) > 0
