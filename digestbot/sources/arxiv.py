"""arXiv export API: fetch papers by id or by category and day, read the Atom answer into papers.

The feed layout (Atom with ``opensearch`` and ``arxiv`` extension namespaces, errors as a single
entry titled ``Error`` whose id points at ``/api/errors``) is the one described in the arXiv API
User's Manual, sections 3.3-3.4; ``tests/fixtures/arxiv/README.md`` cites it.

arXiv asks clients to "play nice and incorporate a 3 second delay" between calls (User's Manual
3.1.1.2, and the API Terms of Use: no more than one request every three seconds). The client
spaces every request, retries included, by ``min_interval`` on an injectable monotonic clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import date, datetime

import aiohttp

from digestbot.errors import SourceError
from digestbot.records import Paper, normalize_arxiv_id, oversize
from digestbot.sources import _http
from digestbot.sources._text import collapse, unwrap

log = logging.getLogger(__name__)

ARXIV_BASE_URL = "https://export.arxiv.org"
# Seconds between two requests: "incorporate a 3 second delay" (User's Manual 3.1.1.2; API Terms of Use).
MIN_INTERVAL = 3.0
QUERY_PATH = "/api/query"
# One id_list request carries at most this many ids (the brief's batch size; keeps URLs short).
MAX_IDS_PER_REQUEST = 100
# `max_results` slices are limited to 2000 per call (User's Manual 3.1.1.2).
MAX_RESULTS_PER_CALL = 2000

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"

_ABS_URL = re.compile(r"https?://(?:export\.)?arxiv\.org/abs/(?P<id>.+)", re.IGNORECASE)
_VERSION = re.compile(r"v(\d+)$")
_CATEGORY = re.compile(r"[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]+(?:-[A-Za-z]+)*)?")

Clock = Callable[[], float]


def _text(element: ET.Element | None) -> str:
    return (element.text or "") if element is not None else ""


def parse_arxiv_feed(text: str | bytes, *, origin: str, digest_date: date | None = None) -> list[Paper]:
    """Read one arXiv API Atom answer into papers (versionless ids), in feed order.

    An error entry (arXiv answers a bad id or query with HTTP 200 and an entry titled
    ``Error``) raises :class:`SourceError` carrying arXiv's own message. A paper with a field
    beyond the archive's limits is left out with a warning naming it, as for Hugging Face.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise SourceError(f"{origin}: not an Atom feed ({err}): {_http.snippet(text)}") from None
    if root.tag != f"{ATOM}feed":
        raise SourceError(f"{origin}: not an Atom feed (root element <{root.tag}>)")
    papers = []
    for i, entry in enumerate(root.findall(f"{ATOM}entry"), start=1):
        raw_id = _text(entry.find(f"{ATOM}id")).strip()
        title = collapse(_text(entry.find(f"{ATOM}title")))
        if "/api/errors" in raw_id or (title == "Error" and not _ABS_URL.match(raw_id)):
            message = collapse(_text(entry.find(f"{ATOM}summary"))) or raw_id or "no message"
            raise SourceError(f"{origin}: arXiv error: {message}")
        paper = _parse_entry(entry, i, raw_id, title, origin, digest_date)
        if problem := oversize(paper):  # one odd paper upstream must not cost the others
            log.warning("%s: entry %d (%s) skipped: %s", origin, i, paper.arxiv_id, problem)
            continue
        papers.append(paper)
    return papers


def _parse_entry(
    entry: ET.Element, index: int, raw_id: str, title: str, origin: str, digest_date: date | None
) -> Paper:
    where = f"{origin}: entry {index}"
    if not raw_id:
        raise SourceError(f"{where}: <id> missing")
    m = _ABS_URL.fullmatch(raw_id)
    arxiv_id = normalize_arxiv_id(m["id"]) if m else None
    if arxiv_id is None:
        raise SourceError(f"{where}: <id> is not an arXiv abstract URL: {raw_id!r}")
    if not title:
        raise SourceError(f"{where} ({arxiv_id}): <title> missing")
    authors = tuple(name for a in entry.findall(f"{ATOM}author") if (name := collapse(_text(a.find(f"{ATOM}name")))))
    categories = [c.get("term", "") for c in entry.findall(f"{ATOM}category") if c.get("term")]
    primary = entry.find(f"{ARXIV}primary_category")

    extra: dict[str, object] = {"categories": categories}
    if primary is not None and primary.get("term"):
        extra["primary_category"] = primary.get("term")
    if version := _VERSION.search(m["id"] if m else ""):
        extra["arxiv_version"] = int(version[1])
    for tag, key in (("published", "published"), ("updated", "updated")):
        stamp = _text(entry.find(f"{ATOM}{tag}")).strip()
        if stamp:
            try:
                datetime.fromisoformat(stamp)
            except ValueError:
                raise SourceError(f"{where} ({arxiv_id}): <{tag}> is not a date-time: {stamp!r}") from None
            extra[key] = stamp
    for tag in ("comment", "journal_ref", "doi"):
        value = collapse(_text(entry.find(f"{ARXIV}{tag}")))
        if value:
            extra[tag] = value
    for link in entry.findall(f"{ATOM}link"):
        if link.get("title") == "pdf" and link.get("href"):
            extra["pdf_url"] = link.get("href")
    affiliations = {
        name: aff
        for a in entry.findall(f"{ATOM}author")
        if (name := collapse(_text(a.find(f"{ATOM}name")))) and (aff := collapse(_text(a.find(f"{ARXIV}affiliation"))))
    }
    if affiliations:
        extra["affiliations"] = affiliations

    paper = Paper(
        arxiv_id=arxiv_id,
        title=title,
        authors=authors,
        abstract=unwrap(_text(entry.find(f"{ATOM}summary"))),
        digest_date=digest_date,
        source="arxiv",
        extra=extra,
    )
    return paper


