"""Render a neutral :class:`~digestbot.blocks.Message` as Slack ``chat.postMessage`` arguments (plain JSON).

Pure functions, no ``slack_sdk`` import: the CLI preview, the HTML preview and the tests use the
same payloads the Slack adapter posts (it adds only the token).

Layout per card: a ``section`` whose mrkdwn starts with the bold linked title ``*<url|1. Title>*``
followed by the summary sections (bold labels), with the thumbnail as ``image`` accessory; a
``context`` with authors, votes/topics and links; a ``divider``. The title is a section, not a
``header`` block, because a header is plain text (no link) and holds only 150 characters, while the
formatter allows 300-character titles: a section keeps every title whole and clickable. The
digest heading itself is a ``header`` block (plain text); if it is longer than 150 characters it
is cut there and repeated whole in a ``context`` below.

Limits (https://docs.slack.dev/reference/block-kit/blocks): at most 50 blocks per message;
section text 3000; header plain_text 150; context at most 10 elements; text objects 3000;
image ``alt_text`` 2000, ``image_url`` 3000. Slack also rejects a message whose blocks hold
"too much" text in total (``msg_blocks_too_long``, undocumented: about 12,000 characters per
slackapi/bolt-js#2509, rejected at 11,341 in #2867); :data:`MESSAGE_TEXT_BUDGET` stays well
below that, counting every string in the blocks.

Counting: Slack documents its limits in "characters" without saying which; every length here is
counted in UTF-16 code units (:func:`digestbot.text.utf16_len`), never fewer than code points, so
a payload valid under UTF-16 counting is valid under either.

Safety: paper text is escaped (``&`` ``<`` ``>`` -> ``&amp;`` ``&lt;`` ``&gt;``) so ``<!channel>``,
``<@U123>`` and ``<https://evil|click>`` show as text; ``@channel``/``@here``/``@everyone`` get a
zero-width space after ``@``; every mrkdwn object carries ``verbatim: true`` so Slack does no
automatic parsing; ``*``, ``_``, ``~`` and backticks get a zero-width space on each side, which stops
them opening or closing formatting whether Slack treats that space as a word character or not.
Cutting happens *before* escaping (:func:`adapters.render_text.fit`), so no ``&amp;`` is ever cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from adapters.render_text import fit, image_url, label_text, link_url, share_budget, summary_text
from digestbot.blocks import Block, Context, Divider, Header, Image, Message, PaperCard, PaperList, Paragraph, Section
from digestbot.text import utf16_len

LENGTH: Callable[[str], int] = utf16_len
"""How lengths are counted for Slack: UTF-16 units (see the module docstring)."""

BLOCKS_PER_MESSAGE = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
CONTEXT_ELEMENTS = 10
ALT_TEXT_LIMIT = 2000
IMAGE_URL_LIMIT = 1000
"""Slack allows 3000; longer thumbnail URLs are dropped to keep the message budget predictable."""

MESSAGE_TEXT_BUDGET = 9000
"""Total characters of all strings in one message's blocks (Slack's undocumented cap is ~12,000)."""

FALLBACK_LIMIT = 3000
"""The notification ``text``; Slack recommends at most 4000 characters."""

EVENT_TYPE = "digestbot_post"

ZWSP = "\u200b"

_CARD_SUMMARY_BUDGET = 3500
_TITLE_LIMIT = 500
_LABEL_LIMIT = 150
_AUTHORS_LIMIT = 600
_META_LIMIT = 500
_LINK_LIMIT = 500
_CONTEXT_ELEMENT_LIMIT = 500
_HEADING_CONTEXT_LIMIT = 1000

_BROADCAST = re.compile(r"@(channel|here|everyone)", re.IGNORECASE)
_FORMAT_CHARS = "*_~`"


def escape_mrkdwn(text: str) -> str:
    """Return ``text`` safe inside Slack mrkdwn: entities escaped, broadcasts and formatting neutralised."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "@" in text:
        text = _BROADCAST.sub(lambda m: "@" + ZWSP + m[1], text)
    for char in _FORMAT_CHARS:
        text = text.replace(char, ZWSP + char + ZWSP)
    return text


def _fit(text: str, limit: int) -> str:
    return fit(text, limit, escape=escape_mrkdwn, length=LENGTH)


def _plain(text: str, limit: int) -> str:
    return fit(text, limit, length=LENGTH)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _link(url: str, label: str) -> str | None:
    """Return ``<url|label>`` with the URL's ``&`` escaped as Slack expects, or None if unusable."""
    safe = link_url(url)
    if not safe or LENGTH(safe) > _LINK_LIMIT:
        return None
    return f"<{safe.replace('&', '&amp;')}|{_fit(label, _LABEL_LIMIT)}>"


