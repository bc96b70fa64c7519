"""One GET with retries, shared by the API sources: backoff with jitter, ``Retry-After``, clear errors.

Retried: HTTP 5xx and 408, HTTP 429 (waiting what ``Retry-After`` asks), connection errors, timeouts.
Not retried: any other 4xx (the request itself is wrong; asking again cannot help). The rules are
:mod:`digestbot.http_status`'s, shared with the platform adapters.
Every failure ends as one :class:`SourceError` whose message names the URL. A body is read in
chunks and refused past ``max_bytes`` (default :data:`MAX_BODY_BYTES`), before any parsing.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from digestbot.errors import SourceAnswerError, SourceError, SourceUnreachableError
from digestbot.http_status import classify_status, parse_retry_after
from digestbot.redact import redact_password, scrub, url_password

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# A server asking us to wait longer than this is treated as a failure rather than obeyed:
# a digest run should fail loudly, not hang for an hour.
MAX_RETRY_AFTER = 300.0
# An answer larger than this is refused before it is parsed: a day's list is about 100 kB, an arXiv
# batch of 100 papers about 300 kB, so 32 MiB only stops a broken or hostile server from making
# digestbot hold gigabytes.
MAX_BODY_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024
_SNIPPET = 120


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to wait between attempts of one request."""

    retries: int = 4
    backoff: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, jitter: float) -> float:
        """Return the wait before retry number ``attempt`` (0-based): exponential, half of it jittered."""
        base = min(self.max_delay, self.backoff * 2.0**attempt)
        return base / 2 + base / 2 * jitter


def build_url(base: str, path: str, params: Mapping[str, str | int]) -> str:
    """Return ``base + path + ?query`` with the query encoded once, the way it is sent and reported."""
    return f"{base.rstrip('/')}{path}?{urlencode(params)}"


def snippet(body: bytes | str) -> str:
    """Return the start of a body as one short printable line, for error messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


@dataclass(frozen=True, kw_only=True)
class Response:
    """What a successful GET answered."""

    url: str
    status: int
    content_type: str
    body: bytes


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


async def get(
    session: aiohttp.ClientSession,
    url: str,
    *,
    request_timeout: float,
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
    before_attempt: Callable[[], Awaitable[None]] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> Response:
    """GET ``url`` (already encoded), retrying what can succeed later; return the 2xx response.

    ``before_attempt`` runs before every attempt, retries included (the arXiv client paces
    requests there). ``sleep`` and ``jitter`` are injectable so tests need not wait.
    """
    attempts = policy.retries + 1
    last = ""
    shown = redact_password(url)  # a base_url may carry user:password@: never in a log line or an error
    for attempt in range(attempts):
        if before_attempt is not None:
            await before_attempt()
        try:
            return await _attempt(session, url, request_timeout=request_timeout, headers=headers, max_bytes=max_bytes)
        except _Retryable as problem:
            last = problem.reason
            if attempt == attempts - 1:
                break
            if problem.retry_after is not None:
                if problem.retry_after > MAX_RETRY_AFTER:
                    raise SourceUnreachableError(
                        f"GET {shown}: {problem.reason}; Retry-After {problem.retry_after:g} s is too long to wait"
                    ) from None
                wait = problem.retry_after
            else:
                wait = policy.delay(attempt, jitter())
            log.warning(
                "GET %s: %s; retry %d of %d in %.2f s", shown, problem.reason, attempt + 1, policy.retries, wait
            )
            await sleep(wait)
    raise SourceUnreachableError(f"GET {shown}: gave up after {attempts} attempts; last: {last}")


def _scrubbed(err: Exception, url: str) -> str:
    """Return the client's error text without any piece of ``url``'s password (aiohttp may echo the URL)."""
    return scrub(str(err), url_password(url))


def _too_large(url: str, max_bytes: int, what: str) -> SourceError:
    return SourceAnswerError(f"GET {redact_password(url)}: answer too large ({what}); refused before parsing")


async def _read_capped(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    """Read a body in chunks, giving up as soon as it passes ``max_bytes`` (never holding more)."""
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise _too_large(url, max_bytes, f"{declared:,} bytes announced > {max_bytes:,} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(url, max_bytes, f"over {max_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _attempt(
    session: aiohttp.ClientSession,
    url: str,
    *,
    request_timeout: float,
    headers: Mapping[str, str] | None,
    max_bytes: int,
) -> Response:
    try:
        async with session.get(
            URL(url, encoded=True), timeout=aiohttp.ClientTimeout(total=request_timeout), headers=headers
        ) as resp:
            body = await _read_capped(resp, url, max_bytes)
            status = resp.status
            content_type = resp.content_type
            retry_after = resp.headers.get("Retry-After")
    except TimeoutError:
        raise _Retryable(f"timed out after {request_timeout:g} s") from None
    except aiohttp.ClientPayloadError as err:
        raise _Retryable(f"response cut short ({err})") from None
    except aiohttp.ClientConnectionError as err:
        raise _Retryable(f"connection failed ({err.__class__.__name__}: {_scrubbed(err, url)})") from None
    except aiohttp.ClientError as err:
        raise SourceError(f"GET {redact_password(url)}: {err.__class__.__name__}: {_scrubbed(err, url)}") from None
    if 200 <= status < 300:
        return Response(url=url, status=status, content_type=content_type, body=body)
    kind = classify_status(status)
    if kind == "rate_limited":
        raise _Retryable("HTTP 429 Too Many Requests", parse_retry_after(retry_after))
    if kind == "transient":
        raise _Retryable(f"HTTP {status}", parse_retry_after(retry_after) if status == 503 else None)
    raise SourceError(f"GET {redact_password(url)}: HTTP {status}: {snippet(body) or '(empty body)'}")


class SessionClient:
    """What every source client shares: the session lifecycle and one retrying GET.

    A client given ``session`` leaves it open (the caller owns it); otherwise it creates one on
    first use and closes it in :meth:`close` / ``async with``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        *,
        timeout: float,
        policy: RetryPolicy,
        sleep: Sleep,
        jitter: Callable[[], float],
        max_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._session = session
        self.max_bytes = max_bytes
        self._own_session = session is None
        self.timeout = timeout
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter

    async def _get(
        self,
        url: str,
        *,
        before_attempt: Callable[[], Awaitable[None]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``url`` with this client's session, timeout and retry policy (see :func:`get`)."""
        return await get(
            self._get_session(),
            url,
            request_timeout=self.timeout,
            policy=self.policy,
            sleep=self._sleep,
            jitter=self._jitter,
            before_attempt=before_attempt,
            headers=headers,
            max_bytes=self.max_bytes,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session
