"""Slash commands, autocomplete and the share button, fed to the real discord.py command tree and view store."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord_commands import share_custom_id
from digestbot.dispatch import NOT_IN_ARCHIVE, SORRY
from digestbot.store import Store
from tests.adapters.discord.conftest import ADMIN_ID, MANAGE_GUILD, MEMBER_ID, Harness, make_config
from tests.fakes.discord_limits import find_violations
from tests.fakes.discord_server import FakeDiscord
from tests.raw_sqlite import raw_connection

EPHEMERAL = 1 << 6
CHANNEL_MESSAGE = 4
DEFERRED = 5
AUTOCOMPLETE_RESULT = 8


def opt(name: str, value: Any, kind: int = 3, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "value": value, **extra}


def sub(name: str, *options: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "type": 1, "options": list(options)}]


def private_text(replies: list[Any]) -> str:
    [reply] = replies
    data = reply.body["data"] if reply.kind == "callback" else reply.body
    assert data["flags"] & EPHEMERAL, "command replies are private"
    assert data["allowed_mentions"] == {"parse": []}
    return data["content"]


# /paper ------------------------------------------------------------------------------------------


async def test_paper_answers_privately_with_a_share_button(harness: Harness) -> None:
    [reply] = await harness.command("paper", [opt("query", "prefix quant")])
    assert reply.kind == "callback" and reply.body["type"] == CHANNEL_MESSAGE
    data = reply.body["data"]
    assert data["flags"] & EPHEMERAL
    assert data["embeds"][0]["title"].startswith("PrefixQuant")
    assert find_violations(data) == []
    [button] = data["components"][0]["components"]
    assert button["custom_id"] == share_custom_id("2410.05265")


async def test_share_button_posts_the_paper_publicly(harness: Harness, fake: FakeDiscord) -> None:
    [first] = await harness.command("paper", [opt("query", "2410.05265")])
    original = fake.original_response(first.interaction_id)
    assert original is not None
    [reply] = await harness.click(share_custom_id("2410.05265"), original)
    data = reply.body["data"]
    assert reply.body["type"] == CHANNEL_MESSAGE and not data.get("flags", 0) & EPHEMERAL
    assert data["embeds"][0]["url"] == "https://arxiv.org/abs/2410.05265"
    assert data["allowed_mentions"] == {"parse": []}
    assert [m["embeds"][0]["url"] for m in fake.messages(harness.channel_id)] == ["https://arxiv.org/abs/2410.05265"]


async def test_share_button_after_the_paper_left_the_archive_answers_privately(
    harness: Harness, fake: FakeDiscord
) -> None:
    [first] = await harness.command("paper", [opt("query", "2410.05265")])
    original = fake.original_response(first.interaction_id)
    for table in ("digest_entries", "papers"):
        await raw_connection(harness.client.store).execute(f"DELETE FROM {table} WHERE arxiv_id = '2410.05265'")
    text = private_text(await harness.click(share_custom_id("2410.05265"), original))
    assert text == NOT_IN_ARCHIVE  # the core's words, the same on Slack
    assert fake.messages(harness.channel_id) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [("https://example.com/x", "not an arXiv or Hugging Face paper link"), ("!!!", "letters or digits")],
)
async def test_paper_bad_query_is_told_privately(harness: Harness, query: str, expected: str) -> None:
    assert expected in private_text(await harness.command("paper", [opt("query", query)]))


async def test_paper_no_match_has_no_share_button(harness: Harness) -> None:
    [reply] = await harness.command("paper", [opt("query", "zzzqqq nonexistent")])
    data = reply.body["data"]
    assert data["flags"] & EPHEMERAL and not data.get("components")
    assert "No paper found" in (data.get("content") or "") + str(data.get("embeds"))


async def test_paper_autocomplete_stays_within_limits(harness: Harness) -> None:
    empty = await harness.autocomplete("paper", [opt("query", "", focused=True)])
    assert 1 <= len(empty) <= 25  # the newest digest's papers
    typed = await harness.autocomplete("paper", [opt("query", "model", focused=True)])
    assert 1 <= len(typed) <= 25
    for choice in empty + typed:
        assert 1 <= len(choice["name"]) <= 100 and 1 <= len(choice["value"]) <= 100
    assert typed[0]["name"].endswith(f"({typed[0]['value']})")
    assert await harness.autocomplete("paper", [opt("query", "https://example.com", focused=True)]) == []


async def test_slow_paper_lookup_is_deferred(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import adapters.discord_interactions as bot
    import digestbot.dispatch

    real = digestbot.dispatch.answer_paper

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        return await real(*args, **kwargs)

    monkeypatch.setattr(digestbot.dispatch, "answer_paper", slow)
    monkeypatch.setattr(bot, "DEFER_AFTER", 0.05)
    deferred, followup = await harness.command("paper", [opt("query", "2410.05265")], replies=2)
    assert deferred.body["type"] == DEFERRED and deferred.body["data"]["flags"] & EPHEMERAL
    assert followup.kind == "followup" and followup.body["embeds"][0]["url"].endswith("2410.05265")


# /subscribe, /unsubscribe, /subscriptions ----------------------------------------------------------


async def test_subscription_commands_round_trip(harness: Harness, seeded_store: Store, fake: FakeDiscord) -> None:
    assert "Subscribed to Diffusion" in private_text(await harness.command("subscribe", [opt("topic", "Diffusion")]))
    assert "already follow" in private_text(await harness.command("subscribe", [opt("topic", "diffusion")]))
    await harness.command("subscribe", [opt("topic", '"language model" -survey')])
    listing = private_text(await harness.command("subscriptions"))
    assert "Diffusion" in listing and '"language model" -survey' in listing
    stored = await seeded_store.list_subscriptions(
        platform="discord", workspace=str(fake.guild_id), user=str(MEMBER_ID)
    )
    assert stored == ["diffusion", '"language model" -survey']

    own = await harness.autocomplete("unsubscribe", [opt("topic", "lang", focused=True)])
    assert [c["value"] for c in own] == ['"language model" -survey']
    assert await harness.autocomplete("unsubscribe", [opt("topic", "", focused=True)], user_id=ADMIN_ID) == []

    assert "Unsubscribed from Diffusion" in private_text(
        await harness.command("unsubscribe", [opt("topic", "DIFFUSION")])
    )
    assert "do not follow" in private_text(await harness.command("unsubscribe", [opt("topic", "diffusion")]))


async def test_subscriptions_in_dms_use_the_empty_workspace(harness: Harness, seeded_store: Store) -> None:
    await harness.command("subscribe", [opt("topic", "quantization")], in_guild=False)
    assert await seeded_store.list_subscriptions(platform="discord", workspace="", user=str(MEMBER_ID)) == [
        "quantization"
    ]


@pytest.mark.parametrize(
    ("topic", "expected"),
    [('"unbalanced', "unbalanced quote"), ("x" * 150, "too long"), ("!!!", "no words")],
)
async def test_subscribe_bad_topic_is_told_privately(harness: Harness, topic: str, expected: str) -> None:
    assert expected in private_text(await harness.command("subscribe", [opt("topic", topic)]))


async def test_subscribe_limit_is_told_privately(harness_factory: Any, fake: FakeDiscord, seeded_store: Store) -> None:
    from dataclasses import replace

    config = make_config(fake)
    config = replace(config, subscriptions=replace(config.subscriptions, max_topics=1))
    h = await harness_factory(config, seeded_store)
    await h.command("subscribe", [opt("topic", "one")])
    assert "limit is 1" in private_text(await h.command("subscribe", [opt("topic", "two")]))


async def test_subscribe_autocomplete_offers_known_topics(harness: Harness, seeded_store: Store) -> None:
    await seeded_store.add_subscription(platform="discord", workspace="x", user="1", topic="diffusion", max_topics=5)
    choices = await harness.autocomplete("subscribe", [opt("topic", "dif", focused=True)])
    assert [c["value"] for c in choices][:2] == ["dif", "diffusion"]  # what was typed, then known topics
    long = await harness.autocomplete("subscribe", [opt("topic", "y" * 150, focused=True)])
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in long)


# /digest -------------------------------------------------------------------------------------------


async def test_digest_setup_by_a_manage_server_member(harness: Harness, fake: FakeDiscord) -> None:
    channel = str(harness.channel_id)
    on = private_text(await harness.command("digest", sub("on"), permissions=MANAGE_GUILD))
    assert on.startswith("Daily digest is on")
    text = private_text(await harness.command("digest", sub("time", opt("time", "08:30")), permissions=MANAGE_GUILD))
    assert "08:30" in text
    text = private_text(
        await harness.command("digest", sub("timezone", opt("timezone", "Asia/Seoul")), permissions=MANAGE_GUILD)
    )
    assert "Asia/Seoul" in text
    text = private_text(await harness.command("digest", sub("top", opt("count", 5, kind=4)), permissions=MANAGE_GUILD))
    assert "top 5" in text
    text = private_text(
        await harness.command("digest", sub("topics", opt("topics", "diffusion, llm")), permissions=MANAGE_GUILD)
    )
    assert "diffusion, llm" in text
    text = private_text(
        await harness.command("digest", sub("cadence", opt("cadence", "weekly")), permissions=MANAGE_GUILD)
    )
    assert text.startswith("Weekly digest is on")
    rows = {r["channel_id"]: r for r in await harness.client.store.channel_rows()}
    assert rows[channel]["workspace"] == str(fake.guild_id) and rows[channel]["enabled"]
    status = private_text(await harness.command("digest", sub("status")))  # anyone may look
    assert "08:30" in status and "top 5" in status
    off = private_text(await harness.command("digest", sub("off"), permissions=MANAGE_GUILD))
    assert "turned off" in off


async def test_digest_is_refused_without_manage_server(harness: Harness) -> None:
    # Discord hides the command (default_member_permissions), but a server can override that: check again.
    text = private_text(await harness.command("digest", sub("on"), permissions=0))
    assert "only workspace admins" in text
    assert await harness.client.store.channel_rows() == []


async def test_digest_allowed_for_configured_admins(harness: Harness) -> None:
    text = private_text(await harness.command("digest", sub("on"), user_id=ADMIN_ID, permissions=0))
    assert text.startswith("Daily digest is on")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (sub("time", opt("time", "25:00")), "Bad time"),
        (sub("timezone", opt("timezone", "Mars/Base")), "Bad time zone"),
        (sub("days", opt("days", "funday")), "Bad weekdays"),
        (sub("topics", opt("topics", '"open')), "unbalanced quote"),
    ],
)
async def test_digest_bad_values_are_told_privately(harness: Harness, options: Any, expected: str) -> None:
    assert expected in private_text(await harness.command("digest", options, permissions=MANAGE_GUILD))


async def test_digest_in_a_dm_and_now_without_engine(harness: Harness) -> None:
    assert "server channel" in private_text(await harness.command("digest", sub("status"), in_guild=False))
    await harness.command("digest", sub("on"), permissions=MANAGE_GUILD)
    assert "not available" in private_text(await harness.command("digest", sub("now"), permissions=MANAGE_GUILD))


async def test_digest_definition_requires_manage_server_and_a_guild(harness: Harness) -> None:
    group = harness.client.tree.get_command("digest")
    payload = group.to_dict(harness.client.tree)
    assert payload["default_member_permissions"] == MANAGE_GUILD
    assert payload["dm_permission"] is False
    names = {c["name"] for c in payload["options"]}
    assert names == {"on", "off", "time", "timezone", "days", "top", "topics", "cadence", "layout", "status", "now"}


async def test_timezone_autocomplete(harness: Harness) -> None:
    got = await harness.autocomplete(
        "digest", [{"name": "timezone", "type": 1, "options": [opt("timezone", "asia/se", focused=True)]}]
    )
    assert got[0]["value"] == "Asia/Seoul" and len(got) <= 25


async def test_an_unexpected_error_gets_a_private_apology(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import digestbot.commands

    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(digestbot.commands, "list_topics", broken)
    assert private_text(await harness.command("subscriptions")) == SORRY
