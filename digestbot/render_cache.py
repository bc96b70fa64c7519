"""Rendered payloads shared between the targets of one delivery run.

Many targets of a run get the same message: channels with the same settings, subscribers of the
same popular topic. Formatting and rendering is the costliest step of a large run, so each
distinct message is rendered once per platform and its payloads reused. The cache knows nothing
of matching or sending (:mod:`digestbot.delivery` keeps those); it lives as long as the run.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from digestbot.blocks import Message, PaperCard
from digestbot.ports import Adapter
from digestbot.records import Paper


class RenderCache:
    """Payloads by (platform, message signature), rendered on first use."""

    def __init__(self) -> None:
        self._payloads: dict[tuple[str, Hashable], list[Any]] = {}
        self._cards: dict[int, tuple[Paper, PaperCard]] = {}

    def card(self, paper: Paper, build: Callable[[Paper], PaperCard]) -> PaperCard:
        """Return ``build(paper)``, built once per paper in this run.

        Subscribers' DMs mostly differ (each lists its own papers and topics), so they are rendered
        one by one; but they show the same few dozen papers, and cleaning a paper's text for its
        card was most of a DM's rendering: thousands of DMs in a row held the event loop.
        """
        found = self._cards.get(id(paper))
        if found is None or found[0] is not paper:  # (the paper is kept: its id cannot be reused)
            found = self._cards[id(paper)] = (paper, build(paper))
        return found[1]

    def payloads(self, adapter: Adapter, signature: Hashable, build: Callable[[], Message]) -> list[Any]:
        """Return ``adapter``'s payloads for the message ``build`` makes, rendered once per ``signature``.

        ``signature`` must identify the message completely (its date, papers, topics, language):
        two targets with equal signatures get the very same payloads.
        """
        key = (adapter.platform, signature)
        if key not in self._payloads:
            self._payloads[key] = adapter.render(build())
        return self._payloads[key]

    def many_payloads(self, adapter: Adapter, signature: Hashable, build: Callable[[], list[Message]]) -> list[Any]:
        """Return ``adapter``'s payloads for several messages posted as one plan (a compact list and its cards)."""
        key = (adapter.platform, signature)
        if key not in self._payloads:
            self._payloads[key] = [payload for message in build() for payload in adapter.render(message)]
        return self._payloads[key]

    def __len__(self) -> int:
        """Return how many distinct messages were rendered."""
        return len(self._payloads)
