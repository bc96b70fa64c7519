"""The delivery outbox on PostgreSQL: the public methods of :class:`digestbot.outbox.Outbox`, for many workers.

The same rows and life cycle as the SQLite outbox (plan → pending → claimed → sent | failed),
with what several processes on several machines need:

* **plan** takes a transaction-scoped advisory lock on (target, slot, day), so of several
  processes planning the same slot at once one writes the plan and the others read it.
* **claim** is a conditional update (``WHERE state='pending'``): the row lock makes exactly one
  claimer win. :meth:`PgOutbox.claim_next` hands out pending rows to many workers at once with
  ``SELECT … FOR UPDATE SKIP LOCKED`` (no two workers wait on, or take, the same row).
* A claim is a **lease** (``claimed_at`` + :data:`~digestbot.outbox.DEFAULT_LEASE`, renewed before
  each attempt). Instead of a lock file (which another machine cannot see), each run holds a
  session-level advisory lock keyed by its token on a connection of its own: PostgreSQL drops it
  when the process or its connection dies, so :meth:`PgOutbox.stale_claims` knows at once that a
  claim's owner is gone, from any machine. Stale claims are reconciled by the engine
  (``find_sent``) before any re-send, as with SQLite.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from digestbot.outbox import DEFAULT_LEASE, delivery_key
from digestbot.ports import Target
from digestbot.store.postgres.store import PostgresStore
from digestbot.store.records import Delivery, Slot, State

_COLUMNS = (
    "id, platform, workspace, target_kind, target_id, slot, digest_date, kind, part, parts, key, payload,"
    " state, attempts, message_id, error, claimed_by, claimed_at, created_at"
)


def _row(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=int(row[0]),
        target=Target(platform=row[1], workspace=row[2], kind=row[3], id=row[4]),
        slot=row[5],
        day=row[6],
        kind=row[7],
        part=row[8],
        parts=row[9],
        key=row[10],
        payload=json.loads(row[11]),
        state=row[12],
        attempts=row[13],
        message_id=row[14],
        error=row[15],
        claimed_by=row[16],
        claimed_at=row[17].astimezone(UTC) if row[17] else None,
        created_at=row[18].astimezone(UTC) if row[18] else None,
    )


def _token(owner: str | None) -> str:
    return (owner or "").rsplit(":", 1)[-1]


def _run_key(token: str) -> str:
    return f"digestbot-run:{token}"


class PgOutbox:
    """The ``deliveries`` table on PostgreSQL: plan, claim, mark sent or failed, find abandoned claims."""

    owner: str
    """Who claims rows in this run (host, pid and a random token)."""

    def __init__(self, store: PostgresStore, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self._store = store
        self.lease = lease
        token = secrets.token_hex(8)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{token}"
        self._token = token
        self._run_conn: psycopg.AsyncConnection[Any] | None = None
        self._run_lock_taken = asyncio.Lock()  # concurrent first claims open one run connection, not several

    async def _hold_run_lock(self) -> None:
        """Hold this run's advisory lock (on its own connection) before its first claim."""
        async with self._run_lock_taken:
            if self._run_conn is not None and not self._run_conn.closed:
                return
            conn = await psycopg.AsyncConnection.connect(self._store.url, autocommit=True)
            await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (_run_key(self._token),))
            self._run_conn = conn

    async def close(self) -> None:
        """Release the run lock: claims this run still holds become stale at once for other runs."""
        if self._run_conn is not None:
            await self._run_conn.close()
            self._run_conn = None

    async def plan(
        self, target: Target, *, slot: Slot, day: date, kind: str, payloads: Sequence[Any]
    ) -> tuple[list[Delivery], bool]:
        """Record the messages for ``target``'s ``slot`` on ``day`` unless planned before (by any process)."""
        if not payloads:
            raise ValueError("a plan needs at least one payload")
        encoded = [json.dumps(p, ensure_ascii=False, sort_keys=True) for p in payloads]
        n = len(encoded)
        slot_key = json.dumps([target.platform, target.kind, target.id, slot, day.isoformat()])
        async with self._store.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (slot_key,))
            existing = await self._select_slot(conn, target, slot, day)
            if existing:
                return existing, False
            now = datetime.now(UTC)
            for i, payload in enumerate(encoded, start=1):
                await conn.execute(
                    "INSERT INTO deliveries(platform, workspace, target_kind, target_id, slot, digest_date, kind,"
                    " part, parts, key, payload, state, created_at, updated_at)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,'pending',%s,%s)",
                    (target.platform, target.workspace, target.kind, target.id, slot, day, kind, i, n,
                     delivery_key(kind, day, i, n), payload, now, now),
                )  # fmt: skip
            return await self._select_slot(conn, target, slot, day), True

    @staticmethod
    async def _select_slot(conn: psycopg.AsyncConnection[Any], target: Target, slot: Slot, day: date) -> list[Delivery]:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE platform=%s AND target_kind=%s AND target_id=%s AND slot=%s"
            " AND digest_date=%s ORDER BY part",
            (target.platform, target.kind, target.id, slot, day),
        )
        return [_row(r) for r in await cur.fetchall()]

    async def rows(self, target: Target, *, slot: Slot, day: date) -> list[Delivery]:
        """Return ``target``'s rows for ``slot`` on ``day``, in part order."""
        sql = (
            f"SELECT {_COLUMNS} FROM deliveries WHERE platform=%s AND target_kind=%s AND target_id=%s AND slot=%s"
            " AND digest_date=%s ORDER BY part"
        )
        return [_row(r) for r in await self._store.fetchall(sql, (target.platform, target.kind, target.id, slot, day))]

    async def has_slot(self, target: Target, *, slot: Slot, day: date) -> bool:
        """Tell whether ``target`` already has a plan for ``slot`` on ``day`` (sent or not)."""
        return bool(await self.rows(target, slot=slot, day=day))

    async def claim(self, delivery: Delivery) -> bool:
        """Take a pending row for sending (committed before the send); False if it is not pending."""
        await self._hold_run_lock()
        now = datetime.now(UTC)
        async with self._store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=%s, claimed_at=%s,"
                " updated_at=%s WHERE id=%s AND state='pending'",
                (self.owner, now, now, delivery.id),
            )
            return cur.rowcount == 1

    async def claim_next(self, limit: int) -> list[Delivery]:
        """Claim up to ``limit`` pending rows, oldest first, skipping rows other workers are claiming right now."""
        await self._hold_run_lock()
        now = datetime.now(UTC)
        async with self._store.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=%s, claimed_at=%s,"
                f" updated_at=%s WHERE id IN (SELECT id FROM deliveries WHERE state='pending' ORDER BY id"
                f" LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}",
                (self.owner, now, now, limit),
            )
            return sorted((_row(r) for r in await cur.fetchall()), key=lambda d: d.id)

    async def take_over(self, delivery: Delivery) -> bool:
        """Make a stale claim (see :meth:`stale_claims`) this run's, before reconciling it; False if another run did.

        Several live runs may see the same abandoned claim; only the one that takes it over may
        ask the platform and then mark it sent or release it, or two could both re-send it.
        """
        await self._hold_run_lock()
        now = datetime.now(UTC)
        async with self._store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE deliveries SET claimed_by=%s, claimed_at=%s, updated_at=%s"
                " WHERE id=%s AND state='claimed' AND claimed_by IS NOT DISTINCT FROM %s",
                (self.owner, now, now, delivery.id, delivery.claimed_by),
            )
            return cur.rowcount == 1

    async def renew(self, delivery: Delivery) -> bool:
        """Extend this run's claim on ``delivery`` (before another attempt); False if it is no longer ours."""
        now = datetime.now(UTC)
        async with self._store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE deliveries SET claimed_at=%s, updated_at=%s WHERE id=%s AND state='claimed' AND claimed_by=%s",
                (now, now, delivery.id, self.owner),
            )
            return cur.rowcount == 1

    async def mark_sent(self, delivery: Delivery, message_id: str) -> None:
        """Record that the row's message is on the platform, with its id."""
        await self._set(delivery, "sent", message_id=message_id, error=None)

    async def release(self, delivery: Delivery, error: str) -> None:
        """Put a claimed row back to pending after a transient failure (a later run retries it)."""
        await self._set(delivery, "pending", message_id=None, error=error)

    async def mark_failed(self, delivery: Delivery, error: str) -> None:
        """Record a permanent failure: the row is never sent."""
        await self._set(delivery, "failed", message_id=None, error=error)

    async def fail_pending(self, deliveries: Sequence[Delivery], error: str) -> None:
        """Mark the still-pending rows among ``deliveries`` failed (later parts after a permanent failure)."""
        async with self._store.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET state='failed', error=%s, updated_at=%s WHERE id = ANY(%s) AND state='pending'",
                (error, datetime.now(UTC), [d.id for d in deliveries]),
            )

    async def _set(self, delivery: Delivery, state: State, *, message_id: str | None, error: str | None) -> None:
        async with self._store.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET state=%s, message_id=coalesce(%s, message_id), error=%s, claimed_by=NULL,"
                " claimed_at=NULL, updated_at=%s WHERE id=%s",
                (state, message_id, error, datetime.now(UTC), delivery.id),
            )

    async def unsent(self) -> list[Delivery]:
        """Return every row not yet sent nor failed (pending or claimed), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM deliveries WHERE state IN ('pending', 'claimed') ORDER BY id"
        return [_row(r) for r in await self._store.fetchall(sql)]

    async def _owner_gone(self, token: str) -> bool:
        """Tell whether run ``token`` surely stopped: nobody holds its advisory lock (tried, and let go at once)."""
        async with self._store.transaction() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", (_run_key(token),))
            row = await cur.fetchone()
        return bool(row and row[0])

    async def stale_claims(self, *, now: datetime | None = None) -> list[Delivery]:
        """Return other runs' claims that are abandoned: their lease expired, or their run's lock is free."""
        now = now or datetime.now(UTC)
        out: list[Delivery] = []
        gone: dict[str, bool] = {}
        for d in await self.unsent():
            if d.state != "claimed" or d.claimed_by == self.owner:
                continue
            token = _token(d.claimed_by)
            if token not in gone:
                gone[token] = await self._owner_gone(token)
            if gone[token] or d.claimed_at is None or now - d.claimed_at > self.lease:
                out.append(d)
        return out

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each state (for status output and tests)."""
        return await self._store.delivery_counts()
