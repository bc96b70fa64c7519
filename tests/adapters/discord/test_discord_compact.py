"""The compact layout on Discord, through discord.py and the fake Discord: one list, cards in its thread, SIGKILLs."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.adapters.discord.test_discord_post_e2e import ROOT, SAMPLE
from tests.fakes.discord_server import CREATE_MESSAGE, FakeDiscord


def write_config(fake: FakeDiscord, workdir: Path, channel: int, *, top: int = 6) -> None:
    (workdir / "cfg.yaml").write_text(
        f"database: {workdir / 'db.sqlite3'}\n"
        "discord:\n"
        "  enabled: true\n"
        "  token: ${DISCORD_TOKEN}\n"
        f"  api_base_url: {fake.base_url}\n"
        "delivery: {concurrency: 1}\n"
        f"channels:\n  - {{platform: discord, id: '{channel}', workspace: '{fake.guild_id}', layout: compact,"
        f" top: {top}}}\n",
        encoding="utf-8",
    )


async def cli(workdir: Path, fake: FakeDiscord, *args: str, crash: dict[str, str] | None = None) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": fake.token, **(crash or {})}
    env.pop("DIGESTBOT_CONFIG", None)
    runner = "tests.crash_runner" if crash else "digestbot"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", runner, "--config", str(workdir / "cfg.yaml"), *args,
        cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode if proc.returncode is not None else 0, out.decode()


def layout(fake: FakeDiscord, channel: int) -> tuple[list[dict], list[dict]]:
    heads = fake.messages(channel)
    assert len(heads) == 1, [m.get("content") for m in heads]
    return heads, fake.messages(int(heads[0]["id"]))


async def test_compact_posts_one_list_and_each_card_in_its_thread_once(fake: FakeDiscord, tmp_path: Path) -> None:
    channel = fake.add_channel(name="papers")
    write_config(fake, tmp_path, channel)
    assert (await cli(tmp_path, fake, "ingest", str(SAMPLE)))[0] == 0
    code, out = await cli(tmp_path, fake, "post", "--date", "2024-10-11")
    assert code == 0, out
    assert out.splitlines()[-1] == "posted 7, already posted 0, failed 0"
    [head], replies = layout(fake, channel)
    lines = head["embeds"][0]["description"].split("\n")
    assert [line.split(".**")[0] for line in lines] == [f"**{i}" for i in range(1, 7)]  # vote order
    assert [r["embeds"][0]["title"].split(".")[0] for r in replies] == [str(i) for i in range(1, 7)]
    creates = len(fake.calls_to(CREATE_MESSAGE))
    code, out = await cli(tmp_path, fake, "post", "--date", "2024-10-11")
    assert code == 0 and out.splitlines()[-1] == "posted 0, already posted 7, failed 0", out
    assert len(fake.calls_to(CREATE_MESSAGE)) == creates


async def test_compact_survives_sigkills_around_the_parent_and_the_replies(fake: FakeDiscord, tmp_path: Path) -> None:
    for n, when in ((1, "before"), (1, "after"), (2, "after"), (4, "before")):
        work = tmp_path / f"{when}{n}"
        work.mkdir()
        channel = fake.add_channel(name=f"papers-{when}{n}")
        write_config(fake, work, channel, top=4)
        assert (await cli(work, fake, "ingest", str(SAMPLE)))[0] == 0
        crash = {"CRASH_PLATFORM": "discord", "CRASH_AFTER_SENDS": str(n), "CRASH_WHEN": when}
        code, out = await cli(work, fake, "post", "--date", "2024-10-11", crash=crash)
        assert code == -signal.SIGKILL, out
        code, out = await cli(work, fake, "post", "--date", "2024-10-11")
        assert code == 0, out
        [head], replies = layout(fake, channel)
        assert len(head["embeds"][0]["description"].split("\n")) == 4
        assert [r["embeds"][0]["title"].split(".")[0] for r in replies] == ["1", "2", "3", "4"], (when, n)
