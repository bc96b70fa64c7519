from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.discord_limits import (
    EMBEDS_TOTAL_MAX,
    discord_text_length,
    find_violations,
    validate_interaction_response,
    validate_message,
)

NO_PINGS = {"parse": []}


def msg(**fields: Any) -> dict[str, Any]:
    """A message body with digestbot's mandatory allowed_mentions, plus ``fields``."""
    return {"allowed_mentions": dict(NO_PINGS), **fields}


def paper_embed(n: int) -> dict[str, Any]:
    """An embed shaped like one paper of the daily digest (Korean summaries, arXiv link, thumbnail)."""
    return {
        "type": "rich",
        "title": f"{n}. Pixtral 12B: 멀티모달 언어 모델의 새로운 기준 — paper {n}",
        "url": f"https://arxiv.org/abs/2410.0{n:04d}",
        "description": "Authors: Pravesh Agrawal, Szymon Antoniak, Emma Bou Hanna, Baptiste Bout",
        "color": 0xFFD21E,
        "thumbnail": {"url": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2410.0{n:04d}.png"},
        "fields": [
            {
                "name": "What's New",
                "value": "이미지와 텍스트를 모두 이해하는 12B 파라미터 모델. " * 3,
                "inline": False,
            },
            {"name": "Technical Details", "value": "새로운 비전 인코더를 처음부터 학습하여 사용. " * 3},
            {"name": "Performance Highlights", "value": "MM-MT-Bench에서 더 큰 모델보다 우수. " * 3},
        ],
        "footer": {"text": f"▲ {100 - n} votes · Hugging Face Daily Papers 2024-10-11"},
        "timestamp": "2024-10-11T00:00:00+00:00",
    }


def digest_message() -> dict[str, Any]:
    return msg(
        content="## Daily Papers (2024-10-11)",
        embeds=[paper_embed(n) for n in range(1, 11)],
        nonce="digest-2024-10-11-p1",
    )


# -- length counting --------------------------------------------------------------------------------


def test_length_counts_code_points_not_utf16_units() -> None:
    assert discord_text_length("👍") == 1  # two UTF-16 units, one code point
    assert discord_text_length("논문") == 2
    assert discord_text_length("e\u0301") == 2  # one grapheme, two code points


@given(st.text())
def test_length_is_the_utf32_unit_count(s: str) -> None:
    assert discord_text_length(s) == len(s.encode("utf-32-le")) // 4


def test_256_emoji_title_is_accepted_and_257_is_not() -> None:
    assert validate_message(msg(embeds=[{"title": "🤔" * 256}])) == []
    assert validate_message(msg(embeds=[{"title": "🤔" * 257}])) == ["embeds[0].title: Must be 256 or fewer in length."]


# -- known-good payloads -----------------------------------------------------------------------------


def test_realistic_digest_with_ten_embeds_is_valid() -> None:
    payload = digest_message()
    assert validate_message(payload) == []
    total = sum(
        len(e["title"]) + len(e["description"]) + len(e["footer"]["text"])
        + sum(len(f["name"]) + len(f["value"].strip()) for f in e["fields"])
        for e in payload["embeds"]
    )  # fmt: skip
    assert 3000 < total <= EMBEDS_TOTAL_MAX  # realistic, not trivially small


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(msg(content="x" * 2000), id="content-at-limit"),
        pytest.param(msg(embeds=[{"title": "  " + "t" * 256 + "\n"}]), id="whitespace-trimmed-before-counting"),
        pytest.param(msg(embeds=[{"description": "d" * 4096}]), id="description-at-limit"),
        pytest.param(msg(embeds=[{"fields": [{"name": "n", "value": "v"}] * 25}]), id="25-fields"),
        pytest.param(msg(embeds=[{"image": {"url": "attachment://chart.png"}}]), id="attachment-image"),
        pytest.param(msg(embeds=[{"author": {"name": "a", "url": "http://example.org"}}]), id="http-author-url"),
        pytest.param(msg(content="hi", nonce=2**63), id="int-nonce"),
        pytest.param(msg(content="hi", nonce="n" * 25), id="nonce-at-limit"),
        pytest.param(
            msg(
                components=[
                    {
                        "type": 1,
                        "components": [{"type": 2, "style": 1, "label": "b" * 80, "custom_id": "c" * 100}],
                    },
                    {
                        "type": 1,
                        "components": [{"type": 2, "style": 5, "label": "arXiv", "url": "https://arxiv.org"}],
                    },
                    {"type": 1, "components": [{"type": 3, "custom_id": "topic", "options": []}]},
                ]
            ),
            id="components-only",
        ),
        pytest.param(
            msg(content="x", allowed_mentions={"parse": [], "users": [], "roles": [], "replied_user": False}),
            id="explicit-empty-mentions",
        ),
        pytest.param(msg(content="@everyone is safe here because parse is empty"), id="mass-mention-suppressed"),
    ],
)
def test_known_good_payloads(payload: dict[str, Any]) -> None:
    assert validate_message(payload) == []


