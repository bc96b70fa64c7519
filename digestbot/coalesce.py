"""Answer what many tasks ask in the same pass of the event loop with one call: one query, one commit.

Why it exists: a fan-out runs dozens of delivery tasks at once, and each of them claims its
row, records its result and looks up its subscriber's topics. Done one by one, every such
request is its own statement, its own hop to a database thread (or round trip to a server) and
its own wake-up of the loop; at thousands of messages a second those hops were most of the
fan-out's CPU, and ``/paper`` queued behind them. A :class:`Coalescer` queues the requests made
while a batch is in flight and hands them to one batch function, so the cost is paid per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

BATCH_LIMIT = 500
"""Requests per batch at most: a bound on one statement's size and on one batch's time."""


def _fail(future: asyncio.Future[R], exc: BaseException) -> None:
    """Fail one request, without "exception was never retrieved" if nobody awaits it.

    A fan-out asks ahead (typed topics for the next 256 DMs); when it stops early (shutdown, a
    closed store) those futures are never awaited, and asyncio would log one traceback per
    request: thousands. Whoever does await a future still gets its exception raised. (Marked
    here, not by a done-callback: that would cost every request one more trip through the loop.)
    """
    future.set_exception(exc)
    future.exception()


class Coalescer(Generic[T, R]):
    """Queue requests; run each batch through ``run(items) -> results`` (same order, same length).

    A request returns once its batch has run (for writes: committed). A batch that raises fails
    every request in it with that error; the next batch is tried afresh.
    """

    def __init__(self, run: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *, name: str) -> None:
        self._run = run
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    def __call__(self, item: T) -> asyncio.Future[R]:
        """Ask for ``item`` in the next batch; await the future returned for its result."""
        return self.ask(item)

    def ask(self, item: T) -> asyncio.Future[R]:
        """Queue ``item`` for the next batch now; its result comes in the future returned.

        For asking ahead: a future already answered when it is awaited costs the awaiting
        task no trip through the event loop.
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name=self._name)
        return future

    async def close(self) -> None:
        """Wait until every queued request has run."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def cancel(self) -> None:
        """Drop what is queued and stop the batch in flight: for reads asked ahead that nobody wants any more.

        A fan-out asks ahead; when it ends (done, stopped or cancelled) the answers it did not
        use must not keep a batch task alive past it (a query on a store about to close). The
        futures of dropped requests are cancelled. Never for writes: they must run (:meth:`close`).
        """
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, future in self._queue:
            future.cancel()
        self._queue = []

    async def _flush(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                await asyncio.sleep(0)  # let every task that is about to ask join this batch
                batch, self._queue = self._queue[:BATCH_LIMIT], self._queue[BATCH_LIMIT:]
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            _fail(future, exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                batch = []
        except BaseException:  # cancelled (the loop is stopping): nobody is left waiting forever
            for _, future in (*batch, *self._queue):
                future.cancel()
            self._queue = []
            raise
