"""When the newest stored list is too old to post as a channel's digest of the day.

With the source off or down for days, "the newest digest the channel has not had" could be a list
from months or years ago (the bundled 2024 sample, on a 2026 schedule), posted under the day's
heading. A scheduled post therefore uses an older list only while the gap is at most a long
weekend (Thursday's list for a Monday holiday's Tuesday post); beyond that it posts the
``on_empty`` notice naming the last list's date, and ``digestbot status`` says so.
"""

from __future__ import annotations

from datetime import date, timedelta

STALE_AFTER = timedelta(days=4)
"""The oldest a stored list may be, behind the day a post expects, and still stand in for it."""


def is_stale(last: date, expected: date) -> bool:
    """Tell whether the list of ``last`` is too old to be posted for the ``expected`` day."""
    return expected - last > STALE_AFTER
