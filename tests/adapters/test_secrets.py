"""No token or secret is ever printed: not in a log at -vv, an error, a repr or ``check-config --show``.

The real CLI runs in a subprocess at ``-vv`` (every library's debug logging on) against the
loopback fakes of Discord and Slack, posting, serving slash commands (Discord gateway, Slack
Socket Mode) and failing; each secret is a distinctive string searched for in everything it printed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import SEED
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import FakeSlack
from tests.run_process import RunningBot, cli_env, platform_blocks, run_cli

SECRETS = {
    "DISCORD_TOKEN": "discord-bot-token-SECRET-d1",
    "SLACK_BOT_TOKEN": "xoxb-bot-token-SECRET-s2",
    "SLACK_APP_TOKEN": "xapp-app-token-SECRET-s3",
    "SLACK_SIGNING_SECRET": "signing-secret-SECRET-s4",
}


def _env(**changes: str) -> dict[str, str]:
    return cli_env(**{**SECRETS, **changes})


def _assert_no_secret(output: str) -> None:
    leaked = [name for name, value in SECRETS.items() if value in output]
    assert not leaked, f"{leaked} printed:\n{output}"


def _write_config(tmp_path: Path, discord: FakeDiscord, slack: FakeSlack, channel: int) -> Path:
    data = {
        "database": str(tmp_path / "db.sqlite3"),
        "sources": {"huggingface": {"enabled": False}},
        "channels": [
            {"platform": "discord", "id": str(channel), "workspace": str(discord.guild_id)},
            {"platform": "slack", "id": FakeSlack.GENERAL, "workspace": slack.team_id},
        ],
    }
    data.update(platform_blocks(discord, slack))
    data["slack"]["signing_secret"] = "${SLACK_SIGNING_SECRET}"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def _cli(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    return await run_cli("--config", str(config), "-vv", *args, cwd=config.parent, env=env or _env(), within=120)


async def test_no_secret_in_any_output_at_debug_level(tmp_path: Path) -> None:
    async with (
        FakeDiscord(token=SECRETS["DISCORD_TOKEN"]) as discord,
        FakeSlack(token=SECRETS["SLACK_BOT_TOKEN"], app_token=SECRETS["SLACK_APP_TOKEN"], post_rate=None) as slack,
    ):
        channel = discord.add_channel(name="papers")
        config = _write_config(tmp_path, discord, slack, channel)
        outputs: list[str] = []

        code, out = await _cli(config, "check-config", "--show")
        assert code == 0 and '"token": "***"' in out and '"signing_secret": "***"' in out, out
        outputs.append(out)
        code, out = await _cli(config, "ingest", str(SEED))
        assert code == 0, out
        code, out = await _cli(config, "post", "--date", "2024-10-11")
        assert code == 0 and "posted" in out, out
        assert slack.messages(FakeSlack.GENERAL) and discord.messages(channel)  # it really talked to both
        outputs.append(out)

        # `run`: the Discord gateway (IDENTIFY carries the token) and Slack Socket Mode (the app token).
        async with RunningBot(config, "-vv", env=_env(), merged=True) as bot:
            await bot.wait_for("Discord: answering", "over Socket Mode")
            await discord.gateway.wait_ready()  # the bot identified itself on the fake's gateway
            code, _ = await bot.stop()
            assert code == 0, bot.output
        outputs.append(bot.output)

        # Errors: tokens the platforms refuse.
        wrong = _env(DISCORD_TOKEN="discord-wrong-SECRET-d5", SLACK_BOT_TOKEN="xoxb-wrong-SECRET-s6")
        for args in (["post"], ["discord", "sync"]):
            code, out = await _cli(config, *args, env=wrong)
            assert code == 1 and ("refused it" in out or "rejected the bot token" in out), out
            assert "wrong-SECRET" not in out, out
            outputs.append(out)
    _assert_no_secret("\n".join(outputs))


def test_no_secret_in_a_config_repr_or_its_errors(tmp_path: Path) -> None:
    from digestbot.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(
        "discord: {token: '${DISCORD_TOKEN}'}\n"
        "slack: {bot_token: '${SLACK_BOT_TOKEN}', app_token: '${SLACK_APP_TOKEN}',"
        " signing_secret: '${SLACK_SIGNING_SECRET}', port: '${SLACK_BOT_TOKEN}'}\n",
        encoding="utf-8",
    )
    try:
        load_config(path, env=SECRETS)
    except Exception as exc:  # the token in a number's place: the error names the key, not the value
        _assert_no_secret(str(exc))
    path.write_text(path.read_text(encoding="utf-8").replace(", port: '${SLACK_BOT_TOKEN}'", ""), encoding="utf-8")
    config = load_config(path, env=SECRETS)
    _assert_no_secret(repr(config) + str(config) + repr(config.slack) + repr(config.discord))
