"""The Slack platform's command server (``serve``): Socket Mode or HTTP, around the bolt app.

Why so little here: posting is :mod:`adapters.slack_poster`, the clients and error rules are
:mod:`adapters.slack_web`, and what commands do is :mod:`adapters.slack_server`'s bolt app. This
module only runs that app until ``stop``: over Socket Mode (``slack.mode: socket``, one workspace)
or as an HTTP server on ``slack.port`` (signed requests; with ``slack.oauth``, many workspaces).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from adapters.slack_poster import SlackAdapter
from adapters.slack_server import build_app, http_app
from adapters.slack_web import open_socket_url
from digestbot.config import Config
from digestbot.digest_command import DigestPoster
from digestbot.errors import ConfigError
from digestbot.reconnect import until_reachable
from digestbot.store.protocol import StoreProtocol

log = logging.getLogger(__name__)


async def serve(
    config: Config,
    store: StoreProtocol,
    adapter: SlackAdapter,
    *,
    stop: asyncio.Event,
    engine: DigestPoster | None = None,
    host: str | None = None,
    on_change: Callable[[], None] | None = None,
) -> None:
    """Answer slash commands until ``stop`` is set: Socket Mode (``slack.mode: socket``) or HTTP on ``slack.port``."""
    app = build_app(config, store, client=adapter.reader, engine=engine, on_change=on_change)
    if config.slack.mode == "socket" and config.slack.oauth is None:
        if not config.slack.app_token:
            raise ConfigError("slack.app_token: Socket Mode needs an app-level token (xapp-…; ${SLACK_APP_TOKEN})")
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        opened: list[str] = []

        async def open_url() -> None:
            opened.append(await open_socket_url(adapter.reader, config.slack.app_token))

        if not await until_reachable(open_url, what="slack", stop=stop):
            return
        url = opened[0]
        handler = AsyncSocketModeHandler(app, app_token=config.slack.app_token, web_client=adapter.reader)
        # The client connects to a preset wss_uri instead of asking for one; later reconnects ask afresh.
        handler.client.wss_uri = url
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped
            log.info("slack: listening for slash commands over Socket Mode")
            await stop.wait()
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
        return
    if not config.slack.signing_secret:
        raise ConfigError("slack.signing_secret: HTTP mode needs the app's signing secret (${SLACK_SIGNING_SECRET})")
    runner = web.AppRunner(http_app(app), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, config.slack.port)
        await site.start()
        log.info("slack: listening for slash commands on port %s at /slack/events", config.slack.port)
        if config.slack.oauth is not None:
            log.info("slack: installs at /slack/install, OAuth redirects at /slack/oauth_redirect")
        await stop.wait()
    finally:
        await runner.cleanup()
