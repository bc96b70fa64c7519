"""The Slack adapter: posting over the Web API (``create_adapter``) and slash commands over slack-bolt (``serve``).

Posting and reading are two ``slack_sdk`` clients on one aiohttp session:

* the **posting** client retries nothing. A 429 comes straight back as a transient
  :class:`~digestbot.errors.DeliveryError` with its ``Retry-After``, so the delivery engine's pacer
  alone owns rate limits (a library sleeping inside ``chat_postMessage`` would hold the engine's
  send slot, and for as long as Slack asks). No connection-error retry either: slack_sdk's default
  ``AsyncConnectionErrorRetryHandler`` would re-send a ``chat.postMessage`` whose first attempt may
  have landed (connection reset after Slack accepted it). Such a failure surfaces as a transient
  DeliveryError and the engine asks :meth:`SlackAdapter.find_sent` first;
* the **reading** client (history, ``conversations.open``, ``users.info``) retries connection
  errors (those calls are safe to repeat) and sits out a few 429s, each only when Slack asks for at
  most :data:`READ_RETRY_AFTER_MAX` seconds; a longer wait becomes a transient DeliveryError.

Every post carries message metadata (``event_type`` ``digestbot_post``, ``event_payload.key`` = the
delivery key), and :meth:`SlackAdapter.find_sent` looks for it in ``conversations.history`` (with
``include_all_metadata``) and in the threads the bot started there.

Slash commands (``/paper``, ``/subscribe``, ``/unsubscribe``, ``/subscriptions``, ``/digest``) and the
"Share in channel" button are acknowledged first and answered through ``response_url``, by the same
core handlers every adapter uses; :mod:`adapters.slack_commands` holds the pure mapping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack_commands import (
    COMMANDS,
    REFUSED_TOKEN,
    SHARE_ACTION,
    delivery_error,
    find_marked,
    is_admin,
    key_of,
    marked,
    parse_share,
    parse_slash,
    reply_bodies,
)
from adapters.slack_render import render_slack
from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.dispatch import CommandRequest, dispatch
from digestbot.errors import ConfigError, DeliveryError, TokenRefusedError, UnavailableError
from digestbot.http_status import retry_after_of
from digestbot.ports import Sent, Target
from digestbot.reconnect import until_reachable
from digestbot.store.protocol import StoreProtocol

log = logging.getLogger(__name__)

PLATFORM = "slack"
RATE_LIMIT_RETRIES = 5
"""How many 429s in a row the *reading* client sits out (each for ``Retry-After``) before it gives up."""

READ_RETRY_AFTER_MAX = 30
"""Longest ``Retry-After`` (seconds) the reading client sleeps through; longer ones come back as errors."""


class _ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 retry, but only for a ``Retry-After`` of at most :data:`READ_RETRY_AFTER_MAX` seconds."""

    async def _can_retry_async(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_of(response.headers)
        return wait is None or wait <= READ_RETRY_AFTER_MAX

HISTORY_PAGE = 200
HISTORY_PAGES = 3
"""find_sent scans the newest 600 messages: a digest is found the same day, long after a restart."""

THREADS_TO_SCAN = 10
"""Of those, the newest threads the bot started are searched for later parts posted as replies."""

TIMEOUT = 30
_MISSING_SCOPE = frozenset({"missing_scope", "not_allowed_token_type"})
def api_base_url(config: Config) -> str:
    """Return ``slack.api_base_url`` ending in ``/`` as slack_sdk expects."""
    url = config.slack.api_base_url
    return url if url.endswith("/") else url + "/"


def web_client(config: Config, *, posting: bool, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """Build a Web API client: ``posting`` ones retry nothing, 429s included (see module docstring)."""
    handlers: list[Any] = []
    if not posting:
        handlers = [AsyncConnectionErrorRetryHandler(), _ShortRateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES)]
    return AsyncWebClient(
        token=config.slack.bot_token,
        base_url=api_base_url(config),
        session=session,
        timeout=TIMEOUT,
        retry_handlers=handlers,
    )


class SlackAdapter:
    """Post to Slack channels and DMs with the real Web API client; find earlier posts by their metadata."""

    platform = PLATFORM

    def __init__(self, config: Config) -> None:
        if not config.slack.bot_token:
            raise ConfigError("slack.bot_token: not set (use ${SLACK_BOT_TOKEN})")
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._post: AsyncWebClient | None = None
        self._read: AsyncWebClient | None = None
        self._dms: dict[str, str] = {}
        self._sent: dict[tuple[str, str], Sent] = {}
        self.bot_user_id = ""
        self.team_id = ""

    def _clients(self) -> tuple[AsyncWebClient, AsyncWebClient]:
        if self._post is None or self._read is None or self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
            self._post = web_client(self._config, posting=True, session=self._session)
            self._read = web_client(self._config, posting=False, session=self._session)
        return self._post, self._read

    @property
    def reader(self) -> AsyncWebClient:
        """The retrying read client (shared with the bolt app for ``users.info``)."""
        return self._clients()[1]

    async def start(self) -> None:
        """Check the token with ``auth.test`` and learn the bot's user and workspace ids."""
        # The posting client: it does not retry a refused connection itself, so under ``run`` the
        # reconnect loop is the one retrying (one log line per attempt) and ``post`` fails at once.
        post, _ = self._clients()
        try:
            auth = await _token_call(post.auth_test(), method="auth.test", token_key="slack.bot_token", client=post)
        except BaseException:
            await self.close()  # no "Unclosed client session" noise after the one-line error
            raise
        self.bot_user_id = str(auth.get("user_id", ""))
        self.team_id = str(auth.get("team_id", ""))
        log.info("slack: connected as %s in workspace %s", self.bot_user_id, self.team_id)

    def render(self, message: Message) -> list[dict[str, Any]]:
        """Render with the Slack renderer (one ``chat.postMessage`` argument set per part)."""
        return render_slack(message)

    @staticmethod
    def _error(where: str, exc: SlackApiError) -> DeliveryError:
        response = exc.response
        return delivery_error(
            where,
            error=str(response.get("error", "") or ""),
            status=int(response.status_code),
            retry_after=retry_after_of(dict(response.headers or {})),
        )

    async def _channel_of(self, target: Target) -> str:
        if target.kind == "channel":
            return target.id
        if target.id in self._dms:
            return self._dms[target.id]
        _, read = self._clients()
        try:
            opened = await read.conversations_open(users=target.id)
        except SlackApiError as exc:
            raise self._error(f"conversations.open {target}", exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack conversations.open {target}: {exc!r}") from None
        channel_id = str(opened["channel"]["id"])
        self._dms[target.id] = channel_id
        return channel_id

    async def send(self, target: Target, payload: dict[str, Any], *, key: str, thread: str | None = None) -> Sent:
        """Post one payload marked with ``key`` (in ``thread`` when given); map failures to DeliveryError."""
        channel = await self._channel_of(target)
        post, _ = self._clients()
        args = marked(payload, key)
        args["channel"] = channel
        if thread:
            args["thread_ts"] = thread
        try:
            response = await post.chat_postMessage(**args)
        except SlackApiError as exc:
            raise self._error(f"chat.postMessage {target}", exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The post may or may not have landed: the engine reconciles with find_sent before retrying.
            raise DeliveryError(f"slack chat.postMessage {target}: outcome unknown ({exc!r})") from None
        sent = Sent(message_id=str(response["ts"]), channel_id=str(response.get("channel", channel)))
        self._sent[(str(target), key)] = sent
        log.debug("slack: posted %s to %s as %s", key, target, sent.message_id)
        return sent

    async def _pages(self, call: Callable[..., Awaitable[Any]], **args: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(HISTORY_PAGES):
            page = await call(
                **args, limit=HISTORY_PAGE, include_all_metadata=True, **({"cursor": cursor} if cursor else {})
            )
            messages.extend(page.get("messages") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
        return messages

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        """Return the post marked ``key`` at ``target`` from recent history and the bot's recent threads.

        The newest :data:`HISTORY_PAGES` pages whatever ``since`` says (Slack's 1 msg/s per channel keeps
        600 messages a span of at least 10 minutes; a busy channel can push an older post out of reach).
        """
        if (known := self._sent.get((str(target), key))) is not None:
            return known
        channel = await self._channel_of(target)
        _, read = self._clients()
        try:
            history = await self._pages(read.conversations_history, channel=channel)
            if (found := find_marked(history, key)) is not None:
                return Sent(message_id=str(found["ts"]), channel_id=channel)
            parents = [m for m in history if key_of(m) is not None and int(m.get("reply_count") or 0) > 0]
            for parent in parents[:THREADS_TO_SCAN]:
                replies = await self._pages(read.conversations_replies, channel=channel, ts=parent["ts"])
                if (found := find_marked(replies, key)) is not None:
                    return Sent(message_id=str(found["ts"]), channel_id=channel)
        except SlackApiError as exc:
            if str(exc.response.get("error", "")) in _MISSING_SCOPE:
                log.warning(
                    "slack: cannot read history of %s (%s): posts cannot be reconciled", target, exc.response["error"]
                )
                return None
            raise self._error(f"conversations.history {target}", exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack conversations.history {target}: {exc!r}") from None
        return None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = self._post = self._read = None


def create_adapter(config: Config) -> SlackAdapter:
    """Return the Slack adapter for ``digestbot post``/``run`` (REST only; ``start()`` checks the token)."""
    return SlackAdapter(config)


# -- slash commands -----------------------------------------------------------------------------------


async def _user_is_admin(client: AsyncWebClient, user_id: str, admins: tuple[str, ...]) -> bool:
    if user_id in admins:
        return True
    try:
        info = await client.users_info(user=user_id)
    except SlackApiError as exc:
        log.warning("slack: users.info for %s failed (%s): treating as non-admin", user_id, exc.response.get("error"))
        return False
    return is_admin(info.get("user") or {}, user_id, admins)


async def open_socket_url(client: AsyncWebClient, app_token: str) -> str:
    """Ask ``apps.connections.open`` for a Socket Mode URL; a refused app token is a ConfigError.

    slack_sdk's socket client would retry a refused token forever (logging a traceback every
    ``ping_interval``), so ``serve`` opens the first URL itself and hands it to the client.
    """
    response = await _token_call(
        client.apps_connections_open(app_token=app_token),
        method="apps.connections.open",
        token_key="slack.app_token",
        client=client,
        hint="; use the app-level xapp-… token",
    )
    return str(response["url"])


async def _token_call(
    call: Awaitable[AsyncSlackResponse], *, method: str, token_key: str, client: AsyncWebClient, hint: str = ""
) -> AsyncSlackResponse:
    """Await a Slack call that proves a token: a refused token is a ConfigError naming the config key.

    Anything else Slack answers is a DeliveryError, like every other call; an unreachable API is an
    UnavailableError (``run`` tries again, other commands exit 1).
    """
    try:
        return await call
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        # account_inactive is the target user's at conversations.open, but the bot's own here.
        if error in REFUSED_TOKEN or error == "account_inactive":
            raise TokenRefusedError(f"{token_key}: Slack refused it ({error}){hint}") from None
        raise SlackAdapter._error(method, exc) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise UnavailableError(f"slack {method}: cannot reach {client.base_url} ({why})") from None


def build_app(
    config: Config,
    store: StoreProtocol,
    *,
    client: AsyncWebClient,
    engine: DigestPoster | None = None,
    on_change: Callable[[], None] | None = None,
) -> AsyncApp:
    """Build the bolt app answering every slash command and the share button through the core handlers."""
    app = AsyncApp(
        client=client,
        signing_secret=config.slack.signing_secret,
        name="digestbot",
        logger=logging.getLogger("adapters.slack_app.bolt"),
        # Socket Mode requests carry no signature; bolt skips verification for them itself.
        request_verification_enabled=True,
    )

    async def answer(respond: Any, request: CommandRequest) -> None:
        reply = await dispatch(request, store=store, config=config, engine=engine, on_change=on_change)
        payloads = render_slack(reply.message) if reply.message else []
        for body in reply_bodies(reply, payloads, keep_original=request.command == "share"):
            await respond(**body)

    async def command(ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()  # within Slack's 3 s; the answer follows through response_url
        cmd = parse_slash(body)
        name = cmd.command.lstrip("/")
        admin = name == "digest" and await _user_is_admin(client, cmd.user, config.slack.admins)
        request = CommandRequest(
            platform=PLATFORM,
            workspace=cmd.workspace,
            user=cmd.user,
            channel=cmd.channel,
            command=name,
            text=cmd.text,
            is_admin=admin,
            locale=str(body.get("locale", "") or ""),
        )
        await answer(respond, request)

    for name in COMMANDS:
        app.command(name)(command)

    @app.action(SHARE_ACTION)
    async def share(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        click = parse_share(body)
        if click is None:
            return  # a forged value: nothing to answer
        request = CommandRequest(
            platform=PLATFORM,
            workspace=click.workspace,
            user=click.user,
            channel=click.channel,
            command="share",
            text=click.arxiv_id,
        )
        await answer(respond, request)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("slack: handler for %s failed: %r", body.get("command") or body.get("type"), error, exc_info=error)

    return app


def http_app(app: AsyncApp, *, path: str = "/slack/events") -> web.Application:
    """Wrap the bolt app for HTTP mode: bolt verifies each request's signature before any handler runs."""

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post(path, handle)
    return web_app


async def serve(
    config: Config,
    store: StoreProtocol,
    adapter: SlackAdapter,
    *,
    stop: asyncio.Event,
    engine: DigestPoster | None = None,
    host: str | None = None,
    on_change: Callable[[], None] | None = None,
) -> None:
    """Answer slash commands until ``stop`` is set: Socket Mode (``slack.mode: socket``) or HTTP on ``slack.port``."""
    app = build_app(config, store, client=adapter.reader, engine=engine, on_change=on_change)
    if config.slack.mode == "socket":
        if not config.slack.app_token:
            raise ConfigError("slack.app_token: Socket Mode needs an app-level token (xapp-…; ${SLACK_APP_TOKEN})")
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        opened: list[str] = []

        async def open_url() -> None:
            opened.append(await open_socket_url(adapter.reader, config.slack.app_token))

        if not await until_reachable(open_url, what="slack", stop=stop):
            return
        url = opened[0]
        handler = AsyncSocketModeHandler(app, app_token=config.slack.app_token, web_client=adapter.reader)
        # The client connects to a preset wss_uri instead of asking for one; later reconnects ask afresh.
        handler.client.wss_uri = url
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped
            log.info("slack: listening for slash commands over Socket Mode")
            await stop.wait()
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
        return
    if not config.slack.signing_secret:
        raise ConfigError("slack.signing_secret: HTTP mode needs the app's signing secret (${SLACK_SIGNING_SECRET})")
    runner = web.AppRunner(http_app(app), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, config.slack.port)
        await site.start()
        log.info("slack: listening for slash commands on port %s at /slack/events", config.slack.port)
        await stop.wait()
    finally:
        await runner.cleanup()
