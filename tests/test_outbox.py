from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from digestbot.outbox import GroupCommit, Outbox, delivery_key
from digestbot.ports import Target
from digestbot.store import Store

DAY = date(2024, 10, 11)
CHANNEL = Target(platform="discord", kind="channel", id="c1")


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        yield s


def test_delivery_key_is_deterministic():
    assert delivery_key("digest", DAY, 2, 3) == "digest:2024-10-11:part2/3"
    assert delivery_key("matches", DAY) == "matches:2024-10-11"


async def test_plan_is_written_once_and_an_earlier_plan_wins(store):
    outbox = Outbox(store)
    rows, created = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a", "b"])
    assert created and [r.key for r in rows] == ["digest:2024-10-11:part1/2", "digest:2024-10-11:part2/2"]
    assert {r.state for r in rows} == {"pending"}
    again, created = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="notice", payloads=["x", "y", "z"])
    assert not created
    assert [r.payload for r in again] == ["a", "b"]  # the same date never gets a second, different post


async def test_state_machine_claim_sent_release_failed(store):
    outbox = Outbox(store)
    (row,), _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{"t": 1}])
    assert await outbox.claim(row)
    assert not await outbox.claim(row)  # a claimed row cannot be claimed twice
    await outbox.release(row, "timeout")
    (row,) = await outbox.rows(CHANNEL, slot="post", day=DAY)
    assert row.state == "pending" and row.error == "timeout" and row.attempts == 1
    assert await outbox.claim(row)
    await outbox.mark_sent(row, "m1")
    (row,) = await outbox.rows(CHANNEL, slot="post", day=DAY)
    assert (row.state, row.message_id, row.attempts) == ("sent", "m1", 2)
    assert not await outbox.claim(row)
    user = Target(platform="discord", kind="user", id="u1")
    (dm,), _ = await outbox.plan(user, slot="matches", day=DAY, kind="matches", payloads=["hi"])
    assert await outbox.claim(dm)
    await outbox.mark_failed(dm, "cannot DM")
    assert await outbox.counts() == {"sent": 1, "failed": 1}


async def test_concurrent_claims_have_one_winner(store):
    outbox, other = Outbox(store), Outbox(store)
    (row,), _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a"])
    wins = await asyncio.gather(*(o.claim(row) for o in [outbox, other] * 10))
    assert wins.count(True) == 1


async def test_stale_claims_are_those_of_dead_owners_or_expired_leases(store):
    outbox = Outbox(store)
    rows, _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=["a", "b", "c"])
    for row in rows:
        assert await outbox.claim(row)
    assert await outbox.stale_claims() == []  # our own claims are in flight, not stale
    dead = Outbox(store)
    dead.owner = "nohost-that-exists:1:x"  # another host: only the lease can tell
    assert await dead.stale_claims() == []
    later = datetime.now(UTC) + dead.lease + timedelta(seconds=1)
    assert len(await dead.stale_claims(now=later)) == 3
    await store.db.execute(
        "UPDATE deliveries SET claimed_by = ? WHERE part = 1", (f"{outbox.owner.split(':')[0]}:999999999:x",)
    )
    stale = await dead.stale_claims()
    assert [r.part for r in stale] == [1]  # same host, pid gone: a crash


async def test_group_commit_isolates_a_failing_write(store):
    writer = GroupCommit(store)

    async def bad(db):
        await db.execute("INSERT INTO schedule_state(platform, channel_id, last_seen) VALUES ('p', 'bad', 'x')")
        raise ValueError("boom")

    async def good(db):
        await db.execute("INSERT INTO schedule_state(platform, channel_id, last_seen) VALUES ('p', 'good', 'x')")
        return "done"

    results = await asyncio.gather(writer.run(bad), writer.run(good), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] == "done"
    async with store.db.execute("SELECT channel_id FROM schedule_state") as cur:
        assert [r[0] for r in await cur.fetchall()] == ["good"]