def test_files_alone_are_a_body() -> None:
    assert validate_message(msg(), has_files=True) == []
    assert validate_message(msg(attachments=[{"id": 0, "filename": "digest.md"}])) == []


def test_edit_needs_no_body() -> None:
    assert validate_message(msg(), require_body=False) == []


# -- known-bad payloads: one case (at least) per rule --------------------------------------------------


def embed(**fields: Any) -> dict[str, Any]:
    return msg(embeds=[fields])


BAD: list[Any] = [
    ("content-2001", msg(content="x" * 2001), "content: Must be 2000 or fewer in length."),
    ("content-not-string", msg(content=5), "content: Must be a string."),
    ("11-embeds", msg(embeds=[{"title": "t"}] * 11), "embeds: Must be 10 or fewer in length."),
    ("title-257", embed(title="t" * 257), "embeds[0].title: Must be 256 or fewer"),
    ("description-4097", embed(description="d" * 4097), "embeds[0].description: Must be 4096 or fewer"),
    ("26-fields", embed(fields=[{"name": "n", "value": "v"}] * 26), "embeds[0].fields: Must be 25 or fewer"),
    (
        "field-name-257",
        embed(fields=[{"name": "n" * 257, "value": "v"}]),
        "embeds[0].fields[0].name: Must be 256",
    ),
    (
        "field-value-1025",
        embed(fields=[{"name": "n", "value": "v" * 1025}]),
        "embeds[0].fields[0].value: Must be 1024",
    ),
    (
        "field-name-empty",
        embed(fields=[{"name": "", "value": "v"}]),
        "embeds[0].fields[0].name: This field is required",
    ),
    (
        "field-name-blank",
        embed(fields=[{"name": " \n", "value": "v"}]),
        "embeds[0].fields[0].name: This field is required",
    ),
    (
        "field-value-missing",
        embed(fields=[{"name": "n"}]),
        "embeds[0].fields[0].value: This field is required",
    ),
    ("footer-2049", embed(footer={"text": "f" * 2049}), "embeds[0].footer.text: Must be 2048 or fewer"),
    (
        "footer-no-text",
        embed(footer={"icon_url": "https://x.org/i.png"}),
        "embeds[0].footer.text: This field is required",
    ),
    ("author-257", embed(author={"name": "a" * 257}), "embeds[0].author.name: Must be 256 or fewer"),
    (
        "total-6001",
        msg(embeds=[{"description": "d" * 3000}, {"description": "d" * 3000, "title": "t"}]),
        "embeds: Embed size exceeds maximum size of 6000",
    ),
    ("url-ftp", embed(title="t", url="ftp://arxiv.org/x"), "embeds[0].url: Scheme 'ftp' is not supported"),
    ("url-javascript", embed(title="t", url="javascript:alert(1)"), "embeds[0].url: Scheme 'javascript'"),
    ("url-no-host", embed(title="t", url="https://"), "embeds[0].url: Not a well formed URL."),
    ("url-attachment-not-for-embed-url", embed(title="t", url="attachment://a.png"), "embeds[0].url: Scheme"),
    (
        "image-site-relative",
        embed(image={"url": "/avatars/abc.svg"}),
        "embeds[0].image.url: Scheme '' is not supported",
    ),
    (
        "thumbnail-data-uri",
        embed(thumbnail={"url": "data:image/png;base64,AAAA"}),
        "embeds[0].thumbnail.url: Scheme",
    ),
    ("thumbnail-no-url", embed(thumbnail={}), "embeds[0].thumbnail.url: Must be a string."),
    (
        "author-icon-file",
        embed(author={"name": "a", "icon_url": "file:///etc/x"}),
        "embeds[0].author.icon_url: Scheme",
    ),
    (
        "author-url-attachment",
        embed(author={"name": "a", "url": "attachment://x"}),
        "embeds[0].author.url: Scheme",
    ),
    ("empty-message", msg(), "<body>: Cannot send an empty message"),
    ("blank-content", msg(content="  \n"), "<body>: Cannot send an empty message"),
    ("empty-embeds-list", msg(embeds=[]), "<body>: Cannot send an empty message"),
    ("mentions-missing", {"content": "hi"}, "allowed_mentions: Required by digestbot policy"),
    (
        "mentions-parse-missing",
        {"content": "hi", "allowed_mentions": {}},
        "allowed_mentions.parse: Must be []",
    ),
    (
        "mentions-everyone",
        msg(content="hi", allowed_mentions={"parse": ["everyone"]}),
        "allowed_mentions.parse",
    ),
    ("mentions-roles", msg(content="hi", allowed_mentions={"parse": ["roles"]}), "allowed_mentions.parse"),
    (
        "mentions-users-list",
        msg(content="hi", allowed_mentions={"parse": [], "users": ["1"]}),
        "allowed_mentions.users",
    ),
    (
        "mentions-reply",
        msg(content="hi", allowed_mentions={"parse": [], "replied_user": True}),
        "allowed_mentions.replied_user",
    ),
    ("nonce-26", msg(content="hi", nonce="n" * 26), "nonce: Must be 25 or fewer in length."),
    ("nonce-int-26-digits", msg(content="hi", nonce=10**25), "nonce: Must be 25 or fewer in length."),
    ("nonce-bool", msg(content="hi", nonce=True), "nonce: Must be a string or an integer."),
    (
        "6-action-rows",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": f"b{i}"}]} for i in range(6)]),
        "components: Must be 5 or fewer in length.",
    ),
    (
        "6-buttons",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": f"b{i}"} for i in range(6)]}]),
        "components[0].components: Must be 5 or fewer in length.",
    ),
    (
        "button-label-81",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "b", "label": "l" * 81}]}]),
        "components[0].components[0].label: Must be 80 or fewer in length.",
    ),
    (
        "custom-id-101",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "c" * 101}]}]),
        "components[0].components[0].custom_id: Must be 100 or fewer in length.",
    ),
    (
        "custom-id-duplicated",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "same"}] * 2}]),
        "components[0].components[1].custom_id: Component custom id cannot be duplicated",
    ),
    (
        "button-without-custom-id",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 1, "label": "x"}]}]),
        "components[0].components[0].custom_id: This field is required",
    ),
    (
        "link-button-without-url",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 5, "label": "x"}]}]),
        "components[0].components[0].url: Must be a string.",
    ),
    (
        "link-button-ftp",
        msg(components=[{"type": 1, "components": [{"type": 2, "style": 5, "label": "x", "url": "ftp://a.org"}]}]),
        "components[0].components[0].url: Scheme 'ftp'",
    ),
    (
        "link-button-with-custom-id",
        msg(
            components=[{"type": 1, "components": [{"type": 2, "style": 5, "url": "https://a.org", "custom_id": "x"}]}]
        ),
        "components[0].components[0].custom_id: A link button cannot have a custom_id.",
    ),
    (
        "button-outside-row",
        msg(components=[{"type": 2, "style": 1, "custom_id": "x"}]),
        "components[0]: Top-level components must be action rows",
    ),
    (
        "select-with-button",
        msg(
            components=[
                {
                    "type": 1,
                    "components": [{"type": 3, "custom_id": "s"}, {"type": 2, "style": 1, "custom_id": "b"}],
                }
            ]
        ),
        "components[0].components: A select must be alone in its row.",
    ),
    (
        "v2-with-content",
        msg(content="x", flags=1 << 15, components=[{"type": 10, "content": "x"}]),
        "content: Not allowed",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), [pytest.param(p, e, id=i) for i, p, e in BAD])
