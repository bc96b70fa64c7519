"""Turn paper records into platform-neutral :class:`~digestbot.blocks.Message` objects.

This is the one place that decides *what* a digest, a paper card, a subscriber notice or a lookup
answer says; adapters only decide how it looks on their platform.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date

from digestbot.blocks import (
    Block,
    Context,
    ForumPost,
    Header,
    Link,
    ListItem,
    Message,
    PaperCard,
    PaperList,
    Paragraph,
    Section,
)
from digestbot.labels import Labels
from digestbot.periods import Period
from digestbot.records import Digest, Paper
from digestbot.text import clean_text, one_line, truncate

MAX_AUTHORS = 8
"""Authors shown before the list becomes "et al."."""

MAX_TITLE = 300
"""A neutral cap on titles; renderers cut further to their platform's limit."""


def author_line(authors: Sequence[str], labels: Labels, *, limit: int = MAX_AUTHORS) -> str:
    """Return "A, B, C" or "A, B, … et al." when there are more than ``limit`` authors."""
    names = [one_line(a) for a in authors if a.strip()]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" {labels.et_al}"


def _sections(paper: Paper, labels: Labels) -> tuple[Section, ...]:
    if paper.sections:
        return tuple(Section(label=one_line(label), text=clean_text(text)) for label, text in paper.sections)
    if paper.ai_summary:
        return (Section(label=labels.ai_summary, text=clean_text(paper.ai_summary)),)
    if paper.abstract:
        return (Section(label=labels.abstract, text=clean_text(paper.abstract)),)
    return ()


def paper_card(paper: Paper, labels: Labels, *, rank: int | None = None, extra_meta: Sequence[str] = ()) -> PaperCard:
    """Return the card for one paper: linked title, authors, votes, thumbnail, summary, links."""
    meta: list[str] = []
    if paper.votes is not None:
        meta.append(f"▲ {labels.votes_count(paper.votes)}")
    if withdrawn := paper.extra.get("withdrawnAt"):
        meta.append(labels.withdrawn.format(date=str(withdrawn)[:10]))
    meta.extend(extra_meta)
    links = [Link(label="arXiv", url=paper.arxiv_url), Link(label="Hugging Face", url=paper.hf_url)]
    if paper.github_url:
        links.append(Link(label="GitHub", url=paper.github_url))
    return PaperCard(
        arxiv_id=paper.arxiv_id,
        title=truncate(one_line(paper.title), MAX_TITLE),
        url=paper.arxiv_url,
        authors=author_line(paper.authors, labels),
        meta=tuple(meta),
        sections=_sections(paper, labels),
        links=tuple(links),
        thumbnail=paper.thumbnail,
        rank=rank,
    )


def digest_heading(day: date, count: int, labels: Labels, topics: Sequence[str] = ()) -> str:
    """Return the digest's heading text: title, date and paper count (and the topic filter)."""
    text = f"{labels.digest_title} — {day.isoformat()} · {labels.papers_count(count)}"
    if topics:
        text += f" · {labels.topics}: {', '.join(topics)}"
    return text


def period_heading(period: Period, count: int, labels: Labels, topics: Sequence[str] = ()) -> str:
    """Return a weekly or monthly digest's heading: ``Weekly papers — 2024-W41, 7–13 Oct · 10 papers``."""
    title = labels.weekly_title if period.cadence == "weekly" else labels.monthly_title
    text = f"{title} — {period.name}, {period.span()} · {labels.papers_count(count)}"
    if topics:
        text += f" · {labels.topics}: {', '.join(topics)}"
    return text


def format_digest(digest: Digest, labels: Labels, *, top: int | None = None) -> Message:
    """Return the digest message: a header, then one card per paper in rank order."""
    papers = digest.papers[:top] if top else digest.papers
    period = digest.period if digest.period is not None and digest.period.cadence != "daily" else None
    if period is not None:
        heading = period_heading(period, len(papers), labels, digest.topic_filter)
    else:
        heading = digest_heading(digest.date, len(papers), labels, digest.topic_filter)
    blocks: list[Block] = [Header(text=heading)]
    blocks.extend(paper_card(p, labels, rank=i) for i, p in enumerate(papers, start=1))
    fallback = heading + ": " + "; ".join(one_line(p.title) for p in papers[:5])
    if len(papers) > 5:
        fallback += " …"
    key = period.name if period is not None else digest.date.isoformat()
    return Message(blocks=tuple(blocks), fallback=truncate(fallback, 1000), kind="digest", key=key)


MAX_LIST_SUMMARY = 300
"""A neutral cap on a compact list's one-line summary; renderers cut further to share their message."""

COMPACT_MAX_PAPERS = 25
"""Papers a compact list holds in its one message (each platform's renderer fits this many)."""


def one_line_summary(paper: Paper, labels: Labels) -> str:
    """Return the first summary part (or the AI summary, or the abstract) on one line, for a compact list."""
    sections = _sections(paper, labels)
    return truncate(one_line(sections[0].text), MAX_LIST_SUMMARY) if sections else ""


