from __future__ import annotations

import pytest

from digestbot.blocks import Context, Paragraph
from digestbot.errors import CommandError
from digestbot.labels import labels_for
from digestbot.lookup import _one_edit, _search, _terms, answer_paper, edit_distance, lookup, reference_in
from digestbot.store import Store
from digestbot.store.search import Index
from digestbot.suggest import suggest_papers

PREFIXQUANT = "2410.05265"


@pytest.mark.parametrize(
    ("query", "how"),
    [
        ("2410.05265", "id"),
        ("arXiv:2410.05265v2", "id"),
        ("https://arxiv.org/abs/2410.05265v1", "url"),
        ("https://arxiv.org/pdf/2410.05265", "url"),
        ("https://huggingface.co/papers/2410.05265", "url"),
        ("arxiv.org/abs/2410.05265", "url"),
        ("www.arxiv.org/pdf/2410.05265v3.pdf", "url"),
        ("https://arxiv.org/html/2410.05265v1", "url"),
        ("huggingface.co/papers/2410.05265", "url"),
        ("https://www.alphaxiv.org/abs/2410.05265", "url"),
        ("ar5iv.labs.arxiv.org/html/2410.05265", "url"),
        ("prefix quant", "words"),
        ("PrefixQuant", "words"),
        ("static quantization beats dynamic", "words"),
        ("dynamic beats static quantization", "words"),
        ("prefixed outliers", "words"),
        ("prefixed outl", "words"),
        ("Jiahao Wang Mengzhao Chen", "words"),
        ("Chen Mengzhao", "words"),
        ("prefixquant staitc", "typo"),
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


async def test_korean_words_match_inside_summary_words(seeded_store: Store) -> None:
    for query in ("양자화", "양자", "재훈", "훈련 없이"):  # 양자화를, 재훈련: a prefix, the middle of a word
        result = await lookup(seeded_store, query)
        assert result.best is not None, query


@pytest.mark.parametrize(
    ("query", "correction", "arxiv_id"),
    [
        ("kernal", "kernel", "2410.08049"),
        ("retreiver", "retriever", "2410.03450"),
        ("agentc workflow", "agentic workflow", "2410.07869"),
    ],
)
async def test_typos_are_corrected_and_said(seeded_store: Store, query: str, correction: str, arxiv_id: str) -> None:
    result = await lookup(seeded_store, query)
    assert result.best is not None and result.best.arxiv_id == arxiv_id
    assert (result.how, result.correction) == ("typo", correction)


async def test_nonsense_is_not_answered(seeded_store: Store) -> None:
    for query in ("quantum chromodynamics", "chocolate cake recipe", "medieval poetry"):
        result = await lookup(seeded_store, query)
        assert result.best is None and result.how == "none", query
    # A query sharing one word with a title is no match either: those titles are only "closest".
    result = await lookup(seeded_store, "quantization of chocolate")
    assert result.best is None
    assert [p.arxiv_id for p in result.closest] == [PREFIXQUANT]


async def test_no_match_and_bad_queries(seeded_store: Store) -> None:
    assert (await lookup(seeded_store, "zzzzqqq")).best is None
    assert (await lookup(seeded_store, "2401.99999")).best is None
    with pytest.raises(CommandError, match="arXiv id"):
        await lookup(seeded_store, "   ")
    for link in ("https://example.com/abs/2410.05265", "example.com/abs/2410.05265", "www.example.org"):
        with pytest.raises(CommandError, match="not an arXiv or Hugging Face paper link"):
            await lookup(seeded_store, link)
    with pytest.raises(CommandError, match="names no arXiv paper"):
        await lookup(seeded_store, "arxiv.org/list/cs.CL/recent")
    assert (await lookup(seeded_store, "node.js")).how == "none"  # a word with a dot is not a link
    with pytest.raises(CommandError, match="limit is 300"):
        await lookup(seeded_store, "x" * 400)
    # FTS syntax in user input is just text, never a query error.
    for hostile in ['"unbalanced', "NEAR(a b)", "title:*", "a AND OR NOT", "@everyone <!channel>", "x' OR 1=1 --"]:
        await lookup(seeded_store, hostile)
    with pytest.raises(CommandError, match="letters or digits"):
        await lookup(seeded_store, "*")


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("kernal", "kernel", 1),
        ("staitc", "static", 1),
        ("difusion", "diffusion", 1),
        ("abcdef", "abcxyz", 3),
        ("ab", "ab", 0),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, 2) == min(distance, 3)
    assert _one_edit(a, b) == (distance == 1)


def test_references_in_every_form() -> None:
    assert reference_in("hep-th/9901001v2") == ("id", "hep-th/9901001")
    assert reference_in("arxiv.org/abs/hep-th/9901001v2") == ("url", "hep-th/9901001")
    assert reference_in("HTTPS://WWW.ARXIV.ORG/PDF/2410.05265V2") == ("url", "2410.05265")
    assert reference_in("https://huggingface.co/papers/2410.05265?utm=x#y") == ("url", "2410.05265")
    assert reference_in("prefix quant") is None
    assert reference_in("node.js") is None


async def test_suggestions_use_the_same_search(seeded_store: Store) -> None:
    assert [p.arxiv_id for p in await suggest_papers(seeded_store, "retreiver")] == ["2410.03450"]
    assert [p.arxiv_id for p in await suggest_papers(seeded_store, "prefix qu")][:1] == [PREFIXQUANT]
    assert await suggest_papers(seeded_store, "quantum chromodynamics") == []


async def test_replies_say_the_correction_and_label_closest_titles(seeded_store: Store) -> None:
    message = await answer_paper(seeded_store, labels_for("en"), "kernal design")
    assert message.kind == "paper" and message.blocks[0] == Paragraph(text="Showing results for: kernel design")
    miss = await answer_paper(seeded_store, labels_for("ko"), "quantization of chocolate")
    assert miss.kind == "reply" and miss.fallback.startswith("“quantization of chocolate”에 해당하는 논문이 없습니다")
    assert isinstance(miss.blocks[-1], Context) and miss.blocks[-1].parts[0] == "비슷한 제목 (일치하지 않음):"


def _recorded(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[str]]:
    """Record the rowids a store reads as rows, and the index of each candidates query."""
    reads: list[int] = []
    stages: list[str] = []
    read, find = store.search_rows, store.search_candidates

    async def recorded_read(rowids: list[int]) -> object:
        reads.extend(rowids)
        return await read(rowids)

    async def recorded_find(index: Index, match: str, *, limit: int) -> list[int]:
        stages.append(index)
        return await find(index, match, limit=limit)

    monkeypatch.setattr(store, "search_rows", recorded_read)
    monkeypatch.setattr(store, "search_candidates", recorded_find)
    return reads, stages


async def test_a_candidate_row_is_read_once_per_search(seeded_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # "agent as" has no strong title match: the later stages run and every candidate is scored
    # again, from the rows already read (a second read of the same 300 rows cost 5-15 ms at 1M).
    reads, stages = _recorded(seeded_store, monkeypatch)
    terms = await _terms(seeded_store, ["agent", "as"])
    scored = await _search(seeded_store, terms, limit=5, fetched={})
    assert len(stages) >= 2  # past the first stage
    assert reads and len(reads) == len(set(reads))
    assert sorted(reads) == sorted(s[2].rowid for s in scored)


async def test_the_typo_retry_reads_no_row_twice(seeded_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Four words, one misspelt: the all-but-one stage finds the paper, then the search runs again for
    # "agentic"; the papers both searches find are read once.
    reads, _ = _recorded(seeded_store, monkeypatch)
    result = await lookup(seeded_store, "benchmarking agentc workflow generation")
    assert result.how == "typo"
    assert reads and len(reads) == len(set(reads))
