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
* A crash between claim and sent leaves a ``claimed`` row. A claim is a **lease**: it holds
  for :data:`DEFAULT_LEASE` after ``claimed_at``, and the run that owns it renews it
  (:meth:`Outbox.renew`) before every further attempt. :meth:`Outbox.stale_claims` returns the
  claims of other runs whose lease expired; the engine asks the adapter ``find_sent(target,
  key)``: found → mark sent, not found → back to pending and sent again. Adapters embed ``key``
  in the message (Discord nonce/footer, Slack metadata, console transcript) so the answer is
  reliable. The owner is a random per-run token: host and pid are kept in it for people reading
  the table, never trusted (a container restarts as pid 1 again, pids are reused).
* So that a rerun right after a crash need not wait for the lease, each run also holds an
  exclusive ``flock`` on ``<database>-runs/<token>.lock`` (:class:`RunLock`). The kernel drops
  it when the process dies, whatever its pid was; a claim whose owner's lock file exists and can
  be locked is stale at once. Where the file cannot be seen (another host) the lease decides.

SQLite with ``synchronous=FULL`` costs one fsync per commit (~4.5 ms on the reference machine),
so writes from many concurrent senders are **group-committed**: :class:`GroupCommit` runs every
write queued while a commit was in progress in one transaction (each in its own SAVEPOINT, so
one failing write does not undo the others) and only then reports them done. A claim is
therefore still durable before its send starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import socket
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from digestbot.ports import Target
from digestbot.store.sqlite import BUSY_TIMEOUT_MS, Store

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["pending", "claimed", "sent", "failed"]
Slot = Literal["post", "matches", "post-week", "post-month", "matches-week", "matches-month"]
"""A target's message kinds, one plan per slot and date: daily posts and DMs, and weekly/monthly ones
(dated the period's first day; see :mod:`digestbot.periods`)."""

DEFAULT_LEASE = timedelta(minutes=30)
"""How long a claim holds after it was taken or last renewed; then it is taken as abandoned.

Longer than any single wait of a run holding a claim (one send's timeout, the longest
``Retry-After`` the engine sits out, see ``delivery.MAX_RETRY_AFTER``, and the backoff cap), so a
live run's claim never expires under it: the run renews it before each attempt.
"""

_COLUMNS = (
    "id, platform, workspace, target_kind, target_id, slot, digest_date, kind, part, parts, key, payload,"
    " state, attempts, message_id, error, claimed_by, claimed_at, created_at"
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
    created_at: datetime | None = None


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
        created_at=datetime.fromisoformat(row[18]) if row[18] else None,
    )


