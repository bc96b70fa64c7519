"""The Block Kit validator accepts a realistic digest and rejects each documented limit broken by one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.fakes.slack_limits import (
    MAX_BLOCKS,
    check_message,
    slack_text_length,
    validate_message,
)


def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def digest_message() -> dict[str, Any]:
    """Build a message shaped like one digestbot post: header, context, papers, buttons, metadata."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "Daily Papers (2024-10-11)", "emoji": True},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "25 papers · summaries by the source"}]},
        {"type": "divider"},
    ]
    for n in range(1, 4):
        blocks.append(
            _section(
                f"*<https://arxiv.org/abs/2410.0526{n}|Paper {n}: Q&amp;A for &lt;LLMs&gt;>*\n"
                "*What's New*: 모델이 &lt;think&gt; 토큰을 씁니다 — 👍 <mailto:a@b.org|mail>",
                block_id=f"paper-2410.0526{n}",
                accessory={
                    "type": "image",
                    "image_url": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2410.0526{n}.png",
                    "alt_text": f"Thumbnail of paper {n}",
                },
            )
        )
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Votes*\n42"},
                    {"type": "mrkdwn", "text": "*Authors*\nA. Author, B. Author"},
                ],
            }
        )
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": "Vote: 42"}]})
    blocks.append(
        {
            "type": "actions",
            "block_id": "digest-actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open on arXiv"},
                    "url": "https://arxiv.org/abs/2410.05261",
                    "action_id": "open-arxiv",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Subscribe"},
                    "value": "topic:llm",
                    "action_id": "subscribe",
                    "style": "primary",
                },
            ],
        }
    )
    blocks.append(
        {
            "type": "image",
            "image_url": "https://example.org/chart.png",
            "alt_text": "chart",
            "title": {"type": "plain_text", "text": "Votes today"},
        }
    )
    blocks.append({"type": "rich_text", "elements": []})
    return {
        "channel": "C0DIGEST",
        "text": "Daily Papers (2024-10-11): 25 papers — Q&amp;A for &lt;LLMs&gt; …",
        "blocks": blocks,
        "metadata": {
            "event_type": "digest_posted",
            "event_payload": {"digest_date": "2024-10-11", "part": 1},
        },
    }


def test_realistic_digest_message_is_valid() -> None:
    assert validate_message(digest_message()) == []


def test_text_only_message_is_valid() -> None:
    assert validate_message({"channel": "C1", "text": "hello <https://example.org>"}) == []


