"""The platform registry: platforms are found through entry points, with the contracts the core expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from digestbot.blocks import Message, Paragraph
from digestbot.config import Config, DiscordConfig, SlackConfig
from digestbot.errors import ConfigError
from digestbot.platforms import Platform, adapters_for, command_servers, html_preview, platform, registry


def test_every_bundled_platform_is_registered() -> None:
    found = registry()
    assert {"console", "discord", "slack"} <= set(found)
    assert all(isinstance(p, Platform) and p.name == name for name, p in found.items())


def test_chat_platforms_serve_commands_and_the_console_does_not(tmp_path: Path) -> None:
    config = Config(discord=DiscordConfig(token="t"), slack=SlackConfig(bot_token="xoxb-t"))
    adapters = adapters_for(config, platforms=["console", "discord", "slack"], database=tmp_path / "db.sqlite3")
    assert {name: a.platform for name, a in adapters.items()} == {n: n for n in ("console", "discord", "slack")}
    assert set(command_servers(adapters)) == {"discord", "slack"}


def test_an_unknown_platform_is_one_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown platform 'teams'; known: console, discord, slack"):
        platform("teams")


def test_renderers_come_from_the_registry() -> None:
    message = Message(fallback="hello", blocks=(Paragraph(text="hello"),))
    assert "hello" in platform("console").render(message)[0]
    assert platform("discord").render(message) and platform("slack").render(message)
    assert "<html" in html_preview()([message], title="t")
