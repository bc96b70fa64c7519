"""Whitespace clean-up shared by the sources: one-line titles and names, unwrapped abstracts."""

from __future__ import annotations

import re


def collapse(text: str) -> str:
    """Return ``text`` with every run of whitespace made one space (titles, names)."""
    return " ".join(text.split())


def unwrap(text: str) -> str:
    """Return an abstract with hard line wraps joined and paragraph breaks (blank lines) kept."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(collapse(p) for p in paragraphs if p.strip())
