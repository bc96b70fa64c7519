"""Subscription commands shared by the CLI and the chat adapters: each returns the reply text.

The chat ``/subscribe``, ``/unsubscribe`` and ``/topics`` commands and ``digestbot subscriptions``
call these same functions, so the rules (topic syntax, limits, canonical form) live in one place.
Invalid input raises :class:`~digestbot.errors.CommandError` whose text is the reply to show.
"""

from __future__ import annotations

from digestbot.config import Config
from digestbot.store.sqlite import Store
from digestbot.topics import parse_topic


async def subscribe(store: Store, config: Config, *, platform: str, workspace: str, user: str, raw_topic: str) -> str:
    """Subscribe ``user`` to the topic typed as ``raw_topic``; return the reply."""
    topic = parse_topic(raw_topic, max_length=config.subscriptions.max_topic_length)
    added = await store.add_subscription(
        platform=platform,
        workspace=workspace,
        user=user,
        topic=topic.canonical,
        max_topics=config.subscriptions.max_topics,
    )
    if not added:
        return f"You already follow {topic.canonical}."
    return f"Subscribed to {topic.canonical}: you will get a direct message when a day's papers match it."


async def unsubscribe(store: Store, config: Config, *, platform: str, workspace: str, user: str, raw_topic: str) -> str:
    """Unsubscribe ``user`` from the topic typed as ``raw_topic`` (any spelling of it); return the reply."""
    topic = parse_topic(raw_topic, max_length=config.subscriptions.max_topic_length)
    removed = await store.remove_subscription(platform=platform, workspace=workspace, user=user, topic=topic.canonical)
    if not removed:
        return f"You do not follow {topic.canonical}."
    return f"Unsubscribed from {topic.canonical}."


async def list_topics(store: Store, config: Config, *, platform: str, workspace: str, user: str) -> str:
    """Return the reply listing ``user``'s topics."""
    topics = await store.list_subscriptions(platform=platform, workspace=workspace, user=user)
    if not topics:
        return "You follow no topics yet."
    limit = config.subscriptions.max_topics
    return f"You follow {len(topics)} of at most {limit} topics:\n" + "\n".join(f"• {t}" for t in topics)
