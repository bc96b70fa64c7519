"""Fetch papers from the live sources into the archive: one day, a backfill range, or before a post.

Each day is fetched completely (all pages) and then stored in one transaction, so an interrupted
backfill leaves whole days behind it; re-running skips the days already in the archive (unless
``refresh``) and so resumes where it stopped. Re-fetching a day updates votes, never duplicates.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TextIO

from digestbot.config import Config
from digestbot.errors import CommandError, SourceError
from digestbot.schedule import is_weekend
from digestbot.sources.huggingface import HuggingFaceClient
from digestbot.store import Store

log = logging.getLogger(__name__)

MAX_BACKFILL_DAYS = 3660


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


async def ingest_day(store: Store, client: HuggingFaceClient, day: date) -> DayReport:
    """Fetch ``day``'s Daily Papers list and store it (one transaction)."""
    papers = await client.fetch_day(day)
    if not papers:
        return DayReport(day=day)
    result = await store.upsert_papers(papers, digest_date=day)
    return DayReport(day=day, fetched=len(papers), added=result.added, updated=result.updated)


async def ingest_latest(store: Store, client: HuggingFaceClient) -> DayReport | None:
    """Fetch the newest list Hugging Face has and store it; None when it is empty."""
    papers = await client.fetch_latest()
    days = sorted({p.digest_date for p in papers if p.digest_date})
    if not days:
        return None
    result = await store.upsert_papers(papers)
    return DayReport(day=days[-1], fetched=len(papers), added=result.added, updated=result.updated)


async def backfill(
    store: Store,
    client: HuggingFaceClient,
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
    stored = set(await store.digest_dates(limit=total + 1_000_000)) if not refresh else set()
    reports = []
    for i in range(total):
        day = since + timedelta(days=i)
        report = DayReport(day=day, skipped=True) if day in stored else await ingest_day(store, client, day)
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
        note = "stored" if report.skipped else f"{report.fetched} papers"
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
        f"{len(reports)} days: {len(fetched)} fetched ({papers} papers: {sum(r.added for r in fetched)} added,"
        f" {sum(r.updated for r in fetched)} updated), {len(reports) - len(fetched)} already stored,"
        f" {len(empty)} empty ({sum(is_weekend(r.day) for r in empty)} weekend)"
    )


def before_post_hook(store: Store, config: Config) -> Callable[[date], Awaitable[None]]:
    """Return the scheduler's ``before_post(day)`` hook: fetch the day's list, or keep what is stored.

    A failed fetch is logged and the post goes on with the archive's papers: a digest from
    stored data beats no digest.
    """

    async def before_post(day: date) -> None:
        if not config.sources.huggingface.enabled:
            return
        try:
            async with hf_client(config) as client:
                report = await ingest_day(store, client, day)
            log.info("ingested %d papers for %s before posting", report.fetched, day)
        except SourceError as exc:
            log.warning("fetching %s failed, posting from the archive: %s", day, exc)

    return before_post
