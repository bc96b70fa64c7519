from __future__ import annotations

import pytest

from digestbot.errors import CommandError
from digestbot.lookup import lookup
from digestbot.store import Store

PREFIXQUANT = "2410.05265"


@pytest.mark.parametrize(
    ("query", "how"),
    [
        ("2410.05265", "id"),
        ("arXiv:2410.05265v2", "id"),
        ("https://arxiv.org/abs/2410.05265v1", "url"),
        ("https://arxiv.org/pdf/2410.05265", "url"),
        ("https://huggingface.co/papers/2410.05265", "url"),
        ("prefix quant", "title"),
        ("PrefixQuant", "title"),
        ("static quantization beats dynamic", "title"),
        ("prefixed outliers", "title"),
        ("Jiahao Wang Mengzhao Chen", "text"),
    ],
)
async def test_finds_prefixquant(seeded_store: Store, query: str, how: str) -> None:
    result = await lookup(seeded_store, query)
    assert result.best is not None and result.best.arxiv_id == PREFIXQUANT
    assert result.how == how


async def test_words_rank_title_over_body(seeded_store: Store) -> None:
    result = await lookup(seeded_store, "diffusion")
    assert result.best is not None and "Diffusion" in result.best.title
    assert len(result.others) >= 1


async def test_korean_words(seeded_store: Store) -> None:
    result = await lookup(seeded_store, "양자화")
    assert result.best is not None


async def test_no_match_and_bad_queries(seeded_store: Store) -> None:
    assert (await lookup(seeded_store, "zzzzqqq")).best is None
    assert (await lookup(seeded_store, "2401.99999")).best is None
    with pytest.raises(CommandError, match="arXiv id"):
        await lookup(seeded_store, "   ")
    with pytest.raises(CommandError, match="not an arXiv or Hugging Face paper link"):
        await lookup(seeded_store, "https://example.com/abs/2410.05265")
    with pytest.raises(CommandError, match="limit is 300"):
        await lookup(seeded_store, "x" * 400)
    # FTS syntax in user input is just text, never a query error.
    for hostile in ['"unbalanced', "NEAR(a b)", "title:*", "a AND OR NOT", "@everyone <!channel>", "x' OR 1=1 --"]:
        await lookup(seeded_store, hostile)
    with pytest.raises(CommandError, match="letters or digits"):
        await lookup(seeded_store, "*")