def test_known_bad_payloads(payload: dict[str, Any], expected: str) -> None:
    problems = validate_message(payload)
    assert any(p.startswith(expected) for p in problems), problems


def test_missing_mentions_with_mass_ping_is_flagged_twice() -> None:
    problems = validate_message({"content": "new papers @here"})
    assert problems == [
        'allowed_mentions: Required by digestbot policy: send {"parse": []}.',
        "content: Would ping @everyone/@here: allowed_mentions is missing.",
    ]


def test_policy_violations_are_marked_as_policy() -> None:
    [violation] = find_violations({"content": "hi"})
    assert violation.policy
    [violation] = find_violations(msg())
    assert not violation.policy and violation.json_code == 50006


def test_one_bad_embed_in_a_digest_is_pinpointed() -> None:
    payload = digest_message()
    payload["embeds"][7]["fields"][1]["value"] = "v" * 1025
    assert validate_message(payload) == ["embeds[7].fields[1].value: Must be 1024 or fewer in length."]


def test_digest_over_total_budget_is_rejected() -> None:
    payload = digest_message()
    for e in payload["embeds"]:
        e["description"] = "요약 " * 200  # 600 code points each, 6000 in descriptions alone
    assert "embeds: Embed size exceeds maximum size of 6000" in validate_message(payload)


