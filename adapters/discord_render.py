r"""Render a neutral :class:`~digestbot.blocks.Message` as Discord message-create bodies (plain JSON).

Pure functions, no ``discord`` import: the CLI preview, the HTML preview and the tests use the
same payloads the Discord adapter posts.

Layout: text blocks before the first card (the digest heading) go to ``content``; each
:class:`~digestbot.blocks.PaperCard` becomes one embed (linked title, authors as ``author.name``,
votes and summary sections with bold labels in the description, links, thumbnail, footer with
date and part ``i/n``); text after a card becomes a small grey embed so it stays below the card.
Cards are packed into as few messages as the limits allow, in order; a card is never split.

Limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits):
content 2000; at most 10 embeds; title 256; description 4096; 25 fields; field name 256,
value 1024; footer 2048; author name 256; the title, description, field names and values,
footer text and author names of *all* embeds of one message together at most 6000.

Counting: Discord counts **code points** (Python ``len``), not UTF-16 units: a Discord
engineer confirmed "Our API uses Python 3, so the API calculates length based on the number of
codepoints in the string" (discord/discord-api-docs#1315, 2020-01-23). Every limit here is
measured with :data:`LENGTH` so that choice lives in one place.

Safety: paper text is markdown-escaped (``\*``, ``\_``, ``\[`` …) and mentions are broken with
a zero-width space (``@\u200beveryone``, ``<\u200b@123>``) as a second line of defence beside
``allowed_mentions: {"parse": []}``, which every body carries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.render_text import fit, image_url, label_text, link_url, share_budget, summary_text
from digestbot.blocks import Block, Context, Divider, Header, Image, Message, PaperCard, PaperList, Paragraph, Section

LENGTH: Callable[[str], int] = len
"""How Discord counts characters: code points (see the module docstring)."""

CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000

COLOUR = 0xFFD21E
"""Card colour bar (Hugging Face yellow)."""

NOTE_COLOUR = 0x4F545C
"""Colour of the small embeds that carry text blocks placed after a card."""

SUPPRESS_NOTIFICATIONS = 1 << 12
"""Message flag set on parts after the first, so a long digest pings readers once."""

ZWSP = "\u200b"

_EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)
_ANGLE_MENTION = re.compile(r"<([@#/])")
# Parentheses stay as written: with the brackets escaped no masked link "[text](url)" can form.
_MD_INLINE = "\\*_~|`[]<"  # the backslash first, so the escapes added after it stay single
# Headings, quotes, lists and "-# subtext" only start a line; escape them only there.
_MD_LINE_START = re.compile(r"^([ \t]*)(?:([#>+\-])|(\d+)\.)", re.MULTILINE)

_META_LIMIT = 300
_LABEL_LIMIT = 100
_LINK_LIMIT = 600


def neutralise_mentions(text: str) -> str:
    """Return ``text`` with ``@everyone``/``@here`` and ``<@id>``/``<@&id>``/``<#id>`` broken by a zero-width space."""
    if "@" not in text and "<" not in text:
        return text
    text = _EVERYONE.sub(lambda m: "@" + ZWSP + m[1], text)
    return _ANGLE_MENTION.sub(lambda m: "<" + ZWSP + m[1], text)


def escape_markdown(text: str) -> str:
    """Return ``text`` with mentions neutralised and Discord markdown escaped, so it shows as written."""
    text = neutralise_mentions(text)
    for char in _MD_INLINE:
        text = text.replace(char, "\\" + char)
    return _MD_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(m: re.Match[str]) -> str:
    return m[1] + ("\\" + m[2] if m[2] else m[3] + "\\.")


def _fit_md(text: str, limit: int) -> str:
    return fit(text, limit, escape=escape_markdown, length=LENGTH)


def _fit_plain(text: str, limit: int) -> str:
    return fit(text, limit, escape=neutralise_mentions, length=LENGTH)


@dataclass(kw_only=True)
class _Embed:
    data: dict[str, Any]
    size: int = field(default=0)


def embed_size(embed: Mapping[str, Any]) -> int:
    """Count what Discord counts toward the 6000 limit for one embed (the one place it is counted)."""
    size = LENGTH(embed.get("title", "")) + LENGTH(embed.get("description", ""))
    size += LENGTH(embed.get("author", {}).get("name", "")) + LENGTH(embed.get("footer", {}).get("text", ""))
    for f in embed.get("fields", ()):
        size += LENGTH(f.get("name", "")) + LENGTH(f.get("value", ""))
    return size


def embeds_size(embeds: Iterable[Mapping[str, Any]]) -> int:
    """Count what Discord counts toward the 6000 limit shared by all embeds of one message."""
    return sum(embed_size(e) for e in embeds)


