from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from digestbot.blocks import Context, Header, PaperCard
from digestbot.formatter import author_line, format_digest, format_matches, format_no_digest, format_paper
from digestbot.labels import labels_for
from digestbot.records import Digest, Paper
from digestbot.text import ELLIPSIS, clean_text, truncate, utf16_len

EN = labels_for("en")


def test_truncate_on_word_boundary() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("hello wonderful world", 15) == "hello…"
    assert truncate("abcdefghij", 5) == "abcd…"
    assert len(truncate("x" * 100, 10)) == 10


def test_truncate_never_splits_surrogates_or_combining() -> None:
    emoji = "😀" * 10
    cut = truncate(emoji, 7, length=utf16_len)
    assert utf16_len(cut) <= 7 and cut.endswith(ELLIPSIS)
    cut.encode("utf-16-le")  # a split surrogate pair would not encode
    combining = "e\u0301" * 10
    cut = truncate(combining, 6)
    assert not cut.startswith("\u0301") and "e\u0301" in cut and not cut[:-1].endswith("e")


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=200))
def test_truncate_properties(text: str, limit: int) -> None:
    out = truncate(text, limit, length=utf16_len)
    assert utf16_len(out) <= max(limit, 1)
    if out != text:
        assert out.endswith(ELLIPSIS)
    out.encode("utf-16-le", "strict")


def test_clean_text_removes_controls_and_bidi() -> None:
    assert clean_text("a\x00b\x1b[31mc\u202e d  \t e\r\n") == "ab[31mc d e"


def test_author_line_et_al() -> None:
    assert author_line(["A", "B"], EN) == "A, B"
    many = [f"N{i}" for i in range(500)]
    assert author_line(many, EN).endswith("N7 et al.")
    assert author_line(many, labels_for("ko")).endswith("N7 외")


def test_digest_blocks() -> None:
    papers = tuple(Paper(arxiv_id=f"2410.0000{i}", title=f"T{i}", votes=10 - i) for i in range(5))
    message = format_digest(Digest(date=date(2024, 10, 11), papers=papers, topic_filter=("llm",)), EN, top=3)
    assert isinstance(message.blocks[0], Header)
    assert (
        "2024-10-11" in message.blocks[0].text
        and "3 papers" in message.blocks[0].text
        and "llm" in message.blocks[0].text
    )
    assert [c.rank for c in message.cards] == [1, 2, 3]
    assert message.kind == "digest" and message.key == "2024-10-11"
    assert message.fallback


def test_summary_fallback_chain() -> None:
    with_sections = Paper(arxiv_id="1", title="T", sections=(("What's New", "x"),), ai_summary="ai", abstract="abs")
    with_ai = Paper(arxiv_id="1", title="T", ai_summary="ai", abstract="abs")
    only_abs = Paper(arxiv_id="1", title="T", abstract="abs")
    labels = [format_paper(p, EN).cards[0].sections[0].label for p in (with_sections, with_ai, only_abs)]
    assert labels == ["What's New", "AI summary", "Abstract"]


def test_matches_and_notice() -> None:
    p = Paper(arxiv_id="2410.00001", title="T")
    m = format_matches(date(2024, 10, 11), [(p, ["llm", "rl"])], EN)
    card = m.cards[0]
    assert isinstance(card, PaperCard) and "matched: llm, rl" in card.meta
    notice = format_no_digest(date(2024, 10, 12), "it is a weekend", EN)
    assert notice.fallback == "No daily papers for 2024-10-12: it is a weekend."


def test_a_dm_shows_the_10_best_matches_and_counts_the_rest() -> None:
    papers = [Paper(arxiv_id=f"2410.{i:05d}", title=f"Paper {i}", votes=i) for i in range(1, 151)]
    matches = [(p, ["the"]) for p in papers]
    matches[0] = (papers[0], ["the", "diffusion"])  # fewest votes, but matches two topics: best
    m = format_matches(date(2024, 10, 11), matches, EN)
    titles = [c.title for c in m.cards]
    assert len(titles) == 10
    assert titles == ["Paper 1", *[f"Paper {i}" for i in range(150, 141, -1)]]
    assert isinstance(m.blocks[-1], Context)
    assert m.blocks[-1].parts == ("…and 140 more matching papers in today's digest.",)


def test_a_dm_of_few_matches_has_no_more_line() -> None:
    p = Paper(arxiv_id="2410.00001", title="T")
    m = format_matches(date(2024, 10, 11), [(p, ["llm"])] * 1, EN)
    assert not any(isinstance(b, Context) for b in m.blocks)