def test_validator_does_not_mutate_the_payload() -> None:
    payload = digest_message()
    before = copy.deepcopy(payload)
    validate_message(payload)
    assert payload == before


# -- interaction responses --------------------------------------------------------------------------


def test_interaction_message_response_validates_its_data() -> None:
    assert validate_interaction_response({"type": 4, "data": msg(content="ok")}) == []
    assert validate_interaction_response({"type": 4, "data": msg(content="x" * 2001)}) == [
        "data.content: Must be 2000 or fewer in length."
    ]
    assert validate_interaction_response({"type": 4, "data": msg()}) == ["data: Cannot send an empty message"]
    assert validate_interaction_response({"type": 4}) == ["data: This field is required"]


def test_interaction_deferred_and_update_responses() -> None:
    assert validate_interaction_response({"type": 5}) == []
    assert validate_interaction_response({"type": 5, "data": {"flags": 64}}) == []
    assert validate_interaction_response({"type": 7, "data": msg()}) == []  # an update may change nothing


def test_interaction_autocomplete_choices_limit() -> None:
    choices = [{"name": f"topic {i}", "value": f"t{i}"} for i in range(26)]
    assert validate_interaction_response({"type": 8, "data": {"choices": choices[:25]}}) == []
    assert validate_interaction_response({"type": 8, "data": {"choices": choices}}) == [
        "data.choices: Must be 25 or fewer in length."
    ]


def test_interaction_unknown_type() -> None:
    assert validate_interaction_response({"type": 99}) == ["type: Value 99 is not a valid enum value."]
