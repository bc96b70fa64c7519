"""Three ``digestbot post`` processes on one PostgreSQL database, killed at random: every message once (#15).

Real CLI subprocesses post through discord.py to the fake Discord. In each round three run at
once, started at the same moment, over a slow network; in the first three rounds each SIGKILLs
itself around a random send (after its claim, or after the message is on Discord but before the
outbox knows), as a crash would. A process claims in batches, so with 8 channels one of the three
may take most of a round's messages and the others none (nothing to crash on): at least one kill
per crash round. Re-runs go on until a round ends cleanly; then every channel
has each part of its digest exactly once, in its thread, and no row is left claimed or pending:
every crashed claim was recovered (taken over by exactly one run, looked up on Discord, marked
sent or re-sent).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path

import psycopg

from tests.adapters.discord.test_discord_compact import cli, layout
from tests.adapters.discord.test_discord_post_e2e import SAMPLE
from tests.fakes.discord_server import FakeDiscord

CHANNELS = 8
TOP = 3  # compact: a list and TOP cards in its thread, TOP + 1 messages per channel
ROUNDS = 8
CRASH_ROUNDS = 3


def write_config(fake: FakeDiscord, workdir: Path, url: str, channels: list[int]) -> None:
    listed = "".join(
        f"  - {{platform: discord, id: '{c}', workspace: '{fake.guild_id}', layout: compact, top: {TOP}}}\n"
        for c in channels
    )
    (workdir / "cfg.yaml").write_text(
        f"database: {url}\ndiscord:\n  enabled: true\n  token: ${{DISCORD_TOKEN}}\n"
        f"  api_base_url: {fake.base_url}\ndelivery: {{concurrency: 2}}\nchannels:\n{listed}",
        encoding="utf-8",
    )


async def test_three_posting_processes_killed_at_random_post_every_message_exactly_once(
    fake: FakeDiscord, tmp_path: Path, pg_url: str
) -> None:
    channels = [fake.add_channel(name=f"papers-{i}") for i in range(CHANNELS)]
    write_config(fake, tmp_path, pg_url, channels)
    assert (await cli(tmp_path, fake, "ingest", str(SAMPLE)))[0] == 0
    rng = random.Random(15)
    kills = 0
    for round_no in range(ROUNDS):
        start = {"START_AT": str(time.time() + 3), "SEND_DELAY": "0.05", "CRASH_PLATFORM": "discord"}
        crashes: list[dict[str, str]] = [
            {**start, "CRASH_AFTER_SENDS": str(rng.randint(1, 4)), "CRASH_WHEN": rng.choice(["before", "after"])}
            if round_no < CRASH_ROUNDS
            else start
            for _ in range(3)
        ]
        results = await asyncio.gather(
            *(cli(tmp_path, fake, "post", "--date", "2024-10-11", crash=crash) for crash in crashes)
        )
        kills += sum(code == -signal.SIGKILL for code, _ in results)
        for (code, out), crash in zip(results, crashes, strict=True):
            assert code in (0, 75, -signal.SIGKILL), out
            assert "CRASH_AFTER_SENDS" in crash or code != -signal.SIGKILL, out
        if round_no >= CRASH_ROUNDS and all(code == 0 for code, _ in results):
            break
    code, out = await cli(tmp_path, fake, "post", "--date", "2024-10-11")
    messages = CHANNELS * (TOP + 1)
    assert code == 0 and out.splitlines()[-1] == f"posted 0, already posted {messages}, failed 0", out
    for channel in channels:
        [head], replies = layout(fake, channel)
        assert len(head["embeds"][0]["description"].split("\n")) == TOP
        assert [r["embeds"][0]["title"].split(".")[0] for r in replies] == [str(i) for i in range(1, TOP + 1)]
    with psycopg.connect(pg_url) as conn:
        states = conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
        retried = conn.execute("SELECT count(*) FROM deliveries WHERE attempts > 1").fetchone()
    assert states == [("sent", messages)]  # nothing left claimed: every crashed claim was recovered
    assert kills >= 3, kills
    print(f"kills={kills} rows claimed more than once={retried[0] if retried else 0}")
