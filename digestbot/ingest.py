"""Fetch papers from the live sources into the archive: one day, a backfill range, or before a post.

A source is a :data:`DayFetch`: Hugging Face's Daily Papers list of a day
(``HuggingFaceClient.fetch_day``) or arXiv's submissions of a day in the configured categories
(:func:`arxiv_day_fetch`). Each day is fetched completely and then stored in one transaction, so
an interrupted backfill leaves whole days behind it; re-running skips the days already in the
archive (unless ``refresh``) and so resumes where it stopped. Re-fetching a day updates votes,
never duplicates.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TextIO

from digestbot.config import Config
from digestbot.enrich import enrich_missing, fill_from_arxiv
from digestbot.errors import CommandError, SourceError
from digestbot.periods import Period
from digestbot.records import Paper
from digestbot.schedule import is_weekend
from digestbot.sources.arxiv import MAX_RESULTS_PER_CALL, ArxivClient
from digestbot.sources.huggingface import HuggingFaceClient
from digestbot.store.protocol import StoreProtocol
from digestbot.store.records import UpsertResult
from digestbot.wording import plural

log = logging.getLogger(__name__)

MAX_BACKFILL_DAYS = 3660
NO_CATEGORIES = "no arXiv categories configured: set sources.arxiv.categories, e.g. [cs.CL, cs.LG]"

BULK_LOAD_MIN = 20_000
"""Papers in one input from which :func:`store_papers` may take the bulk path."""

#: Fetch one day's papers from a source (every page of it).
DayFetch = Callable[[date], Awaitable[list[Paper]]]


@dataclass(frozen=True, kw_only=True)
class DayReport:
    """What one day's fetch brought in."""

    day: date
    fetched: int = 0
    added: int = 0
    updated: int = 0
    skipped: bool = False


def hf_client(config: Config) -> HuggingFaceClient:
    """Return a Hugging Face client configured from ``sources.huggingface``."""
    hf = config.sources.huggingface
    return HuggingFaceClient(hf.base_url, timeout=hf.timeout)


def arxiv_client(config: Config) -> ArxivClient:
    """Return an arXiv client configured from ``sources.arxiv`` (3 s between requests by default)."""
    arxiv = config.sources.arxiv
    return ArxivClient(arxiv.base_url, arxiv.min_interval, timeout=arxiv.timeout)


def arxiv_day_fetch(store: StoreProtocol, client: ArxivClient, categories: Sequence[str]) -> DayFetch:
    """Return a :data:`DayFetch` of arXiv's submissions in ``categories`` (GMT day).

    A paper the archive already holds (say from Hugging Face's list) keeps its title, author
    order and votes: arXiv only fills its gaps (:func:`~digestbot.enrich.fill_from_arxiv`).
    """
    if not categories:
        raise CommandError(NO_CATEGORIES)

    async def fetch(day: date) -> list[Paper]:
        papers = await client.fetch_category(list(categories), day, max_results=MAX_RESULTS_PER_CALL)
        known = await store.get_papers([p.arxiv_id for p in papers])
        return [fill_from_arxiv(known[p.arxiv_id], p) if p.arxiv_id in known else p for p in papers]

    return fetch


async def store_papers(
    store: StoreProtocol, papers: Sequence[Paper], *, digest_date: date | None = None
) -> UpsertResult:
    """Store one input's papers: an upsert, or :meth:`bulk_load` when the input is big next to the archive.

    Row by row, every paper updates two full-text indexes and the lookup vocabulary as it goes
    in; the bulk path sets them aside and rebuilds them once from the whole table, which is
    much faster for a big input and wasteful for a small one next to a big archive (the
    rebuild reads every stored paper). Bulk from BULK_LOAD_MIN papers and a fifth of the archive.
    """
    if len(papers) >= BULK_LOAD_MIN and len(papers) * 5 >= await store.count_papers():
        log.info("storing %d papers through the bulk path", len(papers))
        return await store.bulk_load(papers, digest_date=digest_date)
    return await store.upsert_papers(papers, digest_date=digest_date)


async def ingest_day(store: StoreProtocol, fetch: DayFetch, day: date) -> DayReport:
    """Fetch ``day``'s papers from a source and store them as that day's digest (one transaction)."""
    papers = await fetch(day)
    if not papers:
        return DayReport(day=day)
    result = await store.upsert_papers(papers, digest_date=day)
    return DayReport(day=day, fetched=len(papers), added=result.added, updated=result.updated)


async def ingest_latest(store: StoreProtocol, client: HuggingFaceClient) -> DayReport | None:
    """Fetch the newest list Hugging Face has and store it; None when it is empty."""
    papers = await client.fetch_latest()
    days = sorted({p.digest_date for p in papers if p.digest_date})
    if not days:
        return None
    result = await store.upsert_papers(papers)
    return DayReport(day=days[-1], fetched=len(papers), added=result.added, updated=result.updated)


