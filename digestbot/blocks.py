"""Platform-neutral message blocks: what the core says, before any adapter decides how it looks.

The formatter builds a :class:`Message` out of these blocks; each adapter's renderer turns them
into Discord embeds, Slack Block Kit or terminal text, applying that platform's limits and
escaping. Block text is plain, unescaped text: escaping is the renderer's job because every
platform escapes differently.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Header:
    """A message heading (the digest title, a lookup's heading)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class Paragraph:
    """A plain paragraph of text."""

    text: str


@dataclass(frozen=True, kw_only=True)
class Section:
    """A labelled piece of a paper summary ("What's New": …)."""

    label: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Link:
    """A labelled link (arXiv, Hugging Face, GitHub)."""

    label: str
    url: str


@dataclass(frozen=True, kw_only=True)
class Context:
    """Small print: date, counts, part numbers, matched topics."""

    parts: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Divider:
    """A visual separator."""


@dataclass(frozen=True, kw_only=True)
class Image:
    """A standalone image (absolute http(s) URL; renderers drop what their platform cannot show)."""

    url: str
    alt: str


@dataclass(frozen=True, kw_only=True)
class PaperCard:
    """One paper as a unit that renderers never split across messages.

    ``authors`` is already shortened ("A, B, C et al."); ``meta`` holds short facts shown next to
    the authors (votes, matched topics).
    """

    arxiv_id: str
    title: str
    url: str
    authors: str
    meta: tuple[str, ...]
    sections: tuple[Section, ...]
    links: tuple[Link, ...]
    thumbnail: str | None = None
    rank: int | None = None


@dataclass(frozen=True, kw_only=True)
class ListItem:
    """One line of a compact digest: rank, linked title, votes and a one-line summary."""

    rank: int
    arxiv_id: str
    title: str
    url: str
    meta: str
    summary: str


@dataclass(frozen=True, kw_only=True)
class PaperList:
    """A compact digest's ranked list: renderers keep it in ONE message (up to 25 items), cutting text to fit."""

    items: tuple[ListItem, ...]


Block = Header | Paragraph | Section | Context | Divider | Image | PaperCard | PaperList


@dataclass(frozen=True, kw_only=True)
class ForumPost:
    """Post a message as a new forum thread: its name and the forum tags to apply (by name, at most 5)."""

    name: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Message:
    """A message to post: blocks in order, plus a plain-text ``fallback`` for notifications.

    ``kind`` tells renderers and the outbox what the message is (``digest``, ``paper``,
    ``matches``, ``notice``, ``reply``); ``key`` identifies it for exactly-once delivery
    (e.g. the digest date).
    """

    blocks: tuple[Block, ...]
    fallback: str
    kind: str = "reply"
    key: str = ""
    post: ForumPost | None = None  # a forum layout: this message starts its own post

    @property
    def cards(self) -> tuple[PaperCard, ...]:
        """The paper cards in order."""
        return tuple(b for b in self.blocks if isinstance(b, PaperCard))
