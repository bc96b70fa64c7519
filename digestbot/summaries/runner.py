"""Make the summaries papers lack, use the ones made, and do it before a scheduled post.

:func:`make_summaries` asks the model for every (paper, language) that has no cached summary
(all of them with ``refresh``), ``summaries.concurrency`` at a time, storing each as soon as it
is checked, so an interrupted run keeps what it made. :func:`localize` gives papers their stored
summary in a language, for the digest, ``preview`` and ``/paper``. :func:`before_post_hook`
wraps the ingest hook: after the pre-post fetch it makes the day's missing summaries within
``summaries.deadline`` seconds; what is still missing then shows the abstract, and the run logs
how many.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from digestbot.config import Config
from digestbot.errors import ConfigError
from digestbot.records import Paper
from digestbot.store.protocol import StoreProtocol
from digestbot.store.summaries import SummaryStore
from digestbot.summaries.client import ModelClient, SummaryFailed
from digestbot.summaries.prompt import needs_summary
from digestbot.summaries.view import summary_key

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
BeforePost = Callable[[date], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class SummaryReport:
    """What a run made: new summaries, ones already cached, failures, and the tokens spent."""

    summarized: int = 0
    cached: int = 0
    failed: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def line(self) -> str:
        """Return the one-line report ``summarize`` ends with."""
        return f"summarized {self.summarized}, cached {self.cached}, failed {self.failed}"

    def usage_line(self) -> str:
        """Return the token usage line ``summarize -v`` prints."""
        total = self.prompt_tokens + self.completion_tokens
        per = f", about {total // self.summarized:,} per paper" if self.summarized else ""
        return (
            f"tokens: {self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion = {total:,}"
            f" in {self.requests} request{'' if self.requests == 1 else 's'}{per}"
        )


async def languages_in_use(store: StoreProtocol, config: Config) -> list[str]:
    """Return the languages the enabled channels read (the default one when there is no channel)."""
    from digestbot.channels import load_channels

    channels = await load_channels(store, config)
    return sorted({config.summary_language(c.language) for c in channels} or {config.summary_language()})


async def make_summaries(
    store: StoreProtocol,
    config: Config,
    papers: Sequence[Paper],
    languages: Iterable[str],
    *,
    refresh: bool = False,
    deadline: float | None = None,
    client: ModelClient | None = None,
    progress: Progress | None = None,
) -> SummaryReport:
    """Make and store the missing summaries of ``papers`` in each of ``languages``.

    ``deadline`` (seconds from now) bounds the whole run: papers not done by then count as
    failed. Raises ConfigError when the server refuses the key or has no such model, after
    the requests already in flight have finished.
    """
    cache = SummaryStore(store)
    # A paper in several digests of a range is asked for once.
    wanted = list({p.arxiv_id: p for p in papers if needs_summary(p)}.values())
    todo: list[tuple[Paper, str]] = []
    cached = 0
    for language in dict.fromkeys(languages):
        have = {} if refresh else await cache.cached([p.arxiv_id for p in wanted], summary_key(config, language))
        cached += len(have)
        todo.extend((p, language) for p in wanted if p.arxiv_id not in have)
    if not todo:
        return SummaryReport(cached=cached)
    loop = asyncio.get_running_loop()
    until = None if deadline is None else loop.time() + deadline
    own = client is None
    model = client or ModelClient(config.summaries)
    limit = asyncio.Semaphore(config.summaries.concurrency)
    counts = {"summarized": 0, "failed": 0, "requests": 0, "prompt": 0, "completion": 0, "done": 0}
    fatal: list[ConfigError] = []

    async def one(paper: Paper, language: str) -> None:
        async with limit:
            if fatal:
                counts["failed"] += 1
            else:
                try:
                    made = await model.summarize(paper, language, deadline=until)
                except SummaryFailed as exc:
                    log.warning("no %s summary for %s: %s", language, paper.arxiv_id, exc)
                    counts["failed"] += 1
                    # An unusable answer was still paid for: the token count says what was spent.
                    counts["requests"] += exc.requests
                    counts["prompt"] += exc.prompt_tokens
                    counts["completion"] += exc.completion_tokens
                except ConfigError as exc:
                    fatal.append(exc)
                    counts["failed"] += 1
                else:
                    key = summary_key(config, language)
                    await cache.save(
                        paper.arxiv_id,
                        key,
                        made.sections,
                        prompt_tokens=made.prompt_tokens,
                        completion_tokens=made.completion_tokens,
                    )
                    counts["summarized"] += 1
                    counts["requests"] += made.requests
                    counts["prompt"] += made.prompt_tokens
                    counts["completion"] += made.completion_tokens
            counts["done"] += 1
            if progress:
                progress(counts["done"], len(todo))

    try:
        await asyncio.gather(*(one(p, lang) for p, lang in todo))
    finally:
        if own:
            await model.close()
    if fatal:
        raise fatal[0]
    return SummaryReport(
        summarized=counts["summarized"],
        cached=cached,
        failed=counts["failed"],
        requests=counts["requests"],
        prompt_tokens=counts["prompt"],
        completion_tokens=counts["completion"],
    )


async def summarize_day(
    store: StoreProtocol, config: Config, day: date, *, deadline: float | None
) -> SummaryReport | None:
    """Make ``day``'s missing summaries in the languages in use within ``deadline`` seconds; log the outcome.

    Never raises for the model's sake: a post goes on with abstracts whatever happens here.
    Returns None when summaries are off or the day has no digest.
    """
    if not config.summaries.enabled:
        return None
    digest = await store.digest(day)
    if digest is None:
        return None
    languages = await languages_in_use(store, config)
    try:
        report = await make_summaries(store, config, digest.papers, languages, deadline=deadline)
    except ConfigError as exc:
        log.error("summaries for %s: %s; posting abstracts", day.isoformat(), exc)
        return None
    except Exception:  # the model is an extra: a bug here must not stop the post
        log.exception("summaries for %s failed; posting abstracts", day.isoformat())
        return None
    log.info("summaries for %s (%s): %s", day.isoformat(), ", ".join(languages), report.line())
    if report.failed:
        log.warning(
            "%d summaries of %s failed or were not made by the deadline; those papers show their abstract",
            report.failed,
            day.isoformat(),
        )
    return report


def before_post_hook(store: StoreProtocol, config: Config, previous: BeforePost | None) -> BeforePost | None:
    """Return a ``before_post(day)`` hook: ``previous`` (the pre-post ingest), then the day's summaries.

    The summaries are made even when the ingest failed (the archive may hold the day), within
    ``summaries.deadline`` seconds; the ingest's error is then passed on as before.
    """
    if not config.summaries.enabled:
        return previous

    async def before_post(day: date) -> None:
        error: Exception | None = None
        if previous is not None:
            try:
                await previous(day)
            except Exception as exc:  # passed on below, after the summaries
                error = exc
        await summarize_day(store, config, day, deadline=config.summaries.deadline)
        if error is not None:
            raise error

    return before_post
