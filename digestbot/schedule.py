"""When each channel's digest is due: pure wall-clock arithmetic over IANA time zones.

Nothing here sleeps, reads a clock or does I/O; every function takes the instant it reasons
about, so the engine (which owns a :class:`digestbot.clock.Clock`) and the tests drive it alike.

A :class:`Schedule` is a local wall time, an IANA zone and a set of weekdays. For each enabled
local date there is exactly one due instant (:func:`occurrence`), also across daylight-saving
changes:

* **spring forward** — a wall time the clocks skip (America/New_York 2026-03-08 02:30) is
  shifted forward by the length of the gap: 02:30 becomes 03:30 EDT that day. This is what
  PEP 495 gives for ``fold=0`` (the offset in force *before* the transition is applied);
* **fall back** — a wall time that happens twice (America/New_York 2026-11-01 01:30) posts
  once, at the first of the two (``fold=0``, still daylight time);
* a local date the zone skips entirely (Pacific/Apia jumped from 2011-12-29 to 2011-12-31)
  has no occurrence, so two dates never share one instant.

Every datetime a caller passes in must be time-zone-aware (``ValueError`` otherwise); every
instant handed back is aware UTC.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from digestbot.errors import ConfigError
from digestbot.zones import zones_for

__all__ = [
    "ALL_WEEKDAYS",
    "DEFAULT_CATCH_UP_WINDOW",
    "LIST_SETTLES_AFTER",
    "CatchUp",
    "Due",
    "Schedule",
    "catch_up",
    "default_digest_date",
    "due_between",
    "is_weekend",
    "load_zone",
    "next_due",
    "nominal_list_date",
    "occurrence",
    "parse_schedule",
]

ALL_WEEKDAYS: frozenset[int] = frozenset(range(7))
DEFAULT_CATCH_UP_WINDOW = timedelta(hours=24)

#: How long after the end of UTC day D the Hugging Face daily list for D is taken as complete.
#: Papers keep being added to D's list until early on D+1 (UTC); six hours is a margin chosen
#: here, not a documented Hugging Face guarantee.
LIST_SETTLES_AFTER = timedelta(0)

_DAY = timedelta(days=1)
_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_BY_NAME = {name: i for names in (_WEEKDAY_NAMES, _FULL_WEEKDAY_NAMES) for i, name in enumerate(names)}
_HHMM = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})", re.ASCII)

#: A due post: the channel-local date it is for, and the aware UTC instant it is due.
Due = tuple[date, datetime]


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """Post at local wall ``time`` in IANA zone ``timezone`` on ``weekdays`` (0 = Monday)."""

    time: time
    timezone: str
    weekdays: frozenset[int] = ALL_WEEKDAYS
    month_day: int | None = None  # a monthly cadence: post only on this day of the month (1)
    zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.time.tzinfo is not None:
            raise ConfigError(f"schedule time {self.time} must be a wall time without a zone")
        object.__setattr__(self, "time", self.time.replace(fold=0))
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if not self.weekdays:
            raise ConfigError("schedule has no weekdays, so it would never post")
        if not self.weekdays <= ALL_WEEKDAYS:
            raise ConfigError(f"schedule weekdays must be 0 (Mon) to 6 (Sun), got {sorted(self.weekdays)}")
        object.__setattr__(self, "zone", load_zone(self.timezone))

    def describe(self) -> str:
        """Say when this schedule posts, for logs and status replies (``09:00 Asia/Seoul mon-fri``)."""
        days = ",".join(_WEEKDAY_NAMES[d] for d in sorted(self.weekdays))
        if self.weekdays == ALL_WEEKDAYS:
            days = "daily"
        elif self.weekdays == frozenset(range(5)):
            days = "mon-fri"
        if self.month_day is not None:
            days = f"monthly on day {self.month_day}"
        return f"{self.time.isoformat(timespec='minutes')} {self.timezone} {days}"


@dataclass(frozen=True, kw_only=True)
class CatchUp:
    """What to do on start-up for occurrences missed while the bot was down.

    ``due`` is the one occurrence to post now (the newest missed one, if it is recent
    enough), ``skipped`` the older or too-old ones, oldest first, for the caller to log.
    """

    due: Due | None = None
    skipped: tuple[Due, ...] = ()

    @property
    def missed(self) -> tuple[Due, ...]:
        """Return every missed occurrence, oldest first, whether due now or skipped."""
        return tuple(sorted((*self.skipped, *([self.due] if self.due else []))))


# --- parsing -------------------------------------------------------------------------------


def parse_schedule(time: str, timezone: str, weekdays: list[str] | None, where: str) -> Schedule:
    """Build a :class:`Schedule` from config values, naming ``where`` (``channels[2]``) in errors.

    ``time`` is ``"HH:MM"`` (24-hour), ``timezone`` an IANA name such as ``"Asia/Seoul"``,
    ``weekdays`` a list like ``["mon", "tue"]`` (full names too, any case) or None for every day.
    Values straight from YAML are checked at run time, whatever their type.
    """
    wall = _parse_time(time, f"{where}.time")
    if not isinstance(timezone, str):
        raise ConfigError(f"{where}.timezone: expected an IANA name such as 'Asia/Seoul', got {timezone!r}")
    try:
        load_zone(timezone)
    except ConfigError as err:
        raise ConfigError(f"{where}.timezone: {err}") from None
    days = ALL_WEEKDAYS if weekdays is None else _parse_weekdays(weekdays, f"{where}.weekdays")
    return Schedule(time=wall, timezone=timezone, weekdays=days)


def _parse_time(value: Any, where: str) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 (PyYAML) reads an unquoted 12:30 as the base-60 integer 750.
        raise ConfigError(f'{where}: got the number {value}; quote the time, e.g. "09:30"')
    if not isinstance(value, str):
        raise ConfigError(f'{where}: expected a time "HH:MM", got {value!r}')
    if value.strip().isdigit():
        # The config loader turned YAML's base-60 reading of an unquoted 9:00 (540) into text.
        raise ConfigError(f'{where}: got the number {value.strip()}; quote the time, e.g. "09:30"')
    m = _HHMM.fullmatch(value.strip())
    if not m or int(m["hour"]) > 23 or int(m["minute"]) > 59:
        raise ConfigError(f'{where}: expected a 24-hour time "HH:MM" such as "09:30", got {value!r}')
    return time(int(m["hour"]), int(m["minute"]))


def _parse_weekdays(values: Any, where: str) -> frozenset[int]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ConfigError(f"{where}: expected a list such as [mon, tue, wed], got {values!r}")
    if not values:
        raise ConfigError(f"{where}: empty list, so the channel would never post; leave it out for every day")
    days: set[int] = set()
    for i, value in enumerate(values):
        key = value.strip().lower() if isinstance(value, str) else None
        if key not in _WEEKDAY_BY_NAME:
            raise ConfigError(f"{where}[{i}]: unknown weekday {value!r}; use {', '.join(_WEEKDAY_NAMES)}")
        days.add(_WEEKDAY_BY_NAME[key])
    return frozenset(days)


def load_zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA zone ``name``, or raise ConfigError naming it and suggesting close names."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    known = _available_zones()
    if not known:
        raise ConfigError(f"unknown time zone {name!r}: no time zone database found; install the 'tzdata' package")
    if meant := [zone for zone in zones_for(name) if zone in known]:
        # An offset or an abbreviation: spelling suggestions would be hours off (UTC+9 -> UTC).
        raise ConfigError(f"unknown time zone {name!r}; did you mean {' or '.join(meant)}?")
    by_lower = {key.lower(): key for key in known}
    wanted = name.strip().replace(" ", "_").lower()
    if wanted in by_lower:  # only the case was wrong: that is the one answer
        matches = [wanted]
    else:
        # The last path part alone ("Seoul", "new york") is how people often misremember a zone.
        matches = [low for low in by_lower if low.rsplit("/", 1)[-1] == wanted]
        matches += difflib.get_close_matches(wanted, list(by_lower), n=3, cutoff=0.6)
    suggestions = list(dict.fromkeys(by_lower[low] for low in matches))[:3]
    if suggestions:
        hint = f"; did you mean {' or '.join(suggestions)}?"
    else:
        hint = "; use an IANA name such as 'Europe/Berlin'"
    raise ConfigError(f"unknown time zone {name!r}{hint}")


@functools.cache
def _available_zones() -> frozenset[str]:
    # Walks the zone database on disk: only done when a name fails, and once.
    return frozenset(zoneinfo.available_timezones())


# --- occurrences ---------------------------------------------------------------------------


def occurrence(schedule: Schedule, local_date: date) -> datetime | None:
    """Return the aware UTC instant the post for ``local_date`` is due, or None on an off day.

    A wall time in a spring-forward gap is shifted forward by the gap; one in a fall-back
    repeat is taken at its first occurrence; a local date the zone skipped has none.
    """
    if local_date.weekday() not in schedule.weekdays:
        return None
    if schedule.month_day is not None and local_date.day != schedule.month_day:
        return None
    # fold=0: first of a repeated wall time; in a gap, the pre-transition offset, which
    # lands the same distance past the gap's end as the wall time was past its start.
    due = datetime.combine(local_date, schedule.time, tzinfo=schedule.zone).astimezone(UTC)
    local_wall = due.astimezone(schedule.zone).replace(tzinfo=None)
    if local_wall >= datetime.combine(local_date + _DAY, schedule.time):
        return None  # a gap of a day or more: this date never happened on local clocks
    return due


def _occurrences_from(schedule: Schedule, first: date) -> Iterator[Due]:
    day = first
    while True:
        if (due := occurrence(schedule, day)) is not None:
            yield day, due
        day += _DAY


def _local_date(schedule: Schedule, instant: datetime) -> date:
    return instant.astimezone(schedule.zone).date()


def next_due(schedule: Schedule, after: datetime) -> Due:
    """Return the first (local date, UTC instant) due strictly after the aware ``after``."""
    _require_aware(after, "after")
    # Start a day early: a gap shift can push the previous date's post past local midnight.
    for day, due in _occurrences_from(schedule, _local_date(schedule, after) - _DAY):
        if due > after:
            return day, due
    raise AssertionError("unreachable: a schedule has at least one weekday")  # pragma: no cover


def due_between(schedule: Schedule, start: datetime, end: datetime) -> list[Due]:
    """Return the occurrences due in (``start``, ``end``], oldest first."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    found: list[Due] = []
    if end <= start:
        return found
    # Two days of margin each side: local dates and instants can be out of step by a day
    # around gaps and around fall-backs at midnight.
    last = _local_date(schedule, end) + 2 * _DAY
    for day, due in _occurrences_from(schedule, _local_date(schedule, start) - 2 * _DAY):
        if day > last:
            break
        if start < due <= end:
            found.append((day, due))
    found.sort(key=lambda pair: pair[1])
    return found


