"""The Discord poster: digests and DMs over the REST API alone (``create_adapter``).

Why a module of its own: posting must work from cron (``digestbot post``) with no gateway, so it
uses ``static_login`` and nothing else; the gateway client that answers commands lives in
:mod:`adapters.discord_client`. Every post carries an outbox-derived ``nonce`` with
``enforce_nonce`` (Discord itself drops a retried duplicate) and a ``ref <nonce>`` tag in its
footer, which :meth:`DiscordAdapter.find_sent` looks for in the channel's history (the newest page,
then forward from the time the message was planned). Rate limits and failures are mapped by
:mod:`adapters.discord_http`; forum posts by :mod:`adapters.discord_forum`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp
import discord
import discord.http

from adapters.discord_client import gateway_problem
from adapters.discord_commands import (
    THREAD_ALREADY_CREATED,
    carries_marker,
    delivery_error,
    first_part_key,
    marked_body,
    nonce_for,
    thread_name,
)
from adapters.discord_forum import Forums
from adapters.discord_http import (
    RATE_LIMIT_WAIT_MAX,
    UNREACHABLE,
    RateLimitAnswer,
    bot_token,
    call,
    failure,
    refused_token,
    set_api_base,
    snowflake,
    surface_429s,
    unreachable,
)
from adapters.discord_render import FORUM_POST, render_discord
from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.errors import DeliveryError
from digestbot.history_search import search_history
from digestbot.ports import Sent, Target

log = logging.getLogger(__name__)

PLATFORM = "discord"
HISTORY_LIMIT = 100
"""Messages per history page :meth:`DiscordAdapter.find_sent` reads: Discord's maximum (1-100)."""

HISTORY_PAGES_AFTER = 5
"""Pages :meth:`DiscordAdapter.find_sent` reads forward from the plan's time after the newest page."""

CLOCK_SKEW = timedelta(minutes=5)
"""How far before the plan's time (our clock) the forward search starts (Discord's clock may differ)."""

THREAD_ARCHIVE_MINUTES: Final = 1440
"""Digest threads auto-archive after a day of quiet (one of 60, 1440, 4320, 10080)."""


