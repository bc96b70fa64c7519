"""A fake Slack Web API on 127.0.0.1, strict like Slack, for testing the real slack_sdk client against.

Point a real ``AsyncWebClient(token=fake.token, base_url=fake.base_url)`` at it (or a bolt
``AsyncApp`` built on such a client). It speaks Slack's shapes: POST/GET to ``/api/<method>`` with
query, form-encoded or JSON arguments, ``Authorization: Bearer`` (or a ``token`` argument) checked,
``{"ok": false, "error": …}`` on failure with HTTP 200, and ``response_metadata.messages`` listing
``[ERROR] … [json-pointer:…]`` for ``invalid_blocks`` (checked by :mod:`tests.fakes.slack_limits`).

Methods: ``auth.test``, ``chat.postMessage``, ``chat.postEphemeral``, ``chat.update``, ``chat.delete``,
``conversations.open``, ``conversations.history``, ``conversations.replies``, ``conversations.info``,
``users.info``; plus slash-command ``response_url`` endpoints (:meth:`FakeSlack.response_url`), and
Socket Mode: ``apps.connections.open`` (app-level token only) and the WebSocket it points to
(:mod:`tests.fakes.slack_socket`; drive it with :meth:`FakeSlack.socket_command`).

Many workspaces (an app distributed through OAuth v2): :meth:`FakeSlack.add_workspace`, then
:meth:`FakeSlack.authorize` plays the installer clicking "Allow" on Slack's authorize page and returns
the one-time ``code`` the redirect carries; ``oauth.v2.access`` (client id and secret in HTTP Basic
auth, as slack_sdk sends them) trades it for a bot token of that workspace, and with
:meth:`FakeSlack.enable_token_rotation` also for a refresh token (``grant_type=refresh_token`` trades
that for a new pair). Every call runs as the workspace of its token: ``auth.test`` names it, a
channel of another workspace is ``channel_not_found``, and :attr:`Call.team` records it.
:meth:`FakeSlack.revoke` makes a workspace's tokens ``token_revoked``; an expired rotating token
answers ``token_expired``. Signed event and slash-command requests: :mod:`tests.fakes.slack_events`.

Realism knobs, each checked against Slack's docs or public reports (search tool):

* ``chat.postMessage`` is rate-limited per channel by a token bucket (docs: "generally allows posting
  one message per second per channel", "short bursts >1 allowed"). Past it: HTTP 429, an integer
  ``Retry-After`` header in seconds, body ``{"ok": false, "error": "ratelimited"}``.
* ``conversations.history`` is newest first, ``limit`` default 100 (max 999), ``oldest``/``latest``
  exclusive unless ``inclusive``, ``cursor``/``response_metadata.next_cursor`` pagination,
  ``metadata`` only with ``include_all_metadata``.
* ``thread_ts`` not shaped like a ts gives ``invalid_thread_ts``; ``conversations.replies`` on an
  unknown ts gives ``thread_not_found``. The fake also refuses ``chat.postMessage`` into an unknown
  thread with ``thread_not_found``, where Slack may accept the post and hide it: a bug either way.
* A ``response_url`` answers ``ok`` (text/plain) or ``400 invalid_blocks`` like incoming webhooks,
  and accepts 5 posts ("up to 5 times within 30 minutes"); the fake's answer once used up or
  expired (``404 expired_url``) is its own choice, not checked against Slack.

Strictness beyond Slack comes from :mod:`tests.fakes.slack_limits` (missing ``text`` is rejected,
raw ``<`` in mrkdwn is rejected). Failure injection: :meth:`FakeSlack.fail_next`,
:meth:`FakeSlack.set_channel_error`, :meth:`FakeSlack.add_user` ``dm_error``, and
:meth:`FakeSlack.drop_connection_after` (the action is applied, then the connection is closed
before any response byte, so the client cannot know whether its post landed), and
:meth:`FakeSlack.stall_next` (the request is held that long *before* it takes effect, as a slow
network or a busy Slack would: the message appears, and the answer comes, only afterwards).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.loopback import Loopback
from tests.fakes.slack_limits import Violation, check_message
from tests.fakes.slack_socket import SocketAck, SocketModeFake

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

_TS = re.compile(r"\d{1,12}\.\d{6}", re.ASCII)
_CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
_MAX_HISTORY_LIMIT = 999
_RESPONSE_URL_USES = 5
# When several kinds of violation are present, answer with the first code in this order.
_ERROR_PRIORITY = (
    "invalid_arguments",
    "no_text",
    "msg_too_long",
    "invalid_blocks",
    "invalid_metadata_format",
)


@dataclass(frozen=True, kw_only=True)
class Call:
    """One request the fake answered: method, arguments (token removed), HTTP status and Slack error."""

    method: str
    args: Mapping[str, Any]
    status: int
    error: str | None = None
    dropped: bool = False
    team: str = ""


@dataclass(kw_only=True)
class _Failure:
    status: int
    error: str
    remaining: int
    retry_after: int | None


@dataclass(kw_only=True)
class _Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    user: str | None = None
    is_member: bool = True
    is_archived: bool = False
    error: str | None = None
    created: int = 1_700_000_000
    team: str = ""


@dataclass(kw_only=True)
class _User:
    id: str
    name: str
    real_name: str
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    dm_error: str | None = None


@dataclass(kw_only=True)
class _Message:
    channel: str
    ts: str
    text: str
    blocks: list[Any] | None
    metadata: dict[str, Any] | None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    edited_ts: str | None = None
    team: str = ""


@dataclass(kw_only=True)
class _Workspace:
    team_id: str
    name: str
    bot_user_id: str
    bot_id: str


@dataclass(kw_only=True)
class _Grant:
    """A bot token ``oauth.v2.access`` issued: its workspace, and when it expires (rotation on)."""

    team_id: str
    expires_at: float | None = None
    revoked: bool = False


@dataclass(kw_only=True)
class _Code:
    team_id: str
    user: str
    redirect_uri: str | None


@dataclass(kw_only=True)
class _ResponseUrl:
    name: str
    uses: int = 0
    expired: bool = False


@dataclass(kw_only=True)
class _Bucket:
    tokens: float
    stamp: float


class _SlackError(Exception):
    def __init__(self, error: str, *, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


@dataclass(kw_only=True)
class _RateLimit:
    rate: float
    burst: int
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def wait(self, key: str, now: float) -> float | None:
        """Take one token for ``key``; return None if granted, else the seconds until one is free."""
        bucket = self.buckets.setdefault(key, _Bucket(tokens=float(self.burst), stamp=now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate


class FakeSlack:
    """Serve a strict fake of Slack's Web API on 127.0.0.1 and record everything sent to it."""

    GENERAL = "C0GENERAL"

    def __init__(
        self,
        *,
        token: str = "xoxb-fake-token",
        app_token: str = "xapp-fake",
        team_id: str = "T0FAKE",
        team: str = "digestbot-test",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0DIGEST",
        post_rate: float | None = 1.0,
        post_burst: int = 3,
        retry_after: int | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
        signing_secret: str = "fake-signing-secret",
    ) -> None:
        self.token = token
        self.client_id = client_id
        self.client_secret = client_secret
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.team_id = team_id
        self.team = team
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self._clock = clock
        self._wall_clock = wall_clock
        self._retry_after = retry_after
        self._rate: _RateLimit | None = None
        self.set_post_rate(post_rate, burst=post_burst)

        self._channels: dict[str, _Channel] = {}
        self._users: dict[str, _User] = {}
        self._dms: dict[str, str] = {}
        self._messages: list[_Message] = []
        self._last_ts_micros = 0
        self._failures: dict[str, list[_Failure]] = {}
        self._drops: Counter[str] = Counter()
        self._stalls: dict[str, list[float]] = {}
        #: Set when a stalled call arrives (a test waits on it to act while the call hangs).
        self.stalled = asyncio.Event()
        self._released = asyncio.Event()
        #: Messages deleted through ``chat.delete``, as (channel, ts).
        self.deleted: list[tuple[str, str]] = []
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._workspaces: dict[str, _Workspace] = {
            team_id: _Workspace(team_id=team_id, name=team, bot_user_id=bot_user_id, bot_id=bot_id)
        }
        self._grants: dict[str, _Grant] = {}
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> team id
        self._codes: dict[str, _Code] = {}
        self._issued = 0
        self._rotation_expires_in: int | None = None
        self._team = team_id  # the workspace of the call being answered
        self.socket = SocketModeFake(app_id=app_id, team_id=team_id, root=self._root, response_url=self.response_url)
        self._socket_commands = 0

        self.calls: list[Call] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.rate_limited_count = 0
        self.rate_limited_by_channel: Counter[str] = Counter()

        self._server: Loopback | None = None
        self._port: int | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "oauth.v2.access": self._oauth_v2_access,
        }
        self.add_channel(self.GENERAL, name="general")
        self.add_user(bot_user_id, name="digestbot", is_bot=True)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """Bind to ``port`` (default: a free one) on 127.0.0.1 and start answering."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        self.socket.add_routes(app)
        self._server = Loopback(app)
        self._port = await self._server.start(port)
        log.debug("fake Slack listening on %s", self.base_url)

    async def close(self) -> None:
        """Stop answering and free the port."""
        if self._server is not None:
            await self.socket.close()
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Return the Web API root to pass as ``AsyncWebClient(base_url=...)`` (ends in ``/api/``)."""
        return f"{self._root()}/api/"

    def _root(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlack is not started: use `async with FakeSlack() as slack`")
        return f"http://127.0.0.1:{self._port}"

    # -- set-up and failure injection ----------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
        team: str | None = None,
    ) -> None:
        """Create a channel (in workspace ``team``, default the first); a non-member bot gets ``not_in_channel``."""
        self._channels[channel_id] = _Channel(
            id=channel_id,
            name=name or channel_id.lower(),
            is_private=is_private,
            is_member=is_member,
            is_archived=is_archived,
            team=team or self.team_id,
        )

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        dm_error: str | None = None,
    ) -> None:
        """Create a user; ``dm_error`` (e.g. ``account_inactive``) is what opening a DM to them answers.

        A bot user answers ``cannot_dm_bot`` unless ``dm_error`` says otherwise; an unknown user
        answers ``user_not_found``.
        """
        name = name or user_id.lower()
        self._users[user_id] = _User(
            id=user_id,
            name=name,
            real_name=real_name or name,
            is_admin=is_admin,
            is_owner=is_owner,
            is_bot=is_bot,
            deleted=deleted,
            dm_error=dm_error if dm_error is not None else ("cannot_dm_bot" if is_bot else None),
        )

    def add_workspace(self, team_id: str, *, name: str, bot_user_id: str | None = None) -> None:
        """Create another workspace the app can be installed in (its bot gets its own user id)."""
        self._workspaces[team_id] = _Workspace(
            team_id=team_id, name=name, bot_user_id=bot_user_id or f"U0BOT{team_id}", bot_id=f"B0{team_id}"
        )

    def authorize(self, team_id: str, *, user: str = "U0ADMIN", redirect_uri: str | None = None) -> str:
        """Play the installer approving the app for ``team_id`` on Slack's page; return the redirect's ``code``.

        ``redirect_uri`` is the one the authorize URL named (if any): ``oauth.v2.access`` must repeat it.
        """
        if team_id not in self._workspaces:
            raise KeyError(f"no workspace {team_id}: add_workspace first")
        self._issued += 1
        code = f"code-{team_id}-{self._issued}"
        self._codes[code] = _Code(team_id=team_id, user=user, redirect_uri=redirect_uri)
        return code

    def enable_token_rotation(self, *, expires_in: int = 43_200) -> None:
        """Issue rotating tokens from now on: ``xoxe.xoxb-…`` expiring in ``expires_in`` s, plus a refresh token."""
        self._rotation_expires_in = expires_in

    def expire_tokens(self, team_id: str) -> None:
        """Make every rotating token of ``team_id`` expired now (as 12 hours later)."""
        for grant in self._grants.values():
            if grant.team_id == team_id and grant.expires_at is not None:
                grant.expires_at = self._wall_clock() - 1

    def revoke(self, team_id: str) -> None:
        """Revoke every token of ``team_id`` (an uninstall, or an admin revoking them): ``token_revoked``."""
        for grant in self._grants.values():
            if grant.team_id == team_id:
                grant.revoked = True
        self._refresh_tokens = {r: t for r, t in self._refresh_tokens.items() if t != team_id}

    def tokens_of(self, team_id: str) -> list[str]:
        """Return the bot tokens issued to ``team_id``, oldest first."""
        return [token for token, grant in self._grants.items() if grant.team_id == team_id]

    def set_dm_error(self, user_id: str, error: str | None) -> None:
        """Make opening a DM to ``user_id`` fail with ``error`` (None: succeed again)."""
        self._users[user_id].dm_error = error

    def set_channel_error(self, channel: str, error: str | None) -> None:
        """Make every post to ``channel`` fail with ``error`` until reset with None.

        ``channel_not_found`` also hides it from reads; ``not_in_channel`` also refuses history.
        """
        if error is not None and error not in _CHANNEL_ERRORS:
            raise ValueError(f"unsupported channel error {error!r}; use one of {sorted(_CHANNEL_ERRORS)}")
        self._channels[channel].error = error

    def set_post_rate(self, rate: float | None, *, burst: int = 3) -> None:
        """Limit ``chat.postMessage`` to ``rate`` per second per channel after ``burst``; None: no limit."""
        if rate is not None and (rate <= 0 or burst < 1):
            raise ValueError("rate must be > 0 and burst >= 1")
        self._rate = None if rate is None else _RateLimit(rate=rate, burst=burst)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail without taking effect.

        ``fail_next("chat.postMessage", error="channel_not_found")`` answers HTTP 200 with that
        Slack error; ``fail_next(..., status=500)`` answers HTTP 500 (error ``fatal_error`` unless
        given); status 429 also sends ``Retry-After`` (``retry_after``, default 1).
        """
        if error is None:
            error = {200: "fatal_error", 429: "ratelimited"}.get(status, "fatal_error")
        if status == 429 and retry_after is None:
            retry_after = 1
        self._failures.setdefault(method, []).append(
            _Failure(status=status, error=error, remaining=times, retry_after=retry_after)
        )

    def drop_connection_after(self, method: str, *, times: int = 1) -> None:
        """Apply the next ``times`` calls of ``method``, then close the connection without answering."""
        self._drops[method] += times

    def stall_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before they take effect (then answer).

        ``math.inf`` holds them until :meth:`release_stalled`.
        """
        self._stalls.setdefault(method, []).extend([seconds] * times)

    def release_stalled(self) -> None:
        """Let every call held by :meth:`stall_next` take effect now."""
        self._released.set()
        self._released = asyncio.Event()

    def response_url(self, name: str) -> str:
        """Return a fresh slash-command ``response_url`` whose posts are captured under ``name``."""
        self._response_urls[name] = _ResponseUrl(name=name)
        return f"{self._root()}/response/{name}"

    def expire_response_url(self, name: str) -> None:
        """Make ``name``'s response_url refuse further posts, as after its 30 minutes."""
        self._response_urls[name].expired = True

    async def socket_command(
        self, command: str, text: str, *, user: str = "U0ALICE", channel: str = GENERAL
    ) -> SocketAck:
        """Deliver a slash command over the app's Socket Mode connection; return its ack once it arrives.

        The command's ``response_url`` is captured under ``ack.response_name`` (see :attr:`responses`).
        """
        self._socket_commands += 1
        return await self.socket.command(
            command, text, user=user, channel=channel, response_name=f"socket{self._socket_commands}"
        )

    # -- inspection ----------------------------------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Return what was posted to ``channel`` (id or name), thread replies included, in post order."""
        channel_id = self._channel_id(channel)
        return [self._record(m) for m in self._messages if m.channel == channel_id]

    def all_messages(self) -> list[dict[str, Any]]:
        """Return everything posted to any channel, in post order."""
        return [self._record(m) for m in self._messages]

    def calls_to(self, method: str) -> list[Call]:
        """Return the logged calls of one API method, in order."""
        return [c for c in self.calls if c.method == method]

    def dm_channel(self, user_id: str) -> str | None:
        """Return the DM channel id opened with ``user_id``, if any."""
        return self._dms.get(user_id)

    @staticmethod
    def _record(m: _Message) -> dict[str, Any]:
        return {
            "channel": m.channel,
            "ts": m.ts,
            "thread_ts": m.thread_ts,
            "text": m.text,
            "blocks": copy.deepcopy(m.blocks),
            "metadata": copy.deepcopy(m.metadata),
            "reply_broadcast": m.reply_broadcast,
            "edited_ts": m.edited_ts,
            "team": m.team,
        }

    # -- HTTP plumbing -------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            args, body_token = await _read_args(request)
        except _SlackError as exc:
            return self._answer(method, {}, _error_body(exc), 200)
        token = _bearer(request) or body_token
        handler = self._handlers.get(method)
        if method == "oauth.v2.access":
            token = _client_auth(request, args) or token  # client credentials, not a bearer token
        if token is None:
            return self._answer(method, args, {"ok": False, "error": "not_authed"}, 200)
        if (error := self._token_error(method, token)) is not None:
            return self._answer(method, args, {"ok": False, "error": error}, 200)
        if handler is None:
            return self._answer(method, args, {"ok": False, "error": "unknown_method"}, 200)
        if (failure := self._take_failure(method)) is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
            body = {"ok": False, "error": failure.error}
            return self._answer(method, args, body, failure.status, headers=headers)
        if method == "chat.postMessage" and (limited := self._rate_limited(args)) is not None:
            return limited
        self._team = self._grants[token].team_id if token in self._grants else self.team_id
        if self._stalls.get(method):
            seconds = self._stalls[method].pop(0)
            log.debug("fake Slack holding %s for %.1f s before applying it", method, seconds)
            self.stalled.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), None if math.isinf(seconds) else seconds)
            self._team = self._grants[token].team_id if token in self._grants else self.team_id
        try:
            body = await handler(args)
        except _SlackError as exc:
            body = _error_body(exc)
        if self._drops[method] > 0:
            self._drops[method] -= 1
            self.calls.append(Call(method=method, args=args, status=0, error=body.get("error"), dropped=True))
            log.debug("fake Slack dropping the connection after %s", method)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return self._answer(method, args, body, 200)

    def _answer(
        self,
        method: str,
        args: Mapping[str, Any],
        body: dict[str, Any],
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        error = None if body.get("ok") else body.get("error")
        self.calls.append(Call(method=method, args=dict(args), status=status, error=error, team=self._team))
        return web.json_response(body, status=status, headers=headers)

    def _token_error(self, method: str, token: str) -> str | None:
        # apps.connections.open takes only the app-level token; other methods only the bot token.
        # Slack answers a token of the wrong kind with not_allowed_token_type, an unknown one with invalid_auth.
        wanted, other = (self.token, self.app_token)
        if method == "oauth.v2.access":
            return None if token == f"{self.client_id}:{self.client_secret}" else "invalid_client_id"
        if method == "apps.connections.open":
            wanted, other = other, wanted
        elif (grant := self._grants.get(token)) is not None:
            if grant.revoked:
                return "token_revoked"
            if grant.expires_at is not None and grant.expires_at <= self._wall_clock():
                return "token_expired"
            return None
        if token == wanted:
            self._team = self.team_id
            return None
        return "not_allowed_token_type" if token == other else "invalid_auth"

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    def _rate_limited(self, args: Mapping[str, Any]) -> web.Response | None:
        if self._rate is None:
            return None
        raw = str(args.get("channel", ""))
        key = self._channel_id(raw) or raw
        wait = self._rate.wait(key, self._clock())
        if wait is None:
            return None
        retry_after = self._retry_after if self._retry_after is not None else max(1, math.ceil(wait))
        self.rate_limited_count += 1
        self.rate_limited_by_channel[key] += 1
        return self._answer(
            "chat.postMessage",
            args,
            {"ok": False, "error": "ratelimited"},
            429,
            headers={"Retry-After": str(retry_after)},
        )

    async def _response(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        entry = self._response_urls.get(name)
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        record: dict[str, Any] = {"name": name, "payload": payload, "ok": False, "violations": []}
        self.responses.append(record)
        if entry is None:
            record["error"] = "no_service"
            return web.Response(status=404, text="no_service")
        if entry.expired or entry.uses >= _RESPONSE_URL_USES:
            record["error"] = "expired_url"
            return web.Response(status=404, text="expired_url")
        if not isinstance(payload, dict):
            record["error"] = "invalid_payload"
            return web.Response(status=400, text="invalid_payload")
        violations = [str(v) for v in check_message(payload)]
        if payload.get("response_type", "ephemeral") not in ("ephemeral", "in_channel"):
            violations.append("must be 'ephemeral' or 'in_channel' [json-pointer:/response_type]")
        if violations:
            record["violations"] = violations
            record["error"] = "invalid_blocks"
            return web.Response(status=400, text="invalid_blocks")
        entry.uses += 1
        record["ok"] = True
        return web.Response(status=200, text="ok")

    # -- method handlers -----------------------------------------------------------------------

    async def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        workspace = self._workspaces[self._team]
        return {
            "ok": True,
            "url": f"https://{workspace.name}.slack.com/",
            "team": workspace.name,
            "user": "digestbot",
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "is_enterprise_install": False,
        }

    async def _oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/oauth.v2.access: a code (install) or a refresh token.
        if args.get("grant_type") == "refresh_token":
            team_id = self._refresh_tokens.pop(str(args.get("refresh_token", "")), None)
            if team_id is None:
                raise _SlackError("invalid_refresh_token")
            return self._grant(team_id, user=None)
        code = self._codes.pop(str(args.get("code", "")), None)
        if code is None:
            raise _SlackError("invalid_code")
        if code.redirect_uri is not None and args.get("redirect_uri") != code.redirect_uri:
            raise _SlackError("bad_redirect_uri")
        return self._grant(code.team_id, user=code.user)

    def _grant(self, team_id: str, *, user: str | None) -> dict[str, Any]:
        workspace = self._workspaces[team_id]
        self._issued += 1
        rotating = self._rotation_expires_in is not None
        token = f"{'xoxe.' if rotating else ''}xoxb-{team_id}-{self._issued}"
        grant = _Grant(team_id=team_id)
        body: dict[str, Any] = {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "commands,chat:write,im:write,users:read,channels:history,groups:history",
            "bot_user_id": workspace.bot_user_id,
            "app_id": self.app_id,
            "team": {"name": workspace.name, "id": team_id},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if user is not None:
            body["authed_user"] = {"id": user}
        if self._rotation_expires_in is not None:
            grant.expires_at = self._wall_clock() + self._rotation_expires_in
            refresh = f"xoxe-1-{team_id}-{self._issued}"
            self._refresh_tokens[refresh] = team_id
            body["refresh_token"] = refresh
            body["expires_in"] = self._rotation_expires_in
        self._grants[token] = grant
        return body

    async def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket.open_url()}

    async def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(_required(args, "channel"))
        _validate(args)
        thread_ts = args.get("thread_ts")
        if thread_ts is not None:
            thread_ts = self._thread_parent(channel.id, str(thread_ts))
        message = _Message(
            team=self._team,
            channel=channel.id,
            ts=self._next_ts(),
            text=args["text"],
            blocks=copy.deepcopy(args.get("blocks")),
            metadata=copy.deepcopy(args.get("metadata")),
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and _truthy(args.get("reply_broadcast")),
        )
        self._messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts, "message": self._api_message(message)}

    async def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/chat.delete: channel and ts required; "with a bot token,
        # this method may delete only messages posted by that bot" (every message here is the bot's);
        # errors message_not_found, channel_not_found, cant_delete_message. Tier 3.
        channel = self._readable_channel(_required(args, "channel"))
        ts = _required(args, "ts")
        for message in self._messages:
            if message.channel == channel.id and message.ts == ts:
                self._messages.remove(message)
                self.deleted.append((channel.id, ts))
                return {"ok": True, "channel": channel.id, "ts": ts}
        raise _SlackError("message_not_found")

    async def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(_required(args, "channel"))
        user = _required(args, "user")
        if user not in self._users:
            raise _SlackError("user_not_found")
        _validate(args)
        message_ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "text": args["text"],
                "blocks": copy.deepcopy(args.get("blocks")),
                "thread_ts": args.get("thread_ts"),
                "message_ts": message_ts,
            }
        )
        return {"ok": True, "message_ts": message_ts}

    async def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(_required(args, "channel"))
        ts = _required(args, "ts")
        message = next((m for m in self._messages if m.channel == channel.id and m.ts == ts), None)
        if message is None:
            raise _SlackError("message_not_found")
        _validate(args)
        message.text = args["text"]
        if "blocks" in args:
            message.blocks = copy.deepcopy(args["blocks"])
        if "metadata" in args:
            message.metadata = copy.deepcopy(args["metadata"])
        message.edited_ts = self._next_ts()
        return {
            "ok": True,
            "channel": channel.id,
            "ts": ts,
            "text": message.text,
            "message": self._api_message(message),
        }

    async def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._readable_channel(str(args["channel"]))
            return {"ok": True, "channel": {"id": channel.id}}
        users = [u for u in str(_required(args, "users")).split(",") if u]
        if len(users) != 1:
            raise _SlackError("invalid_arguments", messages=["[ERROR] the fake opens 1:1 DMs only"])
        channel_id, already_open = self._open_dm(users[0])
        body: dict[str, Any] = {"ok": True, "channel": {"id": channel_id}}
        if already_open:
            body.update(no_op=True, already_open=True)
        return body

    async def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(_required(args, "channel"), history=True)
        in_history = [
            m
            for m in self._messages
            if m.channel == channel.id and (m.thread_ts is None or m.thread_ts == m.ts or m.reply_broadcast)
        ]
        inclusive = _truthy(args.get("inclusive"))
        oldest = _ts_arg(args, "oldest", "0")
        latest = _ts_arg(args, "latest", None)
        selected = [m for m in in_history if _in_window(m.ts, oldest, latest, inclusive=inclusive)]
        selected.sort(key=lambda m: _ts_key(m.ts), reverse=True)
        cursor = _decode_cursor(args.get("cursor"))
        if cursor is not None:
            selected = [m for m in selected if _ts_key(m.ts) <= _ts_key(cursor)]
        limit = _limit(args, default=100, maximum=_MAX_HISTORY_LIMIT)
        page, rest = selected[:limit], selected[limit:]
        include_metadata = _truthy(args.get("include_all_metadata"))
        body: dict[str, Any] = {
            "ok": True,
            "messages": [self._api_message(m, include_metadata=include_metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
        }
        if rest:
            body["response_metadata"] = {"next_cursor": _encode_cursor(rest[0].ts)}
        return body

    async def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(_required(args, "channel"), history=True)
        parent_ts = self._thread_parent(channel.id, str(_required(args, "ts")))
        thread = [
            m for m in self._messages if m.channel == channel.id and (m.ts == parent_ts or m.thread_ts == parent_ts)
        ]
        thread.sort(key=lambda m: _ts_key(m.ts))
        cursor = _decode_cursor(args.get("cursor"))
        if cursor is not None:
            thread = [m for m in thread if _ts_key(m.ts) >= _ts_key(cursor)]
        limit = _limit(args, default=1000, maximum=1000)
        page, rest = thread[:limit], thread[limit:]
        include_metadata = _truthy(args.get("include_all_metadata"))
        body: dict[str, Any] = {
            "ok": True,
            "messages": [self._api_message(m, include_metadata=include_metadata) for m in page],
            "has_more": bool(rest),
        }
        if rest:
            body["response_metadata"] = {"next_cursor": _encode_cursor(rest[0].ts)}
        return body

    async def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(_required(args, "channel"))
        info: dict[str, Any] = {
            "id": channel.id,
            "created": channel.created,
            "is_archived": channel.is_archived,
        }
        if channel.is_im:
            info.update(is_im=True, user=channel.user, is_open=True)
        else:
            info.update(
                name=channel.name,
                is_channel=not channel.is_private,
                is_group=channel.is_private,
                is_im=False,
                is_private=channel.is_private,
                is_member=channel.is_member,
            )
        return {"ok": True, "channel": info}

    async def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(_required(args, "user")))
        if user is None:
            raise _SlackError("user_not_found")
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "real_name": user.real_name,
                "deleted": user.deleted,
                "is_admin": user.is_admin,
                "is_owner": user.is_owner,
                "is_bot": user.is_bot,
                "tz": "Etc/UTC",
                "profile": {"real_name": user.real_name, "display_name": user.name},
            },
        }

    # -- model helpers -------------------------------------------------------------------------

    def _channel_id(self, channel: str) -> str | None:
        if channel in self._channels:
            return channel
        if channel in self._users:
            return self._dms.get(channel)
        name = channel.removeprefix("#")
        return next((c.id for c in self._channels.values() if c.name == name and not c.is_im), None)

    def _in_team(self, channel: _Channel) -> bool:
        return channel.is_im or channel.team in ("", self._team)

    def _writable_channel(self, raw: str) -> _Channel:
        if raw in self._users and raw not in self._channels:
            # Posting to a user id posts to the DM with that user (opening it if need be).
            channel_id, _ = self._open_dm(raw)
            return self._channels[channel_id]
        channel = self._readable_channel(raw)
        if channel.error is not None:
            raise _SlackError(channel.error)
        if channel.is_archived:
            raise _SlackError("is_archived")
        if not channel.is_member:
            raise _SlackError("not_in_channel")
        return channel

    def _readable_channel(self, raw: str, *, history: bool = False) -> _Channel:
        channel_id = self._channel_id(raw)
        channel = self._channels.get(channel_id) if channel_id is not None else None
        if channel is None or channel.error == "channel_not_found" or not self._in_team(channel):
            raise _SlackError("channel_not_found")
        if history and (channel.error == "not_in_channel" or not channel.is_member):
            raise _SlackError("not_in_channel")
        return channel

    def _open_dm(self, user_id: str) -> tuple[str, bool]:
        user = self._users.get(user_id)
        if user is None:
            raise _SlackError("user_not_found")
        if user.dm_error is not None:
            raise _SlackError(user.dm_error)
        if user_id in self._dms:
            return self._dms[user_id], True
        channel_id = f"D{len(self._dms) + 1:08d}"
        self._channels[channel_id] = _Channel(id=channel_id, name=channel_id.lower(), is_im=True, user=user_id)
        self._dms[user_id] = channel_id
        return channel_id, False

    def _thread_parent(self, channel_id: str, ts: str) -> str:
        if not _TS.fullmatch(ts):
            raise _SlackError("invalid_thread_ts", messages=[f"[ERROR] {ts} is not a valid thread_ts"])
        message = next((m for m in self._messages if m.channel == channel_id and m.ts == ts), None)
        if message is None:
            raise _SlackError("thread_not_found")
        return message.thread_ts or message.ts

    def _next_ts(self) -> str:
        micros = max(self._last_ts_micros + 1, int(self._wall_clock() * 1_000_000))
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _api_message(self, m: _Message, *, include_metadata: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": m.team or self.team_id,
            "text": m.text,
            "ts": m.ts,
        }
        if m.blocks:
            body["blocks"] = _with_block_ids(m.ts, m.blocks)
        if m.thread_ts is not None:
            body["thread_ts"] = m.thread_ts
            if m.thread_ts != m.ts:
                body["parent_user_id"] = self.bot_user_id
        replies = [r for r in self._messages if r.thread_ts == m.ts and r.ts != m.ts and r.channel == m.channel]
        if replies:
            body.update(thread_ts=m.ts, reply_count=len(replies), latest_reply=replies[-1].ts)
        if m.edited_ts is not None:
            body["edited"] = {"user": self.bot_user_id, "ts": m.edited_ts}
        if include_metadata and m.metadata is not None:
            body["metadata"] = copy.deepcopy(m.metadata)
        return body


