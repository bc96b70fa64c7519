"""``serve()`` over the fake gateway websocket, and ``sync_commands()``, end to end through the real discord.py."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.discord_bot import serve, sync_commands
from adapters.discord_poster import DiscordAdapter
from digestbot.config import Config
from digestbot.errors import ConfigError, DeliveryError
from digestbot.store import Store
from tests.adapters.discord.conftest import MANAGE_GUILD, interaction_payload, make_config
from tests.fakes.discord_gateway import GUILDS_INTENT, PRIVILEGED_INTENTS
from tests.fakes.discord_server import FakeDiscord, InteractionReply

EPHEMERAL = 1 << 6
CHANNEL_MESSAGE = 4
DEFERRED = 5
AUTOCOMPLETE_RESULT = 8
COMMANDS = {"paper", "subscribe", "unsubscribe", "subscriptions", "digest"}


def _with(config: Config, **discord: Any) -> Config:
    return dataclasses.replace(config, discord=dataclasses.replace(config.discord, **discord))


def _gateway_tasks() -> set[asyncio.Task[Any]]:
    """Tasks other than this test's that belong to discord.py or serve()."""
    me = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if t is not me and not t.done() and ("discord" in t.get_name() or "discord" in repr(t.get_coro()))
    }


class Running:
    """A serve() task connected to the fake gateway, and ways to push interactions through it."""

    def __init__(self, fake: FakeDiscord, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.fake = fake
        self.task = task
        self.stop = stop
        self.channel_id = fake.add_channel(name="commands")

    async def push(self, kind: int, data: dict[str, Any], **kw: Any) -> int:
        """Dispatch INTERACTION_CREATE over the gateway; return the interaction id."""
        fi = self.fake.register_interaction(channel_id=self.channel_id)
        payload = interaction_payload(self.fake, fi, kind=kind, data=data, **kw)
        await self.fake.gateway.dispatch("INTERACTION_CREATE", payload)
        return fi.id

    async def replies(self, interaction_id: int, count: int = 1) -> list[InteractionReply]:
        """Wait for ``count`` answers to an interaction on the REST routes; return them."""

        def mine() -> list[InteractionReply]:
            return [r for r in self.fake.interaction_responses if r.interaction_id == interaction_id]

        async with asyncio.timeout(5):
            while len(mine()) < count:  # the fake records replies as it serves them
                assert not self.task.done(), "serve() ended while an interaction was pending"
                await asyncio.sleep(0.01)
        return mine()


@pytest.fixture
async def running(fake: FakeDiscord, seeded_store: Store) -> AsyncIterator[Callable[..., Any]]:
    started: list[Running] = []

    async def start(config: Config | None = None) -> Running:
        config = config or make_config(fake)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(config, seeded_store, DiscordAdapter(config), stop=stop))
        run = Running(fake, task, stop)
        started.append(run)
        async with asyncio.timeout(5):
            await fake.gateway.wait_ready()
        return run

    yield start
    for run in started:  # a failed test must not leave serve() running
        run.stop.set()
        await asyncio.wait_for(run.task, 5)


async def test_serve_identifies_without_privileged_intents(running: Callable[..., Any], fake: FakeDiscord) -> None:
    await running()
    [identify] = fake.gateway.identifies
    assert identify["intents"] & PRIVILEGED_INTENTS == 0
    assert identify["intents"] in (0, GUILDS_INTENT)
    session = fake.gateway.current
    assert session.query["encoding"] == "json" and session.query["v"] == "10"
    assert session.heartbeats >= 1  # discord.py beats once right after HELLO; the fake ACKs it
    assert [c.route for c in fake.calls[:2]] == ["GET /users/@me", "GET /oauth2/applications/@me"]


async def test_paper_command_over_the_gateway_is_answered_within_3_s(
    running: Callable[..., Any], fake: FakeDiscord
) -> None:
    run = await running()
    started = time.monotonic()
    iid = await run.push(
        2, {"id": "1", "name": "paper", "type": 1, "options": [{"name": "query", "type": 3, "value": "prefix quant"}]}
    )
    [first] = await run.replies(iid)
    assert time.monotonic() - started < 3.0  # Discord's deadline for the first response (the fake enforces it too)
    assert first.kind == "callback" and first.body["type"] in (CHANNEL_MESSAGE, DEFERRED)
    if first.body["type"] == DEFERRED:  # a slow machine: the card comes as a follow-up
        [_, card] = await run.replies(iid, 2)
        assert card.kind == "followup"
        data = dict(card.body)
    else:
        data = first.body["data"]
    assert data["flags"] & EPHEMERAL
    assert data["embeds"][0]["title"].startswith("PrefixQuant")
    assert data["allowed_mentions"] == {"parse": []}


