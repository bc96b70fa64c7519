"""Suggestions while a user types a command argument (Discord autocomplete; any platform may use them).

Each function answers from the local archive with a LIMITed query, so it stays well inside the
3-second window a chat platform gives an autocomplete request, and never raises for odd input:
an unusable partial query simply has no suggestions.
"""

from __future__ import annotations

from digestbot.errors import CommandError
from digestbot.lookup import lookup
from digestbot.records import Paper
from digestbot.store import Store
from digestbot.text import one_line

SUGGESTIONS_MAX = 25


async def suggest_papers(store: Store, partial: str, *, limit: int = SUGGESTIONS_MAX) -> list[Paper]:
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


async def suggest_topics(store: Store, partial: str, *, limit: int = SUGGESTIONS_MAX) -> list[str]:
    """Return known topics starting with (then containing) ``partial``: topics people follow, then paper keywords."""
    needle = one_line(partial).casefold()
    followed_sql = "SELECT topic, count(*) AS n FROM subscriptions GROUP BY topic ORDER BY n DESC, topic LIMIT 500"
    keywords_sql = (
        "SELECT DISTINCT lower(j.value) FROM papers, json_each(papers.keywords) AS j"
        " WHERE j.type = 'text' ORDER BY papers.rowid DESC LIMIT 2000"
    )
    known: list[str] = []
    async with store.db.execute(followed_sql) as cur:
        known.extend(r[0] for r in await cur.fetchall())
    async with store.db.execute(keywords_sql) as cur:
        known.extend(one_line(r[0]) for r in await cur.fetchall())
    starts = [t for t in known if t.casefold().startswith(needle)]
    inside = [t for t in known if needle in t.casefold() and not t.casefold().startswith(needle)]
    return list(dict.fromkeys(t for t in starts + inside if t))[:limit]


async def suggest_own_topics(
    store: Store, partial: str, *, platform: str, workspace: str, user: str, limit: int = SUGGESTIONS_MAX
) -> list[str]:
    """Return the user's own topics matching ``partial`` (for ``/unsubscribe``)."""
    needle = one_line(partial).casefold()
    topics = await store.list_subscriptions(platform=platform, workspace=workspace, user=user)
    return [t for t in topics if needle in t.casefold()][:limit]
