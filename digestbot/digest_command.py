"""The ``/digest`` chat command: channel set-up for admins, the same on every platform.

Adapters pass the raw argument text and whether the caller is an admin; this module parses it,
validates it, applies it through the store's channel functions (:mod:`digestbot.channels`) and
returns the reply text. Every "no" (bad input, not an admin, unknown sub-command) is a
:class:`~digestbot.errors.CommandError` whose text the adapter shows only to the caller.

Sub-commands (``/digest help`` lists them)::

    on | off                     start / stop the daily digest in this channel
    time 09:00                   local posting time (24-hour)
    tz Asia/Seoul                IANA time zone (alias: timezone)
    days mon,tue,wed             weekdays to post on (alias: weekdays; "all" for every day)
    top 10                       how many papers (1-100)
    topics diffusion, "llm"      only papers matching any of these topics ("none" clears)
    cadence weekly               daily, weekly (last week's top, on the first listed day) or monthly (on the 1st)
    layout compact               full (every card in the channel), compact (one list, cards in its thread)
                                 or forum (a Discord forum channel: one post per paper)
    status                       show this channel's settings (anyone may ask)
    now                          post today's digest here now (idempotent)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from digestbot.channels import check_setting, save_settings
from digestbot.config import Config
from digestbot.errors import CommandError, ConfigError
from digestbot.schedule import parse_schedule
from digestbot.topics import parse_topic

if TYPE_CHECKING:
    from digestbot.channels import Channel
    from digestbot.delivery import RunSummary
    from digestbot.store.protocol import StoreProtocol

log = logging.getLogger(__name__)

MAX_CHANNEL_TOPICS = 10
"""Most topic filters one channel may have: a digest filter, not a subscription list."""

_ALIASES = {"timezone": "tz", "weekdays": "days", "help": "help", "enable": "on", "disable": "off"}
_OPEN_TO_ALL = frozenset({"status", "help"})
_CLEAR = frozenset({"none", "clear", "off", "-"})

USAGE = (
    "Usage: /digest on | off | time 09:00 | tz Asia/Seoul | days mon,tue,… | top 10 | "
    'topics diffusion, "large language model" | cadence daily|weekly|monthly | layout full|compact|forum | status | now'
)
NOT_ADMIN = (
    "Sorry, only workspace admins (or the bot's configured admins) can change this channel's digest. "
    "Anyone can see it with /digest status."
)


class DigestPoster(Protocol):
    """What ``/digest now`` needs: :meth:`digestbot.delivery.DeliveryEngine.post_digest`."""

    async def post_digest(
        self, day: date | None = None, *, channels: Iterable[str] | None = None, notify: bool = True
    ) -> RunSummary:
        """Post (idempotently) the newest digest to ``channels`` (``platform:id``); return a run summary."""


@dataclass(frozen=True, kw_only=True)
class DigestRequest:
    """A parsed ``/digest`` invocation: the sub-command and, for set-up ones, the settings to store."""

    action: str
    settings: dict[str, Any] = field(default_factory=dict)


def is_digest_admin(user_id: int | str, *, platform_admin: bool, admins: Iterable[str]) -> bool:
    """Tell whether a user may change a channel's digest: a platform admin, or listed in the config.

    One rule for every platform, so Discord and Slack cannot drift apart: the adapter only says what
    its platform means by an admin (Manage Server on Discord; admin or owner on Slack) and passes the
    ``discord.admins`` / ``slack.admins`` list, whose entries may carry stray spaces from YAML.
    """
    return platform_admin or str(user_id).strip() in {str(a).strip() for a in admins}


def _split_topics(text: str) -> list[str]:
    """Split ``a, "b, c", d`` on commas outside double quotes (smart quotes count as quotes)."""
    text = text.translate(str.maketrans("“”„‟", '""""'))
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _config_message(exc: ConfigError) -> str:
    # parse_schedule prefixes messages with where="…"; keep the part after the first ": ".
    return str(exc).split(": ", 1)[-1]


