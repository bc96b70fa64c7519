"""Discord interactions: one interaction in, the core's reply out (deferring when the core is slow).

Why a module of its own: every command and the share button go through the same three steps —
translate the interaction into the core's :class:`~digestbot.dispatch.CommandRequest`, call
:func:`~digestbot.dispatch.dispatch` within Discord's 3-second window, send the
:class:`~digestbot.dispatch.Reply` as rendered bodies or a private text. The command definitions
(:mod:`adapters.discord_slash`) only say which command and which text.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import discord

from adapters.discord_commands import SHARE_TEMPLATE, share_custom_id, shared_arxiv_id, workspace_of
from adapters.discord_render import CONTENT_LIMIT, render_discord
from digestbot.config import Config
from digestbot.digest_command import DigestPoster, is_digest_admin
from digestbot.dispatch import CommandRequest, dispatch
from digestbot.store.protocol import StoreProtocol
from digestbot.text import truncate

log = logging.getLogger(__name__)

T = TypeVar("T")

PLATFORM = "discord"

DEFER_AFTER = 2.0
"""Seconds a command may work before we defer: Discord wants a first response within 3 s."""


NO_MENTIONS = discord.AllowedMentions.none()


@runtime_checkable
class CommandHost(Protocol):
    """What an interaction's client must offer to answer commands (the gateway client does)."""

    config: Config
    engine: DigestPoster | None
    on_change: Callable[[], None] | None

    @property
    def store(self) -> StoreProtocol:
        """The archive the commands answer from."""


def request_of(
    interaction: discord.Interaction, command: str, text: str = "", *, is_admin: bool = False
) -> CommandRequest:
    """Translate an interaction into the core's neutral command request."""
    return CommandRequest(
        platform=PLATFORM,
        workspace=workspace_of(interaction.guild_id),
        user=str(interaction.user.id),
        channel=str(interaction.channel_id or ""),
        command=command,
        text=text,
        is_admin=is_admin,
        locale=str(interaction.locale),
    )


async def answer(interaction: discord.Interaction, request: CommandRequest) -> None:
    """Dispatch ``request`` to the core (deferring if slow) and send its reply: rendered bodies or private text."""
    client = _client(interaction)
    reply = await _within_deadline(
        interaction,
        dispatch(request, store=client.store, config=client.config, engine=client.engine, on_change=client.on_change),
    )
    if reply.message is None:
        await reply_privately(interaction, reply.text)
        return
    view = share_view(reply.share_id) if reply.share_id else None
    await _send_bodies(interaction, render_discord(reply.message), ephemeral=reply.ephemeral, view=view)


def _client(interaction: discord.Interaction) -> CommandHost:
    client = interaction.client
    if not isinstance(client, CommandHost):
        raise TypeError("digestbot commands need a DigestbotClient")
    return client


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """Answer with a private text (the first response, or a follow-up once deferred)."""
    text = truncate(text, CONTENT_LIMIT) or "…"
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def _within_deadline(interaction: discord.Interaction, work: Awaitable[T]) -> T:
    """Run ``work``; if it is not done after :data:`DEFER_AFTER` seconds, defer (privately) and keep waiting."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=DEFER_AFTER)
    if not done and not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    return await task


async def _send_bodies(
    interaction: discord.Interaction,
    bodies: Sequence[Mapping[str, Any]],
    *,
    ephemeral: bool,
    view: discord.ui.View | None = None,
) -> None:
    """Send rendered message bodies as the response and follow-ups, in order; the view goes on the last."""
    for i, body in enumerate(bodies):
        kwargs: dict[str, Any] = {
            "embeds": [discord.Embed.from_dict(dict(e)) for e in body.get("embeds") or ()],
            "ephemeral": ephemeral,
            "allowed_mentions": NO_MENTIONS,
        }
        if body.get("content"):
            kwargs["content"] = body["content"]
        if view is not None and i == len(bodies) - 1:
            kwargs["view"] = view
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)


class ShareButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SHARE_TEMPLATE):
    """The button under a private ``/paper`` answer that posts the same answer publicly.

    Its ``custom_id`` carries the arXiv id, so it works after a restart: the paper is looked up
    again (``answer_paper``) instead of trusting anything stored in the message.
    """

    def __init__(self, arxiv_id: str) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="Share in channel", style=discord.ButtonStyle.primary, custom_id=share_custom_id(arxiv_id)
        )
        super().__init__(button)
        self.arxiv_id = arxiv_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> ShareButton:
        """Rebuild the button from a click on any message."""
        return cls(match["arxiv_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """Post the paper's card publicly in the channel where the button was clicked."""
        await answer(interaction, request_of(interaction, "share", shared_arxiv_id(self.item.custom_id or "") or ""))


def share_view(arxiv_id: str) -> discord.ui.View:
    """Return the view holding the share button for ``arxiv_id`` (no timeout: it outlives the process)."""
    view = discord.ui.View(timeout=None)
    view.add_item(ShareButton(arxiv_id))
    return view


async def user_is_admin(interaction: discord.Interaction, config: Config) -> bool:
    """Check Manage Server at run time too: the command's default permission can be overridden by a server."""
    return is_digest_admin(
        interaction.user.id,
        platform_admin=interaction.guild_id is not None and interaction.permissions.manage_guild,
        admins=config.discord.admins,
    )
