"""Slack operator commands: ``digestbot slack installs`` lists the workspaces that installed the app.

Kept apart from :mod:`digestbot.cli` (which registers it) so the Slack OAuth views grow without
touching the other commands. It only reads: a missing archive is refused, not created.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from digestbot.config import Config
from digestbot.store import open_store
from digestbot.workspaces import install_lines

AddCommand = Callable[..., argparse.ArgumentParser]


async def cmd_slack(args: argparse.Namespace, config: Config) -> int:
    """List the workspaces that installed the app: team, installed at, channels, paused or not."""
    from digestbot.cli import _out, existing_db

    async with await open_store(existing_db(args, config), create=False) as store:
        for line in await install_lines(store, config):
            _out(line)
    return 0


def add_commands(add: AddCommand) -> None:
    """Register ``slack installs`` with the CLI's parser."""
    p = add("slack", cmd_slack, "Slack with OAuth installs: list the workspaces that installed the app")
    p.add_argument("slack_action", choices=("installs",), metavar="installs")
