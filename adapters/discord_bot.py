"""The Discord adapter: REST posting for the delivery engine, and a discord.py bot for slash commands.

Two halves, both on discord.py 2.x's own HTTP client:

* :class:`DiscordAdapter` (``create_adapter``) posts over the REST API alone — ``static_login``,
  no gateway — so ``digestbot post`` works from cron. Every post carries an outbox-derived
  ``nonce`` with ``enforce_nonce`` (Discord itself drops a retried duplicate) and a ``ref <nonce>``
  tag in its footer, which :meth:`DiscordAdapter.find_sent` looks for in the channel's history
  (the newest page, then forward from the time the message was planned).
  A 429 is **not** retried by discord.py on this client: discord.py would sleep ``retry_after``
  inside the request (up to ``max_ratelimit_timeout``, which it never lets go below 30 s) while
  the engine holds a send slot. An aiohttp trace hook (:func:`_surface_429s`, given to discord.py
  as ``http_trace``) turns every 429 into a transient DeliveryError with its ``retry_after``, so
  the engine's pacer alone owns rate limits. discord.py still spaces requests by the
  ``X-RateLimit-*`` bucket headers of successful answers (that avoids 429s; it waits at most
  ``max_ratelimit_timeout`` and raises ``RateLimited`` for longer windows).
* :class:`DigestbotClient` (``serve``) is a gateway client with no intents at all (application
  commands need none) that answers ``/paper``, ``/subscribe``, ``/unsubscribe``,
  ``/subscriptions`` and ``/digest`` by calling the same core functions as every other platform.

Commands are registered with Discord only by :func:`sync_commands` (``digestbot discord sync``),
never on start: syncing is rate limited and only needed when the command set changes.

``discord.api_base_url`` moves every REST call (interaction callbacks included) elsewhere by
setting ``discord.http.Route.BASE``, which is process-wide: one Discord configuration per process.
The token is only ever given to discord.py; it is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

from adapters.discord_commands import (
    SHARE_TEMPLATE,
    THREAD_ALREADY_CREATED,
    HttpFailure,
    carries_marker,
    choices,
    delivery_error,
    digest_text,
    first_part_key,
    is_admin,
    marked_body,
    nonce_for,
    paper_choice,
    share_custom_id,
    shared_arxiv_id,
    thread_name,
    workspace_of,
)
from adapters.discord_forum import Forums
from adapters.discord_render import CONTENT_LIMIT, FORUM_POST, render_discord
from digestbot.blocks import Message
from digestbot.channels import TOP_MAX, TOP_MIN
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.dispatch import SORRY, CommandRequest, dispatch
from digestbot.errors import (
    CommandError,
    ConfigError,
    DeliveryError,
    DigestbotError,
    TokenRefusedError,
    UnavailableError,
)
from digestbot.http_status import retry_after_of
from digestbot.labels import labels_for
from digestbot.ports import Adapter, Sent, Target
from digestbot.reconnect import until_reachable
from digestbot.store.protocol import StoreProtocol
from digestbot.suggest import suggest_own_topics, suggest_papers, suggest_topics
from digestbot.text import truncate

log = logging.getLogger(__name__)

T = TypeVar("T")

PLATFORM = "discord"
HISTORY_LIMIT = 100
"""Messages per history page :meth:`DiscordAdapter.find_sent` reads: Discord's maximum (1-100)."""

HISTORY_PAGES_AFTER = 5
"""Pages :meth:`DiscordAdapter.find_sent` reads forward from the plan's time after the newest page."""

CLOCK_SKEW = timedelta(minutes=5)
"""How far before the plan's time (our clock) the forward search starts (Discord's clock may differ)."""

RATE_LIMIT_WAIT_MAX = 30.0
"""Longest bucket wait discord.py sleeps through itself (its minimum); longer ones raise ``RateLimited``.

On the gateway client this also bounds its 429 sleeps; the posting client never sleeps on a 429
(see :func:`_surface_429s`).
"""

THREAD_ARCHIVE_MINUTES: Final = 1440
"""Digest threads auto-archive after a day of quiet (one of 60, 1440, 4320, 10080)."""

DEFER_AFTER = 2.0
"""Seconds a command may work before we defer: Discord wants a first response within 3 s."""

AUTOCOMPLETE_BUDGET = 2.5
"""Seconds an autocomplete lookup may take; an autocomplete cannot be deferred, so slower means none."""

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

