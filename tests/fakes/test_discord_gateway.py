"""The fake gateway's protocol edges and the fake command routes' validation, driven with plain aiohttp."""

from __future__ import annotations

import json
import zlib
from typing import Any

import aiohttp

from tests.fakes.discord_gateway import AUTHENTICATION_FAILED, DISALLOWED_INTENTS, HEARTBEAT_ACK, HELLO, INVALID_SHARD
from tests.fakes.discord_server import FakeDiscord

pytest_plugins = ["tests.fakes.discord_fixtures"]


async def _identify(
    fake: FakeDiscord, token: str, intents: int, **extra: Any
) -> tuple[list[dict[str, Any]], int | None]:
    """Connect as discord.py does (zlib-stream), IDENTIFY, and return what came back and the close code."""
    got: list[dict[str, Any]] = []
    inflate = zlib.decompressobj()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream") as ws,
    ):
        await ws.send_str(json.dumps({"op": 1, "d": None}))
        await ws.send_str(json.dumps({"op": 2, "d": {"token": token, "intents": intents, "properties": {}, **extra}}))
        async for message in ws:
            assert message.type is aiohttp.WSMsgType.BINARY and message.data.endswith(b"\x00\x00\xff\xff")
            got.append(json.loads(inflate.decompress(message.data)))
            if got[-1].get("t") == "READY":
                break
        return got, ws.close_code


async def test_hello_heartbeat_ack_and_ready(fake_discord: FakeDiscord) -> None:
    got, _ = await _identify(fake_discord, fake_discord.token, 0)
    assert [m["op"] for m in got] == [HELLO, HEARTBEAT_ACK, 0]
    ready = got[-1]["d"]
    assert ready["application"]["id"] == str(fake_discord.application_id)
    assert ready["resume_gateway_url"] == fake_discord.gateway_url
    assert fake_discord.gateway.identifies == [{"intents": 0, "properties": {}}]  # the token is not kept


async def test_wrong_token_and_privileged_intents_close_the_socket(fake_discord: FakeDiscord) -> None:
    assert (await _identify(fake_discord, "wrong", 0))[1] == AUTHENTICATION_FAILED
    assert (await _identify(fake_discord, fake_discord.token, 1 << 15))[1] == DISALLOWED_INTENTS  # MESSAGE_CONTENT
    assert not fake_discord.gateway.ready.is_set()


async def test_a_sharded_identify_gets_its_shard_back_and_a_bad_shard_is_refused(fake_discord: FakeDiscord) -> None:
    got, _ = await _identify(fake_discord, fake_discord.token, 0, shard=[2, 4])
    assert got[-1]["d"]["shard"] == [2, 4]
    assert (await _identify(fake_discord, fake_discord.token, 0, shard=[4, 4]))[1] == INVALID_SHARD


async def test_command_sync_validates_like_discord(fake_discord: FakeDiscord) -> None:
    url = f"{fake_discord.base_url}/applications/{fake_discord.application_id}/commands"
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    bad = [
        {"name": "Paper", "description": "x"},
        {"name": "ok", "description": ""},
        {"name": "ok2", "description": "x", "options": [{"name": "a", "description": "x", "type": 3}] * 2},
    ]
    async with aiohttp.ClientSession() as session:
        async with session.put(url, json=bad, headers=headers) as response:
            assert response.status == 400
            errors = (await response.json())["errors"]
        assert set(errors) == {"0", "1", "2"}
        async with session.put(url, json=[{"name": "ok", "description": "x"}], headers=headers) as response:
            assert response.status == 200
            [command] = await response.json()
    assert command["name"] == "ok" and command["application_id"] == str(fake_discord.application_id)
    assert [c["name"] for c in fake_discord.commands()] == ["ok"]