def _break(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """Return the digest message with the item at ``path`` replaced by ``value`` (or deleted for ...)."""
    payload = copy.deepcopy(digest_message())
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


# (path into digest_message(), replacement, expected JSON pointer, expected fragment, Slack error)
# Block indexes: 0 header, 1 context, 2 divider, 3 paper section, 4 fields section, 5 context,
# ... 12 actions, 13 image, 14 rich_text.
BAD_CASES = [
    pytest.param(("text",), ..., "/text", "missing top-level `text`", "no_text", id="text-missing"),
    pytest.param(("text",), "", "/text", "missing top-level `text`", "no_text", id="text-empty"),
    pytest.param(("text",), "x" * 40_001, "/text", "at most 40000", "msg_too_long", id="text-too-long"),
    pytest.param(("text",), "hi <!channel>", "/text", "unescaped '<'", "invalid_arguments", id="text-channel"),
    pytest.param(
        ("blocks",),
        [{"type": "divider"}] * (MAX_BLOCKS + 1),
        "/blocks",
        "at most 50 blocks",
        "invalid_blocks",
        id="too-many-blocks",
    ),
    pytest.param(
        ("blocks",),
        {"type": "divider"},
        "/blocks",
        "must be an array",
        "invalid_blocks",
        id="blocks-not-array",
    ),
    pytest.param(
        ("blocks", 2, "type"),
        "carousel_of_doom",
        "/blocks/2/type",
        "unsupported block type",
        "invalid_blocks",
        id="unknown-block-type",
    ),
    pytest.param(
        ("blocks", 0, "text", "text"),
        "H" * 151,
        "/blocks/0/text/text",
        "less than 151",
        "invalid_blocks",
        id="header-too-long",
    ),
    pytest.param(
        ("blocks", 0, "text"),
        {"type": "mrkdwn", "text": "H"},
        "/blocks/0/text/type",
        "must be 'plain_text'",
        "invalid_blocks",
        id="header-mrkdwn",
    ),
    pytest.param(
        ("blocks", 3, "text", "text"),
        "s" * 3001,
        "/blocks/3/text/text",
        "less than 3001",
        "invalid_blocks",
        id="section-text-too-long",
    ),
    pytest.param(
        ("blocks", 3, "text", "text"),
        "",
        "/blocks/3/text/text",
        "more than 0 characters",
        "invalid_blocks",
        id="section-text-empty",
    ),
    pytest.param(
        ("blocks", 3, "text"),
        ...,
        "/blocks/3",
        "needs `text` or `fields`",
        "invalid_blocks",
        id="section-empty",
    ),
    pytest.param(
        ("blocks", 4, "fields"),
        [{"type": "mrkdwn", "text": "f"}] * 11,
        "/blocks/4/fields",
        "at most 10 items",
        "invalid_blocks",
        id="section-too-many-fields",
    ),
    pytest.param(
        ("blocks", 4, "fields", 1, "text"),
        "f" * 2001,
        "/blocks/4/fields/1/text",
        "less than 2001",
        "invalid_blocks",
        id="section-field-too-long",
    ),
    pytest.param(
        ("blocks", 1, "elements"),
        [{"type": "mrkdwn", "text": "c"}] * 11,
        "/blocks/1/elements",
        "at most 10 items",
        "invalid_blocks",
        id="context-too-many-elements",
    ),
    pytest.param(
        ("blocks", 1, "elements", 0, "text"),
        "c" * 3001,
        "/blocks/1/elements/0/text",
        "less than 3001",
        "invalid_blocks",
        id="context-text-too-long",
    ),
    pytest.param(
        ("blocks", 13, "image_url"),
        ...,
        "/blocks/13",
        "exactly one of `image_url`",
        "invalid_blocks",
        id="image-no-url",
    ),
    pytest.param(
        ("blocks", 13, "image_url"),
        "/avatars/1.svg",
        "/blocks/13/image_url",
        "absolute http(s)",
        "invalid_blocks",
        id="image-relative-url",
    ),
    pytest.param(
        ("blocks", 13, "image_url"),
        "https://e.org/" + "i" * 3000,
        "/blocks/13/image_url",
        "less than 3001",
        "invalid_blocks",
        id="image-url-too-long",
    ),
    pytest.param(
        ("blocks", 13, "alt_text"),
        "a" * 2001,
        "/blocks/13/alt_text",
        "less than 2001",
        "invalid_blocks",
        id="image-alt-too-long",
    ),
    pytest.param(
        ("blocks", 13, "alt_text"),
        ...,
        "/blocks/13/alt_text",
        "is required",
        "invalid_blocks",
        id="image-alt-missing",
    ),
    pytest.param(
        ("blocks", 3, "accessory", "image_url"),
        "ftp://x.org/a.png",
        "/blocks/3/accessory/image_url",
        "absolute http(s)",
        "invalid_blocks",
        id="accessory-image-ftp",
    ),
    pytest.param(
        ("blocks", 12, "block_id"),
        "b" * 256,
        "/blocks/12/block_id",
        "less than 256",
        "invalid_blocks",
        id="block-id-too-long",
    ),
    pytest.param(
        ("blocks", 12, "block_id"),
        "paper-2410.05261",
        "/blocks/12/block_id",
        "duplicate block_id",
        "invalid_blocks",
        id="block-id-duplicate",
    ),
    pytest.param(
        ("blocks", 12, "elements", 0, "text", "text"),
        "b" * 76,
        "/blocks/12/elements/0/text/text",
        "less than 76",
        "invalid_blocks",
        id="button-text-too-long",
    ),
    pytest.param(
        ("blocks", 12, "elements", 0, "action_id"),
        "a" * 256,
        "/blocks/12/elements/0/action_id",
        "less than 256",
        "invalid_blocks",
        id="button-action-id-too-long",
    ),
    pytest.param(
        ("blocks", 12, "elements", 1, "action_id"),
        "open-arxiv",
        "/blocks/12/elements/1/action_id",
        "duplicate action_id",
        "invalid_blocks",
        id="button-action-id-duplicate",
    ),
    pytest.param(
        ("blocks", 12, "elements", 1, "value"),
        "v" * 2001,
        "/blocks/12/elements/1/value",
        "less than 2001",
        "invalid_blocks",
        id="button-value-too-long",
    ),
    pytest.param(
        ("blocks", 12, "elements", 0, "url"),
        "https://arxiv.org/" + "u" * 3000,
        "/blocks/12/elements/0/url",
        "less than 3001",
        "invalid_blocks",
        id="button-url-too-long",
    ),
    pytest.param(
        ("blocks", 12, "elements", 1, "style"),
        "green",
        "/blocks/12/elements/1/style",
        "'primary' or 'danger'",
        "invalid_blocks",
        id="button-style",
    ),
    pytest.param(
        ("blocks", 12, "elements"),
        [{"type": "button", "text": {"type": "plain_text", "text": "b"}}] * 26,
        "/blocks/12/elements",
        "at most 25 items",
        "invalid_blocks",
        id="actions-too-many",
    ),
    pytest.param(
        ("blocks", 3, "text", "text"),
        "hey <!here> look",
        "/blocks/3/text/text",
        "unescaped '<'",
        "invalid_blocks",
        id="mrkdwn-here",
    ),
    pytest.param(
        ("blocks", 3, "text", "text"),
        "ping <@U012AB3CD>",
        "/blocks/3/text/text",
        "unescaped '<'",
        "invalid_blocks",
        id="mrkdwn-user-mention",
    ),
    pytest.param(
        ("blocks", 4, "fields", 0, "text"),
        "<!everyone>",
        "/blocks/4/fields/0/text",
        "unescaped '<'",
        "invalid_blocks",
        id="mrkdwn-everyone-in-field",
    ),
    pytest.param(
        ("blocks", 3, "text", "text"),
        "a < b",
        "/blocks/3/text/text",
        "unescaped '<'",
        "invalid_blocks",
        id="mrkdwn-raw-less-than",
    ),
    pytest.param(
        ("blocks", 3, "text", "text"),
        "<javascript:alert(1)|x>",
        "/blocks/3/text/text",
        "unescaped '<'",
        "invalid_blocks",
        id="mrkdwn-non-http-link",
    ),
    pytest.param(
        ("blocks", 3, "text", "verbatim"),
        True,
        "/blocks/3/text/verbatim",
        None,
        None,
        id="mrkdwn-verbatim-ok",
    ),
    pytest.param(
        ("blocks", 5, "elements", 0, "verbatim"),
        True,
        "/blocks/5/elements/0/verbatim",
        "only allowed on mrkdwn",
        "invalid_blocks",
        id="plain-text-verbatim",
    ),
    pytest.param(
        ("blocks", 14, "elements"),
        "nope",
        "/blocks/14/elements",
        "must be an array",
        "invalid_blocks",
        id="rich-text-elements",
    ),
    pytest.param(
        ("metadata",),
        "digest_posted",
        "/metadata",
        "must be an object",
        "invalid_metadata_format",
        id="metadata-not-object",
    ),
    pytest.param(
        ("metadata", "event_type"),
        ...,
        "/metadata/event_type",
        "non-empty string",
        "invalid_metadata_format",
        id="metadata-no-event-type",
    ),
    pytest.param(
        ("metadata", "event_type"),
        7,
        "/metadata/event_type",
        "non-empty string",
        "invalid_metadata_format",
        id="metadata-event-type-not-string",
    ),
    pytest.param(
        ("metadata", "event_payload"),
        "{}",
        "/metadata/event_payload",
        "must be an object",
        "invalid_metadata_format",
        id="metadata-payload-not-object",
    ),
]


@pytest.mark.parametrize(("path", "value", "pointer", "fragment", "error"), BAD_CASES)
def test_each_rule_is_enforced(
    path: tuple[Any, ...], value: Any, pointer: str, fragment: str | None, error: str | None
) -> None:
    violations = check_message(_break(path, value))
    if fragment is None:
        assert violations == []
        return
    assert len(violations) == 1, violations
    (violation,) = violations
    assert violation.pointer == pointer
    assert fragment in violation.detail
    assert violation.error == error
    assert str(violation).endswith(f"[json-pointer:{pointer}]")


def test_limits_are_inclusive_at_the_boundary() -> None:
    payload = digest_message()
    payload["text"] = "t" * 40_000
    payload["blocks"][0]["text"]["text"] = "H" * 150
    payload["blocks"][3]["text"]["text"] = "s" * 3000
    payload["blocks"][4]["fields"] = [{"type": "mrkdwn", "text": "f" * 2000}] * 10
    payload["blocks"][12]["elements"][0]["text"]["text"] = "b" * 75
    payload["blocks"][13]["alt_text"] = "a" * 2000
    assert validate_message(payload) == []
    payload["blocks"] = payload["blocks"] + [{"type": "divider"}] * (MAX_BLOCKS - len(payload["blocks"]))
    assert validate_message(payload) == []


def test_emoji_counts_as_one_character() -> None:
    payload = digest_message()
    payload["blocks"][0]["text"]["text"] = "😀" * 150  # 300 UTF-16 units, 600 UTF-8 bytes
    assert validate_message(payload) == []
    payload["blocks"][0]["text"]["text"] = "😀" * 151
    assert validate_message(payload) == [
        "must be less than 151 characters (got 151) [json-pointer:/blocks/0/text/text]"
    ]


def test_slack_text_length_counts_code_points() -> None:
    assert slack_text_length("") == 0
    assert slack_text_length("abc") == 3
    assert slack_text_length("😀") == 1
    assert slack_text_length("e\u0301") == 2
    assert slack_text_length("한국어") == 3
    assert slack_text_length("&amp;") == 5


def test_escaped_control_sequences_are_accepted() -> None:
    text = "&lt;!channel&gt; &lt;@U012AB3CD&gt; &amp; <https://x.org/a?b=1&amp;c=2|a &lt;link&gt;>"
    assert validate_message({"text": text, "blocks": [_section(text)]}) == []


def test_plain_text_is_not_checked_for_control_sequences() -> None:
    block = {"type": "context", "elements": [{"type": "plain_text", "text": "a < b"}]}
    assert validate_message({"text": "t", "blocks": [block]}) == []


def test_delete_original_response_needs_no_text() -> None:
    assert validate_message({"delete_original": True}) == []


def test_several_violations_are_all_reported() -> None:
    payload = digest_message()
    del payload["text"]
    payload["blocks"][0]["text"]["text"] = "H" * 151
    payload["metadata"] = {"event_type": ""}
    pointers = [v.pointer for v in check_message(payload)]
    assert pointers == ["/text", "/blocks/0/text/text", "/metadata/event_type", "/metadata/event_payload"]


def test_non_object_payload_is_rejected() -> None:
    assert validate_message(["text"]) == ["payload must be a JSON object [json-pointer:]"]  # type: ignore[arg-type]