def catch_up(
    schedule: Schedule,
    last_seen: datetime | None,
    now: datetime,
    window: timedelta = DEFAULT_CATCH_UP_WINDOW,
) -> CatchUp:
    """Decide what to post on start-up after the bot was down from ``last_seen`` to ``now``.

    Of the occurrences in (``last_seen``, ``now``], only the newest is due now, and only if it
    is at most ``window`` old: a channel never gets a backlog. The rest are returned as skipped
    so the caller can log them. ``last_seen`` is the newest instant the caller has already
    handled (posted or skipped) for this channel; None means the schedule never ran, so nothing
    was missed (pass ``now - window`` instead to post a recent occurrence on first start).
    """
    _require_aware(now, "now")
    if window < timedelta(0):
        raise ValueError(f"catch-up window must not be negative, got {window}")
    if last_seen is None:
        return CatchUp()
    _require_aware(last_seen, "last_seen")
    missed = due_between(schedule, last_seen, now)
    if missed and now - missed[-1][1] <= window:
        return CatchUp(due=missed[-1], skipped=tuple(missed[:-1]))
    return CatchUp(skipped=tuple(missed))


# --- which digest should exist -------------------------------------------------------------


def is_weekend(day: date) -> bool:
    """Tell whether ``day`` is a Saturday or Sunday, when the daily list stays empty."""
    return day.weekday() >= 5


