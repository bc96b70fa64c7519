import copy
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import aiohttp
import pytest

from digestbot.errors import SourceAnswerError, SourceError, SourceUnreachableError
from digestbot.sources.huggingface import HuggingFaceClient, load_daily_papers_json, parse_daily_papers
from tests.fakes.sources_server import FIXTURES, Reply, SourcesServer, fixture_text

SEED = Path(__file__).resolve().parents[2] / "digestbot" / "data" / "daily-papers-2024-10-11.md"
DAY = "hf/daily_papers_2024-10-11.json"
NEW = "hf/daily_papers_2025-01-22.json"


def load(name: str) -> list[dict]:
    return json.loads(fixture_text(name))


def seed_papers() -> dict[str, dict]:
    """Read id, title, votes, authors of each paper from the seed digest."""
    out = {}
    for block in SEED.read_text(encoding="utf-8").split("\n### ")[1:]:
        m = re.match(r"\[(?P<title>.+)\]\(https://arxiv\.org/abs/(?P<id>[^)]+)\)", block)
        assert m
        votes = int(re.search(r"^Vote: (\d+)", block, re.M)[1])
        authors = re.search(r"^Authors: (.+)$", block, re.M)[1].split(", ")
        out[m["id"]] = {"title": m["title"], "votes": votes, "authors": authors}
    return out


