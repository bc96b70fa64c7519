from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from digestbot.clock import FakeClock
from digestbot.config import ChannelConfig, Config, DeliveryConfig
from digestbot.delivery import DeliveryEngine
from digestbot.errors import DeliveryError
from digestbot.scheduler import Scheduler
from digestbot.store import Store
from tests.delivery_fakes import FakeAdapter, day_papers
from tests.raw_sqlite import raw_connection


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        yield s


async def settle(scheduler: Scheduler) -> None:
    for _ in range(2000):
        await asyncio.sleep(0.001)
        if scheduler.idle and scheduler.sleeping_until in scheduler.clock.deadlines:
            return
    raise AssertionError("scheduler never went back to sleep")


async def drive(clock: FakeClock, scheduler: Scheduler, until: datetime) -> None:
    """Step the fake time from wake-up to wake-up, letting each post finish before moving on."""
    while True:
        await settle(scheduler)
        pending = [d for d in clock.deadlines if d > clock.now()]
        step = min(pending) if pending else until
        if step > until:
            clock.set(until)
            await settle(scheduler)
            return
        clock.set(step)


class Harness:
    def __init__(self, store, clock, channels, before_post=None, **delivery) -> None:
        self.adapter = FakeAdapter("discord", clock=clock)
        config = Config(channels=tuple(channels), delivery=DeliveryConfig(**delivery))
        self.engine = DeliveryEngine(store, {"discord": self.adapter}, config, clock, before_post=before_post)
        self.scheduler = Scheduler(self.engine, clock, refresh=timedelta(hours=12))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self):
        self.task = asyncio.create_task(self.scheduler.run(), name="test-scheduler")
        await settle(self.scheduler)
        return self

    async def __aexit__(self, *exc):
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def posts(self):
        return [(p.at, p.key) for p in self.adapter.posts]


async def add_days(store, *days: date) -> None:
    for d in days:
        await store.upsert_papers(day_papers(d, 2))


def chan(cid="c1", **kw) -> ChannelConfig:
    return ChannelConfig(platform="discord", id=cid, **kw)


async def test_weekday_schedule_in_seoul_posts_each_day_once(store):
    # Mon 2024-10-14 .. Fri 10-18 digests exist; posts at 09:00 KST = 00:00 UTC, mon-fri.
    await add_days(store, *(date(2024, 10, d) for d in range(10, 19)))
    clock = FakeClock(datetime(2024, 10, 13, 12, 0, tzinfo=UTC))
    async with Harness(
        store, clock, [chan(time="09:00", timezone="Asia/Seoul", weekdays=("mon", "tue", "wed", "thu", "fri"))]
    ) as h:
        await drive(clock, h.scheduler, datetime(2024, 10, 19, 12, 0, tzinfo=UTC))
    # 09:00 KST is 00:00 UTC: yesterday's UTC list has just ended (list_settles_hours: 0).
    assert [(t.strftime("%a %H:%M"), k) for t, k in h.posts()] == [
        ("Mon 00:00", "digest:2024-10-11"),  # Sunday had no list: Friday's
        ("Tue 00:00", "digest:2024-10-14"),
        ("Wed 00:00", "digest:2024-10-15"),
        ("Thu 00:00", "digest:2024-10-16"),
        ("Fri 00:00", "digest:2024-10-17"),
    ]


async def test_settled_lists_lag_when_configured(store):
    # With list_settles_hours: 6 the 00:00 UTC post takes the list that settled at 06:00 UTC the day before.
    await add_days(store, *(date(2024, 10, d) for d in range(10, 19)))
    clock = FakeClock(datetime(2024, 10, 15, 12, 0, tzinfo=UTC))
    async with Harness(store, clock, [chan(time="09:00", timezone="Asia/Seoul")], list_settles_hours=6) as h:
        await drive(clock, h.scheduler, datetime(2024, 10, 17, 12, 0, tzinfo=UTC))
    assert [k for _, k in h.posts()] == ["digest:2024-10-14", "digest:2024-10-15"]


async def test_new_york_post_follows_dst(store):
    await add_days(store, *(date(2024, 3, d) for d in range(1, 16)))
    clock = FakeClock(datetime(2024, 3, 6, 12, 0, tzinfo=UTC))
    async with Harness(store, clock, [chan(time="09:00", timezone="America/New_York")]) as h:
        await drive(clock, h.scheduler, datetime(2024, 3, 13, 0, 0, tzinfo=UTC))
    hours = {t.date(): t.hour for t, _ in h.posts()}
    assert hours[date(2024, 3, 8)] == 14  # 09:00 EST = 14:00 UTC
    assert hours[date(2024, 3, 11)] == 13  # 09:00 EDT after 2024-03-10 = 13:00 UTC
    assert len({k for _, k in h.posts()}) == len(h.posts())  # never the same key twice


