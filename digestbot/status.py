"""What an operator needs to see at a glance: ``digestbot status`` and ``digestbot channels``.

Pure reads of the archive and the outbox (nothing here writes), turned into short text lines:
each channel's next post (local and UTC) and the day it will cover, its last post and how that
went, disabled channels with the reason, the outbox by state with the newest failures, and the
archive's size and newest day. A channel whose next post would find only a stale list (see
:mod:`digestbot.freshness`) says so, since it will get the ``on_empty`` notice instead.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from digestbot.channels import Channel, load_channels
from digestbot.config import Config
from digestbot.freshness import is_stale
from digestbot.periods import post_covers
from digestbot.schedule import default_digest_date, next_due
from digestbot.store.protocol import StoreProtocol
from digestbot.wording import plural


def _size(path: Path) -> str:
    total = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if total < 1024 or unit == "GiB":
            return f"{total:,} {unit}" if unit == "bytes" else f"{total:.1f} {unit}"
        total /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")  # pragma: no cover


def describe_channel(channel: Channel) -> str:
    """Return one line naming a channel and its schedule, and why it is off if it is."""
    where = f" (workspace {channel.workspace})" if channel.workspace else ""
    line = f"{channel.platform}:{channel.id}{where}: {channel.schedule.describe()}, top {channel.top}"
    if channel.topics:
        line += f", topics {', '.join(channel.topics)}"
    if not channel.enabled:
        line += f" — DISABLED: {channel.disabled_reason or 'turned off'}"
    return line


def next_post(channel: Channel, now: datetime, settle: timedelta) -> tuple[datetime, datetime, date]:
    """Return (due instant UTC, due local time, day its list covers) of ``channel``'s next post."""
    _, due = next_due(channel.schedule, now)
    return due, due.astimezone(channel.schedule.zone), default_digest_date(due, settle)


async def status_lines(store: StoreProtocol, config: Config, *, now: datetime) -> list[str]:
    """Return the ``digestbot status`` report, one item per line."""
    papers = await store.count_papers()
    newest = await store.latest_digest_date()
    lines = [
        f"archive: {store.path}, {_size(store.path) if isinstance(store.path, Path) else 'PostgreSQL'},"
        f" {plural(papers, 'paper')}; newest list: " + (newest.isoformat() if newest else "none yet (digestbot ingest)")
    ]
    counts = await store.delivery_counts()
    lines.append(
        "outbox: "
        + ", ".join(f"{counts.get(state, 0):,} {state}" for state in ("pending", "claimed", "failed", "sent"))
    )
    for target, key, error, when in await store.recent_failures():
        lines.append(f"  failed {target} {key} at {when}: {error or 'no reason recorded'}")
    channels = await load_channels(store, config, include_disabled=True)
    enabled = [c for c in channels if c.enabled]
    lines.append(
        f"channels: {len(enabled)} enabled, {len(channels) - len(enabled)} disabled"
        + ("" if channels else " (add channels: to the config, or /digest on in a channel)")
    )
    last_posts = await store.last_channel_posts()
    settle = timedelta(hours=config.delivery.list_settles_hours)
    for channel in channels:
        lines.append(f"  {describe_channel(channel)}")
        if channel.enabled:
            due, local, day = next_post(channel, now, settle)
            lines.append(
                f"    next post: {local.strftime('%a %Y-%m-%d %H:%M %Z')} ({due.strftime('%Y-%m-%d %H:%M')} UTC),"
                f" {post_covers(channel.cadence, local.date(), day)}"
            )
            if newest is None or (channel.cadence == "daily" and is_stale(newest, day)):
                shown = newest.isoformat() if newest else "none"
                lines.append(
                    f"    warning: the newest stored list ({shown}) is too old for {day.isoformat()}: unless the"
                    f" source brings that day, the post will be the on_empty notice ({channel.on_empty})"
                )
        post = last_posts.get((channel.platform, channel.id))
        if post is None:
            lines.append("    last post: none yet")
        else:
            states = post["states"]
            outcome = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
            error = f" ({post['error']})" if post["error"] else ""
            lines.append(
                f"    last post: {post['kind']} of {post['day'].isoformat()}, {plural(len(states), 'part')}:"
                f" {outcome}{error}, at {post['updated_at']}"
            )
    return lines
