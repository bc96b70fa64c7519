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

With ``slack.oauth`` (HTTP mode) the app serves many workspaces: bolt runs ``/slack/install`` and
``/slack/oauth_redirect`` and authorizes each request from the installations in digestbot's database
(:mod:`adapters.slack_install`); posts use the bot token of the target's workspace. A workspace that
uninstalls (``app_uninstalled``), revokes its tokens (``tokens_revoked``) or whose token Slack refuses
while posting is paused (:mod:`digestbot.workspaces`) and its sends raise
:class:`~digestbot.errors.PausedError`: skipped, not failed, the other workspaces unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
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
from adapters.slack_install import WorkspaceTokens, oauth_settings
from adapters.slack_render import render_slack
from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.dispatch import CommandRequest, dispatch
from digestbot.errors import (
    AuthError,
    ConfigError,
    DeliveryError,
    PausedError,
    TokenRefusedError,
    UnavailableError,
)
from digestbot.http_status import retry_after_of
from digestbot.ports import Sent, Target
from digestbot.reconnect import until_reachable
from digestbot.store import Store
from digestbot.store.protocol import StoreProtocol
from digestbot.workspaces import REVOKED, UNINSTALLED, pause_workspace

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


def web_client(
    config: Config, *, posting: bool, session: aiohttp.ClientSession | None = None, token: str | None = None
) -> AsyncWebClient:
    """Build a Web API client: ``posting`` ones retry nothing, 429s included (see module docstring).

    ``token`` is a workspace's bot token (OAuth installs); default ``slack.bot_token``, or none at all.
    """
    handlers: list[Any] = []
    if not posting:
        handlers = [AsyncConnectionErrorRetryHandler(), _ShortRateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES)]
    return AsyncWebClient(
        token=token or config.slack.bot_token or None,
        base_url=api_base_url(config),
        session=session,
        timeout=TIMEOUT,
        retry_handlers=handlers,
    )


