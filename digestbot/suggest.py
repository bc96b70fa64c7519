"""Suggestions while a user types a command argument (Discord autocomplete; any platform may use them).

Each function answers from the local archive with a bounded store call, so it stays well inside the
3-second window a chat platform gives an autocomplete request, and never raises for odd input:
an unusable partial query simply has no suggestions.
"""

from __future__ import annotations

import zoneinfo

from digestbot.errors import CommandError
from digestbot.lookup import lookup
from digestbot.records import Paper
from digestbot.store.protocol import StoreProtocol
from digestbot.text import one_line

SUGGESTIONS_MAX = 25
FOLLOWED_MAX = 500
"""How many of the most followed topics topic suggestions draw on."""
KEYWORDS_MAX = 2000
"""How many distinct keywords of the newest papers topic suggestions draw on."""


async def suggest_papers(store: StoreProtocol, partial: str, *, limit: int = SUGGESTIONS_MAX) -> list[Paper]:
    """Return papers for a partly typed ``/paper`` query: the newest digest's top papers when it is empty."""
    text = one_line(partial)
    if not text:
        day = await store.latest_digest_date()
        digest = await store.digest(day) if day is not None else None
        return list(digest.papers[:limit]) if digest else []
    try:
        result = await lookup(store, text, limit=limit)
    except CommandError:
        return []
    return [p for p in (result.best, *result.others) if p is not None][:limit]


async def suggest_topics(store: StoreProtocol, partial: str, *, limit: int = SUGGESTIONS_MAX) -> list[str]:
    """Return known topics starting with (then containing) ``partial``: topics people follow, then paper keywords."""
    needle = one_line(partial).casefold()
    known = await store.popular_topics(limit=FOLLOWED_MAX)
    known.extend(one_line(k) for k in await store.keyword_vocabulary(limit=KEYWORDS_MAX))
    starts = [t for t in known if t.casefold().startswith(needle)]
    inside = [t for t in known if needle in t.casefold() and not t.casefold().startswith(needle)]
    return list(dict.fromkeys(t for t in starts + inside if t))[:limit]


async def suggest_own_topics(
    store: StoreProtocol, partial: str, *, platform: str, workspace: str, user: str, limit: int = SUGGESTIONS_MAX
) -> list[str]:
    """Return the user's own topics matching ``partial`` (for ``/unsubscribe``)."""
    needle = one_line(partial).casefold()
    topics = await store.list_subscriptions(platform=platform, workspace=workspace, user=user)
    return [t for t in topics if needle in t.casefold()][:limit]


def suggest_zones(partial: str, *, limit: int = SUGGESTIONS_MAX) -> list[str]:
    """Return IANA zone names starting with (then containing) ``partial``, for a time zone argument."""
    needle = partial.strip().casefold()
    zones = sorted(zoneinfo.available_timezones())
    starts = [z for z in zones if z.casefold().startswith(needle)]
    inside = [z for z in zones if needle in z.casefold() and z not in starts]
    return (starts + inside)[:limit]
