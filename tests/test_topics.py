"""Topic parsing and tokenising: each rule of digestbot.topics and each error message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digestbot.errors import CommandError
from digestbot.records import Paper
from digestbot.topics import MAX_TERMS, Topic, is_hangul, paper_fields, parse_topic, tokenize

# --- tokenize -------------------------------------------------------------------------------------


def test_tokenize_casefolds_and_applies_nfkc() -> None:
    assert tokenize("Diffusion ＤＩＦＦＵＳＩＯＮ Straße") == ["diffusion", "diffusion", "strasse"]


def test_tokenize_drops_punctuation_mentions_and_underscores() -> None:
    assert tokenize("@everyone <!channel> (LoRA), snake_case!") == [
        "everyone",
        "channel",
        "lora",
        "snake",
        "case",
    ]


def test_tokenize_splits_hyphenated_words_and_numbers() -> None:
    assert tokenize("text-to-image Llama-3.1-70B") == ["text", "to", "image", "llama", "3", "1", "70b"]


def test_tokenize_keeps_accents_and_combining_marks_inside_words() -> None:
    assert tokenize("café naïve हिन्दी") == ["café", "naïve", "हिन्दी"]


def test_tokenize_handles_letters_beyond_the_basic_plane() -> None:
    # Deseret capitals casefold to small letters; mathematical bold NFKC-normalises to ASCII.
    assert tokenize("𐐀𐐁x 𝐁𝐨𝐥𝐝 🚀rocket") == ["𐐨𐐩x", "bold", "rocket"]


def test_tokenize_makes_each_cjk_character_a_word() -> None:
    assert tokenize("大模型とカナ") == ["大", "模", "型", "と", "カ", "ナ"]


def test_tokenize_cuts_hangul_from_adjacent_latin_letters() -> None:
    assert tokenize("PrefixQuant은 LLM의 양자화를") == ["prefixquant", "은", "llm", "의", "양자화를"]


def test_is_hangul() -> None:
    assert is_hangul("양자화")
    assert not is_hangul("llm")
    assert not is_hangul("")


def test_paper_fields_cover_title_abstract_sections_summary_keywords_not_authors() -> None:
    paper = Paper(
        arxiv_id="2410.00001",
        title="T",
        authors=("Ada Lovelace",),
        abstract="A",
        sections=(("What's New", "S1"), ("Technical Details", "S2")),
        ai_summary="AI",
        keywords=("k1", "k2"),
    )
    assert list(paper_fields(paper)) == ["T", "A", "S1", "S2", "AI", "k1", "k2"]


# --- parse_topic: what a topic is -----------------------------------------------------------------


def test_words_are_included_terms() -> None:
    topic = parse_topic("Diffusion Transformer")
    assert topic == Topic(canonical="diffusion transformer", include=(("diffusion",), ("transformer",)))


def test_case_and_width_do_not_make_a_different_subscription() -> None:
    assert parse_topic("Diffusion") == parse_topic("diffusion") == parse_topic(" ＤＩＦＦＵＳＩＯＮ ")
    assert parse_topic("Diffusion").canonical == "diffusion"


def test_quoted_phrase_is_one_term() -> None:
    topic = parse_topic('"Large Language Model" -"position paper"')
    assert topic.include == (("large", "language", "model"),)
    assert topic.exclude == (("position", "paper"),)
    assert topic.canonical == '"large language model" -"position paper"'


def test_smart_quotes_count_as_quotes() -> None:
    assert parse_topic("“large language model”") == parse_topic('"large language model"')


def test_exclusions_follow_inclusions_in_canonical_text() -> None:
    topic = parse_topic("-survey diffusion")
    assert topic.include == (("diffusion",),)
    assert topic.exclude == (("survey",),)
    assert topic.canonical == "diffusion -survey"


def test_hyphenated_word_is_a_phrase() -> None:
    topic = parse_topic("Text-to-Image")
    assert topic.include == (("text", "to", "image"),)
    assert topic.canonical == '"text to image"'
    assert parse_topic('"text to image"') == topic


def test_dash_inside_word_is_not_an_exclusion_but_leading_dash_is() -> None:
    assert parse_topic("gpt-4o").exclude == ()
    assert parse_topic("llm -gpt-4o").exclude == (("gpt", "4o"),)


def test_mentions_are_just_text() -> None:
    assert parse_topic("@everyone <!channel> <@U123>").canonical == "everyone channel u123"


def test_duplicate_terms_are_dropped() -> None:
    assert parse_topic("diffusion Diffusion -survey -SURVEY").canonical == "diffusion -survey"


def test_terms_without_words_are_ignored() -> None:
    assert parse_topic('diffusion - "" 🚀 -!!').canonical == "diffusion"


def test_korean_and_cjk_topics() -> None:
    assert parse_topic("양자화").include == (("양자화",),)
    assert parse_topic("LLM의").include == (("llm", "의"),)
    assert parse_topic("大模型").include == (("大", "模", "型"),)


@given(st.text(alphabet=st.sampled_from('ab양자화 大-"@x!'), max_size=40))
def test_canonical_text_parses_back_to_the_same_topic(raw: str) -> None:
    try:
        topic = parse_topic(raw)
    except CommandError:
        return
    assert parse_topic(topic.canonical) == topic
    assert str(topic) == topic.canonical


# --- parse_topic: errors --------------------------------------------------------------------------


def _error(raw: str, **kwargs: int) -> str:
    with pytest.raises(CommandError) as info:
        parse_topic(raw, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("raw", ["", "   ", "\u3000"])
def test_empty_topic(raw: str) -> None:
    assert _error(raw).startswith("Topic is empty")


@pytest.mark.parametrize("raw", ["!!!", "🚀", '""', "- -"])
def test_topic_without_words(raw: str) -> None:
    assert _error(raw).startswith("Topic has no words to match")


def test_too_long_topic_says_limit_and_length() -> None:
    message = _error("x" * 400)
    assert "400 characters" in message
    assert "limit is 100" in message


def test_length_limit_is_configurable_and_inclusive() -> None:
    assert parse_topic("a" * 20, max_length=20).canonical == "a" * 20
    assert "21 characters, the limit is 20" in _error("a" * 21, max_length=20)


def test_length_is_also_checked_after_normalising() -> None:
    # Fits as typed (10 characters) but renders as '"a b c d e"' (11 characters).
    assert "once normalised: 11 characters" in _error("a-b-c-d-e", max_length=10)


@pytest.mark.parametrize("raw", ['"large language model', 'a "b" "c', "llm -“position paper"])
def test_unbalanced_quote(raw: str) -> None:
    assert _error(raw).startswith("Topic has an unbalanced quote")


@pytest.mark.parametrize("raw", ["-survey", '-"position paper" -survey'])
def test_only_exclusions(raw: str) -> None:
    assert _error(raw).startswith("Topic has only excluded terms")


def test_too_many_terms() -> None:
    raw = " ".join(f"w{i}" for i in range(MAX_TERMS + 1))
    assert _error(raw).startswith(f"Topic has too many terms: {MAX_TERMS + 1}, the limit is {MAX_TERMS}")
    assert len(parse_topic(" ".join(f"w{i}" for i in range(MAX_TERMS))).include) == MAX_TERMS


@pytest.mark.parametrize("raw", ["diffusion\nsurvey", "a\tb", "llm\x00", "llm \u202eevil"])
def test_control_characters(raw: str) -> None:
    assert _error(raw).startswith("Topic contains control characters")


def test_term_both_required_and_excluded() -> None:
    message = _error("Diffusion -diffusion")
    assert message == "Topic both requires and excludes diffusion, so it could never match."
    # One level down: every paper with the phrase has its words, in chat as from the CLI.
    assert _error('"diffusion model" -diffusion') == (
        'Topic requires "diffusion model" and excludes diffusion within it, so it could never match.'
    )
    assert _error('"large language model" -"language model"').startswith('Topic requires "large language model"')
    assert parse_topic('"diffusion model" -"model diffusion"').exclude == (("model", "diffusion"),)  # not within


def test_a_never_matching_topic_is_refused_in_chat_as_from_the_cli(tmp_path: Path) -> None:
    import asyncio

    from digestbot.commands import subscribe
    from digestbot.config import Config
    from digestbot.store import Store

    async def run() -> str:
        async with await Store.open(tmp_path / "db.sqlite3") as store:
            try:
                return await subscribe(
                    store,
                    Config(),
                    raw_topic='"diffusion model" -diffusion',
                    platform="slack",
                    workspace="T1",
                    user="U1",
                )
            except CommandError as exc:
                return str(exc)

    assert "could never match" in asyncio.run(run())


# --- meaningful words and typed text (issues #19, #11) ----------------------------------------------


@pytest.mark.parametrize("raw", ["the", "The Of", '"of the"', "the -survey", "의"])
def test_topics_of_only_stopwords_are_refused(raw: str) -> None:
    assert "only common words" in _error(raw)


@pytest.mark.parametrize("raw", ["C++", "C#", "x", "7"])
def test_topics_that_normalise_to_a_lone_letter_are_refused(raw: str) -> None:
    message = _error(raw)
    assert f"“{raw}”" in message and "too short" in message


@pytest.mark.parametrize("raw", ['"state of the art" diffusion', "C++ compiler", "WALL-E", "the transformer", "大"])
def test_stopwords_or_letters_beside_a_real_word_are_fine(raw: str) -> None:
    assert parse_topic(raw).typed == raw


def test_typed_text_is_kept_for_display_but_not_for_matching() -> None:
    topic = parse_topic("  WALL-E   agents ")
    assert topic.typed == "WALL-E agents" and topic.shown == "WALL-E agents"
    assert topic.canonical == '"wall e" agents'
    assert topic == parse_topic('"wall e" agents')  # the typed text does not change what matches


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_zero_width_and_format_characters_are_dropped(invisible: str) -> None:
    """A pasted zero-width space must not make an invisible second topic that never matches."""
    topic = parse_topic(f"diff{invisible}usion -sur{invisible}vey")
    assert topic == parse_topic("diffusion -survey")
    assert topic.typed == "diffusion -survey"


def test_a_topic_of_only_format_characters_has_no_words() -> None:
    assert _error("\u200b\u200b").startswith("Topic has no words to match")
