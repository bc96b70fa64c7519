"""The ``/paper`` lookup: find the paper a person means, or say plainly that the archive has none.

A query is an arXiv id or a link in any common form (see :func:`reference_in`), or words: title
words in any order, author names, keywords, words of the stored summaries or abstract, the last
word possibly half-typed, Hangul or CJK words possibly only the start or middle of an indexed
word, and words with typos. Words go through a few bounded index queries (each reads at most
CANDIDATES rowids, newest first, so no query grows with the archive); the candidates are then
scored in Python by where each query word was found (title > authors > keywords > summary or
abstract). A candidate *matches* only when every word (all but one, from four words up) was found
and its score reaches MATCH_SCORE; otherwise the answer is "No paper found", at most with the
closest titles clearly labelled as such. Words that are in no title, author or keyword are
corrected against the archive's own vocabulary (edit distance 1, or 2 for long words) and the
search runs again; the answer says which correction it used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from digestbot import metrics
from digestbot.blocks import Context, Message, Paragraph
from digestbot.errors import CommandError
from digestbot.formatter import format_notice, format_paper
from digestbot.labels import Labels
from digestbot.records import Paper, normalize_arxiv_id
from digestbot.search_text import MAX_GRAM, STOPWORDS, fold, is_unspaced, spaced, words
from digestbot.store.protocol import StoreProtocol
from digestbot.store.search import (
    Index,
    SearchRow,
    candidates,
    near_terms,
    search_rows,
    term_docs,
    terms_starting,
)
from digestbot.text import one_line, truncate

Localize = Callable[[Paper], Awaitable[Paper]]
"""Give a paper its summary in the asking channel's language (see :func:`digestbot.summaries.paper_localizer`)."""

log = logging.getLogger(__name__)

MAX_QUERY = 300
MAX_TERMS = 12
CANDIDATES = 300
"""Newest matches read per index query, then scored: bounds the work for very common words."""

PREFIX_EXPANSIONS = 24
"""Most frequent completions a half-typed last word stands for (what an autocomplete list shows)."""

MATCH_SCORE = 0.45
"""Least score that counts as a match; chosen on the judged query set in tests/test_lookup_judged.py."""

BODY_CANDIDATES = 100
"""Newest abstract/summary matches read: they rank below any title, author or keyword match."""

STRONG = 0.9
"""A match this good (every word in a title, author or keyword) ends the search: later stages rank lower."""

CORRECTION_SCAN = 3000
"""Most frequent vocabulary words per range compared with a misspelt word (bounds a huge vocabulary)."""

CLOSEST = 3
"""Titles shown, clearly labelled, when nothing matched."""

TIE = 0.05
"""Scores this close are a near-tie, broken by votes and then recency."""

# How much finding a query word in each place is worth (a title word is what people remember).
W_TITLE, W_AUTHOR, W_KEYWORD, W_GRAMS, W_BODY = 1.0, 0.9, 0.8, 0.7, 0.5
W_CORRECTED = 0.9
"""Factor for a word found only after typo correction."""

_LINK = re.compile(
    r"(?i)^(?P<lead>https?://|www\.)?(?:www\.)?(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})(?::\d+)?(?P<path>/\S*)?$"
)
_ID_IN_PATH = re.compile(
    r"(?i)(?:^|/)(?:arxiv:)?(?P<id>\d{4}\.\d{4,5}(?:v\d+)?|[a-z]+(?:-[a-z]+)*(?:\.[a-z]{2})?/\d{7}(?:v\d+)?)"
    r"(?:\.pdf)?(?=$|[/?#])"
)
_PAPER_HOSTS = (
    "arxiv.org",
    "huggingface.co",
    "hf.co",
    "alphaxiv.org",
    "ar5iv.org",
    "scirate.com",
    "paperswithcode.com",
)
"""Sites whose paper links carry the arXiv id plainly in the path (any subdomain; any host with "xiv" too)."""


@dataclass(frozen=True, kw_only=True)
class LookupResult:
    """The answer to a lookup: the best match (if any), other matches, or the closest non-matches.

    ``how``: ``id`` or ``url`` (exact), ``words``, ``typo`` (found after ``correction``), or ``none``.
    ``closest`` is only set when nothing matched: titles that share some words, never an answer.
    """

    query: str
    best: Paper | None
    others: tuple[Paper, ...] = ()
    how: str = "none"
    score: float = 0.0
    other_scores: tuple[float, ...] = ()
    correction: str | None = None
    closest: tuple[Paper, ...] = ()


# -- ids and links ---------------------------------------------------------------------------------


