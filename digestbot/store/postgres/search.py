"""``/paper`` search on PostgreSQL: the queries of :mod:`digestbot.store.search`, on the search vectors.

The lookup writes its candidate queries as FTS5 expressions made only of quoted index words,
``AND``, ``OR`` and parentheses (:meth:`digestbot.lookup._Term.expression`); :func:`tsquery`
turns one into a ``tsquery``. SQLite's ``lookup_fts`` (title, authors, keywords and grams) is
the ``lookup_segments`` table: weights A-C of ``search_vec``, kept from ``papers`` by triggers, in
partitions of :data:`SEGMENT` consecutive rowids with a GIN index each; ``body_fts`` (abstracts
and summaries) is ``search_vec`` restricted to weight D. The words were split by the same Python
tokenizer on both backends, so a query finds the same papers. Typo candidates come from the
vocabulary through its trigram index.

Bounded work, as on SQLite: only the newest ``limit`` matches are read. A GIN index answers
"every match", which for a word in a few percent of the titles means tens of thousands of
postings read and rows fetched only to keep the newest 300; a walk of the newest papers testing
each stops after ``limit`` matches, which for a rare word is the whole archive. The segments give
a third way: a window of the newest papers reads only the segments' indexes that hold it.
:func:`route` estimates the matches from the vocabulary's counts and takes the cheapest of the
walk, the window and the whole index; a wrong estimate falls back to the whole index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digestbot.search_text import words

if TYPE_CHECKING:
    from digestbot.store.postgres.store import PostgresStore

WEIGHTS = {"lookup_fts": "", "body_fts": "D"}
"""Which ``search_vec`` weights a query word is restricted to for each of SQLite's indexes (none on ``lookup_vec``)."""

SEGMENT = 65536
"""Rowids per partition of ``lookup_segments``: the size schema step 11 creates them with (its SQL, fixed)."""


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


WALK_SLACK = 4
"""How many times the expected number of newest papers a walk may test before falling back to the index."""

WINDOW_SLACK = 2
"""How many times ``limit`` matches a window of the newest papers is sized to hold, by the estimate."""

WIDEN = 2
"""The least a window grows when the last one held fewer than ``limit`` matches (see :func:`wider`)."""

# What each way costs, in microseconds, measured on a million-paper archive (warm cache, 2-core
# AMD EPYC, PostgreSQL 15): testing one paper's vector in a walk; one posting of the GIN index
# read into a bitmap, and each query word's lookup in it; one matching row fetched from the table.
WALK_ROW_US = 5.0
GIN_ITEM_US = 0.4
GIN_WORD_US = 1000.0
HEAP_ROW_US = 10.0
AND_SKIP = 0.6
"""An AND's postings read, per posting of its rarest branch: measured 0.35-0.75 over two- and three-word ANDs."""


@dataclass(frozen=True)
class Route:
    """How :func:`candidates` reads a query's newest matches: ``walk`` newest papers, else a ``window``, else all."""

    walk: int = 0
    window: int = 0


def postings(match: str, docs: dict[str, int]) -> tuple[float, int]:
    """Return (postings the GIN index reads for ``match``, words looked up), from each word's paper count.

    An OR reads every branch's postings. An AND is driven by its rarest branch: GIN's fast scan
    skips through the others' posting trees to the rare one's items (``"data" AND "models"``
    costs what 0.6 of the 83,000 postings of "data" would, not the 252,000 of "models").
    """
    tokens = _tokens(match)
    pos = 0

    def either() -> float:
        nonlocal pos
        found = both()
        while pos < len(tokens) and tokens[pos] == ("op", "OR"):
            pos += 1
            found += both()
        return found

    def both() -> float:
        nonlocal pos
        branches = [one()]
        while pos < len(tokens) and tokens[pos] == ("op", "AND"):
            pos += 1
            branches.append(one())
        return branches[0] if len(branches) == 1 else AND_SKIP * min(branches)

    def one() -> float:
        nonlocal pos
        kind, text = tokens[pos]
        pos += 1
        if kind == "word":
            return float(docs.get(text, 0))
        found = either()  # "(" … ")"
        pos += 1
        return found

    return (either() if tokens else 0.0), sum(kind == "word" for kind, _ in tokens)


