"""The coalescer: one call per batch of requests, each request answered in order; failures don't spam."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence

import pytest

from digestbot.coalesce import Coalescer


async def test_requests_made_together_run_as_one_batch_and_get_their_own_answers() -> None:
    batches: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [i * 10 for i in items]

    ask = Coalescer(run, name="test")
    assert await asyncio.gather(*(ask(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]


async def test_a_failed_batch_fails_its_waiters_and_requests_asked_ahead_log_nothing(caplog) -> None:
    async def run(items: Sequence[int]) -> list[int]:
        raise RuntimeError("Cannot operate on a closed database.")

    coalescer = Coalescer(run, name="test")
    waited = coalescer.ask(1)
    coalescer.ask(2)  # asked ahead for a DM that is never sent (the fan-out stopped)
    with pytest.raises(RuntimeError, match="closed database"):
        await waited
    await coalescer.close()
    del waited
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


async def test_cancel_stops_the_batch_in_flight_and_drops_what_is_queued() -> None:
    started = asyncio.Event()

    async def run(items: Sequence[int]) -> list[int]:
        started.set()
        await asyncio.Event().wait()  # a read that never answers
        return list(items)

    coalescer = Coalescer(run, name="test")
    in_flight = coalescer.ask(1)
    await started.wait()
    queued = coalescer.ask(2)
    await coalescer.cancel()
    assert in_flight.cancelled() and queued.cancelled()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "test"]