def reference_in(text: str) -> tuple[str, str] | None:
    """Return ("id" | "url", arXiv id) when ``text`` is an id or a paper link; None when it is words.

    Accepts ``2410.05265``, ``arXiv:2410.05265v2``, ``hep-th/9901001``, and links with or without
    scheme or ``www.``: ``arxiv.org/abs|pdf|html/ID[vN][.pdf]``, ``huggingface.co/papers/ID``,
    mirrors that keep the id plain in the path (alphaxiv, ar5iv, …). Raises CommandError for a
    link to any other site, or a paper site's link without an id.
    """
    if (arxiv_id := normalize_arxiv_id(text)) is not None:
        return "id", arxiv_id
    link = _LINK.match(text.strip())
    if link is None or not (link["path"] or link["lead"]):
        return None  # "node.js" is a word, "node.js/x" or "https://node.js" a link
    host = link["host"].lower()
    if not (any(host == h or host.endswith("." + h) for h in _PAPER_HOSTS) or "xiv" in host):
        raise CommandError("That link is not an arXiv or Hugging Face paper link.")
    for m in _ID_IN_PATH.finditer(link["path"] or ""):
        if (arxiv_id := normalize_arxiv_id(re.sub(r"V(?=\d+$)", "v", m["id"]))) is not None:
            return "url", arxiv_id
    raise CommandError("That link names no arXiv paper (expected an id such as 2410.05265 in it).")


# -- typo correction -------------------------------------------------------------------------------


def edit_distance(a: str, b: str, limit: int) -> int:
    """Return the Damerau (adjacent transposition) edit distance of ``a`` and ``b``, or limit+1 if over ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    start = 0  # a shared start and end cost nothing: compare only the differing middles
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    a, b = a[start:], b[start:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    if not a or not b:
        return min(len(a) + len(b), limit + 1)
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def allowed_edits(word: str) -> int:
    """Return how many edits a typo of ``word`` may have: none under 4 letters, 1 up to 7, then 2."""
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


def _bigrams(word: str) -> set[str]:
    return {word[i : i + 2] for i in range(len(word) - 1)}


async def corrections(store: StoreProtocol, word: str, *, keep: int = 3) -> list[str]:
    """Return the archive's words within ``allowed_edits`` of ``word``: nearest first, then most frequent.

    Several are kept because the most frequent near word is not always the meant one ("agentc":
    agent or agentic?); the search decides between them.
    """
    limit = allowed_edits(word)
    if not limit:
        return []
    grams = _bigrams(word)
    # Within `limit` edits two words share all but 3*limit of the bigrams (q-gram lemma; 3 for a
    # swap): a set intersection rules most candidates out before the quadratic distance.
    need = len(grams) - 3 * limit
    near = await near_terms(store, word, edits=limit, limit=CORRECTION_SCAN)
    # Most typos are one edit, which a linear comparison finds; the dynamic programme runs only
    # when none is one edit away (two edits, long words).
    found: dict[str, tuple[int, int]] = {t: (1, -d) for t, d in near if t != word and _one_edit(word, t)}
    if not found and limit > 1:
        for term, docs in near:
            if term != word and len(grams & _bigrams(term)) >= need and edit_distance(word, term, limit) <= limit:
                found[term] = (2, -docs)
    return sorted(found, key=lambda t: found[t])[:keep]


def _one_edit(a: str, b: str) -> bool:
    """Tell whether ``b`` is ``a`` with one letter dropped, added, changed, or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) > len(b):
        return a[i + 1 :] == b[i:]
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :])


# -- word search -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Term:
    """One query word and the index words it stands for."""

    word: str
    forms: tuple[str, ...]  # exact index words (the word itself, its completions if half-typed)
    grams: bool = False  # an unspaced-script word: matched as a substring via grams_text
    prefix: bool = False  # the last word: may be half-typed (then every form starts with it)
    corrected: bool = False
    open_ended: bool = False  # a half-typed word with more completions than PREFIX_EXPANSIONS

    def expression(self, index: Index) -> str:
        """Return this word's FTS5 expression (index words quoted: user text never becomes FTS syntax)."""
        if self.grams:  # pieces of unspaced words are indexed whole, up to MAX_GRAM letters
            return f'"{self.word[:MAX_GRAM]}"' if index == "lookup_fts" else f'"{self.word}"'
        forms = self.forms if index == "lookup_fts" else (self.word, *self.forms)
        quoted = [f'"{f}"' for f in dict.fromkeys(forms)]
        return quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"


