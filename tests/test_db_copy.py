"""``digestbot db copy`` (SQLite -> PostgreSQL, idempotent) and ``digestbot db check``."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digestbot.cli import main
from digestbot.lookup import lookup, result_json
from digestbot.sources.files import load_file
from digestbot.store import PostgresStore, Store
from digestbot.store.installations import InstallationRecord
from digestbot.store.migrations import LATEST
from digestbot.store.summaries import SummaryKey, SummaryStore
from tests.conftest import SEED

KEY = SummaryKey(language="en", model="m", prompt_version=1)


async def make_archive(path: Path) -> None:
    async with await Store.open(path) as store:
        loaded = load_file(SEED)
        await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
        await store.add_subscription(platform="slack", workspace="T", user="U", topic="diffusion", max_topics=5)
        await store.set_channel_settings(platform="slack", channel_id="C1", settings={"top": 3})
        await store.disable_channel(platform="discord", channel_id="D1", reason="gone")
        await store.set_schedule_last_seen([("slack", "C1", datetime(2024, 10, 11, tzinfo=UTC))])
        await SummaryStore(store).save("2410.05265", KEY, (("What's New", "new"),))
        await store.installations().save(InstallationRecord(team_id="T", team_name="Lab", bot_token="xoxb-t"))
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO deliveries(platform, target_kind, target_id, slot, digest_date, kind, part, parts, key, payload,"
        " state, created_at, updated_at) VALUES ('slack', 'channel', 'C1', 'post', '2024-10-11', 'digest', 0, 1,"
        " 'digest:2024-10-11', '{}', 'sent', '2024-10-11T00:00:00+00:00', '2024-10-11T00:00:01+00:00')"
    )
    con.commit()
    con.close()


def test_copy_sqlite_to_postgres_is_idempotent_and_answers_alike(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_CONFIG", "")
    source = tmp_path / "old.sqlite3"
    asyncio.run(make_archive(source))
    assert main(["db", "copy", "--from", str(source), "--to", pg_url]) == 0
    out, err = capsys.readouterr()
    assert "db copy: papers 25/25" in err and "db copy: deliveries 1/1" in err
    assert "25 papers" in out and "1 subscriptions" in out and "2 channels" in out and "1 deliveries" in out
    assert main(["db", "copy", "--from", str(source), "--to", pg_url]) == 0  # again: nothing doubled
    out, _ = capsys.readouterr()
    assert "25 papers" in out and "25 digest_entries" in out and "1 summaries" in out and "1 deliveries" in out
    assert "1 slack_installations" in out

    async def compare() -> None:
        async with await Store.open(source) as old, await PostgresStore.open(pg_url) as new:
            for query in ("prefix quant", "mathcodr", "동적 양자", "Houxing Ren", "diffusion", "chocolate cake"):
                assert result_json(await lookup(old, query)) == result_json(await lookup(new, query)), query
            assert await new.all_subscriptions() == await old.all_subscriptions()
            assert sorted(await new.channel_rows(), key=str) == sorted(await old.channel_rows(), key=str)
            assert await new.schedule_last_seen() == await old.schedule_last_seen()
            assert await SummaryStore(new).cached(["2410.05265"], KEY) == {"2410.05265": (("What's New", "new"),)}
            assert await new.delivery_counts() == {"sent": 1}
            assert await new.installations().all() == await old.installations().all()
            day = (await old.digest_dates())[0]
            assert await new.digest(day) == await old.digest(day)

    asyncio.run(compare())
    assert main(["--db", pg_url, "db", "check"]) == 0
    out, _ = capsys.readouterr()
    assert f"PostgreSQL, schema version {LATEST}" in out and "papers: 25" in out


def test_copy_refuses_wrong_directions_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "old.sqlite3"
    asyncio.run(make_archive(source))
    cases = [
        ["db", "copy", "--from", str(source)],
        ["db", "copy", "--from", str(tmp_path / "missing.sqlite3"), "--to", "postgresql://db/x"],
        ["db", "copy", "--from", str(source), "--to", str(tmp_path / "new.sqlite3")],
    ]
    for argv in cases:
        assert main(argv) == 2
        assert capsys.readouterr().err.count("\n") == 1
    empty = tmp_path / "empty.sqlite3"
    empty.touch()  # reading it must not write a schema into it
    assert main(["db", "copy", "--from", str(empty), "--to", "postgresql://db/x"]) == 2
    assert capsys.readouterr().err == (
        f"digestbot: error: db copy --from {empty}: {empty} is an empty file, not a digestbot archive yet:"
        " nothing to copy\n"
    )
    assert empty.stat().st_size == 0
    assert main(["--db", str(source), "db", "check"]) == 0
    assert f"SQLite, schema version {LATEST}" in capsys.readouterr().out
