"""/paper through the real bolt app shows the summary in the language of the channel it was asked in."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

from adapters.slack_poster import SlackAdapter
from adapters.slack_server import build_app
from digestbot.config import ChannelConfig, SummariesConfig
from digestbot.sources.huggingface import load_daily_papers_json
from digestbot.store import Store
from digestbot.store.summaries import SummaryStore
from digestbot.summaries.view import summary_key
from tests.adapters.slack.conftest import SlackBot, slack_config
from tests.fakes.slack_server import FakeSlack
from tests.fakes.sources_server import fixture_text

KOREAN_ROOM = "C0KOREAN"


def parts(tag: str) -> tuple[tuple[str, str], ...]:
    return tuple((h, f"{tag} {h} text.") for h in ("What's New", "Technical Details", "Performance Highlights"))


async def test_paper_answer_uses_the_asking_channels_language(
    fake_slack: FakeSlack, store: Store, slack_adapter: SlackAdapter
) -> None:
    papers = load_daily_papers_json(
        fixture_text("hf/daily_papers_2024-10-11.json"), origin="f", digest_date=date(2024, 10, 11)
    )
    await store.upsert_papers(papers)
    config = dataclasses.replace(
        slack_config(fake_slack),
        summaries=SummariesConfig(enabled=True, language="ko"),
        channels=(
            ChannelConfig(platform="slack", id=FakeSlack.GENERAL, language="en"),
            ChannelConfig(platform="slack", id=KOREAN_ROOM),
        ),
    )
    cache = SummaryStore(store)
    await cache.save("2410.05265", summary_key(config, "en"), parts("ENGLISH"))
    await cache.save("2410.05265", summary_key(config, "ko"), parts("한국어"))
    fake_slack.add_user("U0ALICE", name="alice")
    bot = SlackBot(fake_slack, build_app(config, store, client=slack_adapter.reader))

    [english] = await bot.command("/paper", "2410.05265", channel=FakeSlack.GENERAL)
    [korean] = await bot.command("/paper", "2410.05265", channel=KOREAN_ROOM)
    [elsewhere] = await bot.command("/paper", "2410.05265", channel="C0ELSEWHERE")
    assert "ENGLISH What's New text." in json.dumps(english) and "한국어" not in json.dumps(english, ensure_ascii=False)
    assert "한국어 Technical Details text." in json.dumps(korean, ensure_ascii=False)
    assert "한국어 What's New text." in json.dumps(elsewhere, ensure_ascii=False)  # the default language
    [other] = await bot.command("/paper", "2410.08196", channel=FakeSlack.GENERAL)
    assert "Abstract" in json.dumps(other)  # no summary yet: the abstract, as before
