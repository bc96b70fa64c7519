"""The compact layout's list: ONE message on each platform for up to 25 papers, within every limit."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.console_render import render_console
from adapters.discord_render import render_discord
from adapters.slack_render import render_slack
from digestbot.blocks import PaperCard, PaperList
from digestbot.formatter import format_compact
from digestbot.labels import labels_for
from digestbot.records import Digest
from tests.adapters.papers import digests, seed_digest
from tests.fakes.discord_limits import validate_message as discord_violations
from tests.fakes.slack_limits import validate_message as slack_violations


def widen(digest: Digest, n: int) -> Digest:
    """Return ``digest`` with ``n`` papers (its papers reused under new ids), so 25 is reached cheaply."""
    if not digest.papers:
        return digest
    papers = [dataclasses.replace(digest.papers[i % len(digest.papers)], arxiv_id=f"2410.{i:05d}") for i in range(n)]
    return dataclasses.replace(digest, papers=tuple(papers))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(digest=digests(max_papers=4), n=st.integers(1, 25), locale=st.sampled_from(["en", "ko"]))
def test_the_list_is_one_valid_message_on_both_platforms(digest: Digest, n: int, locale: str) -> None:
    digest = widen(digest, n)
    if not digest.papers:
        return
    listing, *cards = format_compact(digest, labels_for(locale))
    assert len(cards) == len(digest.papers) == n
    discord = render_discord(listing)
    assert len(discord) == 1, "the compact list must be one Discord message"
    assert discord_violations(discord[0]) == []
    slack = render_slack(listing, channel="C1")
    assert len(slack) == 1, "the compact list must be one Slack message"
    assert slack_violations(slack[0]) == []
    # Every paper is named, in rank order, with its link.
    description = discord[0]["embeds"][0]["description"]
    lines = description.split("\n")
    assert [line.split(".**", 1)[0] for line in lines] == [f"**{i}" for i in range(1, n + 1)]
    sections = [b for b in slack[0]["blocks"] if b["type"] == "section"]
    assert len(sections) == n
    assert all(
        f"https://arxiv.org/abs/{p.arxiv_id}" in s["text"]["text"]
        for p, s in zip(digest.papers, sections, strict=False)
    )
    for card in cards:  # each card is a message of its own (a thread reply)
        assert len(card.cards) == 1
        assert all(discord_violations(b) == [] for b in render_discord(card))
        assert all(slack_violations(p) == [] for p in render_slack(card, channel="C1"))


def test_the_seed_list_names_all_25_papers_by_rank_with_votes_and_a_summary() -> None:
    digest = seed_digest()
    listing, *cards = format_compact(digest, labels_for("en"))
    (body,) = render_discord(listing)
    assert body["content"].startswith("**Daily Papers — 2024-10-11 · 25 papers")
    lines = body["embeds"][0]["description"].split("\n")
    assert len(lines) == 25
    first = digest.papers[0]
    assert lines[0].startswith("**1.** [MathCoder2")
    assert f"](https://arxiv.org/abs/{first.arxiv_id}) · ▲ {first.votes} votes — " in lines[0]
    (payload,) = render_slack(listing)
    assert payload["text"].startswith("Daily Papers — 2024-10-11")
    assert [c.rank for m in cards for c in m.cards] == list(range(1, 26))
    assert isinstance(listing.blocks[1], PaperList) and all(isinstance(m.blocks[0], PaperCard) for m in cards)
    text = render_console(listing)
    assert " 1. MathCoder2" in text and "25. " in text
