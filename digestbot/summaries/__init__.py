"""Summaries in the reader's language, from any OpenAI-compatible model server.

``prompt`` (what is asked, how answers are checked: pure), ``client`` (one paper through the
``openai`` client, with our own deadline-aware retries), ``runner`` (which papers, the cache, the
pre-post hook). Errors: a paper that cannot be summarised is :class:`SummaryFailed` and shows its
abstract; a refused key or unknown model is a :class:`~digestbot.errors.ConfigError`.
"""

from digestbot.summaries.client import ModelClient, Summary, SummaryFailed
from digestbot.summaries.prompt import HEADINGS, PROMPT_VERSION, needs_summary
from digestbot.summaries.runner import (
    SummaryReport,
    before_post_hook,
    languages_in_use,
    localize,
    make_summaries,
    summarize_day,
    summary_key,
)

__all__ = [
    "HEADINGS",
    "PROMPT_VERSION",
    "ModelClient",
    "Summary",
    "SummaryFailed",
    "SummaryReport",
    "before_post_hook",
    "languages_in_use",
    "localize",
    "make_summaries",
    "needs_summary",
    "summarize_day",
    "summary_key",
]
