"""The neutral command contract: a :class:`CommandRequest` in, a :class:`Reply` out, for every platform.

Adapters parse their platform's event into a request and render the reply; everything between —
which core function answers, which share id a paper gets, and the text every error becomes — is
decided here once, so Slack and Discord answer the same input with the same words. ``dispatch``
never raises for a failed command: a :class:`~digestbot.errors.DigestbotError` becomes its one-line
text, and anything else (a bug) is logged and becomes :data:`SORRY`, so no user is left without an
answer after the platform's acknowledgement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from digestbot import commands
from digestbot.blocks import Message
from digestbot.config import Config
from digestbot.digest_command import DigestPoster, digest_command
from digestbot.errors import DigestbotError, StoreBusyError, StoreFailedError
from digestbot.labels import labels_for
from digestbot.lookup import answer_paper
from digestbot.records import normalize_arxiv_id
from digestbot.store.protocol import StoreProtocol
from digestbot.summaries.view import channel_localizer

log = logging.getLogger(__name__)

COMMANDS = ("paper", "share", "subscribe", "unsubscribe", "subscriptions", "digest")
"""What :func:`dispatch` answers; ``share`` is the "Share in channel" button under a ``/paper`` answer."""

SORRY = "Sorry, something went wrong; the error is logged."
NOT_A_PAPER_BUTTON = "This button does not name a paper."
NOT_IN_ARCHIVE = "That paper is no longer in the archive."
DIGEST_NEEDS_CHANNEL = "Use /digest in a server channel."
"""A ``/digest`` from outside a workspace's channel (a direct message): there is no channel to set up."""


@dataclass(frozen=True, kw_only=True)
class CommandRequest:
    """One chat command as the core sees it, whatever platform it came from."""

    platform: str
    workspace: str
    user: str
    channel: str
    #: one of :data:`COMMANDS`, without the slash.
    command: str
    #: the arguments as one text (``/digest top 5`` -> ``top 5``; ``share`` -> the arXiv id).
    text: str = ""
    #: whether the user may change the channel's digest (the adapter asks its platform).
    is_admin: bool = False
    #: the user's locale as the platform reports it; replies use ``config.locale`` for now.
    locale: str = ""


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What to answer: a neutral message to render, or a plain text; private unless ``ephemeral`` is False."""

    message: Message | None = None
    text: str = ""
    ephemeral: bool = True
    #: the arXiv id a "Share in channel" button under the reply posts publicly, if any.
    share_id: str | None = None


async def dispatch(
    request: CommandRequest,
    *,
    store: StoreProtocol,
    config: Config,
    engine: DigestPoster | None = None,
    on_change: Callable[[], None] | None = None,
) -> Reply:
    """Answer ``request``; never raises for a failed command (see the module docstring).

    ``engine`` posts ``/digest now``; ``on_change`` is called after ``/digest`` stored a channel's
    settings (the running scheduler's ``wake``).
    """
    try:
        return await _answer(request, store=store, config=config, engine=engine, on_change=on_change)
    except Exception as exc:
        return Reply(text=error_text(exc, platform=request.platform, command=request.command))


def error_text(exc: BaseException, *, platform: str, command: str) -> str:
    """Return what the user of a failed ``/command`` is told: the one rule every adapter uses.

    A :class:`~digestbot.errors.DigestbotError` is the user's to read (its one line); a failed
    database or anything else is a bug or an outage: it is logged with its traceback and the user
    gets :data:`SORRY` (a store error's line names a file the user has nothing to do with).
    """
    if isinstance(exc, DigestbotError) and not isinstance(exc, (StoreBusyError, StoreFailedError)):
        return str(exc)
    log.error("%s /%s failed", platform, command, exc_info=exc)
    return SORRY


async def _answer(
    request: CommandRequest,
    *,
    store: StoreProtocol,
    config: Config,
    engine: DigestPoster | None,
    on_change: Callable[[], None] | None,
) -> Reply:
    who = {"platform": request.platform, "workspace": request.workspace, "user": request.user}
    if request.command in ("paper", "share"):
        return await _paper(request, store=store, config=config)
    if request.command == "subscribe":
        return Reply(text=await commands.subscribe(store, config, **who, raw_topic=request.text))
    if request.command == "unsubscribe":
        return Reply(text=await commands.unsubscribe(store, config, **who, raw_topic=request.text))
    if request.command == "subscriptions":
        return Reply(text=await commands.list_topics(store, config, **who))
    if request.command == "digest":
        if not request.workspace or not request.channel:
            return Reply(text=DIGEST_NEEDS_CHANNEL)
        text = await digest_command(
            store,
            config,
            platform=request.platform,
            workspace=request.workspace,
            channel=request.channel,
            user_is_admin=request.is_admin,
            text=request.text,
            engine=engine,
            on_change=on_change,
        )
        return Reply(text=text)
    raise ValueError(f"unknown command {request.command!r}; known: {', '.join(COMMANDS)}")


async def _paper(request: CommandRequest, *, store: StoreProtocol, config: Config) -> Reply:
    """``/paper`` answers privately with a share button; ``share`` posts the same answer publicly."""
    query = request.text
    if request.command == "share":
        arxiv_id = normalize_arxiv_id(request.text)
        if arxiv_id is None:
            return Reply(text=NOT_A_PAPER_BUTTON)
        query = arxiv_id
    localize = await channel_localizer(store, config, platform=request.platform, channel_id=request.channel)
    message = await answer_paper(store, labels_for(config.locale), query, localize=localize)
    found = message.kind == "paper" and bool(message.cards)
    if request.command == "share":
        return Reply(message=message, ephemeral=False) if found else Reply(text=NOT_IN_ARCHIVE)
    return Reply(message=message, share_id=message.cards[0].arxiv_id if found else None)
