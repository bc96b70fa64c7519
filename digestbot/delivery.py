"""The delivery engine: post a day's digest to every channel and DM each subscriber, exactly once.

The engine owns the business rules; adapters only render and send. One run:

1. picks the date (explicit, else :func:`digest_day`: the newest digest in the store not newer
   than :func:`~digestbot.schedule.default_digest_date`; ``preview`` uses the same function);
2. builds one :class:`~digestbot.matching.TopicIndex` over the channels' topic filters and matches
   the day's papers once against it and against the process's
   :class:`~digestbot.subscription_index.SubscriptionIndex` (built once, kept current);
3. for each channel, renders the digest (top N, topic-filtered) and **plans** it in the outbox
   (see :mod:`digestbot.outbox`), then sends the parts in order, the later ones in a thread
   under the first when the channel wants threads;
4. sends each subscriber with matches ONE direct message listing the papers and the topics that
   matched.

Targets run concurrently, bounded by one ``asyncio.Semaphore(delivery.concurrency)`` per
platform, held only while a send is in flight (never while backing off), so a failing target
delays nobody else. Transient :class:`~digestbot.errors.DeliveryError`s are retried with
exponential backoff and full jitter (``retry_after`` honoured) up to ``delivery.max_attempts``;
the row then goes back to pending for a later run. A rate-limit answer also makes the platform's
:class:`~digestbot.pacing.Pacer` space its sends from then on, so retries do not come as a herd.
Permanent ones are recorded, and a channel is disabled with the reason. A ``retry_after`` over
:data:`MAX_RETRY_AFTER` holds the platform for the rest of the run (its messages wait, pending);
a :class:`~digestbot.errors.StoppedError` (a refused token, an unwritable console transcript)
stops the platform for the run and disables nothing. An error that is no platform answer (the
database could not be written) stops only that target; every such case is counted in the
:class:`RunSummary`, never just logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from digestbot import metrics
from digestbot.blocks import PaperCard
from digestbot.channels import Channel, load_channels, wants_threads
from digestbot.clock import Clock, SystemClock
from digestbot.coalesce import Coalescer
from digestbot.collector import young_passes_only
from digestbot.config import Config
from digestbot.errors import (
    AuthError,
    CommandError,
    DeliveryError,
    PausedError,
    SourceError,
    StoppedError,
    StoreError,
    UnavailableError,
)
from digestbot.formatter import (
    format_compact,
    format_digest,
    format_forum,
    format_matches,
    format_no_digest,
    format_no_period_digest,
    paper_card,
)
from digestbot.labels import Labels, labels_for
from digestbot.late_copies import Settled, record_or_release, settle_late_copy, settle_unknown_copy
from digestbot.outbox import Delivery, Outbox, Slot
from digestbot.pacing import Pacer, Ticket
from digestbot.periods import Period, aggregate, previous_period, week_of
from digestbot.planner import Action, Plan, older_worth_posting, plan_due, plan_fallback
from digestbot.ports import Adapter, Target
from digestbot.records import Digest, Paper
from digestbot.render_cache import RenderCache
from digestbot.schedule import default_digest_date, nominal_list_date
from digestbot.store.protocol import StoreProtocol
from digestbot.subscription_index import SubscriptionIndex
from digestbot.summaries.view import localize

log = logging.getLogger(__name__)

BeforePost = Callable[[date], Awaitable[None]]
"""Called with the digest date about to be posted, so ingestion can fetch that day's papers first."""

BeforePeriod = Callable[[Period], Awaitable[None]]
"""Called with a week or month about to be posted, so ingestion can fetch the source's list of it first."""

Sleep = Callable[[float], Awaitable[None]]

BACKOFF_BASE = 1.0
"""First retry delay in seconds; doubled per attempt (then full jitter), capped at :data:`BACKOFF_CAP`."""
BACKOFF_CAP = 300.0

MAX_RETRY_AFTER = 15 * 60.0
"""Longest ``Retry-After`` (seconds) a run sits out; beyond it the platform's messages wait for a later run.

A platform that asks for hours would otherwise hold the run (and its claims) for hours; the
outbox keeps the messages pending, ``post`` exits 75 and the scheduler retries the slot.
"""

RATE_LIMIT_RETRIES = 20
"""Rate-limit answers (``retry_after``) tolerated per target, as a multiple of ``max_attempts``."""

PIPELINE_FACTOR = 4
"""Targets worked on at once per send slot (``delivery.concurrency``)."""

PACE_TICK = 0.005
"""Seconds: a paced send waits until the first tick boundary at or after its slot (one timer per tick).

Senders whose slots fall in one tick leave together: at 1,000 sends a second, groups of about
five, which no platform's limit (counted per second, with bursts of dozens) can tell from an even
stream; the spacing between groups, and so the rate, stays the pacer's.
"""

DISPLAYS_AHEAD = 256
"""Subscribers whose typed topics are read ahead of their DMs (in batches of about half that)."""

PASS_BUDGET = 0.010
"""CPU seconds of DM preparation one pass of the event loop may hold; more waits for the next pass."""

UserKey = tuple[str, str, str]  # platform, workspace, user id


class _Passes:
    """Spread work over passes of the event loop: at most ``budget`` seconds of it in one pass.

    Dozens of delivery workers often wake in the same pass (a group commit answers them all at
    once), and each then matches, renders and plans its next DM before it next awaits: run back
    to back, that held the loop past 50 ms at a million subscribers, and ``/paper`` waited. A
    worker that finds this pass's budget spent waits for the next pass, behind what is ready.
    The budget counts the loop thread's CPU time: on a loaded machine, time the process spent
    descheduled is no work of ours, and waiting for it would only add passes.
    """

    def __init__(self, budget: float, *, clock: Callable[[], float] = time.thread_time) -> None:
        self._budget = budget
        self._clock = clock
        self._started: float | None = None  # when this pass's first turn was taken

    async def turn(self) -> None:
        """Return at once if this pass has budget left, else in a later pass that has."""
        while True:
            now = self._clock()
            if self._started is None:
                self._started = now
                asyncio.get_running_loop().call_soon(self._next_pass)  # runs early in the next pass
                return
            if now - self._started < self._budget:
                return
            await asyncio.sleep(0)

    def _next_pass(self) -> None:
        self._started = None