def _card_description(card: PaperCard) -> str:
    """Return the votes line, the summary sections with bold labels, and the links, within 4096."""
    head = _fit_md(" · ".join(label_text(m) for m in card.meta), _META_LIMIT) if card.meta else ""
    links = []
    for link in card.links:
        url = link_url(link.url)
        if url and LENGTH(url) <= _LINK_LIMIT:
            links.append(f"[{_fit_md(label_text(link.label) or url, _LABEL_LIMIT)}]({url})")
    tail = " · ".join(links)
    shown = [(label_text(s.label), summary_text(s.text)) for s in card.sections]
    shown = [(name, text) for name, text in shown if name or text]
    labels = [f"**{_fit_md(name, _LABEL_LIMIT)}**: " if name else "" for name, _ in shown]
    texts = [text for _, text in shown]
    fixed = [p for p in (head, tail) if p] + labels
    # Pieces are joined by blank lines: count the separators between head, sections and tail.
    pieces = len([p for p in (head, tail) if p]) + len(shown)
    room = DESCRIPTION_LIMIT - sum(LENGTH(p) for p in fixed) - 2 * max(pieces - 1, 0)
    caps = share_budget([LENGTH(escape_markdown(t)) for t in texts], room)
    body = [label + _fit_md(t, cap) for label, t, cap in zip(labels, texts, caps, strict=True)]
    return "\n\n".join(p for p in (head, *body, tail) if p)


def _card_embed(card: PaperCard) -> _Embed:
    prefix = f"{card.rank}. " if card.rank is not None else ""
    title = prefix + _fit_md(label_text(card.title) or card.arxiv_id, TITLE_LIMIT - LENGTH(prefix))
    embed: dict[str, Any] = {"title": title, "color": COLOUR}
    if url := link_url(card.url):
        embed["url"] = url
    if authors := label_text(card.authors):
        embed["author"] = {"name": _fit_plain(authors, AUTHOR_LIMIT)}
    if description := _card_description(card):
        embed["description"] = description
    if thumb := image_url(card.thumbnail):
        embed["thumbnail"] = {"url": thumb}
    return _Embed(data=embed, size=embed_size(embed))


LIST_DESCRIPTION_LIMIT = DESCRIPTION_LIMIT
"""A compact list is one embed: its description holds every line, within 4096 (and the 6000 total)."""


def _list_embed(block: PaperList, room: int) -> _Embed:
    """Return a compact list as one embed: ``**1.** [Title](url) · ▲ 27 votes — summary`` per line.

    Titles and summaries share what is left after the fixed parts (ranks, links, votes), the
    longest cut first, so 25 papers always fit one message.
    """
    fixed: list[tuple[str, str, str]] = []  # before title, between title and summary, after summary
    texts: list[str] = []
    for item in block.items:
        url = link_url(item.url)
        url = url if url and LENGTH(url) <= _LINK_LIMIT else None
        meta = f" · {_fit_md(label_text(item.meta), _META_LIMIT)}" if item.meta else ""
        open_, close = (f"**{item.rank}.** [", f"]({url}){meta}") if url else (f"**{item.rank}.** ", meta)
        fixed.append((open_, close, " — " if item.summary else ""))
        texts += [label_text(item.title) or item.arxiv_id, summary_text(item.summary).replace("\n", " ")]
    limit = min(LIST_DESCRIPTION_LIMIT, room)
    used = sum(LENGTH(a) + LENGTH(b) + LENGTH(c) for a, b, c in fixed) + max(len(fixed) - 1, 0)
    caps = share_budget([LENGTH(escape_markdown(t)) for t in texts], max(limit - used, 0))
    lines = []
    for i, (open_, close, dash) in enumerate(fixed):
        title = _fit_md(texts[2 * i], caps[2 * i])
        summary = _fit_md(texts[2 * i + 1], caps[2 * i + 1])
        lines.append(open_ + title + close + (dash + summary if summary else ""))
    embed = {"description": "\n".join(lines), "color": COLOUR}
    return _Embed(data=embed, size=embed_size(embed))


def _text_raw(block: Block) -> tuple[str, str, str]:
    """Return (markup before, raw text, markup after) for a text block."""
    if isinstance(block, Header):
        return "**", label_text(block.text), "**"
    if isinstance(block, Context):
        return "-# ", " · ".join(label_text(p) for p in block.parts), ""
    if isinstance(block, Paragraph | Section):
        label = f"**{_fit_md(label_text(block.label), _LABEL_LIMIT)}**: " if isinstance(block, Section) else ""
        return label, summary_text(block.text), ""
    return "", "", ""


