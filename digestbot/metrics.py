"""What a running bot counts for its ``/metrics`` page: posts, DMs, failures, 429s, outbox backlog, lookups.

The core reports events through the module functions below (:func:`delivered`,
:func:`rate_limited`, :func:`lookup_timer`) at the places where they happen (the delivery engine,
the ``/paper`` answer); adapters report nothing. The functions are no-ops until a
:class:`Metrics` is :func:`install`-ed — ``digestbot run`` does that when its ops port is on — so
one-shot commands, tests and benches pay nothing and share no state.

Why one process-wide sink rather than an object passed around: Prometheus scrapes a *process*
(one page per ``run``), and lookups happen deep inside each platform's command path, where
threading a metrics object through would widen every adapter's signature for no gain.

Each :class:`Metrics` has its own ``CollectorRegistry`` (never prometheus-client's global one),
so two of them in one test process never collide. Names follow Prometheus conventions
(``_total`` on counters, base units: seconds):

* ``digestbot_posts_total{platform}`` — channel messages sent (each digest part is one);
* ``digestbot_dms_total{platform}`` — direct messages sent to subscribers;
* ``digestbot_delivery_failures_total{platform,target,reason}`` — messages not sent by a run:
  ``permanent`` (recorded, not retried), ``deferred`` (left pending for a later run),
  ``refused`` (the platform refused our credentials), ``stopped`` (another setting only the
  operator can fix stopped the platform: an unwritable console transcript);
* ``digestbot_rate_limited_total{platform}`` — rate-limit answers (HTTP 429 / ``ratelimited``);
* ``digestbot_outbox_backlog`` and ``digestbot_outbox_oldest_age_seconds`` — messages pending
  or claimed, and the age of the oldest, read from the store at each scrape;
* ``digestbot_lookup_seconds`` — a histogram of ``/paper`` lookup times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format's media type (what ``/metrics`` answers with)."""

LOOKUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds; the README's lookup goals sit in the low buckets, Discord's 3 s deadline near the top."""

FAILURE_REASONS = {"failed": "permanent", "deferred": "deferred", "refused": "refused", "stopped": "stopped"}
"""The delivery engine's outcome -> the ``reason`` label of ``digestbot_delivery_failures_total``."""


class Metrics:
    """One process's counters, on a registry of their own."""

    def __init__(self, *, platforms: Iterable[str] = ()) -> None:
        """Create the metrics; ``platforms``' series start at 0 (a series that appears only later breaks rates)."""
        self.registry = CollectorRegistry()
        on = self.registry
        self.posts = Counter("digestbot_posts", "Channel messages sent (digest parts).", ["platform"], registry=on)
        self.dms = Counter("digestbot_dms", "Direct messages sent to subscribers.", ["platform"], registry=on)
        self.failures = Counter(
            "digestbot_delivery_failures",
            "Messages not sent: permanent (not retried), deferred (pending for later), refused (credentials), stopped.",
            ["platform", "target", "reason"],
            registry=on,
        )
        self.rate_limited = Counter(
            "digestbot_rate_limited", "Rate-limit answers (HTTP 429) from a platform.", ["platform"], registry=on
        )
        self.outbox_backlog = Gauge("digestbot_outbox_backlog", "Outbox messages pending or claimed.", registry=on)
        self.outbox_oldest_age = Gauge(
            "digestbot_outbox_oldest_age_seconds", "Age of the oldest unsent outbox message.", registry=on
        )
        self.late_copies = Counter(
            "digestbot_late_copies",
            "Sends that landed after this process lost their claim (frozen past the lease): kept as the one copy,"
            " removed (another copy was recorded), or left (not settled: may show twice).",
            ["platform", "target", "outcome"],
            registry=on,
        )
        self.lookup_seconds = Histogram(
            "digestbot_lookup_seconds", "Time to answer a /paper lookup.", buckets=LOOKUP_BUCKETS, registry=on
        )

        # The labelled children a delivery counts into, by (platform, target, outcome): ``.labels()``
        # hashes and locks on every call, once per message of a fan-out otherwise.
        self._delivery: dict[tuple[str, str, str], Counter | None] = {}
        self._rate_limited: dict[str, Counter] = {}

        for platform in platforms:
            for counter in (self.posts, self.dms, self.rate_limited):
                counter.labels(platform=platform)

    def delivery_counter(self, platform: str, target: str, outcome: str) -> Counter | None:
        """Return the child counting ``outcome`` for ``platform``/``target`` (None: not counted), looked up once."""
        key = (platform, target, outcome)
        try:
            return self._delivery[key]
        except KeyError:
            pass
        child: Counter | None = None
        if outcome == "sent":
            child = (self.posts if target == "channel" else self.dms).labels(platform=platform)
        elif (reason := FAILURE_REASONS.get(outcome)) is not None:
            child = self.failures.labels(platform=platform, target=target, reason=reason)
        self._delivery[key] = child
        return child

    def rate_limited_counter(self, platform: str) -> Counter:
        """Return the child counting ``platform``'s rate-limit answers, looked up once."""
        if (child := self._rate_limited.get(platform)) is None:
            child = self._rate_limited[platform] = self.rate_limited.labels(platform=platform)
        return child

    def set_backlog(self, count: int, oldest: datetime | None, now: datetime) -> None:
        """Record the outbox backlog as read from the store just now."""
        self.outbox_backlog.set(count)
        self.outbox_oldest_age.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)

    def exposition(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)


_active: Metrics | None = None


def install(metrics: Metrics) -> None:
    """Make ``metrics`` the process's sink (the ops server does, when ``run`` starts it)."""
    global _active
    _active = metrics


def uninstall(metrics: Metrics) -> None:
    """Stop counting into ``metrics`` (if it is still the process's sink)."""
    global _active
    if _active is metrics:
        _active = None


@contextmanager
def installed(metrics: Metrics) -> Iterator[Metrics]:
    """Make ``metrics`` the process's sink for the block."""
    install(metrics)
    try:
        yield metrics
    finally:
        uninstall(metrics)


def delivered(*, platform: str, target: str, outcome: str) -> None:
    """Count one message's outcome: ``sent`` a post or a DM; ``failed``/``deferred``/``refused``/``stopped`` a failure.

    ``target`` is ``channel`` or ``user`` (a DM); other outcomes (already sent, claimed by another
    run) are not events of this process and are not counted.
    """
    if _active is not None and (child := _active.delivery_counter(platform, target, outcome)) is not None:
        child.inc()


def late_copy(*, platform: str, target: str, outcome: str) -> None:
    """Count one late copy settled (``kept``, ``removed``) or not (``left``); see :mod:`digestbot.late_copies`."""
    if _active is not None:
        _active.late_copies.labels(platform=platform, target=target, outcome=outcome).inc()


def rate_limited(platform: str) -> None:
    """Count one rate-limit answer from ``platform``."""
    if _active is not None:
        _active.rate_limited_counter(platform).inc()


@contextmanager
def lookup_timer() -> Iterator[None]:
    """Time the block as one ``/paper`` lookup (also when it raises: a refused query took time too)."""
    if _active is None:
        yield
        return
    metrics, start = _active, time.perf_counter()
    try:
        yield
    finally:
        metrics.lookup_seconds.observe(time.perf_counter() - start)