class _Outcome(Enum):
    SENT = "sent"
    ALREADY = "already"
    FAILED = "failed"  # permanent
    DEFERRED = "deferred"  # transient, left pending for a later run
    BUSY = "busy"  # claimed by another live process
    REFUSED = "refused"  # the platform refused our credentials: left pending, nothing sent there
    STOPPED = "stopped"  # another setting the operator must fix (a transcript): left pending, nothing sent there
    PAUSED = "paused"  # the target's workspace removed the app: left unsent, counted as skipped


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What a run did, counted in messages (each digest part and each DM is one).

    ``failed`` counts permanent failures (the target is recorded and skipped from now on);
    ``deferred`` counts messages left pending after transient failures (or a ``Retry-After``
    beyond :data:`MAX_RETRY_AFTER`), which a later run retries; ``elsewhere`` counts messages
    another live run has claimed (not known to be sent yet: checked again later, like deferred
    ones, but nothing went wrong); ``skipped`` counts channels that had nothing to post
    (``on_empty: skip``); ``planned`` lists ``target key`` lines in a dry run.
    ``errors`` counts targets whose delivery stopped on an error (typically the database could
    not be written: locked past the busy timeout, disk full); their messages wait for a retry.
    ``refused`` counts messages not sent because their platform refused our credentials
    (401, ``invalid_auth``): a configuration error, the channels stay enabled; ``stopped`` those
    not sent because their platform stopped on another setting only the operator can fix (an
    unwritable console transcript). ``problems`` holds one line per such error, for the operator.
    """

    posted: int = 0
    already: int = 0
    failed: int = 0
    deferred: int = 0
    elsewhere: int = 0
    skipped: int = 0
    errors: int = 0
    refused: int = 0
    stopped: int = 0
    dates: tuple[date, ...] = ()
    planned: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def __add__(self, other: RunSummary) -> RunSummary:
        return RunSummary(
            posted=self.posted + other.posted,
            already=self.already + other.already,
            failed=self.failed + other.failed,
            deferred=self.deferred + other.deferred,
            elsewhere=self.elsewhere + other.elsewhere,
            skipped=self.skipped + other.skipped,
            errors=self.errors + other.errors,
            refused=self.refused + other.refused,
            stopped=self.stopped + other.stopped,
            dates=tuple(sorted({*self.dates, *other.dates})),
            planned=self.planned + other.planned,
            problems=tuple(dict.fromkeys(self.problems + other.problems)),
        )

    @property
    def ok(self) -> bool:
        """True when nothing failed permanently and nothing was left for later."""
        return not (self.failed or self.deferred or self.elsewhere or self.errors or self.refused or self.stopped)

    def line(self) -> str:
        """Return the one-line report the CLI prints."""
        text = f"posted {self.posted}, already posted {self.already}, failed {self.failed}"
        if self.deferred:
            text += f", deferred {self.deferred}"
        if self.elsewhere:
            text += f", being sent by another process {self.elsewhere}"
        if self.errors:
            text += f", stopped by an error {self.errors}"
        if self.refused:
            text += f", not sent (credentials refused) {self.refused}"
        if self.stopped:
            text += f", not sent (platform stopped) {self.stopped}"
        return text


@dataclass(kw_only=True)
class _Tally:
    posted: int = 0
    already: int = 0
    failed: int = 0
    deferred: int = 0
    elsewhere: int = 0
    skipped: int = 0
    errors: int = 0
    refused: int = 0
    stopped: int = 0
    dates: set[date] = field(default_factory=set)
    planned: list[str] = field(default_factory=list)
    problems: dict[str, None] = field(default_factory=dict)

    def problem(self, text: str) -> None:
        self.problems[text] = None

    def count(self, outcome: _Outcome) -> None:
        if outcome is _Outcome.SENT:
            self.posted += 1
        elif outcome is _Outcome.ALREADY:
            self.already += 1
        elif outcome is _Outcome.FAILED:
            self.failed += 1
        elif outcome is _Outcome.DEFERRED:
            self.deferred += 1
        elif outcome is _Outcome.BUSY:  # another run's claim: not known sent yet, so checked again later
            self.elsewhere += 1
        elif outcome is _Outcome.REFUSED:
            self.refused += 1
        elif outcome is _Outcome.STOPPED:
            self.stopped += 1
        else:
            self.skipped += 1

    def freeze(self) -> RunSummary:
        return RunSummary(
            posted=self.posted,
            already=self.already,
            failed=self.failed,
            deferred=self.deferred,
            elsewhere=self.elsewhere,
            skipped=self.skipped,
            errors=self.errors,
            refused=self.refused,
            stopped=self.stopped,
            dates=tuple(sorted(self.dates)),
            planned=tuple(self.planned),
            problems=tuple(self.problems),
        )


async def digest_day(store: StoreProtocol, config: Config, now: datetime) -> date | None:
    """Return "the day" a post or preview at ``now`` covers when no date is given; None if no digest is stored.

    The newest stored digest whose list has settled (:func:`~digestbot.schedule.default_digest_date`
    with ``delivery.list_settles_hours``): a list still filling today is not the day yet. The one
    rule for ``post``, ``preview`` and ``/digest now``, so what is previewed is what gets posted.
    """
    settle = timedelta(hours=config.delivery.list_settles_hours)
    return await store.latest_digest_date(on_or_before=default_digest_date(now, settle))


async def require_digest_day(store: StoreProtocol, config: Config, now: datetime) -> date:
    """Return :func:`digest_day`, or raise a CommandError that says why there is none."""
    day = await digest_day(store, config, now)
    if day is not None:
        return day
    newest = await store.latest_digest_date()
    if newest is None and (count := await store.count_papers()):  # papers were stored, none with a date
        raise CommandError(
            f"the archive holds {count:,} paper{'' if count == 1 else 's'} but no digest day (stored without a date);"
            " give their file a date ('{date: YYYY-MM-DD, papers: [...]}') and ingest it again"
        )
    if newest is None:
        raise CommandError("the archive holds no digest yet: run 'digestbot ingest FILE' first")
    raise CommandError(
        f"no settled digest yet: the newest, {newest.isoformat()}, is a list still filling;"
        f" give --date {newest.isoformat()} to use it anyway"
    )


async def period_digest(store: StoreProtocol, period: Period) -> tuple[Digest, dict[str, date]]:
    """Return ``period``'s digest aggregated from the stored daily lists, and each paper's first list date.

    The one rule for ``post --week``, ``preview --week`` and the scheduler. The digest has no
    papers when no list of the period is stored.
    """
    digests = [d for d in [await store.digest(day) for day in period.days()] if d is not None]
    first_day: dict[str, date] = {}
    for digest in digests:
        for paper in digest.papers:
            first_day.setdefault(paper.arxiv_id, digest.date)
    return aggregate(period, digests), first_day


def _settled(late: Settled) -> tuple[_Outcome, str | None]:
    """Return the send's outcome once a late copy is settled: this run's post, another's, or not known."""
    outcome = {"kept": _Outcome.SENT, "removed": _Outcome.ALREADY}.get(late.outcome, _Outcome.BUSY)
    return outcome, late.message_id


def _stopped_outcome(exc: StoppedError) -> _Outcome:
    """Return how a stopped platform's messages are counted: refused credentials, or another setting."""
    return _Outcome.REFUSED if isinstance(exc, AuthError) else _Outcome.STOPPED


def _count_error(tally: _Tally, exc: Exception) -> None:
    """Count a delivery task that stopped on an error, with one line for the operator."""
    tally.errors += 1
    if isinstance(exc, StoreError):
        tally.problem(f"database write failed during delivery: {exc.reason}; the messages wait for a retry")
        log.info("delivery stopped: the database could not be written: %s", exc)  # reported by the summary
    else:
        tally.problem(f"delivery stopped by an unexpected error: {type(exc).__name__}: {exc}")
        log.error("delivery task failed", exc_info=exc)


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Return the wait before retry ``attempt`` (1-based): the server's ``retry_after``, else full jitter."""
    if retry_after is not None and retry_after >= 0:
        return retry_after + rng.uniform(0, min(1.0, retry_after * 0.1 + 0.01))
    return rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


