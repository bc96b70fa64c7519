"""The platform objects this package registers (``pyproject.toml``, entry-point group ``digestbot.platforms``).

Each function imports its platform's modules only when called, so loading the registry (every
command line run does) costs nothing and a machine without discord.py still runs Slack and the
console. A platform module that cannot be imported becomes one ConfigError line, not a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.errors import ConfigError
from digestbot.platforms import Platform, transcript_path
from digestbot.ports import Adapter
from digestbot.store.protocol import StoreProtocol


def _module(platform: str, name: str) -> ModuleType:
    """Import ``name`` for ``platform``; a missing dependency is a ConfigError naming both."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{platform}: its adapter ({name}) cannot be imported: {exc}; is digestbot fully installed?"
        ) from None


# -- console ----------------------------------------------------------------------------------------


def _console_adapter(config: Config, *, database: str | Path) -> Adapter:
    from adapters.console import ConsoleAdapter

    return ConsoleAdapter(transcript=transcript_path(config, database))


def _console_render(message: Message, *, colour: bool = False, brief: bool = False) -> list[Any]:
    from adapters.console_render import render_console

    return [render_console(message, colour=colour, brief=brief)]


CONSOLE = Platform(name="console", config_section=None, create_adapter=_console_adapter, render=_console_render)


# -- discord ----------------------------------------------------------------------------------------


def _discord_adapter(config: Config, *, database: str | Path) -> Adapter:
    _module("discord", "adapters.discord_bot")  # a missing discord.py is one line, not a traceback
    from adapters import discord_poster

    return discord_poster.create_adapter(config)


def _discord_render(message: Message, *, colour: bool = False, brief: bool = False) -> list[Any]:
    from adapters.discord_render import render_discord

    return list(render_discord(message))


async def _discord_serve(
    config: Config,
    store: StoreProtocol,
    adapter: Adapter,
    *,
    stop: asyncio.Event,
    engine: DigestPoster | None,
    on_change: Callable[[], None] | None = None,
) -> None:
    from adapters import discord_bot

    await discord_bot.serve(config, store, adapter, stop=stop, engine=engine, on_change=on_change)


def _discord_invite_url(config: Config) -> str:
    from adapters import discord_bot

    return discord_bot.invite_url(config)


async def _discord_sync(config: Config, guild_id: int | None) -> int:
    from adapters import discord_bot

    return await discord_bot.sync_commands(config, guild_id)


DISCORD = Platform(
    name="discord",
    config_section="discord",
    create_adapter=_discord_adapter,
    render=_discord_render,
    serve=_discord_serve,
    invite_url=_discord_invite_url,
    sync_commands=_discord_sync,
)


# -- slack ------------------------------------------------------------------------------------------


def _slack_adapter(config: Config, *, database: str | Path) -> Adapter:
    _module("slack", "adapters.slack_app")  # a missing slack_bolt is one line, not a traceback
    from adapters import slack_poster

    return slack_poster.create_adapter(config, database=database)


def _slack_render(message: Message, *, colour: bool = False, brief: bool = False) -> list[Any]:
    from adapters.slack_render import render_slack

    return list(render_slack(message))


async def _slack_serve(
    config: Config,
    store: StoreProtocol,
    adapter: Adapter,
    *,
    stop: asyncio.Event,
    engine: DigestPoster | None,
    on_change: Callable[[], None] | None = None,
) -> None:
    from adapters import slack_app, slack_poster

    if not isinstance(adapter, slack_poster.SlackAdapter):
        raise TypeError(f"Slack commands need the Slack adapter, got {type(adapter).__name__}")
    await slack_app.serve(config, store, adapter, stop=stop, engine=engine, on_change=on_change)


SLACK = Platform(
    name="slack", config_section="slack", create_adapter=_slack_adapter, render=_slack_render, serve=_slack_serve
)


# -- previews ---------------------------------------------------------------------------------------


def html_preview(
    messages: Sequence[Message], *, title: str, slack_threads: bool = True, discord_threads: bool = False
) -> str:
    """Render ``messages`` as one HTML page showing them as Discord and Slack would (threads where they are on)."""
    from adapters.html_preview import render_html

    return render_html(messages, title=title, slack_threads=slack_threads, discord_threads=discord_threads)
