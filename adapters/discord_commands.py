"""Pure mapping between Discord and the core: no I/O, no client, testable without Discord.

What lives here: the delivery marker (``nonce`` and footer tag) that makes a post recognisable
after a crash, autocomplete choices cut to Discord's limits, the share button's ``custom_id``,
the ``/digest`` options turned into the core's text form, the admin check, and the mapping of
Discord HTTP errors to :class:`~digestbot.errors.DeliveryError`.

Limits used here (discord/discord-api-docs):

* ``docs/resources/message.mdx`` *Create Message*: ``nonce`` "up to 25 characters";
  ``enforce_nonce`` makes Discord return the earlier message instead of posting a duplicate
  when the same nonce comes again within a few minutes.
* ``docs/interactions/application-commands.mdx`` *Application Command Option Choice Structure*:
  choice ``name`` 1-100 characters, string ``value`` up to 100 characters;
  ``docs/interactions/receiving-and-responding.mdx`` *Autocomplete*: "max of 25 choices".
* ``docs/components/reference.mdx``: ``custom_id`` up to 100 characters; thread names up to 100
  (``docs/resources/channel.mdx``, *Start Thread from Message*: "1-100 character channel name").
* ``docs/topics/opcodes-and-status-codes.md`` JSON error codes used by :func:`delivery_error`.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.discord_render import CONTENT_LIMIT, EMBED_TOTAL_LIMIT, FOOTER_LIMIT, embeds_size
from digestbot.errors import DeliveryError
from digestbot.http_status import as_delivery_error, classify_status
from digestbot.ports import Target
from digestbot.records import Paper, normalize_arxiv_id
from digestbot.text import one_line, truncate

NONCE_MAX = 25
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100
CUSTOM_ID_MAX = 100
THREAD_NAME_MAX = 100

NONCE_PREFIX = "dgb"
"""Every digestbot nonce starts with this; the footer tag is ``ref <nonce>``."""

SHARE_PREFIX = "digestbot:share:"
SHARE_TEMPLATE = r"digestbot:share:(?P<arxiv_id>\S{1,80})"
"""The share button's ``custom_id`` pattern (a discord.py ``DynamicItem`` template)."""

# Discord JSON error codes (docs/topics/opcodes-and-status-codes.md).
MISSING_ACCESS = 50001
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
THREAD_ALREADY_CREATED = 160004

_PART = re.compile(r"^(?P<base>.*):part(?P<part>\d+)/(?P<parts>\d+)$")
_PART_TAG = re.compile(r"\s*\(\d+/\d+\)\s*$")
_MARKUP = re.compile(r"[*_~`|>#\\]|-# ")


# -- delivery marker --------------------------------------------------------------------------


def nonce_for(target: Target, key: str) -> str:
    """Return the ≤ 25-character nonce of ``key`` at ``target``: the same on every retry and restart."""
    digest = hashlib.sha256(f"{target}|{key}".encode()).hexdigest()
    return f"{NONCE_PREFIX}{digest[: NONCE_MAX - len(NONCE_PREFIX) - 1]}"


def marker_for(nonce: str) -> str:
    """Return the tag put in a post's footer so history shows which delivery it was."""
    return f"ref {nonce}"


def marked_body(body: Mapping[str, Any], nonce: str) -> dict[str, Any]:
    """Return a copy of a message-create body carrying ``nonce`` (+ ``enforce_nonce``) and its footer tag.

    The tag goes in the last embed's footer when that stays within the footer and 6000-character
    embed limits, else as a small-print line of ``content``. ``allowed_mentions`` is forced to none.
    """
    out = copy.deepcopy(dict(body))
    out["nonce"] = nonce
    out["enforce_nonce"] = True
    out["allowed_mentions"] = {"parse": []}
    tag = marker_for(nonce)
    embeds = out.get("embeds") or []
    if embeds:
        last = embeds[-1]
        old = last.get("footer", {}).get("text", "")
        new = f"{old} · {tag}" if old else tag
        if len(new) <= FOOTER_LIMIT and embeds_size(embeds) + len(new) - len(old) <= EMBED_TOTAL_LIMIT:
            last["footer"] = {**last.get("footer", {}), "text": new}
            return out
    content = out.get("content", "")
    line = f"-# {tag}"
    if len(content) + 1 + len(line) > CONTENT_LIMIT:
        content = truncate(content, CONTENT_LIMIT - 1 - len(line))
    out["content"] = f"{content}\n{line}" if content else line
    return out


