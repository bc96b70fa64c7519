"""Starting up against a platform that is down, or that refuses the token: one line, or patient retries.

``discord sync`` against an unreachable API prints one line and exits 1; ``post`` leaves an
unreachable platform's messages pending (one line, exit 75) and a refused token's too (one line,
exit 1, no "Unclosed client session" after it) while the other platform delivers; ``run`` started
before a platform is up keeps trying it with backoff, one log line per attempt, while the other
serves, connects when it comes up, and stops at SIGTERM. Every scenario runs the real CLI in a
subprocess against loopback fakes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from digestbot.errors import UnavailableError
from digestbot.reconnect import backoff, until_reachable
from tests.conftest import SEED
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.loopback import closed_port
from tests.fakes.slack_server import FakeSlack
from tests.run_process import RunningBot, cli_env, run_cli

DISCORD_TOKEN = "discord-token-SECRET-1"
SLACK_TOKEN = "xoxb-token-SECRET-2"
APP_TOKEN = "xapp-token-SECRET-3"


def _env() -> dict[str, str]:
    return cli_env(DISCORD_TOKEN=DISCORD_TOKEN, SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)


def _config(tmp_path: Path, discord_channel: int = 111, **platforms: object) -> Path:
    channels = []
    if "discord" in platforms:
        channels.append({"platform": "discord", "id": str(discord_channel), "workspace": "222"})
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


def _discord(port: int | str) -> dict[str, object]:
    base = port if isinstance(port, str) else f"http://127.0.0.1:{port}/api/v10"
    return {"enabled": True, "token": "${DISCORD_TOKEN}", "application_id": "123", "api_base_url": base}


def _slack(base_url: str) -> dict[str, object]:
    return {
        "enabled": True,
        "bot_token": "${SLACK_BOT_TOKEN}",
        "app_token": "${SLACK_APP_TOKEN}",
        "api_base_url": base_url,
    }


async def _cli(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    return await run_cli("--config", str(config), *args, cwd=config.parent, env={**_env(), **(env or {})})


async def _seed(config: Path) -> None:
    code, out = await _cli(config, "ingest", str(SEED))
    assert code == 0, out


def _unreachable(port: int) -> str:
    return (
        f"discord: cannot reach http://127.0.0.1:{port}/api/v10 (ClientConnectorError:"
        f" Cannot connect to host 127.0.0.1:{port} ssl:default [Connect call failed ('127.0.0.1', {port})])"
    )


async def test_discord_sync_against_an_unreachable_discord_is_one_line_exit_1(tmp_path: Path) -> None:
    port = closed_port()
    config = _config(tmp_path, discord=_discord(port))
    code, out = await _cli(config, "discord", "sync", "--guild", "5")
    assert code == 1, out
    assert out == f"digestbot: error: {_unreachable(port)}\n"


async def test_post_to_an_unreachable_discord_leaves_it_pending_exit_75(tmp_path: Path) -> None:
    port = closed_port()
    config = _config(tmp_path, discord=_discord(port))
    await _seed(config)
    code, out = await _cli(config, "post")
    assert code == 75, out  # retry later: nothing is wrong with what was asked
    assert out == (
        "posted 0, already posted 0, failed 0, deferred 1\n"
        f"digestbot: error: {_unreachable(port)} — discord not reached; its messages stay pending\n"
    )


async def test_post_to_an_unreachable_slack_leaves_it_pending_exit_75(tmp_path: Path) -> None:
    port = closed_port()
    config = _config(tmp_path, slack=_slack(f"http://127.0.0.1:{port}/api/"))
    await _seed(config)
    code, out = await _cli(config, "post")
    assert code == 75, out
    line = out.splitlines()[1]
    assert line.startswith(f"digestbot: error: slack auth.test: cannot reach http://127.0.0.1:{port}/api/ (")
    assert out.count("\n") == 2 and "Unclosed" not in out and "Traceback" not in out


async def test_refused_slack_token_is_one_line_exit_1_without_unclosed_session_noise(tmp_path: Path) -> None:
    async with FakeSlack(token="xoxb-the-right-one") as fake:
        config = _config(tmp_path, slack=_slack(fake.base_url))
        await _seed(config)
        code, out = await _cli(config, "post")
    assert code == 1, out  # a configuration error of that platform, as a refusal while posting
    assert out == (
        "posted 0, already posted 0, failed 0, not sent (credentials refused) 1\n"
        "digestbot: error: slack.bot_token: Slack refused it (invalid_auth) — slack stopped; its messages stay pending\n"
    )


async def test_a_refused_discord_token_stops_only_discord(tmp_path: Path) -> None:
    async with (
        FakeDiscord(token=DISCORD_TOKEN) as discord,
        FakeSlack(token=SLACK_TOKEN, app_token=APP_TOKEN, post_rate=None) as slack,
    ):
        channel = discord.add_channel(name="papers")
        config = _config(tmp_path, channel, discord=_discord(discord.base_url), slack=_slack(slack.base_url))
        await _seed(config)
        code, out = await _cli(config, "post", env={"DISCORD_TOKEN": "discord-wrong-token"})
        assert code == 1, out
        sent_to_slack = len(slack.messages(FakeSlack.GENERAL))
        assert sent_to_slack > 0 and discord.messages(channel) == []  # Slack delivered all the same
        assert (
            out.endswith(
                "digestbot: error: discord.token: Discord rejected the bot token (401 Unauthorized)"
                " — discord stopped; its messages stay pending\n"
            )
            and out.count("\n") == 2
        ), out
        assert "not sent (credentials refused) 1" in out.splitlines()[0]
        code, out = await _cli(config, "post")  # the token fixed: Discord's messages were kept, Slack's not resent
        assert code == 0, out
        assert discord.messages(channel) and len(slack.messages(FakeSlack.GENERAL)) == sent_to_slack


async def test_an_unreachable_discord_does_not_hold_up_slack(tmp_path: Path) -> None:
    port = closed_port()
    async with FakeSlack(token=SLACK_TOKEN, app_token=APP_TOKEN, post_rate=None) as slack:
        config = _config(tmp_path, discord=_discord(port), slack=_slack(slack.base_url))
        await _seed(config)
        code, out = await _cli(config, "post")
        assert code == 75, out
        sent_to_slack = len(slack.messages(FakeSlack.GENERAL))
        assert sent_to_slack > 0, out
        assert out.splitlines()[0].endswith(", deferred 1"), out
        assert out.endswith(
            f"digestbot: error: {_unreachable(port)} — discord not reached; its messages stay pending\n"
        )
        code, out = await _cli(config, "post", "--channel", f"slack:{FakeSlack.GENERAL}")
        assert code == 0 and out.count("\n") == 1, out  # Discord not asked for: not started, not reported
        assert out.startswith("posted 0, already posted ") and out.endswith(", failed 0\n"), out
        async with FakeDiscord(token=DISCORD_TOKEN) as discord:  # Discord is back (at a new address)
            channel = discord.add_channel(name="papers")
            config = _config(tmp_path, channel, discord=_discord(discord.base_url), slack=_slack(slack.base_url))
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
            config.write_text(yaml.safe_dump(data), encoding="utf-8")
            code, out = await _cli(config, "post")
            assert code == 0, out
            assert discord.messages(channel) and len(slack.messages(FakeSlack.GENERAL)) == sent_to_slack


async def test_run_before_slack_is_up_retries_then_connects_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = closed_port()
    fake = FakeSlack(token=SLACK_TOKEN, app_token=APP_TOKEN)
    config = _config(tmp_path, slack=_slack(f"http://127.0.0.1:{port}/api/"))
    try:
        async with RunningBot(config, "-v", env=_env()) as bot:
            await bot.wait_for("(attempt 2); trying again in 2 s")
            await fake.start(port)  # the network comes up
            await bot.wait_for("slack: listening for slash commands over Socket Mode")
            code, _ = await bot.stop()
    finally:
        await fake.close()
    assert code == 0, bot.output
    attempts = [line for line in bot.seen if "cannot reach" in line]
    assert len(attempts) >= 2 and all(line.count("\n") == 1 for line in attempts)
    assert "Traceback" not in bot.output and "Unclosed" not in bot.output
    assert "slack: reached after" in bot.output
    assert "stopped" in bot.output


async def test_run_against_an_unreachable_discord_stops_at_sigterm_while_retrying(tmp_path: Path) -> None:
    config = _config(tmp_path, discord=_discord(closed_port()))
    async with RunningBot(config, env=_env()) as bot:
        await bot.wait_for("(attempt 1); trying again in 1 s")
        code, _ = await bot.stop()
    assert code == 0, bot.output
    assert "Traceback" not in bot.output and "stopped" in bot.output


async def _run_until(config: Path, needles: list[str], env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Start ``run``, wait for every needle on stderr, SIGTERM it; return its status, stderr, seconds to stop."""
    async with RunningBot(config, "-v", env={**_env(), **(env or {})}) as bot:
        await bot.wait_for(*needles)
        code, seconds = await bot.stop()
    return code, bot.output, seconds