def nominal_list_date(now_utc: datetime, settle: timedelta = LIST_SETTLES_AFTER) -> date:
    """Return the UTC list date that settled most recently at ``now_utc`` (weekends included)."""
    _require_aware(now_utc, "now_utc")
    return (now_utc.astimezone(UTC) - settle).date() - _DAY


def default_digest_date(now_utc: datetime, settle: timedelta = LIST_SETTLES_AFTER) -> date:
    """Return the newest weekday whose Hugging Face daily list is taken as complete at ``now_utc``.

    The list for UTC date D keeps filling until early on D+1 and is empty at weekends. D is
    taken once its UTC day has ended plus ``settle`` (``delivery.list_settles_hours``, default 0):
    so a 09:00 post in Seoul (00:00 UTC) gets yesterday's list rather than one two days old,
    and the scheduler re-fetches that list right before posting to pick up late additions.
    Teams that prefer a fully settled list raise ``settle`` (6 h covers the stragglers).
    Weekend dates step back to the Friday: with the default, Tue 00:00 UTC gives Monday, and
    Saturday 00:00 through Monday 23:59 UTC give that Friday.
    """
    day = nominal_list_date(now_utc, settle)
    while is_weekend(day):
        day -= _DAY
    return day


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be time-zone-aware, got naive {value.isoformat()}")
