"""The pure Slack mapping: request bodies in, Slack JSON and DeliveryErrors out."""

from __future__ import annotations

import pytest

from adapters.slack_commands import (
    SHARE_ACTION,
    delivery_error,
    ephemeral_replies,
    find_marked,
    is_workspace_admin,
    key_of,
    marked,
    parse_share,
    parse_slash,
    public_replies,
    text_reply,
)
from digestbot.digest_command import is_digest_admin
from digestbot.http_status import retry_after_of
from tests.fakes.slack_limits import check_message


def test_parse_slash() -> None:
    cmd = parse_slash(
        {"command": "/paper", "text": "x", "user_id": "U1", "team_id": "T1", "channel_id": "C1", "response_url": "u"}
    )
    assert (cmd.command, cmd.text, cmd.user, cmd.workspace, cmd.channel, cmd.response_url) == (
        "/paper",
        "x",
        "U1",
        "T1",
        "C1",
        "u",
    )
    assert parse_slash({"command": "/paper"}).text == ""


@pytest.mark.parametrize(
    ("value", "expected"), [("2410.05265", "2410.05265"), ("arXiv:2410.05265v2", "2410.05265"), ("<!here>", None)]
)
def test_parse_share(value: str, expected: str | None) -> None:
    body = {
        "user": {"id": "U1"},
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "actions": [{"action_id": SHARE_ACTION, "value": value}],
    }
    share = parse_share(body)
    assert (share.arxiv_id if share else None) == expected


def test_replies_are_valid_response_url_bodies() -> None:
    payload = {
        "text": "t",
        "blocks": [{"type": "divider"}],
        "metadata": {"event_type": "e", "event_payload": {}},
        "unfurl_links": False,
    }
    [eph] = ephemeral_replies([payload], share_id="2410.05265")
    assert eph["response_type"] == "ephemeral" and "metadata" not in eph
    assert eph["blocks"][-1]["elements"][0]["value"] == "2410.05265"
    assert check_message(eph) == []
    assert "actions" not in str(payload)  # the rendered payload itself is not modified
    [pub] = public_replies([payload])
    assert pub == {
        "text": "t",
        "blocks": [{"type": "divider"}],
        "response_type": "in_channel",
        "replace_original": False,
    }
    full = {"text": "t", "blocks": [{"type": "divider"}] * 50}
    assert len(ephemeral_replies([full], share_id="2410.05265")[0]["blocks"]) == 50  # no room: no button


def test_text_reply_escapes() -> None:
    assert text_reply("a <!channel> & b")["text"] == "a &lt;!channel&gt; &amp; b"


def test_is_admin() -> None:
    assert is_workspace_admin({"is_admin": True}) and is_workspace_admin({"is_primary_owner": True})
    assert is_workspace_admin({"is_owner": True}) and not is_workspace_admin({"is_admin": False})
    assert is_digest_admin("U1", platform_admin=False, admins=("U1 ",))
    assert not is_digest_admin("U1", platform_admin=is_workspace_admin({"is_admin": False}), admins=("U2",))


def test_marking_round_trip() -> None:
    payload = {"text": "t", "metadata": {"event_type": "digestbot_post", "event_payload": {"part": 1, "key": "d"}}}
    out = marked(payload, "digest:2024-10-11:1/2")
    assert out["metadata"]["event_payload"] == {"part": 1, "key": "digest:2024-10-11:1/2"}
    assert payload["metadata"]["event_payload"]["key"] == "d"
    assert key_of(out) == "digest:2024-10-11:1/2"
    assert key_of({"metadata": {"event_type": "other", "event_payload": {"key": "x"}}}) is None
    assert key_of({"text": "a human"}) is None
    assert find_marked([{"text": "a"}, out], "digest:2024-10-11:1/2") is out


@pytest.mark.parametrize(
    ("error", "status", "permanent"),
    [
        ("channel_not_found", 200, True),
        ("not_in_channel", 200, True),
        ("is_archived", 200, True),
        ("account_inactive", 200, True),
        ("cannot_dm_bot", 200, True),
        ("user_not_found", 200, True),
        ("ratelimited", 429, False),
        ("fatal_error", 500, False),
        ("invalid_auth", 200, False),
        ("invalid_blocks", 200, False),
    ],
)
def test_delivery_error(error: str, status: int, permanent: bool) -> None:
    exc = delivery_error("chat.postMessage slack:channel:C1", error=error, status=status, retry_after=3.0)
    assert exc.permanent is permanent
    assert error in str(exc)


def test_retry_after() -> None:
    assert retry_after_of({"Retry-After": "7"}) == 7.0
    assert retry_after_of({"retry-after": ["2"]}) == 2.0
    assert retry_after_of({"Retry-After": "soon"}) is None
    assert retry_after_of(None) is None
    assert delivery_error("x", error="", status=429).retry_after == 1.0


def test_manifest_declares_every_registered_command_and_needed_scope() -> None:
    import yaml

    from adapters.slack_commands import COMMANDS
    from tests.conftest import ROOT

    manifest = yaml.safe_load((ROOT / "adapters" / "slack_manifest.yaml").read_text(encoding="utf-8"))
    assert sorted(c["command"] for c in manifest["features"]["slash_commands"]) == sorted(COMMANDS)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "im:write", "users:read", "channels:history", "im:history"} <= scopes
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
