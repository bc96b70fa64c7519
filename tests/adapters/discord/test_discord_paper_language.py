"""/paper through discord.py against the fake Discord shows the summary in the asking channel's language."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

from digestbot.config import ChannelConfig, SummariesConfig
from digestbot.sources.huggingface import load_daily_papers_json
from digestbot.store import Store
from digestbot.store.summaries import SummaryStore
from digestbot.summaries.view import summary_key
from tests.adapters.discord.conftest import make_config
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.sources_server import fixture_text

HEADINGS = ("What's New", "Technical Details", "Performance Highlights")


async def test_paper_card_in_the_channels_language(harness_factory: Any, fake: FakeDiscord, store: Store) -> None:
    papers = load_daily_papers_json(
        fixture_text("hf/daily_papers_2024-10-11.json"), origin="f", digest_date=date(2024, 10, 11)
    )
    await store.upsert_papers(papers)
    room = await harness_factory(make_config(fake), store)
    config = dataclasses.replace(
        room.client.config,
        summaries=SummariesConfig(enabled=True, language="en"),
        channels=(ChannelConfig(platform="discord", id=str(room.channel_id), language="ko"),),
    )
    room.client.config = config  # read per command: this channel reads Korean, the default is English
    cache = SummaryStore(store)
    await cache.save("2410.05265", summary_key(config, "ko"), tuple((h, f"한국어 {h}.") for h in HEADINGS))
    await cache.save("2410.05265", summary_key(config, "en"), tuple((h, f"ENGLISH {h}.") for h in HEADINGS))
    [reply] = await room.command("paper", [{"name": "query", "type": 3, "value": "2410.05265"}])
    text = json.dumps(reply.body, ensure_ascii=False)
    assert "한국어 What's New." in text and "ENGLISH" not in text
