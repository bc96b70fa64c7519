"""A strict loopback fake of Discord's REST API, for driving the real discord.py client in tests.

``FakeDiscord`` serves ``http://127.0.0.1:PORT/api/v10`` with the routes digestbot uses, in the
shapes Discord documents (discord/discord-api-docs; see ``discord_limits.py`` for the limits):
snowflake ids as strings, Discord-shaped errors (``{"code": 50035, "message": "Invalid Form
Body", "errors": {...}}``), per-route rate-limit buckets with the real ``X-RateLimit-*`` headers
(``docs/topics/rate-limits.md``), an optional global limit, ``nonce`` + ``enforce_nonce``
de-duplication, and failure injection.  Point discord.py at it with
``tests.fakes.discord_base_url.point_discord_py_at(fake.base_url, fake.gateway_url)``.

Routes (the keys accepted by :meth:`FakeDiscord.fail_next`, :meth:`FakeDiscord.drop_next` and
:meth:`FakeDiscord.set_rate_limit`) are listed in :data:`ROUTES`.  Beside them:
``FakeDiscord.gateway`` (``discord_gateway.FakeGateway``) serves a minimal gateway websocket at
:attr:`FakeDiscord.gateway_url`, and the application command routes validate bulk overwrites as
Discord does (``discord_app_commands``; inspect with :meth:`FakeDiscord.commands` and ``command_syncs``).

Strictness worth knowing:

* Every bot route needs ``Authorization: Bot <token>`` (else 401).  Interaction callbacks and
  interaction webhooks need no token, as on Discord; they need a registered interaction instead
  (:meth:`FakeDiscord.register_interaction`).
* Channels exist only once added (:meth:`FakeDiscord.add_channel`) or opened as DMs; others are
  404 Unknown Channel (10003).
* Message bodies go through :func:`~tests.fakes.discord_limits.find_violations`, including
  digestbot's policy that ``allowed_mentions`` is ``{"parse": []}`` (``enforce_policy=False``
  turns only the policy part off).
* Every response carries ``Via: 1.1 google`` as Discord's do: discord.py treats a 429 without a
  ``Via`` header as a Cloudflare ban and raises instead of waiting.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, web

from tests.fakes.discord_app_commands import command_objects, find_command_violations
from tests.fakes.discord_gateway import GATEWAY_PATH, FakeGateway
from tests.fakes.discord_limits import (
    EMPTY_MESSAGE,
    INVALID_FORM_BODY,
    Violation,
    find_interaction_response_violations,
    find_violations,
)
from tests.fakes.loopback import Loopback

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

GET_CURRENT_USER = "GET /users/@me"
GET_APPLICATION = "GET /oauth2/applications/@me"
GET_USER = "GET /users/{user_id}"
GET_GATEWAY = "GET /gateway"
GET_GATEWAY_BOT = "GET /gateway/bot"
GET_CHANNEL = "GET /channels/{channel_id}"
CREATE_MESSAGE = "POST /channels/{channel_id}/messages"
GET_MESSAGES = "GET /channels/{channel_id}/messages"
GET_MESSAGE = "GET /channels/{channel_id}/messages/{message_id}"
DELETE_MESSAGE = "DELETE /channels/{channel_id}/messages/{message_id}"
CREATE_DM = "POST /users/@me/channels"
START_THREAD_FROM_MESSAGE = "POST /channels/{channel_id}/messages/{message_id}/threads"
START_THREAD = "POST /channels/{channel_id}/threads"
INTERACTION_CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
EXECUTE_WEBHOOK = "POST /webhooks/{webhook_id}/{webhook_token}"
GET_ORIGINAL = "GET /webhooks/{webhook_id}/{webhook_token}/messages/@original"
EDIT_ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
GET_GLOBAL_COMMANDS = "GET /applications/{application_id}/commands"
PUT_GLOBAL_COMMANDS = "PUT /applications/{application_id}/commands"
GET_GUILD_COMMANDS = "GET /applications/{application_id}/guilds/{guild_id}/commands"
PUT_GUILD_COMMANDS = "PUT /applications/{application_id}/guilds/{guild_id}/commands"
GET_ACTIVE_THREADS = "GET /guilds/{guild_id}/threads/active"
GET_ARCHIVED_PUBLIC_THREADS = "GET /channels/{channel_id}/threads/archived/public"

ROUTES: tuple[str, ...] = (
    GET_CURRENT_USER,
    GET_APPLICATION,
    GET_USER,
    GET_GATEWAY,
    GET_GATEWAY_BOT,
    GET_CHANNEL,
    CREATE_MESSAGE,
    GET_MESSAGES,
    GET_MESSAGE,
    DELETE_MESSAGE,
    CREATE_DM,
    START_THREAD_FROM_MESSAGE,
    START_THREAD,
    INTERACTION_CALLBACK,
    EXECUTE_WEBHOOK,
    GET_ORIGINAL,
    EDIT_ORIGINAL,
    GET_GLOBAL_COMMANDS,
    PUT_GLOBAL_COMMANDS,
    GET_GUILD_COMMANDS,
    PUT_GUILD_COMMANDS,
    GET_ACTIVE_THREADS,
    GET_ARCHIVED_PUBLIC_THREADS,
)
# Discord needs no bot token on these: the interaction token in the path is the credential.
_TOKENLESS = frozenset({INTERACTION_CALLBACK, EXECUTE_WEBHOOK, GET_ORIGINAL, EDIT_ORIGINAL})
# "Interaction endpoints are not bound to the bot's Global Rate Limit" (docs/topics/rate-limits.md).
_NOT_GLOBAL = frozenset({INTERACTION_CALLBACK})

# Channel types (docs/resources/channel.mdx).
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11
GUILD_FORUM = 15
MAX_APPLIED_TAGS = 5
PRIVATE_THREAD = 12
_THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})
_ARCHIVE_DURATIONS = frozenset({60, 1440, 4320, 10080})
_EPHEMERAL = 1 << 6
_LOADING = 1 << 7


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """A fixed-window limit: ``limit`` requests per ``per`` seconds."""

    limit: int
    per: float


@dataclass(frozen=True, kw_only=True)
class Call:
    """One request the fake answered (429s and injected failures included)."""

    method: str
    path: str
    route: str | None
    status: int
    body: Any
    query: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class InteractionReply:
    """One thing sent on an interaction: its ``callback``, a ``followup``, or an ``edit_original``."""

    kind: str
    interaction_id: int
    token: str
    body: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class CommandSync:
    """One accepted bulk overwrite of application commands: its scope (None: global) and body."""

    guild_id: int | None
    body: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class FakeInteraction:
    """An interaction the fake will accept a response for (build the gateway payload from it)."""

    id: int
    token: str
    application_id: int
    channel_id: int


class ChannelAccess(enum.Enum):
    """What the bot may do in a channel: everything, or fail like Discord does."""

    OK = "ok"
    UNKNOWN = "unknown"  # 404, code 10003 Unknown Channel (deleted, or never visible)
    MISSING_ACCESS = "missing_access"  # 403, code 50001: cannot see the channel
    MISSING_PERMISSIONS = "missing_permissions"  # 403, code 50013: can see it, cannot post


class DiscordError(Exception):
    """An error answer with Discord's JSON shape; raised inside handlers."""

    def __init__(self, status: int, code: int, message: str, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        """Render as the JSON body Discord sends."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return _json(body, status=self.status)


def _unknown_channel() -> DiscordError:
    return DiscordError(404, 10003, "Unknown Channel")


def _unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def _form_error(violations: list[Violation]) -> DiscordError:
    """Build the 50035 error with Discord's nested ``errors`` tree (``{"embeds": {"0": ...}}``)."""
    form = [v for v in violations if v.json_code == INVALID_FORM_BODY]
    if not form:
        return DiscordError(400, EMPTY_MESSAGE, "Cannot send an empty message")
    tree: dict[str, Any] = {}
    for v in form:
        node = tree
        for part in v.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": v.code, "message": v.message})
    return DiscordError(400, INVALID_FORM_BODY, "Invalid Form Body", tree)


def _field_error(name: str, code: str, message: str) -> DiscordError:
    return DiscordError(
        400, INVALID_FORM_BODY, "Invalid Form Body", {name: {"_errors": [{"code": code, "message": message}]}}
    )


@dataclass(kw_only=True)
class _Channel:
    id: int
    type: int
    name: str | None
    guild_id: int | None
    parent_id: int | None = None
    recipient_id: int | None = None
    access: ChannelAccess = ChannelAccess.OK
    messages: list[dict[str, Any]] = field(default_factory=list)
    thread_meta: dict[str, Any] | None = None
    available_tags: list[dict[str, Any]] | None = None  # a forum's tags
    applied_tags: list[str] | None = None  # a forum post's tags


@dataclass(kw_only=True)
class _Interaction:
    public: FakeInteraction
    created: float
    responded: bool = False
    original: dict[str, Any] | None = None


@dataclass(kw_only=True)
class _Window:
    count: int
    resets_at: float


@dataclass(kw_only=True)
class _Injection:
    times: int
    status: int = 0
    code: int = 0
    message: str = ""
    drop: bool = False


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_RATE_LIMIT = RateLimit(limit=5, per=0.2)  # small numbers keep rate-limit tests fast


class FakeDiscord:
    """Discord's REST API on a random loopback port: use as ``async with FakeDiscord() as fake``."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        global_rate_limit: RateLimit | None = None,
        enforce_policy: bool = True,
        nonce_window: float = 300.0,
        interaction_ack_deadline: float = 3.0,
        interaction_token_ttl: float = 900.0,
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.global_rate_limit = global_rate_limit
        self.enforce_policy = enforce_policy
        # enforce_nonce: "checked for uniqueness in the past few minutes" (docs/resources/message.mdx).
        self.nonce_window = nonce_window
        # Interactions: first response within 3 s, follow-ups/edits for 15 min (receiving-and-responding).
        self.interaction_ack_deadline = interaction_ack_deadline
        self.interaction_token_ttl = interaction_token_ttl
        self.guild_id = 1_000_000_000_000_000_001
        self.application_id = 1_000_000_000_000_000_002
        self.bot_user: dict[str, Any] = {
            "id": str(self.application_id),
            "username": "digestbot",
            "discriminator": "0",
            "global_name": "digestbot",
            "avatar": None,
            "bot": True,
            "system": False,
            "mfa_enabled": False,
            "verified": True,
            "flags": 0,
            "public_flags": 0,
            "locale": "en-US",
        }
        self.calls: list[Call] = []
        self.gateway = FakeGateway(token=token, user=self.bot_user, application_id=self.application_id)
        self.command_syncs: list[CommandSync] = []
        self._commands: dict[int | None, list[dict[str, Any]]] = {}  # scope (None: global) -> command objects
        self._command_ids: dict[tuple[int | None, str], int] = {}
        self.interaction_responses: list[InteractionReply] = []
        self.rate_limited = 0
        self._route_limits: dict[str, RateLimit] = {}
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global_window: _Window | None = None
        self._injections: dict[str, list[_Injection]] = {}
        self._channels: dict[int, _Channel] = {}
        self._dm_by_user: dict[int, int] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._dms_closed: set[int] = set()
        self._nonces: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._last_snowflake = 0
        self._server: Loopback | None = None
        self._route_keys: dict[web.AbstractRoute, str] = {}
        self._bodies: dict[int, tuple[Any, list[dict[str, Any]]]] = {}  # id(request) -> parsed body
        self._port = 0
        self._holds = 0
        self._released = asyncio.Event()
        #: Set when a held message creation arrives (a test acts while it hangs).
        self.held = asyncio.Event()
        #: Messages deleted through the API, as (channel id, message id).
        self.deleted: list[tuple[int, str]] = []

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application(middlewares=[self._middleware])
        routes: list[tuple[str, Handler]] = [
            (GET_CURRENT_USER, self._get_current_user),  # before GET_USER: "@me" is no user id
            (GET_APPLICATION, self._get_application),
            (GET_USER, self._get_user),
            (GET_GATEWAY, self._get_gateway),
            (GET_GATEWAY_BOT, self._get_gateway_bot),
            (GET_CHANNEL, self._get_channel),
            (CREATE_MESSAGE, self._create_message),
            (GET_MESSAGES, self._get_messages),
            (GET_MESSAGE, self._get_message),
            (DELETE_MESSAGE, self._delete_message),
            (CREATE_DM, self._create_dm),
            (START_THREAD_FROM_MESSAGE, self._start_thread_from_message),
            (START_THREAD, self._start_thread),
            (INTERACTION_CALLBACK, self._interaction_callback),
            (EXECUTE_WEBHOOK, self._execute_webhook),
            (GET_ORIGINAL, self._get_original),
            (EDIT_ORIGINAL, self._edit_original),
            (GET_GLOBAL_COMMANDS, self._get_commands),
            (PUT_GLOBAL_COMMANDS, self._put_commands),
            (GET_GUILD_COMMANDS, self._get_commands),
            (PUT_GUILD_COMMANDS, self._put_commands),
            (GET_ACTIVE_THREADS, self._get_active_threads),
            (GET_ARCHIVED_PUBLIC_THREADS, self._get_archived_threads),
        ]
        for key, handler in routes:
            method, path = key.split(" ", 1)
            self._route_keys[app.router.add_route(method, API_PREFIX + path, handler)] = key
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        self._server = Loopback(app, handle_signals=False)
        self._port = await self._server.start()
        self.gateway.url = self.gateway_url
        log.debug("fake Discord listening on %s", self.base_url)

    async def close(self) -> None:
        """Stop listening and drop open connections."""
        await self.gateway.close()
        if self._server is not None:
            await self._server.close()
            self._server = None

    @property
    def base_url(self) -> str:
        """The API root to give discord.py, like ``http://127.0.0.1:PORT/api/v10``."""
        if not self._port:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self._port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """The gateway websocket, like ``ws://127.0.0.1:PORT/gateway`` (see ``discord_gateway``)."""
        if not self._port:
            raise RuntimeError("FakeDiscord is not started")
        return f"ws://127.0.0.1:{self._port}{GATEWAY_PATH}"

    # -- arranging the world -----------------------------------------------------------------------

    def add_channel(self, *, name: str = "daily-papers", channel_id: int | None = None) -> int:
        """Create a guild text channel the bot can post in; return its id."""
        cid = channel_id or self._snowflake()
        self._channels[cid] = _Channel(id=cid, type=GUILD_TEXT, name=name, guild_id=self.guild_id)
        return cid

    def add_forum(self, *, name: str = "papers-forum", tags: Sequence[str] = ()) -> int:
        """Create a forum channel (type 15) with these ``available_tags``; return its id."""
        cid = self._snowflake()
        available = [
            {"id": str(self._snowflake()), "name": t, "moderated": False, "emoji_id": None, "emoji_name": None}
            for t in tags
        ]
        self._channels[cid] = _Channel(
            id=cid, type=GUILD_FORUM, name=name, guild_id=self.guild_id, available_tags=available
        )
        return cid

    def forum_posts(self, forum_id: int) -> list[dict[str, Any]]:
        """Return the forum's posts, oldest first: ``name``, ``tags`` (names), ``starter`` message, ``replies``."""
        forum = self._channels[forum_id]
        names = {t["id"]: t["name"] for t in forum.available_tags or []}
        posts = sorted((c for c in self._channels.values() if c.parent_id == forum_id), key=lambda c: c.id)
        return [
            {
                "id": p.id,
                "name": p.name,
                "tags": [names[t] for t in p.applied_tags or []],
                "starter": p.messages[0] if p.messages else None,
                "archived": bool((p.thread_meta or {}).get("thread_metadata", {}).get("archived")),
            }
            for p in posts
        ]

    def archive_thread(self, thread_id: int) -> None:
        """Archive a thread, as Discord does after its inactivity period."""
        meta = self._channels[thread_id].thread_meta
        assert meta is not None
        meta["thread_metadata"]["archived"] = True

    def set_channel_access(self, channel_id: int, access: ChannelAccess) -> None:
        """Make a channel fail like a deleted (UNKNOWN) or forbidden one, or work again (OK)."""
        self._channel(channel_id, check=False).access = access

    def add_user(self, *, name: str = "reader", user_id: int | None = None) -> int:
        """Register a user (DMs may also be opened to unregistered ids); return the id."""
        uid = user_id or self._snowflake()
        self._users[uid] = self._user_json(uid, name)
        return uid

    def close_dms(self, user_id: int, closed: bool = True) -> None:
        """Make DMs to this user fail with 403 code 50007, as when they block the bot or its server."""
        if closed:
            self._dms_closed.add(user_id)
        else:
            self._dms_closed.discard(user_id)

    def dm_channel_id(self, user_id: int) -> int | None:
        """Return the DM channel opened to ``user_id``, if any."""
        return self._dm_by_user.get(user_id)

    def register_interaction(
        self, *, channel_id: int, interaction_id: int | None = None, token: str | None = None
    ) -> FakeInteraction:
        """Accept one interaction's responses from now on (the clock for the 3 s deadline starts)."""
        iid = interaction_id or self._snowflake()
        public = FakeInteraction(
            id=iid,
            token=token or f"interaction-token-{iid}",
            application_id=self.application_id,
            channel_id=channel_id,
        )
        self._interactions[iid] = _Interaction(public=public, created=time.monotonic())
        return public

    def expire_interaction(self, interaction_id: int) -> None:
        """Age an interaction past every deadline (its callback and webhooks then 404)."""
        self._interactions[interaction_id].created = -math.inf

    def set_rate_limit(self, route: str, limit: RateLimit | None) -> None:
        """Give one route its own limit (None: back to the default ``rate_limit``)."""
        self._check_route(route)
        if limit is None:
            self._route_limits.pop(route, None)
        else:
            self._route_limits[route] = limit

    def fail_next(self, route: str, *, status: int = 500, times: int = 1, code: int = 0, message: str = "") -> None:
        """Answer the next ``times`` requests to ``route`` with ``status`` instead of handling them."""
        self._check_route(route)
        default = {
            500: "500: Internal Server Error",
            502: "502: Bad Gateway",
            503: "503: Service Unavailable",
        }
        text = message or default.get(status, f"{status}: Error")
        self._injections.setdefault(route, []).append(_Injection(times=times, status=status, code=code, message=text))

    def drop_next(self, route: str, *, times: int = 1) -> None:
        """Handle the next ``times`` requests to ``route`` fully, then drop the connection unanswered.

        The client sees ``aiohttp.ServerDisconnectedError`` although the message was created:
        the case ``nonce`` + ``enforce_nonce`` exist for.
        """
        self._check_route(route)
        self._injections.setdefault(route, []).append(_Injection(times=times, drop=True))

    def hold_next_message(self, *, times: int = 1) -> None:
        """Hold the next ``times`` message creations before they take effect, until :meth:`release_held`.

        A slow network or a busy Discord: the message appears, and the answer comes, only afterwards.
        """
        self._holds += times

    def release_held(self) -> None:
        """Let every held message creation go on (later holds wait for a later release)."""
        self._released.set()
        self._released = asyncio.Event()

    def chatter(self, channel_id: int, count: int) -> None:
        """Let other members talk: append ``count`` plain messages by a human to a channel's history."""
        channel = self._channel(channel_id, check=False)
        for i in range(count):
            message = self._new_message(channel_id, {"content": f"chatter {i}"}, [])
            message["author"] = {"id": "3000000000000000001", "username": "someone", "discriminator": "0",
                                 "global_name": None, "avatar": None}  # fmt: skip
            channel.messages.append(message)

    # -- inspection --------------------------------------------------------------------------------

    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Return the messages in a channel, oldest first (post order)."""
        return [dict(m) for m in self._channel(channel_id, check=False).messages]

    def channel(self, channel_id: int) -> dict[str, Any]:
        """Return the channel object Discord would send (threads and DMs included)."""
        return self._channel_json(self._channel(channel_id, check=False))

    def original_response(self, interaction_id: int) -> dict[str, Any] | None:
        """Return the current ``@original`` message of an interaction, if it has one."""
        original = self._interactions[interaction_id].original
        return dict(original) if original else None

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Return the registered application commands: global ones, or one guild's."""
        return [dict(c) for c in self._commands.get(guild_id, [])]

    def calls_to(self, route: str) -> list[Call]:
        """Return the logged calls to one route."""
        return [c for c in self.calls if c.route == route]

    # -- plumbing ----------------------------------------------------------------------------------

    def _check_route(self, route: str) -> None:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)}")

    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._last_snowflake = max(self._last_snowflake + 1, ms << 22)
        return self._last_snowflake

    def _channel(self, channel_id: int, *, check: bool = True, send: bool = False) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            if check:
                raise _unknown_channel()
            raise KeyError(f"no channel {channel_id} in the fake; add_channel() it first")
        if not check:
            return channel
        access = channel.access
        if channel.parent_id is not None and access is ChannelAccess.OK:
            access = self._channels[channel.parent_id].access
        if access is ChannelAccess.UNKNOWN:
            raise _unknown_channel()
        if access is ChannelAccess.MISSING_ACCESS:
            raise DiscordError(403, 50001, "Missing Access")
        if send and access is ChannelAccess.MISSING_PERMISSIONS:
            raise DiscordError(403, 50013, "Missing Permissions")
        if send and channel.type == DM and channel.recipient_id in self._dms_closed:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        return channel

    @staticmethod
    def _user_json(user_id: int, name: str) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "public_flags": 0,
        }

    def _channel_json(self, channel: _Channel) -> dict[str, Any]:
        if channel.type == DM:
            user = self._users.get(channel.recipient_id or 0) or self._user_json(channel.recipient_id or 0, "user")
            last = channel.messages[-1]["id"] if channel.messages else None
            return {
                "id": str(channel.id),
                "type": DM,
                "last_message_id": last,
                "flags": 0,
                "recipients": [user],
            }
        out: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": 0,
            "flags": 0,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "last_message_id": channel.messages[-1]["id"] if channel.messages else None,
            "rate_limit_per_user": 0,
        }
        if channel.thread_meta is not None:
            out.update(channel.thread_meta)
        if channel.available_tags is not None:
            out["available_tags"] = channel.available_tags
        if channel.applied_tags is not None:
            out["applied_tags"] = channel.applied_tags
        else:
            out.update({"topic": None, "nsfw": False, "permission_overwrites": []})
        return out

    def _new_message(
        self, channel_id: int, body: Mapping[str, Any], files: list[dict[str, Any]], *, webhook: bool = False
    ) -> dict[str, Any]:
        mid = self._snowflake()
        embeds = [{**e, "type": "rich"} for e in body.get("embeds") or []]
        message: dict[str, Any] = {
            "id": str(mid),
            "type": 0,
            "channel_id": str(channel_id),
            "author": {
                k: self.bot_user[k] for k in ("id", "username", "discriminator", "global_name", "avatar", "bot")
            },
            "content": body.get("content") or "",
            "timestamp": datetime.fromtimestamp(((mid >> 22) + DISCORD_EPOCH_MS) / 1000, UTC).isoformat(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": files,
            "embeds": embeds,
            "components": list(body.get("components") or []),
            "pinned": False,
            "flags": int(body.get("flags") or 0),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if webhook:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
        return message

    def _validate(self, body: Any, *, has_files: bool = False, require_body: bool = True) -> None:
        if not isinstance(body, Mapping):
            raise DiscordError(400, 50109, "The request body contains invalid JSON.")
        violations = find_violations(body, has_files=has_files, require_body=require_body)
        if not self.enforce_policy:
            violations = [v for v in violations if not v.policy]
        if violations:
            raise _form_error(violations)

    # -- middleware: auth, rate limits, injections, headers, call log ------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == GATEWAY_PATH:  # the websocket: no REST auth, limits or call log
            return await handler(request)
        route = self._route_of(request)
        body: Any = None
        response: web.StreamResponse
        try:
            body, files = await self._read_body(request)
            self._bodies[id(request)] = (body, files)
            response = await self._dispatch(request, handler, route)
        except DiscordError as err:
            response = err.response()
        except asyncio.CancelledError:  # dropped on purpose (drop_next) or by the client
            self._log_call(request, route, body, 0)
            raise
        except Exception as exc:
            # A bug in the fake: answer a status no client retries (discord.py retries 500/502/504
            # for ~25 s), so the test fails at once with the cause in the body and the log.
            log.exception("FakeDiscord failed on %s %s", request.method, request.path)
            response = _json({"message": f"FakeDiscord bug: {exc!r}", "code": 0}, status=599)
        finally:
            self._bodies.pop(id(request), None)
        response.headers["Via"] = "1.1 google"
        self._log_call(request, route, body, response.status)
        return response

    def _log_call(self, request: web.Request, route: str | None, body: Any, status: int) -> None:
        self.calls.append(
            Call(
                method=request.method,
                path=request.path.removeprefix(API_PREFIX),
                route=route,
                status=status,
                body="<invalid JSON>" if body is _BAD_JSON else body,
                query=dict(request.query),
            )
        )

    def _body(self, request: web.Request) -> Any:
        """Return the parsed JSON body (or ``payload_json``) of a request being handled."""
        return self._bodies[id(request)][0]

    def _route_of(self, request: web.Request) -> str | None:
        info = request.match_info
        if info.http_exception is not None:
            return None
        return self._route_keys.get(info.route)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        """Parse a JSON or multipart (``payload_json`` + ``files[n]``) body; remember bad JSON."""
        if not request.body_exists:
            return None, []
        if request.content_type.startswith("multipart/"):
            payload: Any = {}
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):  # pragma: no cover - nested multipart
                    continue
                data = await part.read()
                if part.name == "payload_json":
                    payload = _loads(data)
                elif part.name and part.name.startswith("files["):
                    files.append(
                        {
                            "id": str(self._snowflake()),
                            "filename": part.filename or "file",
                            "size": len(data),
                            "url": f"https://cdn.discordapp.com/attachments/0/0/{part.filename}",
                            "proxy_url": f"https://media.discordapp.net/attachments/0/0/{part.filename}",
                        }
                    )
            return payload, files
        return _loads(await request.read()), []

    async def _dispatch(self, request: web.Request, handler: Handler, route: str | None) -> web.StreamResponse:
        if route is None:
            info = request.match_info.http_exception
            if isinstance(info, web.HTTPMethodNotAllowed):
                raise DiscordError(405, 0, "405: Method Not Allowed")
            raise DiscordError(404, 0, "404: Not Found")
        if route not in _TOKENLESS and request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")
        if route not in _NOT_GLOBAL and (limited := self._take_global()) is not None:
            return limited
        headers, limited = self._take_route(route, request)
        if limited is not None:
            return limited
        response = await self._run(request, handler, route)
        response.headers.update(headers)
        return response

    async def _run(self, request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        injection = self._pop_injection(route)
        if injection is not None and not injection.drop:
            return _json({"message": injection.message, "code": injection.code}, status=injection.status)
        if self._body(request) is _BAD_JSON:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.")
        try:
            response = await handler(request)
        except DiscordError as err:
            response = err.response()
        if injection is not None:  # drop: the work is done, the answer never arrives
            log.debug("fake Discord drops the connection after %s", route)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return response

    def _pop_injection(self, route: str) -> _Injection | None:
        queue = self._injections.get(route)
        if not queue:
            return None
        injection = queue[0]
        injection.times -= 1
        if injection.times <= 0:
            queue.pop(0)
        return injection

    def _take_global(self) -> web.Response | None:
        limit = self.global_rate_limit
        if limit is None:
            return None
        now = time.monotonic()
        window = self._global_window
        if window is None or now >= window.resets_at:
            window = self._global_window = _Window(count=0, resets_at=now + limit.per)
        if window.count < limit.limit:
            window.count += 1
            return None
        self.rate_limited += 1
        retry_after = max(round(window.resets_at - now, 3), 0.001)
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": True}
        return _json(
            body,
            status=429,
            headers={
                "Retry-After": str(math.ceil(retry_after)),
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
            },
        )

    def _take_route(self, route: str, request: web.Request) -> tuple[dict[str, str], web.Response | None]:
        """Count the request in its bucket; return the headers to send, and a 429 if over the limit."""
        limit = self._route_limits.get(route, self.rate_limit)
        info = request.match_info
        # Top-level resources make separate buckets (docs/topics/rate-limits.md).
        major = info.get("channel_id") or "+".join(
            v
            for v in (
                info.get("webhook_id") or info.get("interaction_id"),
                info.get("webhook_token") or info.get("interaction_token"),
            )
            if v
        )
        now = time.monotonic()
        key = (route, major)
        window = self._windows.get(key)
        if window is None or now >= window.resets_at:
            window = self._windows[key] = _Window(count=0, resets_at=now + limit.per)
        over = window.count >= limit.limit
        if not over:
            window.count += 1
        reset_after = max(window.resets_at - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(limit.limit),
            "X-RateLimit-Remaining": str(max(limit.limit - window.count, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.md5(route.encode(), usedforsecurity=False).hexdigest(),
        }
        if not over:
            return headers, None
        self.rate_limited += 1
        retry_after = max(round(reset_after, 3), 0.001)
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        headers |= {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": "user"}
        return headers, _json(body, status=429, headers=headers)

    # -- handlers ----------------------------------------------------------------------------------

    async def _get_current_user(self, request: web.Request) -> web.Response:
        return _json(self.bot_user)

    async def _get_application(self, request: web.Request) -> web.Response:
        # discord.Client.login() fetches this right after GET /users/@me.
        owner = self._user_json(1_000_000_000_000_000_003, "maintainer")
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user["username"],
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": owner,
                "verify_key": "0" * 64,
                "flags": 0,
                "bot": {k: self.bot_user[k] for k in ("id", "username", "discriminator", "avatar", "bot")},
                "interactions_endpoint_url": None,
                "redirect_uris": [],
            }
        )

    async def _get_user(self, request: web.Request) -> web.Response:
        uid = _snowflake_arg(request, "user_id")
        if uid not in self._users:
            raise DiscordError(404, 10013, "Unknown User")
        return _json(self._users[uid])

    async def _get_gateway(self, request: web.Request) -> web.Response:
        # A loopback URL with nothing behind it: a real Client must never reach out to discord.gg.
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(_snowflake_arg(request, "channel_id"))
        return _json(self._channel_json(channel))

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(_snowflake_arg(request, "channel_id"), send=True)
        if channel.type == GUILD_FORUM:  # a forum takes posts (threads), not messages
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        body, files = self._bodies[id(request)]
        self._validate(body, has_files=bool(files))
        if self._holds > 0:
            self._holds -= 1
            self.held.set()
            await self._released.wait()
        nonce = body.get("nonce")
        nonce_key = (channel.id, str(nonce))
        now = time.monotonic()
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get(nonce_key)
            if seen is not None and now - seen[0] <= self.nonce_window:
                log.debug("fake Discord: nonce %r repeated in %s, returning the original", nonce, channel.id)
                return _json(seen[1])
        message = self._new_message(channel.id, body, files)
        channel.messages.append(message)
        if nonce is not None:
            self._nonces[nonce_key] = (now, message)
        return _json(message)

    async def _get_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(_snowflake_arg(request, "channel_id"))
        query = request.query
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            raise _field_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.") from None
        if not 1 <= limit <= 100:
            raise _field_error("limit", "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN", "Must be 1-100.")
        anchors = [k for k in ("before", "after", "around") if k in query]
        if len(anchors) > 1:  # "mutually exclusive, only one may be passed at a time"
            raise _field_error(anchors[1], "BASE_TYPE_INVALID", "before, after and around are mutually exclusive.")
        newest_first = sorted(channel.messages, key=lambda m: int(m["id"]), reverse=True)
        if not anchors:
            page = newest_first[:limit]
        else:
            anchor = _snowflake_arg(request, anchors[0], source=query)
            if anchors[0] == "before":
                page = [m for m in newest_first if int(m["id"]) < anchor][:limit]
            elif anchors[0] == "after":  # the oldest `limit` after the anchor, still newest first
                page = [m for m in newest_first if int(m["id"]) > anchor][-limit:]
            else:
                older = [m for m in newest_first if int(m["id"]) <= anchor][: limit - limit // 2]
                newer = [m for m in newest_first if int(m["id"]) > anchor][-(limit // 2) :] if limit > 1 else []
                page = newer + older
        return _json(page)

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(_snowflake_arg(request, "channel_id"))
        mid = request.match_info["message_id"]
        for message in channel.messages:
            if message["id"] == mid:
                return _json(message)
        raise _unknown_message()

    async def _delete_message(self, request: web.Request) -> web.Response:
        # docs/resources/message.mdx "Delete Message": 204 No Content; another author's message needs
        # MANAGE_MESSAGES (the fake's bot has none: 403 50013); an unknown one is 404 10008.
        channel = self._channel(_snowflake_arg(request, "channel_id"))
        mid = request.match_info["message_id"]
        for message in channel.messages:
            if message["id"] == mid:
                if message["author"]["id"] != self.bot_user["id"]:
                    raise DiscordError(403, 50013, "Missing Permissions")
                channel.messages.remove(message)
                self.deleted.append((channel.id, mid))
                return web.Response(status=204, headers={"Via": "1.1 google"})
        raise _unknown_message()

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = self._body(request)
        recipient = body.get("recipient_id") if isinstance(body, Mapping) else None
        if recipient is None or not str(recipient).isdigit():
            raise _field_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        uid = int(recipient)
        cid = self._dm_by_user.get(uid)
        if cid is None:
            cid = self._snowflake()
            self._channels[cid] = _Channel(id=cid, type=DM, name=None, guild_id=None, recipient_id=uid)
            self._dm_by_user[uid] = cid
        return _json(self._channel_json(self._channels[cid]))

    def _thread_args(self, body: Any) -> tuple[str, int]:
        if not isinstance(body, Mapping):
            raise DiscordError(400, 50109, "The request body contains invalid JSON.")
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            raise _field_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        duration = body.get("auto_archive_duration") or 4320
        if duration not in _ARCHIVE_DURATIONS:
            raise _field_error("auto_archive_duration", "ENUM_TYPE_COERCE", f"Value {duration!r} is not a valid enum.")
        return name.strip(), int(duration)

    def _open_thread(self, parent: _Channel, thread_id: int, kind: int, name: str, duration: int) -> web.Response:
        now = datetime.now(UTC).isoformat()
        meta = {
            "owner_id": self.bot_user["id"],
            "member_count": 1,
            "message_count": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": duration,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            },
        }
        thread = _Channel(
            id=thread_id,
            type=kind,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            thread_meta=meta,
        )
        self._channels[thread_id] = thread
        return _json(self._channel_json(thread), status=201)

    def _start_forum_post(self, forum: _Channel, body: Any) -> web.Response:
        """Start a forum post: a public thread and its starter message (same id) in one call, tags checked."""
        name, duration = self._thread_args(body)
        message = body.get("message")
        if not isinstance(message, Mapping):
            raise _field_error("message", "BASE_TYPE_REQUIRED", "This field is required")
        self._validate(message, has_files=False)
        tags = body.get("applied_tags") or []
        if not isinstance(tags, list) or len(tags) > MAX_APPLIED_TAGS:
            raise _field_error(
                "applied_tags", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_APPLIED_TAGS} or fewer in length."
            )
        known = {t["id"] for t in forum.available_tags or []}
        if any(str(t) not in known for t in tags):
            raise _field_error("applied_tags", "FORUM_TAG_INVALID", "Unknown tag for this forum.")
        thread_id = self._snowflake()
        response = self._open_thread(forum, thread_id, PUBLIC_THREAD, name, duration)
        thread = self._channels[thread_id]
        thread.applied_tags = [str(t) for t in tags]
        starter = self._new_message(thread_id, message, [])
        starter["id"] = str(thread_id)  # a forum post's starter message has the thread's id
        thread.messages.append(starter)
        data = {**self._channel_json(thread), "message": starter}
        return _json(data, status=response.status)

    async def _get_active_threads(self, request: web.Request) -> web.Response:
        if _snowflake_arg(request, "guild_id") != self.guild_id:
            raise DiscordError(403, 50001, "Missing Access")
        active = [
            self._channel_json(c)
            for c in self._channels.values()
            if c.thread_meta is not None and not c.thread_meta["thread_metadata"]["archived"]
        ]
        return _json({"threads": active, "members": []})

    async def _get_archived_threads(self, request: web.Request) -> web.Response:
        parent = self._channel(_snowflake_arg(request, "channel_id"))
        archived = sorted(
            (
                c
                for c in self._channels.values()
                if c.parent_id == parent.id and c.thread_meta and c.thread_meta["thread_metadata"]["archived"]
            ),
            key=lambda c: c.id,
            reverse=True,
        )
        limit = int(request.query.get("limit", "50"))
        page = [self._channel_json(c) for c in archived[:limit]]
        return _json({"threads": page, "members": [], "has_more": len(archived) > limit})

    async def _start_thread_from_message(self, request: web.Request) -> web.Response:
        parent = self._channel(_snowflake_arg(request, "channel_id"), send=True)
        if parent.type == DM:
            raise DiscordError(400, 50003, "Cannot execute action on a DM channel")
        mid = _snowflake_arg(request, "message_id")
        if not any(int(m["id"]) == mid for m in parent.messages):
            raise _unknown_message()
        if mid in self._channels:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        name, duration = self._thread_args(self._body(request))
        # A thread started from a message has the message's id (docs/topics/threads.md).
        return self._open_thread(parent, mid, PUBLIC_THREAD, name, duration)

    async def _start_thread(self, request: web.Request) -> web.Response:
        parent = self._channel(_snowflake_arg(request, "channel_id"), send=True)
        if parent.type == DM:
            raise DiscordError(400, 50003, "Cannot execute action on a DM channel")
        if parent.type == GUILD_FORUM:
            return self._start_forum_post(parent, self._body(request))
        name, duration = self._thread_args(self._body(request))
        kind = self._body(request).get("type") or PRIVATE_THREAD
        if kind not in _THREAD_TYPES:
            raise _field_error("type", "ENUM_TYPE_COERCE", f"Value {kind!r} is not a valid enum value.")
        return self._open_thread(parent, self._snowflake(), int(kind), name, duration)

    # -- application commands ----------------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        """Return the guild of a command route (None: global); refuse another application or guild."""
        if _snowflake_arg(request, "application_id") != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        guild_id = _snowflake_arg(request, "guild_id")
        if guild_id != self.guild_id:  # not in that guild, or added without the applications.commands scope
            raise DiscordError(403, 50001, "Missing Access")
        return guild_id

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands(self._command_scope(request)))

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body = self._body(request)
        if violations := find_command_violations(body):
            raise _form_error(violations)
        for command in body:  # a bulk overwrite keeps the id of a command whose name stays
            self._command_ids.setdefault((scope, str(command["name"])), self._snowflake())
        ids = {str(c["name"]): self._command_ids[(scope, str(c["name"]))] for c in body}
        self._commands[scope] = command_objects(body, application_id=self.application_id, guild_id=scope, ids=ids)
        self.command_syncs.append(CommandSync(guild_id=scope, body=[dict(c) for c in body]))
        return _json(self._commands[scope])

    # -- interactions ------------------------------------------------------------------------------

    def _interaction(self, request: web.Request, *, for_callback: bool) -> _Interaction:
        info = request.match_info
        if for_callback:
            iid = info["interaction_id"]
            found = self._interactions.get(int(iid)) if iid.isdigit() else None
            if (
                found is None
                or found.public.token != info["interaction_token"]
                or time.monotonic() - found.created > self.interaction_ack_deadline
            ):
                raise DiscordError(404, 10062, "Unknown interaction")
            return found
        token = info["webhook_token"]
        for found in self._interactions.values():
            if (
                found.public.token == token
                and info["webhook_id"] == str(self.application_id)
                and found.responded
                and time.monotonic() - found.created <= self.interaction_token_ttl
            ):
                return found
        raise DiscordError(404, 10015, "Unknown Webhook")

    def _post_interaction_message(self, found: _Interaction, data: Mapping[str, Any]) -> dict[str, Any]:
        message = self._new_message(found.public.channel_id, data, [], webhook=True)
        channel = self._channels.get(found.public.channel_id)
        if channel is not None and not message["flags"] & _EPHEMERAL:
            channel.messages.append(message)
        return message

    async def _interaction_callback(self, request: web.Request) -> web.StreamResponse:
        found = self._interaction(request, for_callback=True)
        body = self._body(request)
        if found.responded:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        violations = find_interaction_response_violations(body if isinstance(body, Mapping) else {})
        if not self.enforce_policy:
            violations = [v for v in violations if not v.policy]
        if violations:
            raise _form_error(violations)
        found.responded = True
        kind = body["type"]
        data = body.get("data") or {}
        self.interaction_responses.append(
            InteractionReply(kind="callback", interaction_id=found.public.id, token=found.public.token, body=body)
        )
        if kind == 4:
            found.original = self._post_interaction_message(found, data)
        elif kind == 5:  # deferred: a "thinking…" placeholder that @original edits fill in
            found.original = self._post_interaction_message(found, {"flags": _LOADING | (data.get("flags") or 0)})
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        answer: dict[str, Any] = {"interaction": {"id": str(found.public.id), "type": 2}}
        if found.original is not None:
            answer["interaction"] |= {
                "response_message_id": found.original["id"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(found.original["flags"] & _EPHEMERAL),
            }
            answer["resource"] = {"type": kind, "message": found.original}
        else:
            answer["resource"] = {"type": kind}
        return _json(answer)

    async def _execute_webhook(self, request: web.Request) -> web.StreamResponse:
        found = self._interaction(request, for_callback=False)
        body = self._body(request)
        self._validate(body, has_files=bool(self._bodies[id(request)][1]))
        message = self._post_interaction_message(found, body)
        self.interaction_responses.append(
            InteractionReply(kind="followup", interaction_id=found.public.id, token=found.public.token, body=body)
        )
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(message)
        return web.Response(status=204)

    async def _get_original(self, request: web.Request) -> web.Response:
        found = self._interaction(request, for_callback=False)
        if found.original is None:
            raise _unknown_message()
        return _json(found.original)

    async def _edit_original(self, request: web.Request) -> web.Response:
        found = self._interaction(request, for_callback=False)
        if found.original is None:
            raise _unknown_message()
        body = self._body(request)
        self._validate(body, has_files=bool(self._bodies[id(request)][1]), require_body=False)
        edited = dict(found.original)
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                edited[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        edited["flags"] = int(edited.get("flags") or 0) & ~_LOADING
        if not (edited.get("content") or edited.get("embeds") or edited.get("components") or edited["attachments"]):
            raise DiscordError(400, EMPTY_MESSAGE, "Cannot send an empty message")
        edited["edited_timestamp"] = datetime.now(UTC).isoformat()
        found.original.clear()
        found.original.update(edited)  # the same dict sits in the channel's message list
        self.interaction_responses.append(
            InteractionReply(kind="edit_original", interaction_id=found.public.id, token=found.public.token, body=body)
        )
        return _json(found.original)


_BAD_JSON: Any = object()


def _json(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Answer JSON with exactly ``Content-Type: application/json`` as Discord does.

    discord.py decodes a body only when the header equals that string, so aiohttp's usual
    ``; charset=utf-8`` suffix would turn every error into plain text (and its code into 0).
    """
    return web.Response(
        body=json.dumps(data, ensure_ascii=False).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _loads(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return _BAD_JSON


def _snowflake_arg(request: web.Request, name: str, *, source: Mapping[str, str] | None = None) -> int:
    """Read a snowflake path/query value; Discord answers 400 50035 for a non-numeric one."""
    value = (source if source is not None else request.match_info).get(name, "")
    if not value.isdigit():
        raise _field_error(name, "NUMBER_TYPE_COERCE", f"Value {value!r} is not snowflake.")
    return int(value)