class _Matches:
    """One run's matches: channel topic filters (a small index built here) and the process's subscribers.

    ``rendered`` is the run's :class:`~digestbot.render_cache.RenderCache`: it lives as long as the
    matches do (one run), but knows nothing of them.
    """

    def __init__(self, pairs: Sequence[tuple[Any, Any]], subscriptions: SubscriptionIndex) -> None:
        from digestbot.matching import TopicIndex

        self._index: Any = TopicIndex(pairs)
        self._subscriptions = subscriptions
        self._by_day: dict[date, Mapping[Any, list[tuple[Paper, Any]]]] = {}
        self._subscribers_by_day: dict[date, Mapping[UserKey, list[tuple[Paper, Any]]]] = {}
        self.rendered = RenderCache()

    def for_day(self, digest: Digest) -> Mapping[Any, list[tuple[Paper, Any]]]:
        """Return the channel filters' matches in ``digest``."""
        if digest.date not in self._by_day:
            self._by_day[digest.date] = self._index.match_all(digest.papers)
        return self._by_day[digest.date]

    async def subscribers_for_day(self, digest: Digest) -> Mapping[UserKey, list[tuple[Paper, Any]]]:
        """Return every subscriber's matches in ``digest``, matched off the event loop; lists built on lookup."""
        if digest.date not in self._subscribers_by_day:
            self._subscribers_by_day[digest.date] = await self._subscriptions.match(digest.papers)
        return self._subscribers_by_day[digest.date]


