"""Operator commands: ``digestbot status`` and ``digestbot channels list|enable|disable ID``.

Kept apart from :mod:`digestbot.cli` (which registers them) so the operator views grow without
touching the other commands. ``status`` and ``channels list`` only read: ``status`` refuses a
missing (or 0-byte) archive instead of creating one; ``channels list`` then shows the config's
channels, which need no archive.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime

from digestbot.channels import Channel, load_channels, merge_channels
from digestbot.config import Config
from digestbot.errors import CommandError, NoArchiveError
from digestbot.status import describe_channel, status_lines
from digestbot.store import open_store
from digestbot.text import one_line

AddCommand = Callable[..., argparse.ArgumentParser]


async def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """Print the archive, the outbox and every channel's next and last post."""
    from digestbot.cli import _out, existing_db

    async with await open_store(existing_db(args, config), create=False) as store:
        for line in await status_lines(store, config, now=datetime.now(UTC)):
            _out(line)
    return 0


MAX_REASON = 200
"""Longest ``channels disable --reason``: one line of ``status`` and ``channels list``, not a document."""


def operator_reason(text: str | None) -> str:
    """Return ``--reason`` on one line without control characters (a terminal escape would be echoed by status).

    Longer than :data:`MAX_REASON` once cleaned is refused: the reason is shown on every status line.
    """
    reason = one_line(text or "")
    if len(reason) > MAX_REASON:
        raise CommandError(f"--reason is {len(reason):,} characters long; the limit is {MAX_REASON}")
    return reason


def _find(channels: list[Channel], name: str) -> Channel:
    found = [c for c in channels if name in c.names]
    if not found:
        known = ", ".join(f"{c.platform}:{c.id}" for c in channels) or "none (see digestbot status)"
        raise CommandError(f"no channel {name}; known channels: {known}")
    if len(found) > 1:
        names = " or ".join(f"{c.platform}:{c.id}" for c in found)
        raise CommandError(f"{name} names more than one channel: write {names}")
    return found[0]


def _list(channels: list[Channel]) -> None:
    from digestbot.cli import _out

    for channel in channels:
        _out(describe_channel(channel))
    if not channels:
        _out("no channels: add channels: to the config, or type /digest on in a channel")


def _list_without_archive(config: Config, why: str) -> int:
    """Show the config's channels, which need no archive, and say there is none (a list creates nothing)."""
    from digestbot.cli import _out

    _list(merge_channels(config, [], include_disabled=True))
    _out(f"{why}: no channel has settings stored from chat or the CLI yet")
    return 0


async def cmd_channels(args: argparse.Namespace, config: Config) -> int:
    """List channels, or turn one on or off (what /digest on|off do in chat)."""
    from digestbot.cli import _out, db_path, existing_db, no_archive_yet

    listing = args.channels_action == "list"
    if listing and (why := no_archive_yet(db_path(args, config))):
        return _list_without_archive(config, why)
    try:
        store = await open_store(existing_db(args, config), create=False)
    except NoArchiveError as exc:  # a PostgreSQL database without digestbot's schema
        if not listing:
            raise
        return _list_without_archive(config, exc.reason)
    async with store:
        channels = await load_channels(store, config, include_disabled=True)
        if args.channels_action == "list":
            _list(channels)
            return 0
        if not args.id:
            raise CommandError(f"channels {args.channels_action}: give the channel ID (or PLATFORM:ID)")
        channel = _find(channels, args.id)
        name = f"{channel.platform}:{channel.id}"
        if args.channels_action == "enable":
            if channel.enabled:
                _out(f"{name} is already enabled")
                return 0
            await store.enable_channel(platform=channel.platform, channel_id=channel.id, workspace=channel.workspace)
            was = channel.disabled_reason or "turned off"
            _out(f"{name} enabled (was: {was}); a running bot picks it up within 10 minutes")
            return 0
        reason = operator_reason(args.reason) or "disabled by an operator (digestbot channels disable)"
        was_on = await store.disable_channel(
            platform=channel.platform, channel_id=channel.id, reason=reason, workspace=channel.workspace
        )
        _out(f"{name} disabled: {reason}" if was_on else f"{name} was already disabled")
    return 0


def add_commands(add: AddCommand) -> None:
    """Register ``status`` and ``channels`` with the CLI's sub-command factory."""
    add("status", cmd_status, "show the archive, the outbox and each channel's next and last post")
    p = add("channels", cmd_channels, "list channels, or enable/disable one (like /digest on|off in chat)")
    p.add_argument("channels_action", choices=("list", "enable", "disable"), metavar="list|enable|disable")
    p.add_argument("id", nargs="?", metavar="ID", help="channel id, or PLATFORM:ID")
    p.add_argument("--reason", help="why it is disabled (shown by status and channels list)")
