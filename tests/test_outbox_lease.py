"""A send in flight keeps its claim past the lease; once it is over, the lease decides again (both backends)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from digestbot.outbox import Outbox
from digestbot.ports import Target
from digestbot.store import Store

DAY = date(2024, 10, 11)
CHANNEL = Target(platform="slack", kind="channel", id="C1")
LEASE = timedelta(seconds=1.5)  # renewed every 0.5 s: a loaded machine's hiccups stay well inside it


async def test_a_claim_in_flight_is_renewed_past_its_lease_and_only_while_in_flight(any_store: Store) -> None:
    mine, other = Outbox(any_store, lease=LEASE), Outbox(any_store, lease=LEASE)
    try:
        [row], _ = await mine.plan(CHANNEL, slot="post", day=DAY, kind="digest", payloads=[{"n": 1}])
        assert await mine.claim(row)
        async with mine.keep_claimed(row):  # a send that stalls for three leases
            for _ in range(6):
                await asyncio.sleep(LEASE.total_seconds() / 2)
                assert await other.stale_claims() == []  # never abandoned to another live run
        await asyncio.sleep(2 * LEASE.total_seconds())
        assert [d.id for d in await other.stale_claims()] == [row.id]  # not renewed once the send is over
    finally:
        await mine.close()
        await other.close()
