"""The shared command table (tests/adapters/command_table.py) through the real discord.py command tree."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.command_table import TABLE, Row, ids
from tests.adapters.discord.conftest import MANAGE_GUILD, Harness
from tests.adapters.discord.test_discord_interactions import opt, private_text, sub

# /digest sub-command -> its option's name, for the rows that take a value.
DIGEST_OPTIONS = {"tz": ("timezone", "timezone"), "time": ("time", "time"), "days": ("days", "days")}
# the one option of the other commands.
OPTION = {"paper": "query", "subscribe": "topic", "unsubscribe": "topic"}


def options(row: Row) -> list[dict[str, Any]]:
    if row.command == "digest":
        action, _, value = row.text.partition(" ")
        if action in DIGEST_OPTIONS:
            name, option = DIGEST_OPTIONS[action]
            return sub(name, opt(option, value))
        return sub(action)
    return [opt(OPTION[row.command], row.text)] if row.command in OPTION else []


@pytest.mark.parametrize("row", TABLE, ids=ids)
async def test_shared_command_table(harness: Harness, row: Row) -> None:
    replies = await harness.command(row.command, options(row), permissions=MANAGE_GUILD if row.admin else 0)
    assert private_text(replies) == row.expected
