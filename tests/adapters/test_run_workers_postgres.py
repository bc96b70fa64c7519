"""Two ``digestbot run`` processes on one PostgreSQL database, SIGKILLed at random: every message once (#15).

Real ``run`` subprocesses (scheduler, Discord gateway, Slack Socket Mode) share one database
and post, through discord.py and slack_sdk, to the fake Discord and the fake Slack. Their clock
is fast-forwarded (:mod:`tests.fast_clock_runner`, 12× from 08:59 UTC on Saturday 2024-10-12),
and the channels are due one minute apart from 09:00, so eight slots fall due while they run.
Both processes compute the same due slots; the outbox decides which one posts each.

The first incarnations of both runs die at their first send (one just after its claim, one
once the message is on the platform but before the outbox knows). From then on the test
SIGKILLs a run that is up, a random 0.5–3 s later, three times, starting it again each time;
about a third of the incarnations also kill themselves around a random send. Three ``digestbot post``
processes (some crashing the same way) race the runs for the last slot's two channels. Sends are
slowed down so that kills land mid-post. Then both runs go on until the store shows every row sent; the test
checks, through the store, that no row is left claimed or pending (each crashed claim was taken
over, looked up on the platform, marked sent or re-sent) and, on each platform, that every
channel has its list once and each card once, in the list's thread.

Last, slash commands: with either run SIGKILLed, the other answers ``/paper`` over its own
Socket Mode connection (the fake hands a command to the newest open connection).

The kill schedule comes from a seeded generator; the seed is printed on failure
(``RUN_WORKERS_SEED=n`` replays another one).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from digestbot.sources.files import load_file
from digestbot.store import open_store
from tests.adapters.discord.test_discord_compact import layout
from tests.adapters.slack.test_slack_compact import split
from tests.conftest import SEED
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import FakeSlack
from tests.run_process import cli_env, platform_blocks

CHANNELS = 4  # per platform
TOP = 3  # compact: a list and TOP cards in its thread
MESSAGES = 2 * CHANNELS * (TOP + 1)
FAKE_NOW = datetime(2024, 10, 12, 8, 59, tzinfo=UTC)  # Saturday: Friday 2024-10-11's list is due
SPEED = 12.0  # one fake minute every 5 s
KILLS = 3  # SIGKILLs sent by the test, each 0.5–3 s after a run that is up: the slots fall due 5–20 s in
SETTLE = 60.0  # seconds the survivors get afterwards to leave every row sent
APP_TOKEN = "xapp-run-workers"


class Run:
    """One ``run`` process slot: started, killed and restarted; each incarnation logs to its own file."""

    def __init__(self, name: str, config: Path, env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.config = config
        self.env = env
        self.logs = logs
        self.proc: asyncio.subprocess.Process | None = None
        self.incarnations = 0

    async def start(self, crash: dict[str, str] | None = None) -> None:
        self.incarnations += 1
        self.log = self.logs / f"{self.name}-{self.incarnations}.log"
        log = self.log.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fast_clock_runner", "--config", str(self.config), "-v", "run",
            cwd=self.config.parent, env={**self.env, **(crash or {})}, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()

    async def ready(self, within: float = 60.0) -> None:
        """Wait until this incarnation runs (its scheduler started), or died trying."""
        loop = asyncio.get_running_loop()
        until = loop.time() + within
        while self.alive and "running on discord, slack" not in self.log.read_text(errors="replace"):
            if loop.time() > until:
                raise AssertionError(f"{self.log.name} did not start:\n{self.log.read_text(errors='replace')}")
            await asyncio.sleep(0.1)

    @property
    def is_up(self) -> bool:
        """Tell whether this incarnation is alive and running (its scheduler started)."""
        return self.alive and "running on discord, slack" in self.log.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    async def stop(self) -> int:
        """SIGTERM and wait (a run stops cleanly at SIGTERM: exit 0)."""
        assert self.proc is not None
        await self.ready()  # before its signal handlers are set, SIGTERM would just end it
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


async def post(env: dict[str, str], workdir: Path, log: Path, args: list[str], crash: dict[str, str]) -> int:
    """Run one ``digestbot post`` of Friday's list (through :mod:`tests.crash_runner`); return its exit status."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.crash_runner", "--config", str(workdir / "cfg.yaml"), "-v", "post",
            "--date", "2024-10-11", *args, cwd=workdir, env={**env, **crash}, stdout=out, stderr=out,
        )  # fmt: skip
    return await asyncio.wait_for(proc.wait(), 120)


