from __future__ import annotations

import asyncio
import logging
import time as monotonic_time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digestbot.clock import Clock, FakeClock, SystemClock

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)


async def _sleeper(clock: Clock, name: str, when: datetime, woken: list[tuple[str, datetime]]) -> None:
    await clock.sleep_until(when)
    woken.append((name, clock.now()))


async def _settle() -> None:
    await asyncio.sleep(0)


# --- FakeClock --------------------------------------------------------------------------------


def test_fake_clock_tells_the_time_it_is_given() -> None:
    clock = FakeClock(datetime(2026, 3, 8, 15, 0, tzinfo=ZoneInfo("Asia/Seoul")))
    assert clock.now() == T0
    assert clock.now().tzinfo is UTC
    clock.set(T0)
    assert clock.now() == T0
    clock.advance(timedelta(minutes=5))
    assert clock.now() == T0 + timedelta(minutes=5)


def test_fake_clock_rejects_naive_times_and_going_back_by_advance() -> None:
    with pytest.raises(ValueError, match="time-zone-aware"):
        FakeClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    clock = FakeClock(T0)
    with pytest.raises(ValueError, match="time-zone-aware"):
        clock.set(datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="use set"):
        clock.advance(timedelta(seconds=-1))


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock(T0)
    woken: list[tuple[str, datetime]] = []
    tasks = [
        asyncio.create_task(_sleeper(clock, name, T0 + timedelta(minutes=m), woken))
        for name, m in [("c", 3), ("a", 1), ("b", 2), ("b2", 2)]
    ]
    await _settle()
    assert clock.deadlines == [T0 + timedelta(minutes=m) for m in (1, 2, 2, 3)]

    clock.advance(timedelta(seconds=59))
    await _settle()
    assert woken == []  # nobody wakes before their deadline

    clock.advance(timedelta(minutes=1, seconds=1))  # now T0 + 2 min: a, then b and b2 (ties in sleep order)
    await _settle()
    assert [name for name, _ in woken] == ["a", "b", "b2"]
    assert clock.deadlines == [T0 + timedelta(minutes=3)]

    clock.advance(timedelta(hours=1))
    await asyncio.gather(*tasks)
    assert [name for name, _ in woken] == ["a", "b", "b2", "c"]
    # A jump wakes late sleepers once, at the time the clock jumped to.
    assert woken[-1][1] == T0 + timedelta(hours=1, minutes=2)


async def test_sleep_until_a_past_instant_returns_at_once() -> None:
    clock = FakeClock(T0)
    await asyncio.wait_for(clock.sleep_until(T0), timeout=1)
    await asyncio.wait_for(clock.sleep_until(T0 - timedelta(days=1)), timeout=1)
    assert clock.deadlines == []
    with pytest.raises(ValueError, match="time-zone-aware"):
        await clock.sleep_until(datetime(2026, 1, 1))  # noqa: DTZ001


async def test_setting_the_clock_back_wakes_nobody() -> None:
    clock = FakeClock(T0)
    woken: list[tuple[str, datetime]] = []
    task = asyncio.create_task(_sleeper(clock, "a", T0 + timedelta(minutes=10), woken))
    await _settle()
    clock.set(T0 - timedelta(hours=1))
    await _settle()
    assert woken == []
    clock.set(T0 + timedelta(minutes=10))
    await task
    assert woken == [("a", T0 + timedelta(minutes=10))]


async def test_a_cancelled_sleeper_is_dropped() -> None:
    clock = FakeClock(T0)
    woken: list[tuple[str, datetime]] = []
    gone = asyncio.create_task(_sleeper(clock, "gone", T0 + timedelta(minutes=1), woken))
    kept = asyncio.create_task(_sleeper(clock, "kept", T0 + timedelta(minutes=2), woken))
    await _settle()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert clock.deadlines == [T0 + timedelta(minutes=2)]
    clock.advance(timedelta(minutes=5))
    await kept
    assert [name for name, _ in woken] == ["kept"]


async def test_run_until_steps_through_each_deadline() -> None:
    clock = FakeClock(T0)
    seen: list[datetime] = []

    async def every_minute() -> None:
        while True:
            await clock.sleep_until(clock.now().replace(second=0) + timedelta(minutes=1))
            seen.append(clock.now())

    task = asyncio.create_task(every_minute())
    await _settle()
    await clock.run_until(T0 + timedelta(minutes=3, seconds=30))
    assert seen == [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    assert clock.now() == T0 + timedelta(minutes=3, seconds=30)
    assert clock.deadlines == [T0 + timedelta(minutes=4)]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- SystemClock ------------------------------------------------------------------------------


def test_system_clock_now_is_aware_utc() -> None:
    clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ValueError, match="positive"):
        SystemClock(max_sleep=0)


async def test_system_clock_sleeps_until_the_deadline() -> None:
    clock = SystemClock(max_sleep=0.01)
    deadline = clock.now() + timedelta(milliseconds=50)
    await asyncio.wait_for(clock.sleep_until(deadline), timeout=2)
    assert clock.now() >= deadline
    await asyncio.wait_for(clock.sleep_until(deadline - timedelta(days=1)), timeout=1)


class _JumpingClock(SystemClock):
    """A real clock whose wall time can be jumped, like an NTP step or a resume from suspend."""

    def __init__(self, *, max_sleep: float) -> None:
        super().__init__(max_sleep=max_sleep)
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset


async def test_system_clock_notices_a_wall_clock_jump_within_one_chunk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="digestbot.clock")
    clock = _JumpingClock(max_sleep=0.02)
    sleeping = asyncio.create_task(clock.sleep_until(clock.now() + timedelta(hours=1)))
    await asyncio.sleep(0.03)
    assert not sleeping.done()
    started = monotonic_time.monotonic()
    clock.offset = timedelta(hours=2)
    await asyncio.wait_for(sleeping, timeout=2)
    assert monotonic_time.monotonic() - started < 1.0
    assert [r.getMessage() for r in caplog.records] == [
        "wall clock moved +7200 s beyond the time slept (clock change or suspend)"
    ]
