"""A loopback OpenAI-compatible model server (``POST /v1/chat/completions``) for the real ``openai`` client.

By default it answers like a capable server: with ``response_format`` of type ``json_schema`` it
returns the three parts as a JSON object, without it the sample's bullet lines. The parts are
the **golden shape**: for a paper of the sample digest (matched by title) its own Korean parts
when asked for Korean, else a short text tagged with the language (``[en] …``). Usage numbers
are a tokenizer-free estimate (:func:`bench.summaries_cost.estimate_tokens`).

Tests script what happens next with :meth:`OpenAIServer.script` (status, headers such as
``Retry-After``, a delay, a raw ``content`` for malformed or over-long answers), make every
request fail with ``fail_all``, turn structured output off with ``json_schema=False`` (then a
``json_schema`` request gets a 400, as from servers without it), and set the expected key: a
wrong one gets a 401 whose message quotes the key, as OpenAI's does, so tests can check that
digestbot never repeats it. Every request body is kept in :attr:`OpenAIServer.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from aiohttp import web

from bench.summaries_cost import estimate_tokens
from digestbot.sources.markdown import parse_markdown_digest
from tests.fakes.loopback import Loopback

SEED = Path(__file__).resolve().parent.parent.parent / "digestbot" / "data" / "daily-papers-2024-10-11.md"
HEADINGS = ("What's New", "Technical Details", "Performance Highlights")
KEYS = ("whats_new", "technical_details", "performance_highlights")
_LANGUAGE = re.compile(r"\(([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\), in three parts")
_TITLE = re.compile(r"^Title: (.*)$", re.MULTILINE)


def golden_parts() -> dict[str, dict[str, str]]:
    """Return the sample digest's own three parts by paper title (papers that have all three)."""
    _, papers = parse_markdown_digest(SEED.read_text(encoding="utf-8"), origin=str(SEED))
    out = {}
    for paper in papers:
        parts = dict(paper.sections)
        if all(h in parts for h in HEADINGS):
            out[paper.title] = {h: parts[h] for h in HEADINGS}
    return out


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer: an error status, or a 200 whose content is ``content`` verbatim."""

    status: int = 200
    content: str | None = None  # None: the default (golden) answer
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str | None = None  # a raw body instead of a completion (error bodies)


class OpenAIServer:
    """aiohttp app on 127.0.0.1 speaking the chat completions API."""

    def __init__(self, *, api_key: str = "sk-test-key", json_schema: bool = True) -> None:
        self.api_key = api_key
        self.json_schema = json_schema
        self.fail_all: Reply | None = None
        self.requests: list[dict[str, Any]] = []
        self._script: list[Reply] = []
        self._golden = golden_parts()
        self._stopping = asyncio.Event()
        self._server: Loopback | None = None
        self.base_url = ""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._app = app

    async def __aenter__(self) -> Self:
        self._server = Loopback(self._app, shutdown_timeout=0.5)
        self.base_url = f"http://127.0.0.1:{await self._server.start()}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping.set()
        if self._server is not None:
            await self._server.close()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order, before the defaults."""
        self._script.extend(replies)

    def parts_for(self, title: str, language: str) -> dict[str, str]:
        """Return the default answer's parts for a paper title in a language."""
        if language == "ko" and title in self._golden:
            return self._golden[title]
        return {h: f"[{language}] {h} of “{title}”. It is summarised here in one sentence." for h in HEADINGS}

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            given = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return self._error(401, f"Incorrect API key provided: {given}.", "invalid_api_key")
        reply = self._script.pop(0) if self._script else self.fail_all
        if reply is not None and reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay)
        if reply is not None and reply.status != 200:
            if reply.body is not None:
                return web.Response(status=reply.status, text=reply.body, headers=reply.headers)
            return self._error(reply.status, f"scripted {reply.status}", "scripted", headers=reply.headers)
        structured = (body.get("response_format") or {}).get("type") == "json_schema"
        if structured and not self.json_schema:
            return self._error(400, "response_format json_schema is not supported", "invalid_request_error")
        messages = body.get("messages") or []
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        language = m[1] if (m := _LANGUAGE.search(system)) else "en"
        title = m[1] if (m := _TITLE.search(user)) else ""
        if reply is not None and reply.content is not None:
            content = reply.content
        else:
            parts = self.parts_for(title, language)
            if structured:
                content = json.dumps({k: parts[h] for k, h in zip(KEYS, HEADINGS, strict=True)}, ensure_ascii=False)
            else:
                content = "\n".join(f"- **{h}**: {parts[h]}" for h in HEADINGS)
        prompt_tokens = sum(estimate_tokens(m.get("content", "")) for m in messages)
        completion_tokens = estimate_tokens(content)
        answer = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1728604800,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return web.json_response(answer, headers=reply.headers if reply else None)

    @staticmethod
    def _error(status: int, message: str, code: str, *, headers: dict[str, str] | None = None) -> web.Response:
        error = {"error": {"message": message, "type": code, "param": None, "code": code}}
        return web.json_response(error, status=status, headers=headers)