async def test_run_serves_slack_while_discord_is_unreachable(tmp_path: Path) -> None:
    async with FakeSlack(token=SLACK_TOKEN, app_token=APP_TOKEN) as slack:
        config = _config(tmp_path, discord=_discord(closed_port()), slack=_slack(slack.base_url))
        needles = ["(attempt 2); trying again in 2 s", "slack: listening for slash commands over Socket Mode"]
        code, err, _ = await _run_until(config, needles)
    assert code == 0, err
    assert "Traceback" not in err and "stopped" in err


async def test_run_with_a_refused_slack_token_still_serves_discord(tmp_path: Path) -> None:
    async with (
        FakeDiscord(token=DISCORD_TOKEN) as discord,
        FakeSlack(token=SLACK_TOKEN, app_token=APP_TOKEN) as slack,
    ):
        channel = discord.add_channel(name="papers")
        config = _config(tmp_path, channel, discord=_discord(discord.base_url), slack=_slack(slack.base_url))
        refused = "slack.bot_token: Slack refused it (invalid_auth) — slack stopped; its messages stay pending"
        code, err, _ = await _run_until(config, [refused, "Discord: answering"], env={"SLACK_BOT_TOKEN": "xoxb-wrong"})
    assert code == 0, err
    assert f"digestbot: error: {refused}\n" in err and "Traceback" not in err


async def test_run_with_every_token_refused_ends_exit_1(tmp_path: Path) -> None:
    async with FakeSlack(token="xoxb-the-right-one", app_token=APP_TOKEN) as slack:
        config = _config(tmp_path, slack=_slack(slack.base_url))
        code, out = await _cli(config, "run")
    assert code == 1, out
    errors = "".join(line for line in out.splitlines(keepends=True) if line.startswith("digestbot: error:"))
    assert "Traceback" not in out and errors == (
        "digestbot: error: slack.bot_token: Slack refused it (invalid_auth) — slack stopped; its messages stay pending\n"
        "digestbot: error: every platform is stopped: nothing to run\n"
    )


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
