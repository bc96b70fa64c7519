"""Render neutral messages as readable terminal text (ANSI colour only when asked).

Lines are measured in terminal columns, not characters: Hangul, Han and Kana (East Asian Width
W or F) take two columns each and combining marks none, so a Korean summary wraps at the same
width as an English one (``textwrap`` counts characters: its 100-character Korean line is 171
columns wide).
"""

from __future__ import annotations

import unicodedata

from digestbot.blocks import Context, Divider, Header, Image, Message, PaperCard, PaperList, Paragraph, Section

WIDTH = 100
_STYLES = {"bold": "1", "dim": "2", "title": "1;36", "label": "1;33", "link": "4;34", "header": "1;35"}


def _safe(text: str) -> str:
    """Neutralise escape characters so paper text cannot drive the terminal."""
    return text.replace("\x1b", "␛").replace("\r", "")


def _style(text: str, style: str, colour: bool) -> str:
    text = _safe(text)
    return f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if colour else text


def char_width(ch: str) -> int:
    """Return the columns ``ch`` takes in a terminal: 2 for wide East Asian characters, 0 for marks."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf") or ch in "\u200b\u200d":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Return the columns ``text`` takes in a terminal (see :func:`char_width`)."""
    return sum(char_width(ch) for ch in text)


def _split_long(word: str, room: int) -> list[str]:
    """Cut a word wider than ``room`` columns into pieces that fit (a URL, Han text without spaces)."""
    pieces, current, width = [], "", 0
    for ch in word:
        w = char_width(ch)
        if current and width + w > room:
            pieces.append(current)
            current, width = "", 0
        current += ch
        width += w
    return [*pieces, current] if current else pieces


def wrap(text: str, width: int = WIDTH, indent: str = "") -> list[str]:
    """Wrap one paragraph at spaces so that no line is wider than ``width`` columns (indent included)."""
    room = max(width - display_width(indent), 10)
    lines: list[str] = []
    current, used = "", 0
    for word in text.split():
        for piece in _split_long(word, room) if display_width(word) > room else [word]:
            w = display_width(piece)
            if current and used + 1 + w > room:
                lines.append(indent + current)
                current, used = "", 0
            current, used = (f"{current} {piece}", used + 1 + w) if current else (piece, w)
    if current:
        lines.append(indent + current)
    return lines


def _wrap(text: str, indent: str) -> list[str]:
    lines: list[str] = []
    for para in _safe(text).splitlines() or [""]:
        lines.extend(wrap(para, WIDTH, indent) or [indent])
    return lines


def _fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` columns, ending in "…" when something was cut."""
    if display_width(text) <= width:
        return text
    out, used = "", 0
    for ch in text:
        if used + char_width(ch) > width - 1:
            break
        out += ch
        used += char_width(ch)
    return out.rstrip() + "…"


def _brief(card: PaperCard, colour: bool) -> str:
    """Return one line for a card: rank, title and its meta (votes, matched topics)."""
    rank = f"{card.rank:>2}. " if card.rank is not None else "• "
    meta = f"  ({' · '.join(card.meta)})" if card.meta else ""
    title = _fit(card.title, WIDTH - display_width(rank) - display_width(meta))
    return _style(f"{rank}{title}", "title", colour) + _style(meta, "dim", colour)


def _card(card: PaperCard, colour: bool) -> list[str]:
    rank = f"{card.rank}. " if card.rank is not None else ""
    title = wrap(_safe(f"{rank}{card.title}"), WIDTH, "   ")
    out = [_style(line[3:] if i == 0 else line, "title", colour) for i, line in enumerate(title)]
    out.append("   " + _style(card.url, "link", colour))
    if card.authors:
        out.extend(_wrap(card.authors, "   "))
    if card.meta:
        out.append("   " + _style(" · ".join(card.meta), "dim", colour))
    if card.thumbnail:
        out.append("   " + _style(f"[image] {card.thumbnail}", "dim", colour))
    for section in card.sections:
        out.append("   " + _style(section.label, "label", colour))
        out.extend(_wrap(section.text, "     "))
    links = " | ".join(f"{link.label}: {link.url}" for link in card.links[1:])
    if links:
        out.append("   " + _style(links, "dim", colour))
    return out


def render_console(message: Message, *, colour: bool = False, brief: bool = False) -> str:
    """Return the whole message as terminal text (one part: a terminal has no size limit).

    ``brief`` shows each paper as one line (rank, title, votes), as the demo's overview does.
    """
    lines: list[str] = []
    for block in message.blocks:
        match block:
            case Header(text=text):
                bar = "═" * min(WIDTH, max(display_width(text), 20))
                lines += [_style(bar, "header", colour), _style(text, "header", colour), _style(bar, "header", colour)]
            case PaperCard() if brief:
                lines.append(_brief(block, colour))
            case PaperCard():
                lines += ["", *_card(block, colour)]
            case PaperList(items=items):
                for item in items:
                    meta = f"  ({item.meta})" if item.meta else ""
                    lines += _wrap(f"{item.rank:>2}. {item.title}{meta}", "    ")
                    lines.append("    " + _style(item.url, "link", colour))
                    if item.summary:
                        lines += _wrap(item.summary, "    ")
            case Section(label=label, text=text):
                lines += [_style(label, "label", colour), *_wrap(text, "  ")]
            case Paragraph(text=text):
                lines += _wrap(text, "")
            case Context(parts=parts):
                lines += [_style(p, "dim", colour) for p in parts]
            case Divider():
                lines.append("─" * 40)
            case Image(url=url, alt=alt):
                lines.append(_style(f"[image: {alt}] {url}", "dim", colour))
    return "\n".join(lines).lstrip("\n") + "\n"
