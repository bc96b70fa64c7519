"""The ``/paper`` lookup: an arXiv id, an arXiv/Hugging Face URL, or free-text title words.

Ranking, best first: exact id > URL > title phrase > title word-prefix ("prefix quant" finds
"PrefixQuant") > full-text bm25 over title, authors, abstract, summaries and keywords. Every
stage is an indexed query with a LIMIT, so a lookup stays fast on a large archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digestbot.blocks import Message
from digestbot.errors import CommandError
from digestbot.formatter import format_notice, format_paper
from digestbot.labels import Labels
from digestbot.records import Paper, normalize_arxiv_id
from digestbot.sources.markdown import arxiv_id_from_url
from digestbot.store import Store
from digestbot.text import one_line, truncate

MAX_QUERY = 300
MAX_TERMS = 12
_WORD = re.compile(r"\w+", re.UNICODE)
# bm25 column weights: title, authors, abstract, summaries, keywords.
_WEIGHTS = "10.0, 4.0, 1.0, 1.0, 3.0"


@dataclass(frozen=True, kw_only=True)
class LookupResult:
    """The best match (if any), a few runners-up, and how the best one was found."""

    query: str
    best: Paper | None
    others: tuple[Paper, ...] = ()
    how: str = "none"


def query_terms(query: str) -> list[str]:
    """Return the FTS-safe words of a free-text query (letters and digits only, lower-cased)."""
    return [w.casefold() for w in _WORD.findall(query)][:MAX_TERMS]


CANDIDATES = 400
"""Newest matches per stage that bm25 then ranks: bounds the work for very common words."""


async def _ranked(store: Store, match: str, limit: int) -> list[int]:
    """Return rowids for an FTS ``match``, best bm25 first, among the newest CANDIDATES matches.

    A plain ``ORDER BY bm25 LIMIT k`` must score every match: for a word in half of a million
    papers that takes seconds. FTS5 walks a term's postings in rowid order and can stop early, so
    taking the newest candidates first keeps each query bounded, at the price of preferring recent
    papers when a query is too common to be selective (which is what a daily-papers user wants).
    """
    sql = (
        f"SELECT rowid, bm25(papers_fts, {_WEIGHTS}) FROM papers_fts WHERE papers_fts MATCH ?"
        " ORDER BY rowid DESC LIMIT ?"
    )
    async with store.db.execute(sql, (match, CANDIDATES)) as cur:
        rows = list(await cur.fetchall())
    rows.sort(key=lambda row: row[1])
    return [row[0] for row in rows[:limit]]


def _stages(terms: list[str]) -> list[tuple[str, str]]:
    """Return (stage name, FTS5 query) pairs, most precise first; terms are quoted, never FTS syntax."""
    quoted = [f'"{t}"' for t in terms]
    stages = []
    if len(terms) > 1:
        stages.append(("title", "title : " + '"' + " ".join(terms) + '"'))
    stages.append(("title", "title : " + '"' + "".join(terms) + '"*'))
    # The last word may be half-typed: expand it as a prefix once it is long enough to be selective.
    last = quoted[-1] + "*" if len(terms[-1]) >= 3 else quoted[-1]
    stages.append(("text", " ".join([*quoted[:-1], last])))
    if len(terms) > 1:
        stages.append(("text", " OR ".join(quoted)))
    # Typo tolerance: the first five letters of each longer word ("quantizaton" -> "quant"*).
    stems = sorted({f'"{t[:5]}"*' for t in terms if len(t) > 5})
    if stems:
        stages.append(("fuzzy", " OR ".join(stems)))
    return stages


async def search_words(store: Store, terms: list[str], *, limit: int) -> tuple[list[Paper], str]:
    """Return papers for free-text ``terms``, best first, and the stage that found the best one."""
    found: list[int] = []
    how = "none"
    for name, match in _stages(terms):
        for rowid in await _ranked(store, match, limit):
            if rowid not in found:
                if not found:
                    how = name
                found.append(rowid)
        if len(found) >= limit:
            break
    return await store.get_papers_by_rowid(found[:limit]), how


async def lookup(store: Store, query: str, *, limit: int = 5) -> LookupResult:
    """Answer a ``/paper`` query; raise CommandError when the query itself is unusable."""
    text = one_line(query)
    if not text:
        raise CommandError("Give an arXiv id (2410.05265), an arXiv or Hugging Face link, or words from the title.")
    if len(text) > MAX_QUERY:
        raise CommandError(f"That query is {len(text)} characters long; the limit is {MAX_QUERY}.")
    if (arxiv_id := normalize_arxiv_id(text)) is not None:
        return LookupResult(query=text, best=await store.get_paper(arxiv_id), how="id")
    if re.match(r"(?i)https?://", text):
        arxiv_id = arxiv_id_from_url(text)
        if arxiv_id is None:
            raise CommandError("That link is not an arXiv or Hugging Face paper link.")
        return LookupResult(query=text, best=await store.get_paper(arxiv_id), how="url")
    terms = query_terms(text)
    if not terms:
        raise CommandError("Give an arXiv id, a link, or words from the title (letters or digits).")
    papers, how = await search_words(store, terms, limit=limit)
    if not papers:
        return LookupResult(query=text, best=None)
    return LookupResult(query=text, best=papers[0], others=tuple(papers[1:]), how=how)


async def answer_paper(store: Store, labels: Labels, query: str) -> Message:
    """Return the ``/paper`` reply every adapter shows: the best card (+ others), or a no-match notice.

    Raises CommandError for an unusable query; adapters show its text to the user.
    """
    result = await lookup(store, query)
    if result.best is None:
        return format_notice(labels.no_match.format(query=truncate(result.query, 80)), kind="reply")
    return format_paper(result.best, labels, others=result.others)
