"""The Slack installation records: save, find, remove (pausing channels), reinstall (resuming), states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digestbot.channels import load_channels
from digestbot.config import Config
from digestbot.store import Store
from digestbot.store.installations import PAUSED, InstallationRecord


def _install(team: str, token: str) -> InstallationRecord:
    return InstallationRecord(team_id=team, team_name=f"team {team}", bot_token=token, bot_user_id="UBOT", bot_id="B1")


async def test_save_find_and_refresh_keep_installed_at(any_store: Store) -> None:
    records = any_store.installations()
    assert await records.find("T1") is None
    await records.save(_install("T1", "xoxb-1"))
    first = await records.find("T1")
    assert first is not None and first.bot_token == "xoxb-1" and first.active and first.installed_at
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    await records.save(
        InstallationRecord(
            team_id="T1", bot_token="xoxe.xoxb-2", bot_refresh_token="xoxe-r", bot_token_expires_at=expires
        )
    )
    refreshed = await records.find("T1")
    assert refreshed is not None and refreshed.bot_token == "xoxe.xoxb-2" and refreshed.bot_token_expires_at == expires
    assert refreshed.installed_at == first.installed_at


async def test_remove_pauses_the_workspace_channels_and_reinstall_resumes_only_those(any_store: Store) -> None:
    records = any_store.installations()
    await records.save(_install("T1", "xoxb-1"))
    await records.save(_install("T2", "xoxb-2"))
    await any_store.set_channel_settings(platform="slack", channel_id="C1", workspace="T1", settings={})
    await any_store.set_channel_settings(platform="slack", channel_id="C2", workspace="T2", settings={})
    await any_store.set_channel_settings(platform="slack", channel_id="C3", workspace="T1", settings={})
    await any_store.disable_channel(platform="slack", channel_id="C3", workspace="T1", reason="turned off by an admin")

    assert await records.remove("T1", reason="the workspace uninstalled the app", channels=["C9"]) == 2
    assert await records.find("T1") is None
    assert await records.find("T2") is not None
    rows = {r["channel_id"]: r for r in await any_store.channel_rows()}
    assert rows["C1"]["enabled"] == 0 and rows["C1"]["disabled_reason"] == PAUSED + "the workspace uninstalled the app"
    assert rows["C9"]["enabled"] == 0 and rows["C2"]["enabled"] == 1
    removed = next(r for r in await records.all() if r.team_id == "T1")
    assert not removed.active and removed.removed_reason == "the workspace uninstalled the app"

    assert await records.save(_install("T1", "xoxb-1b")) == 2  # C1 and C9, not C3
    rows = {r["channel_id"]: r for r in await any_store.channel_rows()}
    assert rows["C1"]["enabled"] == 1 and rows["C9"]["enabled"] == 1 and rows["C3"]["enabled"] == 0
    channels = await load_channels(any_store, Config(), include_disabled=True)
    assert {c.id for c in channels if c.enabled} == {"C1", "C2", "C9"}


async def test_oauth_state_is_used_once_and_expires(any_store: Store) -> None:
    records = any_store.installations()
    now = datetime.now(UTC)
    await records.issue_state("s1", expires_at=now + timedelta(minutes=10))
    await records.issue_state("old", expires_at=now - timedelta(seconds=1))
    assert await records.consume_state("s1") is True
    assert await records.consume_state("s1") is False  # no replay
    assert await records.consume_state("old") is False
    assert await records.consume_state("never-issued") is False


async def test_slack_installs_lists_the_installs_of_a_postgresql_store(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``slack installs`` reads the store the URL names (installs live in PostgreSQL as in SQLite)."""
    import asyncio

    from digestbot.cli import main
    from digestbot.store import open_store

    async with await open_store(pg_url) as store:
        await store.installations().save(_install("T9", "xoxb-9"))
    code = await asyncio.to_thread(main, ["--db", pg_url, "slack", "installs"])
    out = capsys.readouterr().out
    assert code == 0 and "T9" in out and "team T9" in out
    assert "xoxb-9" not in out
