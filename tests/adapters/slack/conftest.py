"""Fixtures for the Slack adapter tests: the fake Slack, a config pointing at it, signed bolt requests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from adapters.slack_poster import SlackAdapter
from adapters.slack_server import build_app
from digestbot.config import Config, SlackConfig
from digestbot.store import Store
from tests.fakes.slack_fixtures import fake_slack
from tests.fakes.slack_server import FakeSlack

__all__ = ["fake_slack"]

SECRET = "test-signing-secret"
CONFIG_ADMIN = "U0CFGADMIN"


def slack_config(fake: FakeSlack, **changes: Any) -> Config:
    fields: dict[str, Any] = {
        "enabled": True,
        "bot_token": fake.token,
        "app_token": "xapp-fake",  # FakeSlack's default app_token
        "signing_secret": SECRET,
        "api_base_url": fake.base_url,
        "admins": (CONFIG_ADMIN,),
    }
    slack = SlackConfig(**(fields | changes))
    return Config(slack=slack)


def signed(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


class SlackBot:
    """The bolt app under test, plus helpers that send it signed slash commands and button clicks."""

    def __init__(self, fake: FakeSlack, app: AsyncApp) -> None:
        self.fake = fake
        self.app = app
        self._n = 0

    async def dispatch(self, raw: str, headers: dict[str, str]) -> BoltResponse:
        return await self.app.async_dispatch(AsyncBoltRequest(body=raw, headers=headers))

    async def command(
        self, command: str, text: str, *, user: str = "U0ALICE", channel: str = FakeSlack.GENERAL, expect: int = 1
    ) -> list[dict[str, Any]]:
        """Send a signed slash command; return the ``expect`` response_url posts it produced."""
        self._n += 1
        name = f"cmd{self._n}"
        raw = urlencode(
            {
                "command": command,
                "text": text,
                "user_id": user,
                "team_id": self.fake.team_id,
                "channel_id": channel,
                "response_url": self.fake.response_url(name),
                "trigger_id": f"trigger-{self._n}",
            }
        )
        resp = await self.dispatch(raw, signed(raw))
        assert resp.status == 200, resp.body
        return await self.responses(name, expect)

    async def click_share(self, value: str, *, user: str = "U0ALICE", expect: int = 1) -> list[dict[str, Any]]:
        self._n += 1
        name = f"click{self._n}"
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": self.fake.team_id},
            "team": {"id": self.fake.team_id},
            "channel": {"id": FakeSlack.GENERAL},
            "container": {"type": "message", "is_ephemeral": True},
            "response_url": self.fake.response_url(name),
            "trigger_id": f"trigger-{self._n}",
            "actions": [{"type": "button", "action_id": "digestbot_share_paper", "block_id": "b", "value": value}],
        }
        raw = urlencode({"payload": json.dumps(payload)})
        resp = await self.dispatch(raw, signed(raw))
        assert resp.status == 200, resp.body
        return await self.responses(name, expect)

    async def responses(self, name: str, expect: int, wait: float = 5.0) -> list[dict[str, Any]]:
        """Wait for ``expect`` posts to response_url ``name`` (bolt answers after ack, in the background)."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            got = [r for r in self.fake.responses if r["name"] == name]
            if len(got) >= expect:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {expect} responses to {name}, got {got}")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)  # let the handler task finish after its last respond()
        got = [r for r in self.fake.responses if r["name"] == name]
        assert len(got) == expect, got
        for r in got:
            assert r["ok"], r
        return [r["payload"] for r in got]


@pytest.fixture
async def slack_adapter(fake_slack: FakeSlack) -> AsyncIterator[SlackAdapter]:
    adapter = SlackAdapter(slack_config(fake_slack))
    try:
        yield adapter
    finally:
        await adapter.close()


@pytest.fixture
async def bot(fake_slack: FakeSlack, seeded_store: Store, slack_adapter: SlackAdapter) -> SlackBot:
    fake_slack.add_user("U0ALICE", name="alice")
    fake_slack.add_user("U0ADMIN", name="admin", is_admin=True)
    fake_slack.add_user("U0OWNER", name="owner", is_owner=True)
    config = slack_config(fake_slack)
    return SlackBot(fake_slack, build_app(config, seeded_store, client=slack_adapter.reader))
