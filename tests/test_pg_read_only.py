"""Commands that only read never give a PostgreSQL database digestbot's schema (a mistyped name gains no tables)."""

from __future__ import annotations

import psycopg
import pytest

from digestbot.cli import main
from tests.conftest import SEED

READ_ONLY = [
    ["status"],
    ["db", "check"],
    ["lookup", "diffusion"],
    ["preview"],
    ["post", "--dry-run"],
    ["subscriptions", "list", "--platform", "console", "--user", "u"],
    ["channels", "enable", "console:general"],
]


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_read_only_commands_leave_another_apps_database_as_it_was(
    pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_CONFIG", "")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int)")  # some other application's database
    for args in READ_ONLY:
        assert main(["--db", pg_url, *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no digestbot archive in postgresql://" in err, (args, err)
        assert "run 'digestbot ingest FILE' first, or fix --db" in err
    assert main(["--db", pg_url, "channels", "list"]) == 0  # the config's channels need no archive
    out = capsys.readouterr().out
    assert out.splitlines()[-1].endswith("yet: no channel has settings stored from chat or the CLI yet")
    assert _tables(pg_url) == ["users"]
    assert main(["--db", pg_url, "ingest", str(SEED)]) == 0  # a command that writes makes the archive
    assert main(["--db", pg_url, "status"]) == 0
    assert "papers" in _tables(pg_url)