# -- request parsing and small pure helpers ------------------------------------------------------


async def _read_args(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Merge query, form and JSON arguments the way Slack accepts them; return (args, token argument)."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise _SlackError("invalid_json") from exc
            if not isinstance(body, dict):
                raise _SlackError("invalid_json")
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            raise _SlackError("invalid_post_type")
    token = args.pop("token", None)
    for key, error in (("blocks", "invalid_blocks_format"), ("metadata", "invalid_metadata_format")):
        if isinstance(args.get(key), str):
            # Form-encoded requests carry blocks and metadata as JSON strings.
            try:
                args[key] = json.loads(args[key])
            except json.JSONDecodeError as exc:
                raise _SlackError(error) from exc
    return args, token


def _client_auth(request: web.Request, args: Mapping[str, Any]) -> str | None:
    """Return ``client_id:client_secret`` from HTTP Basic auth (or the form fields), as oauth.v2.access takes them."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
    if "client_id" in args and "client_secret" in args:
        return f"{args['client_id']}:{args['client_secret']}"
    return None


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _error_body(exc: _SlackError) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": exc.error}
    if exc.messages:
        body["errors"] = [m.removeprefix("[ERROR] ") for m in exc.messages]
        body["response_metadata"] = {"messages": exc.messages}
    return body


def _validate(args: Mapping[str, Any]) -> None:
    violations = check_message(args)
    if violations:
        raise _SlackError(_pick_error(violations), messages=[f"[ERROR] {v}" for v in violations])


def _pick_error(violations: list[Violation]) -> str:
    codes = {v.error for v in violations}
    return next((code for code in _ERROR_PRIORITY if code in codes), violations[0].error)


def _required(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key)
    if value is None or value == "":
        raise _SlackError("invalid_arguments", messages=[f"[ERROR] missing required field: {key}"])
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int((micros or "0").ljust(6, "0")[:6])


def _ts_arg(args: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = args.get(key, default)
    if value is None:
        return None
    value = str(value)
    if not re.fullmatch(r"\d+(\.\d+)?", value):
        raise _SlackError("invalid_ts_" + key)
    return value


def _in_window(ts: str, oldest: str | None, latest: str | None, *, inclusive: bool) -> bool:
    key = _ts_key(ts)
    if oldest is not None and (key < _ts_key(oldest) or (key == _ts_key(oldest) and not inclusive)):
        return False
    return latest is None or key < _ts_key(latest) or (key == _ts_key(latest) and inclusive)


def _limit(args: Mapping[str, Any], *, default: int, maximum: int) -> int:
    raw = args.get("limit", default)
    try:
        limit = int(raw)
    except (TypeError, ValueError) as exc:
        raise _SlackError("invalid_limit") from exc
    return max(1, min(limit, maximum)) if limit > 0 else default


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: Any) -> str | None:
    if not cursor:
        return None
    try:
        text = base64.b64decode(str(cursor), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _SlackError("invalid_cursor") from exc
    ts = text.removeprefix("next_ts:")
    if text == ts or not _TS.fullmatch(ts):
        raise _SlackError("invalid_cursor")
    return ts


def _with_block_ids(ts: str, blocks: list[Any]) -> list[Any]:
    """Return ``blocks`` with a block_id on each, as Slack fills in the ones a sender left out."""
    out = []
    for i, block in enumerate(copy.deepcopy(blocks)):
        if isinstance(block, dict) and "block_id" not in block:
            block["block_id"] = hashlib.sha1(f"{ts}/{i}".encode()).hexdigest()[:5]
        out.append(block)
    return out
