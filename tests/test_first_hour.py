"""The first hour with digestbot (issue #19): what a newcomer types works, or says in one line why not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``digestbot ARGS`` as a user would (no ``--db`` added: the tests say where it goes)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("DIGESTBOT_CONFIG", None)
    full_env.pop("DISCORD_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "digestbot", *args],
        capture_output=True, text=True, cwd=cwd, env=full_env, timeout=60, check=False,
    )


def test_global_options_work_after_the_command(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite3"
    assert run(tmp_path, "ingest", str(SAMPLE), "--db", str(db)).returncode == 0
    result = run(tmp_path, "lookup", "2410.05265", "--db", str(db), "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PrefixQuant")
    missing = run(tmp_path, "preview", "--db", str(tmp_path / "nope.sqlite3"))
    assert missing.returncode == 2 and "no archive at" in missing.stderr and "nope.sqlite3" in missing.stderr


def test_an_unset_token_blocks_only_the_commands_that_use_it(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {db}\ndiscord:\n  enabled: true\n  token: ${{DISCORD_TOKEN}}\n  application_id: '123'\n"
        "channels:\n  - {platform: discord, id: '42', workspace: '7'}\n"
    )
    assert run(tmp_path, "--config", str(config), "ingest", str(SAMPLE)).returncode == 0
    lookup = run(tmp_path, "--config", str(config), "lookup", "2410.05265")
    assert lookup.returncode == 0, lookup.stderr
    invite = run(tmp_path, "--config", str(config), "discord", "invite-url")
    assert invite.returncode == 0 and "client_id=123" in invite.stdout, invite.stderr
    for command in (["post"], ["discord", "sync"], ["check-config"]):
        result = run(tmp_path, "--config", str(config), *command)
        assert result.returncode == 2, command
        assert result.stderr == (
            f"digestbot: error: {config}: discord.token: environment variable DISCORD_TOKEN is not set\n"
        ), command


def test_post_dry_run_works_offline(tmp_path: Path) -> None:
    """A dry run renders and plans: it must not call Slack (here an address nothing listens on)."""
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {db}\nslack:\n  enabled: true\n  bot_token: xoxb-1\n  app_token: xapp-1\n"
        "  api_base_url: http://127.0.0.1:9/api/\nchannels:\n  - {platform: slack, id: C1, workspace: T1}\n"
    )
    assert run(tmp_path, "--config", str(config), "ingest", str(SAMPLE)).returncode == 0
    result = run(tmp_path, "--config", str(config), "post", "--dry-run", "--date", "2024-10-11")
    assert result.returncode == 0, result.stderr
    assert "would post" in result.stdout and "nothing sent" in result.stdout