class FakeSleep:
    """Records requested waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def server() -> AsyncIterator[SourcesServer]:
    async with SourcesServer() as srv:
        yield srv


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(server: SourcesServer, session: aiohttp.ClientSession, **kw: object) -> HuggingFaceClient:
    kw.setdefault("sleep", FakeSleep())
    kw.setdefault("jitter", lambda: 0.5)
    return HuggingFaceClient(server.base_url, session=session, **kw)  # type: ignore[arg-type]


# --- mapping ---------------------------------------------------------------------------------


def test_fixture_matches_seed_ids_titles_authors_votes() -> None:
    seed = seed_papers()
    papers = parse_daily_papers(load(DAY), origin=DAY)
    assert len(papers) >= 5
    for paper in papers:
        expected = seed[paper.arxiv_id]
        assert (paper.title, list(paper.authors), paper.votes) == (
            expected["title"],
            expected["authors"],
            expected["votes"],
        )


def test_entry_maps_field_for_field() -> None:
    paper = parse_daily_papers(load(DAY), origin=DAY)[0]
    assert paper.arxiv_id == "2410.08196"
    assert paper.title.startswith("MathCoder2: Better Math Reasoning")
    assert paper.votes == 27
    assert paper.abstract.startswith("Code has been shown to be effective in enhancing the mathematical reasoning abil")
    assert "\n" not in paper.abstract  # arXiv hard wraps joined
    assert paper.thumbnail == "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2410.08196.png"
    assert paper.digest_date == date(2024, 10, 11)
    assert paper.source == "huggingface"
    assert (paper.ai_summary, paper.keywords, paper.github_url) == ("", (), None)
    extra = dict(paper.extra)
    assert extra["discussionId"] == load(DAY)[0]["paper"]["discussionId"]
    assert extra["submittedOnDailyAt"] == "2024-10-11T00:00:00.000Z"
    assert extra["publishedAt"] == "2024-10-10T17:59:26.000Z"
    assert extra["numComments"] == 2
    assert extra["isAuthorParticipating"] is True
    assert extra["submittedBy"]["name"] == "akhaliq"
    assert extra["submittedOnDailyBy"]["user"] == "akhaliq"
    assert "summary" not in extra and "title" not in extra and "authors" not in extra
    json.dumps(extra)


def test_newer_entry_maps_ai_fields_and_github() -> None:
    papers = parse_daily_papers(load(NEW), origin=NEW)
    r1 = papers[0]
    assert r1.arxiv_id == "2501.12948"
    assert r1.ai_summary.startswith("DeepSeek-R1 uses large-scale reinforcement learning")
    assert r1.keywords[:2] == ("reinforcement learning", "supervised fine-tuning")
    assert r1.github_url == "https://github.com/deepseek-ai/DeepSeek-R1"
    assert r1.votes == 312
    assert r1.extra["githubStars"] == 91234
    assert r1.extra["organization"]["name"] == "deepseek-ai"
    assert "projectPage" not in r1.extra  # null values are not kept
    # submittedOnDailyAt with a time of day still files the paper under its UTC date
    assert r1.digest_date == date(2025, 1, 22)
    assert r1.abstract.count("\n\n") == 1  # paragraph break kept


def test_unicode_survives() -> None:
    papers = {p.arxiv_id: p for p in parse_daily_papers(load(DAY) + load(NEW), origin="mixed")}
    assert "Börje F. Karlsson" in papers["2410.03450"].authors
    assert papers["2410.07041"].authors == ("Julia Kempe", "François Charton")
    assert "Armand Kassaï Koupaï" in papers["2410.03437"].authors
    korean = papers["2501.99901"]
    assert korean.title.startswith("한국어 평가")
    assert korean.authors[0] == "김하늘"
    assert korean.extra["submittedBy"]["fullname"] == "김하늘"


def test_hidden_authors_are_skipped_but_kept_in_extra() -> None:
    paper = parse_daily_papers(load(DAY), origin=DAY)[2]
    assert paper.arxiv_id == "2410.03450"
    assert "Börje Karlsson" not in paper.authors
    assert paper.extra["hidden_authors"] == ["Börje Karlsson"]


def test_relative_thumbnail_is_not_a_thumbnail() -> None:
    agent_s = next(p for p in parse_daily_papers(load(DAY), origin=DAY) if p.arxiv_id == "2410.08164")
    assert agent_s.thumbnail is None
    assert agent_s.extra["thumbnail"] == "/avatars/05abee0b6317f100923936ca2099e9eb.svg"


def test_digest_date_argument_wins_and_missing_date_is_none() -> None:
    data = load(DAY)[:1]
    assert parse_daily_papers(data, origin="x", digest_date=date(2024, 10, 12))[0].digest_date == date(2024, 10, 12)


def test_an_entry_without_its_list_day_is_dated_by_published_at_with_a_warning(caplog) -> None:
    data = load(DAY)[:1]
    del data[0]["paper"]["submittedOnDailyAt"]
    assert parse_daily_papers(data, origin="x.json")[0].digest_date == date(2024, 10, 10)  # paper.publishedAt
    assert "x.json: 1 entry has no submittedOnDailyAt" in caplog.text and "publishedAt" in caplog.text
    del data[0]["paper"]["publishedAt"]
    data[0].pop("publishedAt", None)
    assert parse_daily_papers(data, origin="x")[0].digest_date is None


def test_entry_values_differing_from_paper_values_are_kept_apart() -> None:
    data = load(DAY)[:1]
    data[0]["publishedAt"] = "2024-10-11T01:00:00.000Z"
    data[0]["title"] = "  MathCoder2:\n  short title "
    paper = parse_daily_papers(data, origin="x")[0]
    assert paper.title == "MathCoder2: short title"
    assert paper.extra["publishedAt"] == "2024-10-10T17:59:26.000Z"
    assert paper.extra["entry.publishedAt"] == "2024-10-11T01:00:00.000Z"


def test_github_short_form_and_old_style_and_versioned_ids() -> None:
    data = load(DAY)[:1]
    data[0]["paper"]["githubRepo"] = "mathllm/MathCoder2"
    data[0]["paper"]["id"] = "2410.08196v2"
    paper = parse_daily_papers(data, origin="x")[0]
    assert (paper.arxiv_id, paper.github_url) == ("2410.08196", "https://github.com/mathllm/MathCoder2")
    data[0]["paper"]["id"] = "hep-th/9711200"
    data[0]["paper"]["upvotes"] = 3.0  # the OpenAPI type is `number`
    paper = parse_daily_papers(data, origin="x")[0]
    assert (paper.arxiv_id, paper.votes) == ("hep-th/9711200", 3)


def test_empty_answer_is_no_papers() -> None:
    assert parse_daily_papers(json.loads(fixture_text("hf/daily_papers_2024-10-12.json")), origin="x") == []


def _broken(mutate) -> list[dict]:
    data = copy.deepcopy(load(DAY))
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[3]["paper"].pop("id"), "hf.json: $[3].paper.id: missing"),
        (
            lambda d: d[0]["paper"].update(upvotes="many"),
            'hf.json: $[0].paper.upvotes: expected integer, got "many"',
        ),
        (
            lambda d: d[0]["paper"].update(upvotes=True),
            "hf.json: $[0].paper.upvotes: expected integer, got true",
        ),
        (
            lambda d: d[1]["paper"].update(id="not-an-id"),
            'hf.json: $[1].paper.id: not an arXiv id: "not-an-id"',
        ),
        (lambda d: d[2].pop("paper"), "hf.json: $[2].paper: missing"),
        (lambda d: d.__setitem__(4, "oops"), 'hf.json: $[4]: expected object, got "oops"'),
        (lambda d: d[0]["paper"]["authors"][1].pop("name"), "hf.json: $[0].paper.authors[1].name: missing"),
        (
            lambda d: d[0]["paper"].update(authors={"name": "x"}),
            "hf.json: $[0].paper.authors: expected array, got object",
        ),
        (
            lambda d: d[5]["paper"].update(ai_keywords=["ok", 7]),
            "hf.json: $[5].paper.ai_keywords[1]: expected string, got 7",
        ),
        (
            lambda d: d[6]["paper"].update(submittedOnDailyAt="yesterday"),
            'hf.json: $[6].paper.submittedOnDailyAt: expected ISO 8601 date-time, got "yesterday"',
        ),
        (
            lambda d: (d[0].pop("title"), d[0]["paper"].pop("title")),
            "hf.json: $[0].paper.title: missing",
        ),
        (lambda d: d[0].update(thumbnail=["a"]), "hf.json: $[0].thumbnail: expected string, got array"),
        (
            lambda d: d[0]["paper"].update(summary=None, title=12),
            "hf.json: $[0].paper.title: expected string, got 12",
        ),
    ],
)
def test_bad_shapes_name_origin_and_path(mutate, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_daily_papers(_broken(mutate), origin="hf.json")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"papers": []}, "hf.json: $: expected array, got object"),
        (None, "hf.json: $: expected array, got null"),
        ({"error": "Invalid date"}, "hf.json: $: expected array, got an error object: Invalid date"),
    ],
)
def test_top_level_shape(data: object, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_daily_papers(data, origin="hf.json")
    assert str(caught.value) == message


def test_load_from_text_reports_bad_json() -> None:
    assert len(load_daily_papers_json(fixture_text(DAY), origin=DAY)) == 7
    with pytest.raises(SourceError, match=r"^saved\.json: invalid JSON \(Expecting .* at line 1 column \d+\)$"):
        load_daily_papers_json('[{"paper": ', origin="saved.json")


# --- client against the loopback server -------------------------------------------------------


async def test_fetch_day_follows_pages_until_a_short_page(server, session) -> None:
    hf = client(server, session, page_limit=2)
    papers = await hf.fetch_day(date(2024, 10, 11))
    assert [p.arxiv_id for p in papers] == [e["paper"]["id"] for e in load(DAY)]
    assert all(p.digest_date == date(2024, 10, 11) for p in papers)
    seen = server.seen("/api/daily_papers")
    assert [(r.query["date"], r.query["limit"], r.query["p"]) for r in seen] == [
        ("2024-10-11", "2", "0"),
        ("2024-10-11", "2", "1"),
        ("2024-10-11", "2", "2"),
        ("2024-10-11", "2", "3"),  # 7 papers: the 4th page has 1, shorter than the limit
    ]


async def test_fetch_day_default_asks_for_100_per_page(server, session) -> None:
    papers = await client(server, session).fetch_day(date(2024, 10, 11))
    assert len(papers) == 7
    assert [r.query for r in server.seen("/api/daily_papers")] == [{"date": "2024-10-11", "limit": "100", "p": "0"}]


async def test_weekend_is_empty_not_an_error(server, session) -> None:
    assert await client(server, session).fetch_day(date(2024, 10, 12)) == []


async def test_fetch_latest_dates_papers_by_their_list(server, session) -> None:
    papers = await client(server, session).fetch_latest()
    assert [p.arxiv_id for p in papers] == ["2501.12948", "2501.12599", "2501.99901"]
    assert {p.digest_date for p in papers} == {date(2025, 1, 22)}
    assert "date" not in server.seen("/api/daily_papers")[0].query


async def test_unserved_date_is_a_clear_error_without_retries(server, session) -> None:
    sleep = FakeSleep()
    server.script(
        "/api/daily_papers",
        Reply(status=400, body=json.dumps({"error": "Date 2099-01-01 is in the future"})),
    )
    with pytest.raises(SourceError) as caught:
        await client(server, session, sleep=sleep).fetch_day(date(2099, 1, 1))
    assert str(caught.value) == (
        f"GET {server.base_url}/api/daily_papers?date=2099-01-01&limit=100&p=0: "
        'HTTP 400: {"error": "Date 2099-01-01 is in the future"}'
    )
    assert sleep.waits == []
    assert len(server.requests) == 1


async def test_5xx_then_success_retries_with_exponential_backoff(server, session) -> None:
    sleep = FakeSleep()
    server.script("/api/daily_papers", Reply(status=502), Reply(status=503), Reply(status=500))
    papers = await client(server, session, sleep=sleep, backoff=1.0).fetch_day(date(2024, 10, 11))
    assert len(papers) == 7
    assert len(server.requests) == 4
    # equal jitter with jitter()=0.5: base/2 + base/4 for base 1, 2, 4
    assert sleep.waits == [0.75, 1.5, 3.0]


async def test_408_request_timeout_is_retried_like_5xx(server, session) -> None:
    # One classification (digestbot.http_status) for sources and adapters: a 408 may work next time.
    sleep = FakeSleep()
    server.script("/api/daily_papers", Reply(status=408))
    papers = await client(server, session, sleep=sleep).fetch_day(date(2024, 10, 11))
    assert len(papers) == 7
    assert len(server.requests) == 2


async def test_jitter_spreads_waits_within_half_to_full_base(server, session) -> None:
    sleep = FakeSleep()
    server.script("/api/daily_papers", Reply(status=500), Reply(status=500))
    jitters = iter([0.0, 1.0])
    await client(server, session, sleep=sleep, backoff=2.0, jitter=lambda: next(jitters)).fetch_day(date(2024, 10, 11))
    assert sleep.waits == [1.0, 4.0]


async def test_429_honours_retry_after(server, session) -> None:
    sleep = FakeSleep()
    server.script("/api/daily_papers", Reply(status=429, headers={"Retry-After": "7"}, body="slow down"))
    papers = await client(server, session, sleep=sleep).fetch_day(date(2024, 10, 11))
    assert len(papers) == 7
    assert sleep.waits == [7.0]


async def test_429_with_an_absurd_retry_after_fails_now(server, session) -> None:
    server.script("/api/daily_papers", Reply(status=429, headers={"Retry-After": "86400"}))
    with pytest.raises(SourceError, match=r"HTTP 429 Too Many Requests; Retry-After 86400 s is too long to wait$"):
        await client(server, session).fetch_day(date(2024, 10, 11))


async def test_persistent_5xx_gives_up_naming_url_and_last_problem(server, session) -> None:
    sleep = FakeSleep()
    server.script("/api/daily_papers", *[Reply(status=503)] * 3)
    with pytest.raises(SourceError) as caught:
        await client(server, session, sleep=sleep, retries=2).fetch_day(date(2024, 10, 11))
    assert str(caught.value) == (
        f"GET {server.base_url}/api/daily_papers?date=2024-10-11&limit=100&p=0: "
        "gave up after 3 attempts; last: HTTP 503"
    )
    assert len(sleep.waits) == 2


async def test_timeout_retries_then_clear_error(server, session) -> None:
    server.script("/api/daily_papers", *[Reply(delay=5.0)] * 2)
    with pytest.raises(SourceError, match=r"gave up after 2 attempts; last: timed out after 0\.1 s$"):
        await client(server, session, timeout=0.1, retries=1).fetch_day(date(2024, 10, 11))
    assert len(server.requests) == 2


async def test_timeout_then_success(server, session) -> None:
    server.script("/api/daily_papers", Reply(delay=5.0))
    papers = await client(server, session, timeout=0.1).fetch_day(date(2024, 10, 11))
    assert len(papers) == 7


async def test_connection_refused_is_retried_then_reported(session) -> None:
    async with SourcesServer() as srv:
        base = srv.base_url
    sleep = FakeSleep()
    hf = HuggingFaceClient(base, session=session, retries=2, sleep=sleep, jitter=lambda: 0.0)
    with pytest.raises(  # "retry later" (exit 75), not a user error (exit 2)
        SourceUnreachableError, match=r"gave up after 3 attempts; last: connection failed \(ClientConnector"
    ):
        await hf.fetch_day(date(2024, 10, 11))
    assert sleep.waits == [0.5, 1.0]


async def test_html_page_instead_of_json(server, session) -> None:
    server.script("/api/daily_papers", Reply(body=fixture_text("hf/error_page.html"), content_type="text/html"))
    with pytest.raises(SourceAnswerError) as caught:
        await client(server, session).fetch_day(date(2024, 10, 11))
    assert str(caught.value).startswith(
        f"GET {server.base_url}/api/daily_papers?date=2024-10-11&limit=100&p=0: "
        "answered an HTML page instead of JSON: <!doctype html>"
    )


async def test_truncated_json(server, session) -> None:
    body = fixture_text(DAY)
    server.script("/api/daily_papers", Reply(body=body, truncate_to=1000))
    with pytest.raises(
        SourceAnswerError, match=r"answered truncated JSON \(1000 bytes, ends mid-value\): \[ \{ \"paper\""
    ):
        await client(server, session).fetch_day(date(2024, 10, 11))


async def test_wrong_shape_names_the_url_and_path(server, session) -> None:
    data = load(DAY)
    data[1]["paper"]["upvotes"] = "many"
    server.script("/api/daily_papers", Reply(body=json.dumps(data)))
    with pytest.raises(SourceAnswerError) as caught:  # the source's fault: exit 1, not the user's 2
        await client(server, session).fetch_day(date(2024, 10, 11))
    assert str(caught.value) == (
        f"{server.base_url}/api/daily_papers?date=2024-10-11&limit=100&p=0: "
        '$[1].paper.upvotes: expected integer, got "many"'
    )


async def test_server_ignoring_pages_does_not_loop(server, session) -> None:
    page = json.dumps(load(DAY)[:2])
    server.script("/api/daily_papers", *[Reply(body=page)] * 3)
    papers = await client(server, session, page_limit=2).fetch_day(date(2024, 10, 11))
    assert len(papers) == 2
    assert len(server.requests) == 2


async def test_own_session_is_created_and_closed(server) -> None:
    async with HuggingFaceClient(server.base_url) as hf:
        assert len(await hf.fetch_day(date(2024, 10, 11))) == 7
    assert hf._session is None


def test_fixture_files_are_listed_in_the_readme() -> None:
    readme = (FIXTURES / "hf" / "README.md").read_text(encoding="utf-8")
    for path in (FIXTURES / "hf").iterdir():
        if path.name != "README.md":
            assert path.name in readme


# --- bounds -------------------------------------------------------------------------------------


async def test_answer_announced_beyond_the_byte_cap_is_refused_unread_and_not_retried(server, session) -> None:
    server.script("/api/daily_papers", Reply(body=b"[" + b" " * 5000 + b"]"))
    with pytest.raises(SourceError) as caught:
        await client(server, session, max_bytes=1000).fetch_day(date(2024, 10, 11))
    assert str(caught.value) == (
        f"GET {server.base_url}/api/daily_papers?date=2024-10-11&limit=100&p=0: answer too large"
        " (5,002 bytes announced > 1,000 bytes); refused before parsing"
    )
    assert len(server.requests) == 1


async def test_streamed_answer_is_cut_off_at_the_byte_cap(server, session) -> None:
    server.script("/api/daily_papers", Reply(stream=50 * 1024 * 1024))
    with pytest.raises(SourceError, match=r"answer too large \(over 200,000 bytes\); refused before parsing$"):
        await client(server, session, max_bytes=200_000).fetch_day(date(2024, 10, 11))
    assert len(server.requests) == 1


def test_the_default_cap_is_32_mib() -> None:
    assert HuggingFaceClient().max_bytes == 32 * 1024 * 1024


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("summary", "word " * 40_000, "abstract too large (199,999 > 100,000 characters)"),
        ("title", "T" * 3_000, "title too large (3,000 > 2,000 characters)"),
    ],
)
async def test_api_papers_beyond_the_field_limits_are_skipped_with_a_warning(
    server, session, caplog: pytest.LogCaptureFixture, field: str, value: str, problem: str
) -> None:
    """One odd paper upstream must not cost the whole day (nor a scheduled post's fetch)."""
    data = load(DAY)
    data[2]["paper"][field] = value
    data[2].pop(field, None)  # the entry's own title would win over the paper's
    server.script("/api/daily_papers", Reply(body=json.dumps(data)))
    with caplog.at_level(logging.WARNING, logger="digestbot.sources.huggingface"):
        papers = await client(server, session).fetch_day(date(2024, 10, 11))
    skipped = data[2]["paper"]["id"]
    assert [p.arxiv_id for p in papers] == [e["paper"]["id"] for e in data if e["paper"]["id"] != skipped]
    assert (
        f"{server.base_url}/api/daily_papers?date=2024-10-11&limit=100&p=0: $[2]: paper {skipped} skipped: {problem}"
    ) in caplog.text


async def test_api_paper_with_negative_votes_is_skipped_with_a_warning(
    server, session, caplog: pytest.LogCaptureFixture
) -> None:
    data = load(DAY)
    data[1]["paper"]["upvotes"] = -5
    server.script("/api/daily_papers", Reply(body=json.dumps(data)))
    with caplog.at_level(logging.WARNING, logger="digestbot.sources.huggingface"):
        papers = await client(server, session).fetch_day(date(2024, 10, 11))
    skipped = data[1]["paper"]["id"]
    assert [p.arxiv_id for p in papers] == [e["paper"]["id"] for e in data if e["paper"]["id"] != skipped]
    assert all(p.votes is None or p.votes >= 0 for p in papers)
    assert (
        f"{server.base_url}/api/daily_papers?date=2024-10-11&limit=100&p=0: $[1].paper.upvotes: paper {skipped}"
        " skipped: vote count must not be negative, got -5"
    ) in caplog.text


def test_a_saved_answer_with_negative_votes_is_refused_whole(tmp_path: Path) -> None:
    from digestbot.sources.files import load_file

    data = load(DAY)
    data[1]["paper"]["upvotes"] = -5
    path = tmp_path / "day.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_file(path)
    assert str(caught.value) == (
        f"{path}: $[1].paper.upvotes: paper {data[1]['paper']['id']}: vote count must not be negative, got -5"
    )


def test_a_saved_answer_beyond_the_field_limits_is_refused_whole() -> None:
    data = load(DAY)
    data[2]["paper"]["title"] = data[2]["title"] = "T" * 3_000
    with pytest.raises(SourceError) as caught:
        load_daily_papers_json(json.dumps(data), origin="day.json")
    assert (
        str(caught.value)
        == f"day.json: $[2]: paper {data[2]['paper']['id']}: title too large (3,000 > 2,000 characters)"
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[0]["paper"].update(upvotes=2**64), "$[0].paper.upvotes: integer beyond 64 bits (20 digits)"),
        (lambda d: d[0]["paper"].update(upvotes=1e300), "$[0].paper.upvotes: integer beyond 64 bits"),
        (lambda d: d[1].update(extra=float("nan")), "$[1].extra: nan is not a number JSON allows"),
        (lambda d: d[1]["paper"].update(title="x\ud800"), "$[1].paper.title: text with a lone surrogate (U+D800"),
        (lambda d: d[0].update(blob="x" * 300_000), "$[0]: paper 2410.08196: extra fields too large"),
    ],
    ids=["int64", "float", "nan", "surrogate", "extra"],
)
def test_values_the_archive_cannot_hold_are_refused(mutate, message: str) -> None:
    data = load(DAY)
    mutate(data)
    text = json.dumps(data)  # NaN and lone surrogates are written as JSON allows Python to read them
    with pytest.raises(SourceError) as caught:
        load_daily_papers_json(text, origin="day.json")
    assert str(caught.value).startswith(f"day.json: {message}"), str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_integer_too_long_for_python_is_one_line() -> None:
    """Python refuses to convert over 4,300 digits (ValueError from json.decoder): still one line."""
    data = load(DAY)
    data[0]["n"] = "LONG"
    text = json.dumps(data).replace('"LONG"', "7" * 100_000)
    with pytest.raises(SourceError) as caught:
        load_daily_papers_json(text, origin="day.json")
    assert str(caught.value) == "day.json: $[0].n: integer beyond 64 bits (100,000 digits)"


def test_json_nested_beyond_recursion_is_one_line() -> None:
    with pytest.raises(SourceError, match=r"^day\.json: nested too deeply to read$"):
        load_daily_papers_json("[" * 100_000 + "]" * 100_000, origin="day.json")
