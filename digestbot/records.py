"""Typed records shared by every part of digestbot: a paper, a digest, and arXiv ids.

A :class:`Paper` is the same whatever source it came from (Markdown digest, Hugging Face API,
JSON/YAML file); fields a source does not know stay empty, and fields digestbot does not know
are kept in ``extra`` instead of being dropped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digestbot.periods import Period

ARXIV_ABS = "https://arxiv.org/abs/"
HF_PAPERS = "https://huggingface.co/papers/"

_NEW_ID = re.compile(r"(?P<id>\d{4}\.\d{4,5})(?:v\d+)?", re.ASCII)
_OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)*)(?P<subject>\.[A-Za-z]{2})?/(?P<num>\d{7})(?:v\d+)?",
    re.ASCII | re.IGNORECASE,
)


def normalize_arxiv_id(text: str) -> str | None:
    """Return the versionless arXiv id in ``text`` (``2410.05265``, ``hep-th/9901001``), or None.

    Accepts an optional ``arXiv:`` prefix and a ``vN`` suffix; the whole string must be an id,
    so a title that merely contains digits is not mistaken for one.
    """
    candidate = text.strip()
    if candidate[:6].lower() == "arxiv:":
        candidate = candidate[6:].strip()
    if m := _NEW_ID.fullmatch(candidate):
        # arXiv ids since 2015-01 (YYMM 1501) have five digits after the dot, earlier ones four.
        yymm, number = m["id"].split(".")
        return m["id"] if (len(number) == 5) == (yymm >= "1501") else None
    if m := _OLD_ID.fullmatch(candidate):
        subject = m["subject"] or ""
        if subject:
            subject = "." + subject[1:].upper()
        return f"{m['archive'].lower()}{subject}/{m['num']}"
    return None


# Bounds on what one paper may carry, whatever its source (file or API): far above any real paper,
# low enough that a runaway or hostile input cannot bloat the archive or the memory of its readers.
MAX_TITLE = 2_000
MAX_TEXT = 100_000  # an abstract, an AI summary, one section
MAX_NAME = 1_000  # one author, keyword or section heading
MAX_AUTHORS = 5_000
MAX_KEYWORDS = 500
MAX_SECTIONS = 100
MAX_EXTRA_BYTES = 256 * 1024  # Paper.extra, as UTF-8 JSON
MAX_DEPTH = 32  # nesting of one decoded JSON/YAML document
INT64 = (-(2**63), 2**63 - 1)  # what SQLite's INTEGER holds


def oversize(paper: Paper) -> str | None:
    """Return what is beyond the bounds in ``paper`` (``title too large (5,000 > 2,000)``), or None."""
    counts = [
        ("authors", len(paper.authors), MAX_AUTHORS),
        ("keywords", len(paper.keywords), MAX_KEYWORDS),
        ("sections", len(paper.sections), MAX_SECTIONS),
    ]
    for kind, count, most in counts:  # counted in items, not characters
        if count > most:
            return f"too many {kind} ({count:,} > {most:,})"
    checks: list[tuple[str, int, int]] = [
        ("title", len(paper.title), MAX_TITLE),
        ("abstract", len(paper.abstract), MAX_TEXT),
        ("ai_summary", len(paper.ai_summary), MAX_TEXT),
    ]
    checks += [(f"sections[{label[:40]!r}]", len(text), MAX_TEXT) for label, text in paper.sections]
    names = [("authors", a) for a in paper.authors] + [("keywords", k) for k in paper.keywords]
    names += [("sections", label) for label, _ in paper.sections]
    checks += [(f"{kind}[{value[:40]!r}]", len(value), MAX_NAME) for kind, value in names]
    for field_name, size, cap in checks:
        if size > cap:
            return f"{field_name} too large ({size:,} > {cap:,} characters)"
    size = len(json.dumps(dict(paper.extra), ensure_ascii=False, default=str).encode("utf-8", "replace"))
    if size > MAX_EXTRA_BYTES:
        return f"extra fields too large ({size:,} > {MAX_EXTRA_BYTES:,} bytes as JSON)"
    return None


def json_problem(document: object, root: str = "$") -> tuple[str, str] | None:
    """Return (JSON path, what is wrong) for the first value of a decoded document the archive cannot hold.

    Refused: nesting deeper than :data:`MAX_DEPTH`, NaN and infinities, integers beyond 64 bits,
    text with lone surrogates (not UTF-8 encodable), mapping keys that are neither text nor a
    number (a YAML date as a key, which JSON cannot store), and the YAML types JSON has no
    equivalent for (``!!set``, whose stored text would vary in order, and ``!!binary``). YAML
    timestamps as values are kept and stored as their text, like dates. The walk
    is iterative, so a hostile document cannot exhaust the stack here.
    """
    stack: list[tuple[object, str, int]] = [(document, root, 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path, f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                return path, f"{value} is not a number JSON allows"
        elif isinstance(value, int):
            if not INT64[0] <= value <= INT64[1]:
                return path, f"integer beyond 64 bits ({_digits(value)})"
        elif isinstance(value, str):
            if problem := _text_problem(value):
                return path, problem
        elif isinstance(value, Mapping):
            for key, item in reversed(list(value.items())):
                if isinstance(key, int | float | bool) or key is None:
                    key = str(key)  # stored as JSON text, as json.dumps writes such keys
                if not isinstance(key, str):
                    return f"{path}.{key!s:.40}", f"a key must be text or a number, got {type(key).__name__}"
                if problem := _text_problem(key):
                    return f"{path}.{key.encode('utf-8', 'replace').decode()[:40]}", f"key {problem}"
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, bytes | bytearray):
            return path, "binary data (YAML !!binary) is not accepted: give text"
        elif isinstance(value, set | frozenset):
            return path, "a set (YAML !!set) is not accepted: give a list"
        elif isinstance(value, Sequence):
            items = list(value)
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in reversed(list(enumerate(items))))
    return None


class LongInt(int):
    """Stands for an integer literal too long to convert (Python refuses over 4,300 digits).

    Its value is just beyond 64 bits, so :func:`json_problem` refuses it with the literal's
    length, naming the place, instead of a ``ValueError`` traceback from the decoder.
    """

    digits: int

    @classmethod
    def of(cls, digits: int) -> LongInt:
        """Return the stand-in for a literal of ``digits`` digits."""
        made = cls(INT64[1] + 1)
        made.digits = digits
        return made


MAX_INT_LITERAL = 20
"""Digits a decimal literal may have before it is not converted (2**64 has 20)."""


def parse_int_literal(text: str) -> int:
    """Convert a decimal literal, or return a :class:`LongInt` for one far beyond 64 bits (cheaply)."""
    digits = len(text.lstrip("+-").replace("_", "").lstrip("0"))
    return LongInt.of(digits) if digits > MAX_INT_LITERAL else int(text)


def load_json(text: str, *, pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """``json.loads`` that never raises ValueError for a huge integer (see :class:`LongInt`).

    ``pairs_hook`` builds each object (``object_pairs_hook``): user files pass one refusing duplicate keys.
    """
    return json.loads(text, parse_int=parse_int_literal, object_pairs_hook=pairs_hook)


def _digits(value: int) -> str:
    """Say how long an integer is without converting a huge one to text (which Python refuses)."""
    if isinstance(value, LongInt):
        return f"{value.digits:,} digits"
    if value.bit_length() <= 10_000:
        return f"{len(str(abs(value))):,} digits"
    return f"about {int(value.bit_length() * math.log10(2)) + 1:,} digits"


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"text with a lone surrogate (U+{ord(text[err.start]):04X} at character {err.start})"
    return None


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, kw_only=True)
class Paper:
    """One paper, whatever source it came from.

    ``sections`` keeps a source's own summary headings in order (e.g. "What's New",
    "Technical Details", "Performance Highlights"); ``ai_summary`` and ``abstract`` are the
    fall-backs when a source has no sections.
    """

    arxiv_id: str
    title: str
    authors: tuple[str, ...] = ()
    abstract: str = ""
    sections: tuple[tuple[str, str], ...] = ()
    ai_summary: str = ""
    keywords: tuple[str, ...] = ()
    votes: int | None = None
    thumbnail: str | None = None
    github_url: str | None = None
    digest_date: date | None = None
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", _frozen(self.extra))

    @property
    def arxiv_url(self) -> str:
        """Link to the paper's arXiv abstract page."""
        return ARXIV_ABS + self.arxiv_id

    @property
    def hf_url(self) -> str:
        """Link to the paper's Hugging Face papers page."""
        return HF_PAPERS + self.arxiv_id

    @property
    def links(self) -> dict[str, str]:
        """Every known link, by kind (``arxiv``, ``huggingface``, ``github``)."""
        out = {"arxiv": self.arxiv_url, "huggingface": self.hf_url}
        if self.github_url:
            out["github"] = self.github_url
        return out

    def summary_sections(self) -> tuple[tuple[str, str], ...]:
        """Return what to show as the summary: the sections, else the AI summary, else the abstract."""
        if self.sections:
            return self.sections
        if self.ai_summary:
            return (("AI summary", self.ai_summary),)
        if self.abstract:
            return (("Abstract", self.abstract),)
        return ()

    def merged_with(self, newer: Paper) -> Paper:
        """Return this paper enriched by ``newer``: a later source fills and updates, never wipes.

        Non-empty values of ``newer`` win; empty ones keep what was known. ``extra`` is merged
        key by key. A value that is only the start of the known one (a summary cut off mid-word,
        the first sections or authors of the known ones) keeps the known one: that is what a
        truncated copy of a digest file looks like, and taking it would lose text for good.
        """
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("arxiv_id", "extra"):
                continue
            value = getattr(newer, f.name)
            if value not in (None, "", ()) and not _cut_short(value, getattr(self, f.name)):
                changes[f.name] = value
        changes["extra"] = {**self.extra, **newer.extra}
        return dataclasses.replace(self, **changes)


