"""The summary cache: model-written three-part summaries per (paper, language, model, prompt version).

A summary is made once and read by every channel, ``preview``, ``post`` and ``/paper``; it
survives restarts because it lives in the archive. Changing the model or the prompt version
makes a new key, so new summaries are made while the old rows stay (and are still shown in the
meantime, see :meth:`SummaryStore.shown`). The rows are the store's
(:meth:`~digestbot.store.protocol.StoreProtocol.cached_summaries` and its neighbours).
"""

from __future__ import annotations

from collections.abc import Sequence

from digestbot.store.protocol import StoreProtocol
from digestbot.store.records import Sections, SummaryKey

__all__ = ["Sections", "SummaryKey", "SummaryStore"]


class SummaryStore:
    """Read and write the summaries of a store."""

    def __init__(self, store: StoreProtocol) -> None:
        self._store = store

    async def cached(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return the summaries made under exactly ``key``, by arXiv id (what need not be made again)."""
        return await self._store.cached_summaries(arxiv_ids, key)

    async def shown(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return the summary to show per paper in ``key.language``: ``key``'s own, else the newest other.

        After a model or prompt change, the older summary is still better than the abstract
        until the new one is made.
        """
        return await self._store.shown_summaries(arxiv_ids, key)

    async def save(
        self, arxiv_id: str, key: SummaryKey, sections: Sections, *, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        """Store (or replace, after ``--refresh``) one paper's summary under ``key``."""
        await self._store.save_summary(
            arxiv_id, key, sections, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