def format_compact(digest: Digest, labels: Labels, *, top: int | None = None) -> list[Message]:
    """Return a compact digest: ONE list message (rank, linked title, votes, one-line summary), then one card each.

    The engine posts the list in the channel and each card as a reply in its thread, so the
    channel gets one message a day and the discussion of a paper happens under its card.
    """
    papers = (digest.papers[:top] if top else digest.papers)[:COMPACT_MAX_PAPERS]
    head = format_digest(replace(digest, papers=papers), labels)
    items = tuple(
        ListItem(
            rank=i,
            arxiv_id=p.arxiv_id,
            title=truncate(one_line(p.title), MAX_TITLE),
            url=p.arxiv_url,
            meta=f"▲ {labels.votes_count(p.votes)}" if p.votes is not None else "",
            summary=one_line_summary(p, labels),
        )
        for i, p in enumerate(papers, start=1)
    )
    blocks = (head.blocks[0], PaperList(items=items))
    listing = Message(blocks=blocks, fallback=head.fallback, kind="digest", key=head.key)
    cards = [
        Message(
            blocks=(paper_card(p, labels, rank=i),), fallback=f"{i}. {one_line(p.title)}", kind="card", key=head.key
        )
        for i, p in enumerate(papers, start=1)
    ]
    return [listing, *cards]


FORUM_POST_NAME = 100
"""Discord's thread-name limit: a forum post is named after its paper within it."""
FORUM_MAX_TAGS = 5
"""Discord's limit on tags applied to one forum post."""


def format_forum(
    digest: Digest, labels: Labels, *, tags: Mapping[str, Sequence[str]] | None = None, top: int | None = None
) -> list[Message]:
    """Return a forum digest: one post per paper, named after it, its card as the starter message.

    ``tags`` maps an arXiv id to the forum tag names that matched the paper (at most
    :data:`FORUM_MAX_TAGS` are applied, in the order given).
    """
    papers = digest.papers[:top] if top else digest.papers
    key = format_digest(replace(digest, papers=()), labels).key
    return [
        Message(
            blocks=(paper_card(p, labels, rank=i),),
            fallback=f"{i}. {one_line(p.title)}",
            kind="post",
            key=key,
            post=ForumPost(
                name=truncate(one_line(p.title), FORUM_POST_NAME) or p.arxiv_id,
                tags=tuple(dict.fromkeys((tags or {}).get(p.arxiv_id, ())))[:FORUM_MAX_TAGS],
            ),
        )
        for i, p in enumerate(papers, start=1)
    ]


def format_paper(paper: Paper, labels: Labels, *, others: Sequence[Paper] = ()) -> Message:
    """Return a lookup answer: the best match's card, plus a short list of other matches."""
    blocks: list[Block] = [paper_card(paper, labels)]
    if others:
        lines = [f"{o.arxiv_id} — {truncate(one_line(o.title), 120)}" for o in others]
        blocks.append(Context(parts=(labels.lookup_more + ":", *lines)))
    return Message(
        blocks=tuple(blocks), fallback=one_line(paper.title) + " " + paper.arxiv_url, kind="paper", key=paper.arxiv_id
    )


MAX_DM_PAPERS = 10
"""Papers one subscriber DM shows; the rest are counted ("…and N more"), so a broad topic on a big day
cannot turn one DM into dozens of messages."""


def format_matches(
    day: date,
    matches: Sequence[tuple[Paper, Sequence[str]]],
    labels: Labels,
    *,
    limit: int = MAX_DM_PAPERS,
    period: Period | None = None,
    card: Callable[[Paper], PaperCard] | None = None,
) -> Message:
    """Return a subscriber's notice: the day's best ``limit`` matches with the topics each matched, and how many more.

    Best first: papers matching more of the subscriber's topics, then more votes, then the digest's order.
    ``period`` names a week or month instead of the day. ``card`` returns a paper's :func:`paper_card`
    (without the matched topics): a fan-out passes one that builds each card once for all its DMs.
    """
    named = period.name if period is not None else day.isoformat()
    heading = labels.matches_title.format(date=named)
    ranked = sorted(enumerate(matches), key=lambda item: (-len(item[1][1]), -(item[1][0].votes or 0), item[0]))
    shown = [pair for _, pair in ranked[:limit]]
    blocks: list[Block] = [Header(text=heading)]
    for paper, topics in shown:
        matched = f"{labels.matched}: {', '.join(topics)}"
        if card is None:
            blocks.append(paper_card(paper, labels, extra_meta=(matched,)))
        else:
            base = card(paper)
            blocks.append(replace(base, meta=(*base.meta, matched)))
    if len(matches) > len(shown):
        blocks.append(Context(parts=(labels.matches_more.format(count=len(matches) - len(shown)),)))
    fallback = f"{heading}: " + "; ".join(one_line(p.title) for p, _ in shown[:5])
    return Message(blocks=tuple(blocks), fallback=truncate(fallback, 1000), kind="matches", key=named)


def format_notice(text: str, *, kind: str = "notice", key: str = "") -> Message:
    """Return a one-paragraph message (no digest today, command replies)."""
    return Message(blocks=(Paragraph(text=text),), fallback=text, kind=kind, key=key)


def format_no_period_digest(period: Period, reason: str, labels: Labels) -> Message:
    """Return the one-line notice posted instead of silence when a week or month has no papers."""
    text = labels.no_period_papers.format(period=f"{period.name} ({period.span()})", reason=reason)
    return format_notice(text, kind="notice", key=period.name)


def format_no_digest(day: date, reason: str, labels: Labels) -> Message:
    """Return the one-line notice posted instead of silence when a day has no papers."""
    text = labels.no_papers.format(date=day.isoformat(), reason=reason)
    return format_notice(text, kind="notice", key=day.isoformat())
