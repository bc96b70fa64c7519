import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.discord_render import COLOUR, escape_markdown, render_discord
from adapters.render_text import label_text, summary_text
from digestbot.blocks import Message, Paragraph
from digestbot.formatter import format_digest, format_notice, format_paper
from digestbot.labels import labels_for
from digestbot.records import Digest, Paper
from tests.adapters.papers import (
    DISCORD_MENTION,
    ZWSP,
    all_strings,
    check_cut,
    check_image_url,
    digests,
    seed_digest,
)
from tests.fakes.discord_limits import EMBED_URL_MAX, validate_message

GOLDEN = Path(__file__).parent / "golden" / "discord_seed.json"


def unescape(text: str) -> str:
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text).replace(ZWSP, "")


def card_pieces(embed: dict, has_meta: bool) -> list[str]:
    pieces = embed.get("description", "").split("\n\n")
    return pieces[1 if has_meta else 0 : -1]


def check_bodies(message: Message, bodies: list[dict], max_embeds: int = 10) -> None:
    assert bodies
    for body in bodies:
        assert validate_message(body) == [], validate_message(body)
        assert body["allowed_mentions"] == {"parse": []}
        assert len(body["embeds"]) <= max_embeds
    parts = len(bodies)
    for i, body in enumerate(bodies, start=1):
        if parts > 1:
            assert body["content"].endswith(f"({i}/{parts})")
            assert all(e["footer"]["text"].endswith(f"{i}/{parts}") for e in body["embeds"])
    for text in all_strings(bodies):
        assert not DISCORD_MENTION.search(text), text

    cards = [e for b in bodies for e in b["embeds"] if e.get("color") == COLOUR]
    for embed in (e for b in bodies for e in b["embeds"]):
        for key in ("image", "thumbnail"):
            if key in embed:
                check_image_url(embed[key]["url"], EMBED_URL_MAX)
    assert [e["url"] for e in cards] == [c.url for c in message.cards]
    for card, embed in zip(message.cards, cards, strict=True):
        prefix = f"{card.rank}. " if card.rank is not None else ""
        assert embed["title"].startswith(prefix)
        assert check_cut(embed["title"][len(prefix) :], label_text(card.title) or card.arxiv_id, unescape) is None
        shown = [(label_text(s.label), summary_text(s.text)) for s in card.sections]
        shown = [(n, t) for n, t in shown if n or t]
        pieces = card_pieces(embed, has_meta=bool(card.meta))
        assert len(pieces) == len(shown), (pieces, shown)
        for piece, (name, text) in zip(pieces, shown, strict=True):
            if name:
                assert piece.startswith("**")
                end = piece.index("**: ", 2)
                assert check_cut(piece[2:end], name, unescape) is None
                piece = piece[end + 4 :]
            assert check_cut(piece, text, unescape) is None


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(digest=digests(), locale=st.sampled_from(["en", "ko"]), max_embeds=st.sampled_from([10, 10, 4, 1]))
def test_any_digest_renders_to_valid_complete_ordered_parts(digest: Digest, locale: str, max_embeds: int) -> None:
    message = format_digest(digest, labels_for(locale))
    bodies = render_discord(message, max_embeds=max_embeds)
    check_bodies(message, bodies, max_embeds)
    first = bodies[0]["content"]
    assert "2024-10-11" in first and str(len(digest.papers)) in first


def test_seed_digest_matches_golden() -> None:
    bodies = render_discord(format_digest(seed_digest(), labels_for("en")))
    check_bodies(format_digest(seed_digest(), labels_for("en")), bodies)
    text = json.dumps(bodies, ensure_ascii=False, indent=1) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), "rerun with UPDATE_GOLDEN=1 and review the diff"


def test_seed_digest_keeps_every_summary_whole_and_drops_the_svg_thumbnail() -> None:
    digest = seed_digest()
    bodies = render_discord(format_digest(digest, labels_for("en")))
    descriptions = "".join(e.get("description", "") for b in bodies for e in b["embeds"])
    assert "…" not in descriptions
    cards = [e for b in bodies for e in b["embeds"]]
    svg = [i for i, p in enumerate(digest.papers) if p.thumbnail and p.thumbnail.endswith(".svg")]
    assert svg, "the seed has an SVG avatar as thumbnail"
    assert all("thumbnail" not in cards[i] for i in svg)
    assert sum("thumbnail" in e for e in cards) == len(digest.papers) - len(svg)


def test_limits_count_code_points_so_emoji_titles_keep_256() -> None:
    paper = Paper(arxiv_id="2410.00001", title="😀" * 400)
    embed = render_discord(format_paper(paper, labels_for("en")))[0]["embeds"][0]
    # 256 code points (512 UTF-16 units): Discord counts code points.
    assert 200 < len(embed["title"]) <= 256
    assert embed["title"].endswith("…")


def test_markdown_and_mentions_in_a_title_show_as_text_and_the_link_survives() -> None:
    paper = Paper(arxiv_id="2410.00002", title="**Bold** [x](https://evil) @everyone <@123> <#9> ||s||")
    body = render_discord(format_paper(paper, labels_for("en")))[0]
    embed = body["embeds"][0]
    assert embed["url"] == "https://arxiv.org/abs/2410.00002"
    assert embed["title"] == (
        "\\*\\*Bold\\*\\* \\[x\\](https://evil) @\u200beveryone \\<\u200b@123> \\<\u200b#9> \\|\\|s\\|\\|"
    )
    assert unescape(embed["title"]) == paper.title


def test_a_huge_card_is_cut_on_a_word_with_an_ellipsis_not_lost() -> None:
    paper = Paper(arxiv_id="2410.00003", title="T", sections=(("What's New", "word " * 5000),))
    bodies = render_discord(format_paper(paper, labels_for("en")))
    assert len(bodies) == 1
    description = bodies[0]["embeds"][0]["description"]
    assert len(description) <= 4096
    assert "word…" in description and "wor…" not in description


def test_a_notice_becomes_content_and_an_empty_message_still_posts() -> None:
    [body] = render_discord(format_notice("No papers @here today"))
    assert body["content"] == "No papers @\u200bhere today"
    [empty] = render_discord(Message(blocks=(Paragraph(text=""),), fallback=""))
    assert validate_message(empty) == []


@pytest.mark.parametrize("max_embeds", [1, 3, 10])
def test_parts_after_the_first_repeat_the_heading_and_stay_quiet(max_embeds: int) -> None:
    bodies = render_discord(format_digest(seed_digest(), labels_for("ko")), max_embeds=max_embeds)
    assert len(bodies) >= 25 // max_embeds
    assert "flags" not in bodies[0]
    for body in bodies[1:]:
        assert body["flags"] == 1 << 12
        assert body["content"].startswith("**오늘의 논문 — 2024-10-11")


def test_escape_markdown_leaves_plain_words_alone() -> None:
    assert escape_markdown("Plain words (and parentheses), 한국어 😀") == "Plain words (and parentheses), 한국어 😀"
    assert escape_markdown("# not a heading\n- not a list\n1. not a list") == (
        "\\# not a heading\n\\- not a list\n1\\. not a list"
    )


def test_embed_size_is_counted_in_one_place_for_the_renderer_and_the_marker() -> None:
    # discord_commands.marked_body decides where the footer tag fits with the renderer's own count.
    import adapters.discord_commands as commands
    from adapters.discord_render import embed_size, embeds_size

    embed = {"title": "ab", "description": "cde", "footer": {"text": "f"}, "fields": [{"name": "g"}]}
    assert embed_size(embed) == 7
    assert embeds_size([embed, embed]) == 14
    assert commands.embeds_size is embeds_size