class SlackAdapter:
    """Post to Slack channels and DMs with the real Web API client; find earlier posts by their metadata."""

    platform = PLATFORM

    def __init__(self, config: Config, *, database: Path | None = None, store: StoreProtocol | None = None) -> None:
        # OAuth installs: a token per workspace from the database (``store``, else one opened on ``database``).
        self.multi = config.slack.oauth is not None and not config.slack.bot_token
        if not config.slack.bot_token and not self.multi:
            raise ConfigError("slack.bot_token: not set (use ${SLACK_BOT_TOKEN})")
        self._config = config
        self._database = database
        self._store = store
        self._own_store: Store | None = None
        self._tokens: WorkspaceTokens | None = None
        self._by_workspace: dict[str, tuple[str, AsyncWebClient, AsyncWebClient]] = {}
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

    async def _workspace_tokens(self) -> WorkspaceTokens:
        if self._tokens is None:
            store = self._store
            if store is None:
                self._own_store = store = await Store.open(self._database or self._config.database)
            self._tokens = WorkspaceTokens(store, self._config, client=self.reader)
        return self._tokens

    async def _for(self, target: Target) -> tuple[AsyncWebClient, AsyncWebClient]:
        """Return the (posting, reading) clients for ``target``'s workspace: its own token under OAuth installs."""
        if not self.multi:
            return self._clients()
        token = await (await self._workspace_tokens()).token(target.workspace)
        known = self._by_workspace.get(target.workspace)
        if known is None or known[0] != token or self._session is None or self._session.closed:
            self._clients()  # the shared session
            post = web_client(self._config, posting=True, session=self._session, token=token)
            read = web_client(self._config, posting=False, session=self._session, token=token)
            known = self._by_workspace[target.workspace] = (token, post, read)
        return known[1], known[2]

    async def _failure(self, where: str, exc: SlackApiError, target: Target) -> DeliveryError:
        """Map a failed call; under OAuth installs a refused token concerns that workspace alone, not Slack.

        ``token_expired`` is retried after a refresh; any other refusal means the workspace took the
        token back: it is paused (:class:`PausedError`) instead of stopping every workspace (AuthError).
        """
        mapped = self._error(where, exc)
        if not self.multi or not isinstance(mapped, AuthError):
            return mapped
        error = str(exc.response.get("error", "") or "") or f"HTTP {exc.response.status_code}"
        tokens = await self._workspace_tokens()
        self._by_workspace.pop(target.workspace, None)
        if error == "token_expired":
            tokens.expired(target.workspace)
            return DeliveryError(f"slack {where}: token_expired; the workspace's token is refreshed before a retry")
        await tokens.pause(target.workspace, reason=f"{REVOKED} (Slack said {error})")
        return PausedError(f"slack {where}: {error}: workspace {target.workspace} paused")

    async def start(self) -> None:
        """Check the token with ``auth.test`` and learn the bot's user and workspace ids.

        Under OAuth installs there is no one token to check: the installation store is opened instead.
        """
        if self.multi:
            await self._workspace_tokens()
            log.info("slack: posting with each workspace's own token (OAuth installs)")
            return
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

    async def _channel_of(self, target: Target, read: AsyncWebClient) -> str:
        if target.kind == "channel":
            return target.id
        dm_key = f"{target.workspace}:{target.id}"
        if dm_key in self._dms:
            return self._dms[dm_key]
        try:
            opened = await read.conversations_open(users=target.id)
        except SlackApiError as exc:
            raise await self._failure(f"conversations.open {target}", exc, target) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack conversations.open {target}: {exc!r}") from None
        channel_id = str(opened["channel"]["id"])
        self._dms[dm_key] = channel_id
        return channel_id

    async def send(self, target: Target, payload: dict[str, Any], *, key: str, thread: str | None = None) -> Sent:
        """Post one payload marked with ``key`` (in ``thread`` when given); map failures to DeliveryError."""
        post, read = await self._for(target)
        channel = await self._channel_of(target, read)
        args = marked(payload, key)
        args["channel"] = channel
        if thread:
            args["thread_ts"] = thread
        try:
            response = await post.chat_postMessage(**args)
        except SlackApiError as exc:
            raise await self._failure(f"chat.postMessage {target}", exc, target) from None
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
        _, read = await self._for(target)
        channel = await self._channel_of(target, read)
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
            raise await self._failure(f"conversations.history {target}", exc, target) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack conversations.history {target}: {exc!r}") from None
        return None

    async def close(self) -> None:
        """Close the HTTP session (and the installation store's connection, if this adapter opened it)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = self._post = self._read = None
        self._by_workspace.clear()
        if self._own_store is not None:
            await self._own_store.close()
            self._own_store = None
            self._tokens = None


def create_adapter(config: Config, *, database: Path | None = None) -> SlackAdapter:
    """Return the Slack adapter for ``digestbot post``/``run`` (REST only; ``start()`` checks the token)."""
    return SlackAdapter(config, database=database)


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
    """Build the bolt app answering every slash command and the share button through the core handlers.

    With ``slack.oauth`` it also runs the install flow and pauses workspaces that remove the app.
    """
    oauth = config.slack.oauth
    app = AsyncApp(
        client=client,
        signing_secret=config.slack.signing_secret,
        name="digestbot",
        logger=logging.getLogger("adapters.slack_app.bolt"),
        # Socket Mode requests carry no signature; bolt skips verification for them itself.
        request_verification_enabled=True,
        oauth_settings=oauth_settings(oauth, store, on_change=on_change) if oauth is not None else None,
    )
    if oauth is not None:
        _workspace_events(app, config, store, on_change=on_change)

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


def _workspace_events(
    app: AsyncApp, config: Config, store: StoreProtocol, *, on_change: Callable[[], None] | None
) -> None:
    """Pause a workspace's channels when it uninstalls the app or revokes the bot token."""

    async def pause(body: dict[str, Any], reason: str) -> None:
        await pause_workspace(store, config, str(body.get("team_id") or ""), reason=reason)
        if on_change is not None:
            on_change()

    @app.event("app_uninstalled")
    async def uninstalled(body: dict[str, Any]) -> None:
        await pause(body, UNINSTALLED)

    @app.event("tokens_revoked")
    async def revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):  # user tokens alone: digestbot holds none
            await pause(body, REVOKED)


def http_app(app: AsyncApp, *, path: str = "/slack/events") -> web.Application:
    """Wrap the bolt app for HTTP mode: bolt verifies each request's signature before any handler runs.

    With OAuth installs, ``GET /slack/install`` and ``GET /slack/oauth_redirect`` go to bolt's OAuth flow
    (as bolt's own aiohttp server routes them).
    """

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post(path, handle)
    flow = app.oauth_flow
    if flow is not None:

        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

        async def redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

        web_app.router.add_get(flow.install_path, install)
        web_app.router.add_get(flow.redirect_uri_path, redirect)
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
    if config.slack.mode == "socket" and config.slack.oauth is None:
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
        if config.slack.oauth is not None:
            log.info("slack: installs at /slack/install, OAuth redirects at /slack/oauth_redirect")
        await stop.wait()
    finally:
        await runner.cleanup()
