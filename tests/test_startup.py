"""Each platform starts on its own: one that is down or refuses its token holds nothing of the others.

Core-level: the scheduler with a platform not up yet posts to the others on time, keeps the
missing platform's post pending in the outbox, and sends it as soon as the platform joins.
(The CLI scenarios, through the real clients against the fakes, are in tests/adapters/test_startup.py.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from digestbot.clock import FakeClock
from digestbot.config import ChannelConfig, Config
from digestbot.delivery import DeliveryEngine
from digestbot.errors import TokenRefusedError, UnavailableError
from digestbot.scheduler import Scheduler
from digestbot.startup import PlatformGate, gated, start_each
from digestbot.store import Store
from tests.delivery_fakes import FakeAdapter
from tests.test_scheduler import add_days, drive, settle


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        yield s


class Unreachable(FakeAdapter):
    """A platform whose API cannot be reached until ``reachable`` is set."""

    reachable = False

    async def start(self) -> None:
        if not self.reachable:
            raise UnavailableError(f"{self.platform}: cannot reach http://127.0.0.1:9")
        await super().start()


class Refusing(FakeAdapter):
    async def start(self) -> None:
        raise TokenRefusedError(f"{self.platform}.token: rejected")


async def test_a_platform_that_joins_late_gets_its_pending_post_at_once(store) -> None:
    await add_days(store, date(2024, 10, 10))
    clock = FakeClock(datetime(2024, 10, 11, 8, 0, tzinfo=UTC))
    discord, slack = Unreachable("discord", clock=clock), FakeAdapter("slack", clock=clock)
    gates = gated({"discord": discord, "slack": slack})
    await start_each(gates)
    assert not gates["discord"].up and gates["slack"].up
    channels = tuple(ChannelConfig(platform=p, id=f"{p}-1", time="09:00", timezone="UTC") for p in gates)
    engine = DeliveryEngine(store, gates, Config(channels=channels), clock)
    scheduler = Scheduler(engine, clock)
    task = asyncio.create_task(scheduler.run())
    try:
        await drive(clock, scheduler, datetime(2024, 10, 11, 9, 5, tzinfo=UTC))
        assert [p.key for p in slack.posts] == ["digest:2024-10-10"]  # Slack on time, Discord down
        assert discord.posts == [] and discord.send_calls == 0
        target = next(c.target for c in await engine.channels() if c.platform == "discord")
        rows = await engine.outbox.rows(target, slot="post", day=date(2024, 10, 10))
        assert [r.state for r in rows] == ["pending"]  # planned and kept: nothing lost while it was down
        discord.reachable = True  # the network comes up: run's reconnect loop starts it, then tells the scheduler
        await gates["discord"].start()
        scheduler.retry_now("discord")
        await settle(scheduler)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [(p.key, p.at) for p in discord.posts] == [("digest:2024-10-10", datetime(2024, 10, 11, 9, 5, tzinfo=UTC))]
    assert len(slack.posts) == 1  # nothing twice


async def test_a_refused_platform_keeps_its_messages_pending_and_the_others_post(store) -> None:
    await add_days(store, date(2024, 10, 10))
    discord, slack = Refusing("discord"), FakeAdapter("slack")
    gates: dict[str, PlatformGate] = gated({"discord": discord, "slack": slack})
    await start_each(gates)
    assert gates["discord"].refused and gates["slack"].up
    channels = tuple(ChannelConfig(platform=p, id=f"{p}-1") for p in gates)
    engine = DeliveryEngine(store, gates, Config(channels=channels))
    summary = await engine.post_digest(date(2024, 10, 10))
    assert [p.key for p in slack.posts] == ["digest:2024-10-10"] and discord.posts == []
    assert summary.posted == 1 and summary.refused == 1
    assert summary.problems == ("discord.token: rejected — nothing was sent to discord; its channels stay enabled",)
    assert {c.platform for c in await engine.channels()} == {"discord", "slack"}  # nothing disabled
