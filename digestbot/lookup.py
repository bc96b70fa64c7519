"""The ``/paper`` lookup: an arXiv id, an arXiv/Hugging Face URL, or free-text title words.

Ranking, best first: exact id > URL > title phrase > title word-prefix ("prefix quant" finds
"PrefixQuant") > full-text bm25 over title, authors, abstract, summaries and keywords. Every
stage is an indexed query with a LIMIT, so a lookup stays fast on a large archive.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from digestbot.blocks import Message
from digestbot.errors import CommandError
from digestbot.formatter import format_notice, format_paper
from digestbot.labels import Labels
from digestbot.records import Paper, normalize_arxiv_id
from digestbot.sources.markdown import arxiv_id_from_url
from digestbot.store import Store
from digestbot.text import one_line, truncate

Localize = Callable[[Paper], Awaitable[Paper]]
"""Give a paper its summary in the asking channel's language (see :func:`digestbot.summaries.paper_localizer`)."""

MAX_QUERY = 300
MAX_TERMS = 12
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, kw_only=True)
class LookupResult:
    """The best match (if any), a few runners-up, and how the best one was found."""

    query: str
    best: Paper | None
    others: tuple[Paper, ...] = ()
    how: str = "none"


def query_terms_all(text: str) -> list[str]:
    """Return the words of ``text`` as the FTS index sees them (letters and digits, case-folded)."""
    return [w.casefold() for w in _WORD.findall(text)]


def query_terms(query: str) -> list[str]:
    """Return the FTS-safe words of a free-text query (at most MAX_TERMS)."""
    return query_terms_all(query)[:MAX_TERMS]


CANDIDATES = 300
"""Newest matches per stage that are then ranked: bounds the work for very common words."""

_PREFIX_MIN = 4
"""Shortest half-typed last word expanded as a prefix (shorter prefixes match too much to help)."""


async def _candidates(store: Store, match: str, *, table: str = "papers_fts") -> list[int]:
    """Return the rowids of the newest CANDIDATES papers matching an FTS5 ``match`` in ``table``.

    Neither ``ORDER BY bm25`` nor even computing ``bm25()`` stays fast at a million papers: both
    read the whole posting list of every term (0.7–2 s for a word in most papers). FTS5 walks
    postings in rowid order and stops at the LIMIT, so the newest matches cost about a
    millisecond whatever the word; :func:`_rank` orders those few in Python. Title stages use
    the title-only index (``titles_fts``), whose postings are far shorter.
    """
    sql = f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid DESC LIMIT ?"
    async with store.db.execute(sql, (match, CANDIDATES)) as cur:
        return [row[0] for row in await cur.fetchall()]


async def _rank(store: Store, rowids: list[int], terms: list[str]) -> list[int]:
    """Order candidates: the query's words in the title first, the exact title phrase best, then votes, then newer."""
    if not rowids:
        return []
    marks = ",".join("?" * len(rowids))
    sql = f"SELECT rowid, title, authors_text, keywords_text, coalesce(votes, 0) FROM papers WHERE rowid IN ({marks})"
    async with store.db.execute(sql, rowids) as cur:
        rows = [(r[0], r[1], r[2], r[3], r[4]) for r in await cur.fetchall()]
    phrase = " ".join(terms)
    last = terms[-1]

    def score(row: tuple[int, str, str, str, int]) -> tuple[int, int, int]:
        title_words = query_terms_all(row[1])
        other = set(query_terms_all(row[2] + " " + row[3]))
        title_set = set(title_words)
        points = 4 * (phrase in " ".join(title_words))
        for term in terms:
            if term in title_set or (term is last and any(w.startswith(last) for w in title_words)):
                points += 3
            elif term in other:
                points += 1
        return points, row[4], row[0]

    return [row[0] for row in sorted(rows, key=score, reverse=True)]


def _stages(terms: list[str]) -> list[tuple[str, str, str]]:
    """Return (stage, FTS5 table, query) triples, most precise first; terms are quoted, never FTS syntax."""
    quoted = [f'"{t}"' for t in terms]
    last = terms[-1]
    stages = []
    if len(terms) > 1:
        stages.append(("title", "titles_fts", f'"{" ".join(terms)}"'))
        compact = "".join(terms)  # "prefix quant" finds "PrefixQuant"; long, so the prefix stays selective
        stages.append(("title", "titles_fts", f'"{compact}"*' if len(compact) >= 6 else f'"{compact}"'))
    else:
        stages.append(("title", "titles_fts", quoted[0]))
    stages.append(("text", "papers_fts", " ".join(quoted)))
    if len(last) >= _PREFIX_MIN:  # the last word may be half-typed
        stages.append(("prefix", "papers_fts", " ".join([*quoted[:-1], quoted[-1] + "*"])))
    if len(terms) > 1:
        stages.append(("text", "papers_fts", " OR ".join(quoted)))
    return stages


def _fuzzy(terms: list[str]) -> str | None:
    """Return a typo-tolerant query (first five letters of each longer word), used only when all else missed."""
    stems = sorted({f'"{t[:5]}"*' for t in terms if len(t) > 5})
    return " OR ".join(stems) if stems else None


async def search_words(store: Store, terms: list[str], *, limit: int) -> tuple[list[Paper], str]:
    """Return papers for free-text ``terms``, best first, and the stage that found the best one."""
    found: list[int] = []
    how = "none"
    stages = _stages(terms)
    fuzzy = _fuzzy(terms)
    for name, table, match in stages:
        if name == "prefix" and found:
            # The words matched as typed, so the last one is complete; expanding a common word as
            # a prefix merges whole posting lists (~100 ms at 1M papers) for nothing.
            continue
        for rowid in await _rank(store, await _candidates(store, match, table=table), terms):
            if rowid not in found:
                if not found:
                    how = name
                found.append(rowid)
        if len(found) >= limit:
            break
    if not found and fuzzy:
        found = await _rank(store, await _candidates(store, fuzzy), terms)
        how = "fuzzy" if found else how
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


async def answer_paper(store: Store, labels: Labels, query: str, *, localize: Localize | None = None) -> Message:
    """Return the ``/paper`` reply every adapter shows: the best card (+ others), or a no-match notice.

    ``localize`` gives the card the summary in the asking channel's language. Raises
    CommandError for an unusable query; adapters show its text to the user.
    """
    result = await lookup(store, query)
    if result.best is None:
        return format_notice(labels.no_match.format(query=truncate(result.query, 80)), kind="reply")
    best = result.best if localize is None else await localize(result.best)
    return format_paper(best, labels, others=result.others)
