"""Starting up against a platform that is down, or that refuses the token: one line, or patient retries.

``post`` and ``discord sync`` against an unreachable API print one line and exit 1; a refused
Slack token is one line (exit 2) with no "Unclosed client session" after it; ``run`` started before
the platform is up keeps trying with backoff, one log line per attempt, connects when it comes up,
and stops at SIGTERM. Every scenario runs the real CLI in a subprocess against loopback fakes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from digestbot.errors import UnavailableError
from digestbot.reconnect import backoff, until_reachable
from tests.conftest import ROOT, SEED
from tests.fakes.loopback import closed_port
from tests.fakes.slack_server import FakeSlack

DISCORD_TOKEN = "discord-token-SECRET-1"
SLACK_TOKEN = "xoxb-token-SECRET-2"
APP_TOKEN = "xapp-token-SECRET-3"


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": DISCORD_TOKEN, "SLACK_BOT_TOKEN": SLACK_TOKEN}
    env["SLACK_APP_TOKEN"] = APP_TOKEN
    env.pop("DIGESTBOT_CONFIG", None)
    return env


def _config(tmp_path: Path, **platforms: object) -> Path:
    channels = []
    if "discord" in platforms:
        channels.append({"platform": "discord", "id": "111", "workspace": "222"})
    if "slack" in platforms:
        channels.append({"platform": "slack", "id": FakeSlack.GENERAL, "workspace": "T0FAKE"})
    data = {
        "database": str(tmp_path / "db.sqlite3"),
        "sources": {"huggingface": {"enabled": False}},
        "channels": channels,
        **platforms,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _discord(port: int) -> dict[str, object]:
    return {"enabled": True, "token": "${DISCORD_TOKEN}", "application_id": "123", "api_base_url": f"http://127.0.0.1:{port}/api/v10"}


def _slack(base_url: str) -> dict[str, object]:
    return {"enabled": True, "bot_token": "${SLACK_BOT_TOKEN}", "app_token": "${SLACK_APP_TOKEN}", "api_base_url": base_url}


async def _cli(config: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "digestbot", "--config", str(config), *args,
        cwd=config.parent, env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def _seed(config: Path) -> None:
    code, out = await _cli(config, "ingest", str(SEED))
    assert code == 0, out


@pytest.mark.parametrize("command", [["post"], ["discord", "sync", "--guild", "5"]], ids=["post", "sync"])
async def test_unreachable_discord_is_one_line_exit_1(tmp_path: Path, command: list[str]) -> None:
    port = closed_port()
    config = _config(tmp_path, discord=_discord(port))
    await _seed(config)
    code, out = await _cli(config, *command)
    assert code == 1, out
    assert out == (
        f"digestbot: error: discord: cannot reach http://127.0.0.1:{port}/api/v10 (ClientConnectorError:"
        f" Cannot connect to host 127.0.0.1:{port} ssl:default [Connect call failed ('127.0.0.1', {port})])\n"
    )


async def test_unreachable_slack_is_one_line_exit_1(tmp_path: Path) -> None:
    port = closed_port()
    config = _config(tmp_path, slack=_slack(f"http://127.0.0.1:{port}/api/"))
    await _seed(config)
    code, out = await _cli(config, "post")
    assert code == 1, out
    assert out.startswith(f"digestbot: error: slack auth.test: cannot reach http://127.0.0.1:{port}/api/ (")
    assert out.count("\n") == 1 and "Unclosed" not in out


async def test_refused_slack_token_is_one_line_without_unclosed_session_noise(tmp_path: Path) -> None:
    async with FakeSlack(token="xoxb-the-right-one") as fake:
        config = _config(tmp_path, slack=_slack(fake.base_url))
        await _seed(config)
        code, out = await _cli(config, "post")
    assert code == 2, out
    assert out == "digestbot: error: slack.bot_token: Slack refused it (invalid_auth)\n"


async def _lines_until(stream: asyncio.StreamReader, needle: str, seen: list[str]) -> None:
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError(f"no {needle!r} before the output ended:\n{''.join(seen)}")
        seen.append(line)
        if needle in line:
            return


async def test_run_before_slack_is_up_retries_then_connects_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = closed_port()
    fake = FakeSlack(token=SLACK_TOKEN, app_token=APP_TOKEN)
    config = _config(tmp_path, slack=_slack(f"http://127.0.0.1:{port}/api/"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "digestbot", "--config", str(config), "-v", "run",
        cwd=tmp_path, env=_env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            await _lines_until(proc.stderr, "(attempt 2); trying again in 2 s", seen)
            await fake.start(port)  # the network comes up
            await _lines_until(proc.stderr, "slack: listening for slash commands over Socket Mode", seen)
            proc.send_signal(signal.SIGTERM)
            rest = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0, "".join(seen) + rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.close()
    attempts = [line for line in seen if "cannot reach" in line]
    assert len(attempts) >= 2 and all(line.count("\n") == 1 for line in attempts)
    assert "Traceback" not in "".join(seen) + rest and "Unclosed" not in rest
    assert "slack: reached after" in "".join(seen)
    assert "stopped" in rest


async def test_run_against_an_unreachable_discord_stops_at_sigterm_while_retrying(tmp_path: Path) -> None:
    config = _config(tmp_path, discord=_discord(closed_port()))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "digestbot", "--config", str(config), "run",
        cwd=tmp_path, env=_env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            await _lines_until(proc.stderr, "(attempt 1); trying again in 1 s", seen)
            proc.send_signal(signal.SIGTERM)
            rest = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0, "".join(seen) + rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "Traceback" not in "".join(seen) + rest
    assert "stopped before every platform was reached" in rest


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff(10_000) == 60


async def test_stop_ends_the_backoff_wait_at_once() -> None:
    stop = asyncio.Event()
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        asyncio.get_running_loop().call_soon(stop.set)  # SIGTERM arrives during the hour-long wait
        raise UnavailableError("x: cannot reach it")

    async with asyncio.timeout(30):  # a hang guard: the wait below is an hour
        assert await until_reachable(down, what="x", stop=stop, first=3600) is False
    assert attempts == 1


async def test_stop_cancels_an_attempt_that_hangs() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    asyncio.get_running_loop().call_later(0.05, stop.set)
    async with asyncio.timeout(30):
        assert await until_reachable(hangs, what="x", stop=stop) is False
    assert cancelled.is_set()


async def test_other_errors_are_not_retried() -> None:
    async def refused() -> None:
        raise ValueError("token refused")

    with pytest.raises(ValueError, match="token refused"):
        await until_reachable(refused, what="x", stop=asyncio.Event())
