"""Topic subscriptions: what a topic means, how it is parsed, and how text is split into words.

A **topic** is what a user subscribes to, e.g. ``diffusion -survey`` or
``"large language model" -"position paper"``. Its rules:

* **Terms.** Whitespace separates terms. A term is a word (``diffusion``) or a double-quoted
  phrase (``"large language model"``); smart quotes (``“…”``) typed on phones count as ``"``.
  A term starting with ``-`` is *excluded* (``-survey``, ``-"position paper"``).
* **Meaning.** A paper matches when *every* included term occurs in it (AND) and *no* excluded
  term occurs. A phrase occurs when its words appear adjacent and in that order. There is no
  OR, no wildcard and no user-supplied regex anywhere, so no input can make matching slow.
* **Case and width.** Topic and paper text are both NFKC-normalised and casefolded, so
  ``Diffusion``, ``DIFFUSION`` and full-width ``ＤＩＦＦＵＳＩＯＮ`` are the same word.
* **Words** (:func:`tokenize`). A word is a run of Unicode letters, digits and combining marks
  (so ``café``, ``हिन्दी``, ``70b`` are one word each); everything else (spaces, punctuation,
  ``@``, ``<!…>``, emoji, ``_``) only separates words. Three scripts are cut further:

  - *Hyphens separate words*: ``text-to-image`` is the three words ``text to image``. An unquoted
    hyphenated term therefore acts as a phrase, so the topic ``text-to-image`` matches both
    "text-to-image" and "text to image", and the topic ``image`` matches "text-to-image" too.
    The same holds for any term that splits into several words (``GPT-4o``, ``llama-3.1``).
  - *Han, Hiragana and Katakana* have no spaces between words, so every such character is a word
    of its own; a CJK topic such as ``大模型`` becomes a phrase of single characters, i.e. it
    matches where those characters appear in a row.
  - *Hangul* runs are cut off from any adjacent non-Hangul letters, because Korean attaches
    particles to whatever precedes them: "LLM의" is ``llm`` + ``의``, so the topic ``llm``
    matches Korean summaries that say "LLM의".

* **Korean particles.** Korean writes particles and endings onto the noun ("양자화를",
  "양자화의", "양자화에서"), so a topic word written in Hangul matches any Hangul word that *starts*
  with it: ``양자화`` matches "양자화를". Type the bare noun; the price is that a short noun also
  matches longer words that begin with it (``양자`` "quantum" also matches "양자화"
  "quantization"). Non-Hangul words match only whole words: ``llm`` does not match "llms".
* **Where.** Matching looks at a paper's title, abstract, each summary section's text,
  ``ai_summary`` and each keyword, as separate fields: a phrase never spans two fields (a title
  ending in "diffusion" and an abstract starting with "model" do not make "diffusion model").
  Within a field punctuation is ignored, so "diffusion. Model" does contain "diffusion model".
* **Meaningful words.** A topic must look for at least one word that is not a stopword (``the``,
  ``of``, ``with``, Korean particles such as ``의``) and not a lone Latin letter or digit: ``the``
  alone would match nearly every paper (a 150-message DM on a 600-paper day), and ``C++`` becomes
  the word ``c`` once symbols are dropped, which matches "Section C". Such topics are refused with
  a line saying why; stopwords *inside* a topic with another word are fine (``"state of the art"``).
* **Typed text.** :attr:`Topic.typed` keeps what the user wrote (cleaned: trimmed, spaces collapsed)
  for every reply and list; only matching and the stored key use the canonical form.
* **Canonical text.** :attr:`Topic.canonical` re-renders the parsed terms: single words bare,
  multi-word terms as ``"quoted phrases"``, included terms first and then the ``-`` excluded ones,
  each in the order typed, exact duplicates dropped. It is the stored key (``Diffusion`` and
  ``diffusion`` are one subscription), it never holds mentions or markup (``@everyone`` is just
  ``everyone``), and ``parse_topic(t.canonical) == t``. Both the typed text and the canonical text
  must fit in ``max_length``.

:func:`parse_topic` raises :class:`~digestbot.errors.CommandError` with a one-line message a chat
user can act on. Matching itself lives in :mod:`digestbot.matching`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from digestbot.errors import CommandError
from digestbot.records import Paper
from digestbot.text import UNPRINTABLE

MAX_TOPIC_LENGTH = 100
"""Default limit on a topic's length in characters (fits a chat command argument comfortably)."""

