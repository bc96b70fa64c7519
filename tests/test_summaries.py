"""The summarizer through the real ``openai`` client against a fake OpenAI-compatible server."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from datetime import date
from typing import Any

import pytest

from digestbot.config import Config, build
from digestbot.errors import ConfigError
from digestbot.records import Paper
from digestbot.sources.huggingface import load_daily_papers_json
from digestbot.store import Store
from digestbot.store.summaries import SummaryStore
from digestbot.summaries.client import ModelClient
from digestbot.summaries.prompt import (
    HEADINGS,
    KEYS,
    MAX_PART,
    InvalidAnswer,
    build_messages,
    needs_summary,
    parse_bullet_answer,
    parse_json_answer,
    trim_part,
)
from digestbot.summaries.runner import make_summaries
from digestbot.summaries.view import localize, summary_key
from tests.fakes.openai_server import OpenAIServer, Reply, golden_parts
from tests.fakes.sources_server import fixture_text

DAY = date(2024, 10, 11)
KEY = "sk-test-key"


def hf_papers() -> list[Paper]:
    return load_daily_papers_json(fixture_text("hf/daily_papers_2024-10-11.json"), origin="fixture", digest_date=DAY)


def config_for(server: OpenAIServer, **summaries: Any) -> Config:
    data = {"enabled": True, "base_url": server.base_url, "api_key": KEY, "model": "fake-model", **summaries}
    config: Config = build(Config, {"summaries": data}, env={})
    return config


class Sleeps:
    """Record the waits asked for instead of sleeping (no wall-clock in tests)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def run(store: Store, config: Config, papers: list[Paper], languages: list[str], **kw: Any) -> Any:
    sleeps = kw.pop("sleeps", None) or Sleeps()
    async with ModelClient(config.summaries, sleep=sleeps) as client:
        return await make_summaries(store, config, papers, languages, client=client, **kw)


@pytest.fixture
async def hf_store(store: Store) -> Store:
    await store.upsert_papers(hf_papers(), digest_date=DAY)
    return store


@pytest.fixture
async def any_hf_store(any_store: Store) -> Store:
    """The summary cache's own tests run on SQLite and PostgreSQL."""
    await any_store.upsert_papers(hf_papers(), digest_date=DAY)
    return any_store


# -- prompt and answers (pure) -------------------------------------------------------------------


def test_golden_parts_of_the_sample_pass_validation_unchanged() -> None:
    golden = golden_parts()
    assert len(golden) >= 20
    for parts in golden.values():
        answer = json.dumps(dict(zip(KEYS, parts.values(), strict=True)), ensure_ascii=False)
        assert dict(parse_json_answer(answer)) == parts


def test_bullet_answer_goes_through_the_sample_parser() -> None:
    paper = hf_papers()[0]
    parts = next(iter(golden_parts().values()))
    text = "Here is the summary:\n\n" + "\n".join(f"- **{h}**: {parts[h]}" for h in HEADINGS)
    text = text.replace(
        parts["Technical Details"], parts["Technical Details"][:20] + "\n  " + parts["Technical Details"][20:]
    )
    sections = parse_bullet_answer(text, paper)
    assert [h for h, _ in sections] == list(HEADINGS)
    assert sections[0][1] == parts["What's New"]
    assert sections[1][1].replace(" ", "") == parts["Technical Details"].replace(" ", "")


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        '{"whats_new": "a", "technical_details": "b"}',
        '{"whats_new": "a", "technical_details": "b", "performance_highlights": ""}',
        '{"whats_new": "a", "technical_details": 3, "performance_highlights": "c"}',
        '{"whats_new": "<script>x</script>", "technical_details": "b", "performance_highlights": "c"}',
        '["a", "b", "c"]',
    ],
)
def test_bad_json_answers_are_invalid(content: str) -> None:
    with pytest.raises(InvalidAnswer):
        parse_json_answer(content)


def test_bullets_missing_a_part_are_invalid() -> None:
    with pytest.raises(InvalidAnswer):
        parse_bullet_answer("- **What's New**: a.\n- **Technical Details**: b.", hf_papers()[0])
    with pytest.raises(InvalidAnswer):
        parse_bullet_answer("Sorry, I cannot help with that.", hf_papers()[0])


def test_trim_cuts_at_a_sentence_end() -> None:
    sentence = "이 논문은 새로운 방법을 제안합니다. "
    text = sentence * 60
    cut = trim_part(text)
    assert len(cut) <= MAX_PART and cut.endswith("제안합니다.")
    no_stops = "word " * 300
    assert len(trim_part(no_stops)) <= MAX_PART and trim_part(no_stops).endswith("…")