def route(match: str, docs: dict[str, int], total: int, limit: int) -> Route:
    """Choose the cheapest way to the newest ``limit`` matches of ``match`` among ``total`` papers.

    * a **walk** tests the newest papers one by one until ``limit`` match: about ``limit / share``
      papers, each a vector test (cheap per row only when matches are dense);
    * the **index** reads the query words' postings (:func:`postings`) and fetches every matching
      row from the table (``HEAP_ROW_US`` each: the dearest part when a word is in thousands of papers);
    * a **window** is the index restricted to the newest ``window`` papers, sized to hold
      ``WINDOW_SLACK * limit`` matches: the index's work, postings and rows, in only the
      segments it reaches into (:func:`segment_share`).

    ``docs`` should count every word: the vocabulary's, else the planner's (:func:`lexeme_shares`).
    """
    found = share(match, docs, total)
    if found <= 0 or total <= 0:
        return Route()
    read, looked_up = postings(match, docs)
    gin_us = GIN_ITEM_US * read + GIN_WORD_US * looked_up
    walk = min(total, math.ceil(limit / found))
    window = math.ceil(WINDOW_SLACK * limit / found)
    index = gin_us + HEAP_ROW_US * found * total
    costs = {
        Route(): index,
        Route(walk=min(total, math.ceil(WALK_SLACK * limit / found))): WALK_ROW_US * walk,
    }
    if window < total:
        # Each segment reached is read whole, postings and matching rows (the rowid bound only
        # filters the rows fetched), so a window costs the index's share of those segments.
        costs[Route(window=window)] = index * segment_share(window, total)
    return min(costs, key=costs.__getitem__)


def wider(window: int, found: int, limit: int) -> int:
    """Return the window to try after one of ``window`` papers held ``found`` of ``limit`` matches (0: none).

    Sized by the density the window showed (``WINDOW_SLACK`` times what it suggests, at least
    ``WIDEN`` times larger), not by a fixed factor: a probe that held 227 of 300 grows to 2.6
    times itself, one that held 19 to 32 times, past a million-paper archive, so the whole index
    answers next. None held: the words are rarer than one in a window, and the whole index is
    cheaper than any window (0).
    """
    if found <= 0:
        return 0
    return max(WIDEN * window, math.ceil(window * WINDOW_SLACK * limit / found))


def segment_share(window: int, newest: int) -> float:
    """Return the share of the archive's postings a window of the newest ``window`` rowids reads.

    Partition pruning skips the segments wholly older than the window; each segment it reaches
    into is read whole (its GIN index knows nothing of rowid order), so the window is rounded
    down to a segment's start.
    """
    if newest <= 0:
        return 1.0
    start = max(0, newest - window) // SEGMENT * SEGMENT
    return min(1.0, (newest - start) / newest)


async def candidates(store: PostgresStore, index: str, match: str, *, limit: int) -> list[int]:
    """Return the rowids of the newest ``limit`` papers matching ``match`` in ``index`` (see :func:`route`)."""
    query = tsquery(match, index)
    if index == "lookup_fts":
        way, newest = await _route(store, match, limit)
        found: list[int] = []
        if way.walk:
            # The newest `walk` papers, tested in rowid order until `limit` match: a subquery with
            # a LIMIT of its own is not flattened, so the planner cannot swap the walk for the GIN index.
            sql = (
                "SELECT rowid FROM (SELECT rowid, lookup_vec FROM lookup_segments ORDER BY rowid DESC LIMIT %s)"
                " AS newest WHERE lookup_vec @@ %s::tsquery ORDER BY rowid DESC LIMIT %s"
            )
            found = [int(r[0]) for r in await store.fetchall(sql, (way.walk, query, limit))]
        window = way.window
        while window and window < newest and len(found) < limit:
            found = await _window(store, query, newest - window, limit)
            window = wider(window, len(found), limit)
        if len(found) == limit:  # (fewer: the estimate was wrong; the whole index answers)
            return found
        table, column = "lookup_segments", "lookup_vec"
    else:
        table, column = "papers", "search_vec"
    # MATERIALIZED: always through the GIN index. Left to itself the planner may walk the primary
    # key newest first and test every row until LIMIT matches turn up: for a rare or absent word,
    # that reads the whole table.
    sql = (
        f"WITH m AS MATERIALIZED (SELECT rowid FROM {table} WHERE {column} @@ %s::tsquery)"
        " SELECT rowid FROM m ORDER BY rowid DESC LIMIT %s"
    )
    return [int(r[0]) for r in await store.fetchall(sql, (query, limit))]


