"""TopicIndex against the reference matcher, and each matching rule on its own."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digestbot.errors import CommandError
from digestbot.matching import TopicIndex, reference_match
from digestbot.records import Paper
from digestbot.topics import Topic, is_hangul, is_meaningful, parse_topic

SEED = Path(__file__).parent.parent / "digestbot" / "data" / "daily-papers-2024-10-11.md"


def _seed_papers() -> dict[str, Paper]:
    """Read titles and summary sections of the seed digest (just enough for matching tests)."""
    papers: dict[str, Paper] = {}
    arxiv_id, title = "", ""
    sections: list[tuple[str, str]] = []
    for line in [*SEED.read_text(encoding="utf-8").splitlines(), "### [end](https://arxiv.org/abs/0)"]:
        if m := re.match(r"### \[(.*)\]\(https://arxiv\.org/abs/(.*)\)", line):
            if arxiv_id:
                papers[arxiv_id] = Paper(arxiv_id=arxiv_id, title=title, sections=tuple(sections))
            title, arxiv_id, sections = m[1], m[2], []
        elif m := re.match(r"- \*\*(.*?)\*\*: (.*)", line):
            sections.append((m[1], m[2]))
    return papers


def _paper(**fields: object) -> Paper:
    return Paper(arxiv_id="2410.00001", **{"title": "", **fields})  # type: ignore[arg-type]


def _matches(topic: str, paper: Paper) -> bool:
    """Match one topic both ways and insist that the index and the reference agree."""
    parsed = parse_topic(topic)
    indexed = TopicIndex([("u", parsed)]).match(paper) == {"u": [parsed]}
    assert indexed == reference_match(parsed, paper), topic
    return indexed


# --- each rule ------------------------------------------------------------------------------------


def test_all_included_terms_must_occur() -> None:
    paper = _paper(title="Scaling diffusion transformers")
    assert _matches("diffusion", paper)
    assert _matches("Diffusion scaling", paper)
    assert not _matches("diffusion language", paper)


def test_words_match_whole_words_only() -> None:
    paper = _paper(title="LLMs for diffusion-based planning")
    assert not _matches("llm", paper)
    assert not _matches("diffus", paper)
    assert _matches("llms", paper)
    # A phrase's first and last words are whole words too, even when they occur elsewhere.
    paper = _paper(title="LLMs for diffusion-based planning", abstract="Bas-relief lms.")
    assert _matches('"for diffusion based"', paper)
    assert not _matches('"for diffusion bas"', paper)
    assert not _matches('"lms for"', paper)


def test_korean_words_inside_a_phrase_match_as_prefixes() -> None:
    paper = _paper(abstract="대형의 언어 모델을 학습한다")
    assert _matches('"대형 언어 모델"', paper)
    assert _matches('"대 언 모"', paper)
    assert not _matches('"대형 모델"', paper)
    assert not _matches('"형 언어"', paper)


def test_phrase_needs_adjacent_words_in_order() -> None:
    paper = _paper(abstract="We train a large language model. Language large is not a phrase.")
    assert _matches('"large language model"', paper)
    assert _matches('"model language"', paper)  # "model. Language": punctuation is not a boundary
    assert not _matches('"large model"', paper)
    assert not _matches('"language model large"', paper)


def test_hyphenated_topic_matches_hyphenated_or_spaced_text_and_parts() -> None:
    hyphenated = _paper(title="Fast text-to-image generation")
    spaced = _paper(title="Fast text to image generation")
    reordered = _paper(title="image to text")
    assert _matches("text-to-image", hyphenated)
    assert _matches("text-to-image", spaced)
    assert not _matches("text-to-image", reordered)
    assert _matches("image", hyphenated)


def test_any_excluded_term_rejects() -> None:
    paper = _paper(title="A survey of diffusion models", abstract="Position paper on evaluation")
    assert not _matches("diffusion -survey", paper)
    assert not _matches('diffusion -"position paper"', paper)
    assert _matches('diffusion -"paper position"', paper)
    assert _matches("diffusion -benchmark", paper)


def test_excluded_word_is_whole_word_too() -> None:
    assert _matches("diffusion -survey", _paper(title="Diffusion surveyed"))


def test_phrase_does_not_span_fields() -> None:
    paper = _paper(title="Better diffusion", abstract="Model training is hard")
    assert not _matches('"diffusion model"', paper)
    assert _matches("diffusion model", paper)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "quantization"),
        ("abstract", "quantization"),
        ("sections", (("What's New", "quantization"),)),
        ("ai_summary", "quantization"),
        ("keywords", ("int4", "quantization")),
    ],
)
def test_every_text_field_is_searched(field: str, value: object) -> None:
    assert _matches("quantization", _paper(**{field: value}))


def test_authors_and_section_headings_are_not_searched() -> None:
    paper = _paper(title="x", authors=("Quantization Smith",), sections=(("Quantization", "nothing"),))
    assert not _matches("quantization", paper)


def test_keywords_are_separate_fields() -> None:
    paper = _paper(keywords=("diffusion", "model"))
    assert not _matches('"diffusion model"', paper)
    assert _matches('"diffusion model"', _paper(keywords=("diffusion model",)))


def test_mentions_in_topics_do_not_break_matching() -> None:
    assert _matches("@everyone", _paper(title="Everyone can train"))


def test_cjk_topic_matches_characters_in_a_row() -> None:
    paper = _paper(abstract="我们提出了一个大模型")
    assert _matches("大模型", paper)
    assert _matches("模型", paper)
    assert not _matches("型模", paper)


# --- Korean, with text from the seed digest -------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> dict[str, Paper]:
    return _seed_papers()


def test_seed_digest_is_read(seed: dict[str, Paper]) -> None:
    assert len(seed) == 25
    assert "동적 양자화를" in seed["2410.05265"].sections[0][1]


def test_hangul_word_matches_with_particles(seed: dict[str, Paper]) -> None:
    prefix_quant = seed["2410.05265"]  # "토큰별 동적 양자화를 사용했으나", "양자화 오류를"
    assert _matches("양자화", prefix_quant)
    assert _matches("동적 양자화", prefix_quant)
    assert _matches('"동적 양자화"', prefix_quant)
    assert not _matches('"양자화 동적"', prefix_quant)
    assert not _matches("양자화를를", prefix_quant)


def test_latin_word_matches_before_korean_particle(seed: dict[str, Paper]) -> None:
    prefix_quant = seed["2410.05265"]  # "LLM의 퍼포먼스를", "PrefixQuant은"
    assert _matches("LLM", prefix_quant)
    assert _matches("prefixquant -diffusion", prefix_quant)
    assert not _matches("llm -양자화", prefix_quant)


def test_korean_phrase_and_mixed_scripts(seed: dict[str, Paper]) -> None:
    math_coder = seed["2410.08196"]  # "LLMs(대형 언어 모델)의 수학적 추론 능력"
    assert _matches('"대형 언어 모델"', math_coder)
    assert _matches('"수학 추론"', math_coder)  # 수학적 추론: each Hangul word matches as a prefix
    assert not _matches('"언어 대형"', math_coder)
    assert _matches("llms python", math_coder)


def test_hyphenated_topic_in_korean_summary(seed: dict[str, Paper]) -> None:
    dart = next(p for p in seed.values() if p.title.startswith("DART"))  # "텍스트-투-이미지(text-to-image)"
    assert _matches("text-to-image", dart)
    assert _matches("텍스트-투-이미지", dart)
    assert not _matches("text-to-image -확산", dart)  # "전통적인 확산 모델에 비해"


def test_seed_digest_index_equals_reference(seed: dict[str, Paper]) -> None:
    raw = ["llm", "양자화", '"대형 언어 모델"', "text-to-image", "모델 -llm", "vision -language", "코드"]
    topics = [parse_topic(t) for t in raw]
    papers = list(seed.values())
    got = TopicIndex([(t.canonical, t) for t in topics]).match_all(papers)
    want = {
        t.canonical: [(p, t) for p in papers if reference_match(t, p)]
        for t in topics
        if any(reference_match(t, p) for p in papers)
    }
    assert got == want
    assert len(got["llm"]) >= 10
    assert 0 < len(got["모델 -llm"]) < len(papers)


# --- the index's bookkeeping ----------------------------------------------------------------------


def test_results_keep_paper_order_then_canonical_order() -> None:
    a, b, c = (_paper(title=t) for t in ["graph diffusion", "diffusion", "graph"])
    graph, diffusion = parse_topic("graph"), parse_topic("diffusion")
    index = TopicIndex([("u", graph), ("u", diffusion), ("v", graph)])
    assert index.match_all([a, b, c]) == {
        "u": [(a, diffusion), (a, graph), (b, diffusion), (c, graph)],
        "v": [(a, graph), (c, graph)],
    }
    assert index.match(a) == {"u": [diffusion, graph], "v": [graph]}


def test_duplicate_subscriptions_count_once_and_identical_topics_are_merged() -> None:
    topic = parse_topic("Diffusion")
    index = TopicIndex([(1, topic), (1, parse_topic("diffusion")), (2, topic)])
    assert index.topic_count == 1
    paper = _paper(title="diffusion")
    assert index.match_all([paper]) == {1: [(paper, topic)], 2: [(paper, topic)]}


def test_subscribers_without_matches_are_absent_and_empty_inputs_work() -> None:
    index = TopicIndex([(("discord", 1), parse_topic("graph"))])
    assert index.match_all([_paper(title="diffusion")]) == {}
    assert index.match_all([]) == {}
    assert TopicIndex([]).match_all([_paper(title="graph")]) == {}


def test_each_lookup_builds_a_fresh_list() -> None:
    topic = parse_topic("graph")
    paper = _paper(title="graph")
    result = TopicIndex([(1, topic), (2, topic), (3, parse_topic("diffusion"))]).match_all([paper])
    result[1].clear()
    assert result[1] == result[2] == [(paper, topic)]
    assert result[1] is not result[1]


def test_result_is_a_read_only_mapping_of_who_matched() -> None:
    graph, diffusion, survey = parse_topic("graph"), parse_topic("diffusion"), parse_topic("survey")
    papers = [_paper(title="graph survey"), _paper(title="diffusion graph")]
    index = TopicIndex([(1, survey), (1, graph), (2, diffusion), (3, parse_topic("robot"))])
    result = index.match_all(papers)
    assert len(result) == 2
    assert set(result) == {1, 2}
    assert 3 not in result
    with pytest.raises(KeyError):
        result[3]
    assert result.topics_of(1) == [graph, survey]
    assert result.topics_of(3) == []
    assert dict(result) == {
        1: [(papers[0], graph), (papers[0], survey), (papers[1], graph)],
        2: [(papers[1], diffusion)],
    }


def test_word_frequency_changes_the_anchor_not_the_result() -> None:
    topics = [parse_topic(t) for t in ["graph neural", '"graph neural" -survey', "neural"]]
    papers = [_paper(title=t) for t in ["graph neural nets", "neural graph", "a graph neural survey"]]
    default = TopicIndex([(t.canonical, t) for t in topics]).match_all(papers)
    for freq in ({"graph": 1, "neural": 100}, {"graph": 100, "neural": 1}):
        index = TopicIndex([(t.canonical, t) for t in topics], word_frequency=freq)
        assert index.match_all(papers) == default


# --- property: the index equals the reference -----------------------------------------------------

_WORDS = ["diffusion", "model", "llm", "llms", "graph", "text", "image", "to", "survey", "4o", "gpt"]
_HANGUL = ["양자화", "양자화를", "양자", "모델", "모델의", "언어", "대형", "의"]
_CJK = ["大", "模", "型"]
_VOCAB = _WORDS + _HANGUL + _CJK
_GLUE = [" ", " ", " ", "-", ", ", ". ", ""]


@st.composite
def _texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(_VOCAB), max_size=12))
    glue = draw(st.lists(st.sampled_from(_GLUE), min_size=len(words), max_size=len(words)))
    return "".join(w + g for w, g in zip(words, glue, strict=True))


_papers = st.builds(
    lambda title, abstract, section, keywords: Paper(
        arxiv_id="2410.00001",
        title=title,
        abstract=abstract,
        sections=(("What's New", section),) if section else (),
        keywords=tuple(keywords),
    ),
    _texts(),
    _texts(),
    _texts(),
    st.lists(st.sampled_from(_VOCAB), max_size=2),
)


@st.composite
def _topics(draw: st.DrawFn) -> Topic:
    terms = []
    for _ in range(draw(st.integers(1, 4))):
        words = draw(st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=3))
        sign = draw(st.sampled_from(["", "", "-"]))
        joined = draw(st.sampled_from(["quoted", "hyphen", "single"]))
        if joined == "quoted" or len(words) == 1:
            terms.append(f'{sign}"{" ".join(words)}"' if joined == "quoted" else sign + words[0])
        else:
            terms.append(sign + "-".join(words))
    try:
        return parse_topic(" ".join(terms))
    except CommandError:  # e.g. only excluded terms, or only stopwords ("to", "의"): a single meaningful word
        return parse_topic(draw(st.sampled_from([w for w in _VOCAB if is_meaningful(w)])))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subscriptions=st.lists(st.tuples(st.integers(0, 5), _topics()), max_size=12),
    papers=st.lists(_papers, max_size=6),
)
def test_index_equals_reference_matcher(subscriptions: list[tuple[int, Topic]], papers: list[Paper]) -> None:
    per_key: dict[int, set[Topic]] = defaultdict(set)
    for key, topic in subscriptions:
        per_key[key].add(topic)
    want = {}
    for key, topics in per_key.items():
        ordered = sorted(topics, key=lambda t: t.canonical)
        pairs = [(p, t) for p in papers for t in ordered if reference_match(t, p)]
        if pairs:
            want[key] = pairs
    index = TopicIndex(subscriptions)
    assert index.match_all(papers) == want
    for paper in papers[:1]:
        firsts = {k: [t for p, t in pairs if p is paper] for k, pairs in want.items()}
        assert index.match(paper) == {k: topics for k, topics in firsts.items() if topics}


def test_adding_and_removing_equals_building_afresh() -> None:
    graph, diffusion, survey = parse_topic("graph"), parse_topic("diffusion -survey"), parse_topic("survey")
    papers = [_paper(title="graph survey"), _paper(title="diffusion graph")]
    index = TopicIndex([(1, graph), (2, diffusion)])
    assert index.add(3, survey) and not index.add(3, survey)
    assert index.remove(1, graph) and not index.remove(1, graph) and not index.remove(9, graph)
    assert index.remove(2, diffusion)
    assert index.add(4, diffusion)
    assert len(index) == 2 and index.topic_count == 2
    assert index.match_all(papers) == TopicIndex([(3, survey), (4, diffusion)]).match_all(papers)
    assert index.remove(3, survey) and index.remove(4, diffusion)
    assert index.match_all(papers) == {} and index.topic_count == 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_splits_like_tokenize(text: str) -> None:
    from digestbot.matching import _tokenize
    from digestbot.topics import tokenize

    assert _tokenize(text) == tokenize(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subscriptions=st.lists(st.tuples(st.integers(0, 5), _topics()), max_size=12),
    removed=st.lists(st.integers(0, 11), max_size=8),
    papers=st.lists(_papers, min_size=1, max_size=4),
)
def test_removing_multi_word_topics_equals_building_afresh(
    subscriptions: list[tuple[int, Topic]], removed: list[int], papers: list[Paper]
) -> None:
    index = TopicIndex(subscriptions)
    gone = {subscriptions[i] for i in removed if i < len(subscriptions)}
    for key, topic in gone:
        index.remove(key, topic)
    kept = [pair for pair in subscriptions if pair not in gone]
    assert index.match_all(papers) == TopicIndex(kept).match_all(papers)
    for key, topic in kept:  # and back in: filed again under the same words
        index.remove(key, topic)
    for key, topic in subscriptions:
        index.add(key, topic)
    assert index.match_all(papers) == TopicIndex(subscriptions).match_all(papers)


def test_who_matched_is_found_lazily_and_skips_a_subscriber_who_left_meanwhile() -> None:
    graph, llm = parse_topic("graph"), parse_topic("graph llm")
    paper = _paper(title="graph llm")
    index = TopicIndex([(k, graph) for k in range(50)] + [(k, llm) for k in range(40, 60)])
    result = index.match_all([paper])
    seen = []
    for key in result:
        seen.append(key)
        if len(seen) == 1:
            for k in range(60):  # everyone not yet reached leaves both topics
                if k != key:
                    index.remove(k, graph)
                    index.remove(k, llm)
            index.add(99, graph)  # and a new subscriber arrives: iterating must not break
        assert key in result
        assert result[key]
    assert set(seen) <= {*range(60), 99}
    assert seen[0] not in seen[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.text(min_size=0, max_size=60), min_size=1, max_size=4),
    picks=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 3), st.booleans()), min_size=1, max_size=6),
)
def test_any_unicode_text_matches_like_the_reference(texts: list[str], picks: list[tuple[int, int, bool]]) -> None:
    """Chunked and ASCII fast-path tokenising agree with the reference on arbitrary text (NFKC, Hangul, CJK)."""
    from digestbot.topics import tokenize

    paper = Paper(
        arxiv_id="2410.00001",
        title=texts[0],
        abstract=" ".join(texts[1:2]),
        sections=tuple(("s", t) for t in texts[2:]),
    )
    words = [w for t in texts for w in tokenize(t)] or ["diffusion"]
    topics = []
    for start, length, quoted in picks:  # phrases and words taken from the paper itself, so some match
        chosen = words[start % len(words) : start % len(words) + length]
        text = f'"{" ".join(chosen)}"' if quoted else " ".join(chosen)
        try:
            topics.append(parse_topic(text))
        except CommandError:
            continue
    result = TopicIndex([(i, t) for i, t in enumerate(topics)]).match_all([paper])
    assert set(result) == {i for i, t in enumerate(topics) if reference_match(t, paper)}


def test_words_of_a_topics_own_phrase_are_implied_by_it() -> None:
    """A topic's word that is also in its phrase is not tested twice, whichever word is the anchor."""
    paper = _paper(title="large language model scaling", abstract="model of language and large")
    for freq in ({"large": 1}, {"scaling": 1}, {"model": 1}):
        for text, want in [
            ('"large language model" language', True),
            ('"large language model" scaling', True),
            ('"language large" model', False),
            ('"large language" "language model" -"model large"', True),
            ('"large language" "language model" -scaling', False),
            ('"large language" "model scaling" -"scaling model"', True),
        ]:
            topic = parse_topic(text)
            got = TopicIndex([("u", topic)], word_frequency=freq).match(paper) == {"u": [topic]}
            assert got == reference_match(topic, paper) == want, (text, freq)


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*"aZ9_.-(", "\u00e9", "Ａ", *"대형모델의", "\u1100", "\u3131", "大", "\u0301"]),
        min_size=1,
    )
)
def test_chunk_fast_path_splits_like_tokenize(chunk: str) -> None:
    from digestbot.matching import _tokenize_chunk
    from digestbot.topics import tokenize

    assert _tokenize_chunk(chunk) == tokenize(chunk)


