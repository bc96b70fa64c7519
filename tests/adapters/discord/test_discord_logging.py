"""discord.py's own log lines, as digestbot shows them: one line per reconnect attempt, no irrelevant warnings."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from adapters.discord_client import DigestbotClient
from digestbot.config import Config, DiscordConfig


async def test_a_gateway_reconnect_is_one_line_naming_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    client = DigestbotClient(Config(discord=DiscordConfig(token="x", application_id="1")), None)
    try:
        caplog.set_level(logging.INFO)
        try:
            raise aiohttp.ClientConnectionError("Cannot connect to host gateway.example:443")
        except aiohttp.ClientError:
            # What discord.Client.connect(reconnect=True) logs after each failed connection.
            logging.getLogger("discord.client").exception("Attempting a reconnect in %.2fs", 4.5)
    finally:
        await client.close()
    (record,) = [r for r in caplog.records if r.name == "discord.client"]
    assert record.getMessage() == (
        "Discord gateway: ClientConnectionError: Cannot connect to host gateway.example:443; reconnecting in 4.50 s"
    )
    assert record.exc_info is None and "Traceback" not in caplog.text


async def test_voice_and_intent_warnings_are_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    client = DigestbotClient(Config(discord=DiscordConfig(token="x", application_id="1")), None)
    await client.close()
    assert caplog.records == []
