from __future__ import annotations

import pytest

from digestbot.channels import load_channels, save_settings
from digestbot.config import ChannelConfig, Config
from digestbot.errors import CommandError
from digestbot.store import open_store

CONFIG = Config(
    channels=(
        ChannelConfig(platform="slack", id="C1", workspace="T1", time="08:00", top=5),
        ChannelConfig(platform="discord", id="D1"),
    )
)


@pytest.fixture
async def store(store_target):
    """Each test on SQLite and on PostgreSQL."""
    async with await open_store(store_target) as s:
        yield s


async def test_chat_settings_win_key_by_key_and_chat_only_channels_appear(store):
    await store.set_channel_settings(platform="slack", channel_id="C1", workspace="T1", settings={"top": 3})
    await store.set_channel_settings(
        platform="discord", channel_id="D2", settings={"time": "07:30", "timezone": "Europe/Berlin"}
    )
    channels = {c.id: c for c in await load_channels(store, CONFIG)}
    assert channels["C1"].top == 3 and channels["C1"].schedule.describe() == "08:00 UTC daily"
    assert channels["C1"].source == "config+chat"
    assert channels["D2"].schedule.describe() == "07:30 Europe/Berlin daily" and channels["D2"].source == "chat"
    stored = await store.set_channel_settings(platform="slack", channel_id="C1", workspace="T1", settings={"top": None})
    assert stored == {}
    assert {c.id: c for c in await load_channels(store, CONFIG)}["C1"].top == 5


async def test_disable_and_reenable(store):
    assert await store.disable_channel(platform="discord", channel_id="D1", reason="Missing Access")
    assert not await store.disable_channel(platform="discord", channel_id="D1", reason="again")
    assert [c.id for c in await load_channels(store, CONFIG)] == ["C1"]
    (d1,) = [c for c in await load_channels(store, CONFIG, include_disabled=True) if c.id == "D1"]
    assert d1.disabled_reason == "again" and not d1.enabled
    await store.enable_channel(platform="discord", channel_id="D1")
    assert {c.id for c in await load_channels(store, CONFIG)} == {"C1", "D1"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"top": 0}, "top must be"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"time": "25:00"}, "24-hour time"),
        ({"weekdays": ["funday"]}, "unknown weekday"),
        ({"colour": "red"}, "unknown channel setting"),
        ({"topics": ['"unbalanced']}, "unbalanced quote"),
    ],
)
async def test_bad_settings_are_command_errors_and_store_nothing(store, settings, message):
    with pytest.raises(CommandError, match=message):
        await save_settings(store, platform="discord", channel_id="D9", settings=settings)
    assert await store.channel_rows() == []


@pytest.mark.parametrize("top", [0, 101])
async def test_top_is_one_rule_in_the_same_words_for_config_digest_and_store(store, tmp_path, top):
    # One check (channels.check_setting) and one range (TOP_MIN..TOP_MAX) behind all three entry ways.
    from digestbot.channels import TOP_MAX, TOP_MIN
    from digestbot.config import load_config
    from digestbot.digest_command import parse_digest_text
    from digestbot.errors import ConfigError

    rule = f"must be between {TOP_MIN} and {TOP_MAX}, got {top}"
    path = tmp_path / "c.yaml"
    path.write_text(f"channels:\n  - {{platform: slack, id: C1, top: {top}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as from_config:
        load_config(path, env={})
    with pytest.raises(CommandError) as from_chat:
        parse_digest_text(f"top {top}")
    with pytest.raises(CommandError) as from_store:
        await save_settings(store, platform="slack", channel_id="C1", settings={"top": top})
    assert str(from_config.value).endswith(f"channels[0].top: {rule}")
    assert str(from_chat.value) == f"top {rule}."
    assert str(from_store.value) == f"top {rule}"


async def test_the_store_keeps_no_setting_rules_but_a_failing_check_stores_nothing(store):
    # The rules are channels.save_settings'; the store runs the caller's check on the merged result
    # inside its write, so a rejected change leaves the row as it was.
    await store.set_channel_settings(platform="slack", channel_id="C1", settings={"top": 3})

    def refuse(merged):
        assert merged == {"top": 3, "time": "07:00"}
        raise CommandError("no")

    with pytest.raises(CommandError, match="no"):
        await store.set_channel_settings(platform="slack", channel_id="C1", settings={"time": "07:00"}, check=refuse)
    (row,) = await store.channel_rows()
    assert row["settings"] == '{"top": 3}'
