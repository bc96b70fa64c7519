import json
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.render_text import fit, label_text, summary_text
from adapters.slack_render import MESSAGE_TEXT_BUDGET, escape_mrkdwn, render_slack, text_size
from digestbot.blocks import Header, Message
from digestbot.formatter import format_digest, format_notice, format_paper
from digestbot.labels import labels_for
from digestbot.records import Digest, Paper
from digestbot.text import utf16_len
from tests.adapters.papers import ZWSP, check_cut, check_image_url, digests, seed_digest
from tests.fakes.slack_limits import MAX_IMAGE_URL, validate_message

GOLDEN = Path(__file__).parent / "golden" / "slack_seed.json"
TITLE_LINE = re.compile(r"\*<(https://arxiv\.org/abs/[^|>]+)\|([^>]*)>\*")
LINK = re.compile(r"<([^|>]*)\|")
RAW_CONTROL = re.compile(r"<[!@#]|@channel|@here|@everyone")


def unescape(text: str) -> str:
    return text.replace(ZWSP, "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn_texts(payloads: list[dict]) -> list[str]:
    out = [p["text"] for p in payloads]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk([p.get("blocks", []) for p in payloads])
    return out


def card_sections(payloads: list[dict]) -> list[tuple[str, str, list[str]]]:
    """Return (url, shown title, summary pieces) per card, reading the blocks in posting order."""
    cards: list[tuple[str, str, list[str]]] = []
    in_card = False
    for block in (b for p in payloads for b in p.get("blocks", [])):
        text = block.get("text", {}).get("text", "") if block["type"] == "section" else ""
        if m := TITLE_LINE.match(text):
            rest = text[m.end() :]
            cards.append((m[1], m[2], rest[1:].split("\n\n") if rest else []))
            in_card = True
        elif block["type"] == "section" and in_card:
            cards[-1][2].extend(text.split("\n\n"))
        else:
            in_card = False
    return cards


def check_payloads(message: Message, payloads: list[dict], channel: str | None = None) -> None:
    assert payloads
    parts = len(payloads)
    for i, payload in enumerate(payloads, start=1):
        assert validate_message(payload) == [], validate_message(payload)
        assert payload["text"].strip()
        assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
        assert payload["metadata"] == {
            "event_type": "digestbot_post",
            "event_payload": {"kind": message.kind, "key": message.key, "part": i, "parts": parts},
        }
        assert payload.get("channel") == channel
        assert text_size(payload.get("blocks", [])) <= MESSAGE_TEXT_BUDGET
        if parts > 1:
            contexts = [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
            assert any(t.endswith(f"{i}/{parts}") for t in contexts)

    allowed = {link_url for c in message.cards for link_url in (c.url, *(lk.url for lk in c.links))}
    for text in mrkdwn_texts(payloads):
        assert not RAW_CONTROL.search(text), text
        for url in LINK.findall(text):
            assert unescape(url) in allowed or "%" in url, url

    for block in (b for p in payloads for b in p.get("blocks", [])):
        for image in (block, block.get("accessory") or {}):
            if image.get("type") == "image":
                check_image_url(image["image_url"], MAX_IMAGE_URL)
    cards = card_sections(payloads)
    assert [url for url, _, _ in cards] == [c.url for c in message.cards]
    for card, (_, title, pieces) in zip(message.cards, cards, strict=True):
        prefix = f"{card.rank}. " if card.rank is not None else ""
        assert title.startswith(prefix)
        assert check_cut(title[len(prefix) :], label_text(card.title) or card.arxiv_id, unescape) is None
        shown = [(label_text(s.label), summary_text(s.text)) for s in card.sections]
        shown = [(n, t) for n, t in shown if n or t]
        assert len(pieces) == len(shown), (pieces, shown)
        for piece, (name, text) in zip(pieces, shown, strict=True):
            if name:
                assert piece.startswith("*")
                end = piece.index("*: ", 1)
                assert check_cut(piece[1:end], name, unescape) is None
                piece = piece[end + 3 :]
            assert check_cut(piece, text, unescape) is None


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(digest=digests(), locale=st.sampled_from(["en", "ko"]), channel=st.sampled_from([None, "C123"]))
def test_any_digest_renders_to_valid_complete_ordered_parts(digest: Digest, locale: str, channel: str | None) -> None:
    message = format_digest(digest, labels_for(locale))
    payloads = render_slack(message, channel=channel)
    check_payloads(message, payloads, channel)
    first = payloads[0]["blocks"]
    heading = " ".join(
        b["text"]["text"] if b["type"] == "header" else b["elements"][0]["text"]
        for b in first[:3]
        if b["type"] in ("header", "context")
    )
    assert "2024-10-11" in heading and str(len(digest.papers)) in heading


def test_seed_digest_matches_golden() -> None:
    message = format_digest(seed_digest(), labels_for("en"))
    payloads = render_slack(message, channel="C0DIGEST")
    check_payloads(message, payloads, "C0DIGEST")
    text = json.dumps(payloads, ensure_ascii=False, indent=1) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), "rerun with UPDATE_GOLDEN=1 and review the diff"


def test_seed_digest_keeps_every_summary_whole_and_every_thumbnail_but_the_svg() -> None:
    digest = seed_digest()
    payloads = render_slack(format_digest(digest, labels_for("en")))
    sections = [b for p in payloads for b in p["blocks"] if b["type"] == "section"]
    assert not any("…" in b["text"]["text"] for b in sections)
    images = [b["accessory"]["image_url"] for b in sections if "accessory" in b]
    assert images == [p.thumbnail for p in digest.papers if p.thumbnail and not p.thumbnail.endswith(".svg")]


def test_control_sequences_in_paper_text_render_as_text() -> None:
    title = "<!channel> <!here> <@U123> <https://evil.example|click> & @here *bold* _it_ ~s~ `c`"
    paper = Paper(arxiv_id="2410.00002", title=title)
    [payload] = render_slack(format_paper(paper, labels_for("en")))
    line = payload["blocks"][0]["text"]["text"]
    assert line.startswith("*<https://arxiv.org/abs/2410.00002|")
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; @\u200bhere" in line
    assert "\u200b*\u200bbold\u200b*\u200b" in line
    assert unescape(TITLE_LINE.match(line)[2]) == title
    assert payload["blocks"][0]["text"]["verbatim"] is True


def test_cutting_never_splits_an_entity_or_a_surrogate_pair() -> None:
    for n in range(1, 40):
        out = fit("&<>😀 " * 50, n, escape=escape_mrkdwn, length=utf16_len)
        assert utf16_len(out) <= n
        assert re.sub(r"&(amp|lt|gt);", "", out).count("&") == 0
        out.encode("utf-8")  # a lone surrogate would raise


def test_long_heading_is_cut_in_the_header_and_shown_whole_below() -> None:
    heading = "Daily Papers — 2024-10-11 · 3 papers · topics: " + ", ".join(["diffusion models"] * 12)
    message = Message(blocks=(Header(text=heading),), fallback=heading, kind="digest", key="2024-10-11")
    [payload] = render_slack(message)
    header, context = payload["blocks"]
    assert utf16_len(header["text"]["text"]) <= 150 and header["text"]["text"].endswith("…")
    assert context["elements"][0]["text"] == heading


def test_a_huge_card_is_cut_with_an_ellipsis_and_still_one_message() -> None:
    paper = Paper(arxiv_id="2410.00003", title="T", sections=(("A", "word " * 5000), ("B", "짧은 요약")))
    payloads = render_slack(format_paper(paper, labels_for("ko")))
    assert len(payloads) == 1
    check_payloads(format_paper(paper, labels_for("ko")), payloads)
    text = "\n".join(b["text"]["text"] for b in payloads[0]["blocks"] if b["type"] == "section")
    assert "word…" in text and "*B*: 짧은 요약" in text


def test_a_notice_posts_as_a_section_with_text_fallback() -> None:
    [payload] = render_slack(format_notice("No papers <!here> today", kind="notice", key="2024-10-12"), channel="C1")
    assert payload["text"] == "No papers &lt;!here&gt; today"
    assert payload["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "No papers &lt;!here&gt; today", "verbatim": True}}
    ]
