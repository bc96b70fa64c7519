"""One paper, one language, one summary: the ``openai`` client against any OpenAI-compatible server.

Retries are ours, not the client's (it is built with ``max_retries=0``): the client's own loop
knows nothing of the deadline of a scheduled post and would sleep through it. Here 429, 5xx,
timeouts and dropped connections are retried with exponential backoff and full jitter, a
``Retry-After`` (or ``retry-after-ms``) is honoured up to :data:`MAX_WAIT` (a server asking for
longer fails that paper at once, so ``summarize`` without a deadline never sleeps for hours), and
no wait or request ever runs past the deadline: a paper whose next try would end after it fails
at once, and its post shows the abstract. A wait longer than :data:`LOUD_WAIT` is logged at INFO.
A 401/403 is a configuration error (the key), a 404 one too (the model or base URL).
A 400 on the ``json_schema`` request means the server has no structured output: the client asks
again for the sample's bullet lines, and keeps doing so for the rest of its life.

The key is never logged nor put in an error: messages name the status, never the server's text.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import openai

from digestbot.config import SummariesConfig
from digestbot.errors import ConfigError
from digestbot.http_status import classify_status, parse_retry_after
from digestbot.records import Paper
from digestbot.summaries.prompt import (
    JSON_SCHEMA,
    InvalidAnswer,
    Sections,
    build_messages,
    parse_bullet_answer,
    parse_json_answer,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""Tries per request (the first and four retries) for 429, 5xx, timeouts and connection errors."""
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
MAX_WAIT = 120.0
"""Seconds one wait before a retry may last at most; a longer ``Retry-After`` fails that paper."""
LOUD_WAIT = 5.0
"""Waits longer than this are logged at INFO (shorter ones at DEBUG), so a slow run says why."""
MAX_TOKENS = 1200
"""Completion tokens at most per answer: three parts of ≤ 600 characters, with room for Hangul."""

Sleep = Callable[[float], Awaitable[None]]


class SummaryFailed(Exception):
    """A paper gets no summary this time (the reason is in the message; it never holds the key).

    It carries what the answered requests cost, so the token count includes unusable answers.
    """

    def __init__(self, message: str, *, requests: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        super().__init__(message)
        self.requests = requests
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


@dataclass(frozen=True, kw_only=True)
class Summary:
    """A checked three-part summary and what it cost."""

    sections: Sections
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 1


def retry_after(exc: openai.APIStatusError, now: datetime | None = None) -> float | None:
    """Return the server's requested wait in seconds (``retry-after-ms``, ``Retry-After``), or None."""
    headers = exc.response.headers
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"), now=now)


class ModelClient:
    """Ask an OpenAI-compatible server for summaries; close with :meth:`close`."""

    def __init__(
        self,
        config: SummariesConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.config = config
        # Local servers (Ollama, vLLM, llama.cpp) take any key but the client insists on one.
        self._client = openai.AsyncOpenAI(
            api_key=config.api_key or "unused", base_url=config.base_url, max_retries=0, timeout=config.timeout
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._max_wait = max_wait
        self.bullets = False  # set after the server refused json_schema once

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def summarize(self, paper: Paper, language: str, *, deadline: float | None = None) -> Summary:
        """Return ``paper``'s summary in ``language``; ``deadline`` is a ``loop.time()`` nothing runs past.

        Raises SummaryFailed for this paper, ConfigError when no paper can succeed (401, 404).
        """
        requests = 0
        if not self.bullets:
            try:
                completion, requests = await self._create(paper, language, bullets=False, deadline=deadline)
                return self._summary(completion, parse_json_answer, requests)
            except openai.BadRequestError:
                log.info("%s refused json_schema (400); asking for bullet lines from now on", self.config.base_url)
                self.bullets = True
                requests += 1
        completion, more = await self._create(paper, language, bullets=True, deadline=deadline)
        return self._summary(completion, lambda text: parse_bullet_answer(text, paper), requests + more)

    @staticmethod
    def _summary(completion: Any, parse: Callable[[str | None], Sections], requests: int) -> Summary:
        usage = getattr(completion, "usage", None)
        spent = {
            "requests": requests,
            "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        }
        choices = getattr(completion, "choices", None) or []
        if not choices:
            raise SummaryFailed("the answer has no choices", **spent)
        try:
            sections = parse(choices[0].message.content)
        except InvalidAnswer as exc:
            raise SummaryFailed(f"unusable answer: {exc}", **spent) from None
        return Summary(sections=sections, **spent)

    async def _create(self, paper: Paper, language: str, *, bullets: bool, deadline: float | None) -> tuple[Any, int]:
        """Send one request with retries; return the completion and how many requests it took."""
        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": build_messages(paper, language, bullets=bullets),
            "max_tokens": MAX_TOKENS,
            "temperature": 0.2,
        }
        if not bullets:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": JSON_SCHEMA}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            timeout = self.config.timeout
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise SummaryFailed("the deadline passed")
                timeout = min(timeout, remaining)
            try:
                async with asyncio.timeout(timeout):
                    return await self._client.chat.completions.create(**kwargs, timeout=timeout), attempt
            except openai.BadRequestError:
                if bullets:
                    raise SummaryFailed("the server refused the request (400)") from None
                raise
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise ConfigError(
                    f"summaries.api_key: {self.config.base_url} refused the key ({exc.status_code});"
                    " check the key (or ${SUMMARIES_API_KEY})"
                ) from None
            except openai.NotFoundError:
                raise ConfigError(
                    f"summaries.model: {self.config.base_url} has no model {self.config.model!r}"
                    " (404; check summaries.model and summaries.base_url)"
                ) from None
            except openai.APIStatusError as exc:
                # 409 (a conflict on the server's side) is worth another try here, unlike for the sources.
                if classify_status(exc.status_code) == "permanent" and exc.status_code != 409:
                    raise SummaryFailed(f"the server answered {exc.status_code}") from None
                reason, wait = f"status {exc.status_code}", retry_after(exc)
            except (openai.APIConnectionError, TimeoutError) as exc:  # APITimeoutError is a connection error
                reason, wait = type(exc).__name__, None
            if attempt == MAX_ATTEMPTS:
                raise SummaryFailed(f"{reason} after {attempt} tries", requests=attempt)
            if wait is None:
                wait = self._rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
            if wait > self._max_wait:
                raise SummaryFailed(
                    f"{reason}; the server asks to wait {wait:.0f} s, more than the {self._max_wait:.0f} s cap",
                    requests=attempt,
                )
            if deadline is not None and loop.time() + wait >= deadline:
                raise SummaryFailed(
                    f"{reason}; the next try ({wait:.1f} s) would end past the deadline", requests=attempt
                )
            level = logging.INFO if wait > LOUD_WAIT else logging.DEBUG
            log.log(level, "summary of %s: %s; retrying in %.1f s", paper.arxiv_id, reason, wait)
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover
