"""Summaries in the reader's language, from any OpenAI-compatible model server.

``prompt`` (what is asked, how answers are checked: pure), ``client`` (one paper through the
``openai`` client, with our own deadline-aware retries), ``runner`` (which papers, the cache, the
pre-post hook), ``view`` (stored summaries onto papers; no ``openai`` import, for adapters and
delivery). A paper that cannot be summarised is ``client.SummaryFailed`` and shows its abstract;
a refused key or unknown model is a :class:`~digestbot.errors.ConfigError`.
"""
