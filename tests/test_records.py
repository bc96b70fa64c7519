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
