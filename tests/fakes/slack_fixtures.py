"""Pytest fixtures serving :class:`~tests.fakes.slack_server.FakeSlack`.

Load them from the top-level ``tests/conftest.py`` with
``pytest_plugins = ["tests.fakes.slack_fixtures"]`` (pytest allows ``pytest_plugins`` only there),
or import the fixtures into a lower conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_server import FakeSlack


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """Serve a fresh fake Slack on 127.0.0.1 for one test (real-Slack rate limit: 1 post/s, burst 3)."""
    async with FakeSlack() as server:
        yield server


@pytest.fixture
def fake_slack_client(fake_slack: FakeSlack) -> AsyncWebClient:
    """Return a real AsyncWebClient pointed at ``fake_slack`` with its correct bot token."""
    return AsyncWebClient(token=fake_slack.token, base_url=fake_slack.base_url)
