"""Per-platform send pacing: after a rate-limit answer, space sends instead of retrying as a herd.

A platform's 429 (``DeliveryError.retry_after``) says "not now", but not how fast is fine. If every
sender simply waits out ``retry_after`` and fires again, they all meet the next 429 together (a
thundering herd). A :class:`Pacer` learns a send interval instead, AIMD-style, like TCP congestion
control:

* unpaced until the first rate-limit answer;
* at that answer the rate is seeded from the accepted rate just before it (the last successes),
  cut by :data:`CUT`; each later answer cuts it again, at most once per *epoch* (answers to sends
  that were spaced by an older interval say nothing about the new one);
* each success raises the rate by :data:`RECOVERY` msg/s, which is a fixed fraction of the rate
  per second whatever the scale (1 msg/s or 2,000 msg/s), until pacing is dropped again;
* every send reserves the next slot (``slot = max(now, next_at, gate)``; ``next_at = slot +
  interval``), so waiting senders leave one after another, never as a herd (the engine wakes
  the senders whose slots fall in one 5 ms tick together: ``delivery.PACE_TICK``);
* ``retry_after`` stays a hard gate for the whole platform: no slot starts before it.

The pacer holds no clock and never sleeps: callers pass the time (the event loop's monotonic
clock in the engine, plain numbers in tests) and wait for the slot themselves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

CUT = 0.9
"""Rate kept after a rate-limit answer (multiplicative decrease)."""

RECOVERY = 0.05
"""msg/s added to the rate per success: with successes arriving at the rate, +5 % per second.

Slower recovery than 10 %/s gave fewer 429s at no cost in throughput in ``tests/test_pacing.py``'s model
(token buckets of 10, 50 and 2,000 msg/s)."""

UNPACED_INTERVAL = 1e-4
"""Below this interval (10,000 msg/s, far above any chat platform's limit) pacing is dropped."""

HISTORY = 64
"""Successes remembered to estimate the accepted rate when the first rate-limit answer comes."""


@dataclass(frozen=True, kw_only=True)
class Ticket:
    """A reserved send slot: when it starts, and under which pace (epoch) it was given."""

    slot: float
    epoch: int


class Pacer:
    """Space one platform's sends after it rate-limits us, so a 429 is never answered by a herd."""

    def __init__(self) -> None:
        self.interval = 0.0  # seconds between slots; 0 = unpaced
        self.gate = 0.0  # no slot before this (the latest retry_after)
        self.epoch = 0  # bumped at every cut
        self._next_at = 0.0
        self._successes: deque[float] = deque(maxlen=HISTORY)

    def reserve(self, now: float) -> Ticket:
        """Reserve the next send slot at or after ``now``; the caller waits until ``ticket.slot``."""
        slot = max(now, self._next_at, self.gate)
        if self.interval:
            self._next_at = slot + self.interval
        return Ticket(slot=slot, epoch=self.epoch)

    def still_valid(self, ticket: Ticket, now: float) -> bool:
        """Tell whether a slot reserved earlier may still be used at ``now`` (no cut, gate open since)."""
        return ticket.epoch == self.epoch and now >= self.gate

    def sent(self, now: float) -> None:
        """Record a success: remember it for the rate estimate and speed the pace up a little."""
        self._successes.append(now)
        if self.interval:
            self.interval /= 1 + RECOVERY * self.interval  # rate += RECOVERY
            if self.interval < UNPACED_INTERVAL:
                self.interval = 0.0

    def rate_limited(self, ticket: Ticket, now: float, retry_after: float) -> None:
        """Record a rate-limit answer to the send of ``ticket``: close the gate and slow the pace."""
        self.gate = max(self.gate, now + max(0.0, retry_after))
        if ticket.epoch != self.epoch:
            return  # that send went out under an older pace, already cut for
        if self.interval:
            self.interval /= CUT
        elif (rate := self._accepted_rate()) is not None:
            self.interval = 1 / (rate * CUT)
        self.epoch += 1
        self._next_at = max(self._next_at, self.gate)

    def _accepted_rate(self) -> float | None:
        if len(self._successes) < 2:
            return None  # too little to go on: the gate alone until the next answer
        span = self._successes[-1] - self._successes[0]
        return (len(self._successes) - 1) / span if span > 0 else None
