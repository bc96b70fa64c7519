"""Pure mapping: markers, nonces, choices, custom ids, error mapping, invite URL (no server)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import discord
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.discord_bot import INVITE_PERMISSIONS, invite_url
from adapters.discord_commands import (
    CHOICE_NAME_MAX,
    CHOICES_MAX,
    HttpFailure,
    carries_marker,
    choices,
    delivery_error,
    digest_text,
    first_part_key,
    marked_body,
    nonce_for,
    paper_choice,
    share_custom_id,
    shared_arxiv_id,
    thread_name,
    workspace_of,
)
from adapters.discord_render import render_discord
from digestbot.config import Config, DiscordConfig
from digestbot.digest_command import is_digest_admin
from digestbot.errors import ConfigError
from digestbot.formatter import format_digest
from digestbot.labels import labels_for
from digestbot.ports import Target
from digestbot.records import Paper
from digestbot.sources.files import load_file
from tests.fakes.discord_limits import find_violations

CHANNEL = Target(platform="discord", kind="channel", id="123", workspace="9")


def test_nonce_is_stable_short_and_distinct_per_target_and_key() -> None:
    a = nonce_for(CHANNEL, "digest:2024-10-11:part1/3")
    assert a == nonce_for(CHANNEL, "digest:2024-10-11:part1/3")
    assert len(a) <= 25
    assert a != nonce_for(CHANNEL, "digest:2024-10-11:part2/3")
    assert a != nonce_for(Target(platform="discord", kind="user", id="123"), "digest:2024-10-11:part1/3")


def test_marked_seed_digest_parts_stay_within_discord_limits(seed_path) -> None:
    loaded = load_file(seed_path)
    from digestbot.records import Digest

    message = format_digest(Digest(date=loaded.digest_date, papers=tuple(loaded.papers)), labels_for("en"))
    bodies = render_discord(message)
    assert len(bodies) > 1
    for i, body in enumerate(bodies, 1):
        nonce = nonce_for(CHANNEL, f"digest:2024-10-11:part{i}/{len(bodies)}")
        marked = marked_body(body, nonce)
        assert find_violations(marked) == []
        assert marked["enforce_nonce"] is True and marked["nonce"] == nonce
        assert marked["allowed_mentions"] == {"parse": []}
        assert carries_marker(marked, nonce)
        assert not carries_marker(marked, nonce_for(CHANNEL, "other"))
        assert "nonce" not in body  # the rendered body itself is not changed


def test_marker_goes_to_content_when_the_embeds_are_full() -> None:
    embed = {"title": "t", "description": "x" * 4096, "footer": {"text": "f"}}
    full = {"embeds": [embed, {"description": "y" * (6000 - 4096 - 2)}], "allowed_mentions": {"parse": []}}
    marked = marked_body(full, "dgbabc")
    assert marked["embeds"][-1].get("footer") is None
    assert marked["content"].endswith("-# ref dgbabc")
    assert find_violations(marked) == []
    text_only = marked_body({"content": "z" * 2000}, "dgbabc")
    assert len(text_only["content"]) <= 2000 and carries_marker(text_only, "dgbabc")


def test_first_part_key_and_thread_name() -> None:
    assert first_part_key("digest:2024-10-11:part3/4") == "digest:2024-10-11:part1/4"
    assert first_part_key("digest:2024-10-11:part1/4") is None
    assert first_part_key("digest:2024-10-11") is None
    assert thread_name({"content": "**Daily Papers — 2024-10-11** (2/3)"}) == "Daily Papers — 2024-10-11"
    assert thread_name({}) == "Digest"
    assert len(thread_name({"content": "**" + "w " * 300 + "**"})) <= 100


@given(st.lists(st.tuples(st.text(max_size=300), st.text(max_size=300)), max_size=80))
def test_choices_never_break_discord_limits(items: list[tuple[str, str]]) -> None:
    out = choices(items)
    assert len(out) <= CHOICES_MAX
    for c in out:
        assert 1 <= len(c.name) <= CHOICE_NAME_MAX and 1 <= len(c.value) <= 100
    assert len({c.value for c in out}) == len(out)


def test_paper_choice_keeps_the_id_visible() -> None:
    name, value = paper_choice(Paper(arxiv_id="2410.05265", title="word " * 60))
    assert len(name) <= 100 and name.endswith("(2410.05265)") and value == "2410.05265"


def test_share_custom_id_round_trip() -> None:
    assert shared_arxiv_id(share_custom_id("2410.05265")) == "2410.05265"
    assert shared_arxiv_id(share_custom_id("hep-th/9901001")) == "hep-th/9901001"
    assert shared_arxiv_id("digestbot:share:not-an-id") is None
    assert shared_arxiv_id("other:2410.05265") is None
    with pytest.raises(ValueError):
        share_custom_id("x" * 100)


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (403, 50007, True),
        (403, 50001, True),
        (403, 50013, True),
        (404, 10003, True),
        (400, 50035, True),
        (500, 0, False),
        (502, 0, False),
        (429, 0, False),
        (408, 0, False),
    ],
)
def test_delivery_error_mapping(status: int, code: int, permanent: bool) -> None:
    err = delivery_error("discord:channel:1 k", HttpFailure(status=status, code=code, text="x", retry_after=2.0))
    assert err.permanent is permanent
    if status == 429:
        assert err.retry_after == 2.0
    assert str(status) in str(err)


def test_admin_rule_and_workspace() -> None:
    assert is_digest_admin(1, platform_admin=True, admins=())
    assert is_digest_admin(7, platform_admin=False, admins=(" 7",))
    assert not is_digest_admin(8, platform_admin=False, admins=("7",))
    assert workspace_of(None) == "" and workspace_of(55) == "55"
    assert digest_text("top", 5) == "top 5" and digest_text("status") == "status"


def test_invite_url_has_exact_scopes_and_permissions() -> None:
    url = invite_url(Config(discord=DiscordConfig(application_id="1234")))
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == ["1234"]
    assert query["scope"] == ["bot applications.commands"]
    perms = discord.Permissions(int(query["permissions"][0]))
    assert perms.value == (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 35) | (
        1 << 38
    )  # view_channel = read_messages
    assert perms == INVITE_PERMISSIONS
    granted = {name for name, on in perms if on}
    assert granted == {
        "read_messages",
        "send_messages",
        "embed_links",
        "read_message_history",
        "create_public_threads",
        "send_messages_in_threads",
    }
    with pytest.raises(ConfigError, match="application_id"):
        invite_url(Config())