async def _terms(store: StoreProtocol, words_: list[str]) -> list[_Term]:
    """Turn query words into terms; the last one also stands for its most frequent completions."""
    out = []
    for i, word in enumerate(words_):
        if is_unspaced(word):
            out.append(_Term(word=word, forms=(word,), grams=True, prefix=True))
            continue
        forms: tuple[str, ...] = (word,)
        found: list[tuple[str, int]] = []
        last = i == len(words_) - 1
        if last:
            found = await terms_starting(store, word, min_len=len(word), max_len=999, limit=PREFIX_EXPANSIONS + 1)
            forms = tuple(dict.fromkeys([word, *(t for t, _ in found[:PREFIX_EXPANSIONS])]))
        out.append(_Term(word=word, forms=forms, prefix=last, open_ended=last and len(found) > PREFIX_EXPANSIONS))
    return out


def _expression(terms: list[_Term], index: Index) -> str:
    return " AND ".join(t.expression(index) for t in terms)


class _Fields:
    """A candidate's title, authors and keywords as :func:`spaced` lines, made once per row and lookup.

    A row is scored again after each search stage and in the typo retry; splitting its fields
    into word sets each time was most of the lookup's own CPU (8 ms of 300 candidates at 1M).
    """

    __slots__ = ("authors", "keywords", "row", "title")

    def __init__(self, row: SearchRow) -> None:
        self.row = row
        self.title, self.authors, self.keywords = spaced(row.title), spaced(row.authors_text), spaced(row.keywords_text)


def _found(term: _Term, line: str) -> bool:
    """Tell whether ``term`` is a word of the :func:`spaced` ``line``, or (half-typed) the start of one.

    A half-typed word's forms are itself and its completions, so "a word starts with it" covers them.
    """
    if term.prefix:
        return " " + term.word in line
    return any(f" {form} " in line for form in term.forms)


def _score(fields: _Fields, terms: list[_Term], body: set[int], run_together: str, phrase: str) -> tuple[float, float]:
    """Return (score, coverage) of one candidate: where each query word was found, weighted.

    ``run_together`` and ``phrase`` are the query's words run together and spaced (see
    :func:`_scored`; empty when they do not apply): the same for every candidate.
    """
    row = fields.row
    total, found = 0.0, 0
    for term in terms:
        if term.grams:
            got = W_TITLE if term.word in fold(row.title) else W_GRAMS if term.word in row.grams_text else 0.0
        elif _found(term, fields.title):
            got = W_TITLE
        elif _found(term, fields.authors):
            got = W_AUTHOR
        elif _found(term, fields.keywords):
            got = W_KEYWORD
        else:
            got = W_BODY if row.rowid in body else 0.0
        if got:
            total += got * (W_CORRECTED if term.corrected else 1.0)
            found += 1
    if run_together and run_together in fields.title:  # "prefix quant" -> PrefixQuant: all title words
        total, found = W_TITLE * len(terms), len(terms)
    score = total / len(terms)
    if phrase and phrase in fields.title:
        score += 0.1  # the words in the title's own order
    return score, found / len(terms)


def _needed(n: int) -> float:
    """Return the share of query words a match must contain: all, or all but one from four words up."""
    return 1.0 if n < 4 else (n - 1) / n


async def _search(
    store: StoreProtocol, terms: list[_Term], *, limit: int, fetched: dict[int, _Fields]
) -> list[tuple[float, float, SearchRow]]:
    """Return (score, coverage, row) for the candidates of ``terms``, best first.

    ``fetched`` holds the rows this lookup has read so far (the typo retry shares them).
    """
    short = await candidates(store, "lookup_fts", _expression(terms, "lookup_fts"), limit=CANDIDATES)
    found: dict[int, None] = dict.fromkeys(short)
    body: set[int] = set()
    first = await _scored(store, list(found), terms, body, fetched)
    if any(_is_match(s[0], s[1], len(terms)) and s[0] >= STRONG for s in first):
        return first  # every word in a title, author or keyword: the other stages could only rank lower
    if len(found) < limit and not all(t.grams for t in terms):  # unspaced words: summaries are in the grams
        body = set(await candidates(store, "body_fts", _expression(terms, "body_fts"), limit=BODY_CANDIDATES))
        found.update(dict.fromkeys(body))
    settled = [t for t in terms if not t.open_ended]
    if len(found) < limit and settled and len(settled) < len(terms):
        # "language mo": the paper's word may not be among the commonest completions of "mo";
        # take papers with the settled words, and let the score check the half-typed one.
        more = await candidates(store, "lookup_fts", _expression(settled, "lookup_fts"), limit=CANDIDATES)
        found.update(dict.fromkeys(more))
    joined = "".join(t.word for t in terms if not t.grams)
    if len(found) < limit and len(terms) > 1 and len(joined) >= 6:  # "prefix quant" -> PrefixQuant
        completions = await terms_starting(store, joined, min_len=len(joined), max_len=999, limit=PREFIX_EXPANSIONS)
        if completions:
            compact = _Term(word=joined, forms=tuple(t for t, _ in completions))
            found.update(
                dict.fromkeys(await candidates(store, "lookup_fts", compact.expression("lookup_fts"), limit=CANDIDATES))
            )
    if len(found) < limit and len(terms) >= 4:  # all but one word, in titles, authors and keywords
        for skip in range(len(terms)):
            rest = terms[:skip] + terms[skip + 1 :]
            more = await candidates(store, "lookup_fts", _expression(rest, "lookup_fts"), limit=CANDIDATES)
            found.update(dict.fromkeys(more))
    if not body and len(found) == len(first):
        return first  # no stage added a paper or a body match: the same rows, the same scores
    return await _scored(store, list(found), terms, body, fetched)