MAX_TERMS = 8
"""Most terms (included plus excluded) one topic may have; more is a query, not a topic."""

_STOPWORDS_TEXT = """a an and any are as at be been but by can do does for from has have how i if in into is it its
    more most new no not of on or our over so than that the their then there these they this those to
    toward towards under up us using use via vs was we were what when where which while who why will with
    without you your
    의 를 을 은 는 이 가 에 와 과 도 로 으로 에서 및 그 이런 저 것"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
"""Words too common to be a topic on their own (English function words, Korean particles)."""

Term = tuple[str, ...]
"""One term: the words of a single word (length 1) or of a phrase, already normalised."""

# Characters written without spaces between words: each one is a word of its own.
_CJK = (
    "\u2e80-\u2fdf"  # CJK and Kangxi radicals
    "\u3005-\u3007\u3021-\u3029\u3038-\u303b"  # 々〆〇, Hangzhou numerals
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han ideographs (BMP)
    "\U00020000-\U0003134f"  # Han ideographs (supplementary planes)
)
_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff"
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")

# Double quotes as typed by phone keyboards and other locales; NFKC already maps the full-width one.
_QUOTES = str.maketrans(dict.fromkeys("“”„‟″〃", '"'))
# One term of a topic: optional "-", then a quoted phrase or a run without spaces and quotes.
_TERM = re.compile(r'\s*(-?)(?:"([^"]*)"|([^\s"]+))')
# Bidirectional-text controls are format characters (Cf) that can make a topic display reversed.


def _class(lo: int, hi: int, skip: re.Pattern[str]) -> str:
    """Return a regex class body of the letters, digits and marks in ``[lo, hi)`` not matched by ``skip``."""
    spans: list[tuple[int, int]] = []
    for code in range(lo, hi):
        ch = chr(code)
        if unicodedata.category(ch)[0] in "LNM" and not skip.match(ch):
            if spans and spans[-1][1] == code - 1:
                spans[-1] = (spans[-1][0], code)
            else:
                spans.append((code, code))
    return "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in spans)


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    """Build the word regex once, on first use (scanning the Unicode tables takes ~50 ms)."""
    skip = re.compile(f"[{_CJK}{_HANGUL}]")
    # Two classes, because re tests a class of Basic Multilingual Plane characters in constant
    # time but walks a list of ranges for anything wider: the astral class (scripts beyond the
    # BMP and variation-selector marks) is only tried behind a cheap "is astral" look-ahead.
    # This keeps tokenising as fast as a plain [^\W_]+ (measured: 15 ms per 70k words).
    bmp = _class(0, 0x10000, skip)
    astral = _class(0x10000, 0x30000, skip) + _class(0xE0100, 0xE01F0, skip)
    guard = "(?=[\U00010000-\U0010ffff])"
    word = f"[{bmp}]+(?:{guard}[{astral}]+[{bmp}]*)*|{guard}[{astral}]+(?:[{bmp}]+|{guard}[{astral}]+)*"
    return re.compile(f"{word}|[{_HANGUL}]+|[{_CJK}]")


def normalize(text: str) -> str:
    """Return ``text`` NFKC-normalised and casefolded, the form every comparison uses."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokenize(text: str) -> list[str]:
    """Split ``text`` into normalised words, in order (see the module docstring for the rules)."""
    return _word_pattern().findall(normalize(text))


def is_hangul(word: str) -> bool:
    """Tell whether ``word`` (one token) is Hangul, i.e. matches as a prefix of paper words."""
    return bool(word) and _HANGUL_CHAR.match(word) is not None


def paper_fields(paper: Paper) -> Iterator[str]:
    """Yield every text of ``paper`` that topics are matched against, one field at a time."""
    yield paper.title
    yield paper.abstract
    for _heading, text in paper.sections:
        yield text
    yield paper.ai_summary
    yield from paper.keywords


@dataclass(frozen=True, kw_only=True)
class Topic:
    """A parsed topic: its canonical text (the stored key) and its included and excluded terms."""

    canonical: str
    include: tuple[Term, ...]
    exclude: tuple[Term, ...] = ()
    typed: str = field(default="", compare=False)
    """What the user wrote, for display ("C++ compiler", "WALL-E"); never used for matching."""

    @property
    def shown(self) -> str:
        """Return the text to show the user: as typed, else the canonical form."""
        return self.typed or self.canonical

    def __str__(self) -> str:
        return self.canonical


