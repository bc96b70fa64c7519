"""Discord's application commands: names, options, autocomplete — each one a call to the core.

Why a module of its own: this is the one place that says what the commands look like on Discord
(option types and ranges, choices, the Manage Server default of ``/digest``); what they do is the
core's :func:`~digestbot.dispatch.dispatch`, reached through :mod:`adapters.discord_interactions`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from adapters.discord_commands import choices, digest_text, paper_choice, workspace_of
from adapters.discord_interactions import PLATFORM, answer, reply_privately, request_of, user_is_admin
from digestbot.channels import TOP_MAX, TOP_MIN
from digestbot.dispatch import error_text
from digestbot.suggest import suggest_own_topics, suggest_papers, suggest_topics, suggest_zones

if TYPE_CHECKING:
    from adapters.discord_client import DigestbotClient

log = logging.getLogger(__name__)

AUTOCOMPLETE_BUDGET = 2.5
"""Seconds an autocomplete lookup may take; an autocomplete cannot be deferred, so slower means none."""


class DigestbotTree(app_commands.CommandTree["DigestbotClient"]):
    """The command tree: shows a command's CommandError to its user, and logs everything else."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Reply privately with the error's text (a CommandError) or a generic apology (a bug)."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, app_commands.CheckFailure):
            text = "You cannot use this command here."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            text = error_text(cause, platform=PLATFORM, command=command)
        try:
            await reply_privately(interaction, text)
        except discord.HTTPException as exc:
            log.warning("Discord: could not send the error reply: %s", exc)


