"""The process-wide subscription index: loaded off the loop, kept current from the store's change log."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from digestbot.matching import TopicIndex
from digestbot.records import Paper
from digestbot.store import Store, open_store
from digestbot.subscription_index import SubscriberKey, SubscriptionIndex
from digestbot.topics import Topic, parse_topic

PAPERS = [
    Paper(arxiv_id="2410.00001", title="Diffusion models for video"),
    Paper(arxiv_id="2410.00002", title="Robot learning with language models"),
    Paper(arxiv_id="2410.00003", title="A survey of diffusion"),
]


class CountingIndex(SubscriptionIndex):
    """Counts full loads and remembers which thread ran them."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, max_topic_length=100)
        self.loads: list[int] = []

    def _load(self) -> tuple[TopicIndex[SubscriberKey], int]:
        self.loads.append(threading.get_ident())
        return super()._load()


async def subscribe(store: Store, user: str, topic: str, workspace: str = "") -> None:
    await store.add_subscription(platform="discord", workspace=workspace, user=user, topic=topic, max_topics=20)


async def unsubscribe(store: Store, user: str, topic: str) -> None:
    await store.remove_subscription(platform="discord", workspace="", user=user, topic=topic)


def fresh(pairs: list[tuple[SubscriberKey, str]]) -> dict[SubscriberKey, list[tuple[Paper, Topic]]]:
    """What an index built from scratch over ``pairs`` answers."""
    return dict(TopicIndex([(k, parse_topic(t)) for k, t in pairs]).match_all(PAPERS))


@pytest.fixture
async def store(store_target: str | Path):
    """Each test on SQLite and on PostgreSQL: the change log is kept by triggers on both."""
    async with await open_store(store_target) as s:
        yield s


async def test_first_load_runs_in_a_worker_thread_and_matches_like_a_fresh_index(store: Store) -> None:
    await subscribe(store, "u1", "diffusion")
    await subscribe(store, "u1", "robot")
    await subscribe(store, "u2", "diffusion -survey")
    index = CountingIndex(store)
    got = await index.match(PAPERS)
    assert index.loads and index.loads[0] != threading.get_ident()
    assert dict(got) == fresh(
        [
            (("discord", "", "u1"), "diffusion"),
            (("discord", "", "u1"), "robot"),
            (("discord", "", "u2"), "diffusion -survey"),
        ]
    )


async def test_changes_are_applied_without_reloading(store: Store, store_target: str | Path) -> None:
    await subscribe(store, "u1", "diffusion")
    index = CountingIndex(store)
    await index.refresh()
    await subscribe(store, "u2", "robot")
    await unsubscribe(store, "u1", "diffusion")
    # Another process (the CLI) changes the table too: the triggers log its changes as well.
    async with await open_store(store_target) as other:
        await subscribe(other, "u3", "video")
    got = await index.match(PAPERS)
    assert len(index.loads) == 1
    assert dict(got) == fresh([(("discord", "", "u2"), "robot"), (("discord", "", "u3"), "video")])


async def test_resubscribing_after_the_last_subscriber_left_matches_again(store: Store) -> None:
    await subscribe(store, "u1", "diffusion")
    index = CountingIndex(store)
    await index.refresh()
    await unsubscribe(store, "u1", "diffusion")
    assert dict(await index.match(PAPERS)) == {}
    await subscribe(store, "u2", "diffusion")
    assert dict(await index.match(PAPERS)) == fresh([(("discord", "", "u2"), "diffusion")])


async def test_a_log_pruned_past_our_position_means_a_full_reload(store: Store) -> None:
    await subscribe(store, "u1", "diffusion")
    index = CountingIndex(store)
    await index.refresh()
    for user in ("u2", "u3", "u4"):
        await subscribe(store, user, "robot")
    await store.prune_subscription_changes(keep=1)
    got = await index.match(PAPERS)
    assert len(index.loads) == 2
    assert set(got) == {("discord", "", u) for u in ("u1", "u2", "u3", "u4")}


async def test_a_stored_topic_that_no_longer_parses_is_skipped_once(store: Store, caplog) -> None:
    await subscribe(store, "u1", "!!!")  # written before the rules changed (no words at all)
    await subscribe(store, "u2", "!!!")
    await subscribe(store, "u3", "diffusion")
    with caplog.at_level(logging.WARNING, logger="digestbot.subscription_index"):
        got = await SubscriptionIndex(store, max_topic_length=100).match(PAPERS)
    assert set(got) == {("discord", "", "u3")}
    assert len([r for r in caplog.records if "ignoring stored topic" in r.message]) == 1


async def test_start_loads_in_the_background_and_close_waits_for_it(store: Store) -> None:
    await subscribe(store, "u1", "diffusion")
    index = SubscriptionIndex(store, max_topic_length=100)
    index.start()
    await index.refresh()
    assert index.loaded
    await index.close()


async def test_update_of_a_row_is_logged_as_remove_then_add(store: Store) -> None:
    await subscribe(store, "u1", "diffusion")
    async with store.transaction() as db:
        await db.execute("UPDATE subscriptions SET topic = 'robot' WHERE user_id = 'u1'")
    reaches, changes = await store.subscription_changes(0, limit=10)
    assert reaches
    assert [(op, topic) for _, op, _, _, _, topic in changes] == [
        ("+", "diffusion"),
        ("-", "diffusion"),
        ("+", "robot"),
    ]
