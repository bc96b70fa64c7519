"""Fill papers' missing abstracts and arXiv metadata from the arXiv API, never overwriting a digest's own words.

A digest (Hugging Face's list, a Markdown file) decides a paper's title, author order, votes and
summary sections; arXiv only fills the gaps (:func:`fill_from_arxiv`). Papers are asked for in
batches of at most 100 ids, one request every 3 seconds (the :class:`ArxivClient` paces them),
and each batch is stored in its own transaction, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from digestbot.records import Paper
from digestbot.sources.arxiv import ArxivClient
from digestbot.store.protocol import StoreProtocol
from digestbot.wording import plural

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 500


def fill_from_arxiv(known: Paper, fetched: Paper) -> Paper:
    """Return the patch that fills ``known``'s gaps from arXiv's record ``fetched``, overwriting nothing.

    The digest that listed a paper owns its title, author order, votes, sections and summaries:
    arXiv's title and authors are used only where ``known`` has none. arXiv adds the abstract when
    missing and every ``extra`` key ``known`` lacks (``categories``, ``primary_category``,
    ``published``, ``pdf_url``…). Shaped for :meth:`Paper.merged_with`, which ``Store.upsert_papers``
    applies: ``known.merged_with(patch)`` is the enriched paper. The patch has no digest date and
    no votes, so storing it adds the paper to no day and changes no ranking.
    """
    return Paper(
        arxiv_id=known.arxiv_id,
        title=known.title or fetched.title,
        authors=known.authors or fetched.authors,
        abstract=known.abstract or fetched.abstract,
        extra={key: value for key, value in fetched.extra.items() if key not in known.extra},
    )


@dataclass(frozen=True, kw_only=True)
class EnrichReport:
    """What one enrichment run did."""

    asked: int = 0
    filled: int = 0
    not_found: int = 0

    def summary(self) -> str:
        """Return the one-line summary printed after ``digestbot enrich``."""
        if not self.asked:
            return "arxiv: no paper is missing an abstract or categories"
        return (
            f"arxiv: {plural(self.asked, 'paper')} missing an abstract or categories: {self.filled} filled,"
            f" {self.not_found} not found on arXiv"
        )


async def enrich_papers(store: StoreProtocol, client: ArxivClient, papers: Sequence[Paper]) -> EnrichReport:
    """Fetch ``papers`` from arXiv by id, batch by batch, and store what fills their gaps."""
    asked = filled = not_found = 0
    for start in range(0, len(papers), client.batch_size):
        batch = papers[start : start + client.batch_size]
        fetched = {p.arxiv_id: p for p in await client.fetch_by_ids([p.arxiv_id for p in batch])}
        patches = [fill_from_arxiv(p, fetched[p.arxiv_id]) for p in batch if p.arxiv_id in fetched]
        result = await store.upsert_papers(patches)
        asked += len(batch)
        filled += result.updated
        not_found += len(batch) - len(patches)
    return EnrichReport(asked=asked, filled=filled, not_found=not_found)


async def enrich_missing(
    store: StoreProtocol, client: ArxivClient, *, day: date | None = None, limit: int = DEFAULT_LIMIT
) -> EnrichReport:
    """Enrich the newest ``limit`` papers lacking an abstract or categories (only ``day``'s, if given)."""
    papers = await store.papers_missing_arxiv_data(day=day, limit=limit)
    report = await enrich_papers(store, client, papers)
    log.info("enriched %d of %d papers from arXiv (%d not found)", report.filled, report.asked, report.not_found)
    return report
