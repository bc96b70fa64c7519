"""The SQLite store's outbox: the ``deliveries`` rows, written through group commit, and the run lock.

This is the storage half of :mod:`digestbot.outbox` (which keeps the life of a row, the lease and
the API the delivery engine uses). Two SQLite-specific mechanisms live here:

* **Group commit.** SQLite with ``synchronous=FULL`` costs one fsync per commit (~4.5 ms on the
  reference machine), so writes from many concurrent senders are group-committed:
  :class:`GroupCommit` runs every write queued while a commit was in progress in one transaction
  (each in its own SAVEPOINT, so one failing write does not undo the others) and only then
  reports them done. A claim is therefore still durable before its send starts. Under a stream
  of concurrent writes, commits start at most every :data:`COMMIT_SPACING` (a lone writer is
  never held back), so each carries dozens of writes instead of two or three.
* **The run lock.** So that a rerun right after a crash need not wait for the lease, each run
  also holds an exclusive ``flock`` on ``<database>-runs/<token>.lock`` (:class:`RunLock`). The
  kernel drops it when the process dies, whatever its pid was; a claim whose owner's lock file
  exists and can be locked is stale at once. Where the file cannot be seen (another host) the
  lease decides.

Every public coroutine of :class:`SqliteOutbox` raises store errors, not ``sqlite3`` ones.
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
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from digestbot.ports import Target
from digestbot.store.records import Delivery, Slot, StateChange, first_unsent
from digestbot.store.sqlite_errors import translating

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another process's write lock before failing ("database is locked").

Generous on purpose: ``post``, ``run`` and ``ingest`` may share the file, and a write that gives
up is a delivery that must be retried. Every connection to the file uses it (the outbox's too).
"""


def wal_retry_pauses() -> Iterator[float]:
    """Yield the pauses between tries at switching a file to WAL: about :data:`BUSY_TIMEOUT_MS` in all.

    Why a retry, when every connection has a busy timeout: processes that open one fresh file
    at once each read its header (a shared lock) and then want the exclusive lock the switch
    needs. That is a deadlock, so SQLite answers "database is locked" at once to all but one,
    without waiting out the busy timeout (one side must let go of its lock). The losers let go
    by failing, and a try a moment later finds the file already in WAL.
    """
    waited, pause = 0.0, 0.005
    while waited < BUSY_TIMEOUT_MS / 1000:
        yield pause
        waited += pause
        pause = min(pause * 2, 0.25)


def is_locked(exc: sqlite3.OperationalError) -> bool:
    """Tell whether SQLite refused for a lock another connection holds (worth trying again)."""
    return "locked" in str(exc) or "busy" in str(exc)


def switch_to_wal(conn: sqlite3.Connection) -> None:
    """Put ``conn``'s file in WAL mode, trying again while SQLite answers "locked" at once.

    See :func:`wal_retry_pauses` for why a busy timeout is not enough here.
    """
    for pause in wal_retry_pauses():
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
            time.sleep(pause)
    conn.execute("PRAGMA journal_mode=WAL")  # the last try: its error is the answer


_COLUMNS = (
    "id, platform, workspace, target_kind, target_id, slot, digest_date, kind, part, parts, key, payload,"
    " state, attempts, message_id, error, claimed_by, claimed_at, created_at"
)


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _token(owner: str | None) -> str:
    return (owner or "").rsplit(":", 1)[-1]


