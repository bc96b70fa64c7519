"""Hugging Face Daily Papers: read ``/api/daily_papers`` answers into :class:`Paper` records.

The answer is a JSON array of entries; each entry holds a nested ``paper`` object. The field
list follows Hugging Face's OpenAPI-generated types (``APIGetDailyPapersResponseItem``) and
recorded answers; ``tests/fixtures/hf/README.md`` cites them. Mapping decisions:

* ``title``: the entry's title, else the paper's, whitespace collapsed.
* ``authors``: names in order, **hidden authors skipped** (Hugging Face sets ``hidden`` on
  names its paper page does not show, e.g. a wrongly extracted author); their names are kept in
  ``extra["hidden_authors"]``. Author ``_id``/``user``/``status`` bookkeeping is not kept.
* ``abstract``: ``paper.summary`` with arXiv's hard line wraps joined (blank lines kept).
* ``digest_date``: the caller's ``digest_date`` when known (the ``date=`` query is the truth),
  else the UTC date of ``paper.submittedOnDailyAt`` — the day of the list the paper was put on
  (stored as midnight UTC in current answers). The entry's ``publishedAt`` is the arXiv
  publication time, not the list day: it is used only when ``submittedOnDailyAt`` is missing
  (an older saved answer), with a warning, rather than storing the paper with no day.
* ``thumbnail``: only an absolute http(s) URL; a site-relative path is dropped from the field
  and kept in ``extra["thumbnail"]``.
* ``github_url``: ``paper.githubRepo`` when it is an absolute http(s) URL, or ``owner/repo``
  expanded to ``https://github.com/owner/repo``.
* Everything else is kept in ``extra`` under its Hugging Face name (``discussionId``,
  ``submittedOnDailyAt``, ``numComments``, ``submittedBy``, ``organization``…). Where the entry
  and its paper carry the same key with different values, the entry's goes in as ``entry.<key>``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import aiohttp

from digestbot.errors import SourceAnswerError, SourceError
from digestbot.periods import Period
from digestbot.records import INT64, Paper, json_problem, load_json, normalize_arxiv_id, oversize, storable
from digestbot.sources import _http
from digestbot.sources._text import collapse, unwrap

log = logging.getLogger(__name__)

HF_BASE_URL = "https://huggingface.co"
DAILY_PAPERS_PATH = "/api/daily_papers"
# The endpoint's `limit` is capped at 100 (evalstate/hf-papers, MAX_API_LIMIT = 100); larger
# days are read page by page with `p` (0-based; huggingface_hub's list_daily_papers `p`).
PAGE_LIMIT = 100
# Guard against a server that ignores `p` and keeps answering full pages.
MAX_PAGES = 50

_GITHUB_SHORT = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_PAPER_CONSUMED = frozenset({"id", "title", "authors", "summary", "upvotes", "ai_summary", "ai_keywords", "githubRepo"})
_ENTRY_CONSUMED = frozenset({"paper", "title", "thumbnail"})


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


class _Reader:
    """Checks one answer's shape and raises SourceError naming origin and JSON path."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, path: str, problem: str) -> SourceError:
        return SourceError(f"{self.origin}: {path}: {problem}")

    def expected(self, path: str, kind: str, value: object) -> SourceError:
        return self.fail(path, f"expected {kind}, got {_describe(value)}")

    def obj(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.expected(path, "object", value)
        return value

    def req(self, parent: Mapping[str, Any], key: str, path: str) -> object:
        if key not in parent or parent[key] is None:
            raise self.fail(f"{path}.{key}", "missing")
        return parent[key]

    def string(self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
        value = self.req(parent, key, path) if required else parent.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.expected(f"{path}.{key}", "string", value)
        return value

    def integer(self, parent: Mapping[str, Any], key: str, path: str) -> int | None:
        value = parent.get(key)
        if value is None:
            return None
        # The OpenAPI types say `number`; whole floats (3.0) are accepted, booleans are not.
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.expected(f"{path}.{key}", "integer", value)
        if not INT64[0] <= value <= INT64[1]:
            raise self.fail(f"{path}.{key}", "integer beyond 64 bits")
        return value

    def boolean(self, parent: Mapping[str, Any], key: str, path: str) -> bool | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.expected(f"{path}.{key}", "boolean", value)
        return value

    def strings(self, parent: Mapping[str, Any], key: str, path: str) -> list[str]:
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.expected(f"{path}.{key}", "array", value)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.expected(f"{path}.{key}[{i}]", "string", item)
        return value

    def timestamp(self, parent: Mapping[str, Any], key: str, path: str) -> datetime | None:
        text = self.string(parent, key, path)
        if text is None:
            return None
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise self.expected(f"{path}.{key}", "ISO 8601 date-time", text) from None
        if when.tzinfo is None:  # Hugging Face writes `Z`; a bare time is read as UTC.
            when = when.replace(tzinfo=UTC)
        return when


def _http_url(value: str | None) -> str | None:
    if value and re.match(r"https?://[^\s/]+", value, re.IGNORECASE):
        return value
    return None


def _github_url(value: str | None) -> str | None:
    if not value:
        return None
    if _http_url(value):
        return value
    if _GITHUB_SHORT.fullmatch(value):
        return "https://github.com/" + value
    return None


def _json_safe(value: object, reader: _Reader, path: str) -> object:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise reader.fail(path, "not JSON-serialisable") from None
    return value


def _parse_entry(raw: object, path: str, reader: _Reader, digest_date: date | None) -> Paper:
    entry = reader.obj(raw, path)
    ppath = f"{path}.paper"
    paper = reader.obj(reader.req(entry, "paper", path), ppath)

    raw_id = reader.string(paper, "id", ppath, required=True)
    assert raw_id is not None
    arxiv_id = normalize_arxiv_id(raw_id)
    if arxiv_id is None:
        raise reader.fail(f"{ppath}.id", f"not an arXiv id: {_describe(raw_id)}")

    entry_title = collapse(reader.string(entry, "title", path) or "")
    title = entry_title or collapse(reader.string(paper, "title", ppath) or "")
    reader.string(paper, "title", ppath)  # checked even when the entry's title is used
    if not title:
        raise reader.fail(f"{ppath}.title", "missing")

    authors: list[str] = []
    hidden: list[str] = []
    raw_authors = paper.get("authors")
    if raw_authors is not None and not isinstance(raw_authors, list):
        raise reader.expected(f"{ppath}.authors", "array", raw_authors)
    for i, raw_author in enumerate(raw_authors or []):
        apath = f"{ppath}.authors[{i}]"
        author = reader.obj(raw_author, apath)
        name = collapse(reader.string(author, "name", apath, required=True) or "")
        if not name:
            raise reader.fail(f"{apath}.name", "empty")
        (hidden if reader.boolean(author, "hidden", apath) else authors).append(name)

    summary = reader.string(paper, "summary", ppath) or ""
    votes = reader.integer(paper, "upvotes", ppath)
    ai_summary = collapse(reader.string(paper, "ai_summary", ppath) or "")
    keywords = tuple(collapse(k) for k in reader.strings(paper, "ai_keywords", ppath) if k.strip())
    github_url = _github_url(reader.string(paper, "githubRepo", ppath))
    raw_thumbnail = reader.string(entry, "thumbnail", path)
    thumbnail = _http_url(raw_thumbnail)

    submitted = reader.timestamp(paper, "submittedOnDailyAt", ppath)
    published = reader.timestamp(paper, "publishedAt", ppath)
    reader.timestamp(entry, "publishedAt", path)
    reader.integer(entry, "numComments", path)
    reader.integer(paper, "githubStars", ppath)
    listed = submitted or published  # publishedAt only when the list day is missing (warned about below)
    day = digest_date or (listed.astimezone(UTC).date() if listed else None)

    extra: dict[str, object] = {}
    for key, value in paper.items():
        if key not in _PAPER_CONSUMED and value is not None:
            extra[key] = _json_safe(value, reader, f"{ppath}.{key}")
    for key, value in entry.items():
        if key in _ENTRY_CONSUMED or value is None:
            continue
        value = _json_safe(value, reader, f"{path}.{key}")
        if key == "summary" and value == summary:
            continue
        if key in paper:
            if paper[key] != value:
                extra[f"entry.{key}"] = value
        else:
            extra[key] = value
    if raw_thumbnail and not thumbnail:
        extra["thumbnail"] = raw_thumbnail
    if hidden:
        extra["hidden_authors"] = hidden

    parsed = Paper(
        arxiv_id=arxiv_id,
        title=title,
        authors=tuple(authors),
        abstract=unwrap(summary),
        ai_summary=ai_summary,
        keywords=keywords,
        votes=votes,
        thumbnail=thumbnail,
        github_url=github_url,
        digest_date=day,
        source="huggingface",
        extra=extra,
    )
    return storable(parsed)  # extra keeps Hugging Face's values as given, but a NUL would stop PostgreSQL


def _paper_problem(paper: Paper, path: str) -> tuple[str, str] | None:
    """Return (JSON path, what) for a well-formed entry whose values the archive refuses, else None.

    A negative vote count is refused as in records and Markdown files: it would render
    "▲ -5 votes" and sort below papers nobody voted for.
    """
    if paper.votes is not None and paper.votes < 0:
        return f"{path}.paper.upvotes", f"vote count must not be negative, got {paper.votes}"
    if too_large := oversize(paper):
        return path, too_large
    return None


def parse_daily_papers(
    data: object, *, origin: str, digest_date: date | None = None, skip_oversized: bool = False
) -> list[Paper]:
    """Map one decoded ``/api/daily_papers`` answer onto papers, in the answer's order.

    ``origin`` names the input in error messages (a file name or URL). ``digest_date``, when
    given, overrides the day read from each entry. Any entry of the wrong shape fails the whole
    answer with a :class:`SourceError` naming that entry's JSON path. A paper with a field beyond
    the archive's limits (a 3,000-character title) or a negative vote count fails it too, unless
    ``skip_oversized``: the API's answers use that, since one odd paper upstream must not cost the
    day (nor a scheduled post its fetch); it is left out with a warning naming it. A user's file
    is still refused whole, so its author can fix it.
    """
    reader = _Reader(origin)
    if problem := json_problem(data):
        raise reader.fail(*problem)
    if not isinstance(data, list):
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            raise reader.fail("$", f"expected array, got an error object: {_http.snippet(data['error'])}")
        raise reader.expected("$", "array", data)
    papers: list[Paper] = []
    for i, raw in enumerate(data):
        paper = _parse_entry(raw, f"$[{i}]", reader, digest_date)
        if problem := _paper_problem(paper, f"$[{i}]"):
            where, what = problem
            if not skip_oversized:
                raise reader.fail(where, f"paper {paper.arxiv_id}: {what}")
            log.warning("%s: %s: paper %s skipped: %s", origin, where, paper.arxiv_id, what)
            continue
        papers.append(paper)
    if digest_date is None and (undated := [p for p in papers if "submittedOnDailyAt" not in p.extra]):
        log.warning(
            "%s: %d %s no submittedOnDailyAt (the list day); dated by publishedAt instead, the arXiv"
            " publication day, which can be a day or more earlier (first: %s)",
            origin, len(undated), "entry has" if len(undated) == 1 else "entries have", undated[0].arxiv_id,
        )  # fmt: skip
    return papers


def decode_json(response: _http.Response) -> object:
    """Decode a JSON body, or raise a SourceAnswerError that says what came instead (HTML, cut-off JSON)."""
    text = response.body.decode("utf-8", "replace")
    try:
        return load_json(text)
    except RecursionError:
        raise SourceAnswerError(f"GET {response.url}: answered JSON nested too deeply to read") from None
    except json.JSONDecodeError as err:
        looks_html = response.content_type == "text/html" or text.lstrip()[:15].lower().startswith(
            ("<!doctype html", "<html")
        )
        if looks_html:
            what = "an HTML page instead of JSON"
        elif err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string"):
            what = f"truncated JSON ({len(response.body)} bytes, ends mid-value)"
        else:
            what = f"invalid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        raise SourceAnswerError(f"GET {response.url}: answered {what}: {_http.snippet(text)}") from None


class HuggingFaceClient(_http.SessionClient):
    """Read the Hugging Face Daily Papers API, politely and with retries.

    Use as ``async with HuggingFaceClient(session=s) as hf: papers = await hf.fetch_day(d)``.
    A client given a ``session`` leaves it open; one that creates its own closes it on exit.
    ``sleep`` and ``jitter`` are injectable so tests need not wait out the backoff.
    """

    def __init__(
        self,
        base_url: str = HF_BASE_URL,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 20,
        retries: int = 4,
        backoff: float = 1.0,
        page_limit: int = PAGE_LIMIT,
        max_bytes: int = _http.MAX_BODY_BYTES,
        sleep: _http.Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not 1 <= page_limit <= PAGE_LIMIT:
            raise ValueError(f"page_limit must be 1..{PAGE_LIMIT}, got {page_limit}")
        self.base_url = base_url.rstrip("/")
        super().__init__(
            session,
            timeout=timeout,
            policy=_http.RetryPolicy(retries=retries, backoff=backoff),
            sleep=sleep,
            jitter=jitter,
            max_bytes=max_bytes,
        )
        self.page_limit = page_limit

    async def fetch_day(self, d: date) -> list[Paper]:
        """Return the papers of the daily list of ``d``, following pages; a day without a list is empty.

        Weekends and holidays answer an empty array, hence an empty list. A date Hugging Face
        does not serve yet (the future) answers an HTTP 4xx, raised as SourceError with HF's text.
        """
        return await self._fetch_pages({"date": d.isoformat()}, d)

    async def fetch_period(self, period: Period) -> list[Paper]:
        """Return the papers of a week's or month's list (``week=2024-W41`` / ``month=2024-10``).

        Each paper is dated by the daily list it was put on (``submittedOnDailyAt``), so storing
        them fills the period's days and the weekly digest is aggregated from them as usual.
        """
        query = {"week": period.name} if period.cadence == "weekly" else {"month": period.name}
        papers = await self._fetch_pages(query, None)
        return [p for p in papers if p.digest_date is not None and period.start <= p.digest_date <= period.end]

    async def fetch_latest(self) -> list[Paper]:
        """Return the papers of the latest daily list (each dated by its ``submittedOnDailyAt``)."""
        return await self._fetch_pages({}, None)

    async def _fetch_pages(self, query: Mapping[str, str], digest_date: date | None) -> list[Paper]:
        papers: list[Paper] = []
        seen: set[str] = set()
        for page in range(MAX_PAGES):
            params: dict[str, str | int] = {**query, "limit": self.page_limit, "p": page}
            url = _http.build_url(self.base_url, DAILY_PAPERS_PATH, params)
            response = await self._get(url, headers={"Accept": "application/json"})
            data = decode_json(response)
            try:
                batch = parse_daily_papers(data, origin=url, digest_date=digest_date, skip_oversized=True)
            except SourceError as exc:  # the wrong shape: Hugging Face's doing, not the user's (exit 1, not 2)
                raise SourceAnswerError(str(exc)) from None
            fresh = [p for p in batch if p.arxiv_id not in seen]
            seen.update(p.arxiv_id for p in fresh)
            papers.extend(fresh)
            if not isinstance(data, list) or len(data) < self.page_limit:  # a skipped paper still fills a page
                break
            if not fresh:
                log.warning("GET %s: page repeats earlier papers; stopping", url)
                break
        else:
            log.warning("daily papers %s: stopped after %d pages", dict(query), MAX_PAGES)
        log.info("daily papers %s: %d papers", dict(query) or "latest", len(papers))
        return papers


def load_daily_papers_json(text: str, *, origin: str, digest_date: date | None = None) -> list[Paper]:
    """Parse a saved ``/api/daily_papers`` answer (e.g. a file) into papers."""
    try:
        data = load_json(text)
    except RecursionError:
        raise SourceError(f"{origin}: nested too deeply to read") from None
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        raise SourceError(f"{origin}: invalid JSON ({err.msg} at {where})") from None
    return parse_daily_papers(data, origin=origin, digest_date=digest_date)


__all__: Sequence[str] = (
    "HuggingFaceClient",
    "decode_json",
    "load_daily_papers_json",
    "parse_daily_papers",
)
