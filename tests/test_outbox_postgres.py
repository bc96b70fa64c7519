"""The outbox on PostgreSQL: one plan per slot, one winner per claim, batched SKIP LOCKED claims, dead owners seen at once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from digestbot.outbox import Outbox
from digestbot.ports import Target
from digestbot.store import PostgresStore
from digestbot.store.postgres.outbox import PgOutboxStorage
from digestbot.store.records import StateChange

DAY = date(2024, 10, 11)
CHANNEL = Target(platform="discord", kind="channel", id="c1")


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[list[PostgresStore]]:
    """Three stores on one database: three bot processes."""
    opened = [await PostgresStore.open(pg_url) for _ in range(3)]
    try:
        yield opened
    finally:
        for s in opened:
            await s.close()


async def test_racing_plans_write_one_plan(stores: list[PostgresStore]) -> None:
    outboxes = [Outbox(s) for s in stores]
    results = await asyncio.gather(
        *(
            o.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{"n": i}, {"n": i}])
            for i, o in enumerate(outboxes)
        )
    )
    assert sum(created for _, created in results) == 1
    plans = {tuple((d.id, d.key, str(d.payload)) for d in rows) for rows, _ in results}
    assert len(plans) == 1
    (rows, _) = results[0]
    assert [d.key for d in rows] == ["digest:2024-10-11:part1/2", "digest:2024-10-11:part2/2"]
    assert await outboxes[0].counts() == {"pending": 2}
    for o in outboxes:
        await o.close()


async def test_each_row_is_claimed_once_and_batched_claims_take_disjoint_rows(stores: list[PostgresStore]) -> None:
    outboxes = [PgOutboxStorage(s.url) for s in stores]
    targets = [Target(platform="slack", kind="channel", id=f"C{i}") for i in range(30)]
    for t in targets:
        await outboxes[0].plan(t, slot="post", day=DAY, kind="digest", keys=["k"], payloads=[{"t": t.id}])
    rows = await outboxes[0].unsent()
    wins = [bool(won) for won in await asyncio.gather(*(o.claim([rows[0].id]) for o in outboxes))]
    assert sorted(wins) == [False, False, True]

    async def drain(outbox: PgOutboxStorage) -> list[int]:
        got: list[int] = []
        while pending := [d.id for d in await outbox.unsent() if d.state == "pending"]:
            won = await outbox.claim(random.sample(pending, min(4, len(pending))))
            got += sorted(won)
            await outbox.set_states([StateChange(i, "sent", message_id=f"m{i}") for i in sorted(won)])
        return got

    taken = await asyncio.gather(*(drain(o) for o in outboxes))
    flat = [i for ids in taken for i in ids]
    assert len(flat) == len(set(flat)) == 29  # every row but the one claimed above, each exactly once
    assert await outboxes[0].counts() == {"sent": 29, "claimed": 1}
    for o in outboxes:
        await o.close()


async def test_a_dead_runs_claims_are_stale_at_once_a_live_runs_only_after_the_lease(
    stores: list[PostgresStore],
) -> None:
    alive, dying, watcher = (Outbox(s) for s in stores)
    for i, o in enumerate((alive, dying)):
        rows, _ = await o.plan(
            Target(platform="slack", kind="channel", id=f"C{i}"), slot="post", day=DAY, kind="d", payloads=[{}]
        )
        assert await o.claim(rows[0])
    await dying.close()  # its connection, and so its run lock, is gone (as when the process is killed)
    stale = await watcher.stale_claims()
    assert [d.claimed_by for d in stale] == [dying.owner]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert {d.claimed_by for d in await watcher.stale_claims(now=later)} == {alive.owner, dying.owner}
    row = await watcher.take_over(stale[0])  # what the engine does before asking the platform
    assert row is not None
    assert await watcher.release(row, "reconciled: not on the platform")  # and after find_sent found nothing
    assert await watcher.claim(row)
    assert await watcher.renew(row) and not await alive.renew(row)
    await watcher.mark_failed(row, "gone")
    await alive.fail_pending(await alive._rows.unsent(), "nothing pending: no change")
    assert await watcher.counts() == {"claimed": 1, "failed": 1}
    await alive.close()
    await watcher.close()


async def test_of_two_live_runs_only_one_takes_a_stale_claim_over(stores: list[PostgresStore]) -> None:
    crashed, first, second = (Outbox(s) for s in stores)
    (row,), _ = await crashed.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{}])
    assert await crashed.claim(row)
    await crashed.close()
    (seen1,), (seen2,) = await first.stale_claims(), await second.stale_claims()
    taken = await asyncio.gather(first.take_over(seen1), second.take_over(seen2))
    winners = [t for t in taken if t is not None]
    assert len(winners) == 1 and winners[0].claimed_by in {first.owner, second.owner}
    (fresh,) = await first.rows(CHANNEL, slot="post", day=DAY)
    assert fresh.state == "claimed" and fresh.claimed_by == winners[0].claimed_by
    loser = second if winners[0].claimed_by == first.owner else first
    assert await loser.stale_claims() == []  # the winner holds it, alive
    await first.close()
    await second.close()


def test_the_postgres_store_hands_out_its_outbox_storage(pg_url: str) -> None:
    async def check() -> None:
        async with await PostgresStore.open(pg_url) as store:
            rows = store.outbox_storage()
            assert isinstance(rows, PgOutboxStorage)
            await rows.close()

    asyncio.run(check())


ROWS = 400


def test_three_workers_killed_at_random_send_every_message_exactly_once(pg_url: str) -> None:
    import os
    import random
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psycopg

    async def setup() -> None:
        async with await PostgresStore.open(pg_url) as store:
            outbox = Outbox(store)
            for i in range(ROWS):
                target = Target(platform="slack", kind="channel", id=f"C{i}")
                await outbox.plan(target, slot="post", day=DAY, kind="digest", payloads=[{"i": i}])
            await outbox.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE fake_sent (key TEXT NOT NULL)")

    asyncio.run(setup())
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "tests.pg_outbox_worker", pg_url], cwd=root, env=env)

    rng = random.Random(15)
    workers = [spawn() for _ in range(3)]
    kills = 0
    deadline = time.monotonic() + 120

    def unsent() -> int:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT count(*) FROM deliveries WHERE state != 'sent'").fetchone()
        return int(row[0]) if row else 0

    def claiming_pids() -> set[int]:
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute("SELECT DISTINCT claimed_by FROM deliveries WHERE state = 'claimed'").fetchall()
        return {int(owner.split(":")[-2]) for (owner,) in rows if owner}

    while kills < 8 and time.monotonic() < deadline and unsent():
        # Kill a worker that holds a claim right now (mid-send), as a crash would hit it.
        busy = [w for w in workers if w.pid in claiming_pids() and w.poll() is None]
        if not busy:
            time.sleep(rng.uniform(0.01, 0.05))
            continue
        victim = rng.choice(busy)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
        workers.remove(victim)
        workers.append(spawn())
    for w in workers:
        assert w.wait(timeout=max(1.0, deadline - time.monotonic())) == 0
    with psycopg.connect(pg_url) as conn:
        counts = conn.execute("SELECT key, count(*) FROM fake_sent GROUP BY key").fetchall()
        states = conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
        assert len(counts) == ROWS and {n for _, n in counts} == {1}, [c for c in counts if c[1] != 1]
        assert states == [("sent", ROWS)]
        recovered = conn.execute(
            "SELECT count(*) FROM deliveries WHERE message_id = 'found' OR attempts > 1"
        ).fetchone()
    print(f"kills={kills} claims recovered={recovered}")
    assert kills >= 3 and recovered is not None and recovered[0] >= 1  # the recovery path did run


async def test_plans_asked_together_are_written_in_one_transaction_and_an_earlier_plan_wins(
    stores: list[PostgresStore],
) -> None:
    outbox = Outbox(stores[0])
    targets = [Target(platform="slack", kind="user", id=f"U{i}") for i in range(20)]
    batches: list[int] = []
    plan_batch = outbox._rows._plan_batch  # type: ignore[attr-defined]

    async def counting(requests):  # type: ignore[no-untyped-def]
        batches.append(len(requests))
        return await plan_batch(requests)

    outbox._rows._plans._run = counting  # type: ignore[attr-defined]
    asked = [*targets, targets[0]]
    results = await asyncio.gather(
        *(
            outbox.plan(t, slot="matches", day=DAY, kind="matches", payloads=[{"n": i}, {"n": i}], claim_first=True)
            for i, t in enumerate(asked)
        )
    )
    assert batches == [21]
    assert [created for _, created in results] == [True] * 20 + [False]
    assert results[20][0][0].id == results[0][0][0].id and results[20][0][0].payload == {"n": 0}  # the first wins
    assert [[d.state for d in rows] for rows, _ in results[:20]] == [["claimed", "pending"]] * 20
    assert sum(outbox.claimed_by_plan(rows[0]) for rows, _ in results[:20]) == 20
    assert await outbox.counts() == {"claimed": 20, "pending": 20}
    await outbox.close()
