"""``/paper`` search on PostgreSQL: the queries of :mod:`digestbot.store.search` on ``search_vec``, ``lookup_terms``.

The lookup writes its candidate queries as FTS5 expressions made only of quoted index words,
``AND``, ``OR`` and parentheses (:meth:`digestbot.lookup._Term.expression`); :func:`tsquery`
turns one into a ``tsquery`` whose words are restricted to the weights of the index asked for:
``lookup_fts`` is title, authors, keywords and grams (weights A, B, C), ``body_fts`` abstracts and
summaries (D). The words were split by the same Python tokenizer on both backends, so a query
finds the same papers. Typo candidates come from the vocabulary through its trigram index.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digestbot.store.postgres.store import PostgresStore

WEIGHTS = {"lookup_fts": "ABC", "body_fts": "D"}
"""Which ``search_vec`` weights stand for each of SQLite's search indexes."""

_TOKEN = re.compile(r'\s*(?:"(?P<word>[^"]*)"|(?P<op>AND|OR|\(|\)))')


def tsquery(match: str, index: str) -> str:
    """Return the ``tsquery`` text of the FTS5 expression ``match`` on ``index``; ValueError for other syntax."""
    weights = WEIGHTS[index]
    out: list[str] = []
    pos = 0
    text = match.rstrip()
    while pos < len(text):
        token = _TOKEN.match(text, pos)
        if token is None:
            raise ValueError(f"not a lookup expression at {pos}: {match!r}")
        pos = token.end()
        if token["word"] is not None:
            word = token["word"].replace("\\", "\\\\").replace("'", "''")
            out.append(f"'{word}':{weights}")
        else:
            out.append({"AND": "&", "OR": "|"}.get(token["op"], token["op"]))
    return " ".join(out)


async def candidates(store: PostgresStore, index: str, match: str, *, limit: int) -> list[int]:
    """Return the rowids of the newest ``limit`` papers matching ``match`` in ``index`` (GIN on ``search_vec``)."""
    # MATERIALIZED: always through the GIN index. Left to itself the planner may walk the primary
    # key newest first and test every row until LIMIT matches turn up: for a rare or absent word,
    # that reads the whole table (seconds at 20k papers).
    sql = (
        "WITH m AS MATERIALIZED (SELECT rowid FROM papers WHERE search_vec @@ %s::tsquery)"
        " SELECT rowid FROM m ORDER BY rowid DESC LIMIT %s"
    )
    return [int(r[0]) for r in await store.fetchall(sql, (tsquery(match, index), limit))]


async def search_rows(store: PostgresStore, rowids: list[int]) -> list[tuple[Any, ...]]:
    """Return (rowid, arxiv id, title, authors, keywords, grams, votes) of ``rowids``."""
    sql = (
        "SELECT rowid, arxiv_id, title, authors_text, keywords_text, grams_text, coalesce(votes, 0)"
        " FROM papers WHERE rowid = ANY(%s)"
    )
    return await store.fetchall(sql, (rowids,))


async def term_docs(store: PostgresStore, terms: list[str]) -> dict[str, int]:
    """Return how many papers have each of ``terms`` in a title, author name or keyword."""
    rows = await store.fetchall("SELECT term, docs FROM lookup_terms WHERE term = ANY(%s)", (terms,))
    return {r[0]: int(r[1]) for r in rows}


async def terms_starting(
    store: PostgresStore, prefix: str, *, min_len: int, max_len: int, limit: int
) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words starting with ``prefix``: one range of the C-collated key."""
    sql = (
        "SELECT term, docs FROM lookup_terms WHERE term >= %s AND term < %s"
        " AND char_length(term) BETWEEN %s AND %s ORDER BY docs DESC, term LIMIT %s"
    )
    rows = await store.fetchall(sql, (prefix, prefix + "\U0010ffff", min_len, max_len, limit))
    return [(r[0], int(r[1])) for r in rows]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def near_terms(store: PostgresStore, word: str, *, edits: int, limit: int) -> list[tuple[str, int]]:
    """Return (term, docs) of vocabulary words that may be ``word`` with a typo, most frequent first.

    The same candidates as SQLite's (same first letter, the first three or the last two letters
    kept, length within ``edits``), found through the trigram index: ``LIKE 'abc%'`` and
    ``LIKE '%yz'`` are both trigram-indexable, where SQLite walks a key range.
    """
    sql = (
        "SELECT term, docs FROM lookup_terms WHERE term >= %s AND term < %s"
        " AND char_length(term) BETWEEN %s AND %s AND (term LIKE %s OR term LIKE %s)"
        " ORDER BY docs DESC, term LIMIT %s"
    )
    args = (
        word[0],
        word[0] + "\U0010ffff",
        len(word) - edits,
        len(word) + edits,
        _like(word[:3]) + "%",
        "%" + _like(word[-2:]),
        limit,
    )
    return [(r[0], int(r[1])) for r in await store.fetchall(sql, args)]
