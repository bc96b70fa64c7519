"""A run frozen past its lease whose send lands late never leaves a second copy (#15), on both backends.

Two engines share one store and one platform (:class:`Platform`, in memory). Run A claims the
part and sends; while its request is held (as if A were frozen with SIGSTOP, so none of its
renewals run: A's lease is long, B judges A's claim by its own short one), run B acts. Then A's
copy lands, its ``mark_sent`` finds the row no longer its own, and it settles the copy by what
the outbox says: deleted when B's message is recorded, kept when B recorded A's copy or nobody
holds the row. The engines' clock is a fake one years behind the claims' timestamps, as in the
fast-clock tests: leases are judged on the store's clock regardless.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from digestbot.clock import FakeClock
from digestbot.config import ChannelConfig, Config, DeliveryConfig
from digestbot.delivery import DeliveryEngine
from digestbot.errors import DeliveryError
from digestbot.outbox import Outbox
from digestbot.ports import Sent, Target
from digestbot.store import Store
from tests.delivery_fakes import FakeAdapter, day_papers, no_sleep

DAY = datetime(2024, 10, 11, tzinfo=UTC).date()
NOW = datetime(2024, 10, 14, 9, 0, tzinfo=UTC)  # the engines' clock: far behind the claims' timestamps
B_LEASE = timedelta(seconds=0.3)


class Platform(FakeAdapter):
    """One platform for both runs: A's first send is held while ``meanwhile`` (run B) acts."""

    def __init__(self) -> None:
        super().__init__("discord")
        self.meanwhile: Callable[[], Awaitable[None]] | None = None
        self.lands_first = False  # A's copy lands before B acts (B's reconciliation finds it)
        self.slow = 0.0  # seconds every later send takes (B's send in flight while A's copy lands)
        self.times_out = False  # A's copy lands but A's client gives up waiting (outcome unknown)

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        hook, self.meanwhile = self.meanwhile, None
        if hook is None:
            await asyncio.sleep(self.slow)
            return await super().send(target, payload, key=key, thread=thread)
        await asyncio.sleep(1.5 * B_LEASE.total_seconds())  # frozen: A's claim is past B's lease
        if self.lands_first:
            sent = await super().send(target, payload, key=key, thread=thread)
            await hook()
            return sent
        await hook()
        sent = await super().send(target, payload, key=key, thread=thread)
        if self.times_out:
            raise DeliveryError(f"discord {target}: outcome unknown (TimeoutError())")
        return sent


def engines(store: Store, platform: Platform, *, dm: bool) -> tuple[DeliveryEngine, DeliveryEngine]:
    channels = () if dm else (ChannelConfig(platform="discord", id="c1"),)
    config = Config(channels=channels, delivery=DeliveryConfig())
    a, b = (
        DeliveryEngine(store, {"discord": platform}, config, FakeClock(NOW), sleep=no_sleep, rng=random.Random(1))
        for _ in range(2)
    )
    a.outbox.lease = timedelta(minutes=1)  # A never renews within the test: as good as frozen
    b.outbox.lease = B_LEASE
    return a, b


async def run(engine: DeliveryEngine, *, dm: bool) -> Any:
    if dm:
        await engine.reconcile()  # as `post` and `run` do before sending
        return await engine.notify_subscribers(DAY, "discord")
    return await engine.post_digest(DAY, notify=False)


@pytest.fixture
async def store(any_store: Store) -> Store:
    await any_store.upsert_papers(day_papers(DAY, 3), digest_date=DAY)
    await any_store.add_subscription(platform="discord", workspace="", user="u1", topic="diffusion", max_topics=5)
    return any_store


async def rows(engine: DeliveryEngine) -> list[tuple[str, str | None]]:
    return [(d.state, d.message_id) for d in await engine.outbox._rows.unsent()]


@pytest.mark.parametrize("dm", [False, True], ids=["channel", "dm"])
async def test_a_late_copy_after_another_run_posted_the_part_is_deleted(store: Store, dm: bool) -> None:
    platform = Platform()
    a, b = engines(store, platform, dm=dm)
    platform.meanwhile = lambda: run(b, dm=dm)  # takes the claim over, finds nothing, posts
    try:
        summary = await run(a, dm=dm)
    finally:
        await a.close()
        await b.close()
    assert len(platform.keys()) == 1, platform.posts  # exactly one copy remains
    assert platform.deleted == ["discord-2"]  # A's own late copy (B's landed first as discord-1)
    assert platform.posts[0].message_id == "discord-1"  # the winner's message is never deleted
    assert (summary.posted, summary.already) == (0, 1), summary