async def test_autocomplete_over_the_gateway(running: Callable[..., Any]) -> None:
    run = await running()
    iid = await run.push(
        4,
        {
            "id": "1",
            "name": "paper",
            "type": 1,
            "options": [{"name": "query", "type": 3, "value": "", "focused": True}],
        },
    )
    [reply] = await run.replies(iid)
    assert reply.body["type"] == AUTOCOMPLETE_RESULT
    choices = reply.body["data"]["choices"]
    assert 1 <= len(choices) <= 25  # Discord's limit on autocomplete choices


async def test_stop_ends_serve_cleanly(running: Callable[..., Any], fake: FakeDiscord) -> None:
    run = await running()
    session = fake.gateway.current
    run.stop.set()
    await asyncio.wait_for(run.task, 5)
    assert run.task.result() is None
    async with asyncio.timeout(2):
        await fake.gateway.disconnected.wait()
    assert session.closed_by_client and session.close_code == 1000  # a normal close, not a dropped socket
    assert _gateway_tasks() == set()
    async with asyncio.timeout(2):  # discord.py's heartbeat thread stops with the socket
        while any(t.name.startswith("keep-alive-handler") for t in threading.enumerate()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    gc.collect()  # an unclosed aiohttp session would warn here (and filterwarnings=error fails the test)


async def test_serve_with_a_wrong_token_is_a_config_error(fake: FakeDiscord, seeded_store: Store) -> None:
    config = _with(make_config(fake), token="wrong")
    with pytest.raises(ConfigError, match="rejected the bot token"):
        await asyncio.wait_for(serve(config, seeded_store, stop=asyncio.Event()), 5)
    assert fake.gateway.sessions == []
    assert _gateway_tasks() == set()


# sync_commands -------------------------------------------------------------------------------------


def _check_synced(fake: FakeDiscord, guild_id: int | None) -> None:
    [sync] = fake.command_syncs
    assert sync.guild_id == guild_id
    assert {c["name"] for c in sync.body} == COMMANDS
    by_name = {c["name"]: c for c in fake.commands(guild_id)}
    assert set(by_name) == COMMANDS
    assert int(by_name["digest"]["default_member_permissions"]) == MANAGE_GUILD
    assert all(by_name[n]["default_member_permissions"] is None for n in COMMANDS - {"digest"})
    digest_subcommands = {o["name"] for o in by_name["digest"]["options"]}
    assert {
        "on",
        "off",
        "time",
        "timezone",
        "days",
        "top",
        "topics",
        "cadence",
        "layout",
        "status",
        "now",
    } == digest_subcommands


async def test_sync_commands_globally(fake: FakeDiscord) -> None:
    assert await sync_commands(make_config(fake), None) == len(COMMANDS)
    _check_synced(fake, None)
    assert fake.commands(fake.guild_id) == []


async def test_sync_commands_to_one_guild(fake: FakeDiscord) -> None:
    assert await sync_commands(make_config(fake), fake.guild_id) == len(COMMANDS)
    _check_synced(fake, fake.guild_id)
    assert fake.commands(None) == []


async def test_sync_commands_without_application_id_asks_discord(fake: FakeDiscord) -> None:
    config = _with(make_config(fake), application_id="")
    assert await sync_commands(config, None) == len(COMMANDS)
    assert fake.calls_to("GET /oauth2/applications/@me")
    _check_synced(fake, None)


async def test_sync_commands_with_a_wrong_token_is_a_config_error(fake: FakeDiscord) -> None:
    config = _with(make_config(fake), token="wrong")
    with pytest.raises(ConfigError, match="rejected the bot token"):
        await sync_commands(config, None)
    assert fake.command_syncs == []


async def test_sync_commands_to_a_guild_the_bot_is_not_in_fails_clearly(fake: FakeDiscord) -> None:
    with pytest.raises(DeliveryError, match="403"):
        await sync_commands(make_config(fake), 1234)
    assert fake.command_syncs == []