def storable(paper: Paper) -> Paper:
    """Return ``paper`` without the NUL characters PostgreSQL text and JSONB cannot hold, in every string.

    Titles lose theirs in the sources' whitespace clean-up, but ``extra`` keeps a source's values
    as they came; a single NUL there (keys or values, at any depth) made a PostgreSQL ingest or
    ``db copy`` fail for good. SQLite holds them, so an older archive may too. Returns ``paper``
    itself when it holds none (the common case, and cheap to tell).
    """
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(paper):
        value = getattr(paper, f.name)
        cleaned = storable_value(dict(value) if f.name == "extra" else value)
        if cleaned != value:
            changes[f.name] = cleaned
    return dataclasses.replace(paper, **changes) if changes else paper


def storable_value(value: Any) -> Any:
    """Return ``value`` with NUL removed from its strings: mapping keys and values, list and tuple items."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, Mapping):
        return {storable_value(k): storable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(storable_value(v) for v in value)
    return value


def _cut_short(new: Any, old: Any) -> bool:
    """Tell whether ``new`` is ``old`` cut short: the start of a text, or of a tuple (its last item maybe cut too)."""
    if isinstance(new, str) and isinstance(old, str):
        return len(new) < len(old) and old.startswith(new)
    if isinstance(new, tuple) and isinstance(old, tuple) and new and len(new) <= len(old) and new != old:
        *whole, last = new
        return list(whole) == list(old[: len(whole)]) and (last == old[len(whole)] or _cut_short(last, old[len(whole)]))
    return False


@dataclass(frozen=True, kw_only=True)
class Digest:
    """The papers of one day (or of a week or month: ``period``), ranked (most votes first)."""

    date: date
    papers: tuple[Paper, ...]
    topic_filter: tuple[str, ...] = ()
    period: Period | None = None  # a weekly or monthly digest's period; None for a daily list