NO_MENTIONS = discord.AllowedMentions.none()


DISCORD_API_BASE: Final = "https://discord.com/api/v10"


def set_api_base(url: str) -> None:
    """Send every discord.py REST call of this process to ``url`` (Discord, a proxy, or a test fake)."""
    discord.http.Route.BASE = url.rstrip("/")


_UNREACHABLE = (aiohttp.ClientConnectionError, TimeoutError, OSError)
"""What discord.py raises when Discord's API cannot be reached at all (no network, DNS, refused)."""


def unreachable(config: Config, exc: BaseException) -> UnavailableError:
    """Return the one-line error for a Discord API that cannot be reached: where, and why."""
    return UnavailableError(f"discord: cannot reach {config.discord.api_base_url} ({type(exc).__name__}: {exc})")


def _failure(exc: discord.HTTPException) -> HttpFailure:
    retry_after: float | None = None
    if exc.status == 429 and exc.response is not None:
        retry_after = retry_after_of(exc.response.headers)
    return HttpFailure(status=exc.status, code=exc.code, text=exc.text, retry_after=retry_after)


class RateLimitAnswer(Exception):
    """Discord answered 429: raised from the trace hook before discord.py can sleep and retry."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:.3f} s")
        self.retry_after = retry_after


def _retry_after(headers: Mapping[str, str]) -> float:
    """Return how long a 429 asks to wait: the bucket's precise reset, else ``Retry-After`` (whole seconds)."""
    if headers.get("X-RateLimit-Global", "").lower() != "true":
        try:
            return max(0.0, float(headers["X-RateLimit-Reset-After"]))
        except (KeyError, ValueError):
            pass
    wait = retry_after_of(headers)
    return 1.0 if wait is None else wait


def _surface_429s() -> aiohttp.TraceConfig:
    """Return a trace config that raises :class:`RateLimitAnswer` for every 429 response."""

    async def on_request_end(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if params.response.status == 429:
            raise RateLimitAnswer(_retry_after(params.response.headers))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


async def _call(where: str, request: Awaitable[T]) -> T:
    """Await a discord.py request, turning every failure into a DeliveryError."""
    try:
        return await request
    except RateLimitAnswer as exc:
        what = f"{where}: Discord said 429 (retry after {exc.retry_after:.3f} s)"
        raise DeliveryError(what, retry_after=exc.retry_after) from None
    except discord.RateLimited as exc:
        raise DeliveryError(f"{where}: rate limited for {exc.retry_after:.0f} s", retry_after=exc.retry_after) from None
    except discord.HTTPException as exc:
        raise delivery_error(where, _failure(exc)) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"{where}: cannot reach Discord: {type(exc).__name__}: {exc}") from None


def _snowflake(value: str, what: str) -> int:
    if not re.fullmatch(r"\d{1,20}", value.strip()):
        raise DeliveryError(f"{what} {value!r} is not a Discord id (a number)", permanent=True)
    return int(value)