def parse_digest_text(text: str, *, max_topic_length: int = 100) -> DigestRequest:
    """Parse ``/digest`` arguments into a request; raise CommandError saying what is wrong."""
    words = text.strip().split(None, 1)
    if not words:
        return DigestRequest(action="help")
    action = words[0].lower()
    action = _ALIASES.get(action, action)
    arg = words[1].strip() if len(words) > 1 else ""
    if action in ("on", "off", "status", "now", "help"):
        if arg:
            raise CommandError(f"/digest {action} takes no argument. {USAGE}")
        return DigestRequest(action=action)
    if action in ("time", "tz", "days", "top", "topics", "cadence", "layout") and not arg:
        raise CommandError(f"/digest {action} needs a value. {USAGE}")
    if action == "time":
        try:
            parse_schedule(arg, "UTC", None, where="time")
        except ConfigError as exc:
            raise CommandError(f"Bad time: {_config_message(exc)}. Example: /digest time 09:00") from None
        hour, minute = arg.split(":")
        return DigestRequest(action="set", settings={"time": f"{int(hour):02d}:{minute}"})
    if action == "tz":
        try:
            parse_schedule("09:00", arg, None, where="tz")
        except ConfigError as exc:
            raise CommandError(f"Bad time zone: {_config_message(exc)}") from None
        return DigestRequest(action="set", settings={"timezone": arg})
    if action == "days":
        if arg.lower() in ("all", "daily", "every day"):
            return DigestRequest(action="set", settings={"weekdays": None})
        days = [d.strip().lower() for d in re.split(r"[,\s]+", arg) if d.strip()]
        try:
            parse_schedule("09:00", "UTC", days, where="days")
        except ConfigError as exc:
            raise CommandError(f"Bad weekdays: {_config_message(exc)}") from None
        return DigestRequest(action="set", settings={"weekdays": [d[:3] for d in days]})
    if action == "top":
        try:
            top = check_setting("top", int(arg) if re.fullmatch(r"\d{1,3}", arg) else arg[:20])
        except CommandError as exc:
            raise CommandError(f"top {exc}.") from None
        return DigestRequest(action="set", settings={"top": top})
    if action == "topics":
        if arg.lower() in _CLEAR:
            return DigestRequest(action="set", settings={"topics": []})
        raw = _split_topics(arg)
        if len(raw) > MAX_CHANNEL_TOPICS:
            raise CommandError(f"A channel can filter on at most {MAX_CHANNEL_TOPICS} topics, got {len(raw)}.")
        topics = list(dict.fromkeys(parse_topic(t, max_length=max_topic_length).canonical for t in raw))
        if not topics:
            raise CommandError('Give one or more topics separated by commas, e.g. diffusion, "language model".')
        return DigestRequest(action="set", settings={"topics": topics})
    if action == "cadence":
        try:
            cadence = check_setting("cadence", arg.lower())
        except CommandError as exc:
            raise CommandError(f"cadence {exc}.") from None
        return DigestRequest(action="set", settings={"cadence": cadence})
    if action == "layout":
        try:
            layout = check_setting("layout", arg.lower())
        except CommandError as exc:
            raise CommandError(f"layout {exc}.") from None
        return DigestRequest(action="set", settings={"layout": layout})
    raise CommandError(f"Unknown /digest sub-command {words[0][:30]!r}. {USAGE}")


async def _post_period_now(engine: Any, channel: Channel, name: str) -> str:
    """Post a weekly or monthly channel's digest now: the period its next post would cover (idempotent)."""
    from datetime import UTC, datetime

    from digestbot.periods import previous_period

    post_period = getattr(engine, "post_period", None)
    if post_period is None:
        raise CommandError("Posting now is not available in this mode; the digest will come at its scheduled time.")
    period = previous_period(channel.cadence, datetime.now(UTC).astimezone(channel.schedule.zone).date())
    summary: RunSummary = await post_period(period, channels=[name], notify=False)
    log.info("/digest now in %s (%s): %s", name, period.name, summary.line())
    if summary.failed or summary.refused or summary.stopped or summary.deferred or summary.errors:
        return f"The digest of {period.name} could not be fully posted yet ({summary.line()})."
    if summary.elsewhere:
        return f"The digest of {period.name} is being posted in this channel by another process ({summary.line()})."
    if summary.posted == 0 and summary.already:
        return f"The digest of {period.name} is already in this channel; nothing was posted again."
    return f"The digest of {period.name} is posted in this channel ({summary.line()})."