def _render(term: Term) -> str:
    return term[0] if len(term) == 1 else '"' + " ".join(term) + '"'


def _check_length(length: int, max_length: int, what: str) -> None:
    if length > max_length:
        raise CommandError(
            f"Topic is too long{what}: {length} characters, the limit is {max_length}. "
            "Use a few key words or a short quoted phrase."
        )


def _without_format(text: str) -> str:
    """Drop invisible format characters (Unicode Cf: U+200B zero-width space, U+2060, U+FEFF, soft hyphen…).

    Pasted from a web page, ``diff\u200busion`` looks like ``diffusion`` but would be a second,
    invisible topic that never matches (a Cf splits words). Bidi controls are refused before this.
    """
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _contains(term: Term, part: Term) -> bool:
    """Tell whether ``part``'s words stand in ``term`` one after another (a phrase holds its words)."""
    n = len(part)
    return any(term[i : i + n] == part for i in range(len(term) - n + 1))


def parse_topic(raw: str, *, max_length: int = MAX_TOPIC_LENGTH) -> Topic:
    """Parse a user's topic text into a :class:`Topic`, or raise ``CommandError`` saying what is wrong."""
    text = raw.strip()
    if not text:
        raise CommandError('Topic is empty: give one or more words, e.g. diffusion or "language model".')
    # Checked before any other work, so a huge argument costs nothing.
    _check_length(len(text), max_length, "")
    if UNPRINTABLE.search(text):
        raise CommandError("Topic contains control characters (such as line breaks or tabs): use plain text.")
    raw = text = _without_format(text)
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    if text.count('"') % 2:
        raise CommandError('Topic has an unbalanced quote: close every "phrase" with a second ".')

    include: list[Term] = []
    exclude: list[Term] = []
    pos = 0
    while m := _TERM.match(text, pos):
        pos = m.end()
        words = tuple(tokenize(m[2] if m[2] is not None else m[3]))
        if not words:  # punctuation, emoji or an empty "" only: nothing to match on
            continue
        target = exclude if m[1] else include
        if words not in target:
            target.append(words)
    if text[pos:].strip():  # cannot happen with an even quote count; kept as a guard
        raise CommandError('Topic has an unbalanced quote: close every "phrase" with a second ".')

    if not include and not exclude:
        raise CommandError("Topic has no words to match: use letters or digits, e.g. diffusion.")
    if not include:
        raise CommandError("Topic has only excluded terms: add at least one word to look for, e.g. diffusion -survey.")
    if len(include) + len(exclude) > MAX_TERMS:
        raise CommandError(
            f"Topic has too many terms: {len(include) + len(exclude)}, the limit is {MAX_TERMS}. "
            'Quote multi-word phrases, e.g. "large language model".'
        )
    if both := set(include) & set(exclude):
        shown = _render(next(term for term in include if term in both))
        raise CommandError(f"Topic both requires and excludes {shown}, so it could never match.")
    for excluded in exclude:  # `"diffusion model" -diffusion`: every paper with the phrase has the word
        if within := next((t for t in include if _contains(t, excluded)), None):
            raise CommandError(
                f"Topic requires {_render(within)} and excludes {_render(excluded)} within it, so it could never match."
            )

    canonical = " ".join([_render(t) for t in include] + ["-" + _render(t) for t in exclude])
    _check_length(len(canonical), max_length, " once normalised")
    typed = " ".join(raw.split())
    _check_meaningful(include, typed)
    return Topic(canonical=canonical, include=tuple(include), exclude=tuple(exclude), typed=typed)


def is_meaningful(word: str) -> bool:
    """Tell whether one normalised word can carry a topic: not a stopword, not a lone Latin letter or digit."""
    if word in STOPWORDS:
        return False
    return len(word) > 1 or not word.isascii()


def _check_meaningful(include: list[Term], typed: str) -> None:
    if any(is_meaningful(word) for term in include for word in term):
        return
    words = " ".join(word for term in include for word in term)
    if all(word in STOPWORDS for term in include for word in term):
        raise CommandError(
            f"Topic “{typed}” has only common words ({words}), which nearly every paper contains: "
            "add a specific word, e.g. diffusion."
        )
    raise CommandError(
        f"Topic “{typed}” matches only “{words}” once symbols are dropped (matching ignores + # . and the like),"
        " which is too short to find anything specific: add a word, e.g. “C++ compiler”."
    )
