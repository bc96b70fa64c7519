"""Point discord.py's REST client at another API base URL (the loopback fake, in tests).

How discord.py builds its URLs (discord.py 2.7, ``discord/http.py``): every request goes through
``discord.http.Route``, whose ``__init__`` computes ``self.url = self.BASE + self.path`` from the
class attribute ``Route.BASE = 'https://discord.com/api/v10'``.  ``HTTPClient`` (bot REST calls)
and ``discord.webhook.async_.AsyncWebhookAdapter`` (interaction callbacks, follow-ups,
``@original`` edits, webhooks) both build ``Route`` objects, so one assignment of
``discord.http.Route.BASE`` redirects all of them.  The URL is fixed when a ``Route`` is created,
so set it before making requests; it is process-wide, not per client.  Only
``discord.http._set_api_version`` writes it too (it resets it to discord.com).

The ``proxy=``/``proxy_auth=`` options of ``HTTPClient``/``Client`` are no substitute: they send
the request for ``https://discord.com/...`` through an HTTP proxy (a CONNECT tunnel for TLS),
so a fake would have to terminate TLS for discord.com.  The gateway URL is not derived from
``Route.BASE``: a ``Client`` asks ``GET /gateway/bot`` for it, which the fake answers with a
loopback address.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import discord.http


@contextmanager
def point_discord_py_at(base_url: str) -> Iterator[None]:
    """Send every discord.py REST request to ``base_url`` (e.g. ``http://127.0.0.1:PORT/api/v10``) inside."""
    original = discord.http.Route.BASE
    discord.http.Route.BASE = base_url.rstrip("/")
    try:
        yield
    finally:
        discord.http.Route.BASE = original