async def wait_for_connections(slack: FakeSlack, count: int) -> None:
    """Wait until exactly ``count`` Socket Mode connections are open (a killed run's closes)."""
    async with asyncio.timeout(60):
        while slack.socket.open_connections != count:  # noqa: ASYNC110  (polling the fake)
            await asyncio.sleep(0.1)


async def paper_answered(slack: FakeSlack) -> int:
    """Send ``/paper`` over Socket Mode and return 1 once its card reached the response_url."""
    ack = await slack.socket_command("/paper", "prefix quant")
    async with asyncio.timeout(30):
        while not (got := [r for r in slack.responses if r["name"] == ack.response_name]):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert got[0]["ok"], got
    return 1


def write_config(workdir: Path, url: str, discord: FakeDiscord, slack: FakeSlack) -> tuple[list[int], list[str]]:
    discord_ids = [discord.add_channel(name=f"papers-{i}") for i in range(CHANNELS)]
    slack_ids = [f"C0RUN{i}" for i in range(CHANNELS)]
    for channel in slack_ids:
        slack.add_channel(channel)
    slack.add_user("U0ALICE", name="alice")
    common = {"timezone": "UTC", "layout": "compact", "top": TOP}
    channels: list[dict[str, Any]] = []
    for i in range(CHANNELS):  # one Discord and one Slack channel due each minute from 09:00
        due = f"09:{i:02d}"
        channels.append({"platform": "discord", "id": str(discord_ids[i]), "workspace": str(discord.guild_id),
                         "time": due, **common})  # fmt: skip
        channels.append({"platform": "slack", "id": slack_ids[i], "workspace": slack.team_id, "time": due, **common})
    config = {
        "database": url,
        "sources": {"huggingface": {"enabled": False}},
        **platform_blocks(discord, slack),
        "delivery": {"concurrency": 2, "empty_retry_minutes": 1},
        "channels": channels,
    }
    (workdir / "cfg.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return discord_ids, slack_ids


async def seed_store(url: str, channels: list[tuple[str, str]]) -> None:
    """Ingest Friday's list and say the channels were last handled at 08:58 (so a late start catches up)."""
    loaded = load_file(SEED)
    async with await open_store(url) as store:
        await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
        seen = FAKE_NOW.replace(minute=58, hour=8)
        await store.set_schedule_last_seen((platform, cid, seen) for platform, cid in channels)


async def outbox_state(url: str) -> tuple[dict[str, int], int]:
    """Return the outbox's row counts by state and how many rows were claimed more than once, via the store."""
    async with await open_store(url) as store:
        rows = store.outbox_storage()
        try:
            counts = await rows.counts()
            unsent = await rows.unsent()
        finally:
            await rows.close()
    return counts, len(unsent)


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[FakeDiscord, FakeSlack]]:
    async with FakeDiscord() as discord, FakeSlack(app_token=APP_TOKEN) as slack:
        yield discord, slack


def tails(logs: Path, lines: int = 25) -> str:
    out = []
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace").splitlines()
        out.append(f"--- {path.name} ---\n" + "\n".join(text[-lines:]))
    return "\n".join(out)


