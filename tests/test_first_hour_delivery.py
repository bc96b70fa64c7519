"""Delivery behaviours from issue #19: workspace-less subscriptions, the stale-list rule, run/post logs."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from digestbot.clock import FakeClock
from digestbot.config import ChannelConfig, Config
from digestbot.delivery import DeliveryEngine
from digestbot.store import Store
from tests.delivery_fakes import FakeAdapter, day_papers

DAY = date(2024, 10, 11)
NOW = datetime(2024, 10, 14, 9, 0, tzinfo=UTC)


async def no_sleep(seconds: float) -> None:
    del seconds


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        await s.upsert_papers(day_papers(DAY, 5))
        yield s


def engine_for(store: Store, cfg: Config, *adapters: FakeAdapter, now: datetime = NOW) -> DeliveryEngine:
    return DeliveryEngine(
        store, {a.platform: a for a in adapters}, cfg, FakeClock(now), sleep=no_sleep, rng=random.Random(1)
    )


async def test_a_subscription_without_workspace_matches_every_workspace_of_its_platform(store: Store) -> None:
    """``subscriptions add`` without --workspace (and a Discord DM /subscribe) stores workspace "":
    it gets its DM whichever workspace's channel posts, once a day."""
    slack = FakeAdapter("slack")
    await store.add_subscription(platform="slack", workspace="", user="U1", topic="diffusion", max_topics=5)
    await store.add_subscription(platform="slack", workspace="T2", user="U2", topic="diffusion", max_topics=5)
    channels = (
        ChannelConfig(platform="slack", id="C1", workspace="T1"),
        ChannelConfig(platform="slack", id="C2", workspace="T3"),
    )
    await engine_for(store, Config(channels=channels), slack).post_digest(DAY)
    dms = [p.target.id for p in slack.posts if p.target.kind == "user"]
    assert dms == ["U1"]  # U2 belongs to T2, where no channel posted
