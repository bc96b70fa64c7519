"""The shared command table (tests/adapters/command_table.py) through the real bolt app and slack_sdk."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.command_table import BROKEN_REPLY, TABLE, Row, ids, slack_text
from tests.adapters.slack.conftest import SlackBot


@pytest.mark.parametrize("row", TABLE, ids=ids)
async def test_shared_command_table(bot: SlackBot, row: Row) -> None:
    [reply] = await bot.command(f"/{row.command}", row.text, user="U0ADMIN" if row.admin else "U0ALICE")
    assert reply["response_type"] == "ephemeral"
    assert slack_text(reply["text"]) == row.expected


async def test_an_unexpected_error_still_gets_a_private_apology(bot: SlackBot, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before the core owned error replies, a non-CommandError left the Slack user with nothing after the ack.
    import digestbot.commands

    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(digestbot.commands, "list_topics", broken)
    [reply] = await bot.command("/subscriptions", "")
    assert reply["response_type"] == "ephemeral" and slack_text(reply["text"]) == BROKEN_REPLY


async def test_digest_changes_wake_the_scheduler(fake_slack: Any, seeded_store: Any, slack_adapter: Any) -> None:
    # `run` passes Scheduler.wake as on_change: a new time or an `off` takes effect at once.
    from adapters.slack_server import build_app
    from tests.adapters.slack.conftest import slack_config

    fake_slack.add_user("U0ADMIN", name="admin", is_admin=True)
    fake_slack.add_user("U0ALICE", name="alice")
    woken: list[str] = []
    app = build_app(
        slack_config(fake_slack), seeded_store, client=slack_adapter.reader, on_change=lambda: woken.append("wake")
    )
    bot = SlackBot(fake_slack, app)
    await bot.command("/digest", "time 07:15", user="U0ADMIN")
    assert woken == ["wake"]
    await bot.command("/digest", "status", user="U0ALICE")
    await bot.command("/digest", "time 07:15", user="U0ALICE")  # refused: not an admin
    await bot.command("/digest", "time 25:00", user="U0ADMIN")  # refused: bad value
    assert woken == ["wake"]
    await bot.command("/digest", "off", user="U0ADMIN")
    assert woken == ["wake", "wake"]