async def backfill(
    store: StoreProtocol,
    fetch: DayFetch,
    since: date,
    until: date,
    *,
    refresh: bool = False,
    progress: Callable[[int, int, DayReport], None] | None = None,
) -> list[DayReport]:
    """Fetch every day in [since, until], skipping days already stored unless ``refresh``."""
    if until < since:
        raise CommandError(f"--until {until} is before --since {since}")
    total = (until - since).days + 1
    if total > MAX_BACKFILL_DAYS:
        raise CommandError(f"a backfill of {total} days is too long (at most {MAX_BACKFILL_DAYS}); split it")
    stored = set() if refresh else set(await store.digest_dates(limit=total, since=since, until=until))
    reports = []
    for i in range(total):
        day = since + timedelta(days=i)
        report = DayReport(day=day, skipped=True) if day in stored else await ingest_day(store, fetch, day)
        reports.append(report)
        if progress:
            progress(i + 1, total, report)
    return reports


def progress_printer(stream: TextIO | None = None) -> Callable[[int, int, DayReport], None] | None:
    """Return a one-line progress bar for a TTY on stderr, or None when stderr is not a terminal."""
    out = stream or sys.stderr
    if not out.isatty():
        return None

    def show(done: int, total: int, report: DayReport) -> None:
        width = 30
        filled = width * done // total
        note = "stored" if report.skipped else plural(report.fetched, "paper")
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {report.day} {note:<12}")
        if done == total:
            out.write("\n")
        out.flush()

    return show


def summarize(reports: list[DayReport]) -> str:
    """Return the one-line summary printed after an ingest."""
    fetched = [r for r in reports if not r.skipped]
    papers = sum(r.fetched for r in fetched)
    empty = [r for r in fetched if r.fetched == 0]
    return (
        f"{plural(len(reports), 'day')}: {len(fetched)} fetched ({plural(papers, 'paper')}:"
        f" {sum(r.added for r in fetched)} added,"
        f" {sum(r.updated for r in fetched)} updated), {len(reports) - len(fetched)} already stored,"
        f" {len(empty)} empty ({sum(is_weekend(r.day) for r in empty)} weekend)"
    )


async def ingest_period(store: StoreProtocol, client: HuggingFaceClient, period: Period) -> int:
    """Fetch a week's or month's list from Hugging Face and store each paper under its own day; return how many."""
    papers = await client.fetch_period(period)
    if papers:
        await store.upsert_papers(papers)
    return len(papers)


def before_period_hook(store: StoreProtocol, config: Config) -> Callable[[Period], Awaitable[None]]:
    """Return the engine's ``before_period(period)`` hook: fetch the period's list where the source has one.

    Hugging Face serves ``week=`` and ``month=`` lists; arXiv has none (its days are fetched
    daily anyway). A failed fetch raises its SourceError; the engine then posts from the archive.
    """

    async def before_period(period: Period) -> None:
        if period.cadence == "daily" or not config.sources.huggingface.enabled:
            return
        async with hf_client(config) as client:
            count = await ingest_period(store, client, period)
        log.info("ingested %d papers of %s before posting", count, period.name)

    return before_period


def before_post_hook(store: StoreProtocol, config: Config) -> Callable[[date], Awaitable[None]]:
    """Return the scheduler's ``before_post(day)`` hook: fetch the day's list, or keep what is stored.

    With ``sources.arxiv.enabled`` the day's papers missing an abstract or categories are then
    filled from arXiv. A failed fetch raises its SourceError after that, so the engine posts from
    the archive at once (a digest from stored data beats no digest, and waiting for a source that
    is down does not help); a failed enrichment is logged and never
    reported as a failure, so it cannot change the post.
    """

    async def before_post(day: date) -> None:
        failed: SourceError | None = None
        if config.sources.huggingface.enabled:
            try:
                async with hf_client(config) as client:
                    report = await ingest_day(store, client.fetch_day, day)
                log.info("ingested %d papers for %s before posting", report.fetched, day)
            except SourceError as exc:
                failed = exc  # raised below: the engine then posts from the archive at once
        if config.sources.arxiv.enabled:
            try:
                async with arxiv_client(config) as arxiv:
                    await enrich_missing(store, arxiv, day=day)
            except SourceError as exc:
                log.warning("enriching %s from arXiv failed, posting without it: %s", day, exc)
            except Exception:  # optional extras: a bug here must not turn into a "source unreachable" notice
                log.exception("enriching %s from arXiv failed, posting without it", day)
        if failed is not None:
            raise failed

    return before_post
