"""The platform-neutral /digest command: parsing, admin rule, applying settings through the store."""

from __future__ import annotations

from typing import Any

import pytest

from digestbot.config import ChannelConfig, Config
from digestbot.delivery import RunSummary
from digestbot.digest_command import NOT_ADMIN, USAGE, DigestRequest, digest_command, parse_digest_text
from digestbot.errors import CommandError
from digestbot.store import Store

needs_engine = pytest.mark.skipif(
    not hasattr(Store, "set_channel_settings"), reason="needs the engine branch's channel store functions"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", DigestRequest(action="help")),
        ("help", DigestRequest(action="help")),
        ("ON", DigestRequest(action="on")),
        ("off", DigestRequest(action="off")),
        ("status", DigestRequest(action="status")),
        ("now", DigestRequest(action="now")),
        ("time 9:05", DigestRequest(action="set", settings={"time": "09:05"})),
        ("tz Asia/Seoul", DigestRequest(action="set", settings={"timezone": "Asia/Seoul"})),
        ("timezone Europe/Berlin", DigestRequest(action="set", settings={"timezone": "Europe/Berlin"})),
        ("days Monday, tue wed", DigestRequest(action="set", settings={"weekdays": ["mon", "tue", "wed"]})),
        ("days all", DigestRequest(action="set", settings={"weekdays": None})),
        ("top 10", DigestRequest(action="set", settings={"top": 10})),
        (
            'topics diffusion, "large language model", Diffusion',
            DigestRequest(action="set", settings={"topics": ["diffusion", '"large language model"']}),
        ),
        ("topics “ab, cd” ef", DigestRequest(action="set", settings={"topics": ['"ab cd" ef']})),
        ("topics none", DigestRequest(action="set", settings={"topics": []})),
        ("cadence Weekly", DigestRequest(action="set", settings={"cadence": "weekly"})),
        ("layout compact", DigestRequest(action="set", settings={"layout": "compact"})),
    ],
)
def test_parse(text: str, expected: DigestRequest) -> None:
    assert parse_digest_text(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("frobnicate", "Unknown /digest sub-command 'frobnicate'"),
        ("time", "needs a value"),
        ("time 25:00", "Bad time"),
        ("time 0900", "Bad time"),
        ("tz Asia/Seol", "did you mean Asia/Seoul"),
        ("tz Mars/Olympus", "Bad time zone"),
        ("days funday", "unknown weekday"),
        ("top 0", "between 1 and 100"),
        ("top 101", "between 1 and 100"),
        ("top ten", "between 1 and 100"),
        ("on now", "takes no argument"),
        ("topics " + "x" * 400, "too long"),
        ("topics " + ", ".join(f"t{i}" for i in range(11)), "at most 10"),
        ("topics ,,,", "one or more topics"),
        ('topics "open', "unbalanced quote"),
        ("cadence hourly", "cadence must be one of daily, weekly, monthly"),
        ("cadence", "needs a value"),
        ("layout threads", "layout must be one of full, compact, forum"),
    ],
)
def test_parse_errors(text: str, needle: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_digest_text(text)
    assert needle in str(info.value)


async def test_help_and_refusal_need_no_store(store: Store) -> None:
    config = Config()
    args: dict[str, Any] = {"platform": "slack", "workspace": "T1", "channel": "C1"}
    assert await digest_command(store, config, **args, user_is_admin=False, text="") == USAGE
    for text in ("on", "off", "time 09:00", "now", "topics xyz"):
        with pytest.raises(CommandError) as info:
            await digest_command(store, config, **args, user_is_admin=False, text=text)
        assert str(info.value) == NOT_ADMIN
    # Bad input is reported as such even to a non-admin (parsing comes first).
    with pytest.raises(CommandError, match="Unknown"):
        await digest_command(store, config, **args, user_is_admin=False, text="nope")


class FakeEngine:
    """Records post_digest calls and answers with the engine's real RunSummary."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, ...]] = []

    async def post_digest(self, day: Any = None, *, channels: Any = None, notify: bool = True) -> RunSummary:
        assert day is None and notify is False
        self.posted.append(tuple(channels))
        return RunSummary(posted=2) if len(self.posted) == 1 else RunSummary(already=2)


@needs_engine
async def test_setup_flow(store: Store) -> None:
    config = Config()
    args: dict[str, Any] = {"platform": "slack", "workspace": "T1", "channel": "C1"}
    run = digest_command
    assert "no daily digest" in await run(store, config, **args, user_is_admin=False, text="status")
    assert "is on" in await run(store, config, **args, user_is_admin=True, text="on")
    reply = await run(store, config, **args, user_is_admin=True, text="time 07:30")
    assert "07:30 UTC" in reply
    reply = await run(store, config, **args, user_is_admin=True, text="tz Asia/Seoul")
    assert "07:30 Asia/Seoul daily" in reply
    reply = await run(store, config, **args, user_is_admin=True, text='topics diffusion, "language model"')
    assert 'diffusion, "language model"' in reply
    reply = await run(store, config, **args, user_is_admin=True, text="top 5")
    assert "top 5" in reply
    reply = await run(store, config, **args, user_is_admin=True, text="cadence monthly")
    assert reply.startswith("Monthly digest is on: 07:30 Asia/Seoul monthly on day 1")
    assert "Daily digest is on" in await run(store, config, **args, user_is_admin=True, text="cadence daily")
    assert "compact layout" in await run(store, config, **args, user_is_admin=True, text="layout compact")
    engine = FakeEngine()
    assert "is posted in this channel (posted 2" in await run(
        store, config, **args, user_is_admin=True, text="now", engine=engine
    )
    assert "already in this channel" in await run(store, config, **args, user_is_admin=True, text="now", engine=engine)
    assert engine.posted == [("slack:C1",), ("slack:C1",)]
    assert "turned off" in await run(store, config, **args, user_is_admin=True, text="off")
    assert "already off" in await run(store, config, **args, user_is_admin=True, text="off")
    status = await run(store, config, **args, user_is_admin=False, text="status")
    assert "is off (turned off with /digest off)" in status
    with pytest.raises(CommandError, match="turn it on"):
        await run(store, config, **args, user_is_admin=True, text="now", engine=engine)


@needs_engine
async def test_config_channel_gets_chat_overrides(store: Store) -> None:
    config = Config(channels=(ChannelConfig(platform="slack", id="C9", time="08:00", timezone="Europe/Berlin"),))
    args: dict[str, Any] = {"platform": "slack", "workspace": "T1", "channel": "C9"}
    assert "08:00 Europe/Berlin" in await digest_command(store, config, **args, user_is_admin=False, text="status")
    reply = await digest_command(store, config, **args, user_is_admin=True, text="days mon,tue,wed,thu,fri")
    assert "08:00 Europe/Berlin mon-fri" in reply
    with pytest.raises(CommandError, match="not available"):
        await digest_command(store, config, **args, user_is_admin=True, text="now")


class ScriptedEngine:
    """Answers post_digest with a given RunSummary."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary

    async def post_digest(self, day: Any = None, *, channels: Any = None, notify: bool = True) -> RunSummary:
        return self.summary


@needs_engine
@pytest.mark.parametrize(
    ("summary", "needle"),
    [
        (RunSummary(errors=1), "could not be posted yet"),
        (RunSummary(refused=1), "token was refused"),
    ],
)
async def test_digest_now_never_says_posted_when_it_was_not(store: Store, summary: RunSummary, needle: str) -> None:
    config = Config()
    args: dict[str, Any] = {"platform": "slack", "workspace": "T1", "channel": "C1"}
    await digest_command(store, config, **args, user_is_admin=True, text="on")
    reply = await digest_command(store, config, **args, user_is_admin=True, text="now", engine=ScriptedEngine(summary))
    assert needle in reply and "is posted" not in reply


async def test_forum_layout_on_slack_says_to_use_compact(store: Store) -> None:
    args: dict[str, Any] = {"platform": "slack", "workspace": "T1", "channel": "C1"}
    with pytest.raises(CommandError, match="layout compact"):
        await digest_command(store, Config(), **args, user_is_admin=True, text="layout forum")
    discord: dict[str, Any] = {"platform": "discord", "workspace": "G1", "channel": "1"}
    assert "forum layout" in await digest_command(store, Config(), **discord, user_is_admin=True, text="layout forum")


class FakePeriodEngine:
    """Records post_period calls (a weekly channel's /digest now)."""

    def __init__(self) -> None:
        self.periods: list[tuple[str, str, tuple[str, ...]]] = []

    async def post_digest(self, day: Any = None, *, channels: Any = None, notify: bool = True) -> RunSummary:
        raise AssertionError("a weekly channel must not get the daily digest")

    async def post_period(self, period: Any, *, channels: Any = None, notify: bool = True) -> RunSummary:
        assert notify is False
        self.periods.append((period.cadence, period.name, tuple(channels)))
        return RunSummary(posted=1)


async def test_digest_now_in_a_weekly_channel_posts_last_week(store: Store) -> None:
    args: dict[str, Any] = {"platform": "slack", "workspace": "T1", "channel": "C1"}
    await digest_command(store, Config(), **args, user_is_admin=True, text="on")
    await digest_command(store, Config(), **args, user_is_admin=True, text="cadence weekly")
    engine = FakePeriodEngine()
    reply = await digest_command(store, Config(), **args, user_is_admin=True, text="now", engine=engine)
    [(cadence, name, channels)] = engine.periods
    assert (cadence, channels) == ("weekly", ("slack:C1",))
    assert reply == f"The digest of {name} is posted in this channel (posted 1, already posted 0, failed 0)."
