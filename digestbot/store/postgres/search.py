"""``/paper`` search on PostgreSQL: the queries of :mod:`digestbot.store.search`, on the search vectors.

The lookup writes its candidate queries as FTS5 expressions made only of quoted index words,
``AND``, ``OR`` and parentheses (:meth:`digestbot.lookup._Term.expression`); :func:`tsquery`
turns one into a ``tsquery``. SQLite's ``lookup_fts`` (title, authors, keywords and grams) is
the ``lookup_vec`` column, weights A-C of ``search_vec`` kept by PostgreSQL with a GIN index of
its own; ``body_fts`` (abstracts and summaries) is ``search_vec`` restricted to weight D. The
words were split by the same Python tokenizer on both backends, so a query finds the same
papers. Typo candidates come from the vocabulary through its trigram index.

Bounded work, as on SQLite: only the newest ``limit`` matches are read. A GIN index answers
"every match" (then sorted), which for a word in half the titles is half the archive; a walk of
the newest papers testing each stops after ``limit`` matches, which for a rare word is the
whole archive. :func:`candidates` estimates the matches from the vocabulary's counts and takes
the cheaper way, the walk bounded so a wrong estimate falls back to the index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from digestbot.search_text import words

if TYPE_CHECKING:
    from digestbot.store.postgres.store import PostgresStore

WEIGHTS = {"lookup_fts": "", "body_fts": "D"}
"""Which ``search_vec`` weights a query word is restricted to for each of SQLite's indexes (none on ``lookup_vec``)."""

WALK_SLACK = 4
"""How many times the expected number of newest papers a walk may test before falling back to the index."""

_TOKEN = re.compile(r'\s*(?:"(?P<word>[^"]*)"|(?P<op>AND|OR|\(|\)))')


