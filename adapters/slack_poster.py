"""The Slack poster: digests and DMs over the Web API (``create_adapter``), found again by their metadata.

Why a module of its own: posting is what ``digestbot post`` and the scheduler need, with no bolt app
and no command server. Every post carries message metadata (``event_type`` ``digestbot_post``,
``event_payload.key`` = the delivery key), and :meth:`SlackAdapter.find_sent` looks for it in
``conversations.history`` (with ``include_all_metadata``) and in the threads the bot started there.
A failed ``chat.postMessage`` whose outcome is unknown surfaces as a transient DeliveryError and the
engine asks :meth:`SlackAdapter.find_sent` first (clients and error mapping: :mod:`adapters.slack_web`).

With ``slack.oauth`` (HTTP mode) posts use the bot token of the target's workspace from digestbot's
database (:mod:`adapters.slack_install`). A workspace whose token Slack refuses while posting is
paused (:mod:`digestbot.workspaces`) and its sends raise :class:`~digestbot.errors.PausedError`:
skipped, not failed, the other workspaces unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_commands import find_marked, key_of, marked
from adapters.slack_install import WorkspaceTokens
from adapters.slack_render import render_slack
from adapters.slack_web import TIMEOUT, api_error, token_call, web_client
from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.errors import AuthError, ConfigError, DeliveryError, PausedError
from digestbot.history_search import read_pages
from digestbot.ports import Sent, Target
from digestbot.store import open_store
from digestbot.store.protocol import StoreProtocol
from digestbot.workspaces import REVOKED

log = logging.getLogger(__name__)

PLATFORM = "slack"
HISTORY_PAGE = 200
HISTORY_PAGES = 3
"""find_sent scans the newest 600 messages: a digest is found the same day, long after a restart."""

THREADS_TO_SCAN = 10
"""Of those, the newest threads the bot started are searched for later parts posted as replies."""

_MISSING_SCOPE = frozenset({"missing_scope", "not_allowed_token_type"})


class SlackAdapter:
    """Post to Slack channels and DMs with the real Web API client; find earlier posts by their metadata."""

    platform = PLATFORM

    def __init__(
        self, config: Config, *, database: str | Path | None = None, store: StoreProtocol | None = None
    ) -> None:
        # OAuth installs: a token per workspace from the database (``store``, else one opened on ``database``).
        self.multi = config.slack.oauth is not None and not config.slack.bot_token
        if not config.slack.bot_token and not self.multi:
            raise ConfigError("slack.bot_token: not set (use ${SLACK_BOT_TOKEN})")
        self._config = config
        self._database = database
        self._store = store
        self._own_store: StoreProtocol | None = None
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
                self._own_store = store = await open_store(self._database or self._config.database)
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
        mapped = api_error(where, exc)
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
            auth = await token_call(post.auth_test(), method="auth.test", token_key="slack.bot_token", client=post)
        except BaseException:
            await self.close()  # no "Unclosed client session" noise after the one-line error
            raise
        self.bot_user_id = str(auth.get("user_id", ""))
        self.team_id = str(auth.get("team_id", ""))
        log.info("slack: connected as %s in workspace %s", self.bot_user_id, self.team_id)

    def render(self, message: Message) -> list[dict[str, Any]]:
        """Render with the Slack renderer (one ``chat.postMessage`` argument set per part)."""
        return render_slack(message)

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

    async def delete(self, target: Target, sent: Sent) -> None:
        """Delete a message this bot posted (``chat.delete``: a bot token may delete only its own); gone is fine.

        Used to take back a late second copy of a part (see :mod:`digestbot.late_copies`).
        """
        post, read = await self._for(target)
        channel = sent.channel_id or await self._channel_of(target, read)
        try:
            await post.chat_delete(channel=channel, ts=sent.message_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "message_not_found":
                return
            raise await self._failure(f"chat.delete {target}", exc, target) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack chat.delete {target}: outcome unknown ({exc!r})") from None
        self._sent = {k: v for k, v in self._sent.items() if v.message_id != sent.message_id}
        log.debug("slack: deleted %s at %s", sent.message_id, target)

    async def _pages(self, call: Callable[..., Awaitable[Any]], **args: Any) -> list[Mapping[str, Any]]:
        """Read the newest :data:`HISTORY_PAGES` pages of ``call`` (history or replies), metadata included."""

        async def read(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
            more = {"cursor": cursor} if cursor else {}
            page = await call(**args, limit=HISTORY_PAGE, include_all_metadata=True, **more)
            following = (page.get("response_metadata") or {}).get("next_cursor")
            return list(page.get("messages") or []), (following or None) if page.get("has_more") else None

        return await read_pages(read, pages=HISTORY_PAGES)

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        """Return the post marked ``key`` at ``target`` from recent history and the bot's recent threads.

        The newest :data:`HISTORY_PAGES` pages whatever ``since`` says (Slack's 1 msg/s per channel keeps
        600 messages a span of at least 10 minutes; a busy channel can push an older post out of reach).
        """
        if (known := self._sent.get((str(target), key))) is not None:
            return known
        return await self._find(target, key, besides=None)

    async def find_other(self, target: Target, key: str, *, besides: str) -> Sent | None:
        """Return a post marked ``key`` at ``target`` other than the message ``besides`` (a stray copy), if any."""
        return await self._find(target, key, besides=besides)

    async def _find(self, target: Target, key: str, *, besides: str | None) -> Sent | None:
        """Search recent history and the bot's recent threads for a post marked ``key`` (not ``besides``)."""
        _, read = await self._for(target)
        channel = await self._channel_of(target, read)

        def other(messages: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
            return [m for m in messages if besides is None or str(m.get("ts")) != besides]

        try:
            history = await self._pages(read.conversations_history, channel=channel)
            if (found := find_marked(other(history), key)) is not None:
                return Sent(message_id=str(found["ts"]), channel_id=channel)
            parents = [m for m in history if key_of(m) is not None and int(m.get("reply_count") or 0) > 0]
            for parent in parents[:THREADS_TO_SCAN]:
                replies = await self._pages(read.conversations_replies, channel=channel, ts=parent["ts"])
                if (found := find_marked(other(replies), key)) is not None:
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


def create_adapter(config: Config, *, database: str | Path | None = None) -> SlackAdapter:
    """Return the Slack adapter for ``digestbot post``/``run`` (REST only; ``start()`` checks the token)."""
    return SlackAdapter(config, database=database)
