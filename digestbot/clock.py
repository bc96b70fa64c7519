"""The one seam through which digestbot reads the time and waits for it.

The engine takes a :class:`Clock`; production passes :class:`SystemClock`, tests pass
:class:`FakeClock` and move time by hand, so a week of schedules runs in milliseconds and the
same way every time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

log = logging.getLogger(__name__)

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Tell the time (aware UTC) and wait until a given instant."""

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now()`` has reached the aware instant ``when`` (at once if it has)."""
        ...


#: A wall-clock move beyond the time slept that is worth a log line (NTP slews are far smaller).
_NOTICEABLE_DRIFT = 5.0


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be time-zone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class SystemClock:
    """Real wall-clock time.

    ``asyncio.sleep`` counts on the monotonic clock, which does not follow wall-clock
    corrections and (on Linux) stops while the machine is suspended, so one long sleep could
    wake hours late. :meth:`sleep_until` therefore sleeps at most ``max_sleep`` seconds at a
    time and re-reads the wall clock, so a jump or a resume is noticed within that bound.
    """

    def __init__(self, *, max_sleep: float = 60.0) -> None:
        if max_sleep <= 0:
            raise ValueError(f"max_sleep must be positive, got {max_sleep}")
        self.max_sleep = max_sleep

    def now(self) -> datetime:
        """Return the current wall-clock instant in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep in chunks of at most ``max_sleep`` seconds until the wall clock reaches ``when``."""
        deadline = _aware_utc(when, "when")
        loop = asyncio.get_running_loop()
        while True:
            wall = self.now()
            remaining = (deadline - wall).total_seconds()
            if remaining <= 0:
                return
            slept_from = loop.time()
            # Polling on purpose: no event fires when the wall clock jumps or the host resumes.
            await asyncio.sleep(min(remaining, self.max_sleep))
            drift = (self.now() - wall).total_seconds() - (loop.time() - slept_from)
            if abs(drift) >= _NOTICEABLE_DRIFT:
                log.info("wall clock moved %+.0f s beyond the time slept (clock change or suspend)", drift)


class FakeClock:
    """Hand-driven time for tests: nothing moves until :meth:`advance` or :meth:`set` is called.

    Sleepers wake in deadline order (ties in the order they went to sleep) once the fake time
    reaches their deadline. Moving the time only marks sleepers as woken; they run when the
    test next yields to the event loop (``await asyncio.sleep(0)``), or use :meth:`run_until`,
    which steps through deadlines one at a time and lets each woken task run in between.
    """

    def __init__(self, start: datetime) -> None:
        self._now = _aware_utc(start, "start")
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        """Return the fake current instant."""
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Wait until the fake time reaches ``when``; return at once if it already has."""
        deadline = _aware_utc(when, "when")
        if deadline <= self._now:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), waiter))
        await waiter

    @property
    def deadlines(self) -> list[datetime]:
        """Return the deadlines of tasks still asleep, soonest first (to wait for a task to sleep)."""
        return sorted(deadline for deadline, _, waiter in self._sleepers if not waiter.done())

    def advance(self, delta: timedelta) -> None:
        """Move the fake time forward by ``delta`` and wake every sleeper now due."""
        if delta < timedelta(0):
            raise ValueError(f"advance() only moves forward, got {delta}; use set() to jump back")
        self.set(self._now + delta)

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (backwards too, like a corrected wall clock) and wake sleepers now due."""
        self._now = _aware_utc(when, "when")
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():  # a cancelled sleeper is simply dropped
                waiter.set_result(None)

    async def run_until(self, when: datetime, *, yields: int = 5) -> None:
        """Step the time to each pending deadline up to ``when``, then to ``when``.

        After each step the event loop runs ``yields`` times, so woken tasks can do their work
        and go back to sleep before time moves on; a task that sleeps again with a deadline
        before ``when`` is woken in the same call.
        """
        target = _aware_utc(when, "when")
        while (pending := self.deadlines) and pending[0] <= target:
            self.set(max(pending[0], self._now))
            for _ in range(yields):
                await asyncio.sleep(0)
        self.set(max(target, self._now))
        for _ in range(yields):
            await asyncio.sleep(0)
