"""The scheduler loop: sleep until the next channel post is due, post it, repeat.

It sleeps on the injected :class:`~digestbot.clock.Clock` until the earliest of: the next due
post of any channel, the next retry of a post waiting for papers, or a periodic refresh (to see
channels set up in chat meanwhile). Nothing polls in between.

* **Catch-up.** The newest occurrence each channel handled is kept in the store
  (``schedule_state``). On every wake, and so also on start-up after downtime,
  :func:`~digestbot.schedule.catch_up` says what was missed: only the newest missed post is made,
  and only if it is at most ``delivery.catch_up_hours`` old; older ones are logged as skipped.
  A channel seen for the first time starts from now (no surprise post of an old occurrence).
* **Waiting for papers.** If the date due has no papers yet, the channel is retried every
  ``delivery.empty_retry_minutes`` until ``delivery.empty_cutoff_hours`` after the due time;
  then the engine posts the newest digest the channel has not had, or one notice.
* **Retrying what did not get through.** A channel whose post did not get through (the
  database could not be written, a transient failure outlasted the retries, the platform
  refused the token or asked to wait longer than the engine waits) is *not* marked done: it is
  run again every ``delivery.empty_retry_minutes`` (the outbox resumes the parts not sent) until
  ``delivery.empty_cutoff_hours`` after the due time, then given up with an error line; its
  pending messages stay in the outbox for ``digestbot post``.
* Each due group runs as its own named task (references kept, exceptions logged), so a slow
  post never delays the next wake; a channel is never run twice at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from digestbot.channels import Channel
from digestbot.clock import Clock
from digestbot.delivery import DeliveryEngine
from digestbot.periods import post_covers
from digestbot.schedule import catch_up, default_digest_date, next_due

log = logging.getLogger(__name__)

DEFAULT_REFRESH = timedelta(minutes=10)
"""How often the channel list is re-read while nothing is due (chat setup adds channels)."""

ChannelKey = tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class _Waiting:
    due: datetime
    retry_at: datetime
    cutoff: datetime


class Scheduler:
    """Run each channel's posts at their due times through a :class:`DeliveryEngine`."""

    def __init__(self, engine: DeliveryEngine, clock: Clock, *, refresh: timedelta = DEFAULT_REFRESH) -> None:
        self.engine = engine
        self.clock = clock
        self.refresh = refresh
        delivery = engine.config.delivery
        self.window = timedelta(hours=delivery.catch_up_hours)
        self.retry_every = timedelta(minutes=delivery.empty_retry_minutes)
        self.cutoff_after = timedelta(hours=delivery.empty_cutoff_hours)
        self._last_seen: dict[ChannelKey, datetime] = {}
        self._waiting: dict[ChannelKey, _Waiting] = {}
        self._busy: set[ChannelKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        #: When the loop is asleep, the instant it sleeps until (None while it works).
        self.sleeping_until: datetime | None = None

    def wake(self) -> None:
        """Re-read channels now (call after a chat command changed a schedule)."""
        self._wake.set()

    def retry_now(self, platform: str) -> None:
        """Run ``platform``'s posts waiting for a retry now (it just came up), instead of at their retry time."""
        now = self.clock.now()
        for key, waiting in self._waiting.items():
            if key[0] == platform and waiting.retry_at > now:
                self._waiting[key] = replace(waiting, retry_at=now)
        self.wake()

    async def run(self) -> None:
        """Loop until cancelled; on cancel, stop the posts in flight and return."""
        await self.engine.reconcile()
        self._last_seen = await self.engine.store.schedule_last_seen()
        first = True
        try:
            while True:
                self._wake.clear()  # before the tick: a wake-up during it must not be lost
                channels = await self.engine.channels()
                if first:
                    self._log_plan(channels)
                    first = False
                await self._tick(channels)
                wake_at = self._next_wake(channels)
                log.debug("scheduler sleeping until %s", wake_at.isoformat())
                await self._sleep_until(wake_at)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _log_plan(self, channels: list[Channel]) -> None:
        """Say, at start, when each channel posts next and which day's list that post will cover."""
        if not channels:
            log.warning("no enabled channel: nothing will be posted (configure channels: or use /digest on)")
        now = self.clock.now()
        settle = timedelta(hours=self.engine.config.delivery.list_settles_hours)
        for ch in channels:
            _, due = next_due(ch.schedule, now)
            local = due.astimezone(ch.schedule.zone)
            log.info(
                "%s:%s: next post %s (%s UTC), covering %s",
                ch.platform, ch.id, local.strftime("%a %Y-%m-%d %H:%M %Z"), due.strftime("%H:%M"),
                post_covers(ch.cadence, local.date(), default_digest_date(due, settle)),
            )  # fmt: skip

    @property
    def idle(self) -> bool:
        """Tell whether the loop is asleep with no post in flight (tests wait for this)."""
        return self.sleeping_until is not None and not self._tasks and not self._wake.is_set()

    async def _sleep_until(self, when: datetime) -> None:
        sleeper = asyncio.create_task(self.clock.sleep_until(when), name="scheduler-sleep")
        waker = asyncio.create_task(self._wake.wait(), name="scheduler-wake")
        try:
            await asyncio.sleep(0)  # let both start waiting before reporting the loop asleep
            self.sleeping_until = when
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.sleeping_until = None
            sleeper.cancel()
            waker.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    def _next_wake(self, channels: list[Channel]) -> datetime:
        now = self.clock.now()
        candidates = [now + self.refresh]
        for ch in channels:
            key = (ch.platform, ch.id)
            if key in self._busy:
                continue
            if (waiting := self._waiting.get(key)) is not None:
                candidates.append(waiting.retry_at)
            else:
                candidates.append(next_due(ch.schedule, self._last_seen.get(key, now))[1])
        return min(candidates)

    async def _tick(self, channels: list[Channel]) -> None:
        """Start every post due now (and every retry due now) as a task."""
        now = self.clock.now()
        groups: dict[tuple[datetime, bool], list[Channel]] = {}
        first_seen: list[tuple[str, str, datetime]] = []
        caught_up: list[tuple[str, str, datetime]] = []
        for ch in channels:
            key = (ch.platform, ch.id)
            if key in self._busy:
                continue
            if (waiting := self._waiting.get(key)) is not None:
                if waiting.retry_at <= now:
                    groups.setdefault((waiting.due, now >= waiting.cutoff), []).append(ch)
                continue
            if key not in self._last_seen:
                self._last_seen[key] = now
                first_seen.append((*key, now))
                log.info("%s:%s scheduled %s", ch.platform, ch.id, ch.schedule.describe())
                continue
            decision = catch_up(ch.schedule, self._last_seen[key], now, self.window)
            for day, due in decision.skipped:
                log.warning(
                    "%s:%s: skipping the post due %s (for %s): older than the %s catch-up window",
                    ch.platform, ch.id, due.isoformat(), day.isoformat(), self.window,
                )  # fmt: skip
            if decision.due is not None:
                _, due = decision.due
                if now - due > timedelta(minutes=1):
                    log.info("%s:%s: catching up on the post due %s", ch.platform, ch.id, due.isoformat())
                groups.setdefault((due, now >= due + self.cutoff_after), []).append(ch)
            elif decision.skipped:
                self._last_seen[key] = now
                caught_up.append((*key, now))
        if first_seen or caught_up:
            await self.engine.store.set_schedule_last_seen(first_seen + caught_up)
        for (due, final), members in sorted(groups.items(), key=lambda item: item[0]):
            self._busy.update((c.platform, c.id) for c in members)
            name = f"post-{due.isoformat()}-{len(self._tasks)}"
            task = asyncio.create_task(self._run_group(members, due, final), name=name)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("scheduled post task %s failed", task.get_name(), exc_info=exc)
        self._wake.set()  # recompute the next wake (a waiting channel's retry time, new last_seen)

    async def _run_group(self, channels: list[Channel], due: datetime, final: bool) -> None:
        keys = [(c.platform, c.id) for c in channels]
        try:
            summary, waiting, retry = await self.engine.scheduled_post(channels, due, final=final)
            log.info("post due %s: %s", due.isoformat(), summary.line())
            for problem in summary.problems:
                log.error("post due %s: %s", due.isoformat(), problem)
            now = self.clock.now()
            cutoff = due + self.cutoff_after
            retry_at = min(now + self.retry_every, cutoff)
            waiting_keys = {(c.platform, c.id) for c in waiting}
            for key in waiting_keys:
                log.info("%s:%s: no papers yet for the post due %s; retrying at %s", *key, due, retry_at.isoformat())
                self._waiting[key] = _Waiting(due=due, retry_at=retry_at, cutoff=cutoff)
            for key in {(c.platform, c.id) for c in retry} - waiting_keys:
                if now >= cutoff:
                    log.error(
                        "%s:%s: the post due %s did not get through by its cut-off; giving up (its pending"
                        " messages stay in the outbox: 'digestbot post' sends them)", *key, due.isoformat(),
                    )  # fmt: skip
                    continue
                if summary.elsewhere and not (summary.deferred or summary.refused or summary.stopped or summary.errors):
                    # Another live process holds the claim: nothing failed, check it finished later.
                    log.info(
                        "%s:%s: the post due %s is being sent by another process; checking at %s",
                        *key, due, retry_at,
                    )  # fmt: skip
                else:
                    log.warning("%s:%s: the post due %s did not get through; retrying at %s", *key, due, retry_at)
                self._waiting[key] = _Waiting(due=due, retry_at=retry_at, cutoff=cutoff)
                waiting_keys.add(key)
            done = [key for key in keys if key not in waiting_keys]
            for key in done:
                self._waiting.pop(key, None)
                self._last_seen[key] = max(due, self._last_seen.get(key, due))
            if done:
                await self.engine.store.set_schedule_last_seen((*key, self._last_seen[key]) for key in done)
        except Exception:
            # Not marked done: retry later rather than at once, so a persistent fault cannot spin.
            log.exception("the post due %s failed; retrying in %s", due.isoformat(), self.retry_every)
            retry_at = self.clock.now() + self.retry_every
            for key in keys:
                self._waiting[key] = _Waiting(due=due, retry_at=retry_at, cutoff=due + self.cutoff_after)
        finally:
            self._busy.difference_update(keys)
