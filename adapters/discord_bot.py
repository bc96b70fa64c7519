"""The Discord platform's entry points: ``serve`` (slash commands), ``sync_commands``, ``invite_url``.

Why so little here: posting is :mod:`adapters.discord_poster` (REST only, works from cron), the
gateway connection is :mod:`adapters.discord_client`, the commands are
:mod:`adapters.discord_slash` and :mod:`adapters.discord_interactions`, and the REST rules they
share are :mod:`adapters.discord_http`. This module wires them for ``digestbot run`` and
``digestbot discord …``.

Commands are registered with Discord only by :func:`sync_commands` (``digestbot discord sync``),
never on start: syncing is rate limited and only needed when the command set changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord
import discord.gateway
import yarl

from adapters.discord_client import DigestbotClient, gateway_client, shard_options
from adapters.discord_http import DISCORD_API_BASE, UNREACHABLE, bot_token, refused_token, set_api_base, unreachable
from adapters.discord_poster import PLATFORM, DiscordAdapter
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.errors import ConfigError, DeliveryError, UnavailableError
from digestbot.ports import Adapter
from digestbot.reconnect import until_reachable
from digestbot.store.protocol import StoreProtocol

log = logging.getLogger(__name__)

INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,  # see the configured channels at all
    send_messages=True,  # post the digest
    embed_links=True,  # paper cards are embeds
    read_message_history=True,  # find_sent reads recent history after a crash
    create_public_threads=True,  # later digest parts go in a thread (discord.threads)
    send_messages_in_threads=True,  # ...and are posted there
)
"""What the bot asks for when invited; nothing else (no mentions, no moderation, no privileged intents)."""

INVITE_SCOPES = ("bot", "applications.commands")


def invite_url(config: Config) -> str:
    """Return the OAuth2 URL that adds the bot to a server with exactly the permissions it needs."""
    app_id = config.discord.application_id.strip()
    if not app_id.isdigit():
        raise ConfigError("discord.application_id: set it to the application id (Developer Portal, General page)")
    return discord.utils.oauth_url(app_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)


async def serve(
    config: Config,
    store: StoreProtocol,
    adapter: Adapter | None = None,
    *,
    stop: asyncio.Event,
    engine: DigestPoster | None = None,
    on_change: Callable[[], None] | None = None,
) -> None:
    """Answer slash commands over the gateway until ``stop`` is set (``on_change``: see :func:`dispatch`).

    ``/digest now`` posts through ``engine`` (the running scheduler's), else through an engine
    built around ``adapter``; with neither it answers that posting now is unavailable.
    """
    token = bot_token(config)
    if engine is None and adapter is not None:
        from digestbot.delivery import DeliveryEngine

        engine = DeliveryEngine(store, {PLATFORM: adapter}, config)
    set_api_base(config.discord.api_base_url)
    client = gateway_client(config, store, engine=engine, on_change=on_change)
    if isinstance(adapter, DiscordAdapter):
        adapter.gateway = client  # /healthz asks it whether commands can arrive

    async def login() -> None:
        try:
            await client.login(token)
            await _use_configured_gateway(client, config)
        except discord.LoginFailure:
            raise refused_token() from None
        except UNREACHABLE as exc:
            raise unreachable(config, exc) from None
        except discord.GatewayNotFound:
            raise UnavailableError(f"discord: {config.discord.api_base_url}/gateway/bot names no gateway") from None

    async with client:
        if not await until_reachable(login, what="discord", stop=stop):
            return
        gateway = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        stopped = asyncio.create_task(stop.wait(), name="discord-stop")
        if sharding := shard_options(config):
            ids = sharding["shard_ids"] or range(sharding["shard_count"])
            log.info("Discord: shards %s of %d", ", ".join(map(str, ids)), sharding["shard_count"])
        log.info("Discord: answering slash commands")
        await asyncio.wait({gateway, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        # Stop reading before closing: Client.close() while connect() waits in receive() makes discord.py
        # answer the close itself with code 4000 (resumable), so Discord keeps the session and shows the
        # bot online for minutes. With no reader, close() sends 1000, which ends the session.
        gateway.cancel()
        results = await asyncio.gather(gateway, stopped, return_exceptions=True)
        await client.close()
        if isinstance(adapter, DiscordAdapter):
            adapter.gateway = None
        if isinstance(results[0], Exception):
            raise results[0]


async def _use_configured_gateway(client: discord.Client, config: Config) -> None:
    """Connect to the gateway that a non-Discord ``api_base_url`` (a proxy, a test fake) names in ``/gateway/bot``.

    discord.py connects to ``wss://gateway.discord.gg`` whatever the REST base is; with Discord's
    own API that is right and no extra request is made. Process-wide, like :func:`set_api_base`.
    """
    if config.discord.api_base_url.rstrip("/") == DISCORD_API_BASE:
        return
    _, url, _ = await client.http.get_bot_gateway()
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    log.debug("Discord: gateway %s (from %s/gateway/bot)", url, config.discord.api_base_url)


async def sync_commands(config: Config, guild_id: int | None) -> int:
    """Register the slash commands with Discord (one guild: instantly; global: within the hour); return the count."""
    token = bot_token(config)
    set_api_base(config.discord.api_base_url)
    client = DigestbotClient(config, None)
    try:
        try:
            await client.http.static_login(token)
        except discord.LoginFailure:
            raise refused_token() from None
        if client.application_id is None:
            app = await client.application_info()
            client._connection.application_id = app.id
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        if guild is not None:
            client.tree.copy_global_to(guild=guild)
        synced = await client.tree.sync(guild=guild)
    except discord.HTTPException as exc:
        raise DeliveryError(f"command sync failed: Discord said {exc.status}: {exc.text}") from None
    except UNREACHABLE as exc:
        raise unreachable(config, exc) from None
    finally:
        await client.http.close()
    log.info("Discord: synced %d commands %s", len(synced), f"to guild {guild_id}" if guild_id else "globally")
    return len(synced)
