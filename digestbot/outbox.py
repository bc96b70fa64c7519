"""The delivery outbox: every message is a row written before it is sent, so none is lost or doubled.

Life of a row (one message: a digest part, a no-digest notice, or a subscriber's DM)::

    plan ──> pending ──claim──> claimed ──send ok──> sent (message id kept)
                ^                  │ │
                └── transient ─────┘ └── permanent ──> failed (error kept)

* **plan** writes every part of a target's message for one date at once, with the rendered
  payloads, *before* anything is sent. A plan is never replaced: a re-run (or a run after a
  crash) sends exactly the parts planned, even if the digest has changed meanwhile. The slot
  (``post`` for channels, ``matches`` for DMs) and date are unique per target, which is how "a
  channel never gets the same date twice" is enforced by the database, not by hope.
* **claim** (``pending`` → ``claimed``, conditional update in a ``BEGIN IMMEDIATE``
  transaction) happens just before the send; only one task or process can win it.
* **sent** records the platform's message id (needed to thread later parts under the first).
* A crash between claim and sent leaves a ``claimed`` row. :meth:`Outbox.stale_claims` finds
  rows whose owner process is gone (same host, pid not alive) or whose lease expired; the engine
  asks the adapter ``find_sent(target, key)``: found → mark sent, not found → back to pending and
  sent again. Adapters embed ``key`` in the message (Discord nonce/footer, Slack metadata,
  console transcript) so the answer is reliable.

SQLite with ``synchronous=FULL`` costs one fsync per commit (~4.5 ms on the reference machine),
so writes from many concurrent senders are **group-committed**: :class:`GroupCommit` runs every
write queued while a commit was in progress in one transaction (each in its own SAVEPOINT, so
one failing write does not undo the others) and only then reports them done. A claim is
therefore still durable before its send starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar

import aiosqlite

from digestbot.ports import Target
from digestbot.store.sqlite import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["pending", "claimed", "sent", "failed"]
Slot = Literal["post", "matches"]

DEFAULT_LEASE = timedelta(minutes=10)
"""A claim older than this is taken as abandoned even if its owner cannot be checked (other host)."""

_COLUMNS = (
    "id, platform, workspace, target_kind, target_id, slot, digest_date, kind, part, parts, key, payload,"
    " state, attempts, message_id, error, claimed_by, claimed_at"
)


def delivery_key(kind: str, day: date, part: int = 1, parts: int = 1) -> str:
    """Return the deterministic key adapters embed in a message: ``digest:2024-10-11:part2/3``."""
    key = f"{kind}:{day.isoformat()}"
    return key if parts == 1 else f"{key}:part{part}/{parts}"


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One outbox row: a message to one target, its payload and where it stands."""

    id: int
    target: Target
    slot: Slot
    day: date
    kind: str
    part: int
    parts: int
    key: str
    payload: Any
    state: State
    attempts: int = 0
    message_id: str | None = None
    error: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None


def _row(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=row[0],
        target=Target(platform=row[1], workspace=row[2], kind=row[3], id=row[4]),
        slot=row[5],
        day=date.fromisoformat(row[6]),
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
        claimed_at=datetime.fromisoformat(row[17]) if row[17] else None,
    )


