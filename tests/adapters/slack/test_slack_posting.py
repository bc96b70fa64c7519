"""Posting through the real slack_sdk client against the fake Slack: order, threads, reconciliation, errors."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import date

import pytest

from adapters.slack_poster import SlackAdapter, create_adapter
from digestbot.errors import AuthError, ConfigError, DeliveryError
from digestbot.formatter import format_digest
from digestbot.labels import labels_for
from digestbot.ports import Sent, Target
from digestbot.store import Store
from tests.adapters.slack.conftest import slack_config
from tests.fakes.slack_server import FakeSlack

DAY = date(2024, 10, 11)
GENERAL = Target(platform="slack", kind="channel", id=FakeSlack.GENERAL, workspace="T0FAKE")


async def digest_payloads(store: Store, adapter: SlackAdapter) -> list[dict]:
    digest = await store.digest(DAY)
    assert digest is not None
    return adapter.render(format_digest(digest, labels_for("en")))


def keys_for(n: int) -> list[str]:
    return [f"digest:{DAY}:{i}/{n}" for i in range(1, n + 1)]


async def post_parts(adapter: SlackAdapter, target: Target, payloads: list[dict]) -> list[Sent]:
    """Post like the engine: skip what find_sent already sees, later parts in a thread under the first."""
    sent: list[Sent] = []
    for key, payload in zip(keys_for(len(payloads)), payloads, strict=True):
        found = await adapter.find_sent(target, key)
        if found is None:
            found = await adapter.send(target, payload, key=key, thread=sent[0].message_id if sent else None)
        sent.append(found)
    return sent


def posted_keys(fake: FakeSlack, channel: str) -> list[str]:
    return [m["metadata"]["event_payload"]["key"] for m in fake.messages(channel)]


async def test_digest_posted_once_in_order_with_threads(
    fake_slack: FakeSlack, seeded_store: Store, slack_adapter: SlackAdapter
) -> None:
    fake_slack.set_post_rate(None)
    await slack_adapter.start()
    assert (slack_adapter.bot_user_id, slack_adapter.team_id) == ("U0BOT", "T0FAKE")
    payloads = await digest_payloads(seeded_store, slack_adapter)
    assert len(payloads) == 4
    sent = await post_parts(slack_adapter, GENERAL, payloads)
    messages = fake_slack.messages(FakeSlack.GENERAL)
    assert posted_keys(fake_slack, FakeSlack.GENERAL) == keys_for(4)
    assert [m["ts"] for m in messages] == [s.message_id for s in sent]
    assert messages[0]["thread_ts"] is None
    assert {m["thread_ts"] for m in messages[1:]} == {sent[0].message_id}
    assert all(m["metadata"]["event_type"] == "digestbot_post" for m in messages)
    assert messages[0]["text"].startswith("Daily Papers")

    # Posting the same digest again (a fresh process: no in-memory memory) posts nothing.
    again = SlackAdapter(slack_config(fake_slack))
    try:
        assert await post_parts(again, GENERAL, payloads) == sent
    finally:
        await again.close()
    assert len(fake_slack.messages(FakeSlack.GENERAL)) == 4


async def test_restart_mid_digest_does_not_duplicate(
    fake_slack: FakeSlack, seeded_store: Store, slack_adapter: SlackAdapter
) -> None:
    fake_slack.set_post_rate(None)
    payloads = await digest_payloads(seeded_store, slack_adapter)
    keys = keys_for(len(payloads))
    first = await slack_adapter.send(GENERAL, payloads[0], key=keys[0])
    # Slack takes part 2, then the connection dies before the answer: the outcome is unknown.
    fake_slack.drop_connection_after("chat.postMessage")
    with pytest.raises(DeliveryError) as info:
        await slack_adapter.send(GENERAL, payloads[1], key=keys[1], thread=first.message_id)
    assert not info.value.permanent
    assert "outcome unknown" in str(info.value)
    # No library-level retry re-sent it: exactly one attempt for part 2.
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert posted_keys(fake_slack, FakeSlack.GENERAL) == keys[:2]

    # "Restart": a new adapter finds parts 1 and 2 (the second is a thread reply) and posts the rest.
    restarted = SlackAdapter(slack_config(fake_slack))
    try:
        found = await restarted.find_sent(GENERAL, keys[1])
        assert found is not None and found.message_id == fake_slack.messages(FakeSlack.GENERAL)[1]["ts"]
        await post_parts(restarted, GENERAL, payloads)
    finally:
        await restarted.close()
    assert posted_keys(fake_slack, FakeSlack.GENERAL) == keys
    assert len(fake_slack.calls_to("chat.postMessage")) == 2 + len(payloads) - 2


async def test_find_sent_ignores_other_keys_and_places(fake_slack: FakeSlack, slack_adapter: SlackAdapter) -> None:
    fake_slack.add_channel("C0OTHER")
    other = Target(platform="slack", kind="channel", id="C0OTHER")
    payload = {"text": "hello", "metadata": {"event_type": "digestbot_post", "event_payload": {"key": "x"}}}
    await slack_adapter.send(GENERAL, payload, key="k1")
    fresh = SlackAdapter(slack_config(fake_slack))
    try:
        assert await fresh.find_sent(GENERAL, "k2") is None
        assert await fresh.find_sent(other, "k1") is None
        assert await fresh.find_sent(GENERAL, "k1") is not None
    finally:
        await fresh.close()


async def test_a_429_comes_straight_back_for_the_engine_to_pace(
    fake_slack: FakeSlack, slack_adapter: SlackAdapter
) -> None:
    # slack_sdk must not sleep it out inside chat_postMessage (holding the engine's send slot).
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=42)
    with pytest.raises(DeliveryError) as info:
        await slack_adapter.send(GENERAL, {"text": "x"}, key="k")
    assert not info.value.permanent and info.value.retry_after == 42.0
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [429]
    assert fake_slack.messages(FakeSlack.GENERAL) == []


async def test_the_engine_sits_out_a_429_storm(fake_slack: FakeSlack, seeded_store: Store) -> None:
    from digestbot.config import ChannelConfig
    from digestbot.delivery import DeliveryEngine

    fake_slack.set_post_rate(None)
    config = slack_config(fake_slack)
    config = replace(config, channels=(ChannelConfig(platform="slack", id=FakeSlack.GENERAL, workspace="T0FAKE"),))
    adapter = create_adapter(config)
    await adapter.start()
    fake_slack.fail_next("chat.postMessage", status=429, times=3, retry_after=0)
    engine = DeliveryEngine(seeded_store, {"slack": adapter}, config, sleep=lambda _: asyncio.sleep(0))
    try:
        summary = await engine.post_digest(DAY, notify=False)
    finally:
        await engine.close()
        await adapter.close()
    statuses = [c.status for c in fake_slack.calls_to("chat.postMessage")]
    assert statuses[:4] == [429, 429, 429, 200] and summary.deferred == 0
    assert posted_keys(fake_slack, FakeSlack.GENERAL)[0] == f"digest:{DAY}:part1/{len(statuses) - 3}"


async def test_a_real_rate_limit_surfaces_with_its_retry_after(
    fake_slack: FakeSlack, slack_adapter: SlackAdapter
) -> None:
    fake_slack.set_post_rate(1.0, burst=2)
    for i in range(2):
        await slack_adapter.send(GENERAL, {"text": f"m{i}"}, key=f"k{i}")
    with pytest.raises(DeliveryError) as info:
        await slack_adapter.send(GENERAL, {"text": "m2"}, key="k2")
    assert [m["text"] for m in fake_slack.messages(FakeSlack.GENERAL)] == ["m0", "m1"]
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 2
    assert fake_slack.rate_limited_count == 1


async def test_a_revoked_token_while_posting_is_an_auth_error(
    fake_slack: FakeSlack, slack_adapter: SlackAdapter
) -> None:
    await slack_adapter.start()
    fake_slack.token = "xoxb-rotated"
    with pytest.raises(AuthError, match="invalid_auth"):
        await slack_adapter.send(GENERAL, {"text": "x"}, key="k")


async def test_dm_fan_out(fake_slack: FakeSlack, slack_adapter: SlackAdapter) -> None:
    users = ["U0AAA", "U0BBB", "U0CCC"]
    for user in users:
        fake_slack.add_user(user)
    for user in users:
        target = Target(platform="slack", kind="user", id=user, workspace="T0FAKE")
        first = await slack_adapter.send(target, {"text": f"hi {user}"}, key=f"matches:{DAY}:{user}:1/2")
        await slack_adapter.send(target, {"text": "more"}, key=f"matches:{DAY}:{user}:2/2", thread=first.message_id)
    for user in users:
        dm = fake_slack.dm_channel(user)
        assert dm is not None
        assert [m["text"] for m in fake_slack.messages(dm)] == [f"hi {user}", "more"]
    # One conversations.open per user, however many posts.
    assert sorted(c.args["users"] for c in fake_slack.calls_to("conversations.open")) == users
    fresh = SlackAdapter(slack_config(fake_slack))
    try:
        target = Target(platform="slack", kind="user", id="U0BBB", workspace="T0FAKE")
        assert await fresh.find_sent(target, f"matches:{DAY}:U0BBB:2/2") is not None
        assert await fresh.find_sent(target, f"matches:{DAY}:U0AAA:2/2") is None
    finally:
        await fresh.close()


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_channel_errors_are_permanent(fake_slack: FakeSlack, slack_adapter: SlackAdapter, error: str) -> None:
    fake_slack.set_channel_error(FakeSlack.GENERAL, error)
    with pytest.raises(DeliveryError) as info:
        await slack_adapter.send(GENERAL, {"text": "x"}, key="k")
    assert info.value.permanent
    assert error in str(info.value)


@pytest.mark.parametrize(
    ("user", "setup", "error"),
    [
        ("U0GONE", {"dm_error": "account_inactive"}, "account_inactive"),
        ("U0ROBOT", {"is_bot": True}, "cannot_dm_bot"),
        ("U0NOBODY", None, "user_not_found"),
    ],
)
async def test_dm_errors_are_permanent(
    fake_slack: FakeSlack, slack_adapter: SlackAdapter, user: str, setup: dict | None, error: str
) -> None:
    if setup is not None:
        fake_slack.add_user(user, **setup)
    target = Target(platform="slack", kind="user", id=user)
    with pytest.raises(DeliveryError) as info:
        await slack_adapter.send(target, {"text": "x"}, key="k")
    assert info.value.permanent
    assert error in str(info.value)


async def test_server_errors_are_transient(fake_slack: FakeSlack, slack_adapter: SlackAdapter) -> None:
    fake_slack.fail_next("chat.postMessage", status=500)
    with pytest.raises(DeliveryError) as info:
        await slack_adapter.send(GENERAL, {"text": "x"}, key="k")
    assert not info.value.permanent
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    fake_slack.fail_next("chat.postMessage", error="internal_error")
    with pytest.raises(DeliveryError) as info:
        await slack_adapter.send(GENERAL, {"text": "x"}, key="k")
    assert not info.value.permanent


async def test_bad_token_is_a_config_error_and_never_logged(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = slack_config(fake_slack)
    good = create_adapter(config)
    try:
        await good.start()
        await good.send(GENERAL, {"text": "x"}, key="k")
    finally:
        await good.close()
    bad = SlackAdapter(
        slack_config(FakeSlackToken(fake_slack, "xoxb-wrong-secret-value"))  # type: ignore[arg-type]
    )
    try:
        with pytest.raises(ConfigError, match="invalid_auth"):
            await bad.start()
    finally:
        await bad.close()
    assert fake_slack.token not in caplog.text
    assert "xoxb-wrong-secret-value" not in caplog.text


class FakeSlackToken:
    """The fake's address with another token, for slack_config()."""

    def __init__(self, fake: FakeSlack, token: str) -> None:
        self.token = token
        self.base_url = fake.base_url


def test_missing_token_is_a_config_error(fake_slack: FakeSlack) -> None:
    with pytest.raises(ConfigError, match=r"slack\.bot_token"):
        SlackAdapter(slack_config(FakeSlackToken(fake_slack, "")))  # type: ignore[arg-type]
