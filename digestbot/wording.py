"""Counted nouns in the CLI's own English lines: "1 paper", "2 papers" (chat text uses Labels)."""

from __future__ import annotations


def plural(n: int, word: str, words: str | None = None) -> str:
    """Return ``n`` and ``word``, in the plural (``words``, else word + "s") unless ``n`` is 1."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
