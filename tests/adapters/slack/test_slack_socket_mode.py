"""Socket Mode end to end: ``serve()`` with the real bolt handler and slack_sdk client against the fake's WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack_app import serve
from adapters.slack_poster import SlackAdapter
from digestbot.errors import ConfigError
from digestbot.store import Store
from tests.adapters.slack.conftest import slack_config
from tests.fakes.slack_server import FakeSlack
from tests.fakes.slack_socket import ACK_DEADLINE, SocketAck


class Running:
    """``serve()`` running as a task in Socket Mode, with the event that stops it."""

    def __init__(self, fake: FakeSlack, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.fake = fake
        self.task = task
        self.stop = stop

    async def command(self, command: str, text: str, *, user: str = "U0ALICE") -> tuple[SocketAck, dict[str, Any]]:
        """Send a command over the socket; return its ack and the one answer posted to its response_url."""
        ack = await self.fake.socket_command(command, text, user=user)
        assert ack.seconds < ACK_DEADLINE, ack
        deadline = asyncio.get_running_loop().time() + 5
        while not [r for r in self.fake.responses if r["name"] == ack.response_name]:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no answer to {command} {text!r} at its response_url")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)  # the handler may still be running after its respond()
        got = [r for r in self.fake.responses if r["name"] == ack.response_name]
        assert len(got) == 1 and got[0]["ok"], got
        return ack, got[0]["payload"]


@pytest.fixture
async def running(fake_slack: FakeSlack, seeded_store: Store) -> AsyncIterator[Running]:
    fake_slack.add_user("U0ALICE", name="alice")
    config = slack_config(fake_slack, mode="socket")
    adapter = SlackAdapter(config)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, seeded_store, adapter, stop=stop), name="slack-commands")
    try:
        yield Running(fake_slack, task, stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await adapter.close()


async def test_paper_over_socket_mode_is_acked_then_answered(running: Running) -> None:
    ack, reply = await running.command("/paper", "prefix quant")
    assert ack.payload is None  # bolt acks empty; the card follows through response_url
    assert reply["response_type"] == "ephemeral"
    assert "PrefixQuant" in json.dumps(reply, ensure_ascii=False)
    [opened] = running.fake.calls_to("apps.connections.open")
    assert opened.status == 200 and opened.error is None
    assert running.fake.socket.unexpected == []


async def test_subscriptions_over_socket_mode(running: Running) -> None:
    _, reply = await running.command("/subscribe", "diffusion")
    assert "diffusion" in reply["text"]
    _, reply = await running.command("/subscriptions", "")
    assert "diffusion" in reply["text"]


async def test_stop_closes_the_socket_from_the_client_side(running: Running) -> None:
    await running.command("/paper", "2410.05265")
    running.stop.set()
    await asyncio.wait_for(running.task, 5)
    await running.fake.socket.wait_all_closed()
    [closed] = running.fake.socket.closed
    assert closed.by_client
    assert running.fake.socket.open_connections == 0
    await asyncio.sleep(0)  # let the client's cancelled loops finish
    leftover = [t for t in asyncio.all_tasks() if "slack_sdk" in repr(t.get_coro())]
    assert leftover == []


async def test_reconnects_on_a_fresh_url_after_disconnect(running: Running) -> None:
    await running.fake.socket.wait_connected()
    await running.fake.socket.disconnect("refresh_requested")
    await running.fake.socket.wait_connected(2)
    assert running.fake.socket.urls_issued == 2
    _, reply = await running.command("/paper", "2410.05265")
    assert "PrefixQuant" in json.dumps(reply, ensure_ascii=False)


@pytest.mark.parametrize(
    ("app_token", "needle"),
    [("xapp-wrong", "invalid_auth"), ("xoxb-fake-token", "not_allowed_token_type")],
)
async def test_a_refused_app_token_is_a_config_error(
    fake_slack: FakeSlack, seeded_store: Store, app_token: str, needle: str
) -> None:
    config = slack_config(fake_slack, mode="socket", app_token=app_token)
    adapter = SlackAdapter(config)
    try:
        async with asyncio.timeout(5):
            with pytest.raises(ConfigError, match=f"slack.app_token.*{needle}") as info:
                await serve(config, seeded_store, adapter, stop=asyncio.Event())
        assert "\n" not in str(info.value)
        assert fake_slack.socket.connects == 0
    finally:
        await adapter.close()
