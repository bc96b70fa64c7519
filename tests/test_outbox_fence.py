"""Results, renewals and takeovers are conditional on the claim's owner; leases are judged on the store's clock (#15).

Both backends (``any_store``). A run that was frozen past its lease and lost its row to another
run must learn that it lost (``mark_sent`` False) instead of overwriting the other run's result,
and the lease is judged on the clock the claim was stamped with, whatever the engine's clock says.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from digestbot.outbox import Outbox
from digestbot.ports import Target
from digestbot.store import Store

DAY = date(2024, 10, 11)
CHANNEL = Target(platform="slack", kind="channel", id="C1")
LEASE = timedelta(seconds=1)


async def test_a_run_that_lost_its_claim_cannot_write_the_rows_result(any_store: Store) -> None:
    frozen, other = Outbox(any_store, lease=LEASE), Outbox(any_store, lease=LEASE)
    try:
        [row], _ = await frozen.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{"n": 1}])
        assert await frozen.claim(row)
        await asyncio.sleep(1.5 * LEASE.total_seconds())  # frozen past its lease: no renewal ran
        [stale] = await other.stale_claims()
        taken = await other.take_over(stale)
        assert taken is not None
        assert await other.release(taken, "not on the platform")
        [again] = await other.rows(CHANNEL, slot="post", day=DAY)
        assert await other.claim(again)
        # The frozen run wakes: every write of its old claim is refused, and says so.
        assert not await frozen.still_held(row)
        assert not await frozen.mark_sent(row, "late-copy")
        assert not await frozen.release(row, "transient")
        assert not await frozen.mark_failed(row, "permanent")
        [now] = await other.rows(CHANNEL, slot="post", day=DAY)
        assert (now.state, now.claimed_by, now.message_id) == ("claimed", other.owner, None)
        assert await other.mark_sent(again, "winner")
        assert not await other.mark_sent(again, "twice")  # a result is written once
        [done] = await other.rows(CHANNEL, slot="post", day=DAY)
        assert (done.state, done.message_id) == ("sent", "winner")
    finally:
        await frozen.close()
        await other.close()


async def test_a_late_copy_is_recorded_only_on_a_row_nobody_holds(any_store: Store) -> None:
    outbox = Outbox(any_store, lease=LEASE)
    try:
        first, second = (await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{}, {}]))[0]
        assert await outbox.adopt_sent(first, "late")  # pending: nobody will send it now
        assert not await outbox.adopt_sent(first, "later")  # sent: the record stays
        assert await outbox.claim(second)
        assert not await outbox.adopt_sent(second, "late")  # claimed: its holder decides
        rows = await outbox.rows(CHANNEL, slot="post", day=DAY)
        assert [(r.state, r.message_id) for r in rows] == [("sent", "late"), ("claimed", None)]
        assert await outbox.current(second) == rows[1]
    finally:
        await outbox.close()


async def test_a_fresh_claim_is_known_held_without_a_write_an_old_one_is_renewed(any_store: Store) -> None:
    outbox = Outbox(any_store, lease=timedelta(seconds=0.9))
    try:
        [row], _ = await outbox.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{}], claim_first=True)
        assert outbox.claimed_by_plan(row)
        before = (await outbox.current(row)).claimed_at  # type: ignore[union-attr]
        assert await outbox.still_held(row)  # just claimed: no write
        assert (await outbox.current(row)).claimed_at == before  # type: ignore[union-attr]
        await asyncio.sleep(0.4)  # older than a third of the lease: checked by a renewal
        assert await outbox.still_held(row)
        renewed = (await outbox.current(row)).claimed_at  # type: ignore[union-attr]
        assert renewed is not None and before is not None and renewed > before
    finally:
        await outbox.close()


async def test_lease_expiry_is_judged_on_the_store_clock_the_claim_was_stamped_with(any_store: Store) -> None:
    owner, watcher = Outbox(any_store, lease=LEASE), Outbox(any_store, lease=LEASE)
    try:
        store_now = await watcher._rows.now()
        assert abs((store_now - datetime.now(UTC)).total_seconds()) < 60  # the host's or the server's clock
        [row], _ = await owner.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{}])
        assert await owner.claim(row)
        [claimed] = await owner.rows(CHANNEL, slot="post", day=DAY)
        assert claimed.claimed_at is not None and claimed.claimed_at <= await watcher._rows.now()
        assert await watcher.stale_claims() == []  # alive (its lock is held) and within its lease
        await asyncio.sleep(1.5 * LEASE.total_seconds())
        assert [d.id for d in await watcher.stale_claims()] == [row.id]  # expired on the store's clock
    finally:
        await owner.close()
        await watcher.close()
