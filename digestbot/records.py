"""Typed records shared by every part of digestbot: a paper, a digest, and arXiv ids.

A :class:`Paper` is the same whatever source it came from (Markdown digest, Hugging Face API,
JSON/YAML file); fields a source does not know stay empty, and fields digestbot does not know
are kept in ``extra`` instead of being dropped.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

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
        key by key.
        """
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("arxiv_id", "extra"):
                continue
            value = getattr(newer, f.name)
            if value not in (None, "", ()):
                changes[f.name] = value
        changes["extra"] = {**self.extra, **newer.extra}
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class Digest:
    """The papers of one day, ranked (most votes first)."""

    date: date
    papers: tuple[Paper, ...]
    topic_filter: tuple[str, ...] = ()