async def _scored(
    store: StoreProtocol,
    rowids: list[int],
    terms: list[_Term],
    body: set[int],
    fetched: dict[int, _Fields],
) -> list[tuple[float, float, SearchRow]]:
    """Return (score, coverage, row) for ``rowids``, best first, reading only the rows not in ``fetched``.

    The first stage's few hundred rows are scored again after the later stages (a body match
    changes a score), but read and split into words once: at a million papers a read of 300
    rows is 5-15 ms.
    """
    if missing := [r for r in rowids if r not in fetched]:
        fetched.update((row.rowid, _Fields(row)) for row in await search_rows(store, missing))
    several = len(terms) > 1
    run_together = "".join(t.word for t in terms)
    run_together = " " + run_together if several and len(run_together) >= 6 else ""
    phrase = " ".join(t.word for t in terms) if several else ""
    scored = [(*_score(fetched[r], terms, body, run_together, phrase), fetched[r].row) for r in rowids if r in fetched]
    scored.sort(key=_rank, reverse=True)
    return scored


def _rank(scored: tuple[float, float, SearchRow]) -> tuple[int, int, int]:
    """Order by score; votes and then recency only break near-ties (scores within TIE)."""
    return round(scored[0] / TIE), scored[2].votes, scored[2].rowid


def _is_match(score: float, coverage: float, n: int) -> bool:
    return coverage >= _needed(n) - 1e-9 and score >= MATCH_SCORE


async def _corrected(store: StoreProtocol, terms: list[_Term]) -> list[_Term] | None:
    """Return the terms with words unknown to the vocabulary standing for their corrections; None if none."""
    known = await term_docs(store, [t.word for t in terms if not t.grams])
    out: list[_Term] = []
    for term in terms:
        fixes = []
        # A half-typed last word already has its completions (forms) from _terms: no second read.
        if not (term.grams or term.word in known or (term.prefix and len(term.forms) > 1)):
            fixes = await corrections(store, term.word)
        out.append(_Term(word=fixes[0], forms=tuple(fixes), corrected=True) if fixes else term)
    return out if any(t.corrected for t in out) else None


def _correction_text(terms: list[_Term], row: SearchRow) -> str:
    """Return the corrected query as the best match spells it (the correction found in it, else the likeliest)."""
    present = set(words(f"{row.title} {row.authors_text} {row.keywords_text}"))
    out = []
    for term in terms:
        found = [f for f in term.forms if f in present] if term.corrected else []
        out.append(found[0] if found else term.word)
    return " ".join(out)


