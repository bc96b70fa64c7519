"""Keep trying to reach a platform that is not reachable yet, for ``digestbot run`` started before the network.

A service started at boot may come up before the network (or the platform) does. Dying then
means a digest silently missed until someone notices; instead :func:`until_reachable` tries again
with capped exponential backoff, one log line per failed attempt, and gives up only when asked
to stop (SIGTERM), at once: both the attempt and the wait race the stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from digestbot.errors import UnavailableError

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0


def backoff(attempt: int, *, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> float:
    """Return the wait after failed attempt number ``attempt`` (1-based): 1, 2, 4 … seconds, at most ``cap``."""
    return float(min(cap, first * 2 ** min(attempt - 1, 32)))


async def until_reachable(
    connect: Callable[[], Awaitable[object]],
    *,
    what: str,
    stop: asyncio.Event,
    first: float = FIRST_DELAY,
    cap: float = MAX_DELAY,
) -> bool:
    """Await ``connect()`` until it stops raising UnavailableError; return False if ``stop`` was set first.

    Any other error (a refused token, a bad config) is raised at once: waiting cannot fix it.
    """
    attempt = 0
    while not stop.is_set():
        attempt += 1
        if await _unless_stopped(connect(), stop, what=what, attempt=attempt, first=first, cap=cap):
            if attempt > 1:
                log.info("%s: reached after %d attempts", what, attempt)
            return True
    return False


async def _unless_stopped(
    attempt_coro: Awaitable[object], stop: asyncio.Event, *, what: str, attempt: int, first: float, cap: float
) -> bool:
    """Run one attempt, then the backoff wait; either ends early when ``stop`` is set. True on success."""
    trying = asyncio.ensure_future(attempt_coro)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({trying, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not trying.done():
        trying.cancel()
        await asyncio.wait({trying})  # let it clean up (close its session); its cancellation is expected
        return False
    try:
        trying.result()
    except UnavailableError as exc:
        delay = backoff(attempt, first=first, cap=cap)
        log.warning("%s (attempt %d); trying again in %g s", exc, attempt, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        return False
    return True
