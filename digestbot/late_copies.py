"""A send that landed after its run lost the claim: keep it as the one copy, or delete it (#15).

A run frozen (SIGSTOP, a long GC pause, a paused VM) for longer than its lease loses its claim:
its renewals cannot run, another run takes the row over, asks the platform (nothing there yet:
the frozen run's request has not landed), and posts the part itself. When the frozen run
wakes, its request may still go out and land as a second copy. Slack keeps no idempotency key
and Discord's ``enforce_nonce`` only holds for a few minutes, so the platform does not stop it.

The frozen run's result write then finds the row no longer its own
(:meth:`~digestbot.outbox.Outbox.mark_sent` returns False) and :func:`settle_late_copy`
settles its copy by what the outbox says now, the one record every run agrees on:

* **sent with this copy's id**: the run that took over found this copy and recorded it: keep it.
* **sent with another id**: that message is the part: delete this copy (never the recorded one).
* **pending** (a takeover found nothing and put the row back, nobody holds it now): record this
  copy as sent (a conditional update), so no run sends the part again.
* **claimed by another run**: it is sending or reconciling the row; wait for its result and
  look again. Should its claim go stale meanwhile, take it over and record this copy.
* **failed**: another run's send was refused for good; this copy is the only one: keep it.

A send whose outcome the run never learnt (the client timed out: a freeze longer than the
client's timeout ends that way) leaves it without its copy's id. :func:`settle_unknown_copy` then
waits for the part to be recorded and deletes every *other* copy marked with its key
(``find_other``): once the outbox records a message as the part, no run will ever keep another.

Only the recorded message is ever kept, so at most one copy stays once the loser has settled.
What remains: a second copy is visible from the moment it lands until the loser deletes it
(a poll interval, plus the deletion's round trip), and a loser whose rival keeps the row
claimed for longer than a lease, or that cannot delete (platform down), leaves its copy and
says so in one warning line.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from digestbot import metrics
from digestbot.errors import DeliveryError
from digestbot.outbox import Outbox
from digestbot.ports import Adapter, DeletesOwnMessages, Sent
from digestbot.store.records import Delivery

log = logging.getLogger(__name__)

__all__ = ["Settled", "record_or_release", "settle_late_copy", "settle_unknown_copy"]

MAX_POLL = 1.0
"""Seconds between looks at a row another run holds: how long a second copy may stay visible."""

MAX_WAIT = 120.0
"""Seconds a late copy waits at most (less with a shorter lease) for a live run holding its part.

A run's send normally resolves within seconds; one sitting out long ``Retry-After`` answers may
hold the part longer, and the late copy is then left (one warning line) rather than blocking.
"""

MAX_STRAYS = 5
"""Stray copies of one part deleted at most in one settlement (a loop guard; one is the usual case)."""


@dataclass(frozen=True)
class Settled:
    """What became of a late copy, and which message is the part now (None when not known)."""

    outcome: Literal["kept", "removed", "left"]
    message_id: str | None


async def settle_late_copy(outbox: Outbox, adapter: Adapter, row: Delivery, sent: Sent) -> Settled:
    """Settle ``sent``, this run's copy of ``row`` that landed after the run lost its claim (see the module).

    Waits at most :data:`MAX_WAIT` (or a lease) for another run holding the row; logs one line and counts the
    outcome (``digestbot_late_copies_total``).
    """
    settled = await _settle(outbox, adapter, row, sent)
    metrics.late_copy(platform=row.target.platform, target=row.target.kind, outcome=settled.outcome)
    return settled


async def _settle(outbox: Outbox, adapter: Adapter, row: Delivery, sent: Sent) -> Settled:
    poll = min(MAX_POLL, outbox.lease.total_seconds() / 10)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + min(MAX_WAIT, outbox.lease.total_seconds()) + poll
    mine = sent.message_id
    while True:
        now = await outbox.current(row)
        if now is None or now.state == "failed":
            log.info("%s %s: our copy %s landed after we lost the claim; it is the only one, kept",
                     row.target, row.key, mine)  # fmt: skip
            return Settled("kept", mine)
        if now.state == "sent":
            if now.message_id == mine:
                log.info("%s %s: our copy %s landed after we lost the claim; the run that took over recorded it",
                         row.target, row.key, mine)  # fmt: skip
                return Settled("kept", mine)
            return await _remove(adapter, row, sent, recorded=now.message_id)
        if now.state == "pending":
            if await outbox.adopt_sent(row, mine):
                log.info("%s %s: our copy %s landed after we lost the claim; nobody held the part, recorded ours",
                         row.target, row.key, mine)  # fmt: skip
                return Settled("kept", mine)
            continue  # claimed (or sent) by another run meanwhile: look again
        # Claimed by another run: sending it, or reconciling it after a takeover of its own.
        if (taken := await _take_over_if_stale(outbox, row)) is not None:
            if await outbox.mark_sent(taken, mine):
                log.info("%s %s: our copy %s landed after we lost the claim; its new holder stopped, recorded ours",
                         row.target, row.key, mine)  # fmt: skip
                return Settled("kept", mine)
            continue
        if loop.time() >= give_up:
            log.warning(
                "%s %s: our copy %s landed after we lost the claim and %s still holds the part;"
                " left as it is (the part may show twice)", row.target, row.key, mine, now.claimed_by,
            )  # fmt: skip
            return Settled("left", None)
        await asyncio.sleep(poll)


async def _remove(adapter: Adapter, row: Delivery, sent: Sent, *, recorded: str | None) -> Settled:
    """Delete this run's copy ``sent``: ``recorded`` (another message) is the part."""
    if not isinstance(adapter, DeletesOwnMessages):
        log.warning("%s %s: our late copy %s doubles %s, and %s cannot delete messages; left as it is",
                    row.target, row.key, sent.message_id, recorded, row.target.platform)  # fmt: skip
        return Settled("left", recorded)
    try:
        await adapter.delete(row.target, sent)
    except DeliveryError as exc:
        log.warning("%s %s: our late copy %s doubles %s and could not be deleted (%s); left as it is",
                    row.target, row.key, sent.message_id, recorded, exc)  # fmt: skip
        return Settled("left", recorded)
    log.info("%s %s: our copy %s landed after another run posted the part (%s); deleted ours",
             row.target, row.key, sent.message_id, recorded)  # fmt: skip
    return Settled("removed", recorded)


