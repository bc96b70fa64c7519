"""Discord REST plumbing shared by the poster, the gateway client and command sync.

Why a module of its own: every way digestbot talks to Discord (posting over REST, logging the
gateway client in, syncing commands) needs the same few rules — where the API is
(:func:`set_api_base`), how a refused or missing token reads (:func:`bot_token`,
:func:`refused_token`), what "unreachable" means, and how a failed request becomes a
:class:`~digestbot.errors.DeliveryError` (:func:`call`).

A 429 is **not** retried by discord.py on the posting client: discord.py would sleep
``retry_after`` inside the request (up to ``max_ratelimit_timeout``, which it never lets go below
30 s) while the engine holds a send slot. An aiohttp trace hook (:func:`surface_429s`, given to
discord.py as ``http_trace``) turns every 429 into a transient DeliveryError with its
``retry_after``, so the engine's pacer alone owns rate limits. discord.py still spaces requests by
the ``X-RateLimit-*`` bucket headers of successful answers.

``discord.api_base_url`` moves every REST call (interaction callbacks included) elsewhere by
setting ``discord.http.Route.BASE``, which is process-wide: one Discord configuration per process.
The token is only ever given to discord.py; it is never logged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

import aiohttp
import discord
import discord.http

from adapters.discord_commands import HttpFailure, delivery_error
from digestbot.config import Config
from digestbot.errors import ConfigError, DeliveryError, TokenRefusedError, UnavailableError
from digestbot.http_status import retry_after_of

T = TypeVar("T")

RATE_LIMIT_WAIT_MAX = 30.0
"""Longest bucket wait discord.py sleeps through itself (its minimum); longer ones raise ``RateLimited``.

On the gateway client this also bounds its 429 sleeps; the posting client never sleeps on a 429
(see :func:`surface_429s`).
"""


DISCORD_API_BASE: Final = "https://discord.com/api/v10"


def set_api_base(url: str) -> None:
    """Send every discord.py REST call of this process to ``url`` (Discord, a proxy, or a test fake)."""
    discord.http.Route.BASE = url.rstrip("/")


UNREACHABLE = (aiohttp.ClientConnectionError, TimeoutError, OSError)
"""What discord.py raises when Discord's API cannot be reached at all (no network, DNS, refused)."""


def bot_token(config: Config) -> str:
    """Return ``discord.token``, or raise the one-line ConfigError saying how to set it."""
    token = config.discord.token
    if not token:
        raise ConfigError("discord.token: not set (put ${DISCORD_TOKEN} there and export the bot token)")
    return token


def refused_token() -> TokenRefusedError:
    """Return the one-line error for a bot token Discord refuses at login (any of the three logins)."""
    return TokenRefusedError("discord.token: Discord rejected the bot token (401 Unauthorized)")


def unreachable(config: Config, exc: BaseException) -> UnavailableError:
    """Return the one-line error for a Discord API that cannot be reached: where, and why."""
    return UnavailableError(f"discord: cannot reach {config.discord.api_base_url} ({type(exc).__name__}: {exc})")


def failure(exc: discord.HTTPException) -> HttpFailure:
    """Return the platform-neutral description of a failed request (for :func:`delivery_error`)."""
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


def surface_429s() -> aiohttp.TraceConfig:
    """Return a trace config that raises :class:`RateLimitAnswer` for every 429 response."""

    async def on_request_end(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if params.response.status == 429:
            raise RateLimitAnswer(_retry_after(params.response.headers))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


async def call(where: str, request: Awaitable[T]) -> T:
    """Await a discord.py request, turning every failure into a DeliveryError."""
    try:
        return await request
    except RateLimitAnswer as exc:
        what = f"{where}: Discord said 429 (retry after {exc.retry_after:.3f} s)"
        raise DeliveryError(what, retry_after=exc.retry_after) from None
    except discord.RateLimited as exc:
        raise DeliveryError(f"{where}: rate limited for {exc.retry_after:.0f} s", retry_after=exc.retry_after) from None
    except discord.HTTPException as exc:
        raise delivery_error(where, failure(exc)) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"{where}: cannot reach Discord: {type(exc).__name__}: {exc}") from None


def snowflake(value: str, what: str) -> int:
    """Return ``value`` as a Discord id; a non-number is a permanent DeliveryError naming ``what``."""
    if not re.fullmatch(r"\d{1,20}", value.strip()):
        raise DeliveryError(f"{what} {value!r} is not a Discord id (a number)", permanent=True)
    return int(value)