class PayloadTexts:
    """Payloads' JSON, encoded once per payload object: a run plans one rendered payload for many targets.

    The delivery engine renders each distinct message once (:mod:`digestbot.render_cache`) and
    plans the very same payload objects for every target that gets it (a thousand channels, the
    subscribers of one topic), so their JSON is the same too. Payloads are never changed once
    rendered (targets share them); the object is kept with its text, so its id is not reused.
    """

    LIMIT = 4096
    """Payloads remembered at most (then forgotten all at once): a run's distinct messages, not a day's DMs."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}

    def encode(self, payload: Any) -> str:
        """Return ``payload`` as JSON (sorted keys, UTF-8 kept), encoded once per object."""
        found = self._texts.get(id(payload))
        if found is not None and found[0] is payload:
            return found[1]
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        if len(self._texts) >= self.LIMIT:
            self._texts.clear()
        self._texts[id(payload)] = (payload, text)
        return text


@dataclass(frozen=True)
class _PlanRequest:
    """One target's plan, waiting to be written with the others asked for meanwhile."""

    target: Target
    slot: Slot
    day: date
    kind: str
    keys: tuple[str, ...]
    encoded: tuple[str, ...]
    payloads: tuple[Any, ...]
    claim_first: bool

    slot_key: tuple[str, str, str, str, str]
    """(platform, target kind, target id, slot, day as stored): the slot's identity, built once per request."""


_SLOTS_PER_SELECT = 150
"""Slots read per SELECT (5 parameters each: under SQLite's oldest limit of 999)."""

_ROWS_PER_INSERT = 50
"""Rows per multi-row INSERT (17 parameters each: under SQLite's oldest limit of 999)."""

_CHANGES_PER_UPDATE = 200
"""Results written per UPDATE (4 parameters each: under SQLite's oldest limit of 999)."""

_INSERT_COLUMNS = (
    "platform, workspace, target_kind, target_id, slot, digest_date, kind, part, parts, key, payload, state,"
    " attempts, claimed_by, claimed_at, created_at, updated_at"
)


def _select_slots(
    conn: sqlite3.Connection, slots: list[tuple[str, str, str, str, str]]
) -> dict[tuple[str, str, str, str, str], list[Delivery]]:
    """Return the rows of every planned slot among ``slots`` ((platform, kind, id, slot, day)), in part order."""
    found: dict[tuple[str, str, str, str, str], list[Delivery]] = {}
    columns = ", ".join(f"d.{c.strip()}" for c in _COLUMNS.split(","))
    for at in range(0, len(slots), _SLOTS_PER_SELECT):
        chunk = slots[at : at + _SLOTS_PER_SELECT]
        sql = (
            f"SELECT {columns} FROM (VALUES {','.join(['(?,?,?,?,?)'] * len(chunk))}) AS v JOIN deliveries AS d"
            " ON d.platform=v.column1 AND d.target_kind=v.column2 AND d.target_id=v.column3 AND d.slot=v.column4"
            " AND d.digest_date=v.column5 ORDER BY d.part"
        )
        for r in conn.execute(sql, [value for slot in chunk for value in slot]).fetchall():
            found.setdefault((r[1], r[3], r[4], r[5], r[6]), []).append(_row(r))
    return found


