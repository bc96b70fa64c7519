"""A worker process for the PostgreSQL outbox kill test: reconcile stale claims, then claim, send, mark, until done.

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
from digestbot.store.postgres.outbox import PgOutbox


async def work(url: str) -> None:
    store = await PostgresStore.open(url)
    outbox = PgOutbox(store)
    platform = await psycopg.AsyncConnection.connect(url, autocommit=True)
    while True:
        for stale in await outbox.stale_claims():
            if not await outbox.take_over(stale):
                continue
            cur = await platform.execute("SELECT 1 FROM fake_sent WHERE key = %s", (f"{stale.target.id}:{stale.key}",))
            if await cur.fetchone():
                await outbox.mark_sent(stale, "found")
            else:
                await outbox.release(stale, "reconciled: not on the platform")
        batch = await outbox.claim_next(3)
        if not batch:
            if not await outbox.unsent():
                return
            await asyncio.sleep(0.05)
            continue
        for delivery in batch:
            await platform.execute("INSERT INTO fake_sent(key) VALUES (%s)", (f"{delivery.target.id}:{delivery.key}",))
            await asyncio.sleep(random.uniform(0, 0.03))
            await outbox.mark_sent(delivery, "m")


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1]))
