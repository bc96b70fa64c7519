"""Subscription commands shared by the CLI and the chat adapters: each returns the reply text.

The chat ``/subscribe``, ``/unsubscribe`` and ``/topics`` commands and ``digestbot subscriptions``
call these same functions, so the rules (topic syntax, limits, canonical form) live in one place.
Invalid input raises :class:`~digestbot.errors.CommandError` whose text is the reply to show.
"""

from __future__ import annotations

from digestbot.config import Config
from digestbot.errors import CommandError, TopicLimitError
from digestbot.store.protocol import StoreProtocol
from digestbot.topics import Topic, parse_topic
from digestbot.wording import plural


async def subscribe(
    store: StoreProtocol, config: Config, *, platform: str, workspace: str, user: str, raw_topic: str
) -> str:
    """Subscribe ``user`` to the topic typed as ``raw_topic``; return the reply (naming it as typed)."""
    topic = parse_topic(raw_topic, max_length=config.subscriptions.max_topic_length)
    try:
        added = await store.add_subscription(
            platform=platform,
            workspace=workspace,
            user=user,
            topic=topic.canonical,
            max_topics=config.subscriptions.max_topics,
            display=topic.shown,
        )
    except TopicLimitError as exc:
        raise CommandError(
            f"you already follow {exc.count} topic{'' if exc.count == 1 else 's'} (the limit is {exc.limit},"
            " counting every server and direct messages); unsubscribe first"
        ) from None
    if not added:
        return f"You already follow {await _shown(store, platform, workspace, user, topic)}."
    return f"Subscribed to {topic.shown}: you will get a direct message when a day's papers match it."


async def _shown(store: StoreProtocol, platform: str, workspace: str, user: str, topic: Topic) -> str:
    """Return how ``user`` first wrote the stored subscription matching ``topic`` (any spelling of it)."""
    for key, shown in await store.shown_subscriptions(platform=platform, workspace=workspace, user=user):
        if key == topic.canonical:
            return shown
    return topic.shown


async def unsubscribe(
    store: StoreProtocol, config: Config, *, platform: str, workspace: str, user: str, raw_topic: str
) -> str:
    """Unsubscribe ``user`` from the topic typed as ``raw_topic`` (any spelling of it); return the reply."""
    topic = parse_topic(raw_topic, max_length=config.subscriptions.max_topic_length)
    shown = await _shown(store, platform, workspace, user, topic)
    removed = await store.remove_subscription(platform=platform, workspace=workspace, user=user, topic=topic.canonical)
    if not removed:
        return f"You do not follow {topic.shown}."
    return f"Unsubscribed from {shown}."


async def list_topics(store: StoreProtocol, config: Config, *, platform: str, workspace: str, user: str) -> str:
    """Return the reply listing ``user``'s topics, as they typed them."""
    topics = await store.shown_subscriptions(platform=platform, workspace=workspace, user=user)
    if not topics:
        return "You follow no topics yet."
    limit = config.subscriptions.max_topics
    listed = "\n".join(f"• {shown}" for _, shown in topics)
    return f"You follow {len(topics)} of at most {plural(limit, 'topic')}:\n" + listed
