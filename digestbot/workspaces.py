"""Workspaces that installed the app (Slack OAuth): pause one when it leaves, list them for ``slack installs``.

A workspace that uninstalls the app, revokes its tokens, or whose token Slack refuses while
posting is *paused*: its installation loses its tokens and its channels are turned off with a
reason (``status`` shows it). This is not a delivery failure: nothing is retried or counted as
failed, and the other workspaces go on. Installing again resumes the channels paused this way
(:meth:`~digestbot.store.installations.InstallationRecords.save`).
"""

from __future__ import annotations

import logging
from collections import Counter

from digestbot.channels import load_channels
from digestbot.config import Config
from digestbot.store.installations import PLATFORM
from digestbot.store.protocol import StoreProtocol
from digestbot.wording import plural

log = logging.getLogger(__name__)

UNINSTALLED = "the workspace uninstalled the app"
REVOKED = "the workspace revoked the app's bot token"


async def pause_workspace(
    store: StoreProtocol, config: Config, workspace: str, *, reason: str, enterprise: str = ""
) -> int:
    """Forget ``workspace``'s tokens and pause its channels (stored and configured); return how many paused."""
    configured = [c.id for c in config.channels if c.platform == PLATFORM and c.workspace == workspace and c.enabled]
    paused = await store.installations().remove(workspace, reason=reason, enterprise_id=enterprise, channels=configured)
    log.warning(
        "slack workspace %s: %s; %s paused until it installs again", workspace, reason, plural(paused, "channel")
    )
    return paused


async def install_lines(store: StoreProtocol, config: Config) -> list[str]:
    """Return ``digestbot slack installs``: one line per workspace (id, name, installed at, channels, state)."""
    records = await store.installations().all()
    if not records:
        return ["no workspace has installed the app yet (share https://YOUR-HOST/slack/install)"]
    channels = [c for c in await load_channels(store, config, include_disabled=True) if c.platform == PLATFORM]
    enabled = Counter(c.workspace for c in channels if c.enabled)
    off = Counter(c.workspace for c in channels if not c.enabled)
    lines = []
    for r in records:
        when = r.installed_at.strftime("%Y-%m-%d %H:%M UTC") if r.installed_at else "?"
        where = f"{r.team_id} ({r.team_name})" if r.team_name else r.team_id
        state = "installed" if r.active else f"PAUSED: {r.removed_reason or 'removed'}"
        if not r.active and r.removed_at:
            state += f" at {r.removed_at.strftime('%Y-%m-%d %H:%M UTC')}"
        counts = f"{plural(enabled[r.team_id], 'channel')} posting, {off[r.team_id]} paused or off"
        lines.append(f"{where}: installed {when}, {counts}; {state}")
    return lines
