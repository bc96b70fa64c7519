"""Pytest fixtures for the fake Discord; enable with ``pytest_plugins = ["tests.fakes.discord_fixtures"]``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord.http
import pytest

from tests.fakes.discord_base_url import point_discord_py_at
from tests.fakes.discord_server import FakeDiscord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """Run a fresh :class:`FakeDiscord` on a loopback port for one test."""
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def discord_http(fake_discord: FakeDiscord) -> AsyncIterator[discord.http.HTTPClient]:
    """Yield discord.py's real ``HTTPClient``, logged in to ``fake_discord``; close it afterwards."""
    with point_discord_py_at(fake_discord.base_url, fake_discord.gateway_url):
        http = discord.http.HTTPClient(asyncio.get_running_loop())
        try:
            await http.static_login(fake_discord.token)
            yield http
        finally:
            await http.close()
