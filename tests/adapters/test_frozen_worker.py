"""A ``digestbot post`` frozen with SIGSTOP past its lease never leaves a second copy (#15).

Real processes, the real slack_sdk and discord.py clients, the fake platforms, both store
backends. Run A's first part is held by the platform (a slow network) and A is frozen with
SIGSTOP, so none of its renewals run. Past A's lease, run B starts: it takes A's claim over,
asks the platform (nothing yet), and posts every part itself. Then the held request lands (on
Discord after ``enforce_nonce``'s window, which the fake shortens to 0.5 s) and A wakes: its
``mark_sent`` finds the row B's, so A deletes its own copy (``chat.delete`` / DELETE message)
and never B's. Both runs read a clock four years behind the claims' timestamps
(:mod:`tests.fast_clock_runner`): the lease is judged on the store's clock all the same.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from digestbot.sources.files import load_file
from digestbot.store import open_store
from tests.conftest import ROOT, SEED
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import FakeSlack

LEASE = 2.0  # seconds
DAY = "2024-10-11"


class Platform:
    """One fake platform, as this test drives it: config, the hold, the messages by outbox key."""

    def __init__(self, name: str, fake: FakeSlack | FakeDiscord) -> None:
        self.name = name
        self.fake = fake
        self.channel = FakeSlack.GENERAL if isinstance(fake, FakeSlack) else str(fake.add_channel(name="papers"))

    def config(self) -> dict[str, Any]:
        if isinstance(self.fake, FakeSlack):
            return {"slack": {"enabled": True, "bot_token": self.fake.token, "api_base_url": self.fake.base_url},
                    "channels": [{"platform": "slack", "id": self.channel, "workspace": "T0FAKE", "top": 10}]}  # fmt: skip
        return {"discord": {"enabled": True, "token": self.fake.token, "api_base_url": self.fake.base_url},
                "channels": [{"platform": "discord", "id": self.channel, "workspace": str(self.fake.guild_id)}]}  # fmt: skip

    def hold_next(self) -> asyncio.Event:
        if isinstance(self.fake, FakeSlack):
            self.fake.stall_next("chat.postMessage", math.inf)
            return self.fake.stalled
        self.fake.hold_next_message()
        return self.fake.held

    def release(self) -> None:
        if isinstance(self.fake, FakeSlack):
            self.fake.release_stalled()
        else:
            self.fake.release_held()

    def keys(self) -> list[str]:
        if isinstance(self.fake, FakeSlack):
            return [m["metadata"]["event_payload"]["key"] for m in self.fake.messages(self.channel)]
        return [m["nonce"] for m in self.fake.messages(int(self.channel))]  # the outbox key's nonce

    def deleted(self) -> int:
        return len(self.fake.deleted)


@pytest.fixture(params=["slack", "discord"])
async def platform(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    if request.param == "slack":
        async with FakeSlack() as slack:
            slack.set_post_rate(None)
            yield Platform("slack", slack)
    else:
        async with FakeDiscord(nonce_window=0.5) as discord:  # the real window is "a few minutes"
            yield Platform("discord", discord)


async def start(config: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OUTBOX_LEASE": str(LEASE),
           "FAKE_NOW": "2022-10-12T09:00:00+00:00", "FAKE_SPEED": "1"}  # fmt: skip
    env.pop("DIGESTBOT_CONFIG", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fast_clock_runner", "--config", str(config), "-v", "post", "--date", DAY,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return (proc.returncode if proc.returncode is not None else 0), out.decode()


async def test_a_worker_frozen_past_its_lease_leaves_exactly_one_copy_of_each_part(
    platform: Platform, store_target: str | Path, tmp_path: Path
) -> None:
    loaded = load_file(SEED)
    store = await open_store(store_target)
    try:
        await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
    finally:
        await store.close()
    config = tmp_path / "config.yaml"
    body = {"database": str(store_target), "sources": {"huggingface": {"enabled": False}}, **platform.config()}
    config.write_text(yaml.safe_dump(body), encoding="utf-8")

    held = platform.hold_next()
    first = await start(config)
    try:
        await asyncio.wait_for(held.wait(), 60)  # A's first part is on its way, held by the platform
        first.send_signal(signal.SIGSTOP)  # frozen: no renewal runs from here
        await asyncio.sleep(1.5 * LEASE)
        code, second_out = await finish(await start(config))
        assert code == 0, second_out  # B took A's claim over (A is alive, its lock held) and posted all
        posted = platform.keys()
        assert posted and len(set(posted)) == len(posted), posted
        await asyncio.sleep(1.0)  # past the fake's nonce window: Discord would not catch the repeat either
        platform.release()  # A's request lands now: a second copy of part 1, for a moment
        first.send_signal(signal.SIGCONT)
        code, first_out = await finish(first)
    finally:
        if first.returncode is None:
            first.send_signal(signal.SIGCONT)
            first.kill()
            await first.wait()
    assert code in (0, 75), first_out  # 75: later parts were B's, "being sent by another process"
    # "deleted ours" as a rule; "deleted the stray copy" if A's client timed out first (a loaded machine).
    assert "deleted ours" in first_out or "deleted the stray copy" in first_out, first_out
    assert platform.deleted() == 1
    keys = platform.keys()
    assert {k: n for k, n in Counter(keys).items() if n > 1} == {}, keys  # no part twice
    assert sorted(keys) == sorted(posted)  # B's messages, all of them, and nothing else
    assert "Traceback" not in first_out + second_out
