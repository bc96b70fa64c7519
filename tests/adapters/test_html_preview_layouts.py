"""The HTML preview draws the compact layout (list + thread) and the forum layout (a post per paper, with tags)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adapters.html_preview import render_html
from digestbot.formatter import format_compact, format_forum
from digestbot.labels import labels_for
from tests.adapters.papers import seed_digest
from tests.conftest import ROOT, SEED


def test_compact_is_drawn_as_one_list_with_every_card_in_its_thread() -> None:
    messages = format_compact(seed_digest(), labels_for("en"), top=5)
    page = render_html(messages, title="compact")
    assert "Compact digest · 2024-10-11 — the list, and 5 cards in its thread" in page
    assert page.count("5 replies in the thread") == 2  # Discord and Slack
    discord = page.split('class="platform discord"')[1].split('class="platform slack"')[0]
    list_post, thread = discord.split('class="thread"')
    assert list_post.count('href="https://arxiv.org/abs/') == 5  # the list links every paper
    assert thread.count('class="post"') == 5


def test_forum_is_drawn_as_a_post_per_paper_with_its_tags() -> None:
    digest = seed_digest()
    first = digest.papers[0].arxiv_id
    messages = format_forum(digest, labels_for("en"), tags={first: ["Math", "LLM"]}, top=3)
    page = render_html(messages, title="forum")
    assert "Forum digest · 2024-10-11 — 3 posts, one per paper" in page
    assert page.count('class="forum-post"') == 3
    assert '<span class="tag">Math</span><span class="tag">LLM</span>' in page
    assert "Slack has no forum channels" in page


def test_preview_html_takes_the_layout(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "digestbot", "--db", str(db)]
    assert subprocess.run([*run, "ingest", str(SEED)], env=env, capture_output=True, timeout=60).returncode == 0
    for layout, needle in (("compact", "Compact digest"), ("forum", "Forum digest")):
        out = tmp_path / f"{layout}.html"
        done = subprocess.run(
            [*run, "preview", "--layout", layout, "--top", "4", "--html", str(out)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert needle in out.read_text(encoding="utf-8")
    text = subprocess.run(
        [*run, "preview", "--layout", "compact", "--top", "2"], env=env, capture_output=True, text=True
    )
    assert " 1. MathCoder2" in text.stdout and text.stdout.count("▲") >= 4  # the list, then 2 cards
