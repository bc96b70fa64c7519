"""End to end: Hugging Face fake + OpenAI-compatible fake, the real CLI and the scheduled post's hook."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shlex
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.console_render import render_console
from digestbot import ingest
from digestbot.blocks import Message
from digestbot.channels import load_channels
from digestbot.clock import FakeClock
from digestbot.config import Config, build
from digestbot.delivery import DeliveryEngine
from digestbot.store import Store
from digestbot.summaries.runner import before_post_hook
from tests.delivery_fakes import FakeAdapter
from tests.fakes.openai_server import HEADINGS, OpenAIServer, Reply, golden_parts
from tests.fakes.sources_server import SourcesServer

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2024, 10, 11)
KEY = "sk-e2e-very-secret-key-0123456789"
ABSTRACT = re.compile(r"^\s+Abstract$", re.MULTILINE)  # the console's section label
CONFIG = """\
database: {db}
sources:
  huggingface:
    base_url: {hf}
summaries:
  enabled: true
  base_url: {oai}
  api_key: ${{SUMMARIES_API_KEY}}
  model: fake-model
  language: ko
  deadline: {deadline}
channels:
  - {{platform: console, id: seoul}}
"""


async def cli(tmp_path: Path, *args: str, key: str = KEY) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SUMMARIES_API_KEY": key}
    env.pop("DIGESTBOT_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "digestbot", "--config", str(tmp_path / "cfg.yaml"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def write_config(tmp_path: Path, hf: str, oai: str, *, deadline: float = 30) -> None:
    text = CONFIG.format(db=tmp_path / "db.sqlite3", hf=hf, oai=oai, deadline=deadline)
    (tmp_path / "cfg.yaml").write_text(text, encoding="utf-8")


def papers_in(output: str) -> list[str]:
    """Split console output into one chunk per paper card (they start with a rank "N. ")."""
    return re.split(r"\n(?=\d+\. )", output)[1:]


async def test_ingest_post_summarize_languages_and_no_key_anywhere(tmp_path: Path) -> None:
    outputs: list[str] = []
    async with SourcesServer() as hf, OpenAIServer(api_key=KEY) as oai:
        write_config(tmp_path, hf.base_url, oai.base_url)
        status, out, err = await cli(tmp_path, "ingest", "--from", "huggingface", "--date", "2024-10-11")
        assert status == 0, err
        outputs += [out, err]
        status, out, err = await cli(tmp_path, "post", "--date", "2024-10-11")
        assert status == 0, err
        outputs += [out, err]
        assert out.splitlines()[-1] == "posted 1, already posted 0, failed 0"
        cards = papers_in(out)
        assert len(cards) == 7 and len(oai.requests) == 7
        golden = golden_parts()
        for card in cards:
            assert all(h in card for h in HEADINGS), card
            assert not ABSTRACT.search(card)
        assert sum(parts["What's New"][:30] in out for parts in golden.values()) == 6  # one has no full golden
        # A second summarize and post make no request.
        status, out, err = await cli(tmp_path, "summarize", "--date", "2024-10-11")
        outputs += [out, err]
        assert status == 0 and out.splitlines()[-1] == "summarized 0, cached 7, failed 0"
        status, out, err = await cli(tmp_path, "post", "--date", "2024-10-11")
        outputs += [out, err]
        assert out.splitlines()[-1] == "posted 0, already posted 1, failed 0" and len(oai.requests) == 7
        # Another language makes new ones, and -v tells the tokens spent.
        status, out, err = await cli(tmp_path, "-v", "summarize", "--language", "en")
        outputs += [out, err]
        assert status == 0, err
        assert out.splitlines()[-1] == "summarized 7, cached 0, failed 0" and len(oai.requests) == 14
        assert out.splitlines()[-2].startswith("tokens: ") and " prompt + " in out
        assert "HTTP Request" not in err  # the HTTP client's per-request lines wait for -vv
        status, out, err = await cli(tmp_path, "preview", "--date", "2024-10-11")
        outputs += [out, err]
        assert "What's New" in out
        status, out, err = await cli(tmp_path, "lookup", "2410.05265")
        outputs += [out, err]
        assert status == 0 and golden_parts()[next(t for t in golden if "PrefixQuant" in t)]["What's New"][:20] in out
        status, out, err = await cli(tmp_path, "check-config", "--show")
        outputs += [out, err]
        assert '"api_key": "***"' in out
    assert all(KEY not in text for text in outputs)


@pytest.mark.parametrize(("verbosity", "shown"), [(0, False), (1, False), (2, True)])
def test_http_client_request_lines_only_at_vv(verbosity: int, shown: bool) -> None:
    from digestbot.cli import QUIET_BELOW_DEBUG, _setup_logging

    try:
        _setup_logging(verbosity, None, "summarize")
        assert all(logging.getLogger(name).isEnabledFor(logging.INFO) is shown for name in QUIET_BELOW_DEBUG)
        assert "httpx2" in QUIET_BELOW_DEBUG  # the openai client's HTTP stack
    finally:
        _setup_logging(0, None, "summarize")
        for name in QUIET_BELOW_DEBUG:
            logging.getLogger(name).setLevel(logging.NOTSET)


async def test_server_failing_every_request_still_posts_abstracts(tmp_path: Path) -> None:
    """A server answering 500 to everything costs the post its deadline, never the digest.

    The deadline is 4 s, not 1 s: on a loaded 2-core machine a 1 s deadline could pass before the
    subprocess sent its first request, and the test then failed on ``oai.requests`` without any bug.
    """
    async with SourcesServer() as hf, OpenAIServer(api_key=KEY) as oai:
        oai.fail_all = Reply(status=500)
        write_config(tmp_path, hf.base_url, oai.base_url, deadline=4)
        assert (await cli(tmp_path, "ingest", "--from", "huggingface", "--date", "2024-10-11"))[0] == 0
        status, out, err = await cli(tmp_path, "-v", "post", "--date", "2024-10-11")
        assert oai.requests
    assert status == 0, err
    assert out.splitlines()[-1] == "posted 1, already posted 0, failed 0"
    cards = papers_in(out)
    assert len(cards) == 7 and all(ABSTRACT.search(c) for c in cards)
    assert "not made by the deadline" in err and KEY not in out + err


async def test_summarize_does_not_sleep_through_a_day_long_retry_after(tmp_path: Path) -> None:
    """``summarize`` has no deadline: a Retry-After of 100000 s fails the papers (exit 75), it does not hang."""
    async with SourcesServer() as hf, OpenAIServer(api_key=KEY) as oai:
        oai.fail_all = Reply(status=429, headers={"Retry-After": "100000"})
        write_config(tmp_path, hf.base_url, oai.base_url)
        assert (await cli(tmp_path, "ingest", "--from", "huggingface", "--date", "2024-10-11"))[0] == 0
        status, out, err = await cli(tmp_path, "summarize", "--date", "2024-10-11")
        assert len(oai.requests) == 7
    assert status == 75, err
    assert out.splitlines()[-1] == "summarized 0, cached 0, failed 7"
    assert "more than the 120 s cap" in err and "Traceback" not in err


async def test_wrong_key_is_one_line_and_never_shown(tmp_path: Path) -> None:
    async with SourcesServer() as hf, OpenAIServer(api_key="sk-the-right-one") as oai:
        write_config(tmp_path, hf.base_url, oai.base_url)
        assert (await cli(tmp_path, "ingest", "--from", "huggingface", "--date", "2024-10-11"))[0] == 0
        status, out, err = await cli(tmp_path, "-vv", "summarize")
        assert status == 2 and err.strip().splitlines()[-1].startswith("digestbot: error: summaries.api_key: ")
        assert KEY not in out + err
        status, out, err = await cli(tmp_path, "-vv", "post")
        assert status == 0 and "summaries.api_key" in err and KEY not in out + err


# -- the scheduled post's hook -------------------------------------------------------------------


class RenderingAdapter(FakeAdapter):
    """The in-memory platform, keeping the console rendering of what it posts."""

    def render(self, message: Message) -> list[dict[str, Any]]:
        return [{"kind": message.kind, "key": message.key, "text": render_console(message, colour=False)}]


def scheduled_config(hf: str, oai: str, *, deadline: float) -> Config:
    data = {
        "sources": {"huggingface": {"base_url": hf}},
        "summaries": {"enabled": True, "base_url": oai, "api_key": KEY, "deadline": deadline, "language": "en"},
        "channels": [{"platform": "discord", "id": "ko-room", "language": "ko"}, {"platform": "discord", "id": "en-room", "language": "en"}],
    }  # fmt: skip
    config: Config = build(Config, data, env={})
    return config


async def post_friday(store: Store, config: Config) -> RenderingAdapter:
    clock = FakeClock(datetime(2024, 10, 12, 9, 0, tzinfo=UTC))  # Sat 09:00 UTC: Friday's list is due
    adapter = RenderingAdapter("discord", clock=clock)
    hook = before_post_hook(store, config, ingest.before_post_hook(store, config))
    engine = DeliveryEngine(store, {"discord": adapter}, config, clock, before_post=hook)
    try:
        await engine.scheduled_post(await load_channels(store, config), clock.now(), final=True)
    finally:
        await engine.close()
    return adapter


async def test_scheduled_post_summarizes_after_the_ingest_per_channel_language(store: Store) -> None:
    await store.add_subscription(platform="discord", workspace="", user="u1", topic="retrieval", max_topics=5)
    async with SourcesServer() as hf, OpenAIServer(api_key=KEY) as oai:
        adapter = await post_friday(store, scheduled_config(hf.base_url, oai.base_url, deadline=30))
        assert len(oai.requests) == 14  # 7 papers x (ko, en)
    texts = {p.target.id: p.payload["text"] for p in adapter.posts}
    assert "[en] What's New" in texts["u1"]  # subscriber DMs: the default language (summaries.language: en)
    golden = golden_parts()
    assert sum(parts["Technical Details"][:30] in texts["ko-room"] for parts in golden.values()) == 6
    assert "[en] What's New" in texts["en-room"] and "[ko]" not in texts["en-room"]
    assert "[en]" not in texts["ko-room"]


async def test_scheduled_post_is_not_held_past_the_deadline(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with SourcesServer() as hf, OpenAIServer(api_key=KEY) as oai:
        oai.fail_all = Reply(delay=60)  # every answer comes far too late
        adapter = await post_friday(store, scheduled_config(hf.base_url, oai.base_url, deadline=0.5))
        assert oai.requests
    assert adapter.keys() == ["digest:2024-10-11", "digest:2024-10-11"]
    assert all(len(ABSTRACT.findall(p.payload["text"])) == 7 for p in adapter.posts)
    assert "14 summaries of 2024-10-11 failed or were not made by the deadline" in caplog.text


async def test_withdrawn_papers_leave_digests_and_say_so_in_lookup(store: Store) -> None:
    from digestbot.labels import labels_for
    from digestbot.lookup import answer_paper
    from digestbot.sources.huggingface import load_daily_papers_json
    from tests.fakes.sources_server import fixture_text

    entries = json.loads(fixture_text("hf/daily_papers_2024-10-11.json"))
    entries[0]["paper"]["withdrawnAt"] = "2024-10-13T08:00:00.000Z"  # as Hugging Face marks a withdrawn paper
    papers = load_daily_papers_json(json.dumps(entries), origin="f", digest_date=DAY)
    gone = papers[0].arxiv_id
    await store.upsert_papers(papers, digest_date=DAY)
    digest = await store.digest(DAY)
    assert digest is not None and gone not in {p.arxiv_id for p in digest.papers} and len(digest.papers) == 6
    message = await answer_paper(store, labels_for("en"), gone)
    assert message.kind == "paper" and any("withdrawn (2024-10-13)" in m for m in message.cards[0].meta)


def readme_walkthrough() -> tuple[str, list[tuple[list[str], list[str]]]]:
    """Return the README's runnable summaries walkthrough: its config, and each command with the lines it prints."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("**A walkthrough you can run as written**") :]
    config = section[section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml\n") + 8)]
    start = section.index("```sh\n") + 6
    steps: list[tuple[list[str], list[str]]] = []
    for line in section[start : section.index("```\n", start)].splitlines():
        if line.startswith("digestbot "):
            steps.append((shlex.split(line.split("#")[0])[1:], []))
        elif line.startswith("#   "):
            steps[-1][1].append(line[4:])
    return config, steps


async def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """The README's offline walkthrough: its config verbatim, the fakes it names, the outputs it shows."""
    config, steps = readme_walkthrough()
    assert len(steps) >= 4 and "platform: console" in config
    (tmp_path / "digestbot.yaml").write_text(config, encoding="utf-8")
    async with SourcesServer() as hf, OpenAIServer(api_key=KEY) as oai:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_URL": hf.base_url, "MODEL_URL": oai.base_url}
        env["SUMMARIES_API_KEY"] = KEY
        env.pop("DIGESTBOT_CONFIG", None)
        for args, expected in steps:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "digestbot", "--config", str(tmp_path / "digestbot.yaml"), *args,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path, env=env,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, (args, err.decode())
            last = out.decode().splitlines()[-len(expected) :]
            for want, got in zip(expected, last, strict=True):
                pattern = ".+".join(re.escape(part) for part in want.split("…"))
                assert re.fullmatch(pattern, got), (args, want, got)
            assert "HTTP Request" not in err.decode()
            if args[0] == "post":  # every paper with its three parts, in both channels
                assert out.decode().count("What's New") >= 14 and not ABSTRACT.search(out.decode())