class GroupCommit:
    """Run writes from many tasks in shared transactions: one fsync for everything queued meanwhile.

    Writes are plain synchronous functions of a :class:`sqlite3.Connection`, run one batch at a
    time on a dedicated thread with the outbox's own connection to the store file (WAL lets it
    sit beside the store's aiosqlite connection; ``BEGIN IMMEDIATE`` and the busy timeout order
    the writers). A whole batch costs one hop to that thread and one fsync, which is what lets
    thousands of sends per second each have their claim committed first.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._queue: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        self._conn: sqlite3.Connection | None = None

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op(conn)`` inside the next group transaction; return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="outbox-group-commit")
        return await future

    async def read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``op(conn)`` on the writer thread (sees every committed write)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: op(self._connection()))

    async def close(self) -> None:
        """Finish queued writes, then close the connection and the thread."""
        if self._task is not None:
            await self._task
        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._conn.close)
            self._conn = None
        self._pool.shutdown(wait=True)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "journal_mode=WAL", "synchronous=FULL"):
                conn.execute(f"PRAGMA {pragma}")
            self._conn = conn
        return self._conn

    def _run_batch(self, ops: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[Any, Exception | None]]:
        conn = self._connection()
        results: list[tuple[Any, Exception | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                conn.execute("SAVEPOINT outbox_op")
                try:
                    results.append((op(conn), None))
                except Exception as exc:  # this op only: undo it, keep the others
                    conn.execute("ROLLBACK TO outbox_op")
                    results.append((None, exc))
                conn.execute("RELEASE outbox_op")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await asyncio.sleep(0)  # let every task that is about to write join this batch
            batch, self._queue = self._queue, []
            try:
                outcomes = await loop.run_in_executor(self._pool, self._run_batch, [op for op, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), (result, error) in zip(batch, outcomes, strict=True):  # only after COMMIT
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class RunLock:
    """An exclusive ``flock`` held for the life of a run: proof, to other runs, that it still runs.

    The lock belongs to an open file, not a pid, so it cannot be inherited by an unrelated
    process that happens to get the same pid (or the same container's pid 1 after a restart).
    """

    def __init__(self, directory: Path, token: str) -> None:
        self._directory = directory
        self.path = directory / f"{token}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Create and lock this run's file (idempotent); a failure only loses the fast path."""
        if self._fd is not None:
            return
        try:
            self._directory.mkdir(exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            log.warning("cannot hold the run lock %s (%s); crashed claims wait for their lease", self.path, exc)
            return
        self._fd = fd

    def release(self, *, keep_file: bool = False) -> None:
        """Unlock the file, and remove it unless ``keep_file`` (claims of this run are left to reconcile)."""
        if self._fd is None:
            return
        if not keep_file:
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def owner_gone(self, token: str) -> bool:
        """Tell whether the run ``token`` surely stopped: its lock file exists and nobody holds it."""
        if not re.fullmatch(r"[0-9a-f]{1,64}", token):
            return False
        path = self._directory / f"{token}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False  # never seen here (other host, no lock): only the lease can tell
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held: that run is alive
        else:
            return True  # the file stays until its claims are resolved (see sweep)
        finally:
            os.close(fd)

    def sweep(self, keep: set[str]) -> None:
        """Remove the files of stopped runs whose token is not in ``keep`` (runs with claims still open)."""
        try:
            files = list(self._directory.glob("*.lock"))
        except OSError:
            return
        for path in files:
            if path != self.path and path.stem not in keep and self.owner_gone(path.stem):
                with contextlib.suppress(OSError):
                    path.unlink()


def _token(owner: str | None) -> str:
    return (owner or "").rsplit(":", 1)[-1]


class Outbox:
    """The ``deliveries`` table: plan, claim, mark sent or failed, and find abandoned claims."""

    def __init__(self, store: Store, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self._store = store
        self._writer = GroupCommit(store.path)
        self.lease = lease
        #: Who claims rows in this run: host:pid for people reading the table, and a random token
        #: that alone makes it unique (a restarted container has the same host and pid again).
        token = secrets.token_hex(8)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{token}"
        self._lock = RunLock(Path(f"{store.path}-runs"), token)

    async def close(self) -> None:
        """Finish queued writes, release the writer thread and its connection, then the run lock.

        If rows are still claimed by this run (a send whose result could not be recorded), the
        lock file stays, unlocked: the next run sees at once that they need reconciling.
        """
        sql = "SELECT DISTINCT claimed_by FROM deliveries WHERE state='claimed'"
        try:
            owners = await self._writer.read(lambda conn: {_token(r[0]) for r in conn.execute(sql).fetchall()})
        except sqlite3.Error:
            owners = None
        await self._writer.close()
        if owners is not None:
            self._lock.sweep(keep=owners)
        self._lock.release(keep_file=owners is None or _token(self.owner) in owners)

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
        n = len(encoded)

        def op(conn: sqlite3.Connection) -> tuple[list[Delivery], bool]:
            existing = _select_slot(conn, target, slot, day)
            if existing:
                return existing, False
            now = _now()
            rows: list[Delivery] = []
            for i, payload in enumerate(encoded, start=1):
                key = delivery_key(kind, day, i, n)
                cur = conn.execute(
                    "INSERT INTO deliveries(platform, workspace, target_kind, target_id, slot, digest_date, kind,"
                    " part, parts, key, payload, state, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending',?,?)",
                    (target.platform, target.workspace, target.kind, target.id, slot, day.isoformat(), kind, i, n,
                     key, payload, now, now),
                )  # fmt: skip
                rows.append(
                    Delivery(
                        id=int(cur.lastrowid or 0), target=target, slot=slot, day=day, kind=kind, part=i, parts=n,
                        key=key, payload=json.loads(payload), state="pending", created_at=datetime.fromisoformat(now),
                    )
                )  # fmt: skip
            return rows, True

        return await self._writer.run(op)

    async def rows(self, target: Target, *, slot: Slot, day: date) -> list[Delivery]:
        """Return ``target``'s rows for ``slot`` on ``day``, in part order."""
        return await self._writer.read(lambda conn: _select_slot(conn, target, slot, day))

    async def has_slot(self, target: Target, *, slot: Slot, day: date) -> bool:
        """Tell whether ``target`` already has a plan for ``slot`` on ``day`` (sent or not)."""
        return bool(await self.rows(target, slot=slot, day=day))

    async def claim(self, delivery: Delivery) -> bool:
        """Take a pending row for sending (durably, before the send); False if it is not pending."""
        self._lock.acquire()
        now = _now()

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=?, claimed_at=?, updated_at=?"
                " WHERE id=? AND state='pending'",
                (self.owner, now, now, delivery.id),
            )
            return cur.rowcount == 1

        return await self._writer.run(op)

    async def renew(self, delivery: Delivery) -> bool:
        """Extend this run's claim on ``delivery`` (before another attempt); False if it is no longer ours."""
        now = _now()

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE deliveries SET claimed_at=?, updated_at=? WHERE id=? AND state='claimed' AND claimed_by=?",
                (now, now, delivery.id, self.owner),
            )
            return cur.rowcount == 1

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

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET state='failed', error=?, updated_at=? WHERE id=? AND state='pending'", ids
            )

        await self._writer.run(op)

    async def _set(self, delivery: Delivery, state: State, *, message_id: str | None, error: str | None) -> None:
        now = _now()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET state=?, message_id=coalesce(?, message_id), error=?, claimed_by=NULL,"
                " claimed_at=NULL, updated_at=? WHERE id=?",
                (state, message_id, error, now, delivery.id),
            )

        await self._writer.run(op)

    async def unsent(self) -> list[Delivery]:
        """Return every row not yet sent nor failed (pending or claimed), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM deliveries WHERE state IN ('pending', 'claimed') ORDER BY id"
        return await self._writer.read(lambda conn: [_row(r) for r in conn.execute(sql).fetchall()])

    async def stale_claims(self, *, now: datetime | None = None) -> list[Delivery]:
        """Return other runs' claims that are abandoned: their lease expired, or their run lock is free.

        A pid is never consulted: an owner that looks alive (same host, a running pid) may be
        another process that reuses the pid, or this very container after a restart.
        """
        now = now or datetime.now(UTC)
        out: list[Delivery] = []
        gone: dict[str, bool] = {}
        for d in await self.unsent():
            if d.state != "claimed" or d.claimed_by == self.owner:
                continue
            token = _token(d.claimed_by)
            if token not in gone:
                gone[token] = self._lock.owner_gone(token)
            if gone[token] or d.claimed_at is None or now - d.claimed_at > self.lease:
                out.append(d)
        return out

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each state (for status output and tests)."""
        sql = "SELECT state, count(*) FROM deliveries GROUP BY state"
        return await self._writer.read(lambda conn: {r[0]: r[1] for r in conn.execute(sql).fetchall()})


def _select_slot(conn: sqlite3.Connection, target: Target, slot: Slot, day: date) -> list[Delivery]:
    sql = (
        f"SELECT {_COLUMNS} FROM deliveries WHERE platform=? AND target_kind=? AND target_id=? AND slot=?"
        " AND digest_date=? ORDER BY part"
    )
    rows = conn.execute(sql, (target.platform, target.kind, target.id, slot, day.isoformat())).fetchall()
    return [_row(r) for r in rows]
