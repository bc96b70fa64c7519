"""Words as the search index sees them, shared by the store (what it indexes) and the lookup (what it asks).

The FTS5 tables use ``unicode61 remove_diacritics 2``: letters and digits form words, case and
accents are folded. :func:`words` mirrors that in Python so a query word, a vocabulary entry and
an indexed word agree. Hangul, CJK, kana and Thai are written without spaces between morphemes
(``양자화는`` is one word to unicode61), so a word a person types is often only the start or the
middle of an indexed word; :func:`unspaced_grams` adds every piece of such words to a separate
column, so a piece is an exact index word (``자화`` finds ``양자화는``).
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
"""Combining accents (what ``remove_diacritics`` drops); a regex, not a loop over every character."""
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "for",
        "and",
        "or",
        "in",
        "on",
        "to",
        "with",
        "via",
        "by",
        "from",
        "at",
        "as",
        "is",
        "are",
        "be",
        "not",
        "its",
        "it",
        "this",
        "that",
        "into",
        "towards",
        "toward",
        "vs",
        "versus",
        "can",
        "do",
        "does",
        "your",
        "you",
        "we",
        "our",
        "all",
    ]
)
"""English words too common to identify a paper: they never decide whether a query matched."""

MIN_GRAM = 2
"""Shortest piece of an unspaced-script word that is indexed (one syllable matches too much)."""
MAX_GRAM = 6
"""Longest piece indexed (a sentence of Chinese is one unicode61 word: pieces are bounded, not n²)."""


def fold(text: str) -> str:
    """Return ``text`` case-folded without accents (``Börje`` -> ``borje``), Hangul left composed."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", _MARKS.sub("", decomposed))


_ASCII_WORDS = bytes(ord(chr(c).lower()) if chr(c).isalnum() else 0x20 for c in range(128)) + bytes(range(128, 256))
"""A byte table for ASCII text: letters to lower case, digits kept, any other character to a space (a gap)."""


def words(text: str) -> list[str]:
    """Return the words of ``text`` as the index sees them: letters and digits, folded.

    ASCII text (most titles, author lists and keywords) goes through one ``bytes.translate``
    and ``split``: the same words as the regex's, at a fifth of its cost. A lookup splits the
    fields of hundreds of candidates, a bulk load those of every paper.
    """
    if text.isascii():
        return text.encode().translate(_ASCII_WORDS).decode().split()
    return _WORD.findall(fold(text))


def spaced(text: str) -> str:
    """Return the words of ``text`` between single spaces, with a space before and after: `` w1 w2 ``.

    Word tests become substring tests, which run in C: ``w`` is one of the words when ``" w "``
    is in it, some word starts with ``p`` when ``" p"`` is, and words in this order when
    ``"w1 w2"`` is. Scoring a few hundred search candidates this way needs no sets or loops.
    """
    return f" {' '.join(words(text))} "


def is_unspaced(word: str) -> bool:
    """Tell whether ``word`` is written in a script without spaces between morphemes (Hangul, CJK, Thai)."""
    return _UNSPACED.search(word) is not None


def unspaced_grams(*texts: str) -> str:
    """Return the unspaced-script words of ``texts`` and all their pieces of MIN_GRAM..MAX_GRAM letters.

    Indexed in their own column, these make any piece of such a word (its start, its middle) one
    exact index word: one posting list to read, where a prefix query would merge many.
    """
    grams: dict[str, None] = {}
    for text in texts:
        if not text or not _UNSPACED.search(text):
            continue
        for word in words(text):
            if is_unspaced(word):
                grams[word] = None
                for start in range(len(word) - MIN_GRAM + 1):
                    for end in range(start + MIN_GRAM, min(len(word), start + MAX_GRAM) + 1):
                        grams[word[start:end]] = None
    return " ".join(grams)


def lookup_words(title: str, authors_text: str, keywords_text: str) -> set[str]:
    """Return the words the lookup vocabulary counts for one paper: those of its title, authors and keywords.

    Not the unspaced-script pieces (see :func:`unspaced_grams`), and nothing from Thai up: those
    would become words that typos are "corrected" to.
    """
    return {w for w in words(f"{title} {authors_text} {keywords_text}") if w < "\u0e00"}
