"""The ``/paper`` lookup: an arXiv id, an arXiv/Hugging Face URL, or free-text title words.

Ranking, best first: exact id > URL > title phrase > title word-prefix ("prefix quant" finds
"PrefixQuant") > full-text bm25 over title, authors, abstract, summaries and keywords. Every
stage is an indexed query with a LIMIT, so a lookup stays fast on a large archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digestbot.errors import CommandError
from digestbot.records import Paper, normalize_arxiv_id
from digestbot.sources.markdown import arxiv_id_from_url
from digestbot.store import Store
from digestbot.text import one_line

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


def _quoted(terms: list[str], *, prefix_last: bool) -> str:
    parts = [f'"{t}"' for t in terms]
    if prefix_last and parts:
        parts[-1] += "*"
    return " ".join(parts)


async def _fts(store: Store, match: str, limit: int) -> list[int]:
    sql = f"SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? ORDER BY bm25(papers_fts, {_WEIGHTS}) LIMIT ?"
    async with store.db.execute(sql, (match, limit)) as cur:
        return [r[0] for r in await cur.fetchall()]


async def search_words(store: Store, terms: list[str], *, limit: int) -> tuple[list[Paper], str]:
    """Return papers for free-text ``terms``, best first, and the stage that found the best one."""
    stages = [
        ("title", "title : " + '"' + " ".join(terms) + '"'),
        ("title", "title : " + '"' + "".join(terms) + '"*'),
        ("text", _quoted(terms, prefix_last=True)),
        ("text", " OR ".join(f'"{t}"' for t in terms)),
    ]
    if len(terms) == 1:
        stages = stages[1:]
    found: list[int] = []
    how = "none"
    for name, match in stages:
        for rowid in await _fts(store, match, limit):
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