class DiscordAdapter:
    """Post digests and DMs through Discord's REST API (no gateway connection)."""

    platform = PLATFORM

    def __init__(self, config: Config, *, history_limit: int = HISTORY_LIMIT) -> None:
        self._config = config
        self._history_limit = max(1, min(history_limit, 100))
        self._http: discord.http.HTTPClient | None = None
        self._me: str = ""
        self._dm_channels: dict[str, int] = {}
        self._threads: dict[tuple[int, int], int] = {}
        #: the gateway client :func:`serve` runs beside this adapter, if any (for :meth:`connection_problem`).
        self.gateway: discord.Client | None = None
        self._forums = Forums(lambda: self.http, call)

    async def start(self) -> None:
        """Log in with the bot token over REST (``GET /users/@me``); raise ConfigError if Discord refuses it."""
        if self._http is not None:
            return
        token = bot_token(self._config)
        set_api_base(self._config.discord.api_base_url)
        http = discord.http.HTTPClient(
            asyncio.get_running_loop(), max_ratelimit_timeout=RATE_LIMIT_WAIT_MAX, http_trace=surface_429s()
        )
        try:
            me = await http.static_login(token)
        except discord.LoginFailure:
            await http.close()
            raise refused_token() from None
        except RateLimitAnswer as exc:
            await http.close()
            what = f"discord login: rate limited for {exc.retry_after:.0f} s"
            raise DeliveryError(what, retry_after=exc.retry_after) from None
        except UNREACHABLE as exc:
            await http.close()
            raise unreachable(self._config, exc) from None
        except BaseException:
            await http.close()
            raise
        self._http, self._me = http, str(me["id"])
        log.info("Discord: logged in over REST as %s (%s)", me.get("username", "?"), self._me)

    def connection_problem(self) -> str | None:
        """Return why slash commands cannot arrive now (the ops port's ``/healthz``); None when the gateway is up.

        Posting needs only REST (:meth:`start`); ``run`` also serves commands over the gateway, and
        a gateway that is down (or one of this process's shards) is what an operator must see.
        """
        if self.gateway is None:
            return "gateway not connected"
        return gateway_problem(self.gateway)

    @property
    def http(self) -> discord.http.HTTPClient:
        """The logged-in discord.py HTTP client."""
        if self._http is None:
            raise RuntimeError("DiscordAdapter.start() was not called")
        return self._http

    def render(self, message: Message) -> list[dict[str, Any]]:
        """Render with the Discord renderer: message-create bodies, one per part."""
        return render_discord(message)

    async def send(self, target: Target, payload: Mapping[str, Any], *, key: str, thread: str | None = None) -> Sent:
        """Post one part with its nonce and footer tag; later digest parts go in ``thread`` (the first part's id)."""
        nonce = nonce_for(target, key)
        channel_id = await self._channel_for(target)
        if FORUM_POST in payload and target.kind == "channel":  # layout: forum, one post per paper
            post = await self._forums.post(channel_id, payload, nonce, f"{target} {key}")
            log.debug("Discord: started forum post %s in %s as %s", key, target, post["id"])
            return Sent(message_id=str(post["id"]), channel_id=str(post["id"]))
        if thread is not None and target.kind == "channel":
            channel_id = await self._thread_for(channel_id, snowflake(thread, "thread message id"), payload)
        body = marked_body(payload, nonce)
        params = discord.http.MultipartParameters(payload=body, multipart=None, files=None)
        data = await call(f"{target} {key}", self.http.send_message(channel_id, params=params))
        log.debug("Discord: posted %s to %s as %s", key, target, data["id"])
        return Sent(message_id=str(data["id"]), channel_id=str(data["channel_id"]))

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        """Return our post marked ``key`` at the target (a later part: in the first part's thread).

        Looks at the newest page of history, then, if ``since`` (when the message was planned) is
        older than that page, forward from ``since`` for up to :data:`HISTORY_PAGES_AFTER` pages:
        a post is found unless over ``HISTORY_PAGES_AFTER`` × 100 messages came between the plan
        and the post *and* over 100 since.
        """
        return await self._find(target, key, since=since, besides=None)

    async def find_other(self, target: Target, key: str, *, besides: str) -> Sent | None:
        """Return our post marked ``key`` at ``target`` other than the message ``besides`` (a stray copy), if any.

        Not for forum posts (each is a thread of its own: None).
        """
        return await self._find(target, key, since=None, besides=besides)

    async def _find(self, target: Target, key: str, *, since: datetime | None, besides: str | None) -> Sent | None:
        """Find our post marked ``key`` (not the message ``besides``), as :meth:`find_sent` describes."""
        channel_id = await self._channel_for(target)
        if target.kind == "channel" and await self._forums.is_forum(channel_id):
            if besides is not None:
                return None
            post = await self._forums.find(channel_id, nonce_for(target, key), self._me, f"{target} {key}")
            return Sent(message_id=str(post["id"]), channel_id=str(post["id"])) if post else None
        if found := await self._search(target, channel_id, nonce_for(target, key), since, besides=besides):
            return Sent(message_id=str(found["id"]), channel_id=str(channel_id))
        first = first_part_key(key)
        if first is None or target.kind != "channel":
            return None
        parent = await self._search(target, channel_id, nonce_for(target, first), since)
        if parent is None:
            return None
        thread_id = int(parent["id"])  # a thread started from a message has the message's id
        try:
            found = await self._search(target, thread_id, nonce_for(target, key), since, besides=besides)
        except DeliveryError as exc:
            if exc.permanent:  # no thread under the first part: nothing posted there
                return None
            raise
        return Sent(message_id=str(found["id"]), channel_id=str(thread_id)) if found else None

    async def delete(self, target: Target, sent: Sent) -> None:
        """Delete a message this bot posted (a bot may always delete its own); one already gone is fine.

        Used to take back a late second copy of a part (see :mod:`digestbot.late_copies`). A forum
        post's message is its starter message, whose id is the post's (thread's) id.
        """
        channel_id = snowflake(sent.channel_id, "channel id") if sent.channel_id else await self._channel_for(target)
        message_id = snowflake(sent.message_id, "message id")

        async def unless_gone() -> None:
            try:
                await self.http.delete_message(channel_id, message_id)
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE:  # deleted already: done
                    raise

        await call(f"{target} delete {message_id}", unless_gone())
        log.debug("discord: deleted %s at %s", message_id, target)

    async def forum_tags(self, target: Target) -> list[str] | None:
        """Return the forum's tag names (for the engine's topic matcher), or None when ``target`` is no forum."""
        if target.kind != "channel":
            return None
        return await self._forums.tag_names(await self._channel_for(target))

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- helpers ----------------------------------------------------------------------------------

    async def _channel_for(self, target: Target) -> int:
        """Return the channel to post in: the channel itself, or the user's DM channel (opened once)."""
        if target.kind == "channel":
            return snowflake(target.id, "channel id")
        if target.id not in self._dm_channels:
            user_id = snowflake(target.id, "user id")
            data = await call(f"{target} open DM", self.http.start_private_message(user_id))
            self._dm_channels[target.id] = int(data["id"])
        return self._dm_channels[target.id]

    async def _thread_for(self, channel_id: int, message_id: int, payload: Mapping[str, Any]) -> int:
        """Return the thread under ``message_id``, starting it if needed; the channel if threads are not allowed."""
        if (channel_id, message_id) in self._threads:
            return self._threads[(channel_id, message_id)]
        where = f"{PLATFORM}:channel:{channel_id} thread under {message_id}"
        request = self.http.start_thread_with_message(
            channel_id, message_id, name=thread_name(payload), auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )
        try:
            data = await request
            thread_id = int(data["id"])
        except discord.HTTPException as exc:
            if exc.code == THREAD_ALREADY_CREATED:  # a retry after a crash: the thread has the message's id
                thread_id = message_id
            elif exc.status == 403:  # no Create Public Threads permission: post the parts in the channel
                log.warning("%s: cannot start a thread (%s); posting in the channel", where, exc.text)
                thread_id = channel_id
            else:
                raise delivery_error(where, failure(exc)) from None
        except (discord.RateLimited, RateLimitAnswer) as exc:
            raise DeliveryError(f"{where}: rate limited", retry_after=exc.retry_after) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{where}: cannot reach Discord: {type(exc).__name__}") from None
        self._threads[(channel_id, message_id)] = thread_id
        return thread_id

    async def _search(
        self, target: Target, channel_id: int, nonce: str, since: datetime | None, *, besides: str | None = None
    ) -> Mapping[str, Any] | None:
        """Find our message carrying ``nonce`` (not ``besides``) by the core's paging rule (:func:`search_history`)."""

        async def read(after: int | None) -> list[dict[str, Any]]:
            request = self.http.logs_from(channel_id, self._history_limit, after=after)
            return [dict(m) for m in await call(f"{target} read history", request)]

        def ours(message: Mapping[str, Any]) -> bool:
            author = str((message.get("author") or {}).get("id", ""))
            if besides is not None and str(message.get("id")) == besides:
                return False
            return (not self._me or author == self._me) and carries_marker(message, nonce)

        return await search_history(
            read,
            ours,
            page_size=self._history_limit,
            start=discord.utils.time_snowflake(since - CLOCK_SKEW) if since is not None else None,
            pages_after=HISTORY_PAGES_AFTER,
            where=str(target),
            since=since.isoformat() if since is not None else "",
        )


UNKNOWN_MESSAGE: Final = 10008
"""Discord's JSON error code for a message that does not exist (deleted already)."""


def create_adapter(config: Config) -> DiscordAdapter:
    """Return the REST-only Discord adapter for ``digestbot post`` and the scheduler (call ``start()`` first)."""
    return DiscordAdapter(config)