# -- posting over REST --------------------------------------------------------------------------


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
        self._forums = Forums(lambda: self.http, _call)

    async def start(self) -> None:
        """Log in with the bot token over REST (``GET /users/@me``); raise ConfigError if Discord refuses it."""
        if self._http is not None:
            return
        token = self._config.discord.token
        if not token:
            raise ConfigError("discord.token: not set (put ${DISCORD_TOKEN} there and export the bot token)")
        set_api_base(self._config.discord.api_base_url)
        http = discord.http.HTTPClient(
            asyncio.get_running_loop(), max_ratelimit_timeout=RATE_LIMIT_WAIT_MAX, http_trace=_surface_429s()
        )
        try:
            me = await http.static_login(token)
        except discord.LoginFailure:
            await http.close()
            raise TokenRefusedError("discord.token: Discord rejected the bot token (401 Unauthorized)") from None
        except RateLimitAnswer as exc:
            await http.close()
            what = f"discord login: rate limited for {exc.retry_after:.0f} s"
            raise DeliveryError(what, retry_after=exc.retry_after) from None
        except _UNREACHABLE as exc:
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
            channel_id = await self._thread_for(channel_id, _snowflake(thread, "thread message id"), payload)
        body = marked_body(payload, nonce)
        params = discord.http.MultipartParameters(payload=body, multipart=None, files=None)
        data = await _call(f"{target} {key}", self.http.send_message(channel_id, params=params))
        log.debug("Discord: posted %s to %s as %s", key, target, data["id"])
        return Sent(message_id=str(data["id"]), channel_id=str(data["channel_id"]))

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        """Return our post marked ``key`` at the target (a later part: in the first part's thread).

        Looks at the newest page of history, then, if ``since`` (when the message was planned) is
        older than that page, forward from ``since`` for up to :data:`HISTORY_PAGES_AFTER` pages:
        a post is found unless over ``HISTORY_PAGES_AFTER`` × 100 messages came between the plan
        and the post *and* over 100 since.
        """
        channel_id = await self._channel_for(target)
        if target.kind == "channel" and await self._forums.is_forum(channel_id):
            post = await self._forums.find(channel_id, nonce_for(target, key), self._me, f"{target} {key}")
            return Sent(message_id=str(post["id"]), channel_id=str(post["id"])) if post else None
        if found := await self._search(target, channel_id, nonce_for(target, key), since):
            return Sent(message_id=str(found["id"]), channel_id=str(channel_id))
        first = first_part_key(key)
        if first is None or target.kind != "channel":
            return None
        parent = await self._search(target, channel_id, nonce_for(target, first), since)
        if parent is None:
            return None
        thread_id = int(parent["id"])  # a thread started from a message has the message's id
        try:
            found = await self._search(target, thread_id, nonce_for(target, key), since)
        except DeliveryError as exc:
            if exc.permanent:  # no thread under the first part: nothing posted there
                return None
            raise
        return Sent(message_id=str(found["id"]), channel_id=str(thread_id)) if found else None

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
            return _snowflake(target.id, "channel id")
        if target.id not in self._dm_channels:
            user_id = _snowflake(target.id, "user id")
            data = await _call(f"{target} open DM", self.http.start_private_message(user_id))
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
                raise delivery_error(where, _failure(exc)) from None
        except (discord.RateLimited, RateLimitAnswer) as exc:
            raise DeliveryError(f"{where}: rate limited", retry_after=exc.retry_after) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{where}: cannot reach Discord: {type(exc).__name__}") from None
        self._threads[(channel_id, message_id)] = thread_id
        return thread_id

    async def _history(self, target: Target, channel_id: int, *, after: int | None = None) -> list[dict[str, Any]]:
        request = self.http.logs_from(channel_id, self._history_limit, after=after)
        return [dict(m) for m in await _call(f"{target} read history", request)]

    async def _search(
        self, target: Target, channel_id: int, nonce: str, since: datetime | None
    ) -> Mapping[str, Any] | None:
        """Find our message carrying ``nonce``: in the newest page, then forward from ``since``."""
        recent = await self._history(target, channel_id)
        if (found := self._ours(recent, nonce)) is not None or since is None:
            return found
        if len(recent) < self._history_limit:
            return None  # the newest page is the whole history
        newest_page_starts = min(int(m["id"]) for m in recent)
        anchor = discord.utils.time_snowflake(since - CLOCK_SKEW)
        for _ in range(HISTORY_PAGES_AFTER):
            if anchor >= newest_page_starts:
                return None  # caught up with the page already read
            page = await self._history(target, channel_id, after=anchor)
            if (found := self._ours(page, nonce)) is not None:
                return found
            if len(page) < self._history_limit:
                return None
            anchor = max(int(m["id"]) for m in page)
        log.warning(
            "%s: over %d messages since %s: a post older than the newest %d cannot be checked",
            target, HISTORY_PAGES_AFTER * self._history_limit, since.isoformat(), self._history_limit,
        )  # fmt: skip
        return None

    def _ours(self, messages: Sequence[Mapping[str, Any]], nonce: str) -> Mapping[str, Any] | None:
        for message in messages:
            author = str((message.get("author") or {}).get("id", ""))
            if (not self._me or author == self._me) and carries_marker(message, nonce):
                return message
        return None


def create_adapter(config: Config) -> DiscordAdapter:
    """Return the REST-only Discord adapter for ``digestbot post`` and the scheduler (call ``start()`` first)."""
    return DiscordAdapter(config)


def invite_url(config: Config) -> str:
    """Return the OAuth2 URL that adds the bot to a server with exactly the permissions it needs."""
    app_id = config.discord.application_id.strip()
    if not app_id.isdigit():
        raise ConfigError("discord.application_id: set it to the application id (Developer Portal, General page)")
    return discord.utils.oauth_url(app_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)


