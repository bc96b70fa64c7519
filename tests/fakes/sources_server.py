"""A loopback stand-in for huggingface.co and export.arxiv.org, serving recorded-shape fixtures.

By default ``/api/daily_papers`` answers ``tests/fixtures/hf/daily_papers_<date>.json`` sliced by
``limit`` and ``p`` (404 JSON error when no fixture), and ``/api/query`` answers the entries of
``tests/fixtures/arxiv/id_list_4.xml`` whose ids are in ``id_list`` (any ``search_query`` gets
every entry). Tests script what happens next on a path with :meth:`SourcesServer.script`:
N× 5xx then success, 429 with ``Retry-After``, slow answers, HTML pages, truncated JSON.
Every request is recorded in :attr:`SourcesServer.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from aiohttp import web

from tests.fakes.loopback import Loopback

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ATOM = "{http://www.w3.org/2005/Atom}"


def fixture_text(relative: str) -> str:
    """Return the text of a fixture file under ``tests/fixtures``."""
    return (FIXTURES / relative).read_text(encoding="utf-8")


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_to: int | None = None  # send only this many bytes of the body (Content-Length stays honest)
    stream: int | None = None  # instead of body: this many bytes of JSON-ish filler, chunked, no Content-Length


@dataclass(frozen=True, kw_only=True)
class Seen:
    """One request the server received."""

    path: str
    query: dict[str, str]
    at: float | None  # the test's clock when the request arrived, if the server was given one


class SourcesServer:
    """aiohttp app on 127.0.0.1 with per-path scripted replies falling back to fixture routes."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self.requests: list[Seen] = []
        self.streamed: list[int] = []  # bytes sent by each streamed reply
        self._clock = clock
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._stopping = asyncio.Event()
        self._server: Loopback | None = None
        self.base_url = ""
        app = web.Application()
        app.router.add_get("/api/daily_papers", self._daily_papers)
        app.router.add_get("/api/query", self._arxiv_query)
        self._app = app

    async def __aenter__(self) -> Self:
        self._server = Loopback(self._app, shutdown_timeout=0.5)
        self.base_url = f"http://127.0.0.1:{await self._server.start()}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping.set()
        if self._server is not None:
            await self._server.close()

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests on ``path`` with ``replies``, in order, before the defaults."""
        self._scripts[path].extend(replies)

    def seen(self, path: str) -> list[Seen]:
        """Return the requests received on ``path``."""
        return [r for r in self.requests if r.path == path]

    async def _reply(self, reply: Reply, request: web.Request | None = None) -> web.StreamResponse:
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay)
        if reply.stream is not None and request is not None:
            return await self._stream(reply, request)
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        if reply.truncate_to is not None:
            body = body[: reply.truncate_to]
        return web.Response(
            status=reply.status,
            body=body,
            headers={"Content-Type": reply.content_type, **reply.headers},
        )

    async def _stream(self, reply: Reply, request: web.Request) -> web.StreamResponse:
        """Send ``reply.stream`` bytes in 64 KiB chunks (a huge answer), stopping when the client hangs up."""
        response = web.StreamResponse(status=reply.status, headers={"Content-Type": reply.content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"[" + b" " * (64 * 1024 - 1)
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < (reply.stream or 0) and not self._stopping.is_set():
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
        self.streamed.append(sent)
        return response

    def _record(self, request: web.Request) -> Reply | None:
        at = self._clock() if self._clock is not None else None
        self.requests.append(Seen(path=request.path, query=dict(request.query), at=at))
        queue = self._scripts.get(request.path)
        return queue.popleft() if queue else None

    async def _daily_papers(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self._record(request)) is not None:
            return await self._reply(scripted, request)
        if "week" in request.query or "month" in request.query:
            return await self._period_papers(request)
        day = request.query.get("date", "2025-01-22")  # "latest" is the newest fixture
        path = FIXTURES / "hf" / f"daily_papers_{day}.json"
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) or not path.exists():
            return await self._reply(Reply(status=404, body=json.dumps({"error": f"No daily papers for {day}"})))
        entries = json.loads(path.read_text(encoding="utf-8"))
        limit = int(request.query.get("limit", "50"))
        page = int(request.query.get("p", "0"))
        chunk = entries[page * limit : (page + 1) * limit]
        return await self._reply(Reply(body=json.dumps(chunk, ensure_ascii=False)))

    async def _period_papers(self, request: web.Request) -> web.StreamResponse:
        """Answer ``week=2024-W41`` / ``month=2024-10`` with the recorded daily lists of that period, in order."""
        from digestbot.errors import CommandError
        from digestbot.periods import parse_month, parse_week

        try:
            query = request.query
            period = parse_week(query["week"]) if "week" in query else parse_month(query["month"])
        except CommandError as exc:
            return await self._reply(Reply(status=400, body=json.dumps({"error": str(exc)})))
        entries: list[object] = []
        for day in period.days():
            path = FIXTURES / "hf" / f"daily_papers_{day.isoformat()}.json"
            if path.exists():
                entries.extend(json.loads(path.read_text(encoding="utf-8")))
        limit = int(request.query.get("limit", "50"))
        page = int(request.query.get("p", "0"))
        return await self._reply(Reply(body=json.dumps(entries[page * limit : (page + 1) * limit], ensure_ascii=False)))

    async def _arxiv_query(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self._record(request)) is not None:
            return await self._reply(scripted, request)
        ET.register_namespace("", "http://www.w3.org/2005/Atom")
        root = ET.fromstring(fixture_text("arxiv/id_list_4.xml"))
        wanted = [i for i in request.query.get("id_list", "").split(",") if i]
        if wanted:
            for entry in root.findall(f"{ATOM}entry"):
                raw = (entry.findtext(f"{ATOM}id") or "").split("/abs/", 1)[-1]
                if re.sub(r"v\d+$", "", raw) not in wanted:
                    root.remove(entry)
        body = ET.tostring(root, encoding="unicode", xml_declaration=True)
        return await self._reply(Reply(body=body, content_type="application/atom+xml"))
