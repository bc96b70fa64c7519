"""The channels that get the digest: the YAML ``channels:`` list merged with chat-configured ones.

A channel can come from the config file, from the chat ``/digest`` command (the ``channels``
table), or both. For a channel in both, every setting made in chat wins over the file, key by
key, and the table's ``enabled``/``disabled_reason`` win too (so a channel disabled after a
permanent delivery failure stays disabled until someone re-enables it in chat or with the CLI).

Chat settings are stored as a JSON object of overrides; :data:`SETTING_KEYS` lists the keys.
The ``/digest`` command saves settings through :func:`save_settings`, which validates them here
(:func:`validate_settings`, :func:`check_schedule`) before the store writes them, so a bad value
becomes a :class:`~digestbot.errors.CommandError` the user can read and the store keeps no rules.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from digestbot.config import ChannelConfig, Config
from digestbot.errors import CommandError, ConfigError
from digestbot.periods import CADENCES, Cadence
from digestbot.ports import Target
from digestbot.schedule import ALL_WEEKDAYS, Schedule, parse_schedule

if TYPE_CHECKING:
    from digestbot.store.protocol import StoreProtocol

SETTING_KEYS = ("time", "timezone", "weekdays", "top", "topics", "on_empty", "threads", "cadence", "layout")
"""Keys a chat command may set for a channel (``None`` as a value removes the override)."""

Layout = Literal["full", "compact", "forum"]
LAYOUTS: tuple[Layout, ...] = ("full", "compact", "forum")
"""How a channel's digest is laid out: every card in the channel, or one list with the cards in its thread."""

TOP_MIN, TOP_MAX = 1, 100
"""How many papers a channel's digest may show: the one range config, ``/digest top`` and the store check."""


@dataclass(frozen=True, kw_only=True)
class Channel:
    """One channel as the engine sees it: where, when, what, and whether it is on."""

    platform: str
    id: str
    workspace: str = ""
    schedule: Schedule
    top: int = 10
    topics: tuple[str, ...] = ()
    on_empty: Literal["notice", "skip"] = "notice"
    threads: bool | None = None
    cadence: Cadence = "daily"
    layout: Layout = "full"
    enabled: bool = True
    disabled_reason: str | None = None
    language: str = ""  # summaries' language; empty: the config's default (Config.summary_language)
    source: Literal["config", "chat", "config+chat"] = "config"

    @property
    def target(self) -> Target:
        """The adapter target for this channel."""
        return Target(platform=self.platform, kind="channel", id=self.id, workspace=self.workspace)

    @property
    def names(self) -> frozenset[str]:
        """The ways an operator may name this channel: its id, or ``platform:id``."""
        return frozenset((self.id, f"{self.platform}:{self.id}"))


def check_setting(key: str, value: Any) -> Any:
    """Return one channel setting's value checked and normalised, or raise CommandError.

    The message does not name the key (callers say where: ``top must …``, ``channels[0].top: must …``),
    so the config file, ``/digest`` and the store report the same rule in the same words.
    """
    if key == "top":
        if isinstance(value, bool) or not isinstance(value, int) or not TOP_MIN <= value <= TOP_MAX:
            raise CommandError(f"must be between {TOP_MIN} and {TOP_MAX}, got {value!r}")
    elif key in ("weekdays", "topics"):
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise CommandError(f"must be a list of words, got {value!r}")
        value = list(value)
    elif key == "on_empty":
        if value not in ("notice", "skip"):
            raise CommandError(f"must be notice or skip, got {value!r}")
    elif key == "cadence":
        if value not in CADENCES:
            raise CommandError(f"must be one of {', '.join(CADENCES)}, got {value!r}")
    elif key == "layout":
        if value not in LAYOUTS:
            raise CommandError(f"must be one of {', '.join(LAYOUTS)}, got {value!r}")
    elif key == "threads":
        if not isinstance(value, bool):
            raise CommandError(f"must be true or false, got {value!r}")
    elif not isinstance(value, str):
        raise CommandError(f"must be text, got {value!r}")
    return value


def validate_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``settings`` checked and normalised, or raise CommandError naming the bad key."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in SETTING_KEYS:
            raise CommandError(f"unknown channel setting {key!r}; known: {', '.join(SETTING_KEYS)}")
        try:
            out[key] = None if value is None else check_setting(key, value)
        except CommandError as exc:
            raise CommandError(f"{key} {exc}") from None
    return out


