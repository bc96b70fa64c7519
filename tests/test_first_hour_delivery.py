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


# --- the stale-list rule and a source that is down -------------------------------------------------

from digestbot.errors import SourceError  # noqa: E402
from tests.test_scheduler import Harness, add_days, chan, drive  # noqa: E402


async def test_a_scheduled_post_never_presents_an_old_list_as_the_days(tmp_path) -> None:
    """The 2024 sample on a 2026 schedule, source off: one notice naming the last list's date."""
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        await add_days(store, date(2024, 10, 11))
        clock = FakeClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # a Monday
        async with Harness(store, clock, [chan(time="09:00")], empty_cutoff_hours=2, empty_retry_minutes=30) as h:
            await drive(clock, h.scheduler, datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
        posts = [(p.key, p.payload["text"]) for p in h.adapter.posts]
    assert [k for k, _ in posts] == ["notice:2026-11-27"]
    assert "2024-10-11" in posts[0][1] and "newest list is from 2024-10-11" in posts[0][1]


async def test_a_list_older_by_a_long_weekend_still_stands_in(tmp_path) -> None:
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        await add_days(store, date(2026, 11, 26))  # Thursday; Friday's list never came
        clock = FakeClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
        async with Harness(store, clock, [chan(time="09:00")], empty_cutoff_hours=2, empty_retry_minutes=30) as h:
            await drive(clock, h.scheduler, datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
        assert [p.key for p in h.adapter.posts] == ["digest:2026-11-26"]


async def test_source_down_at_post_time_posts_from_the_archive_at_once(tmp_path) -> None:
    calls: list[date] = []

    async def down(day: date) -> None:
        calls.append(day)
        raise SourceError("huggingface.co: connection refused")

    async with await Store.open(tmp_path / "db.sqlite3") as store:
        await add_days(store, date(2026, 11, 26))
        clock = FakeClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
        async with Harness(store, clock, [chan(time="09:00")], before_post=down, empty_cutoff_hours=6) as h:
            await drive(clock, h.scheduler, datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
        # Due 09:00; no waiting for the cut-off at 15:00: the archive's newest list goes out at once.
        assert [(p.at.strftime("%H:%M") if p.at else "", p.key) for p in h.adapter.posts] == [
            ("09:00", "digest:2026-11-26")
        ]
        assert calls == [date(2026, 11, 27)]


async def test_run_logs_each_channels_next_post_and_day_then_the_day_it_posted(tmp_path, caplog) -> None:
    caplog.set_level("INFO")
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        await add_days(store, date(2026, 11, 27))
        clock = FakeClock(datetime(2026, 11, 29, 23, 0, tzinfo=UTC))  # Sunday 23:00 UTC = Monday 08:00 KST
        channels = [chan("seoul", time="09:00", timezone="Asia/Seoul")]
        async with Harness(store, clock, channels) as h:
            assert "discord:seoul: next post Mon 2026-11-30 09:00 KST (00:00 UTC), covering the list of 2026-11-27" in (
                caplog.text
            )
            await drive(clock, h.scheduler, datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    assert "discord:channel:seoul: the digest of 2026-11-27 (2 papers)" in caplog.text
