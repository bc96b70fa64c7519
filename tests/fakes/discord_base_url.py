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
so a fake would have to terminate TLS for discord.com.

The gateway URL is not derived from ``Route.BASE`` either.  A plain ``discord.Client`` never asks
``GET /gateway/bot``: ``Client.connect`` calls ``DiscordWebSocket.from_client`` with no URL, which
falls back to the class attribute ``DiscordWebSocket.DEFAULT_GATEWAY`` (``wss://gateway.discord.gg/``;
only ``AutoShardedClient`` asks ``/gateway/bot``).  After READY, reconnects use the
``resume_gateway_url`` READY carried.  So ``gateway_url=`` sets ``DEFAULT_GATEWAY`` too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import discord.gateway
import discord.http
import yarl


@contextmanager
def point_discord_py_at(base_url: str, gateway_url: str | None = None) -> Iterator[None]:
    """Send every discord.py REST request to ``base_url`` (and gateway connections to ``gateway_url``) inside."""
    original, original_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = base_url.rstrip("/")
    if gateway_url is not None:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = original
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = original_gateway