def describe_channel(channel: Channel) -> str:
    """Say in one line what a channel gets and when (the ``/digest status`` reply)."""
    state = "on" if channel.enabled else "off" + (f" ({channel.disabled_reason})" if channel.disabled_reason else "")
    topics = ", ".join(channel.topics) if channel.topics else "all papers"
    what = {"daily": "Daily digest", "weekly": "Weekly digest", "monthly": "Monthly digest"}[channel.cadence]
    layout = "" if channel.layout == "full" else f", {channel.layout} layout"
    return f"{what} is {state}: {channel.schedule.describe()}, top {channel.top}, topics: {topics}{layout}."


async def _find_channel(store: StoreProtocol, config: Config, platform: str, channel_id: str) -> Channel | None:
    from digestbot.channels import load_channels

    channels = await load_channels(store, config, include_disabled=True)
    return next((c for c in channels if c.platform == platform and c.id == channel_id), None)


async def digest_command(
    store: StoreProtocol,
    config: Config,
    *,
    platform: str,
    workspace: str,
    channel: str,
    user_is_admin: bool,
    text: str,
    engine: DigestPoster | None = None,
    on_change: Callable[[], None] | None = None,
) -> str:
    """Run ``/digest <text>`` for ``channel`` and return the reply; raise CommandError for every refusal.

    ``on_change`` is called once a channel's settings were stored (the running scheduler's
    ``wake``, so a new time or an ``off`` takes effect at once instead of at its next wake-up).
    """
    request = parse_digest_text(text, max_topic_length=config.subscriptions.max_topic_length)
    if request.action == "help":
        return USAGE
    if request.action not in _OPEN_TO_ALL and not user_is_admin:
        raise CommandError(NOT_ADMIN)
    if request.action == "status":
        found = await _find_channel(store, config, platform, channel)
        if found is None:
            return "This channel gets no daily digest. An admin can turn it on with /digest on."
        return describe_channel(found)
    if request.action == "off":
        was_on = await store.disable_channel(
            platform=platform, channel_id=channel, workspace=workspace, reason="turned off with /digest off"
        )
        log.info("digest turned off for %s:%s", platform, channel)
        if on_change is not None:
            on_change()
        return "Daily digest turned off for this channel." if was_on else "The daily digest was already off here."
    if request.action in ("on", "set"):
        if platform == "slack" and request.settings.get("layout") == "forum":
            raise CommandError("Slack has no forum channels: use /digest layout compact (one list, cards in a thread).")
        await save_settings(
            store, platform=platform, channel_id=channel, workspace=workspace, settings=request.settings
        )
        found = await _find_channel(store, config, platform, channel)
        log.info("digest settings for %s:%s changed: %s", platform, channel, request.settings)
        if on_change is not None:
            on_change()
        return describe_channel(found) if found is not None else "Saved."
    # request.action == "now"
    if engine is None:
        raise CommandError("Posting now is not available in this mode; the digest will come at its scheduled time.")
    found = await _find_channel(store, config, platform, channel)
    if found is None or not found.enabled:
        raise CommandError("This channel has no daily digest; turn it on with /digest on first.")
    if found.cadence != "daily":
        return await _post_period_now(engine, found, f"{platform}:{channel}")
    summary = await engine.post_digest(channels=[f"{platform}:{channel}"], notify=False)
    log.info("/digest now in %s:%s: %s", platform, channel, summary.line())
    if summary.failed:
        return "Posting the digest here failed: does the bot have access to this channel? " + summary.line() + "."
    if summary.refused:
        return "The bot's token was refused, so nothing was posted; an admin must fix the configuration."
    if summary.stopped:
        return "Posting here is stopped by a setting an admin must fix, so nothing was posted. " + summary.line() + "."
    if summary.deferred or summary.errors:
        return "Part of the digest could not be posted yet; it will be retried. " + summary.line() + "."
    if summary.elsewhere:
        return "Another process is posting today's digest here right now. " + summary.line() + "."
    if summary.posted == 0 and summary.already:
        return "Today's digest is already in this channel; nothing was posted again."
    return f"Today's digest is posted in this channel ({summary.line()})."