def _fit_lines(raws: list[tuple[str, str, str]], limit: int) -> str:
    """Return text lines joined by newlines, each cut by a fair share so the whole fits in ``limit``."""
    fixed = sum(LENGTH(a) + LENGTH(b) for a, _, b in raws) + max(len(raws) - 1, 0)
    caps = share_budget([LENGTH(escape_markdown(t)) for _, t, _ in raws], limit - fixed)
    return "\n".join(a + _fit_md(t, cap) + b for (a, t, b), cap in zip(raws, caps, strict=True))


def _note_embed(block: Block) -> _Embed | None:
    if isinstance(block, Image):
        url = image_url(block.url)
        return _Embed(data={"image": {"url": url}, "color": NOTE_COLOUR}) if url else None
    text = _fit_lines([_text_raw(block)], DESCRIPTION_LIMIT)
    if not text.strip():
        return None
    embed = {"description": text, "color": NOTE_COLOUR}
    return _Embed(data=embed, size=embed_size(embed))


def _footer(message: Message, part: int, parts: int) -> str:
    bits = []
    if message.kind in ("digest", "matches") and message.key:
        bits.append(message.key)
    if parts > 1:
        bits.append(f"{part}/{parts}")
    return _fit_plain(" · ".join(bits), FOOTER_LIMIT)


FORUM_POST = "forum_post"
"""Key of a body that starts a forum post: ``{"name": …, "tags": [tag names]}``; the adapter maps the
names to the forum's tag ids and starts the thread with the rest of the body as its starter message."""

THREAD_NAME_LIMIT = 100


def render_discord(message: Message, *, max_embeds: int = EMBEDS_PER_MESSAGE) -> list[dict[str, Any]]:
    """Return the message-create bodies that post ``message``: numbered parts, in order, all within limits.

    A forum post (``message.post``) is one body marked :data:`FORUM_POST` (a card is one embed).
    """
    bodies = _render_bodies(message, max_embeds=max_embeds)
    if message.post is not None:
        name = _fit_plain(label_text(message.post.name), THREAD_NAME_LIMIT) or "…"
        bodies[0][FORUM_POST] = {"name": name, "tags": list(message.post.tags[:5])}
        return bodies[:1]
    return bodies


def _render_bodies(message: Message, *, max_embeds: int) -> list[dict[str, Any]]:
    max_embeds = max(1, min(max_embeds, EMBEDS_PER_MESSAGE))
    heading = next((label_text(b.text) for b in message.blocks if isinstance(b, Header)), "")
    lead: list[tuple[str, str, str]] = []
    embeds: list[_Embed] = []
    for block in message.blocks:
        if isinstance(block, PaperCard):
            embeds.append(_card_embed(block))
        elif isinstance(block, PaperList):
            # One embed; the heading (content) and footer are outside the embed's own room.
            embeds.append(_list_embed(block, EMBED_TOTAL_LIMIT - LENGTH(_footer(message, 1, 1)) - 2))
        elif isinstance(block, Divider):
            continue
        elif not embeds and not isinstance(block, Image):
            lead.append(_text_raw(block))
        elif note := _note_embed(block):
            embeds.append(note)

    # Footers name the part ("3/12"); reserve room for the longest footer any part could get.
    most_parts = max(len(embeds), 1)
    footer_reserve = LENGTH(_footer(message, most_parts, most_parts))
    groups: list[list[_Embed]] = [[]]
    total = 0
    for embed in embeds:
        cost = embed.size + footer_reserve
        if groups[-1] and (len(groups[-1]) >= max_embeds or total + cost > EMBED_TOTAL_LIMIT):
            groups.append([])
            total = 0
        groups[-1].append(embed)
        total += cost

    parts = len(groups)
    part_tag = f" ({parts}/{parts})" if parts > 1 else ""
    bodies: list[dict[str, Any]] = []
    for index, group in enumerate(groups, start=1):
        tag = f" ({index}/{parts})" if parts > 1 else ""
        if index == 1:
            content = _fit_lines(lead, CONTENT_LIMIT - LENGTH(part_tag)) if lead else ""
            if not content and not group:
                content = _fit_md(message.fallback, CONTENT_LIMIT - LENGTH(part_tag)) or ZWSP
        else:
            content = "**" + _fit_md(heading, CONTENT_LIMIT - 4 - LENGTH(part_tag)) + "**" if heading else ""
        content = (content + tag).strip()
        body: dict[str, Any] = {"allowed_mentions": {"parse": []}}
        if content:
            body["content"] = content
        footer = _footer(message, index, parts)
        out = []
        for embed in group:
            data = dict(embed.data)
            if footer:
                data["footer"] = {"text": footer}
            out.append(data)
        body["embeds"] = out
        if index > 1:
            body["flags"] = SUPPRESS_NOTIFICATIONS
        bodies.append(body)
    return bodies
