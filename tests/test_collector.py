"""Full cycle-collector passes are held off while a fan-out runs, and the thresholds come back after."""

from __future__ import annotations

import gc

from digestbot.collector import NO_FULL_PASSES, young_passes_only
from tests.delivery_fakes import FakeAdapter, day_papers
from tests.test_delivery import DAY, ch, config, engine_for


def test_young_passes_only_nests_and_restores() -> None:
    before = gc.get_threshold()
    with young_passes_only():
        assert gc.get_threshold() == (before[0], before[1], NO_FULL_PASSES)
        with young_passes_only():
            assert gc.get_threshold()[2] == NO_FULL_PASSES
        assert gc.get_threshold()[2] == NO_FULL_PASSES  # the outer fan-out still runs
    assert gc.get_threshold() == before


async def test_a_fan_out_sends_without_full_collections(store) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []

    class Recording(FakeAdapter):
        async def send(self, target, payload, *, key, thread=None):  # type: ignore[no-untyped-def]
            seen.append(gc.get_threshold()[2])
            return await super().send(target, payload, key=key, thread=thread)

    before = gc.get_threshold()
    await store.upsert_papers(day_papers(DAY, 5))
    await store.add_subscription(platform="discord", workspace="", user="u1", topic="diffusion", max_topics=5)
    engine = engine_for(store, config(ch("c1")), Recording("discord"))
    assert (await engine.post_digest(DAY)).posted == 2
    assert seen == [NO_FULL_PASSES] * 2
    assert gc.get_threshold() == before