def test_prompt_carries_title_abstract_keywords_and_language() -> None:
    paper = dataclasses.replace(hf_papers()[0], keywords=("math", "code"), ai_summary="One line.")
    system, user = build_messages(paper, "ko", bullets=False)
    assert "Korean (ko)" in system["content"] and "JSON" in system["content"]
    assert paper.title in user["content"] and "Keywords: math, code" in user["content"]
    assert "One-line summary: One line." in user["content"] and "Abstract: " in user["content"]
    bullets = build_messages(paper, "pt-BR", bullets=True)[0]["content"]
    assert "Brazilian Portuguese" in bullets and "- **What's New**: …" in bullets


def test_which_papers_need_a_summary() -> None:
    paper = hf_papers()[0]
    assert needs_summary(paper)
    assert not needs_summary(dataclasses.replace(paper, sections=(("What's New", "given"),)))
    assert not needs_summary(dataclasses.replace(paper, abstract="", ai_summary=""))
    assert not needs_summary(dataclasses.replace(paper, extra={"withdrawnAt": "2024-10-12T00:00:00.000Z"}))


# -- through the real client ---------------------------------------------------------------------


async def test_structured_answers_are_the_golden_korean_parts(hf_store: Store) -> None:
    async with OpenAIServer(api_key=KEY) as server:
        config = config_for(server)
        papers = hf_papers()
        report = await run(hf_store, config, papers, ["ko"])
        assert (report.summarized, report.cached, report.failed) == (len(papers), 0, 0)
        assert report.prompt_tokens > 0 and report.completion_tokens > 0 and report.requests == len(papers)
        assert all(r["response_format"]["type"] == "json_schema" for r in server.requests)
        assert all(r["model"] == "fake-model" for r in server.requests)
    shown = await localize(hf_store, config, papers, "ko")
    golden = golden_parts()
    for paper in shown:
        assert [h for h, _ in paper.sections] == list(HEADINGS)
        if paper.title in golden:
            assert dict(paper.sections) == golden[paper.title]


async def test_bullet_fallback_after_a_400_on_json_schema(any_hf_store: Store) -> None:
    async with OpenAIServer(api_key=KEY, json_schema=False) as server:
        config = config_for(server, concurrency=1)
        papers = hf_papers()[:3]
        report = await run(any_hf_store, config, papers, ["ko"])
        assert (report.summarized, report.failed) == (3, 0)
        # One refused json_schema request, then bullets for every paper (no more json_schema tries).
        formats = [("response_format" in r) for r in server.requests]
        assert formats == [True, False, False, False]
    cached = await SummaryStore(any_hf_store).cached([p.arxiv_id for p in papers], summary_key(config, "ko"))
    assert dict(cached[papers[0].arxiv_id]) == golden_parts()[papers[0].title]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"whats_new": "only one part"}',
        '{"whats_new": "", "technical_details": "b", "performance_highlights": "c"}',
    ],
)
async def test_malformed_or_incomplete_answers_fail_that_paper_only(hf_store: Store, content: str) -> None:
    async with OpenAIServer(api_key=KEY) as server:
        server.script(Reply(content=content))
        report = await run(hf_store, config_for(server, concurrency=1), hf_papers()[:2], ["en"])
    assert (report.summarized, report.failed) == (1, 1)


async def test_over_long_parts_are_trimmed_at_a_sentence(hf_store: Store) -> None:
    long = "This is one sentence of the summary. " * 40
    content = json.dumps({"whats_new": long, "technical_details": "b.", "performance_highlights": "c."})
    async with OpenAIServer(api_key=KEY) as server:
        server.script(Reply(content=content))
        config = config_for(server)
        report = await run(hf_store, config, hf_papers()[:1], ["en"])
    assert report.summarized == 1
    (paper,) = await localize(hf_store, config, hf_papers()[:1], "en")
    assert len(paper.sections[0][1]) <= MAX_PART and paper.sections[0][1].endswith("summary.")


async def test_429_with_retry_after_is_honoured(hf_store: Store) -> None:
    sleeps = Sleeps()
    async with OpenAIServer(api_key=KEY) as server:
        server.script(
            Reply(status=429, headers={"Retry-After": "7"}), Reply(status=429, headers={"retry-after-ms": "250"})
        )
        report = await run(hf_store, config_for(server), hf_papers()[:1], ["en"], sleeps=sleeps)
        assert len(server.requests) == 3
    assert report.summarized == 1 and report.requests == 3
    assert sleeps.waits == [7.0, 0.25]


