"""Filter one digest by a few topics: ``preview --topic``, the demo's topic match, ad-hoc views.

The delivery engine builds one run-wide index over every channel filter and subscription
instead; this is the small, single-use form of the same matcher.
"""

from __future__ import annotations

from collections.abc import Sequence

from digestbot.matching import TopicIndex
from digestbot.records import Digest, Paper
from digestbot.topics import parse_topic


def matches_for(
    papers: Sequence[Paper], raw_topics: Sequence[str], *, max_length: int
) -> list[tuple[Paper, list[str]]]:
    """Return the papers matching any of ``raw_topics``, in order, each with the topics it matched.

    Raises CommandError for a topic that does not parse (its message names the problem).
    """
    topics = [parse_topic(raw, max_length=max_length) for raw in raw_topics]
    index = TopicIndex((topic.canonical, topic) for topic in topics)
    hits: dict[str, list[str]] = {}
    for canonical, pairs in index.match_all(papers).items():
        for paper, _ in pairs:
            hits.setdefault(paper.arxiv_id, []).append(canonical)
    return [(p, hits[p.arxiv_id]) for p in papers if p.arxiv_id in hits]


def filter_digest(digest: Digest, raw_topics: Sequence[str], *, max_length: int) -> Digest:
    """Return ``digest`` keeping only papers matching any of ``raw_topics`` (recorded as its filter)."""
    kept = matches_for(digest.papers, raw_topics, max_length=max_length)
    return Digest(date=digest.date, papers=tuple(p for p, _ in kept), topic_filter=tuple(raw_topics))
