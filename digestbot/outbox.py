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
* **claim** (``pending`` → ``claimed``, a conditional update) happens just before the send and
  is committed before it; only one task or process can win it. The claims of a run's
  concurrent senders go to the store together, one statement per batch, and so do lease
  renewals and results (:mod:`digestbot.coalesce`); each sender still waits for its own to be
  committed.
* **sent** records the platform's message id (needed to thread later parts under the first).
* A crash between claim and sent leaves a ``claimed`` row. A claim is a **lease**: it holds
  for :data:`DEFAULT_LEASE` after ``claimed_at``, and the run that owns it renews it
  (:meth:`Outbox.renew`) before every further attempt. :meth:`Outbox.stale_claims` returns the
  claims of other runs whose lease expired; the engine first takes one over
  (:meth:`Outbox.take_over`: an atomic update on its previous owner, so of several live runs
  that see it only one goes on), then asks the adapter ``find_sent(target, key)``: found → mark
  sent, not found → back to pending and sent again. Adapters embed ``key``
  in the message (Discord nonce/footer, Slack metadata, console transcript) so the answer is
  reliable. The owner is a random per-run token: host and pid are kept in it for people reading
  the table, never trusted (a container restarts as pid 1 again, pids are reused).
* **A send in flight keeps its claim.** While the engine waits for a send (the pace, the
  platform's answer), :meth:`Outbox.keep_claimed` renews the claim every third of the lease. A
  send that stalls past the lease (a slow platform, a long wait inside the client) would
  otherwise look abandoned to another live run, which would take it over, find nothing on the
  platform yet, and send it again; the stalled request would then land as a second copy (Slack
  keeps no idempotency key; Discord's nonce only holds for a few minutes).
* **Only the holder writes a result.** :meth:`Outbox.mark_sent`, :meth:`~Outbox.release` and
  :meth:`~Outbox.mark_failed` are conditional on this run still holding the claim and say whether
  they won; the engine checks the claim right before each send (:meth:`Outbox.still_held`). A run
  frozen past its lease (renewals cannot run either) thus never overwrites the result of the run
  that took its row over; if its send landed anyway, :mod:`digestbot.late_copies` keeps or
  deletes that copy by the outbox's record.
* Leases are judged on the store's clock (:meth:`~digestbot.store.protocol.OutboxStorage.now`),
  the one claims are stamped with, never on the engine's clock (which tests fast-forward).
* So that a rerun right after a crash need not wait for the lease, the store may know sooner
  that a run stopped (:meth:`~digestbot.store.protocol.OutboxStorage.owner_gone`: the SQLite
  store's per-run ``flock``, which the kernel drops when the process dies; the PostgreSQL
  store's per-run advisory lock, which the server drops with the run's connection, seen from
  every machine); where it cannot tell (SQLite, another host) the lease decides.

The rows themselves are the store's (:meth:`~digestbot.store.protocol.StoreProtocol.outbox_storage`):
every write is durable when it returns, and the SQLite store group-commits the writes of many
concurrent senders (one fsync for all, see :mod:`digestbot.store.outbox`). This module keeps
the state machine's API, the keys adapters embed, and the lease policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from digestbot.coalesce import Coalescer
from digestbot.ports import Target
from digestbot.store.protocol import StoreProtocol
from digestbot.store.records import Delivery, Slot, State, StateChange

__all__ = ["DEFAULT_LEASE", "Delivery", "Outbox", "Slot", "State", "delivery_key"]

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=30)
"""How long a claim holds after it was taken or last renewed; then it is taken as abandoned.

Longer than any single wait of a run holding a claim (one send's timeout, the longest
``Retry-After`` the engine sits out, see ``delivery.MAX_RETRY_AFTER``, and the backoff cap), so a
live run's claim never expires under it: the run renews it before each attempt.
"""


def delivery_key(kind: str, day: date, part: int = 1, parts: int = 1) -> str:
    """Return the deterministic key adapters embed in a message: ``digest:2024-10-11:part2/3``."""
    key = f"{kind}:{day.isoformat()}"
    return key if parts == 1 else f"{key}:part{part}/{parts}"


class Outbox:
    """The outbox of one run: plan, claim, mark sent or failed, and find abandoned claims."""

    def __init__(self, store: StoreProtocol, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self._rows = store.outbox_storage()
        self.lease = lease
        # Claims, renewals and results of the run's concurrent senders go to the store in batches.
        self._claims = Coalescer(self._claim_batch, name="outbox-claims")
        self._renewals = Coalescer(self._renew_batch, name="outbox-renewals")
        self._results = Coalescer(self._write_results, name="outbox-results")
        #: Rows :meth:`plan` claimed for this run, not yet handed to a sender by :meth:`claim`.
        self._planned_claims: set[int] = set()
        #: Rows this run took over but has not resolved yet (the platform could not be asked):
        #: still stale for this run's next reconciliation, though claimed by it.
        self._adopted: set[int] = set()
        #: Rows with a send in flight (see :meth:`keep_claimed`), and the task renewing their claims.
        self._in_flight: dict[int, Delivery] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        #: When (event-loop time) the last claim or renewal this run won on each row was asked for:
        #: the lease runs from no earlier than that, so :meth:`still_held` can answer without a write.
        self._held_at: dict[int, float] = {}

    @property
    def owner(self) -> str:
        """Who claims rows in this run (unique per run)."""
        return self._rows.owner

    async def close(self) -> None:
        """Finish queued writes and release what this run held (claims still open are left to reconcile)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        for batches in (self._claims, self._renewals, self._results):
            await batches.close()
        await self._rows.close()

    async def plan(
        self, target: Target, *, slot: Slot, day: date, kind: str, payloads: Sequence[Any], claim_first: bool = False
    ) -> tuple[list[Delivery], bool]:
        """Record the messages for ``target``'s ``slot`` on ``day`` unless planned before.

        Returns the plan's rows in part order and whether this call created them (False: an
        earlier plan exists and wins). Payloads must be JSON-serialisable. With ``claim_first``
        the next part to send is claimed in the same write when pending: the sender's
        :meth:`claim` of it then costs nothing (one write per message less).
        """
        if not payloads:
            raise ValueError("a plan needs at least one payload")
        n = len(payloads)
        keys = [delivery_key(kind, day, i, n) for i in range(1, n + 1)]
        asked = asyncio.get_running_loop().time()
        rows, created, claimed = await self._rows.plan(
            target, slot=slot, day=day, kind=kind, keys=keys, payloads=payloads, claim_first=claim_first
        )
        if claimed is not None:
            self._planned_claims.add(claimed)
            self._held_at[claimed] = asked
        return rows, created

    async def rows(self, target: Target, *, slot: Slot, day: date) -> list[Delivery]:
        """Return ``target``'s rows for ``slot`` on ``day``, in part order."""
        return await self._rows.rows(target, slot=slot, day=day)

    async def has_slot(self, target: Target, *, slot: Slot, day: date) -> bool:
        """Tell whether ``target`` already has a plan for ``slot`` on ``day`` (sent or not)."""
        return bool(await self.rows(target, slot=slot, day=day))

    async def claim(self, delivery: Delivery) -> bool:
        """Take a pending row for sending (durably, before the send); False if it is not pending.

        A row claimed by :meth:`plan` is this run's already. Claims asked for together go in one
        write (see :mod:`digestbot.coalesce`).
        """
        if delivery.id in self._planned_claims:
            self._planned_claims.discard(delivery.id)
            return True
        asked = asyncio.get_running_loop().time()
        won = await self._claims(delivery.id)
        if won:
            self._held_at[delivery.id] = asked
        return won

    def claimed_by_plan(self, delivery: Delivery) -> bool:
        """Tell whether :meth:`plan` claimed ``delivery`` for this run and no :meth:`claim` took it yet."""
        return delivery.id in self._planned_claims

    async def renew(self, delivery: Delivery) -> bool:
        """Extend this run's claim on ``delivery`` (before another attempt); False if it is no longer ours."""
        asked = asyncio.get_running_loop().time()
        ours = await self._renewals(delivery.id)
        if ours:
            self._held_at[delivery.id] = asked
        return ours

    async def still_held(self, delivery: Delivery) -> bool:
        """Tell, just before a send, whether this run still holds ``delivery`` (renewing the claim if it is old).

        A claim won or renewed less than a third of the lease ago is surely still ours (nobody may
        take it over before the lease runs out), so most sends cost no write; an older one is
        renewed, and a failed renewal means another run took the row over while this one was
        stopped (a freeze, a long pause): the send must not go.
        """
        asked = self._held_at.get(delivery.id)
        if asked is not None and asyncio.get_running_loop().time() - asked < self.lease.total_seconds() / 3:
            return True
        return await self.renew(delivery)

    async def _claim_batch(self, ids: Sequence[int]) -> list[bool]:
        won = await self._rows.claim(ids)
        out: list[bool] = []
        for i in ids:  # a row asked for twice in one batch is won by the first asker only
            out.append(i in won)
            won.discard(i)
        return out

    async def _renew_batch(self, ids: Sequence[int]) -> list[bool]:
        ours = await self._rows.renew(ids)
        return [i in ours for i in ids]

    async def _write_results(self, changes: Sequence[StateChange]) -> list[bool]:
        won = await self._rows.set_states(changes)
        out: list[bool] = []
        for c in changes:  # a row changed twice in one batch: only the first change was written
            out.append(c.id in won)
            won.discard(c.id)
        return out

    def keep_claimed(self, delivery: Delivery) -> _KeptClaimed:
        """Keep this run's claim on ``delivery`` renewed while the block (its send) runs (``with`` or ``async with``).

        One task per run renews every claim in flight every third of the lease, so the cost is
        nothing for sends shorter than that. If a renewal finds the claim gone (this process was
        frozen for longer than the lease and another run took it over) it is logged; the engine's
        own renewal before a further attempt then leaves the row to that run. A plain object, not
        a generator-based context manager: it is entered once per message of a fan-out.
        """
        return _KeptClaimed(self, delivery)

    def _start_keeping(self, delivery: Delivery) -> None:
        self._in_flight[delivery.id] = delivery
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._renew_in_flight(), name="outbox-lease-renewal")

    def _stop_keeping(self, delivery: Delivery) -> None:
        self._in_flight.pop(delivery.id, None)

    async def _renew_in_flight(self) -> None:
        """Renew the claims of every send in flight, every third of the lease, until cancelled."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            in_flight = dict(self._in_flight)
            if not in_flight:
                continue
            asked = asyncio.get_running_loop().time()
            try:
                ours = await self._rows.renew(list(in_flight))
            except Exception:  # a store error must not stop the next round of renewals
                log.warning("cannot renew %d claims in flight (store error)", len(in_flight), exc_info=True)
                continue
            for row_id, row in in_flight.items():
                if row_id in ours:
                    self._held_at[row_id] = asked
                elif row_id in self._in_flight:
                    log.warning("%s %s: claim lost while its send was in flight", row.target, row.key)

    async def take_over(self, delivery: Delivery, *, now: datetime | None = None) -> Delivery | None:
        """Make a stale claim (see :meth:`stale_claims`) this run's before reconciling it; None if another run did.

        Several live runs may find the same abandoned claim; only the one whose conditional
        update on the previous owner wins may ask the platform and then mark it sent or put it
        back to pending, or two could both re-send it.
        """
        asked = asyncio.get_running_loop().time()
        if not await self._rows.take_over(delivery.id, delivery.claimed_by):
            return None
        self._adopted.add(delivery.id)
        self._held_at[delivery.id] = asked
        return replace(delivery, claimed_by=self.owner, claimed_at=now or datetime.now(UTC))

    async def mark_sent(self, delivery: Delivery, message_id: str) -> bool:
        """Record that the row's message is on the platform, with its id; False if this run no longer held the row.

        False means another run took the row over while this one was stopped past its lease:
        its copy may be a second one (see :mod:`digestbot.late_copies`).
        """
        self._forget(delivery)
        return await self._results(StateChange(delivery.id, "sent", message_id=message_id))

    async def release(self, delivery: Delivery, error: str) -> bool:
        """Put a claimed row back to pending after a transient failure (a later run retries it); False if not ours."""
        self._forget(delivery)
        return await self._results(StateChange(delivery.id, "pending", error=error))

    async def mark_failed(self, delivery: Delivery, error: str) -> bool:
        """Record a permanent failure: the row is never sent; False if this run no longer held the row."""
        self._forget(delivery)
        return await self._results(StateChange(delivery.id, "failed", error=error))

    def _forget(self, delivery: Delivery) -> None:
        """Drop a row being resolved from this run's bookkeeping (nothing left to renew or retry)."""
        self._adopted.discard(delivery.id)
        self._in_flight.pop(delivery.id, None)
        self._planned_claims.discard(delivery.id)
        self._held_at.pop(delivery.id, None)

    async def current(self, delivery: Delivery) -> Delivery | None:
        """Return the row as the store has it now (another run may have changed it)."""
        rows = await self._rows.rows(delivery.target, slot=delivery.slot, day=delivery.day)
        return next((r for r in rows if r.id == delivery.id), None)

    async def adopt_sent(self, delivery: Delivery, message_id: str) -> bool:
        """Record a row nobody holds (pending) as sent with this run's late copy; False if it is not pending."""
        return await self._rows.adopt_sent(delivery.id, message_id)

    async def fail_pending(self, deliveries: Sequence[Delivery], error: str) -> None:
        """Mark the still-pending rows among ``deliveries`` failed (later parts after a permanent failure)."""
        await self._rows.fail_pending([d.id for d in deliveries], error)

    async def stale_claims(self, *, now: datetime | None = None) -> list[Delivery]:
        """Return other runs' claims that are abandoned: their lease expired, or the store knows their run stopped.

        Also this run's own take-overs it could not resolve yet. Take each over before acting on it.

        Expiry is judged on the store's clock (:meth:`~digestbot.store.protocol.OutboxStorage.now`),
        the one the claims were stamped with: never the engine's clock, which tests and benches
        move (a shifted clock made every lease look unexpired, or all of them expired). ``now``
        overrides it, for tests only.

        A pid is never consulted: an owner that looks alive (same host, a running pid) may be
        another process that reuses the pid, or this very container after a restart.
        """
        now = now or await self._rows.now()
        out: list[Delivery] = []
        gone: dict[str, bool] = {}
        for d in await self._rows.unsent():
            if d.state != "claimed":
                continue
            if d.claimed_by == self.owner:
                if d.id in self._adopted:  # taken over earlier, not resolved yet: try again
                    out.append(d)
                continue
            owner = d.claimed_by or ""
            if owner not in gone:
                gone[owner] = await self._rows.owner_gone(owner)
            if gone[owner] or d.claimed_at is None or now - d.claimed_at > self.lease:
                out.append(d)
        return out

    async def stale_claim(self, delivery: Delivery, *, now: datetime | None = None) -> Delivery | None:
        """Return ``delivery`` as the store has it if another run's claim on it is abandoned (see :meth:`stale_claims`).

        None when it is not claimed, is this run's, or its holder is alive within its lease. One
        row by its id: a late copy asks at every poll, and :meth:`stale_claims` reads every unsent row.
        """
        return await self._rows.stale_claim(delivery.id, lease=self.lease, now=now)

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each state (for status output and tests)."""
        return await self._rows.counts()


class _KeptClaimed:
    """What :meth:`Outbox.keep_claimed` returns: the row is in flight (its claim renewed) inside the block."""

    __slots__ = ("_delivery", "_outbox")

    def __init__(self, outbox: Outbox, delivery: Delivery) -> None:
        self._outbox = outbox
        self._delivery = delivery

    def __enter__(self) -> None:
        self._outbox._start_keeping(self._delivery)

    def __exit__(self, *exc: object) -> None:
        self._outbox._stop_keeping(self._delivery)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()
