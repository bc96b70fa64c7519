"""A live run whose send stalls past its lease, while another run looks at the claim (#15).

Two runs (two engines, each with its own PostgreSQL store and so its own owner token and run
lock) post the same digest to one Slack channel through slack_sdk and the fake Slack. The first
run's first ``chat.postMessage`` is held by Slack for three leases before it takes effect. The
second run starts meanwhile. Slack keeps no idempotency key (unlike Discord's ``enforce_nonce``),
so had the second run taken the claim over when the lease ran out, it would have found nothing
in the channel yet, posted the part itself, and the held request would have landed as a second
copy. The first run keeps its claim renewed while its send is in flight
(:meth:`digestbot.outbox.Outbox.keep_claimed`), so the second leaves the row alone: every part is
in the channel once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

from adapters.slack_poster import create_adapter
from digestbot.config import ChannelConfig
from digestbot.delivery import DeliveryEngine
from digestbot.sources.files import load_file
from digestbot.store import open_store
from tests.adapters.slack.conftest import slack_config
from tests.conftest import SEED
from tests.fakes.slack_server import FakeSlack

DAY = date(2024, 10, 11)
LEASE = timedelta(seconds=2)  # renewed every 0.67 s in flight


async def test_a_send_stalled_past_its_lease_is_not_taken_over_and_posted_twice(
    fake_slack: FakeSlack, pg_url: str
) -> None:
    fake_slack.set_post_rate(None)
    config = slack_config(fake_slack)
    config = replace(config, channels=(ChannelConfig(platform="slack", id=FakeSlack.GENERAL, workspace="T0FAKE"),))
    loaded = load_file(SEED)
    stores = [await open_store(pg_url), await open_store(pg_url)]
    adapters = [create_adapter(config), create_adapter(config)]
    engines = [DeliveryEngine(s, {"slack": a}, config) for s, a in zip(stores, adapters, strict=True)]
    try:
        await stores[0].upsert_papers(loaded.papers, digest_date=loaded.digest_date)
        for engine, adapter in zip(engines, adapters, strict=True):
            engine.outbox.lease = LEASE
            await adapter.start()
        fake_slack.stall_next("chat.postMessage", 3 * LEASE.total_seconds())
        first = asyncio.create_task(engines[0].post_digest(DAY, notify=False))
        await asyncio.wait_for(fake_slack.stalled.wait(), 30)  # the first part is on its way, and held
        await asyncio.sleep(1.5 * LEASE.total_seconds())  # past the lease of the claim taken before it
        second = await engines[1].post_digest(DAY, notify=False)
        summary = await first
    finally:
        for engine in engines:
            await engine.close()
        for adapter in adapters:
            await adapter.close()
        for store in stores:
            await store.close()
    keys = [m["metadata"]["event_payload"]["key"] for m in fake_slack.messages(FakeSlack.GENERAL)]
    assert {k: n for k, n in Counter(keys).items() if n > 1} == {}, keys  # no part twice
    parts = int(keys[0].rsplit("/", 1)[1])
    assert sorted(keys) == sorted(f"digest:{DAY}:part{i}/{parts}" for i in range(1, parts + 1))
    assert (summary.posted, second.posted) == (parts, 0), (summary, second)
