"""The PostgreSQL store's outbox: the ``deliveries`` rows of one run, for many workers on many machines.

This is the storage half of :mod:`digestbot.outbox` on PostgreSQL (the SQLite one is
:mod:`digestbot.store.outbox`); the life of a row, the lease and the engine's API stay there.
What several processes sharing one database need:

* **plan** takes a transaction-scoped advisory lock on (target, slot, day), so of several
  processes planning the same slot at once one writes the plan and the others read it.
* **claim** takes a batch of rows in one conditional update (``WHERE state='pending'``) over
  ``SELECT … FOR UPDATE SKIP LOCKED``: the row lock makes exactly one claimer win, and a worker
  never waits on a row another is claiming at that moment (it is that worker's). Renewals and
  results are written in batches too (:mod:`digestbot.coalesce` gathers them), so a worker pays
  one round trip per batch, not per message.
* **take over**: a stale claim is made this run's by a conditional update on its previous owner
  before it is reconciled, so of two live runs that both see it only one asks the platform and
  re-sends.
* **One claim clock.** Claims are stamped with the server's clock (``statement_timestamp()``)
  and :meth:`PgOutboxStorage.now` reads the same clock, so whether a lease expired does not
  depend on how far apart the workers' own clocks are.
* **Results are conditional on the owner**: a worker frozen past its lease learns that it lost
  the row instead of overwriting the result of the worker that took it over.
* **The run lock.** Instead of a lock file (which another machine cannot see), each run holds a
  session-level advisory lock keyed by its token on its own connection: PostgreSQL drops it when
  the process or its connection dies, so :meth:`PgOutboxStorage.owner_gone` knows at once, from
  any machine, that a claim's owner stopped.

Every public coroutine raises store errors for a lost connection, not psycopg's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from digestbot.coalesce import Coalescer
from digestbot.ports import Target
from digestbot.store.postgres.errors import translating
from digestbot.store.postgres.url import connect_args, redact_url
from digestbot.store.records import Delivery, Slot, StateChange, first_unsent

log = logging.getLogger(__name__)

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


def _slot_key(target: Target, slot: Slot, day: date) -> str:
    return json.dumps([target.platform, target.kind, target.id, slot, day.isoformat()])


@dataclass(frozen=True)
class _PlanRequest:
    """One plan asked of :meth:`PgOutboxStorage.plan`, waiting for its batch."""

    target: Target
    slot: Slot
    day: date
    kind: str
    keys: tuple[str, ...]
    payloads: tuple[str, ...]
    claim_first: bool

    @property
    def slot_key(self) -> str:
        return _slot_key(self.target, self.slot, self.day)

    @property
    def where(self) -> tuple[str, str, str, str, date]:
        return (self.target.platform, self.target.kind, self.target.id, self.slot, self.day)


def _run_key(token: str) -> str:
    return f"digestbot-run:{token}"


async def _select_slot(conn: psycopg.AsyncConnection[Any], target: Target, slot: Slot, day: date) -> list[Delivery]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM deliveries WHERE platform=%s AND target_kind=%s AND target_id=%s AND slot=%s"
        " AND digest_date=%s ORDER BY part",
        (target.platform, target.kind, target.id, slot, day),
    )
    return [_row(r) for r in await cur.fetchall()]


@translating
class PgOutboxStorage:
    """The ``deliveries`` table for one run: its own connection, which also holds the run's advisory lock."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.path = redact_url(url)
        """The database without its password: what error messages name."""
        token = secrets.token_hex(8)
        self._token = token
        #: Who claims rows in this run: host:pid for people reading the table, and a random token
        #: that alone makes it unique (a restarted container has the same host and pid again).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{token}"
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._busy = asyncio.Lock()  # one operation at a time on the run's connection
        self._plans = Coalescer(self._plan_batch, name="outbox-plans")

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Run a block in one transaction on the run's connection, opening it (and the run lock) first."""
        async with self._busy:
            if self._conn is None or self._conn.closed:
                conninfo, timeout = connect_args(self._url)  # a server that never answers must not hang a run
                conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=timeout)
                await conn.execute("SET TIME ZONE 'UTC'")
                await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (_run_key(self._token),))
                self._conn = conn
            async with self._conn.transaction():
                yield self._conn

    async def close(self) -> None:
        """Close the run's connection: its run lock goes, so claims it still holds are stale at once for others."""
        await self._plans.close()
        async with self._busy:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

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

        With ``claim_first``, the first part not sent nor failed is claimed in the same transaction
        when pending and not being claimed by another worker right now (``SKIP LOCKED``). Plans
        asked for together are written in one transaction (:class:`~digestbot.coalesce.Coalescer`).
        """
        encoded = tuple(json.dumps(p, ensure_ascii=False, sort_keys=True) for p in payloads)
        return await self._plans(_PlanRequest(target, slot, day, kind, tuple(keys), encoded, claim_first))

    async def _plan_batch(self, requests: Sequence[_PlanRequest]) -> list[tuple[list[Delivery], bool, int | None]]:
        """Write a batch of plans in one transaction: lock their slots (in one order), read, insert, claim."""
        slots = sorted({r.slot_key for r in requests})
        async with self._tx() as conn:
            # Each slot's advisory lock, taken in sorted order so two batches never wait on each other in a cycle.
            await conn.execute(
                "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))"
                " FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS s",
                (slots,),
            )
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE (platform, target_kind, target_id, slot, digest_date) IN"
                " (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::date[])) ORDER BY part",
                [list(column) for column in zip(*(r.where for r in requests), strict=True)],
            )
            by_slot: dict[str, list[Delivery]] = {}
            for row in await cur.fetchall():
                delivery = _row(row)
                t = delivery.target
                key = _slot_key(t, delivery.slot, delivery.day)
                by_slot.setdefault(key, []).append(delivery)
            existed = set(by_slot)
            first_asked: dict[str, _PlanRequest] = {}
            for r in requests:  # of two plans of one slot in a batch, the first is written (an earlier plan wins)
                if r.slot_key not in existed:
                    first_asked.setdefault(r.slot_key, r)
            new = list(first_asked.values())
            now = datetime.now(UTC)
            if new:
                columns: list[list[Any]] = [[] for _ in range(11)]
                for r in new:
                    n = len(r.keys)
                    for i, (key, payload) in enumerate(zip(r.keys, r.payloads, strict=True), start=1):
                        t = r.target
                        values = (t.platform, t.workspace, t.kind, t.id, r.slot, r.day, r.kind, i, n, key, payload)
                        for column, value in zip(columns, values, strict=True):
                            column.append(value)
                cur = await conn.execute(
                    "INSERT INTO deliveries(platform, workspace, target_kind, target_id, slot, digest_date, kind,"
                    " part, parts, key, payload, state, created_at, updated_at)"
                    " SELECT p, w, tk, ti, s, d, k, pa, n, ky, pl, 'pending', %s, %s FROM unnest(%s::text[],"
                    " %s::text[], %s::text[], %s::text[], %s::text[], %s::date[], %s::text[], %s::int[], %s::int[],"
                    " %s::text[], %s::text[]) AS u(p, w, tk, ti, s, d, k, pa, n, ky, pl)"
                    f" RETURNING {_COLUMNS}",
                    (now, now, *columns),
                )
                for row in await cur.fetchall():
                    delivery = _row(row)
                    by_slot.setdefault(_slot_key(delivery.target, delivery.slot, delivery.day), []).append(delivery)
                for rows in by_slot.values():
                    rows.sort(key=lambda d: d.part)
            wanted: dict[str, int] = {}
            for r in requests:
                first = first_unsent(by_slot[r.slot_key]) if r.claim_first else None
                if first is not None and first.state == "pending":
                    wanted.setdefault(r.slot_key, first.id)
            claimed: set[int] = set()
            if wanted:
                cur = await conn.execute(
                    "UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=%s,"
                    " claimed_at=statement_timestamp(), updated_at=%s WHERE id IN (SELECT id FROM deliveries"
                    " WHERE id = ANY(%s) AND state='pending' FOR UPDATE SKIP LOCKED) RETURNING id",
                    (self.owner, now, list(wanted.values())),
                )
                claimed = {int(r[0]) for r in await cur.fetchall()}
        out: list[tuple[list[Delivery], bool, int | None]] = []
        created: set[str] = set()
        for r in requests:
            rows = by_slot[r.slot_key]
            first_time = r.slot_key not in existed and r.slot_key not in created
            created.add(r.slot_key)
            won = wanted.get(r.slot_key)
            if won is not None and won in claimed:
                claimed.discard(won)  # the first asker of a slot gets its claim
                rows = [
                    replace(d, state="claimed", attempts=d.attempts + 1, claimed_by=self.owner, claimed_at=now)
                    if d.id == won
                    else d
                    for d in rows
                ]
                by_slot[r.slot_key] = rows
                out.append((rows, first_time, won))
            else:
                out.append((rows, first_time, None))
        return out

    async def rows(self, target: Target, *, slot: Slot, day: date) -> list[Delivery]:
        """Return ``target``'s rows for ``slot`` on ``day``, in part order."""
        async with self._tx() as conn:
            return await _select_slot(conn, target, slot, day)

    async def _update(self, sql: str, params: Sequence[Any]) -> int:
        async with self._tx() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def _returning_ids(self, sql: str, params: Sequence[Any]) -> set[int]:
        async with self._tx() as conn:
            cur = await conn.execute(sql, params)
            return {int(r[0]) for r in await cur.fetchall()}

    async def claim(self, delivery_ids: Sequence[int]) -> set[int]:
        """Move the pending rows among ``delivery_ids`` to claimed by this run in one statement; return those won.

        ``FOR UPDATE SKIP LOCKED``: a row another worker is claiming (or resolving) right now is
        skipped, not waited for; it is that worker's.
        """
        ids = list(dict.fromkeys(delivery_ids))
        if not ids:
            return set()
        now = datetime.now(UTC)
        sql = (
            "UPDATE deliveries SET state='claimed', attempts=attempts+1, claimed_by=%s,"
            " claimed_at=statement_timestamp(), updated_at=%s"
            " WHERE id IN (SELECT id FROM deliveries WHERE id = ANY(%s) AND state='pending' FOR UPDATE SKIP LOCKED)"
            " RETURNING id"
        )
        return await self._returning_ids(sql, (self.owner, now, ids))

    async def take_over(self, delivery_id: int, previous_owner: str | None) -> bool:
        """Make a claim of ``previous_owner`` this run's (lease restarted); False if it changed meanwhile."""
        now = datetime.now(UTC)
        sql = (
            "UPDATE deliveries SET claimed_by=%s, claimed_at=statement_timestamp(), updated_at=%s"
            " WHERE id=%s AND state='claimed' AND claimed_by IS NOT DISTINCT FROM %s"
        )
        return await self._update(sql, (self.owner, now, delivery_id, previous_owner)) == 1

    async def renew(self, delivery_ids: Sequence[int]) -> set[int]:
        """Restart this run's claims on ``delivery_ids`` in one statement; return those still claimed by it."""
        ids = list(dict.fromkeys(delivery_ids))
        if not ids:
            return set()
        now = datetime.now(UTC)
        sql = (
            "UPDATE deliveries SET claimed_at=statement_timestamp(), updated_at=%s"
            " WHERE id = ANY(%s) AND state='claimed' AND claimed_by=%s RETURNING id"
        )
        return await self._returning_ids(sql, (now, ids, self.owner))

    async def set_states(self, changes: Sequence[StateChange]) -> set[int]:
        """Write each row's result and drop its claim, only where this run still holds it; return the ids written.

        One statement for the batch, conditional on the owner (``state='claimed' AND
        claimed_by=owner``): a run frozen past its lease that lost the row to another run does
        not overwrite that run's result. Of two changes of one row in a batch the first counts.
        """
        first: dict[int, StateChange] = {}
        for c in changes:
            first.setdefault(c.id, c)
        if not first:
            return set()
        rows = list(first.values())
        sql = (
            "UPDATE deliveries AS d SET state=u.state, message_id=coalesce(u.message_id, d.message_id), error=u.error,"
            " claimed_by=NULL, claimed_at=NULL, updated_at=%s"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS u(id, state, message_id, error)"
            " WHERE d.id=u.id AND d.state='claimed' AND d.claimed_by=%s RETURNING d.id"
        )
        params = (
            datetime.now(UTC), [c.id for c in rows], [c.state for c in rows], [c.message_id for c in rows],
            [c.error for c in rows], self.owner,
        )  # fmt: skip
        return await self._returning_ids(sql, params)

    async def adopt_sent(self, delivery_id: int, message_id: str) -> bool:
        """Record a pending row as sent with ``message_id`` (a late copy of this run's); False unless still pending."""
        sql = (
            "UPDATE deliveries SET state='sent', message_id=%s, error=NULL, updated_at=%s"
            " WHERE id=%s AND state='pending'"
        )
        return await self._update(sql, (message_id, datetime.now(UTC), delivery_id)) == 1

    async def now(self) -> datetime:
        """Return the database server's time: the clock every claim is stamped with, whichever machine wrote it."""
        async with self._tx() as conn:
            cur = await conn.execute("SELECT clock_timestamp()")
            row = await cur.fetchone()
        value: datetime = row[0] if row else datetime.now(UTC)
        return value.astimezone(UTC)

    async def fail_pending(self, delivery_ids: Sequence[int], error: str) -> None:
        """Mark the still-pending rows among ``delivery_ids`` failed with ``error``."""
        sql = "UPDATE deliveries SET state='failed', error=%s, updated_at=%s WHERE id = ANY(%s) AND state='pending'"
        await self._update(sql, (error, datetime.now(UTC), list(delivery_ids)))

    async def unsent(self) -> list[Delivery]:
        """Return every pending or claimed row, oldest first."""
        async with self._tx() as conn:
            sql = f"SELECT {_COLUMNS} FROM deliveries WHERE state IN ('pending', 'claimed') ORDER BY id"
            cur = await conn.execute(sql)
            return [_row(r) for r in await cur.fetchall()]

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each state."""
        async with self._tx() as conn:
            cur = await conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
            return {str(r[0]): int(r[1]) for r in await cur.fetchall()}

    async def stale_claim(self, delivery_id: int, *, lease: timedelta, now: datetime | None = None) -> Delivery | None:
        """Return row ``delivery_id`` if another run claimed it and its lease expired or its run stopped, else None.

        One statement by primary key: the lease judged on the server's clock (the claims'), and
        the owner's run lock tried (as :meth:`owner_gone` does; let go at commit) only when the
        lease has not expired: ``CASE`` fixes that order, where ``OR`` would leave it to the planner.
        """
        sql = (
            f"SELECT {_COLUMNS} FROM deliveries WHERE id=%s AND state='claimed' AND claimed_by IS DISTINCT FROM %s"
            " AND CASE WHEN claimed_at IS NULL OR coalesce(%s::timestamptz, clock_timestamp()) - claimed_at > %s"
            " THEN true ELSE pg_try_advisory_xact_lock(hashtextextended("
            "%s || coalesce(substring(claimed_by from '[^:]*$'), ''), 0)) END"
        )
        async with self._tx() as conn:
            cur = await conn.execute(sql, (delivery_id, self.owner, now, lease, _run_key("")))
            found = await cur.fetchone()
        return _row(found) if found else None

    async def owner_gone(self, owner: str) -> bool:
        """Tell whether the run ``owner`` surely stopped: nobody holds its advisory lock (tried, and let go at once).

        Every run that claims holds its lock on the same server, so a free lock is a stopped run,
        whichever machine it ran on.
        """
        token = _token(owner)
        if token == self._token:
            return False  # our own lock is re-entrant for us: trying it proves nothing
        async with self._tx() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", (_run_key(token),))
            row = await cur.fetchone()
        return bool(row and row[0])
