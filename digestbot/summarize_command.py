"""``digestbot summarize``: make the missing summaries of a day (or a range) ahead of posting.

Ends with ``summarized N, cached M, failed K``; ``-v`` first prints the tokens spent. Exit 0 when
nothing failed, 75 (retry later) when some papers got no summary (running it again retries only
those), 2 for a refused key or unknown model (a configuration error, one line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TextIO

from digestbot.config import Config
from digestbot.errors import CommandError
from digestbot.records import Paper
from digestbot.store import StoreProtocol, open_store

EXIT_RETRY = 75
MAX_DAYS = 3660


def progress_bar(stream: TextIO | None = None) -> Callable[[int, int], None] | None:
    """Return a one-line progress bar for a terminal on stderr, or None when it is not one."""
    out = stream or sys.stderr
    if not out.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} summaries")
        if done == total:
            out.write("\n")
        out.flush()

    return show


async def _papers(store: StoreProtocol, args: argparse.Namespace) -> list[Paper]:
    if args.since or args.until:
        until = args.until or date.today()  # noqa: DTZ011 — a calendar date the user means locally
        since = args.since or until
        if until < since:
            raise CommandError(f"--until {until} is before --since {since}")
        days = await store.digest_dates(limit=MAX_DAYS, since=since, until=until)
        if not days:
            raise CommandError(f"no digest between {since} and {until}: run 'digestbot ingest' first")
    else:
        day = args.date or await store.latest_digest_date()
        if day is None:
            raise CommandError("the archive holds no digest yet: run 'digestbot ingest' first")
        days = [day]
    papers: list[Paper] = []
    for day in sorted(days):
        digest = await store.digest(day)
        if digest is None:
            known = ", ".join(d.isoformat() for d in await store.digest_dates(limit=5)) or "none"
            raise CommandError(f"no digest for {day.isoformat()} (newest dates: {known})")
        papers.extend(digest.papers)
    return papers


async def cmd_summarize(args: argparse.Namespace, config: Config, db: Path | str) -> tuple[list[str], int]:
    """Make the missing summaries asked for; return the lines to print and the exit status."""
    from digestbot.config import valid_language
    from digestbot.summaries.runner import languages_in_use, make_summaries

    if not config.summaries.enabled:
        raise CommandError("summaries are off: set summaries.enabled: true in the config (see config.example.yaml)")
    if args.date and (args.since or args.until):
        raise CommandError("give --date, or --since/--until, not both")
    if args.language is not None and not valid_language(args.language):
        raise CommandError(f"--language: expected a language code such as ko, en, ja or pt-BR, got {args.language!r}")
    async with await open_store(db, create=False) as store:  # an existing archive: see cli.existing_db
        papers = await _papers(store, args)
        languages = [args.language] if args.language else await languages_in_use(store, config)
        report = await make_summaries(store, config, papers, languages, refresh=args.refresh, progress=progress_bar())
    lines = [report.usage_line()] if args.verbose else []
    lines.append(report.line())
    return lines, EXIT_RETRY if report.failed else 0
