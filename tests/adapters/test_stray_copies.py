"""The adapters find a stray copy of a part (one besides the recorded message) and delete it (#15).

Through the real slack_sdk and discord.py clients against the fake platforms, which enforce the
APIs' rules (``chat.delete``: channel and ts; Discord DELETE message: 204, 10008 when gone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.discord_poster import create_adapter as discord_adapter
from adapters.slack_poster import create_adapter as slack_adapter
from digestbot.ports import DeletesOwnMessages, Target
from tests.adapters.discord.conftest import make_config
from tests.adapters.slack.conftest import slack_config
from tests.fakes.discord_base_url import point_discord_py_at
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import FakeSlack

KEY = "digest:2024-10-11"


@pytest.fixture(params=["slack", "discord"])
async def posting(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Target, dict[str, Any]]]:
    adapter: Any
    if request.param == "slack":
        async with FakeSlack() as slack:
            slack.set_post_rate(None)
            adapter = slack_adapter(slack_config(slack))
            target = Target(platform="slack", kind="channel", id=FakeSlack.GENERAL, workspace="T0FAKE")
            await adapter.start()
            try:
                yield adapter, target, {"text": "Daily papers"}
            finally:
                await adapter.close()
        return
    # A nonce window of 0: the second copy goes through, as after enforce_nonce's few minutes.
    async with FakeDiscord(nonce_window=0.0) as discord:
        with point_discord_py_at(discord.base_url, discord.gateway_url):
            channel = discord.add_channel(name="papers")
            adapter = discord_adapter(make_config(discord, channel))
            target = Target(platform="discord", kind="channel", id=str(channel), workspace=str(discord.guild_id))
            await adapter.start()
            try:
                yield adapter, target, {"content": "Daily papers"}
            finally:
                await adapter.close()


async def test_a_stray_copy_is_found_besides_the_recorded_one_and_deleted(
    posting: tuple[Any, Target, dict[str, Any]],
) -> None:
    adapter, target, payload = posting
    assert isinstance(adapter, DeletesOwnMessages)
    recorded = await adapter.send(target, payload, key=KEY)
    assert await adapter.find_other(target, KEY, besides=recorded.message_id) is None  # one copy: nothing else
    stray = await adapter.send(target, payload, key=KEY)
    assert stray.message_id != recorded.message_id
    found = await adapter.find_other(target, KEY, besides=recorded.message_id)
    assert found is not None and found.message_id == stray.message_id
    await adapter.delete(target, found)
    await adapter.delete(target, found)  # gone already: no error
    assert await adapter.find_other(target, KEY, besides=recorded.message_id) is None
    again = await adapter.find_sent(target, KEY)
    assert again is not None and again.message_id == recorded.message_id  # the recorded one stays
