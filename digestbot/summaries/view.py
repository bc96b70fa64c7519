"""Show stored summaries: papers get theirs in a language, for the digest, ``preview`` and ``/paper``.

Light on purpose (no ``openai`` import): adapters and the delivery engine read summaries; only
the runner makes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from digestbot.config import Config
from digestbot.records import Paper
from digestbot.store.protocol import StoreProtocol
from digestbot.store.summaries import SummaryKey, SummaryStore
from digestbot.summaries.prompt import PROMPT_VERSION


def summary_key(config: Config, language: str) -> SummaryKey:
    """Return the cache key of summaries made now in ``language``."""
    return SummaryKey(language=language, model=config.summaries.model, prompt_version=PROMPT_VERSION)


async def localize(store: StoreProtocol, config: Config, papers: Sequence[Paper], language: str) -> tuple[Paper, ...]:
    """Return ``papers`` with their stored summary in ``language`` as their sections, where one exists.

    A paper with its own sections (the sample digest) keeps them; with summaries off, nothing changes.
    """
    if not config.summaries.enabled:
        return tuple(papers)
    ids = [p.arxiv_id for p in papers if not p.sections]
    if not ids:
        return tuple(papers)
    found = await SummaryStore(store).shown(ids, summary_key(config, language))
    return tuple(
        dataclasses.replace(p, sections=found[p.arxiv_id]) if p.arxiv_id in found and not p.sections else p
        for p in papers
    )


def paper_localizer(store: StoreProtocol, config: Config, language: str = "") -> Callable[[Paper], Awaitable[Paper]]:
    """Return what gives a ``/paper`` card its summary in a channel's ``language`` (else the default)."""
    chosen = config.summary_language(language)

    async def one(paper: Paper) -> Paper:
        return (await localize(store, config, [paper], chosen))[0]

    return one


async def channel_localizer(
    store: StoreProtocol, config: Config, *, platform: str, channel_id: str
) -> Callable[[Paper], Awaitable[Paper]] | None:
    """Return the ``/paper`` localizer for the channel a command came from (None with summaries off)."""
    if not config.summaries.enabled:
        return None
    from digestbot.channels import load_channels

    language = next(
        (c.language for c in await load_channels(store, config) if (c.platform, c.id) == (platform, channel_id)), ""
    )
    return paper_localizer(store, config, language)