async def _window(store: PostgresStore, query: str, after: int, limit: int) -> list[int]:
    """Return the newest ``limit`` matches of ``query`` among papers with a rowid above ``after``.

    Only the segments holding rowids above ``after`` are read (partition pruning), each through
    its GIN index: plain index and sequential scans are off for this one statement. The planner
    costs a vector test as cheap as a comparison, so it would rather test every row of a small
    segment (17,000 rows: 55 ms) or walk the primary key than read the bitmap (3 ms). OFFSET 0
    keeps the ORDER BY … LIMIT outside, so the bitmap is not traded for an ordered scan either.
    """
    sql = (
        "SELECT rowid FROM (SELECT rowid FROM lookup_segments WHERE lookup_vec @@ %s::tsquery AND rowid > %s"
        " OFFSET 0) AS newest ORDER BY rowid DESC LIMIT %s"
    )
    async with store.transaction() as conn:
        await conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = off")  # one round trip
        cur = await conn.execute(sql, (query, after, limit))
        return [int(r[0]) for r in await cur.fetchall()]


async def _route(store: PostgresStore, match: str, limit: int) -> tuple[Route, int]:
    """Return the :func:`route` of ``match`` from the vocabulary's counts, and the newest rowid."""
    names = [text for kind, text in _tokens(match) if kind == "word"]
    sql = (  # one row at least, even when the vocabulary counts none of the words
        "SELECT newest, term, docs FROM (SELECT coalesce(max(rowid), 0) AS newest FROM papers) AS archive"
        " LEFT JOIN lookup_terms ON term = ANY(%s)"
    )
    rows = await store.fetchall(sql, (names,))
    newest = int(rows[0][0])
    docs = {str(r[1]): int(r[2]) for r in rows if r[1] is not None}
    if uncounted := [name for name in names if name not in docs]:
        shares, rest = await lexeme_shares(store)
        docs.update((name, round(shares.get(name, rest) * newest)) for name in uncounted)
    return route(match, docs, newest, limit), newest


async def lexeme_shares(store: PostgresStore) -> tuple[dict[str, float], float]:
    """Return the planner's share of papers for the commonest lookup words, and a share for any other.

    The vocabulary counts title, author and keyword words, not the grams of unspaced scripts
    (Korean summaries) nor words it never saw: taken as rare, a gram pair in 9% of the papers
    was read from every segment (200 ms at a million). ``ANALYZE`` keeps the commonest 1,000
    lexemes of ``lookup_segments`` with their shares; any other is given half the least of them,
    as PostgreSQL's own estimate for a ``tsquery`` does. Read once per connection; no statistics
    yet (a new database) is no estimate, and the whole index answers.
    """
    if store.lexeme_shares is None:
        sql = (
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
            " WHERE schemaname = current_schema() AND tablename = 'lookup_segments' AND attname = 'lookup_vec'"
            " AND inherited"
        )
        rows = await store.fetchall(sql)
        elems, freqs = (rows[0][0] or [], rows[0][1] or []) if rows else ([], [])
        # The frequencies go on past the elements: their least, greatest and the share of empty vectors.
        shares = {str(e): float(f) for e, f in zip(elems, freqs, strict=False)}
        store.lexeme_shares = (shares, min(shares.values()) / 2 if shares else 0.0)
    return store.lexeme_shares


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