_MIXED = st.text(
    alphabet=st.sampled_from([*"aAbB1 -.,\n(", "모", "델", "을", "학", "습", "é", "ㄱ", "\u3000"]), max_size=40
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(_MIXED, min_size=1, max_size=4),
    picks=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 3), st.integers(0, 3)), min_size=1, max_size=6),
)
def test_phrases_in_mixed_latin_and_hangul_text_match_like_the_reference(
    texts: list[str], picks: list[tuple[int, int, int]]
) -> None:
    """Phrases sought in the lowered text (Latin words whole, Hangul words as prefixes, no step over a field) agree with the reference."""
    from digestbot.topics import tokenize

    paper = Paper(
        arxiv_id="2410.00001",
        title=texts[0],
        abstract=" ".join(texts[1:2]),
        sections=tuple(("s", t) for t in texts[2:]),
    )
    words = [w for t in texts for w in tokenize(t)] or ["모델"]
    topics = []
    for start, length, cut in picks:  # phrases of the paper's own words, Hangul ones maybe cut to a prefix
        chosen = words[start % len(words) : start % len(words) + length]
        chosen = [w[: max(1, len(w) - cut)] if is_hangul(w) else w for w in chosen]
        if len(chosen) == 1:
            chosen.append("모")  # a phrase of two words at least
        try:
            topics.append(parse_topic(f'"{" ".join(chosen)}"'))
        except CommandError:
            continue
    result = TopicIndex([(i, t) for i, t in enumerate(topics)]).match_all([paper])
    assert set(result) == {i for i, t in enumerate(topics) if reference_match(t, paper)}


def test_a_hangul_phrase_word_does_not_start_inside_the_previous_word() -> None:
    """ "모델 학습" is two words: "모델학습" (one word) does not hold it, "모델을 학습" does."""
    assert not _matches('"모델 학습"', _paper(title="모델학습", abstract="학습"))
    assert _matches('"모델 학습"', _paper(title="모델을 학습했다"))
    assert _matches('"llm 학습"', _paper(title="LLM학습"))
    assert not _matches('"llm 학습"', _paper(title="LLM", abstract="학습"))
