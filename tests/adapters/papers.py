"""Hypothesis strategies for hostile paper records, and helpers shared by the renderer tests."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path

from hypothesis import strategies as st

from digestbot.records import Digest, Paper
from digestbot.sources.markdown import parse_markdown_digest

SEED = Path(__file__).resolve().parents[2] / "digestbot" / "data" / "daily-papers-2024-10-11.md"

# Pieces that break naive renderers: markup of both platforms, mentions, entities, scripts
# counted differently in code points and UTF-16, combining marks, controls and bidi overrides.
NASTY = (
    "@everyone",
    "@here",
    "@channel",
    "<@123456789>",
    "<@!42>",
    "<@&987>",
    "<#555>",
    "</cmd:1>",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123ABC>",
    "<https://evil.example|click>",
    "<mailto:x@y.z>",
    "**bold**",
    "__u__",
    "~~s~~",
    "||spoiler||",
    "`code`",
    "```",
    "> quote",
    "# head",
    "-# small",
    "[x](https://evil.example)",
    "&amp;",
    "&lt;",
    "&",
    "<",
    ">",
    "*",
    "_",
    "~",
    "|",
    "\\",
    "(",
    ")",
    "한국어 요약입니다",
    "논문",
    "😀",
    "👨‍👩‍👧‍👦",
    "🇰🇷",
    "שלום עולם",
    "مرحبا بالعالم",
    "e\u0301",
    "각",
    "\u202e",
    "\u2066",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\n",
    "\n\n",
    "\t",
    "- list",
    "1. item",
    "http://x.y/a_b*c",
    "word",
    "long" * 30,
    " ",
)

fragment = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
small_text = st.lists(fragment, max_size=6).map(" ".join)
# Cheap to generate, yet up to ~20k characters: a few fragments repeated.
big_text = st.builds(
    lambda parts, n: " ".join(parts) * n, st.lists(fragment, min_size=1, max_size=5), st.integers(1, 300)
)
any_text = st.one_of(small_text, small_text, big_text)
THUMBS = (
    None,
    "https://cdn.example/a.png",
    "/avatars/x.svg",
    "https://cdn.example/a.SVG?x=1",
    "javascript:alert(1)",
    "http://cdn.example/a b.png",
    "ftp://cdn.example/y.png",
    "",
    'https://x.example/a.png"onerror="alert(1)',  # hostile text after the URL
    "https://x.example/" + "a" * 5000 + ".png",  # past every platform's image URL limit
    "https://x.example/ünï cödé/\x01<b>.png?q=100%",  # non-ASCII, a control character, a stray %
)
URL_CHARS = re.compile(r"[A-Za-z0-9/:?#\[\]@!$&'()*+,;=\-._~]*")
"""What an image URL may hold once rendered (RFC 3986), with every % starting an escape."""


def check_image_url(url: str, limit: int) -> None:
    """Assert ``url`` is an absolute http(s) URL of RFC 3986 characters only, at most ``limit`` long."""
    assert url.startswith(("http://", "https://")), url
    assert len(url) <= limit, len(url)
    assert URL_CHARS.fullmatch(re.sub(r"%[0-9A-Fa-f]{2}", "", url)), url


def authors(n: int) -> st.SearchStrategy[list[str]]:
    """Return a few hostile author names, or ``n`` plain ones when ``n`` is large (cheap to draw)."""
    if n > 10:
        return st.just([f"Author {i}" for i in range(n)])
    return st.lists(small_text, min_size=n, max_size=n + 2)


@st.composite
def papers(draw: st.DrawFn, index: int) -> Paper:
    sections = draw(st.lists(st.tuples(small_text, any_text), max_size=3))
    return Paper(
        arxiv_id=f"2410.{index:05d}",
        title=draw(st.one_of(small_text, big_text)),
        authors=tuple(draw(st.sampled_from((0, 1, 2, 500)).flatmap(authors))),
        sections=tuple(sections),
        ai_summary=draw(st.one_of(st.just(""), any_text)),
        abstract=draw(st.one_of(st.just(""), small_text)),
        votes=draw(st.one_of(st.none(), st.integers(0, 10**6))),
        thumbnail=draw(st.sampled_from(THUMBS)),
        github_url=draw(st.sampled_from((None, "https://github.com/a/b", "https://github.com/a/b)c|d>e&f"))),
    )


@st.composite
def digests(draw: st.DrawFn, max_papers: int = 14) -> Digest:
    """Return a digest of up to ``max_papers`` papers with distinct ids.

    Drawing every paper is slow, so a few hostile papers are drawn and reused under new ids:
    enough to fill several messages while order and completeness stay checkable.
    """
    pool = draw(st.lists(papers(0), min_size=1, max_size=4))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), max_size=max_papers))
    chosen = tuple(dataclasses.replace(pool[k], arxiv_id=f"2410.{i:05d}") for i, k in enumerate(picks))
    return Digest(
        date=date(2024, 10, 11),
        papers=chosen,
        topic_filter=tuple(draw(st.lists(small_text.filter(str.strip), max_size=3))),
    )


def seed_digest() -> Digest:
    """Return the reference digest (2024-10-11, 25 papers) as shipped in the package."""
    day, found = parse_markdown_digest(SEED.read_text(encoding="utf-8"), origin=str(SEED))
    return Digest(date=day, papers=tuple(found))


ZWSP = "\u200b"
ELLIPSIS = "…"


def check_cut(shown: str, original: str, unescape: object) -> str | None:
    """Return why ``shown`` is not ``original`` whole or cut with an ellipsis, or None if it is."""
    assert callable(unescape)
    plain = unescape(shown)
    want = original.replace(ZWSP, "")
    if plain == want:
        return None
    if not plain.endswith(ELLIPSIS):
        return f"changed without ellipsis: {plain[-40:]!r} vs {want[-40:]!r}"
    if not want.startswith(plain[: -len(ELLIPSIS)]):
        return f"cut text is not a prefix of the original: {plain[:60]!r}"
    return None


def all_strings(value: object) -> list[str]:
    """Return every string in a JSON tree."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in all_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in all_strings(v)]
    return []


DISCORD_MENTION = re.compile(r"@everyone|@here|<@[!&]?\d+>|<#\d+>")