async def test_500s_are_retried_with_backoff_then_given_up(hf_store: Store) -> None:
    sleeps = Sleeps()
    async with OpenAIServer(api_key=KEY) as server:
        server.script(Reply(status=500), Reply(status=503))
        report = await run(hf_store, config_for(server), hf_papers()[:1], ["en"], sleeps=sleeps)
        assert report.summarized == 1 and len(sleeps.waits) == 2
        server.fail_all = Reply(status=500)
        report = await run(hf_store, config_for(server), hf_papers()[1:2], ["en"], sleeps=sleeps)
    assert (report.summarized, report.failed) == (0, 1)
    assert len(sleeps.waits) == 2 + 4  # five tries, four waits


async def test_retry_after_past_the_deadline_fails_at_once(hf_store: Store) -> None:
    sleeps = Sleeps()
    async with OpenAIServer(api_key=KEY) as server:
        server.script(Reply(status=429, headers={"Retry-After": "3600"}))
        report = await run(hf_store, config_for(server), hf_papers()[:1], ["en"], sleeps=sleeps, deadline=60)
    assert report.failed == 1 and sleeps.waits == []


async def test_retry_after_beyond_the_cap_fails_without_a_deadline(
    hf_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """``summarize`` has no deadline: a Retry-After of 100000 s must fail the paper, not sleep for a day."""
    caplog.set_level(logging.INFO, logger="digestbot.summaries")
    sleeps = Sleeps()
    async with OpenAIServer(api_key=KEY) as server:
        server.fail_all = Reply(status=429, headers={"Retry-After": "100000"})
        report = await run(hf_store, config_for(server), hf_papers()[:2], ["en"], sleeps=sleeps)
    assert (report.summarized, report.failed) == (0, 2)
    assert sleeps.waits == []
    assert "more than the 120 s cap" in caplog.text


async def test_long_waits_are_logged_at_info_and_capped(hf_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="digestbot.summaries")
    sleeps = Sleeps()
    async with OpenAIServer(api_key=KEY) as server:
        server.script(Reply(status=429, headers={"Retry-After": "30"}), Reply(status=429, headers={"Retry-After": "9"}))
        async with ModelClient(config_for(server).summaries, sleep=sleeps, max_wait=10) as client:
            report = await make_summaries(hf_store, config_for(server), hf_papers()[:1], ["en"], client=client)
    assert (report.summarized, report.failed) == (0, 1)
    assert sleeps.waits == []
    assert "wait 30 s, more than the 10 s cap" in caplog.text
    caplog.clear()
    async with OpenAIServer(api_key=KEY) as server:
        server.script(Reply(status=429, headers={"Retry-After": "9"}))
        report = await run(hf_store, config_for(server), hf_papers()[:1], ["en"], sleeps=sleeps)
    assert report.summarized == 1 and sleeps.waits == [9.0]
    assert "retrying in 9.0 s" in caplog.text


async def test_unusable_answers_count_their_tokens(hf_store: Store) -> None:
    async with OpenAIServer(api_key=KEY) as server:
        server.fail_all = Reply(content="{not json")
        report = await run(hf_store, config_for(server), hf_papers()[:2], ["en"])
    assert (report.summarized, report.failed) == (0, 2)
    assert report.requests == 2 and report.prompt_tokens > 0 and report.completion_tokens > 0


async def test_slow_answers_past_the_deadline_fail(hf_store: Store) -> None:
    async with OpenAIServer(api_key=KEY) as server:
        server.fail_all = Reply(delay=30)
        report = await run(hf_store, config_for(server, concurrency=4), hf_papers(), ["en"], deadline=0.5)
    assert (report.summarized, report.failed) == (0, len(hf_papers()))


async def test_wrong_key_is_one_config_error_without_the_key(hf_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with OpenAIServer(api_key="sk-the-right-one") as server:
        config = config_for(server, api_key="sk-wrong-secret-123")
        with pytest.raises(ConfigError) as info:
            await run(hf_store, config, hf_papers(), ["en"])
    text = str(info.value)
    assert "summaries.api_key" in text and "401" in text and "\n" not in text
    assert "sk-wrong-secret-123" not in text and "sk-wrong-secret-123" not in caplog.text


async def test_cache_per_language_model_and_refresh(any_hf_store: Store) -> None:
    papers = hf_papers()
    async with OpenAIServer(api_key=KEY) as server:
        config = config_for(server)
        first = await run(any_hf_store, config, papers, ["ko"])
        assert first.summarized == len(papers)
        again = await run(any_hf_store, config, papers, ["ko"])
        assert (again.summarized, again.cached) == (0, len(papers)) and len(server.requests) == len(papers)
        english = await run(any_hf_store, config, papers, ["en"])
        assert english.summarized == len(papers) and len(server.requests) == 2 * len(papers)
        other_model = dataclasses.replace(config, summaries=dataclasses.replace(config.summaries, model="other"))
        assert (await run(any_hf_store, other_model, papers, ["ko"])).summarized == len(papers)
        refreshed = await run(any_hf_store, config, papers[:2], ["ko"], refresh=True)
        assert (refreshed.summarized, refreshed.cached) == (2, 0)
        assert len(server.requests) == 3 * len(papers) + 2
    # Shown: the current model's summary; the other model's stays cached.
    (shown,) = await localize(any_hf_store, config, papers[:1], "en")
    assert shown.sections[0][1].startswith("[en] What's New")


async def test_papers_with_their_own_sections_are_not_sent(seeded_store: Store) -> None:
    async with OpenAIServer(api_key=KEY) as server:
        digest = await seeded_store.digest(DAY)
        assert digest is not None
        report = await run(seeded_store, config_for(server), list(digest.papers), ["ko", "en"])
        assert (report.summarized, report.cached, report.failed) == (0, 0, 0) and server.requests == []


async def test_unknown_model_is_a_config_error_naming_the_model(hf_store: Store) -> None:
    async with OpenAIServer(api_key=KEY) as server:
        server.fail_all = Reply(status=404)
        with pytest.raises(ConfigError) as info:
            await run(hf_store, config_for(server), hf_papers()[:2], ["en"])
    assert "summaries.model" in str(info.value) and "fake-model" in str(info.value)


async def test_a_400_on_the_bullet_request_fails_that_paper(hf_store: Store) -> None:
    async with OpenAIServer(api_key=KEY, json_schema=False) as server:
        server.script(Reply(status=400), Reply(status=400))  # json_schema refused, then bullets refused too
        report = await run(hf_store, config_for(server, concurrency=1), hf_papers()[:2], ["en"])
    assert (report.summarized, report.failed) == (1, 1)


@pytest.mark.parametrize(
    ("summaries", "where"),
    [
        ({"language": "Korean!"}, "summaries.language"),
        ({"base_url": "localhost:11434"}, "summaries.base_url"),
        ({"concurrency": 0}, "summaries.concurrency"),
        ({"deadline": 0}, "summaries.deadline"),
        ({"model": " "}, "summaries.model"),
        ({"api_key": 5, "enabled": "yes"}, "summaries."),
    ],
)
def test_bad_summaries_config_names_the_key(tmp_path: Any, summaries: dict[str, Any], where: str) -> None:
    from digestbot.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"summaries": summaries}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert where in str(info.value)


def test_channel_language_overrides_the_default(tmp_path: Any) -> None:
    from digestbot.config import load_config

    path = tmp_path / "c.yaml"
    data = {
        "locale": "ko",
        "channels": [{"platform": "console", "id": "a", "language": "ja"}, {"platform": "console", "id": "b"}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    config = load_config(path, env={})
    assert [config.summary_language(c.language) for c in config.channels] == ["ja", "ko"]
    data["channels"][0]["language"] = "日本語"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"channels\[0\]\.language"):
        load_config(path, env={})


def test_progress_bar_only_on_a_terminal() -> None:
    from digestbot.summarize_command import progress_bar

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_bar(io.StringIO()) is None
    out = Tty()
    show = progress_bar(out)
    assert show is not None
    show(1, 2)
    show(2, 2)
    assert out.getvalue().endswith("2/2 summaries\n") and "\r[" in out.getvalue()


def test_check_config_wants_a_key_for_openai_only(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from digestbot.cli import main

    path = tmp_path / "c.yaml"
    path.write_text("summaries: {enabled: true}\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    assert "summaries.api_key: OpenAI needs a key" in capsys.readouterr().err
    path.write_text("summaries: {enabled: true, base_url: 'http://localhost:11434/v1'}\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 0


async def test_a_paper_listed_twice_is_asked_for_once(hf_store: Store) -> None:
    papers = hf_papers()[:2]
    async with OpenAIServer(api_key=KEY) as server:
        report = await run(hf_store, config_for(server), papers + papers, ["en"])
        assert report.summarized == 2 and len(server.requests) == 2
