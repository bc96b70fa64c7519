"""The compact layout on Slack, through slack_sdk and the fake Slack: one list, cards as thread replies, SIGKILLs."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import yaml

from digestbot.sources.files import load_file
from digestbot.store import Store
from tests.conftest import ROOT, SEED
from tests.fakes.slack_server import FakeSlack


async def setup(fake: FakeSlack, workdir: Path, channel: str, top: int) -> Path:
    fake.add_channel(channel, name=channel.lower())
    db = workdir / "bot.sqlite3"
    async with await Store.open(db) as store:
        loaded = load_file(SEED)
        await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
    config = {
        "database": str(db),
        "sources": {"huggingface": {"enabled": False}},
        "slack": {"enabled": True, "bot_token": "${SLACK_BOT_TOKEN}", "api_base_url": fake.base_url},
        "delivery": {"concurrency": 1},
        "channels": [{"platform": "slack", "id": channel, "workspace": "T0FAKE", "top": top, "layout": "compact"}],
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def post(fake: FakeSlack, config: Path, crash: dict[str, str] | None = None) -> tuple[int, str]:
    env = {**os.environ, "SLACK_BOT_TOKEN": fake.token, "PYTHONPATH": str(ROOT), **(crash or {})}
    env.pop("DIGESTBOT_CONFIG", None)
    runner = "tests.crash_runner" if crash else "digestbot"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", runner, "--config", str(config), "post", "--date", "2024-10-11",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode if proc.returncode is not None else 0, out.decode()


def split(fake: FakeSlack, channel: str) -> tuple[dict, list[dict]]:
    messages = fake.messages(channel)
    parents = [m for m in messages if m["thread_ts"] is None]
    assert len(parents) == 1, [m["text"][:60] for m in parents]
    replies = [m for m in messages if m["thread_ts"] is not None]
    assert {m["thread_ts"] for m in replies} <= {parents[0]["ts"]}
    return parents[0], replies


async def test_a_compact_channel_gets_one_list_in_vote_order_and_every_card_in_its_thread(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.set_post_rate(None)
    config = await setup(fake_slack, tmp_path, "C0COMPACT", top=25)
    code, out = await post(fake_slack, config)
    assert code == 0, out
    assert out.splitlines()[-1] == "posted 26, already posted 0, failed 0"
    parent, replies = split(fake_slack, "C0COMPACT")
    votes = {p.arxiv_url: p.votes or 0 for p in load_file(SEED).papers}
    sections = [b["text"]["text"] for b in parent["blocks"] if b["type"] == "section"]
    urls = [s.split("* <", 1)[1].split("|", 1)[0] for s in sections]
    assert sorted(urls) == sorted(votes)  # all 25 papers, each once
    shown = [votes[u] for u in urls]
    assert shown == sorted(shown, reverse=True)  # in vote order
    assert all(f"▲ {v} vote" in s for s, v in zip(sections, shown, strict=True))
    assert len(replies) == 25
    assert [r["metadata"]["event_payload"]["key"] for r in replies] == [
        f"digest:2024-10-11:part{i}/26" for i in range(2, 27)
    ]
    code, out = await post(fake_slack, config)
    assert code == 0 and out.splitlines()[-1] == "posted 0, already posted 26, failed 0", out
    assert len(fake_slack.messages("C0COMPACT")) == 26


async def test_compact_survives_sigkills_without_duplicates(fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.set_post_rate(None)
    for n, when in ((1, "before"), (1, "after"), (3, "after"), (2, "before")):
        work = tmp_path / f"{when}{n}"
        work.mkdir()
        channel = f"C0{when.upper()}{n}"
        config = await setup(fake_slack, work, channel, top=4)
        crash = {"CRASH_PLATFORM": "slack", "CRASH_AFTER_SENDS": str(n), "CRASH_WHEN": when}
        code, out = await post(fake_slack, config, crash)
        assert code == -signal.SIGKILL, out
        code, out = await post(fake_slack, config)
        assert code == 0, out
        parent, replies = split(fake_slack, channel)
        assert len([b for b in parent["blocks"] if b["type"] == "section"]) == 4
        assert [r["metadata"]["event_payload"]["key"] for r in replies] == [
            f"digest:2024-10-11:part{i}/5" for i in range(2, 6)
        ], (when, n)
