"""The Discord gateway client: the connection slash commands and button clicks arrive on.

Why a module of its own: the gateway is only needed by ``run`` (posting is REST-only,
:mod:`adapters.discord_poster`), and what it needs — no intents at all, optional sharding, quiet
logs, a health answer for ``/healthz`` — is separate from what the commands do
(:mod:`adapters.discord_slash`, :mod:`adapters.discord_interactions`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord

from adapters.discord_http import RATE_LIMIT_WAIT_MAX
from adapters.discord_interactions import NO_MENTIONS, ShareButton
from adapters.discord_slash import build_tree
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.labels import labels_for
from digestbot.store.protocol import StoreProtocol


class _NoGuildsIntentWarning(logging.Filter):
    """Drop discord.py's warning that the guilds intent is off: digestbot asks for no intents on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Guilds intent seems to be disabled")


class _OneLineReconnect(logging.Filter):
    """Turn discord.py's gateway reconnect log (a traceback per attempt) into one line naming the cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Attempting a reconnect in %.2fs" and record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = "Discord gateway: %s; reconnecting in %.2f s"
            args = record.args if isinstance(record.args, tuple) else ()
            record.args = (f"{type(exc).__name__}: {exc}", *args)
            record.exc_info = None
            record.exc_text = None
        return True


_GUILDS_FILTER = _NoGuildsIntentWarning()
_RECONNECT_FILTER = _OneLineReconnect()


def _quiet_known_warnings() -> None:
    """Silence discord.py's start-up warnings that do not apply to digestbot (no voice, no intents).

    Without this ``digestbot discord sync`` printed three warnings around its one line of output;
    and a gateway that cannot be reached logs one line per reconnect attempt, not a traceback.
    """
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    for name, log_filter in (("discord.state", _GUILDS_FILTER), ("discord.client", _RECONNECT_FILTER)):
        logger = logging.getLogger(name)
        if log_filter not in logger.filters:
            logger.addFilter(log_filter)


class DigestbotClient(discord.Client):
    """A gateway client with no intents that answers digestbot's application commands."""

    def __init__(
        self,
        config: Config,
        store: StoreProtocol | None,
        *,
        engine: DigestPoster | None = None,
        on_change: Callable[[], None] | None = None,
        **options: Any,
    ) -> None:
        app_id = config.discord.application_id.strip()
        _quiet_known_warnings()
        super().__init__(
            intents=discord.Intents.none(),
            application_id=int(app_id) if app_id.isdigit() else None,  # type: ignore[arg-type]  # None is accepted
            max_ratelimit_timeout=RATE_LIMIT_WAIT_MAX,
            allowed_mentions=NO_MENTIONS,
            **options,  # shard_count / shard_ids for ShardedDigestbotClient
        )
        self.config = config
        self._store = store
        self.labels = labels_for(config.locale)
        self.engine = engine
        self.on_change = on_change
        self.tree = build_tree(self)

    @property
    def store(self) -> StoreProtocol:
        """The archive the commands answer from."""
        if self._store is None:
            raise RuntimeError("this client was built without a store (command sync only)")
        return self._store

    async def setup_hook(self) -> None:
        """Make share buttons work on messages sent before a restart."""
        self.add_dynamic_items(ShareButton)


class ShardedDigestbotClient(DigestbotClient, discord.AutoShardedClient):
    """The same client over several gateway connections: the shards ``discord.shard_ids`` of ``shard_count``.

    Only the gateway (slash commands) is sharded; posting stays on REST (:class:`DiscordAdapter`),
    which any process can do for any server. discord.py spaces the shards' IDENTIFYs itself
    (Discord allows ``max_concurrency`` per 5 s).
    """


def shard_options(config: Config) -> dict[str, Any]:
    """Return discord.py's sharding arguments for ``config`` (empty: unsharded, one gateway connection)."""
    count, ids = config.discord.shard_count, config.discord.shard_ids
    if count is None:
        return {}
    return {"shard_count": count, "shard_ids": list(ids) if ids else None}  # None: every shard of count


def gateway_problem(client: discord.Client) -> str | None:
    """Return which gateway connection of ``client`` is down (every shard of a sharded one), or None."""
    if isinstance(client, discord.AutoShardedClient):
        ids = client.shard_ids or range(client.shard_count or 0)
        shards = client.shards
        down = [str(i) for i in ids if i not in shards or shards[i].is_closed()]
        return f"gateway shards {', '.join(down)} not connected" if down else None
    ws = client.ws
    return None if ws is not None and ws.open and client.is_ready() else "gateway not connected"


def gateway_client(
    config: Config,
    store: StoreProtocol | None,
    *,
    engine: DigestPoster | None = None,
    on_change: Callable[[], None] | None = None,
) -> DigestbotClient:
    """Return the gateway client ``config`` asks for: sharded when ``discord.shard_count`` is set."""
    sharding = shard_options(config)
    if not sharding:
        return DigestbotClient(config, store, engine=engine, on_change=on_change)
    return ShardedDigestbotClient(config, store, engine=engine, on_change=on_change, **sharding)
