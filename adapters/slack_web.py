"""Slack Web API clients and the rules every call shares: which client retries what, and how errors read.

Why a module of its own: the poster (:mod:`adapters.slack_poster`), the bolt app and the Socket Mode
runner all build their ``slack_sdk`` clients here, map a failed call to a
:class:`~digestbot.errors.DeliveryError` here (:func:`api_error`), and check a token here
(:func:`token_call`: a refused token is one line naming its config key).

* the **posting** client retries nothing. A 429 comes straight back as a transient DeliveryError
  with its ``Retry-After``, so the delivery engine's pacer alone owns rate limits (a library sleeping
  inside ``chat_postMessage`` would hold the engine's send slot, and for as long as Slack asks). No
  connection-error retry either: slack_sdk's default ``AsyncConnectionErrorRetryHandler`` would
  re-send a ``chat.postMessage`` whose first attempt may have landed;
* the **reading** client (history, ``conversations.open``, ``users.info``) retries connection
  errors (those calls are safe to repeat) and sits out a few 429s, each only when Slack asks for at
  most :data:`READ_RETRY_AFTER_MAX` seconds; a longer wait becomes a transient DeliveryError.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack_commands import REFUSED_TOKEN, delivery_error
from digestbot.config import Config
from digestbot.errors import DeliveryError, TokenRefusedError, UnavailableError
from digestbot.http_status import retry_after_of

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


TIMEOUT = 30


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


def api_error(where: str, exc: SlackApiError) -> DeliveryError:
    """Map a failed Web API call to a DeliveryError (permanent, transient or a refused token)."""
    response = exc.response
    return delivery_error(
        where,
        error=str(response.get("error", "") or ""),
        status=int(response.status_code),
        retry_after=retry_after_of(dict(response.headers or {})),
    )


async def open_socket_url(client: AsyncWebClient, app_token: str) -> str:
    """Ask ``apps.connections.open`` for a Socket Mode URL; a refused app token is a ConfigError.

    slack_sdk's socket client would retry a refused token forever (logging a traceback every
    ``ping_interval``), so ``serve`` opens the first URL itself and hands it to the client.
    """
    response = await token_call(
        client.apps_connections_open(app_token=app_token),
        method="apps.connections.open",
        token_key="slack.app_token",
        client=client,
        hint="; use the app-level xapp-… token",
    )
    return str(response["url"])


async def token_call(
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
        raise api_error(method, exc) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise UnavailableError(f"slack {method}: cannot reach {client.base_url} ({why})") from None
