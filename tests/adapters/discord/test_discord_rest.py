"""DiscordAdapter over discord.py's real HTTP client against the fake Discord REST API."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.discord_commands import nonce_for
from adapters.discord_poster import DiscordAdapter, create_adapter
from digestbot.config import Config, DiscordConfig
from digestbot.errors import ConfigError, DeliveryError
from digestbot.formatter import format_digest
from digestbot.labels import labels_for
from digestbot.ports import Target
from digestbot.sources.files import load_file
from tests.adapters.discord.conftest import make_config
from tests.fakes.discord_server import (
    CREATE_DM,
    CREATE_MESSAGE,
    START_THREAD_FROM_MESSAGE,
    ChannelAccess,
    FakeDiscord,
    RateLimit,
)


def digest_parts(seed_path: Any, adapter: DiscordAdapter) -> list[dict[str, Any]]:
    from digestbot.records import Digest

    loaded = load_file(seed_path)
    digest = Digest(date=loaded.digest_date, papers=tuple(loaded.papers))
    return adapter.render(format_digest(digest, labels_for("en")))


def keys(n: int) -> list[str]:
    return [f"digest:2024-10-11:part{i}/{n}" for i in range(1, n + 1)]


async def started(config: Config) -> DiscordAdapter:
    adapter = create_adapter(config)
    await adapter.start()
    return adapter


def channel_target(channel_id: int, fake: FakeDiscord) -> Target:
    return Target(platform="discord", kind="channel", id=str(channel_id), workspace=str(fake.guild_id))


async def test_parts_post_in_order_and_find_sent_sees_them_after_a_restart(fake: FakeDiscord, seed_path) -> None:
    channel = fake.add_channel()
    target = channel_target(channel, fake)
    adapter = await started(make_config(fake, channel))
    parts = digest_parts(seed_path, adapter)
    sent = [await adapter.send(target, body, key=k) for body, k in zip(parts, keys(len(parts)), strict=True)]
    await adapter.close()

    posted = fake.messages(channel)
    assert [m["id"] for m in posted] == [s.message_id for s in sent]
    assert [m["embeds"][0]["title"] for m in posted] == [b["embeds"][0]["title"] for b in parts]
    for message, key in zip(posted, keys(len(parts)), strict=True):
        assert f"ref {nonce_for(target, key)}" in message["embeds"][-1]["footer"]["text"]

    again = await started(make_config(fake, channel))  # a new process: nothing in memory
    try:
        for s, key in zip(sent, keys(len(parts)), strict=True):
            assert (await again.find_sent(target, key)).message_id == s.message_id
        assert await again.find_sent(target, "digest:2024-10-12:part1/2") is None
    finally:
        await again.close()


async def test_later_parts_go_in_a_thread_under_the_first(fake: FakeDiscord, seed_path) -> None:
    channel = fake.add_channel()
    target = channel_target(channel, fake)
    adapter = await started(make_config(fake, channel, threads=True))
    parts = digest_parts(seed_path, adapter)
    ks = keys(len(parts))
    first = await adapter.send(target, parts[0], key=ks[0])
    rest = [
        await adapter.send(target, body, key=k, thread=first.message_id)
        for body, k in zip(parts[1:], ks[1:], strict=True)
    ]
    await adapter.close()

    assert [m["id"] for m in fake.messages(channel)] == [first.message_id]
    thread_id = int(first.message_id)
    assert fake.channel(thread_id)["parent_id"] == str(channel)
    assert fake.channel(thread_id)["name"].startswith("Daily Papers")
    assert [m["id"] for m in fake.messages(thread_id)] == [s.message_id for s in rest]
    assert len(fake.calls_to(START_THREAD_FROM_MESSAGE)) == 1

    again = await started(make_config(fake, channel, threads=True))
    try:  # after a restart: part 1 in the channel, the others in its thread
        assert (await again.find_sent(target, ks[0])).message_id == first.message_id
        found = await again.find_sent(target, ks[-1])
        assert found is not None and found.message_id == rest[-1].message_id and found.channel_id == str(thread_id)
        # a resend after a crash between "thread started" and "part posted" reuses the thread (160004)
        extra = await again.send(target, parts[1], key="digest:2024-10-11:extra", thread=first.message_id)
        assert extra.channel_id == str(thread_id)
    finally:
        await again.close()


async def test_a_dropped_create_is_deduplicated_by_the_nonce(fake: FakeDiscord) -> None:
    channel = fake.add_channel()
    target = channel_target(channel, fake)
    adapter = await started(make_config(fake, channel))
    body = {"content": "hello", "allowed_mentions": {"parse": []}}
    fake.drop_next(CREATE_MESSAGE)  # the message is created, the answer is lost
    with pytest.raises(DeliveryError) as exc:
        await adapter.send(target, body, key="k1")
    assert not exc.value.permanent and exc.value.retry_after is None
    retried = await adapter.send(target, body, key="k1")
    await adapter.close()
    assert [m["id"] for m in fake.messages(channel)] == [retried.message_id]


async def test_short_429s_are_waited_out_by_discord_py(fake: FakeDiscord) -> None:
    channel = fake.add_channel()
    target = channel_target(channel, fake)
    fake.set_rate_limit(CREATE_MESSAGE, RateLimit(limit=2, per=0.3))
    adapter = await started(make_config(fake, channel))
    for i in range(6):
        await adapter.send(target, {"content": f"m{i}", "allowed_mentions": {"parse": []}}, key=f"k{i}")
    await adapter.close()
    assert [m["content"].split("\n")[0] for m in fake.messages(channel)] == [f"m{i}" for i in range(6)]
    # discord.py read the bucket headers and waited; at most a few 429s, never a retry storm
    assert fake.rate_limited <= 3
    assert len(fake.calls_to(CREATE_MESSAGE)) <= 6 + fake.rate_limited


async def test_find_sent_looks_back_past_a_busy_channel_from_the_plan_time(fake: FakeDiscord) -> None:
    # A crash after posting, then 250 messages by others before the restart: the newest page alone
    # (100) no longer shows our post, so reconciliation must page forward from when it was planned.
    channel = fake.add_channel()
    target = channel_target(channel, fake)
    planned = datetime.now(UTC)
    adapter = await started(make_config(fake, channel))
    posted = await adapter.send(target, {"content": "digest", "allowed_mentions": {"parse": []}}, key="digest:1")
    await adapter.close()
    fake.chatter(channel, 250)
    again = await started(make_config(fake, channel))
    try:
        assert await again.find_sent(target, "digest:1") is None  # the newest page only: out of reach
        found = await again.find_sent(target, "digest:1", since=planned)
        assert found is not None and found.message_id == posted.message_id
        assert await again.find_sent(target, "digest:2", since=planned) is None  # never posted: not found
    finally:
        await again.close()


async def test_a_429_comes_straight_back_for_the_engine_to_pace(fake: FakeDiscord) -> None:
    # A global limit sends no bucket headers ahead, so the third message meets a 429: discord.py must
    # not sleep it out and retry inside send (holding the engine's send slot); the engine paces.
    channel = fake.add_channel()
    target = channel_target(channel, fake)
    adapter = await started(make_config(fake, channel))
    fake.global_rate_limit = RateLimit(limit=2, per=1.0)
    body = {"content": "m", "allowed_mentions": {"parse": []}}
    await adapter.send(target, body, key="k1")
    await adapter.send(target, body, key="k2")
    with pytest.raises(DeliveryError) as exc:
        await adapter.send(target, body, key="k3")
    await adapter.close()
    assert not exc.value.permanent and exc.value.retry_after is not None and 0 < exc.value.retry_after <= 1
    assert len(fake.calls_to(CREATE_MESSAGE)) == 3 and fake.rate_limited == 1  # no retry by the library
    assert len(fake.messages(channel)) == 2


async def test_a_long_rate_limit_becomes_a_transient_error_with_retry_after(fake: FakeDiscord) -> None:
    channel = fake.add_channel()
    target = channel_target(channel, fake)
    fake.set_rate_limit(CREATE_MESSAGE, RateLimit(limit=1, per=120))
    adapter = await started(make_config(fake, channel))
    await adapter.send(target, {"content": "one", "allowed_mentions": {"parse": []}}, key="a")
    began = time.monotonic()
    with pytest.raises(DeliveryError) as exc:
        await adapter.send(target, {"content": "two", "allowed_mentions": {"parse": []}}, key="b")
    await adapter.close()
    assert time.monotonic() - began < 5  # it did not sleep two minutes
    assert not exc.value.permanent and exc.value.retry_after is not None and exc.value.retry_after > 30
    assert len(fake.calls_to(CREATE_MESSAGE)) <= 2
    assert len(fake.messages(channel)) == 1


async def test_dm_to_a_user_and_dm_closed_is_permanent(fake: FakeDiscord) -> None:
    open_user, closed_user = fake.add_user(name="open"), fake.add_user(name="closed")
    fake.close_dms(closed_user)
    adapter = await started(make_config(fake))
    body = {"content": "your papers", "allowed_mentions": {"parse": []}}
    to_open = Target(platform="discord", kind="user", id=str(open_user), workspace=str(fake.guild_id))
    sent = await adapter.send(to_open, body, key="matches:2024-10-11")
    assert sent.channel_id == str(fake.dm_channel_id(open_user))
    assert (await adapter.find_sent(to_open, "matches:2024-10-11")).message_id == sent.message_id
    with pytest.raises(DeliveryError, match="50007") as exc:
        await adapter.send(Target(platform="discord", kind="user", id=str(closed_user)), body, key="matches:2024-10-11")
    assert exc.value.permanent
    with pytest.raises(DeliveryError) as bad:
        await adapter.send(Target(platform="discord", kind="user", id="not-a-number"), body, key="x")
    assert bad.value.permanent
    await adapter.close()
    assert len(fake.calls_to(CREATE_DM)) == 2  # the open user's DM channel was opened once and cached


@pytest.mark.parametrize(
    ("access", "code"),
    [
        (ChannelAccess.UNKNOWN, "10003"),
        (ChannelAccess.MISSING_ACCESS, "50001"),
        (ChannelAccess.MISSING_PERMISSIONS, "50013"),
    ],
)
async def test_channel_gone_or_forbidden_is_permanent(fake: FakeDiscord, access: ChannelAccess, code: str) -> None:
    channel = fake.add_channel()
    fake.set_channel_access(channel, access)
    adapter = await started(make_config(fake, channel))
    with pytest.raises(DeliveryError, match=code) as exc:
        await adapter.send(channel_target(channel, fake), {"content": "x", "allowed_mentions": {"parse": []}}, key="k")
    await adapter.close()
    assert exc.value.permanent


async def test_server_errors_are_transient(fake: FakeDiscord) -> None:
    channel = fake.add_channel()
    adapter = await started(make_config(fake, channel))
    # discord.py retries 500/502 itself (with 1 s, 3 s… pauses); a 503 comes straight back to us
    fake.fail_next(CREATE_MESSAGE, status=503)
    with pytest.raises(DeliveryError, match="503") as exc:
        await adapter.send(channel_target(channel, fake), {"content": "x", "allowed_mentions": {"parse": []}}, key="k")
    await adapter.close()
    assert not exc.value.permanent


async def test_start_rejects_a_bad_or_missing_token(fake: FakeDiscord) -> None:
    config = make_config(fake)
    bad = Config(discord=DiscordConfig(token="wrong", api_base_url=config.discord.api_base_url))
    with pytest.raises(ConfigError, match="rejected"):
        await create_adapter(bad).start()
    with pytest.raises(ConfigError, match=r"discord\.token"):
        await create_adapter(Config()).start()


async def test_token_never_reaches_the_log(fake: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = fake.add_channel()
    adapter = await started(make_config(fake, channel))
    await adapter.send(channel_target(channel, fake), {"content": "x", "allowed_mentions": {"parse": []}}, key="k")
    await adapter.close()
    assert fake.token not in caplog.text
