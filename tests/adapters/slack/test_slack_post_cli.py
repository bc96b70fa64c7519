"""End to end: ``digestbot post`` as a subprocess, the real slack_sdk client, the fake Slack as the platform."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import yaml

from digestbot.sources.files import load_file
from digestbot.store import Store
from tests.conftest import ROOT, SEED
from tests.fakes.slack_server import FakeSlack

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("digestbot.matching") is None,
    reason="needs engine: DeliveryEngine imports digestbot.matching, not on the engine branch yet",
)

SUBSCRIBERS = {"U0ANNA": "diffusion", "U0BORIS": '"large language"', "U0CHEN": "agents"}


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "digestbot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_post_twice_posts_once(fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.add_channel("C0PAPERS", name="papers")
    for user in SUBSCRIBERS:
        fake_slack.add_user(user)
    db = tmp_path / "bot.sqlite3"
    async with await Store.open(db) as store:
        loaded = load_file(SEED)
        await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
        for user, topic in SUBSCRIBERS.items():
            await store.add_subscription(platform="slack", workspace="T0FAKE", user=user, topic=topic, max_topics=20)
    config = {
        "database": str(db),
        "sources": {"huggingface": {"enabled": False}},
        "slack": {"enabled": True, "bot_token": "${SLACK_BOT_TOKEN}", "api_base_url": fake_slack.base_url},
        "channels": [
            {"platform": "slack", "id": FakeSlack.GENERAL, "workspace": "T0FAKE", "top": 10},
            {"platform": "slack", "id": "C0PAPERS", "workspace": "T0FAKE", "top": 25},
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": fake_slack.token, "PYTHONPATH": str(ROOT)}

    code, out, err = await run_cli("--config", str(path), "post", "--date", "2024-10-11", env=env)
    assert code == 0, out + err
    general = fake_slack.messages(FakeSlack.GENERAL)
    papers = fake_slack.messages("C0PAPERS")
    assert len(general) == 2 and len(papers) == 4  # top 10 in two parts, all 25 in four
    for messages in (general, papers):
        assert messages[0]["thread_ts"] is None
        assert {m["thread_ts"] for m in messages[1:]} == {messages[0]["ts"]}
        assert [m["metadata"]["event_payload"]["part"] for m in messages] == list(range(1, len(messages) + 1))
    dms = {user: fake_slack.messages(fake_slack.dm_channel(user) or "-") for user in SUBSCRIBERS}
    assert all(dms.values()), dms
    total = len(fake_slack.all_messages())
    assert fake_slack.token not in out + err

    code, out, err = await run_cli("--config", str(path), "post", "--date", "2024-10-11", env=env)
    assert code == 0, out + err
    assert "posted 0" in out
    assert len(fake_slack.all_messages()) == total
