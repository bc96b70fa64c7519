import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.discord_render import render_discord
from adapters.html_preview import discord_markdown, render_html, slack_mrkdwn
from digestbot.formatter import format_digest, format_notice, format_paper
from digestbot.labels import labels_for
from digestbot.records import Paper
from tests.adapters.papers import seed_digest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No network here: do not fetch the thumbnails (a failed fetch would log a console error).
    "--blink-settings=imagesEnabled=false",
]
NASTY_TITLE = "<script>alert(1)</script> <!channel> @everyone *b* [x](https://evil.example) \" ' &amp;"


def nasty_messages() -> list:
    paper = Paper(
        arxiv_id="2410.00002",
        title=NASTY_TITLE,
        authors=("A <@U1>",),
        votes=1,
        thumbnail='https://cdn.example/t.png" onerror="alert(1)',
        sections=(("<b>What's New</b>", "<img src=x onerror=alert(1)> & *star*"),),
    )
    return [format_paper(paper, labels_for("en")), format_notice("No papers today @here")]


def test_page_is_self_contained_and_escapes_everything() -> None:
    page = render_html(nasty_messages(), title="<preview> & co")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>&lt;preview&gt; &amp; co</title>" in page
    assert "<script" not in page.lower() and 'onerror="' not in page and "<img src=x" not in page
    assert not re.search(r"<link|@import|url\(|<iframe|<object|<embed", page, re.IGNORECASE)
    # The only resources are thumbnails; a hostile one is percent-encoded into a harmless URL (as links are).
    assert set(re.findall(r'<img[^>]*src="([^"]*)"', page)) == {"https://cdn.example/t.png%22%20onerror=%22alert(1)"}
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; @\u200beveryone" in page


def test_preview_reads_the_markup_the_renderers_emit() -> None:
    assert discord_markdown("**Bold** \\*not\\* [arXiv](https://arxiv.org/abs/1) <x>") == (
        '<b>Bold</b> *not* <a href="https://arxiv.org/abs/1">arXiv</a> &lt;x&gt;'
    )
    assert discord_markdown("-# small") == '<span class="sub">small</span>'
    assert slack_mrkdwn("*<https://a.example/?a=1&amp;b=2|T &lt;1&gt;>* _i_ \u200b*\u200bx\u200b*\u200b") == (
        '<b><a href="https://a.example/?a=1&amp;b=2">T &lt;1&gt;</a></b> <i>i</i> \u200b*\u200bx\u200b*\u200b'
    )
    assert slack_mrkdwn("&lt;javascript:alert(1)|x&gt;") == "&lt;javascript:alert(1)|x&gt;"


def ensure_chromium() -> str:
    if not CHROMIUM.exists() and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "chromium"]
        if subprocess.run(install, env=env, capture_output=True, timeout=600, check=False).returncode != 0:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600, check=False)
            subprocess.run(install, env=env, capture_output=True, timeout=600, check=False)
    if not CHROMIUM.exists():
        pytest.skip("headless check needs /usr/bin/chromium; `apt-get install -y chromium` was not possible here")
    return str(CHROMIUM)


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_seed_preview_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = ensure_chromium()
    digest = seed_digest()
    page = tmp_path / "seed-preview.html"
    page.write_text(render_html([format_digest(digest, labels_for("en"))], title="digestbot preview"), encoding="utf-8")

    # The console check must be able to fail: a page that logs an error is caught.
    canary = tmp_path / "canary.html"
    canary.write_text("<!DOCTYPE html><script>console.error('canary')</script>", encoding="utf-8")
    seen = run_chromium(chromium, tmp_path / "p0", "--enable-logging=stderr", "--v=0", "--dump-dom", canary.as_uri())
    assert any("canary" in line for line in console_lines(seen.stderr)), seen.stderr[-2000:]

    dom = run_chromium(chromium, tmp_path / "p1", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_lines(dom.stderr) == []
    text = dom.stdout.replace("\u200b", "")
    for paper in digest.papers:
        # Once in the Discord column and once in the Slack column.
        assert text.count(html.escape(paper.title, quote=False)) >= 2, paper.title
    parts = len(render_discord(format_digest(digest, labels_for("en"))))
    assert parts > 1 and f"{parts}/{parts}" in text

    png = Path(os.environ.get("DIGESTBOT_PREVIEW_PNG", tmp_path / "seed-preview.png"))
    shot = run_chromium(chromium, tmp_path / "p2", "--window-size=1400,2400", f"--screenshot={png}", page.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000


def test_slack_parts_are_drawn_as_a_thread_with_each_part_number_once() -> None:
    message = format_digest(seed_digest(), labels_for("en"))
    page = render_html([message], title="t")
    slack = page.split('<div class="platform slack">', 1)[1]
    discord = page.split('<div class="platform discord">', 1)[1].split('<div class="platform slack">', 1)[0]
    parts = slack.count('<div class="post">')
    assert parts > 2
    # Part 1 in the channel, the rest in its thread (Slack's threads default to on; Discord's to off).
    assert slack.index('<div class="thread">') > slack.index('<div class="post">')
    assert (
        f"{parts - 1} replies in the thread" in slack
        and slack.split('<div class="thread">')[1].count('<div class="post">') == parts - 1
    )
    assert '<div class="thread">' not in discord
    assert (
        '<div class="thread">'
        in render_html([message], title="t", discord_threads=True).split('<div class="platform slack">')[0]
    )
    for i in range(2, parts + 1):
        visible = re.sub(r'<div class="fallback">.*?</div>', "", slack)  # the notification text is not drawn
        assert visible.count(f"{i}/{parts}") == 1, i
    assert "part 2/" not in page
    # No Slack message ends with a divider (dividers separate papers).
    assert "<hr></div>" not in slack
