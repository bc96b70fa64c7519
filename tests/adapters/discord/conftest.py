"""Fixtures for the Discord adapter tests: the fake Discord REST API, a config pointing at it, helpers.

Everything goes through discord.py's real HTTP client; interactions are fed to the real command
tree / view store as the gateway would deliver them (``parse_interaction_create``), and their
responses land on the fake's interaction callback and webhook routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest

from adapters.discord_client import DigestbotClient
from digestbot.config import ChannelConfig, Config, DiscordConfig
from digestbot.store import Store
from tests.fakes.discord_base_url import point_discord_py_at
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, InteractionReply

MANAGE_GUILD = 1 << 5
ADMIN_ID = 4_000_000_000_000_000_001
MEMBER_ID = 4_000_000_000_000_000_002


def make_config(fake: FakeDiscord, *channels: int, threads: bool = False, admins: tuple[str, ...] = ()) -> Config:
    return Config(
        discord=DiscordConfig(
            enabled=True,
            token=fake.token,
            application_id=str(fake.application_id),
            api_base_url=fake.base_url,
            threads=threads,
            admins=admins,
        ),
        channels=tuple(ChannelConfig(platform="discord", id=str(c), workspace=str(fake.guild_id)) for c in channels),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fresh fake Discord with discord.py pointed at it (like ``tests.fakes.discord_fixtures``)."""
    async with FakeDiscord() as server:
        with point_discord_py_at(server.base_url, server.gateway_url):
            yield server


def _user(user_id: int) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": f"user{user_id % 1000}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "public_flags": 0,
    }


def interaction_payload(
    fake: FakeDiscord,
    fi: FakeInteraction,
    *,
    kind: int,
    data: dict[str, Any],
    user_id: int = MEMBER_ID,
    permissions: int = 0,
    in_guild: bool = True,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an INTERACTION_CREATE payload as the gateway sends it (docs/interactions/receiving-and-responding)."""
    payload: dict[str, Any] = {
        "id": str(fi.id),
        "application_id": str(fi.application_id),
        "type": kind,
        "token": fi.token,
        "version": 1,
        "data": data,
        "channel_id": str(fi.channel_id),
        "locale": "en-US",
        "app_permissions": "0",
        "attachment_size_limit": 8_388_608,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(fake.guild_id)},
    }
    if in_guild:
        payload["guild_id"] = str(fake.guild_id)
        payload["guild_locale"] = "en-US"
        payload["context"] = 0
        payload["channel"] = {
            "id": str(fi.channel_id),
            "type": 0,
            "guild_id": str(fake.guild_id),
            "name": "papers",
            "position": 0,
            "flags": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "topic": None,
        }
        payload["member"] = {
            "user": _user(user_id),
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "permissions": str(permissions),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "pending": False,
        }
    else:
        payload["context"] = 1
        payload["channel"] = {"id": str(fi.channel_id), "type": 1, "flags": 0, "recipients": [_user(user_id)]}
        payload["user"] = _user(user_id)
    if message is not None:
        payload["message"] = message
    return payload


class Harness:
    """A logged-in DigestbotClient (REST only) and ways to feed it interactions and see the answers."""

    def __init__(self, fake: FakeDiscord, client: DigestbotClient, channel_id: int) -> None:
        self.fake = fake
        self.client = client
        self.channel_id = channel_id

    async def interact(
        self, kind: int, data: dict[str, Any], *, replies: int = 1, channel_id: int | None = None, **kw: Any
    ) -> list[InteractionReply]:
        """Deliver one interaction; wait for ``replies`` answers to it (callback + follow-ups) and return them."""
        fi = self.fake.register_interaction(channel_id=channel_id or self.channel_id)
        self.client._connection.parse_interaction_create(interaction_payload(self.fake, fi, kind=kind, data=data, **kw))
        return await self.wait_replies(fi.id, replies)

    async def wait_replies(self, interaction_id: int, count: int, wait: float = 5.0) -> list[InteractionReply]:
        def mine() -> list[InteractionReply]:
            return [r for r in self.fake.interaction_responses if r.interaction_id == interaction_id]

        async with asyncio.timeout(wait):
            while len(mine()) < count:  # noqa: ASYNC110  (the fake records replies as it serves them)
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let anything extra arrive, so tests can check there is nothing more
        return mine()

    async def command(
        self, name: str, options: list[dict[str, Any]] | None = None, **kw: Any
    ) -> list[InteractionReply]:
        """Run a chat-input command (type 2)."""
        return await self.interact(2, {"id": "1", "name": name, "type": 1, "options": options or []}, **kw)

    async def autocomplete(self, name: str, options: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
        """Ask for autocomplete choices (type 4); return the choices answered."""
        [reply] = await self.interact(4, {"id": "1", "name": name, "type": 1, "options": options}, **kw)
        assert reply.body["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
        return list(reply.body["data"]["choices"])

    async def click(self, custom_id: str, message: dict[str, Any], **kw: Any) -> list[InteractionReply]:
        """Click a button (type 3) on ``message``."""
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.interact(3, data, message=message, **kw)


@pytest.fixture
async def harness_factory(fake: FakeDiscord) -> AsyncIterator[Callable[..., Any]]:
    clients: list[DigestbotClient] = []

    async def make(config: Config, store: Store, *, engine: Any = None) -> Harness:
        client = DigestbotClient(config, store, engine=engine)
        await client._async_setup_hook()  # what Client.login does first (login also wants GET /oauth2/applications/@me)
        me = await client.http.static_login(fake.token)
        client._connection.user = discord.ClientUser(state=client._connection, data=me)  # READY would set it
        await client.setup_hook()
        clients.append(client)
        return Harness(fake, client, fake.add_channel(name="commands"))

    yield make
    for client in clients:
        await client.http.close()


@pytest.fixture
async def harness(harness_factory: Callable[..., Any], fake: FakeDiscord, seeded_store: Store) -> Harness:
    return await harness_factory(make_config(fake, admins=(str(ADMIN_ID),)), seeded_store)