def text_size(value: Any) -> int:
    """Count every string in a block tree except ``type`` names: what Slack's total-size cap weighs."""
    if isinstance(value, str):
        return LENGTH(value)
    if isinstance(value, dict):
        return sum(text_size(v) for k, v in value.items() if k != "type")
    if isinstance(value, list):
        return sum(text_size(v) for v in value)
    return 0


def _card_blocks(card: PaperCard) -> list[dict[str, Any]]:
    prefix = f"{card.rank}. " if card.rank is not None else ""
    plain_title = label_text(card.title) or card.arxiv_id
    title = prefix + _fit(plain_title, _TITLE_LIMIT)
    url = link_url(card.url)
    linked = url and LENGTH(url) <= _LINK_LIMIT
    title_line = f"*<{url.replace('&', '&amp;')}|{title}>*" if url and linked else f"*{title}*"

    shown = [(label_text(s.label), summary_text(s.text)) for s in card.sections]
    shown = [(name, text) for name, text in shown if name or text]
    labels = [f"*{_fit(name, _LABEL_LIMIT)}*: " if name else "" for name, _ in shown]
    texts = [text for _, text in shown]
    # Each piece must fit in a section by itself (next to the title in the worst case).
    piece_room = SECTION_LIMIT - LENGTH(title_line) - 2
    sizes = [LENGTH(escape_mrkdwn(t)) for t in texts]
    caps = share_budget(sizes, _CARD_SUMMARY_BUDGET - sum(LENGTH(lb) + 2 for lb in labels))
    pieces = [
        label + _fit(t, max(min(cap, piece_room - LENGTH(label)), 0))
        for label, t, cap in zip(labels, texts, caps, strict=True)
    ]

    # The title line, then the sections separated by blank lines, spread over as few sections as fit.
    sections = [title_line]
    for piece in pieces:
        sep = "\n" if sections == [title_line] else "\n\n"
        if LENGTH(sections[-1]) + LENGTH(sep) + LENGTH(piece) <= SECTION_LIMIT:
            sections[-1] += sep + piece
        else:
            sections.append(piece)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(t)} for t in sections if t.strip()]
    thumb = image_url(card.thumbnail)
    if thumb and LENGTH(thumb) <= IMAGE_URL_LIMIT:
        blocks[0]["accessory"] = {
            "type": "image",
            "image_url": thumb,
            "alt_text": _plain(plain_title, ALT_TEXT_LIMIT),
        }

    elements = []
    if authors := label_text(card.authors):
        elements.append(_mrkdwn(_fit(authors, _AUTHORS_LIMIT)))
    if meta := " · ".join(m for m in (label_text(m) for m in card.meta) if m):
        elements.append(_mrkdwn(_fit(meta, _META_LIMIT)))
    links = [link for link in (_link(lk.url, label_text(lk.label) or lk.url) for lk in card.links) if link]
    if links:
        elements.append(_mrkdwn(" · ".join(links)))
    if elements:
        blocks.append({"type": "context", "elements": elements})
    blocks.append({"type": "divider"})
    return blocks


LIST_TEXT_BUDGET = MESSAGE_TEXT_BUDGET - 2 * _HEADING_CONTEXT_LIMIT - 200
"""What a compact list's lines may hold together: the message budget less a long heading (header +
its whole-heading context) and the part context, so the list and its heading are always ONE message."""


def _list_blocks(block: PaperList) -> list[dict[str, Any]]:
    """Return a compact list as one section per paper: ``*1.* <url|Title> · ▲ 27 votes`` then the summary.

    Titles and summaries share :data:`LIST_TEXT_BUDGET` (longest cut first); 25 items are 25 of
    the 50 blocks a message may have.
    """
    fixed: list[tuple[str, str]] = []
    texts: list[str] = []
    for item in block.items:
        url = link_url(item.url)
        meta = f" · {_fit(label_text(item.meta), _META_LIMIT)}" if item.meta else ""
        if url and LENGTH(url) <= _LINK_LIMIT:
            fixed.append((f"*{item.rank}.* <{url.replace('&', '&amp;')}|", f">{meta}\n"))
        else:
            fixed.append((f"*{item.rank}.* ", f"{meta}\n"))
        texts += [label_text(item.title) or item.arxiv_id, summary_text(item.summary).replace("\n", " ")]
    used = sum(LENGTH(a) + LENGTH(b) for a, b in fixed)
    caps = share_budget([LENGTH(escape_mrkdwn(t)) for t in texts], max(LIST_TEXT_BUDGET - used, 0))
    blocks = []
    for i, (open_, close) in enumerate(fixed):
        title = _fit(texts[2 * i], min(caps[2 * i], _TITLE_LIMIT)) or "…"
        summary = _fit(texts[2 * i + 1], min(caps[2 * i + 1], SECTION_LIMIT - 2 * _TITLE_LIMIT))
        blocks.append({"type": "section", "text": _mrkdwn((open_ + title + close + summary).strip())})
    return blocks


