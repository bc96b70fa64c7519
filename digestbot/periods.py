"""Digest cadences and the periods they cover: a day, an ISO week, a calendar month.

A channel's ``cadence`` says how often it gets a digest. A weekly or monthly digest is the
period's top papers by votes across its stored daily lists, each paper once (the list it had
the most votes in wins). Pure: no clock, no I/O, so the scheduler, ``preview --week`` and
``post --month`` reason about periods alike.

A period is named the way people write it: ``2024-W41`` (ISO 8601 week, Monday to Sunday;
the ISO year can differ from the calendar year around New Year) and ``2024-10``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from digestbot.errors import CommandError
from digestbot.records import Digest, Paper

Cadence = Literal["daily", "weekly", "monthly"]
CADENCES: tuple[Cadence, ...] = ("daily", "weekly", "monthly")

_WEEK = re.compile(r"(?P<year>\d{4})-?W(?P<week>\d{2})", re.ASCII | re.IGNORECASE)
_MONTH = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})", re.ASCII)
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, kw_only=True)
class Period:
    """The days one digest covers: ``start`` to ``end`` inclusive, and how it is named."""

    cadence: Cadence
    start: date
    end: date

    @property
    def name(self) -> str:
        """Return the period as people write it: ``2024-10-11``, ``2024-W41`` or ``2024-10``."""
        if self.cadence == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.cadence == "monthly":
            return f"{self.start.year}-{self.start.month:02d}"
        return self.start.isoformat()

    @property
    def slot(self) -> Literal["post", "post-week", "post-month"]:
        """Return the outbox slot of a channel post for this period (daily posts keep ``post``)."""
        return "post-week" if self.cadence == "weekly" else "post-month" if self.cadence == "monthly" else "post"

    @property
    def dm_slot(self) -> Literal["matches", "matches-week", "matches-month"]:
        """Return the outbox slot of a subscriber's DM for this period (daily DMs keep ``matches``)."""
        if self.cadence == "daily":
            return "matches"
        return "matches-week" if self.cadence == "weekly" else "matches-month"

    def days(self) -> list[date]:
        """Return every date of the period, oldest first."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def span(self) -> str:
        """Return the dates in words: ``7–13 Oct``, ``30 Sep–6 Oct``, ``30 Dec 2024–5 Jan 2025``."""
        s, e = self.start, self.end
        if s.year != e.year:
            return f"{s.day} {_MONTH_ABBR[s.month - 1]} {s.year}–{e.day} {_MONTH_ABBR[e.month - 1]} {e.year}"
        if s.month != e.month:
            return f"{s.day} {_MONTH_ABBR[s.month - 1]}–{e.day} {_MONTH_ABBR[e.month - 1]}"
        return f"{s.day}–{e.day} {_MONTH_ABBR[s.month - 1]}"


def week_of(day: date) -> Period:
    """Return the ISO week (Monday to Sunday) that contains ``day``."""
    start = day - timedelta(days=day.weekday())
    return Period(cadence="weekly", start=start, end=start + timedelta(days=6))


def month_of(day: date) -> Period:
    """Return the calendar month that contains ``day``."""
    start = day.replace(day=1)
    following = (start + timedelta(days=31)).replace(day=1)
    return Period(cadence="monthly", start=start, end=following - timedelta(days=1))


def day_period(day: date) -> Period:
    """Return the one-day period of a daily digest."""
    return Period(cadence="daily", start=day, end=day)


def parse_week(text: str) -> Period:
    """Return the ISO week written ``2024-W41``; raise CommandError saying the form otherwise."""
    m = _WEEK.fullmatch(text.strip())
    if m is None:
        raise CommandError(f"expected an ISO week such as 2024-W41, got {text[:40]!r}")
    try:
        start = date.fromisocalendar(int(m["year"]), int(m["week"]), 1)
    except ValueError:
        raise CommandError(f"{text[:40]!r} is no ISO week (weeks run 01 to 52 or 53)") from None
    return week_of(start)


def parse_month(text: str) -> Period:
    """Return the month written ``2024-10``; raise CommandError saying the form otherwise."""
    m = _MONTH.fullmatch(text.strip())
    if m is None or not 1 <= int(m["month"]) <= 12 or int(m["year"]) < 1:
        raise CommandError(f"expected a month such as 2024-10, got {text[:40]!r}")
    return month_of(date(int(m["year"]), int(m["month"]), 1))


def previous_period(cadence: Cadence, local_day: date) -> Period:
    """Return the period a post made on ``local_day`` covers.

    Daily: the day itself (the engine picks the list date by its own rule). Weekly: the ISO
    week before the one ``local_day`` is in. Monthly: the month before ``local_day``'s.
    """
    if cadence == "weekly":
        return week_of(local_day - timedelta(days=7))
    if cadence == "monthly":
        return month_of(local_day.replace(day=1) - timedelta(days=1))
    return day_period(local_day)


def post_covers(cadence: Cadence, local_day: date, list_day: date) -> str:
    """Say what a post made on ``local_day`` covers, for ``status`` and the start-up log.

    A daily post covers one day's list (``list_day``, picked by the engine's settling rule); a
    weekly or monthly one covers the period before ``local_day``'s, which is what people need to
    read to know what to expect ("week 2024-W41, 7–13 Oct"), not one day's list.
    """
    if cadence == "daily":
        return f"the list of {list_day.isoformat()}"
    period = previous_period(cadence, local_day)
    return f"{'week' if cadence == 'weekly' else 'month'} {period.name}, {period.span()}"


def aggregate(period: Period, digests: Iterable[Digest]) -> Digest:
    """Return the period's digest: its daily lists' papers, each once, ranked by votes.

    A paper on several daily lists is kept with the most votes it had (its latest record
    otherwise); ties keep the earlier day's order, so the result is stable. The digest is dated
    ``period.start``; callers cut it to a channel's top N.
    """
    best: dict[str, tuple[int, int, Paper]] = {}
    order = 0
    for digest in sorted(digests, key=lambda d: d.date):
        if not period.start <= digest.date <= period.end:
            continue
        for paper in digest.papers:
            votes = paper.votes or 0
            seen = best.get(paper.arxiv_id)
            if seen is None:
                best[paper.arxiv_id] = (votes, order, paper)
                order += 1
            elif votes >= seen[0]:
                best[paper.arxiv_id] = (votes, seen[1], paper)
    ranked = sorted(best.values(), key=lambda item: (-item[0], item[1]))
    return Digest(date=period.start, papers=tuple(p for _, _, p in ranked), period=period)
