import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator
from datetime import date

import aiohttp
import pytest

from digestbot.errors import SourceError
from digestbot.sources.arxiv import ArxivClient, category_query, parse_arxiv_feed
from tests.fakes.sources_server import FIXTURES, Reply, SourcesServer, fixture_text

FEED = "arxiv/id_list_4.xml"
ERROR = "arxiv/error_incorrect_id.xml"


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[SourcesServer]:
    async with SourcesServer(clock=clock) as srv:
        yield srv


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(server: SourcesServer, session: aiohttp.ClientSession, clock: FakeClock, **kw: object) -> ArxivClient:
    kw.setdefault("jitter", lambda: 0.5)
    return ArxivClient(server.base_url, session=session, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def gaps(server: SourcesServer) -> list[float]:
    times = [r.at for r in server.seen("/api/query")]
    return [b - a for a, b in itertools.pairwise(times)]


# --- parsing ---------------------------------------------------------------------------------


def test_feed_maps_field_for_field() -> None:
    papers = parse_arxiv_feed(fixture_text(FEED), origin=FEED)
    assert [p.arxiv_id for p in papers] == ["2410.08196", "2410.03437", "hep-th/9711200", "2410.03450"]
    mathcoder = papers[0]
    assert mathcoder.title == (
        "MathCoder2: Better Math Reasoning from Continued Pretraining on Model-translated Mathematical Code"
    )
    assert mathcoder.authors[:3] == ("Zimu Lu", "Aojun Zhou", "Ke Wang")
    assert len(mathcoder.authors) == 8
    assert mathcoder.abstract.startswith(
        "Code has been shown to be effective in enhancing the mathematical reasoning abil"
    )
    assert "\n" not in mathcoder.abstract
    assert mathcoder.source == "arxiv"
    assert mathcoder.keywords == ()
    assert mathcoder.digest_date is None
    assert dict(mathcoder.extra) == {
        "categories": ["cs.CL", "cs.AI"],
        "primary_category": "cs.CL",
        "arxiv_version": 1,
        "published": "2024-10-10T17:59:26Z",
        "updated": "2024-10-10T17:59:26Z",
        "comment": "https://github.com/mathllm/MathCoder2",
        "pdf_url": "http://arxiv.org/pdf/2410.08196v1",
    }


def test_old_style_id_and_arxiv_extensions() -> None:
    old = parse_arxiv_feed(fixture_text(FEED), origin=FEED)[2]
    assert old.arxiv_id == "hep-th/9711200"
    assert old.authors == ("Juan M. Maldacena",)
    assert old.extra["arxiv_version"] == 3
    assert old.extra["doi"] == "10.1023/A:1026654312961"
    assert old.extra["journal_ref"] == "Adv.Theor.Math.Phys.2:231-252,1998"
    assert old.extra["comment"].startswith("20 pages, harvmac, v2: section on AdS_2 corrected, references added, v3:")
    assert old.extra["affiliations"] == {"Juan M. Maldacena": "Harvard"}
    assert old.extra["published"] == "1997-11-27T23:15:17Z"


def test_versions_paragraphs_acm_classes_and_unicode() -> None:
    papers = parse_arxiv_feed(fixture_text(FEED), origin=FEED)
    zebra, mllm = papers[1], papers[3]
    assert zebra.extra["arxiv_version"] == 2
    assert zebra.extra["published"] == "2024-10-04T13:53:19Z"  # first version, not `updated`
    assert "Armand Kassaï Koupaï" in zebra.authors
    assert zebra.abstract.count("\n\n") == 1
    assert "Börje F. Karlsson" in mllm.authors
    assert mllm.extra["categories"] == ["cs.AI", "cs.CL", "cs.LG", "I.2.7"]
    assert mllm.extra["primary_category"] == "cs.AI"


def test_digest_date_is_passed_through() -> None:
    papers = parse_arxiv_feed(fixture_text(FEED), origin=FEED, digest_date=date(2024, 10, 10))
    assert {p.digest_date for p in papers} == {date(2024, 10, 10)}


def test_error_feed_is_a_source_error_with_arxivs_message() -> None:
    with pytest.raises(SourceError) as caught:
        parse_arxiv_feed(fixture_text(ERROR), origin="q")
    assert str(caught.value) == "q: arXiv error: incorrect id format for 1234.12345"


def test_empty_feed_is_no_papers() -> None:
    text = fixture_text(FEED).split("<entry>")[0] + "</feed>\n"
    assert parse_arxiv_feed(text, origin="q") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<!doctype html><html><body>Rate exceeded.</body></html>",
            r"^q: not an Atom feed \(.*\): <!doctype html>",
        ),
        (
            '<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            r"^q: not an Atom feed \(root element <rss>\)$",
        ),
        (fixture_text(FEED)[:1500], r"^q: not an Atom feed \(.*\): <\?xml"),
        (
            fixture_text(FEED).replace("http://arxiv.org/abs/2410.03437v2</id>", "urn:nope</id>"),
            r"^q: entry 2: <id> is not an arXiv abstract URL: 'urn:nope'$",
        ),
        (
            fixture_text(FEED).replace("<published>1997-11-27T23:15:17Z", "<published>last year"),
            r"^q: entry 3 \(hep-th/9711200\): <published> is not a date-time: 'last year'$",
        ),
    ],
)
def test_bad_feeds(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_arxiv_feed(text, origin="q")


def test_category_query() -> None:
    assert category_query(["cs.CL", "cs.LG"], date(2024, 10, 10)) == (
        "(cat:cs.CL OR cat:cs.LG) AND submittedDate:[202410100000 TO 202410102359]"
    )
    assert (
        category_query(["hep-th"], date(1997, 11, 27)) == "cat:hep-th AND submittedDate:[199711270000 TO 199711272359]"
    )
    with pytest.raises(ValueError, match="not an arXiv category"):
        category_query(["cs.CL) OR all:x"], date(2024, 10, 10))
    with pytest.raises(ValueError, match="at least one"):
        category_query([], date(2024, 10, 10))


# --- client against the loopback server -------------------------------------------------------


async def test_fetch_by_ids_batches_and_spaces_requests(server, session, clock) -> None:
    arxiv = client(server, session, clock, batch_size=2)
    papers = await arxiv.fetch_by_ids(
        ["arXiv:2410.08196v1", "2410.03437", "hep-th/9711200v3", "2410.08196", "2410.03450"]
    )
    assert [p.arxiv_id for p in papers] == ["2410.08196", "2410.03437", "hep-th/9711200", "2410.03450"]
    queries = [r.query for r in server.seen("/api/query")]
    assert queries == [
        {"id_list": "2410.08196,2410.03437", "max_results": "2"},
        {"id_list": "hep-th/9711200,2410.03450", "max_results": "2"},
    ]
    assert gaps(server) == [3.0]
    assert clock.sleeps == [3.0]


async def test_default_batches_hold_at_most_100_ids(server, session, clock) -> None:
    ids = [f"2410.{n:05d}" for n in range(1, 251)]
    papers = await client(server, session, clock).fetch_by_ids(ids)
    assert papers == []  # none of them is in the recorded feed
    sizes = [len(r.query["id_list"].split(",")) for r in server.seen("/api/query")]
    assert sizes == [100, 100, 50]
    assert [r.query["max_results"] for r in server.seen("/api/query")] == ["100", "100", "50"]
    assert gaps(server) == [3.0, 3.0]


async def test_no_wait_when_enough_time_already_passed(server, session, clock) -> None:
    arxiv = client(server, session, clock)
    await arxiv.fetch_by_ids(["2410.08196"])
    clock.now += 10
    await arxiv.fetch_by_ids(["2410.03437"])
    assert clock.sleeps == []
    arxiv2 = client(server, session, clock, min_interval=3.0)
    await arxiv2.fetch_by_ids(["2410.03450"])  # a fresh client has no history to wait for
    assert clock.sleeps == []


async def test_concurrent_calls_are_still_spaced(server, session, clock) -> None:
    arxiv = client(server, session, clock)
    await asyncio.gather(*(arxiv.fetch_by_ids([i]) for i in ("2410.08196", "2410.03437", "2410.03450")))
    # The fake sleep returns at once, so arrival times at the server say nothing here; the
    # waits do: each later request waited the full interval after the one before it.
    assert clock.sleeps == [3.0, 3.0]
    assert len(server.seen("/api/query")) == 3


async def test_503_then_success_retries_and_keeps_the_spacing(server, session, clock) -> None:
    server.script("/api/query", Reply(status=503, body="busy"), Reply(status=502))
    papers = await client(server, session, clock, backoff=1.0).fetch_by_ids(["2410.03437"])
    assert [p.arxiv_id for p in papers] == ["2410.03437"]
    assert len(server.seen("/api/query")) == 3
    assert all(gap >= 3.0 for gap in gaps(server))


async def test_503_retry_after_is_honoured(server, session, clock) -> None:
    server.script("/api/query", Reply(status=503, headers={"Retry-After": "20"}))
    await client(server, session, clock).fetch_by_ids(["2410.03437"])
    assert gaps(server) == [20.0]


async def test_error_feed_through_the_client_names_the_url(server, session, clock) -> None:
    server.script("/api/query", Reply(body=fixture_text(ERROR), content_type="application/atom+xml"))
    with pytest.raises(SourceError) as caught:
        await client(server, session, clock).fetch_by_ids(["2410.08196"])
    assert str(caught.value) == (
        f"{server.base_url}/api/query?id_list=2410.08196&max_results=1: arXiv error: incorrect id format for 1234.12345"
    )


async def test_bad_id_fails_before_any_request(server, session, clock) -> None:
    with pytest.raises(SourceError, match=r"^arXiv id list: not an arXiv id: 'MathCoder2'$"):
        await client(server, session, clock).fetch_by_ids(["2410.08196", "MathCoder2"])
    assert server.requests == []


async def test_timeout_gives_up_with_a_clear_error(server, session, clock) -> None:
    server.script("/api/query", *[Reply(delay=5.0)] * 2)
    with pytest.raises(SourceError, match=r"gave up after 2 attempts; last: timed out after 0\.1 s$"):
        await client(server, session, clock, timeout=0.1, retries=1).fetch_by_ids(["2410.08196"])


async def test_fetch_category_query_and_dates(server, session, clock) -> None:
    papers = await client(server, session, clock).fetch_category(["cs.CL", "cs.LG"], date(2024, 10, 10))
    assert len(papers) == 4
    assert {p.digest_date for p in papers} == {date(2024, 10, 10)}
    (seen,) = server.seen("/api/query")
    assert seen.query == {
        "search_query": "(cat:cs.CL OR cat:cs.LG) AND submittedDate:[202410100000 TO 202410102359]",
        "sortBy": "submittedDate",
        "sortOrder": "descending",
        "start": "0",
        "max_results": "200",
    }


async def test_fetch_category_rejects_bad_arguments(server, session, clock) -> None:
    arxiv = client(server, session, clock)
    with pytest.raises(ValueError, match="max_results"):
        await arxiv.fetch_category(["cs.CL"], date(2024, 10, 10), max_results=5000)
    with pytest.raises(ValueError, match="not an arXiv category"):
        await arxiv.fetch_category(["cs.CL AND all:x"], date(2024, 10, 10))
    assert server.requests == []


async def test_own_session_is_created_and_closed(server, clock) -> None:
    async with ArxivClient(server.base_url, clock=clock, sleep=clock.sleep) as arxiv:
        assert len(await arxiv.fetch_by_ids(["hep-th/9711200"])) == 1
    assert arxiv._session is None


def test_fixture_files_are_listed_in_the_readme() -> None:
    readme = (FIXTURES / "arxiv" / "README.md").read_text(encoding="utf-8")
    for path in (FIXTURES / "arxiv").iterdir():
        if path.name != "README.md":
            assert path.name in readme


def test_api_papers_beyond_the_field_limits_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    whole = parse_arxiv_feed(fixture_text(FEED), origin="q")
    text = fixture_text(FEED).replace("<summary>", "<summary>" + "word " * 30_000, 1)
    with caplog.at_level(logging.WARNING, logger="digestbot.sources.arxiv"):
        papers = parse_arxiv_feed(text, origin="q")
    assert [p.arxiv_id for p in papers] == [p.arxiv_id for p in whole[1:]]
    assert re.search(
        r"q: entry 1 \(2410\.08196\) skipped: abstract too large \([\d,]+ > 100,000 characters\)", caplog.text
    )


async def test_answer_beyond_the_byte_cap_is_refused(server, session, clock) -> None:
    server.script("/api/query", Reply(body=fixture_text(FEED), content_type="application/atom+xml"))
    with pytest.raises(SourceError, match=r"answer too large \([\d,]+ bytes announced > 2,000 bytes\)"):
        await client(server, session, clock, max_bytes=2000).fetch_by_ids(["2410.08196"])