def _insert_plans(
    conn: sqlite3.Connection, plans: list[_PlanRequest], now: str, owner: str
) -> dict[tuple[str, str, str, str, str], list[Delivery]]:
    """Insert the plans among ``plans`` whose slot has none yet and return their rows, by slot.

    First parts go first, ``ON CONFLICT`` on the slot's part 1 ``DO NOTHING``: the slots that
    take one were free (in this transaction, which holds the write lock), and only those get
    their later parts, so no read is needed for the usual new plan. A new plan's first part is
    written already claimed by ``owner`` where asked: no UPDATE and no dataclass copy after it.
    """
    firsts = [_part_values(r, 1, now, owner) for r in plans]
    created: dict[tuple[str, str, str, str, str], int] = {}
    for at in range(0, len(firsts), _ROWS_PER_INSERT):
        chunk = firsts[at : at + _ROWS_PER_INSERT]
        cur = conn.execute(
            f"INSERT INTO deliveries({_INSERT_COLUMNS}) VALUES {','.join([_ROW] * len(chunk))}"
            " ON CONFLICT (platform, target_kind, target_id, slot, digest_date, part) DO NOTHING"
            " RETURNING id, platform, target_kind, target_id, slot, digest_date",
            [v for one in chunk for v in one],
        )
        for got in cur.fetchall():  # (RETURNING's row order is not promised: matched by the unique key)
            created[(got[1], got[2], got[3], got[4], got[5])] = int(got[0])
    new = [r for r in plans if r.slot_key in created]
    later = [(r, part) for r in new for part in range(2, len(r.keys) + 1)]
    ids = {(r.slot_key, 1): created[r.slot_key] for r in new}
    for at in range(0, len(later), _ROWS_PER_INSERT):
        chunk = later[at : at + _ROWS_PER_INSERT]
        cur = conn.execute(
            f"INSERT INTO deliveries({_INSERT_COLUMNS}) VALUES {','.join([_ROW] * len(chunk))}"
            " RETURNING id, platform, target_kind, target_id, slot, digest_date, part",
            [v for r, part in chunk for v in _part_values(r, part, now, owner)],
        )
        for got in cur.fetchall():
            ids[((got[1], got[2], got[3], got[4], got[5]), got[6])] = int(got[0])
    created_at = datetime.fromisoformat(now)
    out: dict[tuple[str, str, str, str, str], list[Delivery]] = {}
    for r in new:
        n = len(r.keys)
        out[r.slot_key] = [
            Delivery(
                id=ids[(r.slot_key, part)], target=r.target, slot=r.slot, day=r.day, kind=r.kind, part=part,
                parts=n, key=key, payload=original, state="claimed" if claim else "pending",
                attempts=1 if claim else 0, claimed_by=owner if claim else None,
                claimed_at=created_at if claim else None, created_at=created_at,
            )
            for part, (key, original) in enumerate(zip(r.keys, r.payloads, strict=True), start=1)
            for claim in (r.claim_first and part == 1,)
        ]  # fmt: skip
    return out


_ROW = "(" + ",".join("?" * 17) + ")"


def _part_values(r: _PlanRequest, part: int, now: str, owner: str) -> tuple[Any, ...]:
    """Return the INSERT values of part ``part`` of ``r`` (the first claimed by ``owner`` where asked)."""
    t = r.target
    claim = owner if r.claim_first and part == 1 else None
    return (
        t.platform, t.workspace, t.kind, t.id, r.slot, r.slot_key[4], r.kind, part, len(r.keys), r.keys[part - 1],
        r.encoded[part - 1], "claimed" if claim else "pending", 1 if claim else 0, claim, now if claim else None,
        now, now,
    )  # fmt: skip


def _select_slot(conn: sqlite3.Connection, target: Target, slot: Slot, day: date) -> list[Delivery]:
    sql = (
        f"SELECT {_COLUMNS} FROM deliveries WHERE platform=? AND target_kind=? AND target_id=? AND slot=?"
        " AND digest_date=? ORDER BY part"
    )
    rows = conn.execute(sql, (target.platform, target.kind, target.id, slot, day.isoformat())).fetchall()
    return [_row(r) for r in rows]


COMMIT_SPACING = 0.010
"""Seconds from one group commit's start to the next one's at least (a write after a quiet spell waits not at all).

Why: at a fan-out's thousands of writes a second, a commit started as soon as the last one ended
took two or three writes, and each commit (its WAL pages, its fsync, a hop to the writer thread
and back) cost more CPU than the writes in it. Spaced like this, a commit takes a few dozen.
The few milliseconds added to a claim are far below a send's round trip, and every write is
still durable before its call returns (like PostgreSQL's ``commit_delay``).
"""

_ALONE = object()
"""The item of a plain :meth:`GroupCommit.run` write (not gathered with others)."""