async def settle_unknown_copy(outbox: Outbox, adapter: Adapter, row: Delivery) -> Settled | None:
    """Settle a send of ``row`` whose outcome is unknown (a timeout) after this run lost the claim.

    The run does not know whether, or as which message, its copy landed: it waits (at most
    :data:`MAX_WAIT`, or a lease) for the part to be recorded (taking over a holder that
    stopped), then deletes every other copy marked with the part's key; a part put back to
    pending with a copy on the platform is recorded with that copy.
    Returns None when there was nothing to settle; logs and counts like :func:`settle_late_copy`.
    """
    settled = await _settle_unknown(outbox, adapter, row)
    if settled is not None:
        metrics.late_copy(platform=row.target.platform, target=row.target.kind, outcome=settled.outcome)
    return settled


async def _settle_unknown(outbox: Outbox, adapter: Adapter, row: Delivery) -> Settled | None:
    poll = min(MAX_POLL, outbox.lease.total_seconds() / 10)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + min(MAX_WAIT, outbox.lease.total_seconds()) + poll
    while True:
        now = await outbox.current(row)
        if now is None or now.state == "failed":
            return None
        try:
            if now.state == "claimed" and (taken := await _take_over_if_stale(outbox, row)) is not None:
                return await _reconcile_taken(outbox, adapter, taken)
            if now.state == "sent":
                return await _remove_strays(adapter, row, recorded=now.message_id)
            if now.state == "pending":
                found = await adapter.find_sent(row.target, row.key, since=row.created_at)
                if found is None:
                    return None  # nothing of ours landed (yet): the next sender sends it
                if await outbox.adopt_sent(row, found.message_id):
                    log.info("%s %s: our copy %s landed after we lost the claim; nobody held the part, recorded it",
                             row.target, row.key, found.message_id)  # fmt: skip
                    return Settled("kept", found.message_id)
                continue
        except DeliveryError as exc:
            log.warning("%s %s: cannot check the platform for a late copy of ours (%s); the part may show twice",
                        row.target, row.key, exc)  # fmt: skip
            return Settled("left", None)
        if loop.time() >= give_up:
            log.warning("%s %s: our send's outcome is unknown and %s still holds the part; the part may show twice",
                        row.target, row.key, now.claimed_by)  # fmt: skip
            return Settled("left", None)
        await asyncio.sleep(poll)


async def _remove_strays(adapter: Adapter, row: Delivery, *, recorded: str | None) -> Settled | None:
    """Delete every copy of ``row`` at its target but the ``recorded`` one (raises DeliveryError)."""
    if recorded is None or not isinstance(adapter, DeletesOwnMessages):
        return None
    removed: list[str] = []
    for _ in range(MAX_STRAYS):
        stray = await adapter.find_other(row.target, row.key, besides=recorded)
        if stray is None:
            break
        await adapter.delete(row.target, stray)
        removed.append(stray.message_id)
    if not removed:
        return None
    log.info("%s %s: our send's outcome was unknown and another run posted the part (%s); deleted the stray copy %s",
             row.target, row.key, recorded, ", ".join(removed))  # fmt: skip
    return Settled("removed", recorded)


async def _take_over_if_stale(outbox: Outbox, row: Delivery) -> Delivery | None:
    """Take ``row`` over if another run's claim on it is stale (lease expired, or its run stopped)."""
    stale = await outbox.stale_claim(row)
    return None if stale is None else await outbox.take_over(stale)


async def record_or_release(outbox: Outbox, adapter: Adapter, row: Delivery) -> Sent | None:
    """Resolve a row taken over from a run that stopped: record its copy on the platform, else put it back.

    The one rule for a taken-over row, used by crash recovery (:meth:`DeliveryEngine.reconcile`)
    and by a late copy whose holder stopped. Returns the copy found (None: back to pending).
    Raises :class:`~digestbot.errors.DeliveryError` when the platform cannot be asked.
    """
    found = await adapter.find_sent(row.target, row.key, since=row.created_at)
    if found is None:
        await outbox.release(row, "claimed by a run that stopped before sending")
    else:
        await outbox.mark_sent(row, found.message_id)
    return found


async def _reconcile_taken(outbox: Outbox, adapter: Adapter, row: Delivery) -> Settled | None:
    """Resolve a row taken over from a stopped holder: record the copy on the platform, else put it back."""
    found = await record_or_release(outbox, adapter, row)
    if found is None:
        return None
    log.info("%s %s: our send's outcome was unknown and its holder stopped; recorded the copy %s",
             row.target, row.key, found.message_id)  # fmt: skip
    return Settled("kept", found.message_id)