def _context(parts: tuple[str, ...] | list[str]) -> dict[str, Any] | None:
    parts = [p for p in (label_text(p) for p in parts) if p]
    if not parts:
        return None
    if len(parts) > CONTEXT_ELEMENTS:
        parts = [*parts[: CONTEXT_ELEMENTS - 1], " · ".join(parts[CONTEXT_ELEMENTS - 1 :])]
    caps = share_budget([LENGTH(escape_mrkdwn(p)) for p in parts], _HEADING_CONTEXT_LIMIT * 2)
    elements = [_mrkdwn(_fit(p, min(cap, _CONTEXT_ELEMENT_LIMIT * 2))) for p, cap in zip(parts, caps, strict=True)]
    return {"type": "context", "elements": [e for e in elements if e["text"]]} if elements else None


def _text_blocks(block: Block) -> list[dict[str, Any]]:
    if isinstance(block, Header):
        whole = label_text(block.text)
        head = _plain(whole, HEADER_LIMIT)
        if not head:
            return []
        out: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": head, "emoji": True}}]
        if head != whole:
            out.append({"type": "context", "elements": [_mrkdwn(_fit(whole, _HEADING_CONTEXT_LIMIT))]})
        return out
    if isinstance(block, Paragraph | Section):
        label = f"*{_fit(label_text(block.label), _LABEL_LIMIT)}*: " if isinstance(block, Section) else ""
        text = label + _fit(summary_text(block.text), SECTION_LIMIT - LENGTH(label))
        return [{"type": "section", "text": _mrkdwn(text)}] if text.strip() else []
    if isinstance(block, Context):
        ctx = _context(block.parts)
        return [ctx] if ctx else []
    if isinstance(block, Divider):
        return [{"type": "divider"}]
    if isinstance(block, Image):
        url = image_url(block.url)
        if url and LENGTH(url) <= IMAGE_URL_LIMIT:
            alt = _plain(label_text(block.alt) or "image", ALT_TEXT_LIMIT)
            return [{"type": "image", "image_url": url, "alt_text": alt}]
        return []
    if isinstance(block, PaperCard):
        return _card_blocks(block)
    if isinstance(block, PaperList):
        return _list_blocks(block)
    return []


def _part_context(heading: str, part: int, parts: int) -> dict[str, Any]:
    text = f"{part}/{parts}"
    if heading and part > 1:
        text = _fit(heading, _HEADING_CONTEXT_LIMIT) + " · " + text
    return {"type": "context", "elements": [_mrkdwn(text)]}


def render_slack(message: Message, *, channel: str | None = None) -> list[dict[str, Any]]:
    """Return the ``chat.postMessage`` arguments that post ``message``: numbered parts, in order, within limits."""
    heading = next((label_text(b.text) for b in message.blocks if isinstance(b, Header)), "")
    units = [blocks for blocks in (_text_blocks(b) for b in message.blocks) if blocks]

    # Every part may get one part-number context (a continuation also repeats the heading).
    reserve_blocks = 1
    reserve_text = LENGTH(_fit(heading, _HEADING_CONTEXT_LIMIT)) + 20
    groups: list[list[dict[str, Any]]] = [[]]
    size = 0
    for unit in units:
        cost = text_size(unit)
        if groups[-1] and (
            len(groups[-1]) + len(unit) + reserve_blocks > BLOCKS_PER_MESSAGE
            or size + cost + reserve_text > MESSAGE_TEXT_BUDGET
        ):
            groups.append([])
            size = 0
        groups[-1].extend(unit)
        size += cost

    parts = len(groups)
    fallback = _fit(summary_text(message.fallback), FALLBACK_LIMIT - 12) or _fit(heading, FALLBACK_LIMIT - 12) or "…"
    payloads: list[dict[str, Any]] = []
    for index, group in enumerate(groups, start=1):
        blocks = list(group)
        while blocks and blocks[-1]["type"] == "divider":  # dividers go between papers, not after the last
            blocks.pop()
        if parts > 1:
            at = 0
            if index == 1 and blocks and blocks[0]["type"] == "header":
                # After the heading and the context that repeats a long heading whole.
                at = 2 if len(blocks) > 1 and blocks[1]["type"] == "context" else 1
            blocks.insert(at, _part_context(heading, index, parts))
        payload: dict[str, Any] = {}
        if channel is not None:
            payload["channel"] = channel
        payload["text"] = fallback + (f" ({index}/{parts})" if parts > 1 else "")
        if blocks:
            payload["blocks"] = blocks
        payload["unfurl_links"] = False
        payload["unfurl_media"] = False
        payload["metadata"] = {
            "event_type": EVENT_TYPE,
            "event_payload": {"kind": message.kind, "key": message.key, "part": index, "parts": parts},
        }
        payloads.append(payload)
    return payloads
