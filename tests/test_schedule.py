from __future__ import annotations

import functools
import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from digestbot.errors import ConfigError
from digestbot.schedule import (
    ALL_WEEKDAYS,
    CatchUp,
    Schedule,
    catch_up,
    default_digest_date,
    due_between,
    is_weekend,
    next_due,
    occurrence,
    parse_schedule,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def sched(hhmm: str, zone: str, weekdays: list[str] | None = None) -> Schedule:
    return parse_schedule(hhmm, zone, weekdays, "test")


# --- parsing ---------------------------------------------------------------------------------


def test_parse_schedule_reads_time_zone_and_weekdays() -> None:
    s = parse_schedule("09:30", "Asia/Seoul", ["mon", "Tue", "FRIDAY", "mon"], "channels[0]")
    assert s == Schedule(time=time(9, 30), timezone="Asia/Seoul", weekdays=frozenset({0, 1, 4}))
    assert s.zone == ZoneInfo("Asia/Seoul")
    assert parse_schedule("7:05", "UTC", None, "x").weekdays == ALL_WEEKDAYS
    assert parse_schedule("7:05", "UTC", None, "x").time == time(7, 5)


@pytest.mark.parametrize(
    ("hhmm", "zone", "weekdays", "where", "needle"),
    [
        ("25:00", "UTC", None, "channels[2].time", "HH:MM"),
        ("09:60", "UTC", None, "channels[2].time", "09:60"),
        ("9.30", "UTC", None, "channels[2].time", "9.30"),
        ("", "UTC", None, "channels[2].time", "HH:MM"),
        (750, "UTC", None, "channels[2].time", "quote"),  # YAML 1.1 reads unquoted 12:30 as 750
        ("09:00", "Asia/Seol", None, "channels[2].timezone", "did you mean Asia/Seoul"),
        ("09:00", "asia/seoul", None, "channels[2].timezone", "did you mean Asia/Seoul?"),
        ("09:00", "new york", None, "channels[2].timezone", "America/New_York"),
        ("09:00", "Nowhere/Atlantis", None, "channels[2].timezone", "'Nowhere/Atlantis'"),
        ("09:00", "../../etc/passwd", None, "channels[2].timezone", "unknown time zone"),
        ("09:00", "", None, "channels[2].timezone", "unknown time zone"),
        ("09:00", 9, None, "channels[2].timezone", "IANA"),
        ("09:00", "UTC", ["mon", "tues"], "channels[2].weekdays[1]", "'tues'"),
        ("09:00", "UTC", [], "channels[2].weekdays", "never post"),
        ("09:00", "UTC", "mon", "channels[2].weekdays", "list"),
        ("09:00", "UTC", [1], "channels[2].weekdays[0]", "unknown weekday"),
    ],
)
def test_parse_schedule_errors_are_one_line_and_name_the_key(
    hhmm: object, zone: object, weekdays: object, where: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_schedule(hhmm, zone, weekdays, "channels[2]")  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(where + ":")
    assert needle in message
    assert "\n" not in message


def test_schedule_rejects_bad_fields_directly() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        Schedule(time=time(9), timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="never post"):
        Schedule(time=time(9), timezone="UTC", weekdays=frozenset())
    with pytest.raises(ConfigError, match="0 \\(Mon\\) to 6"):
        Schedule(time=time(9), timezone="UTC", weekdays=frozenset({7}))
    with pytest.raises(ConfigError, match="without a zone"):
        Schedule(time=time(9, tzinfo=UTC), timezone="UTC")


def test_describe() -> None:
    assert sched("09:00", "Asia/Seoul", ["mon", "tue", "wed", "thu", "fri"]).describe() == ("09:00 Asia/Seoul mon-fri")
    assert sched("18:30", "UTC").describe() == "18:30 UTC daily"
    assert sched("08:00", "UTC", ["sun", "sat"]).describe() == "08:00 UTC sat,sun"


# --- one occurrence per local date, across zones ----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "local_date", "expected"),
    [
        ("Asia/Seoul", date(2026, 6, 15), utc(2026, 6, 15, 0, 0)),  # +09:00, no DST
        ("America/New_York", date(2026, 1, 15), utc(2026, 1, 15, 14, 0)),  # EST -05:00
        ("America/New_York", date(2026, 7, 15), utc(2026, 7, 15, 13, 0)),  # EDT -04:00
        ("Europe/Berlin", date(2026, 1, 15), utc(2026, 1, 15, 8, 0)),  # CET +01:00
        ("Europe/Berlin", date(2026, 7, 15), utc(2026, 7, 15, 7, 0)),  # CEST +02:00
        ("Australia/Lord_Howe", date(2026, 1, 15), utc(2026, 1, 14, 22, 0)),  # +11:00 summer
        ("Australia/Lord_Howe", date(2026, 7, 15), utc(2026, 7, 14, 22, 30)),  # +10:30 winter
        ("Pacific/Chatham", date(2026, 1, 15), utc(2026, 1, 14, 19, 15)),  # +13:45 summer
        ("Pacific/Chatham", date(2026, 7, 15), utc(2026, 7, 14, 20, 15)),  # +12:45 winter
        ("UTC", date(2026, 7, 15), utc(2026, 7, 15, 9, 0)),
    ],
)
def test_occurrence_in_many_zones(zone: str, local_date: date, expected: datetime) -> None:
    due = occurrence(sched("09:00", zone), local_date)
    assert due == expected
    assert due is not None and due.tzinfo is UTC


def test_spring_forward_gap_posts_once_shifted_by_the_gap() -> None:
    s = sched("02:30", "America/New_York")  # 2026-03-08 02:00 EST -> 03:00 EDT
    due = occurrence(s, date(2026, 3, 8))
    assert due == utc(2026, 3, 8, 7, 30)
    assert due.astimezone(s.zone).strftime("%H:%M %Z") == "03:30 EDT"
    days = due_between(s, utc(2026, 3, 7, 0), utc(2026, 3, 10, 0))
    assert days == [
        (date(2026, 3, 7), utc(2026, 3, 7, 7, 30)),  # 02:30 EST
        (date(2026, 3, 8), utc(2026, 3, 8, 7, 30)),  # 03:30 EDT, the only post that day
        (date(2026, 3, 9), utc(2026, 3, 9, 6, 30)),  # 02:30 EDT
    ]


@pytest.mark.parametrize(
    ("zone", "hhmm", "local_date", "expected"),
    [
        ("Europe/Berlin", "02:30", date(2026, 3, 29), utc(2026, 3, 29, 1, 30)),  # 03:30 CEST
        # Lord Howe moves only 30 min (02:00 -> 02:30 on 2026-10-04): 02:15 becomes 02:45 +11:00.
        ("Australia/Lord_Howe", "02:15", date(2026, 10, 4), utc(2026, 10, 3, 15, 45)),
        # Chatham springs from 02:45 to 03:45 on 2026-09-27: 03:00 becomes 04:00 +13:45.
        ("Pacific/Chatham", "03:00", date(2026, 9, 27), utc(2026, 9, 26, 14, 15)),
    ],
)
def test_spring_forward_gap_in_other_zones(zone: str, hhmm: str, local_date: date, expected: datetime) -> None:
    assert occurrence(sched(hhmm, zone), local_date) == expected


def test_fall_back_repeat_posts_once_at_the_first_occurrence() -> None:
    s = sched("01:30", "America/New_York")  # 2026-11-01 02:00 EDT -> 01:00 EST
    assert occurrence(s, date(2026, 11, 1)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not 06:30 (EST)
    days = due_between(s, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    assert [d for d, _ in days] == [date(2026, 11, 1), date(2026, 11, 2)]
    # Right after the first 01:30 the next post is the next day's, not the repeated 01:30.
    assert next_due(s, utc(2026, 11, 1, 5, 30)) == (date(2026, 11, 2), utc(2026, 11, 2, 6, 30))


def test_fall_back_in_lord_howe_takes_the_first_of_the_30_minute_repeat() -> None:
    s = sched("01:45", "Australia/Lord_Howe")  # 2026-04-05 02:00 +11:00 -> 01:30 +10:30
    assert occurrence(s, date(2026, 4, 5)) == utc(2026, 4, 4, 14, 45)


def test_a_date_the_zone_skipped_has_no_occurrence() -> None:
    s = sched("09:00", "Pacific/Apia")  # Samoa went from 2011-12-29 straight to 2011-12-31
    assert occurrence(s, date(2011, 12, 30)) is None
    days = due_between(s, utc(2011, 12, 28), utc(2012, 1, 2))
    # 09:00 -10:00 until the 29th, 09:00 +14:00 from the 31st (the 2nd's is 2012-01-01 19:00 UTC).
    assert [d.day for d, _ in days] == [28, 29, 31, 1, 2]
    instants = [due for _, due in days]
    assert instants == sorted(set(instants))


# --- weekdays, next_due, due_between ----------------------------------------------------------


def test_weekdays_filter() -> None:
    s = sched("09:00", "Europe/Berlin", ["mon", "tue", "wed", "thu", "fri"])
    assert occurrence(s, date(2026, 3, 14)) is None  # Saturday
    assert occurrence(s, date(2026, 3, 15)) is None  # Sunday
    friday = occurrence(s, date(2026, 3, 13))
    assert friday == utc(2026, 3, 13, 8)
    assert next_due(s, friday) == (date(2026, 3, 16), utc(2026, 3, 16, 8))
    week = due_between(s, utc(2026, 3, 9), utc(2026, 3, 16))
    assert [d.day for d, _ in week] == [9, 10, 11, 12, 13]


def test_next_due_is_strictly_after() -> None:
    s = sched("09:00", "UTC")
    assert next_due(s, utc(2026, 5, 1, 9)) == (date(2026, 5, 2), utc(2026, 5, 2, 9))
    just_before = utc(2026, 5, 1, 9) - timedelta(microseconds=1)
    assert next_due(s, just_before) == (date(2026, 5, 1), utc(2026, 5, 1, 9))


def test_next_due_uses_the_local_date_not_the_utc_date() -> None:
    s = sched("09:00", "Asia/Seoul")
    # 2026-06-14 23:00 UTC is already 08:00 on 2026-06-15 in Seoul.
    assert next_due(s, utc(2026, 6, 14, 23)) == (date(2026, 6, 15), utc(2026, 6, 15, 0))
    # An aware non-UTC input means the same instant.
    seoul_8am = datetime(2026, 6, 15, 8, tzinfo=ZoneInfo("Asia/Seoul"))
    assert next_due(s, seoul_8am) == (date(2026, 6, 15), utc(2026, 6, 15, 0))


def test_due_between_is_half_open() -> None:
    s = sched("09:00", "UTC")
    assert due_between(s, utc(2026, 5, 1, 9), utc(2026, 5, 2, 9)) == [(date(2026, 5, 2), utc(2026, 5, 2, 9))]
    assert due_between(s, utc(2026, 5, 2, 9), utc(2026, 5, 2, 9)) == []
    assert due_between(s, utc(2026, 5, 3), utc(2026, 5, 1)) == []


def test_naive_datetimes_are_rejected() -> None:
    s = sched("09:00", "UTC")
    naive = datetime(2026, 5, 1, 9)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="after must be time-zone-aware"):
        next_due(s, naive)
    with pytest.raises(ValueError, match="end must be time-zone-aware"):
        due_between(s, utc(2026, 5, 1), naive)
    with pytest.raises(ValueError, match="now must be time-zone-aware"):
        catch_up(s, None, naive)
    with pytest.raises(ValueError, match="last_seen must be time-zone-aware"):
        catch_up(s, naive, utc(2026, 5, 1))
    with pytest.raises(ValueError, match="now_utc must be time-zone-aware"):
        default_digest_date(naive)


# --- catch-up after downtime ------------------------------------------------------------------

DAILY_9 = Schedule(time=time(9), timezone="UTC")


def test_catch_up_after_three_missed_days_posts_only_the_newest() -> None:
    result = catch_up(DAILY_9, last_seen=utc(2026, 1, 1, 9), now=utc(2026, 1, 4, 10))
    assert result.due == (date(2026, 1, 4), utc(2026, 1, 4, 9))
    assert result.skipped == ((date(2026, 1, 2), utc(2026, 1, 2, 9)), (date(2026, 1, 3), utc(2026, 1, 3, 9)))
    assert [d.day for d, _ in result.missed] == [2, 3, 4]


def test_catch_up_outside_the_window_posts_nothing() -> None:
    result = catch_up(DAILY_9, last_seen=utc(2026, 1, 1, 9), now=utc(2026, 1, 4, 10), window=timedelta(minutes=30))
    assert result.due is None
    assert [d.day for d, _ in result.skipped] == [2, 3, 4]


def test_catch_up_default_window_is_24_hours() -> None:
    weekly = Schedule(time=time(9), timezone="UTC", weekdays=frozenset({0}))  # Mondays
    stale = catch_up(weekly, utc(2026, 1, 1), utc(2026, 1, 6, 9, 1))  # Mon 5th 09:00 is 24h01m old
    assert stale == CatchUp(skipped=((date(2026, 1, 5), utc(2026, 1, 5, 9)),))
    on_edge = catch_up(weekly, utc(2026, 1, 1), utc(2026, 1, 6, 9))  # exactly 24h old: still due
    assert on_edge.due == (date(2026, 1, 5), utc(2026, 1, 5, 9))


def test_catch_up_with_nothing_missed() -> None:
    assert catch_up(DAILY_9, utc(2026, 1, 4, 9), utc(2026, 1, 4, 10)) == CatchUp()
    assert catch_up(DAILY_9, None, utc(2026, 1, 4, 10)) == CatchUp()  # never ran: nothing missed
    assert catch_up(DAILY_9, utc(2026, 1, 5), utc(2026, 1, 4)) == CatchUp()  # clock went backwards
    assert CatchUp().missed == ()


def test_catch_up_rejects_a_negative_window() -> None:
    with pytest.raises(ValueError, match="negative"):
        catch_up(DAILY_9, utc(2026, 1, 1), utc(2026, 1, 2), window=timedelta(seconds=-1))


def test_catch_up_in_a_local_zone_reports_local_dates() -> None:
    s = sched("08:00", "Asia/Seoul")  # 23:00 UTC the day before
    result = catch_up(s, last_seen=utc(2026, 2, 1), now=utc(2026, 2, 2, 23, 30))
    assert result.due == (date(2026, 2, 3), utc(2026, 2, 2, 23))
    assert result.skipped == ((date(2026, 2, 2), utc(2026, 2, 1, 23)),)


# --- which digest date should exist -----------------------------------------------------------


SIX = timedelta(hours=6)


@pytest.mark.parametrize(
    ("now", "settle", "expected"),
    [
        # Default (settle 0): a list is taken once its UTC day is over.
        (utc(2026, 3, 10, 0, 0), timedelta(0), date(2026, 3, 9)),  # Tue 00:00: Monday's list
        (utc(2026, 3, 9, 23, 59), timedelta(0), date(2026, 3, 6)),  # Mon 23:59: Monday still open -> Friday
        (utc(2026, 3, 7, 0, 0), timedelta(0), date(2026, 3, 6)),  # Sat 00:00 -> Fri
        (utc(2026, 3, 8, 12, 0), timedelta(0), date(2026, 3, 6)),  # Sun -> Fri
        # 09:00 in Seoul on Tue 10th is Tue 00:00 UTC: yesterday's (Monday's) list.
        (datetime(2026, 3, 10, 9, tzinfo=ZoneInfo("Asia/Seoul")), timedelta(0), date(2026, 3, 9)),
        # Settled lists (settle 6 h): D counts from D+1 06:00 UTC.
        (utc(2026, 3, 10, 6, 0), SIX, date(2026, 3, 9)),  # Tue 06:00: Monday's list has settled
        (utc(2026, 3, 10, 5, 59), SIX, date(2026, 3, 6)),  # Tue 05:59: Monday still filling -> Friday
        (utc(2026, 3, 11, 12, 0), SIX, date(2026, 3, 10)),  # Wed noon -> Tue
        (utc(2026, 3, 7, 6, 0), SIX, date(2026, 3, 6)),  # Sat 06:00 -> Fri
        (utc(2026, 3, 7, 5, 59), SIX, date(2026, 3, 5)),  # Sat 05:59 -> Thu
        (utc(2026, 3, 9, 23, 0), SIX, date(2026, 3, 6)),  # Mon evening -> still Fri
        (datetime(2026, 3, 10, 8, tzinfo=ZoneInfo("Asia/Seoul")), SIX, date(2026, 3, 6)),
    ],
)
def test_default_digest_date(now: datetime, settle: timedelta, expected: date) -> None:
    assert default_digest_date(now, settle) == expected


def test_is_weekend() -> None:
    assert [is_weekend(date(2026, 3, d)) for d in range(9, 16)] == [False] * 5 + [True, True]


# --- property: one instant per enabled local date, strictly increasing -------------------------

ZONES = [
    "UTC",
    "Asia/Seoul",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",  # DST changes at local midnight
    "America/St_Johns",  # -03:30 / -02:30
    "Asia/Tehran",  # had DST at midnight until 2022
    "Pacific/Kiritimati",  # +14:00
]


# Plain random dates and times almost never land on a DST change, so half the examples start a
# few days before a real change of the zone's UTC offset, with the wall time inside the skipped
# or repeated stretch of that change.


@functools.cache
def _offset_changes(zone: str, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """List (instant, offset before, offset after) of each UTC offset change in ``year``."""
    tz, day, changes = ZoneInfo(zone), utc(year, 1, 1), []
    while day.year == year:
        lo, hi = day, day + timedelta(days=1)
        before, after = lo.astimezone(tz).utcoffset(), hi.astimezone(tz).utcoffset()
        if before != after:
            while hi - lo > timedelta(minutes=1):  # bisect to the minute of the change
                mid = lo + (hi - lo) / 2
                lo, hi = (lo, mid) if mid.astimezone(tz).utcoffset() == after else (mid, hi)
            assert before is not None and after is not None
            changes.append((hi, before, after))
        day += timedelta(days=1)
    return changes


@st.composite
def _zone_start_wall(draw: st.DrawFn) -> tuple[str, datetime, time]:
    zone = draw(st.sampled_from(ZONES))
    if draw(st.booleans()) and (changes := _offset_changes(zone, draw(st.integers(2000, 2040)))):
        instant, before, after = draw(st.sampled_from(changes))
        lo, hi = (
            instant.replace(tzinfo=None) + min(before, after),
            instant.replace(tzinfo=None) + max(before, after),
        )
        wall = lo + draw(st.integers(0, (hi - lo) // timedelta(minutes=1) - 1)) * timedelta(minutes=1)
        return zone, instant - draw(st.timedeltas(timedelta(0), timedelta(days=5))), wall.time()
    start = draw(
        st.datetimes(  # hypothesis takes naive bounds and attaches `timezones`
            min_value=datetime(2000, 1, 1),  # noqa: DTZ001
            max_value=datetime(2040, 1, 1),  # noqa: DTZ001
            timezones=st.just(UTC),
        )
    )
    return zone, start, draw(st.times())


@settings(max_examples=200, deadline=None)
@given(
    zone_start_wall=_zone_start_wall(),
    weekdays=st.one_of(st.just(ALL_WEEKDAYS), st.frozensets(st.integers(0, 6), min_size=1)),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=45)),
)
def test_due_between_yields_one_increasing_instant_per_enabled_local_date(
    zone_start_wall: tuple[str, datetime, time], weekdays: frozenset[int], length: timedelta
) -> None:
    zone, start, wall = zone_start_wall
    s = Schedule(time=wall, timezone=zone, weekdays=weekdays)
    end = start + length
    found = due_between(s, start, end)

    dates = [d for d, _ in found]
    instants = [due for _, due in found]
    assert len(set(dates)) == len(dates)
    assert all(a < b for a, b in itertools.pairwise(instants))
    assert all(start < due <= end and due.tzinfo is UTC for due in instants)
    assert all(d.weekday() in weekdays for d in dates)

    # Every enabled local date well inside the range is there (the edges may fall either side).
    first, last = start.astimezone(s.zone).date(), end.astimezone(s.zone).date()
    inner = [first + timedelta(days=n) for n in range(2, (last - first).days - 1)]
    assert {d for d in inner if d.weekday() in weekdays} <= set(dates)

    for d, due in found:
        local = due.astimezone(s.zone)
        intended = datetime.combine(d, wall)
        if local.replace(tzinfo=None) == intended:
            # A repeated wall time: no earlier instant shows the same wall time.
            # No earlier instant shows the same wall time (the first of a fall-back repeat).
            candidates = {datetime.combine(d, wall, tzinfo=s.zone).replace(fold=f).astimezone(UTC) for f in (0, 1)}
            event("repeated wall time" if len(candidates) == 2 else "plain day")
            assert due == min(candidates)
        else:
            # The wall time did not exist that day: posted later by at most the gap (1 h here).
            event("wall time in a gap")
            round_trip = intended.replace(tzinfo=s.zone).astimezone(UTC).astimezone(s.zone)
            assert round_trip.replace(tzinfo=None) != intended
            assert timedelta(0) < local.replace(tzinfo=None) - intended <= timedelta(hours=1)

    # Chaining next_due from start walks the same occurrences.
    chained, cursor = [], start
    for _ in range(len(found) + 1):  # bounded: a next_due that stood still must not hang the test
        step = next_due(s, cursor)
        if step[1] > end:
            break
        chained.append(step)
        cursor = step[1]
    assert chained == found
