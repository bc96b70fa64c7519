"""``digestbot demo``: a two-screen tour of what the bot does, on the bundled sample digest.

Everything it shows is done for real, through the same functions the chat commands use: the
sample is ingested, ``/paper`` is answered by the lookup, ``/subscribe`` stores subscriptions and
the DM lists what those stored topics match. It works in its own archive
(``digestbot-demo.sqlite3``) unless ``--db`` names one, so it never writes the sample into the
database a config names (a production one included), and always shows the sample's own day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path

from digestbot import commands
from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.formatter import format_digest, format_matches
from digestbot.labels import labels_for
from digestbot.lookup import answer_paper
from digestbot.sources.files import load_file
from digestbot.store import Store
from digestbot.topic_filter import matches_for

SAMPLE = "daily-papers-2024-10-11.md"
DEMO_DAY = date(2024, 10, 11)
DEMO_DB = "digestbot-demo.sqlite3"
DEMO_TOP = 5
DEMO_QUERY = "prefix quant"
DEMO_TOPICS = ("quantization", "diffusion -survey")
DEMO_USER = {"platform": "console", "workspace": "", "user": "demo"}

Render = Callable[[Message, bool], str]
"""Turn a message into terminal text; the flag asks for one line per paper."""


async def run_demo(
    db: Path, config: Config, *, out: Callable[[str], None], render: Render, prog: str = "digestbot"
) -> int:
    """Ingest the sample into ``db``, then show a digest, a lookup and a subscription, briefly.

    ``prog`` is how the hints name the command: as the demo was started (``.venv/bin/digestbot``
    after the README's install is not on PATH, so a bare ``digestbot`` would not run).
    """
    labels = labels_for(config.locale)
    with resources.as_file(resources.files("digestbot") / "data" / SAMPLE) as path:
        loaded = load_file(path)
    async with await Store.open(db) as store:
        await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
        digest = await store.digest(DEMO_DAY)
        assert digest is not None  # just stored
        total = len(digest.papers)
        out(
            f"digestbot demo: Hugging Face Daily Papers of {DEMO_DAY} ({labels_for('en').papers_count(total)},"
            f" Korean summaries),\nthe bundled sample, is now in {db}.\n"
        )
        out(f"── the daily digest, as a channel gets it at its post time (top {DEMO_TOP} of {total}) ──")
        out(render(format_digest(digest, labels, top=DEMO_TOP), True))
        out(f"   … and {total - DEMO_TOP} more: {prog} preview --db {db}\n")

        out(f"\n$ /paper {DEMO_QUERY}")
        out(render(await answer_paper(store, labels, DEMO_QUERY), False))

        # Start from no topics, so a second run shows the same replies as the first.
        for topic in await store.list_subscriptions(**DEMO_USER):
            await store.remove_subscription(**DEMO_USER, topic=topic)
        for topic in DEMO_TOPICS:
            out(f"\n$ /subscribe {topic}")
            out(await commands.subscribe(store, config, **DEMO_USER, raw_topic=topic))
        followed = await store.list_subscriptions(**DEMO_USER)
        hits = matches_for(digest.papers, followed, max_length=config.subscriptions.max_topic_length)
        out("\n── the direct message you then get after each day's digest ──")
        out(render(format_matches(digest.date, hits, labels), True))

    out(
        "\nNext:\n"
        f"  # the whole digest\n  {prog} preview --db {db}\n"
        f"  # as Discord and Slack show it\n  {prog} preview --db {db} --html preview.html\n"
        f"  # /paper: id, link or title\n  {prog} lookup --db {db} 2410.05265\n"
        "  then config.example.yaml and the README's Slack or Discord steps, to post it for real"
    )
    return 0