_Unit = tuple[Callable[..., Any], list[Any] | None]
"""One SAVEPOINT of a group transaction: a write ``op(conn)`` (None), or ``op(conn, items)`` for gathered items."""


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
        self._queue: list[tuple[Callable[..., Any], Any, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        self._conn: sqlite3.Connection | None = None
        self._started = -COMMIT_SPACING  # when (loop time) the last batch was taken
        self._shared = False  # whether it held several writes (else the next one is not held back)

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op(conn)`` inside the next group transaction; return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, _ALONE, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="outbox-group-commit")
        return await future

    async def run_many(self, op: Callable[[sqlite3.Connection, list[Any]], Sequence[T]], item: Any) -> T:
        """Queue ``item`` for ``op``; the items queued for one ``op`` meanwhile run as ONE call ``op(conn, items)``.

        Why: a fan-out's workers plan their targets at the same moment, and a write per target
        was a statement (or three), a SAVEPOINT pair and a Python call each on the writer thread.
        ``op`` returns one result per item, in order; if it raises, every item of its call fails
        with that error (the other writes of the transaction are kept).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, item, future))
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
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            switch_to_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
        return self._conn

    def _run_batch(self, units: list[_Unit]) -> list[tuple[Any, Exception | None]]:
        """Run each unit (``op(conn)``, or ``op(conn, items)`` of :meth:`run_many`) in a SAVEPOINT; one COMMIT."""
        conn = self._connection()
        results: list[tuple[Any, Exception | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op, items in units:
                conn.execute("SAVEPOINT outbox_op")
                try:
                    results.append((op(conn) if items is None else op(conn, items), None))
                except Exception as exc:  # this unit only: undo it, keep the others
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
            # Let every task that is about to write join this batch; under a steady stream of writes,
            # also those of the next few milliseconds (see COMMIT_SPACING).
            wait = self._started + COMMIT_SPACING - loop.time() if self._shared else 0.0
            await asyncio.sleep(wait if wait > 0 else 0)
            self._started = loop.time()
            batch, self._queue = self._queue, []
            self._shared = len(batch) > 1
            # One unit per plain write; the items of one run_many op gathered into one unit (at its first place).
            units: list[_Unit] = []
            waiting: list[list[asyncio.Future[Any]]] = []
            grouped: dict[Callable[..., Any], int] = {}
            for op, item, future in batch:
                if item is _ALONE:
                    units.append((op, None))
                    waiting.append([future])
                    continue
                at = grouped.get(op)
                if at is None:
                    at = grouped[op] = len(units)
                    units.append((op, []))
                    waiting.append([])
                items = units[at][1]
                assert items is not None
                items.append(item)
                waiting[at].append(future)
            try:
                outcomes = await loop.run_in_executor(self._pool, self._run_batch, units)
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, items), futures, (result, error) in zip(units, waiting, outcomes, strict=True):  # after COMMIT
                answers = [result] if items is None else result
                if error is None and len(answers) != len(futures):
                    error = RuntimeError(f"a batched write answered {len(answers)} of {len(futures)} items")
                for i, future in enumerate(futures):
                    if future.done():
                        continue
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(answers[i])


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


@translating
class SqliteOutbox:
    """The ``deliveries`` table for one run: its own connection and writer thread, its own run lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = GroupCommit(path)
        #: Who claims rows in this run: host:pid for people reading the table, and a random token
        #: that alone makes it unique (a restarted container has the same host and pid again).
        token = secrets.token_hex(8)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{token}"
        self._lock = RunLock(Path(f"{path}-runs"), token)
        self._texts = PayloadTexts()

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
        self,
        target: Target,
        *,
        slot: Slot,
        day: date,
        kind: str,
        keys: Sequence[str],
        payloads: Sequence[Any],
        claim_first: bool = False,
    ) -> tuple[list[Delivery], bool, int | None]:
        """Write one pending row per (key, payload) unless ``target`` has rows for ``slot`` on ``day``.

        With ``claim_first``, the first part not sent nor failed is claimed in the same write when
        pending. Plans asked for together are written by one call (:meth:`GroupCommit.run_many`,
        :func:`_plan_batch`): one SELECT for all their slots and one INSERT for all new rows.
        """
        if claim_first:
            self._lock.acquire()
        encoded = tuple(self._texts.encode(p) for p in payloads)
        where = (target.platform, target.kind, target.id, slot, day.isoformat())
        request = _PlanRequest(target, slot, day, kind, tuple(keys), encoded, tuple(payloads), claim_first, where)
        result: tuple[list[Delivery], bool, int | None] = await self._writer.run_many(self._plan_batch, request)
        return result

    def _plan_batch(
        self, conn: sqlite3.Connection, requests: list[_PlanRequest]
    ) -> list[tuple[list[Delivery], bool, int | None]]:
        """Write a batch of plans: insert the new ones, read the slots planned before, claim first parts.

        Of two plans of one slot in a batch the first is written (an earlier plan wins) and gets
        the claim; the second sees its rows, not created.
        """
        now = _now()
        first_asked: dict[tuple[str, str, str, str, str], _PlanRequest] = {}
        for r in requests:
            first_asked.setdefault(r.slot_key, r)
        by_slot = _insert_plans(conn, list(first_asked.values()), now, self.owner)
        new = {key: first_asked[key] for key in by_slot}
        if planned_before := [key for key in first_asked if key not in by_slot]:
            by_slot.update(_select_slots(conn, planned_before))
        out: list[tuple[list[Delivery], bool, int | None]] = []
        for r in requests:
            rows = by_slot[r.slot_key]
            if new.get(r.slot_key) is r:  # a new plan: its first part was inserted claimed if asked
                out.append((rows, True, rows[0].id if r.claim_first else None))
                continue
            first = first_unsent(rows) if r.claim_first else None
            if first is None or first.state != "pending":
                out.append((rows, False, None))
                continue
            cur = conn.execute(
                "UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=?, claimed_at=?, updated_at=?"
                " WHERE id=? AND state='pending'",
                (self.owner, now, now, first.id),
            )
            if cur.rowcount != 1:
                out.append((rows, False, None))
                continue
            claimed = replace(
                first, state="claimed", attempts=first.attempts + 1, claimed_by=self.owner,
                claimed_at=datetime.fromisoformat(now),
            )  # fmt: skip
            rows = by_slot[r.slot_key] = [claimed if d.id == first.id else d for d in rows]
            out.append((rows, False, first.id))
        return out

    async def rows(self, target: Target, *, slot: Slot, day: date) -> list[Delivery]:
        """Return ``target``'s rows for ``slot`` on ``day``, in part order."""
        return await self._writer.read(lambda conn: _select_slot(conn, target, slot, day))

    async def claim(self, delivery_ids: Sequence[int]) -> set[int]:
        """Take the pending rows among ``delivery_ids`` for this run in one UPDATE (durably, before the sends)."""
        self._lock.acquire()
        now = _now()
        ids = list(dict.fromkeys(delivery_ids))

        def op(conn: sqlite3.Connection) -> set[int]:
            cur = conn.execute(
                "UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=?, claimed_at=?, updated_at=?"
                f" WHERE id IN ({','.join('?' * len(ids))}) AND state='pending' RETURNING id",
                (self.owner, now, now, *ids),
            )
            return {int(r[0]) for r in cur.fetchall()}

        return await self._writer.run(op) if ids else set()

    async def renew(self, delivery_ids: Sequence[int]) -> set[int]:
        """Restart this run's claims on ``delivery_ids`` in one UPDATE; return those still ours."""
        now = _now()
        ids = list(dict.fromkeys(delivery_ids))

        def op(conn: sqlite3.Connection) -> set[int]:
            cur = conn.execute(
                "UPDATE deliveries SET claimed_at=?, updated_at=?"
                f" WHERE id IN ({','.join('?' * len(ids))}) AND state='claimed' AND claimed_by=? RETURNING id",
                (now, now, *ids, self.owner),
            )
            return {int(r[0]) for r in cur.fetchall()}

        return await self._writer.run(op) if ids else set()

    async def set_states(self, changes: Sequence[StateChange]) -> set[int]:
        """Write each row's result and drop its claim, only where this run still holds it; return the ids written.

        Conditional on the owner (``WHERE state='claimed' AND claimed_by=owner``): a run that was
        frozen past its lease and lost the row to another run must not overwrite that run's
        result (it learns it lost, and settles its late copy: :mod:`digestbot.late_copies`).
        """
        now = _now()
        first: dict[int, StateChange] = {}
        for c in changes:  # in order: a second change of one row finds it no longer claimed (every change unclaims)
            first.setdefault(c.id, c)
        rows = list(first.values())

        def op(conn: sqlite3.Connection) -> set[int]:
            won: set[int] = set()
            for at in range(0, len(rows), _CHANGES_PER_UPDATE):  # one statement per chunk, not one per row
                chunk = rows[at : at + _CHANGES_PER_UPDATE]
                cur = conn.execute(
                    "UPDATE deliveries SET state=v.column2, message_id=coalesce(v.column3, deliveries.message_id),"
                    " error=v.column4, claimed_by=NULL, claimed_at=NULL, updated_at=?"
                    f" FROM (VALUES {','.join(['(?,?,?,?)'] * len(chunk))}) AS v"
                    " WHERE deliveries.id=v.column1 AND deliveries.state='claimed' AND deliveries.claimed_by=?"
                    " RETURNING deliveries.id",
                    (now, *(v for c in chunk for v in (c.id, c.state, c.message_id, c.error)), self.owner),
                )
                won.update(int(r[0]) for r in cur.fetchall())
            return won

        return await self._writer.run(op) if rows else set()

    async def adopt_sent(self, delivery_id: int, message_id: str) -> bool:
        """Record a pending row as sent with ``message_id`` (a late copy of this run's); False unless still pending."""
        now = _now()

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE deliveries SET state='sent', message_id=?, error=NULL, updated_at=?"
                " WHERE id=? AND state='pending'",
                (message_id, now, delivery_id),
            )
            return cur.rowcount == 1

        return await self._writer.run(op)

    async def now(self) -> datetime:
        """Return the time on the clock claims are stamped with (this machine's wall clock: one file, one host)."""
        return datetime.now(UTC)

    async def fail_pending(self, delivery_ids: Sequence[int], error: str) -> None:
        """Mark the still-pending rows among ``delivery_ids`` failed."""
        now = _now()
        ids = [(error, now, i) for i in delivery_ids]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET state='failed', error=?, updated_at=? WHERE id=? AND state='pending'", ids
            )

        await self._writer.run(op)

    async def unsent(self) -> list[Delivery]:
        """Return every row not yet sent nor failed (pending or claimed), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM deliveries WHERE state IN ('pending', 'claimed') ORDER BY id"
        return await self._writer.read(lambda conn: [_row(r) for r in conn.execute(sql).fetchall()])

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each state."""
        sql = "SELECT state, count(*) FROM deliveries GROUP BY state"
        return await self._writer.read(lambda conn: {r[0]: r[1] for r in conn.execute(sql).fetchall()})

    async def take_over(self, delivery_id: int, previous_owner: str | None) -> bool:
        """Make a row still claimed by ``previous_owner`` this run's (lease restarted); False if it changed."""
        self._lock.acquire()
        now = _now()

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE deliveries SET claimed_by=?, claimed_at=?, updated_at=? WHERE id=? AND state='claimed'"
                " AND claimed_by IS ?",
                (self.owner, now, now, delivery_id, previous_owner),
            )
            return cur.rowcount == 1

        return await self._writer.run(op)

    async def owner_gone(self, owner: str) -> bool:
        """Tell whether the run ``owner`` surely stopped: its run lock file exists here and nobody holds it."""
        return self._lock.owner_gone(_token(owner))

    async def stale_claim(self, delivery_id: int, *, lease: timedelta, now: datetime | None = None) -> Delivery | None:
        """Return row ``delivery_id`` if another run claimed it and its lease expired or its lock is free; else None.

        One lookup by primary key; the lease is judged on this machine's clock (the one claims are
        stamped with), and the run lock (a file, not SQL) only asked when the lease has not expired.
        """
        sql = f"SELECT {_COLUMNS} FROM deliveries WHERE id=? AND state='claimed' AND claimed_by IS NOT ?"
        found = await self._writer.read(lambda conn: conn.execute(sql, (delivery_id, self.owner)).fetchone())
        if found is None:
            return None
        row = _row(found)
        expired = row.claimed_at is None or (now or await self.now()) - row.claimed_at > lease
        return row if expired or await self.owner_gone(row.claimed_by or "") else None
