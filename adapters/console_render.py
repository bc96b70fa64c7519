"""Render neutral messages as readable terminal text (ANSI colour only when asked)."""

from __future__ import annotations

import textwrap

from digestbot.blocks import Context, Divider, Header, Image, Message, PaperCard, Paragraph, Section

WIDTH = 100
_STYLES = {"bold": "1", "dim": "2", "title": "1;36", "label": "1;33", "link": "4;34", "header": "1;35"}


def _safe(text: str) -> str:
    """Neutralise escape characters so paper text cannot drive the terminal."""
    return text.replace("\x1b", "␛").replace("\r", "")


def _style(text: str, style: str, colour: bool) -> str:
    text = _safe(text)
    return f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if colour else text


def _wrap(text: str, indent: str) -> list[str]:
    lines: list[str] = []
    for para in _safe(text).splitlines() or [""]:
        lines.extend(textwrap.wrap(para, WIDTH, initial_indent=indent, subsequent_indent=indent) or [indent])
    return lines


def _card(card: PaperCard, colour: bool) -> list[str]:
    rank = f"{card.rank}. " if card.rank is not None else ""
    out = [_style(f"{rank}{card.title}", "title", colour), "   " + _style(card.url, "link", colour)]
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


def render_console(message: Message, *, colour: bool = False) -> str:
    """Return the whole message as terminal text (one part: a terminal has no size limit)."""
    lines: list[str] = []
    for block in message.blocks:
        match block:
            case Header(text=text):
                bar = "═" * min(WIDTH, max(len(text), 20))
                lines += [_style(bar, "header", colour), _style(text, "header", colour), _style(bar, "header", colour)]
            case PaperCard():
                lines += ["", *_card(block, colour)]
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
    return "\n".join(lines) + "\n"
