"""The Slack bolt app: slash commands, the share button and workspace events, and its HTTP wrapping.

Why a module of its own: this is what arrives *from* Slack, whichever way it arrives (Socket Mode or
HTTP, :mod:`adapters.slack_app`). Slash commands (``/paper``, ``/subscribe``, ``/unsubscribe``,
``/subscriptions``, ``/digest``) and the "Share in channel" button are acknowledged first and
answered through ``response_url`` by the core's :func:`~digestbot.dispatch.dispatch`;
:mod:`adapters.slack_commands` holds the pure mapping.

With ``slack.oauth`` (HTTP mode) bolt also runs ``/slack/install`` and ``/slack/oauth_redirect`` and
authorizes each request from the installations in digestbot's database
(:mod:`adapters.slack_install`); a workspace that uninstalls (``app_uninstalled``) or revokes its
tokens (``tokens_revoked``) is paused (:mod:`digestbot.workspaces`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_commands import COMMANDS, SHARE_ACTION, is_workspace_admin, parse_share, parse_slash, reply_bodies
from adapters.slack_install import oauth_settings
from adapters.slack_render import render_slack
from digestbot.config import Config
from digestbot.digest_command import DigestPoster, is_digest_admin
from digestbot.dispatch import CommandRequest, dispatch
from digestbot.store.protocol import StoreProtocol
from digestbot.workspaces import REVOKED, UNINSTALLED, pause_workspace

log = logging.getLogger(__name__)

PLATFORM = "slack"


async def _user_is_admin(client: AsyncWebClient, user_id: str, admins: tuple[str, ...]) -> bool:
    if is_digest_admin(user_id, platform_admin=False, admins=admins):
        return True  # listed in the config: no users.info round trip
    try:
        info = await client.users_info(user=user_id)
    except SlackApiError as exc:
        log.warning("slack: users.info for %s failed (%s): treating as non-admin", user_id, exc.response.get("error"))
        return False
    return is_digest_admin(user_id, platform_admin=is_workspace_admin(info.get("user") or {}), admins=admins)


def build_app(
    config: Config,
    store: StoreProtocol,
    *,
    client: AsyncWebClient,
    engine: DigestPoster | None = None,
    on_change: Callable[[], None] | None = None,
) -> AsyncApp:
    """Build the bolt app answering every slash command and the share button through the core handlers.

    With ``slack.oauth`` it also runs the install flow and pauses workspaces that remove the app.
    """
    oauth = config.slack.oauth
    app = AsyncApp(
        client=client,
        signing_secret=config.slack.signing_secret,
        name="digestbot",
        logger=logging.getLogger("adapters.slack_app.bolt"),
        # Socket Mode requests carry no signature; bolt skips verification for them itself.
        request_verification_enabled=True,
        oauth_settings=oauth_settings(oauth, store, on_change=on_change) if oauth is not None else None,
    )
    if oauth is not None:
        _workspace_events(app, config, store, on_change=on_change)

    async def answer(respond: Any, request: CommandRequest) -> None:
        reply = await dispatch(request, store=store, config=config, engine=engine, on_change=on_change)
        payloads = render_slack(reply.message) if reply.message else []
        for body in reply_bodies(reply, payloads, keep_original=request.command == "share"):
            await respond(**body)

    async def command(ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()  # within Slack's 3 s; the answer follows through response_url
        cmd = parse_slash(body)
        name = cmd.command.lstrip("/")
        admin = name == "digest" and await _user_is_admin(client, cmd.user, config.slack.admins)
        request = CommandRequest(
            platform=PLATFORM,
            workspace=cmd.workspace,
            user=cmd.user,
            channel=cmd.channel,
            command=name,
            text=cmd.text,
            is_admin=admin,
            locale=str(body.get("locale", "") or ""),
        )
        await answer(respond, request)

    for name in COMMANDS:
        app.command(name)(command)

    @app.action(SHARE_ACTION)
    async def share(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        click = parse_share(body)
        if click is None:
            return  # a forged value: nothing to answer
        request = CommandRequest(
            platform=PLATFORM,
            workspace=click.workspace,
            user=click.user,
            channel=click.channel,
            command="share",
            text=click.arxiv_id,
        )
        await answer(respond, request)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("slack: handler for %s failed: %r", body.get("command") or body.get("type"), error, exc_info=error)

    return app


def _workspace_events(
    app: AsyncApp, config: Config, store: StoreProtocol, *, on_change: Callable[[], None] | None
) -> None:
    """Pause a workspace's channels when it uninstalls the app or revokes the bot token."""

    async def pause(body: dict[str, Any], reason: str) -> None:
        await pause_workspace(store, config, str(body.get("team_id") or ""), reason=reason)
        if on_change is not None:
            on_change()

    @app.event("app_uninstalled")
    async def uninstalled(body: dict[str, Any]) -> None:
        await pause(body, UNINSTALLED)

    @app.event("tokens_revoked")
    async def revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):  # user tokens alone: digestbot holds none
            await pause(body, REVOKED)


def http_app(app: AsyncApp, *, path: str = "/slack/events") -> web.Application:
    """Wrap the bolt app for HTTP mode: bolt verifies each request's signature before any handler runs.

    With OAuth installs, ``GET /slack/install`` and ``GET /slack/oauth_redirect`` go to bolt's OAuth flow
    (as bolt's own aiohttp server routes them).
    """

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post(path, handle)
    flow = app.oauth_flow
    if flow is not None:

        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

        async def redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

        web_app.router.add_get(flow.install_path, install)
        web_app.router.add_get(flow.redirect_uri_path, redirect)
    return web_app
