"""Parse Markdown daily digests such as the bundled ``daily-papers-2024-10-11.md``.

The format, paper by paper (see NOTES.md)::

    ## Daily Papers (YYYY-MM-DD)
    ### [Title](https://arxiv.org/abs/<id>)
    ![](<thumbnail URL, absolute or site-relative>)
    Vote: <integer>
    Authors: <name>, <name>, …
    - **What's New**: <text>
    - **Technical Details**: <text>

Summaries are shown as given; a section may continue on following lines. Anything else is an
error naming the line, because a silently skipped paper is worse than a loud one.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urljoin, urlsplit

from digestbot.errors import SourceError
from digestbot.records import INT64, MAX_INT_LITERAL, Paper, normalize_arxiv_id, oversize
from digestbot.text import clean_text, one_line

SITE_ROOT = "https://huggingface.co"
"""Site-relative thumbnails (``/avatars/…``) in HF digests are resolved against this root."""

_DATE_HEADING = re.compile(r"##\s+Daily Papers\s*\((?P<date>[^)]*)\)\s*")
_PAPER_HEADING = re.compile(r"###\s+\[(?P<title>.+)\]\((?P<url>[^()\s]+)\)\s*")
_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<url>[^()\s]*)\)\s*")
_VOTE = re.compile(r"Votes?:\s*(?P<votes>\S*)\s*", re.IGNORECASE)
_AUTHORS = re.compile(r"Authors?:\s*(?P<authors>.*)", re.IGNORECASE)
_SECTION = re.compile(r"[-*]\s+\*\*(?P<label>[^*]+?)\*\*\s*:?\s*(?P<text>.*)")
_ID_IN_URL = re.compile(r"/(?:abs|pdf|papers)/(?P<id>[^?#]+?)(?:\.pdf)?/?(?:[?#].*)?$")


def arxiv_id_from_url(url: str) -> str | None:
    """Return the arXiv id in an arxiv.org or huggingface.co/papers URL, or None."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        return None
    host = parts.hostname or ""
    if not (host.endswith("arxiv.org") or host.endswith("huggingface.co")):
        return None
    m = _ID_IN_URL.search(parts.path)
    return normalize_arxiv_id(m["id"]) if m else None


def resolve_image_url(url: str, *, site: str = SITE_ROOT) -> str | None:
    """Return an absolute http(s) image URL: site-relative paths resolved against ``site``, junk dropped."""
    url = url.strip()
    if not url:
        return None
    if url.startswith("/") and not url.startswith("//"):
        url = urljoin(site, url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


class _Draft:
    """A paper being assembled line by line."""

    def __init__(self, *, title: str, arxiv_id: str, line: int) -> None:
        self.title = title
        self.arxiv_id = arxiv_id
        self.line = line
        self.thumbnail: str | None = None
        self.votes: int | None = None
        self.authors: tuple[str, ...] = ()
        self.sections: list[list[str]] = []

    def build(self, *, day: date, source: str) -> Paper:
        return Paper(
            arxiv_id=self.arxiv_id,
            title=self.title,
            authors=self.authors,
            sections=tuple((label, clean_text(text)) for label, text in self.sections),
            votes=self.votes,
            thumbnail=self.thumbnail,
            digest_date=day,
            source=source,
        )


def parse_markdown_digest(text: str, *, origin: str, source: str = "markdown") -> tuple[date, list[Paper]]:
    """Return the digest date and papers of a Markdown digest; raise SourceError naming ``origin:line``."""

    def fail(line: int, what: str) -> SourceError:
        return SourceError(f"{origin}:{line}: {what}")

    day: date | None = None
    drafts: list[_Draft] = []
    seen: dict[str, int] = {}
    current: _Draft | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("## ") or line.startswith("##\t"):
            m = _DATE_HEADING.fullmatch(line)
            if not m:
                raise fail(number, f"expected '## Daily Papers (YYYY-MM-DD)', got {line[:60]!r}")
            if day is not None:
                raise fail(number, "a second '## Daily Papers' heading: one digest per file")
            try:
                day = date.fromisoformat(m["date"].strip())
            except ValueError:
                raise fail(number, f"invalid digest date {m['date'].strip()[:40]!r} (expected YYYY-MM-DD)") from None
            continue
        if line.startswith("###"):
            m = _PAPER_HEADING.fullmatch(line)
            if not m:
                raise fail(number, "paper heading must be '### [Title](https://arxiv.org/abs/ID)'")
            if day is None:
                raise fail(number, "paper before the '## Daily Papers (YYYY-MM-DD)' heading")
            title = one_line(m["title"])
            if not title:
                raise fail(number, "paper heading has an empty title")
            arxiv_id = arxiv_id_from_url(m["url"])
            if arxiv_id is None:
                raise fail(number, f"no arXiv id in link {m['url'][:80]!r}")
            if arxiv_id in seen:
                raise fail(number, f"paper {arxiv_id} already listed at line {seen[arxiv_id]}")
            seen[arxiv_id] = number
            current = _Draft(title=title, arxiv_id=arxiv_id, line=number)
            drafts.append(current)
            continue
        if current is None:
            raise fail(number, f"unexpected text before the first paper: {line[:60]!r}")
        if m := _IMAGE.fullmatch(line):
            current.thumbnail = resolve_image_url(m["url"])
        elif m := _VOTE.fullmatch(line):
            if m["votes"].isdigit() and len(m["votes"].lstrip("0")) > MAX_INT_LITERAL:  # int() refuses > 4,300
                raise fail(number, f"vote count beyond 64 bits ({len(m['votes'].lstrip('0')):,} digits)")
            try:
                votes = int(m["votes"])
            except ValueError:
                raise fail(number, f"vote count must be an integer, got {m['votes'][:20]!r}") from None
            if votes < 0:
                raise fail(number, f"vote count must not be negative, got {votes}")
            if votes > INT64[1]:
                raise fail(number, f"vote count beyond 64 bits ({len(str(votes))} digits)")
            current.votes = votes
        elif m := _AUTHORS.fullmatch(line):
            current.authors = tuple(one_line(a) for a in m["authors"].split(",") if a.strip())
        elif m := _SECTION.fullmatch(line):
            current.sections.append([one_line(m["label"]), m["text"]])
        elif current.sections:
            current.sections[-1][1] += "\n" + line
        else:
            raise fail(number, f"unexpected line in paper {current.arxiv_id}: {line[:60]!r}")
    if day is None:
        raise SourceError(f"{origin}: not a digest: no '## Daily Papers (YYYY-MM-DD)' heading")
    if not drafts:
        raise SourceError(f"{origin}: the digest for {day.isoformat()} lists no papers")
    papers = [d.build(day=day, source=source) for d in drafts]
    for draft, paper in zip(drafts, papers, strict=True):
        if too_large := oversize(paper):  # named by its heading's line, as every other Markdown error
            raise fail(draft.line, f"paper {paper.arxiv_id}: {too_large}")
    return day, papers