# -- slash commands -----------------------------------------------------------------------------


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


def _request(
    interaction: discord.Interaction, command: str, text: str = "", *, is_admin: bool = False
) -> CommandRequest:
    """Translate an interaction into the core's neutral command request."""
    return CommandRequest(
        platform=PLATFORM,
        workspace=workspace_of(interaction.guild_id),
        user=str(interaction.user.id),
        channel=str(interaction.channel_id or ""),
        command=command,
        text=text,
        is_admin=is_admin,
        locale=str(interaction.locale),
    )


async def _answer(interaction: discord.Interaction, request: CommandRequest) -> None:
    """Dispatch ``request`` to the core (deferring if slow) and send its reply: rendered bodies or private text."""
    client = _client(interaction)
    reply = await _within_deadline(
        interaction, dispatch(
            request, store=client.store, config=client.config, engine=client.engine, on_change=client.on_change
        )
    )
    if reply.message is None:
        await _reply(interaction, reply.text)
        return
    view = _share_view(reply.share_id) if reply.share_id else None
    await _send_bodies(interaction, render_discord(reply.message), ephemeral=reply.ephemeral, view=view)


def _client(interaction: discord.Interaction) -> DigestbotClient:
    client = interaction.client
    if not isinstance(client, DigestbotClient):
        raise TypeError("digestbot commands need a DigestbotClient")
    return client


async def _reply(interaction: discord.Interaction, text: str) -> None:
    """Answer with a private text (the first response, or a follow-up once deferred)."""
    text = truncate(text, CONTENT_LIMIT) or "…"
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def _within_deadline(interaction: discord.Interaction, work: Awaitable[T]) -> T:
    """Run ``work``; if it is not done after :data:`DEFER_AFTER` seconds, defer (privately) and keep waiting."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=DEFER_AFTER)
    if not done and not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    return await task


async def _send_bodies(
    interaction: discord.Interaction,
    bodies: Sequence[Mapping[str, Any]],
    *,
    ephemeral: bool,
    view: discord.ui.View | None = None,
) -> None:
    """Send rendered message bodies as the response and follow-ups, in order; the view goes on the last."""
    for i, body in enumerate(bodies):
        kwargs: dict[str, Any] = {
            "embeds": [discord.Embed.from_dict(dict(e)) for e in body.get("embeds") or ()],
            "ephemeral": ephemeral,
            "allowed_mentions": NO_MENTIONS,
        }
        if body.get("content"):
            kwargs["content"] = body["content"]
        if view is not None and i == len(bodies) - 1:
            kwargs["view"] = view
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)


class ShareButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SHARE_TEMPLATE):
    """The button under a private ``/paper`` answer that posts the same answer publicly.

    Its ``custom_id`` carries the arXiv id, so it works after a restart: the paper is looked up
    again (``answer_paper``) instead of trusting anything stored in the message.
    """

    def __init__(self, arxiv_id: str) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="Share in channel", style=discord.ButtonStyle.primary, custom_id=share_custom_id(arxiv_id)
        )
        super().__init__(button)
        self.arxiv_id = arxiv_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> ShareButton:
        """Rebuild the button from a click on any message."""
        return cls(match["arxiv_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """Post the paper's card publicly in the channel where the button was clicked."""
        await _answer(interaction, _request(interaction, "share", shared_arxiv_id(self.item.custom_id or "") or ""))


def _share_view(arxiv_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ShareButton(arxiv_id))
    return view


async def _user_is_admin(interaction: discord.Interaction, config: Config) -> bool:
    """Check Manage Server at run time too: the command's default permission can be overridden by a server."""
    return is_admin(
        user_id=interaction.user.id,
        manage_guild=interaction.guild_id is not None and interaction.permissions.manage_guild,
        admins=config.discord.admins,
    )


