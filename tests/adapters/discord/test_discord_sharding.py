"""Discord sharding: ``discord.shard_count``/``shard_ids`` run a subset of shards through discord.py's AutoShardedClient."""

from __future__ import annotations

import asyncio
import dataclasses

import discord
import pytest

from adapters.discord_bot import serve
from adapters.discord_client import DigestbotClient, ShardedDigestbotClient, gateway_client
from adapters.discord_poster import DiscordAdapter
from digestbot.config import Config, DiscordConfig
from digestbot.store import Store
from tests.adapters.discord.conftest import interaction_payload, make_config
from tests.fakes.discord_server import FakeDiscord


def _sharded(config: Config, count: int | None, ids: tuple[int, ...] = ()) -> Config:
    return dataclasses.replace(config, discord=dataclasses.replace(config.discord, shard_count=count, shard_ids=ids))


async def test_without_shard_settings_the_client_is_one_unsharded_connection() -> None:
    client = gateway_client(Config(discord=DiscordConfig(token="x", application_id="1")), None)
    try:
        assert type(client) is DigestbotClient and not isinstance(client, discord.AutoShardedClient)
        assert client.shard_count is None
    finally:
        await client.close()


async def test_the_client_gets_the_configured_shards() -> None:
    config = _sharded(Config(discord=DiscordConfig(token="x", application_id="1")), 8, (2, 5))
    async with gateway_client(config, None) as client:  # (entering sets up what close() needs)
        assert isinstance(client, ShardedDigestbotClient) and isinstance(client, discord.AutoShardedClient)
        assert (client.shard_count, client.shard_ids) == (8, [2, 5])


async def test_a_shard_count_alone_runs_every_shard_of_it() -> None:
    config = _sharded(Config(discord=DiscordConfig(token="x", application_id="1")), 3)
    async with gateway_client(config, None) as client:
        assert isinstance(client, ShardedDigestbotClient)
        assert (client.shard_count, client.shard_ids) == (3, None)  # discord.py launches range(shard_count)


async def test_serve_identifies_only_its_shards_and_answers_commands_on_them(
    fake: FakeDiscord, seeded_store: Store
) -> None:
    """Two shards of four: two gateway sessions, IDENTIFY carrying [id, count]; a command on one is answered."""
    config = _sharded(make_config(fake), 4, (1, 3))
    stop = asyncio.Event()
    adapter = DiscordAdapter(config)
    task = asyncio.create_task(serve(config, seeded_store, adapter, stop=stop))
    try:
        async with asyncio.timeout(30):  # discord.py waits 5 s between IDENTIFYs (Discord's identify limit)
            # The fake records sessions as they come; it has no event per session to wait on.
            while len(fake.gateway.identifies) < 2 or fake.gateway.current.session_id == "":
                assert not task.done(), task
                await asyncio.sleep(0.05)
        assert sorted(i["shard"] for i in fake.gateway.identifies) == [[1, 4], [3, 4]]
        async with asyncio.timeout(10):  # READY of the second shard is being handled
            while adapter.connection_problem() is not None:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        channel_id = fake.add_channel(name="commands")
        fi = fake.register_interaction(channel_id=channel_id)
        data = {"id": "1", "name": "subscriptions", "type": 1, "options": []}
        await fake.gateway.dispatch("INTERACTION_CREATE", interaction_payload(fake, fi, kind=2, data=data))
        async with asyncio.timeout(10):
            while not [r for r in fake.interaction_responses if r.interaction_id == fi.id]:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert task.result() is None
    assert adapter.connection_problem() == "gateway not connected"  # serve() let go of its client


@pytest.mark.parametrize(
    ("discord", "error"),
    [
        ({"shard_ids": [0]}, "discord.shard_ids: needs discord.shard_count (the total number of shards)"),
        ({"shard_count": 0}, "discord.shard_count: must be at least 1, got 0"),
        (
            {"shard_count": 4, "shard_ids": [0, 4]},
            "discord.shard_ids[1]: shard 4 is outside 0..3 (discord.shard_count is 4)",
        ),
        ({"shard_count": 4, "shard_ids": [-1]}, "discord.shard_ids[0]: shard -1 is outside 0..3"),
        ({"shard_count": 4, "shard_ids": [2, 2]}, "discord.shard_ids[1]: shard 2 is listed twice"),
        ({"shard_count": "four"}, "discord.shard_count: expected a whole number, got text"),
        ({"shard_ids": "0,1", "shard_count": 2}, "discord.shard_ids: expected a list, got text"),
    ],
)
def test_shard_settings_are_checked_with_one_line_naming_the_key(tmp_path, discord: dict, error: str) -> None:
    import yaml

    from digestbot.config import load_config
    from digestbot.errors import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"discord": discord}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {error}") and "\n" not in message


def test_valid_shard_settings_load(tmp_path) -> None:
    from digestbot.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text("discord:\n  shard_count: 4\n  shard_ids: [3, 0]\n", encoding="utf-8")
    config = load_config(path)
    assert (config.discord.shard_count, config.discord.shard_ids) == (4, (3, 0))