def _schedule_of(values: Mapping[str, Any], where: str) -> Schedule:
    """Return the channel's posting schedule, narrowed by its cadence.

    Weekly: only the first *listed* weekday (``[fri, mon]`` posts on Fridays). Monthly: the 1st
    of the month, whatever weekday it falls on.
    """
    try:
        schedule = parse_schedule(values["time"], values["timezone"], list(values["weekdays"]), where=where)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    cadence = values.get("cadence", "daily")
    if cadence == "weekly":
        first = parse_schedule("00:00", "UTC", list(values["weekdays"])[:1], where=where).weekdays
        return dataclasses.replace(schedule, weekdays=first)
    if cadence == "monthly":
        return dataclasses.replace(schedule, weekdays=ALL_WEEKDAYS, month_day=1)
    return schedule


def check_schedule(base: ChannelConfig | None, settings: Mapping[str, Any]) -> None:
    """Raise CommandError if ``settings`` over ``base`` (or the defaults) give no valid schedule."""
    merged = _merge(base, settings, platform="", channel_id="", workspace="")
    _schedule_of(merged, "channel")
    for topic in merged["topics"]:
        from digestbot.topics import parse_topic

        parse_topic(topic)


def _merge(
    base: ChannelConfig | None, settings: Mapping[str, Any], *, platform: str, channel_id: str, workspace: str
) -> dict[str, Any]:
    defaults = base or ChannelConfig(platform="console", id=channel_id or "-", workspace=workspace)
    values: dict[str, Any] = {
        "time": defaults.time,
        "timezone": defaults.timezone,
        "weekdays": list(defaults.weekdays),
        "top": defaults.top,
        "topics": list(defaults.topics),
        "on_empty": defaults.on_empty,
        "threads": None,
        "cadence": defaults.cadence,
        "layout": defaults.layout,
    }
    values.update({k: v for k, v in settings.items() if k in SETTING_KEYS and v is not None})
    return values


async def load_channels(store: StoreProtocol, config: Config, *, include_disabled: bool = False) -> list[Channel]:
    """Return every channel (config file + chat), chat settings winning, ordered by platform and id."""
    return merge_channels(config, await store.channel_rows(), include_disabled=include_disabled)


def merge_channels(
    config: Config, stored: Sequence[Mapping[str, Any]], *, include_disabled: bool = False
) -> list[Channel]:
    """Return the config's channels merged with ``stored`` rows of the ``channels`` table (none: the config's alone).

    Pure, so ``channels list`` can show the config's channels before any archive exists.
    """
    rows = {(r["platform"], r["channel_id"]): r for r in stored}
    out: dict[tuple[str, str], Channel] = {}
    for i, ch in enumerate(config.channels):
        row = rows.pop((ch.platform, ch.id), None)
        out[(ch.platform, ch.id)] = _channel(ch, row, where=f"channels[{i}]")
    for (platform, channel_id), row in rows.items():
        out[(platform, channel_id)] = _channel(None, row, where=f"channel {platform}:{channel_id}")
    channels = [out[k] for k in sorted(out)]
    return channels if include_disabled else [c for c in channels if c.enabled]


def _channel(base: ChannelConfig | None, row: Mapping[str, Any] | None, *, where: str) -> Channel:
    settings: dict[str, Any] = json.loads(row["settings"]) if row else {}
    platform = base.platform if base else row["platform"]  # type: ignore[index]
    channel_id = base.id if base else row["channel_id"]  # type: ignore[index]
    workspace = (row["workspace"] if row and row["workspace"] else "") or (base.workspace if base else "")
    values = _merge(base, settings, platform=platform, channel_id=channel_id, workspace=workspace)
    enabled = base.enabled if base else True
    reason = None
    if row is not None:
        enabled = bool(row["enabled"])
        reason = row["disabled_reason"]
    return Channel(
        platform=platform,
        id=channel_id,
        workspace=workspace,
        schedule=_schedule_of(values, where),
        top=values["top"],
        topics=tuple(values["topics"]),
        on_empty=values["on_empty"],
        threads=values["threads"],
        cadence=values["cadence"],
        layout=values["layout"],
        enabled=enabled,
        disabled_reason=reason,
        language=base.language if base else "",
        source="config+chat" if base and row else "config" if base else "chat",
    )


def wants_threads(channel: Channel, config: Config) -> bool:
    """Tell whether later digest parts go in a thread under the first (channel setting, else platform's)."""
    if channel.threads is not None:
        return channel.threads
    platform_config = getattr(config, channel.platform, None)
    return bool(getattr(platform_config, "threads", False))


async def save_settings(
    store: StoreProtocol, *, platform: str, channel_id: str, workspace: str = "", settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Check chat ``settings`` and merge them into a channel's stored overrides (turning it on); return them.

    The rules live here, not in the store (a second backend would have to repeat them): each
    value through :func:`validate_settings` first, then the merged result, inside the store's
    write, through :func:`check_schedule`. A bad value raises CommandError and stores nothing.
    """
    return await store.set_channel_settings(
        platform=platform,
        channel_id=channel_id,
        workspace=workspace,
        settings=validate_settings(settings),
        check=lambda merged: check_schedule(None, merged),
    )