async def test_catch_up_posts_only_the_newest_missed_post_within_the_window(store, caplog):
    await add_days(store, *(date(2024, 10, d) for d in range(7, 19)))
    clock = FakeClock(datetime(2024, 10, 14, 8, 0, tzinfo=UTC))
    channels = [chan(time="09:00", timezone="UTC")]
    async with Harness(store, clock, channels) as h:  # first start: remembers now, posts nothing
        assert h.posts() == []
    clock.set(datetime(2024, 10, 16, 10, 0, tzinfo=UTC))  # down over Mon 09:00 (skipped), Tue 09:00 (25 h: skipped)
    clock.set(datetime(2024, 10, 17, 10, 0, tzinfo=UTC))  # ... and Wed 09:00 (25 h), Thu 09:00 (1 h old: due)
    with caplog.at_level(logging.INFO):
        async with Harness(store, clock, channels) as h:
            await settle(h.scheduler)
    assert [k for _, k in h.posts()] == ["digest:2024-10-16"]  # Thu 09:00: Wednesday's settled list
    assert caplog.text.count("older than the") == 3


async def test_waits_for_late_papers_then_posts(store):
    await add_days(store, date(2024, 10, 10))
    calls = []

    async def before_post(day: date) -> None:
        calls.append(day)
        if len(calls) == 3:  # the ingestion finds the list on its third try
            await add_days(store, day)

    clock = FakeClock(datetime(2024, 10, 12, 8, 0, tzinfo=UTC))
    async with Harness(store, clock, [chan(time="09:00")], before_post=before_post, empty_retry_minutes=30) as h:
        await drive(clock, h.scheduler, datetime(2024, 10, 12, 12, 0, tzinfo=UTC))
    assert calls == [date(2024, 10, 11)] * 3
    assert [(t.strftime("%H:%M"), k) for t, k in h.posts()] == [("10:00", "digest:2024-10-11")]


async def test_cutoff_posts_one_notice_and_weekend_notices_say_so(store):
    await add_days(store, date(2024, 10, 10))
    clock = FakeClock(datetime(2024, 10, 11, 8, 0, tzinfo=UTC))
    async with Harness(store, clock, [chan(time="09:00")], empty_cutoff_hours=2, empty_retry_minutes=30) as h:
        await drive(clock, h.scheduler, datetime(2024, 10, 14, 12, 0, tzinfo=UTC))
    keys = [
        (t.strftime("%a %H:%M"), k, p.payload["text"]) for (t, k), p in zip(h.posts(), h.adapter.posts, strict=True)
    ]
    # Fri 09:00: Thu 10-10 posted; Sat: Fri 10-11 missing -> waits 2 h -> notice; Sun and Mon: weekend notices.
    assert [k[:2] for k in keys] == [
        ("Fri 09:00", "digest:2024-10-10"),
        ("Sat 11:00", "notice:2024-10-11"),
        ("Sun 09:00", "notice:2024-10-12"),
        ("Mon 09:00", "notice:2024-10-13"),
    ]
    assert "holiday" in keys[1][2] and "weekend" in keys[2][2]


async def test_a_post_that_hit_a_database_error_is_retried_not_marked_done(store):
    # The first attempt cannot write the outbox (as with a full disk); the slot must not be lost.
    await add_days(store, date(2024, 10, 10))
    await raw_connection(store).execute(
        "CREATE TRIGGER full_disk BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    calls = []

    async def before_post(day: date) -> None:
        calls.append(day)
        if len(calls) == 2:  # space was freed meanwhile
            await raw_connection(store).execute("DROP TRIGGER full_disk")

    clock = FakeClock(datetime(2024, 10, 11, 8, 0, tzinfo=UTC))
    async with Harness(store, clock, [chan(time="09:00")], before_post=before_post, empty_retry_minutes=30) as h:
        await drive(clock, h.scheduler, datetime(2024, 10, 11, 12, 0, tzinfo=UTC))
    assert [(t.strftime("%H:%M"), k) for t, k in h.posts()] == [("09:30", "digest:2024-10-10")]


async def test_a_deferred_post_is_resumed_by_the_scheduler(store):
    await add_days(store, date(2024, 10, 10))
    clock = FakeClock(datetime(2024, 10, 11, 8, 0, tzinfo=UTC))
    async with Harness(store, clock, [chan(time="09:00")], empty_retry_minutes=30, max_attempts=1) as h:
        h.adapter.failures["c1"] = [DeliveryError("503")]
        await drive(clock, h.scheduler, datetime(2024, 10, 11, 12, 0, tzinfo=UTC))
    assert [(t.strftime("%H:%M"), k) for t, k in h.posts()] == [("09:30", "digest:2024-10-10")]