def total_results(text: str | bytes) -> int | None:
    """Return ``opensearch:totalResults`` of a feed, or None when absent or unreadable."""
    try:
        value = _text(ET.fromstring(text).find(f"{OPENSEARCH}totalResults")).strip()
        return int(value)
    except (ET.ParseError, ValueError):
        return None


def is_category(text: str) -> bool:
    """Tell whether ``text`` looks like an arXiv category (``cs.CL``, ``hep-th``, ``math.AG``)."""
    return _CATEGORY.fullmatch(text) is not None


def category_query(categories: Sequence[str], day: date) -> str:
    """Return the ``search_query`` for papers of ``categories`` submitted on ``day`` (GMT)."""
    if not categories:
        raise ValueError("at least one arXiv category is needed")
    for cat in categories:
        if not is_category(cat):
            raise ValueError(f"not an arXiv category: {cat!r}")
    stamp = day.strftime("%Y%m%d")
    cats = " OR ".join(f"cat:{c}" for c in categories)
    if len(categories) > 1:
        cats = f"({cats})"
    return f"{cats} AND submittedDate:[{stamp}0000 TO {stamp}2359]"


class ArxivClient(_http.SessionClient):
    """Query the arXiv export API at most once every ``min_interval`` seconds, with retries.

    Use as ``async with ArxivClient(session=s) as arxiv: papers = await arxiv.fetch_by_ids(ids)``.
    ``clock`` (monotonic seconds) and ``sleep`` are injectable so tests can check the spacing
    without waiting; the same ``sleep`` serves retry backoff.
    """

    def __init__(
        self,
        base_url: str = ARXIV_BASE_URL,
        min_interval: float = MIN_INTERVAL,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30,
        retries: int = 4,
        backoff: float = 3.0,
        clock: Clock = time.monotonic,
        sleep: _http.Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        batch_size: int = MAX_IDS_PER_REQUEST,
        max_bytes: int = _http.MAX_BODY_BYTES,
    ) -> None:
        if not 1 <= batch_size <= MAX_IDS_PER_REQUEST:
            raise ValueError(f"batch_size must be 1..{MAX_IDS_PER_REQUEST}, got {batch_size}")
        self.base_url = base_url.rstrip("/")
        self.min_interval = min_interval
        super().__init__(
            session,
            timeout=timeout,
            policy=_http.RetryPolicy(retries=retries, backoff=backoff),
            sleep=sleep,
            jitter=jitter,
            max_bytes=max_bytes,
        )
        self._clock = clock
        self.batch_size = batch_size
        self._pace_lock = asyncio.Lock()
        self._last_request: float | None = None

    async def _pace(self) -> None:
        async with self._pace_lock:
            if self._last_request is not None:
                wait = self._last_request + self.min_interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            self._last_request = self._clock()

    async def _query(
        self, params: dict[str, str | int], digest_date: date | None
    ) -> tuple[list[Paper], str, int | None]:
        url = _http.build_url(self.base_url, QUERY_PATH, params)
        response = await self._get(url, before_attempt=self._pace)
        papers = parse_arxiv_feed(response.body, origin=url, digest_date=digest_date)
        return papers, url, total_results(response.body)

    async def fetch_by_ids(self, ids: Sequence[str]) -> list[Paper]:
        """Return the papers with these ids (new or old style, any version), in the order asked.

        Ids are normalised and de-duplicated, then asked for in batches of at most
        ``batch_size``. An id arXiv does not return is logged and left out.
        """
        wanted: list[str] = []
        for raw in ids:
            norm = normalize_arxiv_id(raw)
            if norm is None:
                raise SourceError(f"arXiv id list: not an arXiv id: {raw!r}")
            if norm not in wanted:
                wanted.append(norm)
        found: dict[str, Paper] = {}
        for start in range(0, len(wanted), self.batch_size):
            batch = wanted[start : start + self.batch_size]
            papers, url, _ = await self._query({"id_list": ",".join(batch), "max_results": len(batch)}, None)
            for paper in papers:
                found.setdefault(paper.arxiv_id, paper)
            missing = [i for i in batch if i not in found]
            if missing:
                log.info("GET %s: arXiv returned nothing for %s", url, ", ".join(missing))
        return [found[i] for i in wanted if i in found]

    async def fetch_category(self, categories: list[str], day: date, max_results: int = 200) -> list[Paper]:
        """Return papers of ``categories`` submitted on ``day`` (GMT), newest first, up to ``max_results``."""
        if not 1 <= max_results <= MAX_RESULTS_PER_CALL:
            raise ValueError(f"max_results must be 1..{MAX_RESULTS_PER_CALL}, got {max_results}")
        params: dict[str, str | int] = {
            "search_query": category_query(categories, day),
            "sortBy": "submittedDate",
            "sortOrder": "descending",
            "start": 0,
            "max_results": max_results,
        }
        papers, url, total = await self._query(params, day)
        if total is not None and total > len(papers):
            log.warning("GET %s: %d papers match, only the first %d were asked for", url, total, len(papers))
        log.info("GET %s: %d papers", url, len(papers))
        return papers
