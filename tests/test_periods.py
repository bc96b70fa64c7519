"""Weekly and monthly digests: the period model, aggregation, outbox keys, scheduling, DMs, CLI."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from digestbot.channels import check_setting, load_channels
from digestbot.clock import FakeClock
from digestbot.config import ChannelConfig, Config
from digestbot.delivery import DeliveryEngine
from digestbot.errors import CommandError
from digestbot.formatter import format_digest
from digestbot.labels import labels_for
from digestbot.periods import aggregate, month_of, parse_month, parse_week, previous_period, week_of
from digestbot.records import Digest
from digestbot.schedule import next_due
from digestbot.scheduler import Scheduler
from digestbot.store import Store
from tests.delivery_fakes import FakeAdapter, day_papers, paper
from tests.test_scheduler import drive, settle

W41 = [date(2024, 10, d) for d in range(7, 14)]


def test_weeks_and_months_are_named_as_people_write_them():
    week = parse_week("2024-W41")
    assert (week.start, week.end, week.name, week.span()) == (
        date(2024, 10, 7),
        date(2024, 10, 13),
        "2024-W41",
        "7–13 Oct",
    )
    assert parse_week("2025-W01").span() == "30 Dec 2024–5 Jan 2025"  # the ISO year starts in December
    assert parse_week("2024-W40").span() == "30 Sep–6 Oct"
    month = parse_month("2024-02")
    assert (month.start, month.end, month.name) == (date(2024, 2, 1), date(2024, 2, 29), "2024-02")
    for bad in ("2024-W54", "2024-41", "W41", ""):
        with pytest.raises(CommandError, match=r"2024-W41|ISO week"):
            parse_week(bad)
    for bad in ("2024-13", "2024-1", "24-10"):
        with pytest.raises(CommandError, match="2024-10"):
            parse_month(bad)


def test_a_post_covers_the_previous_iso_week_or_month():
    assert previous_period("weekly", date(2024, 10, 14)) == week_of(date(2024, 10, 7))
    assert previous_period("weekly", date(2024, 10, 18)).name == "2024-W41"  # a Friday post: still last week
    assert previous_period("monthly", date(2024, 11, 1)) == month_of(date(2024, 10, 31))
    assert previous_period("monthly", date(2025, 1, 1)).name == "2024-12"


def test_aggregation_ranks_by_votes_across_days_and_keeps_each_paper_once():
    a = Digest(
        date=date(2024, 10, 7), papers=(paper("1", "A", date(2024, 10, 7), 5), paper("2", "B", date(2024, 10, 7), 9))
    )
    b = Digest(
        date=date(2024, 10, 8), papers=(paper("1", "A", date(2024, 10, 8), 30), paper("3", "C", date(2024, 10, 8), 9))
    )
    outside = Digest(date=date(2024, 10, 14), papers=(paper("4", "D", date(2024, 10, 14), 99),))
    week = parse_week("2024-W41")
    got = aggregate(week, [b, outside, a])
    assert [(p.arxiv_id, p.votes) for p in got.papers] == [("1", 30), ("2", 9), ("3", 9)]  # ties: earlier day first
    assert got.period == week and got.date == week.start


def test_the_heading_names_the_period():
    week = parse_week("2024-W41")
    digest = aggregate(week, [Digest(date=W41[0], papers=tuple(day_papers(W41[0], 2)))])
    message = format_digest(digest, labels_for("en"))
    assert message.blocks[0].text.startswith("Weekly papers — 2024-W41, 7–13 Oct · 2 papers")  # type: ignore[attr-defined]
    assert message.key == "2024-W41"
    month = aggregate(parse_month("2024-10"), [Digest(date=W41[0], papers=tuple(day_papers(W41[0], 1)))])
    assert format_digest(month, labels_for("en")).fallback.startswith("Monthly papers — 2024-10, 1–31 Oct")


def test_cadence_is_a_checked_channel_setting():
    assert check_setting("cadence", "weekly") == "weekly"
    with pytest.raises(CommandError, match="daily, weekly, monthly"):
        check_setting("cadence", "hourly")


async def test_weekly_schedule_uses_the_first_listed_weekday_and_monthly_the_first(tmp_path):
    cfg = Config(
        channels=(
            ChannelConfig(platform="discord", id="w", cadence="weekly", weekdays=("fri", "mon"), time="08:00"),
            ChannelConfig(platform="discord", id="m", cadence="monthly", time="08:00"),
        )
    )
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        weekly, monthly = sorted(await load_channels(store, cfg), key=lambda c: c.id, reverse=True)
    after = datetime(2024, 10, 14, 12, tzinfo=UTC)
    assert next_due(weekly.schedule, after)[0] == date(2024, 10, 18)  # Friday, the first listed
    assert next_due(weekly.schedule, datetime(2024, 10, 18, 12, tzinfo=UTC))[0] == date(2024, 10, 25)
    assert next_due(monthly.schedule, after)[0] == date(2024, 11, 1)
    assert "monthly on day 1" in monthly.schedule.describe()


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        for d in W41:
            if d.weekday() < 5:
                await s.upsert_papers(day_papers(d, 3))
        yield s


def engine_for(store, cfg, adapter, now=datetime(2024, 10, 14, 9, tzinfo=UTC)) -> DeliveryEngine:
    return DeliveryEngine(store, {adapter.platform: adapter}, cfg, FakeClock(now), rng=random.Random(1))


async def test_post_week_posts_the_top_papers_once_under_a_key_apart_from_the_daily_post(store):
    discord = FakeAdapter("discord")
    cfg = Config(channels=(ChannelConfig(platform="discord", id="c1", cadence="weekly", top=4),))
    engine = engine_for(store, cfg, discord)
    week = parse_week("2024-W41")
    first = await engine.post_period(week)
    assert (first.posted, first.already) == (1, 0)
    assert discord.keys("c1") == ["digest-weekly:2024-10-07"]
    cards = discord.posts[0].payload["cards"]
    assert len(cards) == 4 and len(set(cards)) == 4
    assert discord.posts[0].payload["key"] == "2024-W41"
    again = await engine.post_period(week)
    assert (again.posted, again.already) == (0, 1)
    # The daily post of that Monday is its own slot and key: no collision either way.
    daily = await engine.post_digest(date(2024, 10, 7), channels=["c1"])
    assert daily.posted == 1
    assert discord.keys("c1") == ["digest-weekly:2024-10-07", "digest:2024-10-07"]
    await engine.close()


async def test_post_week_without_a_weekly_channel_or_stored_days_says_so(store):
    engine = engine_for(store, Config(channels=(ChannelConfig(platform="discord", id="c1"),)), FakeAdapter())
    with pytest.raises(CommandError, match="no enabled channel has cadence weekly"):
        await engine.post_period(parse_week("2024-W41"))
    with pytest.raises(CommandError, match="no daily list of 2024-W30"):
        await engine.post_period(parse_week("2024-W30"), channels=["c1"])
    await engine.close()


async def test_weekly_subscribers_are_not_dmed_twice_for_the_same_papers(store):
    discord = FakeAdapter("discord")
    cfg = Config(channels=(ChannelConfig(platform="discord", id="c1", cadence="weekly"),))
    await store.add_subscription(platform="discord", workspace="", user="u1", topic="robot", max_topics=20)
    engine = engine_for(store, cfg, discord)
    # u1 already had the daily DM of Monday (a daily channel elsewhere posted it); u2 subscribed later.
    await engine.notify_subscribers(date(2024, 10, 7), "discord")
    await engine.close()
    assert [p.target.id for p in discord.posts] == ["u1"]
    await store.add_subscription(platform="discord", workspace="", user="u2", topic="robot", max_topics=20)
    discord.posts.clear()
    engine = engine_for(store, cfg, discord)
    await engine.post_period(parse_week("2024-W41"))
    again = await engine.post_period(parse_week("2024-W41"))
    await engine.close()
    dms = {p.target.id: p.payload["cards"] for p in discord.posts if p.target.kind == "user"}
    assert sorted(c[5:7] for c in dms["u1"]) == ["08", "09", "10", "11"]  # not Monday's: DMed then
    assert sorted(c[5:7] for c in dms["u2"]) == ["07", "08", "09", "10", "11"]
    assert [p.key for p in discord.posts if p.target.id == "u1"] == ["matches-weekly:2024-10-07"]
    assert again.posted == 0


async def test_scheduler_posts_a_weekly_channel_once_a_week_covering_the_previous_week(store):
    for d in (date(2024, 10, 14), date(2024, 10, 15)):
        await store.upsert_papers(day_papers(d, 3))
    clock = FakeClock(datetime(2024, 10, 13, 12, tzinfo=UTC))
    adapter = FakeAdapter("discord", clock=clock)
    weekly = ChannelConfig(platform="discord", id="w", cadence="weekly", weekdays=("mon", "tue"), time="09:00")
    engine = DeliveryEngine(store, {"discord": adapter}, Config(channels=(weekly,)), clock)
    scheduler = Scheduler(engine, clock, refresh=timedelta(hours=12))
    task = asyncio.create_task(scheduler.run())
    await settle(scheduler)
    await drive(clock, scheduler, datetime(2024, 10, 29, 12, tzinfo=UTC))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.close()
    got = [(p.at.strftime("%a %d %H:%M"), p.key) for p in adapter.posts if p.at is not None]
    assert got == [
        ("Mon 14 09:00", "digest-weekly:2024-10-07"),  # W41, on Mondays only (the first listed day)
        ("Mon 21 09:00", "digest-weekly:2024-10-14"),  # W42: the two stored days
        ("Mon 28 09:00", "notice:2024-10-21"),  # W43: nothing stored, one notice
    ]


async def test_hugging_face_week_list_is_fetched_and_stored_under_its_days(tmp_path):
    import aiohttp

    from digestbot.config import HuggingFaceConfig, SourcesConfig
    from digestbot.ingest import before_period_hook
    from digestbot.sources.huggingface import HuggingFaceClient
    from tests.fakes.sources_server import SourcesServer

    async with SourcesServer() as server, aiohttp.ClientSession() as session:
        client = HuggingFaceClient(server.base_url, session=session)
        papers = await client.fetch_period(parse_week("2024-W41"))
        assert len(papers) == 7 and {p.digest_date for p in papers} == {date(2024, 10, 11)}
        assert server.seen("/api/daily_papers")[0].query == {"week": "2024-W41", "limit": "100", "p": "0"}
        assert await client.fetch_period(parse_month("2024-09")) == []
        assert server.seen("/api/daily_papers")[-1].query["month"] == "2024-09"
        # The scheduler's hook: a weekly channel's post fetches the week first, then aggregates it.
        cfg = Config(
            sources=SourcesConfig(huggingface=HuggingFaceConfig(base_url=server.base_url)),
            channels=(ChannelConfig(platform="discord", id="w", cadence="weekly", weekdays=("mon",), top=3),),
        )
        async with await Store.open(tmp_path / "db.sqlite3") as store:
            discord = FakeAdapter("discord")
            engine = DeliveryEngine(
                store, {"discord": discord}, cfg, FakeClock(datetime(2024, 10, 14, 9, tzinfo=UTC)),
                before_period=before_period_hook(store, cfg),
            )  # fmt: skip
            channels = await engine.channels()
            summary, retry = await engine._scheduled_periods(channels, datetime(2024, 10, 14, 9, tzinfo=UTC))
            await engine.close()
            assert (summary.posted, retry) == (1, [])
            assert discord.keys() == ["digest-weekly:2024-10-07"]
            assert len(discord.posts[0].payload["cards"]) == 3
            assert (await store.digest(date(2024, 10, 11))) is not None


async def test_forum_posts_go_untagged_when_the_forum_tags_cannot_be_read(store):
    from digestbot.errors import DeliveryError

    class Forum(FakeAdapter):
        async def forum_tags(self, target):  # type: ignore[no-untyped-def]
            raise DeliveryError("discord: 503")

    forum = Forum("discord")
    cfg = Config(channels=(ChannelConfig(platform="discord", id="f", layout="forum", top=2),))
    engine = engine_for(store, cfg, forum)
    summary = await engine.post_digest(date(2024, 10, 7))
    await engine.close()
    assert (summary.posted, summary.errors) == (2, 0)
    assert forum.keys("f") == ["digest:2024-10-07:part1/2", "digest:2024-10-07:part2/2"]
    assert [p.thread for p in forum.posts] == [None, None]  # each a post of its own, never a thread reply


def test_post_covers_names_the_day_for_daily_and_the_previous_period_otherwise() -> None:
    from digestbot.periods import post_covers

    assert post_covers("daily", date(2024, 10, 14), date(2024, 10, 11)) == "the list of 2024-10-11"
    assert post_covers("weekly", date(2024, 10, 14), date(2024, 10, 11)) == "week 2024-W41, 7–13 Oct"
    assert post_covers("monthly", date(2024, 11, 1), date(2024, 10, 31)) == "month 2024-10, 1–31 Oct"