def _tokens(match: str) -> list[tuple[str, str]]:
    """Return ``match`` as ("word", text) and ("op", AND|OR|(|)) tokens; ValueError for other syntax."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = match.rstrip()
    while pos < len(text):
        token = _TOKEN.match(text, pos)
        if token is None:
            raise ValueError(f"not a lookup expression at {pos}: {match!r}")
        pos = token.end()
        out.append(("word", token["word"]) if token["word"] is not None else ("op", token["op"]))
    return out


def tsquery(match: str, index: str) -> str:
    """Return the ``tsquery`` text of the FTS5 expression ``match`` on ``index``; ValueError for other syntax."""
    weights = WEIGHTS[index]
    out: list[str] = []
    for kind, text in _tokens(match):
        if kind == "word":
            word = text.replace("\\", "\\\\").replace("'", "''")
            out.append(f"'{word}':{weights}" if weights else f"'{word}'")
        else:
            out.append({"AND": "&", "OR": "|"}.get(text, text))
    return " ".join(out)


def share(match: str, docs: dict[str, int], total: int) -> float:
    """Return the estimated share of papers matching ``match``, from each word's paper count in ``docs``.

    AND multiplies shares (words taken as independent), OR adds them (capped at 1); a word not
    in ``docs`` (a gram, an unknown word) counts as rare. FTS5's precedence: AND before OR.
    """
    tokens = _tokens(match)
    pos = 0

    def either() -> float:  # a OR b OR …
        nonlocal pos
        found = both()
        while pos < len(tokens) and tokens[pos] == ("op", "OR"):
            pos += 1
            found = min(1.0, found + both())
        return found

    def both() -> float:  # a AND b AND …
        nonlocal pos
        found = one()
        while pos < len(tokens) and tokens[pos] == ("op", "AND"):
            pos += 1
            found *= one()
        return found

    def one() -> float:
        nonlocal pos
        kind, text = tokens[pos]
        pos += 1
        if kind == "word":
            return min(1.0, docs.get(text, 0) / max(total, 1))
        found = either()  # "(" … ")"
        pos += 1
        return found

    return either() if tokens else 0.0


def search_vector(values: Sequence[Any]) -> str:
    """Return the ``tsvector`` literal of a paper from its ``_row_values``: each word once, weighted by field.

    Words come from :func:`~digestbot.search_text.words`, the tokenizer SQLite's index mirrors,
    so both backends index the same words. A word in several fields carries each field's weight
    (A title, B authors, C keywords and grams, D abstract and summaries) at a fixed position per
    weight: weights live on positions, a position-less lexeme would lose them. Words are letters
    and digits only (never a quote or backslash), so each is quoted as it is. Written for speed
    (a bulk load makes a million of these): the abstract's words, most of a paper's, are joined
    in one call; only the few title, author and keyword words are visited one by one.
    """
    title, abstract = values[1], values[3]
    authors_text, summary_text, keywords_text, grams_text = values[13], values[14], values[15], values[16]
    body = set(words(abstract or ""))
    body.update(words(summary_text or ""))
    fields = (
        ("1A", words(title or "")),
        ("2B", words(authors_text or "")),
        ("3C", words(keywords_text or "") + words(grams_text or "")),
    )
    marks: dict[str, str] = {}
    for mark, found in fields:
        for word in found:
            old = marks.get(word)
            if old is None:
                marks[word] = mark
            elif not old.endswith(mark):  # fields come in order: a repeat within one ends with its mark
                marks[word] = f"{old},{mark}"
    parts = [f"'{word}':{mark},4D" if word in body else f"'{word}':{mark}" for word, mark in marks.items()]
    if rest := body.difference(marks):
        parts.append("'" + "':4D '".join(rest) + "':4D")
    return " ".join(parts)


async def candidates(store: PostgresStore, index: str, match: str, *, limit: int) -> list[int]:
    """Return the rowids of the newest ``limit`` papers matching ``match`` in ``index`` (a bounded walk or GIN)."""
    query = tsquery(match, index)
    if index == "lookup_fts":
        walk = await _walk_length(store, match, limit)
        if walk:
            # The newest `walk` papers, tested in rowid order until `limit` match: a subquery with
            # a LIMIT of its own is not flattened, so the planner cannot swap the walk for the GIN index.
            sql = (
                "SELECT rowid FROM (SELECT rowid, lookup_vec FROM papers ORDER BY rowid DESC LIMIT %s) AS newest"
                " WHERE lookup_vec @@ %s::tsquery ORDER BY rowid DESC LIMIT %s"
            )
            found = [int(r[0]) for r in await store.fetchall(sql, (walk, query, limit))]
            if len(found) == limit:
                return found
        column = "lookup_vec"
    else:
        column = "search_vec"
    # MATERIALIZED: always through the GIN index. Left to itself the planner may walk the primary
    # key newest first and test every row until LIMIT matches turn up: for a rare or absent word,
    # that reads the whole table.
    sql = (
        f"WITH m AS MATERIALIZED (SELECT rowid FROM papers WHERE {column} @@ %s::tsquery)"
        " SELECT rowid FROM m ORDER BY rowid DESC LIMIT %s"
    )
    return [int(r[0]) for r in await store.fetchall(sql, (query, limit))]


async def _walk_length(store: PostgresStore, match: str, limit: int) -> int:
    """Return how many newest papers to walk for ``limit`` matches of ``match``, or 0 when the index is cheaper.

    With a share ``s`` of the ``n`` papers matching, the walk tests about ``limit / s`` papers and
    the index reads ``s * n``: walk when the first is smaller (``s`` above sqrt(limit / n)).
    """
    names = [text for kind, text in _tokens(match) if kind == "word"]
    sql = "SELECT (SELECT coalesce(max(rowid), 0) FROM papers), term, docs FROM lookup_terms WHERE term = ANY(%s)"
    rows = await store.fetchall(sql, (names,))
    if not rows:
        return 0
    total = int(rows[0][0])
    found = share(match, {str(r[1]): int(r[2]) for r in rows}, total)
    if found <= 0 or found < math.sqrt(limit / max(total, 1)):
        return 0
    return min(total, math.ceil(WALK_SLACK * limit / found))


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
