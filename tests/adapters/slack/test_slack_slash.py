"""Slash commands and the share button, dispatched as SIGNED requests through the real bolt app."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack_app import serve
from adapters.slack_poster import SlackAdapter
from adapters.slack_server import build_app
from digestbot.delivery import RunSummary
from digestbot.digest_command import NOT_ADMIN
from digestbot.store import Store
from tests.adapters.slack.conftest import CONFIG_ADMIN, SlackBot, signed, slack_config
from tests.fakes.slack_limits import check_message
from tests.fakes.slack_server import FakeSlack

needs_commands = pytest.mark.skipif(
    importlib.util.find_spec("digestbot.commands") is None, reason="needs the engine branch's digestbot.commands"
)
needs_channels = pytest.mark.skipif(
    not hasattr(Store, "set_channel_settings"), reason="needs the engine branch's channel store functions"
)


def _text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


async def test_paper_by_id_is_ephemeral_with_share_button(bot: SlackBot) -> None:
    [reply] = await bot.command("/paper", "2410.05265")
    assert reply["response_type"] == "ephemeral"
    assert "PrefixQuant" in _text(reply)
    assert check_message(reply) == []
    actions = [b for b in reply["blocks"] if b["type"] == "actions"]
    assert actions[0]["elements"][0]["value"] == "2410.05265"
    assert bot.fake.calls_to("chat.postMessage") == []  # nothing public yet

    [public] = await bot.click_share("2410.05265")
    assert public["response_type"] == "in_channel"
    assert public["replace_original"] is False
    assert "PrefixQuant" in _text(public)
    assert not [b for b in public["blocks"] if b["type"] == "actions"]


async def test_paper_by_url_and_words(bot: SlackBot) -> None:
    [reply] = await bot.command("/paper", "https://huggingface.co/papers/2410.05265")
    assert "PrefixQuant" in _text(reply)
    [reply] = await bot.command("/paper", "diffusion")
    # Several matches: the best card plus a short list of the others.
    assert "Other matches" in _text(reply)


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("", "Give an arXiv id"),
        ("   ", "Give an arXiv id"),
        ("x" * 400, "the limit is 300"),
        ("https://example.com/paper", "not an arXiv or Hugging Face paper link"),
        ("zzzzqqqq", "No paper found for"),
        ("2501.99999", "No paper found for"),
    ],
)
async def test_paper_errors_are_ephemeral_text(bot: SlackBot, query: str, needle: str) -> None:
    [reply] = await bot.command("/paper", query)
    assert reply["response_type"] == "ephemeral"
    assert needle in _text(reply)
    assert not [b for b in reply.get("blocks", []) if b["type"] == "actions"]  # nothing to share


async def test_share_with_a_forged_value_does_nothing(bot: SlackBot) -> None:
    await bot.click_share("<!channel> not an id", expect=0)
    await asyncio.sleep(0.05)
    assert bot.fake.responses == []


async def test_unsigned_or_stale_requests_are_refused(bot: SlackBot) -> None:
    raw = urlencode(
        {
            "command": "/paper",
            "text": "2410.05265",
            "user_id": "U0ALICE",
            "team_id": "T0FAKE",
            "channel_id": FakeSlack.GENERAL,
            "response_url": bot.fake.response_url("x"),
        }
    )
    for headers in (signed(raw, secret="wrong"), signed(raw, timestamp=1_000_000_000), {}):
        resp = await bot.dispatch(raw, headers)
        assert resp.status == 401
    await asyncio.sleep(0.05)
    assert bot.fake.responses == []


async def test_user_input_is_escaped_in_replies(bot: SlackBot) -> None:
    [reply] = await bot.command("/paper", "<!channel> zzzzqq")
    assert "<!channel>" not in _text(reply)
    assert check_message(reply) == []


# -- /digest -----------------------------------------------------------------------------------------


async def test_digest_refuses_non_admins(bot: SlackBot) -> None:
    for text in ("on", "time 09:00", "now"):
        [reply] = await bot.command("/digest", text, user="U0ALICE")
        assert reply["text"] == NOT_ADMIN.replace("&", "&amp;")
    assert [c.args["user"] for c in bot.fake.calls_to("users.info")] == ["U0ALICE"] * 3


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("frobnicate", "Unknown /digest sub-command"),
        ("tz Asia/Seol", "did you mean Asia/Seoul"),
        ("time 24:30", "Bad time"),
        ("top 500", "between 1 and 100"),
        ("topics " + "y" * 400, "too long"),
        ("", "Usage: /digest"),
    ],
)
async def test_digest_error_paths(bot: SlackBot, text: str, needle: str) -> None:
    [reply] = await bot.command("/digest", text, user="U0ADMIN")
    assert reply["response_type"] == "ephemeral"
    assert needle in reply["text"]


class RecordingEngine:
    def __init__(self) -> None:
        self.posted: list[tuple[str, ...]] = []

    async def post_digest(self, day: Any = None, *, channels: Any = None, notify: bool = True) -> RunSummary:
        self.posted.append(tuple(channels))
        return RunSummary(posted=1)


@needs_channels
async def test_digest_setup_by_admins(fake_slack: FakeSlack, seeded_store: Store, slack_adapter: SlackAdapter) -> None:
    fake_slack.add_user("U0ADMIN", is_admin=True)
    fake_slack.add_user("U0OWNER", is_owner=True)
    engine = RecordingEngine()
    bot = SlackBot(
        fake_slack, build_app(slack_config(fake_slack), seeded_store, client=slack_adapter.reader, engine=engine)
    )
    [reply] = await bot.command("/digest", "on", user="U0ADMIN")
    assert "is on" in reply["text"]
    [reply] = await bot.command("/digest", "tz Asia/Seoul", user="U0OWNER")
    assert "Asia/Seoul" in reply["text"]
    [reply] = await bot.command("/digest", "now", user=CONFIG_ADMIN)  # config admin: no users.info needed
    assert "posted" in reply["text"]
    assert engine.posted == [(f"slack:{FakeSlack.GENERAL}",)]
    assert "U0CFGADMIN" not in [c.args["user"] for c in fake_slack.calls_to("users.info")]
    [reply] = await bot.command("/digest", "status", user="U0ALICE")
    assert "Asia/Seoul" in reply["text"]


# -- subscriptions -----------------------------------------------------------------------------------


@needs_commands
async def test_subscriptions_flow(bot: SlackBot) -> None:
    [reply] = await bot.command("/subscribe", '"large language model"')
    assert "large language model" in reply["text"]
    [reply] = await bot.command("/subscriptions", "")
    assert "large language model" in reply["text"]
    [reply] = await bot.command("/unsubscribe", '"large language model"')
    [reply] = await bot.command("/subscriptions", "")
    assert "large language model" not in reply["text"]


@needs_commands
@pytest.mark.parametrize(("command", "text"), [("/subscribe", ""), ("/subscribe", "z" * 400), ("/unsubscribe", "")])
async def test_subscription_errors(bot: SlackBot, command: str, text: str) -> None:
    [reply] = await bot.command(command, text)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"]


# -- HTTP mode ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_http_mode_serves_signed_commands(fake_slack: FakeSlack, seeded_store: Store) -> None:
    port = _free_port()
    config = slack_config(fake_slack, mode="http", port=port)
    adapter = SlackAdapter(config)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, seeded_store, adapter, stop=stop, host="127.0.0.1"))
    try:
        raw = urlencode(
            {
                "command": "/paper",
                "text": "2410.05265",
                "user_id": "U0ALICE",
                "team_id": "T0FAKE",
                "channel_id": FakeSlack.GENERAL,
                "response_url": fake_slack.response_url("http"),
            }
        )
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # wait for the server to bind
                try:
                    async with session.post(url, data=raw, headers=signed(raw)) as resp:
                        assert resp.status == 200
                    break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.02)
            async with session.post(url, data=raw, headers=signed(raw, secret="nope")) as resp:
                assert resp.status == 401
        for _ in range(250):
            if fake_slack.responses:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.02)
        [response] = fake_slack.responses
        assert response["ok"] and "PrefixQuant" in _text(response["payload"])
    finally:
        stop.set()
        await task
        await adapter.close()


async def test_every_manifest_command_is_answered(bot: SlackBot) -> None:
    from adapters.slack_commands import COMMANDS

    for command in COMMANDS:
        [reply] = await bot.command(command, "")
        assert reply["response_type"] == "ephemeral" and reply["text"], command


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"mode": "socket", "app_token": ""}, "slack.app_token"),
        ({"mode": "http", "signing_secret": ""}, "signing_secret"),
    ],
)
async def test_serve_refuses_incomplete_config(
    fake_slack: FakeSlack, seeded_store: Store, changes: dict[str, str], needle: str
) -> None:
    from dataclasses import replace

    from digestbot.errors import ConfigError

    config = slack_config(fake_slack)
    config = replace(config, slack=replace(config.slack, **changes))
    adapter = SlackAdapter(config)
    try:
        with pytest.raises(ConfigError, match=needle):
            await serve(config, seeded_store, adapter, stop=asyncio.Event())
    finally:
        await adapter.close()
