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
