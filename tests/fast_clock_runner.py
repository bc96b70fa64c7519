"""Run ``digestbot`` on a shared, fast-forwarded clock (plus everything :mod:`tests.crash_runner` does).

``run`` sleeps on :class:`~digestbot.clock.SystemClock` until a channel's post is due, and due
times are whole minutes of a day, so a test of the scheduler would wait minutes. This runner
makes the process's wall clock read ``FAKE_NOW`` (ISO instant) at the real epoch second
``FAKE_EPOCH`` and run ``FAKE_SPEED`` times faster from there. Every process started with the
same three values agrees on the time to within a few milliseconds, as processes on machines
synchronised by NTP do, so several ``run`` processes see the same slots fall due together.

Only the scheduler's clock moves fast: the outbox's claim timestamps, its leases (judged on the
store's clock, never the engine's) and the network stay real. ``OUTBOX_LEASE`` (seconds) shortens
the outbox's lease, so a test can let one run's claim expire while that run is frozen.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import tests.crash_runner  # noqa: F401  (SEND_DELAY, CRASH_* for the platform adapters)
from digestbot.cli import main
from digestbot.clock import SystemClock

_START = datetime.fromisoformat(os.environ.get("FAKE_NOW", "2024-10-12T09:00:00+00:00")).astimezone(UTC)
_EPOCH = float(os.environ.get("FAKE_EPOCH", str(time.time())))
_SPEED = float(os.environ.get("FAKE_SPEED", "1"))


def _now(self: SystemClock) -> datetime:
    return _START + timedelta(seconds=(time.time() - _EPOCH) * _SPEED)


async def _sleep_until(self: SystemClock, when: datetime) -> None:
    while (remaining := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110  (a clock, not an event)
        await asyncio.sleep(min(remaining / _SPEED, 0.5))


if "OUTBOX_LEASE" in os.environ:
    import digestbot.outbox

    _outbox_init = digestbot.outbox.Outbox.__init__
    _LEASE = timedelta(seconds=float(os.environ["OUTBOX_LEASE"]))

    def _short_lease(self, store, *, lease=_LEASE):  # type: ignore[no-untyped-def]
        _outbox_init(self, store, lease=lease)

    digestbot.outbox.Outbox.__init__ = _short_lease  # type: ignore[method-assign]

SystemClock.now = _now  # type: ignore[method-assign]
SystemClock.sleep_until = _sleep_until  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