def build_tree(client: DigestbotClient) -> DigestbotTree:
    """Register digestbot's application commands on a new command tree for ``client``."""
    tree = DigestbotTree(client)
    config = client.config

    async def budgeted(work: Awaitable[list[app_commands.Choice[str]]]) -> list[app_commands.Choice[str]]:
        try:
            return await asyncio.wait_for(work, AUTOCOMPLETE_BUDGET)
        except TimeoutError:
            log.warning("Discord: autocomplete took over %.1f s; answering with no choices", AUTOCOMPLETE_BUDGET)
            return []

    def as_choices(pairs: Sequence[tuple[str, str]]) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=c.name, value=c.value) for c in choices(pairs)]

    # /paper ------------------------------------------------------------------------------------
    @tree.command(name="paper", description="Look up a paper by arXiv id, link or title words (only you see it)")
    @app_commands.describe(query="arXiv id (2410.05265), arXiv/Hugging Face link, or words from the title")
    async def paper(interaction: discord.Interaction, query: app_commands.Range[str, 1, 300]) -> None:
        await answer(interaction, request_of(interaction, "paper", query))

    @paper.autocomplete("query")
    async def paper_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        async def work() -> list[app_commands.Choice[str]]:
            papers = await suggest_papers(client.store, current)
            return as_choices([paper_choice(p) for p in papers])

        return await budgeted(work())

    # /subscribe, /unsubscribe, /subscriptions -----------------------------------------------------
    @tree.command(name="subscribe", description="Get a direct message when a day's papers match a topic")
    @app_commands.describe(topic='Words that must all occur, "quoted phrases", -excluded words')
    async def subscribe(interaction: discord.Interaction, topic: app_commands.Range[str, 1, 200]) -> None:
        await answer(interaction, request_of(interaction, "subscribe", topic))

    @subscribe.autocomplete("topic")
    async def subscribe_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        async def work() -> list[app_commands.Choice[str]]:
            topics = await suggest_topics(client.store, current)
            typed = [(current, current)] if current.strip() and current not in topics else []
            return as_choices(typed + [(t, t) for t in topics])

        return await budgeted(work())

    @tree.command(name="unsubscribe", description="Stop following a topic")
    @app_commands.describe(topic="One of the topics you follow")
    async def unsubscribe(interaction: discord.Interaction, topic: app_commands.Range[str, 1, 200]) -> None:
        await answer(interaction, request_of(interaction, "unsubscribe", topic))

    @unsubscribe.autocomplete("topic")
    async def unsubscribe_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async def work() -> list[app_commands.Choice[str]]:
            mine = await suggest_own_topics(
                client.store,
                current,
                platform=PLATFORM,
                workspace=workspace_of(interaction.guild_id),
                user=str(interaction.user.id),
            )
            return as_choices([(t, t) for t in mine])

        return await budgeted(work())

    @tree.command(name="subscriptions", description="List the topics you follow")
    async def subscriptions(interaction: discord.Interaction) -> None:
        await answer(interaction, request_of(interaction, "subscriptions"))

    # /digest (Manage Server) ----------------------------------------------------------------------
    digest = app_commands.Group(
        name="digest",
        description="Set up this channel's daily paper digest (Manage Server)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    async def run_digest(interaction: discord.Interaction, text: str) -> None:
        admin = await user_is_admin(interaction, config)
        await answer(interaction, request_of(interaction, "digest", text, is_admin=admin))

    @digest.command(name="on", description="Start the daily digest in this channel")
    async def digest_on(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "on")

    @digest.command(name="off", description="Stop the daily digest in this channel")
    async def digest_off(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "off")

    @digest.command(name="time", description="Set the local posting time")
    @app_commands.describe(time="24-hour time, e.g. 09:00")
    async def digest_time(interaction: discord.Interaction, time: app_commands.Range[str, 4, 5]) -> None:
        await run_digest(interaction, digest_text("time", time))

    @digest.command(name="timezone", description="Set the time zone of the posting time")
    @app_commands.describe(timezone="IANA time zone, e.g. Asia/Seoul or Europe/Berlin")
    async def digest_timezone(interaction: discord.Interaction, timezone: app_commands.Range[str, 1, 64]) -> None:
        await run_digest(interaction, digest_text("tz", timezone))

    @digest_timezone.autocomplete("timezone")
    async def timezone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return as_choices([(z, z) for z in suggest_zones(current)])

    @digest.command(name="days", description="Set the weekdays to post on")
    @app_commands.describe(days='Comma-separated weekdays, e.g. mon,tue,wed,thu,fri; or "all"')
    async def digest_days(interaction: discord.Interaction, days: app_commands.Range[str, 1, 60]) -> None:
        await run_digest(interaction, digest_text("days", days))

    @digest.command(name="top", description="Set how many papers the digest shows")
    @app_commands.describe(count=f"{TOP_MIN} to {TOP_MAX}")
    async def digest_top(interaction: discord.Interaction, count: app_commands.Range[int, TOP_MIN, TOP_MAX]) -> None:
        await run_digest(interaction, digest_text("top", count))

    @digest.command(name="topics", description='Only post papers matching these topics ("none" clears)')
    @app_commands.describe(topics='Comma-separated topics, e.g. diffusion, "language model"; or none')
    async def digest_topics(interaction: discord.Interaction, topics: app_commands.Range[str, 1, 500]) -> None:
        await run_digest(interaction, digest_text("topics", topics))

    @digest.command(name="cadence", description="Post daily, weekly (last week's top) or monthly (last month's)")
    @app_commands.describe(cadence="daily, weekly (on the first listed day) or monthly (on the 1st)")
    @app_commands.choices(cadence=[app_commands.Choice(name=c, value=c) for c in ("daily", "weekly", "monthly")])
    async def digest_cadence(interaction: discord.Interaction, cadence: app_commands.Choice[str]) -> None:
        await run_digest(interaction, digest_text("cadence", cadence.value))

    @digest.command(name="layout", description="Every card in the channel, or one list with the cards in its thread")
    @app_commands.describe(layout="full (every card here), compact (one list; cards in its thread) or forum")
    @app_commands.choices(layout=[app_commands.Choice(name=c, value=c) for c in ("full", "compact", "forum")])
    async def digest_layout(interaction: discord.Interaction, layout: app_commands.Choice[str]) -> None:
        await run_digest(interaction, digest_text("layout", layout.value))

    @digest.command(name="status", description="Show this channel's digest settings")
    async def digest_status(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "status")

    @digest.command(name="now", description="Post today's digest in this channel now (parts already there are kept)")
    async def digest_now(interaction: discord.Interaction) -> None:
        await run_digest(interaction, "now")

    tree.add_command(digest)
    return tree
