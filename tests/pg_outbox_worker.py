"""A worker process for the PostgreSQL outbox kill test: reconcile stale claims, then claim, send, mark, until done.

It drives the outbox storage directly (batched claims over ``FOR UPDATE SKIP LOCKED``, batched results).

"Sending" inserts a row into ``fake_sent`` (the platform) on a connection of its own, then
pauses before marking the row sent: a SIGKILL in between leaves a sent message whose row is still
claimed, which is exactly what reconciliation must catch.
"""

from __future__ import annotations

import asyncio
import random
import sys

import psycopg

from digestbot.store import PostgresStore
from digestbot.store.postgres.outbox import PgOutboxStorage
from digestbot.store.records import StateChange


async def work(url: str) -> None:
    async with await PostgresStore.open(url) as store:
        outbox = store.outbox_storage()
        assert isinstance(outbox, PgOutboxStorage)
        platform = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            await drain(outbox, platform)
        finally:
            await outbox.close()


async def drain(outbox: PgOutboxStorage, platform: psycopg.AsyncConnection[object]) -> None:
    """Recover the claims of stopped runs (take over, look, mark), then claim, send and mark, until none is left."""
    while True:
        for stale in await outbox.unsent():
            if stale.state != "claimed" or stale.claimed_by == outbox.owner:
                continue
            if not await outbox.owner_gone(stale.claimed_by or ""):
                continue
            if not await outbox.take_over(stale.id, stale.claimed_by):
                continue
            cur = await platform.execute("SELECT 1 FROM fake_sent WHERE key = %s", (f"{stale.target.id}:{stale.key}",))
            if await cur.fetchone():
                await outbox.set_states([StateChange(stale.id, "sent", message_id="found")])
            else:
                await outbox.set_states([StateChange(stale.id, "pending", error="reconciled: not on the platform")])
        pending = [d for d in await outbox.unsent() if d.state == "pending"]
        won = await outbox.claim([d.id for d in random.sample(pending, min(3, len(pending)))])
        if not won:
            if not await outbox.unsent():
                return
            await asyncio.sleep(0.05)
            continue
        for delivery in (d for d in pending if d.id in won):
            await platform.execute("INSERT INTO fake_sent(key) VALUES (%s)", (f"{delivery.target.id}:{delivery.key}",))
            await asyncio.sleep(random.uniform(0, 0.03))
            await outbox.set_states([StateChange(delivery.id, "sent", message_id="m")])


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1]))
