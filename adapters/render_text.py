r"""Text helpers shared by the Discord and Slack renderers: escape-aware cutting and URL checks.

Renderers must fit *escaped* text into a platform limit without ever cutting inside an escape
(``&amp;``, ``\*``) or a surrogate pair. :func:`fit` does that by cutting the *raw* text with
:func:`digestbot.text.truncate` (word boundary, ellipsis) and escaping afterwards, searching for
the largest raw budget whose escaped form still fits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from urllib.parse import SplitResult, quote, urlsplit

from digestbot.text import clean_text, one_line, truncate

Escape = Callable[[str], str]
Length = Callable[[str], int]


_BLANK_LINES = re.compile(r"\n{2,}")


def summary_text(text: str) -> str:
    """Return summary text cleaned (no control or bidi characters) with blank lines folded to line breaks.

    Renderers separate summary sections by blank lines, so a section must not contain one.
    """
    return _BLANK_LINES.sub("\n", clean_text(text))


def label_text(text: str) -> str:
    """Return a section label or short fact on one clean line."""
    return one_line(text)


def _identity(text: str) -> str:
    return text


def fit(text: str, limit: int, *, escape: Escape = _identity, length: Length = len) -> str:
    """Return ``escape(text)``, cut before escaping so the escaped result is at most ``limit`` long.

    ``escape`` must never shorten text. A cut text ends with the ellipsis of ``truncate``.
    """
    out = escape(text)
    if length(out) <= limit:
        return out
    if limit <= 0:
        return ""
    # Escaping only grows text, so the raw budget lies in [0, limit]. The cut grows with the
    # budget, so a binary search finds the largest raw budget whose escaped cut still fits.
    lo, hi = 0, limit
    best = ""
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = escape(truncate(text, mid, length=length))
        if length(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def share_budget(sizes: Sequence[int], budget: int) -> list[int]:
    """Return a cap per piece so the capped sizes sum to at most ``budget``, cutting the longest first.

    Water-filling: short pieces keep their whole size, long ones are cut to one common cap, so
    no summary section is dropped to make room for another.
    """
    if sum(sizes) <= budget:
        return list(sizes)
    caps = [0] * len(sizes)
    remaining = max(budget, 0)
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for n, i in enumerate(order):
        share = remaining // (len(sizes) - n)
        caps[i] = min(sizes[i], share)
        remaining -= caps[i]
    return caps


def _http_url(url: str | None) -> tuple[str, SplitResult] | None:
    """Return (``url`` stripped, its parts) if it is an absolute http(s) URL, else None (urlsplit lowers the scheme)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return (url, parts) if parts.scheme in ("http", "https") and parts.netloc else None


IMAGE_URL_LIMIT = 2048
"""Longest image URL sent: Discord refuses embed URLs over 2,048 characters, Slack image URLs over 3,000."""

_URL_SAFE = "/:?#[]@!$&'()*+,;=-._~%"
"""RFC 3986's reserved and unreserved characters (and ``%`` of escapes already there): kept as they are."""
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def image_url(url: str | None, *, limit: int = IMAGE_URL_LIMIT) -> str | None:
    """Return ``url`` encoded if chat platforms can show it as an image (absolute http(s), not SVG), else None.

    Site-relative paths (``/avatars/….svg`` in the Hugging Face digest) and SVG files are
    rejected: neither Discord nor Slack renders them as thumbnails. Characters a URL cannot hold
    (``"``, ``<``, space, control characters, non-ASCII) are percent-encoded, as links are, so
    hostile text stays inside the URL; one still longer than ``limit`` is dropped, not cut.
    """
    if (found := _http_url(url)) is None:
        return None
    url, parts = found
    if parts.path.lower().endswith((".svg", ".svgz")):
        return None
    if not parts.netloc.isascii():
        return None  # an internationalised host name: no thumbnail rather than a host that cannot resolve
    encoded = _STRAY_PERCENT.sub("%25", quote(url, safe=_URL_SAFE))
    return encoded if len(encoded) <= limit else None


def link_url(url: str | None) -> str | None:
    """Return ``url`` made safe inside link markup (``<url|text>``, ``[text](url)``), or None if not http(s).

    Characters that would end the markup (``|``, ``<``, ``>``, parentheses, spaces) are
    percent-encoded, which keeps the link pointing at the same place.
    """
    if (found := _http_url(url)) is None:
        return None
    return quote(found[0], safe="/:?#@!$&'*+,;=%~-._[]")