async def test_a_late_copy_the_other_run_found_and_recorded_is_kept(store: Store) -> None:
    platform = Platform()
    platform.lands_first = True  # A's copy is on the platform when B reconciles: B records it
    a, b = engines(store, platform, dm=False)
    platform.meanwhile = lambda: run(b, dm=False)
    try:
        summary = await run(a, dm=False)
    finally:
        await a.close()
        await b.close()
    assert [p.message_id for p in platform.posts] == ["discord-1"] and platform.deleted == []
    assert summary.posted == 1


async def test_a_late_copy_of_a_part_nobody_holds_is_recorded_and_not_sent_again(store: Store) -> None:
    platform = Platform()
    a, b = engines(store, platform, dm=False)
    platform.meanwhile = b.reconcile  # B takes the claim over, finds nothing, puts it back to pending
    try:
        summary = await run(a, dm=False)
        again = await run(b, dm=False)
    finally:
        await a.close()
        await b.close()
    assert [p.message_id for p in platform.posts] == ["discord-1"] and platform.deleted == []
    assert (summary.posted, again.posted, again.already) == (1, 0, 1)


async def test_a_late_copy_waits_for_the_run_holding_the_part_then_defers_to_its_message(store: Store) -> None:
    platform = Platform()
    platform.slow = 0.5  # B's send is in flight (B holds the row) when A's copy lands
    a, b = engines(store, platform, dm=False)
    tasks: list[asyncio.Task[Any]] = []

    async def b_starts_sending() -> None:
        await b.reconcile()
        tasks.append(asyncio.create_task(run(b, dm=False)))
        while (await b.outbox.counts()).get("claimed", 0) == 0:  # noqa: ASYNC110  (a store row, not an event)
            await asyncio.sleep(0.01)

    platform.meanwhile = b_starts_sending
    try:
        summary = await run(a, dm=False)
        other = await tasks[0]
    finally:
        await a.close()
        await b.close()
    assert len(platform.posts) == 1 and platform.deleted == ["discord-1"]  # A's landed first, then B's
    assert platform.posts[0].message_id == "discord-2"
    assert (summary.already, other.posted) == (1, 1)


@pytest.mark.parametrize("dm", [False, True], ids=["channel", "dm"])
async def test_a_late_copy_whose_send_timed_out_is_found_and_deleted_once_another_is_recorded(
    store: Store, dm: bool
) -> None:
    platform = Platform()
    platform.times_out = True  # A never learns its copy's id
    a, b = engines(store, platform, dm=dm)
    platform.meanwhile = lambda: run(b, dm=dm)
    try:
        summary = await run(a, dm=dm)
    finally:
        await a.close()
        await b.close()
    assert [p.message_id for p in platform.posts] == ["discord-1"]  # B's, recorded
    assert platform.deleted == ["discord-2"]  # A's stray copy, found by its key
    assert summary.already == 1, summary


async def test_a_late_copy_whose_new_holder_stopped_takes_the_part_over_asking_about_its_row_only(
    store: Store,
) -> None:
    platform = Platform()
    a, b = engines(store, platform, dm=False)
    await b.close()
    taker = Outbox(store, lease=B_LEASE)  # another run: takes A's claim over, then dies holding it

    async def take_over_and_die() -> None:
        (row,) = await taker._rows.unsent()
        stale = await taker.stale_claim(row)
        assert stale is not None and await taker.take_over(stale) is not None
        await taker.close()  # its run lock goes with it: its claim is stale at once

        async def whole_backlog() -> Any:
            raise AssertionError("a late copy read every unsent row to ask about its own")

        a.outbox._rows.unsent = whole_backlog  # type: ignore[method-assign]

    platform.meanwhile = take_over_and_die
    try:
        summary = await run(a, dm=False)
    finally:
        await a.close()
    assert [p.message_id for p in platform.posts] == ["discord-1"] and platform.deleted == []
    assert summary.posted == 1, summary
    reader = Outbox(store)
    (row,) = await reader.rows(Target(platform="discord", kind="channel", id="c1"), slot="post", day=DAY)
    await reader.close()
    assert (row.state, row.message_id) == ("sent", "discord-1")  # A's copy, recorded by A once it took over