class DeliveryEngine:
    """Post digests and subscriber DMs through the adapters, exactly once, with retries."""

    def __init__(
        self,
        store: StoreProtocol,
        adapters: Mapping[str, Adapter],
        config: Config,
        clock: Clock | None = None,
        *,
        before_post: BeforePost | None = None,
        before_period: BeforePeriod | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.adapters = dict(adapters)
        self.config = config
        self.clock = clock or SystemClock()
        self._settle = timedelta(hours=config.delivery.list_settles_hours)
        self.before_post = before_post
        self.before_period = before_period
        self.outbox = Outbox(store)
        self.labels: Labels = labels_for(config.locale)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._pacers = {p: Pacer() for p in self.adapters}
        #: Senders waiting for their pace slot, by the tick they wake at (see :meth:`_pace_tick`).
        self._ticks: dict[int, list[asyncio.Future[None]]] = {}
        #: Platforms this run stopped sending to, with why: a StoppedError (``refused``: credentials
        #: refused, an unwritable transcript), or a ``Retry-After`` beyond :data:`MAX_RETRY_AFTER`
        #: (``held``, until the loop time given).
        self._refused: dict[str, StoppedError] = {}
        self._held: dict[str, float] = {}
        self._limits = {p: asyncio.Semaphore(max(1, config.delivery.concurrency)) for p in self.adapters}
        self.subscriptions = SubscriptionIndex(store, max_topic_length=config.subscriptions.max_topic_length)

    async def close(self) -> None:
        """Finish outbox writes and release the outbox's connection (adapters are the caller's)."""
        await self.subscriptions.close()
        await self.outbox.close()

    # -- public API ------------------------------------------------------------------------------

    async def channels(self, ids: Iterable[str] | None = None) -> list[Channel]:
        """Return the enabled channels this engine has an adapter for (optionally only ``ids``).

        An id is a channel id or ``platform:id``; an unknown one raises CommandError.
        """
        every = await load_channels(self.store, self.config)
        chosen = [c for c in every if c.platform in self.adapters]
        if ids is None:
            return chosen
        wanted = list(ids)
        out = [c for c in chosen if c.names.intersection(wanted)]
        found = frozenset().union(*(c.names for c in out))
        if missing := [w for w in wanted if w not in found]:
            names = ", ".join(missing)
            if not chosen:
                raise CommandError(f"no channel {names}: none is configured (give --config or set $DIGESTBOT_CONFIG)")
            known = ", ".join(f"{c.platform}:{c.id}" for c in chosen)
            raise CommandError(f"no enabled channel {names}; enabled channels: {known}")
        return out

    async def post_digest(
        self,
        day: date | None = None,
        *,
        channels: Iterable[str] | None = None,
        dry_run: bool = False,
        notify: bool = True,
    ) -> RunSummary:
        """Post ``day``'s digest (default: newest available) to every chosen channel now, then DM subscribers.

        Idempotent: what the outbox shows as sent is not sent again. Raises CommandError when there
        is no digest for the day.
        """
        if day is None:
            day = await require_digest_day(self.store, self.config, self.clock.now())
        digest = await self.store.digest(day)
        if digest is None:
            known = ", ".join(d.isoformat() for d in await self.store.digest_dates(limit=5)) or "none"
            raise CommandError(f"no digest for {day.isoformat()} (newest dates: {known})")
        chosen = await self.channels(channels)
        self._refused.clear()  # a new run tries the credentials again (one request tells)
        if not dry_run:
            await self.reconcile()
        matches = self._build_matches(chosen)
        tally = _Tally()
        await self._gather(
            (self._post_channel_digest(c, digest, matches, tally, dry_run=dry_run) for c in chosen), tally
        )
        if notify:
            for platform, workspace in sorted({(c.platform, c.workspace) for c in chosen}):
                await self._notify(digest, matches, tally, platform=platform, workspace=workspace, dry_run=dry_run)
        return tally.freeze()

    async def notify_subscribers(
        self, day: date, platform: str | None = None, workspace: str | None = None, *, dry_run: bool = False
    ) -> RunSummary:
        """DM every subscriber (of ``platform``/``workspace``, else all) their matches in ``day``'s digest."""
        digest = await self.store.digest(day)
        if digest is None:
            return RunSummary()
        platforms = {platform} if platform else set(self.adapters)
        matches = self._build_matches([])
        tally = _Tally()
        for p in sorted(platforms & set(self.adapters)):
            await self._notify(digest, matches, tally, platform=p, workspace=workspace or "", dry_run=dry_run)
        return tally.freeze()

    async def reconcile(self) -> int:
        """Resolve rows left claimed by a crashed run: take each over, ask the platform, mark it sent or pending.

        Returns how many rows were resolved.
        """
        resolved = 0
        for stale in await self.outbox.stale_claims():  # on the store's clock, not self.clock (tests move it)
            adapter = self.adapters.get(stale.target.platform)
            if adapter is None:
                continue
            row = await self.outbox.take_over(stale)
            if row is None:
                log.info("%s %s: another run is recovering it", stale.target, stale.key)
                continue
            try:
                found = await record_or_release(self.outbox, adapter, row)
            except DeliveryError as exc:
                log.warning("cannot check %s for %s after a crash (%s); will retry later", row.target, row.key, exc)
                continue
            if found is not None:
                log.info("crash recovery: %s %s was posted (%s); marking sent", row.target, row.key, found.message_id)
            else:
                log.info("crash recovery: %s %s was not posted; it will be sent", row.target, row.key)
            resolved += 1
        return resolved

    async def scheduled_post(
        self, channels: Sequence[Channel], due: datetime, *, final: bool
    ) -> tuple[RunSummary, list[Channel], list[Channel]]:
        """Run the post that fell due at ``due`` for ``channels``; return the summary, who waits, who retries.

        The date is :func:`default_digest_date` at ``due``. A channel whose date has no papers
        yet is returned as waiting unless ``final`` (the cut-off has passed): then it gets the
        newest older digest it has not had, else ONE notice (or nothing, ``on_empty: skip``).
        A channel that already had that date gets a weekend notice if the list date that
        settled at ``due`` was a weekend, else nothing — but a plan of that date with parts not
        yet sent (deferred, or stopped by an error) is resumed. The third list holds the channels
        whose post did not get through (a database error, a transient failure, a refused token or
        a long ``Retry-After``): the scheduler runs them again later.
        """
        if any(c.cadence != "daily" for c in channels):
            periodic, retry_periodic = await self._scheduled_periods([c for c in channels if c.cadence != "daily"], due)
            daily = [c for c in channels if c.cadence == "daily"]
            if not daily:
                return periodic, [], retry_periodic
            summary, waiting_daily, retry_daily = await self.scheduled_post(daily, due, final=final)
            return periodic + summary, waiting_daily, retry_periodic + retry_daily
        expected = default_digest_date(due, self._settle)
        nominal = nominal_list_date(due, self._settle)
        self._refused.clear()
        source_error = await self._run_before_post(expected)
        await self.reconcile()
        digest = await self.store.digest(expected)
        matches = self._build_matches(channels)
        tally = _Tally()
        waiting: list[Channel] = []
        retry: list[Channel] = []
        posted_digest: dict[tuple[str, str], Digest] = {}
        posted_day: dict[tuple[str, str], date] = {}  # channel -> the date of its post slot touched in this run

        async def one(channel: Channel) -> None:
            try:
                await post_one(channel)
            except Exception as exc:
                _count_error(tally, exc)
                retry.append(channel)

        async def post_one(channel: Channel) -> None:
            target = channel.target
            key = (channel.platform, channel.id)
            planned = await self.outbox.rows(target, slot="post", day=expected)
            posted_day[key] = expected
            plan = plan_due(
                expected=expected,
                nominal=nominal,
                planned_kind=planned[0].kind if planned else None,
                unsent=any(r.state in ("pending", "claimed") for r in planned),
                has_digest=digest is not None,
                final=final,
                source_down=source_error is not None,
            )
            older: date | None = None
            older_digest: Digest | None = None
            if plan.action is Action.FALLBACK:
                older = await self.store.latest_digest_date(on_or_before=expected)
                worth = older is not None and older_worth_posting(older, expected)
                if older is not None and worth and not await self.outbox.has_slot(target, slot="post", day=older):
                    older_digest = await self.store.digest(older)
                plan = plan_fallback(
                    expected=expected,
                    older=older,
                    older_unposted=older_digest is not None,
                    source_down=source_error is not None,
                )
            if plan.resume_dms and digest is not None:
                posted_digest[(channel.platform, channel.workspace)] = digest  # DMs resume too (idempotent)
            if plan.action is Action.WAIT:
                waiting.append(channel)
                return
            posted_day[key] = plan.day
            if plan.action is Action.POST:
                posted = digest if digest is not None and plan.day == expected else older_digest
                assert posted is not None  # plan_due/plan_fallback post only a stored list
                await self._post_channel_digest(channel, posted, matches, tally)
                posted_digest[(channel.platform, channel.workspace)] = posted
            elif plan.action is Action.RESUME:
                await self._send_rows(planned, threads=self._threaded(channel), tally=tally)
            elif plan.action is Action.ALREADY:
                tally.already += 1
            else:  # Action.NOTICE
                if plan.reason == "stale":
                    log.warning("%s: the newest stored list is of %s, too old for %s", target, older, expected)
                await self._post_notice(channel, plan.day, self._notice_reason(plan, older), tally)

        await self._gather((one(c) for c in channels), tally)
        for (platform, workspace), posted in sorted(posted_digest.items()):
            errors = tally.errors
            try:
                await self._notify(posted, matches, tally, platform=platform, workspace=workspace)
            except Exception as exc:
                _count_error(tally, exc)
            if tally.errors > errors:  # some DMs did not get through: the workspace's channels run again
                retry.extend(c for c in channels if (c.platform, c.workspace) == (platform, workspace))
        if tally.deferred or tally.elsewhere or tally.refused or tally.stopped:
            for c in channels:
                if (c.platform, c.id) in posted_day and await self._unfinished(c, posted_day[(c.platform, c.id)]):
                    retry.append(c)
        return tally.freeze(), waiting, list({(c.platform, c.id): c for c in retry if c not in waiting}.values())

    def _notice_reason(self, plan: Plan, older: date | None) -> str:
        """Word a planned notice's reason in this engine's labels."""
        if plan.reason == "stale":
            return self.labels.reason_stale.format(last=older)
        if plan.reason == "unreachable":
            return self.labels.reason_unreachable
        return self.labels.reason_weekend if plan.reason == "weekend" else self.labels.reason_no_list

    async def _unfinished(self, channel: Channel, day: date) -> bool:
        """Tell whether ``channel``'s post of ``day`` has parts still to send (deferred, refused, held)."""
        try:
            rows = await self.outbox.rows(channel.target, slot="post", day=day)
        except StoreError:
            return True
        return any(r.state in ("pending", "claimed") for r in rows)

    # -- runs ------------------------------------------------------------------------------------

    async def _run_before_post(self, day: date) -> str | None:
        if self.before_post is None:
            return None
        try:
            await self.before_post(day)
        except SourceError as exc:  # the source is down: post from the archive at once
            log.warning("fetching the list of %s failed, posting from the archive: %s", day.isoformat(), exc)
            return str(exc) or type(exc).__name__
        except Exception as exc:  # the hook is someone else's code: log it, post what we have
            log.warning("before_post(%s) failed: %s", day.isoformat(), exc, exc_info=not isinstance(exc, DeliveryError))
            return str(exc) or type(exc).__name__
        return None

    async def _gather(self, coros: Iterable[Awaitable[None]], tally: _Tally) -> None:
        """Run per-target work concurrently; one target's error is counted and logged, never stops the others.

        An error here is not a platform answer (those are outcomes of :meth:`_send`): the
        database could not be written (locked past the busy timeout, disk full) or a bug. The
        target's messages stay pending or claimed, so the run reports it and a later run retries.
        """
        # Targets in flight at once: enough to keep every send slot busy while others plan and
        # commit, few enough that planning, sending and marking overlap instead of running as
        # three huge batches one after another. A fixed pool of workers takes the coroutines one
        # by one, so a run with a million DMs creates a few dozen tasks, not a million.
        pending = iter(coros)

        async def worker() -> None:
            for coro in pending:
                try:
                    await coro
                except Exception as exc:
                    _count_error(tally, exc)

        # Full cycle-collector passes would stall the loop mid-fan-out (see digestbot.collector).
        with young_passes_only():
            async with asyncio.TaskGroup() as group:
                for i in range(PIPELINE_FACTOR * max(1, self.config.delivery.concurrency)):
                    group.create_task(worker(), name=f"delivery-{i}")

    def _build_matches(self, channels: Sequence[Channel]) -> _Matches:
        """Index ``channels``' topic filters; subscribers come from the process's :class:`SubscriptionIndex`."""
        from digestbot.topics import parse_topic

        max_length = self.config.subscriptions.max_topic_length
        pairs: list[tuple[Any, Any]] = []
        for c in channels:
            for raw in c.topics:
                pairs.append((("channel", c.platform, c.id), parse_topic(raw, max_length=max(max_length, len(raw)))))
        return _Matches(pairs, self.subscriptions)

    async def _post_channel_digest(
        self, channel: Channel, digest: Digest, matches: _Matches, tally: _Tally, *, dry_run: bool = False
    ) -> None:
        papers = digest.papers
        if channel.topics:
            hits = matches.for_day(digest).get(("channel", channel.platform, channel.id), [])
            keep = {id(p) for p, _ in hits}
            papers = tuple(p for p in papers if id(p) in keep)
        language = self.config.summary_language(channel.language)
        period = digest.period if digest.period is not None and digest.period.cadence != "daily" else None
        shown = Digest(
            date=digest.date,
            papers=await localize(self.store, self.config, papers[: channel.top], language),
            topic_filter=channel.topics,
            period=period,
        )
        if not shown.papers:
            log.info("%s: no paper of %s matches its topics %s", channel.target, digest.date, list(channel.topics))
            if period is not None:
                await self._post_period_notice(channel, period, self.labels.reason_no_match, tally, dry_run=dry_run)
            else:
                await self._post_notice(channel, digest.date, self.labels.reason_no_match, tally, dry_run=dry_run)
            return
        if not dry_run:
            log.info("%s: the digest of %s (%d papers)", channel.target, digest.date.isoformat(), len(shown.papers))
        name = period.name if period is not None else None
        signature = ("digest", shown.date, name, tuple(p.arxiv_id for p in shown.papers), shown.topic_filter, language)
        adapter = self.adapters[channel.platform]
        if channel.layout == "forum":  # one forum post per paper, tagged by the forum's matching tags
            payloads = await self._forum_payloads(adapter, channel, shown)
        elif channel.layout == "compact":  # the list, then each card as a reply in its thread
            payloads = matches.rendered.many_payloads(
                adapter, (*signature, "compact"), lambda: format_compact(shown, self.labels)
            )
        else:
            payloads = matches.rendered.payloads(adapter, signature, lambda: format_digest(shown, self.labels))
        await self._deliver(
            channel.target,
            payloads,
            slot=period.slot if period is not None else "post",
            day=digest.date,
            kind=f"digest-{period.cadence}" if period is not None else "digest",
            threads=self._threaded(channel),
            tally=tally,
            dry_run=dry_run,
        )

    async def _post_notice(
        self, channel: Channel, day: date, reason: str, tally: _Tally, *, dry_run: bool = False
    ) -> None:
        if await self.outbox.has_slot(channel.target, slot="post", day=day):
            tally.already += 1
            return
        if channel.on_empty == "skip":
            log.info("%s: no digest for %s (%s); on_empty is skip, posting nothing", channel.target, day, reason)
            tally.skipped += 1
            return
        log.info("%s: no digest for %s (%s); posting a notice", channel.target, day, reason)
        payloads = self.adapters[channel.platform].render(format_no_digest(day, reason, self.labels))
        await self._deliver(
            channel.target, payloads, slot="post", day=day, kind="notice", threads=False, tally=tally, dry_run=dry_run
        )

    async def _notify(
        self,
        digest: Digest,
        matches: _Matches,
        tally: _Tally,
        *,
        platform: str,
        workspace: str,
        dry_run: bool = False,
        first_day: Mapping[str, date] | None = None,
    ) -> None:
        """DM ``platform``/``workspace``'s subscribers their matches in ``digest``.

        For a weekly or monthly digest, ``first_day`` maps each paper to the daily list it came
        from: a paper of a day the subscriber already had a daily DM for is left out, so
        nobody is told about the same paper twice.
        """
        period = digest.period if digest.period is not None and digest.period.cadence != "daily" else None
        slot: Slot = "matches" if period is None else period.dm_slot
        subscribers = await matches.subscribers_for_day(digest)

        # A subscription made outside any workspace (a Discord DM with the bot, or a CLI subscription
        # without --workspace: workspace "") means "wherever this platform posts": it joins every
        # workspace's DM. One DM per user and day, whatever the workspaces their topics were made in
        # (the outbox's slot is per user). Who gets a DM is known at once; each one's list is built
        # as their DM is sent, so a million subscribers never mean a million lists built at once.
        def users() -> Iterator[tuple[str, list[UserKey]]]:
            # Lazily, as the delivery workers take them: grouping every subscriber up front would
            # hold the event loop for a second at a million subscriptions.
            seen: set[str] = set()
            for key in subscribers:
                if key[0] != platform or (workspace and key[1] not in (workspace, "")) or key[2] in seen:
                    continue
                seen.add(key[2])
                both = ((platform, "", key[2]), (platform, workspace, key[2]))
                yield key[2], [k for k in dict.fromkeys((*both, key)) if k in subscribers]

        rank = {id(p): i for i, p in enumerate(digest.papers)}
        # Subscribers read the default summary language (a DM belongs to no channel).
        language = self.config.summary_language()
        shown = {p.arxiv_id: p for p in await localize(self.store, self.config, digest.papers, language)}

        def card(paper: Paper) -> PaperCard:
            return matches.rendered.card(paper, lambda p: paper_card(p, self.labels))

        async def displays_of(users: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
            found = await self.store.topic_displays(platform=platform, users=users)
            return [found.get(u, {}) for u in users]

        # How each user typed their topics is asked for ahead of their DMs, DISPLAYS_AHEAD users at
        # a time: one query per batch, and usually answered before the DM needs it.
        displays = Coalescer(displays_of, name="topic-displays")

        def asked_ahead() -> Iterator[tuple[str, list[UserKey], list[asyncio.Future[dict[str, str]]]]]:
            ahead: deque[tuple[str, list[UserKey], list[asyncio.Future[dict[str, str]]]]] = deque()
            every = users()
            while True:
                if len(ahead) <= DISPLAYS_AHEAD // 2:
                    for user, keys in itertools.islice(every, DISPLAYS_AHEAD - len(ahead)):
                        keys = sorted(keys)
                        ahead.append((user, keys, [displays.ask((k[1], user)) for k in keys]))
                if not ahead:
                    return
                yield ahead.popleft()

        passes = _Passes(PASS_BUDGET)

        async def one(user: str, keys: list[UserKey], typed_by_key: list[asyncio.Future[dict[str, str]]]) -> None:
            await passes.turn()
            grouped: dict[int, tuple[Paper, list[str]]] = {}
            for key, typed_future in zip(keys, typed_by_key, strict=True):
                # The DM names each topic as the user typed it; matching used the canonical form.
                typed = await typed_future
                for paper, topic in subscribers[key]:
                    text = typed.get(topic.canonical) or topic.canonical
                    topics = grouped.setdefault(id(paper), (paper, []))[1]
                    if text not in topics:
                        topics.append(text)
            ordered = sorted(grouped.values(), key=lambda pair: rank.get(id(pair[0]), 0))
            found = [(shown.get(p.arxiv_id, p), topics) for p, topics in ordered]
            target = Target(platform=platform, kind="user", id=user, workspace=workspace or min(keys)[1])
            if first_day is not None and not await self.outbox.has_slot(target, slot=slot, day=digest.date):
                # A plan made before wins (resumed as planned); a new one leaves out what was told.
                monthly = period is not None and period.cadence == "monthly"
                found = [p for p in found if not await self._had_daily_dm(target, first_day, p[0], monthly=monthly)]
                if not found:
                    return
            named = period.name if period is not None else None
            signature = ("matches", digest.date, named, tuple((p.arxiv_id, tuple(t)) for p, t in found))
            payloads = matches.rendered.payloads(
                self.adapters[target.platform],
                signature,
                lambda: format_matches(digest.date, found, self.labels, period=period, card=card),
            )
            await self._deliver(
                target,
                payloads,
                slot=slot,
                day=digest.date,
                kind="matches" if period is None else f"matches-{period.cadence}",
                threads=False,
                tally=tally,
                dry_run=dry_run,
            )

        try:
            await self._gather((one(u, k, f) for u, k, f in asked_ahead()), tally)
        finally:  # a fan-out stopped early leaves reads asked ahead: no batch task may outlive it
            await displays.cancel()

    # -- sending ---------------------------------------------------------------------------------

    async def _deliver(
        self,
        target: Target,
        payloads: list[Any],
        *,
        slot: Slot,
        day: date,
        kind: str,
        threads: bool,
        tally: _Tally,
        dry_run: bool = False,
    ) -> None:
        """Plan (or find the earlier plan of) ``target``'s message for ``slot``/``day`` and send its parts."""
        if dry_run:
            rows = await self.outbox.rows(target, slot=slot, day=day)
            if rows:
                for row in rows:
                    if row.state == "sent":
                        tally.already += 1
                    else:
                        tally.planned.append(f"{target} {row.key} ({row.state})")
            else:
                from digestbot.outbox import delivery_key

                tally.planned.extend(
                    f"{target} {delivery_key(kind, day, i, len(payloads))}" for i in range(1, len(payloads) + 1)
                )
            return
        # The first part is claimed with the plan (one write less per message); see _send.
        rows, created = await self.outbox.plan(
            target, slot=slot, day=day, kind=kind, payloads=payloads, claim_first=True
        )
        if not created and rows[0].kind != kind:
            log.info("%s already had its %s post for %s (as a %s)", target, slot, day, rows[0].kind)
        await self._send_rows(rows, threads=threads, tally=tally)

    async def _send_rows(self, rows: Sequence[Delivery], *, threads: bool, tally: _Tally) -> None:
        """Send a plan's unsent parts in order (later ones in a thread under the first when ``threads``)."""
        adapter = self.adapters[rows[0].target.platform]
        tally.dates.add(rows[0].day)
        thread: str | None = None
        for i, row in enumerate(rows):
            if row.state == "sent":
                tally.count(_Outcome.ALREADY)
                if i == 0:
                    thread = row.message_id
                continue
            if row.state == "failed":
                tally.count(_Outcome.ALREADY)  # recorded before; not retried
                continue
            outcome, message_id = await self._send(adapter, row, thread=thread if threads and i > 0 else None)
            tally.count(outcome)
            metrics.delivered(platform=row.target.platform, target=row.target.kind, outcome=outcome.value)
            if outcome in (_Outcome.REFUSED, _Outcome.STOPPED):
                platform = row.target.platform
                why = self._refused.get(platform, f"{platform} refused the bot's credentials")
                tally.problem(f"{why} — nothing was sent to {platform}; its channels stay enabled")
            if outcome is _Outcome.SENT and i == 0:
                thread = message_id
            if outcome is _Outcome.FAILED:
                await self.outbox.fail_pending(rows[i + 1 :], f"part {row.part} failed permanently")
                break
            if outcome is not _Outcome.SENT:
                break  # later parts wait for this one: parts go in order

    async def _send(self, adapter: Adapter, row: Delivery, *, thread: str | None) -> tuple[_Outcome, str | None]:
        """Claim ``row``, send it with retries, and record the result."""
        platform = row.target.platform
        if (stopped := self._stopped(platform)) is not None:
            if self.outbox.claimed_by_plan(row):  # claimed with its plan: give it back untried
                await self.outbox.release(row, self._stop_reason(platform))
            return stopped, None
        if (row.state == "claimed" and not self.outbox.claimed_by_plan(row)) or not await self.outbox.claim(row):
            log.info("%s %s is being sent by another run; leaving it", row.target, row.key)
            return _Outcome.BUSY, None
        with self.outbox.keep_claimed(row):  # a send stalled past the lease stays this run's
            return await self._send_claimed(adapter, row, thread=thread)

    async def _send_claimed(
        self, adapter: Adapter, row: Delivery, *, thread: str | None
    ) -> tuple[_Outcome, str | None]:
        """Send a row this run claimed, with retries, and record the result."""
        platform = row.target.platform
        limit = self._limits[platform]
        attempts = max(1, self.config.delivery.max_attempts)
        attempt = rate_limited = 0
        pacer = self._pacers[platform]
        loop = asyncio.get_running_loop()
        while True:
            ticket = pacer.reserve(now := loop.time())
            if ticket.slot > now:  # (no coroutine for the usual case: the slot is now)
                ticket = await self._wait_for_slot(pacer, ticket)
            try:
                async with limit:
                    if (stopped := self._stopped(platform)) is not None:  # decided while this one waited
                        await self.outbox.release(row, self._stop_reason(platform))
                        return stopped, None
                    if not await self.outbox.still_held(row):  # checked (renewed if old) right before the send
                        log.warning("%s %s: another run took this message over; leaving it", row.target, row.key)
                        return _Outcome.BUSY, None
                    sent = await adapter.send(row.target, row.payload, key=row.key, thread=thread)
            except PausedError as exc:  # one workspace removed the app: not a failure, the others go on
                log.info("%s %s: not sent (%s)", row.target, row.key, exc)
                await self.outbox.release(row, str(exc))
                return _Outcome.PAUSED, None
            except StoppedError as exc:
                if platform not in self._refused:  # reported by the summary (one line)
                    what = "refused our credentials" if isinstance(exc, AuthError) else "stopped"
                    log.info("%s %s (%s): nothing more is sent to it in this run", platform, what, exc)
                first = self._refused.setdefault(platform, exc)  # the first answer speaks for the platform
                await self.outbox.release(row, str(exc))
                return _stopped_outcome(first), None
            except UnavailableError as exc:  # the platform is not up (yet): the message waits, untried
                await self.outbox.release(row, str(exc))
                return _Outcome.DEFERRED, None
            except DeliveryError as exc:
                if exc.permanent:
                    await self._permanent_failure(row, exc)
                    return _Outcome.FAILED, None
                error, retry_after = str(exc), exc.retry_after
                if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                    self._held[platform] = max(self._held.get(platform, 0.0), loop.time() + retry_after)
                    log.warning(
                        "%s asks to wait %.0f s (over the %.0f s this run waits): its messages wait for a later run",
                        platform, retry_after, MAX_RETRY_AFTER,
                    )  # fmt: skip
                    await self.outbox.release(row, error)
                    return _Outcome.DEFERRED, None
                ambiguous = retry_after is None  # a rate-limit answer means "not posted"
            except Exception as exc:  # an adapter bug or an unmapped network error: treat as transient
                log.warning("%s %s: unexpected %s from the adapter: %s", row.target, row.key, type(exc).__name__, exc)
                error, retry_after, ambiguous = f"{type(exc).__name__}: {exc}", None, True
            else:
                pacer.sent(loop.time())
                if not await self.outbox.mark_sent(row, sent.message_id):  # lost the row while frozen past the lease
                    return _settled(await settle_late_copy(self.outbox, adapter, row, sent))
                return _Outcome.SENT, sent.message_id
            if retry_after is not None:
                # The platform said when to come back: hold every send to it until then, slow the
                # platform's pace (see digestbot.pacing), and do not count it as a failed attempt
                # (it is pacing, not an outage), within reason.
                pacer.rate_limited(ticket, loop.time(), retry_after)
                rate_limited += 1
                metrics.rate_limited(platform)
            else:
                attempt += 1
            if attempt >= attempts or rate_limited >= RATE_LIMIT_RETRIES * attempts:
                log.warning("%s %s: giving up for now (%s); a later run retries", row.target, row.key, error)
                await self.outbox.release(row, error)
                return _Outcome.DEFERRED, None
            delay = backoff_delay(max(1, attempt), retry_after, self._rng)
            log.info("%s %s: attempt failed (%s); retrying in %.3f s", row.target, row.key, error, delay)
            await self._sleep(delay)
            if not await self.outbox.renew(row):  # our lease lapsed and another run took the row over
                log.warning("%s %s: another run took this message over; leaving it", row.target, row.key)
                if ambiguous and (unknown := await settle_unknown_copy(self.outbox, adapter, row)) is not None:
                    return _settled(unknown)
                return _Outcome.BUSY, None
            if ambiguous:  # it may have been posted before the error (timeout): look before resending
                try:
                    found = await adapter.find_sent(row.target, row.key, since=row.created_at)
                except DeliveryError:
                    found = None
                if found is not None:
                    await self.outbox.mark_sent(row, found.message_id)
                    return _Outcome.SENT, found.message_id

    def _threaded(self, channel: Channel) -> bool:
        """Tell whether a channel's later parts go in a thread under its first: always compact, never forum."""
        if channel.layout == "forum":
            return False  # each part is a post of its own
        return channel.layout == "compact" or wants_threads(channel, self.config)

    async def _forum_payloads(self, adapter: Adapter, channel: Channel, digest: Digest) -> list[Any]:
        """Return one forum post per paper, each with the forum's tags whose names match it as topics.

        Tags are matched by the subscription topic matcher (a tag "Diffusion" is the topic
        ``diffusion``); the adapter says which tags the forum has (none when it cannot tell).
        """
        from digestbot.topic_filter import matches_for
        from digestbot.topics import parse_topic

        names: list[str] = []
        forum_tags = getattr(adapter, "forum_tags", None)
        if forum_tags is not None:
            try:
                names = list(await forum_tags(channel.target) or [])
            except DeliveryError as exc:  # the posts themselves will meet (and report) the same problem
                log.warning("%s: cannot read the forum's tags (%s); posting without tags", channel.target, exc)
        by_canonical: dict[str, str] = {}
        max_length = self.config.subscriptions.max_topic_length
        for name in names:
            try:
                by_canonical.setdefault(parse_topic(name, max_length=max(max_length, len(name))).canonical, name)
            except CommandError:
                log.info("%s: forum tag %r is no usable topic; never applied", channel.target, name)
        tags: dict[str, list[str]] = {}
        if by_canonical:
            for paper, hits in matches_for(digest.papers, list(by_canonical.values()), max_length=10**4):
                tags[paper.arxiv_id] = [by_canonical[c] for c in hits if c in by_canonical]
        messages = format_forum(digest, self.labels, tags=tags)
        return [adapter.render(m)[0] for m in messages]

    def _stop_reason(self, platform: str) -> str:
        """Return why this run no longer sends to ``platform``, as recorded on its released messages."""
        stop = self._refused.get(platform)
        return str(stop) if stop is not None else "held by a long Retry-After"

    def _stopped(self, platform: str) -> _Outcome | None:
        """Tell whether this run no longer sends to ``platform`` (a StoppedError, a long Retry-After)."""
        if (stop := self._refused.get(platform)) is not None:
            return _stopped_outcome(stop)
        if self._held and self._held.get(platform, 0.0) > asyncio.get_running_loop().time():
            return _Outcome.DEFERRED
        return None

    async def _wait_for_slot(self, pacer: Pacer, ticket: Ticket) -> Ticket:
        """Wait for the slot of ``ticket`` (just reserved) in the platform's pace, or of a later one if it was cut."""
        loop = asyncio.get_running_loop()
        while True:
            if (wait := ticket.slot - loop.time()) <= 0:
                return ticket
            if self._sleep is asyncio.sleep:
                await self._pace_tick(loop, ticket.slot)
            else:
                await self._sleep(wait)
            if self._sleep is not asyncio.sleep or pacer.still_valid(ticket, loop.time()):
                return ticket  # (an injected test sleep does not move the loop's clock: go)
            # A rate-limit answer came while waiting: the slot was given under a pace or gate
            # that no longer holds; take a new slot behind the senders that wait already.
            ticket = pacer.reserve(loop.time())

    def _pace_tick(self, loop: asyncio.AbstractEventLoop, when: float) -> asyncio.Future[None]:
        """Return a future answered at the first :data:`PACE_TICK` boundary at or after ``when`` (loop time).

        Paced, most sends of a fan-out wait a little for their slot; a sleep each was a timer, a
        heap entry and two more callbacks per message (a third of the loop's timers in
        ``bench.fanout``). Senders whose slots fall in one tick share one timer instead. Each
        waiter has its own future, so cancelling one sender leaves the others waiting.
        """
        tick = math.ceil(when / PACE_TICK)
        waiters = self._ticks.get(tick)
        if waiters is None:
            waiters = self._ticks[tick] = []
            loop.call_at(tick * PACE_TICK, self._ring, tick)
        future: asyncio.Future[None] = loop.create_future()
        waiters.append(future)
        return future

    def _ring(self, tick: int) -> None:
        for future in self._ticks.pop(tick, ()):
            if not future.done():
                future.set_result(None)

    async def _permanent_failure(self, row: Delivery, exc: DeliveryError) -> None:
        await self.outbox.mark_failed(row, str(exc))
        if row.target.kind == "channel":
            log.warning("%s: permanent delivery failure (%s); disabling the channel", row.target, exc)
            await self.store.disable_channel(
                platform=row.target.platform,
                channel_id=row.target.id,
                workspace=row.target.workspace,
                reason=f"delivery failed permanently: {exc}",
            )
        else:
            log.warning("%s: cannot be messaged (%s); recorded, skipped for %s", row.target, exc, row.day)

    # -- weekly and monthly digests --------------------------------------------------------------

    async def period_digest(self, period: Period) -> tuple[Digest, dict[str, date]]:
        """Return :func:`period_digest` of this engine's store."""
        return await period_digest(self.store, period)

    async def post_period(
        self,
        period: Period,
        *,
        channels: Iterable[str] | None = None,
        dry_run: bool = False,
        notify: bool = True,
    ) -> RunSummary:
        """Post ``period``'s digest now to ``channels`` (default: every channel of that cadence), then DM subscribers.

        Idempotent like :meth:`post_digest`: the outbox slot is the cadence's and the date the
        period's first day, so a weekly post never collides with the daily post of its Monday.
        Raises CommandError when no daily list of the period is stored or no channel is chosen.
        """
        digest, first_day = await self.period_digest(period)
        if not digest.papers:
            raise CommandError(
                f"no daily list of {period.name} ({period.span()}) is stored: ingest its days first"
                f" (digestbot ingest --from huggingface --since {period.start} --until {period.end})"
            )
        chosen = await self.channels(channels)
        if channels is None:
            chosen = [c for c in chosen if c.cadence == period.cadence]
            if not chosen:
                raise CommandError(f"no enabled channel has cadence {period.cadence}; name one with --channel")
        self._refused.clear()
        if not dry_run:
            await self.reconcile()
        matches = self._build_matches(chosen)
        tally = _Tally()
        await self._gather(
            (self._post_channel_digest(c, digest, matches, tally, dry_run=dry_run) for c in chosen), tally
        )
        if notify:
            for platform, workspace in sorted({(c.platform, c.workspace) for c in chosen}):
                await self._notify(
                    digest, matches, tally, platform=platform, workspace=workspace, dry_run=dry_run, first_day=first_day
                )
        return tally.freeze()

    async def _scheduled_periods(self, channels: Sequence[Channel], due: datetime) -> tuple[RunSummary, list[Channel]]:
        """Run the weekly/monthly posts due at ``due``: each channel gets the period before its local post date.

        There is no waiting for papers (the period's lists are long settled): what is stored is
        posted, or one notice. A plan with unsent parts is resumed. Returns the summary and the
        channels whose post did not get through (the scheduler retries them).
        """
        self._refused.clear()
        await self.reconcile()
        tally = _Tally()
        retry: list[Channel] = []
        by_period: dict[Period, list[Channel]] = {}
        for channel in channels:
            local_day = due.astimezone(channel.schedule.zone).date()
            by_period.setdefault(previous_period(channel.cadence, local_day), []).append(channel)
        for period, members in sorted(by_period.items(), key=lambda item: (item[0].start, item[0].cadence)):
            await self._run_before_period(period)
            digest, first_day = await self.period_digest(period)
            matches = self._build_matches(members)
            posted: set[tuple[str, str]] = set()
            await self._gather(
                (self._scheduled_period_post(c, period, digest, matches, tally, posted, retry) for c in members), tally
            )
            for platform, workspace in sorted(posted):
                try:
                    await self._notify(
                        digest, matches, tally, platform=platform, workspace=workspace, first_day=first_day
                    )
                except Exception as exc:
                    _count_error(tally, exc)
                    retry.extend(c for c in members if (c.platform, c.workspace) == (platform, workspace))
        return tally.freeze(), list({(c.platform, c.id): c for c in retry}.values())

    async def _run_before_period(self, period: Period) -> None:
        """Fetch the period's list where the source has one; on failure post from the archive (logged)."""
        if self.before_period is None:
            return
        try:
            await self.before_period(period)
        except Exception as exc:  # a source down or someone else's hook: what is stored is posted
            log.warning("fetching the list of %s failed, posting from the archive: %s", period.name, exc)

    async def _scheduled_period_post(
        self,
        channel: Channel,
        period: Period,
        digest: Digest,
        matches: _Matches,
        tally: _Tally,
        posted: set[tuple[str, str]],
        retry: list[Channel],
    ) -> None:
        """Post (or resume) ``channel``'s digest of ``period``; note its workspace for DMs, or it for a retry."""
        try:
            planned = await self.outbox.rows(channel.target, slot=period.slot, day=period.start)
            if planned:
                if any(r.state in ("pending", "claimed") for r in planned):
                    await self._send_rows(planned, threads=self._threaded(channel), tally=tally)
                else:
                    tally.already += 1
            elif digest.papers:
                await self._post_channel_digest(channel, digest, matches, tally)
            else:
                await self._post_period_notice(channel, period, self.labels.reason_no_lists, tally)
            if digest.papers:
                posted.add((channel.platform, channel.workspace))
            rows = await self.outbox.rows(channel.target, slot=period.slot, day=period.start)
            if any(r.state in ("pending", "claimed") for r in rows):
                retry.append(channel)
        except Exception as exc:
            _count_error(tally, exc)
            retry.append(channel)

    async def _post_period_notice(
        self, channel: Channel, period: Period, reason: str, tally: _Tally, *, dry_run: bool = False
    ) -> None:
        slot: Slot = period.slot
        if await self.outbox.has_slot(channel.target, slot=slot, day=period.start):
            tally.already += 1
            return
        if channel.on_empty == "skip":
            log.info("%s: no papers for %s (%s); on_empty is skip: nothing", channel.target, period.name, reason)
            tally.skipped += 1
            return
        log.info("%s: no papers for %s (%s); posting a notice", channel.target, period.name, reason)
        payloads = self.adapters[channel.platform].render(format_no_period_digest(period, reason, self.labels))
        await self._deliver(
            channel.target, payloads, slot=slot, day=period.start, kind="notice", threads=False, tally=tally,
            dry_run=dry_run,
        )  # fmt: skip

    async def _had_daily_dm(
        self, target: Target, first_day: Mapping[str, date], paper: Paper, *, monthly: bool
    ) -> bool:
        """Tell whether ``target`` was told of ``paper`` already: the DM of its daily list, or of its week.

        A weekly DM leaves out what the daily DMs said; a monthly one what the daily and weekly DMs said.
        """
        day = first_day.get(paper.arxiv_id)
        if day is None:
            return False
        if await self.outbox.has_slot(target, slot="matches", day=day):
            return True
        return monthly and await self.outbox.has_slot(target, slot="matches-week", day=week_of(day).start)