class DigestbotTree(app_commands.CommandTree[DigestbotClient]):
    """The command tree: shows a command's CommandError to its user, and logs everything else."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Reply privately with the error's text (a CommandError) or a generic apology (a bug)."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, DigestbotError):
            text = str(cause)
        elif isinstance(cause, app_commands.CheckFailure):
            text = "You cannot use this command here."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("Discord /%s failed", command, exc_info=cause)
            text = SORRY
        try:
            await _reply(interaction, text)
        except discord.HTTPException as exc:
            log.warning("Discord: could not send the error reply: %s", exc)


def build_tree(client: DigestbotClient) -> DigestbotTree:
    """Register digestbot's application commands on a new command tree for ``client``."""
    tree = DigestbotTree(client)
    config = client.config

    async def budgeted(work: Awaitable[list[app_commands.Choice[str]]]) -> list[app_commands.Choice[str]]:
        try:
            return await asyncio.wait_for(work, AUTOCOMPLETE_BUDGET)
        except TimeoutError:
            log.warning("Discord: autocomplete took over %.1f s; answering with no choices", AUTOCOMPLETE_BUDGET)
            return []

    def as_choices(pairs: Sequence[tuple[str, str]]) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=c.name, value=c.value) for c in choices(pairs)]

    # /paper ------------------------------------------------------------------------------------
    @tree.command(name="paper", description="Look up a paper by arXiv id, link or title words (only you see it)")
    @app_commands.describe(query="arXiv id (2410.05265), arXiv/Hugging Face link, or words from the title")
    async def paper(interaction: discord.Interaction, query: app_commands.Range[str, 1, 300]) -> None:
        await _answer(interaction, _request(interaction, "paper", query))

    @paper.autocomplete("query")
    async def paper_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        async def work() -> list[app_commands.Choice[str]]:
            papers = await suggest_papers(client.store, current)
            return as_choices([paper_choice(p) for p in papers])

        return await budgeted(work())

    # /subscribe, /unsubscribe, /subscriptions -----------------------------------------------------
    @tree.command(name="subscribe", description="Get a direct message when a day's papers match a topic")
    @app_commands.describe(topic='Words that must all occur, "quoted phrases", -excluded words')
    async def subscribe(interaction: discord.Interaction, topic: app_commands.Range[str, 1, 200]) -> None:
        await _answer(interaction, _request(interaction, "subscribe", topic))

    @subscribe.autocomplete("topic")
    async def subscribe_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        async def work() -> list[app_commands.Choice[str]]:
            topics = await suggest_topics(client.store, current)
            typed = [(current, current)] if current.strip() and current not in topics else []
            return as_choices(typed + [(t, t) for t in topics])

        return await budgeted(work())

    @tree.command(name="unsubscribe", description="Stop following a topic")
    @app_commands.describe(topic="One of the topics you follow")
    async def unsubscribe(interaction: discord.Interaction, topic: app_commands.Range[str, 1, 200]) -> None:
        await _answer(interaction, _request(interaction, "unsubscribe", topic))

    @unsubscribe.autocomplete("topic")
    async def unsubscribe_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async def work() -> list[app_commands.Choice[str]]:
            mine = await suggest_own_topics(
                client.store,
                current,
                platform=PLATFORM,
                workspace=workspace_of(interaction.guild_id),
                user=str(interaction.user.id),
            )
            return as_choices([(t, t) for t in mine])

        return await budgeted(work())

    @tree.command(name="subscriptions", description="List the topics you follow")
    async def subscriptions(interaction: discord.Interaction) -> None:
        await _answer(interaction, _request(interaction, "subscriptions"))

    # /digest (Manage Server) ----------------------------------------------------------------------
    digest = app_commands.Group(
        name="digest",
        description="Set up this channel's daily paper digest (Manage Server)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    async def run_digest(interaction: discord.Interaction, text: str) -> None:
        if interaction.guild_id is None or interaction.channel_id is None:
            raise CommandError("Use /digest in a server channel.")
        admin = await _user_is_admin(interaction, config)
        await _answer(interaction, _request(interaction, "digest", text, is_admin=admin))

    @digest.command(name="on", description="Start the daily digest in this channel")
    async def digest_on(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "on")

    @digest.command(name="off", description="Stop the daily digest in this channel")
    async def digest_off(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "off")

    @digest.command(name="time", description="Set the local posting time")
    @app_commands.describe(time="24-hour time, e.g. 09:00")
    async def digest_time(interaction: discord.Interaction, time: app_commands.Range[str, 4, 5]) -> None:
        await run_digest(interaction, digest_text("time", time))

    @digest.command(name="timezone", description="Set the time zone of the posting time")
    @app_commands.describe(timezone="IANA time zone, e.g. Asia/Seoul or Europe/Berlin")
    async def digest_timezone(interaction: discord.Interaction, timezone: app_commands.Range[str, 1, 64]) -> None:
        await run_digest(interaction, digest_text("tz", timezone))

    @digest_timezone.autocomplete("timezone")
    async def timezone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return as_choices([(z, z) for z in _zones(current)])

    @digest.command(name="days", description="Set the weekdays to post on")
    @app_commands.describe(days='Comma-separated weekdays, e.g. mon,tue,wed,thu,fri; or "all"')
    async def digest_days(interaction: discord.Interaction, days: app_commands.Range[str, 1, 60]) -> None:
        await run_digest(interaction, digest_text("days", days))

    @digest.command(name="top", description="Set how many papers the digest shows")
    @app_commands.describe(count=f"{TOP_MIN} to {TOP_MAX}")
    async def digest_top(
        interaction: discord.Interaction, count: app_commands.Range[int, TOP_MIN, TOP_MAX]
    ) -> None:
        await run_digest(interaction, digest_text("top", count))

    @digest.command(name="topics", description='Only post papers matching these topics ("none" clears)')
    @app_commands.describe(topics='Comma-separated topics, e.g. diffusion, "language model"; or none')
    async def digest_topics(interaction: discord.Interaction, topics: app_commands.Range[str, 1, 500]) -> None:
        await run_digest(interaction, digest_text("topics", topics))

    @digest.command(name="cadence", description="Post daily, weekly (last week's top) or monthly (last month's)")
    @app_commands.describe(cadence="daily, weekly (on the first listed day) or monthly (on the 1st)")
    @app_commands.choices(cadence=[app_commands.Choice(name=c, value=c) for c in ("daily", "weekly", "monthly")])
    async def digest_cadence(interaction: discord.Interaction, cadence: app_commands.Choice[str]) -> None:
        await run_digest(interaction, digest_text("cadence", cadence.value))

    @digest.command(name="layout", description="Every card in the channel, or one list with the cards in its thread")
    @app_commands.describe(layout="full (every card here), compact (one list; cards in its thread) or forum")
    @app_commands.choices(layout=[app_commands.Choice(name=c, value=c) for c in ("full", "compact", "forum")])
    async def digest_layout(interaction: discord.Interaction, layout: app_commands.Choice[str]) -> None:
        await run_digest(interaction, digest_text("layout", layout.value))

    @digest.command(name="status", description="Show this channel's digest settings")
    async def digest_status(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "status")

    @digest.command(name="now", description="Post today's digest in this channel now (parts already there are kept)")
    async def digest_now(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "now")

    tree.add_command(digest)
    return tree


def _zones(partial: str) -> list[str]:
    import zoneinfo

    needle = partial.strip().casefold()
    zones = sorted(zoneinfo.available_timezones())
    starts = [z for z in zones if z.casefold().startswith(needle)]
    inside = [z for z in zones if needle in z.casefold() and z not in starts]
    return (starts + inside)[:25]


# -- entry points -------------------------------------------------------------------------------


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
    token = config.discord.token
    if not token:
        raise ConfigError("discord.token: not set (put ${DISCORD_TOKEN} there and export the bot token)")
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
            raise TokenRefusedError("discord.token: Discord rejected the bot token (401 Unauthorized)") from None
        except _UNREACHABLE as exc:
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
    token = config.discord.token
    if not token:
        raise ConfigError("discord.token: not set (put ${DISCORD_TOKEN} there and export the bot token)")
    set_api_base(config.discord.api_base_url)
    client = DigestbotClient(config, None)
    try:
        try:
            await client.http.static_login(token)
        except discord.LoginFailure:
            raise TokenRefusedError("discord.token: Discord rejected the bot token (401 Unauthorized)") from None
        if client.application_id is None:
            app = await client.application_info()
            client._connection.application_id = app.id
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        if guild is not None:
            client.tree.copy_global_to(guild=guild)
        synced = await client.tree.sync(guild=guild)
    except discord.HTTPException as exc:
        raise DeliveryError(f"command sync failed: Discord said {exc.status}: {exc.text}") from None
    except _UNREACHABLE as exc:
        raise unreachable(config, exc) from None
    finally:
        await client.http.close()
    log.info("Discord: synced %d commands %s", len(synced), f"to guild {guild_id}" if guild_id else "globally")
    return len(synced)