class GroupCommit:
    """Run writes from many tasks in shared transactions: one fsync for everything queued meanwhile."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[tuple[Callable[[aiosqlite.Connection], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, op: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``op(db)`` inside the next group transaction; return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="outbox-group-commit")
        return await future

    async def _flush(self) -> None:
        while self._queue:
            await asyncio.sleep(0)  # let every task that is about to write join this batch
            batch, self._queue = self._queue, []
            outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                async with self._store.transaction() as db:
                    for op, future in batch:
                        await db.execute("SAVEPOINT outbox_op")
                        try:
                            result = await op(db)
                        except Exception as exc:
                            await db.execute("ROLLBACK TO outbox_op")
                            await db.execute("RELEASE outbox_op")
                            outcomes.append((future, None, exc))
                        else:
                            await db.execute("RELEASE outbox_op")
                            outcomes.append((future, result, None))
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                if not isinstance(exc, Exception):
                    raise
                continue
            for future, result, error in outcomes:  # reported only after COMMIT
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _owner_alive(owner: str | None) -> bool | None:
    """Tell whether the process named by ``owner`` (host:pid:token) runs; None if it cannot be known."""
    if not owner:
        return False
    try:
        host, pid_text, _token = owner.split(":", 2)
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    """The ``deliveries`` table: plan, claim, mark sent or failed, and find abandoned claims."""

    def __init__(self, store: Store, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self._store = store
        self._writer = GroupCommit(store)
        self.lease = lease
        #: Who claims rows from this process (host:pid:random), to tell crashed claims from live ones.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def plan(
        self, target: Target, *, slot: Slot, day: date, kind: str, payloads: Sequence[Any]
    ) -> tuple[list[Delivery], bool]:
        """Record the messages for ``target``'s ``slot`` on ``day`` unless planned before.

        Returns the plan's rows in part order and whether this call created them (False: an
        earlier plan exists and wins). Payloads must be JSON-serialisable.
        """
        if not payloads:
            raise ValueError("a plan needs at least one payload")
        encoded = [json.dumps(p, ensure_ascii=False, sort_keys=True) for p in payloads]
        where = (target.platform, target.kind, target.id, slot, day.isoformat())

        async def op(db: aiosqlite.Connection) -> bool:
            async with db.execute(
                "SELECT 1 FROM deliveries WHERE platform=? AND target_kind=? AND target_id=? AND slot=?"
                " AND digest_date=? LIMIT 1",
                where,
            ) as cur:
                if await cur.fetchone():
                    return False
            now = _now()
            n = len(encoded)
            await db.executemany(
                "INSERT INTO deliveries(platform, workspace, target_kind, target_id, slot, digest_date, kind, part,"
                " parts, key, payload, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending',?,?)",
                [
                    (
                        target.platform,
                        target.workspace,
                        target.kind,
                        target.id,
                        slot,
                        day.isoformat(),
                        kind,
                        i,
                        n,
                        delivery_key(kind, day, i, n),
                        payload,
                        now,
                        now,
                    )
                    for i, payload in enumerate(encoded, start=1)
                ],
            )
            return True

        created = await self._writer.run(op)
        return await self.rows(target, slot=slot, day=day), created

    async def rows(self, target: Target, *, slot: Slot, day: date) -> list[Delivery]:
        """Return ``target``'s rows for ``slot`` on ``day``, in part order."""
        sql = (
            f"SELECT {_COLUMNS} FROM deliveries WHERE platform=? AND target_kind=? AND target_id=? AND slot=?"
            " AND digest_date=? ORDER BY part"
        )
        async with self._store.db.execute(sql, (target.platform, target.kind, target.id, slot, day.isoformat())) as cur:
            return [_row(r) for r in await cur.fetchall()]

    async def has_slot(self, target: Target, *, slot: Slot, day: date) -> bool:
        """Tell whether ``target`` already has a plan for ``slot`` on ``day`` (sent or not)."""
        return bool(await self.rows(target, slot=slot, day=day))

    async def claim(self, delivery: Delivery) -> bool:
        """Take a pending row for sending (durably, before the send); False if it is not pending."""
        now = _now()

        async def op(db: aiosqlite.Connection) -> bool:
            cur = await db.execute(
                "UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=?, claimed_at=?, updated_at=?"
                " WHERE id=? AND state='pending'",
                (self.owner, now, now, delivery.id),
            )
            return (cur.rowcount or 0) == 1

        return await self._writer.run(op)

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
        now = _now()
        ids = [(error, now, d.id) for d in deliveries]

        async def op(db: aiosqlite.Connection) -> None:
            await db.executemany(
                "UPDATE deliveries SET state='failed', error=?, updated_at=? WHERE id=? AND state='pending'", ids
            )

        await self._writer.run(op)

    async def _set(self, delivery: Delivery, state: State, *, message_id: str | None, error: str | None) -> None:
        now = _now()

        async def op(db: aiosqlite.Connection) -> None:
            await db.execute(
                "UPDATE deliveries SET state=?, message_id=coalesce(?, message_id), error=?, claimed_by=NULL,"
                " claimed_at=NULL, updated_at=? WHERE id=?",
                (state, message_id, error, now, delivery.id),
            )

        await self._writer.run(op)

    async def unsent(self) -> list[Delivery]:
        """Return every row not yet sent nor failed (pending or claimed), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM deliveries WHERE state IN ('pending', 'claimed') ORDER BY id"
        async with self._store.db.execute(sql) as cur:
            return [_row(r) for r in await cur.fetchall()]

    async def stale_claims(self, *, now: datetime | None = None) -> list[Delivery]:
        """Return claimed rows whose owner is gone (crash) or whose lease expired."""
        now = now or datetime.now(UTC)
        out: list[Delivery] = []
        for d in await self.unsent():
            if d.state != "claimed" or d.claimed_by == self.owner:
                continue
            alive = _owner_alive(d.claimed_by)
            expired = d.claimed_at is None or now - d.claimed_at > self.lease
            if alive is False or expired:
                out.append(d)
        return out

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each state (for status output and tests)."""
        async with self._store.db.execute("SELECT state, count(*) FROM deliveries GROUP BY state") as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}
