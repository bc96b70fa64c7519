"""Finding our own earlier post in a channel's history: the paging rule behind every ``find_sent``.

After a crash the delivery engine asks an adapter whether a part was already posted before it posts
again. Reading the whole history is out of the question, and reading only the newest page misses a
post in a busy channel; so the rule is: the newest page, then — if the post was planned before that
page starts — forward from the time it was planned, for a bounded number of pages. The rule is the
same on every platform; only reading a page (and turning a time into a position) is the adapter's,
so it lives here, testable without any platform. Platforms that page by cursor (Slack) read their
newest pages with :func:`read_pages`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

Message = Mapping[str, Any]
CursorReader = Callable[[str | None], Awaitable[tuple[Sequence[Message], str | None]]]
"""Read one page from a cursor (None: the newest); return its messages and the next cursor (None: no more)."""
PageReader = Callable[[int | None], Awaitable[Sequence[Message]]]
"""Read one page of at most ``page_size`` messages: the newest (``None``), or those after a position."""


def _first(messages: Sequence[Message], is_ours: Callable[[Message], bool]) -> Message | None:
    return next((m for m in messages if is_ours(m)), None)


async def search_history(
    read: PageReader,
    is_ours: Callable[[Message], bool],
    *,
    page_size: int,
    start: int | None,
    pages_after: int,
    position: Callable[[Message], int] = lambda m: int(m["id"]),
    where: str = "",
    since: str = "",
) -> Message | None:
    """Return the first message ``is_ours`` accepts: in the newest page, then forward from ``start``.

    ``start`` is the position the post cannot be older than (the plan's time, less clock skew),
    None to read the newest page only. A post is found unless over ``pages_after`` × ``page_size``
    messages came between ``start`` and the post *and* over ``page_size`` since; that case is logged
    (``where``, ``since`` name the channel and the plan's time in the warning).
    """
    recent = await read(None)
    if (found := _first(recent, is_ours)) is not None or start is None:
        return found
    if len(recent) < page_size:
        return None  # the newest page is the whole history
    newest_page_starts = min(position(m) for m in recent)
    anchor = start
    for _ in range(pages_after):
        if anchor >= newest_page_starts:
            return None  # caught up with the page already read
        page = await read(anchor)
        if (found := _first(page, is_ours)) is not None:
            return found
        if len(page) < page_size:
            return None
        anchor = max(position(m) for m in page)
    log.warning(
        "%s: over %d messages since %s: a post older than the newest %d cannot be checked",
        where, pages_after * page_size, since, page_size,
    )  # fmt: skip
    return None


async def read_pages(read: CursorReader, *, pages: int) -> list[Message]:
    """Return the messages of at most ``pages`` pages, newest first, following the cursor while there is one."""
    messages: list[Message] = []
    cursor: str | None = None
    for _ in range(pages):
        page, cursor = await read(cursor)
        messages.extend(page)
        if not cursor:
            break
    return messages