async def test_two_run_processes_killed_at_random_post_every_slot_exactly_once_on_both_platforms(
    platforms: tuple[FakeDiscord, FakeSlack], tmp_path: Path, pg_url: str
) -> None:
    discord, slack = platforms
    seed = int(os.environ.get("RUN_WORKERS_SEED", "15"))
    rng = random.Random(seed)
    discord_ids, slack_ids = write_config(tmp_path, pg_url, discord, slack)
    await seed_store(pg_url, [("discord", str(c)) for c in discord_ids] + [("slack", c) for c in slack_ids])
    logs = tmp_path / "logs"
    logs.mkdir()
    epoch = time.time() + 4  # both runs are up by then, under load too
    env = cli_env(
        DISCORD_TOKEN=discord.token, SLACK_BOT_TOKEN=slack.token, SLACK_APP_TOKEN=APP_TOKEN,
        FAKE_NOW=FAKE_NOW.isoformat(), FAKE_EPOCH=str(epoch), FAKE_SPEED=str(SPEED), SEND_DELAY="0.3",
        CRASH_PLATFORM="discord,slack",
    )  # fmt: skip
    runs = [Run(name, tmp_path / "cfg.yaml", env, logs) for name in ("a", "b")]
    killed = self_killed = 0

    def crash() -> dict[str, str]:
        if rng.random() < 0.35:
            return {"CRASH_AFTER_SENDS": str(rng.randint(1, 6)), "CRASH_WHEN": rng.choice(["before", "after"])}
        return {}

    try:
        # The first incarnations die at their first send, one just before and one just after the
        # message reaches the platform: whichever sends first leaves a claim to recover.
        for run, when in zip(runs, ("after", "before"), strict=True):
            await run.start({"CRASH_AFTER_SENDS": "1", "CRASH_WHEN": when})
        # Three `post` processes race the runs for the last slot's channels (due 20 s in).
        last = ["--channel", f"discord:{discord_ids[-1]}", "--channel", f"slack:{slack_ids[-1]}"]
        start_at = {"START_AT": str(epoch + 4 * 60 / SPEED)}
        posts = [asyncio.create_task(post(env, tmp_path, logs / f"post-{i}.log", last, {**start_at, **crash()}))
                 for i in range(3)]  # fmt: skip
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with asyncio.timeout(90):  # the random kills start once a first send crashed its run
            while all(run.alive for run in runs):  # noqa: ASYNC110  (polling processes)
                await asyncio.sleep(0.1)
        while killed < KILLS:
            for run in runs:
                if not run.alive:  # it killed itself around a send
                    self_killed += 1
                    await run.start(crash())
            while not (up := [run for run in runs if run.is_up]):  # one may restart while the other is shot
                if not any(run.alive for run in runs):
                    break
                await asyncio.sleep(0.1)
            if not up:
                continue  # both died on their own: restart them first
            victim = rng.choice(up)
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            if victim.alive:
                await victim.kill()
                killed += 1
                await asyncio.sleep(rng.uniform(0.1, 1.0))
                await victim.start(crash())
        post_codes = await asyncio.gather(*posts)
        assert all(code in (0, 75, -signal.SIGKILL) for code in post_codes), f"seed={seed}: {post_codes}\n{tails(logs)}"
        for run in runs:  # from here on they run undisturbed
            if not run.alive:
                self_killed += 1
                await run.start()
        settle_from = loop.time()
        deadline = settle_from + SETTLE
        while True:
            counts, unsent = await outbox_state(pg_url)
            if counts.get("sent", 0) == MESSAGES and unsent == 0:
                break
            if loop.time() > deadline:
                raise AssertionError(f"seed={seed}: not every row was sent: {counts}\n{tails(logs)}")
            for run in runs:
                if not run.alive:  # a self-crash decided before the kills stopped
                    self_killed += 1
                    await run.start()
            await asyncio.sleep(1.0)
        settled = loop.time() - settle_from
        phases = f"kills {settle_from - began:.0f} s, settling {settled:.0f} s"
        # Slash commands: with either run shot, the other one answers /paper over its own connection.
        answered = 0
        for turn, shot in enumerate((runs[1], runs[0])):
            for run in runs:
                await run.ready()
            await wait_for_connections(slack, 2)
            await shot.kill()
            await wait_for_connections(slack, 1)
            answered += await paper_answered(slack)
            if turn == 0:
                await shot.start()
        codes = [await runs[1].stop()]  # the last one standing stops cleanly at SIGTERM
        phases += f", slash commands and stop {loop.time() - settle_from - settled:.0f} s"
    finally:
        for run in runs:
            if run.alive:
                await run.kill()
    assert codes == [0], f"seed={seed}\n{tails(logs)}"
    counts, unsent = await outbox_state(pg_url)
    assert counts == {"sent": MESSAGES} and unsent == 0, f"seed={seed}: {counts}"  # every claim recovered
    for channel in discord_ids:
        [head], replies = layout(discord, channel)
        assert len(head["embeds"][0]["description"].split("\n")) == TOP, f"seed={seed}"
        assert [r["embeds"][0]["title"].split(".")[0] for r in replies] == ["1", "2", "3"], f"seed={seed}"
    for channel in slack_ids:
        _, replies = split(slack, channel)
        keys = [r["metadata"]["event_payload"]["key"] for r in replies]
        assert keys == [f"digest:2024-10-11:part{i}/{TOP + 1}" for i in range(2, TOP + 2)], f"seed={seed}: {keys}"
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert "Traceback" not in text, f"seed={seed}\n{tails(logs)}"
    recovered = text.count("crash recovery:")
    skipped = text.count("is being sent by another run")
    print(
        f"seed={seed} posts={post_codes} kills={killed} slash-answered={answered} self-kills={self_killed} recovered={recovered} skipped-as-busy={skipped} ({phases})"
    )
    assert self_killed >= 1 and recovered >= 1, (self_killed, recovered)  # a first send always crashes
    assert answered == 2