async def search_words(store: StoreProtocol, text: str, *, limit: int) -> LookupResult:
    """Answer a words query: matches best first, or closest non-matches; typo-corrected when that does better."""
    all_words = words(text)[:MAX_TERMS]
    content = [w for w in all_words if w not in STOPWORDS] or all_words
    terms = await _terms(store, content)
    fetched: dict[int, _Fields] = {}  # rows read once, scored again after each stage
    scored = await _search(store, terms, limit=limit, fetched=fetched)
    how, correction = "words", None
    matched = [s for s in scored if _is_match(s[0], s[1], len(terms))]
    if not matched or matched[0][0] < STRONG:
        fixed = await _corrected(store, terms)
        if fixed is not None:
            retry = await _search(store, fixed, limit=limit, fetched=fetched)
            retry_matched = [s for s in retry if _is_match(s[0], s[1], len(terms))]
            if retry_matched and (not matched or retry_matched[0][0] > matched[0][0]):
                scored, matched, how = retry, retry_matched, "typo"
                correction = _correction_text(fixed, retry_matched[0][2])
    if not matched:
        if not scored:  # titles sharing any word, to show as "closest" (never as the answer)
            any_word = " OR ".join(t.expression("lookup_fts") for t in terms)
            rowids = await candidates(store, "lookup_fts", any_word, limit=CANDIDATES)
            scored = await _scored(store, rowids, terms, set(), fetched)
        partial = [s for s in scored if s[1] > 0][:CLOSEST]
        closest = await store.get_papers_by_rowid([s[2].rowid for s in partial])
        return LookupResult(query=text, best=None, closest=tuple(closest))
    top = matched[:limit]
    papers = await store.get_papers_by_rowid([s[2].rowid for s in top])
    return LookupResult(
        query=text,
        best=papers[0],
        others=tuple(papers[1:]),
        how=how,
        score=round(top[0][0], 3),
        other_scores=tuple(round(s[0], 3) for s in top[1:]),
        correction=correction,
    )


async def lookup(store: StoreProtocol, query: str, *, limit: int = 5) -> LookupResult:
    """Answer a ``/paper`` query; raise CommandError when the query itself is unusable."""
    text = one_line(query)
    if not text:
        raise CommandError("Give an arXiv id (2410.05265), an arXiv or Hugging Face link, or words from the title.")
    if len(text) > MAX_QUERY:
        raise CommandError(f"That query is {len(text)} characters long; the limit is {MAX_QUERY}.")
    if (reference := reference_in(text)) is not None:
        how, arxiv_id = reference
        paper = await store.get_paper(arxiv_id)
        return LookupResult(query=text, best=paper, how=how if paper else "none", score=1.0 if paper else 0.0)
    if not words(text):
        raise CommandError("Give an arXiv id, a link, or words from the title (letters or digits).")
    return await search_words(store, text, limit=limit)


def result_json(result: LookupResult) -> dict[str, object]:
    """Return the structured answer ``lookup --json`` prints: best match with score, others, correction."""

    def record(paper: Paper, score: float | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "arxiv_id": paper.arxiv_id,
            "title": paper.title,
            "authors": list(paper.authors),
            "url": paper.arxiv_url,
            "votes": paper.votes,
            "digest_date": paper.digest_date.isoformat() if paper.digest_date else None,
        }
        if score is not None:
            out["score"] = score
        return out

    return {
        "query": result.query,
        "found": result.best is not None,
        "how": result.how,
        "correction": result.correction,
        "best": record(result.best, result.score) if result.best else None,
        "others": [record(p, s) for p, s in zip(result.others, result.other_scores, strict=False)],
        "closest_titles": [record(p) for p in result.closest],
    }


async def answer_paper(
    store: StoreProtocol, labels: Labels, query: str, *, localize: Localize | None = None
) -> Message:
    """Return the ``/paper`` reply every adapter shows: the best card (+ others), or a no-match notice.

    ``localize`` gives the card the summary in the asking channel's language. Raises
    CommandError for an unusable query; adapters show its text to the user.
    """
    with metrics.lookup_timer():
        result = await lookup(store, query)
    return message_for(await localized(result, localize), labels)


async def localized(result: LookupResult, localize: Localize | None) -> LookupResult:
    """Return ``result`` with its best match's summary in the asking channel's language (if ``localize``)."""
    if localize is None or result.best is None:
        return result
    return replace(result, best=await localize(result.best))


def message_for(result: LookupResult, labels: Labels) -> Message:
    """Return the reply for a lookup result: the correction used is said first, closest titles are labelled."""
    if result.best is None:
        text = labels.no_match.format(query=truncate(result.query, 80))
        if not result.closest:
            return format_notice(text, kind="reply")
        lines = [f"{p.arxiv_id} — {truncate(one_line(p.title), 120)}" for p in result.closest]
        notice = format_notice(text, kind="reply")
        return Message(
            blocks=(*notice.blocks, Context(parts=(labels.closest_titles + ":", *lines))),
            fallback=notice.fallback,
            kind="reply",
        )
    message = format_paper(result.best, labels, others=result.others)
    if result.correction is None:
        return message
    note = Paragraph(text=f"{labels.showing_results_for}: {truncate(result.correction, 80)}")
    return Message(blocks=(note, *message.blocks), fallback=message.fallback, kind=message.kind, key=message.key)
