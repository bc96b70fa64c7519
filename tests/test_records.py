import dataclasses
from datetime import date

import pytest

from digestbot.records import Paper, normalize_arxiv_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2410.05265", "2410.05265"),
        ("2410.05265v3", "2410.05265"),
        ("arXiv:2410.05265v1", "2410.05265"),
        (" 0704.0001 ", "0704.0001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("hep-th/9901001v2", "hep-th/9901001"),
        ("math.gt/0309136", "math.GT/0309136"),
        ("Math.GT/0309136", "math.GT/0309136"),
        ("prefix quant", None),
        ("2410.0526", None),
        ("12345.67890", None),
        ("2410.05265 and more", None),
        ("", None),
    ],
)
def test_normalize_arxiv_id(text: str, expected: str | None) -> None:
    assert normalize_arxiv_id(text) == expected


def test_merge_enriches_never_wipes() -> None:
    old = Paper(arxiv_id="1", title="T", abstract="abs", votes=3, sections=(("What's New", "x"),), extra={"a": 1})
    new = Paper(arxiv_id="1", title="T2", votes=9, ai_summary="ai", extra={"b": 2}, digest_date=date(2024, 1, 1))
    merged = old.merged_with(new)
    assert merged.title == "T2"
    assert merged.abstract == "abs"
    assert merged.sections == (("What's New", "x"),)
    assert merged.votes == 9
    assert merged.ai_summary == "ai"
    assert dict(merged.extra) == {"a": 1, "b": 2}


def test_a_copy_cut_short_never_replaces_what_was_known() -> None:
    sections = (("What's New", "PrefixQuant beats dynamic quantization."), ("Technical Details", "Outlier tokens."))
    old = Paper(
        arxiv_id="1", title="PrefixQuant", authors=("A", "B", "C"), abstract="Long abstract.", sections=sections
    )
    cut = Paper(
        arxiv_id="1",
        title="Prefix",  # the title, cut short
        authors=("A", "B"),  # the first authors
        abstract="Long abs",
        sections=(("What's New", "PrefixQuant beats dynamic quantization."), ("Technical Details", "Outl")),
    )
    assert old.merged_with(cut) == old
    assert old.merged_with(Paper(arxiv_id="1", title="T", sections=sections[:1])) == dataclasses.replace(
        old, title="T"
    )  # the first section whole: still the known ones
    # Anything else a newer copy says wins, as before: a longer text, other words, other sections.
    longer = Paper(arxiv_id="1", title="PrefixQuant v2", abstract="Long abstract. More.", authors=("A", "D"))
    merged = old.merged_with(longer)
    assert (merged.title, merged.abstract, merged.authors) == ("PrefixQuant v2", "Long abstract. More.", ("A", "D"))
    other = (("What's New", "Something else."),)
    assert old.merged_with(Paper(arxiv_id="1", title="PrefixQuant", sections=other)).sections == other


def test_summary_fallbacks() -> None:
    base = Paper(arxiv_id="1", title="T")
    assert base.summary_sections() == ()
    assert Paper(arxiv_id="1", title="T", abstract="A").summary_sections() == (("Abstract", "A"),)
    assert Paper(arxiv_id="1", title="T", abstract="A", ai_summary="S").summary_sections() == (("AI summary", "S"),)


def test_links() -> None:
    p = Paper(arxiv_id="2410.05265", title="T", github_url="https://github.com/x/y")
    assert p.links == {
        "arxiv": "https://arxiv.org/abs/2410.05265",
        "huggingface": "https://huggingface.co/papers/2410.05265",
        "github": "https://github.com/x/y",
    }
