"""The run's render cache alone: one render per (platform, signature), nothing else."""

from __future__ import annotations

from digestbot.blocks import Message
from digestbot.render_cache import RenderCache
from tests.delivery_fakes import FakeAdapter


def test_a_signature_is_rendered_once_per_platform() -> None:
    cache = RenderCache()
    built: list[str] = []

    def build(text: str):
        def make() -> Message:
            built.append(text)
            return Message(blocks=(), fallback=text, kind="digest")

        return make

    discord, slack = FakeAdapter("discord", parts=2), FakeAdapter("slack")
    first = cache.payloads(discord, ("digest", 1), build("a"))
    again = cache.payloads(discord, ("digest", 1), build("never built"))
    assert again is first and len(first) == 2 and built == ["a"]
    assert cache.payloads(slack, ("digest", 1), build("b"))[0]["text"] == "b"  # another platform renders its own
    assert cache.payloads(discord, ("digest", 2), build("c"))[0]["text"] == "c"  # another message too
    assert built == ["a", "b", "c"] and len(cache) == 3


def test_each_papers_card_is_built_once_and_dms_made_from_it_are_the_same() -> None:
    """DMs differ one from another but show the same papers: each card is built once per run."""
    from datetime import date

    from digestbot.formatter import format_matches, paper_card
    from digestbot.labels import labels_for
    from tests.delivery_fakes import day_papers

    labels, cache = labels_for("en"), RenderCache()
    day = date(2024, 10, 11)
    papers = day_papers(day, 4)
    built: list[str] = []

    def build(paper):
        built.append(paper.arxiv_id)
        return paper_card(paper, labels)

    def card(paper):
        return cache.card(paper, build)

    for topics in (["diffusion"], ["video", "Diffusion Models"], ["agents"]):
        matches = [(p, topics) for p in papers[: len(topics) + 1]]
        assert format_matches(day, matches, labels, card=card) == format_matches(day, matches, labels)
    assert sorted(built) == sorted(p.arxiv_id for p in papers[:3])  # each paper once, whatever the DM
