"""Text hygiene shared by sources, formatter and renderers.

Paper text comes from machines and strangers: it may hold control characters, odd whitespace,
bidi overrides, or be far longer than any chat platform accepts. These helpers make it safe to
store and cut it where a reader expects (on a word boundary, with an ellipsis), never in the
middle of a surrogate pair or a combining sequence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

ELLIPSIS = "…"

# C0/C1 controls except tab/newline, plus bidi overrides/isolates that can reorder a message.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Controls (Unicode Cc, line breaks and tabs included) and every bidi mark, embedding, override and
isolate: what a user's text may not carry into a topic, nor raw into a terminal line."""


def clean_text(text: str) -> str:
    """Return ``text`` NFC-normalised, without control characters, with runs of spaces collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def one_line(text: str) -> str:
    """Return ``text`` cleaned and folded onto one line (titles, author lists)."""
    return " ".join(clean_text(text).split())


def utf16_len(text: str) -> int:
    """Count UTF-16 code units (what JavaScript-based limits count: an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def _safe_cut(text: str, end: int) -> int:
    """Move ``end`` left so the cut does not split a combining sequence (accents, Hangul jamo, ZWJ)."""
    while (
        end > 0
        and end < len(text)
        and (unicodedata.combining(text[end]) or text[end] in "\u200d\ufe0f" or text[end - 1] == "\u200d")
    ):
        end -= 1
    return end


def truncate(text: str, limit: int, *, length: Callable[[str], int] = len, ellipsis: str = ELLIPSIS) -> str:
    """Return ``text`` if it fits in ``limit``, else cut on a word boundary and end with ``ellipsis``.

    ``length`` is the platform's way of counting (code points by default, ``utf16_len`` where a
    platform counts UTF-16 units). A text without a usable word boundary (a long URL, Korean
    without spaces) is cut at the last whole character that fits.
    """
    if length(text) <= limit:
        return text
    room = limit - length(ellipsis)
    if room <= 0:
        return ellipsis[: max(limit, 0)]
    # Largest prefix whose length fits; code-point prefix search keeps surrogates whole.
    lo, hi = 0, min(len(text), room)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if length(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    end = _safe_cut(text, lo)
    space = max(text.rfind(" ", 0, end + 1), text.rfind("\n", 0, end + 1))
    # Back off to the last word boundary unless that would throw away most of the text
    # (one giant token such as a URL is cut at the last whole character instead).
    if space > 0 and (end - space <= 40 or space > end // 2):
        end = space
    return text[:end].rstrip() + ellipsis