def carries_marker(message: Mapping[str, Any], nonce: str) -> bool:
    """Tell whether a message object (as history returns it) carries the tag of ``nonce``."""
    tag = marker_for(nonce)
    if tag in (message.get("content") or ""):
        return True
    return any(tag in ((e.get("footer") or {}).get("text") or "") for e in message.get("embeds") or ())


def first_part_key(key: str) -> str | None:
    """Return the key of part 1 of a multi-part key (``…:part3/4`` → ``…:part1/4``), or None."""
    m = _PART.match(key)
    if m is None or m["part"] == "1":
        return None
    return f"{m['base']}:part1/{m['parts']}"


def thread_name(body: Mapping[str, Any], fallback: str = "Digest") -> str:
    """Return a 1-100 character thread name from a part's heading line (markup and part tag removed)."""
    text = (body.get("content") or "").split("\n", 1)[0]
    text = one_line(_MARKUP.sub("", _PART_TAG.sub("", text)))
    return truncate(text or fallback, THREAD_NAME_MAX)


# -- errors -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HttpFailure:
    """What a failed Discord request said: HTTP status, JSON error code, text, retry hint."""

    status: int
    code: int = 0
    text: str = ""
    retry_after: float | None = None


def delivery_error(where: str, failure: HttpFailure) -> DeliveryError:
    """Map a failed post to a DeliveryError: permanent when retrying cannot help.

    A 401 is an :class:`~digestbot.errors.AuthError` (the token was revoked or rotated: no target
    is at fault). Permanent: 403 (Missing Access 50001, Missing Permissions 50013, Cannot send messages to this
    user 50007), 404 (Unknown Channel 10003 / User 10013 / Message 10008), and other 4xx (a body
    Discord rejects will be rejected again). Transient: 429 (with ``retry_after``), 5xx, and
    anything without a status (connection errors).
    """
    what = f"{where}: Discord said {failure.status}"
    if failure.code:
        what += f" (code {failure.code})"
    if failure.text:
        what += f": {one_line(failure.text)[:200]}"
    kind = classify_status(failure.status)
    if kind == "auth":  # the token, not the target: stop the platform, keep the channels
        what += " — Discord refused the bot token; check discord.token"
    elif failure.status == 403 and failure.code == CANNOT_DM:  # a 4xx: permanent
        what += " — the user does not accept direct messages"
    return as_delivery_error(kind, what, retry_after=failure.retry_after)


# -- autocomplete -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Choice:
    """One autocomplete suggestion: what the user sees and what the command receives."""

    name: str
    value: str


def choices(items: Iterable[tuple[str, str]]) -> list[Choice]:
    """Return at most 25 choices, names cut to 100 and values to 100 characters, without duplicates or blanks."""
    out: list[Choice] = []
    seen: set[str] = set()
    for name, value in items:
        value = one_line(value)[:CHOICE_VALUE_MAX]
        name = truncate(one_line(name), CHOICE_NAME_MAX) or value
        if not value or value in seen:
            continue
        seen.add(value)
        out.append(Choice(name=name, value=value))
        if len(out) == CHOICES_MAX:
            break
    return out


def paper_choice(paper: Paper) -> tuple[str, str]:
    """Return (name, value) for one paper: ``Title (2410.05265)``, cut so the id always shows."""
    tail = f" ({paper.arxiv_id})"
    title = truncate(one_line(paper.title) or paper.arxiv_id, CHOICE_NAME_MAX - len(tail))
    return title + tail, paper.arxiv_id


# -- share button -----------------------------------------------------------------------------


def share_custom_id(arxiv_id: str) -> str:
    """Return the share button's ``custom_id`` for a paper (≤ 100 characters)."""
    custom_id = SHARE_PREFIX + arxiv_id
    if len(custom_id) > CUSTOM_ID_MAX or not re.fullmatch(SHARE_TEMPLATE, custom_id):
        raise ValueError(f"arXiv id {arxiv_id!r} does not fit a custom_id")
    return custom_id


def shared_arxiv_id(custom_id: str) -> str | None:
    """Return the arXiv id a share button carries, or None if the id is not a valid arXiv id."""
    m = re.fullmatch(SHARE_TEMPLATE, custom_id)
    return normalize_arxiv_id(m["arxiv_id"]) if m else None


# -- /digest ----------------------------------------------------------------------------------


def digest_text(action: str, value: str | int | None = None) -> str:
    """Return the core ``/digest`` text for a Discord subcommand and its option (``time 08:30``)."""
    if value is None or value == "":
        return action
    return f"{action} {one_line(str(value))}".strip()


def workspace_of(guild_id: int | None) -> str:
    """Return the core workspace for an interaction: the guild id, or "" in direct messages."""
    return str(guild_id) if guild_id else ""
