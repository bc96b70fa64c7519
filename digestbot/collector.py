"""Keep the cycle collector's full passes out of a fan-out, where they stall the event loop.

CPython's cycle collector runs a young pass every few hundred allocations (cheap: it walks the
objects made since) and, every ten of those that promote enough survivors, a *full* pass that
walks every tracked container of the process in one go, holding the GIL. With a million
subscriptions indexed, the index is frozen out of those passes (``gc.freeze`` in
:mod:`digestbot.subscription_index`), but the day's papers, the match and everything a fan-out
keeps alive are not: profiles of a post against 1,000,000 subscriptions showed full passes of
25-65 ms in the middle of the fan-out, each one a loop block, so a ``/paper`` arriving then
waited for it.

:func:`young_passes_only` keeps the young passes (garbage made and dropped per message is still
found) and postpones full passes until the last fan-out in the process has finished; the
thresholds are put back then, and the next full pass collects whatever cyclic garbage reached the
oldest generation meanwhile (for a fan-out of hours, this bounds how late, not whether, it is freed).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

NO_FULL_PASSES = 2**30
"""The oldest generation's threshold while a fan-out runs: young passes before a full one (never, in practice)."""

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def young_passes_only() -> Iterator[None]:
    """Run the body with only young cycle-collector passes; nestable and shareable by concurrent fan-outs."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(_saved[0], _saved[1], NO_FULL_PASSES)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
