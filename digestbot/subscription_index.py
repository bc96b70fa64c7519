"""Every stored subscription, parsed and indexed once per process and kept current, for posts to match against.

Why it exists: building a :class:`~digestbot.matching.TopicIndex` at each post meant reading
and parsing every subscription on the event loop, which froze the bot for 3-4 s at 100,000
subscriptions and ~35 s at 1,000,000, so every ``/paper`` and slash command during a post
missed the platforms' 3-second deadline. Here:

* the **first load** reads every subscription on a connection of its own, parses each distinct
  topic once and builds the index, all in a worker thread (:func:`asyncio.to_thread`), then
  swaps the finished index in;
* every later **refresh** applies what the store's change log (written by triggers, so changes
  made by other processes count too) holds since the last one: a subscribe or unsubscribe costs
  a few dict operations on the loop, in small slices; a very long backlog (a bulk import) or a
  log pruned past our position loads everything again, in the thread;
* a post only **matches the day's papers** against the index, in the worker thread; each
  subscriber's ``(paper, topic)`` list is built when their DM is sent
  (:class:`~digestbot.matching.TopicMatches`).

The thread holds the GIL while it runs Python code, but CPython hands it back to the loop every
``sys.getswitchinterval()`` (5 ms), so the loop keeps answering (``python -m bench.stall``
measures it). What does not hand it back is the cycle collector: a full collection walks every
container in the process in one go, so the load pauses automatic collection and then freezes
the index (:func:`gc.freeze`) out of later ones. Refreshes and matches are serialised by one
lock, so the index never changes while the thread reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any

from digestbot.errors import CommandError
from digestbot.matching import TopicIndex, TopicMatches
from digestbot.records import Paper
from digestbot.store.protocol import StoreProtocol
from digestbot.store.records import SubscriptionRow
from digestbot.topics import Topic, parse_topic

log = logging.getLogger(__name__)

_pause_lock = threading.Lock()

SubscriberKey = tuple[str, str, str]
"""Who subscribed: platform, workspace, user id."""

CHANGES_PER_QUERY = 2_000
"""Logged changes read per query while catching up."""

CHANGES_PER_SLICE = 200
"""Changes applied on the event loop between two yields (each is a few dict operations, ~10 µs)."""

RELOAD_AFTER = 50_000
"""A backlog longer than this is not replayed change by change: everything is read again in the thread."""

KEEP_CHANGES = 100_000
"""Logged changes kept after a full load; a process further behind than this reloads everything."""


class SubscriptionIndex:
    """The process's one index of every subscription, loaded off the event loop and updated by changes."""

    def __init__(self, store: StoreProtocol, *, max_topic_length: int) -> None:
        """Index ``store``'s subscriptions (loaded on first use, or at :meth:`start`)."""
        self._store = store
        self._max_length = max_topic_length
        self._index: TopicIndex[SubscriberKey] | None = None
        self._position = 0  # the change-log id the index reflects
        self._parsed: dict[str, Topic | None] = {}  # stored topic text -> parsed (None: unusable)
        self._lock = asyncio.Lock()
        self._warm_up: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the first load in the background, so the first post finds the index ready."""
        if self._warm_up is None:
            self._warm_up = asyncio.create_task(self._log_failure(self.refresh()), name="subscription-index")

    async def close(self) -> None:
        """Stop a load still running at shutdown."""
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
            await asyncio.gather(self._warm_up, return_exceptions=True)

    @staticmethod
    async def _log_failure(coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except Exception:
            log.exception("loading the subscriptions failed; the next post tries again")

    @property
    def loaded(self) -> bool:
        """True once the first load has finished."""
        return self._index is not None

    async def refresh(self) -> None:
        """Bring the index up to date with the store: the first load, else the changes since the last refresh."""
        async with self._lock:
            await self._refresh()

    async def match(self, papers: Sequence[Paper]) -> TopicMatches[SubscriberKey]:
        """Refresh, then match ``papers`` against every subscription (in the worker thread)."""
        async with self._lock:
            index = await self._refresh()
            return await asyncio.to_thread(index.match_all, list(papers))

    async def _refresh(self) -> TopicIndex[SubscriberKey]:
        if self._index is None:
            return await self._reload()
        index = self._index
        while True:
            reaches, changes = await self._store.subscription_changes(self._position, limit=CHANGES_PER_QUERY)
            if not reaches or (len(changes) == CHANGES_PER_QUERY and await self._backlog() > RELOAD_AFTER):
                log.info("subscriptions changed too much since the last look; reading them all again")
                return await self._reload()
            if not changes:
                return index
            for start in range(0, len(changes), CHANGES_PER_SLICE):
                for position, op, platform, workspace, user, text in changes[start : start + CHANGES_PER_SLICE]:
                    topic = self._parse(text, (platform, workspace, user))
                    if topic is not None and op == "+":
                        index.add((platform, workspace, user), topic)
                    elif topic is not None:
                        index.remove((platform, workspace, user), topic)
                    self._position = position
                await asyncio.sleep(0)  # let the loop answer commands between slices

    async def _backlog(self) -> int:
        """Return RELOAD_AFTER + 1 when more than RELOAD_AFTER changes wait (log ids have no gaps), else 0."""
        _, changes = await self._store.subscription_changes(self._position + RELOAD_AFTER, limit=1)
        return RELOAD_AFTER + 1 if changes else 0

    async def _reload(self) -> TopicIndex[SubscriberKey]:
        """Read, parse and index every subscription in a worker thread, then swap the result in."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        index, position = await asyncio.to_thread(self._load)
        self._index, self._position = index, position
        log.info("indexed every subscription in %.1f s", loop.time() - started)
        return index

    def _load(self) -> tuple[TopicIndex[SubscriberKey], int]:
        """Build a fresh index from one snapshot of the subscriptions (runs in the worker thread)."""
        used_by: Counter[str] = Counter()
        index: TopicIndex[SubscriberKey] = TopicIndex(word_frequency=used_by)

        def count(texts: Iterator[str]) -> None:
            # Each distinct topic parsed once, and its words counted: anchors are best chosen
            # knowing every topic (see digestbot.matching), before the first one is filed.
            for text in texts:
                if (topic := self._parse(text, None)) is not None:
                    used_by.update({w for term in topic.include for w in term})

        def add(rows: Iterator[SubscriptionRow]) -> None:
            same: dict[str, str] = {}  # one string object per platform and workspace, not one per row
            for platform, workspace, user, text in rows:
                if (topic := self._parsed.get(text)) is not None:
                    index.add((same.setdefault(platform, platform), same.setdefault(workspace, workspace), user), topic)

        with _collector_paused():
            position = self._store.read_subscriptions(count, add, keep_changes=KEEP_CHANGES)
            index.prepare()  # lay the topics out for matching here, not in the first post
            # The index is a few hundred thousand long-lived containers. Left to the cycle
            # collector, every full collection would walk them all (0.2-0.4 s at 100,000
            # subscriptions), holding the GIL and so stalling the event loop; frozen, they are
            # skipped (they are freed by reference counting when a reload replaces them).
            gc.freeze()
        return index, position

    def _parse(self, text: str, who: SubscriberKey | None) -> Topic | None:
        """Parse a stored topic once per process; a topic that no longer parses is logged and skipped."""
        if text in self._parsed:
            return self._parsed[text]
        try:
            # Stored before a lower limit was configured: still honoured.
            topic: Topic | None = parse_topic(text, max_length=max(self._max_length, len(text)))
        except CommandError as exc:
            where = f" (of {who[0]}:{who[2]})" if who else ""
            log.warning("ignoring stored topic %r%s: %s", text, where, exc)
            topic = None
        self._parsed[text] = topic
        return topic


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause automatic cycle collection while a load allocates: each full pass would stall the loop."""
    with _pause_lock:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if was_enabled:
                gc.enable()
