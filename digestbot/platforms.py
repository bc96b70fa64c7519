"""The platform registry: the core finds chat platforms through entry points, never by importing them.

Each platform package registers one :class:`Platform` object in the ``digestbot.platforms``
entry-point group (``pyproject.toml``); renderers that span platforms (the HTML preview) register
in ``digestbot.previews``. The core only sees the contracts below, so it never imports
``adapters`` or a platform library, and a machine without one platform's packages still runs the
others (a plugin object imports its platform's modules only when a function of it is called).
Entry points exist once the package is installed: ``pip install -e .`` after changing them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.errors import ConfigError
from digestbot.ports import Adapter
from digestbot.store.postgres.url import is_postgres_url
from digestbot.store.protocol import StoreProtocol

log = logging.getLogger(__name__)

GROUP = "digestbot.platforms"
PREVIEWS = "digestbot.previews"


class AdapterFactory(Protocol):
    """Build a platform's adapter, not yet started."""

    def __call__(self, config: Config, *, database: str | Path) -> Adapter:
        """Return the adapter; ``database`` is the store's target (a path, or a URL: never print it whole).

        Adapters that keep a file beside the archive put it at :func:`local_path` of it; the
        Slack adapter opens the store itself for its OAuth installations.
        """
        ...


class Renderer(Protocol):
    """Turn a neutral message into a platform's payloads (pure: no connection)."""

    def __call__(self, message: Message, *, colour: bool = False, brief: bool = False) -> list[Any]:
        """Return one payload per part; ``colour`` and ``brief`` (a line per paper) matter only to terminals."""
        ...


class CommandServer(Protocol):
    """Answer a platform's slash commands until ``stop`` is set."""

    async def __call__(
        self,
        config: Config,
        store: StoreProtocol,
        adapter: Adapter,
        *,
        stop: asyncio.Event,
        engine: DigestPoster | None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """Serve; ``/digest now`` posts through ``engine``; ``on_change`` hears of stored ``/digest`` settings."""


class PreviewRenderer(Protocol):
    """Render messages as one document showing several platforms (``preview --html``)."""

    def __call__(
        self, messages: Sequence[Message], *, title: str, slack_threads: bool = True, discord_threads: bool = False
    ) -> str:
        """Return the document's text; later parts are drawn as a thread where that platform's threads are on."""
        ...


@dataclass(frozen=True, kw_only=True)
class Platform:
    """One chat platform as the core knows it: what a platform package registers."""

    name: str
    #: the config attribute holding its settings (``discord``, ``slack``), or None for none (the console).
    config_section: str | None
    create_adapter: AdapterFactory
    render: Renderer
    #: slash commands, for platforms that receive them.
    serve: CommandServer | None = None
    #: the URL that installs the bot in a workspace or server, where the platform has one.
    invite_url: Callable[[Config], str] | None = None
    #: register the slash commands with the platform (one guild or globally); returns the count.
    sync_commands: Callable[[Config, int | None], Awaitable[int]] | None = None


@cache
def registry() -> Mapping[str, Platform]:
    """Return the installed platforms by name, loaded once from the ``digestbot.platforms`` entry points."""
    found: dict[str, Platform] = {}
    for point in entry_points(group=GROUP):
        try:
            plugin = point.load()
        except ImportError as exc:  # one broken platform package must not take the others down
            log.warning("platform %s (%s) cannot be loaded: %s", point.name, point.value, exc)
            continue
        if not isinstance(plugin, Platform):
            log.warning("platform %s (%s) is not a digestbot.platforms.Platform; ignored", point.name, point.value)
            continue
        found[point.name] = plugin
    return found


def platform(name: str) -> Platform:
    """Return the registered platform ``name``; ConfigError naming the known ones otherwise."""
    known = registry()
    if name in known:
        return known[name]
    if not known:
        raise ConfigError(f"unknown platform {name!r}: none is registered; is digestbot installed (pip install -e .)?")
    raise ConfigError(f"unknown platform {name!r}; known: {', '.join(sorted(known))}")


def html_preview() -> PreviewRenderer:
    """Return the registered HTML preview renderer; ConfigError when none is installed."""
    for point in entry_points(group=PREVIEWS, name="html"):
        renderer: PreviewRenderer = point.load()
        return renderer
    raise ConfigError("preview --html: no HTML preview is registered; is digestbot installed (pip install -e .)?")


def transcript_path(config: Config, database: str | Path | None = None) -> Path:
    """Return the console transcript file: next to the database, so a re-run sees what was posted.

    For a PostgreSQL database it is ``<database name>.console.jsonl`` in the working directory
    (shared by the runs started there).
    """
    db = local_path(database or config.database)
    return db.with_name(db.name + ".console.jsonl")


def local_path(database: str | Path) -> Path:
    """Return where files that go with the database live: the SQLite file, or the PostgreSQL database's name here."""
    target = str(database)
    if is_postgres_url(target):
        return Path(re.sub(r"[^A-Za-z0-9_.-]", "_", urlsplit(target).path.strip("/")) or "digestbot")
    return Path(target)


def enabled_platforms(config: Config) -> list[str]:
    """Return the platforms to run: every platform with a configured channel or turned on in config."""
    wanted: set[str] = {c.platform for c in config.channels if c.enabled}
    for plugin in registry().values():
        if plugin.config_section and getattr(config, plugin.config_section).enabled:
            wanted.add(plugin.name)
    return sorted(wanted)


def adapters_for(
    config: Config, *, platforms: Iterable[str] | None = None, database: str | Path | None = None
) -> dict[str, Adapter]:
    """Return an adapter per platform (default: :func:`enabled_platforms`), not yet started.

    Raises ConfigError for a platform no installed package registers.
    """
    target = database or config.database  # a URL may carry a password: adapters never log it
    chosen = platforms if platforms is not None else enabled_platforms(config)
    return {name: platform(name).create_adapter(config, database=target) for name in chosen}


def command_servers(adapters: Mapping[str, Adapter]) -> dict[str, CommandServer]:
    """Return each chat platform's slash-command server; platforms without commands (the console) have none."""
    out: dict[str, CommandServer] = {}
    for name in adapters:
        serve = platform(name).serve
        if serve is not None:
            out[name] = serve
    return out
